// mcpwire in any runtime with fetch-style Request/Response and WebAssembly: Node >= 20, Deno,
// Bun, Workers-style edge runtimes, browsers (a Service Worker), all through one function:
//
//   const mcp = await createMcpHandler({ name, version, tools, resources, prompts });
//   const response = await mcp.fetch(request);
//
// The transport (sessions, SSE streams, resumption, timeouts, limits) is the wasm engine's;
// this module only moves requests, responses, events and the time between it and the host,
// and runs the application's tools, resources and prompts.

import initWasm, { Engine, OutputKind } from '../pkg/mcpwire_wasm.js';
import { Application, InputRequest, InputRequired, McpError } from './application.js';
import { engineAuthOptions, InvalidToken, Verifier } from './auth.js';

export { InputRequest, InputRequired, InvalidToken, McpError };

/** Loads and instantiates the .wasm once per realm. */
let loading;
async function loadWasm(source) {
  if (source !== undefined) return initWasm({ module_or_path: source });
  if (!loading) {
    const url = new URL('../pkg/mcpwire_wasm_bg.wasm', import.meta.url);
    loading = (async () => {
      if (url.protocol === 'file:') {
        // Node, Deno and Bun: fetch() cannot read files everywhere, the file system can.
        const { readFile } = await import('node:fs/promises');
        return initWasm({ module_or_path: await readFile(url) });
      }
      return initWasm({ module_or_path: url });
    })();
  }
  return loading;
}

const now = () => performance.now();
const MAX_TIMER_MS = 2 ** 31 - 1;
const entropy = () => crypto.getRandomValues(new Uint8Array(32));

/**
 * Creates an MCP server as a fetch handler. See `index.d.ts` for the options.
 * @param {import('./index.d.ts').McpHandlerOptions} options
 * @returns {Promise<import('./index.d.ts').McpHandler>}
 */
export async function createMcpHandler(options) {
  await loadWasm(options.wasm);
  return new Handler(options);
}

/** One response being produced: the exchange id's state on this side. */
class PendingResponse {
  constructor(resolve, reject) {
    this.resolve = resolve;
    this.reject = reject;
    /** The ReadableStream controller, once the head has gone out as a streaming response. */
    this.controller = undefined;
    this.status = 0;
    this.headers = undefined;
    /** Body pieces taken before the response goes out (all of it, for a complete one). */
    this.chunks = [];
    /** With timers per response: its part in keeping the engine's time (`#joinTime`). */
    this.time = undefined;
  }
}

/** One live thing's part in keeping the engine's time, with timers per response. */
class TimeParticipant {
  constructor() {
    /** Its own timer (armed from its own request), and the deadline it is for when it keeps time. */
    this.timer = undefined;
    this.timerAt = undefined;
    /** Ends its wait early. */
    this.wake = undefined;
  }
}

/**
 * Whether time must be kept per response: Workers (workerd) drop a request's timers when the
 * request ends, cannot clear a timer another request armed, and cancel as hung a request
 * with nothing pending of its own. See `#keepTime`.
 */
const TIMERS_DIE_WITH_THEIR_REQUEST = globalThis.navigator?.userAgent === 'Cloudflare-Workers';

class Handler {
  #engine;
  #app;
  /** Runs `auth.verify`, when the handler is a protected resource. */
  #verifier = undefined;
  /** exchange id -> PendingResponse */
  #responses = new Map();
  #timer = undefined;
  #timerAt = undefined;
  #closed = false;
  #drained = undefined;
  #maxBodyBytes;
  #timersPerResponse;
  /**
   * With timers per response: everything live that keeps the engine's time or waits to (live
   * responses, and handlers started under a waitUntil), and the one that keeps it now.
   */
  #timeParticipants = new Set();
  #timeKeeper = undefined;
  /** While a request's fetch runs: its host's waitUntil, for the handlers it starts. */
  #waitUntil = undefined;

