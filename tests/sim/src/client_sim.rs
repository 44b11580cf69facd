//! The real client engine against the real server engine, in every era (2026-07-28, sessions,
//! and the HTTP+SSE fallback), over a simulated network that cuts,
//! stalls and loses, a server that restarts (every session gone: 404), goes down, or answers
//! 503 with `Retry-After`, and a virtual clock.
//!
//! After every step both sides' invariants hold, every call the application made has had at
//! most one outcome, no call outlives its deadline, and the client is never left disconnected
//! past its reconnect deadline. In the liveness phase the faults stop, every call completes or
//! fails, the client closes, time runs past every deadline, and both sides must hold nothing.
//!
//! With [`ClientSimConfig::auth`], the OAuth side (`client_auth`) joins in: token
//! verifications, the flows and their world, and their checks.

use std::collections::{BTreeMap, BTreeSet};

use mcpwire_core::client::{
    CallError, CallId, CallOptions, Client, ClientConfig, ClientConnId, ClientEvent, ClientFaults,
    EraChoice, ServerRequestId, Transmit,
};
use mcpwire_core::engine::{
    self, ConnAction, ConnId, Engine, Event, Reply, RequestHandle, ResourceServer, Target,
};
use mcpwire_core::jsonrpc::RawValue;
use mcpwire_core::time::{Duration, Instant};

use crate::client_auth::{AuthFault, AuthReport, AuthSim, Origin};
use crate::rng::Rng;
use crate::simulation::Failure;

/// One client simulation's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSimConfig {
    /// The seed: it decides every action.
    pub seed: u64,
    /// Steps before the liveness phase.
    pub steps: u64,
    /// Deliberate defects in the client, to prove the simulation finds them.
    pub faults: ClientFaults,
    /// The server is a protected resource, and the client gets its tokens by OAuth from a
    /// simulated authorization server and person (see `client_auth`).
    pub auth: bool,
    /// A deliberate defect in the simulator's OAuth driver, to prove the checks find it.
    pub auth_fault: Option<AuthFault>,
}

impl ClientSimConfig {
    /// `steps` steps of `seed`, no defects.
    #[must_use]
    pub fn new(seed: u64, steps: u64) -> ClientSimConfig {
        ClientSimConfig {
            seed,
            steps,
            faults: ClientFaults::default(),
            auth: false,
            auth_fault: None,
        }
    }

    /// `steps` steps of `seed`, with OAuth (see [`ClientSimConfig::auth`]).
    #[must_use]
    pub fn with_auth(seed: u64, steps: u64) -> ClientSimConfig {
        ClientSimConfig {
            auth: true,
            ..ClientSimConfig::new(seed, steps)
        }
    }
}

/// What a passing run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientReport {
    /// The seed.
    pub seed: u64,
    /// Calls made, answered, failed.
    pub calls: (u64, u64, u64),
    /// Sessions the server lost under the client.
    pub sessions_lost: u64,
    /// Reconnect attempts the client made.
    pub reconnects: u64,
    /// Server restarts.
    pub restarts: u64,
    /// The OAuth side (all zero without [`ClientSimConfig::auth`]).
    pub auth: AuthReport,
}

struct Link {
    peer: Option<ConnId>,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    /// Delivery held back until this time.
    stalled_until: Instant,
    /// A 503 front answers this connection and closes it.
    refused: bool,
}

/// A server request the application will answer later.
struct Pending {
    handle: RequestHandle,
    due: Instant,
    asked: bool,
}

const AUTHORITY: &str = "127.0.0.1:3000";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The simulation. See the [module docs](self).
pub struct ClientSimulation {
    config: ClientSimConfig,
    rng: Rng,
    now: Instant,
    era: EraChoice,
    path: &'static str,
    client: Client,
    server: Engine,
    links: BTreeMap<ClientConnId, Link>,
    down_until: Instant,
    overloaded_until: Instant,
    /// Calls with no outcome yet, and their deadlines (`None`: a listen).
    open_calls: BTreeMap<CallId, Option<Instant>>,
    ended_calls: BTreeSet<CallId>,
    asked: Vec<(ServerRequestId, Instant)>,
    server_work: Vec<Pending>,
    disconnected_since: Option<Instant>,
    closing: bool,
    restarts: u64,
    counts: (u64, u64, u64),
    lost: u64,
    reconnects: u64,
    recent: Vec<String>,
    step: u64,
    auth: Option<AuthSim>,
    /// A call whose outcome the liveness phase waits for.
    watched: Option<(CallId, Option<Result<(), String>>)>,
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.into()).expect("valid JSON")
}

