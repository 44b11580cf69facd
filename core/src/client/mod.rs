//! The client: MCP over HTTP from the other end, as a sans-IO state machine whose reconnects
//! cannot leak.
//!
//! [`Client`] owns its connections, exchanges, the session (or the stateless link), every
//! request in flight, every request from the server awaiting an answer, and every timer. Inputs
//! are connection events and bytes, the application's commands and the time; outputs are
//! [`Transmit`]s (open, write, close), [`ClientEvent`]s and the next deadline.
//!
//! - **Both eras.** With [`EraChoice::Auto`] it probes with `server/discover` and falls back to
//!   `initialize` when the server is not modern. In the session era it keeps the session id,
//!   sends `MCP-Protocol-Version`, opens the GET stream, resumes broken streams with
//!   `Last-Event-ID` after the server's `retry:` advice, opens a new session on 404, and
//!   `DELETE`s the session on close. In the 2026-07-28 era every request carries its `_meta`
//!   envelope and `Mcp-Method`/`Mcp-Name` headers, `input_required` results are answered
//!   through the application ([`ClientEvent::ServerRequest`]) and retried with the answers, a
//!   listen stream is reopened when it breaks, and cancelling closes the request's stream.
//! - **Every attempt is owned.** Reconnection backs off exponentially with jitter (the entropy
//!   is a seed you pass), at least as long as the server's `retry:` or `Retry-After` asks, at
//!   most [`Retry::max_attempts`] times in a row and within [`ClientTimeouts::reconnect`] for
//!   the whole episode; past either, the client closes. A long-lived stream (a listen, the GET
//!   stream) that ends without having made progress is a failure in a row too ([`Retry`] says
//!   what counts). Every call has a deadline and exactly one outcome: a response, or a failure
//!   when it times out, is cancelled, or its session or connection ends. Nothing polls: every
//!   wait is a timer.
//! - **Over a pipe too.** With [`Transport::Pipe`] the same client speaks over one byte stream,
//!   one message per line (the stdio transport: a child's stdin and stdout): the same
//!   handshakes, routing, timeouts and `input_required` rounds, with no reconnection; a cancel
//!   or a timeout is `notifications/cancelled` in both eras, and the pipe's end
//!   ([`Client::handle_pipe_ended`]) fails every call at once.
//! - **Credentials.** [`Client::set_authorization`] sets the `Authorization` field every
//!   request carries. A request the server refuses for want of one (401, or a step-up 403)
//!   waits, and [`ClientEvent::AuthorizationRequired`] asks the application for new
//!   credentials; nothing new goes out until they come or it gives up
//!   ([`Client::authorization_failed`]), at most [`ClientTimeouts::authorization`] later.
//!
//! # The run loop
//!
//! ```
//! use mcpwire_core::client::{Client, ClientConfig, ClientEvent, EraChoice, Transmit};
//! use mcpwire_core::engine::{Config, ConnAction, Engine};
//! use mcpwire_core::time::Instant;
//!
//! // A server engine stands in for the network here; an adapter has sockets instead.
//! let mut server = Engine::new(Config::new("demo", "1.0.0"), Instant::ZERO, [1; 32]);
//! let mut config = ClientConfig::new("127.0.0.1:3000", "/mcp", "demo-client", "1.0.0");
//! config.era = EraChoice::Sessions;
//! let mut client = Client::new(config, Instant::ZERO, [2; 32]);
//! let now = Instant::ZERO;
//! let ping = client.request(now, "ping", None, Default::default()).unwrap();
//!
//! let mut links = Vec::new(); // (client connection, server connection)
//! let (mut out, mut back) = (Vec::new(), Vec::new());
//! let mut answer = None;
//! while answer.is_none() {
//!     // 1. The client's transmits: open, write, close.
//!     while let Some(transmit) = client.poll_transmit(&mut out) {
//!         match transmit {
//!             Transmit::Open { conn } => {
//!                 links.push((conn, server.handle_accept(now, None).unwrap()));
//!                 client.handle_connected(now, conn);
//!             }
//!             Transmit::Write { conn, len } => {
//!                 let (_, peer) = links.iter().find(|(c, _)| *c == conn).unwrap();
//!                 let _ = server.handle_bytes(now, *peer, &out[out.len() - len..]);
//!             }
//!             Transmit::Close { conn } => links.retain(|(c, _)| *c != conn),
//!         }
//!     }
//!     // 2. The server's bytes back to the client.
//!     while let Some(action) = server.poll_transmit(&mut back) {
//!         if let ConnAction::Write { conn: peer, len } = action {
//!             server.handle_written(now, peer, len);
//!             if let Some((conn, _)) = links.iter().find(|(_, p)| *p == peer) {
//!                 client.handle_bytes(now, *conn, &back[back.len() - len..]);
//!             }
//!         }
//!     }
//!     while server.poll_event().is_some() {}
//!     // 3. The client's events.
//!     while let Some(event) = client.poll_event() {
//!         if let ClientEvent::Response { call, result } = event {
//!             assert_eq!(call, ping);
//!             answer = Some(result);
//!         }
//!     }
//! }
//! assert_eq!(answer.unwrap().get(), "{}");
//! client.check_invariants().unwrap();
//! ```

