#!/usr/bin/env node
// An MCP server on 127.0.0.1 backed by the mcpwire engine in WebAssembly.
//
// Usage: node examples/node-server.mjs [--port P]   (P = 0 picks a free port)

import { parseArgs } from 'node:util';
import { createMcpHandler } from '../js/index.js';
import { serve } from '../js/node.js';
import { demoOptions } from './demo.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '3001' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`node-server: --port must be 0..65535, not ${values.port}`);
  process.exit(2);
}

let mcp;
mcp = await createMcpHandler(demoOptions(() => mcp));
const server = await serve(mcp, { port });
console.log(`mcpwire-wasm listening on ${server.url}/mcp`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    // Streams end with a retry hint and calls in flight get 2 s; then the sockets close.
    await mcp.close({ graceMs: 2000 });
    await server.close();
    process.exit(0);
  });
}
