"""The Python SDK's `Client` in mode="auto" against a running `mcpwire serve`.

Its `server/discover` probe must fall back to `initialize` (mcpwire speaks the handshake era);
then it lists and calls tools and reads resources. Prints one line per check; exits 1 on any
mismatch.

Usage: python python_client.py http://127.0.0.1:PORT/mcp
"""

import sys

import json

import anyio
import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

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


async def main(url: str) -> None:
    http = httpx2.AsyncClient(
        timeout=httpx2.Timeout(30, read=300), event_hooks={"response": [on_response]}
    )
    async with http, Client(streamable_http_client(url, http_client=http), mode="auto") as client:
        session = client.session
        probe = exchanges[0] if exchanges else None
        check(probe == ("POST", "server/discover", 400, -32000), "server/discover is answered 400 with -32000", probe)
        check(session.discover_result is None, "the client fell back to initialize", session.discover_result)
        check(("POST", "initialize", 200, None) in exchanges, "initialize succeeded", exchanges)
        init = session.initialize_result
        check(init is not None and init.server_info.name == "mcpwire", "initialize named the server", init)
        check(session.protocol_version == "2025-11-25", "negotiated 2025-11-25", session.protocol_version)

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
            check(error.code == -32002, "an unknown resource is error -32002", error.code)

        prompts = await client.list_prompts()
        check(any(p.name == "test_simple_prompt" for p in prompts.prompts), "prompts/list has test_simple_prompt", prompts)


url = sys.argv[1]
anyio.run(main, url)
deletes = [e for e in exchanges if e[0] == "DELETE"]
check(deletes == [("DELETE", None, 200, None)], "closing the client deleted its session", deletes)
print(f"python client (mcp 2.3, mode=auto): {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
