// The JS module in-process: createMcpHandler's fetch, with short timeouts so that expiry,
// cancellation, slow readers and shutdown happen within the test. After each, the engine and
// the module must hold nothing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMcpHandler, McpError } from '../js/index.js';
import { INIT, openSession, post, sleep, sseMessages, until } from './helpers.mjs';

/** Stats that must be zero once nothing is alive. */
const ALIVE = ['sessions', 'streams', 'exchanges', 'inflightRequests', 'outboundRequests', 'queuedBytes', 'pendingEvents', 'handlers', 'responses'];

function assertNothingAlive(mcp, except = {}) {
  const stats = mcp.stats();
  for (const name of ALIVE) assert.equal(stats[name], except[name] ?? 0, `${name} in ${JSON.stringify(stats)}`);
  mcp.checkInvariants();
}

function handler(extra = {}) {
  let mcp;
  const started = [];
  const aborted = [];
  const options = {
    name: 'test',
    version: '1',
    tools: [
      { name: 'echo', description: 'echo', handler: ({ text }) => text },
      {
        name: 'wait',
        description: 'waits until cancelled',
        handler: (_args, context) =>
          new Promise((resolve) => {
            started.push(context.session.id);
            context.progress(1);
            context.signal.addEventListener('abort', () => {
              aborted.push(String(context.signal.reason?.message));
              resolve('never seen');
            });
          }),
      },
      {
        name: 'fail',
        description: 'fails',
        handler: ({ how }) => {
          if (how === 'rpc') throw new McpError(-32042, 'custom', { why: 'test' });
          throw new Error('the tool broke');
        },
      },
      {
        name: 'ask',
        description: 'asks the client',
        handler: async (_args, context) => {
          const answer = await context.createMessage({ messages: [], maxTokens: 5 });
          return `model said ${answer.content.text}`;
        },
      },
    ],
    resourceTemplates: [
      { uriTemplate: 'test://items/{id}', name: 'item', read: (_uri, { id }) => `item ${id}` },
    ],
    prompts: [{ name: 'p', arguments: [{ name: 'who', required: true }], get: ({ who }) => [{ role: 'user', content: { type: 'text', text: who } }] }],
    ...extra,
  };
  return createMcpHandler(options).then((created) => {
    mcp = created;
    return { mcp, started, aborted };
  });
}

async function call(mcp, session, id, name, args, meta) {
  const params = { name, arguments: args };
  if (meta) params._meta = meta;
  return post(mcp, { jsonrpc: '2.0', id, method: 'tools/call', params }, session);
}

test('a session from initialize to DELETE leaves nothing behind', async () => {
  const { mcp } = await handler();
  const session = await openSession(mcp);
  assert.match(session, /^[0-9a-f]{32}$/);
  const echoed = await (await call(mcp, session, 1, 'echo', { text: 'hi' })).json();
  assert.deepEqual(echoed.result, { content: [{ type: 'text', text: 'hi' }] });
  const deleted = await mcp.fetch(new Request('http://127.0.0.1:8787/mcp', { method: 'DELETE', headers: { 'mcp-session-id': session } }));
  assert.equal(deleted.status, 200);
  const gone = await call(mcp, session, 2, 'echo', { text: 'hi' });
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).id, 2);
  assertNothingAlive(mcp);
  await mcp.close();
});

