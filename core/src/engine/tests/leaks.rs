//! One test per row of the leak table in DESIGN.md §1: each reproduces the path that leaked in
//! another implementation and ends with every gauge of [`Stats`](crate::Stats) at zero.
//!
//! Each test's comment says which mechanism it depends on and how that was checked to matter:
//! the mechanism was disabled by hand and the test was seen to fail.

use alloc::vec::Vec;

use super::harness::{Harness, INIT};
use crate::engine::{CancelReason, CloseReason, Config, Event};

/// Past every deadline the default configuration has (session idle 10 min, resume window 1 min,
/// connection idle 2 min), with a margin.
const FOREVER_MS: u64 = 3_600_000;

fn assert_quiescent(h: &mut Harness) {
    h.advance(FOREVER_MS);
    let stats = h.engine.stats();
    assert!(
        stats.is_quiescent(),
        "still alive after every deadline: {stats}"
    );
}

fn get_stream(h: &mut Harness, wire_id: &str) -> crate::engine::ConnId {
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request(
            "GET",
            "/mcp",
            &[("Accept", "text/event-stream"), ("Mcp-Session-Id", wire_id)],
            "",
        ),
    );
    assert_eq!(h.peek_response(conn).unwrap().status, 200);
    conn
}

/// Sessions that are never DELETEd expire. Checked: with the idle timer never armed
/// (`refresh_session_idle` returning early) the session survives and this fails.
#[test]
fn leak_sessions_removed_only_on_delete() {
    let mut h = Harness::default();
    for _ in 0..10 {
        h.initialize();
    }
    assert_eq!(h.engine.stats().sessions, 10);
    h.advance(600_000);
    assert_eq!(h.engine.stats().sessions, 0);
    let closed = h
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::SessionClosed {
                    reason: CloseReason::IdleTimeout,
                    ..
                }
            )
        })
        .count();
    assert_eq!(closed, 10);
    assert_quiescent(&mut h);
}

/// After an idle expiry nothing still names the session: its wire id answers 404 and every
/// index is clean (`check_invariants` runs after each step). Checked: leaving the wire-id index
/// entry in `end_session` fails the invariant check ("the wire id index has entries for ended
/// sessions").
#[test]
fn leak_map_entry_outlives_the_session_after_idle_timeout() {
    let mut h = Harness::default();
    let (wire_id, _) = h.initialize();
    h.advance(600_000);
    let after = h.post(
        Some(&wire_id),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    );
    assert_eq!(after.status, 404);
    assert_quiescent(&mut h);
}

/// DELETE ends the session with everything it owns: its GET stream ends cleanly, its request in
/// flight is cancelled, its timers go. Checked: skipping the stream loop in `end_session` leaves
/// a stream naming a missing session, which the invariant check reports.
#[test]
fn leak_delete_path_skips_its_own_cleanup() {
    let mut h = Harness::default();
    let (wire_id, _) = h.initialize();
    let get = get_stream(&mut h, &wire_id);
    let (post, handle) = h.call(
        &wire_id,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call"}"#,
    );
    let delete = h.connect();
    h.send(
        delete,
        &Harness::request("DELETE", "/mcp", &[("Mcp-Session-Id", &wire_id)], ""),
    );
    assert_eq!(h.take_response(delete).unwrap().status, 200);
    assert!(
        h.take_response(get).unwrap().complete,
        "the GET stream ended with its terminator"
    );
    let post_answer = h.take_response(post).unwrap();
    assert_eq!(post_answer.json()["error"]["message"], "Session closed");
    assert!(h.events.iter().any(|e| matches!(e, Event::Cancelled { handle: c, reason: CancelReason::SessionClosed } if *c == handle)));
    let stats = h.engine.stats();
    assert_eq!(
        (stats.sessions, stats.streams, stats.inflight_requests),
        (0, 0, 0)
    );
    assert_quiescent(&mut h);
}

/// GET and DELETE without a session id, or with an unknown one, allocate nothing. Checked:
/// opening a session before the session lookup in `get` makes the session count non-zero.
#[test]
fn leak_rejected_get_or_delete_allocates_a_session() {
    let mut h = Harness::default();
    for wire in [
        Harness::request("GET", "/mcp", &[("Accept", "text/event-stream")], ""),
        Harness::request("DELETE", "/mcp", &[], ""),
        Harness::request(
            "GET",
            "/mcp",
            &[
                ("Accept", "text/event-stream"),
                ("Mcp-Session-Id", "forged"),
            ],
            "",
        ),
        Harness::request("DELETE", "/mcp", &[("Mcp-Session-Id", "forged")], ""),
    ] {
        let conn = h.connect();
        h.send(conn, &wire);
        let status = h.take_response(conn).unwrap().status;
        assert!(status == 400 || status == 404, "{status}");
        let stats = h.engine.stats();
        assert_eq!((stats.sessions, stats.streams), (0, 0));
    }
    assert_quiescent(&mut h);
}

