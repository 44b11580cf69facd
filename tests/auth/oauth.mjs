// Getting tokens from the authorization server (as.mjs) the way clients do, without a browser.

import { createHash, randomBytes } from 'node:crypto';

/**
 * Plays the browser for an authorization request: follows its redirects, carrying the cookies
 * the authorization server sets (its interaction answers login and consent at once), until one
 * points at `redirectUri`. Returns that URL, with `code`, `state` and `iss`.
 */
export async function followAuthorization(authorizationUrl, redirectUri) {
  const jar = new Map();
  let url = String(authorizationUrl);
  for (let hop = 0; hop < 10; hop += 1) {
    if (url.startsWith(redirectUri)) return new URL(url);
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const set of response.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    const location = response.headers.get('location');
    if (!location) {
      throw new Error(`the authorization stopped at ${url}: ${response.status} ${await response.text()}`);
    }
    url = new URL(location, url).href;
  }
  throw new Error('the authorization took more than 10 redirects');
}

/** Asks the token endpoint; throws with its answer unless it is 200. */
async function token(asUrl, form, basic) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  const response = await fetch(`${asUrl}/token`, { method: 'POST', headers, body: new URLSearchParams(form) });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`token endpoint: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** A client credentials grant for a static confidential client (secret `<id>-secret`). */
export function clientCredentials(asUrl, clientId, scope, resource) {
  return token(asUrl, { grant_type: 'client_credentials', scope, resource }, `${clientId}:${clientId}-secret`);
}

/**
 * The authorization code grant with PKCE (S256) for the public client `pkce-test`, logged in as
 * `account`. Returns the token response, with a refresh token.
 */
export async function authorizationCode(asUrl, { account, scope, resource }) {
  const redirectUri = 'http://127.0.0.1/callback';
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(8).toString('hex');
  const authorize = new URL(`${asUrl}/auth`);
  for (const [name, value] of Object.entries({
    client_id: 'pkce-test', response_type: 'code', redirect_uri: redirectUri, scope, resource, state,
    code_challenge: challenge, code_challenge_method: 'S256', login_hint: account,
  })) authorize.searchParams.set(name, value);
  const back = await followAuthorization(authorize, redirectUri);
  if (back.searchParams.get('state') !== state) throw new Error(`state mismatch: ${back}`);
  if (back.searchParams.get('iss') !== asUrl) throw new Error(`iss mismatch: ${back}`);
  const code = back.searchParams.get('code');
  if (!code) throw new Error(`no code: ${back}`);
  return token(asUrl, {
    grant_type: 'authorization_code', client_id: 'pkce-test', code, redirect_uri: redirectUri,
    code_verifier: verifier, resource,
  });
}

/** The refresh token grant for `pkce-test`. */
export function refresh(asUrl, refreshToken, resource) {
  return token(asUrl, { grant_type: 'refresh_token', client_id: 'pkce-test', refresh_token: refreshToken, resource });
}

/** The payload of a JWT, unverified (for the tests' own checks). */
export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}
