//! The byte budget: every cap at its limit and one past it, the order in which the engine gives
//! way when an account is full, and backpressure that lets a reader that keeps up receive
//! everything while a reader that stops is judged by the write deadline alone.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::harness::{Harness, INIT};
use super::raw;
use crate::HeldBytes;
use crate::engine::{CancelReason, CommandError, Config, Event, LogLevel, Reply, Target};

pub(super) fn call(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"t"}}}}"#)
}

fn sse_config() -> Config {
    let mut config = Config::new("t", "1");
    config.response_mode = crate::engine::ResponseMode::Sse;
    config
}

/// A notification POST body of exactly `len` bytes.
fn notification(len: usize) -> String {
    let empty = r#"{"jsonrpc":"2.0","method":"notifications/x","params":{"p":""}}"#;
    assert!(len >= empty.len());
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/x","params":{{"p":"{}"}}}}"#,
        "x".repeat(len - empty.len())
    )
}

/// The longest one-message POST body admitted with `room` bytes to spare.
fn largest_admitted(room: usize) -> usize {
    (room - crate::engine::budget::MESSAGE_BYTES) / 3
}

/// Bytes of session state: what `limits.max_session_bytes` of a lone session and the state
/// share count.
fn state(held: &HeldBytes) -> usize {
    (held.json_responses
        + held.backlogs
        + held.sessions
        + held.subscriptions
        + held.requests
        + held.events) as usize
}

fn held(h: &Harness) -> HeldBytes {
    h.engine.stats().held
}

fn is_writable(handle: crate::engine::RequestHandle) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Writable { handle: w } if *w == handle)
}

/// The size of a log message as the engine sends it: what `max_message_bytes` compares.
pub(super) fn log_message_len(data: &str) -> usize {
    let json = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":{data}}}}}"#
    );
    crate::engine::streams::sse_body(json.as_bytes()).len()
}

