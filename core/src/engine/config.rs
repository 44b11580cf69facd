//! [`Config`]: what the engine answers with, how long things may live, and how much they may
//! hold.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::http1;
use crate::time::Duration;

/// Everything the engine needs to know before the first byte arrives.
///
/// # Examples
///
/// ```
/// use mcpwire_core::engine::Config;
/// use mcpwire_core::time::Duration;
///
/// let mut config = Config::new("demo", "1.0.0");
/// config.capabilities = r#"{"tools":{"listChanged":true}}"#.into();
/// config.timeouts.session_idle = Duration::from_secs(120);
/// assert_eq!(config.endpoint, "/mcp");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The Streamable HTTP endpoint's path.
    pub endpoint: String,
    /// Paths of the 2024-11-05 HTTP+SSE transport, or `None` to not serve it.
    pub legacy: Option<LegacyPaths>,
    /// `serverInfo.name` in the initialize result.
    pub server_name: String,
    /// `serverInfo.version` in the initialize result.
    pub server_version: String,
    /// `serverInfo.title`, if any.
    pub server_title: Option<String>,
    /// The `capabilities` object of the initialize result, as JSON. The engine adds nothing to
    /// it: declare `logging`, `resources.subscribe`, `completions` and the rest here.
    pub capabilities: String,
    /// `instructions` in the initialize result, if any.
    pub instructions: Option<String>,
    /// When a POST's responses are sent as an SSE stream instead of one JSON body.
    pub response_mode: ResponseMode,
    /// The `ttlMs` and `cacheScope` that 2026-07-28 list and read results (and
    /// `server/discover`) carry when the application's result names none.
    pub cache_hints: super::CacheHints,
    /// `Origin` values accepted (exact `scheme://host[:port]`, or `scheme://host:*` for any
    /// port). A request without `Origin` is accepted: only browsers send it.
    pub allowed_origins: Vec<String>,
    /// `Host` values accepted (`host` for any port, or `host:port`).
    pub allowed_hosts: Vec<String>,
    /// Proxies whose connections may begin with a PROXY protocol v2 header naming the client
    /// (HAProxy's `send-proxy-v2`, cloud load balancers): addresses, or networks in CIDR
    /// notation (see [`proxy_protocol::Network`]). The client's address then counts for
    /// [`Limits::max_connections_per_peer`] instead of the proxy's. A connection from one of
    /// them without the header is a direct one (a health check, a metrics scrape); from any
    /// other address a header is never read. Entries that do not parse trust nothing. Empty
    /// (the default) trusts no proxy.
    ///
    /// [`proxy_protocol::Network`]: crate::proxy_protocol::Network
    pub proxy_protocol_from: Vec<String>,
    /// A request header a session is bound to, such as `authorization`: its value at
    /// `initialize` (or the legacy GET) is kept with the session, and a request for the session
    /// that carries another value, or none, is answered 404 as if the session did not exist. A
    /// stolen session id is then useless without the credential it was created with. `None`
    /// (the default) binds nothing.
    pub session_binding: Option<String>,
    /// What every session id (`Mcp-Session-Id`, the HTTP+SSE `sessionId`) starts with, before
    /// its 128 random bits: a node's tag, so that a load balancer can send a session's requests
    /// to the node that holds it (`a-` routes on `a-`). Up to
    /// [`MAX_SESSION_ID_PREFIX`] bytes of ASCII letters, digits, `-`, `_` and `.`; see
    /// [`valid_session_id_prefix`]. Empty (the default) adds nothing.
    pub session_id_prefix: String,
    /// The engine as an OAuth 2.1 protected resource: every MCP request then needs a bearer
    /// token that the application verifies (see [`ResourceServer`] and the `auth` module).
    /// `None` (the default) serves anyone who reaches the endpoint.
    ///
    /// [`ResourceServer`]: super::ResourceServer
    pub auth: Option<super::ResourceServer>,
    /// Where the engine answers health checks (`/healthz`, say): `GET` or `HEAD` gets `200`
    /// while it serves; once it shuts down, a probe's new connection gets `503`, so that a
    /// load balancer stops sending new clients to a draining node. Answered before the `Host`, `Origin` and token checks
    /// (a probe sends none of them) and it says nothing but that. `None` (the default): no
    /// such path.
    pub health_path: Option<String>,
    /// Paths the application answers itself, such as `/metrics`. A request for
    /// one (after the `Host` and `Origin` checks) becomes [`Event::HttpRequest`], answered with
    /// [`Engine::respond_http`] within `timeouts.request_read` or its connection closes.
    ///
    /// [`Event::HttpRequest`]: super::Event::HttpRequest
    /// [`Engine::respond_http`]: super::Engine::respond_http
    pub application_paths: Vec<String>,
    /// Which exchanges [`Engine::poll_report`] reports ([`Reporting::Off`] by default).
    ///
    /// [`Engine::poll_report`]: super::Engine::poll_report
    /// [`Reporting::Off`]: super::Reporting::Off
    pub reporting: super::Reporting,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// Bounds.
    pub limits: Limits,
    /// Leaks re-introduced on purpose, for tests of the simulator.
    #[cfg(feature = "sim-faults")]
    pub faults: Faults,
}

