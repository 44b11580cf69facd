// Types of mcpwire-wasm's JS module. No `any`: JSON values are `JsonValue`.

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** A JSON-RPC error to answer a request with; throw it from a handler. */
export declare class McpError extends Error {
  constructor(code: number, message: string, data?: JsonValue);
  readonly code: number;
  readonly data: JsonValue | undefined;
}

/**
 * A request for the client's input, in either era: `elicitation/create`,
 * `sampling/createMessage` or `roots/list`.
 */
export declare class InputRequest {
  private constructor(method: string, params: JsonObject);
  readonly method: 'elicitation/create' | 'sampling/createMessage' | 'roots/list';
  readonly params: JsonObject;
  /** Form-mode elicitation; the answer's `action` is `accept` (with `content`), `decline` or `cancel`. */
  static elicit(message: string, requestedSchema: JsonObject): InputRequest;
  /** `sampling/createMessage` with its params (`messages`, `maxTokens`, ...). */
  static sample(params: JsonObject): InputRequest;
  static listRoots(): InputRequest;
}

/**
 * Thrown by `context.input` / `context.inputs` in 2026-07-28, where a request cannot wait for
 * its client: let it propagate (a tool that catches errors must rethrow it). The client
 * answers and retries; the handler runs again from the start and finds the answers.
 */
export declare class InputRequired extends Error {
  private constructor();
  readonly requests: { [key: string]: { method: string; params: JsonObject } };
}

/**
 * Thrown by `auth.verify` to refuse a token: its requests get 401 with
 * `error="invalid_token"` and this message as the description the client sees.
 */
export declare class InvalidToken extends Error {
  constructor(message?: string);
}

/**
 * A token `auth.verify` found valid: whom it stands for (sessions and input-required states
 * are bound to the principal), the scopes it carries, and when it expires, as a JWT's `exp`
 * (`expiresAt`, seconds since the epoch, or a `Date`) or as OAuth's `expires_in`
 * (`expiresIn`, seconds from now). Without either the grant is kept for
 * `timeouts.grantCacheMs` only. A grant already expired refuses the token.
 */
export type TokenGrant = {
  principal: string;
  /** An array, or a space-separated string as in a JWT's `scope` claim. */
  scopes?: string[] | string;
} & ({ expiresAt?: number | Date; expiresIn?: never } | { expiresIn?: number; expiresAt?: never });

/**
 * What `auth.verify` decides: a grant; or a refusal (401 `invalid_token`): `{ refused:
 * description }`, `null` or `false`. Throwing `InvalidToken` refuses too; any other throw
 * means the token could not be verified now (503 with `Retry-After`).
 */
export type TokenVerdict = TokenGrant | { refused: string } | null | false;

/**
 * The handler as an OAuth 2.1 resource server: every MCP request needs `Authorization: Bearer`.
 * The metadata document (RFC 9728, at its path-aware well-known URL), the 401 and 403
 * challenges and step-up scopes come from the engine.
 */
export interface AuthOptions {
  /**
   * The canonical URI of the MCP endpoint, which tokens must be issued for (their audience):
   * absolute `https://` (`http://` on loopback hosts only), as clients reach it.
   */
  resource: string;
  /** The issuer URLs of the authorization servers whose tokens are accepted; at least one. */
  authorizationServers: string[];
  /** Published in the metadata document. */
  scopesSupported?: string[];
  /** Scopes every request needs; asked for in every 401. */
  requiredScopes?: string[];
  /** Scopes calling a tool needs, by tool name (403 `insufficient_scope` without them). */
  toolScopes?: { [tool: string]: string[] };
  /** Scopes a method needs (`resources/read`, `prompts/get`, ...), by method. */
  methodScopes?: { [method: string]: string[] };
  /** The metadata document's `resource_name`. */
  resourceName?: string;
  /**
   * Verifies a token: its signature, issuer, audience (`resource`) and expiry, or by
   * introspection. Called once per token however many requests carry it, and not again
   * while its grant is kept. `signal` aborts when `timeouts.tokenVerificationMs` passes (the
   * requests then got 503) or the server shuts down.
   */
  verify(token: string, signal: AbortSignal): Promise<TokenVerdict> | TokenVerdict;
}

/** The session a request arrived on. */
export interface SessionInfo {
  readonly id: number;
  readonly protocolVersion?: string;
  readonly clientInfo?: JsonObject;
  readonly clientCapabilities?: JsonObject;
}

export type LogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

