//! Random sequences mixing 2026-07-28 stateless calls, listen streams, request-level
//! exchanges and session-era traffic, under tight budgets. Invariants after every step;
//! nothing left at the end.

use std::collections::BTreeSet;

use mcpwire_core::engine::{
    Config, ConnAction, ConnId, Engine, Event, ExchangeId, LogLevel, Reply, RequestHandle,
    ResponseMode, Target,
};
use mcpwire_core::http1::Request;
use mcpwire_core::jsonrpc::RawValue;
use mcpwire_core::time::{Duration, Instant};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    Connect,
    Initialize {
        conn: usize,
    },
    SessionCall {
        conn: usize,
        id: u8,
    },
    Get {
        conn: usize,
    },
    Call {
        conn: usize,
        id: u8,
        method: u8,
        log: bool,
        big: bool,
    },
    Listen {
        conn: usize,
        id: u8,
        uris: u8,
    },
    HostCall {
        id: u8,
        method: u8,
        listen: bool,
    },
    HostPoll {
        which: usize,
        all: bool,
    },
    HostClose {
        which: usize,
    },
    Respond {
        pending: usize,
        kind: u8,
        big: bool,
    },
    Progress {
        pending: usize,
    },
    Log {
        pending: usize,
        session: bool,
    },
    CloseSession {
        pending: usize,
    },
    CloseAnySession {
        which: usize,
    },
    AskClient {
        pending: usize,
    },
    Broadcast {
        meta: bool,
    },
    ResourceUpdated,
    Advance {
        ms: u32,
    },
    Close {
        conn: usize,
    },
    Eof {
        conn: usize,
    },
    Stall {
        conn: usize,
    },
    Unstall,
    Shutdown {
        grace_ms: u32,
    },
}

const METHODS: [&str; 6] = [
    "tools/call",
    "tools/list",
    "resources/read",
    "prompts/get",
    "server/discover",
    "ping",
];

fn action() -> impl Strategy<Value = Action> {
    let c = 0usize..8;
    prop_oneof![
        2 => Just(Action::Connect),
        1 => c.clone().prop_map(|conn| Action::Initialize { conn }),
        1 => (c.clone(), 0u8..4).prop_map(|(conn, id)| Action::SessionCall { conn, id }),
        1 => c.clone().prop_map(|conn| Action::Get { conn }),
        6 => (c.clone(), 0u8..6, 0u8..6, any::<bool>(), any::<bool>()).prop_map(|(conn, id, method, log, big)| Action::Call { conn, id, method, log, big }),
        3 => (c.clone(), 0u8..6, 0u8..4).prop_map(|(conn, id, uris)| Action::Listen { conn, id, uris }),
        3 => (0u8..6, 0u8..6, any::<bool>()).prop_map(|(id, method, listen)| Action::HostCall { id, method, listen }),
        3 => (0usize..8, any::<bool>()).prop_map(|(which, all)| Action::HostPoll { which, all }),
        2 => (0usize..8).prop_map(|which| Action::HostClose { which }),
        5 => (0usize..8, 0u8..5, any::<bool>()).prop_map(|(pending, kind, big)| Action::Respond { pending, kind, big }),
        2 => (0usize..8).prop_map(|pending| Action::Progress { pending }),
        1 => (0usize..8, any::<bool>()).prop_map(|(pending, session)| Action::Log { pending, session }),
        1 => (0usize..8).prop_map(|pending| Action::CloseSession { pending }),
        1 => (0usize..8).prop_map(|which| Action::CloseAnySession { which }),
        1 => (0usize..8).prop_map(|pending| Action::AskClient { pending }),
        2 => any::<bool>().prop_map(|meta| Action::Broadcast { meta }),
        2 => Just(Action::ResourceUpdated),
        4 => (0u32..40_000).prop_map(|ms| Action::Advance { ms }),
        2 => c.clone().prop_map(|conn| Action::Close { conn }),
        1 => c.clone().prop_map(|conn| Action::Eof { conn }),
        1 => c.clone().prop_map(|conn| Action::Stall { conn }),
        1 => Just(Action::Unstall),
    ]
}

