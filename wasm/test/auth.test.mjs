// createMcpHandler as an OAuth 2.1 resource server, in process: the challenge without a token,
// the metadata document, ES256 JWT access tokens verified with WebCrypto inside `verify`,
// refusals (401), a verifier that fails (503) or never answers (503 after the deadline, its
// signal aborted), scopes (403 and step-up), in both eras. After each, nothing is left.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMcpHandler, InvalidToken } from '../js/index.js';
import { HEADERS, INIT, sseMessages, until } from './helpers.mjs';

const RESOURCE = 'https://mcp.example.com/mcp';
const ISSUER = 'https://auth.example.com';
const ENDPOINT = RESOURCE;
const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
const CHALLENGE = `Bearer resource_metadata="${METADATA}", scope="mcp"`;
const MODERN = '2026-07-28';
const ALIVE = ['sessions', 'statelessRequests', 'streams', 'exchanges', 'inflightRequests', 'queuedBytes', 'pendingEvents', 'pendingVerifications', 'handlers', 'responses', 'verifications'];

function assertNothingAlive(mcp) {
  const stats = mcp.stats();
  for (const name of ALIVE) assert.equal(stats[name], 0, `${name} in ${JSON.stringify(stats)}`);
  mcp.checkInvariants();
}

// ---- ES256 JWT access tokens (RFC 9068), made and checked with WebCrypto ----

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ES256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

function base64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

function fromBase64url(text) {
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

/** An authorization server of the test's own: a P-256 key pair and a way to issue tokens. */
async function authorizationServer() {
  const { privateKey, publicKey } = await crypto.subtle.generateKey(ES256, false, ['sign', 'verify']);
  return {
    publicKey,
    /** A signed JWT access token; `claims` override the defaults (`exp` an hour out). */
    async issue(claims = {}, { key = privateKey, header = {} } = {}) {
      const nowSeconds = Math.floor(Date.now() / 1000);
      const head = { alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header };
      const body = { iss: ISSUER, aud: RESOURCE, sub: 'ada', client_id: 'c1', scope: 'mcp', iat: nowSeconds, exp: nowSeconds + 3600, ...claims };
      const input = `${base64url(encoder.encode(JSON.stringify(head)))}.${base64url(encoder.encode(JSON.stringify(body)))}`;
      const signature = await crypto.subtle.sign(ES256, key, encoder.encode(input));
      return `${input}.${base64url(new Uint8Array(signature))}`;
    },
  };
}

/**
 * `auth.verify` for ES256 JWT access tokens signed by `publicKey`: the signature (raw r||s,
 * as JWS writes it and WebCrypto checks it), then `typ`, `iss`, `aud` (this resource) and
 * `exp`. What fails is refused with a description the client sees.
 */
function jwtVerifier(publicKey, seen = []) {
  return async (token) => {
    seen.push(token);
    const parts = token.split('.');
    if (parts.length !== 3) throw new InvalidToken('not a JWT');
    const [head, body, signature] = parts;
    let header;
    let claims;
    try {
      header = JSON.parse(decoder.decode(fromBase64url(head)));
      claims = JSON.parse(decoder.decode(fromBase64url(body)));
    } catch {
      throw new InvalidToken('not a JWT');
    }
    if (header.alg !== 'ES256' || header.typ !== 'at+jwt') throw new InvalidToken('not an ES256 access token');
    const valid = await crypto.subtle.verify(ES256, publicKey, fromBase64url(signature), encoder.encode(`${head}.${body}`));
    if (!valid) throw new InvalidToken('bad signature');
    if (claims.iss !== ISSUER) return { refused: 'unknown issuer' };
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(RESOURCE)) return { refused: 'the token is for another resource' };
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return { refused: 'the token has expired' };
    return { principal: `${claims.iss}#${claims.sub}`, scopes: claims.scope, expiresAt: claims.exp };
  };
}

// ---- Requests ----

