// The TypeScript SDK's Streamable HTTP client against a running `mcpwire serve`: the session's
// whole life, including a GET stream cut by the network and resumed with Last-Event-ID.
//
// Usage: node ts_client.mjs http://127.0.0.1:PORT/mcp

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  PromptListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { check, eventually, run } from './checks.mjs';

const url = process.argv[2];

/** Every HTTP exchange the transport made: method, JSON-RPC method, Last-Event-ID, status. */
const exchanges = [];
/** The GET streams, in order: the SSE text seen so far, and a way to cut the connection. */
const getStreams = [];
/** While set, GET requests wait for it: the test decides when a reconnection may go out. */
let getGate;

/** A fetch that records exchanges and lets the test cut GET streams as a network would. */
async function recordingFetch(input, init = {}) {
  const method = init.method ?? 'GET';
  const headers = new Headers(init.headers);
  if (method === 'GET' && getGate) await getGate;
  const response = await fetch(input, init);
  exchanges.push({
    method,
    rpc: init.body ? JSON.parse(init.body).method : undefined,
    lastEventId: headers.get('last-event-id'),
    status: response.status,
  });
  if (method !== 'GET' || !response.ok || !response.body) return response;
  const upstream = response.body.getReader();
  const decoder = new TextDecoder();
  const record = { text: '', cut: undefined };
  let controller;
  const body = new ReadableStream({
    start(c) {
      controller = c;
    },
    async pull(c) {
      try {
        const { value, done } = await upstream.read();
        if (done) return c.close();
        record.text += decoder.decode(value, { stream: true });
        c.enqueue(value);
      } catch (error) {
        c.error(error);
      }
    },
    cancel(reason) {
      return upstream.cancel(reason);
    },
  });
  record.cut = () => {
    controller.error(new TypeError('connection reset (cut by the test)'));
    upstream.cancel().catch(() => {});
  };
  getStreams.push(record);
  return new Response(body, { status: response.status, headers: response.headers });
}

/** The `id:` of the last SSE event in `text`. */
function lastEventId(text) {
  const ids = [...text.matchAll(/^id: ?(.*)$/gm)].map((m) => m[1]);
  return ids.at(-1);
}

