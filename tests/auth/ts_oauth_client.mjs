// The TypeScript SDK client and its OAuth client provider against a protected `mcpwire serve`:
// the 401 sends it to the resource metadata and the authorization server, it registers itself
// (RFC 7591), runs authorization code + PKCE (the redirect followed here, without a browser,
// as an application's callback would), and calls whoami. Then whoami's scope is not enough for
// announce_list_changed: the 403 insufficient_scope makes the SDK ask for more (step-up), and
// the call succeeds, on the same session where there is one.
//
// Usage: node ts_oauth_client.mjs http://127.0.0.1:PORT/mcp 1.32|2.4
//   1.32: @modelcontextprotocol/sdk, 2025-11-25 (a session).
//   2.4:  @modelcontextprotocol/client pinned to 2026-07-28 (stateless).

import { check, run } from '../interop/checks.mjs';
import { followAuthorization } from './oauth.mjs';

const [url, sdk] = process.argv.slice(2);
const modern = sdk === '2.4';
const { Client, StreamableHTTPClientTransport, UnauthorizedError } = modern
  ? await import('@modelcontextprotocol/client')
  : {
    ...(await import('@modelcontextprotocol/sdk/client/index.js')),
    ...(await import('@modelcontextprotocol/sdk/client/streamableHttp.js')),
    ...(await import('@modelcontextprotocol/sdk/client/auth.js')),
  };

/** Every HTTP exchange any part of the SDK made: method, URL, status, challenge. */
const exchanges = [];
async function recordingFetch(input, init = {}) {
  const response = await fetch(input, init);
  exchanges.push({
    method: init.method ?? 'GET',
    url: String(input instanceof Request ? input.url : input),
    status: response.status,
    challenge: response.headers.get('www-authenticate') ?? undefined,
    session: response.headers.get('mcp-session-id') ?? undefined,
  });
  return response;
}

/**
 * An application's OAuth client provider, kept in memory; its "browser" is followAuthorization,
 * and the redirect it lands on is kept for finishAuth, as a callback server would.
 */
class HeadlessProvider {
  constructor() {
    this.stored = {};
    this.authorizations = [];
  }
  get redirectUrl() { return 'http://127.0.0.1/callback'; }
  get clientMetadata() {
    return {
      client_name: `mcpwire auth test (TypeScript SDK ${sdk})`,
      redirect_uris: [this.redirectUrl],
      grant_types: this.grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this.stored.client; }
  saveClientInformation(client) { this.stored.client = client; }
  tokens() { return this.stored.tokens; }
  saveTokens(tokens) { this.stored.tokens = tokens; }
  saveCodeVerifier(verifier) { this.stored.verifier = verifier; }
  saveDiscoveryState(state) { this.stored.discovery = state; }
  discoveryState() { return this.stored.discovery; }
  codeVerifier() { return this.stored.verifier; }
  async redirectToAuthorization(authorizationUrl) {
    this.authorizations.push(new URL(authorizationUrl));
    this.landed = await followAuthorization(authorizationUrl, this.redirectUrl);
  }
}

/** Completes the authorization the provider followed, as the application's callback does. */
async function finish(transport, provider) {
  const code = provider.landed?.searchParams.get('code');
  if (modern) await transport.finishAuth(code, provider.landed.searchParams.get('iss') ?? undefined);
  else await transport.finishAuth(code);
}

await run(`typescript sdk ${sdk} oauth client (${modern ? '2026-07-28' : '2025-11-25'})`, async () => {
  const provider = new HeadlessProvider();
  // SDK 1.32 refreshes before it re-authorizes, even when the scope must grow (a refresh cannot
  // widen it), so step-up needs the client to hold no refresh token; 2.4 re-authorizes when the
  // scope grows, so it keeps its refresh token.
  provider.grantTypes = modern ? ['authorization_code', 'refresh_token'] : ['authorization_code'];
  const options = modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {};
  const transportFor = () => new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch });

