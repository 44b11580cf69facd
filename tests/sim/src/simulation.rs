//! [`Simulation`]: one seeded run of the real engine against virtual clients, a simulated
//! network and a virtual clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use mcpwire_core::engine::{
    CommandError, Config, ConnAction, ConnId, Engine, Event, Grant, Heartbeat, LogLevel, Reply,
    Reporting, RequestHandle, ResourceServer, ResponseMode, SessionKey, Target, Verdict,
    VerificationId,
};
use mcpwire_core::jsonrpc::RawValue;
use mcpwire_core::time::{Duration, Instant};

use crate::rng::{Rng, TraceHash};

/// What one run does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed: everything below follows from it.
    pub seed: u64,
    /// Steps before the liveness phase.
    pub steps: u64,
    /// Virtual clients, 1 to 128.
    pub clients: usize,
    /// Print each action as it runs.
    pub trace: bool,
    /// Reads the process's live heap bytes (a counting allocator), to bound the heap after
    /// every step and require it back at its baseline at the end. `None` skips the heap checks.
    pub heap: Option<fn() -> usize>,
    /// Known leaks to re-introduce into the engine (all off by default).
    pub faults: mcpwire_core::engine::Faults,
    /// Read every choice from these bytes instead of the seed ([`Rng::from_bytes`]): how a
    /// fuzzer drives the simulator.
    pub script: Option<Vec<u8>>,
    /// Adversary mode: tight byte budgets, and clients that open and cut streams as fast as
    /// they can, send huge `clientInfo`, subscribe with long URIs and never read, while the
    /// application sends large messages. Every step must still leave the engine within its
    /// budget.
    pub adversary: bool,
    /// Clients also speak over pipes (stdio): each may open one and write lines of either
    /// era to it, cancel, listen, and end its input. Off by default, so that the committed
    /// seeds replay the runs they recorded.
    pub pipes: bool,
}

impl SimConfig {
    /// A run of `steps` steps with `clients` clients for `seed`, no tracing, no heap checks and
    /// no injected faults.
    #[must_use]
    pub fn new(seed: u64, steps: u64, clients: usize) -> SimConfig {
        SimConfig {
            seed,
            steps,
            clients,
            trace: false,
            heap: None,
            faults: mcpwire_core::engine::Faults::default(),
            script: None,
            adversary: false,
            pipes: false,
        }
    }

    /// The same run with pipes (see [`SimConfig::pipes`]).
    #[must_use]
    pub fn pipes(mut self) -> SimConfig {
        self.pipes = true;
        self
    }

    /// The same run in adversary mode (see [`SimConfig::adversary`]).
    #[must_use]
    pub fn adversary(mut self) -> SimConfig {
        self.adversary = true;
        self
    }
}

/// Heap allowed per live entity (connection, exchange, session, stream, request) beyond the
/// bytes the engine reports holding. Measured costs are about 0.8 KB per idle session and 2.2 KB
/// with a GET stream and its connection (BENCHMARKS.md); this leaves room for the simulator's
/// own bookkeeping of each.
const HEAP_PER_ENTITY: usize = 4 * 1024;

/// Heap a finished run may keep above its baseline: capacity retained by queues that empty
/// (the engine's event and output queues, the simulator's buffers), which does not grow with
/// the run's length.
const HEAP_SLACK: usize = 128 * 1024;

/// The application under test: your event handler, run by the simulator against its virtual
/// clients. It sees every event the engine emits and may answer through the engine at once or
/// on a later step. When one is given, the simulator's own random application (answers,
/// progress, logs, broadcasts, closes) is switched off.
pub trait Application {
    /// An event from the engine, as an adapter would dispatch it.
    fn on_event(&mut self, engine: &mut Engine, now: Instant, event: &Event);

    /// Called once per step with the run's generator: act on your own schedule here (answer a
    /// request later, broadcast, close a session). Use `rng` for every choice, so that the seed
    /// still reproduces the run.
    fn on_step(&mut self, engine: &mut Engine, now: Instant, rng: &mut Rng) {
        let _ = (engine, now, rng);
    }
}

/// A run that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Hash of every byte and event the engine produced: equal for equal seeds.
    pub trace_hash: u64,
    /// Sessions opened during the run.
    pub sessions_opened: u64,
    /// HTTP requests the engine routed.
    pub http_requests: u64,
    /// Engine API calls made.
    pub engine_calls: u64,
}

/// A run that failed: where, why, and the actions that led there.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed that reproduces it.
    pub seed: u64,
    /// The step it failed at (`steps` for the liveness phase).
    pub step: u64,
    /// What went wrong, in a sentence.
    pub reason: String,
    /// The last actions before the failure.
    pub recent: Vec<String>,
}

/// The kinds of action, each with a weight drawn per seed (swarm testing: some switched off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Connect,
    Initialize,
    Initialized,
    Call,
    Get,
    Delete,
    Cancel,
    Subscribe,
    SplitPing,
    Garbage,
    Respond,
    Progress,
    Log,
    AskClient,
    Notify,
    Broadcast,
    ResourceUpdated,
    Advance,
    ClockBack,
    Close,
    HalfClose,
    Vanish,
    Pause,
    Resume,
    LegacyOpen,
    LegacyPost,
    HostRequest,
    HostPoll,
    HostClose,
    CloseSession,
    Shutdown,
    CutStream,
    HugeClientInfo,
    LongUri,
    BigMessage,
    StatelessCall,
    Listen,
    Discover,
    /// The application answers a token verification (a server with a resource only).
    Verify,
    /// A client's token is refreshed: a new token for the same principal.
    Refresh,
    /// A client opens a pipe (stdio).
    PipeOpen,
    /// A line on a client's pipe: either era's opening, a call, a cancel, a listen, garbage.
    PipeLine,
    /// A client's pipe input ends.
    PipeEof,
}

/// The pipe's kinds: drawn only when [`SimConfig::pipes`] is on.
const PIPE_KINDS: [Kind; 3] = [Kind::PipeOpen, Kind::PipeLine, Kind::PipeEof];

/// What the adversary does, weighted up in adversary mode.
const ADVERSARY: [Kind; 5] = [
    Kind::CutStream,
    Kind::HugeClientInfo,
    Kind::LongUri,
    Kind::BigMessage,
    Kind::Pause,
];

