//! Clients that misbehave over real sockets: they vanish, stop reading, trickle headers, or
//! leave mid-call. After the configured timeouts every gauge of the server (sessions,
//! connections, streams, requests, timers, queued bytes, tasks) and its count of open file
//! descriptors are back to their baseline, exactly.

mod common;

use std::time::Duration;

use common::{Conn, Server, Session, post};
use serde_json::json;

/// Short timeouts, so that every misbehaviour is resolved within seconds.
const FAST: [&str; 10] = [
    "--connection-idle",
    "1",
    "--idle-timeout",
    "1",
    "--write-timeout",
    "1",
    "--keepalive",
    "1",
    "--read-timeout",
    "1",
];

/// How long the server may take to notice everything (the timeouts above, plus the work).
const SETTLE: Duration = Duration::from_secs(30);

#[test]
fn abrupt_disconnects_leave_nothing_behind() {
    let server = Server::start(&FAST);
    let baseline = server.baseline();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut session = Session::open(server.addr);
        held.push(session.open_get(None));
        let (_, mut call) = session.start_call(
            "tools/call",
            json!({"name":"sleep","arguments":{"millis":300}}),
        );
        call.head();
        held.push(call);
        let (_, streaming) = session.start_call(
            "tools/call",
            json!({"name":"sleep","arguments":{"millis":300},"_meta":{"progressToken":1}}),
        );
        held.push(streaming);
        // Half a request body, then gone.
        let mut partial = Conn::open(server.addr);
        let wire = post(
            Some(&session.id),
            &json!({"jsonrpc":"2.0","id":99,"method":"ping"}),
        );
        partial.send(&wire[..wire.len() - 5]);
        held.push(partial);
    }
    drop(held);
    server.wait_for_baseline(&baseline, SETTLE);
    let metrics = server.metrics();
    assert_eq!(metrics["mcpwire_sessions_opened_total"], 4);
    assert_eq!(
        metrics["mcpwire_sessions_closed_total{reason=\"idle_timeout\"}"],
        4
    );
}

#[test]
fn clients_that_stop_reading_are_cut() {
    let mut args = FAST.to_vec();
    args.extend(["--heartbeat", "1"]);
    let server = Server::start(&args);
    let baseline = server.baseline();
    let mut session = Session::open(server.addr);
    // 16 MiB of log messages to a client that never reads: the server's send buffer fills, the
    // writer stalls, and the engine cuts the connection (queue limit or write timeout).
    let (_, stalled) = session.start_call_on(
        Conn::open_small_window(server.addr),
        "tools/call",
        json!({"name":"flood","arguments":{"count":256,"size":65536}}),
    );
    // A GET stream whose client neither reads nor answers pings: the heartbeat ends it.
    let get = session.open_get(None);
    // The half-open peers stay connected (and silent) until the server has dealt with them.
    server.wait_for_baseline(&baseline, SETTLE);
    let metrics = server.metrics();
    let cut = metrics["mcpwire_slow_readers_disconnected_total"]
        + metrics["mcpwire_write_timeouts_total"];
    assert!(cut >= 1, "{metrics:?}");
    assert_eq!(
        metrics["mcpwire_sessions_closed_total{reason=\"heartbeat_failed\"}"],
        1
    );
    drop((stalled, get));
}

#[test]
fn slowloris_headers_are_cut_at_the_read_timeout() {
    let server = Server::start(&FAST);
    let baseline = server.baseline();
    let mut silent = Vec::new();
    for _ in 0..8 {
        let mut conn = Conn::open(server.addr);
        conn.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl");
        silent.push(conn);
    }
    // One that trickles a byte every 100 ms: the deadline counts from its first byte.
    let mut trickle = Conn::open(server.addr);
    let header =
        b"GET /mcp HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = false;
    for byte in header {
        if std::io::Write::write_all(&mut trickle.stream, &[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cut, "a trickling request outlived the read timeout");
    for conn in &mut silent {
        let refused = conn.response();
        assert_eq!(refused.status, 408, "a silent partial request is answered");
        assert_eq!(refused.json()["error"]["code"], -32000);
        assert!(
            conn.is_closed_by_peer(),
            "the server closes a silent partial request"
        );
    }
    server.wait_for_baseline(&baseline, SETTLE);
    assert!(server.metrics()["mcpwire_request_read_timeouts_total"] >= 9);
}

#[test]
fn clients_that_vanish_mid_call_leave_nothing_behind() {
    let server = Server::start(&FAST);
    let baseline = server.baseline();
    for streaming in [false, true] {
        for _ in 0..3 {
            let mut session = Session::open(server.addr);
            let params = if streaming {
                json!({"name":"sleep","arguments":{"millis":1500},"_meta":{"progressToken":"p"}})
            } else {
                json!({"name":"sleep","arguments":{"millis":1500}})
            };
            let (_, mut call) = session.start_call("tools/call", params);
            if streaming {
                call.head();
                call.start_sse();
                call.next_message().expect("progress before vanishing");
            }
            call.shutdown();
        }
    }
    server.wait_for_baseline(&baseline, SETTLE);
}

#[test]
fn a_slow_reader_never_delays_other_sessions() {
    // Long timeouts: the slow reader must still be connected when the others are done.
    let server = Server::start(&["--write-timeout", "600"]);
    let mut slow = Session::open(server.addr);
    // 3 MiB that the client does not read yet, through a tiny receive window: the server's
    // writer for it stalls, under the per-connection limit, so the connection stays.
    let (slow_id, mut stalled) = slow.start_call_on(
        Conn::open_small_window(server.addr),
        "tools/call",
        json!({"name":"flood","arguments":{"count":48,"size":65536}}),
    );
    let mut others: Vec<Session> = (0..4).map(|_| Session::open(server.addr)).collect();
    for round in 0..10 {
        for session in &mut others {
            let text = format!("round {round}");
            let reply = session.call(
                "tools/call",
                json!({"name":"echo","arguments":{"text":text}}),
            );
            assert_eq!(common::result_text(&reply[0]), text);
        }
    }
    let metrics = server.metrics();
    assert_eq!(metrics["mcpwire_slow_readers_disconnected_total"], 0);
    assert_eq!(metrics["mcpwire_write_timeouts_total"], 0);
    // The kernel holds what the driver wrote for it; the rest waits with its tool, which
    // cannot finish before its reader reads.
    assert_eq!(
        metrics["mcpwire_inflight_requests"], 1,
        "the slow reader's call waits for it"
    );
    assert!(metrics["mcpwire_resumption_log_bytes"] > 0);

    // The slow reader catches up and loses nothing.
    stalled.head();
    stalled.start_sse();
    let mut logs = 0;
    let result = loop {
        let (_, message) = stalled.next_message().expect("every message");
        if message["method"] == "notifications/message" {
            logs += 1;
        } else {
            break message;
        }
    };
    assert_eq!(logs, 48);
    assert_eq!(result["id"], slow_id);
}