  constructor(options) {
    // Runtimes take the method itself: `Deno.serve(mcp.fetch)`, `{ fetch: mcp.fetch }`.
    this.fetch = this.fetch.bind(this);
    this.#app = new Application(options, this);
    const engineOptions = {
      serverName: options.name,
      serverVersion: options.version,
      serverTitle: options.title,
      instructions: options.instructions,
      capabilities: this.#app.capabilities(),
      endpoint: options.endpoint,
      legacy: options.legacy,
      responseMode: options.responseMode,
      allowedOrigins: options.allowedOrigins,
      allowedHosts: options.allowedHosts,
      sessionBinding: options.sessionBinding,
      auth: engineAuthOptions(options.auth),
      timeouts: options.timeouts,
      limits: options.limits,
    };
    this.#maxBodyBytes = options.limits?.maxBodyBytes ?? 4 * 1024 * 1024;
    this.#timersPerResponse = options.timersPerResponse ?? TIMERS_DIE_WITH_THEIR_REQUEST;
    this.#engine = new Engine(JSON.stringify(engineOptions), now(), entropy());
    if (options.auth !== undefined) this.#verifier = new Verifier(options.auth.verify, this);
    // Without a shared key, a fresh one: input-required states then open only on this
    // handler, and not after a restart (a retry elsewhere is refused with -32602).
    this.#engine.setStateKey(options.stateKey === undefined ? entropy() : stateKey(options.stateKey));
  }

  // ---- The host's side ----

