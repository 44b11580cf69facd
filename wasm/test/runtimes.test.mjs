// The module under Deno and Bun, each serving with its own server: `Deno.serve(mcp.fetch)` and
// `Bun.serve({ fetch: mcp.fetch })`, and the example worker (examples/worker) under workerd,
// Cloudflare's Workers runtime. Their linux-x64 builds come from the npm registry, pinned in
// test/runtimes/package.json (scripts/test.mjs installs them); elsewhere these tests skip.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sseMessages } from './helpers.mjs';
import { exerciseModern, liveStats } from './modern-client.mjs';

const BINARIES = {
  deno: 'runtimes/node_modules/@deno/linux-x64-glibc/deno',
  bun: 'runtimes/node_modules/@oven/bun-linux-x64/bin/bun',
  workerd: 'runtimes/node_modules/@cloudflare/workerd-linux-64/bin/workerd',
};
const bin = (name) => fileURLToPath(new URL(BINARIES[name], import.meta.url));
const supported = process.platform === 'linux' && process.arch === 'x64';
const script = fileURLToPath(new URL('./runtimes/serve.mjs', import.meta.url));

for (const [runtime, args] of [
  ['deno', ['run', '--allow-read', '--allow-net', script]],
  ['bun', [script]],
]) {
  const skip = supported ? false : `no ${runtime} build is pinned for ${process.platform}-${process.arch}`;
  test(`${runtime} serves MCP with the module: a session (streaming call, GET stream, DELETE then 404), then the SDK v2 client in 2026-07-28, close`, { skip }, () => {
    assert.ok(existsSync(bin(runtime)), `${bin(runtime)} is missing: run npm ci in test/runtimes`);
    const result = spawnSync(bin(runtime), args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(result.status, 0, `${runtime} failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^ok ${runtime} `, 'm'));
  });
}

