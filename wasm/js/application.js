// The application behind the handler: tools, resources, resource templates, prompts and
// completions, answered from the engine's `request` events. Lifecycle methods (initialize,
// ping, logging/setLevel, resources/subscribe) never get here: the engine answers them.

/** A JSON-RPC error to answer with (code, message, optional data). */
export class McpError extends Error {
  constructor(code, message, data) {
    super(message);
    this.name = 'McpError';
    this.code = code;
    this.data = data;
  }
}

/**
 * A request for the client's input (`elicitation/create`, `sampling/createMessage`,
 * `roots/list`): what `context.input` asks, in either era.
 */
export class InputRequest {
  constructor(method, params) {
    this.method = method;
    this.params = params;
  }

  /** `elicitation/create` in form mode; the answer's `action` is `accept` (with `content`), `decline` or `cancel`. */
  static elicit(message, requestedSchema) {
    return new InputRequest('elicitation/create', { message, requestedSchema });
  }

  /** `sampling/createMessage` (`messages`, `maxTokens`, ...). */
  static sample(params) {
    return new InputRequest('sampling/createMessage', params);
  }

  /** `roots/list`. */
  static listRoots() {
    return new InputRequest('roots/list', {});
  }
}

/**
 * Thrown by `context.input` in 2026-07-28, where a request cannot wait for its client: let it
 * propagate. The server answers `input_required`; the client answers and retries the request,
 * and the handler runs again from the start, this time finding the answers.
 */
export class InputRequired extends Error {
  constructor(requests, state) {
    super('input required');
    this.name = 'InputRequired';
    this.requests = requests;
    this.state = state;
  }
}

const METHOD_NOT_FOUND = -32601;
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;
const RESOURCE_NOT_FOUND = -32002;
const HEADER_MISMATCH = -32020;
const MISSING_CLIENT_CAPABILITY = -32021;
const STATELESS_VERSION = '2026-07-28';

/** The client context of a request that has ended. */
const ENDED_REQUEST = Object.freeze({});

