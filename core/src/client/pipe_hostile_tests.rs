//! The client over a pipe against a server that misbehaves: answers to nothing, garbage
//! where the probe's answer should be, a probe refused for ever, requests the era does not
//! allow, and the modern era's timeout.

use alloc::string::ToString;
use alloc::vec::Vec;

use serde_json::{Value, json};

use super::*;
use crate::time::{Duration, Instant};

/// A client over a pipe whose lines out are parsed into `written`.
struct Wire {
    client: Client,
    conn: ClientConnId,
    now: Instant,
    written: Vec<Value>,
    events: Vec<ClientEvent>,
}

impl Wire {
    fn new(era: EraChoice) -> Wire {
        let mut config = ClientConfig::pipe("test-client", "1.0.0");
        config.era = era;
        let mut client = Client::new(config, Instant::ZERO, [5; 32]);
        let mut out = Vec::new();
        let Some(Transmit::Open { conn }) = client.poll_transmit(&mut out) else {
            panic!("a pipe client opens its pipe first");
        };
        client.handle_connected(Instant::ZERO, conn);
        let mut wire = Wire {
            client,
            conn,
            now: Instant::ZERO,
            written: Vec::new(),
            events: Vec::new(),
        };
        wire.run();
        wire
    }

    fn run(&mut self) {
        let mut out = Vec::new();
        for _ in 0..64 {
            let mut moved = false;
            while let Some(transmit) = self.client.poll_transmit(&mut out) {
                moved = true;
                if let Transmit::Write { len, .. } = transmit {
                    let bytes = out.split_off(out.len() - len);
                    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        self.written.push(serde_json::from_slice(line).unwrap());
                    }
                }
                out.clear();
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

    fn feed(&mut self, line: &Value) {
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        self.client.handle_bytes(self.now, self.conn, &bytes);
        self.run();
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        self.client.handle_timeout(self.now);
        self.run();
    }

    fn last(&self) -> &Value {
        self.written.last().expect("a line")
    }

    fn answer_last(&mut self, result: Value) {
        let id = self.last()["id"].clone();
        self.feed(&json!({"jsonrpc":"2.0","id":id,"result":result}));
    }

    fn discover_modern(&mut self) {
        assert_eq!(self.last()["method"], "server/discover");
        self.answer_last(json!({"supportedVersions":["2026-07-28"],"capabilities":{},
            "serverInfo":{"name":"s","version":"1"}}));
        assert_eq!(self.client.era(), Some(Era::Modern));
    }

    fn closed(&self) -> Option<&CloseReason> {
        self.events.iter().find_map(|e| match e {
            ClientEvent::Closed { reason } => Some(reason),
            _ => None,
        })
    }
}

#[test]
fn answers_to_nothing_are_counted_and_change_nothing() {
    let mut wire = Wire::new(EraChoice::Auto);
    // Before any request of the client's but the probe, and with ids it never sent.
    wire.feed(&json!({"jsonrpc":"2.0","id":424242,"result":{}}));
    wire.feed(&json!({"jsonrpc":"2.0","id":-1,"result":{}}));
    wire.feed(&json!({"jsonrpc":"2.0","id":"x","error":{"code":1,"message":"m"}}));
    wire.feed(&json!({"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m"}}));
    assert!(wire.events.is_empty(), "{:?}", wire.events);
    assert_eq!(wire.last()["method"], "server/discover");
    wire.discover_modern();
    wire.feed(&json!({"jsonrpc":"2.0","id":424242,"result":{}}));
    assert!(
        !wire
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Response { .. }))
    );
    assert!(wire.client.stats().late_responses_total >= 2);
}

#[test]
fn garbage_for_the_probes_answer_falls_back_to_initialize_once_connect_passes() {
    let mut wire = Wire::new(EraChoice::Auto);
    for bytes in [
        &b"\xff\xfe\n"[..],
        b"{\"jsonrpc\":\n",
        b"[[[[[[[[\n",
        b"null\n",
    ] {
        wire.client.handle_bytes(wire.now, wire.conn, bytes);
        wire.run();
    }
    assert_eq!(wire.last()["method"], "server/discover");
    let connect = wire.client.config.timeouts.connect;
    wire.advance(connect);
    assert_eq!(wire.last()["method"], "initialize");
}

#[test]
fn a_probe_refused_for_ever_with_our_own_version_ends_within_the_retry_budget() {
    let mut wire = Wire::new(EraChoice::Auto);
    for _ in 0..1000 {
        if wire.closed().is_some() {
            break;
        }
        if wire.last()["method"] == "server/discover" && !wire.last()["id"].is_null() {
            let id = wire.last()["id"].clone();
            wire.feed(&json!({"jsonrpc":"2.0","id":id,"error":{"code":-32022,
                "message":"unsupported","data":{"supported":["2026-07-28"]}}}));
        }
        wire.advance(Duration::from_secs(1));
    }
    assert!(wire.closed().is_some(), "still probing");
    assert_eq!(wire.client.stats().timers_armed, 0);
}

#[test]
fn a_request_from_the_server_in_the_modern_era_is_refused_not_left_unanswered() {
    let mut wire = Wire::new(EraChoice::Modern);
    wire.discover_modern();
    let before = wire.written.len();
    wire.feed(&json!({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}));
    wire.feed(&json!({"jsonrpc":"2.0","id":"s2","method":"ping"}));
    assert!(
        !wire
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::ServerRequest { .. }))
    );
    let answers: Vec<&Value> = wire.written[before..].iter().collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0]["id"], "s1");
    assert_eq!(answers[0]["error"]["code"], -32601);
    assert_eq!(answers[1]["id"], "s2");
    assert_eq!(answers[1]["error"]["code"], -32601);
}

#[test]
fn a_modern_call_that_times_out_is_cancelled_on_the_pipe() {
    let mut wire = Wire::new(EraChoice::Modern);
    wire.discover_modern();
    let options = CallOptions {
        timeout: Some(Duration::from_secs(2)),
        ..CallOptions::default()
    };
    let call = wire
        .client
        .request(wire.now, "tools/list", None, options)
        .unwrap();
    wire.run();
    let id = wire.last()["id"].clone();
    wire.advance(Duration::from_secs(2));
    assert!(wire.events.iter().any(|e| matches!(e,
        ClientEvent::Failed { call: c, error: CallError::Timeout } if *c == call)));
    assert_eq!(wire.last()["method"], "notifications/cancelled");
    assert_eq!(wire.last()["params"]["requestId"], id);
    // Its late answer is no one's.
    wire.feed(&json!({"jsonrpc":"2.0","id":id,"result":{"tools":[]}}));
    assert!(
        !wire
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Response { .. }))
    );
    assert_eq!(wire.client.stats().timers_armed, 0);
}
