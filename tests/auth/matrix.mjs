// The resource server's answers to every kind of credential, over real sockets, in both protocol
// eras: on a session (2025-11-25: initialize, then tools/call with Mcp-Session-Id) and stateless
// (2026-07-28: tools/call with its headers and _meta). After each case every gauge of /metrics is
// back to its value before the run (cached grants aside, see atRest).
//
// Usage: node matrix.mjs PHASE --mcp URL --as URL --jwks FILE --mode jwt|introspection
//                              --other RESOURCE [--tokens FILE]
//   cases        every case below that needs the authorization server up;
//   mint         gets fresh tokens into FILE, for after the authorization server is killed;
//   as-down      the authorization server is down: the tokens from `mint`;
//   rotated      the authorization server restarted with a new signing key first;
//   random-kids  10,000 tokens with random key ids, 64 at a time.
// --other is a resource of the same authorization server that is not this server.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { check, run } from '../interop/checks.mjs';
import {
  claimsFor, hmacWithPublicKey, publicKeyAsSecrets, serverKeys, sign, strangerKey, unsecured,
} from './forge.mjs';
import {
  ERAS, MODERN, SESSIONS, callTool, close, http, inEra, initialize, metrics,
} from './mcp.mjs';
import { authorizationCode, clientCredentials, refresh } from './oauth.mjs';

const { positionals: [phase], values: opts } = parseArgs({
  allowPositionals: true,
  options: {
    mcp: { type: 'string' }, as: { type: 'string' }, jwks: { type: 'string' },
    mode: { type: 'string' }, other: { type: 'string' }, tokens: { type: 'string' },
  },
});
const url = opts.mcp;
const resource = url;
const asUrl = opts.as;
const origin = new URL(url).origin;
const metricsUrl = `${origin}/metrics`;
const metadataUrl = `${origin}/.well-known/oauth-protected-resource${new URL(url).pathname}`;
const introspection = opts.mode === 'introspection';

// ---- what every case checks ----

/** The quoted value of `name` in a challenge. */
function param(challenge, name) {
  return challenge.match(new RegExp(`(?:^Bearer |, *)${name}="([^"]*)"`))?.[1];
}

function summary(response) {
  return { status: response.status, challenge: response.headers['www-authenticate'], body: response.text.slice(0, 300) };
}

/** 401 with a Bearer challenge pointing at the metadata, and saying `error` (none: null). */
function unauthorized(response, what, error = 'invalid_token') {
  const challenge = response.headers['www-authenticate'] ?? '';
  check(response.status === 401 && challenge.startsWith('Bearer ')
    && param(challenge, 'resource_metadata') === metadataUrl
    && (param(challenge, 'error') ?? null) === error, what, summary(response));
}

/** A refused token, in `era`: at initialize and on a live session (2025-11-25), or stateless. */
async function refused(era, name, token, good, expect = unauthorized) {
  if (era === MODERN) {
    expect((await callTool(url, MODERN, token, 'whoami')).response, `[${era}] ${name}: tools/call is refused`);
  } else {
    const { response, session } = await initialize(url, token);
    if (session) await close(url, session, token);
    expect(response, `[${era}] ${name}: initialize is refused`);
    await inEra(url, era, good.token, async (s) => {
      expect((await callTool(url, s, token, 'whoami')).response, `[${era}] ${name}: tools/call on a live session is refused`);
      const { text } = await callTool(url, s, good.token, 'whoami');
      check(text?.includes(good.principal), `[${era}] ${name}: the session still serves its own principal`, text);
    });
  }
  await atRest(`[${era}] ${name}`);
}

/** `whoami` with `token` in `era` answers `principal`. */
async function served(era, name, token, principal) {
  await inEra(url, era, token, async (s) => {
    const { response, text } = await callTool(url, s, token, 'whoami');
    check(response.status === 200 && text?.includes(principal), `[${era}] ${name}: whoami answers ${principal}`,
      { ...summary(response), text });
  });
  await atRest(`[${era}] ${name}`);
}

