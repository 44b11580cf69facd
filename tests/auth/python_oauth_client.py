"""The Python SDK's `Client` with its `OAuthClientProvider` against a protected `mcpwire serve`.

The 401 sends the provider to the resource metadata and the authorization server; it registers
itself (RFC 7591) and runs authorization code + PKCE, whose redirect the handlers below follow
without a browser, as an application's callback server would. Then whoami, and a step-up: the
403 insufficient_scope of announce_list_changed makes the provider authorize again for
mcp:admin, inline, and the call succeeds (on the same session in mode="legacy").

Usage: python python_oauth_client.py http://127.0.0.1:PORT/mcp legacy|2026-07-28
"""

import sys

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT_URI = "http://127.0.0.1/callback"

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


class Memory:
    """The provider's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


# Every authorization URL the provider sent the "browser" to, and where each one landed.
authorizations: list[httpx2.URL] = []
landed: list[httpx2.URL] = []


async def follow(authorization_url: str) -> None:
    """The browser: follows the authorization's redirects with its cookies until the callback."""
    authorizations.append(httpx2.URL(authorization_url))
    async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as browser:
        url = httpx2.URL(authorization_url)
        for _ in range(10):
            if str(url).startswith(REDIRECT_URI):
                landed.append(url)
                return
            response = await browser.get(url)
            location = response.headers.get("location")
            if location is None:
                raise RuntimeError(f"the authorization stopped at {url}: {response.status_code} {response.text}")
            url = url.join(location)
    raise RuntimeError("the authorization took more than 10 redirects")


async def callback() -> AuthorizationCodeResult:
    """The callback server: what the last redirect carried."""
    params = landed[-1].params
    return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


# Every (method, URL, status, WWW-Authenticate) the HTTP client saw.
exchanges: list[tuple[str, str, int, str | None]] = []
# The Mcp-Session-Id of every request that sent one.
sent_sessions: list[str] = []


async def on_response(response: httpx2.Response) -> None:
    exchanges.append(
        (response.request.method, str(response.request.url), response.status_code, response.headers.get("www-authenticate"))
    )
    if "mcp-session-id" in response.request.headers:
        sent_sessions.append(response.request.headers["mcp-session-id"])


async def main(url: str, mode: str) -> None:
    storage = Memory()
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcpwire auth test (Python SDK)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=follow,
        callback_handler=callback,
    )
    http = httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [on_response]})
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        session = client.session
        check(session.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28"),
              f"speaks {session.protocol_version}", session.protocol_version)

        who = await client.call_tool("whoami", {})
        check(not who.is_error and "alice" in who.content[0].text, "whoami answers alice, the account logged in", who)

        # The first request (initialize, or in 2026-07-28 the first call) found the way to a token.
        challenged = next((e for e in exchanges if e[2] == 401), None)
        metadata_url = url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
        check(challenged is not None and f'resource_metadata="{metadata_url}"' in (challenged[3] or ""),
              "the 401 names the path-aware resource metadata", challenged)
        check(any(e[1] == metadata_url and e[2] == 200 for e in exchanges),
              "the provider fetched the resource metadata from the challenge", exchanges)
        check(any(e[0] == "POST" and e[1].endswith("/reg") and e[2] == 201 for e in exchanges),
              "the provider registered itself (RFC 7591)", exchanges)
        first = authorizations[0] if authorizations else None
        check(first is not None and first.params.get("code_challenge_method") == "S256"
              and first.params.get("resource") == url,
              "the authorization request has PKCE S256 and resource = the server", str(first))
        check(storage.tokens is not None, "a token was stored", storage.tokens)

        # Step-up: inline in the provider, within the one call.
        scope_before = storage.tokens.scope if storage.tokens else None
        announced = await client.call_tool("announce_list_changed", {"list": "tools"})
        forbidden = next((e for e in exchanges if e[2] == 403), None)
        check(forbidden is not None and 'error="insufficient_scope"' in (forbidden[3] or "")
              and "mcp:admin" in (forbidden[3] or ""),
              "announce_list_changed with scope mcp: 403 insufficient_scope naming mcp:admin", forbidden)
        check(len(authorizations) == 2 and "mcp:admin" in authorizations[1].params.get("scope", "").split(),
              "the 403 made the provider authorize again for mcp:admin", [str(a) for a in authorizations])
        scope_after = storage.tokens.scope if storage.tokens else None
        check(scope_after is not None and "mcp:admin" in scope_after.split(), "the new token has mcp:admin",
              (scope_before, scope_after))
        check(not announced.is_error and "notified" in announced.content[0].text,
              "after the step-up announce_list_changed succeeds", announced)
        again = await client.call_tool("whoami", {})
        check(not again.is_error and "alice" in again.content[0].text, "whoami still answers alice", again)
        if mode == "legacy":
            check(len(sent_sessions) > 3 and len(set(sent_sessions)) == 1,
                  "one session throughout, the step-up included (same principal)", set(sent_sessions))
    if mode == "legacy":
        deletes = [e for e in exchanges if e[0] == "DELETE"]
        check(len(deletes) == 1 and deletes[0][2] < 300, "the session is deleted on close", deletes)
    else:
        check(all(e[0] == "POST" or e[0] == "GET" and "/.well-known/" in e[1] for e in exchanges if "/mcp" in e[1]),
              "no GET stream and no DELETE: there is no session", [e for e in exchanges if e[0] != "POST"])


url = sys.argv[1]
mode = sys.argv[2]
anyio.run(main, url, mode)
print(f"python sdk oauth client (mcp 2.3, mode={mode}): {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
