// Raw MCP over HTTP for the matrix, in both protocol eras, with whatever credentials a case
// needs (none, a bad one, two, one in the query). One connection per request, closed after it
// (no pool), so that the server's connection gauges are exact between cases.

import { request } from 'node:http';

/** One HTTP exchange: `{ status, headers, text }`; at most 30 s. */
export function http(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, connection: 'close' }, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.end(body);
  });
}

/** The JSON-RPC message answering `id` in a JSON or SSE body, if any. */
export function answer(response, id) {
  const texts = (response.headers['content-type'] ?? '').startsWith('text/event-stream')
    ? response.text.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5))
    : [response.text];
  for (const text of texts) {
    try {
      const message = JSON.parse(text);
      if (message.id === id) return message;
    } catch {
      // not JSON: not the answer
    }
  }
  return undefined;
}

export const SESSIONS = '2025-11-25';
export const MODERN = '2026-07-28';
export const ERAS = [SESSIONS, MODERN];

const ACCEPT = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** `Authorization` for a token (or for each of several), none for `undefined`. */
export function bearer(token) {
  if (token === undefined) return {};
  return { authorization: Array.isArray(token) ? token.map((t) => `Bearer ${t}`) : `Bearer ${token}` };
}

/** `initialize` with `token`: `{ response, session }` (session undefined unless 200). */
export async function initialize(url, token, { query = '' } = {}) {
  const response = await http('POST', url + query, {
    headers: { ...ACCEPT, ...bearer(token) },
    body: JSON.stringify({
      jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: SESSIONS, capabilities: {}, clientInfo: { name: 'mcpwire-auth', version: '1' } },
    }),
  });
  const session = response.status === 200 ? response.headers['mcp-session-id'] : undefined;
  if (session) {
    const initialized = await http('POST', url, {
      headers: { ...ACCEPT, ...bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': SESSIONS },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    if (initialized.status !== 202) throw new Error(`notifications/initialized: ${initialized.status}`);
  }
  return { response, session };
}

/** Ends a session (DELETE) with `token`: its status. */
export async function close(url, session, token) {
  const response = await http('DELETE', url, {
    headers: { ...bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': SESSIONS },
  });
  return response.status;
}

let nextId = 1;

/**
 * `tools/call` of `tool` with `token`: on `session` (2025-11-25) or stateless (2026-07-28, when
 * `session` is `MODERN`). `{ response, message, text }`, where text is the first content's.
 */
export async function callTool(url, session, token, tool, args = {}, { query = '' } = {}) {
  const id = nextId++;
  const params = { name: tool, arguments: args };
  let headers = { ...ACCEPT, ...bearer(token) };
  if (session === MODERN) {
    params._meta = {
      'io.modelcontextprotocol/protocolVersion': MODERN,
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': { name: 'mcpwire-auth', version: '1' },
    };
    headers = { ...headers, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': tool };
  } else {
    headers = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': SESSIONS };
  }
  const response = await http('POST', url + query, {
    headers, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }),
  });
  const message = answer(response, id);
  return { response, message, text: message?.result?.content?.[0]?.text };
}

/**
 * Runs `body(session)` in `era`: on a session opened with `token` and closed after (2025-11-25),
 * or with `MODERN` (2026-07-28). Throws if the session cannot be opened.
 */
export async function inEra(url, era, token, body) {
  if (era === MODERN) return body(MODERN);
  const { response, session } = await initialize(url, token);
  if (!session) throw new Error(`initialize: ${response.status} ${response.headers['www-authenticate'] ?? ''} ${response.text}`);
  try {
    return await body(session);
  } finally {
    await close(url, session, token);
  }
}

/** The server's /metrics, as `{ name: value }` (labels kept in the name). */
export async function metrics(metricsUrl) {
  const { text } = await http('GET', metricsUrl);
  return Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const at = l.lastIndexOf(' ');
    return [l.slice(0, at), Number(l.slice(at + 1))];
  }));
}