struct World {
    engine: Engine,
    now: Instant,
    conns: Vec<ConnId>,
    stalled: BTreeSet<ConnId>,
    unacked: std::collections::BTreeMap<ConnId, usize>,
    sessions: Vec<String>,
    pending: Vec<RequestHandle>,
    hosts: Vec<ExchangeId>,
    buf: Vec<u8>,
}

fn meta(log: bool) -> String {
    let level = if log {
        r#","io.modelcontextprotocol/logLevel":"debug""#
    } else {
        ""
    };
    format!(
        r#""_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/clientInfo":{{"name":"c","version":"1"}}{level},"progressToken":3}}"#
    )
}

fn stateless_parts(
    id: u8,
    method: &str,
    log: bool,
    extra: &str,
) -> (Vec<(String, String)>, String) {
    let (name_field, name) = match method {
        "tools/call" | "prompts/get" => (r#","name":"x""#.to_string(), Some("x")),
        "resources/read" => (
            r#","uri":"test://watched""#.to_string(),
            Some("test://watched"),
        ),
        _ => (String::new(), None),
    };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{}{name_field}{extra}}}}}"#,
        meta(log)
    );
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            "Accept".to_string(),
            "application/json, text/event-stream".to_string(),
        ),
        ("MCP-Protocol-Version".to_string(), "2026-07-28".to_string()),
        ("Mcp-Method".to_string(), method.to_string()),
    ];
    if let Some(name) = name {
        headers.push(("Mcp-Name".to_string(), name.to_string()));
    }
    (headers, body)
}

fn listen_extra(uris: u8) -> String {
    let list: Vec<String> = (0..uris)
        .map(|i| {
            if i == 0 {
                "\"test://watched\"".to_string()
            } else {
                format!("\"test://u{i}\"")
            }
        })
        .collect();
    format!(
        r#","notifications":{{"toolsListChanged":true,"resourcesListChanged":true,"resourceSubscriptions":[{}]}}"#,
        list.join(",")
    )
}

impl World {
    fn new(mode: ResponseMode, tight: u8) -> World {
        let mut config = Config::new("props", "1");
        config.capabilities = r#"{"tools":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},"logging":{}}"#.into();
        config.response_mode = mode;
        config.limits.max_inflight_per_session = 4;
        config.limits.max_connections = 6;
        config.limits.max_listen_streams = 3;
        config.limits.max_sessions = 4;
        config.timeouts.request = Some(Duration::from_secs(30));
        if tight > 0 {
            config.limits.http.max_header_bytes = 1024;
        }
        match tight {
            1 => {
                config.limits.max_held_bytes = 64 * 1024;
                config.limits.max_session_bytes = 6 * 1024;
                config.limits.max_queued_bytes_per_connection = 2 * 1024;
                config.limits.stream_window_bytes = 1024;
            }
            2 => {
                config.limits.max_held_bytes = 24 * 1024;
                config.limits.max_session_bytes = 2200;
                config.limits.max_queued_bytes_per_connection = 400;
                config.limits.stream_window_bytes = 512;
            }
            3 => {
                config.limits.max_held_bytes = 40 * 1024;
                config.limits.max_session_bytes = 3000;
                config.limits.max_queued_bytes_per_connection = 1200;
                config.limits.stream_window_bytes = 700;
            }
            _ => {}
        }
        World {
            engine: Engine::new(config, Instant::ZERO, [9; 32]),
            now: Instant::ZERO,
            conns: Vec::new(),
            stalled: BTreeSet::new(),
            unacked: Default::default(),
            sessions: Vec::new(),
            pending: Vec::new(),
            hosts: Vec::new(),
            buf: Vec::new(),
        }
    }