/// The longest [`Config::session_id_prefix`].
pub const MAX_SESSION_ID_PREFIX: usize = 32;

/// Whether `prefix` may start session ids: at most [`MAX_SESSION_ID_PREFIX`] bytes of ASCII
/// letters, digits, `-`, `_` and `.` (safe in a header, a query string and a load balancer's
/// rules). The engine uses a prefix that is not as empty.
#[must_use]
pub fn valid_session_id_prefix(prefix: &str) -> bool {
    prefix.len() <= MAX_SESSION_ID_PREFIX
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Known leaks the engine can be made to commit again, so that a test can prove the simulator
/// finds each. Every switch is off by default; the feature that provides them is for tests.
#[cfg(feature = "sim-faults")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Sessions end only on DELETE: the idle timer is never armed.
    pub sessions_only_on_delete: bool,
    /// Output that stops moving never closes its connection.
    pub no_write_timeout: bool,
    /// A listen stream that ends stays in the subscriber index.
    pub listen_not_unregistered: bool,
    /// Ending a stream leaves its timers armed.
    pub stream_timers_not_cleared: bool,
    /// Detached streams are never evicted and their logs are charged to nothing: a session
    /// keeps as many as a client leaves behind, as before the byte budget.
    pub no_detached_stream_cap: bool,
    /// A token verification whose deadline passes is forgotten, not ended: its requests wait
    /// for a verdict that never comes.
    pub verification_forgotten: bool,
}

/// The two endpoints of the 2024-11-05 HTTP+SSE transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyPaths {
    /// The GET endpoint that opens the SSE stream (`/sse`).
    pub sse: String,
    /// The POST endpoint for messages (`/messages`), told to the client in the `endpoint`
    /// event with `?sessionId=<id>` appended.
    pub messages: String,
}

/// How responses to a POST travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// One JSON body, unless the application sends anything related to the request before its
    /// response, or the response takes longer than the keep-alive interval: then an SSE stream,
    /// so that bytes flow and a vanished client is noticed.
    Auto,
    /// Always an SSE stream, with a priming event: every response is resumable.
    Sse,
}

/// How long things may live. Every entity has one of these deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// A session with no open stream and no request in flight expires after this long.
    pub session_idle: Duration,
    /// A session that has not sent `notifications/initialized` by then is closed.
    pub session_init: Duration,
    /// An SSE comment is written right after the headers and then this often.
    pub keepalive_interval: Duration,
    /// Output that makes no progress for this long closes its connection.
    pub write: Duration,
    /// A stream whose connection dropped stays resumable for this long.
    pub resume_window: Duration,
    /// A request from the client is cancelled after this long, if set.
    pub request: Option<Duration>,
    /// A request to the client fails with a timeout after this long, unless the call gives its
    /// own.
    pub client_request: Duration,
    /// A request (head and body) must arrive within this long of its first byte.
    pub request_read: Duration,
    /// A connection between requests closes after this long.
    pub connection_idle: Duration,
    /// The `retry` value advertised on SSE streams.
    pub retry_hint: Duration,
    /// Optional `ping` heartbeat to each client with an open GET stream.
    pub heartbeat: Option<Heartbeat>,
    /// How long the state of an input-required result (2026-07-28) stays valid: a retry after
    /// it gets -32602 and the client starts over. The server keeps nothing meanwhile.
    pub input_state: Duration,
    /// How long the application may take to verify a bearer token (see
    /// [`Event::VerifyToken`]): past it, the requests that wait for the verdict get `503` with
    /// `Retry-After`.
    ///
    /// [`Event::VerifyToken`]: super::Event::VerifyToken
    pub token_verification: Duration,
    /// How long a verified token's grant is kept, at most (never past the token's own
    /// expiry): its requests go through without another verification meanwhile, so a token
    /// revoked at the authorization server stays accepted up to this long. Zero keeps none.
    pub grant_cache: Duration,
}

/// The ping heartbeat: a `ping` every `interval`; a reply missing after `timeout` is a failure,
/// and `max_failures` failures in a row close the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Time between pings.
    pub interval: Duration,
    /// Time a ping may go unanswered.
    pub timeout: Duration,
    /// Consecutive failures that close the session.
    pub max_failures: u32,
}

