//! The client against the real server engine, in memory: both eras, lost sessions, a server
//! that is down, timeouts, input rounds, listen streams, close.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::*;
use crate::engine::{self, ConnAction, ConnId, Engine, Event, Reply, RequestHandle};
use crate::jsonrpc::RawValue;

type App = Box<dyn FnMut(&mut Engine, Instant, &Event)>;

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.into()).unwrap()
}

/// Answers every request at once with `{"content":[]}`.
fn echo() -> App {
    Box::new(|server: &mut Engine, now, event: &Event| {
        if let Event::Request { handle, .. } = event {
            let _ = server.respond(now, *handle, &Reply::Result(raw(r#"{"content":[]}"#)));
        }
    })
}

struct Net {
    client: Client,
    server: Engine,
    app: App,
    now: Instant,
    links: BTreeMap<ClientConnId, ConnId>,
    down: bool,
    events: Vec<ClientEvent>,
    server_events: Vec<Event>,
}

impl Net {
    fn new(era: EraChoice, app: App) -> Net {
        let mut config = ClientConfig::new("127.0.0.1:3000", "/mcp", "test-client", "1.0.0");
        config.era = era;
        config.capabilities = r#"{"elicitation":{}}"#.into();
        Net::with_config(config, app)
    }

    fn with_config(config: ClientConfig, app: App) -> Net {
        let mut server_config = engine::Config::new("test-server", "1.0.0");
        server_config.capabilities = r#"{"tools":{"listChanged":true}}"#.into();
        let server = Engine::new(server_config, Instant::ZERO, [3; 32]);
        Net {
            client: Client::new(config, Instant::ZERO, [4; 32]),
            server,
            app,
            now: Instant::ZERO,
            links: BTreeMap::new(),
            down: false,
            events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves bytes and events until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            let mut out = Vec::new();
            while let Some(transmit) = self.client.poll_transmit(&mut out) {
                moved = true;
                match transmit {
                    Transmit::Open { conn } => {
                        if self.down {
                            self.client.handle_connect_failed(self.now, conn);
                        } else {
                            let peer = self.server.handle_accept(self.now, None).unwrap();
                            self.links.insert(conn, peer);
                            self.client.handle_connected(self.now, conn);
                        }
                    }
                    Transmit::Write { conn, len } => {
                        let bytes = out[out.len() - len..].to_vec();
                        if let Some(&peer) = self.links.get(&conn) {
                            let taken = self.server.handle_bytes(self.now, peer, &bytes);
                            assert_eq!(taken, bytes.len(), "the server takes small requests whole");
                        }
                    }
                    Transmit::Close { conn } => {
                        if let Some(peer) = self.links.remove(&conn) {
                            self.server.handle_closed(self.now, peer);
                        }
                    }
                }
            }
            let mut back = Vec::new();
            while let Some(action) = self.server.poll_transmit(&mut back) {
                moved = true;
                match action {
                    ConnAction::Write { conn: peer, len } => {
                        self.server.handle_written(self.now, peer, len);
                        let bytes = back[back.len() - len..].to_vec();
                        if let Some((&conn, _)) = self.links.iter().find(|(_, p)| **p == peer) {
                            self.client.handle_bytes(self.now, conn, &bytes);
                        }
                    }
                    ConnAction::Close { conn: peer } => {
                        if let Some((&conn, _)) = self.links.iter().find(|(_, p)| **p == peer) {
                            self.links.remove(&conn);
                            self.client.handle_closed(self.now, conn);
                        }
                    }
                }
            }
            while let Some(event) = self.server.poll_event() {
                moved = true;
                (self.app)(&mut self.server, self.now, &event);
                self.server_events.push(event);
            }
            while let Some(event) = self.client.poll_event() {
                moved = true;
                self.events.push(event);
            }
            self.client.check_invariants().unwrap();
            self.server.check_invariants().unwrap();
            if !moved {
                return;
            }
        }
        panic!("the network never settled");
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.settle();
    }

    /// Runs time forward to every deadline, up to `limit` ms.
    fn run_for(&mut self, limit: u64) {
        let end = self.now + Duration::from_millis(limit);
        self.settle();
        while let Some(next) = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        {
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.settle();
        }
        self.now = end.max(self.now);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.settle();
    }

    fn call(&mut self, method: &str, params: &str) -> CallId {
        let call = self
            .client
            .request(self.now, method, Some(&raw(params)), CallOptions::default())
            .unwrap();
        self.settle();
        call
    }

    fn outcome(&self, call: CallId) -> Option<Result<&str, &CallError>> {
        self.events.iter().find_map(|event| match event {
            ClientEvent::Response { call: c, result } if *c == call => Some(Ok(result.get())),
            ClientEvent::Failed { call: c, error } if *c == call => Some(Err(error)),
            _ => None,
        })
    }

    fn connected(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, ClientEvent::Connected { .. }))
            .count()
    }

    /// Closes the client, lets every deadline pass, and checks that both sides hold nothing.
    fn close_and_check(&mut self) {
        self.client.close(self.now);
        self.run_for(400_000);
        assert!(self.client.is_closed());
        let stats = self.client.stats();
        assert!(stats.is_quiescent(), "client holds {stats}");
        assert_eq!(self.client.poll_timeout(), None);
        let server = self.server.stats();
        assert!(server.is_quiescent(), "server holds {server}");
    }
}

#[test]
fn session_era_round_trip_and_delete_on_close() {
    let mut net = Net::new(EraChoice::Sessions, echo());
    net.settle();
    assert_eq!(net.connected(), 1);
    assert_eq!(net.client.era(), Some(Era::Sessions));
    assert_eq!(net.client.protocol_version(), Some("2025-11-25"));
    assert!(net.client.session_id().is_some());
    let call = net.call("tools/call", r#"{"name":"echo","arguments":{}}"#);
    assert_eq!(net.outcome(call).unwrap().ok(), Some(r#"{"content":[]}"#));
    assert_eq!(net.server.stats().sessions, 1);
    net.client.close(net.now);
    net.settle();
    assert_eq!(
        net.server.stats().sessions,
        0,
        "DELETE ended the session at once"
    );
    net.close_and_check();
}

#[test]
fn auto_probes_and_speaks_2026_07_28_to_a_modern_server() {
    let mut net = Net::new(EraChoice::Auto, echo());
    let call = net.call("tools/call", r#"{"name":"héllo","arguments":{"a":1}}"#);
    assert_eq!(net.client.era(), Some(Era::Modern));
    assert_eq!(net.client.protocol_version(), Some(MODERN_VERSION));
    assert!(net.client.session_id().is_none());
    let result = net.outcome(call).unwrap().unwrap();
    assert!(result.contains(r#""resultType":"complete""#), "{result}");
    assert_eq!(net.server.stats().sessions, 0);
    net.close_and_check();
}

#[test]
fn requests_queue_until_connected_and_every_one_gets_one_outcome() {
    let mut net = Net::new(EraChoice::Sessions, echo());
    let calls: Vec<CallId> = (0..20)
        .map(|_| {
            net.client
                .request(net.now, "ping", None, CallOptions::default())
                .unwrap()
        })
        .collect();
    net.settle();
    for call in &calls {
        assert_eq!(net.outcome(*call).map(|o| o.is_ok()), Some(true));
    }
    let outcomes = net
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Response { .. } | ClientEvent::Failed { .. }))
        .count();
    assert_eq!(outcomes, 20);
    assert!(net.client.stats().connections <= 16);
    net.close_and_check();
}

#[test]
fn a_lost_session_fails_what_it_held_and_a_new_one_is_made() {
    let mut net = Net::new(EraChoice::Sessions, echo());
    net.settle();
    let first = String::from(net.client.session_id().unwrap());
    let session = net
        .server_events
        .iter()
        .find_map(|e| match e {
            Event::SessionOpened { session, .. } => Some(*session),
            _ => None,
        })
        .unwrap();
    net.server.close_session(net.now, session).unwrap();
    net.settle();
    let call = net.call("ping", "{}");
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, ClientEvent::SessionLost))
    );
    assert_eq!(net.connected(), 2);
    assert_ne!(net.client.session_id(), Some(first.as_str()));
    // The ping was refused unseen (404), so it went again in the new session.
    let outcome = net
        .outcome(call)
        .map(|o| o.map(String::from).map_err(|e| alloc::format!("{e:?}")));
    assert!(
        matches!(outcome, Some(Ok(_))),
        "{outcome:?} after {:?}",
        net.events
    );
    net.close_and_check();
}

#[test]
fn an_unreachable_server_is_given_up_within_the_attempt_cap() {
    let mut net = Net::new(EraChoice::Auto, echo());
    net.down = true;
    let call = net
        .client
        .request(net.now, "ping", None, CallOptions::default())
        .unwrap();
    net.run_for(120_000);
    assert!(net.client.is_closed());
    assert!(matches!(
        net.events.last(),
        Some(ClientEvent::Closed {
            reason: CloseReason::Unreachable
        })
    ));
    assert!(matches!(net.outcome(call), Some(Err(CallError::Closed))));
    let stats = net.client.stats();
    assert_eq!(
        stats.reconnect_attempts_total, 9,
        "8 attempts, then the ninth failure closes"
    );
    assert!(stats.is_quiescent(), "{stats}");
}

#[test]
fn the_reconnect_deadline_bounds_the_whole_episode() {
    let mut config = ClientConfig::new("127.0.0.1:3000", "/mcp", "c", "1");
    config.retry = Retry {
        max_attempts: 1000,
        ..Retry::default()
    };
    config.timeouts.reconnect = Duration::from_secs(20);
    let mut net = Net::with_config(config, echo());
    net.down = true;
    net.run_for(19_000);
    assert!(!net.client.is_closed());
    net.run_for(1_001);
    assert!(net.client.is_closed());
    assert!(net.client.stats().is_quiescent());
}

#[test]
fn a_server_that_comes_back_is_reconnected_to() {
    let mut net = Net::new(EraChoice::Sessions, echo());
    net.down = true;
    let call = net
        .client
        .request(net.now, "ping", None, CallOptions::default())
        .unwrap();
    net.run_for(1_000);
    assert!(!net.client.is_connected());
    net.down = false;
    net.run_for(12_000);
    assert!(net.client.is_connected());
    assert_eq!(net.outcome(call).map(|o| o.is_ok()), Some(true));
    net.close_and_check();
}

#[test]
fn a_request_times_out_and_the_server_is_told() {
    let mut net = Net::new(
        EraChoice::Sessions,
        Box::new(|_: &mut Engine, _, _: &Event| {}),
    );
    let call = net
        .client
        .request(
            net.now,
            "tools/call",
            Some(&raw(r#"{"name":"slow"}"#)),
            CallOptions {
                timeout: Some(Duration::from_secs(5)),
                progress: false,
                ..CallOptions::default()
            },
        )
        .unwrap();
    net.settle();
    net.advance(4_999);
    assert!(net.outcome(call).is_none());
    net.advance(1);
    assert!(matches!(net.outcome(call), Some(Err(CallError::Timeout))));
    let cancelled = net
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Cancelled { .. }));
    assert!(cancelled, "notifications/cancelled reached the server");
    net.close_and_check();
}

#[test]
fn cancelling_a_modern_call_closes_its_stream() {
    let held: alloc::rc::Rc<core::cell::RefCell<Vec<RequestHandle>>> = Default::default();
    let keep = held.clone();
    let mut net = Net::new(
        EraChoice::Modern,
        Box::new(move |_: &mut Engine, _, event: &Event| {
            if let Event::Request { handle, .. } = event {
                keep.borrow_mut().push(*handle);
            }
        }),
    );
    let call = net.call("tools/call", r#"{"name":"slow"}"#);
    assert_eq!(held.borrow().len(), 1);
    net.client.cancel(net.now, call).unwrap();
    net.settle();
    assert!(matches!(net.outcome(call), Some(Err(CallError::Cancelled))));
    assert!(
        net.server_events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. }))
    );
    assert_eq!(net.client.cancel(net.now, call), Err(CommandError::Unknown));
    net.close_and_check();
}

