"""The Python SDK's `Client` over HTTPS, against `mcpwire serve --tls-cert --tls-key`: httpx
trusts the test's CA through `verify=`; without it, the connection fails on the certificate.

Usage: python python_tls_client.py https://127.0.0.1:PORT/mcp CA.pem
"""

import ssl
import sys

import anyio
import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

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


async def main(url: str, ca: str) -> None:
    check(url.startswith("https://"), "the URL is https", url)
    trusting = httpx2.AsyncClient(verify=ssl.create_default_context(cafile=ca), timeout=30)
    async with trusting, Client(streamable_http_client(url, http_client=trusting), mode="auto") as client:
        check(client.session.protocol_version == "2026-07-28", "speaks 2026-07-28 over TLS",
              client.session.protocol_version)
        echo = await client.call_tool("echo", {"text": "über TLS"})
        check(not echo.is_error and echo.content[0].text == "über TLS", "echo returns its text over TLS", echo)
        added = await client.call_tool("add", {"a": 40, "b": 2})
        check(added.structured_content == {"sum": 42.0}, "add returns structured content over TLS", added)

    # The same server without the CA: the handshake fails on the certificate.
    refused = None
    async with httpx2.AsyncClient(timeout=30) as untrusting:
        try:
            await untrusting.post(url, json={})
        except httpx2.ConnectError as error:
            refused = str(error)
    check(refused is not None and "CERTIFICATE_VERIFY_FAILED" in refused,
          "without the CA the certificate is refused", refused)


anyio.run(main, sys.argv[1], sys.argv[2])
print(f"python client (mcp 2.3) over https: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