/** What a tool, resource, prompt or completion handler gets besides its arguments. */
export interface RequestContext {
  /** The session (session era); `undefined` for a 2026-07-28 request, which has none. */
  readonly session: SessionInfo | undefined;
  /** The revision the request speaks: `2026-07-28`, or the session's. */
  readonly protocolVersion: string;
  /** What the client declared: at `initialize`, or in the request's own `_meta` (2026-07-28). */
  readonly clientInfo: JsonObject | undefined;
  readonly clientCapabilities: JsonObject | undefined;
  /**
   * Whom the request's verified token stands for (the `principal` of `auth.verify`'s grant);
   * `undefined` without `auth`.
   */
  readonly principal: string | undefined;
  /**
   * Aborted when the client cancels (in 2026-07-28: closes the response stream), the request
   * times out, its session ends, or on shutdown.
   */
  readonly signal: AbortSignal;
  /**
   * The client's answer to one request for input, written once for both eras: in the session
   * era a request to the client, awaited; in 2026-07-28 the answer the retry brought, or an
   * `InputRequired` throw that asks for it. `key` names the answer across retries. Rejects
   * with `McpError` -32021 when the client did not declare the capability the request needs.
   */
  input(key: string, request: InputRequest): Promise<JsonObject>;
  /** Several at once (one round in 2026-07-28): `{key: request}` to `{key: answer}`. */
  inputs(requests: { [key: string]: InputRequest }): Promise<{ [key: string]: JsonObject }>;
  /**
   * `notifications/progress`; resolves false when the request carried no progress token.
   * Resolves once the message has room on the request's stream: await it, and a client that
   * reads slowly slows the handler rather than filling the server's memory.
   */
  progress(progress: number, total?: number, message?: string): Promise<boolean>;
  /**
   * `notifications/message` on this request's stream, if the session's level lets it through.
   * Resolves once the message has room on the stream, as `progress` does.
   */
  log(level: LogLevel, data: JsonValue, logger?: string): Promise<void>;
  /**
   * Whether the request's stream reaches its client now. While false (the connection
   * dropped; the client may resume), what is sent is kept for a resume, within the stream's
   * log, and then waits.
   */
  readonly connected: boolean;
  /**
   * A request to the client, related to this one (session era only: in 2026-07-28 use
   * `input`). Rejects with `McpError` on an error answer.
   */
  request(method: string, params?: JsonObject, options?: { timeoutMs?: number }): Promise<JsonObject>;
  /** `sampling/createMessage`. */
  createMessage(params: JsonObject, options?: { timeoutMs?: number }): Promise<JsonObject>;
  /** `elicitation/create`. */
  elicit(message: string, requestedSchema: JsonObject, options?: { timeoutMs?: number }): Promise<JsonObject>;
  /** Closes this request's SSE stream; the client resumes it with `Last-Event-ID` (SEP-1699). */
  closeStream(): void;
}

/** A content block of a tool result or prompt message. */
export type Content =
  | { type: 'text'; text: string; annotations?: JsonObject; _meta?: JsonObject }
  | { type: 'image' | 'audio'; data: string; mimeType: string; annotations?: JsonObject; _meta?: JsonObject }
  | { type: 'resource'; resource: ResourceContents; annotations?: JsonObject; _meta?: JsonObject }
  | { type: 'resource_link'; uri: string; name: string; mimeType?: string; description?: string };

export interface ToolResult {
  content: Content[];
  structuredContent?: JsonObject;
  isError?: boolean;
  _meta?: JsonObject;
}

export interface Tool {
  name: string;
  title?: string;
  description: string;
  /** JSON Schema of the arguments (default `{ "type": "object" }`); sent as given. */
  inputSchema?: JsonObject;
  outputSchema?: JsonObject;
  annotations?: JsonObject;
  /**
   * Runs the tool. A string is one text block. A thrown `McpError` is a JSON-RPC error; any
   * other throw is a result with `isError: true` and the error's message.
   */
  handler(args: JsonObject, context: RequestContext): Promise<ToolResult | string> | ToolResult | string;
}

/** One entry of `resources/read`; `uri` and `mimeType` default to the resource's. */
export type ResourceContents = { uri?: string; mimeType?: string; _meta?: JsonObject } & (
  | { text: string }
  | { blob: string }
);

export type ReadResult = string | ResourceContents | ResourceContents[];

export interface Resource {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  read(uri: string, context: RequestContext): Promise<ReadResult> | ReadResult;
}

