"""The Python peer: the benchmark's MCP server built with the official Python SDK (mcp 2.3.0).

An `MCPServer` served over Streamable HTTP at `/mcp` by the Starlette app the SDK builds
(`streamable_http_app()`: stateful sessions owned by its session manager, whose `run()` is the
app's lifespan; DNS-rebinding protection for 127.0.0.1; the default SSE response framing), run
by uvicorn the way the SDK's own `run_streamable_http_async` does (`uvicorn.Server.serve`), with
uvicorn's defaults (its HTTP and loop choices, its SIGTERM/SIGINT handling) except logging.

Run:   python server.py --port P [--trace-heap]

Contract: `ready` on stdout once listening on 127.0.0.1:P; tool `echo {message}` answers the
message and registers the calling session; tool `broadcast {}` sends
notifications/tools/list_changed to every registered session (on its standalone GET stream) and
publishes a tool list change on the server's subscription bus, which reaches every
`subscriptions/listen` stream that asked for it (2026-07-28); a
line `heap` on stdin prints tracemalloc's traced bytes after `gc.collect()` when started with
`--trace-heap` (tracing is on from before the SDK is imported), and -1 otherwise. SIGTERM is
uvicorn's graceful shutdown: sse-starlette ends open SSE streams without a terminating chunk,
the session manager's lifespan exits, and uvicorn re-raises the signal (exit status 143).
"""

import argparse
import functools
import gc
import sys
import threading
import tracemalloc

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--trace-heap", action="store_true")
args = parser.parse_args()
if args.trace_heap:
    tracemalloc.start()

import asyncio  # noqa: E402

import uvicorn  # noqa: E402
from mcp.server import MCPServer, NotificationOptions  # noqa: E402
from mcp.server.mcpserver import Context  # noqa: E402
from mcp.server.session import ServerSession  # noqa: E402
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler  # noqa: E402
from mcp_types import SubscriptionsListenRequestParams  # noqa: E402

# The SDK's default bus, passed in so that the listen handler below can share it.
bus = InMemorySubscriptionBus()
mcp = MCPServer("bench-python", version="1.0.0", log_level="WARNING", subscriptions=bus)
# The session manager answers every 2025-era initialize from create_initialization_options()
# with default NotificationOptions, so tools.listChanged would be false, and
# streamable_http_app() takes no NotificationOptions. For what MCPServer does not expose the
# migration guide's workaround is its private `_lowlevel_server`; this declares
# tools.listChanged: true (it changes only the declaration, not what is sent).
_lowlevel = mcp._lowlevel_server
_lowlevel.create_initialization_options = functools.partial(
    _lowlevel.create_initialization_options, NotificationOptions(tools_changed=True)
)
# MCPServer registers a ListenHandler capped at 1,024 streams and offers no way to lift the cap;
# the fan-out scenario holds 10,000, so the same handler over the same bus replaces it, as the
# other peers' caps are lifted. Its per-stream backlog keeps the default (1,024 events).
_lowlevel.add_request_handler(
    "subscriptions/listen", SubscriptionsListenRequestParams, ListenHandler(bus, max_subscriptions=1_000_000)
)

# The sessions that called `echo`, by Mcp-Session-Id. In mcp 2.x `ctx.session` is a new proxy
# per request over the session's connection, so the SDK's migration guide says to key on the
# session id header; a proxy kept past its request still sends on the session's standalone
# stream. mcp 2.3.0 offers no public hook for the end of a session (the connection's exit_stack
# is not reachable from a tool's context), and a notification to a closed session is dropped
# without raising, so entries stay until the process exits.
sessions: dict[str, ServerSession] = {}


# structured_output=False: the result is the text content alone, as in the other peers (a
# `-> str` tool is otherwise also given an output schema and structuredContent).
@mcp.tool(structured_output=False)
async def echo(message: str, ctx: Context) -> str:
    """Returns the message."""
    session_id = ctx.headers.get("mcp-session-id") if ctx.headers else None
    if session_id is not None:
        sessions[session_id] = ctx.session
    return message


@mcp.tool(structured_output=False)
async def broadcast(ctx: Context) -> str:
    """Sends notifications/tools/list_changed to every registered session and listen stream."""
    await ctx.notify_tools_changed()
    notified = 0
    for session_id, session in list(sessions.items()):
        try:
            await session.send_tool_list_changed()
            notified += 1
        except Exception:
            sessions.pop(session_id, None)
    return f"{notified} sessions notified"


def report_heap() -> None:
    """Runs on the event loop: a full collection, then the live traced bytes."""
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else -1
    print(heap, flush=True)


def read_stdin(loop: asyncio.AbstractEventLoop) -> None:
    """A daemon thread: each `heap` line is answered on the event loop."""
    for line in sys.stdin:
        if line.strip() == "heap":
            loop.call_soon_threadsafe(report_heap)


class Server(uvicorn.Server):
    """uvicorn's server, saying `ready` once its listening socket is open."""

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started:
            loop = asyncio.get_running_loop()
            threading.Thread(target=read_stdin, args=(loop,), daemon=True).start()
            print("ready", flush=True)


# The session manager's cap (10,000 by default) is lifted, as the other peers' are: the
# broadcast scenario holds 10,000 streaming sessions and one more to send from.
app = mcp.streamable_http_app(max_sessions=None)
config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
Server(config).run()
