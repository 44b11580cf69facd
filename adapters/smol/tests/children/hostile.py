"""A stdio MCP server that is hostile to its client, as MODE says. It answers initialize
(session era) and then, on tools/call:

  no-read       (once initialized) stops reading stdin for ever, and so never sees its end
  fds           answers with the names of its open descriptors
  garbage       writes invalid UTF-8, a response to an id never sent, a long line without
                its end, then the answer
  close-stdout  closes its stdout and keeps running, reading stdin
  close-stdin   (once initialized) closes its stdin and runs on, answering nothing
  die-after     answers nothing, and exits with status 7 at the twentieth call
  exit0         exits with status 0 mid-call
  long-line     writes 256 MiB without a newline, then its end and the answer
  stderr-loop   writes to stderr without end from a thread, and answers
  pause         on its first call, reads nothing until the file ARG exists; then answers
                every call
  holder        starts a grandchild that holds its stdout open (and ends at SIGTERM), then
                exits with status 6
  orphan        starts a grandchild that ignores SIGTERM (its stdio on /dev/null), then
                exits with status 5
"""
import json
import os
import signal
import sys
import threading
import time

mode = sys.argv[1]
calls = 0


def babble():
    while True:
        sys.stderr.write("babble " * 100 + "\n")


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# An answer to nothing, before anything was asked.
if mode == "garbage":
    send({"jsonrpc": "2.0", "id": 424242, "result": {}})

while True:
    line = sys.stdin.buffer.readline()
    if not line:
        break
    message = json.loads(line)
    method = message.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "1"}}})
    elif method == "notifications/initialized" and mode == "no-read":
        while True:
            time.sleep(3600)
    elif method == "notifications/initialized" and mode == "close-stdin":
        os.close(0)
        while True:
            time.sleep(3600)
    elif method == "notifications/initialized" and mode == "stderr-loop":
        threading.Thread(target=babble, daemon=True).start()
    elif method == "tools/call":
        if mode == "fds":
            fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
            send({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": json.dumps(fds)}]}})
        if mode == "garbage":
            out = sys.stdout.buffer
            out.write(b"\xff\xfe{\"jsonrpc\": \"2.0\", \xc3\x28}\n")
            out.write(b"[" * 100000 + b"\n")
            out.write(b"x" * (8 * 1024 * 1024) + b"\n")
            out.flush()
            send({"jsonrpc": "2.0", "id": 99999999, "result": {}})
            send({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": "still here"}]}})
        calls += 1
        if mode == "die-after" and calls == 20:
            os._exit(7)
        if mode == "pause":
            while calls == 1 and not os.path.exists(sys.argv[2]):
                time.sleep(0.01)
            send({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": "done"}]}})
        if mode == "holder":
            if os.fork() == 0:
                while True:
                    time.sleep(3600)
            os._exit(6)
        if mode == "orphan":
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                devnull = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.execvp("python3", ["python3", "-c",
                    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)",
                    "hostile.py", "orphan-grandchild"])
            time.sleep(0.2)
            os._exit(5)
        if mode == "exit0":
            os._exit(0)
        if mode == "long-line":
            out = sys.stdout.buffer
            chunk = b"y" * (1024 * 1024)
            for _ in range(256):
                out.write(chunk)
            out.write(b"\n")
            out.flush()
        if mode in ("long-line", "stderr-loop"):
            send({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": "after"}]}})
        if mode == "close-stdout":
            sys.stdout.close()
            os.close(1)
