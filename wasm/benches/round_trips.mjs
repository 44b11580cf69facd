// Size of the .wasm, and MCP round trips per second in Node, in both protocol eras, all in this
// process on the same Request objects, measured in alternating rounds of one run:
// - the session era (2025-11-25): mcpwire-wasm's fetch handler next to the TypeScript SDK
//   1.32's (McpServer + WebStandardStreamableHTTPServerTransport, stateful, JSON responses);
// - 2026-07-28: stateless requests, mcpwire-wasm next to the TypeScript SDK v2's web-standard
//   handler (`createMcpHandler` of @modelcontextprotocol/server 2.4, JSON responses);
// and beside them a bare fetch handler that reads the body, parses it and answers a fixed
// result: the ceiling of this harness, which builds every Request and reads every Response.
//
// Usage: node benches/round_trips.mjs [--write]   (--write replaces the wasm section of
//        ../BENCHMARKS.md between its markers)

import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { gzipSync } from 'node:zlib';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { createMcpHandler as createSdkV2Handler, McpServer as McpServerV2 } from '@modelcontextprotocol/server';
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

async function sdkV2() {
  const factory = () => {
    const server = new McpServerV2({ name: 'bench', version: '1' });
    server.registerTool('echo', { description: 'echo', inputSchema: z.object({ text: z.string() }) }, ({ text }) => ({
      content: [{ type: 'text', text }],
    }));
    return server;
  };
  const handler = createSdkV2Handler(factory, { responseMode: 'json' });
  return { name: 'TypeScript SDK 2.4.0', fetch: (request) => handler.fetch(request), close: () => handler.close() };
}

/** No MCP at all: read, parse, answer. What any fetch handler pays here. */
function bare() {
  const decoder = new TextDecoder();
  return {
    name: 'bare handler',
    fetch: async (request) => {
      const message = JSON.parse(decoder.decode(await request.arrayBuffer()));
      const body = JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text: message.params?.arguments?.text }] } });
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    },
    close: async () => {},
  };
}

const MODERN_HEADERS = {
  ...HEADERS,
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
};
const MODERN_META = JSON.stringify({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
});

/** A 2026-07-28 `tools/call`: everything it needs is in the request. */
function modernRequest(id) {
  return new Request('http://127.0.0.1:8787/mcp', {
    method: 'POST',
    headers: MODERN_HEADERS,
    body: `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":${MODERN_META}}}`,
  });
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

/**
 * `calls` tools/call round trips over `lanes` concurrent lanes, in a session (or, with no
 * session, in 2026-07-28); returns calls per second.
 */
async function roundTrips(server, session, calls, lanes) {
  let next = 1;
  const lane = async () => {
    while (next <= calls) {
      const id = next++;
      const response = await server.fetch(session === undefined
        ? modernRequest(id)
        : request(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`, session));
      const body = await response.json();
      if (body.result?.content?.[0]?.text !== 'hello') throw new Error(`${server.name}: bad answer ${JSON.stringify(body)}`);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: lanes }, lane));
  return calls / ((performance.now() - start) / 1000);
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// The session-era pair, then the 2026-07-28 pair (no session), then the bare handler.
const eras = [
  [await mcpwire(), await sdk()],
  [await mcpwire(), await sdkV2()],
];
const sessions = [];
for (const server of eras[0]) sessions.push(await openSession(server));
const runs = [
  ...eras[0].map((server, i) => ({ server, session: sessions[i] })),
  ...eras[1].map((server) => ({ server, session: undefined })),
  { server: bare(), session: undefined },
];
// Warm every one up before measuring: a round's worth, so that the JITs (wasm's included)
// have tiered up.
for (const run of runs) await roundTrips(run.server, run.session, CALLS, 1);
for (const run of runs) Object.assign(run, { sequential: [], concurrent: [] });
for (let round = 0; round < ROUNDS; round++) {
  for (const run of runs) {
    run.sequential.push(await roundTrips(run.server, run.session, CALLS, 1));
    run.concurrent.push(await roundTrips(run.server, run.session, CALLS, CONCURRENT));
  }
}
for (const run of runs) await run.server.close();

const wasmBytes = readFileSync(new URL('../pkg/mcpwire_wasm_bg.wasm', import.meta.url));
const glueBytes = readFileSync(new URL('../pkg/mcpwire_wasm.js', import.meta.url));
const moduleBytes = ['index.js', 'application.js', 'auth.js'].reduce((n, f) => n + readFileSync(new URL(`../js/${f}`, import.meta.url)).length, 0);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const rate = (n) => `${Math.round(n).toLocaleString('en-US')}/s`;
const medians = runs.map((run) => ({ name: run.server.name, sequential: median(run.sequential), concurrent: median(run.concurrent) }));
const ceiling = medians[4];
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
const rows = (ours, theirs) => `| | ${ours.name} | ${theirs.name} | ratio | bare handler | ${ours.name} / bare |
| --- | ---: | ---: | ---: | ---: | ---: |
| round trips, one at a time | ${rate(ours.sequential)} | ${rate(theirs.sequential)} | ${ratio(ours.sequential, theirs.sequential)} | ${rate(ceiling.sequential)} | ${ratio(ours.sequential, ceiling.sequential)} |
| round trips, ${CONCURRENT} in flight | ${rate(ours.concurrent)} | ${rate(theirs.concurrent)} | ${ratio(ours.concurrent, theirs.concurrent)} | ${rate(ceiling.concurrent)} | ${ratio(ours.concurrent, ceiling.concurrent)} |
`;

const table = `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` in \`wasm/\` (Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores): medians of ${ROUNDS} alternating rounds of ${CALLS.toLocaleString('en-US')} \`tools/call\` round trips, in process (fetch \`Request\` in, \`Response\` read to the end), JSON responses on every side.

The session era (2025-11-25), on one session:

${rows(medians[0], medians[1])}
2026-07-28, stateless (every request carries its \`_meta\` and headers; no session):

${rows(medians[2], medians[3])}
| artifact | raw | gzip -9 |
| --- | ---: | ---: |
| \`pkg/mcpwire_wasm_bg.wasm\` (wasm-release: opt-level s, LTO, names stripped; no wasm-opt) | ${kib(wasmBytes.length)} | ${kib(gzipSync(wasmBytes, { level: 9 }).length)} |
| \`pkg/mcpwire_wasm.js\` (wasm-bindgen glue) | ${kib(glueBytes.length)} | ${kib(gzipSync(glueBytes, { level: 9 }).length)} |
| \`js/index.js\` + \`js/application.js\` + \`js/auth.js\` | ${kib(moduleBytes)} | |
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
