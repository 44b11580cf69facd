// The authorization server the resource server is proven against: oidc-provider, configured for
// two MCP resources on 127.0.0.1, with no browser anywhere.
//
// Usage: node as.mjs PORT JWKS_FILE RESOURCE...
//   JWKS_FILE  private signing keys; the first is the one that signs (rotation = restart with a
//              new key first and the old one after it).
//   RESOURCE   a resource indicator (RFC 8707) tokens may be asked for: its access tokens are
//              JWTs (RFC 9068) with it as audience, or opaque ones (for introspection, RFC
//              7662) when it is written `opaque:URI`; they live 600 s, or N s when it is
//              written `ttl=N:URI` (a client's refresh is seen without a long wait). Written
//              `offline:URI`, its refresh tokens follow oidc-provider's own rule: only for a
//              grant with offline_access, which the provider keeps only when the authorization
//              asked for consent (OIDC Core §11). The first is the default.
// Prints `ready` once listening. GET /_counts answers how many times each endpoint was asked,
// so a test can tell how often the resource server fetched the keys, and how many tokens each
// grant issued (`grant:authorization_code`, `grant:refresh_token`, ...).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider, { errors } from 'oidc-provider';

const [port, jwksFile, ...resourceArgs] = process.argv.slice(2);
/** `[opaque:][offline:][ttl=N:]URI` as [URI, { format, offline, ttl }]. */
function resourceArg(arg) {
  let rest = arg;
  const options = { format: 'jwt', offline: false, ttl: 600 };
  for (;;) {
    const ttl = rest.match(/^ttl=(\d+):/);
    if (rest.startsWith('opaque:')) {
      options.format = 'opaque';
      rest = rest.slice(7);
    } else if (rest.startsWith('offline:')) {
      options.offline = true;
      rest = rest.slice(8);
    } else if (ttl) {
      options.ttl = Number(ttl[1]);
      rest = rest.slice(ttl[0].length);
    } else {
      return [rest, options];
    }
  }
}
const resources = new Map(resourceArgs.map(resourceArg));
const [defaultResource] = resources.keys();
const issuer = `http://127.0.0.1:${port}`;
const scope = 'mcp mcp:admin';

/** The static clients: the tests' own; the SDK clients register themselves (RFC 7591). */
const clients = [
  // The resource server itself, for introspection (RFC 7662) in the opaque-token run.
  { client_id: 'mcpwire', client_secret: 'mcpwire-secret', grant_types: [], response_types: [], redirect_uris: [] },
  // Two machine principals (client credentials): a token's `sub` is its client_id.
  ...['alice-service', 'bob-service'].map((id) => ({
    client_id: id,
    client_secret: `${id}-secret`,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  })),
  // A public client for the tests' own authorization code + PKCE flow, with refresh tokens.
  {
    client_id: 'pkce-test',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
  },
];

const provider = new Provider(issuer, {
  clients,
  jwks: JSON.parse(readFileSync(jwksFile, 'utf8')),
  // The MCP scopes are the resource's (getResourceServerInfo), not OpenID ones.
  scopes: ['openid', 'offline_access'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // The MCP SDK clients have no pre-registered id: they register (RFC 7591).
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A request without `resource` still gets a token for a resource.
      defaultResource: (ctx, client, oneOf) => oneOf ?? defaultResource,
      // The refresh and code grants keep the resource the authorization asked for.
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resource) {
        if (!resources.has(resource)) throw new errors.InvalidTarget();
        return {
          scope,
          audience: resource,
          accessTokenTTL: resources.get(resource).ttl,
          accessTokenFormat: resources.get(resource).format,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // Every client allowed refresh tokens gets one, without asking for offline_access (not every
  // MCP SDK client asks), except for the `offline:` resources, where the provider's own rule
  // holds.
  issueRefreshToken: (ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && (code.scopes.has('offline_access') || ![code.resource ?? []].flat().some((r) => resources.get(r)?.offline)),
  // Login and consent are answered at once by the handler below (no pages, no forms).
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
// http:// on loopback, and nothing in front of it.
provider.proxy = false;

/**
 * The automatic user: logs in the account named by `login_hint` (default `alice`), then consents
 * to whatever the client asked for, the way a person clicking "Continue" would.
 */
async function interact(req, res) {
  const { prompt, params, session, grantId } = await provider.interactionDetails(req, res);
  if (prompt.name === 'login') {
    const accountId = params.login_hint || 'alice';
    return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  }
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const { details } = prompt;
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } });
}

/**
 * Registrations leave out `scope`: the MCP SDK clients register with the scope of the first
 * challenge (mcp) and step up to mcp:admin later without registering again, and oidc-provider
 * holds a client to the scope it registered (RFC 7591), so their step-up would be refused
 * (invalid_scope). Here any client may ask for any scope of the resource, and consent decides.
 */
async function withoutRegisteredScope(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks).toString();
  try {
    const { scope, ...metadata } = JSON.parse(raw);
    req.body = metadata;
  } catch {
    req.body = raw; // the provider answers what is wrong with it
  }
}

const counts = {};
provider.on('grant.success', (ctx) => {
  const name = `grant:${ctx.oidc.params.grant_type}`;
  counts[name] = (counts[name] ?? 0) + 1;
});
const oidc = provider.callback();
const server = createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  counts[path] = (counts[path] ?? 0) + 1;
  if (path === '/reg' && req.method === 'POST') await withoutRegisteredScope(req);
  if (path === '/_counts') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(counts));
  }
  if (path.startsWith('/interaction/')) {
    return interact(req, res).catch((error) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  }
  return oidc(req, res);
});
server.listen(Number(port), '127.0.0.1', () => console.log('ready'));
