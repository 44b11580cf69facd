"""A stdio MCP server that is hostile to its client, as MODE says. It answers initialize
(session era) and then, on tools/call:

  no-read       (once initialized) stops reading stdin for ever, and so never sees its end
  fds           answers with the names of its open descriptors
  garbage       writes invalid UTF-8, a response to an id never sent, a long line without
                its end, then the answer
  close-stdout  closes its stdout and keeps running, reading stdin
"""
import json
import os
import sys
import time

mode = sys.argv[1]


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
        if mode == "close-stdout":
            sys.stdout.close()
            os.close(1)