#[test]
fn a_reader_that_keeps_up_receives_a_large_flood_and_a_large_result_whole() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, &call(9));
    let line = raw(&format!("\"{}\"", "x".repeat(1 << 20)));
    let (mut sent, mut waits) = (0, 0);
    while sent < 20 {
        match h
            .engine
            .send_log(h.now, Target::Request(handle), LogLevel::Info, None, &line)
        {
            Ok(()) => sent += 1,
            Err(CommandError::WouldBlock) => {
                waits += 1;
                h.pump();
                assert_eq!(
                    h.take_events(is_writable(handle)).len(),
                    1,
                    "told once, when the reader caught up"
                );
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let text = "y".repeat(6 << 20);
    let result = raw(&format!(
        r#"{{"content":[{{"type":"text","text":"{text}"}}]}}"#
    ));
    loop {
        match h
            .engine
            .respond(h.now, handle, &Reply::Result(result.clone()))
        {
            Ok(()) => break,
            Err(CommandError::WouldBlock) => h.pump(),
            Err(other) => panic!("{other:?}"),
        }
    }
    h.pump();
    assert!(waits >= 19, "the producer waited for its reader: {waits}");
    let response = h.take_response(conn).unwrap();
    assert!(response.complete);
    let messages = response.sse_messages();
    assert_eq!(messages.len(), 21);
    for log in &messages[..20] {
        assert_eq!(log["params"]["data"].as_str().unwrap().len(), 1 << 20);
    }
    assert_eq!(
        messages[20]["result"]["content"][0]["text"].as_str(),
        Some(text.as_str())
    );
    assert_eq!(h.engine.counters().slow_readers_disconnected, 0);
    assert!(!h.closed.contains(&conn));
    assert_eq!(h.engine.counters().budget_sheds, 0);
}

/// A paced message larger than `max_queued_bytes_per_connection` is not a slow reader's fault;
/// a keep-alive does not pile on top of pending bytes; only the write deadline, which measures
/// progress, cuts a reader that stopped.
#[test]
fn a_reader_that_stops_is_judged_by_the_write_deadline_not_by_what_it_was_sent() {
    let mut h = Harness::new(sse_config());
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, &call(1));
    h.stalled.push(conn);
    let big = raw(&format!("\"{}\"", "z".repeat(5 << 20)));
    h.engine
        .send_log(h.now, Target::Request(handle), LogLevel::Info, None, &big)
        .unwrap();
    h.pump();
    assert!(!h.closed.contains(&conn));
    assert_eq!(
        h.engine
            .send_log(h.now, Target::Request(handle), LogLevel::Info, None, &big),
        Err(CommandError::WouldBlock)
    );
    h.advance(29_999);
    assert!(
        !h.closed.contains(&conn),
        "a keep-alive came due at 15 s and was not queued"
    );
    assert_eq!(h.engine.counters().keepalives_sent, 0);
    h.advance(1);
    assert!(h.closed.contains(&conn), "no progress for 30 s");
    assert_eq!(h.engine.counters().write_timeouts, 1);
    assert_eq!(h.engine.counters().slow_readers_disconnected, 0);
}

#[test]
fn messages_at_the_message_limit_go_and_past_it_are_refused_or_answered_with_an_error() {
    let limit = 4096;
    let mut config = Config::new("t", "1");
    config.limits.max_message_bytes = limit;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, &call(3));
    let empty = log_message_len("\"\"");
    let at = format!("\"{}\"", "a".repeat(limit - empty));
    assert_eq!(log_message_len(&at), limit);
    let past = format!("\"{}\"", "a".repeat(limit - empty + 1));
    let log = |h: &mut Harness, data: &str| {
        h.engine.send_log(
            h.now,
            Target::Request(handle),
            LogLevel::Info,
            None,
            &raw(data),
        )
    };
    assert_eq!(log(&mut h, &at), Ok(()));
    assert_eq!(log(&mut h, &past), Err(CommandError::TooLarge));
    h.pump();
    // A result: at the limit it is sent, past it the client is told why.
    let result = |n: usize| raw(&format!(r#"{{"t":"{}"}}"#, "r".repeat(n)));
    let envelope = r#"{"jsonrpc":"2.0","id":3,"result":{"t":""}}"#.len();
    let (conn2, handle2) = h.call(&id, &call(4));
    h.engine
        .respond(h.now, handle2, &Reply::Result(result(limit - envelope)))
        .unwrap();
    h.pump();
    let whole = h.take_response(conn2).unwrap();
    assert_eq!(
        whole.json()["result"]["t"].as_str().unwrap().len(),
        limit - envelope
    );
    h.engine
        .respond(h.now, handle, &Reply::Result(result(limit - envelope + 1)))
        .unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    let messages = response.sse_messages();
    let error = &messages.last().unwrap()["error"];
    assert_eq!(error["code"], -32603);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("over the message limit of 4096"),
        "{error}"
    );
    assert_eq!(messages.last().unwrap()["id"], 3);
    assert!(response.complete, "an answer, not a bare close");
    assert_eq!(h.engine.counters().responses_too_large, 1);
}

#[test]
fn a_session_keeps_its_16_newest_detached_streams_and_evicts_finished_ones_first() {
    let mut h = Harness::new(sse_config());
    let (id, _) = h.initialize();
    // The oldest: a request still running when its connection drops.
    let (running_conn, running) = h.call(&id, &call(100));
    let running_event = h.peek_response(running_conn).unwrap().first_event_id();
    h.engine.handle_closed(h.now, running_conn);
    h.pump();
    assert_eq!(
        h.take_events(|e| matches!(e, Event::StreamDetached { handle } if *handle == running))
            .len(),
        1,
        "its handler is told the stream lost its connection"
    );
    // Then 16 finished ones, each dropped before its client read the end.
    let mut finished = Vec::new();
    for n in 0..16 {
        let (conn, handle) = h.call(&id, &call(n));
        h.stalled.push(conn);
        h.engine
            .respond(h.now, handle, &Reply::Result(raw("{}")))
            .unwrap();
        h.pump();
        finished.push(h.peek_response(conn).unwrap().first_event_id());
        h.engine.handle_closed(h.now, conn);
        h.pump();
        let evicted = h.engine.counters().detached_streams_evicted;
        assert_eq!(evicted, u64::from(n == 15), "after {} detached", n + 2);
    }
    assert_eq!(h.engine.stats().streams, 16);
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. })),
        "the running request is not the one given up"
    );
    let gone = h.resume(&id, &finished[0]);
    assert_eq!(
        h.take_response(gone).unwrap().status,
        400,
        "an evicted stream is answered as an unknown one"
    );
    let kept = h.resume(&id, &finished[1]);
    assert_eq!(h.take_response(kept).unwrap().status, 200);
    let resumed = h.resume(&id, &running_event);
    assert_eq!(h.peek_response(resumed).unwrap().status, 200);
    assert_eq!(
        h.take_events(|e| matches!(e, Event::StreamResumed { handle } if *handle == running))
            .len(),
        1
    );
}

