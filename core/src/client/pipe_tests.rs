//! The client over a pipe, against lines written by hand: both eras and the probe's
//! fallbacks, routing by progress token and subscription id, cancellation, the line limit,
//! and the pipe's end.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::Value;

use super::*;
use crate::time::{Duration, Instant};

struct Pipe {
    client: Client,
    conn: Option<ClientConnId>,
    now: Instant,
    /// Every line the client wrote, parsed.
    written: Vec<Value>,
    events: Vec<ClientEvent>,
}

impl Pipe {
    fn new(era: EraChoice) -> Pipe {
        let mut config = ClientConfig::pipe("test-client", "1.0.0");
        config.era = era;
        config.limits.max_message_bytes = 256;
        Pipe::with_config(config)
    }

    fn with_config(config: ClientConfig) -> Pipe {
        let mut pipe = Pipe {
            client: Client::new(config, Instant::ZERO, [4; 32]),
            conn: None,
            now: Instant::ZERO,
            written: Vec::new(),
            events: Vec::new(),
        };
        pipe.run();
        pipe
    }

    /// Moves the client's output into `written` and its events into `events`.
    fn run(&mut self) {
        let mut out = Vec::new();
        for _ in 0..64 {
            let mut moved = false;
            while let Some(transmit) = self.client.poll_transmit(&mut out) {
                moved = true;
                match transmit {
                    Transmit::Open { conn } => {
                        assert!(self.conn.is_none(), "a pipe is opened once");
                        self.conn = Some(conn);
                        self.client.handle_connected(self.now, conn);
                    }
                    Transmit::Write { conn, len } => {
                        assert_eq!(Some(conn), self.conn);
                        let bytes = out.split_off(out.len() - len);
                        assert_eq!(bytes.last(), Some(&b'\n'));
                        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                            assert!(!line.contains(&b'\r'));
                            self.written.push(serde_json::from_slice(line).unwrap());
                        }
                    }
                    Transmit::Close { conn } => {
                        assert_eq!(Some(conn), self.conn);
                        self.conn = None;
                    }
                }
            }
            while let Some(event) = self.client.poll_event() {
                moved = true;
                self.events.push(event);
            }
            self.client.check_invariants().unwrap();
            if !moved {
                return;
            }
        }
        panic!("the client never settles");
    }

    fn feed(&mut self, bytes: &[u8]) {
        let conn = self.conn.expect("open");
        self.client.handle_bytes(self.now, conn, bytes);
        self.run();
    }

    fn feed_json(&mut self, value: &Value) {
        let mut line = value.to_string();
        line.push('\n');
        self.feed(line.as_bytes());
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        self.client.handle_timeout(self.now);
        self.run();
    }

    fn last(&self) -> &Value {
        self.written.last().expect("a line")
    }

    fn method_of(&self, at: usize) -> &str {
        self.written[at]["method"].as_str().unwrap_or_default()
    }

    fn request(&mut self, method: &str, params: &str, progress: bool) -> CallId {
        let params = RawValue::from_string(params.to_string()).unwrap();
        let options = CallOptions {
            progress,
            ..CallOptions::default()
        };
        let call = self
            .client
            .request(self.now, method, Some(&params), options)
            .unwrap();
        self.run();
        call
    }

    fn outcome(&self, call: CallId) -> Option<Result<String, CallError>> {
        self.events.iter().find_map(|e| match e {
            ClientEvent::Response { call: c, result } if *c == call => {
                Some(Ok(result.get().to_string()))
            }
            ClientEvent::Failed { call: c, error } if *c == call => Some(Err(error.clone())),
            _ => None,
        })
    }

    /// Answers the `initialize` just written and checks the acknowledgment follows.
    fn initialize(&mut self) {
        assert_eq!(self.last()["method"], "initialize");
        let id = self.last()["id"].clone();
        let before = self.written.len();
        self.feed_json(&serde_json::json!({"jsonrpc":"2.0","id":id,"result":{
            "protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}));
        // Before anything queued behind the handshake.
        assert_eq!(self.method_of(before), "notifications/initialized");
        assert_eq!(self.client.era(), Some(Era::Sessions));
    }

    fn discover_modern(&mut self) {
        assert_eq!(self.last()["method"], "server/discover");
        let id = self.last()["id"].clone();
        self.feed_json(&serde_json::json!({"jsonrpc":"2.0","id":id,"result":{
            "supportedVersions":["2026-07-28"],"capabilities":{},"serverInfo":{"name":"s","version":"1"}}}));
        assert_eq!(self.client.era(), Some(Era::Modern));
    }
}

#[test]
fn auto_falls_back_to_initialize_on_an_error_and_routes_by_id() {
    let mut pipe = Pipe::new(EraChoice::Auto);
    assert_eq!(pipe.method_of(0), "server/discover");
    let call = pipe.request("tools/list", "{}", false);
    assert_eq!(
        pipe.written.len(),
        1,
        "nothing goes before the handshake ends"
    );
    let id = pipe.last()["id"].clone();
    // Any error that is not a modern one: here a plain -32601.
    pipe.feed_json(
        &serde_json::json!({"jsonrpc":"2.0","id":id,"error":{"code":-32601,"message":"no"}}),
    );
    pipe.initialize();
    assert_eq!(pipe.method_of(3), "tools/list");
    assert!(
        pipe.written[3]
            .get("params")
            .unwrap()
            .get("_meta")
            .is_none()
    );
    let id = pipe.written[3]["id"].clone();
    pipe.feed(
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"tools\":[]}}}}\r\n").as_bytes(),
    );
    assert_eq!(pipe.outcome(call).unwrap().unwrap(), r#"{"tools":[]}"#);
    assert!(pipe.client.stats().connections == 1);
}

#[test]
fn an_unanswered_probe_falls_back_once_connect_passes() {
    let mut pipe = Pipe::new(EraChoice::Auto);
    let probe = pipe.last()["id"].clone();
    pipe.advance(Duration::from_secs(9));
    assert_eq!(pipe.written.len(), 1);
    pipe.advance(Duration::from_secs(1));
    assert_eq!(pipe.last()["method"], "initialize");
    // The probe's late answer is no one's; the handshake goes on.
    pipe.feed_json(&serde_json::json!({"jsonrpc":"2.0","id":probe,"result":{"supportedVersions":["2026-07-28"]}}));
    assert_eq!(pipe.client.era(), None);
    pipe.initialize();
    assert!(pipe.client.is_connected());
}

#[test]
fn sessions_starts_with_initialize_and_answers_the_servers_requests_on_the_pipe() {
    let mut pipe = Pipe::new(EraChoice::Sessions);
    pipe.initialize();
    pipe.feed(b"{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}\n");
    assert_eq!(pipe.last()["id"], "p");
    assert_eq!(pipe.last()["result"], serde_json::json!({}));
    pipe.feed(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"roots/list\"}\n");
    let request = pipe
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::ServerRequest { request, .. } => Some(*request),
            _ => None,
        })
        .unwrap();
    let result = RawValue::from_string(r#"{"roots":[]}"#.into()).unwrap();
    pipe.client.respond(pipe.now, request, Ok(&result)).unwrap();
    pipe.run();
    assert_eq!(pipe.last()["id"], 7);
    assert_eq!(pipe.last()["result"]["roots"], serde_json::json!([]));
}

#[test]
fn modern_requests_carry_meta_progress_is_routed_and_cancel_tells_the_server() {
    let mut pipe = Pipe::new(EraChoice::Modern);
    pipe.discover_modern();
    let call = pipe.request("tools/call", r#"{"name":"slow"}"#, true);
    let sent = pipe.last().clone();
    let meta = &sent["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(meta["progressToken"], sent["id"]);
    pipe.feed_json(
        &serde_json::json!({"jsonrpc":"2.0","method":"notifications/progress",
        "params":{"progressToken":sent["id"],"progress":1}}),
    );
    let routed = pipe.events.iter().any(|e| {
        matches!(e, ClientEvent::Notification { call: Some(c), method, .. }
            if *c == call && method == "notifications/progress")
    });
    assert!(routed);
    pipe.client.cancel(pipe.now, call).unwrap();
    pipe.run();
    assert_eq!(pipe.last()["method"], "notifications/cancelled");
    assert_eq!(pipe.last()["params"]["requestId"], sent["id"]);
    assert!(matches!(
        pipe.outcome(call),
        Some(Err(CallError::Cancelled))
    ));
}

#[test]
fn a_listen_frame_is_routed_by_its_subscription_id() {
    let mut pipe = Pipe::new(EraChoice::Modern);
    pipe.discover_modern();
    let filter = RawValue::from_string(r#"{"toolsListChanged":true}"#.into()).unwrap();
    let listen = pipe.client.listen(pipe.now, &filter).unwrap();
    pipe.run();
    let id = pipe.last()["id"].clone();
    pipe.feed_json(
        &serde_json::json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed",
        "params":{"_meta":{"io.modelcontextprotocol/subscriptionId":id}}}),
    );
    assert!(pipe.events.iter().any(|e| matches!(e,
        ClientEvent::Notification { call: Some(c), .. } if *c == listen)));
}

#[test]
fn a_timed_out_call_is_cancelled_on_the_pipe() {
    let mut pipe = Pipe::new(EraChoice::Sessions);
    pipe.initialize();
    let options = CallOptions {
        timeout: Some(Duration::from_secs(2)),
        ..CallOptions::default()
    };
    let call = pipe
        .client
        .request(pipe.now, "ping", None, options)
        .unwrap();
    pipe.run();
    let id = pipe.last()["id"].clone();
    pipe.advance(Duration::from_secs(2));
    assert!(matches!(pipe.outcome(call), Some(Err(CallError::Timeout))));
    assert_eq!(pipe.last()["method"], "notifications/cancelled");
    assert_eq!(pipe.last()["params"]["requestId"], id);
}

#[test]
fn a_line_at_the_limit_is_read_and_one_past_it_is_discarded() {
    let mut pipe = Pipe::new(EraChoice::Sessions);
    pipe.initialize();
    let first = pipe.request("ping", "{}", false);
    let second = pipe.request("ping", "{}", false);
    let id = |pipe: &Pipe, at: usize| pipe.written[pipe.written.len() - at]["id"].clone();
    let (first_id, second_id) = (id(&pipe, 2), id(&pipe, 1));
    let answer = |id: &Value, pad: usize| {
        let head = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"p\":\"");
        let tail = "\"}}";
        let fill = pad - head.len() - tail.len();
        format!("{head}{}{tail}\n", "x".repeat(fill))
    };
    // 257 bytes: refused, and nothing of it is kept.
    let long = answer(&first_id, 257);
    pipe.feed(&long.as_bytes()[..200]);
    pipe.feed(&long.as_bytes()[200..]);
    assert!(pipe.outcome(first).is_none());
    assert_eq!(pipe.client.stats().oversized_total, 1);
    // 256 bytes: read.
    pipe.feed(answer(&second_id, 256).as_bytes());
    assert!(matches!(pipe.outcome(second), Some(Ok(_))));
}

#[test]
fn the_pipes_end_fails_every_call_at_once_with_the_adapters_reason() {
    let mut pipe = Pipe::new(EraChoice::Sessions);
    let queued = pipe.request("ping", "{}", false);
    pipe.initialize();
    let sent = pipe.request("tools/list", "{}", false);
    let conn = pipe.conn.unwrap();
    pipe.client
        .handle_pipe_ended(pipe.now, conn, "exit status 3; stderr: boom");
    pipe.run();
    for call in [queued, sent] {
        match pipe.outcome(call) {
            Some(Err(CallError::Exited(why))) => assert!(why.contains("boom")),
            other => panic!("{other:?}"),
        }
    }
    assert!(pipe.events.iter().any(|e| matches!(e,
        ClientEvent::Closed { reason: CloseReason::Exited(why) } if why.contains("status 3"))));
    assert!(pipe.client.is_closed());
    assert!(
        pipe.client.stats().is_quiescent(),
        "{}",
        pipe.client.stats()
    );
}

#[test]
fn close_lets_the_pipe_go() {
    let mut pipe = Pipe::new(EraChoice::Auto);
    let call = pipe.request("ping", "{}", false);
    pipe.client.close(pipe.now);
    pipe.run();
    assert!(pipe.conn.is_none());
    assert!(matches!(pipe.outcome(call), Some(Err(CallError::Closed))));
    assert!(
        pipe.client.stats().is_quiescent(),
        "{}",
        pipe.client.stats()
    );
}

#[test]
fn a_partial_last_line_is_read_at_the_end() {
    let mut pipe = Pipe::new(EraChoice::Sessions);
    pipe.initialize();
    let call = pipe.request("ping", "{}", false);
    let id = pipe.last()["id"].clone();
    pipe.feed(format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{}}}}").as_bytes());
    assert!(pipe.outcome(call).is_none());
    let conn = pipe.conn.unwrap();
    pipe.client
        .handle_pipe_ended(pipe.now, conn, "exit status 0");
    pipe.run();
    assert!(matches!(pipe.outcome(call), Some(Ok(_))));
}

