// The TypeScript SDK v2 client (@modelcontextprotocol/client 2.4) against a running
// `mcpwire serve`, pinned to protocol revision 2026-07-28: no initialize and no session; tools,
// progress, resources and prompts; a subscriptions/listen stream that receives
// notifications/tools/list_changed; an input-required result (MRTR) answered by the client's
// elicitation handler; and a call aborted before its first byte, which the server cancels at
// once (its gauges checked through /metrics).
//
// Usage: node ts_modern_client.mjs http://127.0.0.1:PORT/mcp

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { check, eventually, run } from './checks.mjs';

const url = process.argv[2];

/** Every HTTP exchange the transport made: method, JSON-RPC method, session ids, status. */
const exchanges = [];

/** A fetch that records every exchange. */
async function recordingFetch(input, init = {}) {
  const method = init.method ?? 'GET';
  const headers = new Headers(init.headers);
  let rpc;
  if (typeof init.body === 'string') {
    try {
      const body = JSON.parse(init.body);
      rpc = Array.isArray(body) ? body.map((m) => m.method) : body.method;
    } catch {
      // not JSON-RPC
    }
  }
  const response = await fetch(input, init);
  exchanges.push({
    method,
    rpc,
    protocolVersion: headers.get('mcp-protocol-version'),
    sentSessionId: headers.get('mcp-session-id'),
    receivedSessionId: response.headers.get('mcp-session-id'),
    status: response.status,
  });
  return response;
}