function protectedHandler(verify, extra = {}) {
  const calls = [];
  return createMcpHandler({
    name: 'protected',
    version: '1',
    allowedHosts: ['mcp.example.com'],
    tools: [
      { name: 'echo', description: 'echo', handler: ({ text }) => text },
      { name: 'whoami', description: 'the caller', handler: (_args, context) => String(context.principal) },
      {
        name: 'wipe',
        description: 'needs admin',
        handler: () => {
          calls.push('wipe');
          return 'wiped';
        },
      },
    ],
    auth: {
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      scopesSupported: ['mcp', 'admin'],
      requiredScopes: ['mcp'],
      toolScopes: { wipe: ['admin'] },
      verify,
    },
    ...extra,
  }).then((mcp) => Object.assign(mcp, { calls }));
}

function withToken(token, headers = {}) {
  return token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` };
}

/** A session-era POST with `token`. */
function post(mcp, body, token, session) {
  const headers = withToken(token, { ...HEADERS });
  if (session !== undefined) {
    headers['mcp-session-id'] = session;
    headers['mcp-protocol-version'] = '2025-11-25';
  }
  return mcp.fetch(new Request(ENDPOINT, { method: 'POST', headers, body: JSON.stringify(body) }));
}

/** A 2026-07-28 POST with `token`. */
function modern(mcp, method, params, token, { id = 1, name } = {}) {
  const headers = withToken(token, {
    ...HEADERS,
    'mcp-protocol-version': MODERN,
    'mcp-method': method,
    ...(name === undefined ? {} : { 'mcp-name': name }),
  });
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'auth-test', version: '1' },
  };
  const body = { jsonrpc: '2.0', id, method, params: { ...params, _meta } };
  return mcp.fetch(new Request(ENDPOINT, { method: 'POST', headers, body: JSON.stringify(body) }));
}

async function answer(response, id) {
  const text = await response.text();
  if (response.headers.get('content-type')?.startsWith('application/json')) return JSON.parse(text);
  return sseMessages(text).find((m) => m.id === id);
}

/** Initializes a session with `token`; resolves with its id. */
async function openSession(mcp, token) {
  const response = await post(mcp, INIT, token);
  assert.equal(response.status, 200, await response.clone().text());
  await response.text();
  const session = response.headers.get('mcp-session-id');
  const initialized = await post(mcp, { jsonrpc: '2.0', method: 'notifications/initialized' }, token, session);
  assert.equal(initialized.status, 202);
  return session;
}

function call(name, args = {}, id = 1) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

/** The parameters of a `WWW-Authenticate: Bearer` value. */
function challenge(response) {
  const header = response.headers.get('www-authenticate');
  assert.ok(header?.startsWith('Bearer '), `a bearer challenge, not ${header}`);
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map(([, name, value]) => [name, value]));
}

/** Runs `body` with console.error collected instead of printed. */
async function quietly(body) {
  const logged = [];
  const error = console.error;
  console.error = (...args) => logged.push(args.map(String).join(' '));
  try {
    await body(logged);
  } finally {
    console.error = error;
  }
}

// ---- Tests ----

test('without a token: 401 with the challenge, in both eras, and the verifier is never asked', async () => {
  let asked = 0;
  const mcp = await protectedHandler(() => {
    asked += 1;
    return null;
  });
  const sessions = await post(mcp, INIT);
  assert.equal(sessions.status, 401);
  assert.equal(sessions.headers.get('www-authenticate'), CHALLENGE);
  assert.match((await sessions.json()).error.message, /bearer token is required/);
  const stateless = await modern(mcp, 'tools/list', {});
  assert.equal(stateless.status, 401);
  assert.equal(stateless.headers.get('www-authenticate'), CHALLENGE);
  await stateless.text();
  // Another scheme is no bearer token; one in the query is refused as a bad request.
  const basic = await mcp.fetch(new Request(ENDPOINT, { method: 'POST', headers: { ...HEADERS, authorization: 'Basic YWRhOnB3' }, body: JSON.stringify(INIT) }));
  assert.equal(basic.status, 401);
  assert.equal(basic.headers.get('www-authenticate'), CHALLENGE);
  await basic.text();
  const query = await mcp.fetch(new Request(`${ENDPOINT}?access_token=abc`, { method: 'POST', headers: HEADERS, body: JSON.stringify(INIT) }));
  assert.equal(query.status, 400);
  assert.equal(challenge(query).error, 'invalid_request');
  await query.text();
  assert.equal(asked, 0);
  assert.equal(mcp.stats().sessionsOpenedTotal, 0);
  assertNothingAlive(mcp);
  await mcp.close({ graceMs: 0 });
});

test('the metadata document is served at the path-aware well-known URL and the root one', async () => {
  const mcp = await protectedHandler(() => null);
  for (const url of [METADATA, 'https://mcp.example.com/.well-known/oauth-protected-resource']) {
    const response = await mcp.fetch(new Request(url));
    assert.equal(response.status, 200, url);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(await response.json(), {
      resource: RESOURCE,
      authorization_servers: [ISSUER],
      scopes_supported: ['mcp', 'admin'],
      bearer_methods_supported: ['header'],
    });
  }
  // The URL in the challenge is the document's.
  const refused = await post(mcp, INIT);
  assert.equal(challenge(refused).resource_metadata, METADATA);
  await refused.text();
  assertNothingAlive(mcp);
  await mcp.close({ graceMs: 0 });
});

test('an ES256 JWT verified with WebCrypto opens a session; its next requests use the grant; handlers see the principal', async () => {
  const as = await authorizationServer();
  const seen = [];
  const mcp = await protectedHandler(jwtVerifier(as.publicKey, seen));
  const token = await as.issue();
  const session = await openSession(mcp, token);
  const echoed = await answer(await post(mcp, call('echo', { text: 'hi' }, 2), token, session), 2);
  assert.deepEqual(echoed.result.content, [{ type: 'text', text: 'hi' }]);
  assert.equal(seen.length, 1, 'verified once, then granted from the cache');
  assert.equal(mcp.stats().cachedGrants, 1);
  // The session belongs to the token's principal: another principal's valid token finds none.
  const bob = await as.issue({ sub: 'bob' });
  const stolen = await post(mcp, call('echo', { text: 'x' }, 3), bob, session);
  assert.equal(stolen.status, 404);
  await stolen.text();
  // A fresh token for the same principal keeps it.
  const refreshed = await as.issue({ jti: 'second' });
  const kept = await post(mcp, call('echo', { text: 'again' }, 4), refreshed, session);
  assert.equal(kept.status, 200);
  assert.equal((await answer(kept, 4)).result.content[0].text, 'again');
  // Handlers know whom they serve, in both eras.
  const who = await post(mcp, call('whoami', {}, 5), token, session);
  assert.equal((await answer(who, 5)).result.content[0].text, `${ISSUER}#ada`);
  const whoModern = await modern(mcp, 'tools/call', { name: 'whoami', arguments: {} }, bob, { id: 6, name: 'whoami' });
  assert.equal((await answer(whoModern, 6)).result.content[0].text, `${ISSUER}#bob`);
  await mcp.close({ graceMs: 0 });
  assert.equal(mcp.stats().sessions, 0);
});