#[test]
fn a_session_at_its_byte_cap_gives_up_its_detached_streams_then_refuses_new_work() {
    let cap = 8 * 1024;
    let mut config = sse_config();
    config.limits.max_session_bytes = cap;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let metadata = held(&h).sessions as usize;
    assert_eq!(state(&held(&h)), metadata, "nothing else is held yet");
    // A detached stream whose log holds its result.
    let (conn, handle) = h.call(&id, &call(1));
    h.stalled.push(conn);
    h.engine
        .respond(
            h.now,
            handle,
            &Reply::Result(raw(r#"{"pad":"0123456789"}"#)),
        )
        .unwrap();
    h.pump();
    h.engine.handle_closed(h.now, conn);
    h.pump();
    assert!(held(&h).detached_streams > 0);
    // New work of exactly what is left once the detached stream is gone (and a stream it may
    // open): admitted, and the detached stream is what made room.
    let room = cap - metadata - crate::engine::budget::STREAM_BYTES;
    let largest = largest_admitted(room);
    assert_eq!(h.post(Some(&id), &notification(largest)).status, 202);
    assert_eq!(h.engine.counters().detached_streams_evicted, 1);
    assert_eq!(held(&h).detached_streams, 0);
    // One byte more has nothing left to give up.
    let refused = h.post(Some(&id), &notification(largest + 1));
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, Some("1"))
    );
    assert_eq!(refused.json()["error"]["code"], -32000);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the session holds too much"),
        "{}",
        refused.json()
    );
    assert_eq!(h.engine.counters().budget_refusals, 1);
    assert_eq!(h.engine.counters().budget_sheds, 0);
}

#[test]
fn work_past_the_state_share_is_refused_as_the_servers_not_the_sessions() {
    // A session cap far above the state share: what refuses is the server's share.
    let mut config = sse_config();
    config.limits.max_held_bytes = 4 << 20;
    config.limits.max_session_bytes = 16 << 20;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    // A notification holds about three times its body while it is delivered: 400 KB of
    // body is past the 1 MiB state share, within the session's cap and the body limit.
    let refused = h.post(Some(&id), &notification(400_000));
    assert_eq!(refused.status, 503);
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("the server holds too much"), "{message}");
    // One that fits is taken.
    assert_eq!(h.post(Some(&id), &notification(200)).status, 202);
}

#[test]
fn the_engines_resume_logs_evict_the_oldest_detached_stream_whoever_holds_it() {
    let mut config = sse_config();
    // A 64 KiB share for resume logs.
    config.limits.max_held_bytes = 4 * 64 * 1024;
    let mut h = Harness::new(config);
    let (alice, _) = h.initialize();
    let (bob, _) = h.initialize();
    let pad = raw(&format!(r#"{{"pad":"{}"}}"#, "p".repeat(20 * 1024)));
    let mut events = Vec::new();
    for (n, session) in [&alice, &bob, &alice, &bob].into_iter().enumerate() {
        let (conn, handle) = h.call(session, &call(n as u64));
        h.stalled.push(conn);
        h.engine
            .respond(h.now, handle, &Reply::Result(pad.clone()))
            .unwrap();
        h.pump();
        events.push((
            session.clone(),
            h.peek_response(conn).unwrap().first_event_id(),
        ));
        h.engine.handle_closed(h.now, conn);
        h.pump();
    }
    assert_eq!(h.engine.counters().detached_streams_evicted, 1);
    assert!(held(&h).resume_logs + held(&h).detached_streams <= 64 * 1024);
    let (session, first) = &events[0];
    let gone = h.resume(session, first);
    assert_eq!(
        h.take_response(gone).unwrap().status,
        400,
        "the oldest went"
    );
    for (session, event) in &events[1..] {
        let kept = h.resume(session, event);
        assert_eq!(h.take_response(kept).unwrap().status, 200);
    }
}

#[test]
fn client_info_at_the_metadata_limit_opens_a_session_and_past_it_is_refused() {
    let limit = 1024;
    let mut config = Config::new("t", "1");
    config.limits.max_client_metadata_bytes = limit;
    let mut h = Harness::new(config);
    let init = |name_len: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"{}","version":"1"}}}}}}"#,
            "n".repeat(name_len)
        )
    };
    // `{}` and `{"name":"","version":"1"}` around the name.
    let fixed = 2 + r#"{"name":"","version":"1"}"#.len();
    let at = h.post(None, &init(limit - fixed));
    assert_eq!(at.status, 200);
    assert_eq!(h.engine.stats().sessions, 1);
    let past = h.post(None, &init(limit - fixed + 1));
    assert_eq!(past.status, 400);
    assert_eq!(past.json()["error"]["code"], -32602);
    assert_eq!(past.json()["id"], 0);
    assert!(
        past.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 1024")
    );
    assert_eq!(h.engine.stats().sessions, 1, "no session for a refusal");
    let session = held(&h).sessions as usize;
    assert_eq!(
        session,
        crate::engine::budget::SESSION_BYTES + limit + 32,
        "the session's record, its client info kept once, and its id"
    );
}

