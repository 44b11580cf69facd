// What one verification of a JWT access token costs in Node: jose's `jwtVerify` (signature,
// `iss`, `aud`) with the key set of `createRemoteJWKSet` already fetched, as the TypeScript
// peer's verifier does on every request. Times ROUNDS rounds of BATCH verifications of the same
// token and prints the median round's nanoseconds per verification.
//
// Usage: node verify.mjs AS_URL RESOURCE TOKEN ROUNDS BATCH
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [issuer, resource, token, rounds, batch] = process.argv.slice(2);
const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
const keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
const verify = () => jwtVerify(token, keys, { issuer, audience: resource });
// Fetches the keys, and lets V8 compile the path.
for (let i = 0; i < Number(batch); i += 1) await verify();
const perRound = [];
for (let round = 0; round < Number(rounds); round += 1) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < Number(batch); i += 1) await verify();
  perRound.push(Number(process.hrtime.bigint() - started) / Number(batch));
}
perRound.sort((a, b) => a - b);
process.stdout.write(`${Math.round(perRound[(perRound.length - 1) >> 1])}\n`);
