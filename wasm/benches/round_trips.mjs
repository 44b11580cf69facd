// Size of the .wasm, and MCP round trips per second in Node: mcpwire-wasm's fetch handler next
// to the official TypeScript SDK's (McpServer + WebStandardStreamableHTTPServerTransport,
// stateful, JSON responses), both in this process, on the same Request objects, measured in
// alternating rounds of one run.
//
// Usage: node benches/round_trips.mjs [--write]   (--write replaces the wasm section of
//        ../BENCHMARKS.md between its markers)

import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { gzipSync } from 'node:zlib';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { z } from 'zod';
import { createMcpHandler } from '../js/index.js';

const ROUNDS = 5;
const CALLS = 2000;
const CONCURRENT = 16;
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
});

async function mcpwire() {
  const mcp = await createMcpHandler({
    name: 'bench',
    version: '1',
    tools: [{ name: 'echo', description: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } }, handler: ({ text }) => text }],
  });
  return { name: 'mcpwire-wasm', fetch: (request) => mcp.fetch(request), close: () => mcp.close({ graceMs: 0 }) };
}

async function sdk() {
  const server = new McpServer({ name: 'bench', version: '1' });
  server.registerTool('echo', { description: 'echo', inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    enableJsonResponse: true,
  });
  await server.connect(transport);
  return { name: 'TypeScript SDK 1.32.2', fetch: (request) => transport.handleRequest(request), close: () => server.close() };
}

function request(body, session) {
  const headers = { ...HEADERS };
  if (session) {
    headers['mcp-session-id'] = session;
    headers['mcp-protocol-version'] = '2025-11-25';
  }
  return new Request('http://127.0.0.1:8787/mcp', { method: 'POST', headers, body });
}

async function openSession(server) {
  const response = await server.fetch(request(INIT));
  await response.text();
  const session = response.headers.get('mcp-session-id');
  await (await server.fetch(request('{"jsonrpc":"2.0","method":"notifications/initialized"}', session))).text();
  return session;
}

/** `calls` tools/call round trips over `lanes` concurrent lanes; returns calls per second. */
async function roundTrips(server, session, calls, lanes) {
  let next = 1;
  const lane = async () => {
    while (next <= calls) {
      const id = next++;
      const response = await server.fetch(request(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`, session));
      const body = await response.json();
      if (body.result?.content?.[0]?.text !== 'hello') throw new Error(`${server.name}: bad answer ${JSON.stringify(body)}`);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: lanes }, lane));
  return calls / ((performance.now() - start) / 1000);
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const servers = [await mcpwire(), await sdk()];
const sessions = [];
for (const server of servers) sessions.push(await openSession(server));
// Warm both up before measuring.
for (let i = 0; i < servers.length; i++) await roundTrips(servers[i], sessions[i], 500, 1);
const results = servers.map(() => ({ sequential: [], concurrent: [] }));
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < servers.length; i++) {
    results[i].sequential.push(await roundTrips(servers[i], sessions[i], CALLS, 1));
    results[i].concurrent.push(await roundTrips(servers[i], sessions[i], CALLS, CONCURRENT));
  }
}
for (const server of servers) await server.close();

const wasmBytes = readFileSync(new URL('../pkg/mcpwire_wasm_bg.wasm', import.meta.url));
const glueBytes = readFileSync(new URL('../pkg/mcpwire_wasm.js', import.meta.url));
const moduleBytes = ['index.js', 'application.js'].reduce((n, f) => n + readFileSync(new URL(`../js/${f}`, import.meta.url)).length, 0);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const rate = (n) => `${Math.round(n).toLocaleString('en-US')}/s`;
const [ours, theirs] = results.map((r) => ({ sequential: median(r.sequential), concurrent: median(r.concurrent) }));

const table = `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` in \`wasm/\` (Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores): medians of ${ROUNDS} alternating rounds of ${CALLS.toLocaleString('en-US')} \`tools/call\` round trips on one session, in process (fetch \`Request\` in, \`Response\` read to the end), JSON responses on both sides.

| | mcpwire-wasm | TypeScript SDK 1.32.2 | ratio |
| --- | ---: | ---: | ---: |
| round trips, one at a time | ${rate(ours.sequential)} | ${rate(theirs.sequential)} | ${(ours.sequential / theirs.sequential).toFixed(2)}x |
| round trips, ${CONCURRENT} in flight | ${rate(ours.concurrent)} | ${rate(theirs.concurrent)} | ${(ours.concurrent / theirs.concurrent).toFixed(2)}x |

| artifact | raw | gzip -9 |
| --- | ---: | ---: |
| \`pkg/mcpwire_wasm_bg.wasm\` (wasm-release: opt-level s, LTO, names stripped; no wasm-opt) | ${kib(wasmBytes.length)} | ${kib(gzipSync(wasmBytes, { level: 9 }).length)} |
| \`pkg/mcpwire_wasm.js\` (wasm-bindgen glue) | ${kib(glueBytes.length)} | ${kib(gzipSync(glueBytes, { level: 9 }).length)} |
| \`js/index.js\` + \`js/application.js\` | ${kib(moduleBytes)} | |
`;
console.log(table);

if (process.argv.includes('--write')) {
  const path = new URL('../../BENCHMARKS.md', import.meta.url);
  const text = readFileSync(path, 'utf8');
  const start = '<!-- wasm-bench:start -->';
  const end = '<!-- wasm-bench:end -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error('BENCHMARKS.md has no wasm-bench markers');
  writeFileSync(path, `${text.slice(0, from + start.length)}\n${table}${text.slice(to)}`);
  console.log('BENCHMARKS.md updated');
}
