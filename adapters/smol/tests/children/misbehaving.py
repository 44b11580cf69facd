"""A stdio MCP server that misbehaves on purpose, as MODE says, for the client's lifecycle
tests. It answers initialize (session era) and then, on tools/call:

  crash       writes to stderr and exits with status 3
  answer-exit answers, then exits at once with status 0
  silent      never answers (and exits at stdin EOF, as a server should)
  flood       writes 2 MiB to stderr, then a marker, then exits with status 4
  ignore-term ignores SIGTERM and stdin EOF: only SIGKILL ends it
  ignore-eof  never answers, and ignores stdin EOF: a signal ends it
  grandchild  forks a grandchild that holds the pipes; both ignore stdin EOF

Each pid it starts is appended to PIDFILE, one a line.
"""
import json
import os
import signal
import sys
import time

mode, pidfile = sys.argv[1], sys.argv[2]


def note_pid():
    with open(pidfile, "a") as f:
        f.write(f"{os.getpid()}\n")


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def forever():
    while True:
        time.sleep(3600)


note_pid()
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "grandchild" and os.fork() == 0:
    note_pid()
    forever()

while True:
    # readline, not iteration: iterating a pipe reads ahead and waits for more than a line.
    line = sys.stdin.buffer.readline()
    if not line:
        break
    message = json.loads(line)
    method = message.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "misbehaving", "version": "1"}}})
    elif method == "tools/call":
        if mode == "answer-exit":
            send({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": "last words"}]}})
            os._exit(0)
        if mode == "crash":
            sys.stderr.write("boom: crashed mid-call\n")
            sys.stderr.flush()
            sys.exit(3)
        if mode == "flood":
            chunk = ("x" * 1023 + "\n") * 64
            for _ in range(32):
                sys.stderr.write(chunk)
            sys.stderr.write("flood-end-marker\n")
            sys.stderr.flush()
            sys.exit(4)
if mode in ("ignore-term", "grandchild", "ignore-eof"):
    forever()