await run('typescript client (sdk 1.32, streamable http)', async () => {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: recordingFetch,
    reconnectionOptions: {
      initialReconnectionDelay: 50,
      maxReconnectionDelay: 1000,
      reconnectionDelayGrowFactor: 2,
      maxRetries: 5,
    },
  });
  const client = new Client({ name: 'mcpwire-interop', version: '1.0.0' });
  const transportErrors = [];
  client.onerror = (error) => transportErrors.push(String(error));
  const received = { toolsChanged: 0, promptsChanged: 0, updated: [] };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    received.toolsChanged += 1;
  });
  client.setNotificationHandler(PromptListChangedNotificationSchema, () => {
    received.promptsChanged += 1;
  });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    received.updated.push(n.params.uri);
  });

  // Initialize.
  await client.connect(transport);
  check(client.getServerVersion()?.name === 'mcpwire', 'initialize names the server', client.getServerVersion());
  check(transport.protocolVersion === '2025-11-25', 'negotiates 2025-11-25', transport.protocolVersion);
  const sessionId = transport.sessionId;
  check(/^[0-9a-f]{32}$/.test(sessionId ?? ''), 'the session id is 128 random bits in hex', sessionId);
  const capabilities = client.getServerCapabilities();
  check(capabilities?.tools?.listChanged === true && capabilities?.resources?.subscribe === true,
    'capabilities declare tools.listChanged and resources.subscribe', capabilities);
  await eventually('the GET stream', () => getStreams[0]);
  check(exchanges.some((e) => e.method === 'GET' && e.status === 200), 'the SDK opened the GET stream', exchanges);

  // Tools.
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of ['echo', 'add', 'sleep', 'touch_resource', 'announce_list_changed', 'test_simple_text']) {
    check(names.includes(name), `tools/list has ${name}`, names);
  }
  check(tools.every((t) => t.description && t.inputSchema?.type === 'object'), 'every tool has a description and an object schema', tools);
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'grüße' } });
  check(echo.content?.[0]?.text === 'grüße', 'echo returns its text', echo);
  const added = await client.callTool({ name: 'add', arguments: { a: 1.5, b: 2 } });
  check(added.structuredContent?.sum === 3.5, 'add returns structured content matching its output schema', added);
  try {
    await client.callTool({ name: 'no_such_tool', arguments: {} });
    check(false, 'an unknown tool is a JSON-RPC error', 'no error');
  } catch (error) {
    check(error.code === -32602, 'an unknown tool is a JSON-RPC error -32602', error.code);
  }

  // Progress during a call.
  const progress = [];
  const slept = await client.callTool({ name: 'sleep', arguments: { millis: 400 } }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  check(slept.content?.[0]?.text === 'slept 400 ms', 'sleep returns after its progress', slept);
  check(progress.length === 4 && progress.every((p, i) => p.progress === i + 1 && p.total === 4),
    'four progress notifications, increasing, before the result', progress);

  // Subscriptions. Other clients' sessions may watch the resource too, so counts are relative.
  const touch = async () => {
    const result = await client.callTool({ name: 'touch_resource', arguments: { uri: 'test://watched-resource' } });
    return Number(/^(\d+) subscribers notified$/.exec(result.content?.[0]?.text ?? '')?.[1]);
  };
  const others = await touch();
  check(Number.isInteger(others), 'touch_resource reports how many subscribers it reached', others);
  await client.subscribeResource({ uri: 'test://watched-resource' });
  check((await touch()) === others + 1, 'subscribing adds this session to the subscribers', others);
  await eventually('notifications/resources/updated', () => (received.updated.length === 1 ? true : undefined))
    .catch(() => {});
  check(received.updated.length === 1 && received.updated[0] === 'test://watched-resource',
    'notifications/resources/updated arrives for the subscribed URI', received.updated);
  await client.unsubscribeResource({ uri: 'test://watched-resource' });
  check((await touch()) === others, 'unsubscribing removes it', others);
  await client.ping();
  check(received.updated.length === 1, 'no update arrives after unsubscribing', received.updated);

  // A list_changed broadcast on the GET stream.
  await client.callTool({ name: 'announce_list_changed', arguments: { list: 'tools' } });
  await eventually('tools/list_changed', () => (received.toolsChanged === 1 ? true : undefined)).catch(() => {});
  check(received.toolsChanged === 1, 'notifications/tools/list_changed arrives', received);
  check(getStreams[0].text.includes('notifications/tools/list_changed'), 'it arrived on the GET stream', getStreams[0].text);

  // The network cuts the GET stream; a broadcast sent meanwhile is replayed on resumption.
  let openGate;
  getGate = new Promise((resolve) => {
    openGate = resolve;
  });
  const seenBeforeCut = lastEventId(getStreams[0].text);
  check(seenBeforeCut !== undefined, 'GET stream events carry ids', getStreams[0].text);
  getStreams[0].cut();
  await client.callTool({ name: 'announce_list_changed', arguments: { list: 'prompts' } });
  check(received.promptsChanged === 0, 'nothing arrives while the stream is cut', received);
  openGate();
  getGate = undefined;
  const resumed = await eventually('the resumed GET stream', () => getStreams[1]);
  const resumeRequest = exchanges.filter((e) => e.method === 'GET').at(-1);
  check(resumeRequest.lastEventId === seenBeforeCut && resumeRequest.status === 200,
    'the SDK resumed with Last-Event-ID and was answered 200', { resumeRequest, seenBeforeCut });
  await eventually('prompts/list_changed', () => (received.promptsChanged === 1 ? true : undefined)).catch(() => {});
  check(received.promptsChanged === 1, 'the broadcast missed during the cut is replayed', received);
  check(resumed.text.includes('notifications/prompts/list_changed'), 'it arrived on the resumed stream', resumed.text);
  check(received.toolsChanged === 1, 'events before Last-Event-ID are not replayed', received);

  // DELETE, then 404.
  await transport.terminateSession();
  const deleted = exchanges.filter((e) => e.method === 'DELETE');
  check(deleted.length === 1 && deleted[0].status === 200, 'DELETE ends the session with 200', deleted);
  await client.close();
  const after = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
  });
  const afterBody = await after.json().catch(() => undefined);
  check(after.status === 404 && afterBody?.error?.code !== undefined && afterBody?.id === 9,
    'the deleted session id gets 404 with a JSON-RPC error', { status: after.status, afterBody });
  const unexpected = transportErrors.filter((e) => !e.includes('cut by the test') && !e.includes('AbortError'));
  check(unexpected.length === 0, 'the transport reported no other errors', transportErrors);
});