/// [`Limits::max_connections`] by default.
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How much the engine may hold. Each limit states what happens when it is reached.
///
/// Counts bound entities; bytes are bounded by one budget, [`Limits::max_held_bytes`], with a
/// cap per session and one per connection inside it (see [`Limits::max_held_bytes`] for how
/// it is split, and for the order in which the engine gives way when it is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// HTTP/1.1 request limits of every connection.
    pub http: http1::Limits,
    /// Open connections, and request-level exchanges at once. Past it a new connection gets 503
    /// with `Retry-After` and is closed (past twice the limit it is refused outright), and a new
    /// request-level exchange gets 503.
    pub max_connections: usize,
    /// Open connections from one peer (an IPv4 address, or an IPv6 /64), when the adapter
    /// tells the engine who the peer is. Past it a new connection gets 503 with `Retry-After`
    /// (past twice it, it is refused outright). By default a quarter of the default
    /// `max_connections` (1,024): one address holding sockets open and silent can no longer
    /// take every connection and leave everyone else 503 (keep it below `max_connections`
    /// when lowering that).
    ///
    /// Clients behind one proxy or NAT share its address: name the proxy in
    /// [`Config::proxy_protocol_from`] so that its PROXY protocol header tells the clients
    /// apart, or raise the cap (`None` sets none).
    pub max_connections_per_peer: Option<usize>,
    /// Live sessions. Past it `initialize` gets 503 with `Retry-After`.
    pub max_sessions: usize,
    /// Client requests in flight per session. Past it a request gets a JSON-RPC error.
    pub max_inflight_per_session: usize,
    /// Client requests in flight in the whole engine, each one a handler the application runs.
    /// Past it a POST gets 503 with `Retry-After` (a request inside a batch, a JSON-RPC error).
    pub max_inflight_total: usize,
    /// Server-to-client requests in flight per session. Past it the call returns an error.
    pub max_outbound_per_session: usize,
    /// Resource subscriptions per session, and per listen stream. Past it
    /// `resources/subscribe` gets an error, and `subscriptions/listen` 400 with -32602.
    pub max_subscriptions_per_session: usize,
    /// Open `subscriptions/listen` streams (2026-07-28). Past it a listen request gets 503
    /// with `Retry-After`.
    pub max_listen_streams: usize,
    /// The longest resource URI a client may subscribe to. Past it `resources/subscribe` gets
    /// -32602.
    pub max_uri_bytes: usize,
    /// `clientInfo` and `capabilities` of `initialize` together, kept for the session's life.
    /// Past it `initialize` gets 400 with -32602 and no session is created.
    pub max_client_metadata_bytes: usize,
    /// The largest JSON-RPC message the engine sends: a result, a notification, a request to
    /// the client. A larger result is answered with a JSON-RPC error on its own stream; a
    /// larger notification or request is refused with [`CommandError::TooLarge`].
    ///
    /// [`CommandError::TooLarge`]: super::CommandError::TooLarge
    pub max_message_bytes: usize,
    /// Output a request's stream may hold before the application's next message for it waits:
    /// a command related to a request whose connection holds this much unwritten output is
    /// refused with [`CommandError::WouldBlock`], and [`Event::Writable`] says when to retry.
    /// A reader that keeps up therefore receives everything, at its own pace.
    ///
    /// [`CommandError::WouldBlock`]: super::CommandError::WouldBlock
    /// [`Event::Writable`]: super::Event::Writable
    pub stream_window_bytes: usize,
    /// Output that cannot wait (broadcasts, notifications, keep-alives) queued for one
    /// connection or exchange beyond what its requests' paced messages hold. Past it the
    /// reader is too slow and is disconnected; nobody else waits for it. Output that waited for
    /// room is judged only by the write deadline (`timeouts.write`).
    pub max_queued_bytes_per_connection: usize,
    /// Every byte the engine holds for peers, in total: request bytes being read, output being
    /// written, resume logs (of attached and of detached streams), and session state (client
    /// info and capabilities, subscribed URIs, requests in flight with their params, backlogs,
    /// responses collected for one JSON body, pending events).
    ///
    /// It is split in four equal shares, so that one kind of holding never starves another:
    /// input, output, resume logs, session state. Within the input and the output shares,
    /// half is divided evenly among `2 × max_connections` connections, so that a connection's
    /// small request or response never waits behind others' large ones; the other half is a
    /// pool for larger ones. When a share is full, in this order:
    ///
    /// 1. the oldest detached stream is evicted (its requests finished first; a later resume of
    ///    it gets the answer an unknown stream gets);
    /// 2. new work is refused: a POST, GET or `initialize` gets 503 with `Retry-After`, a
    ///    connection stops being read (its read deadline still runs), an application's message
    ///    waits ([`CommandError::WouldBlock`]), a backlog drops its oldest message, a resume
    ///    log of an attached stream drops its oldest events;
    /// 3. output that cannot wait disconnects the reader holding the most, and a session over
    ///    its own cap is closed ([`CloseReason::OverBudget`]).
    ///
    /// [`CommandError::WouldBlock`]: super::CommandError::WouldBlock
    /// [`CloseReason::OverBudget`]: super::CloseReason::OverBudget
    pub max_held_bytes: usize,
    /// Bytes one session holds: its resume logs, backlog, collected JSON responses, requests in
    /// flight with their params, pending events, client info, subscriptions. Its own oldest
    /// detached streams are evicted first, then its new work is refused (503), as above.
    pub max_session_bytes: usize,
    /// Detached (resumable) streams one session keeps. Past it its oldest is evicted.
    pub max_detached_streams_per_session: usize,
    /// Events a stream keeps for resumption. Past it the oldest is dropped.
    pub resume_log_events: usize,
    /// Bytes a stream keeps for resumption. Past it the oldest events are dropped; a detached
    /// stream's new messages wait instead ([`CommandError::WouldBlock`]) until it is resumed
    /// or its resume window ends.
    ///
    /// [`CommandError::WouldBlock`]: super::CommandError::WouldBlock
    pub resume_log_bytes: usize,
    /// Unsolicited messages held for a session without a GET stream. Past it the oldest is
    /// dropped.
    pub backlog_events: usize,
    /// Events waiting for the application. Past it new POSTs get 503 with `Retry-After` until
    /// the application catches up.
    pub max_pending_events: usize,
    /// Bearer tokens being verified at once (each a distinct token; requests with a token
    /// already being verified wait for that verdict). Past it, a request with a new token
    /// gets `503` with `Retry-After`.
    pub max_pending_verifications: usize,
    /// The longest bearer token accepted, in bytes. A longer one gets `401`
    /// (`invalid_token`).
    pub max_token_bytes: usize,
    /// Verified tokens' grants kept at once; the one that expires soonest makes room.
    pub max_cached_grants: usize,
}