/// A `server/discover` probe on this stateful server creates no session. Checked: treating
/// any request without a session id as `initialize` makes this fail.
#[test]
fn leak_discover_probe_creates_a_session() {
    let mut h = Harness::default();
    let probe = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#;
    for _ in 0..5 {
        assert_eq!(h.post(None, probe).status, 400);
    }
    assert_eq!(h.engine.stats().sessions_opened_total, 0);
    assert_quiescent(&mut h);
}

/// When a session is ended while its GET stream is open (here by the heartbeat, the engine's
/// own sweep), the stream is closed too, with a clean end, not merely forgotten. Checked: with
/// `end_stream` not finishing the attached response, the GET connection never sees the chunked
/// terminator and stays open.
#[test]
fn leak_sweep_drops_the_entry_but_never_closes_the_stream() {
    let mut config = Config::new("t", "1");
    config.timeouts.heartbeat = Some(crate::engine::Heartbeat {
        interval: crate::time::Duration::from_secs(10),
        timeout: crate::time::Duration::from_secs(5),
        max_failures: 2,
    });
    let mut h = Harness::new(config);
    let (wire_id, _) = h.initialize();
    let get = get_stream(&mut h, &wire_id);
    // The client never answers the pings.
    h.advance(40_000);
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::SessionClosed {
            reason: CloseReason::HeartbeatFailed,
            ..
        }
    )));
    let response = h.take_response(get).unwrap();
    assert!(response.complete, "the stream ended cleanly");
    assert_eq!(
        response
            .sse_messages()
            .iter()
            .filter(|m| m["method"] == "ping")
            .count(),
        2
    );
    assert_quiescent(&mut h);
}

/// A request whose JSON-mode POST connection drops is cancelled: its answer can no longer reach
/// anyone, so the application is told to stop. Checked: making `stream_lost_exchange` treat
/// JSON streams like SSE ones (linger) delays the cancellation past this assertion.
#[test]
fn leak_tasks_not_cancelled_on_disconnect() {
    let mut h = Harness::default();
    let (wire_id, _) = h.initialize();
    let (post, handle) = h.call(
        &wire_id,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
    );
    h.engine.handle_closed(h.now, post);
    h.pump();
    assert!(h.events.iter().any(|e| matches!(e, Event::Cancelled { handle: c, reason: CancelReason::Undeliverable } if *c == handle)));
    assert_eq!(h.engine.stats().inflight_requests, 0);
    assert_quiescent(&mut h);
}

/// An SSE POST stream whose client vanished stays resumable for the resume window, then goes
/// with its request. Checked: without the linger timer on detach, the invariant check reports
/// "detached stream has no resume-window deadline".
#[test]
fn leak_tasks_pile_up_after_client_disconnect() {
    let mut config = Config::new("t", "1");
    config.response_mode = crate::engine::ResponseMode::Sse;
    let mut h = Harness::new(config);
    let (wire_id, _) = h.initialize();
    let mut handles = Vec::new();
    for id in 0..16 {
        let post = h.connect();
        let body = alloc::format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call"}}"#);
        h.send(post, &Harness::post_wire(Some(&wire_id), &body));
        handles.push(h.take_request_event().0);
        h.engine.handle_closed(h.now, post);
        h.pump();
    }
    assert_eq!(
        h.engine.stats().inflight_requests,
        16,
        "disconnection is not cancellation (up to the session's 16 detached streams)"
    );
    h.advance(60_000);
    assert_eq!(h.engine.stats().inflight_requests, 0);
    let cancelled = h
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Cancelled {
                    reason: CancelReason::Undeliverable,
                    ..
                }
            )
        })
        .count();
    assert_eq!(cancelled, 16);
    assert_quiescent(&mut h);
}

