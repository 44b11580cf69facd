// The official TypeScript SDK's client against examples/node-server.mjs: the engine in
// WebAssembly behind node:http, seen by a client nobody here wrote.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startNodeServer, until } from './helpers.mjs';

let server;
before(async () => {
  server = await startNodeServer();
});
after(async () => {
  assert.equal(await server.stop(), 0, 'SIGTERM exits 0');
});

test('the TypeScript SDK client: tools, progress, GET-stream notifications, DELETE then 404', async () => {
  const methods = [];
  const recordingFetch = async (input, init = {}) => {
    const response = await fetch(input, init);
    methods.push(`${init.method ?? 'GET'} ${response.status}`);
    return response;
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { fetch: recordingFetch });
  const client = new Client({ name: 'mcpwire-wasm-test', version: '1.0.0' });
  let toolsChanged = 0;
  const updated = [];
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    toolsChanged += 1;
  });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updated.push(n.params.uri);
  });
  await client.connect(transport);
  assert.equal(client.getServerVersion().name, 'mcpwire-wasm-demo');
  assert.equal(transport.protocolVersion, '2025-11-25');
  await until('the GET stream', () => methods.includes('GET 200'));

  const { tools } = await client.listTools();
  // The demo tools, beside the conformance fixtures node-server.mjs also serves.
  const names = new Set(tools.map((t) => t.name));
  for (const name of ['add', 'announce_list_changed', 'echo', 'sleep', 'touch_resource']) {
    assert.ok(names.has(name), `tools/list lacks ${name}`);
  }
  assert.ok(names.has('test_simple_text'), 'tools/list lacks the fixtures');
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'from wasm' } });
  assert.equal(echo.content[0].text, 'from wasm');
  const added = await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } });
  assert.deepEqual(added.structuredContent, { sum: 42 });
  await assert.rejects(client.callTool({ name: 'nope', arguments: {} }), (e) => e.code === -32602);

  const progress = [];
  const slept = await client.callTool({ name: 'sleep', arguments: { millis: 400 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  assert.equal(slept.content[0].text, 'slept 400 ms');
  assert.deepEqual(progress.slice(0, 3), [1, 2, 3], 'progress arrives in order before the result');

  await client.subscribeResource({ uri: 'test://watched-resource' });
  await client.callTool({ name: 'touch_resource', arguments: { uri: 'test://watched-resource' } });
  await until('resources/updated', () => updated.length === 1);
  assert.deepEqual(updated, ['test://watched-resource']);

  await client.callTool({ name: 'announce_list_changed', arguments: { list: 'tools' } });
  await until('tools/list_changed on the GET stream', () => toolsChanged === 1);

  const session = transport.sessionId;
  await transport.terminateSession();
  assert.ok(methods.includes('DELETE 200'), methods.join(', '));
  await client.close();
  const after = await fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': session,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
  });
  assert.equal(after.status, 404);
  const body = await after.json();
  assert.equal(body.error.code, -32001);
  assert.equal(body.id, 7);
});

test('node-server answers --help and refuses a bad option with its usage', () => {
  const script = new URL('../examples/node-server.mjs', import.meta.url).pathname;
  const help = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: node examples\/node-server\.mjs/);
  const bad = spawnSync(process.execPath, [script, '--port', '70000'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--port must be 0\.\.65535, not 70000/);
});
