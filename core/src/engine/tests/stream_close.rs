//! `close_request_stream`: the server ends a call's SSE stream mid-call, cleanly, and the client
//! resumes it by GET with `Last-Event-ID`, reading the rest there.

use super::harness::{Harness, INIT};
use alloc::string::ToString;

use super::raw;
use crate::engine::{CancelReason, CommandError, Event, LogLevel, Reply, Target};

#[test]
fn a_closed_stream_ends_cleanly_and_its_rest_arrives_on_the_resumed_stream() {
    let mut h = Harness::default();
    let (session, _) = h.initialize();
    let (conn, handle) = h.call(
        &session,
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}"#,
    );
    // Still JSON mode: closing switches to SSE so that there is a priming event to resume from.
    h.engine.close_request_stream(h.now, handle).unwrap();
    h.pump();
    let closed = h.take_response(conn).expect("the SSE response");
    assert_eq!(closed.status, 200);
    assert_eq!(closed.header("content-type"), Some("text/event-stream"));
    assert!(closed.complete, "ended with the chunked terminator");
    let priming = closed.first_event_id();
    assert!(
        !h.closed.contains(&conn),
        "the connection itself stays usable"
    );

    // Sent while detached: kept for the resumption.
    h.engine
        .send_log(
            h.now,
            Target::Request(handle),
            LogLevel::Info,
            None,
            &raw("\"half\""),
        )
        .unwrap();
    let resumed = h.resume(&session, &priming);
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    h.pump();
    let rest = h.take_response(resumed).expect("the resumed stream");
    assert_eq!(rest.status, 200);
    assert!(rest.complete, "the stream ends after its last response");
    let messages = rest.sse_messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages[1]["id"], 7);
    h.check();
}

#[test]
fn closing_twice_or_after_the_answer_is_harmless() {
    let mut h = Harness::default();
    let (session, _) = h.initialize();
    let (_, handle) = h.call(
        &session,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
    );
    h.engine.close_request_stream(h.now, handle).unwrap();
    // Already detached: nothing more to close.
    h.engine.close_request_stream(h.now, handle).unwrap();
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    assert_eq!(
        h.engine.close_request_stream(h.now, handle),
        Err(CommandError::StaleHandle)
    );
    h.pump();
    // Nobody resumes: the stream lingers for the resume window, then everything is gone.
    let idle = h.engine.config().timeouts.session_idle.as_millis();
    h.advance(idle + 1);
    assert!(h.engine.stats().is_quiescent(), "{}", h.engine.stats());
}

#[test]
fn a_client_that_gets_no_priming_event_cannot_resume() {
    let mut h = Harness::default();
    let old = INIT.replace("2025-11-25", "2025-06-18");
    let response = h.post(None, &old);
    let session = response.header("mcp-session-id").unwrap().to_string();
    let conn = h.connect();
    let mut wire = Harness::post_wire(
        Some(&session),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
    );
    let text = alloc::string::String::from_utf8(wire.clone())
        .unwrap()
        .replace(
            "MCP-Protocol-Version: 2025-11-25",
            "MCP-Protocol-Version: 2025-06-18",
        );
    wire = text.into_bytes();
    h.send(conn, &wire);
    let (handle, _) = h.take_request_event();
    assert_eq!(
        h.engine.close_request_stream(h.now, handle),
        Err(CommandError::NotResumable)
    );
}

#[test]
fn a_peer_that_sends_fin_mid_stream_is_gone_and_its_stream_resumable() {
    let mut h = Harness::default();
    let (session, _) = h.initialize();
    let get = h.open_get(&session);
    let priming = h
        .take_response(get)
        .expect("the stream head")
        .first_event_id();
    h.engine.handle_eof(h.now, get);
    h.pump();
    assert!(
        h.closed.contains(&get),
        "closed at once, not at the next keep-alive"
    );
    assert_eq!(h.engine.stats().streams, 1, "still resumable");
    let resumed = h.resume(&session, &priming);
    assert_eq!(h.take_response(resumed).unwrap().status, 200);
    h.check();
}

/// A session's call whose client sends FIN on its SSE stream: the stream detaches as on a reset
/// (disconnection is not cancellation in this era), and the answer is kept for a resumption.
#[test]
fn a_fin_on_a_calls_stream_detaches_it_as_a_reset_does() {
    let mut h = Harness::sse_mode();
    let (session, _) = h.initialize();
    let (conn, handle) = h.call(
        &session,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}"#,
    );
    let priming = h
        .take_response(conn)
        .expect("the stream's head and priming event")
        .first_event_id();
    h.engine.handle_eof(h.now, conn);
    h.pump();
    assert!(h.closed.contains(&conn), "closed at once");
    assert!(
        h.events
            .iter()
            .all(|e| !matches!(e, Event::Cancelled { .. })),
        "not cancelled: {:?}",
        h.events
    );
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    let resumed = h.resume(&session, &priming);
    let rest = h.take_response(resumed).expect("the resumed stream");
    assert_eq!(rest.sse_messages()[0]["id"], 3);
    h.check();
}

/// The same in JSON mode, where nothing of the answer was sent: the connection goes at once,
/// as on a reset, and the request is told it cannot be answered.
#[test]
fn a_fin_before_the_first_byte_ends_a_json_call_as_a_reset_does() {
    let mut h = Harness::default();
    let (session, _) = h.initialize();
    let (conn, handle) = h.call(
        &session,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}"#,
    );
    h.engine.handle_eof(h.now, conn);
    h.pump();
    assert!(h.closed.contains(&conn), "closed at once");
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Cancelled { handle: c, reason: CancelReason::Undeliverable } if *c == handle
    )));
    assert_eq!(h.engine.stats().inflight_requests, 0);
    h.check();
}

/// A request the engine answered itself is written before the connection closes, FIN or not.
#[test]
fn a_half_closed_peer_still_gets_an_answer_already_made() {
    let mut h = Harness::default();
    let conn = h.connect();
    h.send(conn, &Harness::post_wire(None, INIT));
    h.engine.handle_eof(h.now, conn);
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    assert!(h.closed.contains(&conn), "closed once written");
    h.check();
}
