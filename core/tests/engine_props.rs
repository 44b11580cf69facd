//! Random sequences of client behaviour and application commands against the engine, through
//! its public byte-level API. After every step the invariants hold and no deadline is stuck in
//! the past; at the end, once every client is gone and time has run past every timeout, nothing
//! is left: no session, stream, request, timer or byte.

use std::collections::BTreeSet;

use mcpwire_core::engine::{
    Config, ConnAction, ConnId, Engine, Event, LogLevel, Reply, RequestHandle, ResponseMode, Target,
};
use mcpwire_core::jsonrpc::RawValue;
use mcpwire_core::time::{Duration, Instant};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    Connect,
    Initialize {
        conn: usize,
    },
    Initialized {
        conn: usize,
        session: usize,
    },
    Call {
        conn: usize,
        session: usize,
        id: u8,
        progress: bool,
    },
    Get {
        conn: usize,
        session: usize,
        resume: bool,
    },
    Delete {
        conn: usize,
        session: usize,
    },
    Cancel {
        conn: usize,
        session: usize,
        id: u8,
    },
    Subscribe {
        conn: usize,
        session: usize,
    },
    Ping {
        conn: usize,
        session: usize,
        split: usize,
    },
    Garbage {
        conn: usize,
        bytes: Vec<u8>,
    },
    Respond {
        pending: usize,
        error: bool,
    },
    Progress {
        pending: usize,
    },
    Log {
        pending: usize,
    },
    AskClient {
        pending: usize,
    },
    Notify {
        session: usize,
    },
    Broadcast,
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
    Shutdown {
        grace_ms: u32,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let c = 0usize..8;
    let s = 0usize..6;
    prop_oneof![
        3 => Just(Action::Connect),
        3 => c.clone().prop_map(|conn| Action::Initialize { conn }),
        2 => (c.clone(), s.clone()).prop_map(|(conn, session)| Action::Initialized { conn, session }),
        5 => (c.clone(), s.clone(), 0u8..6, any::<bool>()).prop_map(|(conn, session, id, progress)| Action::Call { conn, session, id, progress }),
        2 => (c.clone(), s.clone(), any::<bool>()).prop_map(|(conn, session, resume)| Action::Get { conn, session, resume }),
        1 => (c.clone(), s.clone()).prop_map(|(conn, session)| Action::Delete { conn, session }),
        1 => (c.clone(), s.clone(), 0u8..6).prop_map(|(conn, session, id)| Action::Cancel { conn, session, id }),
        1 => (c.clone(), s.clone()).prop_map(|(conn, session)| Action::Subscribe { conn, session }),
        1 => (c.clone(), s.clone(), 0usize..300).prop_map(|(conn, session, split)| Action::Ping { conn, session, split }),
        1 => (c.clone(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(conn, bytes)| Action::Garbage { conn, bytes }),
        4 => (0usize..8, any::<bool>()).prop_map(|(pending, error)| Action::Respond { pending, error }),
        2 => (0usize..8).prop_map(|pending| Action::Progress { pending }),
        1 => (0usize..8).prop_map(|pending| Action::Log { pending }),
        1 => (0usize..8).prop_map(|pending| Action::AskClient { pending }),
        1 => s.clone().prop_map(|session| Action::Notify { session }),
        1 => Just(Action::Broadcast),
        1 => Just(Action::ResourceUpdated),
        4 => (0u32..40_000).prop_map(|ms| Action::Advance { ms }),
        2 => c.clone().prop_map(|conn| Action::Close { conn }),
        1 => c.clone().prop_map(|conn| Action::Eof { conn }),
        1 => c.clone().prop_map(|conn| Action::Stall { conn }),
    ]
}

struct World {
    engine: Engine,
    now: Instant,
    conns: Vec<ConnId>,
    stalled: BTreeSet<ConnId>,
    /// Every session id ever seen on the wire (dead ones included: they must get 404).
    sessions: Vec<String>,
    /// Last event id seen on the wire, for resumption attempts.
    last_event_id: Option<String>,
    pending: Vec<RequestHandle>,
    session_keys: Vec<mcpwire_core::engine::SessionKey>,
    buf: Vec<u8>,
}

impl World {
    fn new(mode: ResponseMode) -> World {
        let mut config = Config::new("props", "1");
        config.response_mode = mode;
        config.timeouts.heartbeat = Some(mcpwire_core::engine::Heartbeat {
            interval: Duration::from_secs(20),
            timeout: Duration::from_secs(5),
            max_failures: 3,
        });
        config.limits.max_inflight_per_session = 4;
        config.limits.max_connections = 6;
        config.limits.resume_log_events = 8;
        World {
            engine: Engine::new(config, Instant::ZERO, [9; 32]),
            now: Instant::ZERO,
            conns: Vec::new(),
            stalled: BTreeSet::new(),
            sessions: Vec::new(),
            last_event_id: None,
            pending: Vec::new(),
            session_keys: Vec::new(),
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
                        if let Some(id) = line.strip_prefix("id: ") {
                            self.last_event_id = Some(id.to_string());
                        }
                    }
                    if !self.stalled.contains(&conn) {
                        self.engine.handle_written(self.now, conn, len);
                    }
                }
                Some(ConnAction::Close { conn }) => self.conns.retain(|c| *c != conn),
                None => break,
            }
            self.engine.check_invariants().unwrap();
        }
        while let Some(event) = self.engine.poll_event() {
            match event {
                Event::Request { handle, .. } => self.pending.push(handle),
                Event::SessionOpened { session, .. } => self.session_keys.push(session),
                Event::Cancelled { handle, .. } => self.pending.retain(|h| *h != handle),
                _ => {}
            }
        }
        self.engine.check_invariants().unwrap();
        if let Some(deadline) = self.engine.poll_timeout() {
            assert!(
                deadline >= self.now,
                "deadline {deadline:?} is before now {:?}",
                self.now
            );
        }
    }

    /// Connection `i` (modulo the live ones); a client with none opens one first.
    fn conn(&mut self, i: usize) -> Option<ConnId> {
        if self.conns.is_empty() {
            if let Ok(conn) = self.engine.handle_accept(self.now, None) {
                self.conns.push(conn);
            }
            self.settle();
        }
        (!self.conns.is_empty()).then(|| self.conns[i % self.conns.len()])
    }

    fn session(&self, i: usize) -> Option<&str> {
        (!self.sessions.is_empty()).then(|| self.sessions[i % self.sessions.len()].as_str())
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

    fn post(&mut self, conn: usize, session: Option<usize>, body: &str) {
        let session = session.and_then(|s| self.session(s).map(str::to_owned));
        let mut wire = String::from(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
        );
        if let Some(session) = session {
            wire.push_str(&format!("Mcp-Session-Id: {session}\r\n"));
        }
        wire.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let conn = self.conn(conn);
        self.send(conn, wire.as_bytes());
    }

    fn pending(&self, i: usize) -> Option<RequestHandle> {
        (!self.pending.is_empty()).then(|| self.pending[i % self.pending.len()])
    }

    fn apply(&mut self, action: &Action) {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        match action {
            Action::Connect => {
                if let Ok(conn) = self.engine.handle_accept(self.now, None) {
                    self.conns.push(conn);
                }
            }
            Action::Initialize { conn } => self.post(*conn, None, r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"p","version":"1"}}}"#),
            Action::Initialized { conn, session } => self.post(*conn, Some(*session), r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Action::Call { conn, session, id, progress } => {
                let meta = if *progress { r#","_meta":{"progressToken":7}"# } else { "" };
                let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"x"{meta}}}}}"#);
                self.post(*conn, Some(*session), &body);
            }
            Action::Get { conn, session, resume } => {
                let Some(session) = self.session(*session).map(str::to_owned) else { return };
                let mut wire = format!("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n");
                if let (true, Some(id)) = (*resume, &self.last_event_id) {
                    wire.push_str(&format!("Last-Event-ID: {id}\r\n"));
                }
                wire.push_str("\r\n");
                let conn = self.conn(*conn);
                self.send(conn, wire.as_bytes());
            }
            Action::Delete { conn, session } => {
                let Some(session) = self.session(*session).map(str::to_owned) else { return };
                let wire = format!("DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: {session}\r\n\r\n");
                let conn = self.conn(*conn);
                self.send(conn, wire.as_bytes());
            }
            Action::Cancel { conn, session, id } => {
                let body = format!(r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id}}}}}"#);
                self.post(*conn, Some(*session), &body);
            }
            Action::Subscribe { conn, session } => self.post(*conn, Some(*session), r#"{"jsonrpc":"2.0","id":99,"method":"resources/subscribe","params":{"uri":"test://watched"}}"#),
            Action::Ping { conn, session, split } => {
                let Some(session) = self.session(*session).map(str::to_owned) else { return };
                let body = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
                let wire = format!("POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: */*\r\nMcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                let at = split % (wire.len() + 1);
                let conn = self.conn(*conn);
                self.send(conn, &wire.as_bytes()[..at]);
                self.send(conn, &wire.as_bytes()[at..]);
            }
            Action::Garbage { conn, bytes } => {
                let conn = self.conn(*conn);
                self.send(conn, bytes);
            }
            Action::Respond { pending, error } => {
                if let Some(handle) = self.pending(*pending) {
                    let reply = if *error {
                        Reply::Error { code: -32603, message: "boom".into(), data: None }
                    } else {
                        Reply::Result(raw(r#"{"content":[]}"#))
                    };
                    let _ = self.engine.respond(self.now, handle, &reply);
                    self.pending.retain(|h| *h != handle);
                }
            }
            Action::Progress { pending } => {
                if let Some(handle) = self.pending(*pending) {
                    let _ = self.engine.send_progress(self.now, handle, self.now.as_millis() as f64 + 1.0, None, Some("working"));
                }
            }
            Action::Log { pending } => {
                if let Some(handle) = self.pending(*pending) {
                    let _ = self.engine.send_log(self.now, Target::Request(handle), LogLevel::Info, None, &raw(r#""log""#));
                }
            }
            Action::AskClient { pending } => {
                if let Some(handle) = self.pending(*pending) {
                    let _ = self.engine.request_client(self.now, Target::Request(handle), "elicitation/create", Some(&raw("{}")), Some(Duration::from_secs(10)));
                }
            }
            Action::Notify { session } => {
                if !self.session_keys.is_empty() {
                    let key = self.session_keys[session % self.session_keys.len()];
                    let _ = self.engine.notify(self.now, key, "notifications/resources/list_changed", None);
                }
            }
            Action::Broadcast => {
                self.engine.broadcast(self.now, "notifications/tools/list_changed", None);
            }
            Action::ResourceUpdated => {
                self.engine.resource_updated(self.now, "test://watched");
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
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_sequence_keeps_invariants_and_ends_with_nothing_left(
        actions in prop::collection::vec(action(), 1..160),
        sse in any::<bool>(),
        shutdown in prop::option::weighted(0.3, (0usize..160, 0u32..20_000)),
    ) {
        let mut world = World::new(if sse { ResponseMode::Sse } else { ResponseMode::Auto });
        for (step, action) in actions.iter().enumerate() {
            world.apply(action);
            if let Some((at, grace_ms)) = shutdown {
                if at == step {
                    world.apply(&Action::Shutdown { grace_ms });
                }
            }
        }
        // Liveness: every client goes away; the application abandons its handles; time runs
        // past every deadline.
        for conn in world.conns.clone() {
            world.engine.handle_closed(world.now, conn);
        }
        world.conns.clear();
        world.settle();
        world.advance(24 * 3_600_000);
        let stats = world.engine.stats();
        prop_assert!(stats.is_quiescent(), "left behind: {stats}");
    }
}