#[test]
fn any_split_of_the_servers_bytes_gives_the_same_outcomes() {
    let script = |pipe: &mut Pipe| -> Vec<u8> {
        let call = pipe.request("tools/call", r#"{"name":"slow"}"#, true);
        let id = pipe.last()["id"].clone();
        let mut bytes = Vec::new();
        for line in [
            format!(
                "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progressToken\":{id},\"progress\":1}}}}\r\n"
            ),
            "\n   \n".to_string(),
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"é\\n\"}}]}}}}\n"
            ),
        ] {
            bytes.extend_from_slice(line.as_bytes());
        }
        let _ = call;
        bytes
    };
    let outcomes = |split: usize| {
        let mut pipe = Pipe::new(EraChoice::Sessions);
        pipe.initialize();
        let bytes = script(&mut pipe);
        for chunk in bytes.chunks(split) {
            pipe.feed(chunk);
        }
        pipe.events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Notification { call, method, .. } => {
                    Some(format!("{call:?} {method}"))
                }
                ClientEvent::Response { call, result } => Some(format!("{call} {}", result.get())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let whole = outcomes(usize::MAX);
    assert_eq!(whole.len(), 2, "{whole:?}");
    for split in 1..=17 {
        assert_eq!(outcomes(split), whole, "split every {split} bytes");
    }
}