fn server_engine(now: Instant, seed: u64, auth: Option<ResourceServer>) -> Engine {
    let mut config = engine::Config::new("sim-server", "1.0.0");
    config.capabilities = r#"{"tools":{"listChanged":true}}"#.into();
    config.timeouts.session_idle = Duration::from_secs(60);
    config.auth = auth;
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    Engine::new(config, now, key)
}

impl ClientSimulation {
    /// A simulation of `config`.
    #[must_use]
    pub fn new(config: ClientSimConfig) -> ClientSimulation {
        // A quarter of the seeds each: probe, sessions, 2026-07-28 only, and HTTP+SSE (the
        // server's /sse refuses POST, so initialize falls back to the 2024-11-05 transport).
        let (era, path) = match config.seed % 4 {
            0 => (EraChoice::Auto, "/mcp"),
            1 => (EraChoice::Sessions, "/mcp"),
            2 => (EraChoice::Modern, "/mcp"),
            _ => (EraChoice::Sessions, "/sse"),
        };
        let now = Instant::ZERO;
        let auth = config
            .auth
            .then(|| AuthSim::new(config.seed, path, config.auth_fault));
        let resource = auth.as_ref().map(AuthSim::resource_server);
        let mut sim = ClientSimulation {
            rng: Rng::new(config.seed),
            now,
            era,
            path,
            client: Client::new(ClientConfig::new(AUTHORITY, "/mcp", "x", "1"), now, [0; 32]),
            server: server_engine(now, config.seed, resource),
            links: BTreeMap::new(),
            down_until: Instant::ZERO,
            overloaded_until: Instant::ZERO,
            open_calls: BTreeMap::new(),
            ended_calls: BTreeSet::new(),
            asked: Vec::new(),
            server_work: Vec::new(),
            disconnected_since: None,
            closing: false,
            restarts: 0,
            counts: (0, 0, 0),
            lost: 0,
            reconnects: 0,
            recent: Vec::new(),
            step: 0,
            auth,
            watched: None,
            config,
        };
        sim.client = sim.new_client();
        sim
    }

    fn new_client(&mut self) -> Client {
        let mut config = ClientConfig::new(AUTHORITY, self.path, "sim-client", "1.0.0");
        config.era = self.era;
        config.capabilities = r#"{"elicitation":{}}"#.into();
        config.timeouts.request = REQUEST_TIMEOUT;
        config.timeouts.reconnect = Duration::from_secs(30);
        config.timeouts.server_request = Duration::from_secs(5);
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        if self.auth.is_some() {
            config.timeouts.authorization = Duration::from_secs(120);
        }
        let mut client = Client::new(config, self.now, seed);
        client.set_faults(self.config.faults);
        if let Some(header) = self.auth.as_mut().and_then(AuthSim::stored_authorization) {
            // A value the client refuses is as none: the server's 401 starts a flow.
            let _ = client.set_authorization(self.now, Some(&header));
        }
        client
    }

    /// Runs every step, then the liveness phase.
    pub fn run(mut self) -> Result<ClientReport, Failure> {
        while self.step < self.config.steps {
            self.act();
            if let Err(reason) = self.drain().and_then(|()| self.check()) {
                return Err(self.failure(reason));
            }
            self.step += 1;
        }
        if let Err(reason) = self.liveness() {
            return Err(self.failure(reason));
        }
        Ok(ClientReport {
            seed: self.config.seed,
            calls: self.counts,
            sessions_lost: self.lost,
            reconnects: self.reconnects,
            restarts: self.restarts,
            auth: self.auth.as_ref().map(AuthSim::report).unwrap_or_default(),
        })
    }

    fn failure(&self, reason: String) -> Failure {
        Failure {
            seed: self.config.seed,
            step: self.step,
            reason,
            recent: self.recent.clone(),
        }
    }

    fn note(&mut self, what: String) {
        if self.recent.len() == 24 {
            self.recent.remove(0);
        }
        self.recent
            .push(format!("{:>6} ms: {what}", self.now.as_millis()));
    }