pub mod auth;
mod authorization;
#[cfg(test)]
mod authorization_tests;
mod config;
mod entities;
mod events;
mod legacy;
mod link;
mod messages;
mod param_headers;
mod pipe;
#[cfg(test)]
mod pipe_hostile_tests;
#[cfg(test)]
mod pipe_tests;
#[cfg(test)]
mod scripted_tests;
mod stats;
#[cfg(test)]
mod tests;
mod transport;
mod wire;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

pub use config::{ClientConfig, ClientLimits, ClientTimeouts, Era, EraChoice, Retry, Transport};
pub use events::{
    CallError, CallId, ClientConnId, ClientEvent, CloseReason, CommandError, ServerRequestId,
    Transmit,
};
pub use param_headers::{InvalidAnnotation, header_annotations, param_headers};
pub use stats::ClientStats;

use entities::{
    Call, CallState, ClientTimer, Conn, ConnState, Link, Origin, Owner, Phase, Post, Purpose,
    ServerRequest, Standalone, Timers, deadline_after,
};

use crate::entropy::Entropy;
use crate::jsonrpc::{ErrorObject, RawValue};
use crate::time::{Duration, Instant};
use crate::timer::TimerQueue;

/// How one call behaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallOptions {
    /// Its deadline, from now; `None` uses [`ClientTimeouts::request`].
    pub timeout: Option<Duration>,
    /// Ask for progress notifications (`_meta.progressToken`); they arrive as
    /// [`ClientEvent::Notification`] with this call's id.
    pub progress: bool,
    /// Extra header fields for this call: the `Mcp-Param-*` fields of a 2026-07-28 tool
    /// call ([`param_headers()`]). Sent only in that era.
    pub headers: Vec<(String, String)>,
}

/// The sans-IO MCP client. See the [module documentation](self) for the run loop.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    entropy: Entropy,
    now: Instant,
    next_id: u64,
    link: Link,
    calls: BTreeMap<CallId, Call>,
    /// JSON-RPC id on the wire → the call whose attempt it is.
    by_wire: BTreeMap<u64, CallId>,
    /// Calls waiting for the link or a connection, in the order they will go.
    queued: BTreeSet<CallId>,
    conns: BTreeMap<ClientConnId, Conn>,
    /// Over a pipe, its one connection (and `conns` stays empty).
    pipe: Option<pipe::Pipe>,
    idle: BTreeSet<ClientConnId>,
    posts: BTreeMap<u64, Post>,
    unsent_posts: BTreeSet<u64>,
    server_requests: BTreeMap<ServerRequestId, ServerRequest>,
    /// The credential, and the wait for a new one.
    gate: authorization::Gate,
    /// The handshake request's wire id.
    handshake_wire: u64,
    timers: TimerQueue<Owner, ClientTimer>,
    actions: VecDeque<Action>,
    events: VecDeque<ClientEvent>,
    counters: stats::Counters,
    #[cfg(feature = "sim-faults")]
    faults: ClientFaults,
}

/// Deliberate defects, for proving that the simulator catches them.
#[cfg(feature = "sim-faults")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientFaults {
    /// A reconnect attempt's backoff timer is forgotten when the client closes.
    pub forget_retry_timer_on_close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Open(ClientConnId),
    Flush(ClientConnId),
    Close(ClientConnId),
}

