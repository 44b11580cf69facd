// The 2026-07-28 era through createMcpHandler, in process: stateless calls, input-required
// rounds (and the same tool in the session era), listen streams, cancellation by closing the
// response, `x-mcp-header`, and the sealing key. After each, the engine holds nothing and no
// session was ever opened.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMcpHandler, InputRequest, InputRequired } from '../js/index.js';
import { openSession, post, sseMessages, until } from './helpers.mjs';

const VERSION = '2026-07-28';
const ALIVE = ['sessions', 'statelessRequests', 'subscriptions', 'streams', 'exchanges', 'inflightRequests', 'queuedBytes', 'pendingEvents', 'handlers', 'responses'];

function assertNothingAlive(mcp) {
  const stats = mcp.stats();
  for (const name of ALIVE) assert.equal(stats[name], 0, `${name} in ${JSON.stringify(stats)}`);
  mcp.checkInvariants();
}

function meta(capabilities = {}, extra = {}) {
  return {
    'io.modelcontextprotocol/protocolVersion': VERSION,
    'io.modelcontextprotocol/clientCapabilities': capabilities,
    'io.modelcontextprotocol/clientInfo': { name: 'modern-test', version: '1' },
    ...extra,
  };
}

/** A 2026-07-28 POST: the version, method and name headers mirror the body. */
function modern(mcp, method, params, { id = 1, name, headers = {}, signal } = {}) {
  const request = new Request('http://127.0.0.1:8787/mcp', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': VERSION,
      'mcp-method': method,
      ...(name === undefined ? {} : { 'mcp-name': name }),
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    signal,
  });
  return mcp.fetch(request);
}

/** The JSON-RPC answer to request `id`, from a JSON or an SSE body. */
async function answer(response, id = 1) {
  const text = await response.text();
  if (response.headers.get('content-type')?.startsWith('application/json')) return JSON.parse(text);
  return sseMessages(text).find((m) => m.id === id);
}

function handler(extra = {}) {
  const aborted = [];
  const started = [];
  const options = {
    name: 'modern',
    version: '1',
    tools: [
      { name: 'echo', description: 'echo', handler: ({ text }) => text },
      {
        name: 'greet',
        description: 'asks for a name, then a colour, over as many rounds as it takes',
        handler: async (_args, context) => {
          const name = await context.input('name', InputRequest.elicit('Your name?', { type: 'object', properties: { name: { type: 'string' } } }));
          if (name.action !== 'accept') return 'no name';
          const colour = await context.input('colour', InputRequest.elicit('Your colour?', { type: 'object', properties: { colour: { type: 'string' } } }));
          return `${name.content.name} likes ${colour.content?.colour ?? 'nothing'}`;
        },
      },
      {
        name: 'wait',
        description: 'reports progress, then waits until cancelled',
        handler: (_args, context) =>
          new Promise((resolve) => {
            started.push(context.protocolVersion);
            context.progress(1, 2, 'half');
            context.signal.addEventListener('abort', () => {
              aborted.push(String(context.signal.reason?.message));
              resolve('never seen');
            });
          }),
      },
      {
        name: 'route',
        description: 'an argument mirrored in a header',
        inputSchema: { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } } },
        handler: ({ region }) => `routed to ${region}`,
      },
      { name: 'who', description: 'what the context says', handler: (_args, context) => JSON.stringify({ session: context.session ?? null, version: context.protocolVersion, client: context.clientInfo }) },
      {
        name: 'unsendable',
        description: 'asks for input the answer cannot carry (a BigInt)',
        handler: async (_args, context) => {
          await context.input('s', InputRequest.sample({ messages: [], maxTokens: 10n }));
          return 'never';
        },
      },
      {
        name: 'manual',
        description: 'throws InputRequired itself, in any era',
        handler: () => {
          throw new InputRequired({ name: { method: 'roots/list', params: {} } }, {});
        },
      },
    ],
    resources: [{ uri: 'test://here', name: 'here', read: () => 'here' }],
    ...extra,
  };
  return createMcpHandler(options).then((mcp) => ({ mcp, aborted, started }));
}