// Gauges that are not back to their value between cases by design: the grants cache keeps a
// verified token's grant until it expires (at most 60 s), and charges it to
// held_bytes{sessions}. The run checks them at its end, once the grants have expired.
const CACHE = ['mcpwire_cached_grants', 'mcpwire_held_bytes{kind="sessions"}'];
function gauges(all) {
  return Object.fromEntries(Object.entries(all).filter(([name]) => !/_total($|\{)/.test(name) && !CACHE.includes(name)));
}
let baseline;
/** Every gauge back to its baseline within 5 s. */
async function atRest(what) {
  let off;
  for (let i = 0; i < 50; i += 1) {
    const now = gauges(await metrics(metricsUrl));
    off = Object.keys(baseline).filter((k) => now[k] !== baseline[k]).map((k) => `${k} ${now[k]} (was ${baseline[k]})`);
    if (off.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  check(off.length === 0, `${what}: every gauge back to its baseline`, off);
}

// ---- tokens ----

const user = (account, scope = 'mcp') => authorizationCode(asUrl, { account, scope, resource });
const machine = (client, scope = 'mcp') => clientCredentials(asUrl, client, scope, resource);

// ---- the phases ----

async function cases() {
  const carol = { token: (await user('carol')).access_token, principal: 'carol' };
  const keys = await serverKeys(opts.jwks);
  const [signing] = keys;
  const forged = (extra) => sign(claimsFor(asUrl, resource, extra), signing.key, signing.kid);
  const stranger = await strangerKey();
  const secrets = publicKeyAsSecrets(signing.jwk);
  const hour = 3600;
  const now = Math.floor(Date.now() / 1000);

  // The metadata the challenges point at (RFC 9728), path-aware and at the root.
  for (const at of [metadataUrl, `${origin}/.well-known/oauth-protected-resource`]) {
    const response = await http('GET', at);
    let document;
    try { document = JSON.parse(response.text); } catch { document = response.text; }
    check(response.status === 200 && document.resource === resource
      && JSON.stringify(document.authorization_servers) === JSON.stringify([asUrl])
      && document.scopes_supported?.includes('mcp')
      && JSON.stringify(document.bearer_methods_supported) === JSON.stringify(['header']),
    `the metadata at ${new URL(at).pathname} names the resource, the authorization server, mcp, header`, document);
  }

  const otherResource = await clientCredentials(asUrl, 'alice-service', 'mcp', opts.other);
  // A JWT the provider did not issue. By JWT: refused, 401. By introspection: oidc-provider will
  // not introspect a JWT at all (400 unsupported_token_type), which the server takes for an
  // authorization server that cannot say (503 with Retry-After): never served either way.
  const jwtRefusal = !introspection ? unauthorized : (r, what) => check(
    r.status === 503 && r.headers['retry-after'] !== undefined,
    `${what} (503: the provider will not introspect a JWT)`, summary(r));
  for (const era of ERAS) {
    await served(era, 'code + PKCE token', carol.token, 'carol');
    await served(era, 'client credentials token', (await machine('alice-service')).access_token, 'alice-service');

    // No token: the challenge has no error code (RFC 6750 3.1), only where to find out more.
    await refused(era, 'no token', undefined, carol, (r, what) => unauthorized(r, what, null));
    await refused(era, 'malformed (three dots of garbage)', 'abc.def.ghi', carol);
    await refused(era, 'malformed (not a JWT)', 'x'.repeat(40), carol);
    await refused(era, 'expired', await forged({ iat: now - 2 * hour, exp: now - hour }), carol, jwtRefusal);
    await refused(era, 'not yet valid (nbf in an hour)', await forged({ nbf: now + hour, exp: now + 2 * hour }), carol, jwtRefusal);
    await refused(era, 'wrong issuer', await forged({ iss: 'http://127.0.0.1:1' }), carol, jwtRefusal);
    await refused(era, `wrong audience (a real token for ${opts.other})`, otherResource.access_token, carol);
    await refused(era, 'wrong audience (an array without this resource)', await forged({ aud: [opts.other] }), carol, jwtRefusal);
    await refused(era, 'signed by an unknown key', await sign(claimsFor(asUrl, resource), stranger.key, stranger.kid), carol, jwtRefusal);
    await refused(era, 'signed by an unknown key under the published kid', await sign(claimsFor(asUrl, resource), stranger.key, signing.kid), carol, jwtRefusal);
    await refused(era, 'alg: none', unsecured(claimsFor(asUrl, resource), signing.kid), carol, jwtRefusal);
    await refused(era, 'HS256 with the public JWK as secret', hmacWithPublicKey(claimsFor(asUrl, resource), signing.kid, secrets.jwk), carol, jwtRefusal);
    await refused(era, 'HS256 with the public PEM as secret', hmacWithPublicKey(claimsFor(asUrl, resource), signing.kid, secrets.pem), carol, jwtRefusal);

    // Credentials where they must not be: 400 invalid_request.
    const badRequest = (r, what) => {
      const challenge = r.headers['www-authenticate'] ?? '';
      check(r.status === 400 && (!challenge || param(challenge, 'error') === 'invalid_request'), what, summary(r));
    };
    const query = `?access_token=${encodeURIComponent(carol.token)}`;
    if (era === MODERN) {
      badRequest((await callTool(url, MODERN, undefined, 'whoami', {}, { query })).response, `[${era}] a token in the query: 400`);
      badRequest((await callTool(url, MODERN, carol.token, 'whoami', {}, { query })).response, `[${era}] a token in the query and the header: 400`);
    } else {
      badRequest((await initialize(url, undefined, { query })).response, `[${era}] a token in the query: 400`);
    }
    await refused(era, 'two Authorization fields', [carol.token, carol.token], carol, (r, what) => badRequest(r, `${what} (400)`));

    // Scope: a token without mcp is stopped at the gate; one without mcp:admin at the tool, then
    // the same principal steps up (on the same session, 2025-11-25).
    const adminOnly = (await user('dave', 'mcp:admin')).access_token;
    await refused(era, 'a token without the scope mcp', adminOnly, carol, (r, what) => {
      const challenge = r.headers['www-authenticate'] ?? '';
      check(r.status === 403 && param(challenge, 'error') === 'insufficient_scope'
        && param(challenge, 'scope')?.split(' ').includes('mcp'), `${what} (403, scope="mcp")`, summary(r));
    });
    const dave = (await user('dave')).access_token;
    const daveAdmin = (await user('dave', 'mcp mcp:admin')).access_token;
    await inEra(url, era, dave, async (s) => {
      const denied = await callTool(url, s, dave, 'announce_list_changed', { list: 'tools' });
      const challenge = denied.response.headers['www-authenticate'] ?? '';
      check(denied.response.status === 403 && param(challenge, 'error') === 'insufficient_scope'
        && param(challenge, 'scope')?.split(' ').includes('mcp:admin'),
      `[${era}] announce_list_changed with scope mcp: 403 insufficient_scope, scope includes mcp:admin`, summary(denied.response));
      const { text: still } = await callTool(url, s, dave, 'whoami');
      check(still?.includes('dave'), `[${era}] after the 403 the token still calls whoami`, still);
      const stepped = await callTool(url, s, daveAdmin, 'announce_list_changed', { list: 'tools' });
      check(stepped.response.status === 200 && /notified/.test(stepped.text ?? ''),
        `[${era}] step-up: a token with mcp mcp:admin${era === SESSIONS ? ', on the same session,' : ''} calls announce_list_changed`,
        { ...summary(stepped.response), text: stepped.text });
    });
    await atRest(`[${era}] insufficient scope and step-up`);

    // A session belongs to its principal: a refreshed token keeps it, another principal's is 404.
    if (era === SESSIONS) {
      const erin = await user('erin');
      const { session } = await initialize(url, erin.access_token);
      const renewed = (await refresh(asUrl, erin.refresh_token, resource)).access_token;
      const { response, text } = await callTool(url, session, renewed, 'whoami');
      check(response.status === 200 && text?.includes('erin'), `[${era}] a refreshed token of the same principal keeps the session`, { ...summary(response), text });
      const frank = (await user('frank')).access_token;
      const foreign = await callTool(url, session, frank, 'whoami');
      check(foreign.response.status === 404, `[${era}] another principal's valid token on the session: 404`, summary(foreign.response));
      check(await close(url, session, frank) === 404, `[${era}] another principal's DELETE of the session: 404`);
      const { text: after } = await callTool(url, session, erin.access_token, 'whoami');
      check(after?.includes('erin'), `[${era}] the session still serves its principal (its first token)`, after);
      const deleted = await close(url, session, renewed);
      check(deleted === 200 || deleted === 204, `[${era}] its principal's DELETE ends the session`, deleted);
      await atRest(`[${era}] principal binding`);
    } else {
      const erin = await user('erin');
      const renewed = (await refresh(asUrl, erin.refresh_token, resource)).access_token;
      await served(era, 'a refreshed token (no session to keep)', renewed, 'erin');
    }
  }
}

async function mint() {
  const tokens = {};
  for (const era of ERAS) {
    // Used now, so that its grant is cached: introspection mode serves it from the cache later.
    tokens[`used ${era}`] = (await user('grace')).access_token;
    await served(era, 'a token used before the authorization server goes down', tokens[`used ${era}`], 'grace');
    tokens[`fresh ${era}`] = (await user('heidi')).access_token;
  }
  writeFileSync(opts.tokens, JSON.stringify(tokens));
}

async function asDown() {
  const tokens = JSON.parse(readFileSync(opts.tokens, 'utf8'));
  const down = await http('GET', `${asUrl}/jwks`).then(() => false, () => true);
  check(down, 'the authorization server is down');
  for (const era of ERAS) {
    await served(era, 'a token seen before, authorization server down', tokens[`used ${era}`], 'grace');
    if (!introspection) {
      await served(era, 'a new valid token, authorization server down (cached keys)', tokens[`fresh ${era}`], 'heidi');
    } else {
      // Nothing can say whether it is valid: 503 with Retry-After, not a refusal.
      const attempt = era === MODERN
        ? (await callTool(url, MODERN, tokens[`fresh ${era}`], 'whoami')).response
        : (await initialize(url, tokens[`fresh ${era}`])).response;
      check(attempt.status === 503 && attempt.headers['retry-after'] !== undefined,
        `[${era}] a new token, introspection unreachable: 503 with Retry-After`, summary(attempt));
      await atRest(`[${era}] a new token, introspection unreachable`);
    }
    const stranger = await strangerKey();
    const unknown = await sign(claimsFor(asUrl, resource), stranger.key, stranger.kid);
    const attempt = era === MODERN
      ? (await callTool(url, MODERN, unknown, 'whoami')).response
      : (await initialize(url, unknown)).response;
    check(attempt.status === 401 || attempt.status === 503,
      `[${era}] an unknown key, authorization server down: refused or unavailable (${attempt.status}), never served`, summary(attempt));
    await atRest(`[${era}] an unknown key, authorization server down`);
  }
}

async function rotated() {
  if (introspection) {
    // Opaque tokens: nothing to rotate; the provider is back and introspects again.
    for (const era of ERAS) await served(era, 'a token issued after the provider came back', (await user('ivan')).access_token, 'ivan');
    return;
  }
  const keys = await serverKeys(opts.jwks);
  check(keys.length >= 2, 'the authorization server publishes the new key and the old one', keys.map((k) => k.kid));
  const kidOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid;
  // A kid the verifier has not seen makes it fetch the keys again, but at most once per refetch
  // interval (60 s) after its last attempt: until then, a token signed with the new key is
  // refused (401). Each try is a new token (a refused one is not asked about again); 75 s at most.
  const refusals = [];
  let accepted = false;
  for (let attempt = 0; attempt < 75 && !accepted; attempt += 1) {
    const token = (await machine('alice-service')).access_token;
    const { response, text } = await callTool(url, MODERN, token, 'whoami');
    accepted = response.status === 200 && text === 'alice-service';
    if (!accepted) {
      refusals.push({ kid: kidOf(token) === keys[0].kid ? 'new' : kidOf(token), ...summary(response) });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  check(accepted, 'a token signed with the new key is served once the keys are fetched again', refusals.length);
  check(refusals.every((r) => r.kid === 'new' && r.status === 401 && /invalid_token/.test(r.challenge ?? '')),
    `before that, tokens of the new key were refused with 401 invalid_token (${refusals.length})`, refusals.slice(0, 3));
  console.log(`# tokens of the new key refused before the keys were fetched again: ${refusals.length}, one a second`);
  for (const era of ERAS) {
    const fresh = (await user('ivan')).access_token;
    check(kidOf(fresh) === keys[0].kid, `[${era}] the provider signs with the new key`, kidOf(fresh));
    await served(era, 'a token signed with the new key', fresh, 'ivan');
    const old = await sign(claimsFor(asUrl, resource, { sub: 'judy' }), keys[1].key, keys[1].kid);
    await served(era, 'a token signed with the old key, still published', old, 'judy');
  }
}

async function randomKids() {
  const before = await (await fetch(`${asUrl}/_counts`)).json();
  const stranger = await strangerKey();
  const total = 10000;
  const width = 64;
  const statuses = {};
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const era = ERAS[i % 2];
      const token = await sign(claimsFor(asUrl, resource), stranger.key, `kid-${i}-${Math.random().toString(36).slice(2)}`);
      const response = era === MODERN
        ? (await callTool(url, MODERN, token, 'whoami')).response
        : (await initialize(url, token)).response;
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  check(statuses[401] === total, `${total} tokens with random kids, ${width} at a time: every one 401`, statuses);
  const after = await (await fetch(`${asUrl}/_counts`)).json();
  const fetched = (after['/jwks'] ?? 0) - (before['/jwks'] ?? 0);
  console.log(`# the authorization server's /jwks was asked ${fetched} times during the ${total} requests`);
  if (!introspection) {
    // One fetch per refetch interval (60 s) at most; the run starts this phase once a fetch is
    // allowed, and the flood is far shorter than two intervals.
    check(fetched >= 1 && fetched <= 2, `the unknown kids made the keys be fetched once or twice, not ${total} times (${fetched})`, fetched);
  }
  await atRest(`${total} tokens with random kids`);
  for (const era of ERAS) await served(era, 'a valid token after the flood', (await user('carol')).access_token, 'carol');
}

await run(`auth matrix (${opts.mode}, ${phase})`, async () => {
  baseline = gauges(await metrics(metricsUrl));
  const phases = { cases, mint, 'as-down': asDown, rotated, 'random-kids': randomKids };
  if (!phases[phase]) throw new Error(`no phase ${phase}`);
  await phases[phase]();
});
