// Makes a new RS256 signing key and puts it first in a JWKS file of private keys (creating the
// file if it is absent): the first key is the one oidc-provider signs with, and the ones after it
// stay published, which is how a signing key is rotated.
//
// Usage: node keys.mjs JWKS_FILE   (prints the new key's kid)

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';

const file = process.argv[2];
const jwks = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { keys: [] };
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const kid = randomUUID();
jwks.keys.unshift({ ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' });
writeFileSync(file, JSON.stringify(jwks));
console.log(kid);