#[test]
fn subscription_uris_at_the_limit_are_kept_and_past_it_are_refused() {
    let mut config = Config::new("t", "1");
    config.limits.max_uri_bytes = 64;
    let mut h = Harness::new(config);
    let (alice, _) = h.initialize();
    let (bob, _) = h.initialize();
    let subscribe = |uri: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{{"uri":"{uri}"}}}}"#
        )
    };
    let at = format!("test://{}", "u".repeat(64 - 7));
    for session in [&alice, &bob] {
        let ok = h.post(Some(session), &subscribe(&at));
        assert!(ok.json()["result"].is_object(), "{:?}", ok.json());
    }
    // Each session is charged the URI and its slots; the URI itself is stored once.
    let cost = crate::engine::budget::subscription_cost(&at) as u64;
    assert_eq!(held(&h).subscriptions, 2 * cost);
    let past = format!("{at}x");
    let refused = h.post(Some(&alice), &subscribe(&past));
    assert_eq!(refused.json()["error"]["code"], -32602);
    assert_eq!(held(&h).subscriptions, 2 * cost);
    let unsubscribe = subscribe(&at).replace("resources/subscribe", "resources/unsubscribe");
    h.post(Some(&alice), &unsubscribe);
    assert_eq!(held(&h).subscriptions, cost);
}

#[test]
fn a_handler_waiting_on_a_detached_streams_full_log_is_cancelled_when_its_window_ends() {
    let mut config = sse_config();
    config.limits.resume_log_bytes = 4096;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, &call(1));
    h.engine.handle_closed(h.now, conn);
    h.pump();
    let data = raw(&format!("\"{}\"", "d".repeat(2500)));
    let log = |h: &mut Harness| {
        h.engine
            .send_log(h.now, Target::Request(handle), LogLevel::Info, None, &data)
    };
    assert_eq!(log(&mut h), Ok(()), "kept for the client to resume");
    assert_eq!(
        log(&mut h),
        Err(CommandError::WouldBlock),
        "no room without dropping what the client has not seen"
    );
    h.advance(59_999);
    assert!(h.take_events(is_writable(handle)).is_empty());
    h.advance(1);
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Cancelled { handle: c, reason: CancelReason::Undeliverable } if *c == handle
    )));
    assert!(h.engine.stats().is_quiescent() || h.engine.stats().sessions == 1);
    assert_eq!(h.engine.stats().inflight_requests, 0);
}

#[test]
fn a_resumed_stream_wakes_the_handler_that_waited_for_it() {
    let mut config = sse_config();
    config.limits.resume_log_bytes = 4096;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, &call(1));
    let priming = h.peek_response(conn).unwrap().first_event_id();
    h.engine.handle_closed(h.now, conn);
    h.pump();
    let data = raw(&format!("\"{}\"", "d".repeat(3000)));
    let log = |h: &mut Harness| {
        h.engine
            .send_log(h.now, Target::Request(handle), LogLevel::Info, None, &data)
    };
    log(&mut h).unwrap();
    assert_eq!(log(&mut h), Err(CommandError::WouldBlock));
    let resumed = h.resume(&id, &priming);
    assert_eq!(h.take_events(is_writable(handle)).len(), 1);
    log(&mut h).unwrap();
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    h.pump();
    let messages = h.take_response(resumed).unwrap().sse_messages();
    assert_eq!(messages.len(), 3, "both logs and the result: {messages:?}");
}