test('the same token on concurrent requests is verified once', async () => {
  const as = await authorizationServer();
  const seen = [];
  const verify = jwtVerifier(as.publicKey, seen);
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const mcp = await protectedHandler(async (token, signal) => {
    await gate;
    return verify(token, signal);
  });
  const token = await as.issue();
  const responses = [1, 2, 3].map((id) => modern(mcp, 'tools/call', { name: 'echo', arguments: { text: `n${id}` } }, token, { id, name: 'echo' }));
  await until('the verification to start', () => mcp.stats().verifications === 1);
  assert.equal(mcp.stats().pendingVerifications, 1);
  release();
  const answers = await Promise.all(responses.map(async (r, i) => answer(await r, i + 1)));
  assert.deepEqual(answers.map((a) => a.result.content[0].text), ['n1', 'n2', 'n3']);
  assert.equal(seen.length, 1);
  assertNothingAlive(mcp);
  await mcp.close({ graceMs: 0 });
});

test('refused tokens get 401 invalid_token with the description, in both eras', async () => {
  const as = await authorizationServer();
  const other = await authorizationServer();
  const mcp = await protectedHandler(jwtVerifier(as.publicKey));
  const hourAgo = Math.floor(Date.now() / 1000) - 3600;
  const cases = [
    [await as.issue({ exp: hourAgo }), 'the token has expired'],
    [await as.issue({ aud: 'https://other.example.com/mcp' }), 'the token is for another resource'],
    [await as.issue({ iss: 'https://evil.example.com' }), 'unknown issuer'],
    [await other.issue(), 'bad signature'],
    [await as.issue({}, { header: { typ: 'JWT' } }), 'not an ES256 access token'],
    ['opaque-token', 'not a JWT'],
  ];
  for (const [token, description] of cases) {
    for (const send of [() => post(mcp, INIT, token), () => modern(mcp, 'tools/list', {}, token)]) {
      const response = await send();
      assert.equal(response.status, 401, description);
      const params = challenge(response);
      assert.equal(params.error, 'invalid_token');
      assert.equal(params.error_description, description);
      assert.equal(params.resource_metadata, METADATA);
      await response.text();
    }
  }
  assert.equal(mcp.stats().cachedGrants, 0, 'nothing refused is kept');
  assertNothingAlive(mcp);
  await mcp.close({ graceMs: 0 });
});

