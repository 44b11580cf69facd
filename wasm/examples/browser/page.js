// The page: a minimal MCP client over fetch, talking to the Service Worker's server.

const endpoint = new URL('./mcp', location.href).href;
const $ = (id) => document.getElementById(id);
let session;

async function controlled() {
  await navigator.serviceWorker.register('./sw.js', { type: 'module' });
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
}

async function rpc(message) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (session) {
    headers['mcp-session-id'] = session;
    headers['mcp-protocol-version'] = '2025-11-25';
  }
  return fetch(endpoint, { method: 'POST', headers, body: JSON.stringify(message) });
}

/** Yields the JSON-RPC messages of an SSE response as they arrive. */
async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

async function connect() {
  await controlled();
  const init = await rpc({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'browser-example', version: '1' } },
  });
  const result = await init.json();
  session = init.headers.get('mcp-session-id');
  await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' });
  $('status').textContent = `connected to ${result.result.serverInfo.name} (session ${session.slice(0, 8)}…)`;
  $('call').disabled = false;
}

let nextId = 1;
async function callSleep() {
  $('call').disabled = true;
  $('log').replaceChildren();
  $('result').textContent = '';
  const millis = Number($('millis').value);
  const id = nextId++;
  const response = await rpc({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'sleep', arguments: { millis }, _meta: { progressToken: id } } });
  const messages = response.headers.get('content-type') === 'text/event-stream' ? events(response) : [await response.json()];
  for await (const message of messages) {
    if (message.method === 'notifications/progress') {
      const { progress, total, message: text } = message.params;
      $('progress').max = total;
      $('progress').value = progress;
      const item = document.createElement('li');
      item.textContent = `${progress}/${total} ${text ?? ''}`;
      $('log').append(item);
    } else if (message.id === id) {
      $('result').textContent = message.result?.content?.[0]?.text ?? JSON.stringify(message.error);
    }
  }
  $('call').disabled = false;
}

$('call').addEventListener('click', () => callSleep().catch((e) => ($('status').textContent = String(e))));
connect().catch((e) => ($('status').textContent = `failed: ${e}`));
