// An ES-module worker for Cloudflare Workers (workerd): the demo tools over MCP at /mcp, in
// both protocol eras, and the handler's live stats at /stats.
//
// 2026-07-28 is the era that suits Workers: each request carries all it needs, so any isolate
// can answer it. A listen stream and the broadcast that feeds it must meet in one isolate, and
// input-required state opens in any isolate that holds the same key (the MCP_STATE_KEY secret).
// The session era works within one isolate only, best-effort: a session lives in the isolate
// that created it and ends when the runtime evicts that isolate; deploy it where one isolate
// serves a client (a Durable Object), or speak 2026-07-28.
//
// Run it locally: npx workerd serve examples/worker/config.capnp (from wasm/, after npm run build).

import wasm from '../../pkg/mcpwire_wasm_bg.wasm';
import { createMcpHandler } from '../../js/index.js';
import { demoOptions } from '../demo.js';

/** One handler per isolate, made by the first request: Workers allow no randomness at startup. */
let handler;
let mcp;

function mcpHandler(env) {
  handler ??= createMcpHandler({
    ...demoOptions(() => mcp),
    wasm,
    // Shared by every isolate, so that an input-required retry may land anywhere. Without it,
    // each isolate draws its own key and a retry on another isolate starts the call over.
    stateKey: env.MCP_STATE_KEY || undefined,
    // The keepalive on idle streams (15 s by default); also how soon a vanished client is noticed.
    timeouts: env.MCP_KEEPALIVE_MS ? { keepaliveMs: Number(env.MCP_KEEPALIVE_MS) } : undefined,
    // A worker's URL is its own: every origin and host it is reached by is the deployer's to
    // list; locally, the defaults (loopback) hold.
  }).then((created) => {
    mcp = created;
    return created;
  });
  return handler;
}

export default {
  async fetch(request, env, context) {
    const server = await mcpHandler(env);
    if (new URL(request.url).pathname === '/stats') return Response.json(server.stats());
    // The execution context: handlers this request starts are kept alive (waitUntil) even
    // if its client leaves first.
    return server.fetch(request, env, context);
  },
};
