//! The client engine against a hostile server, as `engine_actions` drives the server engine.
//!
//! A scripted server reads what the client sends and answers each request with what the run
//! chooses: a plausible answer to what was asked (a correct MCP answer in either era, as JSON
//! or as an event stream, streams left open and fed later), or something hostile (a random
//! status, broken framing, a wrong id, an answer cut short, a reset). Connections open, fail or
//! hang; the application calls, listens, cancels, answers the server's requests, notifies and
//! closes; time jumps, often exactly to the client's next deadline.
//!
//! After every step the client's `check_invariants()` holds, every call has had at most one
//! outcome and none outlives its deadline, nothing is due that the client did not do, the
//! client's connections are the ones the network has, and a client is never left disconnected
//! past its reconnect deadline. In the liveness phase the server turns plausible, every call
//! ends by its deadline, the listens are cancelled, the client closes, and it must hold nothing
//! (the conditions `mcpwire-sim --client` checks against the real server engine).
//!
//! The same body runs from fuzz bytes ([`client_engine`]) and from a seed
//! ([`client_engine_seed`]), so that many seeds can be run quickly (see the ignored test
//! `client_engine_seeds`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use mcpwire_core::client::{
    CallId, CallOptions, Client, ClientConfig, ClientConnId, ClientEvent, EraChoice,
    MODERN_VERSION, SESSION_VERSIONS, ServerRequestId, Transmit,
};
use mcpwire_core::jsonrpc::{self, ErrorObject, Incoming, Message, RawValue, RequestId};
use mcpwire_core::time::{Duration, Instant};
use mcpwire_sim::Rng;

/// Why a run failed, and the actions that led there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEngineFailure {
    /// The step it failed at.
    pub step: u64,
    /// What went wrong.
    pub reason: String,
    /// The last actions, oldest first.
    pub recent: Vec<String>,
}

/// What a passing run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientEngineReport {
    /// Calls made, answered with a result, and failed.
    pub calls: (u64, u64, u64),
    /// Clients made (one more after each close).
    pub clients: u64,
    /// Times a client got connected.
    pub connected: u64,
}

/// One step per four bytes of input, at most 300: short runs keep the fuzzer fast, and the
/// seeded runs go longer.
pub fn client_engine(data: &[u8]) {
    let steps = (data.len() as u64 / 4).min(300);
    if let Err(failure) = HostileServer::new(Rng::from_bytes(data), steps).run() {
        panic!(
            "step {}: {}\nlast actions:\n{}",
            failure.step,
            failure.reason,
            failure.recent.join("\n")
        );
    }
}

/// The run of `seed`, `steps` steps long, then the liveness phase.
pub fn client_engine_seed(
    seed: u64,
    steps: u64,
) -> Result<ClientEngineReport, ClientEngineFailure> {
    HostileServer::new(Rng::new(seed), steps).run()
}

const AUTHORITY: &str = "127.0.0.1:3000";
const PATH: &str = "/mcp";
/// The HTTP+SSE endpoint the legacy stream names.
const LEGACY_POST: &str = "/messages?sessionId=legacy";
const RECONNECT: Duration = Duration::from_secs(30);
const CONNECT: Duration = Duration::from_secs(3);

/// A request the client wrote, as the server reads it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    rpc: Rpc,
}

#[derive(Debug, Clone)]
enum Rpc {
    /// No body (GET, DELETE).
    None,
    Request {
        id: i64,
        method: String,
        params: String,
    },
    /// A notification (its method), or a response: answered 202.
    Other(String),
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn modern(&self) -> bool {
        self.header("mcp-protocol-version") == Some(MODERN_VERSION)
    }

    fn describe(&self) -> String {
        match &self.rpc {
            Rpc::Request { id, method, .. } => format!("{} {method} #{id}", self.method),
            Rpc::Other(what) => format!("{} {what}", self.method),
            Rpc::None => format!("{} {}", self.method, self.target),
        }
    }
}

/// How a response body left open is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Chunked,
    UntilClose,
}

/// One connection, as the server sees it.
#[derive(Debug)]
struct Wire {
    connected: bool,
    /// Request bytes not yet read.
    inbox: Vec<u8>,
    /// The request awaiting its answer.
    request: Option<Req>,
    /// An event stream begun and left open.
    stream: Option<Framing>,
}

/// A response as bytes, and what the connection does after it.
struct Answer {
    bytes: Vec<u8>,
    /// An event stream left open (fed later by `push`).
    open: Option<Framing>,
    close: bool,
}

impl Answer {
    fn done(bytes: Vec<u8>) -> Answer {
        Answer {
            bytes,
            open: None,
            close: false,
        }
    }
}

/// The run. See the [module docs](self).
struct HostileServer {
    rng: Rng,
    steps: u64,
    step: u64,
    now: Instant,
    client: Client,
    config: ClientConfig,
    wires: BTreeMap<ClientConnId, Wire>,
    /// Calls without an outcome, and their deadlines (`None`: a listen).
    open_calls: BTreeMap<CallId, Option<Instant>>,
    ended_calls: BTreeSet<CallId>,
    /// Requests from the server the application holds.
    asked: Vec<ServerRequestId>,
    /// JSON-RPC ids of requests the client sent and the server has not answered.
    outstanding: BTreeSet<i64>,
    /// Whether the application closed the client (a new one follows once it has closed).
    closing: bool,
    /// Whether hostile answers and faults are off (the liveness phase).
    calm: bool,
    /// Whether a closed client is replaced (not after the last close).
    renew: bool,
    disconnected_since: Option<Instant>,
    report: ClientEngineReport,
    recent: Vec<String>,
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.into())
        .unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("an empty object is JSON"))
}

fn result(id: &str, result: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

fn error(id: &str, code: i64, data: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":"no"{data}}}}}"#)
}

fn notification(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params}}}"#)
}

