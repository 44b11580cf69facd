//! The engine: MCP over HTTP in both eras as one sans-IO state machine. The stateless era
//! (2026-07-28) is served beside the session era (Streamable HTTP, 2025-03-26 to 2025-11-25,
//! and HTTP+SSE, 2024-11-05) on one endpoint.
//!
//! [`Engine`] owns every connection, exchange, session, stream and in-flight request. The eras
//! share connections, exchanges, streams, output, timers, the byte budget and the fan-out;
//! what differs lives apart:
//!
//! - `router.rs`, `messages.rs`, `streams.rs` (resumption, backlogs), `timers.rs` (heartbeats):
//!   the session era's routes, lifecycle methods and resumable streams;
//! - `modern/`: the stateless era, from its envelope to the stateless context a request runs
//!   in (see that module), `server/discover`, results, and `subscriptions/listen` streams;
//! - `pipe.rs`: a pipe (stdio): newline-delimited JSON-RPC on one byte stream, whose first
//!   request picks the era; each era's own path serves it.
//!
//! Its methods fall in five groups, each documented where it is defined:
//!
//! - **byte level** (socket adapters): [`Engine::handle_accept`], [`Engine::handle_bytes`],
//!   [`Engine::handle_written`], [`Engine::handle_eof`], [`Engine::handle_closed`], and
//!   [`Engine::poll_transmit`] for what to write or close; a pipe (stdio) is a connection of
//!   this level opened with [`Engine::open_pipe`], whose bytes are lines instead of HTTP;
//! - **request level** (hosts that parse HTTP themselves, such as fetch handlers):
//!   [`Engine::handle_request`], [`Engine::poll_exchange_output`],
//!   [`Engine::handle_exchange_closed`];
//! - **application**: [`Engine::poll_event`], and commands such as [`Engine::respond`],
//!   [`Engine::send_progress`], [`Engine::send_log`], [`Engine::request_client`],
//!   [`Engine::notify`], [`Engine::broadcast`], [`Engine::resource_updated`],
//!   [`Engine::close_session`], [`Engine::begin_shutdown`];
//! - **time**: [`Engine::poll_timeout`] and [`Engine::handle_timeout`];
//! - **accounting**: [`Engine::stats`] and [`Engine::check_invariants`].
//!
//! # The run loop
//!
//! ```
//! use mcpwire_core::engine::{Config, ConnAction, Engine, Event, Reply};
//! use mcpwire_core::time::Instant;
//!
//! let mut engine = Engine::new(Config::new("demo", "1.0.0"), Instant::ZERO, [7; 32]);
//! let conn = engine.handle_accept(Instant::ZERO, None).expect("under the connection limit");
//!
//! // Input: bytes from the socket (in any split).
//! let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
//! let wire = format!(
//!     "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nContent-Type: application/json\r\n\
//!      Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
//!     body.len()
//! );
//! let accepted = engine.handle_bytes(Instant::ZERO, conn, wire.as_bytes());
//! assert_eq!(accepted, wire.len());
//!
//! // Drain: events for the application, bytes for sockets.
//! while let Some(event) = engine.poll_event() {
//!     if let Event::SessionOpened { session, .. } = event {
//!         println!("opened {session}");
//!     }
//! }
//! let mut out = Vec::new();
//! while let Some(action) = engine.poll_transmit(&mut out) {
//!     match action {
//!         ConnAction::Write { conn, len } => {
//!             // write out[out.len() - len..] to conn's socket, then:
//!             engine.handle_written(Instant::ZERO, conn, len);
//!         }
//!         ConnAction::Close { conn: _ } => { /* drop the socket */ }
//!     }
//! }
//! assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK"));
//!
//! // Sleep until the next deadline (or the next input), then tell the engine the time.
//! let deadline = engine.poll_timeout().expect("the session's timers are armed");
//! engine.handle_timeout(deadline);
//! engine.check_invariants().unwrap();
//! ```

mod accounting;
mod auth;
mod budget;
mod commands;
mod config;
mod entities;
mod health;
mod http_rules;
mod ids;
mod lifecycle;
mod messages;
mod modern;
mod pipe;
mod protocol;
mod reports;
mod resume_log;
mod router;
mod slab;
mod streams;
mod timers;
mod transport;

