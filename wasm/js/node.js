// A node:http server in front of a fetch handler, for Node >= 20 (Deno and Bun serve fetch
// handlers natively: `Deno.serve(mcp.fetch)`, `Bun.serve({ fetch: mcp.fetch })`).
//
// It keeps the handler's backpressure: a response body is read only as fast as the socket
// drains, and a client that goes away cancels the body, which the engine sees as a closed
// exchange.

import { createServer } from 'node:http';
import { Readable } from 'node:stream';

/**
 * Serves `handler` (anything with `fetch(Request): Promise<Response>`) on `hostname:port`.
 * @param {{ fetch(request: Request): Promise<Response> }} handler
 * @param {{ port?: number, hostname?: string }} [options]
 * @returns {Promise<import('./node.d.ts').NodeServer>}
 */
export async function serve(handler, { port = 0, hostname = '127.0.0.1' } = {}) {
  const sockets = new Set();
  const server = createServer((req, res) => {
    bridge(handler, req, res).catch((error) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: `Internal error: ${error?.message ?? error}` } }));
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostname, resolve);
  });
  const address = server.address();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    /** Stops accepting, and closes every connection still open. */
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

async function bridge(handler, req, res) {
  // Listen before anything is awaited: a client may leave while the handler is still working.
  let gone = false;
  res.on('close', () => {
    gone = !res.writableFinished;
  });
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url}`, {
    method,
    headers,
    body: hasBody ? Readable.toWeb(req) : undefined,
    duplex: hasBody ? 'half' : undefined,
  });
  const response = await handler.fetch(request);
  if (gone) {
    // Nobody will read it: cancelling tells the engine (a stream stays resumable).
    await response.body?.cancel().catch(() => {});
    return;
  }
  const outHeaders = {};
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') outHeaders[name] = value;
  }
  const cookies = response.headers.getSetCookie?.() ?? [];
  if (cookies.length > 0) outHeaders['set-cookie'] = cookies;
  // A request whose body was not read to its end (refused as too large) leaves bytes on the
  // connection that no parser will skip: close it after this response.
  if (hasBody && !req.complete) outHeaders.connection = 'close';
  res.writeHead(response.status, outHeaders);
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  // The client went away: cancel the body, which tells the engine.
  const onClose = () => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.on('close', onClose);
  if (res.destroyed) onClose();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // SSE must reach the client as it is produced: write each piece, and wait for the socket
      // when it is full rather than buffer in memory.
      if (!res.write(value)) await drained(res);
      if (res.destroyed) return;
    }
    res.end();
  } catch {
    // The engine broke the response off (a reader too slow, or shutdown): so does the socket.
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
}

/** Resolves when `res` can take more, or is closed. */
function drained(res) {
  return new Promise((resolve) => {
    if (res.destroyed || res.writableEnded) {
      resolve();
      return;
    }
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