  /**
   * Answers one HTTP request. `context` is the Workers execution context (`fetch(request,
   * env, ctx)`), when there is one: the handlers a request starts are kept alive with its
   * `waitUntil`, so that a client that leaves does not take a running handler with it.
   */
  async fetch(request, _env, context) {
    if (this.#engine === undefined) return shutDown();
    const url = new URL(request.url);
    // `name\0value\0...`: one string crosses into the engine faster than an array of them.
    // A fetch Request keeps the authority in its URL, not in a Host header.
    let headers = `host\0${url.host}\0`;
    for (const [name, value] of request.headers) {
      if (name !== 'host') headers += `${name}\0${value}\0`;
    }
    const body = await readBody(request, this.#maxBodyBytes);
    // The engine itself answers 503 during the grace period; only once it is gone do we.
    if (this.#engine === undefined) return shutDown();
    if (this.#timersPerResponse) {
      // Time passes for the engine only while some request is live: what fell due while the
      // host was idle is handled before this request is.
      const due = this.#engine.pollTimeout();
      if (due !== undefined && due <= now()) this.#engine.handleTimeout(now());
    }
    let exchange;
    try {
      exchange = this.#engine.handleRequest(now(), request.method, url.pathname + url.search, headers, body);
    } catch (error) {
      return badRequest(error);
    }
    let pending;
    const response = new Promise((resolve, reject) => {
      pending = new PendingResponse(resolve, reject);
      this.#responses.set(exchange, pending);
    });
    this.#waitUntil = typeof context?.waitUntil === 'function' ? (work) => context.waitUntil(work) : undefined;
    try {
      this.#pump();
    } finally {
      this.#waitUntil = undefined;
    }
    // Here, in this request's own context, which the host keeps while the response lasts.
    if (this.#timersPerResponse && this.#responses.get(exchange) === pending) pending.time = this.#joinTime();
    return response;
  }

  /** `notifications/<method>` to every initialized session; returns how many. */
  broadcast(method, params) {
    const json = params === undefined ? undefined : JSON.stringify(params);
    return this.command((engine, at) => engine.broadcast(at, method, json));
  }

  /** `notifications/resources/updated` to the sessions subscribed to `uri`; returns how many. */
  resourceUpdated(uri) {
    return this.command((engine, at) => engine.resourceUpdated(at, uri));
  }

  toolsListChanged() {
    return this.broadcast('notifications/tools/list_changed');
  }

  resourcesListChanged() {
    return this.broadcast('notifications/resources/list_changed');
  }

  promptsListChanged() {
    return this.broadcast('notifications/prompts/list_changed');
  }

  /** Ends a session, as if it had expired. */
  closeSession(sessionId) {
    this.command((engine, at) => engine.closeSession(at, sessionId));
  }

  /** Live entities and totals. */
  stats() {
    // After close() the engine is gone; what it last reported stands.
    const stats = this.#engine === undefined ? { ...this.#finalStats } : JSON.parse(this.#engine.stats());
    stats.handlers = this.#app.running;
    stats.handlersCancelled = this.#app.cancelled;
    stats.verifications = this.#verifier?.running ?? 0;
    stats.responses = this.#responses.size;
    return stats;
  }

  /** Throws if any of the engine's indexes disagree. */
  checkInvariants() {
    this.#engine?.checkInvariants();
  }

  #finalStats = undefined;

  /**
   * Shuts down gracefully: new work gets 503; calls in flight get `graceMs`; GET streams end
   * with a retry hint. Resolves once nothing is left; the engine is then freed.
   */
  close({ graceMs = 5000 } = {}) {
    if (!this.#drained) {
      this.#closed = true;
      this.#drained = new Promise((resolve) => {
        this.#onDrained = resolve;
      });
      this.#engine.beginShutdown(now(), graceMs);
      this.#pump();
    }
    return this.#drained;
  }

  #onDrained = undefined;

  // ---- The application's side (used by Application) ----

  /** Runs an engine command, then moves whatever it produced. */
  command(run) {
    if (this.#engine === undefined) throw new Error('shutting_down: the server has shut down');
    try {
      return run(this.#engine, now());
    } finally {
      this.#schedulePump();
    }
  }

  /** Reads from the engine; nothing to move afterwards. */
  query(read) {
    if (this.#engine === undefined) return undefined;
    return read(this.#engine);
  }

  // ---- Moving things between the engine and the host ----

  #pumpQueued = false;

  /** Pumps after the current task, once, however many commands ran. */
  #schedulePump() {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #pump() {
    if (this.#engine === undefined) return;
    const engine = this.#engine;
    for (;;) {
      const event = engine.pollEvent();
      if (event === undefined) break;
      try {
        const parsed = JSON.parse(event);
        if (this.#verifier?.dispatch(parsed) !== true) this.#app.dispatch(parsed);
      } catch (error) {
        // An application bug must not stop the transport: the rest still moves.
        console.error('mcpwire: an application handler threw', error);
      }
    }
    for (const exchange of engine.exchangesWithOutput()) {
      this.#drainExchange(exchange);
    }
    // Handlers still running were cancelled (their signal aborted); what they send from now
    // on is refused as `shutting_down`.
    if (this.#finishIfDrained()) return;
    this.#armTimer();
  }

  /** Moves `exchange`'s output while its consumer wants more. */
  #drainExchange(exchange) {
    const pending = this.#responses.get(exchange);
    if (pending === undefined) return;
    const engine = this.#engine;
    for (;;) {
      // A full consumer leaves output in the engine, except during shutdown, whose deadline
      // must end every response whether or not it is read.
      if (pending.controller !== undefined && pending.controller.desiredSize <= 0 && !this.#closed) return;
      const kind = engine.pollExchangeOutput(exchange);
      if (kind === undefined) {
        if (pending.controller === undefined && pending.headers !== undefined) {
          this.#startStream(exchange, pending);
        }
        return;
      }
      switch (kind) {
        case OutputKind.Head:
          pending.status = engine.outputStatus();
          pending.headers = pairs(engine.outputHeaders());
          break;
        case OutputKind.Body:
          if (pending.controller !== undefined) pending.controller.enqueue(engine.outputBody());
          else pending.chunks.push(engine.outputBody());
          break;
        case OutputKind.End:
          this.#forget(exchange, pending);
          if (pending.controller !== undefined) pending.controller.close();
          else this.#resolveComplete(pending);
          return;
        case OutputKind.Aborted:
          this.#forget(exchange, pending);
          if (pending.controller !== undefined) pending.controller.error(new Error('mcpwire: response aborted'));
          else pending.reject(new Error('mcpwire: response aborted'));
          return;
      }
    }
  }

  /** The whole response arrived at once: answer with its bytes and their length. */
  #resolveComplete(pending) {
    const body = concat(pending.chunks);
    const noBody = pending.status === 204 || pending.status === 304;
    if (!noBody) pending.headers.push(['content-length', String(body.length)]);
    pending.resolve(new Response(noBody ? null : body, { status: pending.status, headers: pending.headers }));
  }

  /** The head arrived and the body is still coming: answer with a stream. */
  #startStream(exchange, pending) {
    const chunks = pending.chunks;
    pending.chunks = undefined;
    const body = new ReadableStream(
      {
        start: (controller) => {
          pending.controller = controller;
          for (const chunk of chunks) controller.enqueue(chunk);
        },
        pull: () => {
          if (this.#engine === undefined) return;
          this.#drainExchange(exchange);
          // Not inline: pull can run inside a pump's enqueue, which must not see the engine
          // freed under it. The next pump delivers what this read made possible (a handler
          // waiting for room on this stream is told it may go on) and finishes a shutdown
          // this read completed.
          this.#schedulePump();
        },
        cancel: () => {
          if (this.#forget(exchange, pending)) {
            this.#engine?.handleExchangeClosed(now(), exchange);
            this.#pump();
          }
        },
      },
      // Pull one piece at a time: output waits in the engine, which bounds it and cuts a
      // consumer that falls too far behind.
      { highWaterMark: 1 },
    );
    pending.resolve(new Response(body, { status: pending.status, headers: pending.headers }));
  }

  /** `exchange`'s response is done with: forgets it, and hands on the time it kept. Returns whether it was live. */
  #forget(exchange, pending) {
    const live = this.#responses.delete(exchange);
    if (live && pending.time !== undefined) this.#leaveTime(pending.time);
    return live;
  }

  /**
   * With timers per response (Workers): a participant in keeping time, for as long as it stays
   * joined (a live response, or a handler started under a waitUntil), called from the code of
   * the request it belongs to, where its loop (`#keepTime`) then runs. One participant at a time keeps the engine's timer, armed from its own
   * request; every other waits on a timer of its own too, set far out, since a request with
   * nothing pending is cancelled as hung. A wait ends early when it is woken: the keeper when
   * a deadline moves earlier (`#armTimer`), every other when the keeper leaves
   * (`#handOverTime`), so that one of them takes over. Woken continuations run in their own
   * requests, where they clear their own timers. Each deadline costs one wakeup, whatever the
   * number of streams; a hand-over costs one per participant.
   */
  #joinTime() {
    const participant = new TimeParticipant();
    this.#timeParticipants.add(participant);
    this.#keepTime(participant);
    return participant;
  }

  async #keepTime(participant) {
    try {
      while (this.#engine !== undefined && this.#timeParticipants.has(participant)) {
        this.#timeKeeper ??= participant;
        const keeping = this.#timeKeeper === participant;
        const deadline = keeping ? this.#engine.pollTimeout() : undefined;
        participant.timerAt = deadline;
        const wait = deadline === undefined ? MAX_TIMER_MS : Math.min(MAX_TIMER_MS, Math.max(0, deadline - now()));
        const due = await new Promise((resolve) => {
          participant.wake = () => resolve(false);
          participant.timer = setTimeout(resolve, wait, true);
        });
        clearTimeout(participant.timer);
        participant.timer = undefined;
        participant.wake = undefined;
        if (due && keeping && this.#engine !== undefined && this.#timeKeeper === participant) {
          this.#engine.handleTimeout(now());
          this.#pump();
        }
      }
    } finally {
      this.#leaveTime(participant);
    }
  }

  /** `participant` is done: it stops waiting, and hands on the time if it kept it. */
  #leaveTime(participant) {
    if (!this.#timeParticipants.delete(participant)) return;
    participant.wake?.();
    if (this.#timeKeeper === participant) this.#handOverTime();
  }

  /** The keeper of the engine's time left: every participant is woken; the first takes over. */
  #handOverTime() {
    this.#timeKeeper = undefined;
    for (const other of this.#timeParticipants) other.wake?.();
  }

  /** Whether the application should report the handlers it starts (`handlerStarted`). */
  get waitsForHandlers() {
    return this.#waitUntil !== undefined;
  }

  /**
   * A handler started while answering the current request: work its host should wait for.
   * With timers per response it also keeps time while it runs, from its own request: after
   * its client left it may be all that is live, waiting on another request (the client's
   * answer), and a request with nothing pending of its own is cancelled as hung.
   */
  handlerStarted(work) {
    if (this.#waitUntil === undefined) return;
    this.#waitUntil(work);
    if (!this.#timersPerResponse) return;
    const time = this.#joinTime();
    work.finally(() => this.#leaveTime(time)).catch(() => {});
  }

  #finishIfDrained() {
    if (!this.#closed || !this.#engine.isDrained()) return false;
    this.#finish();
    return true;
  }

  #armTimer() {
    if (this.#timersPerResponse) {
      // The keeper's timer is for a later deadline than the engine's now: it re-arms.
      const keeper = this.#timeKeeper;
      const deadline = keeper === undefined ? undefined : this.#engine.pollTimeout();
      if (deadline !== undefined && (keeper.timerAt === undefined || deadline < keeper.timerAt)) keeper.wake?.();
      return;
    }
    const deadline = this.#engine.pollTimeout();
    if (deadline === undefined && this.#timerAt === undefined) return;
    // A timer due no later than the new deadline stays: firing early is harmless (the engine
    // has nothing due and the timer is armed again), and most requests move the deadline
    // later, which would otherwise cost a clearTimeout and a setTimeout each. An overdue one
    // is replaced: a host may have dropped it with the request that armed it (workerd).
    if (deadline !== undefined && this.#timerAt !== undefined && this.#timerAt <= deadline && this.#timerAt >= now()) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = undefined;
    if (deadline === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      if (this.#engine === undefined) return;
      this.#engine.handleTimeout(now());
      this.#pump();
      // setTimeout fires at once past 2^31-1 ms; a far deadline is re-armed on the way.
    }, Math.min(MAX_TIMER_MS, Math.max(0, deadline - now())));
  }

  #finish() {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // Time-keeping waits end when woken (each request clears its own timer).
    for (const participant of this.#timeParticipants) participant.wake?.();
    this.#timeParticipants.clear();
    for (const pending of this.#responses.values()) {
      if (pending.controller !== undefined) pending.controller.error(new Error('mcpwire: shut down'));
      else pending.reject(new Error('mcpwire: shut down'));
    }
    this.#responses.clear();
    // The engine cancelled every verification as it shut down; nothing of them outlives it.
    this.#verifier?.cancelAll();
    this.#finalStats = JSON.parse(this.#engine.stats());
    this.#engine.free();
    this.#engine = undefined;
    this.#onDrained?.();
  }
}

/** The `stateKey` option as 32 bytes: bytes as they are, or a string of 64 hex digits. */
function stateKey(key) {
  if (typeof key === 'string') {
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new TypeError('stateKey: a string key must be 64 hex digits (32 bytes)');
    return Uint8Array.from(key.match(/../g), (byte) => parseInt(byte, 16));
  }
  let bytes;
  if (ArrayBuffer.isView(key)) bytes = new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
  else if (Object.prototype.toString.call(key) === '[object ArrayBuffer]') bytes = new Uint8Array(key);
  else throw new TypeError(`stateKey: 32 bytes (an ArrayBuffer or a view) or 64 hex digits, not ${typeof key}`);
  if (bytes.length !== 32) throw new TypeError(`stateKey: 32 bytes, not ${bytes.length}`);
  return bytes;
}

/** `name\0value\0...` as [name, value] pairs. */
function pairs(block) {
  const fields = block.split('\0');
  const out = [];
  for (let i = 0; i + 1 < fields.length; i += 2) out.push([fields[i], fields[i + 1]]);
  return out;
}

function concat(chunks) {
  if (chunks.length === 1) return chunks[0];
  if (chunks.length === 0) return new Uint8Array(0);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * The request body, read no further than one byte past `limit`: the engine answers a longer
 * body with 413 itself.
 */
async function readBody(request, limit) {
  if (request.body === null) return new Uint8Array(0);
  // Piece by piece, whatever Content-Length says: a Request built in JS may carry a length
  // its body does not keep to, and arrayBuffer() would read all of it.
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  try {
    while (total <= limit) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } finally {
    if (total > limit) reader.cancel().catch(() => {});
    else reader.releaseLock();
  }
  const body = concat(chunks);
  return total > limit ? body.subarray(0, limit + 1) : body;
}

function shutDown() {
  return new Response(
    JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Service Unavailable: shut down' } }),
    { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '1' } },
  );
}

/** A request the engine could not even take (fetch lets nearly nothing through to here). */
function badRequest(error) {
  const message = String(error?.message ?? error);
  return new Response(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: `Bad Request: ${message}` } }), {
    status: 400,
    headers: { 'content-type': 'application/json' },
  });
}