await run('typescript client (sdk 2.4, 2026-07-28)', async () => {
  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch });
  const client = new Client(
    { name: 'mcpwire-interop', version: '1.0.0' },
    {
      capabilities: { elicitation: { form: {} } },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    },
  );
  const transportErrors = [];
  client.onerror = (error) => transportErrors.push(String(error));

  const elicitations = [];
  client.setRequestHandler('elicitation/create', async (request) => {
    elicitations.push(request.params);
    return { action: 'accept', content: { name: 'Ada' } };
  });
  const toolsChanged = [];
  client.setNotificationHandler('notifications/tools/list_changed', (notification) => {
    toolsChanged.push(notification);
  });

  // Connect: the pinned client sends server/discover, never initialize.
  await client.connect(transport);
  check(client.getNegotiatedProtocolVersion() === '2026-07-28', 'speaks 2026-07-28',
    client.getNegotiatedProtocolVersion());
  check(client.getProtocolEra() === 'modern', 'the protocol era is modern', client.getProtocolEra());
  check(exchanges[0]?.rpc === 'server/discover' && exchanges[0]?.status === 200,
    'connect sends server/discover, answered 200', exchanges[0]);
  check(client.getServerVersion()?.name === 'mcpwire', 'discover names the server', client.getServerVersion());
  const capabilities = client.getServerCapabilities();
  check(capabilities?.tools?.listChanged === true, 'capabilities declare tools.listChanged', capabilities);

  // Tools.
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of ['echo', 'test_tool_with_progress', 'test_trigger_tool_change',
    'test_input_required_result_elicitation']) {
    check(names.includes(name), `tools/list has ${name}`, names);
  }
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'grüße' } });
  check(echo.content?.[0]?.text === 'grüße', 'echo returns its text', echo);

  // Progress during a call.
  const progress = [];
  const withProgress = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, {
    onprogress: (p) => progress.push(p),
  });
  check(!withProgress.isError, 'test_tool_with_progress succeeds', withProgress);
  check(progress.length >= 3, 'at least three progress notifications arrive', progress);
  check(progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress),
    'progress increases', progress);

  // Resources and prompts.
  const text = await client.readResource({ uri: 'test://static-text' });
  check(text.contents?.[0]?.text === 'This is the content of the static text resource.',
    'reads test://static-text', text);
  const prompt = await client.getPrompt({ name: 'test_simple_prompt' });
  check(prompt.messages?.length >= 1 && prompt.messages[0].content?.type === 'text',
    'gets test_simple_prompt', prompt);

  // A subscriptions/listen stream receives tools/list_changed.
  const subscription = await client.listen({ toolsListChanged: true });
  check(subscription.honoredFilter?.toolsListChanged === true,
    'the listen subscription is acknowledged with toolsListChanged', subscription.honoredFilter);
  check(exchanges.some((e) => e.rpc === 'subscriptions/listen' && e.status === 200),
    'subscriptions/listen is answered 200', exchanges);
  const trigger = await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
  check(!trigger.isError, 'test_trigger_tool_change succeeds', trigger);
  await eventually('notifications/tools/list_changed', () => (toolsChanged.length >= 1 ? true : undefined))
    .catch(() => {});
  check(toolsChanged.length >= 1, 'notifications/tools/list_changed arrives on the listen stream', toolsChanged);
  await subscription.close();
  check((await subscription.closed) === 'local', 'closing the subscription ends it locally');

  // An input-required result (MRTR), answered by the elicitation handler and retried.
  const callsBefore = exchanges.filter((e) => e.rpc === 'tools/call').length;
  const greeted = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
  check(elicitations.length === 1, 'the elicitation handler is called once', elicitations);
  check(elicitations[0]?.requestedSchema?.properties?.name?.type === 'string',
    'the elicitation asks for a string name', elicitations[0]);
  check(greeted.content?.[0]?.text === 'Hello, Ada!', 'the retried call returns "Hello, Ada!"', greeted);
  const calls = exchanges.filter((e) => e.rpc === 'tools/call').length - callsBefore;
  check(calls === 2, 'the input-required call was retried once, as a second tools/call', calls);

  // A call aborted before the first byte of its answer: the client's fetch closes the
  // connection, and the server cancels the call at once and holds nothing for it, long before
  // any of its timeouts (the tool would sleep for a minute).
  const metricsUrl = new URL('/metrics', url);
  const metrics = async () => {
    const text = await (await fetch(metricsUrl)).text();
    return Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
      const at = l.lastIndexOf(' ');
      return [l.slice(0, at), Number(l.slice(at + 1))];
    }));
  };
  const until = async (what, poll, ms = 5000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await poll();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const before = await metrics();
  const controller = new AbortController();
  const aborted = client.callTool({ name: 'sleep', arguments: { millis: 60000 } }, { signal: controller.signal })
    .then((result) => ({ result }), (error) => ({ error }));
  await until('the call in flight', async () =>
    ((await metrics()).mcpwire_inflight_requests > before.mcpwire_inflight_requests ? true : undefined));
  const abortedAt = Date.now();
  controller.abort();
  const outcome = await aborted;
  check(outcome.error !== undefined, 'the aborted call rejects', outcome);
  // The handler's task ends on its worker thread once it is cancelled: it is counted until
  // then, so every gauge is waited for, within the same few seconds.
  const gauges = ['mcpwire_inflight_requests', 'mcpwire_stateless_requests', 'mcpwire_exchanges',
    'mcpwire_streams', 'mcpwire_tasks'];
  const after = await until('the server to let go of the aborted call', async () => {
    const now = await metrics();
    return gauges.every((g) => now[g] === before[g])
      && now.mcpwire_requests_cancelled_total > before.mcpwire_requests_cancelled_total ? now : undefined;
  }).catch(() => undefined);
  check(after !== undefined, 'the server cancels the aborted call at once',
    { waitedMs: Date.now() - abortedAt });
  const last = after ?? await metrics();
  for (const gauge of gauges) {
    check(last[gauge] === before[gauge], `${gauge} is back to ${before[gauge]} after the abort`,
      last[gauge]);
  }

  await client.close();

  // No session, ever.
  check(exchanges.every((e) => e.rpc !== 'initialize' && e.rpc !== 'notifications/initialized'),
    'no initialize handshake', exchanges.map((e) => e.rpc));
  check(exchanges.every((e) => e.sentSessionId === null && e.receivedSessionId === null),
    'no Mcp-Session-Id header in either direction', exchanges);
  check(exchanges.every((e) => e.method === 'POST'), 'only POSTs: no GET stream and no DELETE', exchanges);
  check(exchanges.filter((e) => e.rpc !== 'server/discover').every((e) => e.protocolVersion === '2026-07-28'),
    'every request carries MCP-Protocol-Version: 2026-07-28', exchanges);
  const unexpected = transportErrors.filter((e) => !e.includes('AbortError'));
  check(unexpected.length === 0, 'the client reported no errors', transportErrors);
});