/// Shutdown completes while a client holds a GET stream open and never reads, and while a
/// request is in flight: the stream ends at once, the request is cancelled at the grace
/// deadline, and nothing is left. Checked: without `force_shutdown` at the deadline the grace
/// deadline never clears, which the harness reports.
#[test]
fn leak_shutdown_hangs_while_a_client_holds_a_stream_open() {
    let mut h = Harness::default();
    let (wire_id, _) = h.initialize();
    let get = get_stream(&mut h, &wire_id);
    h.stalled.push(get);
    let (_post, handle) = h.call(
        &wire_id,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
    );
    h.engine
        .begin_shutdown(h.now, crate::time::Duration::from_secs(5));
    h.pump();
    assert_eq!(h.post(None, INIT).status, 503, "no new sessions");
    h.advance(5_000);
    assert!(h.events.iter().any(|e| matches!(e, Event::Cancelled { handle: c, reason: CancelReason::Shutdown } if *c == handle)));
    assert!(h.engine.is_drained(), "{}", h.engine.stats());
    assert!(h.engine.stats().is_quiescent(), "{}", h.engine.stats());
}

/// A half-open peer on a GET stream is found by writing: keep-alives pile up unacknowledged,
/// the write deadline closes the connection, the stream lingers, then the session expires.
/// Checked: without the keep-alive timer nothing is written, the write deadline never starts,
/// and the session outlives every deadline.
#[test]
fn leak_dead_sse_peer_never_noticed() {
    let mut h = Harness::default();
    let (wire_id, _) = h.initialize();
    let get = get_stream(&mut h, &wire_id);
    // The peer vanished without a FIN: bytes are taken but never acknowledged.
    h.stalled.push(get);
    h.advance(60_000);
    assert!(
        h.closed.contains(&get),
        "the write deadline closed the connection"
    );
    assert_quiescent(&mut h);
}

/// A reader that stops reading cannot stall a broadcast to everyone else: the others get every
/// message, and the slow one is cut off at its queue limit. Checked: with the per-connection
/// queue limit ignored, the slow connection is never disconnected and holds its queue.
#[test]
fn leak_one_slow_reader_stalls_a_broadcast() {
    let mut config = Config::new("t", "1");
    config.limits.max_queued_bytes_per_connection = 64 * 1024;
    let mut h = Harness::new(config);
    let mut gets = Vec::new();
    for _ in 0..5 {
        let (wire_id, _) = h.initialize();
        gets.push(get_stream(&mut h, &wire_id));
    }
    h.stalled.push(gets[0]);
    let big = alloc::format!(r#"{{"blob":"{}"}}"#, "x".repeat(8 * 1024));
    let params = crate::jsonrpc::RawValue::from_string(big).unwrap();
    for _ in 0..40 {
        h.engine
            .broadcast(h.now, "notifications/message", Some(&params));
        h.pump();
    }
    for &conn in &gets[1..] {
        let messages = h.peek_response(conn).unwrap().sse_messages();
        assert_eq!(messages.len(), 40, "fast readers got every message");
    }
    assert!(
        h.closed.contains(&gets[0]),
        "the slow reader was disconnected"
    );
    assert!(h.engine.counters().slow_readers_disconnected >= 1);
    // The fast readers are live clients; once they leave, nothing remains.
    for &conn in &gets[1..] {
        h.engine.handle_closed(h.now, conn);
        h.pump();
    }
    assert_quiescent(&mut h);
}

/// Bytes flow on an idle stream often enough that proxies (100-300 s) never cut it: a comment
/// at once and every 15 s. Checked: with the keep-alive interval set to 10 minutes the comment
/// count here stays at one.
#[test]
fn leak_idle_streams_cut_by_proxies() {
    let mut h = Harness::default();
    let (wire_id, _) = h.initialize();
    let get = get_stream(&mut h, &wire_id);
    h.advance(120_000);
    let comments = h
        .peek_response(get)
        .unwrap()
        .sse()
        .iter()
        .filter(|i| matches!(i, crate::sse::SseItem::Comment(_)))
        .count();
    assert_eq!(comments, 1 + 120 / 15);
}

/// An open GET stream is activity: the idle timer does not reap a session whose only activity
/// is its GET stream, however long it stays open. Checked: counting only requests (not attached
/// streams) as activity in `refresh_session_idle` closes the session at 10 minutes.
#[test]
fn leak_idle_timer_reaps_a_session_with_an_open_get_stream() {
    let mut h = Harness::default();
    let (wire_id, _) = h.initialize();
    let get = get_stream(&mut h, &wire_id);
    h.advance(3 * 600_000);
    assert_eq!(h.engine.stats().sessions, 1);
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::SessionClosed { .. }))
    );
    // Once the stream goes, idleness starts counting.
    h.engine.handle_closed(h.now, get);
    h.pump();
    assert_quiescent(&mut h);
}
