//! The 2026-07-28 era over real sockets: listen streams opened and cut abruptly, and calls
//! whose client vanishes mid-call. Afterwards every gauge, the task count and the open
//! descriptors equal the baseline exactly.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Server, stateless_post};
use serde_json::{Value, json};

/// How many connections are open at once: within a test process's descriptor limit.
const BATCH: usize = 250;
const ROUNDS: usize = 4;

fn stateless(method: &str, name: Option<&str>, body: &Value) -> Vec<u8> {
    stateless_post(method, name, &[], body)
}

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// Waits until `gauge` reads `value`.
fn wait_for(server: &Server, gauge: &str, value: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = server.gauges().get(gauge).copied().unwrap_or(0);
        if now == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{gauge} is {now}, expected {value}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn listen_streams_cut_and_calls_abandoned_leave_nothing_behind() {
    let server = Server::start(&["--keepalive", "1"]);
    let baseline = server.baseline();
    for round in 0..ROUNDS {
        let mut streams = Vec::with_capacity(BATCH);
        for i in 0..BATCH {
            let mut conn = Conn::open(server.addr);
            let body = json!({
                "jsonrpc": "2.0",
                "id": format!("listen-{round}-{i}"),
                "method": "subscriptions/listen",
                "params": {
                    "_meta": meta(),
                    "notifications": {
                        "toolsListChanged": true,
                        "resourceSubscriptions": ["test://watched-resource"]
                    }
                }
            });
            conn.send(&stateless("subscriptions/listen", None, &body));
            streams.push(conn);
        }
        wait_for(&server, "mcpwire_subscriptions", BATCH as u64);
        // Each stream really is one: acknowledged first, with its own id.
        let mut first = streams.pop().unwrap();
        assert_eq!(first.head().status, 200);
        first.start_sse();
        let (_, ack) = first.next_message().expect("the acknowledgment");
        assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
        first.reset();
        for conn in streams {
            conn.reset();
        }
        wait_for(&server, "mcpwire_subscriptions", 0);
    }
    for round in 0..ROUNDS {
        let mut calls = Vec::with_capacity(BATCH);
        for i in 0..BATCH {
            let mut conn = Conn::open(server.addr);
            let mut params =
                json!({ "name": "sleep", "arguments": { "millis": 60_000 }, "_meta": meta() });
            if i % 2 == 0 {
                // Half of them stream progress before they are abandoned.
                params["_meta"]["progressToken"] = json!(i);
            }
            let body = json!({ "jsonrpc": "2.0", "id": round * BATCH + i, "method": "tools/call", "params": params });
            conn.send(&stateless("tools/call", Some("sleep"), &body));
            calls.push(conn);
        }
        wait_for(&server, "mcpwire_stateless_requests", BATCH as u64);
        for conn in calls {
            conn.reset();
        }
        wait_for(&server, "mcpwire_stateless_requests", 0);
    }
    server.wait_for_baseline(&baseline, Duration::from_secs(30));
    let metrics = server.metrics();
    assert_eq!(
        metrics["mcpwire_sessions_opened_total"], 0,
        "no session for any of it"
    );
    assert!(metrics["mcpwire_requests_cancelled_total"] >= (ROUNDS * BATCH) as u64);
}

/// Clients that abort a call before the first byte of its answer close their socket with a FIN,
/// not a reset (the TypeScript SDK's fetch does). Each call is cancelled at once: everything
/// is back at the baseline long before the calls' own minute, or any of the server's timeouts.
#[test]
fn calls_whose_clients_send_fin_before_the_answer_are_cancelled_at_once() {
    const CALLS: usize = 100;
    let server = Server::start(&[]);
    let baseline = server.baseline();
    let cancelled_before = server.metrics()["mcpwire_requests_cancelled_total"];
    let mut calls = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let mut conn = Conn::open(server.addr);
        let params = json!({ "name": "sleep", "arguments": { "millis": 60_000 }, "_meta": meta() });
        let body = json!({ "jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params });
        conn.send(&stateless("tools/call", Some("sleep"), &body));
        calls.push(conn);
    }
    wait_for(&server, "mcpwire_stateless_requests", CALLS as u64);
    for conn in &calls {
        conn.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("a FIN");
    }
    // A bound below anything that would end them otherwise: the exchange's 30 s, and the
    // calls' own minute.
    server.wait_for_baseline(&baseline, Duration::from_secs(20));
    let cancelled = server.metrics()["mcpwire_requests_cancelled_total"] - cancelled_before;
    assert_eq!(cancelled, CALLS as u64, "each call cancelled");
    for mut conn in calls {
        assert!(conn.is_closed_by_peer(), "closed without an answer");
    }
}