test('a stateless call and server/discover open no session and leave nothing behind', async () => {
  const { mcp } = await handler();
  const discover = await answer(await modern(mcp, 'server/discover', { _meta: meta() }));
  assert.deepEqual(discover.result.supportedVersions, [VERSION]);
  assert.equal(discover.result.resultType, 'complete');
  assert.ok(discover.result.capabilities.tools, JSON.stringify(discover.result));
  const echo = await answer(await modern(mcp, 'tools/call', { name: 'echo', arguments: { text: 'hi' }, _meta: meta() }, { name: 'echo' }));
  assert.equal(echo.result.content[0].text, 'hi');
  assert.equal(echo.result.resultType, 'complete');
  const who = JSON.parse((await answer(await modern(mcp, 'tools/call', { name: 'who', _meta: meta() }, { name: 'who' }))).result.content[0].text);
  assert.deepEqual(who, { session: null, version: VERSION, client: { name: 'modern-test', version: '1' } });
  // SEP-2164: an unknown resource is invalid params in this era.
  const missing = await modern(mcp, 'resources/read', { uri: 'test://nowhere', _meta: meta() }, { name: 'test://nowhere' });
  const missingBody = await answer(missing);
  assert.equal(missingBody.error.code, -32602);
  assert.deepEqual(missingBody.error.data, { uri: 'test://nowhere' });
  await until('the handlers to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp);
  assert.equal(mcp.stats().sessionsOpenedTotal, 0);
  await mcp.close();
});

test('an input-required tool takes its rounds, the server keeping nothing between them', async () => {
  const { mcp } = await handler();
  const capabilities = { elicitation: { form: {} } };
  const first = (await answer(await modern(mcp, 'tools/call', { name: 'greet', _meta: meta(capabilities) }, { name: 'greet' }))).result;
  assert.equal(first.resultType, 'input_required');
  assert.deepEqual(Object.keys(first.inputRequests), ['name']);
  assert.equal(first.inputRequests.name.method, 'elicitation/create');
  assert.equal(typeof first.requestState, 'string');
  assertNothingAlive(mcp);

  const nameAnswer = { action: 'accept', content: { name: 'Ada' } };
  const second = (await answer(await modern(mcp, 'tools/call', { name: 'greet', _meta: meta(capabilities), inputResponses: { name: nameAnswer }, requestState: first.requestState }, { name: 'greet' }))).result;
  assert.equal(second.resultType, 'input_required');
  assert.deepEqual(Object.keys(second.inputRequests), ['colour']);

  // The second round's state carries the first answer: only the new one is sent.
  const third = (await answer(await modern(mcp, 'tools/call', { name: 'greet', _meta: meta(capabilities), inputResponses: { colour: { action: 'accept', content: { colour: 'green' } } }, requestState: second.requestState }, { name: 'greet' }))).result;
  assert.equal(third.resultType, 'complete');
  assert.equal(third.content[0].text, 'Ada likes green');

  // An answer of the wrong shape is the client's error, not the handler's garbage.
  const wrong = await answer(await modern(mcp, 'tools/call', { name: 'greet', _meta: meta(capabilities), inputResponses: { name: { nope: 1 } } }, { name: 'greet' }));
  assert.equal(wrong.error.code, -32602);
  assert.match(wrong.error.message, /inputResponses\.name/);

  // A state altered by the client does not open: the retry is refused.
  const forged = `${first.requestState.slice(0, -4)}AAAA`;
  const again = await answer(await modern(mcp, 'tools/call', { name: 'greet', _meta: meta(capabilities), requestState: forged }, { name: 'greet' }));
  assert.equal(again.error.code, -32602);
  assert.match(again.error.message, /requestState/);
  await until('the handlers to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp);
  assert.equal(mcp.stats().sessionsOpenedTotal, 0);
  await mcp.close();
});

test('asking a client that did not declare elicitation is 400 with -32021 and the capability', async () => {
  const { mcp } = await handler();
  const response = await modern(mcp, 'tools/call', { name: 'greet', _meta: meta() }, { name: 'greet' });
  assert.equal(response.status, 400);
  const body = await answer(response);
  assert.equal(body.error.code, -32021);
  assert.deepEqual(body.error.data.requiredCapabilities, { elicitation: {} });
  assertNothingAlive(mcp);
  await mcp.close();
});

test('the same tool in the session era asks through a request to the client', async () => {
  const { mcp } = await handler();
  const session = await openSession(mcp, { elicitation: {} });
  const response = await post(mcp, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'greet' } }, session);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const answered = new Set();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    for (const message of sseMessages(text)) {
      if (message.method !== 'elicitation/create' || answered.has(message.id)) continue;
      answered.add(message.id);
      const content = message.params.message.includes('name') ? { name: 'Grace' } : { colour: 'blue' };
      const reply = await post(mcp, { jsonrpc: '2.0', id: message.id, result: { action: 'accept', content } }, session);
      assert.equal(reply.status, 202);
    }
  }
  assert.equal(answered.size, 2);
  assert.equal(sseMessages(text).find((m) => m.id === 7).result.content[0].text, 'Grace likes blue');
  await until('the handler to finish', () => mcp.stats().handlers === 0);
  const stats = mcp.stats();
  assert.equal(stats.sessions, 1);
  assert.equal(stats.inflightRequests, 0);
  assert.equal(stats.outboundRequests, 0);
  await mcp.close();
});

