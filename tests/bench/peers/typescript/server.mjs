// The TypeScript peer: the benchmark's MCP server built with the official TypeScript SDK
// (@modelcontextprotocol/sdk 1.32.2) on Node 22, served over Streamable HTTP at `/mcp`,
// stateful, laid out like the SDK's own stateful examples (simpleStreamableHttp,
// standaloneSseWithGetStreamableHttp): one transport and one McpServer per session, kept in a
// map by session id and removed when the transport closes, on the SDK's Express app
// (createMcpExpressApp, which validates the Host header for 127.0.0.1) and the SDK's default
// SSE response framing. Left out of the examples' scaffolding: request logging, the event store
// (resumability), the idle-session reaper and the 1000-session cap.
//
// Run:   node --expose-gc server.mjs --port P
// (`--expose-gc` is required: the `heap` command calls globalThis.gc().) Modules resolve from
// a `node_modules` next to this file (a symlink to the pinned install; not committed).
//
// Contract: `ready` on stdout once listening on 127.0.0.1:P; tool `echo {message}` answers the
// message and registers the calling session's McpServer; tool `broadcast {}` sends
// notifications/tools/list_changed to every registered session (on its standalone GET stream);
// a line `heap` on stdin prints V8 heapUsed + external after two full collections; SIGTERM or
// SIGINT closes every transport, as the examples' SIGINT handler does, then the HTTP server.
import http from 'node:http';
import readline from 'node:readline';
import { randomUUID } from 'node:crypto';
import * as z from 'zod/v4';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
if (!process.argv.includes('--port') || !Number.isInteger(port)) {
    console.error('usage: node --expose-gc server.mjs --port P');
    process.exit(2);
}

// Session id -> its transport, as in the SDK's examples.
const sessions = new Map();
// The McpServers of the sessions that called `echo`; a Set, so each session appears once.
const registered = new Set();

// One McpServer per session, as in the examples' getServer().
const getServer = () => {
    const server = new McpServer({ name: 'bench-typescript', version: '1.0.0' });
    // Registering a tool declares the tools capability with listChanged: true.
    server.registerTool('echo', {
        description: 'Returns the message',
        inputSchema: { message: z.string() }
    }, async ({ message }) => {
        registered.add(server);
        return { content: [{ type: 'text', text: message }] };
    });
    server.registerTool('broadcast', {
        description: 'Sends notifications/tools/list_changed to every registered session'
    }, async () => {
        let notified = 0;
        for (const peer of registered) {
            // sendToolListChanged() sends only while connected and returns nothing; a session
            // whose transport is gone is dropped instead.
            if (!peer.isConnected()) {
                registered.delete(peer);
                continue;
            }
            peer.sendToolListChanged();
            notified++;
        }
        return { content: [{ type: 'text', text: `${notified} sessions notified` }] };
    });
    return server;
};

const app = createMcpExpressApp();

app.post('/mcp', async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    try {
        const transport = sessionId ? sessions.get(sessionId) : undefined;
        if (transport) {
            await transport.handleRequest(req, res, req.body);
        } else if (!sessionId && isInitializeRequest(req.body)) {
            const server = getServer();
            const transport = new StreamableHTTPServerTransport({
                sessionIdGenerator: () => randomUUID(),
                onsessioninitialized: sid => {
                    sessions.set(sid, transport);
                }
            });
            transport.onclose = () => {
                const sid = transport.sessionId;
                if (sid) sessions.delete(sid);
                registered.delete(server);
            };
            await server.connect(transport);
            await transport.handleRequest(req, res, req.body);
        } else if (sessionId) {
            res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
        } else {
            res.status(400).json({
                jsonrpc: '2.0',
                error: { code: -32000, message: 'Bad Request: No valid session ID provided' },
                id: null
            });
        }
    } catch (error) {
        console.error('Error handling MCP request:', error);
        if (!res.headersSent) {
            res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
        }
    }
});

// GET (the standalone SSE stream) and DELETE (session termination) go to the session's transport.
const sessionRequest = async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    if (!sessionId) {
        res.status(400).send('Missing session ID');
        return;
    }
    const transport = sessions.get(sessionId);
    if (!transport) {
        res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
        return;
    }
    await transport.handleRequest(req, res);
};
app.get('/mcp', sessionRequest);
app.delete('/mcp', sessionRequest);

// Node's HTTP server sets TCP_NODELAY by default; said explicitly here.
const httpServer = http.createServer({ noDelay: true }, app);
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

// The examples' SIGINT handler: close every transport, then exit; here the HTTP server is
// closed first and the process exits once it has.
const shutdown = async () => {
    for (const [sessionId, transport] of sessions) {
        try {
            await transport.close();
            sessions.delete(sessionId);
        } catch (error) {
            console.error(`Error closing transport for session ${sessionId}:`, error);
        }
    }
    httpServer.close(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
