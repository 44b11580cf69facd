// The authorization server alone, before any resource server: it issues what the matrix relies
// on. Client credentials and authorization code + PKCE (with a refresh) give RFC 9068 JWTs for
// the JWT resource that verify against the published keys; a client registers itself as the
// MCP SDKs do; the opaque resource's tokens are active at introspection, with their audience.
//
// Usage: node tokens.mjs AS_URL JWT_RESOURCE OPAQUE_RESOURCE

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { check, run } from '../interop/checks.mjs';
import { authorizationCode, clientCredentials, refresh } from './oauth.mjs';

const [asUrl, jwtResource, opaqueResource] = process.argv.slice(2);

await run('auth tokens', async () => {
  const metadata = await (await fetch(`${asUrl}/.well-known/oauth-authorization-server`)).json();
  check(metadata.issuer === asUrl, 'RFC 8414 metadata names the issuer', metadata.issuer);
  for (const field of ['registration_endpoint', 'introspection_endpoint', 'jwks_uri']) {
    check(typeof metadata[field] === 'string', `the metadata has ${field}`, metadata);
  }
  check(metadata.code_challenge_methods_supported?.includes('S256'), 'PKCE S256 is supported', metadata);
  const keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
  const verify = (jwt) => jwtVerify(jwt, keys, { issuer: asUrl, audience: jwtResource, typ: 'at+jwt' });

  const machine = await clientCredentials(asUrl, 'alice-service', 'mcp', jwtResource);
  const { payload: m } = await verify(machine.access_token);
  check(m.sub === 'alice-service' && m.scope === 'mcp', 'client credentials: a JWT for alice-service, scope mcp', m);

  const admin = await clientCredentials(asUrl, 'bob-service', 'mcp mcp:admin', jwtResource);
  const { payload: a } = await verify(admin.access_token);
  check(a.scope === 'mcp mcp:admin', 'client credentials: scope mcp mcp:admin when asked', a);

  const user = await authorizationCode(asUrl, { account: 'carol', scope: 'mcp', resource: jwtResource });
  const { payload: u } = await verify(user.access_token);
  check(u.sub === 'carol' && u.client_id === 'pkce-test', 'code + PKCE: a JWT for carol', u);
  check(typeof user.refresh_token === 'string', 'code + PKCE: a refresh token', Object.keys(user));
  const refreshed = await refresh(asUrl, user.refresh_token, jwtResource);
  const { payload: r } = await verify(refreshed.access_token);
  check(r.sub === 'carol' && r.jti !== u.jti, 'refresh: a new JWT for carol', r);

  // Dynamic registration as the MCP SDK clients do it: a public client, with the MCP scopes.
  const registered = await fetch(metadata.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'tokens.mjs', redirect_uris: ['http://127.0.0.1/callback'], scope: 'mcp mcp:admin',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
    }),
  });
  check(registered.status === 201, 'dynamic registration (RFC 7591) of a public client with scope mcp mcp:admin',
    await registered.text());

  const opaque = await clientCredentials(asUrl, 'alice-service', 'mcp', opaqueResource);
  check(opaque.access_token.split('.').length === 1, 'the opaque resource gets an opaque token', opaque);
  const introspected = await (await fetch(`${asUrl}/token/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('mcpwire:mcpwire-secret').toString('base64')}` },
    body: new URLSearchParams({ token: opaque.access_token }),
  })).json();
  check(introspected.active === true && introspected.aud === opaqueResource && introspected.scope === 'mcp',
    'introspection: active, for the opaque resource, scope mcp', introspected);
});
