// The TypeScript SDK's deprecated SSEClientTransport (the 2024-11-05 HTTP+SSE transport)
// against a running `mcpwire serve`: it opens /sse, posts to the endpoint it is given, and
// calls tools.
//
// Usage: node ts_legacy_client.mjs http://127.0.0.1:PORT/sse

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { check, run } from './checks.mjs';

const url = new URL(process.argv[2]);

/** Every POST the transport made: its URL and status. */
const posts = [];
/** The text of the SSE stream, as it came off the wire. */
let wire = '';

async function recordingFetch(input, init = {}) {
  const response = await fetch(input, init);
  if ((init.method ?? 'GET') === 'POST') {
    posts.push({ url: String(input), status: response.status });
    return response;
  }
  if (!response.body) return response;
  const [forClient, forTest] = response.body.tee();
  (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of forTest) wire += decoder.decode(chunk, { stream: true });
  })().catch(() => {});
  return new Response(forClient, { status: response.status, headers: response.headers });
}

await run('typescript client (sdk 1.32, legacy HTTP+SSE)', async () => {
  const transport = new SSEClientTransport(url, { fetch: recordingFetch });
  const client = new Client({ name: 'mcpwire-interop-legacy', version: '1.0.0' });
  await client.connect(transport);
  check(client.getServerVersion()?.name === 'mcpwire', 'initialize over /sse names the server', client.getServerVersion());
  check(posts.length > 0 && posts.every((p) => new URL(p.url).pathname === '/messages' && new URL(p.url).searchParams.has('sessionId')),
    'messages go to the endpoint the server announced', posts);
  check(posts.every((p) => p.status === 202), 'every POST is accepted with 202', posts);

  const { tools } = await client.listTools();
  check(tools.some((t) => t.name === 'echo'), 'tools/list has echo', tools.map((t) => t.name));
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'over the legacy transport' } });
  check(echo.content?.[0]?.text === 'over the legacy transport', 'echo answers on the SSE stream', echo);

  const progress = [];
  const slept = await client.callTool({ name: 'sleep', arguments: { millis: 300 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  check(slept.content?.[0]?.text === 'slept 300 ms', 'sleep answers', slept);
  // The SDK hands notifications to a microtask but responses to the caller at once, so a
  // progress notification that shares a chunk with the result can be dropped by the client;
  // the order on the wire is what the server controls.
  const order = [...wire.matchAll(/"progress":(\d)|"text":"slept 300 ms"/g)].map((m) => m[1] ?? 'result');
  check(order.join() === '1,2,3,result', 'on the wire, three progress notifications precede the result', order);
  check(progress.length >= 1 && progress.every((p, i) => p === i + 1), 'the client saw increasing progress', progress);
  try {
    await client.callTool({ name: 'no_such_tool', arguments: {} });
    check(false, 'an unknown tool is a JSON-RPC error', 'no error');
  } catch (error) {
    check(error.code === -32602, 'an unknown tool is a JSON-RPC error -32602', error.code);
  }
  await client.close();
});