#[test]
fn connections_from_one_peer_are_capped_and_ipv6_counts_by_its_64() {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let mut config = Config::new("t", "1");
    config.limits.max_connections_per_peer = Some(2);
    let mut h = Harness::new(config);
    let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    // Accepted, not yet written to: a refused connection holds its slot until its 503 is out.
    let accept = |h: &mut Harness, peer| h.engine.handle_accept(h.now, Some(peer));
    let served: Vec<_> = (0..2).map(|_| accept(&mut h, v4).unwrap()).collect();
    let refused = accept(&mut h, v4).unwrap();
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
    let refused_too = accept(&mut h, mapped).expect("answered 503, as the third");
    assert_eq!(
        accept(&mut h, v4),
        Err(crate::engine::AcceptRefused),
        "past twice the cap: not accepted at all"
    );
    h.pump();
    for conn in [refused, refused_too] {
        let answer = h.take_response(conn).unwrap();
        assert_eq!(answer.status, 503);
        assert_eq!(answer.header("retry-after"), Some("1"));
        assert!(
            answer.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("from this peer")
        );
        assert!(h.closed.contains(&conn));
    }
    for &conn in &served {
        assert!(
            h.take_response(conn).is_none(),
            "served, waiting for a request"
        );
    }
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let fine = accept(&mut h, other).unwrap();
    h.send(fine, &Harness::post_wire(None, INIT));
    assert_eq!(h.take_response(fine).unwrap().status, 200);
    let net = |last| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
    accept(&mut h, net(1)).unwrap();
    accept(&mut h, net(2)).unwrap();
    let third = accept(&mut h, net(3)).unwrap();
    h.pump();
    assert_eq!(
        h.take_response(third).unwrap().status,
        503,
        "one /64, one peer"
    );
    let elsewhere = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
    let fourth = accept(&mut h, elsewhere).unwrap();
    h.pump();
    assert!(
        h.take_response(fourth).is_none(),
        "another /64 is another peer"
    );
    h.engine.handle_closed(h.now, served[0]);
    let again = accept(&mut h, v4).unwrap();
    h.pump();
    assert!(h.take_response(again).is_none(), "a slot came free");
}

/// The input share: each connection may hold its even part (4 KiB here) whatever the others
/// do, so a small request is served while large partial bodies fill the pool; a connection
/// the pool cannot serve stops being read and is named by `poll_readable` once there is room.
#[test]
fn a_full_input_pool_stops_reading_large_bodies_but_never_a_small_request() {
    let mut config = Config::new("t", "1");
    config.limits.max_connections = 4;
    config.limits.max_held_bytes = 4 * 64 * 1024;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    h.close_all();
    let partial = |h: &mut Harness| {
        let conn = h.connect();
        let mut wire = Harness::post_wire(Some(&id), &" ".repeat(20_000));
        wire.truncate(wire.len() - 5_000);
        let taken = h.engine.handle_bytes(h.now, conn, &wire);
        h.pump();
        (conn, wire.len(), taken)
    };
    let (a, len, taken) = partial(&mut h);
    assert_eq!(taken, len);
    let (_b, len, taken) = partial(&mut h);
    assert_eq!(taken, len);
    let (c, len, taken) = partial(&mut h);
    assert!(
        taken < len,
        "the pool is full: {len} {taken} {:?}",
        held(&h)
    );
    assert_eq!(h.engine.read_capacity(c), 0);
    assert_eq!(h.engine.poll_readable(), None);
    assert!(held(&h).input as usize <= 64 * 1024);
    // A small request fits in its connection's even part.
    let note = r#"{"jsonrpc":"2.0","method":"notifications/x"}"#;
    assert_eq!(h.post(Some(&id), note).status, 202);
    // A client that gives up frees its share of the pool.
    h.engine.handle_closed(h.now, a);
    h.pump();
    assert_eq!(h.engine.poll_readable(), Some(c));
    assert!(h.engine.read_capacity(c) > 0);
    assert_eq!(h.engine.poll_readable(), None, "named once");
}

#[test]
fn requests_in_flight_in_the_whole_engine_are_capped() {
    let mut config = Config::new("t", "1");
    config.limits.max_inflight_total = 2;
    let mut h = Harness::new(config);
    let (alice, _) = h.initialize();
    let (bob, _) = h.initialize();
    h.call(&alice, &call(1));
    h.call(&bob, &call(2));
    let refused = h.post(Some(&alice), &call(3));
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, Some("1"))
    );
    assert_eq!(refused.json()["id"], 3);
    assert_eq!(h.engine.stats().inflight_requests, 2);
}