    fn act(&mut self) {
        let roll = self.rng.below(100);
        let faults_on = true;
        match roll {
            0..=29 if !self.closing => self.make_call(),
            30..=34 if !self.closing => self.cancel_some(),
            35..=37 if !self.closing => self.listen(),
            38..=39 if faults_on => self.cut_some(),
            40 if faults_on => self.restart_server(),
            41 if faults_on => {
                let ms = 200 + self.rng.below(8_000);
                self.down_until = self.now + Duration::from_millis(ms);
                self.note(format!("server down for {ms} ms"));
            }
            42 if faults_on => {
                let ms = 200 + self.rng.below(3_000);
                self.overloaded_until = self.now + Duration::from_millis(ms);
                self.note(format!("server answers 503 for {ms} ms"));
            }
            43..=45 if faults_on => self.stall_some(),
            46 if faults_on => self.lose_some(),
            47 if !self.closing => {
                self.note("client closes and starts again".into());
                self.client.close(self.now);
                self.closing = true;
            }
            48..=49 => {
                let _ = self
                    .server
                    .broadcast(self.now, "notifications/tools/list_changed", None);
            }
            50 if faults_on && self.auth.is_some() => {
                if let Some(what) = self.auth.as_mut().and_then(|a| a.disturb(self.now)) {
                    self.note(what);
                }
            }
            51..=53 if !self.closing && self.client.is_closed() && self.auth.is_some() => {
                // A client that gave up (no credentials) is started again, as a user would.
                self.note("the closed client starts again".into());
                self.closing = true;
            }
            _ => {
                let ms = [1, 5, 50, 300, 1_000, 4_000][self.rng.index(6)];
                self.advance(ms);
            }
        }
    }