test('a shared state key lets a retry reach another handler; another key refuses it', async () => {
  const key = 'ab'.repeat(32);
  const a = (await handler({ stateKey: key })).mcp;
  const b = (await handler({ stateKey: key })).mcp;
  const c = (await handler()).mcp;
  const capabilities = { elicitation: {} };
  const first = (await answer(await modern(a, 'tools/call', { name: 'greet', _meta: meta(capabilities), inputResponses: { name: { action: 'accept', content: { name: 'Lin' } } } }, { name: 'greet' }))).result;
  assert.deepEqual(Object.keys(first.inputRequests), ['colour']);
  const retry = { name: 'greet', _meta: meta(capabilities), inputResponses: { colour: { action: 'decline' } }, requestState: first.requestState };
  const onB = (await answer(await modern(b, 'tools/call', retry, { name: 'greet' }))).result;
  assert.equal(onB.content[0].text, 'Lin likes nothing');
  const onC = await answer(await modern(c, 'tools/call', retry, { name: 'greet' }));
  assert.equal(onC.error.code, -32602);
  await assert.rejects(handler({ stateKey: 'short' }), /64 hex digits/);
  for (const mcp of [a, b, c]) {
    await until('the handlers to finish', () => mcp.stats().handlers === 0);
    assertNothingAlive(mcp);
    await mcp.close();
  }
});

test('closing a modern response stream cancels its handler; the engine frees everything', async () => {
  const { mcp, aborted, started } = await handler();
  const controller = new AbortController();
  const response = await modern(mcp, 'tools/call', { name: 'wait', _meta: meta({}, { progressToken: 'p' }) }, { name: 'wait', signal: controller.signal });
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let progress;
  while (!progress) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the stream ended before any progress: ${text}`);
    text += decoder.decode(value, { stream: true });
    progress = sseMessages(text).find((m) => m.method === 'notifications/progress');
  }
  assert.equal(progress.params.progressToken, 'p');
  assert.deepEqual(started, [VERSION]);
  assert.equal(mcp.stats().statelessRequests, 1);
  // What a fetch client's abort does to the body it reads.
  await reader.cancel();
  await until('the handler to be cancelled', () => aborted.length === 1);
  assert.match(aborted[0], /stream_closed/);
  await until('the handler to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp);
  await mcp.close();
});

test('a listen stream is acknowledged, receives list changes, and unregisters when cancelled', async () => {
  const { mcp } = await handler({ limits: { maxListenStreams: 1 } });
  const listen = await modern(mcp, 'subscriptions/listen', { _meta: meta(), notifications: { toolsListChanged: true } }, { id: 'l1' });
  assert.equal(listen.status, 200);
  const reader = listen.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const next = async (method) => {
    for (;;) {
      const found = sseMessages(text).find((m) => m.method === method);
      if (found) return found;
      const { value, done } = await reader.read();
      assert.ok(!done, `the stream ended before ${method}: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
  };
  await next('notifications/subscriptions/acknowledged');
  assert.equal(mcp.stats().subscriptions, 1);
  // At the limit: a second listener is refused.
  const second = await modern(mcp, 'subscriptions/listen', { _meta: meta(), notifications: { toolsListChanged: true } }, { id: 'l2' });
  assert.equal(second.status, 503);
  await second.text();
  assert.equal(mcp.toolsListChanged(), 1);
  const changed = await next('notifications/tools/list_changed');
  assert.equal(changed.params._meta['io.modelcontextprotocol/subscriptionId'], 'l1');
  // A prompts change is not what it asked for.
  assert.equal(mcp.promptsListChanged(), 0);
  await reader.cancel();
  await until('the listener to go', () => mcp.stats().subscriptions === 0);
  assertNothingAlive(mcp);
  await mcp.close();
});

test('x-mcp-header is checked in 2026-07-28 only: a session-era client sends no Mcp-Param headers', async () => {
  const { mcp } = await handler();
  const session = await openSession(mcp);
  const response = await post(mcp, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'route', arguments: { region: 'eu' } } }, session);
  const body = await response.json();
  assert.equal(body.result?.content[0].text, 'routed to eu', JSON.stringify(body));
  await mcp.close();
});