const KINDS: [Kind; 43] = [
    Kind::Connect,
    Kind::Initialize,
    Kind::Initialized,
    Kind::Call,
    Kind::Get,
    Kind::Delete,
    Kind::Cancel,
    Kind::Subscribe,
    Kind::SplitPing,
    Kind::Garbage,
    Kind::Respond,
    Kind::Progress,
    Kind::Log,
    Kind::AskClient,
    Kind::Notify,
    Kind::Broadcast,
    Kind::ResourceUpdated,
    Kind::Advance,
    Kind::ClockBack,
    Kind::Close,
    Kind::HalfClose,
    Kind::Vanish,
    Kind::Pause,
    Kind::Resume,
    Kind::LegacyOpen,
    Kind::LegacyPost,
    Kind::HostRequest,
    Kind::HostPoll,
    Kind::HostClose,
    Kind::CloseSession,
    Kind::Shutdown,
    Kind::CutStream,
    Kind::HugeClientInfo,
    Kind::LongUri,
    Kind::BigMessage,
    Kind::StatelessCall,
    Kind::Listen,
    Kind::Discover,
    Kind::Verify,
    Kind::Refresh,
    Kind::PipeOpen,
    Kind::PipeLine,
    Kind::PipeEof,
];

/// A virtual client: its connections and what it learned from the wire.
#[derive(Debug, Default)]
struct Client {
    conns: Vec<ConnId>,
    session: Option<String>,
    last_event_id: Option<String>,
    /// The POST URL a legacy (2024-11-05) endpoint event gave this client.
    legacy_endpoint: Option<String>,
    next_id: u64,
    /// Which of its tokens the client sends (a refresh moves to the next).
    token: u32,
    /// Its pipe, while open.
    pipe: Option<ConnId>,
}

/// One seeded run.
pub struct Simulation {
    config: SimConfig,
    engine: Engine,
    now: Instant,
    rng: Rng,
    weights: [u32; KINDS.len()],
    clients: Vec<Client>,
    /// Which client owns each live connection.
    owner: BTreeMap<ConnId, usize>,
    /// Connections whose reader stopped (paused or vanished), with the bytes it has not
    /// acknowledged.
    unread: BTreeMap<ConnId, usize>,
    /// Connections that vanished: they never read or close again.
    vanished: BTreeSet<ConnId>,
    /// Requests the application has not answered.
    pending: Vec<RequestHandle>,
    /// Requests whose last command got `WouldBlock` and that have not been told `Writable`
    /// since: each must be told, or cancelled, before the run ends.
    blocked: BTreeSet<RequestHandle>,
    /// Request-level exchanges a host is reading.
    host_exchanges: Vec<mcpwire_core::engine::ExchangeId>,
    /// Reference model: sessions the events say are alive.
    live_sessions: BTreeSet<SessionKey>,
    hash: TraceHash,
    calls: u64,
    recent: Vec<String>,
    buf: Vec<u8>,
    /// Live heap when the run began.
    heap_baseline: usize,
    /// The user's application, if any.
    app: Option<Box<dyn Application>>,
    /// Connections come through a proxy that sends the PROXY protocol (see `accept`).
    proxied: bool,
    /// The server is a protected resource: requests carry bearer tokens (see `authorize`).
    protected: bool,
    /// Token verifications asked for and not answered or cancelled yet.
    verifying: Vec<(VerificationId, String)>,
    /// The step being run.
    step_index: u64,
    /// Bytes of the request the simulator is sending: its own, outside the engine's budget.
    sending: usize,
}

impl Simulation {
    /// A run for `config`, with its action weights drawn from the seed.
    #[must_use]
    pub fn new(config: SimConfig) -> Simulation {
        let mut rng = match &config.script {
            Some(bytes) => Rng::from_bytes(bytes),
            None => Rng::new(config.seed),
        };
        let mut weights = [0u32; KINDS.len()];
        for (i, kind) in KINDS.iter().enumerate() {
            if PIPE_KINDS.contains(kind) {
                // No draw without pipes: every other choice of a seed stays what it was.
                weights[i] = if config.pipes {
                    1 + rng.below(10) as u32
                } else {
                    0
                };
                continue;
            }
            // Swarm testing: each kind is on for a seed with probability 3/4, at a weight of
            // 1 to 10; connecting, initializing and time always move.
            let essential = matches!(
                kind,
                Kind::Connect
                    | Kind::Initialize
                    | Kind::Call
                    | Kind::Advance
                    | Kind::StatelessCall
                    | Kind::Listen
            );
            weights[i] = if essential || rng.chance(75) {
                1 + rng.below(10) as u32
            } else {
                0
            };
            if config.adversary && ADVERSARY.contains(kind) {
                weights[i] = 10 + rng.below(20) as u32;
            }
        }
        let mut engine_config = Config::new("mcpwire-sim", "1");
        engine_config.application_paths = alloc_paths();
        // Taken from the seed, not drawn, so that every seed keeps its other choices.
        engine_config.reporting = match config.seed % 3 {
            0 => Reporting::Off,
            1 => Reporting::Refusals,
            _ => Reporting::Everything,
        };
        engine_config.response_mode = if rng.chance(50) {
            ResponseMode::Sse
        } else {
            ResponseMode::Auto
        };
        if rng.chance(50) {
            engine_config.timeouts.heartbeat = Some(Heartbeat {
                interval: Duration::from_secs(20),
                timeout: Duration::from_secs(5),
                max_failures: 3,
            });
        }
        if rng.chance(50) {
            engine_config.timeouts.request = Some(Duration::from_secs(30));
        }
        // What listen streams can be told of.
        engine_config.capabilities =
            r#"{"tools":{"listChanged":true},"resources":{"subscribe":true}}"#.into();
        engine_config.faults = config.faults;
        engine_config.limits.max_inflight_per_session = 8;
        engine_config.limits.max_sessions = 64;
        engine_config.limits.resume_log_events = 16;
        engine_config.limits.max_queued_bytes_per_connection = 256 * 1024;
        if config.adversary || rng.chance(30) {
            // Budgets a few clients can fill, so that every policy for a full account runs.
            let limits = &mut engine_config.limits;
            limits.max_held_bytes = 4 << 20;
            limits.max_session_bytes = 192 << 10;
            limits.resume_log_bytes = 48 << 10;
            limits.max_client_metadata_bytes = 8 << 10;
            limits.max_uri_bytes = 512;
            limits.max_message_bytes = 96 << 10;
            limits.stream_window_bytes = 16 << 10;
            limits.max_detached_streams_per_session = 4;
        }
        if rng.chance(30) {
            engine_config.limits.max_connections_per_peer = Some(3);
        }
        // A protected resource: every request carries a token, verified by the application.
        let protected = rng.chance(25);
        if protected {
            engine_config.auth = ResourceServer::new("http://localhost/mcp")
                .ok()
                .map(|r| r.require_scope("mcp").scope_for_tool("flood", "big"));
        }
        // Behind a proxy that names each connection's client in a PROXY protocol header.
        let proxied = rng.chance(25);
        if proxied {
            engine_config.proxy_protocol_from = vec!["10.9.0.0/16".into()];
        }
        let mut entropy = [0u8; 32];
        for chunk in entropy.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let clients = config.clients.clamp(1, 128);
        Simulation {
            engine: Engine::new(engine_config, Instant::ZERO, entropy),
            now: Instant::ZERO,
            rng,
            weights,
            clients: (0..clients).map(|_| Client::default()).collect(),
            owner: BTreeMap::new(),
            unread: BTreeMap::new(),
            vanished: BTreeSet::new(),
            pending: Vec::new(),
            blocked: BTreeSet::new(),
            host_exchanges: Vec::new(),
            live_sessions: BTreeSet::new(),
            hash: TraceHash::default(),
            calls: 0,
            recent: Vec::new(),
            buf: Vec::with_capacity(64 * 1024),
            heap_baseline: config.heap.map_or(0, |heap| heap()),
            app: None,
            step_index: 0,
            sending: 0,
            proxied,
            protected,
            verifying: Vec::new(),
            config,
        }
    }

