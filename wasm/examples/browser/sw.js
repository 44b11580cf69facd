// A Service Worker that is an MCP server: the mcpwire engine in WebAssembly answers every
// request for ./mcp under this worker's scope, without any network.

import { createMcpHandler } from '../../js/index.js';
import { demoOptions } from '../demo.js';

const endpoint = new URL('./mcp', self.registration.scope).pathname;
let mcp;
const ready = createMcpHandler({
  ...demoOptions(() => mcp),
  endpoint,
  legacy: false,
}).then((handler) => {
  mcp = handler;
  return handler;
});

self.addEventListener('install', (event) => {
  event.waitUntil(ready.then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin === self.location.origin && url.pathname === endpoint) {
    event.respondWith(ready.then((handler) => handler.fetch(event.request)));
  }
});