test('answers: tool failures, JSON-RPC errors, templates, prompts, unknown methods', async () => {
  const { mcp } = await handler();
  const session = await openSession(mcp);
  const broke = await (await call(mcp, session, 1, 'fail', {})).json();
  assert.deepEqual(broke.result, { content: [{ type: 'text', text: 'the tool broke' }], isError: true });
  const rpc = await (await call(mcp, session, 2, 'fail', { how: 'rpc' })).json();
  assert.deepEqual(rpc.error, { code: -32042, message: 'custom', data: { why: 'test' } });
  const unknown = await (await call(mcp, session, 3, 'nope', {})).json();
  assert.equal(unknown.error.code, -32602);
  const item = await (await post(mcp, { jsonrpc: '2.0', id: 4, method: 'resources/read', params: { uri: 'test://items/a%20b' } }, session)).json();
  assert.deepEqual(item.result.contents, [{ uri: 'test://items/a%20b', text: 'item a b' }]);
  const missing = await (await post(mcp, { jsonrpc: '2.0', id: 5, method: 'resources/read', params: { uri: 'test://other' } }, session)).json();
  assert.equal(missing.error.code, -32002);
  const noArg = await (await post(mcp, { jsonrpc: '2.0', id: 6, method: 'prompts/get', params: { name: 'p' } }, session)).json();
  assert.equal(noArg.error.code, -32602);
  const prompt = await (await post(mcp, { jsonrpc: '2.0', id: 7, method: 'prompts/get', params: { name: 'p', arguments: { who: 'x' } } }, session)).json();
  assert.equal(prompt.result.messages[0].content.text, 'x');
  const method = await (await post(mcp, { jsonrpc: '2.0', id: 8, method: 'nothing/here' }, session)).json();
  assert.equal(method.error.code, -32601);
  const garbage = await post(mcp, '{not json', session);
  assert.equal(garbage.status, 400);
  assert.equal((await garbage.json()).error.code, -32700);
  await mcp.close();
});

test('the body limit: at it the request is served, one byte past it gets 413', async () => {
  const body = JSON.stringify(INIT);
  const { mcp } = await handler({ limits: { maxBodyBytes: body.length + 4 } });
  const at = await post(mcp, body + '    ');
  assert.equal(at.status, 200);
  await at.text();
  const past = await post(mcp, body + '     ');
  assert.equal(past.status, 413);
  assert.equal((await past.json()).error.code, -32000);
  assertNothingAlive(mcp, { sessions: 1 });
  await mcp.close();
});

test('an idle session expires on its own and its id then gets 404', async () => {
  const { mcp } = await handler({ timeouts: { sessionIdleMs: 60 } });
  const session = await openSession(mcp);
  assert.equal(mcp.stats().sessions, 1);
  await until('idle expiry', () => mcp.stats().sessions === 0, 2000);
  const gone = await call(mcp, session, 1, 'echo', { text: 'late' });
  assert.equal(gone.status, 404);
  assertNothingAlive(mcp);
  await mcp.close();
});

test('notifications/cancelled aborts the handler and frees the request', async () => {
  const { mcp, started, aborted } = await handler();
  const session = await openSession(mcp);
  const response = call(mcp, session, 9, 'wait', {}, { progressToken: 't' });
  await until('the handler', () => started.length === 1);
  const cancel = await post(mcp, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9, reason: 'changed my mind' } }, session);
  assert.equal(cancel.status, 202);
  await until('the abort', () => aborted.length === 1);
  assert.match(aborted[0], /client/);
  // The call's stream ends without an answer: the client asked for none.
  const text = await (await response).text();
  assert.equal(sseMessages(text).filter((m) => m.id === 9).length, 0);
  await until('the handler to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp, { sessions: 1 });
  await mcp.close();
});