    /// Runs `app` instead of the simulator's random application.
    #[must_use]
    pub fn with_application(mut self, app: impl Application + 'static) -> Simulation {
        for (weight, kind) in self.weights.iter_mut().zip(KINDS) {
            if matches!(
                kind,
                Kind::Respond
                    | Kind::Progress
                    | Kind::Log
                    | Kind::AskClient
                    | Kind::Notify
                    | Kind::Broadcast
                    | Kind::ResourceUpdated
                    | Kind::CloseSession
            ) {
                *weight = 0;
            }
        }
        self.app = Some(Box::new(app));
        self
    }

    /// Runs every step, then the liveness phase.
    pub fn run(mut self) -> Result<Report, Failure> {
        for step in 0..self.config.steps {
            self.step_index = step;
            self.step().map_err(|reason| self.failure(step, reason))?;
        }
        let steps = self.config.steps;
        self.liveness()
            .map_err(|reason| self.failure(steps, reason))?;
        let counters = self.engine.counters();
        Ok(Report {
            seed: self.config.seed,
            trace_hash: self.hash.value(),
            sessions_opened: counters.sessions_opened,
            http_requests: counters.http_requests,
            engine_calls: self.calls,
        })
    }

    fn failure(&self, step: u64, reason: String) -> Failure {
        Failure {
            seed: self.config.seed,
            step,
            reason,
            recent: self.recent.clone(),
        }
    }

    fn note(&mut self, action: String) {
        if self.config.trace {
            println!(
                "[seed {} t={}] {action}",
                self.config.seed,
                self.now.as_millis()
            );
        }
        self.recent.push(action);
        if self.recent.len() > 24 {
            self.recent.remove(0);
        }
    }

    /// One action, then every safety check.
    fn step(&mut self) -> Result<(), String> {
        let kind = KINDS[self.rng.weighted(&self.weights)];
        let client = self.rng.index(self.clients.len());
        self.act(kind, client)?;
        if let Some(mut app) = self.app.take() {
            app.on_step(&mut self.engine, self.now, &mut self.rng);
            self.app = Some(app);
        }
        self.drain()
    }

    /// Delivers output and events, checking after every engine call that the invariants hold,
    /// that pending output made the deadline "now", and that the reference model agrees.
    fn drain(&mut self) -> Result<(), String> {
        loop {
            let more = self.drain_once()?;
            if !more {
                return Ok(());
            }
        }
    }

    /// One pass over output and events; `Ok(true)` when the application acted on an event and
    /// may have produced more.
    fn drain_once(&mut self) -> Result<bool, String> {
        self.check()?;
        let mut app_acted = false;
        loop {
            let deadline = self.engine.poll_timeout();
            self.buf.clear();
            self.calls += 1;
            let Some(action) = self.engine.poll_transmit(&mut self.buf) else {
                break;
            };
            if deadline != Some(self.now) {
                return Err(format!(
                    "output was queued but poll_timeout said {deadline:?}, not now ({:?})",
                    self.now
                ));
            }
            match action {
                ConnAction::Write { conn, len } => {
                    let bytes = self.buf[self.buf.len() - len..].to_vec();
                    self.hash.add(&bytes);
                    self.learn(conn, &bytes);
                    if self.unread.contains_key(&conn) || self.vanished.contains(&conn) {
                        *self.unread.entry(conn).or_default() += len;
                    } else {
                        self.calls += 1;
                        self.engine.handle_written(self.now, conn, len);
                    }
                }
                ConnAction::Close { conn } => {
                    self.hash.add(b"close");
                    self.forget(conn);
                }
            }
            self.check()?;
        }
        // The request log is drained as an adapter drains it; what it holds is bounded and
        // checked by check_invariants.
        while let Some(report) = self.engine.poll_report() {
            if report.status.is_none() && report.refusal.is_some() {
                return Err(format!("a refusal with no status: {report:?}"));
            }
        }
        while let Some(event) = self.engine.poll_event() {
            self.calls += 1;
            if let Some(mut app) = self.app.take() {
                app.on_event(&mut self.engine, self.now, &event);
                self.app = Some(app);
                app_acted = true;
            }
            match event {
                Event::SessionOpened { session, .. } => {
                    self.hash.add(b"opened");
                    if !self.live_sessions.insert(session) {
                        return Err(format!("{session} opened twice"));
                    }
                }
                Event::SessionClosed { session, reason } => {
                    self.hash.add(reason.label().as_bytes());
                    if !self.live_sessions.remove(&session) {
                        return Err(format!(
                            "{session} closed ({}) but was not open",
                            reason.label()
                        ));
                    }
                }
                Event::Request { handle, .. } => {
                    self.hash.add(b"request");
                    self.pending.push(handle);
                }
                Event::Cancelled { handle, .. } => {
                    self.hash.add(b"cancelled");
                    self.pending.retain(|h| *h != handle);
                    self.blocked.remove(&handle);
                }
                Event::Writable { handle } => {
                    self.hash.add(b"writable");
                    // A user's application sends its own commands: only the simulator's own
                    // are known to have waited.
                    if !self.blocked.remove(&handle) && self.app.is_none() {
                        return Err(format!(
                            "{handle:?} was told it is writable but never waited"
                        ));
                    }
                }
                Event::VerifyToken {
                    verification,
                    token,
                } => {
                    self.hash.add(b"verify");
                    if !self.protected {
                        return Err(format!("{verification:?} asked of an open server"));
                    }
                    self.verifying.push((verification, token));
                }
                Event::VerificationCancelled { verification } => {
                    self.hash.add(b"verification-cancelled");
                    let before = self.verifying.len();
                    self.verifying.retain(|(v, _)| *v != verification);
                    if self.verifying.len() == before {
                        return Err(format!(
                            "{verification:?} cancelled, but it was not pending"
                        ));
                    }
                }
                Event::StreamDetached { .. } => self.hash.add(b"detached"),
                Event::StreamResumed { .. } => self.hash.add(b"resumed"),
                Event::Notification { .. } => self.hash.add(b"notification"),
                Event::ClientResponse { .. } => self.hash.add(b"client-response"),
                Event::HttpRequest { exchange, .. } => {
                    self.hash.add(b"http-request");
                    self.calls += 1;
                    let answered = self.engine.respond_http(
                        self.now,
                        exchange,
                        200,
                        &[("content-type", "text/plain")],
                        b"up 1\n",
                    );
                    if answered.is_err() {
                        return Err(format!("{exchange} could not be answered"));
                    }
                }
            }
        }
        self.check()?;
        let stats = self.engine.stats();
        // Legacy sessions exist from their GET /sse but are announced only at `initialize`, so
        // the engine may hold more sessions than were announced, never fewer.
        if stats.sessions < self.live_sessions.len() as u64 {
            return Err(format!(
                "the engine holds {} sessions but its events announced {} still open",
                stats.sessions,
                self.live_sessions.len()
            ));
        }
        if let Some(deadline) = self.engine.poll_timeout() {
            if deadline < self.now {
                return Err(format!(
                    "poll_timeout {deadline:?} is before now {:?}",
                    self.now
                ));
            }
        }
        Ok(app_acted)
    }