impl Config {
    /// A configuration with the defaults and this `serverInfo`.
    #[must_use]
    pub fn new(server_name: &str, server_version: &str) -> Self {
        Config {
            endpoint: "/mcp".into(),
            legacy: Some(LegacyPaths {
                sse: "/sse".into(),
                messages: "/messages".into(),
            }),
            server_name: server_name.into(),
            server_version: server_version.into(),
            server_title: None,
            capabilities: "{}".into(),
            instructions: None,
            response_mode: ResponseMode::Auto,
            cache_hints: super::CacheHints::default(),
            reporting: super::Reporting::Off,
            allowed_origins: vec![
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
                "http://[::1]:*".into(),
                "https://localhost:*".into(),
                "https://127.0.0.1:*".into(),
                "https://[::1]:*".into(),
            ],
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            proxy_protocol_from: Vec::new(),
            session_binding: None,
            session_id_prefix: String::new(),
            auth: None,
            health_path: None,
            application_paths: Vec::new(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            #[cfg(feature = "sim-faults")]
            faults: Faults::default(),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            session_idle: Duration::from_secs(600),
            session_init: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(15),
            write: Duration::from_secs(30),
            resume_window: Duration::from_secs(60),
            request: None,
            client_request: Duration::from_secs(60),
            request_read: Duration::from_secs(30),
            connection_idle: Duration::from_secs(120),
            retry_hint: Duration::from_secs(1),
            heartbeat: None,
            input_state: Duration::from_secs(600),
            token_verification: Duration::from_secs(10),
            grant_cache: Duration::from_secs(60),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            http: http1::Limits::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: Some(DEFAULT_MAX_CONNECTIONS / 4),
            max_sessions: 10_000,
            max_inflight_per_session: 64,
            max_inflight_total: 16_384,
            max_outbound_per_session: 16,
            max_subscriptions_per_session: 256,
            max_listen_streams: 4096,
            max_uri_bytes: 8 * 1024,
            max_client_metadata_bytes: 64 * 1024,
            max_message_bytes: 16 * 1024 * 1024,
            stream_window_bytes: 256 * 1024,
            max_queued_bytes_per_connection: 4 * 1024 * 1024,
            max_held_bytes: 512 * 1024 * 1024,
            max_session_bytes: 16 * 1024 * 1024,
            max_detached_streams_per_session: 16,
            resume_log_events: 256,
            resume_log_bytes: 1024 * 1024,
            backlog_events: 64,
            max_pending_events: 65_536,
            max_pending_verifications: 1024,
            max_token_bytes: 8 * 1024,
            max_cached_grants: 16_384,
        }
    }
}
