// The TypeScript SDK v2 client (@modelcontextprotocol/client 2.4), pinned to 2026-07-28,
// against the demo application wherever it runs (workerd, Deno, Bun): tools/list, a call with
// progress, an input-required tool answered by the client's elicitation handler, a listen
// stream that receives tools/list_changed, and a call cancelled by aborting its request, after
// which the handler's signal has fired and the server's live stats are back to zero.
//
// `stats()` reads the server's `mcp.stats()` (in process, or over HTTP from the worker);
// `noticesGoneWithinMs` is how long the host may take to notice that a client went away.

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

/** Stats that count totals, not live entities: they only grow. */
const TOTALS = new Set(['handlersCancelled']);

/** The live entries of `stats` that are not zero. */
export function liveStats(stats) {
  return Object.fromEntries(
    Object.entries(stats).filter(([name, value]) => !name.endsWith('Total') && !TOTALS.has(name) && value !== 0),
  );
}

async function eventually(what, probe, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Runs every check against the MCP endpoint `url`; returns the lines it passed, throws at the
 * first that fails.
 */
export async function exerciseModern(url, { stats, noticesGoneWithinMs = 10_000 }) {
  const passed = [];
  const check = (ok, what, detail) => {
    if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
    passed.push(what);
  };
  const posts = [];
  const recordingFetch = async (input, init = {}) => {
    if (typeof init.body === 'string') {
      try {
        posts.push(JSON.parse(init.body).method);
      } catch {
        // not JSON-RPC
      }
    }
    return fetch(input, init);
  };
  const client = new Client(
    { name: 'mcpwire-wasm-test', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  const elicitations = [];
  client.setRequestHandler('elicitation/create', async (request) => {
    elicitations.push(request.params);
    return { action: 'accept', content: { name: 'Ada' } };
  });
  let toolsChanged = 0;
  client.setNotificationHandler('notifications/tools/list_changed', () => {
    toolsChanged += 1;
  });
  const cancelledBefore = (await stats()).handlersCancelled;

  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch }));
  check(client.getNegotiatedProtocolVersion() === '2026-07-28', 'speaks 2026-07-28', client.getNegotiatedProtocolVersion());

  const { tools } = await client.listTools();
  const names = tools.map((tool) => tool.name);
  check(['echo', 'sleep', 'greet', 'announce_list_changed'].every((name) => names.includes(name)), 'tools/list', names);

  const progress = [];
  const slept = await client.callTool({ name: 'sleep', arguments: { millis: 300 } }, { onprogress: (p) => progress.push(p.progress) });
  check(slept.content?.[0]?.text === 'slept 300 ms', 'a call returns its result', slept);
  check(progress.join() === '1,2,3', 'its progress arrives first, in order', progress);

  const greeted = await client.callTool({ name: 'greet', arguments: {} });
  check(elicitations.length === 1 && greeted.content?.[0]?.text === 'Hello, Ada!',
    'an input-required tool is answered by the elicitation handler and retried', { elicitations, greeted });
  check(posts.filter((method) => method === 'tools/call').length === 3, 'the input-required call took two rounds', posts);

  const subscription = await client.listen({ toolsListChanged: true });
  check(subscription.honoredFilter?.toolsListChanged === true, 'a listen stream is acknowledged', subscription.honoredFilter);
  const announced = await client.callTool({ name: 'announce_list_changed', arguments: { list: 'tools' } });
  check(/^1 /.test(announced.content?.[0]?.text ?? ''),
    'the broadcast reaches the one listen stream', announced);
  await eventually('notifications/tools/list_changed', () => toolsChanged === 1);
  check(toolsChanged === 1, 'the listen stream receives tools/list_changed once', toolsChanged);
  await subscription.close();
  // Hosts that do not report a vanished client notice it at the next write: a keepalive.
  await eventually('the listen stream to be unregistered', async () => (await stats()).subscriptions === 0, noticesGoneWithinMs);
  check(true, 'closing the listen stream unregisters it');

  const abort = new AbortController();
  const started = [];
  const cancelled = client
    .callTool({ name: 'sleep', arguments: { millis: 10_000 } }, {
      signal: abort.signal,
      onprogress: (p) => started.push(p.progress),
    })
    .then(() => 'answered', (error) => `rejected: ${error?.name ?? error}`);
  await eventually('the long call to report progress', () => started.length > 0);
  abort.abort();
  const outcome = await cancelled;
  check(outcome.startsWith('rejected'), 'aborting the request rejects the call', outcome);
  await eventually("the handler's signal to fire", async () => (await stats()).handlersCancelled === cancelledBefore + 1);
  check(true, "the aborted call's handler saw its signal fire");
  await client.close();
  const idle = await eventually('the live stats to return to zero', async () => {
    const live = liveStats(await stats());
    return Object.keys(live).length === 0 ? {} : undefined;
  }).catch(async () => liveStats(await stats()));
  check(Object.keys(idle).length === 0, 'every live stat is back to zero', idle);
  return passed;
}
