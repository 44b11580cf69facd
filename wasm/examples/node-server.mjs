#!/usr/bin/env node
// An MCP server on 127.0.0.1 backed by the mcpwire engine in WebAssembly: the demo tools and
// the conformance fixtures (fixtures/conformance.json), as `mcpwire serve` serves them.
//
// Usage: node examples/node-server.mjs [--port P]   (P = 0 picks a free port)

import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const fixtures = JSON.parse(readFileSync(new URL('../../fixtures/conformance.json', import.meta.url), 'utf8'));
const usage = 'Usage: node examples/node-server.mjs [--port P]   (P = 0 picks a free port; default 3001)';
let values;
try {
  ({ values } = parseArgs({ options: { port: { type: 'string', default: '3001' }, help: { type: 'boolean', short: 'h' } } }));
} catch (error) {
  console.error(`node-server: ${error.message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`node-server: --port must be 0..65535, not ${values.port}`);
  process.exit(2);
}

// Loaded only now, so that --help and a bad option answer even before the .wasm is built.
if (!existsSync(new URL('../pkg/mcpwire_wasm.js', import.meta.url))) {
  console.error('node-server: the WebAssembly build is missing (wasm/pkg); run `npm run build` in wasm/ first.');
  process.exit(1);
}
const { createMcpHandler } = await import('../js/index.js');
const { serve } = await import('../js/node.js');
const { withConformance } = await import('./conformance.js');
const { demoOptions } = await import('./demo.js');

let mcp;
mcp = await createMcpHandler(withConformance(demoOptions(() => mcp), fixtures, () => mcp));
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
