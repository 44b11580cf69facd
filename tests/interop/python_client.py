"""The Python SDK's `Client` against a running `mcpwire serve`, in mode="auto" or pinned to
"2026-07-28".

Either way it must speak 2026-07-28: in auto mode its `server/discover` probe is answered (200),
so it never falls back to `initialize`, and no session is created or deleted. Then it lists and
calls tools (one with progress), reads resources, opens a `subscriptions/listen` stream that
receives a tools list_changed, and answers an input-required result (MRTR) through its
elicitation callback. Prints one line per check; exits 1 on any mismatch.

Usage: python python_client.py http://127.0.0.1:PORT/mcp [auto|2026-07-28]
"""

import sys

import json

import anyio
import httpx2
from mcp.client.client import Client
from mcp.client.context import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult

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


# Every (method, JSON-RPC method, status, JSON-RPC error code) the client saw, in order.
exchanges: list[tuple[str, str | None, int, int | None]] = []


async def on_response(response: httpx2.Response) -> None:
    request = response.request
    rpc_method = None
    if request.method == "POST":
        try:
            rpc_method = json.loads(request.content).get("method")
        except (ValueError, AttributeError):
            pass
    error_code = None
    if response.status_code >= 400:
        await response.aread()
        try:
            error_code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            pass
    exchanges.append((request.method, rpc_method, response.status_code, error_code))


# Every elicitation the SDK handed to the callback while answering input-required results.
elicitations: list[ElicitRequestParams] = []


async def on_elicitation(_context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    elicitations.append(params)
    return ElicitResult(action="accept", content={"name": "Ada"})


async def main(url: str) -> None:
    http = httpx2.AsyncClient(
        timeout=httpx2.Timeout(30, read=300), event_hooks={"response": [on_response]}
    )
    client = Client(
        streamable_http_client(url, http_client=http), mode=mode, elicitation_callback=on_elicitation
    )
    async with http, client:
        session = client.session
        if mode == "auto":
            probe = exchanges[0] if exchanges else None
            check(probe == ("POST", "server/discover", 200, None), "the server/discover probe is answered", probe)
            discovered = session.discover_result
            check(discovered is not None and "2026-07-28" in discovered.supported_versions, "discover offers 2026-07-28", discovered)
            check(discovered is not None and discovered.meta["io.modelcontextprotocol/serverInfo"]["name"] == "mcpwire", "discover names the server", discovered)
        check(all(e[1] != "initialize" for e in exchanges), "no initialize handshake", exchanges)
        check(session.protocol_version == "2026-07-28", "speaks 2026-07-28", session.protocol_version)

        tools = await client.list_tools()
        names = {tool.name for tool in tools.tools}
        for expected in ("echo", "add", "test_simple_text", "json_schema_2020_12_tool"):
            check(expected in names, f"tools/list has {expected}", sorted(names))

        echo = await client.call_tool("echo", {"text": "héllo"})
        check(not echo.is_error and echo.content[0].text == "héllo", "echo returns its text", echo)

        added = await client.call_tool("add", {"a": 2, "b": 40})
        check(added.structured_content == {"sum": 42.0}, "add returns structured content", added)

        failing = await client.call_tool("test_error_handling", {})
        check(failing.is_error is True, "a failing tool reports isError", failing)

        try:
            await client.call_tool("no_such_tool", {})
            check(False, "an unknown tool is a JSON-RPC error", "no error")
        except MCPError as error:
            check(error.code == -32602, "an unknown tool is a JSON-RPC error -32602", error.code)

        text = await client.read_resource("test://static-text")
        check(text.contents[0].text == "This is the content of the static text resource.", "reads test://static-text", text)

        blob = await client.read_resource("test://static-binary")
        check(getattr(blob.contents[0], "blob", None) is not None, "reads test://static-binary as a blob", blob)

        templated = await client.read_resource("test://template/42/data")
        check("42" in templated.contents[0].text, "reads a templated resource", templated)

        try:
            await client.read_resource("test://missing")
            check(False, "an unknown resource is a JSON-RPC error", "no error")
        except MCPError as error:
            check(error.code == -32602, "an unknown resource is error -32602 (SEP-2164)", error.code)

        prompts = await client.list_prompts()
        check(any(p.name == "test_simple_prompt" for p in prompts.prompts), "prompts/list has test_simple_prompt", prompts)

        # Progress during a call.
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        with_progress = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        check(not with_progress.is_error, "test_tool_with_progress succeeds", with_progress)
        check(len(progress) >= 3, "at least three progress callbacks", progress)
        check(all(a[0] < b[0] for a, b in zip(progress, progress[1:])), "progress increases", progress)

        # A subscriptions/listen stream receives tools/list_changed.
        async with client.listen(tools_list_changed=True) as subscription:
            check(subscription.honored.tools_list_changed is True,
                  "the listen subscription is acknowledged with toolsListChanged", subscription.honored)
            listen = [e for e in exchanges if e[1] == "subscriptions/listen"]
            check(listen == [("POST", "subscriptions/listen", 200, None)], "subscriptions/listen is answered 200", listen)
            trigger = await client.call_tool("test_trigger_tool_change", {})
            check(not trigger.is_error, "test_trigger_tool_change succeeds", trigger)
            try:
                with anyio.fail_after(5):
                    event = await anext(subscription)
            except TimeoutError:
                event = "no event within 5 s"
            check(event == ToolsListChanged(), "tools list_changed arrives on the listen stream", event)

        # An input-required result (MRTR): the SDK asks the elicitation callback, then retries.
        calls_before = sum(1 for e in exchanges if e[1] == "tools/call")
        greeted = await client.call_tool("test_input_required_result_elicitation", {})
        check(len(elicitations) == 1, "the elicitation callback is called once", elicitations)
        asked = elicitations[0] if elicitations else None
        check(isinstance(asked, ElicitRequestFormParams)
              and asked.requested_schema.get("properties", {}).get("name", {}).get("type") == "string",
              "the elicitation asks for a string name", asked)
        check(not greeted.is_error and greeted.content[0].text == "Hello, Ada!",
              'the retried call returns "Hello, Ada!"', greeted)
        calls = sum(1 for e in exchanges if e[1] == "tools/call") - calls_before
        check(calls == 2, "the input-required call was retried once, as a second tools/call", calls)


url = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "auto"
anyio.run(main, url)
stateful = [e for e in exchanges if e[0] != "POST"]
check(stateful == [], "no GET stream and no DELETE: there is no session", stateful)
print(f"python client (mcp 2.3, mode={mode}): {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