const CAPABILITY_OF = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Application {
  #host;
  #tools = new Map();
  #resources = new Map();
  #templates = [];
  #prompts = new Map();
  #complete;
  #onNotification;
  /** session id -> what initialize told us */
  #sessions = new Map();
  /**
   * `${session}:${request}` -> the handler working on it: its AbortController, whether its
   * stream reaches the client, and what it sent that waits for room on the stream, in order.
   */
  #running = new Map();
  /** outbound id -> { resolve, reject, key } */
  #outbound = new Map();

  constructor(options, host) {
    this.#host = host;
    for (const tool of options.tools ?? []) {
      // Only a schema that annotates an argument with `x-mcp-header` needs the header check.
      const schema = tool.inputSchema === undefined ? undefined : JSON.stringify(tool.inputSchema);
      this.#tools.set(tool.name, { ...tool, mirroredSchema: schema?.includes('"x-mcp-header"') ? schema : undefined });
    }
    for (const resource of options.resources ?? []) this.#resources.set(resource.uri, resource);
    this.#templates = (options.resourceTemplates ?? []).map((t) => ({ ...t, match: templateMatcher(t.uriTemplate) }));
    for (const prompt of options.prompts ?? []) this.#prompts.set(prompt.name, prompt);
    this.#complete = options.complete;
    this.#onNotification = options.onNotification;
  }

  /** Handlers running now. */
  get running() {
    return this.#running.size;
  }

  /** Handlers whose signal fired, since the start: the client cancelled, left, or shutdown cut them. */
  cancelled = 0;

  /** The `capabilities` of the initialize result: logging, and what this application offers. */
  capabilities() {
    const capabilities = { logging: {} };
    if (this.#tools.size > 0) capabilities.tools = { listChanged: true };
    if (this.#resources.size > 0 || this.#templates.length > 0) {
      capabilities.resources = { subscribe: true, listChanged: true };
    }
    if (this.#prompts.size > 0) capabilities.prompts = { listChanged: true };
    if (this.#complete) capabilities.completions = {};
    return capabilities;
  }

  /** One engine event. */
  dispatch(event) {
    switch (event.type) {
      case 'sessionOpened':
        this.#sessions.set(event.session, {
          id: event.session,
          protocolVersion: event.protocolVersion,
          clientInfo: event.clientInfo ?? undefined,
          clientCapabilities: event.clientCapabilities ?? undefined,
        });
        break;
      case 'sessionClosed':
        this.#sessions.delete(event.session);
        break;
      case 'request':
        this.#start(event);
        break;
      case 'cancelled': {
        const running = this.#running.get(`${event.session}:${event.request}`);
        if (running === undefined) break;
        const reason = new Error(`cancelled (${event.reason})`);
        running.abort ??= new AbortController();
        if (!running.abort.signal.aborted) this.cancelled += 1;
        running.abort.abort(reason);
        for (const waiting of running.waiting.splice(0)) waiting.reject(reason);
        break;
      }
      case 'writable':
        this.#retry(`${event.session}:${event.request}`);
        break;
      case 'streamDetached':
      case 'streamResumed': {
        const running = this.#running.get(`${event.session}:${event.request}`);
        if (running !== undefined) running.connected = event.type === 'streamResumed';
        break;
      }
      case 'clientResponse':
        this.#settleOutbound(event);
        break;
      case 'notification':
        try {
          this.#onNotification?.(event.method, event.params ?? undefined, this.#sessions.get(event.session));
        } catch (error) {
          console.error('mcpwire: onNotification threw', error);
        }
        break;
      default:
        break;
    }
  }

  #start({ session, request, method, params }) {
    const key = `${session}:${request}`;
    // The AbortController is made when a handler first looks at its signal (or on a
    // cancellation): most handlers never do, and Node's is costly to make.
    const running = { abort: undefined, connected: true, waiting: [], params, client: undefined, answers: undefined, asked: [] };
    this.#running.set(key, running);
    const context = this.#context(session, request, running);
    // Not inline: application code never runs inside the transport's event loop.
    if (this.#host.waitsForHandlers) {
      // A host that ends a request's work with the request (Workers) is told to wait for it.
      this.#host.handlerStarted(Promise.resolve().then(() => this.#run(key, session, request, method, params, context)));
    } else {
      queueMicrotask(() => this.#run(key, session, request, method, params, context));
    }
  }

  async #run(key, session, request, method, params, context) {
    const fail = (error) => {
      const { code, message, data } = errorReply(error);
      return (engine, now) => engine.respondError(now, session, request, code, message, data);
    };
    let reply;
    try {
      // Serializing is part of answering: a result JSON cannot carry is the handler's error.
      const result = serialize(await this.#answer(method, params ?? {}, context));
      reply = (engine, now) => engine.respond(now, session, request, result);
    } catch (error) {
      if (error instanceof InputRequired) {
        try {
          const requests = serialize(error.requests);
          const state = encoder.encode(serialize({ answers: error.state }));
          reply = (engine, now) => engine.respondInputRequired(now, session, request, requests, state);
        } catch (unserializable) {
          reply = fail(unserializable);
        }
      } else {
        reply = fail(error);
      }
    }
    try {
      try {
        await this.#send(key, reply);
      } catch (refused) {
        // A stale handle is normal (the client cancelled or left first), and so is shutdown.
        if (isGone(refused)) return;
        // The engine would not take this answer (an input-required result where none may be,
        // say): the request still gets one, an internal error that says why.
        await this.#send(key, fail(new McpError(INTERNAL_ERROR, `Internal error: ${refused?.message ?? refused}`)));
      }
    } catch (error) {
      if (!isGone(error)) {
        console.error('mcpwire: could not answer a request', error);
      }
    } finally {
      this.#running.delete(key);
    }
  }

  async #answer(method, params, context) {
    switch (method) {
      case 'tools/list':
        return { tools: [...this.#tools.values()].map(describeTool) };
      case 'tools/call':
        return this.#callTool(params, context);
      case 'resources/list':
        return { resources: [...this.#resources.values()].map(describeResource) };
      case 'resources/templates/list':
        return { resourceTemplates: this.#templates.map(describeTemplate) };
      case 'resources/read':
        return this.#readResource(params, context);
      case 'prompts/list':
        return { prompts: [...this.#prompts.values()].map(describePrompt) };
      case 'prompts/get':
        return this.#getPrompt(params, context);
      case 'completion/complete':
        if (!this.#complete) break;
        return { completion: normalizeCompletion(await this.#complete(params, context)) };
      default:
        break;
    }
    throw new McpError(METHOD_NOT_FOUND, `Method not found: ${method}`);
  }

  async #callTool(params, context) {
    const tool = this.#tools.get(params.name);
    if (tool === undefined) throw new McpError(INVALID_PARAMS, `Unknown tool: ${params.name}`);
    const args = params.arguments ?? {};
    if (typeof args !== 'object' || Array.isArray(args)) throw new McpError(INVALID_PARAMS, 'Tool arguments must be an object');
    // Only 2026-07-28 mirrors arguments into Mcp-Param-* headers; a session-era client sends none.
    if (tool.mirroredSchema !== undefined && context.protocolVersion === STATELESS_VERSION) {
      const mismatch = context.headerMismatch(tool.mirroredSchema, params.arguments);
      if (mismatch !== undefined) throw new McpError(HEADER_MISMATCH, mismatch);
    }
    try {
      return normalizeToolResult(await tool.handler(args, context));
    } catch (error) {
      if (error instanceof McpError || error instanceof InputRequired) throw error;
      // A tool's own failure is for the model to see, not a protocol error.
      return { content: [{ type: 'text', text: String(error?.message ?? error) }], isError: true };
    }
  }

  async #readResource(params, context) {
    const uri = params.uri;
    const resource = this.#resources.get(uri);
    if (resource !== undefined) {
      return { contents: normalizeContents(await resource.read(uri, context), uri, resource.mimeType) };
    }
    for (const template of this.#templates) {
      const variables = template.match(uri);
      if (variables !== undefined) {
        return { contents: normalizeContents(await template.read(uri, variables, context), uri, template.mimeType) };
      }
    }
    // SEP-2164 made an unknown resource invalid params (-32602) in 2026-07-28.
    const code = context.protocolVersion === STATELESS_VERSION ? INVALID_PARAMS : RESOURCE_NOT_FOUND;
    throw new McpError(code, `Resource not found: ${uri}`, { uri });
  }

  async #getPrompt(params, context) {
    const prompt = this.#prompts.get(params.name);
    if (prompt === undefined) throw new McpError(INVALID_PARAMS, `Unknown prompt: ${params.name}`);
    const args = params.arguments ?? {};
    for (const argument of prompt.arguments ?? []) {
      if (argument.required && typeof args[argument.name] !== 'string') {
        throw new McpError(INVALID_PARAMS, `Missing required argument: ${argument.name}`);
      }
    }
    const result = await prompt.get(args, context);
    const answer = Array.isArray(result) ? { messages: result } : result;
    if (!Array.isArray(answer?.messages)) throw new Error(`prompt ${params.name} returned no messages`);
    return answer;
  }

  /**
   * Sends something for the request `key` now, or, when its stream has no room (the engine
   * refuses with `would_block`), once the engine says it is writable: in the order sent. The
   * promise settles when the engine has taken it.
   */
  #send(key, send) {
    return new Promise((resolve, reject) => {
      const attempt = { send, resolve, reject };
      const running = this.#running.get(key);
      if (running !== undefined && running.waiting.length > 0) running.waiting.push(attempt);
      else if (!this.#attempt(attempt)) running?.waiting.push(attempt);
    });
  }

  /** Tries one send: true when it is done with (taken or refused), false when it must wait. */
  #attempt({ send, resolve, reject }) {
    try {
      resolve(this.#host.command(send));
    } catch (error) {
      if (isRefusal(error, 'would_block')) return false;
      reject(error);
    }
    return true;
  }

  /** The request's stream has room: what waited goes, until something must wait again. */
  #retry(key) {
    const waiting = this.#running.get(key)?.waiting ?? [];
    while (waiting.length > 0 && this.#attempt(waiting[0])) waiting.shift();
  }

  /** What a handler gets: its session, cancellation, and ways to talk to the client. */
  #context(session, request, running) {
    const key = `${session}:${request}`;
    const host = this.#host;
    const ask = (method, params, { timeoutMs } = {}) =>
      this.#requestClient(session, request, method, params, timeoutMs, signalOf(running));
    // What the client declared, read once; a request that already ended (cancelled) has
    // none left to read, and is told so rather than taken for a client that declared nothing.
    const client = () => {
      if (running.client !== undefined) return running.client;
      const json = host.query((engine) => engine.clientContext(session, request));
      if (json === undefined) return ENDED_REQUEST;
      running.client = JSON.parse(json);
      return running.client;
    };
    const input = (requests) => this.#inputs(session, request, running, requests, client());
    const sessions = this.#sessions;
    return {
      get session() {
        const known = sessions.get(session);
        if (known !== undefined) return known;
        const { protocolVersion } = client();
        return protocolVersion === STATELESS_VERSION || protocolVersion === undefined ? undefined : { id: session };
      },
      get signal() {
        return signalOf(running);
      },
      get protocolVersion() {
        return client().protocolVersion;
      },
      get clientInfo() {
        return client().clientInfo ?? undefined;
      },
      get clientCapabilities() {
        return client().clientCapabilities ?? undefined;
      },
      get principal() {
        return client().principal ?? undefined;
      },
      input: async (key, inputRequest) => (await input({ [key]: inputRequest }))[key],
      inputs: input,
      headerMismatch: (schema, args) =>
        host.query((engine) =>
          engine.paramHeaderMismatch(session, request, schema, args === undefined ? undefined : JSON.stringify(args)),
        ),
      get connected() {
        return running.connected;
      },
      progress: (progress, total, message) =>
        this.#send(key, (engine, now) => engine.sendProgress(now, session, request, progress, total, message)).then(
          () => true,
          (error) => {
            if (isRefusal(error, 'no_progress_token') || isGone(error)) {
              return false;
            }
            throw error;
          },
        ),
      log: (level, data, logger) =>
        this.#send(key, (engine, now) => engine.sendLog(now, session, request, level, logger, JSON.stringify(data))).then(
          () => undefined,
          ignoreStale,
        ),
      request: ask,
      createMessage: (params, options) => ask('sampling/createMessage', params, options),
      elicit: (message, requestedSchema, options) =>
        ask('elicitation/create', { message, requestedSchema }, options),
      closeStream: () => {
        host.command((engine, now) => engine.closeRequestStream(now, session, request));
      },
    };
  }

  /**
   * The client's answers to `requests` (`{key: InputRequest}`), as `{key: answer}`. In the
   * session era each is a request to the client, one after the other. In 2026-07-28 they come
   * from the request itself (this round's `inputResponses`, earlier rounds' from the sealed
   * state); what is still missing is asked for by throwing `InputRequired`, whose state keeps
   * the answers to every key asked so far and no other.
   */
  async #inputs(session, request, running, requests, client) {
    const signal = signalOf(running);
    if (signal.aborted) throw signal.reason;
    if (client === ENDED_REQUEST) throw new Error('stale_handle: the request has ended');
    const entries = Object.entries(requests);
    for (const [key, wanted] of entries) {
      if (typeof wanted?.method !== 'string' || !(wanted.method in CAPABILITY_OF)) {
        throw new TypeError(`input ${key}: not an InputRequest (elicitation/create, sampling/createMessage or roots/list)`);
      }
      const capability = CAPABILITY_OF[wanted.method];
      const declared = client.clientCapabilities?.[capability];
      if (declared === undefined || declared === null) {
        throw new McpError(MISSING_CLIENT_CAPABILITY, `Missing required client capability: ${capability}`, {
          requiredCapabilities: { [capability]: {} },
        });
      }
    }
    if (client.protocolVersion !== STATELESS_VERSION) {
      const answers = Object.create(null);
      for (const [key, wanted] of entries) {
        answers[key] = await this.#requestClient(session, request, wanted.method, wanted.params, undefined, signalOf(running));
      }
      return answers;
    }
    running.answers ??= this.#roundAnswers(session, request, running.params);
    for (const [key] of entries) if (!running.asked.includes(key)) running.asked.push(key);
    const answers = Object.create(null);
    const missing = Object.create(null);
    for (const [key, wanted] of entries) {
      const answer = running.answers[key];
      if (answer === undefined) missing[key] = { method: wanted.method, params: wanted.params };
      else if (!answersAs(wanted.method, answer)) {
        throw new McpError(INVALID_PARAMS, `inputResponses.${key} is not a ${wanted.method} result`);
      } else answers[key] = answer;
    }
    if (Object.keys(missing).length === 0) return answers;
    const keep = Object.create(null);
    for (const key of running.asked) if (running.answers[key] !== undefined) keep[key] = running.answers[key];
    throw new InputRequired(missing, keep);
  }

  /** This round's answers: the sealed state's, then `inputResponses` over them. Malformed ones count as none. */
  #roundAnswers(session, request, params) {
    const answers = Object.create(null);
    const state = this.#host.query((engine) => engine.requestState(session, request));
    if (state !== undefined && state.length > 0) {
      try {
        const opened = JSON.parse(decoder.decode(state));
        if (isObject(opened?.answers)) Object.assign(answers, opened.answers);
      } catch {
        // A state this application did not write: ask again.
      }
    }
    if (isObject(params?.inputResponses)) Object.assign(answers, params.inputResponses);
    return answers;
  }

  async #requestClient(session, request, method, params, timeoutMs, signal) {
    if (signal.aborted) throw signal.reason;
    const json = params === undefined ? undefined : JSON.stringify(params);
    const outbound = await this.#send(`${session}:${request}`, (engine, now) =>
      engine.requestClient(now, session, request, method, json, timeoutMs),
    );
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const forget = () => {
        this.#outbound.delete(outbound);
        signal.removeEventListener('abort', onAbort);
      };
      // The engine still answers the request when it times out; the handler need not wait.
      const onAbort = () => {
        forget();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#outbound.set(outbound, {
        resolve: (value) => {
          forget();
          resolve(value);
        },
        reject: (error) => {
          forget();
          reject(error);
        },
      });
    });
  }

  #settleOutbound(event) {
    const waiting = this.#outbound.get(event.outbound);
    if (waiting === undefined) return;
    if (event.result !== undefined) waiting.resolve(event.result);
    else if (event.error.kind === 'rpc') waiting.reject(new McpError(event.error.code, event.error.message, event.error.data));
    else waiting.reject(new Error(event.error.kind === 'timeout' ? 'the client did not answer in time' : 'the session ended'));
  }
}