#[cfg(test)]
mod tests;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;

pub use accounting::Counters;
pub use auth::{Grant, InvalidUrl, ResourceServer, Verdict, is_scope_token};
pub use commands::{ClientContext, Target};
#[cfg(feature = "sim-faults")]
pub use config::Faults;
pub use config::{
    Config, Heartbeat, LegacyPaths, Limits, MAX_SESSION_ID_PREFIX, ResponseMode, Timeouts,
    valid_session_id_prefix,
};
pub use events::{CancelReason, ClientError, CloseReason, CommandError, Event, Reply};
pub use ids::{
    ConnId, ExchangeId, InflightId, OutboundHandle, OutboundId, RequestHandle, SessionKey,
    StreamId, VerificationId,
};
pub use modern::results::{CacheHints, CacheScope};

/// A header value that mirrors a body value (2026-07-28 `Mcp-Name`, `Mcp-Param-{Name}`):
/// plain visible ASCII, trimmed, or `=?base64?{standard Base64 of UTF-8}?=`. `None` when
/// malformed (the request is then refused with -32020).
#[must_use]
pub fn decode_mirrored_header(raw: &[u8]) -> Option<String> {
    modern::envelope::decode_header_value(raw)
}

/// Checks the `Mcp-Param-{Name}` headers of a 2026-07-28 `tools/call` ([`Engine::param_headers`])
/// against its arguments and its tool's `inputSchema`: each argument the schema annotates with
/// `x-mcp-header` (at any depth of `properties`) that has a value must come with its header,
/// equal after decoding (numbers as numbers); a header sent twice, or for an argument without
/// a value, disagrees too. `Err` is the message of the -32020 error that answers the call.
pub fn check_param_headers(
    input_schema: &serde_json::Value,
    arguments: Option<&serde_json::Value>,
    headers: &[(String, alloc::boxed::Box<[u8]>)],
) -> Result<(), String> {
    modern::param_headers::check(input_schema, arguments, headers)
}
pub use protocol::{LogLevel, ProtocolVersion};
pub use reports::{ExchangeReport, MAX_PENDING_REPORTS, MAX_REPORTED_TEXT, Refusal, Reporting};
pub use transport::{AcceptRefused, ConnAction, ExchangeOutput};

mod events;

use entities::{
    Conn, ConnTimer, Exchange, Inflight, InflightTimer, Outbound, OutboundTimer, Session,
    SessionTimer, Stream, StreamTimer,
};
use slab::Slab;

use crate::entropy::Entropy;
use crate::time::{Instant, MonotonicClock};
use crate::timer::TimerQueue;

/// The MCP transport as a state machine: inputs are bytes (or parsed requests), application
/// commands and the time; outputs are bytes, events and the next deadline.
///
/// See the [module documentation](self) for the run loop.
pub struct Engine {
    config: Config,
    /// `config.allowed_hosts`, parsed once.
    allowed_hosts: alloc::vec::Vec<http_rules::AllowedHost>,
    /// `config.proxy_protocol_from`, parsed once.
    trusted_proxies: alloc::vec::Vec<crate::proxy_protocol::Network>,
    /// `config.capabilities`, validated once (`{}` when it is not a JSON object).
    capabilities: alloc::boxed::Box<serde_json::value::RawValue>,
    /// The server's identity as stateless results carry it, encoded once.
    server_info: String,
    /// Which listen filters the capabilities allow.
    listen_support: modern::listen::Supported,
    /// What input-required states are sealed with.
    state_key: modern::input::StateKey,
    /// Stateless contexts alive (among `sessions`), and of those the listen streams'.
    stateless_contexts: usize,
    listens: usize,
    clock: MonotonicClock,
    entropy: Entropy,
    /// [`Config::session_id_prefix`], if valid (else empty).
    session_id_prefix: String,

    conns: Slab<ConnId, Conn>,
    exchanges: Slab<ExchangeId, Exchange>,
    sessions: Slab<SessionKey, Session>,
    /// Index: wire session id to session.
    session_by_wire_id: BTreeMap<String, SessionKey>,
    streams: Slab<StreamId, Stream>,
    inflight: Slab<InflightId, Inflight>,
    outbound: Slab<OutboundId, Outbound>,
    /// Index: resource URI to the sessions subscribed to it (the URI shared with theirs).
    subscribers: BTreeMap<alloc::sync::Arc<str>, BTreeSet<SessionKey>>,