/// The 2026-07-28 revision.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The HTTP+SSE transport's revision.
pub const LEGACY_VERSION: &str = "2024-11-05";
/// Session-era revisions this client speaks, newest first; it asks for the first.
pub const SESSION_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

impl Client {
    /// A client that starts connecting at once: its first [`Transmit::Open`] is ready.
    /// `seed` is the entropy for backoff jitter.
    #[must_use]
    pub fn new(mut config: ClientConfig, now: Instant, seed: [u8; 32]) -> Client {
        // A configured credential is the gate's first: one field, which `set_authorization`
        // replaces.
        let mut gate = authorization::Gate::default();
        if let Some(at) = config
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            gate.value = Some(config.headers.remove(at).1);
            config
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        }
        let mut client = Client {
            entropy: Entropy::from_seed(seed),
            now,
            next_id: 1,
            link: Link {
                phase: Phase::Discovering,
                era: None,
                version: String::new(),
                session: None,
                generation: 0,
                failures: 0,
                losses: 0,
                suspended: false,
                standalone: Standalone::Off,
                standalone_last_event: String::new(),
                standalone_failures: 0,
                server_retry: None,
                legacy_endpoint: None,
                handshake_result: None,
                timers: Timers::new(),
            },
            calls: BTreeMap::new(),
            by_wire: BTreeMap::new(),
            queued: BTreeSet::new(),
            conns: BTreeMap::new(),
            pipe: None,
            idle: BTreeSet::new(),
            posts: BTreeMap::new(),
            unsent_posts: BTreeSet::new(),
            server_requests: BTreeMap::new(),
            gate,
            handshake_wire: 0,
            timers: TimerQueue::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            counters: stats::Counters::default(),
            #[cfg(feature = "sim-faults")]
            faults: ClientFaults::default(),
            config,
        };
        client.counters.held_bytes = client.held_bytes();
        client.begin_episode(now);
        client.link.phase = match client.config.era {
            EraChoice::Sessions => Phase::Initializing,
            EraChoice::Auto | EraChoice::Modern => Phase::Discovering,
        };
        if client.is_pipe() {
            client.open_pipe();
        }
        client.send_handshake();
        client
    }

    /// Turns on deliberate defects (simulator builds only).
    #[cfg(feature = "sim-faults")]
    pub fn set_faults(&mut self, faults: ClientFaults) {
        self.faults = faults;
    }

    // ---- application commands ----

    /// Sends a request; its outcome arrives as [`ClientEvent::Response`] or
    /// [`ClientEvent::Failed`] with the returned id. Queued until the client is connected.
    pub fn request(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
        options: CallOptions,
    ) -> Result<CallId, CommandError> {
        self.observe(now);
        let timeout = options.timeout.unwrap_or(self.config.timeouts.request);
        let clean = |s: &str| !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
        let valid = options
            .headers
            .iter()
            .all(|(n, v)| !n.is_empty() && !n.contains(':') && clean(n) && clean(v));
        if !valid {
            return Err(CommandError::InvalidHeader);
        }
        let call = self.new_call(method, params, options.progress, false, options.headers)?;
        let deadline = deadline_after(self.now, timeout);
        if let Some(entry) = self.calls.get_mut(&call) {
            self.timers.set(
                &mut entry.timers,
                Owner::Call(call),
                ClientTimer::Deadline,
                deadline,
            );
        }
        self.pump();
        Ok(call)
    }

    /// Opens a 2026-07-28 `subscriptions/listen` stream with `filter` (the `notifications`
    /// object: `{"toolsListChanged": true, "resourceSubscriptions": ["file:///a"]}`). Its frames
    /// arrive as [`ClientEvent::Notification`] with the returned id. It has no deadline, is
    /// reopened when it ends or breaks (promptly after progress, with backoff otherwise: see
    /// [`Retry`]), and ends with [`Client::cancel`], the server's result, or
    /// [`CallError::ConnectionLost`] after [`Retry::max_attempts`] ends in a row without
    /// progress. In the session era it fails with [`CallError::Protocol`].
    pub fn listen(&mut self, now: Instant, filter: &RawValue) -> Result<CallId, CommandError> {
        self.observe(now);
        if self.link.era == Some(Era::Sessions) {
            return Err(CommandError::Unsupported);
        }
        let params = wire::listen_params(filter).ok_or(CommandError::InvalidParams)?;
        let call = self.new_call(
            "subscriptions/listen",
            Some(&params),
            false,
            true,
            Vec::new(),
        )?;
        self.pump();
        Ok(call)
    }

    /// Sends a notification (fire and forget: it is posted within
    /// [`ClientTimeouts::post`] or dropped). Queued until the client is connected.
    pub fn notify(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<(), CommandError> {
        self.observe(now);
        self.accepting()?;
        let body = wire::notification(method, params);
        self.queue_post(body)?;
        self.pump();
        Ok(())
    }

    /// Cancels a call: its outcome is [`CallError::Cancelled`], now. The server is told by
    /// `notifications/cancelled` (session era) or by closing the request's stream (2026-07-28).
    pub fn cancel(&mut self, now: Instant, call: CallId) -> Result<(), CommandError> {
        self.observe(now);
        if !self.calls.contains_key(&call) {
            return Err(CommandError::Unknown);
        }
        self.fail_call(call, CallError::Cancelled, true);
        self.pump();
        Ok(())
    }

    /// Answers a request from the server ([`ClientEvent::ServerRequest`]) with a result or an
    /// error.
    pub fn respond(
        &mut self,
        now: Instant,
        request: ServerRequestId,
        outcome: Result<&RawValue, &ErrorObject>,
    ) -> Result<(), CommandError> {
        self.observe(now);
        let Some(mut entry) = self.server_requests.remove(&request) else {
            return Err(CommandError::Unknown);
        };
        self.timers
            .stop_all(&mut entry.timers, Owner::ServerRequest(request));
        match entry.origin {
            Origin::Session { id, generation } => {
                if generation == self.link.generation && self.link.phase == Phase::Ready {
                    let body = wire::response(&id, outcome);
                    if body.len() > self.config.limits.max_request_bytes {
                        let error = ErrorObject {
                            code: crate::jsonrpc::ErrorCode::INTERNAL_ERROR.0,
                            message: "response too large for the client to send".into(),
                            data: None,
                        };
                        let _ = self.queue_post(wire::response(&id, Err(&error)));
                        return Err(CommandError::TooLarge);
                    }
                    self.queue_post(body)?;
                }
            }
            Origin::Input { call, key } => self.answer_input(call, key, outcome),
        }
        self.pump();
        Ok(())
    }

    /// Closes the client: every call fails with [`CallError::Closed`], every connection
    /// closes, and a session is ended with `DELETE` (within [`ClientTimeouts::close`]).
    /// [`ClientEvent::Closed`] follows; then nothing is left.
    pub fn close(&mut self, now: Instant) {
        self.observe(now);
        if matches!(self.link.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        // No wait outlives the client: what it parked fails with the rest, as closed.
        self.end_wait();
        // A session exists from the initialize answer on: DELETE it even mid-handshake.
        let session = self.link.session.is_some()
            && matches!(self.link.phase, Phase::Ready | Phase::Acknowledging);
        if session {
            // Closing first: what ends below must not start anything again.
            self.link.phase = Phase::Closing;
            self.clear_work(CallError::Closed);
            self.link.suspended = false;
            self.timers.stop_all(&mut self.link.timers, Owner::Link);
            let deadline = deadline_after(self.now, self.config.timeouts.close);
            self.timers.set(
                &mut self.link.timers,
                Owner::Link,
                ClientTimer::Deadline,
                deadline,
            );
            self.start_exchange(Purpose::Delete);
        } else {
            self.shut_down(CloseReason::Requested);
        }
    }

    // ---- state ----

    /// The era, once connected.
    #[must_use]
    pub fn era(&self) -> Option<Era> {
        self.link.era
    }

    /// The negotiated protocol version, once connected.
    #[must_use]
    pub fn protocol_version(&self) -> Option<&str> {
        (!self.link.version.is_empty()).then_some(self.link.version.as_str())
    }

    /// The session id, in the session era.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.link.session.as_deref()
    }

    /// Whether requests go out now.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.link.phase == Phase::Ready && !self.link.suspended
    }

    /// Whether `request` still awaits the application's answer (it ends unanswered when it
    /// times out, the server withdraws it, or its session or the client ends).
    #[must_use]
    pub fn is_server_request_pending(&self, request: ServerRequestId) -> bool {
        self.server_requests.contains_key(&request)
    }

    /// Whether the client has closed: nothing is left in it.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.link.phase == Phase::Closed
    }

    // ---- outputs ----

    /// The next socket action. Bytes of a [`Transmit::Write`] are appended to `out`.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Option<Transmit> {
        while let Some(action) = self.actions.pop_front() {
            match action {
                Action::Open(conn) => return Some(Transmit::Open { conn }),
                Action::Close(conn) => return Some(Transmit::Close { conn }),
                Action::Flush(conn) => {
                    if let Some(pipe) = self.pipe.as_mut().filter(|p| p.conn == conn) {
                        if !pipe.open || pipe.out.is_empty() {
                            continue;
                        }
                        let len = pipe.out.len();
                        out.append(&mut pipe.out);
                        pipe.out = Vec::new();
                        return Some(Transmit::Write { conn, len });
                    }
                    let Some(entry) = self.conns.get_mut(&conn) else {
                        continue;
                    };
                    if entry.out.is_empty() || entry.state == ConnState::Connecting {
                        continue;
                    }
                    let len = entry.out.len();
                    out.append(&mut entry.out);
                    entry.out = Vec::new();
                    return Some(Transmit::Write { conn, len });
                }
            }
        }
        None
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call [`Client::handle_timeout`]: `now` while output or events are queued,
    /// `None` once closed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.actions.is_empty() || !self.events.is_empty() {
            return Some(self.now);
        }
        self.timers.next_deadline()
    }

    // ---- internals shared by the modules ----

    fn observe(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn random(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.entropy.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn accepting(&self) -> Result<(), CommandError> {
        match self.link.phase {
            Phase::Closing | Phase::Closed => Err(CommandError::Closed),
            _ => Ok(()),
        }
    }

    fn held_bytes(&self) -> usize {
        self.calls.values().map(Call::held_bytes).sum::<usize>()
            + self.posts.values().map(|p| p.body.len()).sum::<usize>()
            + self.gate.held_bytes()
    }

    fn new_call(
        &mut self,
        method: &str,
        params: Option<&RawValue>,
        progress: bool,
        persistent: bool,
        headers: Vec<(String, String)>,
    ) -> Result<CallId, CommandError> {
        self.accepting()?;
        if let Some(params) = params {
            if !params.get().trim_start().starts_with('{') {
                return Err(CommandError::InvalidParams);
            }
        }
        let size = params.map_or(0, |p| p.get().len())
            + method.len()
            + headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        if size > self.config.limits.max_request_bytes {
            return Err(CommandError::TooLarge);
        }
        if self.calls.len() >= self.config.limits.max_calls
            || self.counters.held_bytes + size > self.config.limits.max_held_bytes
        {
            return Err(CommandError::Busy);
        }
        let call = CallId(self.fresh_id());
        self.calls.insert(
            call,
            Call {
                method: method.into(),
                params: params.map(|p| {
                    RawValue::from_string(p.get().into()).unwrap_or_else(|_| empty_object())
                }),
                state: CallState::Queued,
                progress,
                persistent,
                wire_id: 0,
                generation: self.link.generation,
                last_event_id: String::new(),
                resume: false,
                server_retry: None,
                failures: 0,
                input: None,
                headers,
                authorizations: 0,
                parked: false,
                timers: Timers::new(),
            },
        );
        self.counters.held_bytes = self.held_bytes();
        self.queued.insert(call);
        self.counters.calls_started += 1;
        Ok(call)
    }

    fn queue_post(&mut self, body: Vec<u8>) -> Result<(), CommandError> {
        if body.len() > self.config.limits.max_request_bytes {
            return Err(CommandError::TooLarge);
        }
        if self.posts.len() >= self.config.limits.max_queued
            || self.counters.held_bytes + body.len() > self.config.limits.max_held_bytes
        {
            self.counters.posts_dropped += 1;
            return Err(CommandError::Busy);
        }
        let id = self.fresh_id();
        let mut timers = Timers::new();
        let deadline = deadline_after(self.now, self.config.timeouts.post);
        self.timers.set(
            &mut timers,
            Owner::Post(id),
            ClientTimer::Deadline,
            deadline,
        );
        self.counters.held_bytes += body.len();
        self.posts.insert(
            id,
            Post {
                body,
                sent: false,
                authorizations: 0,
                parked: false,
                timers,
            },
        );
        self.unsent_posts.insert(id);
        Ok(())
    }

    fn push_event(&mut self, event: ClientEvent) {
        let droppable = matches!(event, ClientEvent::Notification { .. });
        if droppable && self.events.len() >= self.config.limits.max_queued {
            self.counters.notifications_dropped += 1;
            return;
        }
        self.events.push_back(event);
    }

    /// Ends a call with its one outcome: timers, indexes and its connection go with it.
    fn end_call(&mut self, call: CallId, outcome: ClientEvent) {
        let Some(mut entry) = self.calls.remove(&call) else {
            return;
        };
        self.timers.stop_all(&mut entry.timers, Owner::Call(call));
        self.queued.remove(&call);
        if entry.wire_id != 0 {
            self.by_wire.remove(&entry.wire_id);
        }
        if let Some(round) = entry.input.take() {
            for request in round.pending.values() {
                if let Some(mut pending) = self.server_requests.remove(request) {
                    self.timers
                        .stop_all(&mut pending.timers, Owner::ServerRequest(*request));
                }
            }
        }
        if let CallState::Sent(conn) = entry.state {
            // Its exchange is over: a stream still carrying it goes (2026-07-28: that is the
            // cancellation); a connection its finished JSON answer returned to the pool stays.
            let carrying = self
                .conns
                .get(&conn)
                .and_then(|c| c.exchange.as_ref())
                .is_some_and(
                    |e| matches!(e.purpose, Purpose::Call(c) | Purpose::Resume(c) if c == call),
                );
            if carrying {
                self.drop_conn(conn);
            }
        }
        self.counters.held_bytes = self.held_bytes();
        match &outcome {
            ClientEvent::Response { .. } => self.counters.calls_answered += 1,
            _ => self.counters.calls_failed += 1,
        }
        self.push_event(outcome);
    }

    /// Fails a call; `tell_server` sends `notifications/cancelled` for a session-era request
    /// the server has.
    fn fail_call(&mut self, call: CallId, error: CallError, tell_server: bool) {
        let Some(entry) = self.calls.get(&call) else {
            return;
        };
        let on_server = matches!(
            entry.state,
            CallState::Sent(_) | CallState::Backoff | CallState::Awaiting
        ) && entry.wire_id != 0
            && entry.generation == self.link.generation;
        if tell_server
            && on_server
            // Over a pipe there is no stream to close: the server is told in both eras.
            && (matches!(self.link.era, Some(Era::Sessions | Era::HttpSse)) || self.is_pipe())
            && self.link.phase == Phase::Ready
            && entry.method != "initialize"
        {
            let reason = match error {
                CallError::Timeout => "timed out",
                _ => "cancelled by the client",
            };
            let body = wire::cancelled(entry.wire_id, reason);
            let _ = self.queue_post(body);
        }
        self.end_call(call, ClientEvent::Failed { call, error });
    }

    /// Every call fails with `error`, and the transport is cleared.
    fn clear_work(&mut self, error: CallError) {
        let calls: Vec<CallId> = self.calls.keys().copied().collect();
        for call in calls {
            self.end_call(
                call,
                ClientEvent::Failed {
                    call,
                    error: error.clone(),
                },
            );
        }
        self.clear_transport();
    }

    /// Every post and server request goes, every connection closes, and the standalone
    /// stream is off: what a session's loss and the client's close share. Calls are the
    /// caller's (some survive a lost session).
    fn clear_transport(&mut self) {
        let posts: Vec<u64> = self.posts.keys().copied().collect();
        for post in posts {
            self.end_post(post);
        }
        let requests: Vec<ServerRequestId> = self.server_requests.keys().copied().collect();
        for request in requests {
            if let Some(mut entry) = self.server_requests.remove(&request) {
                self.timers
                    .stop_all(&mut entry.timers, Owner::ServerRequest(request));
            }
        }
        let conns: Vec<ClientConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.drop_conn(conn);
        }
        self.close_pipe();
        self.link.standalone = Standalone::Off;
        self.gate.standalone_parked = false;
        self.timers
            .stop(&mut self.link.timers, Owner::Link, ClientTimer::Standalone);
    }

    fn end_post(&mut self, post: u64) {
        if let Some(mut entry) = self.posts.remove(&post) {
            self.timers.stop_all(&mut entry.timers, Owner::Post(post));
            self.unsent_posts.remove(&post);
            self.counters.held_bytes = self.counters.held_bytes.saturating_sub(entry.body.len());
        }
    }

    /// Closed for good: nothing is left, [`ClientEvent::Closed`] says why.
    fn shut_down(&mut self, reason: CloseReason) {
        if self.link.phase == Phase::Closed {
            return;
        }
        // Closed first: what ends below must not start anything again (a stream that breaks
        // would otherwise reopen itself).
        self.link.phase = Phase::Closed;
        self.clear_work(CallError::Closed);
        #[cfg(feature = "sim-faults")]
        let keep_retry = self.faults.forget_retry_timer_on_close;
        #[cfg(not(feature = "sim-faults"))]
        let keep_retry = false;
        if keep_retry {
            self.timers
                .stop(&mut self.link.timers, Owner::Link, ClientTimer::Deadline);
            self.timers
                .stop(&mut self.link.timers, Owner::Link, ClientTimer::Standalone);
            self.timers.stop(
                &mut self.link.timers,
                Owner::Link,
                ClientTimer::Authorization,
            );
        } else {
            self.timers.stop_all(&mut self.link.timers, Owner::Link);
        }
        // The credential goes with the rest: a closed client holds nothing.
        self.gate = authorization::Gate::default();
        self.link.phase = Phase::Closed;
        self.link.session = None;
        self.link.suspended = false;
        self.link.handshake_result = None;
        self.counters.held_bytes = self.held_bytes();
        self.events.push_back(ClientEvent::Closed { reason });
    }

    fn answer_input(
        &mut self,
        call: CallId,
        key: String,
        outcome: Result<&RawValue, &ErrorObject>,
    ) {
        let result = match outcome {
            Ok(result) => result,
            Err(error) => {
                self.fail_call(call, CallError::Rpc(error.clone()), false);
                return;
            }
        };
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(round) = entry.input.as_mut() else {
            return;
        };
        round.pending.remove(&key);
        round.answers.insert(
            key,
            RawValue::from_string(result.get().into()).unwrap_or_else(|_| empty_object()),
        );
        if round.pending.is_empty() {
            entry.state = CallState::Queued;
            self.queued.insert(call);
        }
        self.counters.held_bytes = self.held_bytes();
    }
}

