// What the tests share: starting node-server.mjs, raw MCP requests, and waiting.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
export const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
};

/** Starts examples/node-server.mjs on a free port; resolves with its URL and a stop(). */
export async function startNodeServer() {
  const script = fileURLToPath(new URL('../examples/node-server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = /listening on (http:\/\/[^/\s]+)/.exec(out);
      if (found) resolve(found[1]);
    });
    child.once('exit', (code) => reject(new Error(`node-server exited with ${code}: ${out}`)));
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code;
    },
  };
}

/** POSTs one JSON-RPC message to a handler (`mcp.fetch`) or a URL. */
export function post(target, body, session, extra = {}) {
  const headers = { ...HEADERS, ...extra };
  if (session) {
    headers['mcp-session-id'] = session;
    headers['mcp-protocol-version'] = '2025-11-25';
  }
  const request = new Request(typeof target === 'string' ? target : 'http://127.0.0.1:8787/mcp', {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return typeof target === 'string' ? fetch(request) : target.fetch(request);
}

/** Initializes a session on a handler; resolves with its id. */
export async function openSession(mcp, capabilities = {}) {
  const init = { ...INIT, params: { ...INIT.params, capabilities } };
  const response = await post(mcp, init);
  await response.text();
  const session = response.headers.get('mcp-session-id');
  await (await post(mcp, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text();
  return session;
}

/** The JSON-RPC messages in an SSE body. */
export function sseMessages(text) {
  return text
    .split('\n\n')
    .map((event) => event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter((data) => data.length > 0)
    .map((data) => JSON.parse(data));
}

/** Resolves once `poll()` is truthy; rejects after `ms`. */
export async function until(what, poll, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!poll()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