    fn check(&mut self) -> Result<(), String> {
        self.calls += 1;
        self.engine.check_invariants().map_err(|v| v.to_string())?;
        let stats = self.engine.stats();
        let limits = self.engine.config().limits;
        if stats.sessions > limits.max_sessions as u64 {
            return Err(format!(
                "{} sessions, over the limit of {}",
                stats.sessions, limits.max_sessions
            ));
        }
        if stats.held.total() > limits.max_held_bytes as u64 {
            return Err(format!(
                "the engine holds {} bytes, over its budget of {}: {:?}",
                stats.held.total(),
                limits.max_held_bytes,
                stats.held
            ));
        }
        if let Some(heap) = self.config.heap {
            let live = heap().saturating_sub(self.heap_baseline);
            let entities = (stats.connections
                + stats.exchanges
                + stats.sessions
                + stats.streams
                + stats.inflight_requests
                + stats.outbound_requests) as usize;
            // Every byte held for a peer is charged, so the heap is bounded by the charges (twice
            // over, for allocators' rounding and vectors' growth) and a constant per entity.
            let held = (2 * stats.held.total() + 1024 * stats.pending_events) as usize;
            // The request being sent is the simulator's own: its wire (grown by doubling) and
            // the body it was made from.
            let own = 4 * self.sending;
            let bound = HEAP_SLACK + HEAP_PER_ENTITY * (entities + self.pending.len()) + held + own;
            if std::env::var("SIM_DEBUG_HEAP").is_ok() {
                println!("heap {live} held2x {held} entities {entities} own {own}");
            }
            if live > bound {
                return Err(format!(
                    "live heap {live} B exceeds {bound} B for {entities} entities holding {held} B ({:?}; {} pending)",
                    stats.held,
                    self.pending.len()
                ));
            }
        }
        Ok(())
    }