test('null, false and { refused } refuse; a grant already expired is refused', async () => {
  const verdicts = {
    none: null,
    no: false,
    revoked: { refused: 'the token was revoked' },
    thrown: 'throw',
    stale: { principal: 'ada', scopes: ['mcp'], expiresAt: Math.floor(Date.now() / 1000) - 1 },
  };
  const mcp = await protectedHandler((token) => {
    if (verdicts[token] === 'throw') throw new InvalidToken('thrown out');
    return verdicts[token];
  });
  const expected = {
    none: 'the token is not valid',
    no: 'the token is not valid',
    revoked: 'the token was revoked',
    thrown: 'thrown out',
    stale: 'the token has expired',
  };
  for (const [token, description] of Object.entries(expected)) {
    const response = await post(mcp, INIT, token);
    assert.equal(response.status, 401, token);
    assert.equal(challenge(response).error_description, description, token);
    await response.text();
  }
  assertNothingAlive(mcp);
  await mcp.close({ graceMs: 0 });
});

test('a verifier that throws, or returns what is not a verdict, is 503 with Retry-After', async () => {
  await quietly(async (logged) => {
    const mcp = await protectedHandler(async (token) => {
      if (token === 'offline') throw new Error('the JWKS endpoint is unreachable');
      if (token === 'string') return 'yes';
      return { scopes: ['mcp'] };
    });
    for (const token of ['offline', 'string', 'nobody']) {
      for (const send of [() => post(mcp, INIT, token), () => modern(mcp, 'tools/list', {}, token)]) {
        const response = await send();
        assert.equal(response.status, 503, token);
        assert.ok(Number(response.headers.get('retry-after')) >= 1, token);
        assert.equal(response.headers.get('www-authenticate'), null, 'not a token problem');
        await response.text();
      }
    }
    assert.equal(mcp.stats().cachedGrants, 0);
    assert.ok(logged.some((line) => line.includes('unreachable')), 'the failure is logged');
    assert.ok(logged.some((line) => line.includes('without a principal')), 'the bug is named');
    assertNothingAlive(mcp);
    await mcp.close({ graceMs: 0 });
  });
});