/** A running handler's signal, its AbortController made on first use. */
function signalOf(running) {
  running.abort ??= new AbortController();
  return running.abort.signal;
}

/** JSON.stringify that fails loudly on what JSON cannot carry (BigInt, cycles, undefined). */
function serialize(value) {
  const json = JSON.stringify(value);
  if (json === undefined) throw new Error('the result is not JSON');
  return json;
}

/** A thrown value as the JSON-RPC error that answers the request. */
function errorReply(error) {
  if (error instanceof McpError) {
    let data;
    try {
      data = error.data === undefined ? undefined : serialize(error.data);
    } catch {
      data = undefined;
    }
    return { code: error.code, message: error.message, data };
  }
  return { code: INTERNAL_ERROR, message: `Internal error: ${error?.message ?? error}`, data: undefined };
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `answer` has the shape of a `method` result: a handler never runs on garbage. */
function answersAs(method, answer) {
  if (!isObject(answer)) return false;
  switch (method) {
    case 'elicitation/create':
      return typeof answer.action === 'string';
    case 'sampling/createMessage':
      // One content block, or (2026-07-28) an array of them.
      return typeof answer.content === 'object' && answer.content !== null;
    default:
      return Array.isArray(answer.roots);
  }
}

function isRefusal(error, code) {
  return typeof error?.message === 'string' && error.message.startsWith(`${code}:`);
}

/** The request ended (the client cancelled or left) or the server shut down: nothing to answer. */
function isGone(error) {
  return isRefusal(error, 'stale_handle') || isRefusal(error, 'shutting_down');
}

function ignoreStale(error) {
  if (!isGone(error)) throw error;
}

function describeTool(tool) {
  return strip({
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: tool.inputSchema ?? { type: 'object' },
    outputSchema: tool.outputSchema,
    annotations: tool.annotations,
  });
}

function describeResource(resource) {
  return strip({
    uri: resource.uri,
    name: resource.name,
    title: resource.title,
    description: resource.description,
    mimeType: resource.mimeType,
  });
}

function describeTemplate(template) {
  return strip({
    uriTemplate: template.uriTemplate,
    name: template.name,
    title: template.title,
    description: template.description,
    mimeType: template.mimeType,
  });
}

function describePrompt(prompt) {
  return strip({
    name: prompt.name,
    title: prompt.title,
    description: prompt.description,
    arguments: prompt.arguments,
  });
}

/**
 * A tool's return value as a `CallToolResult`: a string (or any other scalar) is one text
 * block; an object without `content` gets its structured content as text, as the spec asks of
 * tools that return structured results.
 */
function normalizeToolResult(result) {
  if (result === undefined || result === null) return { content: [] };
  if (typeof result !== 'object' || Array.isArray(result)) {
    return { content: [{ type: 'text', text: typeof result === 'string' ? result : serialize(result) }] };
  }
  if (!Array.isArray(result.content)) {
    const text = result.structuredContent === undefined ? '' : serialize(result.structuredContent);
    return { ...result, content: text ? [{ type: 'text', text }] : [] };
  }
  return result;
}

/** What a resource's `read` returned as `contents`: a string, one entry, or a list. */
function normalizeContents(result, uri, mimeType) {
  const entries = Array.isArray(result) ? result : [result];
  return entries.map((entry) => {
    if (typeof entry === 'string') return strip({ uri, mimeType, text: entry });
    if (typeof entry?.text !== 'string' && typeof entry?.blob !== 'string') {
      throw new Error(`reading ${uri} gave neither text nor blob`);
    }
    return strip({ uri, mimeType, ...entry });
  });
}

function normalizeCompletion(result) {
  const values = (result?.values ?? []).slice(0, 100);
  return strip({ values, total: result?.total, hasMore: result?.hasMore ?? false });
}

/** Drops undefined fields, so the wire carries no `null` where the schema wants absence. */
function strip(object) {
  for (const key of Object.keys(object)) if (object[key] === undefined) delete object[key];
  return object;
}

/**
 * A matcher for an RFC 6570 level-1 template (`test://items/{id}`): each `{name}` matches one
 * non-empty run without `/`, and yields the decoded variables, or undefined.
 */
export function templateMatcher(template) {
  const names = [];
  let pattern = '^';
  let rest = template;
  for (;;) {
    const open = rest.indexOf('{');
    if (open < 0) break;
    const close = rest.indexOf('}', open);
    if (close < 0) break;
    pattern += escapeRegExp(rest.slice(0, open)) + '([^/]+)';
    names.push(rest.slice(open + 1, close));
    rest = rest.slice(close + 1);
  }
  pattern += `${escapeRegExp(rest)}$`;
  const regexp = new RegExp(pattern);
  return (uri) => {
    const found = regexp.exec(uri);
    if (!found) return undefined;
    const variables = {};
    names.forEach((name, i) => {
      try {
        variables[name] = decodeURIComponent(found[i + 1]);
      } catch {
        variables[name] = found[i + 1];
      }
    });
    return variables;
  };
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