fn head(status: u16, lines: &[String]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\n");
    for line in lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn json_response(status: u16, body: &str, extra: &[String]) -> Vec<u8> {
    let mut lines = vec![
        "content-type: application/json".to_string(),
        format!("content-length: {}", body.len()),
    ];
    lines.extend_from_slice(extra);
    let mut out = head(status, &lines);
    out.extend_from_slice(body.as_bytes());
    out
}

fn empty_response(status: u16, extra: &[String]) -> Vec<u8> {
    let mut lines = vec!["content-length: 0".to_string()];
    lines.extend_from_slice(extra);
    head(status, &lines)
}

fn sse_head(framing: Framing, extra: &[String]) -> Vec<u8> {
    let mut lines = vec!["content-type: text/event-stream".to_string()];
    if framing == Framing::Chunked {
        lines.push("transfer-encoding: chunked".into());
    }
    lines.extend_from_slice(extra);
    head(200, &lines)
}

/// Stream bytes in the stream's framing.
fn framed(framing: Framing, text: &str) -> Vec<u8> {
    match framing {
        Framing::UntilClose => text.as_bytes().to_vec(),
        Framing::Chunked if text.is_empty() => Vec::new(),
        Framing::Chunked => format!("{:x}\r\n{text}\r\n", text.len()).into_bytes(),
    }
}

fn data_event(message: &str) -> String {
    format!("data: {message}\n\n")
}

/// Reads one complete request from the front of `inbox`.
fn take_request(inbox: &mut Vec<u8>) -> Option<Result<Req, String>> {
    let end = inbox.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&inbox[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some("HTTP/1.1")) = (parts.next(), parts.next(), parts.next())
    else {
        return Some(Err(format!("the client wrote a bad request line {line:?}")));
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(": ") else {
            return Some(Err(format!("the client wrote a bad header line {line:?}")));
        };
        headers.push((name.to_string(), value.to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(Some(0), |(_, v)| v.parse::<usize>().ok());
    let Some(length) = length else {
        return Some(Err("the client wrote a bad content-length".into()));
    };
    if inbox.len() < end + 4 + length {
        return None;
    }
    let body: Vec<u8> = inbox[end + 4..end + 4 + length].to_vec();
    inbox.drain(..end + 4 + length);
    let rpc = if body.is_empty() {
        Rpc::None
    } else {
        match jsonrpc::decode(&body) {
            Ok(Incoming::Single(Message::Request(request))) => match request.id {
                RequestId::Number(id) => Rpc::Request {
                    id,
                    method: request.method,
                    params: request
                        .params
                        .map(|p| p.get().to_string())
                        .unwrap_or_default(),
                },
                RequestId::String(_) => {
                    return Some(Err("the client sent a string id".into()));
                }
            },
            Ok(Incoming::Single(Message::Notification(note))) => Rpc::Other(note.method),
            Ok(_) => Rpc::Other("(a response)".into()),
            Err(_) => {
                return Some(Err(format!(
                    "the client sent a body that is not JSON-RPC: {}",
                    String::from_utf8_lossy(&body)
                )));
            }
        }
    };
    Some(Ok(Req {
        method: method.into(),
        target: target.into(),
        headers,
        rpc,
    }))
}

impl HostileServer {
    fn new(mut rng: Rng, steps: u64) -> HostileServer {
        let config = Self::draw_config(&mut rng);
        let now = Instant::ZERO;
        let client = Self::make_client(&mut rng, &config, now);
        HostileServer {
            rng,
            steps,
            step: 0,
            now,
            client,
            config,
            wires: BTreeMap::new(),
            open_calls: BTreeMap::new(),
            ended_calls: BTreeSet::new(),
            asked: Vec::new(),
            outstanding: BTreeSet::new(),
            closing: false,
            calm: false,
            renew: true,
            disconnected_since: None,
            report: ClientEngineReport {
                clients: 1,
                ..ClientEngineReport::default()
            },
            recent: Vec::new(),
        }
    }

    fn draw_config(rng: &mut Rng) -> ClientConfig {
        let mut config = ClientConfig::new(AUTHORITY, PATH, "hostile-client", "1.0.0");
        config.era = [EraChoice::Auto, EraChoice::Sessions, EraChoice::Modern][rng.index(3)];
        config.capabilities = r#"{"elicitation":{}}"#.into();
        config.limits.max_connections = 1 + rng.index(4);
        config.limits.max_message_bytes = [512, 4096, 64 * 1024][rng.index(3)];
        config.limits.max_server_requests = 1 + rng.index(8);
        config.limits.max_input_rounds = 1 + rng.below(3) as u32;
        config.retry.max_attempts = 1 + rng.below(8) as u32;
        config.timeouts.request = Duration::from_secs(20);
        config.timeouts.reconnect = RECONNECT;
        config.timeouts.connect = CONNECT;
        config.timeouts.server_request = Duration::from_secs(5);
        config.session_version = SESSION_VERSIONS[rng.index(SESSION_VERSIONS.len())].into();
        config
    }

    fn make_client(rng: &mut Rng, config: &ClientConfig, now: Instant) -> Client {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        Client::new(config.clone(), now, seed)
    }

    fn run(mut self) -> Result<ClientEngineReport, ClientEngineFailure> {
        if let Err(reason) = self.drain().and_then(|()| self.check()) {
            return Err(self.failure(reason));
        }
        while self.step < self.steps {
            let acted = self.act();
            if let Err(reason) = acted
                .and_then(|()| self.drain())
                .and_then(|()| self.check())
            {
                return Err(self.failure(reason));
            }
            self.step += 1;
        }
        if let Err(reason) = self.liveness() {
            return Err(self.failure(reason));
        }
        Ok(self.report)
    }

    fn failure(&self, reason: String) -> ClientEngineFailure {
        ClientEngineFailure {
            step: self.step,
            reason: format!(
                "{reason}\nclient at {} ms: {:?} {:?}, connected {}, next deadline {:?}; {}",
                self.now.as_millis(),
                self.client.era(),
                self.client.protocol_version(),
                self.client.is_connected(),
                self.client.poll_timeout().map(Instant::as_millis),
                self.client.stats()
            ),
            recent: self.recent.clone(),
        }
    }

    fn note(&mut self, what: String) {
        if self.recent.len() == 40 {
            self.recent.remove(0);
        }
        self.recent
            .push(format!("{:>8} ms: {what}", self.now.as_millis()));
    }

    // ---- actions ----

    fn act(&mut self) -> Result<(), String> {
        // 0 (what a fuzz input reads once it runs out) moves time to the next deadline.
        match self.rng.below(32) {
            0 => self.advance_to_deadline(),
            1 => {
                let ms = [1, 10, 100, 1_000][self.rng.index(4)];
                return self.advance(Duration::from_millis(ms));
            }
            2 => {
                let ms = [5_000, 5_000, 5_000, 30_000, 120_000][self.rng.index(5)];
                return self.advance(Duration::from_millis(ms));
            }
            3..=16 => self.answer_some(),
            17..=19 => self.push_some(),
            20 => self.connect_some(),
            21 => self.cut_some(),
            22..=26 if !self.closing => self.make_call(),
            27 if !self.closing => self.listen(),
            28 if !self.closing => self.cancel_some(),
            29 | 30 => self.respond_some(),
            31 => match self.rng.below(40) {
                0 if !self.closing => {
                    self.note("the application closes the client".into());
                    self.client.close(self.now);
                    self.closing = true;
                }
                1 => self.pause(),
                _ if !self.closing => {
                    let params = raw(r#"{"progressToken":1,"progress":1}"#);
                    let _ = self
                        .client
                        .notify(self.now, "notifications/progress", Some(&params));
                    self.note("notify".into());
                }
                _ => {}
            },
            _ => self.answer_some(),
        }
        Ok(())
    }

    /// Time passes as a run loop sees it: the client is woken at each of its deadlines on the
    /// way, and whatever it sends meets the network there (nothing answers until later).
    fn advance(&mut self, by: Duration) -> Result<(), String> {
        self.note(format!("time +{} ms", by.as_millis()));
        let until = self.now + by;
        for _ in 0..10_000 {
            match self.client.poll_timeout() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.drain()?;
                    self.check()?;
                }
                _ => {
                    self.now = until;
                    self.client.handle_timeout(self.now);
                    return Ok(());
                }
            }
        }
        Err("the client's deadlines never let time pass".into())
    }

    /// The process is suspended a while (a laptop asleep): every timer due meanwhile fires at
    /// once, late. The client then starts over from where it finds itself.
    fn pause(&mut self) {
        let ms = [10_000, 60_000, 600_000][self.rng.index(3)];
        self.note(format!("paused for {ms} ms"));
        self.now += Duration::from_millis(ms);
        self.client.handle_timeout(self.now);
        self.disconnected_since = None;
    }

    fn advance_to_deadline(&mut self) {
        if let Some(at) = self.client.poll_timeout() {
            self.note(format!("time to the next deadline, {} ms", at.as_millis()));
            if at > self.now {
                self.now = at;
            }
            self.client.handle_timeout(self.now);
        }
    }

    fn make_call(&mut self) {
        let (method, params) = match self.rng.below(6) {
            0 => ("ping", None),
            1 => ("tools/list", None),
            2 => ("resources/read", Some(r#"{"uri":"file:///a"}"#)),
            3 => ("prompts/get", Some(r#"{"name":"p"}"#)),
            _ => ("tools/call", Some(r#"{"name":"t","arguments":{}}"#)),
        };
        let params = params.map(raw);
        let timeout = Duration::from_millis(200 + self.rng.below(25_000));
        let options = CallOptions {
            timeout: Some(timeout),
            progress: self.rng.chance(30),
            ..CallOptions::default()
        };
        match self
            .client
            .request(self.now, method, params.as_deref(), options)
        {
            Ok(call) => {
                self.report.calls.0 += 1;
                self.open_calls.insert(call, Some(self.now + timeout));
                self.note(format!("{call}: {method}, {} ms", timeout.as_millis()));
            }
            Err(e) => self.note(format!("{method} refused: {e}")),
        }
    }

    fn listen(&mut self) {
        match self
            .client
            .listen(self.now, &raw(r#"{"toolsListChanged":true}"#))
        {
            Ok(call) => {
                self.report.calls.0 += 1;
                self.open_calls.insert(call, None);
                self.note(format!("{call}: listen"));
            }
            Err(e) => self.note(format!("listen refused: {e}")),
        }
    }

    fn cancel_some(&mut self) {
        if self.open_calls.is_empty() {
            return;
        }
        let index = self.rng.index(self.open_calls.len());
        if let Some(&call) = self.open_calls.keys().nth(index) {
            let outcome = self.client.cancel(self.now, call);
            self.note(format!("cancel {call}: {outcome:?}"));
        }
    }

    fn respond_some(&mut self) {
        if self.asked.is_empty() {
            return;
        }
        let request = self.asked.remove(self.rng.index(self.asked.len()));
        let outcome = if self.rng.chance(80) {
            let answer = raw(r#"{"action":"accept","content":{"name":"x"}}"#);
            self.client.respond(self.now, request, Ok(&answer))
        } else {
            let error = ErrorObject {
                code: -32603,
                message: "declined".into(),
                data: None,
            };
            self.client.respond(self.now, request, Err(&error))
        };
        self.note(format!("answer {request}: {outcome:?}"));
    }

    fn pick_wire(&mut self, filter: impl Fn(&Wire) -> bool) -> Option<ClientConnId> {
        let candidates: Vec<ClientConnId> = self
            .wires
            .iter()
            .filter(|(_, w)| filter(w))
            .map(|(c, _)| *c)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.index(candidates.len())])
    }

    /// A connection the client is opening: it opens, or fails.
    fn connect_some(&mut self) {
        let Some(conn) = self.pick_wire(|w| !w.connected) else {
            return;
        };
        if self.rng.chance(70) || self.calm {
            if let Some(wire) = self.wires.get_mut(&conn) {
                wire.connected = true;
            }
            self.note(format!("{conn} opens late"));
            self.client.handle_connected(self.now, conn);
        } else {
            self.wires.remove(&conn);
            self.note(format!("{conn} fails to open"));
            self.client.handle_connect_failed(self.now, conn);
        }
    }

    /// The server (or the network) ends a connection.
    fn cut_some(&mut self) {
        if self.calm {
            return;
        }
        let Some(conn) = self.pick_wire(|w| w.connected) else {
            return;
        };
        self.note(format!("cut {conn}"));
        self.close_wire(conn);
    }

    fn close_wire(&mut self, conn: ClientConnId) {
        if let Some(wire) = self.wires.remove(&conn) {
            if let Some(Rpc::Request { id, .. }) = wire.request.map(|r| r.rpc) {
                self.outstanding.remove(&id);
            }
            self.client.handle_closed(self.now, conn);
        }
    }

    /// Answers a request waiting on some connection.
    fn answer_some(&mut self) {
        let Some(conn) = self.pick_wire(|w| w.request.is_some()) else {
            return;
        };
        let Some(req) = self.wires.get_mut(&conn).and_then(|w| w.request.take()) else {
            return;
        };
        if let Rpc::Request { id, .. } = &req.rpc {
            self.outstanding.remove(id);
        }
        let hostile = !self.calm && self.rng.chance(15);
        let answer = if hostile {
            self.hostile(&req)
        } else {
            self.plausible(&req)
        };
        let what = format!(
            "{conn}: {} answered {}{}{}",
            req.describe(),
            if hostile { "with hostility: " } else { "" },
            summary(&answer.bytes),
            match (answer.open, answer.close) {
                (Some(_), _) => ", left open",
                (None, true) => ", then closed",
                _ => "",
            }
        );
        self.note(what);
        self.deliver(conn, answer);
    }

    /// Feeds an answer to the client in up to three pieces.
    fn deliver(&mut self, conn: ClientConnId, answer: Answer) {
        let Answer { bytes, open, close } = answer;
        if let Some(wire) = self.wires.get_mut(&conn) {
            wire.stream = open;
        }
        let mut rest = &bytes[..];
        for _ in 0..2 {
            if rest.is_empty() || self.rng.chance(50) {
                break;
            }
            let cut = self.rng.index(rest.len() + 1);
            let (piece, after) = rest.split_at(cut);
            rest = after;
            if !piece.is_empty() && self.wires.contains_key(&conn) {
                self.client.handle_bytes(self.now, conn, piece);
            }
        }
        if !rest.is_empty() && self.wires.contains_key(&conn) {
            self.client.handle_bytes(self.now, conn, rest);
        }
        if close {
            self.close_wire(conn);
        }
    }

    /// Something more on a stream left open: an event, its end, or a cut.
    fn push_some(&mut self) {
        let Some(conn) = self.pick_wire(|w| w.stream.is_some()) else {
            return;
        };
        let Some(framing) = self.wires.get(&conn).and_then(|w| w.stream) else {
            return;
        };
        let roll = self.rng.below(12);
        let (text, end) = match roll {
            0 => (String::new(), true),
            1 => (format!("retry: {}\n\n", self.rng.below(5_000)), false),
            2 => (": keep-alive\n\n".into(), false),
            3 => (format!("id: p{}\ndata:\n\n", self.rng.below(100)), false),
            4 => (
                data_event(&notification(
                    "notifications/message",
                    r#"{"level":"info","data":"x"}"#,
                )),
                false,
            ),
            5 => (
                data_event(&format!(
                    r#"{{"jsonrpc":"2.0","id":{},"method":"{}","params":{{}}}}"#,
                    self.rng.below(4),
                    ["ping", "elicitation/create", "roots/list"][self.rng.index(3)]
                )),
                false,
            ),
            6 if !self.calm => {
                let size = self.config.limits.max_message_bytes + 1;
                (format!("data: {}\n\n", "x".repeat(size)), false)
            }
            7 => (
                "event: endpoint\ndata: ".to_string() + LEGACY_POST + "\n\n",
                false,
            ),
            8 if !self.calm => ("id: \0\ndata: {\n\n".into(), false),
            _ => {
                // An answer to a request the client is still waiting for.
                let Some(id) = self.some_outstanding() else {
                    return;
                };
                self.outstanding.remove(&id);
                let id = id.to_string();
                let message = if self.rng.chance(80) {
                    result(&id, r#"{"content":[],"resultType":"complete"}"#)
                } else {
                    error(&id, -32603, "")
                };
                (
                    format!("id: r{}\n{}", self.rng.below(100), data_event(&message)),
                    false,
                )
            }
        };
        self.note(format!(
            "{conn}: stream {}",
            if end {
                "ends".to_string()
            } else {
                summary(text.as_bytes())
            }
        ));
        let mut bytes = framed(framing, &text);
        if end {
            if framing == Framing::Chunked {
                bytes.extend_from_slice(b"0\r\n\r\n");
            }
            if let Some(wire) = self.wires.get_mut(&conn) {
                wire.stream = None;
            }
        }
        if !bytes.is_empty() {
            self.client.handle_bytes(self.now, conn, &bytes);
        }
        if end && (framing == Framing::UntilClose || self.rng.chance(30)) {
            self.close_wire(conn);
        }
    }

    fn some_outstanding(&mut self) -> Option<i64> {
        if self.outstanding.is_empty() {
            return None;
        }
        let index = self.rng.index(self.outstanding.len());
        self.outstanding.iter().nth(index).copied()
    }

    // ---- the server's answers ----

    fn framing(&mut self) -> Framing {
        if self.rng.chance(70) {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    }

    /// A message as a JSON body, or as an event stream that ends after it.
    fn message_response(&mut self, message: &str, extra: &[String]) -> Answer {
        if self.rng.chance(60) {
            return Answer::done(json_response(200, message, extra));
        }
        let framing = self.framing();
        let mut bytes = sse_head(framing, extra);
        let mut text = String::new();
        if self.rng.chance(50) {
            let _ = write!(text, "id: e{}\ndata:\n\n", self.rng.below(100));
        }
        text.push_str(&data_event(message));
        bytes.extend(framed(framing, &text));
        if framing == Framing::Chunked {
            bytes.extend_from_slice(b"0\r\n\r\n");
        }
        Answer {
            bytes,
            open: None,
            close: framing == Framing::UntilClose,
        }
    }

    fn plausible(&mut self, req: &Req) -> Answer {
        match (&req.rpc, req.method.as_str()) {
            (Rpc::None, "GET") => self.plausible_get(req),
            (Rpc::None, "DELETE") => {
                let status = [200, 202, 204, 404, 405][self.rng.index(5)];
                Answer::done(empty_response(status, &[]))
            }
            (Rpc::None | Rpc::Other(_), _) => {
                let status = if self.rng.chance(85) {
                    202
                } else {
                    [200, 400, 404][self.rng.index(3)]
                };
                Answer::done(empty_response(status, &[]))
            }
            (Rpc::Request { id, method, params }, _) => {
                let id = id.to_string();
                match method.as_str() {
                    "server/discover" => self.discover(&id),
                    "initialize" => self.initialize(&id, req),
                    _ => self.call_answer(&id, method, params, req),
                }
            }
        }
    }

    fn discover(&mut self, id: &str) -> Answer {
        let lists = [
            r#"["2026-07-28"]"#,
            r#"["2025-11-25","2026-07-28"]"#,
            r#"["2025-06-18","2025-03-26"]"#,
            r#"["1999-01-01"]"#,
            r#"[]"#,
        ];
        match self.rng.below(8) {
            0..=4 => {
                let versions = lists[self.rng.index(lists.len())];
                let message = result(
                    id,
                    &format!(r#"{{"supportedVersions":{versions},"capabilities":{{}}}}"#),
                );
                self.message_response(&message, &[])
            }
            5 => Answer::done(json_response(400, &error(id, -32000, ""), &[])),
            6 => Answer::done(json_response(
                400,
                &error(id, -32022, r#","data":{"supported":["2025-11-25"]}"#),
                &[],
            )),
            _ => Answer::done(empty_response([404, 405][self.rng.index(2)], &[])),
        }
    }

    fn initialize(&mut self, id: &str, req: &Req) -> Answer {
        let asked = match &req.rpc {
            Rpc::Request { params, .. } => SESSION_VERSIONS
                .iter()
                .chain(["2024-11-05"].iter())
                .find(|v| params.contains(*v))
                .copied()
                .unwrap_or("2025-11-25"),
            _ => "2025-11-25",
        };
        if req.target == LEGACY_POST && self.rng.chance(60) {
            // HTTP+SSE: accepted here, answered on the session's stream.
            if let Ok(id) = id.parse() {
                self.outstanding.insert(id);
            }
            return Answer::done(empty_response(202, &[]));
        }
        if self.rng.chance(8) {
            // A server without Streamable HTTP: the client falls back to HTTP+SSE.
            return Answer::done(empty_response([400, 404, 405][self.rng.index(3)], &[]));
        }
        let version = if self.rng.chance(80) {
            asked
        } else {
            ["2025-06-18", "2025-03-26", "1999-01-01"][self.rng.index(3)]
        };
        let message = result(
            id,
            &format!(
                r#"{{"protocolVersion":"{version}","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}"#
            ),
        );
        let session = if self.rng.chance(85) {
            vec![format!("mcp-session-id: s{}", self.rng.below(1_000))]
        } else {
            Vec::new()
        };
        self.message_response(&message, &session)
    }

    fn call_answer(&mut self, id: &str, method: &str, params: &str, req: &Req) -> Answer {
        let modern = req.modern();
        if method == "subscriptions/listen" {
            let framing = self.framing();
            let mut bytes = sse_head(framing, &[]);
            let ack = notification("notifications/subscriptions/acknowledged", "{}");
            bytes.extend(framed(framing, &data_event(&ack)));
            return Answer {
                bytes,
                open: Some(framing),
                close: false,
            };
        }
        let complete = r#"{"content":[],"resultType":"complete"}"#;
        match self.rng.below(20) {
            0..=7 => self.message_response(&result(id, complete), &[]),
            8..=11 => {
                // A stream: progress, maybe a request of the server's (session era), maybe
                // the answer; left open when the answer is not on it.
                let framing = self.framing();
                let mut bytes = sse_head(framing, &[]);
                let mut text = format!("id: e{}\ndata:\n\n", self.rng.below(100));
                if self.rng.chance(50) {
                    let progress = notification(
                        "notifications/progress",
                        &format!(r#"{{"progressToken":{id},"progress":1}}"#),
                    );
                    text.push_str(&data_event(&progress));
                }
                if !modern && self.rng.chance(30) {
                    let ask = format!(
                        r#"{{"jsonrpc":"2.0","id":"s{}","method":"elicitation/create","params":{{"message":"who?"}}}}"#,
                        self.rng.below(100)
                    );
                    text.push_str(&data_event(&ask));
                }
                let answered = self.rng.chance(60);
                if answered {
                    text.push_str(&format!("id: e{}\n", self.rng.below(100)));
                    text.push_str(&data_event(&result(id, complete)));
                }
                bytes.extend(framed(framing, &text));
                if answered && framing == Framing::Chunked && self.rng.chance(80) {
                    bytes.extend_from_slice(b"0\r\n\r\n");
                    return Answer::done(bytes);
                }
                if !answered {
                    if let Ok(id) = id.parse() {
                        self.outstanding.insert(id);
                    }
                }
                Answer {
                    bytes,
                    open: Some(framing),
                    close: false,
                }
            }
            12 | 13 if modern && !params.contains("inputResponses") => {
                let message = result(
                    id,
                    r#"{"resultType":"input_required","inputRequests":{"who":{"method":"elicitation/create","params":{"message":"who?"}}},"requestState":"st"}"#,
                );
                self.message_response(&message, &[])
            }
            14 => {
                let (status, code) =
                    [(404, -32601), (400, -32602), (500, -32603)][self.rng.index(3)];
                Answer::done(json_response(status, &error(id, code, ""), &[]))
            }
            15 if !modern => Answer::done(json_response(404, &error(id, -32001, ""), &[])),
            16 => Answer::done(empty_response(503, &["retry-after: 1".into()])),
            17 if !modern && req.target == LEGACY_POST => {
                // HTTP+SSE: accepted here, answered on the session's stream.
                if let Ok(id) = id.parse() {
                    self.outstanding.insert(id);
                }
                Answer::done(empty_response(202, &[]))
            }
            _ => self.message_response(&result(id, complete), &[]),
        }
    }

    fn plausible_get(&mut self, req: &Req) -> Answer {
        match self.rng.below(10) {
            0 => Answer::done(empty_response(405, &[])),
            1 => Answer::done(empty_response(404, &[])),
            2 => {
                let framing = self.framing();
                let mut bytes = sse_head(framing, &[]);
                if framing == Framing::Chunked {
                    bytes.extend_from_slice(b"0\r\n\r\n");
                }
                Answer {
                    bytes,
                    open: None,
                    close: framing == Framing::UntilClose,
                }
            }
            _ => {
                let framing = self.framing();
                let mut bytes = sse_head(framing, &[]);
                let mut text = String::new();
                if req.header("mcp-session-id").is_none() && self.rng.chance(70) {
                    text.push_str("event: endpoint\ndata: ");
                    text.push_str(LEGACY_POST);
                    text.push_str("\n\n");
                }
                let _ = write!(text, "id: g{}\ndata:\n\n", self.rng.below(100));
                if self.rng.chance(30) {
                    let _ = write!(text, "retry: {}\n\n", self.rng.below(3_000));
                }
                bytes.extend(framed(framing, &text));
                Answer {
                    bytes,
                    open: Some(framing),
                    close: false,
                }
            }
        }
    }

    /// Random statuses, framings, ids and cuts.
    fn hostile(&mut self, req: &Req) -> Answer {
        let id = match &req.rpc {
            Rpc::Request { id, .. } => *id,
            _ => 0,
        };
        let id = match self.rng.below(6) {
            0 => self.some_outstanding().unwrap_or(id).to_string(),
            1 => self.rng.below(50).to_string(),
            2 => format!("\"{id}\""),
            3 => "null".into(),
            _ => id.to_string(),
        };
        let bodies = [
            String::new(),
            result(&id, "{}"),
            result(&id, r#"{"resultType":"input_required"}"#),
            error(&id, -32001, ""),
            error(&id, -32022, r#","data":{"supported":["2026-07-28"]}"#),
            r#"{"error":{"code":-32600,"message":"loose"}}"#.into(),
            format!("[{},{}]", result(&id, "{}"), notification("x", "{}")),
            "not json".into(),
            r#"{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}}"#.to_string(),
        ];
        let body = bodies[self.rng.index(bodies.len())].clone();
        let status = [
            100, 101, 200, 201, 202, 204, 206, 301, 304, 400, 401, 403, 404, 405, 406, 408, 409,
            413, 429, 500, 502, 503, 504, 599,
        ][self.rng.index(24)];
        let media = [
            "application/json",
            "text/event-stream",
            "text/plain",
            "application/problem+json",
        ][self.rng.index(4)];
        let event_body = format!("id: h{}\ndata: {body}\n\n", self.rng.below(10));
        let payload = if media == "text/event-stream" {
            event_body
        } else {
            body
        };
        let mut lines = vec![format!("content-type: {media}")];
        if self.rng.chance(30) {
            lines.push(format!("retry-after: {}", self.rng.below(100_000)));
        }
        if self.rng.chance(20) {
            lines.push(format!("mcp-session-id: h{}", self.rng.below(3)));
        }
        let mut close = self.rng.chance(40);
        let bytes = match self.rng.below(9) {
            0 => {
                lines.push(format!("content-length: {}", payload.len()));
                let mut out = head(status, &lines);
                out.extend_from_slice(payload.as_bytes());
                out
            }
            1 => {
                // Longer than it says, or shorter: cut.
                lines.push(format!(
                    "content-length: {}",
                    payload.len() + self.rng.index(20)
                ));
                let mut out = head(status, &lines);
                out.extend_from_slice(payload.as_bytes());
                close = self.rng.chance(70);
                out
            }
            2 => {
                lines.push("transfer-encoding: chunked".into());
                let mut out = head(status, &lines);
                out.extend(framed(Framing::Chunked, &payload));
                out.extend_from_slice(b"0\r\n\r\n");
                out
            }
            3 => {
                // A chunk longer than its size.
                lines.push("transfer-encoding: chunked".into());
                let mut out = head(status, &lines);
                out.extend_from_slice(format!("1\r\n{payload}\r\n").as_bytes());
                out
            }
            4 => {
                // Until close.
                let mut out = head(status, &lines);
                out.extend_from_slice(payload.as_bytes());
                close = true;
                out
            }
            5 => {
                lines.push("content-length: 2".into());
                lines.push("transfer-encoding: chunked".into());
                head(status, &lines)
            }
            6 => {
                // A plausible answer, cut short.
                let whole = self.plausible(req).bytes;
                let cut = self.rng.index(whole.len() + 1);
                close = true;
                whole[..cut].to_vec()
            }
            7 => {
                // A reset: nothing at all.
                close = true;
                Vec::new()
            }
            _ => {
                let mut out = Vec::new();
                for _ in 0..self.rng.below(40) {
                    out.push(self.rng.below(256) as u8);
                }
                out
            }
        };
        Answer {
            bytes,
            open: None,
            close,
        }
    }

    // ---- moving bytes and events ----

    /// Moves transmits and events until nothing moves; fires what is due now.
    fn drain(&mut self) -> Result<(), String> {
        for _ in 0..10_000 {
            let mut moved = false;
            let mut out = Vec::new();
            while let Some(transmit) = self.client.poll_transmit(&mut out) {
                moved = true;
                match transmit {
                    Transmit::Open { conn } => self.open(conn)?,
                    Transmit::Write { conn, len } => {
                        let bytes = out[out.len() - len..].to_vec();
                        self.written(conn, &bytes)?;
                    }
                    Transmit::Close { conn } => {
                        if let Some(wire) = self.wires.remove(&conn) {
                            if let Some(Rpc::Request { id, .. }) = wire.request.map(|r| r.rpc) {
                                self.outstanding.remove(&id);
                            }
                        }
                    }
                }
            }
            while let Some(event) = self.client.poll_event() {
                moved = true;
                self.on_event(event)?;
            }
            if self.closing && self.client.is_closed() && self.drained() {
                self.closed()?;
                if self.renew {
                    self.config = Self::draw_config(&mut self.rng);
                    self.client = Self::make_client(&mut self.rng, &self.config, self.now);
                    self.report.clients += 1;
                    self.note("a new client".into());
                }
                moved = true;
            }
            if self.client.poll_timeout().is_some_and(|at| at <= self.now) {
                self.client.handle_timeout(self.now);
                let again = self.client.poll_timeout().is_some_and(|at| at <= self.now);
                let pending = self.client.stats();
                if again && pending.pending_events == 0 && pending.pending_transmits == 0 {
                    return Err("a deadline at or before now survives handle_timeout".into());
                }
                moved = true;
            }
            if !moved {
                return Ok(());
            }
        }
        Err("the client never settled".into())
    }

    fn open(&mut self, conn: ClientConnId) -> Result<(), String> {
        if self.wires.contains_key(&conn) {
            return Err(format!("{conn} opened twice"));
        }
        let roll = self.rng.below(20);
        if self.calm || roll < 16 {
            self.wires.insert(
                conn,
                Wire {
                    connected: true,
                    inbox: Vec::new(),
                    request: None,
                    stream: None,
                },
            );
            self.client.handle_connected(self.now, conn);
        } else if roll < 18 {
            self.note(format!("{conn} refused"));
            self.client.handle_connect_failed(self.now, conn);
        } else {
            self.note(format!("{conn} hangs while opening"));
            self.wires.insert(
                conn,
                Wire {
                    connected: false,
                    inbox: Vec::new(),
                    request: None,
                    stream: None,
                },
            );
        }
        Ok(())
    }

    fn written(&mut self, conn: ClientConnId, bytes: &[u8]) -> Result<(), String> {
        let Some(wire) = self.wires.get_mut(&conn) else {
            return Err(format!(
                "the client wrote to {conn}, which it does not have"
            ));
        };
        if !wire.connected {
            return Err(format!("the client wrote to {conn} before it opened"));
        }
        wire.inbox.extend_from_slice(bytes);
        let busy = wire.request.is_some() || wire.stream.is_some();
        let Some(parsed) = take_request(&mut wire.inbox) else {
            return Ok(());
        };
        let req = parsed?;
        if busy || !wire.inbox.is_empty() {
            return Err(format!(
                "{conn}: {} written while another request is outstanding",
                req.describe()
            ));
        }
        if let Rpc::Request { id, .. } = &req.rpc {
            self.outstanding.insert(*id);
        }
        self.note(format!("{conn}: client sends {}", req.describe()));
        if let Some(wire) = self.wires.get_mut(&conn) {
            wire.request = Some(req);
        }
        Ok(())
    }

    fn on_event(&mut self, event: ClientEvent) -> Result<(), String> {
        match event {
            ClientEvent::Response { call, .. } => {
                self.report.calls.1 += 1;
                self.ended(call, "answered".into())
            }
            ClientEvent::Failed { call, error } => {
                self.report.calls.2 += 1;
                self.ended(call, format!("failed: {error}"))
            }
            ClientEvent::ServerRequest {
                request, method, ..
            } => {
                self.note(format!("{request}: the server asks {method}"));
                if self.rng.chance(85) {
                    self.asked.push(request);
                }
                Ok(())
            }
            ClientEvent::Connected {
                era,
                protocol_version,
                ..
            } => {
                self.report.connected += 1;
                // Connected, if only for a moment within this step: a new episode.
                self.disconnected_since = None;
                self.note(format!("connected: {era:?} {protocol_version}"));
                Ok(())
            }
            ClientEvent::Closed { reason } => {
                self.note(format!("client closed: {reason}"));
                if !self.closing {
                    // It gave up by itself: the run goes on with a new client.
                    self.closing = true;
                }
                Ok(())
            }
            ClientEvent::SessionLost => {
                self.note("session lost".into());
                Ok(())
            }
            ClientEvent::AuthorizationRequired { status, .. } => {
                // Credentials come or do not, at once: the wait ends either way.
                self.note(format!("authorization required ({status})"));
                if self.rng.chance(50) {
                    let _ = self.client.set_authorization(self.now, Some("Bearer fuzz"));
                } else {
                    self.client
                        .authorization_failed(self.now, "the fuzzer has no credentials");
                }
                Ok(())
            }
            ClientEvent::Notification { .. } => Ok(()),
        }
    }

    fn ended(&mut self, call: CallId, how: String) -> Result<(), String> {
        if self.open_calls.remove(&call).is_none() {
            let again = self.ended_calls.contains(&call);
            return Err(format!(
                "{call} {how}, but {}",
                if again {
                    "it had its outcome already"
                } else {
                    "it was never made"
                }
            ));
        }
        self.ended_calls.insert(call);
        self.note(format!("{call} {how}"));
        Ok(())
    }

    fn drained(&self) -> bool {
        let stats = self.client.stats();
        stats.pending_events == 0 && stats.pending_transmits == 0
    }

    /// A client closed and drained must hold nothing, and have left nothing open.
    fn closed(&mut self) -> Result<(), String> {
        let stats = self.client.stats();
        if !stats.is_quiescent() || self.client.poll_timeout().is_some() {
            return Err(format!("a closed client still holds: {stats}"));
        }
        if !self.open_calls.is_empty() {
            return Err(format!(
                "a closed client left calls without an outcome: {:?}",
                self.open_calls
            ));
        }
        if let Some(conn) = self.wires.keys().next() {
            return Err(format!("a closed client left {conn} open"));
        }
        self.closing = false;
        self.disconnected_since = None;
        self.ended_calls.clear();
        self.asked.clear();
        self.outstanding.clear();
        Ok(())
    }

    fn check(&mut self) -> Result<(), String> {
        self.client
            .check_invariants()
            .map_err(|v| format!("client invariant: {v}"))?;
        for (call, deadline) in &self.open_calls {
            if deadline.is_some_and(|d| d <= self.now) {
                return Err(format!("{call} outlived its deadline"));
            }
        }
        let stats = self.client.stats();
        if stats.connections != self.wires.len() as u64 {
            return Err(format!(
                "the client has {} connections, the network {}",
                stats.connections,
                self.wires.len()
            ));
        }
        if self.client.is_connected() || self.client.is_closed() {
            self.disconnected_since = None;
        } else {
            let since = *self.disconnected_since.get_or_insert(self.now);
            // The reconnect deadline, plus a connect timeout and a backoff (at most 10 s)
            // begun just before it.
            let bound = Duration::from_millis(RECONNECT.as_millis() + CONNECT.as_millis() + 10_000);
            if self.now.saturating_duration_since(since) > bound {
                return Err(format!(
                    "disconnected since {} ms without giving up",
                    since.as_millis()
                ));
            }
        }
        Ok(())
    }

    // ---- liveness ----

    fn liveness(&mut self) -> Result<(), String> {
        self.note("liveness: the server turns plausible".into());
        self.calm = true;
        // Every call ends by its deadline, the latest of which is 25.2 s away (each step checks
        // that none outlives its own). Streams reopening on the way make many small steps:
        // the bound is time, the count only a backstop.
        let horizon = self.now + Duration::from_secs(30);
        for _ in 0..1_000_000 {
            if self.open_calls.values().all(Option::is_none) || self.now > horizon {
                break;
            }
            self.settle_step()?;
        }
        if self.open_calls.values().any(Option::is_some) {
            return Err(format!("calls never ended: {:?}", self.open_calls));
        }
        let listens: Vec<CallId> = self.open_calls.keys().copied().collect();
        for call in listens {
            let _ = self.client.cancel(self.now, call);
        }
        self.drain()?;
        self.check()?;
        if !self.open_calls.is_empty() {
            return Err(format!(
                "cancelled listens without an outcome: {:?}",
                self.open_calls
            ));
        }
        self.note("liveness: the client closes".into());
        self.renew = false;
        self.client.close(self.now);
        self.closing = true;
        // The DELETE has `timeouts.close` (5 s).
        let horizon = self.now + Duration::from_secs(10);
        for _ in 0..1_000_000 {
            if !self.closing || self.now > horizon {
                break;
            }
            self.settle_step()?;
        }
        if self.closing {
            return Err("the client never finished closing".into());
        }
        Ok(())
    }

    /// Answers everything waiting, opens what is opening, then moves to the next deadline.
    fn settle_step(&mut self) -> Result<(), String> {
        while self
            .wires
            .values()
            .any(|w| w.request.is_some() || !w.connected)
        {
            if let Some(conn) = self.pick_wire(|w| !w.connected) {
                if let Some(wire) = self.wires.get_mut(&conn) {
                    wire.connected = true;
                }
                self.client.handle_connected(self.now, conn);
            }
            self.answer_some();
            self.drain()?;
            self.check()?;
        }
        if self.rng.chance(30) {
            self.push_some();
        }
        match self.client.poll_timeout() {
            Some(at) => {
                self.now = at.max(self.now);
                self.client.handle_timeout(self.now);
            }
            None => self.advance(Duration::from_secs(1))?,
        }
        self.drain()?;
        self.check()
    }
}

/// The status line and the first bytes of a body, for the trail of actions.
fn summary(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let first = text.lines().next().unwrap_or("(nothing)");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let body: String = body.chars().take(90).collect();
    format!("{first} {}", body.replace(['\r', '\n'], " "))
}

#[cfg(test)]
mod tests {
    use super::client_engine_seed;

    fn run(seeds: std::ops::Range<u64>, steps: u64) {
        let mut failed = Vec::new();
        let mut total = super::ClientEngineReport::default();
        for seed in seeds.clone() {
            match client_engine_seed(seed, steps) {
                Ok(report) => {
                    total.calls.0 += report.calls.0;
                    total.calls.1 += report.calls.1;
                    total.calls.2 += report.calls.2;
                    total.clients += report.clients;
                    total.connected += report.connected;
                }
                Err(failure) => {
                    println!(
                        "seed {seed} FAILED at step {}: {}\n  {}",
                        failure.step,
                        failure.reason,
                        failure.recent.join("\n  ")
                    );
                    failed.push(seed);
                }
            }
        }
        println!(
            "{} seeds x {steps} steps: {} calls ({} answered, {} failed), {} clients, connected {} times",
            seeds.end - seeds.start,
            total.calls.0,
            total.calls.1,
            total.calls.2,
            total.clients,
            total.connected
        );
        assert!(failed.is_empty(), "failing seeds: {failed:?}");
    }

    #[test]
    fn a_few_seeds_pass() {
        run(0..40, 300);
    }

    /// `CLIENT_ENGINE_SEEDS=5000 CLIENT_ENGINE_STEPS=400 cargo test --release -p mcpwire-fuzz
    /// client_engine_seeds -- --ignored --nocapture` (and `CLIENT_ENGINE_SEED` to start
    /// elsewhere).
    #[test]
    #[ignore = "many seeds: run on demand, in release"]
    fn client_engine_seeds() {
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let first = var("CLIENT_ENGINE_SEED", 0);
        let count = var("CLIENT_ENGINE_SEEDS", 1_000);
        let steps = var("CLIENT_ENGINE_STEPS", 400);
        run(first..first + count, steps);
    }
}