    fn make_call(&mut self) {
        let (method, params) = match self.rng.below(4) {
            0 => ("ping", None),
            1 => ("tools/call", Some(r#"{"name":"ask","arguments":{}}"#)),
            // With OAuth, a tool that needs a scope more (step-up).
            2 if self.auth.is_some() && self.rng.chance(50) => {
                ("tools/call", Some(r#"{"name":"admin","arguments":{}}"#))
            }
            _ => ("tools/call", Some(r#"{"name":"work","arguments":{"n":1}}"#)),
        };
        let params = params.map(raw);
        let timeout = Duration::from_millis(1_000 + self.rng.below(20_000));
        let options = CallOptions {
            timeout: Some(timeout),
            progress: self.rng.chance(30),
            ..CallOptions::default()
        };
        if let Ok(call) = self
            .client
            .request(self.now, method, params.as_deref(), options)
        {
            self.counts.0 += 1;
            self.open_calls.insert(call, Some(self.now + timeout));
            self.note(format!("{call} {method}"));
        }
    }

    fn listen(&mut self) {
        if let Ok(call) = self
            .client
            .listen(self.now, &raw(r#"{"toolsListChanged":true}"#))
        {
            self.counts.0 += 1;
            self.open_calls.insert(call, None);
            self.note(format!("{call} listen"));
        }
    }

    fn cancel_some(&mut self) {
        if self.open_calls.is_empty() {
            return;
        }
        let index = self.rng.index(self.open_calls.len());
        if let Some(&call) = self.open_calls.keys().nth(index) {
            let _ = self.client.cancel(self.now, call);
            self.note(format!("cancel {call}"));
        }
    }

    fn some_link(&mut self) -> Option<ClientConnId> {
        if self.links.is_empty() {
            return None;
        }
        let index = self.rng.index(self.links.len());
        self.links.keys().nth(index).copied()
    }

    fn cut_some(&mut self) {
        if let Some(conn) = self.some_link() {
            self.note(format!("cut {conn}"));
            self.cut(conn);
        }
    }

    fn cut(&mut self, conn: ClientConnId) {
        if let Some(link) = self.links.remove(&conn) {
            if let Some(peer) = link.peer {
                self.server.handle_closed(self.now, peer);
            }
            self.client.handle_closed(self.now, conn);
        }
    }

    fn stall_some(&mut self) {
        if let Some(conn) = self.some_link() {
            let ms = 100 + self.rng.below(5_000);
            if let Some(link) = self.links.get_mut(&conn) {
                link.stalled_until = self.now + Duration::from_millis(ms);
            }
            self.note(format!("stall {conn} for {ms} ms"));
        }
    }

    fn lose_some(&mut self) {
        if let Some(conn) = self.some_link() {
            if let Some(link) = self.links.get_mut(&conn) {
                link.to_client.clear();
            }
            self.note(format!("lose what {conn} was about to receive, and cut it"));
            self.cut(conn);
        }
    }

    fn restart_server(&mut self) {
        self.note("server restarts: every session gone".into());
        self.restarts += 1;
        let conns: Vec<ClientConnId> = self.links.keys().copied().collect();
        for conn in conns {
            self.links.remove(&conn);
            self.client.handle_closed(self.now, conn);
        }
        let resource = self.auth.as_ref().map(AuthSim::resource_server);
        self.server = server_engine(self.now, self.config.seed + self.restarts, resource);
        self.server_work.clear();
        if let Some(auth) = &mut self.auth {
            auth.server_restarted();
        }
    }

    fn advance(&mut self, ms: u64) {
        let target = self.now + Duration::from_millis(ms);
        // The flow's answers and deadlines, each at its time: a fetch answered after its
        // deadline must not be taken because time jumped past both.
        while let Some(at) = self
            .auth
            .as_ref()
            .and_then(AuthSim::next_event)
            .filter(|at| *at < target)
        {
            self.now = self.now.max(at);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.pump_auth();
        }
        self.now = target;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// Runs the OAuth flow as far as it goes now.
    fn pump_auth(&mut self) -> bool {
        let origin = if self.now < self.down_until {
            Origin::Down
        } else if self.now < self.overloaded_until {
            Origin::Overloaded
        } else {
            Origin::Up
        };
        match &mut self.auth {
            Some(auth) => auth.pump(self.now, &mut self.client, origin),
            None => false,
        }
    }

    /// Moves bytes, events and application work until nothing moves.
    fn drain(&mut self) -> Result<(), String> {
        for _ in 0..100_000 {
            if !self.drain_once()? {
                return Ok(());
            }
        }
        Err("the network never settled".into())
    }

    fn drain_once(&mut self) -> Result<bool, String> {
        let mut moved = false;
        let now = self.now;
        let mut out = Vec::new();
        while let Some(transmit) = self.client.poll_transmit(&mut out) {
            moved = true;
            match transmit {
                Transmit::Open { conn } => {
                    if now < self.down_until {
                        self.client.handle_connect_failed(now, conn);
                        continue;
                    }
                    let refused = now < self.overloaded_until;
                    let peer = if refused {
                        None
                    } else {
                        match self.server.handle_accept(now, None) {
                            Ok(peer) => Some(peer),
                            Err(_) => {
                                self.client.handle_connect_failed(now, conn);
                                continue;
                            }
                        }
                    };
                    self.links.insert(
                        conn,
                        Link {
                            peer,
                            to_server: Vec::new(),
                            to_client: Vec::new(),
                            stalled_until: Instant::ZERO,
                            refused,
                        },
                    );
                    self.client.handle_connected(now, conn);
                }
                Transmit::Write { conn, len } => {
                    if let Some(link) = self.links.get_mut(&conn) {
                        link.to_server.extend_from_slice(&out[out.len() - len..]);
                    }
                }
                Transmit::Close { conn } => {
                    if let Some(link) = self.links.remove(&conn) {
                        if let Some(peer) = link.peer {
                            self.server.handle_closed(now, peer);
                        }
                    }
                }
            }
        }
        // Deliver what each link carries, in random pieces, unless stalled.
        let conns: Vec<ClientConnId> = self.links.keys().copied().collect();
        for conn in conns {
            let piece = 1 + self.rng.below(4096) as usize;
            let Some(link) = self.links.get_mut(&conn) else {
                continue;
            };
            if link.stalled_until > now {
                continue;
            }
            if link.refused && !link.to_server.is_empty() {
                link.to_server.clear();
                link.to_client.extend_from_slice(
                    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                moved = true;
            }
            if let (Some(peer), false) = (link.peer, link.to_server.is_empty()) {
                let take = piece.min(link.to_server.len());
                let taken = self.server.handle_bytes(now, peer, &link.to_server[..take]);
                if let Some(link) = self.links.get_mut(&conn) {
                    link.to_server.drain(..taken.min(link.to_server.len()));
                }
                moved |= taken > 0;
            }
            let Some(link) = self.links.get_mut(&conn) else {
                continue;
            };
            if !link.to_client.is_empty() {
                let take = piece.min(link.to_client.len());
                let bytes: Vec<u8> = link.to_client.drain(..take).collect();
                let refused_done = link.refused && link.to_client.is_empty();
                self.client.handle_bytes(now, conn, &bytes);
                if refused_done {
                    self.links.remove(&conn);
                    self.client.handle_closed(now, conn);
                }
                moved = true;
            }
        }
        let mut back = Vec::new();
        while let Some(action) = self.server.poll_transmit(&mut back) {
            moved = true;
            match action {
                ConnAction::Write { conn: peer, len } => {
                    self.server.handle_written(now, peer, len);
                    let bytes = &back[back.len() - len..];
                    if let Some(link) = self.links.values_mut().find(|l| l.peer == Some(peer)) {
                        link.to_client.extend_from_slice(bytes);
                    }
                }
                ConnAction::Close { conn: peer } => {
                    let found = self
                        .links
                        .iter()
                        .find(|(_, l)| l.peer == Some(peer))
                        .map(|(c, _)| *c);
                    if let Some(conn) = found {
                        // What was written arrives first, then the close.
                        let rest = self
                            .links
                            .remove(&conn)
                            .map(|l| l.to_client)
                            .unwrap_or_default();
                        if !rest.is_empty() {
                            self.client.handle_bytes(now, conn, &rest);
                        }
                        self.client.handle_closed(now, conn);
                    }
                }
            }
        }
        while let Some(event) = self.server.poll_event() {
            moved = true;
            self.serve(event)?;
        }
        if let Some(auth) = &mut self.auth {
            moved |= auth.answer_verifications(now, &mut self.server)?;
        }
        moved |= self.run_server_work();
        while let Some(event) = self.client.poll_event() {
            moved = true;
            self.on_client_event(event)?;
        }
        moved |= self.answer_asked();
        moved |= self.pump_auth();
        let drained =
            self.client.stats().pending_transmits == 0 && self.client.stats().pending_events == 0;
        if self.closing && self.client.is_closed() && drained {
            let stats = self.client.stats();
            if !stats.is_quiescent() {
                return Err(format!("a closed client still holds: {stats}"));
            }
            if self.client.poll_timeout().is_some() {
                return Err("a closed client still has a deadline".into());
            }
            self.closing = false;
            self.disconnected_since = None;
            self.reconnects += stats.reconnect_attempts_total;
            self.lost += stats.sessions_lost_total;
            self.client = self.new_client();
            moved = true;
        }
        Ok(moved)
    }

    /// The server application: answers soon, sometimes after asking the client (session era:
    /// an elicitation request; 2026-07-28: an input_required round).
    fn serve(&mut self, event: Event) -> Result<(), String> {
        match (event, &mut self.auth) {
            (
                Event::VerifyToken {
                    verification,
                    token,
                },
                Some(auth),
            ) => {
                auth.verify(self.now, verification, token);
                return Ok(());
            }
            (Event::VerifyToken { .. }, None) => {
                return Err("a token verification asked of an open server".into());
            }
            (Event::VerificationCancelled { verification }, Some(auth)) => {
                return auth.verification_cancelled(verification);
            }
            (event, _) => self.serve_request(&event),
        }
        Ok(())
    }

    fn serve_request(&mut self, event: &Event) {
        if let Event::Request { handle, params, .. } = event {
            let asks = params
                .as_deref()
                .is_some_and(|p| p.get().contains(r#""ask""#));
            let delay = [0, 10, 200, 2_000][self.rng.index(4)];
            self.server_work.push(Pending {
                handle: *handle,
                due: self.now + Duration::from_millis(delay),
                asked: !asks,
            });
        }
        if let Event::ClientResponse { .. } = event {
            // The answer to an elicitation: the tool call it belongs to completes next.
        }
    }

    fn run_server_work(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        let mut keep = Vec::new();
        for mut work in std::mem::take(&mut self.server_work) {
            if work.due > now {
                keep.push(work);
                continue;
            }
            moved = true;
            if !work.asked {
                work.asked = true;
                let state = self.server.request_state(work.handle).map(<[u8]>::to_vec);
                let modern = self
                    .server
                    .client_context(work.handle)
                    .is_some_and(|c| c.protocol_version.is_stateless());
                if modern {
                    if state.is_none_or(|s| s.is_empty()) {
                        let reply = Reply::InputRequired {
                            input_requests: raw(
                                r#"{"who":{"method":"elicitation/create","params":{"message":"who?","requestedSchema":{"type":"object","properties":{}}}}}"#,
                            ),
                            state: b"asked".to_vec(),
                        };
                        let _ = self.server.respond(now, work.handle, &reply);
                        continue;
                    }
                } else {
                    let params = raw(
                        r#"{"message":"who?","requestedSchema":{"type":"object","properties":{}}}"#,
                    );
                    let _ = self.server.request_client(
                        now,
                        Target::Request(work.handle),
                        "elicitation/create",
                        Some(&params),
                        Some(Duration::from_secs(10)),
                    );
                }
            }
            let _ = self
                .server
                .send_progress(now, work.handle, 1.0, Some(2.0), None);
            let _ = self
                .server
                .respond(now, work.handle, &Reply::Result(raw(r#"{"content":[]}"#)));
        }
        self.server_work = keep;
        moved
    }

    fn on_client_event(&mut self, event: ClientEvent) -> Result<(), String> {
        match event {
            ClientEvent::Response { call, .. } => {
                self.counts.1 += 1;
                if let Some((watched, outcome)) = &mut self.watched {
                    if *watched == call {
                        *outcome = Some(Ok(()));
                    }
                }
                self.ended(call)?;
            }
            ClientEvent::Failed { call, error } => {
                self.counts.2 += 1;
                if let Some((watched, outcome)) = &mut self.watched {
                    if *watched == call {
                        *outcome = Some(Err(error.to_string()));
                    }
                }
                if !matches!(error, CallError::Cancelled) {
                    self.note(format!("{call} failed: {error}"));
                }
                self.ended(call)?;
            }
            ClientEvent::ServerRequest { request, .. } => {
                // Answer after a while, sometimes never (the client's timeout answers then).
                if self.rng.chance(90) {
                    let delay = [0, 50, 1_000][self.rng.index(3)];
                    self.asked
                        .push((request, self.now + Duration::from_millis(delay)));
                }
            }
            ClientEvent::Closed { reason } => {
                self.note(format!("client closed: {reason}"));
                if let Some(auth) = &mut self.auth {
                    auth.client_closed();
                }
            }
            ClientEvent::AuthorizationRequired { status, challenge } => {
                self.note(format!("authorization required ({status}): {challenge}"));
                match &mut self.auth {
                    Some(auth) => {
                        auth.authorization_required(self.now, &mut self.client, status, &challenge)
                    }
                    None => return Err("an open server asked for credentials".into()),
                }
            }
            ClientEvent::SessionLost => self.note("session lost".into()),
            ClientEvent::Connected { era, .. } => self.note(format!("connected: {era:?}")),
            ClientEvent::Notification { .. } => {}
        }
        Ok(())
    }

    fn ended(&mut self, call: CallId) -> Result<(), String> {
        if self.open_calls.remove(&call).is_none() {
            let again = self.ended_calls.contains(&call);
            return Err(format!(
                "{call} had an outcome {}",
                if again { "twice" } else { "but was never made" }
            ));
        }
        self.ended_calls.insert(call);
        Ok(())
    }

    fn answer_asked(&mut self) -> bool {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.asked.drain(..).partition(|(_, at)| *at <= now);
        self.asked = later;
        for (request, _) in &due {
            let _ = self.client.respond(
                now,
                *request,
                Ok(&raw(r#"{"action":"accept","content":{"name":"sim"}}"#)),
            );
        }
        !due.is_empty()
    }

    fn check(&mut self) -> Result<(), String> {
        self.client
            .check_invariants()
            .map_err(|v| format!("client invariant: {v}"))?;
        self.server
            .check_invariants()
            .map_err(|v| format!("server invariant: {v}"))?;
        for (call, deadline) in &self.open_calls {
            if deadline.is_some_and(|d| d <= self.now) && !self.closing {
                return Err(format!("{call} outlived its deadline"));
            }
        }
        if let Some(auth) = &mut self.auth {
            auth.check(self.now, &self.client)?;
        }
        // A person signing in is no failure to reach the server (the gate stops that clock).
        if self.client.is_connected()
            || self.client.is_closed()
            || self.client.is_awaiting_authorization()
        {
            self.disconnected_since = None;
        } else {
            let since = *self.disconnected_since.get_or_insert(self.now);
            // The reconnect deadline, plus one connect timeout and one backoff in flight.
            if self.now.saturating_duration_since(since) > Duration::from_secs(30 + 10 + 10) {
                return Err(format!("disconnected since {since:?} without giving up"));
            }
        }
        Ok(())
    }

    fn liveness(&mut self) -> Result<(), String> {
        self.note("liveness: faults stop".into());
        self.down_until = Instant::ZERO;
        self.overloaded_until = Instant::ZERO;
        for link in self.links.values_mut() {
            link.stalled_until = Instant::ZERO;
        }
        if let Some(auth) = &mut self.auth {
            auth.calm();
        }
        // Every call completes or fails within its deadline; then the client closes.
        for _ in 0..200 {
            self.drain()?;
            self.check()?;
            if self.closing {
                self.advance(500);
                continue;
            }
            if self.open_calls.values().all(Option::is_none) {
                break;
            }
            self.advance(500);
        }
        if self.open_calls.values().any(Option::is_some) {
            return Err(format!("calls never ended: {:?}", self.open_calls));
        }
        if self.auth.is_some() {
            self.recover()?;
        }
        self.client.close(self.now);
        self.closing = true;
        for _ in 0..2_000 {
            self.drain()?;
            self.check()?;
            if !self.closing {
                break;
            }
            self.advance(100);
        }
        if self.closing {
            return Err("the client never finished closing".into());
        }
        // The replacement client made by the drain: close it at once, too.
        self.client.close(self.now);
        self.drain()?;
        if !self.open_calls.is_empty() {
            return Err(format!("calls without an outcome: {:?}", self.open_calls));
        }
        // Time runs past every deadline on both sides.
        for _ in 0..100 {
            self.advance(60_000);
            self.drain()?;
            self.check()?;
        }
        let server = self.server.stats();
        if !server.is_quiescent() {
            return Err(format!("the server still holds: {server}"));
        }
        let client = self.client.stats();
        if !client.is_quiescent() || self.client.poll_timeout().is_some() {
            return Err(format!("the client still holds: {client}"));
        }
        if let Some(auth) = &self.auth {
            auth.check_idle()?;
        }
        Ok(())
    }

    /// With OAuth, once the faults have stopped: every flow still running ends by its
    /// deadline, and then a call gets through (a client that gave up started again), with
    /// whatever flows it takes, well within its deadline.
    fn recover(&mut self) -> Result<(), String> {
        for _ in 0..400 {
            let running = self.auth.as_ref().is_some_and(AuthSim::flow_running);
            if !running && !self.closing {
                break;
            }
            self.advance(500);
            self.drain()?;
            self.check()?;
        }
        if self.auth.as_ref().is_some_and(AuthSim::flow_running) {
            return Err("a flow never ended".into());
        }
        // A registration the authorization server forgot shows only when a person fails to
        // authorize it: one call may fail for that, the next must get through.
        let mut failures = Vec::new();
        for _ in 0..2 {
            match self.recovery_call()? {
                Ok(()) => return Ok(()),
                Err(why) => failures.push(why),
            }
        }
        Err(format!(
            "with the faults stopped, calls still failed: {failures:?}"
        ))
    }

    /// One call once the faults have stopped (the client started again if it gave up): its
    /// outcome, within its deadline.
    fn recovery_call(&mut self) -> Result<Result<(), String>, String> {
        if self.client.is_closed() {
            self.note("the closed client starts again".into());
            self.closing = true;
            for _ in 0..100 {
                self.drain()?;
                self.check()?;
                if !self.closing {
                    break;
                }
                self.advance(100);
            }
        }
        let timeout = Duration::from_secs(60);
        let options = CallOptions {
            timeout: Some(timeout),
            ..CallOptions::default()
        };
        let params = raw(r#"{"name":"work","arguments":{"n":1}}"#);
        let call = match self
            .client
            .request(self.now, "tools/call", Some(&params), options)
        {
            Ok(call) => call,
            // The new client gave up already (its first flow failed).
            Err(e) => return Ok(Err(format!("refused: {e}"))),
        };
        self.counts.0 += 1;
        self.open_calls.insert(call, Some(self.now + timeout));
        self.watched = Some((call, None));
        self.note(format!("{call} tools/call, once the faults have stopped"));
        for _ in 0..200 {
            self.drain()?;
            self.check()?;
            if !self.open_calls.contains_key(&call) {
                break;
            }
            self.advance(500);
        }
        match self.watched.take() {
            Some((_, Some(outcome))) => Ok(outcome),
            _ => Err("with the faults stopped, a call never ended".into()),
        }
    }
}