export interface ResourceTemplate {
  /** RFC 6570 level 1: each `{name}` matches one path segment. */
  uriTemplate: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  read(uri: string, variables: Record<string, string>, context: RequestContext): Promise<ReadResult> | ReadResult;
}

export interface PromptMessage {
  role: 'user' | 'assistant';
  content: Content;
}

export interface Prompt {
  name: string;
  title?: string;
  description?: string;
  arguments?: { name: string; description?: string; required?: boolean }[];
  /** Required arguments are checked (-32602) before this runs. */
  get(
    args: Record<string, string>,
    context: RequestContext,
  ): Promise<{ description?: string; messages: PromptMessage[] } | PromptMessage[]> | { description?: string; messages: PromptMessage[] } | PromptMessage[];
}

export interface CompletionRequest {
  ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
  argument: { name: string; value: string };
  context?: { arguments?: Record<string, string> };
}

export interface Completion {
  values: string[];
  total?: number;
  hasMore?: boolean;
}

/** Deadlines, in milliseconds; each defaults to the core's. */
export interface TimeoutOptions {
  sessionIdleMs?: number;
  sessionInitMs?: number;
  keepaliveMs?: number;
  writeMs?: number;
  resumeWindowMs?: number;
  requestMs?: number;
  clientRequestMs?: number;
  requestReadMs?: number;
  connectionIdleMs?: number;
  retryHintMs?: number;
  /** How long an input-required state (2026-07-28) may come back with its retry. */
  inputStateMs?: number;
  /** How long `auth.verify` may take (default 10 s); past it the requests get 503. */
  tokenVerificationMs?: number;
  /**
   * How long a grant is kept at most (default 60 s; never past the token's expiry): a token
   * revoked meanwhile stays accepted up to this long. 0 keeps none.
   */
  grantCacheMs?: number;
  heartbeat?: { intervalMs: number; timeoutMs: number; maxFailures: number };
}

/** Bounds; each defaults to the core's. */
export interface LimitOptions {
  maxBodyBytes?: number;
  maxSessions?: number;
  maxInflightPerSession?: number;
  maxOutboundPerSession?: number;
  maxSubscriptionsPerSession?: number;
  /** Open `subscriptions/listen` streams (2026-07-28); past it a listen request gets 503 with `Retry-After`. */
  maxListenStreams?: number;
  /**
   * Output that cannot wait (broadcasts, notifications) held for one response whose reader is
   * behind; past it the response is aborted. A handler's own messages wait for room instead.
   */
  maxQueuedBytesPerExchange?: number;
  /** Concurrent requests (fetches); past it a request is answered 503. */
  maxConnections?: number;
  maxInflightTotal?: number;
  maxUriBytes?: number;
  /** `clientInfo` and `capabilities` of `initialize`; past it `initialize` gets 400. */
  maxClientMetadataBytes?: number;
  /** The largest message sent; a larger result is answered with an error. */
  maxMessageBytes?: number;
  /** Output a request's stream may hold before its handler's next message waits. */
  streamWindowBytes?: number;
  /** Every byte the engine holds for clients. */
  maxHeldBytes?: number;
  maxSessionBytes?: number;
  maxDetachedStreamsPerSession?: number;
  resumeLogEvents?: number;
  resumeLogBytes?: number;
  backlogEvents?: number;
  maxPendingEvents?: number;
  /** Distinct tokens being verified at once; past it a request with a new token gets 503. */
  maxPendingVerifications?: number;
  /** The longest bearer token, in bytes; a longer one gets 401 `invalid_token`. */
  maxTokenBytes?: number;
  /** Grants kept at once; the one that expires soonest makes room. */
  maxCachedGrants?: number;
}