fn empty_object() -> Box<RawValue> {
    // `{}` always parses; the fallback (`null`) keeps the core free of panic paths anyway.
    RawValue::from_string("{}".into()).unwrap_or_default()
}

impl Client {
    /// Marks the exchange carrying `purpose` as having had its message: what remains of its
    /// response belongs to no one and is read to its end or dropped with the connection.
    ///
    /// A stream that stays open after its message would hold its connection with no owner
    /// and no deadline, so it is closed instead; a JSON body is finishing anyway.
    fn settle(&mut self, purpose: Purpose) {
        let carrying: Vec<ClientConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.exchange.as_ref().is_some_and(|e| e.purpose == purpose))
            .map(|(id, _)| *id)
            .collect();
        for conn in carrying {
            self.release_exchange(conn, purpose);
        }
    }

    /// The exchange for `purpose` on `conn` has had its message: a stream is closed, a JSON
    /// body is left to finish (and its connection to go back to the pool).
    fn release_exchange(&mut self, conn: ClientConnId, purpose: Purpose) {
        let Some(exchange) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.exchange.as_mut())
            .filter(|e| e.purpose == purpose)
        else {
            return;
        };
        exchange.settled = true;
        if matches!(exchange.body, entities::Body::Events(_)) {
            self.drop_conn(conn);
        }
    }
}
