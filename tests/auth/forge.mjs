// Tokens the authorization server would never issue, made with jose: with its own signing key
// (from the JWKS file the run made) but wrong claims, or with keys and algorithms it does not use.

import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, generateKeyPair, importJWK } from 'jose';

/** The authorization server's signing keys, first the one it signs with: `{ kid, key, jwk }`. */
export async function serverKeys(jwksFile) {
  const { keys } = JSON.parse(readFileSync(jwksFile, 'utf8'));
  return Promise.all(keys.map(async (jwk) => ({ kid: jwk.kid, key: await importJWK(jwk, 'RS256'), jwk })));
}

const now = () => Math.floor(Date.now() / 1000);

/** RFC 9068 claims for `resource` from `issuer`, valid for ten minutes; `extra` overrides. */
export function claimsFor(issuer, resource, extra = {}) {
  return {
    iss: issuer, aud: resource, sub: 'mallory', client_id: 'forged', scope: 'mcp mcp:admin',
    iat: now(), exp: now() + 600, jti: randomUUID(), ...extra,
  };
}

/** Signs `claims` with RS256 under `kid`. */
export function sign(claims, key, kid) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid }).sign(key);
}

/** A key nobody published. */
export async function strangerKey() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { key: privateKey, publicKey, kid: randomUUID() };
}

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsecured JWT (`alg: none`), with the published kid, and no signature. */
export function unsecured(claims, kid) {
  return `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`;
}

/** HS256 with the published public key as the HMAC secret (the algorithm confusion attack). */
export function hmacWithPublicKey(claims, kid, secret) {
  const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** The secrets an algorithm-confusion attacker would try: the public JWK's JSON and its PEM. */
export function publicKeyAsSecrets(jwk) {
  const { kty, n, e } = jwk;
  const publicJwk = { kty, n, e, kid: jwk.kid, alg: 'RS256', use: 'sig' };
  const pem = createPublicKey({ key: { kty, n, e }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  return { jwk: JSON.stringify(publicJwk), pem };
}