    conn_timers: TimerQueue<ConnId, ConnTimer>,
    session_timers: TimerQueue<SessionKey, SessionTimer>,
    stream_timers: TimerQueue<StreamId, StreamTimer>,
    inflight_timers: TimerQueue<InflightId, InflightTimer>,
    outbound_timers: TimerQueue<OutboundId, OutboundTimer>,
    /// Bearer tokens being verified, and the grants of verified ones (a resource server only).
    verifications: auth::Verifications,

    /// Events for the application, bounded by `max_pending_events` (new POSTs get 503 when
    /// full).
    events: VecDeque<Event>,
    /// Exchange reports for the host, bounded by `MAX_PENDING_REPORTS` (`reports.rs`).
    reports: VecDeque<ExchangeReport>,
    /// Connections with output to hand to the adapter, in the order they got it. A connection
    /// is listed at most once (its `dirty` flag); entries of connections removed since are
    /// skipped when popped.
    dirty: VecDeque<ConnId>,
    /// Connections to re-evaluate before the current input returns (see `settle`), listed at
    /// most once (their `touched` flag).
    touched: VecDeque<ConnId>,
    /// Every byte held for peers, by holding (see `budget.rs`).
    budget: budget::Budget,
    /// Detached streams, oldest first: `(detach order, stream)`.
    detached: BTreeSet<(u64, StreamId)>,
    /// The next detach order.
    detach_order: u64,
    /// Requests waiting for a share of the budget to free (see `budget::Wait`), with the size of
    /// the message each waits to send.
    share_waiters: alloc::vec::Vec<(budget::Share, InflightId, usize)>,
    /// Sessions a charge took over their cap, for `enforce_budget`.
    over_budget: alloc::vec::Vec<SessionKey>,
    /// Connections the adapter may read from again, for `poll_readable`; listed at most once
    /// (their `readable_listed` flag).
    readable: VecDeque<ConnId>,
    /// Connections that stopped reading for want of room in the input pool, oldest first.
    input_waiters: VecDeque<ConnId>,
    /// Open connections per peer, for `max_connections_per_peer`.
    peers: BTreeMap<budget::PeerKey, usize>,
    /// Request-level exchanges alive (their tombstones included).
    host_exchanges: usize,
    /// Connections the engine closed; the adapter learns it from `poll_transmit`.
    closing: VecDeque<ConnId>,
    /// Request-level exchanges with output for the host.
    host_ready: BTreeSet<ExchangeId>,
    /// The grace deadline once shutdown has begun.
    shutdown_deadline: Option<Instant>,
    /// Every session was ended for shutdown.
    shutdown_sessions_ended: bool,
    /// The grace deadline passed and everything left was closed.
    shutdown_forced: bool,
    counters: Counters,
}

/// Frees an emptied queue that grew past a few slots: a burst (of events, of connections to
/// read again) must not leave its high-water mark allocated for the engine's life.
fn release_if_idle<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > 16 {
        *queue = VecDeque::new();
    }
}

