// Two mcpwire nodes behind HAProxy, sharing a Redis bus; the TypeScript SDK's clients go
// through the balancer. In the session era (SDK 1.32) a session made on node B stays there:
// every request is routed to it by the session id's tag, and its GET stream is on B. In
// 2026-07-28 (SDK 2.4) a listen stream is held on node B. A list_changed triggered on node A
// must reach both exactly once; a second one (prompts) after it is the fence.
//
// Usage: node ts_cluster.mjs BALANCER_URL NODE_A_URL NODE_B_METRICS_URL

import { Client as SessionClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as SessionTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  PromptListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { check, eventually, run } from '../interop/checks.mjs';

const [balancer, nodeA, nodeBMetrics] = process.argv.slice(2);
const ATTEMPTS = 12;

/** A gauge of node B's /metrics. */
async function gaugeOnB(name) {
  const text = await (await fetch(nodeBMetrics)).text();
  return Number(text.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
}

/** Triggers `notifications/<list>/list_changed` on node A, with a client of its own. */
async function announceOnA(list) {
  const client = new Client({ name: 'trigger', version: '1' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(nodeA)));
  await client.callTool({ name: 'announce_list_changed', arguments: { list } });
  await client.close();
}

/** A session-era client through the balancer whose session is on node B. */
async function sessionOnB() {
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const gets = [];
    const fetchRecording = async (input, init = {}) => {
      const response = await fetch(input, init);
      if ((init.method ?? 'GET') === 'GET') gets.push(response.status);
      return response;
    };
    const transport = new SessionTransport(new URL(balancer), { fetch: fetchRecording });
    const client = new SessionClient({ name: 'cluster', version: '1' });
    const counts = { tools: 0, prompts: 0 };
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => { counts.tools += 1; });
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => { counts.prompts += 1; });
    await client.connect(transport);
    if (transport.sessionId?.startsWith('b-')) return { client, transport, counts, gets };
    await transport.terminateSession();
    await client.close();
  }
  throw new Error(`no session on node B in ${ATTEMPTS} tries`);
}

/** A 2026-07-28 client through the balancer with a listen stream held on node B. */
async function listenOnB() {
  const counts = { tools: 0, prompts: 0 };
  const client = new Client({ name: 'cluster', version: '1' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  client.setNotificationHandler('notifications/tools/list_changed', () => { counts.tools += 1; });
  client.setNotificationHandler('notifications/prompts/list_changed', () => { counts.prompts += 1; });
  await client.connect(new StreamableHTTPClientTransport(new URL(balancer)));
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const before = await gaugeOnB('mcpwire_subscriptions');
    const subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
    if (await gaugeOnB('mcpwire_subscriptions') > before) return { client, subscription, counts };
    await subscription.close();
  }
  throw new Error(`no listen stream on node B in ${ATTEMPTS} tries`);
}

await run('typescript clients through the balancer (sdk 1.32 sessions, sdk 2.4 2026-07-28)', async () => {
  const session = await sessionOnB();
  check(/^b-[0-9a-f]{32}$/.test(session.transport.sessionId), 'the session id carries node B\'s tag',
    session.transport.sessionId);
  let pinned = true;
  for (let i = 0; i < 8; i += 1) {
    const echoed = await session.client.callTool({ name: 'echo', arguments: { text: `n${i}` } });
    pinned &&= echoed.content?.[0]?.text === `n${i}`;
  }
  check(pinned, 'eight calls through the balancer all reach the session\'s node', pinned);
  await eventually('the GET stream', () => (session.gets.includes(200) ? true : undefined), 10000);

  const modern = await listenOnB();
  check(modern.subscription.honoredFilter?.toolsListChanged === true, 'a listen stream on node B');
  let answered = true;
  for (let i = 0; i < 6; i += 1) {
    const echoed = await modern.client.callTool({ name: 'echo', arguments: { text: `m${i}` } });
    answered &&= echoed.content?.[0]?.text === `m${i}`;
  }
  check(answered, 'stateless calls through the balancer are answered by either node', answered);

  await announceOnA('tools');
  await announceOnA('prompts');
  await eventually('the fence on the GET stream', () => (session.counts.prompts ? true : undefined), 10000);
  await eventually('the fence on the listen stream', () => (modern.counts.prompts ? true : undefined), 10000);
  check(session.counts.tools === 1, 'node A\'s list_changed reaches the GET stream on node B exactly once',
    session.counts);
  check(modern.counts.tools === 1, 'node A\'s list_changed reaches the listen stream on node B exactly once',
    modern.counts);

  await modern.subscription.close();
  await modern.client.close();
  await session.transport.terminateSession();
  await session.client.close();
});
