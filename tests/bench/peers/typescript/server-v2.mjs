// The TypeScript SDK v2 peer: the benchmark's MCP server built with @modelcontextprotocol/server
// 2.4.0 on Node 22, for the 2026-07-28 era. It is the SDK's own entry for that revision,
// `createMcpHandler` (a fresh McpServer from the factory for every request, `subscriptions/listen`
// over its in-process event bus), wrapped for plain `node:http` by `toNodeHandler` of
// @modelcontextprotocol/node 2.1.2 behind that package's localhost Host and Origin guards, as its
// README's `node:http` example does. The 2025 era is served the SDK's default way, statelessly,
// so this peer takes no part in the session-era scenarios. Lifted, as for the other peers: the
// listen router's cap of 1,024 streams (the fan-out scenario holds 10,000).
//
// Run:   node --expose-gc server-v2.mjs --port P [--auth-issuer ISSUER --resource URI]
// Modules resolve from the `node_modules` next to this file, as for server.mjs.
//
// With --auth-issuer, every request must carry a JWT access token: `requireBearerAuth` of
// @modelcontextprotocol/sdk 1.32.2 (its Express middleware, server/auth/middleware/bearerAuth.js)
// runs first, with a verifier that checks the token as the SDK's docs have it done: jose's
// `createRemoteJWKSet` on the issuer's jwks_uri (keys fetched once and cached) and `jwtVerify`
// of the signature, `iss` and `aud` on every request. jose 6.2.17 is the SDK's own dependency,
// pinned by tests/interop/package-lock.json. The middleware sets `req.auth`, which toNodeHandler
// hands to the handler as its authInfo.
//
// Contract: `ready` on stdout once listening on 127.0.0.1:P; tool `echo {message}` answers the
// message; tool `broadcast {}` publishes a tool list change on the handler's bus, which writes
// notifications/tools/list_changed to every listen stream that asked for it; a line `heap` on
// stdin prints V8 heapUsed + external after two full collections; SIGTERM or SIGINT closes the
// handler (which ends its listen streams), then the HTTP server.
import http from 'node:http';
import readline from 'node:readline';
import * as z from 'zod/v4';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { localhostHostValidation, localhostOriginValidation, toNodeHandler } from '@modelcontextprotocol/node';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const argument = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const port = Number(argument('--port'));
if (!process.argv.includes('--port') || !Number.isInteger(port)) {
    console.error('usage: node --expose-gc server-v2.mjs --port P');
    process.exit(2);
}

// The factory createMcpHandler calls for every request.
const factory = () => {
    const server = new McpServer({ name: 'bench-typescript-v2', version: '1.0.0' });
    // Registering a tool declares the tools capability with listChanged: true, which the listen
    // router requires before it honors a stream's toolsListChanged.
    server.registerTool('echo', {
        description: 'Returns the message',
        inputSchema: z.object({ message: z.string() })
    }, async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
    server.registerTool('broadcast', {
        description: 'Sends notifications/tools/list_changed to every listen stream'
    }, async () => {
        const streams = handler.bus.listenerCount;
        handler.notify.toolsChanged();
        return { content: [{ type: 'text', text: `${streams} streams notified` }] };
    });
    return server;
};

const handler = createMcpHandler(factory, { maxSubscriptions: 1_000_000 });
const serve = toNodeHandler(handler);
const validateHost = localhostHostValidation();
const validateOrigin = localhostOriginValidation();
const authenticate = await bearerAuth(argument('--auth-issuer'), argument('--resource'));

async function bearerAuth(issuer, resource) {
    if (issuer === undefined) return undefined;
    const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
    const keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
    const verifier = {
        async verifyAccessToken(token) {
            try {
                const { payload } = await jwtVerify(token, keys, { issuer, audience: resource });
                return {
                    token,
                    clientId: payload.client_id,
                    scopes: typeof payload.scope === 'string' ? payload.scope.split(' ') : [],
                    expiresAt: payload.exp,
                    resource: new URL(resource)
                };
            } catch (error) {
                throw new InvalidTokenError(error.message);
            }
        }
    };
    return requireBearerAuth({ verifier, requiredScopes: ['mcp'], expectedResource: new URL(resource) });
}

// requireBearerAuth answers a refusal through Express's res.set, res.status and res.json; this
// node:http server's responses get the three (a refusal is never timed, only the passes are).
class ExpressishResponse extends http.ServerResponse {
    set(name, value) {
        this.setHeader(name, value);
        return this;
    }
    status(code) {
        this.statusCode = code;
        return this;
    }
    json(body) {
        this.setHeader('content-type', 'application/json');
        this.end(JSON.stringify(body));
        return this;
    }
}

// Node's HTTP server sets TCP_NODELAY by default; said explicitly here.
const httpServer = http.createServer({ noDelay: true, ServerResponse: ExpressishResponse }, (req, res) => {
    if (!validateHost(req, res) || !validateOrigin(req, res)) return;
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/mcp') {
        res.writeHead(404).end();
        return;
    }
    if (authenticate === undefined) {
        void serve(req, res);
    } else {
        void authenticate(req, res, () => void serve(req, res));
    }
});
httpServer.listen(port, '127.0.0.1', () => {
    process.stdout.write('ready\n');
});

readline.createInterface({ input: process.stdin }).on('line', line => {
    if (line.trim() !== 'heap') return;
    globalThis.gc();
    globalThis.gc();
    const { heapUsed, external } = process.memoryUsage();
    process.stdout.write(`${heapUsed + external}\n`);
});

const shutdown = async () => {
    await handler.close();
    httpServer.close(() => process.exit(0));
    // Sockets still open on keep-alive would hold close() back.
    httpServer.closeIdleConnections();
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