#[test]
fn an_input_required_result_is_answered_and_retried() {
    let mut net = Net::new(
        EraChoice::Modern,
        Box::new(|server: &mut Engine, now, event: &Event| {
            if let Event::Request { handle, .. } = event {
                let reply = match server.request_state(*handle).filter(|s| !s.is_empty()) {
                    None => Reply::InputRequired {
                        input_requests: raw(
                            r#"{"name":{"method":"elicitation/create","params":{"message":"who?","requestedSchema":{"type":"object","properties":{}}}}}"#,
                        ),
                        state: b"round-1".to_vec(),
                    },
                    Some(state) => {
                        assert_eq!(state, b"round-1");
                        Reply::Result(raw(r#"{"content":[{"type":"text","text":"hi"}]}"#))
                    }
                };
                let _ = server.respond(now, *handle, &reply);
            }
        }),
    );
    let call = net.call("tools/call", r#"{"name":"greet","arguments":{}}"#);
    let (request, method) = net
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::ServerRequest {
                request,
                call: Some(c),
                method,
                ..
            } if *c == call => Some((*request, method.clone())),
            _ => None,
        })
        .expect("the elicitation reached the application");
    assert_eq!(method, "elicitation/create");
    assert!(net.outcome(call).is_none());
    net.client
        .respond(
            net.now,
            request,
            Ok(&raw(r#"{"action":"accept","content":{}}"#)),
        )
        .unwrap();
    net.settle();
    let result = net.outcome(call).unwrap().unwrap();
    assert!(result.contains("hi"), "{result}");
    net.close_and_check();
}

#[test]
fn a_listen_stream_is_reopened_when_it_breaks_and_ends_on_cancel() {
    let mut net = Net::new(EraChoice::Modern, echo());
    net.settle();
    let listen = net
        .client
        .listen(net.now, &raw(r#"{"toolsListChanged":true}"#))
        .unwrap();
    net.settle();
    let frames = |net: &Net| {
        net.events
            .iter()
            .filter(
                |e| matches!(e, ClientEvent::Notification { call: Some(c), .. } if *c == listen),
            )
            .count()
    };
    assert_eq!(frames(&net), 1, "the acknowledgment");
    net.server
        .broadcast(net.now, "notifications/tools/list_changed", None);
    net.settle();
    assert_eq!(frames(&net), 2);
    // Cut the stream: the client reopens it after a backoff.
    let (&conn, _) = net.links.iter().next().unwrap();
    let peer = net.links.remove(&conn).unwrap();
    net.server.handle_closed(net.now, peer);
    net.client.handle_closed(net.now, conn);
    net.run_for(1_000);
    assert_eq!(frames(&net), 3, "acknowledged again");
    assert!(net.outcome(listen).is_none());
    net.client.cancel(net.now, listen).unwrap();
    net.settle();
    assert!(matches!(
        net.outcome(listen),
        Some(Err(CallError::Cancelled))
    ));
    net.close_and_check();
}

#[test]
fn limits_refuse_commands_at_and_past_them() {
    let mut config = ClientConfig::new("127.0.0.1:3000", "/mcp", "c", "1");
    config.limits.max_calls = 2;
    config.limits.max_request_bytes = 64;
    let mut net = Net::with_config(config, Box::new(|_: &mut Engine, _, _: &Event| {}));
    let small = raw(r#"{"a":1}"#);
    net.client
        .request(net.now, "x", Some(&small), CallOptions::default())
        .unwrap();
    net.client
        .request(net.now, "x", Some(&small), CallOptions::default())
        .unwrap();
    assert_eq!(
        net.client
            .request(net.now, "x", Some(&small), CallOptions::default()),
        Err(CommandError::Busy)
    );
    let big = raw(&alloc::format!(r#"{{"a":"{}"}}"#, "x".repeat(64)));
    net.client.close(net.now);
    let mut config = ClientConfig::new("127.0.0.1:3000", "/mcp", "c", "1");
    config.limits.max_request_bytes = 64;
    let mut client = Client::new(config, Instant::ZERO, [0; 32]);
    assert_eq!(
        client.request(Instant::ZERO, "x", Some(&big), CallOptions::default()),
        Err(CommandError::TooLarge)
    );
    let at = raw(&alloc::format!(r#"{{"a":"{}"}}"#, "x".repeat(64 - 8 - 1)));
    assert_eq!(at.get().len() + 1, 64);
    assert!(
        client
            .request(Instant::ZERO, "x", Some(&at), CallOptions::default())
            .is_ok()
    );
    assert_eq!(
        client.request(
            Instant::ZERO,
            "x",
            Some(&raw("[1]")),
            CallOptions::default()
        ),
        Err(CommandError::InvalidParams)
    );
}

#[test]
fn an_oversized_response_fails_its_call_not_the_client() {
    let mut config = ClientConfig::new("127.0.0.1:3000", "/mcp", "c", "1");
    config.era = EraChoice::Sessions;
    config.limits.max_message_bytes = 1024;
    let mut net = Net::with_config(
        config,
        Box::new(|server: &mut Engine, now, event: &Event| {
            if let Event::Request { handle, method, .. } = event {
                let size = if method == "big" { 1024 } else { 10 };
                let text = "x".repeat(size);
                let result = raw(&alloc::format!(r#"{{"text":"{text}"}}"#));
                let _ = server.respond(now, *handle, &Reply::Result(result));
            }
        }),
    );
    let big = net.call("big", "{}");
    assert!(net.outcome(big).unwrap().is_err());
    let small = net.call("small", "{}");
    assert!(net.outcome(small).unwrap().is_ok());
    assert!(net.client.stats().oversized_total >= 1);
    net.close_and_check();
}

#[test]
fn a_2024_11_05_server_is_reached_over_http_sse_after_initialize_is_refused() {
    // The server's HTTP+SSE transport lives at /sse: a POST there is refused (405), so the
    // client falls back to GET /sse, follows its endpoint event and POSTs there.
    let mut config = ClientConfig::new("127.0.0.1:3000", "/sse", "legacy-client", "1.0.0");
    config.era = EraChoice::Auto;
    let mut net = Net::with_config(config, echo());
    let call = net.call("tools/call", r#"{"name":"echo","arguments":{}}"#);
    assert_eq!(net.client.era(), Some(Era::HttpSse), "{:?}", net.events);
    assert_eq!(net.client.protocol_version(), Some(LEGACY_VERSION));
    assert_eq!(net.outcome(call).unwrap().ok(), Some(r#"{"content":[]}"#));
    assert_eq!(net.server.stats().sessions, 1);
    // The stream is the session: cut it, and the next call goes in a new one.
    let stream = *net.links.keys().next().expect("the stream's connection");
    let peer = net.links.remove(&stream).unwrap();
    net.server.handle_closed(net.now, peer);
    net.client.handle_closed(net.now, stream);
    net.settle();
    let again = net.call("ping", "{}");
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, ClientEvent::SessionLost))
    );
    assert_eq!(net.outcome(again).map(|o| o.is_ok()), Some(true));
    net.close_and_check();
}

/// A response whose body is only dropped (a refusal, a body that is not JSON) is cut once it
/// passes `max_message_bytes`: its head is acted on, and a peer that never ends the body does
/// not hold the connection until some deadline.
#[test]
fn an_endless_dropped_body_ends_its_exchange_at_the_message_limit() {
    let mut config = ClientConfig::new("127.0.0.1:1", "/mcp", "t", "1");
    config.era = EraChoice::Modern;
    let max = config.limits.max_message_bytes;
    let now = Instant::ZERO;
    let mut client = Client::new(config, now, [1; 32]);
    let mut out = Vec::new();
    let mut conn = None;
    while let Some(transmit) = client.poll_transmit(&mut out) {
        if let Transmit::Open { conn: c } = transmit {
            conn = Some(c);
        }
    }
    let conn = conn.unwrap();
    client.handle_connected(now, conn);
    while client.poll_transmit(&mut out).is_some() {}
    client.handle_bytes(
        now,
        conn,
        b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer scope=\"a\"\r\n\r\n",
    );
    let chunk = alloc::vec![b'x'; 4096];
    let mut sent = 0;
    let mut closed = false;
    while !closed && sent <= max + chunk.len() {
        client.handle_bytes(now, conn, &chunk);
        sent += chunk.len();
        while let Some(transmit) = client.poll_transmit(&mut out) {
            closed |= transmit == Transmit::Close { conn };
        }
        client.check_invariants().unwrap();
    }
    assert!(closed, "the connection was kept past the limit");
    assert!(sent > max, "cut before the limit: {sent}");
    let required = core::iter::from_fn(|| client.poll_event())
        .any(|e| matches!(e, ClientEvent::AuthorizationRequired { status: 401, .. }));
    assert!(required, "the refusal's head was not acted on");
}