test('scopes: 403 insufficient_scope without a required one or a tool\'s, in both eras', async () => {
  const as = await authorizationServer();
  const mcp = await protectedHandler(jwtVerifier(as.publicKey));
  // Without the scope every request needs: 403 at the gate, asking for it.
  const narrow = await as.issue({ scope: 'other' });
  for (const send of [() => post(mcp, INIT, narrow), () => modern(mcp, 'tools/list', {}, narrow)]) {
    const response = await send();
    assert.equal(response.status, 403);
    const params = challenge(response);
    assert.equal(params.error, 'insufficient_scope');
    assert.equal(params.scope, 'mcp');
    await response.text();
  }
  // With it, a tool that needs more: 403 naming every scope to ask for (step-up).
  const plain = await as.issue({ scope: 'mcp' });
  const session = await openSession(mcp, plain);
  const sessionEra = await post(mcp, call('wipe', {}, 2), plain, session);
  assert.equal(sessionEra.status, 403);
  assert.equal(challenge(sessionEra).scope, 'admin mcp');
  await sessionEra.text();
  const statelessEra = await modern(mcp, 'tools/call', { name: 'wipe', arguments: {} }, plain, { name: 'wipe' });
  assert.equal(statelessEra.status, 403);
  assert.equal(challenge(statelessEra).scope, 'admin mcp');
  await statelessEra.text();
  assert.deepEqual(mcp.calls, [], 'the tool never ran');
  // Step-up: a token with admin for the same principal calls it, in both eras.
  const wide = await as.issue({ scope: 'mcp admin' });
  const stepped = await post(mcp, call('wipe', {}, 3), wide, session);
  assert.equal((await answer(stepped, 3)).result.content[0].text, 'wiped');
  const steppedModern = await modern(mcp, 'tools/call', { name: 'wipe', arguments: {} }, wide, { id: 4, name: 'wipe' });
  assert.equal((await answer(steppedModern, 4)).result.content[0].text, 'wiped');
  assert.deepEqual(mcp.calls, ['wipe', 'wipe']);
  await mcp.close({ graceMs: 0 });
});

test('a verify that never settles: 503 after the deadline, its signal aborted, nothing left', async () => {
  const signals = [];
  const mcp = await protectedHandler(
    (_token, signal) => {
      signals.push(signal);
      return new Promise(() => {});
    },
    { timeouts: { tokenVerificationMs: 50 } },
  );
  for (const send of [() => post(mcp, INIT, 'slow-1'), () => modern(mcp, 'tools/list', {}, 'slow-2')]) {
    const response = await send();
    assert.equal(response.status, 503);
    assert.ok(Number(response.headers.get('retry-after')) >= 1);
    assert.match((await response.json()).error.message, /not verified in time/);
  }
  assert.equal(signals.length, 2);
  for (const signal of signals) {
    assert.ok(signal.aborted, 'the verification was cancelled');
    assert.equal(signal.reason.name, 'AbortError');
  }
  assertNothingAlive(mcp);
  await mcp.close({ graceMs: 0 });
});

test('a verdict after the deadline is dropped; the token is asked about again', async () => {
  let finish;
  let asked = 0;
  const mcp = await protectedHandler(
    () => {
      asked += 1;
      if (asked > 1) return { principal: 'ada', scopes: ['mcp'], expiresIn: 60 };
      return new Promise((resolve) => {
        finish = resolve;
      });
    },
    { timeouts: { tokenVerificationMs: 50 } },
  );
  const late = await post(mcp, INIT, 'tok');
  assert.equal(late.status, 503);
  await late.text();
  finish({ principal: 'ada', scopes: ['mcp'] });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(mcp.stats().cachedGrants, 0, 'the late grant was not kept');
  const again = await post(mcp, INIT, 'tok');
  assert.equal(again.status, 200);
  await again.text();
  assert.equal(asked, 2);
  await mcp.close({ graceMs: 0 });
});

test('shutdown cancels a verification under way', async () => {
  const signals = [];
  const mcp = await protectedHandler((_token, signal) => {
    signals.push(signal);
    return new Promise(() => {});
  });
  const response = post(mcp, INIT, 'pending');
  await until('the verification to start', () => signals.length === 1);
  await mcp.close({ graceMs: 20 });
  assert.equal((await response).status, 503);
  assert.ok(signals[0].aborted);
  assert.equal(mcp.stats().verifications, 0);
});

