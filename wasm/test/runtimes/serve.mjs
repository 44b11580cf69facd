// Run by Deno and Bun (test/runtimes.test.mjs): serves the demo application with the
// runtime's own server (`Deno.serve(mcp.fetch)`, `Bun.serve({ fetch: mcp.fetch })`) on
// 127.0.0.1, then talks MCP to it over real HTTP: a session by hand, then the TypeScript SDK
// v2 client pinned to 2026-07-28 (test/modern-client.mjs). Prints `ok <runtime>` and exits 0,
// or throws.

import { createMcpHandler } from '../../js/index.js';
import { demoOptions } from '../../examples/demo.js';
import { exerciseModern } from '../modern-client.mjs';

let mcp;
mcp = await createMcpHandler(demoOptions(() => mcp));
let base;
let stop;
if (globalThis.Deno) {
  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, mcp.fetch);
  base = `http://127.0.0.1:${server.addr.port}`;
  stop = () => server.shutdown();
} else if (globalThis.Bun) {
  const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: mcp.fetch });
  base = `http://127.0.0.1:${server.port}`;
  stop = () => server.stop(true);
} else {
  throw new Error('run this under Deno or Bun');
}
const runtime = globalThis.Deno ? `deno ${Deno.version.deno}` : `bun ${Bun.version}`;

const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const post = (body) => fetch(`${base}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
const expect = (ok, what) => {
  if (!ok) throw new Error(`${runtime}: ${what}`);
};

const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'rt', version: '1' } } });
const initBody = await init.json();
expect(init.status === 200 && initBody.result.serverInfo.name === 'mcpwire-wasm-demo', 'initialize');
headers['mcp-session-id'] = init.headers.get('mcp-session-id');
headers['mcp-protocol-version'] = '2025-11-25';
expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status === 202, 'initialized');

// A call that streams: progress, then the result, on one SSE response.
const call = await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sleep', arguments: { millis: 300 }, _meta: { progressToken: 'p' } } });
expect(call.headers.get('content-type') === 'text/event-stream', 'the call streams');
const text = await call.text();
const progress = [...text.matchAll(/"progress":(\d)/g)].map((m) => Number(m[1]));
expect(progress.join() === '1,2,3', `progress 1,2,3, got ${progress}`);
expect(text.includes('"slept 300 ms"'), 'the result follows');

// A notification on the GET stream.
const get = await fetch(`${base}/mcp`, { headers: { ...headers, accept: 'text/event-stream' } });
expect(get.status === 200, 'GET stream');
const reader = get.body.getReader();
await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'announce_list_changed', arguments: { list: 'tools' } } });
let seen = '';
const decoder = new TextDecoder();
while (!seen.includes('notifications/tools/list_changed')) {
  const { value, done } = await reader.read();
  expect(!done, 'the GET stream ended early');
  seen += decoder.decode(value, { stream: true });
}
await reader.cancel();

const deleted = await fetch(`${base}/mcp`, { method: 'DELETE', headers });
expect(deleted.status === 200, 'DELETE');
const after = await post({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
expect(after.status === 404, 'DELETE then 404');
await after.text();

for (const line of await exerciseModern(`${base}/mcp`, { stats: async () => mcp.stats() })) {
  console.log(`${runtime}: ok - 2026-07-28: ${line}`);
}

await mcp.close({ graceMs: 100 });
const stats = mcp.stats();
expect(stats.sessions === 0 && stats.responses === 0, `nothing alive after close: ${JSON.stringify(stats)}`);
await stop();
console.log(`ok ${runtime}`);