  // 1. No token: the 401 starts discovery, registration and the authorization.
  let transport = transportFor();
  let client = new Client({ name: 'mcpwire-auth', version: '1.0.0' }, options);
  let first;
  try {
    await client.connect(transport);
  } catch (error) {
    first = error;
  }
  check(first instanceof UnauthorizedError, 'the first connect ends in UnauthorizedError, the redirect started', String(first));
  const challenged = exchanges.find((e) => e.status === 401);
  const metadataUrl = challenged?.challenge?.match(/resource_metadata="([^"]*)"/)?.[1];
  check(metadataUrl === `${new URL(url).origin}/.well-known/oauth-protected-resource/mcp`,
    'the 401 names the path-aware resource metadata', challenged);
  check(exchanges.some((e) => e.url === metadataUrl && e.status === 200), 'the SDK fetched the resource metadata from the challenge', exchanges);
  check(exchanges.some((e) => e.method === 'POST' && e.url.endsWith('/reg') && e.status === 201),
    'the SDK registered itself at the authorization server (RFC 7591)', exchanges.map((e) => `${e.method} ${e.url} ${e.status}`));
  const asked = provider.authorizations[0];
  check(asked?.searchParams.get('code_challenge_method') === 'S256' && asked.searchParams.get('resource') === url,
    'the authorization request has PKCE S256 and resource = the server', asked?.href);
  check(provider.landed?.searchParams.get('code'), 'the authorization came back with a code', provider.landed?.href);
  await finish(transport, provider);
  check(typeof provider.tokens()?.access_token === 'string', 'finishAuth exchanged the code for a token', provider.tokens());

  // 2. With the token: connect and call whoami.
  transport = transportFor();
  client = new Client({ name: 'mcpwire-auth', version: '1.0.0' }, options);
  await client.connect(transport);
  if (modern) {
    check(client.getNegotiatedProtocolVersion() === '2026-07-28', 'speaks 2026-07-28', client.getNegotiatedProtocolVersion());
  } else {
    check(typeof transport.sessionId === 'string', 'has a session', transport.sessionId);
  }
  const session = transport.sessionId;
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  check(who.content?.[0]?.text?.includes('alice'), 'whoami answers alice, the account logged in', who);

  // 3. Step-up: announce_list_changed needs mcp:admin. The 403 makes the SDK authorize again
  // for the wider scope (a redirect: the application finishes it and retries the call).
  const scopeBefore = provider.tokens()?.scope;
  let stepUp;
  let announced;
  try {
    announced = await client.callTool({ name: 'announce_list_changed', arguments: { list: 'tools' } });
  } catch (error) {
    stepUp = error;
  }
  const forbidden = exchanges.find((e) => e.status === 403);
  check(/error="insufficient_scope"/.test(forbidden?.challenge ?? '') && /scope="[^"]*mcp:admin/.test(forbidden?.challenge ?? ''),
    'announce_list_changed with scope mcp: 403 insufficient_scope naming mcp:admin', forbidden);
  if (stepUp) {
    check(stepUp instanceof UnauthorizedError && provider.authorizations.length === 2,
      'the 403 made the SDK start a second authorization (step-up)', String(stepUp));
    const second = provider.authorizations[1];
    check(second?.searchParams.get('scope')?.split(' ').includes('mcp:admin'), 'the step-up asks for mcp:admin', second?.href);
    check(provider.landed?.searchParams.get('code'), 'the step-up authorization came back with a code', provider.landed?.href);
    await finish(transport, provider);
    announced = await client.callTool({ name: 'announce_list_changed', arguments: { list: 'tools' } });
  }
  check(provider.tokens()?.scope?.split(' ').includes('mcp:admin'), 'the new token has mcp:admin',
    { before: scopeBefore, after: provider.tokens()?.scope });
  check(/notified/.test(announced?.content?.[0]?.text ?? ''), 'after the step-up announce_list_changed succeeds', announced);
  const again = await client.callTool({ name: 'whoami', arguments: {} });
  check(again.content?.[0]?.text?.includes('alice'), 'whoami still answers alice', again);
  if (!modern) {
    check(transport.sessionId === session, 'the session outlived the step-up (same principal)', { session, now: transport.sessionId });
    await transport.terminateSession();
    check(exchanges.at(-1)?.method === 'DELETE' && exchanges.at(-1)?.status < 300, 'the session is deleted', exchanges.at(-1));
  } else {
    check(exchanges.every((e) => e.session === undefined), 'no session anywhere', exchanges.filter((e) => e.session));
  }
  await client.close();
});