test('a request whose answer the engine refuses still gets an error, and nothing is left', async () => {
  const { mcp } = await handler();
  const capabilities = { sampling: {}, roots: {} };
  // Input whose request JSON cannot carry: -32603, not silence.
  const unsendable = await answer(await modern(mcp, 'tools/call', { name: 'unsendable', _meta: meta(capabilities) }, { name: 'unsendable' }));
  assert.equal(unsendable.error?.code, -32603, JSON.stringify(unsendable));
  // InputRequired where none may be (the session era): the engine refuses it; -32603 says why.
  const session = await openSession(mcp, capabilities);
  const refused = await (await post(mcp, { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'manual' } }, session)).json();
  assert.equal(refused.error?.code, -32603, JSON.stringify(refused));
  assert.match(refused.error.message, /input_not_allowed/);
  await until('the handlers to finish', () => mcp.stats().handlers === 0);
  const stats = mcp.stats();
  assert.equal(stats.inflightRequests, 0, JSON.stringify(stats));
  assert.equal(stats.exchanges, 0, JSON.stringify(stats));
  assert.equal(stats.statelessRequests, 0, JSON.stringify(stats));
  await mcp.close();
});

test('context.input after a cancellation rejects with the cancellation, not a missing capability', async () => {
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const outcome = [];
  const { mcp } = await handler({
    tools: [{
      name: 'late',
      description: 'asks only after being released',
      handler: async (_args, context) => {
        await gate;
        try {
          await context.input('name', InputRequest.elicit('name?', { type: 'object', properties: {} }));
          outcome.push('answered');
        } catch (error) {
          outcome.push(String(error?.message));
        }
        return 'done';
      },
    }],
  });
  const session = await openSession(mcp, { elicitation: {} });
  const call = post(mcp, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'late' } }, session);
  await until('the handler to start', () => mcp.stats().handlers === 1);
  await (await post(mcp, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5, reason: 'test' } }, session)).text();
  await until('the cancellation to reach the handler', () => mcp.stats().handlersCancelled === 1);
  release();
  await until('the handler to finish', () => mcp.stats().handlers === 0);
  assert.equal(outcome.length, 1);
  assert.match(outcome[0], /^cancelled/);
  call.then((response) => response.body?.cancel()).catch(() => {});
  await mcp.close({ graceMs: 100 });
});

test('progress after shutdown resolves false instead of rejecting', async () => {
  let reported;
  let resume;
  const resumed = new Promise((resolve) => {
    resume = resolve;
  });
  const { mcp } = await handler({
    tools: [{
      name: 'stubborn',
      description: 'ignores its signal and reports progress after the server shut down',
      handler: async (_args, context) => {
        await resumed;
        reported = await context.progress(2, 2);
        return 'done';
      },
    }],
  });
  const session = await openSession(mcp);
  const call = post(mcp, { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'stubborn', _meta: { progressToken: 't' } } }, session);
  await until('the handler to start', () => mcp.stats().handlers === 1);
  await mcp.close({ graceMs: 10 });
  resume();
  await until('the handler to finish', () => reported !== undefined);
  assert.equal(reported, false);
  await call.then((response) => response.text()).catch(() => {});
});

test('stateKey must be 32 bytes or 64 hex digits: a number is refused, not taken as zeros', async () => {
  await assert.rejects(handler({ stateKey: 32 }), /stateKey/);
  await assert.rejects(handler({ stateKey: [1, 2, 3] }), /stateKey/);
  await assert.rejects(handler({ stateKey: new Uint8Array(31) }), /32 bytes, not 31/);
  const { mcp } = await handler({ stateKey: new Uint8Array(32).fill(9).buffer });
  await mcp.close();
});

test('x-mcp-header: an annotated argument must agree with its Mcp-Param header', async () => {
  const { mcp } = await handler();
  const call = (headers) => modern(mcp, 'tools/call', { name: 'route', arguments: { region: 'eu-west' }, _meta: meta() }, { name: 'route', headers });
  const agreed = await call({ 'mcp-param-region': 'eu-west' });
  assert.equal((await answer(agreed)).result.content[0].text, 'routed to eu-west');
  const disagreed = await call({ 'mcp-param-region': 'us-east' });
  assert.equal(disagreed.status, 400);
  const body = await answer(disagreed);
  assert.equal(body.error.code, -32020);
  assert.match(body.error.message, /Mcp-Param-Region/);
  const absent = await call({});
  assert.equal((await answer(absent)).error.code, -32020);
  await until('the handlers to finish', () => mcp.stats().handlers === 0);
  assertNothingAlive(mcp);
  await mcp.close();
});