    /// Picks up what a client learns from its bytes: its session id and the last event id.
    fn learn(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(&client) = self.owner.get(&conn) else {
            return;
        };
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("mcp-session-id: ") {
                self.clients[client].session = Some(id.trim().to_owned());
            } else if let Some(id) = line.strip_prefix("id: ") {
                self.clients[client].last_event_id = Some(id.trim().to_owned());
            } else if let Some(url) = line.strip_prefix("data: /messages?") {
                self.clients[client].legacy_endpoint = Some(format!("/messages?{}", url.trim()));
            }
        }
    }

    fn forget(&mut self, conn: ConnId) {
        if let Some(client) = self.owner.remove(&conn) {
            self.clients[client].conns.retain(|c| *c != conn);
            if self.clients[client].pipe == Some(conn) {
                self.clients[client].pipe = None;
            }
        }
        self.unread.remove(&conn);
        self.vanished.remove(&conn);
    }

    /// A new connection of `client`'s. Behind the simulated proxy (`proxied`), it comes from
    /// the proxy's address and, most of the time, begins with a PROXY protocol header naming
    /// the client, fed in random pieces; the rest are the proxy's own (health checks).
    fn accept(&mut self, client: usize) -> Option<ConnId> {
        self.calls += 1;
        if !self.proxied {
            return self.engine.handle_accept(self.now, peer(client)).ok();
        }
        let conn = self.engine.handle_accept(self.now, Some(PROXY)).ok()?;
        if self.rng.chance(90) {
            let wire = proxy_header(peer(client));
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let piece = 1 + self.rng.index(rest.len());
                self.calls += 1;
                let taken = self.engine.handle_bytes(self.now, conn, &rest[..piece]);
                if taken == 0 {
                    break;
                }
                rest = &rest[taken..];
            }
        }
        Some(conn)
    }

    /// A connection of `client` that still reads, opening one if needed.
    fn conn_of(&mut self, client: usize) -> Option<ConnId> {
        let usable: Vec<ConnId> = self.clients[client]
            .conns
            .iter()
            .copied()
            .filter(|c| !self.vanished.contains(c))
            .collect();
        if !usable.is_empty() && self.rng.chance(80) {
            return Some(usable[self.rng.index(usable.len())]);
        }
        let conn = self.accept(client)?;
        self.owner.insert(conn, client);
        self.clients[client].conns.push(conn);
        Some(conn)
    }

    /// Sends `wire` on `conn` in random pieces, as a network would deliver it.
    fn send(&mut self, conn: ConnId, wire: &[u8]) -> Result<(), String> {
        let authorized;
        let wire = if self.protected {
            authorized = self.authorize(conn, wire);
            &authorized[..]
        } else {
            wire
        };
        self.sending = wire.len();
        let sent = self.send_pieces(conn, wire);
        self.sending = 0;
        sent
    }

    /// A protected server's request, with the `Authorization` field its client sends: mostly
    /// the client's current token, sometimes none or one no verifier would grant.
    fn authorize(&mut self, conn: ConnId, wire: &[u8]) -> Vec<u8> {
        let Some(client) = self.owner.get(&conn).copied() else {
            return wire.to_vec();
        };
        let is_request = [&b"GET "[..], b"POST ", b"DELETE "]
            .iter()
            .any(|m| wire.starts_with(m));
        let Some(line_end) = wire.windows(2).position(|w| w == b"\r\n") else {
            return wire.to_vec();
        };
        let token = match self.rng.below(100) {
            _ if !is_request => return wire.to_vec(),
            0..=3 => return wire.to_vec(),
            4..=7 => format!("bad-{}", self.rng.below(1000)),
            _ => token_of(client, self.clients[client].token),
        };
        let mut authorized = Vec::with_capacity(wire.len() + token.len() + 32);
        authorized.extend_from_slice(&wire[..line_end + 2]);
        authorized.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
        authorized.extend_from_slice(&wire[line_end + 2..]);
        authorized
    }

    /// The application's verdict on one pending verification: a client's token is mostly
    /// granted (sometimes without every scope, sometimes with a short life), else refused or
    /// not verifiable now; a bad token is refused.
    fn verify(&mut self) -> Result<(), String> {
        if self.verifying.is_empty() {
            return Ok(());
        }
        let (verification, token) = self.verifying.remove(self.rng.index(self.verifying.len()));
        let client = token
            .strip_prefix("tok-")
            .and_then(|t| t.split('-').next())
            .and_then(|c| c.parse::<usize>().ok());
        let verdict = match (client, self.rng.below(100)) {
            (Some(_), 0..=4) => Verdict::Unavailable,
            (Some(_), 5..=9) | (None, _) => Verdict::Refused("not a token of ours".into()),
            (Some(client), roll) => {
                let scopes: &[&str] = match roll {
                    10..=14 => &[],
                    15..=24 => &["mcp"],
                    _ => &["mcp", "big"],
                };
                let valid_for = self
                    .rng
                    .chance(50)
                    .then(|| Duration::from_millis(1 + self.rng.below(120_000)));
                Verdict::Granted(Grant::new(
                    format!("client-{client}"),
                    scopes.iter().copied(),
                    valid_for,
                ))
            }
        };
        self.note(format!("verify {verification:?}: {verdict:?}"));
        self.calls += 1;
        self.engine
            .token_verified(self.now, verification, verdict)
            .map_err(|e| format!("{verification:?} was pending but the verdict got {e:?}"))
    }

    fn send_pieces(&mut self, conn: ConnId, wire: &[u8]) -> Result<(), String> {
        let mut rest = wire;
        // Pieces of up to a packet, or an eighth of a large request: any split, without a
        // check of every invariant after each of a hundred packets.
        let largest = (wire.len() / 8).max(1500);
        while !rest.is_empty() {
            let piece = 1 + self.rng.index(rest.len().min(largest));
            self.calls += 1;
            let taken = self.engine.handle_bytes(self.now, conn, &rest[..piece]);
            self.drain()?;
            if taken == 0 {
                break;
            }
            rest = &rest[taken..];
        }
        Ok(())
    }

    fn post(&mut self, client: usize, body: &str, with_session: bool) -> Result<(), String> {
        let Some(conn) = self.conn_of(client) else {
            return Ok(());
        };
        let mut wire = String::from(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n",
        );
        if let (true, Some(session)) = (with_session, &self.clients[client].session) {
            let _ = write!(wire, "Mcp-Session-Id: {session}\r\n");
        }
        let _ = write!(wire, "Content-Length: {}\r\n\r\n{body}", body.len());
        self.send(conn, wire.as_bytes())
    }

    /// POSTs a 2026-07-28 request: its headers right, mostly, so that refusals are exercised
    /// too.
    fn post_stateless(
        &mut self,
        client: usize,
        method: &str,
        name: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        let Some(conn) = self.conn_of(client) else {
            return Ok(());
        };
        let mut wire = String::from(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n",
        );
        if !self.rng.chance(3) {
            let _ = write!(wire, "Mcp-Method: {method}\r\n");
        }
        if let Some(name) = name {
            let sent = if self.rng.chance(3) { "other" } else { name };
            let _ = write!(wire, "Mcp-Name: {sent}\r\n");
        }
        let _ = write!(wire, "Content-Length: {}\r\n\r\n{body}", body.len());
        self.send(conn, wire.as_bytes())
    }

    /// What a command for a request came to: a `WouldBlock` makes the request wait for its
    /// `Writable`.
    fn outcome(&mut self, handle: RequestHandle, result: Result<(), CommandError>) {
        if result == Err(CommandError::WouldBlock) {
            self.blocked.insert(handle);
        }
    }

    /// A large log message or progress message for `handle`: up to twice the message limit,
    /// so that some are refused as too large.
    fn big_message(&mut self, handle: RequestHandle) {
        // Past the limit where it is tight; large, but not slow to simulate, where it is not.
        let limit = self.engine.config().limits.max_message_bytes.min(64 << 10);
        let size = self.rng.index(2 * limit + 1);
        self.calls += 1;
        let result = if self.rng.chance(50) {
            let data =
                RawValue::from_string(format!("\"{}\"", "b".repeat(size))).unwrap_or_default();
            self.engine.send_log(
                self.now,
                Target::Request(handle),
                LogLevel::Info,
                None,
                &data,
            )
        } else {
            let progress = self.now.as_millis() as f64 + self.rng.below(10) as f64;
            let message = "m".repeat(size);
            self.engine
                .send_progress(self.now, handle, progress, None, Some(&message))
        };
        self.outcome(handle, result);
    }

    fn pending(&mut self) -> Option<RequestHandle> {
        (!self.pending.is_empty()).then(|| self.pending[self.rng.index(self.pending.len())])
    }

    fn some_session(&mut self) -> Option<SessionKey> {
        let live: Vec<_> = self.live_sessions.iter().copied().collect();
        (!live.is_empty()).then(|| live[self.rng.index(live.len())])
    }

    fn act(&mut self, kind: Kind, client: usize) -> Result<(), String> {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap_or_default();
        self.note(format!("{kind:?} client={client}"));
        let id = {
            let c = &mut self.clients[client];
            c.next_id += 1;
            c.next_id
        };
        match kind {
            Kind::Connect => {
                if let Some(conn) = self.accept(client) {
                    self.owner.insert(conn, client);
                    self.clients[client].conns.push(conn);
                }
            }
            Kind::Initialize => self.post(
                client,
                r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"sim","version":"1"}}}"#,
                false,
            )?,
            Kind::Initialized => self.post(client, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, true)?,
            Kind::Call => {
                let meta = if self.rng.chance(50) { r#","_meta":{"progressToken":"p"}"# } else { "" };
                let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo"{meta}}}}}"#);
                self.post(client, &body, true)?;
            }
            Kind::Get => {
                let Some(session) = self.clients[client].session.clone() else {
                    return Ok(());
                };
                let mut wire = format!("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n");
                if let (true, Some(last)) = (self.rng.chance(50), self.clients[client].last_event_id.clone()) {
                    let _ = write!(wire, "Last-Event-ID: {last}\r\n");
                }
                wire.push_str("\r\n");
                if let Some(conn) = self.conn_of(client) {
                    self.send(conn, wire.as_bytes())?;
                }
            }
            Kind::Delete => {
                let Some(session) = self.clients[client].session.clone() else {
                    return Ok(());
                };
                let wire = format!("DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: {session}\r\n\r\n");
                if let Some(conn) = self.conn_of(client) {
                    self.send(conn, wire.as_bytes())?;
                }
            }
            Kind::Cancel => {
                let target = self.rng.below(id.max(1));
                let body = format!(r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{target}}}}}"#);
                self.post(client, &body, true)?;
            }
            Kind::Subscribe => self.post(client, r#"{"jsonrpc":"2.0","id":"s","method":"resources/subscribe","params":{"uri":"test://watched"}}"#, true)?,
            Kind::SplitPing => {
                // Sent one byte at a time: the slowest legal client.
                let Some(session) = self.clients[client].session.clone() else {
                    return Ok(());
                };
                let body = r#"{"jsonrpc":"2.0","id":"ping","method":"ping"}"#;
                let wire = format!("POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: */*\r\nMcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                if let Some(conn) = self.conn_of(client) {
                    for byte in wire.as_bytes() {
                        self.calls += 1;
                        self.engine.handle_bytes(self.now, conn, std::slice::from_ref(byte));
                    }
                }
            }
            Kind::Garbage => {
                let len = 1 + self.rng.index(64);
                let bytes: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                if let Some(conn) = self.conn_of(client) {
                    self.send(conn, &bytes)?;
                }
            }
            Kind::Respond => {
                if let Some(handle) = self.pending() {
                    let reply = match self.rng.below(10) {
                        0..=6 => Reply::Result(raw(r#"{"content":[{"type":"text","text":"ok"}]}"#)),
                        7 | 8 => Reply::Error { code: -32603, message: "failed".into(), data: None },
                        // Allowed only for a stateless request whose client declared it.
                        _ => Reply::InputRequired {
                            input_requests: raw(r#"{"user_name":{"method":"elicitation/create","params":{"message":"Name?","requestedSchema":{"type":"object","properties":{}}}}}"#),
                            state: b"round".to_vec(),
                        },
                    };
                    self.calls += 1;
                    let result = self.engine.respond(self.now, handle, &reply);
                    let refused = matches!(
                        result,
                        Err(CommandError::InputNotAllowed | CommandError::CapabilityNotDeclared)
                    );
                    if result != Err(CommandError::WouldBlock) && !refused {
                        self.pending.retain(|h| *h != handle);
                        self.blocked.remove(&handle);
                    }
                    self.outcome(handle, result);
                }
            }
            Kind::Progress => {
                if let Some(handle) = self.pending() {
                    self.calls += 1;
                    let progress = self.now.as_millis() as f64 + self.rng.below(10) as f64;
                    let result = self.engine.send_progress(self.now, handle, progress, None, None);
                    self.outcome(handle, result);
                }
            }
            Kind::Log => {
                if let Some(handle) = self.pending() {
                    self.calls += 1;
                    let result = self.engine.send_log(self.now, Target::Request(handle), LogLevel::Info, None, &raw(r#""working""#));
                    self.outcome(handle, result);
                }
            }
            Kind::AskClient => {
                if let Some(handle) = self.pending() {
                    self.calls += 1;
                    let result = self.engine.request_client(self.now, Target::Request(handle), "sampling/createMessage", Some(&raw("{}")), Some(Duration::from_secs(10)));
                    self.outcome(handle, result.map(|_| ()));
                }
            }
            Kind::BigMessage => {
                if let Some(handle) = self.pending() {
                    self.big_message(handle);
                }
            }
            Kind::CutStream => {
                // Open a call on a connection of its own, let the application answer with
                // something large, then reset the connection: as fast as a client can.
                let Some(conn) = self.accept(client) else {
                    return Ok(());
                };
                self.owner.insert(conn, client);
                self.clients[client].conns.push(conn);
                let Some(session) = self.clients[client].session.clone() else {
                    return Ok(());
                };
                let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"flood","_meta":{{"progressToken":{id}}}}}}}"#);
                let wire = format!(
                    "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                self.send(conn, wire.as_bytes())?;
                if self.app.is_none() {
                    if let Some(&handle) = self.pending.last() {
                        self.big_message(handle);
                        self.drain()?;
                    }
                }
                if self.owner.contains_key(&conn) {
                    self.calls += 1;
                    self.engine.handle_closed(self.now, conn);
                    self.forget(conn);
                }
            }
            Kind::StatelessCall => {
                let caps = if self.rng.chance(50) { r#"{"elicitation":{}}"# } else { "{}" };
                let level = if self.rng.chance(30) { r#","io.modelcontextprotocol/logLevel":"info""# } else { "" };
                let token = if self.rng.chance(50) { format!(r#","progressToken":{id}"#) } else { String::new() };
                let state = match self.rng.below(10) {
                    0 => r#","requestState":"garbage""#,
                    1 => r#","requestState":null,"inputResponses":{"user_name":{"action":"accept"}}"#,
                    _ => "",
                };
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{caps}{level}{token}}}{state}}}}}"#
                );
                self.post_stateless(client, "tools/call", Some("echo"), &body)?;
            }
            Kind::Listen => {
                let filter = match self.rng.below(3) {
                    0 => r#"{"toolsListChanged":true}"#,
                    1 => r#"{"resourceSubscriptions":["test://watched","test://other"]}"#,
                    _ => r#"{"toolsListChanged":true,"resourceSubscriptions":["test://watched"]}"#,
                };
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":"l{id}","method":"subscriptions/listen","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}},"notifications":{filter}}}}}"#
                );
                self.post_stateless(client, "subscriptions/listen", None, &body)?;
            }
            Kind::Discover => {
                let method = if self.rng.chance(80) { "server/discover" } else { "ping" };
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
                );
                self.post_stateless(client, method, None, &body)?;
            }
            Kind::HugeClientInfo => {
                let limit = self.engine.config().limits.max_client_metadata_bytes;
                let body = {
                    let name = "n".repeat(self.rng.index(2 * limit + 2));
                    format!(r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"{name}","version":"1"}}}}}}"#)
                };
                self.post(client, &body, false)?;
            }
            Kind::LongUri => {
                let limit = self.engine.config().limits.max_uri_bytes;
                let body = {
                    let uri = format!("test://{}", "u".repeat(self.rng.index(2 * limit + 2)));
                    format!(r#"{{"jsonrpc":"2.0","id":"s{id}","method":"resources/subscribe","params":{{"uri":"{uri}"}}}}"#)
                };
                self.post(client, &body, true)?;
            }
            Kind::Notify => {
                if let Some(session) = self.some_session() {
                    self.calls += 1;
                    let _ = self.engine.notify(self.now, session, "notifications/resources/list_changed", None);
                }
            }
            Kind::Broadcast => {
                self.calls += 1;
                self.engine.broadcast(self.now, "notifications/tools/list_changed", None);
            }
            Kind::ResourceUpdated => {
                self.calls += 1;
                self.engine.resource_updated(self.now, "test://watched");
            }
            Kind::Verify => self.verify()?,
            Kind::Refresh => self.clients[client].token += 1,
            Kind::Advance => {
                let ms = match self.rng.below(10) {
                    0 => 60_000 + self.rng.below(600_000),
                    1..=3 => self.rng.below(20_000),
                    _ => self.rng.below(1_000),
                };
                self.advance(ms)?;
            }
            Kind::ClockBack => {
                // The adapter's clock stepped back: the engine must clamp it.
                let back = self.now.saturating_sub(Duration::from_millis(self.rng.below(30_000)));
                self.calls += 1;
                self.engine.handle_timeout(back);
            }
            Kind::PipeOpen => {
                if self.clients[client].pipe.is_none() {
                    self.calls += 1;
                    let conn = self.engine.open_pipe(self.now);
                    self.owner.insert(conn, client);
                    self.clients[client].pipe = Some(conn);
                }
            }
            Kind::PipeLine => {
                let Some(conn) = self.clients[client].pipe else {
                    return Ok(());
                };
                let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
                let recent = id.saturating_sub(1 + self.rng.below(4));
                let line = match self.rng.index(10) {
                    0 => r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#.to_owned(),
                    1 => r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
                    2 => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","_meta":{{"progressToken":"p"}}}}}}"#),
                    3 | 4 => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{{meta},"name":"echo"}}}}"#),
                    5 => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{{meta},"notifications":{{"toolsListChanged":true}}}}}}"#),
                    6 => format!(r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{recent}}}}}"#),
                    7 => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"server/discover","params":{{{meta}}}}}"#),
                    8 => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#),
                    _ => String::new(),
                };
                let mut wire = line.into_bytes();
                if wire.is_empty() {
                    // Not UTF-8, not JSON.
                    wire.extend_from_slice(b"{\"jsonrpc\":\xff [[[");
                }
                wire.push(b'\n');
                self.send_pieces(conn, &wire)?;
            }
            Kind::PipeEof => {
                if let Some(conn) = self.clients[client].pipe {
                    self.calls += 1;
                    self.engine.handle_eof(self.now, conn);
                }
            }
            Kind::Close => {
                if let Some(&conn) = self.clients[client].conns.first() {
                    self.calls += 1;
                    self.engine.handle_closed(self.now, conn);
                    self.forget(conn);
                }
            }
            Kind::HalfClose => {
                if let Some(&conn) = self.clients[client].conns.last() {
                    self.calls += 1;
                    self.engine.handle_eof(self.now, conn);
                }
            }
            Kind::Vanish => {
                // Half-open: the peer is gone without a FIN; nothing is read or closed again.
                if let Some(&conn) = self.clients[client].conns.last() {
                    self.vanished.insert(conn);
                }
            }
            Kind::Pause => {
                if let Some(&conn) = self.clients[client].conns.first() {
                    self.unread.entry(conn).or_default();
                }
            }
            Kind::LegacyOpen => {
                // Now and then the application's own path instead (answered by the simulator).
                let wire = if self.rng.chance(20) {
                    "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
                } else {
                    "GET /sse HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
                };
                if let Some(conn) = self.conn_of(client) {
                    self.send(conn, wire.as_bytes())?;
                }
            }
            Kind::LegacyPost => {
                let Some(endpoint) = self.clients[client].legacy_endpoint.clone() else {
                    return Ok(());
                };
                let body = match self.rng.below(3) {
                    0 => r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"old","version":"1"}}}"#.to_owned(),
                    1 => r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
                    _ => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo"}}}}"#),
                };
                let wire = format!(
                    "POST {endpoint} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if let Some(conn) = self.conn_of(client) {
                    self.send(conn, wire.as_bytes())?;
                }
            }
            Kind::HostRequest => {
                // A fetch-style host hands the engine a parsed request.
                let session = self.clients[client].session.clone();
                let request = match (self.rng.below(4), session) {
                    (3, _) => mcpwire_core::http1::Request::builder("GET", "/metrics")
                        .header("host", "localhost")
                        .build(),
                    (0, Some(session)) => mcpwire_core::http1::Request::builder("GET", "/mcp")
                        .header("host", "localhost")
                        .header("accept", "text/event-stream")
                        .header("mcp-session-id", session)
                        .build(),
                    (1, Some(session)) => mcpwire_core::http1::Request::builder("POST", "/mcp")
                        .header("host", "localhost")
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .header("mcp-session-id", session)
                        .body(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call"}}"#).into_bytes())
                        .build(),
                    _ => mcpwire_core::http1::Request::builder("POST", "/mcp")
                        .header("host", "localhost")
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .body(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"host","version":"1"}}}"#.to_vec())
                        .build(),
                };
                let request = match request {
                    Ok(request) if self.protected => {
                        let token = token_of(client, self.clients[client].token);
                        let mut builder =
                            mcpwire_core::http1::Request::builder(request.method_str(), request.target());
                        for (name, value) in request.headers() {
                            builder = builder.header(name, value);
                        }
                        builder
                            .header("authorization", format!("Bearer {token}"))
                            .body(request.into_body())
                            .build()
                    }
                    other => other,
                };
                if let Ok(request) = request {
                    self.calls += 1;
                    let exchange = self.engine.handle_request(self.now, request);
                    self.host_exchanges.push(exchange);
                }
            }
            Kind::HostPoll => {
                if !self.host_exchanges.is_empty() {
                    let exchange = self.host_exchanges[self.rng.index(self.host_exchanges.len())];
                    // The host reads a few pieces, as its consumer pulls them.
                    for _ in 0..1 + self.rng.below(4) {
                        self.calls += 1;
                        match self.engine.poll_exchange_output(exchange) {
                            Some(mcpwire_core::engine::ExchangeOutput::Head { headers, .. }) => {
                                for (name, value) in headers {
                                    if name == "mcp-session-id" {
                                        self.clients[client].session = Some(value);
                                    }
                                }
                            }
                            Some(mcpwire_core::engine::ExchangeOutput::Body(payload)) => self.hash.add(payload.as_slice()),
                            Some(mcpwire_core::engine::ExchangeOutput::End | mcpwire_core::engine::ExchangeOutput::Aborted) => {
                                self.host_exchanges.retain(|e| *e != exchange);
                                break;
                            }
                            None => break,
                        }
                    }
                }
            }
            Kind::HostClose => {
                if !self.host_exchanges.is_empty() {
                    let exchange = self.host_exchanges.remove(self.rng.index(self.host_exchanges.len()));
                    self.calls += 1;
                    self.engine.handle_exchange_closed(self.now, exchange);
                }
            }
            Kind::CloseSession => {
                if let Some(session) = self.some_session() {
                    self.calls += 1;
                    let _ = self.engine.close_session(self.now, session);
                }
            }
            Kind::Shutdown => {
                // Only late in a run, so that most of it exercises a running server.
                if self.step_index * 10 >= self.config.steps * 9 {
                    let grace = Duration::from_millis(self.rng.below(20_000));
                    self.calls += 1;
                    self.engine.begin_shutdown(self.now, grace);
                }
            }
            Kind::Resume => {
                let paused: Vec<ConnId> = self
                    .clients[client]
                    .conns
                    .iter()
                    .copied()
                    .filter(|c| self.unread.contains_key(c) && !self.vanished.contains(c))
                    .collect();
                for conn in paused {
                    let len = self.unread.remove(&conn).unwrap_or(0);
                    self.calls += 1;
                    self.engine.handle_written(self.now, conn, len);
                }
            }
        }
        Ok(())
    }

    /// Advances the virtual clock by `ms`, stopping exactly at every deadline on the way.
    fn advance(&mut self, ms: u64) -> Result<(), String> {
        let target = self.now + Duration::from_millis(ms);
        let mut last = None;
        let mut repeats = 0;
        while let Some(deadline) = self.engine.poll_timeout() {
            if deadline > target {
                break;
            }
            repeats = if last == Some(deadline) {
                repeats + 1
            } else {
                0
            };
            if repeats > 100 {
                return Err(format!(
                    "deadline {deadline:?} does not clear: {}",
                    self.engine.stats()
                ));
            }
            last = Some(deadline);
            self.now = self.now.max(deadline);
            self.calls += 1;
            self.engine.handle_timeout(self.now);
            self.drain()?;
        }
        self.now = target;
        self.calls += 1;
        self.engine.handle_timeout(self.now);
        self.drain()
    }

    /// The faults stop, every client leaves, the application abandons its requests, and time
    /// runs past every deadline: then nothing may be left.
    fn liveness(&mut self) -> Result<(), String> {
        self.note("liveness".into());
        // Paused readers resume and acknowledge what they held back.
        let paused: Vec<(ConnId, usize)> = self
            .unread
            .iter()
            .filter(|(c, _)| !self.vanished.contains(c))
            .map(|(&c, &n)| (c, n))
            .collect();
        for (conn, len) in paused {
            self.unread.remove(&conn);
            self.calls += 1;
            self.engine.handle_written(self.now, conn, len);
        }
        self.drain()?;
        // Hosts stop reading: their exchanges close.
        for exchange in std::mem::take(&mut self.host_exchanges) {
            self.calls += 1;
            self.engine.handle_exchange_closed(self.now, exchange);
        }
        // Clients that can still close, close. A vanished (half-open) peer never will: only
        // the engine's own deadlines may end those connections.
        let conns: Vec<ConnId> = self
            .owner
            .keys()
            .copied()
            .filter(|c| !self.vanished.contains(c))
            .collect();
        for conn in conns {
            self.calls += 1;
            self.engine.handle_closed(self.now, conn);
            self.forget(conn);
        }
        self.drain()?;
        let t = self.engine.config().timeouts;
        let horizon = [
            t.session_idle,
            t.session_init,
            t.resume_window,
            t.write,
            t.connection_idle,
            t.request_read,
            t.client_request,
        ]
        .into_iter()
        .fold(Duration::ZERO, Duration::saturating_add);
        self.advance(horizon.saturating_mul(2).as_millis())?;
        let stats = self.engine.stats();
        if !stats.is_quiescent() {
            return Err(format!("still alive after every deadline: {stats}"));
        }
        if let Some(heap) = self.config.heap {
            self.pending.clear();
            self.pending.shrink_to_fit();
            self.recent.clear();
            let live = heap().saturating_sub(self.heap_baseline);
            // What may remain: capacity kept by emptied queues (the engine's event and output
            // queues) and what each client learned (its session id, endpoint, connection list).
            // Measured: 16 to 31 KiB with 16 clients.
            let allowed = 32 * 1024 + 512 * self.clients.len();
            if live > allowed {
                return Err(format!(
                    "live heap is {live} B above its baseline after everything ended (allowed: {allowed} B)"
                ));
            }
        }
        if !self.live_sessions.is_empty() {
            return Err(format!(
                "{} sessions were never reported closed",
                self.live_sessions.len()
            ));
        }
        if !self.verifying.is_empty() {
            return Err(format!(
                "{} token verifications were neither answered nor cancelled",
                self.verifying.len()
            ));
        }
        if let Some(handle) = self.blocked.first() {
            return Err(format!(
                "{handle:?} was refused with WouldBlock and then neither told it is writable \
                 nor cancelled ({} such)",
                self.blocked.len()
            ));
        }
        Ok(())
    }
}