/** A port on 127.0.0.1 that was free a moment ago (workerd takes a fixed address). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function untilServing(url, worker, output) {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (worker.exitCode !== null) throw new Error(`workerd exited (${worker.exitCode}):\n${output()}`);
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`workerd did not serve ${url}:\n${output()}`);
}

const workerdSkip = supported ? false : `no workerd build is pinned for ${process.platform}-${process.arch}`;
test('workerd runs the example worker: the SDK v2 client in 2026-07-28, and a session within the isolate', { skip: workerdSkip, timeout: 120_000 }, async () => {
  assert.ok(existsSync(bin('workerd')), `${bin('workerd')} is missing: run npm ci in test/runtimes`);
  const port = await freePort();
  const config = fileURLToPath(new URL('../examples/worker/config.capnp', import.meta.url));
  // A 1 s keepalive: workerd tells a stream that its client left only at the next write.
  const worker = spawn(bin('workerd'), ['serve', config, '--socket-addr', `http=127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MCP_KEEPALIVE_MS: '1000' },
  });
  let output = '';
  worker.stdout.on('data', (chunk) => (output += chunk));
  worker.stderr.on('data', (chunk) => (output += chunk));
  const base = `http://127.0.0.1:${port}`;
  const stats = async () => (await fetch(`${base}/stats`)).json();
  try {
    await untilServing(`${base}/stats`, worker, () => output);
    const passed = await exerciseModern(`${base}/mcp`, { stats, noticesGoneWithinMs: 8_000 });
    for (const line of passed) console.log(`workerd: ok - 2026-07-28: ${line}`);

    // The session era, within this one isolate.
    const client = new Client({ name: 'mcpwire-wasm-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
    await client.connect(transport);
    assert.ok(transport.sessionId, 'initialize opens a session');
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'grüße' } });
    assert.equal(echo.content[0].text, 'grüße');
    const slept = await client.callTool({ name: 'sleep', arguments: { millis: 200 } }, undefined, { onprogress: () => {} });
    assert.equal(slept.content[0].text, 'slept 200 ms');

    // A GET stream opened after those requests ended keeps its keepalives: workerd drops a
    // request's timers with it, so the stream's own request must hold one.
    // (A session of its own: the SDK client holds its session's one GET stream.)
    const json = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const init = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    await init.text();
    const session = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
    const initialized = await fetch(`${base}/mcp`, { method: 'POST', headers: { ...json, ...session }, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
    assert.equal(initialized.status, 202);
    const get = await fetch(`${base}/mcp`, { headers: { accept: 'text/event-stream', ...session } });
    assert.equal(get.status, 200);
    const reader = get.body.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    const opened = Date.now();
    let reading = reader.read();
    while (Date.now() - opened < 3_500) {
      const next = await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 500, 'wait'))]);
      if (next === 'wait') continue;
      if (next.done) break;
      seen += decoder.decode(next.value, { stream: true });
      reading = reader.read();
    }
    const keepalives = seen.split('\n\n').filter((frame) => frame.trim() === ':').length;
    assert.ok(keepalives >= 2, `keepalives on a GET stream opened after the other requests ended: ${JSON.stringify(seen)}`);
    // Its client leaves: the next keepalive finds it gone, its exchange ends and the stream is
    // detached (resumable for the resume window). The SDK client's own GET stream stays.
    const before = await stats();
    await reader.cancel();
    const until = Date.now() + 8_000;
    for (;;) {
      const now = await stats();
      if (now.exchanges === before.exchanges - 1 && now.responses === before.responses - 1) break;
      assert.ok(Date.now() < until, `the GET stream outlived its client: ${JSON.stringify(await stats())}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A client that leaves mid-call does not take the running handler with it (waitUntil):
    // the handler finishes, and nothing stays counted.
    const leaving = new AbortController();
    const call = fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { ...json, ...session },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'sleep', arguments: { millis: 800 }, _meta: { progressToken: 'p' } } }),
      signal: leaving.signal,
    });
    const streamed = await call;
    await streamed.body.getReader().read();
    leaving.abort();
    const finished = Date.now() + 8_000;
    while ((await stats()).handlers > 0 || (await stats()).inflightRequests > 0) {
      assert.ok(Date.now() < finished, `the handler of a call whose client left never finished: ${JSON.stringify(await stats())}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await fetch(`${base}/mcp`, { method: 'DELETE', headers: session })).status, 200);

    // A handler whose client left while it waits on the client's answer (another request)
    // must not be cancelled as hung: answered, it finishes, and the resumed stream gets it.
    const asking = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {} }, clientInfo: { name: 't', version: '1' } } }),
    });
    await asking.text();
    const elicitingSession = { 'mcp-session-id': asking.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
    await (await fetch(`${base}/mcp`, { method: 'POST', headers: { ...json, ...elicitingSession }, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' })).text();
    const gone = new AbortController();
    const greeting = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { ...json, ...elicitingSession },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'greet', arguments: {} } }),
      signal: gone.signal,
    });
    const greetingReader = greeting.body.getReader();
    let asked = '';
    while (!asked.includes('elicitation/create')) {
      const { value, done } = await greetingReader.read();
      assert.ok(!done, `the call ended before asking: ${asked}`);
      asked += decoder.decode(value, { stream: true });
    }
    const lastEventId = [...asked.matchAll(/^id: (\S+)$/gm)].pop()[1];
    const question = sseMessages(asked).find((message) => message.method === 'elicitation/create');
    gone.abort();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const answered = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { ...json, ...elicitingSession },
      body: JSON.stringify({ jsonrpc: '2.0', id: question.id, result: { action: 'accept', content: { name: 'Zed' } } }),
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(answered.status, 202);
    const resumed = await fetch(`${base}/mcp`, {
      headers: { accept: 'text/event-stream', 'last-event-id': lastEventId, ...elicitingSession },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(resumed.status, 200);
    const resumedReader = resumed.body.getReader();
    let rest = '';
    while (!rest.includes('Hello, Zed!')) {
      const next = await Promise.race([resumedReader.read(), new Promise((resolve) => setTimeout(resolve, 5_000, 'late'))]);
      assert.ok(next !== 'late' && !next.done, `no result on the resumed stream: ${rest}; ${JSON.stringify(await stats())}`);
      rest += decoder.decode(next.value, { stream: true });
    }
    await resumedReader.cancel();
    assert.equal((await fetch(`${base}/mcp`, { method: 'DELETE', headers: elicitingSession, signal: AbortSignal.timeout(10_000) })).status, 200);
    await transport.terminateSession();
    await client.close();
    const live = liveStats(await stats());
    assert.deepEqual(live, {}, 'nothing is left once the session is deleted');
  } finally {
    worker.kill('SIGKILL');
  }
  assert.equal(output.includes('Uncaught'), false, `workerd reported an error:\n${output}`);
});