    fn settle(&mut self) {
        self.engine.check_invariants().unwrap();
        loop {
            self.buf.clear();
            match self.engine.poll_transmit(&mut self.buf) {
                Some(ConnAction::Write { conn, len }) => {
                    let text =
                        String::from_utf8_lossy(&self.buf[self.buf.len() - len..]).into_owned();
                    for line in text.lines() {
                        if let Some(id) = line.strip_prefix("mcp-session-id: ") {
                            if !self.sessions.iter().any(|s| s == id) {
                                self.sessions.push(id.to_string());
                            }
                        }
                    }
                    if self.stalled.contains(&conn) {
                        *self.unacked.entry(conn).or_default() += len;
                    } else {
                        self.engine.handle_written(self.now, conn, len);
                    }
                }
                Some(ConnAction::Close { conn }) => {
                    self.conns.retain(|c| *c != conn);
                    self.unacked.remove(&conn);
                }
                None => break,
            }
            self.engine.check_invariants().unwrap();
        }
        while let Some(event) = self.engine.poll_event() {
            match event {
                Event::Request { handle, .. } => self.pending.push(handle),
                Event::Cancelled { handle, .. } => self.pending.retain(|h| *h != handle),
                _ => {}
            }
        }
        self.engine.check_invariants().unwrap();
        let stats = self.engine.stats();
        let _ = (
            stats.sessions,
            stats.stateless_requests,
            stats.subscriptions,
        );
        if let Some(deadline) = self.engine.poll_timeout() {
            assert!(deadline >= self.now);
        }
    }

    fn conn(&mut self, i: usize) -> Option<ConnId> {
        if self.conns.is_empty() {
            if let Ok(conn) = self.engine.handle_accept(self.now, None) {
                self.conns.push(conn);
            }
            self.settle();
        }
        (!self.conns.is_empty()).then(|| self.conns[i % self.conns.len()])
    }

    fn send(&mut self, conn: Option<ConnId>, wire: &[u8]) {
        let Some(conn) = conn else { return };
        let mut rest = wire;
        while !rest.is_empty() {
            let n = self.engine.handle_bytes(self.now, conn, rest);
            self.settle();
            if n == 0 {
                break;
            }
            rest = &rest[n..];
        }
    }

    fn send_http(&mut self, conn: usize, headers: &[(String, String)], body: &str) {
        let mut wire = String::from("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (n, v) in headers {
            wire.push_str(&format!("{n}: {v}\r\n"));
        }
        wire.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let conn = self.conn(conn);
        self.send(conn, wire.as_bytes());
    }