/// Where a client's connections come from: two clients to an address, so that the per-peer cap
/// is shared.
/// The `generation`-th token of `client`: every one is granted to the same principal.
fn token_of(client: usize, generation: u32) -> String {
    format!("tok-{client}-{generation}")
}

/// The simulated proxy's address, inside the trusted `10.9.0.0/16`.
const PROXY: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 0, 1));

/// A PROXY protocol v2 header for a TCP connection from `client` (IPv4).
fn proxy_header(client: Option<std::net::IpAddr>) -> Vec<u8> {
    let mut wire = Vec::from(mcpwire_core::proxy_protocol::SIGNATURE);
    match client {
        Some(std::net::IpAddr::V4(v4)) => {
            wire.extend_from_slice(&[0x21, 0x11, 0, 12]);
            wire.extend_from_slice(&v4.octets());
            wire.extend_from_slice(&[10, 9, 0, 1, 0xC3, 0x50, 0x0B, 0xB8]);
        }
        // No address to name: the proxy's LOCAL command.
        _ => wire.extend_from_slice(&[0x20, 0x00, 0, 0]),
    }
    wire
}

fn peer(client: usize) -> Option<std::net::IpAddr> {
    Some(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
        10,
        0,
        0,
        (client / 2) as u8,
    )))
}

/// The paths the simulated application answers itself.
fn alloc_paths() -> Vec<String> {
    vec!["/metrics".to_owned()]
}
