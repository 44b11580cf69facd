"""Two mcpwire nodes behind HAProxy, sharing a Redis bus; the Python SDK's clients go through the
balancer, in mode="legacy" (a session, pinned to node B by its id's tag, with its GET stream
there) and pinned to "2026-07-28" (a listen stream held on node B). A list_changed triggered on
node A must reach both exactly once; a second one (prompts) after it is the fence.

Usage: python python_cluster.py BALANCER_URL NODE_A_URL NODE_B_METRICS_URL
"""

import re
import sys

import anyio
import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import PromptsListChanged, ToolsListChanged

ATTEMPTS = 12
passed = 0
failed = 0


def check(ok: bool, what: str, detail: object = "") -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}: {detail!r}")


async def gauge_on_b(name: str) -> int:
    async with httpx2.AsyncClient() as http:
        text = (await http.get(node_b_metrics)).text
    found = re.search(rf"^{name} (\d+)$", text, re.M)
    return int(found.group(1)) if found else -1


async def announce_on_a(kind: str) -> None:
    async with Client(streamable_http_client(node_a), mode="2026-07-28") as client:
        await client.call_tool("announce_list_changed", {"list": kind})


def method_of(message: object) -> str | None:
    inner = getattr(message, "root", message)
    return getattr(inner, "method", None)


async def session_phase() -> None:
    """A session on node B: pinned calls, and its GET stream hears node A once."""
    for _ in range(ATTEMPTS):
        session_ids: list[str] = []
        counts = {"tools": 0, "prompts": 0}

        async def on_response(response: httpx2.Response) -> None:
            if "mcp-session-id" in response.headers:
                session_ids.append(response.headers["mcp-session-id"])

        async def on_message(message: object) -> None:
            method = method_of(message)
            if method == "notifications/tools/list_changed":
                counts["tools"] += 1
            elif method == "notifications/prompts/list_changed":
                counts["prompts"] += 1

        http = httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300), event_hooks={"response": [on_response]})
        client = Client(streamable_http_client(balancer, http_client=http), mode="legacy", message_handler=on_message)
        async with http, client:
            if not (session_ids and session_ids[0].startswith("b-")):
                continue
            check(re.fullmatch(r"b-[0-9a-f]{32}", session_ids[0]) is not None, "a session on node B, tagged", session_ids[0])
            echoed = [await client.call_tool("echo", {"text": f"p{i}"}) for i in range(8)]
            check(all(e.content[0].text == f"p{i}" for i, e in enumerate(echoed)),
                  "eight calls through the balancer all reach the session's node", echoed)
            # The SDK opens its GET stream after initialize, without waiting for it.
            with anyio.move_on_after(10):
                while await gauge_on_b("mcpwire_streams") < 1:
                    await anyio.sleep(0.02)
            await announce_on_a("tools")
            await announce_on_a("prompts")
            with anyio.move_on_after(10):
                while counts["prompts"] == 0:
                    await anyio.sleep(0.01)
            check(counts["prompts"] == 1, "the fence reaches the GET stream on node B", counts)
            check(counts["tools"] == 1, "node A's list_changed reaches the GET stream on node B exactly once", counts)
            return
    check(False, f"a session on node B in {ATTEMPTS} tries")


async def modern_phase() -> None:
    """A listen stream on node B hears node A once."""
    async with Client(streamable_http_client(balancer), mode="2026-07-28") as client:
        for _ in range(ATTEMPTS):
            before = await gauge_on_b("mcpwire_subscriptions")
            async with client.listen(tools_list_changed=True, prompts_list_changed=True) as subscription:
                if await gauge_on_b("mcpwire_subscriptions") <= before:
                    continue
                check(subscription.honored.tools_list_changed is True, "a listen stream on node B", subscription.honored)
                await announce_on_a("tools")
                await announce_on_a("prompts")
                events = []
                with anyio.move_on_after(10):
                    async for event in subscription:
                        events.append(event)
                        if event == PromptsListChanged():
                            break
                check(events == [ToolsListChanged(), PromptsListChanged()],
                      "node A's list_changed reaches the listen stream on node B exactly once, then the fence", events)
                return
        check(False, f"a listen stream on node B in {ATTEMPTS} tries")


async def main() -> None:
    await session_phase()
    await modern_phase()


balancer, node_a, node_b_metrics = sys.argv[1:4]
anyio.run(main)
print(f"python clients through the balancer (mcp 2.3, legacy and 2026-07-28): {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