impl core::fmt::Debug for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("now", &self.clock.now())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with `config`, starting at `now`, drawing session ids from a generator seeded
    /// with `seed` (32 bytes from the OS random source in production).
    #[must_use]
    ///
    /// Intervals that re-arm themselves (keep-alive, heartbeat) are at least one millisecond: a
    /// zero one would fire forever without time passing.
    ///
    /// A request that could never fit the input share of `limits.max_held_bytes` is refused as
    /// soon as that is known (431 for its head, 413 for its body), not left waiting for room:
    /// `limits.http.max_header_bytes` and `max_body_bytes` are lowered to fit.
    pub fn new(mut config: Config, now: Instant, seed: [u8; 32]) -> Engine {
        let budget = budget::Budget::new(&config.limits);
        let http = &mut config.limits.http;
        let largest_input = budget.input_room(0);
        http.max_header_bytes = http.max_header_bytes.min(largest_input);
        http.max_body_bytes = http
            .max_body_bytes
            .min(largest_input - http.max_header_bytes);
        let minimum = crate::time::Duration::from_millis(1);
        let timeouts = &mut config.timeouts;
        timeouts.keepalive_interval = timeouts.keepalive_interval.max(minimum);
        if let Some(heartbeat) = &mut timeouts.heartbeat {
            heartbeat.interval = heartbeat.interval.max(minimum);
        }
        let capabilities =
            serde_json::from_str::<&serde_json::value::RawValue>(&config.capabilities)
                .ok()
                .filter(|raw| raw.get().trim_start().starts_with('{'))
                .map_or_else(messages::empty_result, alloc::borrow::ToOwned::to_owned);
        let mut entropy = Entropy::from_seed(seed);
        // Without a key of the adapter's, one of this engine's own: its states open only here.
        let mut state_key = [0u8; 32];
        entropy.fill(&mut state_key);
        let session_id_prefix = if valid_session_id_prefix(&config.session_id_prefix) {
            config.session_id_prefix.clone()
        } else {
            String::new()
        };
        Engine {
            session_id_prefix,
            state_key: modern::input::StateKey::new(state_key),
            server_info: modern::results::server_info_json(&config),
            listen_support: modern::listen::Supported::from_capabilities(&capabilities),
            stateless_contexts: 0,
            listens: 0,
            allowed_hosts: http_rules::parse_allowed_hosts(&config.allowed_hosts),
            trusted_proxies: config
                .proxy_protocol_from
                .iter()
                .filter_map(|entry| crate::proxy_protocol::Network::parse(entry))
                .collect(),
            config,
            capabilities,
            clock: MonotonicClock::new(now),
            entropy,
            conns: Slab::default(),
            exchanges: Slab::default(),
            sessions: Slab::default(),
            session_by_wire_id: BTreeMap::new(),
            streams: Slab::default(),
            inflight: Slab::default(),
            outbound: Slab::default(),
            subscribers: BTreeMap::new(),
            conn_timers: TimerQueue::new(),
            session_timers: TimerQueue::new(),
            stream_timers: TimerQueue::new(),
            inflight_timers: TimerQueue::new(),
            outbound_timers: TimerQueue::new(),
            verifications: auth::Verifications::default(),
            events: VecDeque::new(),
            reports: VecDeque::new(),
            dirty: VecDeque::new(),
            touched: VecDeque::new(),
            budget,
            detached: BTreeSet::new(),
            detach_order: 0,
            share_waiters: alloc::vec::Vec::new(),
            over_budget: alloc::vec::Vec::new(),
            readable: VecDeque::new(),
            input_waiters: VecDeque::new(),
            peers: BTreeMap::new(),
            host_exchanges: 0,
            closing: VecDeque::new(),
            host_ready: BTreeSet::new(),
            shutdown_deadline: None,
            shutdown_sessions_ended: false,
            shutdown_forced: false,
            counters: Counters::default(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The key input-required states are sealed with (2026-07-28). Engines that share a key
    /// accept each other's states; without one, an engine draws its own, so its states open
    /// only on it. Inject it from a secret store, never a constant.
    ///
    /// Two things hold only per engine: nonces come from the engine's seed, so engines that
    /// share a key must never share a seed (draw each from the OS, as the adapters do); and a
    /// state's expiry counts in the clock of the engine that sealed it, so engines that share
    /// a key should share their clock's epoch (Unix time, say) for expiry to mean the same.
    pub fn set_state_key(&mut self, key: [u8; 32]) {
        self.state_key = modern::input::StateKey::new(key);
    }

    /// Mixes fresh entropy into the session id generator.
    pub fn add_entropy(&mut self, fresh: [u8; 32]) {
        self.entropy.reseed(fresh);
    }

    /// The next application event. Its bytes are the application's from here on (a request's
    /// params stay charged to the request until it ends).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let Some(event) = self.events.pop_front() else {
            release_if_idle(&mut self.events);
            return None;
        };
        let (bytes, session) = budget::event_charge(&event);
        self.release(budget::Holding::Events, session, bytes);
        Some(event)
    }

    /// Records `now` and returns the engine's time (never earlier than before).
    fn tick(&mut self, now: Instant) -> Instant {
        self.clock.observe(now)
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn emit(&mut self, event: Event) {
        let (bytes, session) = budget::event_charge(&event);
        self.charge(budget::Holding::Events, session, bytes);
        self.events.push_back(event);
    }
}