#[test]
fn request_level_exchanges_are_capped_like_connections() {
    let mut config = Config::new("t", "1");
    config.limits.max_connections = 2;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    // Only request-level exchanges from here on.
    h.close_all();
    let get = || {
        crate::http1::Request::builder("GET", "/mcp")
            .header("host", "127.0.0.1")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &id)
            .build()
            .unwrap()
    };
    let post = |h: &mut Harness| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let request = crate::http1::Request::builder("POST", "/mcp")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &id)
            .body(body)
            .build()
            .unwrap();
        h.engine.handle_request(h.now, request)
    };
    let open = h.engine.handle_request(h.now, get());
    let second = post(&mut h);
    let status = |h: &mut Harness, exchange| match h.engine.poll_exchange_output(exchange) {
        Some(crate::engine::ExchangeOutput::Head { status, .. }) => status,
        other => panic!("{other:?}"),
    };
    assert_eq!(status(&mut h, open), 200);
    assert_eq!(status(&mut h, second), 200, "two at the limit of two");
    while h.engine.poll_exchange_output(second).is_some() {}
    h.engine.handle_exchange_closed(h.now, second);
    let crowded = h.engine.handle_request(h.now, get());
    assert_eq!(
        status(&mut h, crowded),
        409,
        "a second GET stream: past the limit no more"
    );
    while h.engine.poll_exchange_output(crowded).is_some() {}
    let third = post(&mut h);
    assert_eq!(status(&mut h, third), 200);
    let fourth = post(&mut h);
    assert_eq!(
        status(&mut h, fourth),
        503,
        "three are past the limit of two"
    );
    h.check();
}

#[test]
fn the_session_state_share_admits_new_work_up_to_its_last_byte() {
    let share = 64 * 1024;
    let mut config = Config::new("t", "1");
    config.limits.max_held_bytes = 4 * share;
    let mut h = Harness::new(config);
    let max_body = h.engine.config().limits.http.max_body_bytes;
    // Sessions whose client info fills the share, until one request's worth is left.
    let big_init = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"{}","version":"1"}}}}}}"#,
        "n".repeat(7000)
    );
    let mut sessions = Vec::new();
    loop {
        let response = h.post(None, &big_init);
        if response.status == 503 {
            break;
        }
        assert_eq!(response.status, 200);
        sessions.push(response.header("mcp-session-id").unwrap().to_owned());
    }
    let id = &sessions[0];
    let room = share - state(&held(&h));
    let largest = largest_admitted(room);
    assert!(largest < max_body);
    assert_eq!(h.post(Some(id), &notification(largest)).status, 202);
    let refused = h.post(Some(id), &notification(largest + 1));
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, Some("1"))
    );
}

#[test]
fn a_backlog_over_the_session_cap_drops_its_oldest_and_an_attached_log_trims_itself() {
    let cap = 6 * 1024;
    let mut config = Config::new("t", "1");
    config.limits.max_session_bytes = cap;
    let mut h = Harness::new(config);
    let (id, key) = h.initialize();
    let kilobyte = |n: usize| raw(&format!(r#"{{"n":{n},"pad":"{}"}}"#, "k".repeat(1000)));
    for n in 0..10 {
        h.engine
            .notify(h.now, key, "notifications/x", Some(&kilobyte(n)))
            .unwrap();
    }
    h.check();
    assert!(state(&held(&h)) <= cap);
    let dropped = h.engine.counters().backlog_dropped;
    assert!(dropped >= 5, "{dropped}");
    let get = h.open_get(&id);
    let received: Vec<_> = h
        .peek_response(get)
        .unwrap()
        .sse_messages()
        .into_iter()
        .map(|m| m["params"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(
        received.last(),
        Some(&9),
        "the newest are kept: {received:?}"
    );
    // The GET stream's log is a cache of what was sent: it gives way, the messages do not.
    for n in 10..30 {
        h.engine
            .notify(h.now, key, "notifications/x", Some(&kilobyte(n)))
            .unwrap();
        h.pump();
    }
    let all = h.peek_response(get).unwrap().sse_messages();
    assert_eq!(all.last().unwrap()["params"]["n"], 29);
    assert_eq!(all.len(), received.len() + 20);
    assert!((held(&h).resume_logs as usize) < cap);
    assert_eq!(h.engine.counters().budget_sheds, 0);
}