test('token bytes and verifications at once are bounded: at the limit, and one past it', async () => {
  const signals = [];
  const mcp = await protectedHandler(
    (token, signal) => {
      signals.push(signal);
      if (token.startsWith('x')) return { principal: 'ada', scopes: ['mcp'], expiresIn: 60 };
      return new Promise(() => {});
    },
    { limits: { maxTokenBytes: 16, maxPendingVerifications: 2 }, timeouts: { tokenVerificationMs: 100 } },
  );
  const at = await modern(mcp, 'tools/list', {}, 'x'.repeat(16));
  assert.equal(at.status, 200, 'a token at the limit is verified');
  await at.text();
  const past = await modern(mcp, 'tools/list', {}, 'x'.repeat(17));
  assert.equal(past.status, 401);
  assert.match(challenge(past).error_description, /too long/);
  await past.text();
  // Two tokens being verified: the limit. A third distinct one is refused at once.
  const waiting = [post(mcp, INIT, 'slow-a'), post(mcp, INIT, 'slow-b')];
  await until('two verifications', () => mcp.stats().pendingVerifications === 2);
  const third = await post(mcp, INIT, 'slow-c');
  assert.equal(third.status, 503);
  await third.text();
  // The same token as one under way waits for that verdict instead.
  const same = post(mcp, INIT, 'slow-a');
  for (const response of await Promise.all([...waiting, same])) {
    assert.equal(response.status, 503);
    await response.text();
  }
  assert.equal(signals.length, 3, 'one verify per token');
  assertNothingAlive(mcp);
  await mcp.close({ graceMs: 0 });
});

test('bad auth options are errors at createMcpHandler', async () => {
  const base = { resource: RESOURCE, authorizationServers: [ISSUER], verify: () => null };
  const cases = [
    [{ ...base, verify: undefined }, /auth\.verify/],
    [{ ...base, resource: 'http://mcp.example.com/mcp' }, /auth\.resource.*https/],
    [{ ...base, authorizationServers: [] }, /auth\.authorizationServers/],
    [{ ...base, authorizationServers: ['auth.example.com'] }, /auth\.authorizationServers/],
    [{ ...base, requiredScopes: ['mcp admin'] }, /auth\.requiredScopes.*scope token/],
    [{ ...base, toolScopes: { wipe: ['a"b'] } }, /auth\.toolScopes/],
    [{ ...base, tooolScopes: {} }, /tooolScopes/],
  ];
  for (const [auth, message] of cases) {
    await assert.rejects(createMcpHandler({ name: 'x', version: '1', auth }), message);
  }
  // The module is still sound after them.
  const mcp = await createMcpHandler({ name: 'x', version: '1', auth: { ...base, resource: 'http://127.0.0.1:8787/mcp' } });
  const response = await mcp.fetch(new Request('http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp'));
  assert.equal((await response.json()).resource, 'http://127.0.0.1:8787/mcp');
  await mcp.close({ graceMs: 0 });
});

test('with timers per response (Workers): verify runs under waitUntil and its deadline still fires', async () => {
  const signals = [];
  const waited = [];
  const mcp = await protectedHandler(
    (token, signal) => {
      signals.push(signal);
      if (token === 'good') return { principal: 'ada', scopes: ['mcp'], expiresIn: 60 };
      return new Promise(() => {});
    },
    { timersPerResponse: true, timeouts: { tokenVerificationMs: 50 } },
  );
  const context = { waitUntil: (work) => waited.push(work) };
  const fetchWith = (token) =>
    mcp.fetch(new Request(ENDPOINT, { method: 'POST', headers: withToken(token, { ...HEADERS }), body: JSON.stringify(INIT) }), {}, context);
  const good = await fetchWith('good');
  assert.equal(good.status, 200);
  await good.text();
  const slow = await fetchWith('slow');
  assert.equal(slow.status, 503);
  await slow.text();
  assert.equal(waited.length, 2, 'each verify was handed to waitUntil');
  assert.ok(signals[1].aborted);
  await mcp.close({ graceMs: 0 });
});

test('without auth, no token is asked for and handlers see no principal', async () => {
  const mcp = await createMcpHandler({
    name: 'open',
    version: '1',
    tools: [{ name: 'whoami', description: 'the caller', handler: (_args, context) => String(context.principal) }],
  });
  const response = await mcp.fetch(
    new Request('http://127.0.0.1:8787/mcp', {
      method: 'POST',
      headers: { ...HEADERS, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'whoami' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'whoami', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} } },
      }),
    }),
  );
  assert.equal((await answer(response, 1)).result.content[0].text, 'undefined');
  const metadata = await mcp.fetch(new Request('http://127.0.0.1:8787/.well-known/oauth-protected-resource'));
  assert.equal(metadata.status, 404);
  await metadata.text();
  await mcp.close({ graceMs: 0 });
});
