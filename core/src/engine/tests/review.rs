//! Regressions for defects found in review, one test each.

use alloc::vec::Vec;

use super::harness::{Harness, INIT};
use super::raw;
use crate::engine::{CancelReason, CloseReason, Config, Event, Heartbeat, Reply};
use crate::time::Duration;

fn closes(h: &Harness) -> Vec<CloseReason> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::SessionClosed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn deleting_a_session_with_a_ping_outstanding_is_not_a_heartbeat_failure() {
    let mut config = Config::new("t", "1");
    config.timeouts.heartbeat = Some(Heartbeat {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        max_failures: 1,
    });
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let _get = h.open_get(&id);
    h.advance(10_000);
    let delete = h.connect();
    h.send(
        delete,
        &Harness::request("DELETE", "/mcp", &[("Mcp-Session-Id", &id)], ""),
    );
    assert_eq!(closes(&h), [CloseReason::Deleted]);
    assert_eq!(h.engine.counters().heartbeat_failures, 0);
}

#[test]
fn requests_in_flight_at_the_grace_deadline_get_their_error_before_the_close() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let conn = h.connect();
    h.send(
        conn,
        &Harness::post_wire(
            Some(&id),
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call"}"#,
        ),
    );
    h.engine.begin_shutdown(h.now, Duration::from_secs(5));
    h.pump();
    h.advance(5_000);
    let response = h.peek_response(conn).expect("an answer, not a bare close");
    assert!(response.complete);
    assert_eq!(response.json()["error"]["message"], "Server shutting down");
    assert!(h.engine.is_drained());
}

#[test]
fn shutdown_keeps_a_legacy_stream_for_its_requests_in_flight() {
    let mut h = Harness::default();
    let (sse, endpoint) = h.open_legacy();
    let post = |h: &mut Harness, body: &str| {
        let conn = h.connect();
        h.send(
            conn,
            &Harness::request(
                "POST",
                &endpoint,
                &[("Content-Type", "application/json")],
                body,
            ),
        );
    };
    post(&mut h, &INIT.replace("2025-11-25", "2024-11-05"));
    post(
        &mut h,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    post(&mut h, r#"{"jsonrpc":"2.0","id":5,"method":"tools/call"}"#);
    let (handle, _) = h.take_request_event();
    h.engine.begin_shutdown(h.now, Duration::from_secs(30));
    h.pump();
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. }))
    );
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    h.pump();
    let messages = h.peek_response(sse).unwrap().sse_messages();
    assert_eq!(
        messages.last().unwrap()["id"],
        5,
        "the answer reached the legacy client"
    );
    h.advance(30_000);
    assert!(h.engine.is_drained());
}

#[test]
fn the_last_response_survives_a_connection_that_dies_before_writing_it() {
    let mut h = Harness::sse_mode();
    let (id, _) = h.initialize();
    let conn = h.connect();
    h.send(
        conn,
        &Harness::post_wire(
            Some(&id),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        ),
    );
    let primed = h.peek_response(conn).unwrap().first_event_id();
    let (handle, _) = h.take_request_event();
    // The socket is already dead: the response is queued but never written.
    h.stalled.push(conn);
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    h.engine.handle_closed(h.now, conn);
    h.pump();
    let resume = h.resume(&id, &primed);
    let replay = h.take_response(resume).unwrap();
    assert_eq!(replay.status, 200);
    assert_eq!(replay.sse_messages()[0]["id"], 1);
}

#[test]
fn a_delivered_stream_does_not_linger() {
    let mut h = Harness::sse_mode();
    let (id, _) = h.initialize();
    let conn = h.connect();
    h.send(
        conn,
        &Harness::post_wire(Some(&id), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
    );
    assert!(h.take_response(conn).unwrap().complete);
    assert_eq!(
        h.engine.stats().streams,
        0,
        "written and acknowledged: nothing to resume"
    );
}

#[test]
fn unread_host_output_does_not_pin_the_deadline_to_now() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let request = crate::http1::Request::builder("GET", "/mcp")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .build()
        .unwrap();
    let exchange = h.engine.handle_request(h.now, request);
    assert!(matches!(
        h.engine.poll_exchange_output(exchange),
        Some(crate::engine::ExchangeOutput::Head { .. })
    ));
    h.pump();
    assert!(
        h.engine.poll_timeout() > Some(h.now),
        "the host reads at its own pace"
    );
    assert!(h.engine.exchanges_with_output().any(|e| e == exchange));
}

#[test]
fn a_tiny_output_limit_ends_a_legacy_stream_without_a_panic() {
    let mut config = Config::new("t", "1");
    config.limits.max_queued_bytes_per_connection = 2;
    let mut h = Harness::new(config);
    let request = crate::http1::Request::builder("GET", "/sse")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .build()
        .unwrap();
    let _ = h.engine.handle_request(h.now, request);
    h.check();
    assert_eq!(h.engine.stats().sessions, 0);
    assert!(h.events.iter().all(|e| !matches!(
        e,
        Event::Cancelled {
            reason: CancelReason::Timeout,
            ..
        }
    )));
}

#[test]
fn zero_intervals_are_clamped_so_time_must_pass() {
    let mut config = Config::new("t", "1");
    config.timeouts.keepalive_interval = Duration::ZERO;
    config.timeouts.heartbeat = Some(Heartbeat {
        interval: Duration::ZERO,
        timeout: Duration::from_secs(1),
        max_failures: 2,
    });
    let mut h = Harness::new(config);
    let (session, _) = h.initialize();
    let _get = h.open_get(&session);
    // Each millisecond fires the timers once; with zero intervals this would never return.
    h.advance(50);
    assert!(h.engine.counters().keepalives_sent <= 51);
    h.check();
}