test('a consumer that cancels a call stream cancels the handler once the stream cannot resume', async () => {
  const { mcp, started, aborted } = await handler({ timeouts: { resumeWindowMs: 50 } });
  const session = await openSession(mcp);
  const response = await call(mcp, session, 1, 'wait', {}, { progressToken: 1 });
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body.getReader();
  await reader.read();
  await reader.cancel();
  assert.equal(started.length, 1);
  await until('the handler to be cancelled', () => aborted.length === 1, 2000);
  assert.match(aborted[0], /undeliverable/);
  await until('the handler to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp, { sessions: 1 });
  await mcp.close();
});

test('a GET stream whose reader stops is cut at the queue limit, not before', async () => {
  const limit = 64 * 1024;
  const { mcp } = await handler({ limits: { maxQueuedBytesPerExchange: limit } });
  const session = await openSession(mcp);
  const get = await mcp.fetch(new Request('http://127.0.0.1:8787/mcp', { headers: { accept: 'text/event-stream', 'mcp-session-id': session } }));
  assert.equal(get.status, 200);
  const reader = get.body.getReader();
  await reader.read();
  const pad = 'x'.repeat(1000);
  // Well under the limit: the stream stays.
  for (let i = 0; i < 16; i++) mcp.broadcast('notifications/message', { level: 'info', data: pad });
  await sleep(10);
  assert.equal(mcp.stats().streams, 1);
  assert.ok(mcp.stats().queuedBytes < limit && mcp.stats().queuedBytes > 10_000, JSON.stringify(mcp.stats()));
  // Past it: the engine gives up on this reader.
  for (let i = 0; i < 64; i++) mcp.broadcast('notifications/message', { level: 'info', data: pad });
  await sleep(10);
  assert.equal(mcp.stats().queuedBytes, 0);
  await assert.rejects(
    (async () => {
      for (;;) if ((await reader.read()).done) break;
    })(),
    /aborted/,
  );
  assertNothingAlive(mcp, { sessions: 1, streams: 1 });
  await mcp.close();
});

test('a request to the client (sampling) completes through a second POST', async () => {
  const { mcp } = await handler();
  // Only a client that declared sampling may be asked for it.
  const session = await openSession(mcp, { sampling: {} });
  const response = await call(mcp, session, 1, 'ask', {});
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let question;
  while (!question) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the stream ended before the request to the client: ${text}`);
    text += decoder.decode(value, { stream: true });
    question = sseMessages(text).find((m) => m.method === 'sampling/createMessage');
  }
  const answer = await post(mcp, { jsonrpc: '2.0', id: question.id, result: { role: 'assistant', model: 'm', content: { type: 'text', text: '42' } } }, session);
  assert.equal(answer.status, 202);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const result = sseMessages(text).find((m) => m.id === 1);
  assert.equal(result.result.content[0].text, 'model said 42');
  await until('the handler to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp, { sessions: 1 });
  await mcp.close();
});

test('close() ends GET streams, gives calls their grace, answers 503 after', async () => {
  const { mcp, aborted } = await handler();
  const session = await openSession(mcp);
  const get = await mcp.fetch(new Request('http://127.0.0.1:8787/mcp', { headers: { accept: 'text/event-stream', 'mcp-session-id': session } }));
  const call1 = call(mcp, session, 1, 'wait', {}, { progressToken: 1 });
  await until('the call', () => mcp.stats().handlers === 1);
  const closed = mcp.close({ graceMs: 50 });
  const streamText = await get.text();
  assert.match(streamText, /retry: /, 'the GET stream ends with a retry hint');
  const callText = await (await call1).text();
  const error = sseMessages(callText).find((m) => m.id === 1);
  assert.ok(error?.error, `the call in flight gets an error at the grace deadline: ${callText}`);
  await closed;
  assert.equal(aborted.length, 1);
  const after = await post(mcp, INIT);
  assert.equal(after.status, 503);
});

test('options with a typo are refused by name', async () => {
  await assert.rejects(createMcpHandler({ name: 'x', version: '1', timeouts: { idleMs: 5 } }), /idleMs/);
});

test('fetch works detached from its object, as runtimes call it', async () => {
  const { mcp } = await handler();
  const { fetch: detached } = mcp;
  const response = await detached(new Request('http://127.0.0.1:8787/mcp', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(INIT) }));
  assert.equal(response.status, 200);
  await response.text();
  await mcp.close();
  assert.equal(mcp.stats().sessions, 0, 'stats after close are the last ones, with nothing alive');
});

test('a result JSON cannot carry is a -32603 answer, not a crash', async () => {
  const { mcp } = await handler({
    tools: [
      { name: 'big', description: 'returns a BigInt', handler: () => ({ content: [], structuredContent: { n: 1n } }) },
      { name: 'bare', description: 'returns structured content only', handler: () => ({ structuredContent: { a: 1 } }) },
    ],
  });
  const session = await openSession(mcp);
  const big = await (await call(mcp, session, 1, 'big', {})).json();
  assert.equal(big.error.code, -32603);
  const bare = await (await call(mcp, session, 2, 'bare', {})).json();
  assert.deepEqual(bare.result, { structuredContent: { a: 1 }, content: [{ type: 'text', text: '{"a":1}' }] });
  await until('the handlers to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp, { sessions: 1 });
  await mcp.close();
});

test('close() resolves at its grace deadline even when a GET stream is never read', async () => {
  const { mcp } = await handler();
  const session = await openSession(mcp);
  const get = await mcp.fetch(new Request('http://127.0.0.1:8787/mcp', { headers: { accept: 'text/event-stream', 'mcp-session-id': session } }));
  assert.equal(get.status, 200);
  for (let i = 0; i < 8; i++) mcp.broadcast('notifications/message', { level: 'info', data: i });
  await mcp.close({ graceMs: 50 });
  assert.equal(mcp.stats().exchanges, 0);
  assert.equal(mcp.stats().responses, 0);
});

test('a handler waits for a reader that keeps up, which receives a large flood and result whole', async () => {
  const size = 256 * 1024;
  const { mcp } = await handler({
    limits: { streamWindowBytes: 64 * 1024 },
    tools: [
      {
        name: 'flood',
        description: 'logs 20 large messages, then answers with a larger text',
        handler: async (_args, context) => {
          for (let i = 0; i < 20; i++) await context.log('info', 'x'.repeat(size));
          return 'y'.repeat(4 * size);
        },
      },
    ],
  });
  const session = await openSession(mcp);
  const response = await call(mcp, session, 1, 'flood', {});
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  // Read slowly: the handler must wait, and nothing may be cut.
  const reader = response.body.getReader();
  const chunks = [];
  let mostQueued = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
    mostQueued = Math.max(mostQueued, mcp.stats().queuedBytes);
    await sleep(1);
  }
  // Unpaced, the 20 messages would have queued 5 MiB at once; paced, a window and a message.
  assert.ok(mostQueued <= 4 * size + 64 * 1024 + 8192, `${mostQueued} bytes queued at most`);
  const messages = sseMessages(Buffer.concat(chunks).toString('utf8'));
  const logs = messages.filter((m) => m.method === 'notifications/message');
  assert.equal(logs.length, 20);
  for (const log of logs) assert.equal(log.params.data.length, size);
  assert.equal(messages.at(-1).result.content[0].text.length, 4 * size);
  assertNothingAlive(mcp, { sessions: 1 });
  await mcp.close();
});

test('timersPerResponse (Workers): one timer keeps the engine time, however many streams are open', async () => {
  // Callbacks of every timer, counted: index.js calls the global setTimeout.
  const realSetTimeout = globalThis.setTimeout;
  let callbacks = 0;
  globalThis.setTimeout = (fn, ms, ...args) => realSetTimeout(() => {
    callbacks += 1;
    fn(...args);
  }, ms);
  const streams = [];
  let mcp;
  try {
    mcp = await createMcpHandler({ name: 't', version: '1', timersPerResponse: true, timeouts: { keepaliveMs: 100 } });
    let keepalives = 0;
    for (let i = 0; i < 20; i++) {
      const session = await openSession(mcp);
      const get = await mcp.fetch(new Request('http://127.0.0.1:8787/mcp', { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } }));
      const reader = get.body.getReader();
      streams.push(reader);
      (async () => {
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ done: true }));
          if (done) return;
          keepalives += decoder.decode(value).split('\n\n').filter((frame) => frame.trim() === ':').length;
        }
      })();
    }
    const before = { callbacks, keepalives };
    await until('every stream to get about ten keepalives', () => keepalives - before.keepalives >= 200, 20_000);
    // One wakeup per deadline (about one per keepalive), not one per stream per deadline (20x).
    const woken = callbacks - before.callbacks;
    assert.ok(woken <= 3 * (keepalives - before.keepalives), `${woken} timer callbacks for ${keepalives - before.keepalives} keepalives`);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    for (const reader of streams) await reader.cancel().catch(() => {});
    await mcp?.close({ graceMs: 0 });
  }
});