    fn session_post(&mut self, conn: usize, session: Option<String>, body: &str) {
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "Accept".to_string(),
                "application/json, text/event-stream".to_string(),
            ),
        ];
        if let Some(s) = session {
            headers.push(("Mcp-Session-Id".to_string(), s));
        }
        self.send_http(conn, &headers, body);
    }

    fn pending(&self, i: usize) -> Option<RequestHandle> {
        (!self.pending.is_empty()).then(|| self.pending[i % self.pending.len()])
    }

    fn host_poll(&mut self, ex: ExchangeId, all: bool) {
        loop {
            match self.engine.poll_exchange_output(ex) {
                Some(
                    mcpwire_core::engine::ExchangeOutput::End
                    | mcpwire_core::engine::ExchangeOutput::Aborted,
                ) => {
                    self.hosts.retain(|h| *h != ex);
                    break;
                }
                Some(_) => {
                    if !all {
                        break;
                    }
                }
                None => break,
            }
        }
    }

    fn apply(&mut self, action: &Action) {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        match action {
            Action::Connect => {
                if let Ok(conn) = self.engine.handle_accept(self.now, None) {
                    self.conns.push(conn);
                }
            }
            Action::Initialize { conn } => self.session_post(*conn, None, r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"p","version":"1"}}}"#),
            Action::SessionCall { conn, id } => {
                let s = self.sessions.last().cloned();
                if s.is_some() {
                    self.session_post(*conn, s.clone(), r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
                    self.session_post(*conn, s.clone(), r#"{"jsonrpc":"2.0","id":9,"method":"resources/subscribe","params":{"uri":"test://watched"}}"#);
                }
                let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"x"}}}}"#);
                self.session_post(*conn, s, &body);
            }
            Action::Get { conn } => {
                let Some(s) = self.sessions.last().cloned() else { return };
                let wire = format!("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nMcp-Session-Id: {s}\r\n\r\n");
                let conn = self.conn(*conn);
                self.send(conn, wire.as_bytes());
            }
            Action::Call { conn, id, method, log, big } => {
                let m = METHODS[*method as usize % METHODS.len()];
                let extra = if *big { format!(r#","arguments":{{"pad":"{}"}}"#, "x".repeat(3000)) } else { String::new() };
                let (headers, body) = stateless_parts(*id, m, *log, &extra);
                self.send_http(*conn, &headers, &body);
            }
            Action::Listen { conn, id, uris } => {
                let (headers, body) = stateless_parts(100 + *id, "subscriptions/listen", false, &listen_extra(*uris));
                self.send_http(*conn, &headers, &body);
            }
            Action::HostCall { id, method, listen } => {
                let (headers, body) = if *listen {
                    stateless_parts(200 + *id, "subscriptions/listen", false, &listen_extra(2))
                } else {
                    stateless_parts(*id, METHODS[*method as usize % METHODS.len()], true, "")
                };
                let mut b = Request::builder("POST", "/mcp").header("host", "127.0.0.1");
                for (n, v) in &headers {
                    b = b.header(n, v);
                }
                let request = b.body(body).build().unwrap();
                let ex = self.engine.handle_request(self.now, request);
                self.hosts.push(ex);
            }
            Action::HostPoll { which, all } => {
                if !self.hosts.is_empty() {
                    let ex = self.hosts[which % self.hosts.len()];
                    self.host_poll(ex, *all);
                }
            }
            Action::HostClose { which } => {
                if !self.hosts.is_empty() {
                    let ex = self.hosts.remove(which % self.hosts.len());
                    self.engine.handle_exchange_closed(self.now, ex);
                }
            }
            Action::Respond { pending, kind, big } => {
                if let Some(handle) = self.pending(*pending) {
                    let pad = if *big { "y".repeat(4000) } else { String::new() };
                    let reply = match kind {
                        0 => Reply::Error { code: -32601, message: "nope".into(), data: None },
                        1 => Reply::Result(raw(r#"[1,2]"#)),
                        2 => Reply::Result(raw(r#"{"resultType":"input_required","inputRequests":{}}"#)),
                        3 => Reply::Result(raw(r#"  { }  "#)),
                        _ => Reply::Result(raw(&format!(r#"{{"content":[],"pad":"{pad}"}}"#))),
                    };
                    if self.engine.respond(self.now, handle, &reply).is_ok() {
                        self.pending.retain(|h| *h != handle);
                    }
                }
            }
            Action::Progress { pending } => {
                if let Some(handle) = self.pending(*pending) {
                    let _ = self.engine.send_progress(self.now, handle, self.now.as_millis() as f64 + 1.0, None, Some("working"));
                }
            }
            Action::Log { pending, session } => {
                if let Some(handle) = self.pending(*pending) {
                    let target = if *session { Target::Session(handle.session) } else { Target::Request(handle) };
                    let _ = self.engine.send_log(self.now, target, LogLevel::Info, None, &raw(r#""log""#));
                }
            }
            Action::CloseSession { pending } => {
                if let Some(handle) = self.pending(*pending) {
                    let _ = self.engine.close_session(self.now, handle.session);
                }
            }
            Action::CloseAnySession { which } => {
                // Keys are small counters: try a few.
                for raw in (1..600u64).filter(|r| r % 8 == *which as u64) {
                    let _ = self.engine.close_session(self.now, mcpwire_core::engine::SessionKey::from_u64(raw));
                }
            }
            Action::AskClient { pending } => {
                if let Some(handle) = self.pending(*pending) {
                    let _ = self.engine.request_client(self.now, Target::Request(handle), "elicitation/create", Some(&raw("{}")), Some(Duration::from_secs(10)));
                    let _ = self.engine.notify(self.now, handle.session, "notifications/x", None);
                }
            }
            Action::Broadcast { meta } => {
                let p = raw(r#"{"_meta":{"a/b":1}}"#);
                self.engine.broadcast(self.now, "notifications/tools/list_changed", meta.then_some(&*p));
                self.engine.broadcast(self.now, "notifications/resources/list_changed", None);
            }
            Action::ResourceUpdated => {
                self.engine.resource_updated(self.now, "test://watched");
                self.engine.resource_updated(self.now, "test://u1");
            }
            Action::Advance { ms } => self.advance(u64::from(*ms)),
            Action::Close { conn } => {
                if let Some(conn) = self.conn(*conn) {
                    self.engine.handle_closed(self.now, conn);
                    self.conns.retain(|c| *c != conn);
                }
            }
            Action::Eof { conn } => {
                if let Some(conn) = self.conn(*conn) {
                    self.engine.handle_eof(self.now, conn);
                }
            }
            Action::Stall { conn } => {
                if let Some(conn) = self.conn(*conn) {
                    self.stalled.insert(conn);
                }
            }
            Action::Unstall => {
                for (conn, n) in std::mem::take(&mut self.unacked) {
                    self.engine.handle_written(self.now, conn, n);
                }
                self.stalled.clear();
            }
            Action::Shutdown { grace_ms } => self.engine.begin_shutdown(self.now, Duration::from_millis(u64::from(*grace_ms))),
        }
        self.settle();
    }

    fn advance(&mut self, ms: u64) {
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
            assert!(repeats < 100, "deadline {deadline:?} does not clear");
            last = Some(deadline);
            self.now = self.now.max(deadline);
            self.engine.handle_timeout(self.now);
            self.settle();
        }
        self.now = target;
        self.engine.handle_timeout(self.now);
        self.settle();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stateless_sequences_keep_invariants_and_leave_nothing(
        actions in prop::collection::vec(action(), 1..120),
        sse in any::<bool>(),
        tight in 0u8..4,
        shutdown in prop::option::weighted(0.3, (0usize..120, 0u32..20_000)),
    ) {
        let mut world = World::new(if sse { ResponseMode::Sse } else { ResponseMode::Auto }, tight);
        for (step, action) in actions.iter().enumerate() {
            world.apply(action);
            if let Some((at, grace_ms)) = shutdown {
                if at == step {
                    world.apply(&Action::Shutdown { grace_ms });
                }
            }
        }
        world.apply(&Action::Unstall);
        for conn in world.conns.clone() {
            world.engine.handle_closed(world.now, conn);
        }
        world.conns.clear();
        for ex in world.hosts.clone() {
            world.engine.handle_exchange_closed(world.now, ex);
        }
        world.hosts.clear();
        world.settle();
        world.advance(24 * 3_600_000);
        let stats = world.engine.stats();
        let c = world.engine.counters();
        eprintln!("COUNTERS listens={} requests_cancelled={} responses_sent={} invalid={} sheds={} slow={} refusals={} streams_upgraded={}", c.listens_opened, c.requests_cancelled, c.responses_sent, c.invalid_results, c.budget_sheds, c.slow_readers_disconnected, c.budget_refusals, c.streams_upgraded);
        prop_assert!(stats.is_quiescent(), "left behind: {stats}");
    }
}