export interface McpHandlerOptions {
  /** `serverInfo.name` and `.version`. */
  name: string;
  version: string;
  title?: string;
  instructions?: string;
  tools?: Tool[];
  resources?: Resource[];
  resourceTemplates?: ResourceTemplate[];
  prompts?: Prompt[];
  complete?(request: CompletionRequest, context: RequestContext): Promise<Completion> | Completion;
  /** Client notifications the engine does not handle itself (e.g. `notifications/roots/list_changed`). */
  onNotification?(method: string, params: JsonObject | undefined, session: SessionInfo | undefined): void;
  /** The Streamable HTTP path (default `/mcp`). */
  endpoint?: string;
  /** The 2024-11-05 HTTP+SSE transport at `/sse` and `/messages` (default on), off, or moved. */
  legacy?: boolean | { sse: string; messages: string };
  /** `auto` (JSON unless the call streams; the default) or `sse` (every POST answered as SSE). */
  responseMode?: 'auto' | 'sse';
  /** Accepted `Origin` values besides loopback. */
  allowedOrigins?: string[];
  /** Accepted `Host` values (default: loopback names). */
  allowedHosts?: string[];
  /**
   * A request header each session is bound to, such as `authorization`: its value at
   * `initialize` is kept, and a request for the session with another value (or none) gets
   * 404 as if the session did not exist. Off by default.
   */
  sessionBinding?: string;
  /** An OAuth 2.1 resource server: tokens verified by `auth.verify`. */
  auth?: AuthOptions;
  /**
   * The key input-required states (2026-07-28) are sealed with: 32 bytes, or 64 hex digits
   * (from a secret binding, say). Handlers that share it accept each other's states, so a
   * retry may reach any instance. Without it each handler draws a fresh random key: its states
   * open only on it, and not after a restart (a retry elsewhere is refused with -32602, and
   * the client must start the call over). Never a constant in code.
   */
  stateKey?: string | BufferSource;
  /**
   * Keep the engine's time from a live response's own request instead of one shared timer:
   * for hosts that drop a request's timers when it ends. On by default in Workers (workerd),
   * where time then passes for the engine only while some request is live (an idle session
   * expires at the first request after its deadline). `fetch`'s third argument, the Workers
   * execution context, keeps running handlers alive with its `waitUntil`.
   */
  timersPerResponse?: boolean;
  timeouts?: TimeoutOptions;
  limits?: LimitOptions;
  /** Where the .wasm comes from, if not beside this module (a URL, bytes, or a compiled module). */
  wasm?: URL | string | BufferSource | WebAssembly.Module | Response | Promise<Response>;
}

/** Live entities (all zero once clients are gone and deadlines have passed) and totals. */
export interface McpStats {
  connections: number;
  exchanges: number;
  sessions: number;
  /** 2026-07-28 requests being answered. */
  statelessRequests: number;
  /** Open 2026-07-28 `subscriptions/listen` streams. */
  subscriptions: number;
  streams: number;
  inflightRequests: number;
  outboundRequests: number;
  timersArmed: number;
  queuedBytes: number;
  bufferedBytes: number;
  resumptionLogEvents: number;
  resumptionLogBytes: number;
  pendingEvents: number;
  /** Tokens the engine waits for a verdict on. */
  pendingVerifications: number;
  /** Grants kept, so that a token's next requests go through without a verification. */
  cachedGrants: number;
  /** Bytes held for clients beyond the above, by what they are held for. */
  detachedStreamBytes: number;
  jsonResponseBytes: number;
  backlogBytes: number;
  sessionBytes: number;
  subscriptionBytes: number;
  requestBytes: number;
  eventBytes: number;
  connectionsAcceptedTotal: number;
  sessionsOpenedTotal: number;
  sessionsClosedTotal: number;
  clockRegressionsTotal: number;
  /** Tool, resource and prompt handlers running (or with messages waiting for room). */
  handlers: number;
  /** Handlers whose `signal` fired since the start: cancelled by the client, by a closed stream, or by shutdown. */
  handlersCancelled: number;
  /** `auth.verify` calls not yet settled. */
  verifications: number;
  /** Responses this module is still producing. */
  responses: number;
}

export interface McpHandler {
  /** Answers one HTTP request: the whole server, as a fetch handler. */
  fetch(request: Request, env?: unknown, context?: { waitUntil(work: Promise<unknown>): void }): Promise<Response>;
  /**
   * `notifications/<method>` to every initialized session and to the listen streams whose
   * filter wants it; returns how many.
   */
  broadcast(method: string, params?: JsonObject): number;
  /** `notifications/resources/updated` to the sessions subscribed to `uri`; returns how many. */
  resourceUpdated(uri: string): number;
  toolsListChanged(): number;
  resourcesListChanged(): number;
  promptsListChanged(): number;
  /** Ends a session, as if it had expired. */
  closeSession(sessionId: number): void;
  stats(): McpStats;
  /** Throws if the engine's indexes disagree. */
  checkInvariants(): void;
  /**
   * Graceful shutdown: new work gets 503, calls in flight get `graceMs` (default 5000), GET
   * streams end with a retry hint. Resolves once nothing is left.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export declare function createMcpHandler(options: McpHandlerOptions): Promise<McpHandler>;
