//! Attacks on the byte budget that once broke it, each kept as the regression test of its fix.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::budget::{call, log_message_len};
use super::harness::Harness;
use super::raw;
use crate::engine::{CommandError, Config, Event, LogLevel, Target};

fn small_config() -> Config {
    let mut config = Config::new("t", "1");
    config.response_mode = crate::engine::ResponseMode::Sse;
    config.limits.max_connections = 4;
    config.limits.max_held_bytes = 4 << 20;
    config
}

/// A POST of `body` for `session` as a 2025-03-26 client sends it: the revision with batches.
fn batch_wire(session: &str, body: &str) -> Vec<u8> {
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("Mcp-Session-Id", session),
        ("MCP-Protocol-Version", "2025-03-26"),
    ];
    Harness::request("POST", "/mcp", &headers, body)
}

/// A message at `max_message()` fits an idle engine: it once asked for its framing on top and
/// waited forever, told `Writable` after every refusal (a busy loop in an adapter).
#[test]
fn a_message_at_the_message_limit_fits_an_idle_engine() {
    let mut h = Harness::new(small_config());
    let (id, _) = h.initialize();
    let (_conn, handle) = h.call(&id, &call(1));
    h.pump();
    let max = h.engine.max_message();
    let empty = log_message_len("\"\"");
    let data = format!("\"{}\"", "a".repeat(max - empty));
    assert_eq!(log_message_len(&data), max);
    assert_eq!(
        h.engine.send_log(
            h.now,
            Target::Request(handle),
            LogLevel::Info,
            None,
            &raw(&data)
        ),
        Ok(())
    );
    let past = format!("\"{}\"", "a".repeat(max - empty + 1));
    assert_eq!(
        h.engine.send_log(
            h.now,
            Target::Request(handle),
            LogLevel::Info,
            None,
            &raw(&past)
        ),
        Err(CommandError::TooLarge)
    );
}

/// A request waiting for the output pool is told `Writable` only once its own message fits: it
/// was once woken whenever the pool fell to three quarters, and spun.
#[test]
fn a_share_waiter_is_woken_only_when_its_message_fits() {
    let mut h = Harness::new(small_config());
    let (id, _) = h.initialize();
    let (slow, slow_handle) = h.call(&id, &call(1));
    let (_fast, handle) = h.call(&id, &call(2));
    h.pump();
    h.stalled.push(slow);
    // The stalled reader takes ~350 KiB (paced, so never cut but by the write deadline).
    let big = raw(&format!("\"{}\"", "z".repeat(350 << 10)));
    h.engine
        .send_log(
            h.now,
            Target::Request(slow_handle),
            LogLevel::Info,
            None,
            &big,
        )
        .unwrap();
    h.pump();
    // Another request's 350 KiB: past its even part, it does not fit the rest of the pool.
    let log = |h: &mut Harness| {
        h.engine
            .send_log(h.now, Target::Request(handle), LogLevel::Info, None, &big)
    };
    assert_eq!(log(&mut h), Err(CommandError::WouldBlock));
    h.pump();
    let writable = |e: &Event| matches!(e, Event::Writable { handle: w } if *w == handle);
    assert!(
        h.take_events(writable).is_empty(),
        "nothing has changed yet"
    );
    // The stalled reader goes: now it fits.
    h.engine.handle_closed(h.now, slow);
    h.pump();
    assert_eq!(h.take_events(writable).len(), 1);
    assert_eq!(log(&mut h), Ok(()));
}

fn host_post(session: &str, body: &str) -> crate::http1::Request {
    crate::http1::Request::builder("POST", "/mcp")
        .header("host", "localhost:8787")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.as_bytes().to_vec())
        .build()
        .unwrap()
}

/// A host draining a request-level exchange frees the output pool: the requests waiting for it
/// are told (`poll_exchange_output` once did not look).
#[test]
fn draining_a_host_exchange_wakes_share_waiters() {
    let mut h = Harness::new(small_config());
    let (id, _) = h.initialize();
    let a = h.engine.handle_request(h.now, host_post(&id, &call(1)));
    h.pump();
    let (ha, _) = h.take_request_event();
    while h.engine.poll_exchange_output(a).is_some() {}
    let (_conn, hb) = h.call(&id, &call(2));
    h.pump();
    let big = raw(&format!("\"{}\"", "z".repeat(450 << 10)));
    h.engine
        .send_log(h.now, Target::Request(ha), LogLevel::Info, None, &big)
        .unwrap();
    h.pump();
    let mid = raw(&format!("\"{}\"", "m".repeat(200 << 10)));
    assert_eq!(
        h.engine
            .send_log(h.now, Target::Request(hb), LogLevel::Info, None, &mid),
        Err(CommandError::WouldBlock)
    );
    h.pump();
    assert!(
        h.take_events(|e| matches!(e, Event::Writable { .. }))
            .is_empty()
    );
    // The host takes everything.
    let mut n = 0;
    while let Some(out) = h.engine.poll_exchange_output(a) {
        n += 1;
        if matches!(out, crate::engine::ExchangeOutput::End) {
            break;
        }
    }
    h.pump();
    assert!(n > 1);
    let woke = h
        .take_events(|e| matches!(e, Event::Writable { handle } if *handle == hb))
        .len();
    assert_eq!(woke, 1, "the pool is empty and the waiter is told");
}

/// A batch of tiny invalid entries: each becomes a ~100-byte error, 50 times its size. It was
/// once admitted for twice the body and held past its session's cap; a POST is now admitted
/// for what each of its messages may hold.
#[test]
fn a_batch_of_invalid_entries_is_admitted_for_its_answers() {
    let mut h = Harness::default();
    let (id, key) = h.initialize();
    let n = 400_000;
    let mut body = String::from("[");
    body.push_str(&call(1));
    for _ in 0..n {
        body.push_str(",1");
    }
    body.push(']');
    let conn = h.connect();
    let wire = batch_wire(&id, &body);
    h.send(conn, &wire);
    assert_eq!(h.take_response(conn).unwrap().status, 503);
    let closed =
        h.take_events(|e| matches!(e, Event::SessionClosed { session, .. } if *session == key));
    assert!(closed.is_empty());
    assert_eq!(h.engine.counters().budget_sheds, 0);
}

/// A batch whose answers take its session past its cap: refused, and every connection settled.
/// (Closing a session over its cap once left the connections it touched unsettled.)
#[test]
fn a_batch_whose_answers_pass_the_session_cap_leaves_nothing_unsettled() {
    let mut config = Config::new("t", "1");
    config.limits.max_session_bytes = 64 << 10;
    let mut h = Harness::new(config);
    let (id, _key) = h.initialize();
    let mut body = String::from("[");
    body.push_str(&call(1));
    for _ in 0..2000 {
        body.push_str(",1");
    }
    body.push(']');
    let conn = h.connect();
    let wire = batch_wire(&id, &body);
    let taken = h.engine.handle_bytes(h.now, conn, &wire);
    assert_eq!(taken, wire.len());
    h.engine.check_invariants().unwrap();
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 503);
}

/// `max_detached_streams_per_session = 0` keeps nothing resumable: the stream that detaches
/// goes at once, its request with it. (It was once kept, over the cap.)
#[test]
fn a_detached_cap_of_zero_keeps_nothing() {
    let mut config = Config::new("t", "1");
    config.response_mode = crate::engine::ResponseMode::Sse;
    config.limits.max_detached_streams_per_session = 0;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, &call(1));
    h.engine.handle_closed(h.now, conn);
    h.pump();
    assert_eq!(h.engine.stats().streams, 0);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { handle: c, .. } if *c == handle))
    );
}

/// Handing bytes to the adapter does not change what a connection is charged (they once counted
/// as unacknowledged and again as the taken part of their segment), so a paced message admitted
/// near the pool's cap never gets its own fast reader cut once written.
#[test]
fn writing_an_admitted_message_never_cuts_its_fast_reader() {
    let mut h = Harness::new(small_config());
    let (id, _) = h.initialize();
    let (a, ha) = h.call(&id, &call(1));
    h.pump();
    let empty = log_message_len("\"\"");
    let body = (512 << 10) + 65536 - 64 - 2048;
    let data = raw(&format!("\"{}\"", "q".repeat(body - empty)));
    h.engine
        .send_log(h.now, Target::Request(ha), LogLevel::Info, None, &data)
        .unwrap();
    h.pump();
    assert!(!h.closed.contains(&a));
    assert_eq!(
        h.engine.counters().slow_readers_disconnected,
        0,
        "a reader that keeps up was cut"
    );
}

/// Events hold what they carry until the application takes them: a request's params even once
/// the request is cancelled, a cancellation's reason. Both are charged (once they were not).
#[test]
fn what_waiting_events_carry_is_charged() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    h.hold_events = true;
    let big = "p".repeat(1 << 20);
    for i in 0..8 {
        let body = format!(
            r#"[{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"t","x":"{big}"}}}},{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{i},"reason":"{big}"}}}}]"#
        );
        let conn = h.connect();
        h.send(conn, &batch_wire(&id, &body));
    }
    let held = h.engine.stats().held;
    let queued: usize = h
        .engine
        .events
        .iter()
        .map(|e| match e {
            Event::Request { params, .. } => params.as_ref().map_or(0, |p| p.get().len()),
            Event::Cancelled {
                reason: crate::engine::CancelReason::ByClient(Some(r)),
                ..
            } => r.len(),
            _ => 0,
        })
        .sum();
    assert!(queued >= 2 << 20, "some were admitted: {queued}");
    assert!(
        held.total() as usize >= queued,
        "{queued} bytes held in events, {} charged",
        held.total()
    );
}

/// A connection named by `poll_readable` whose room another took first (an adapter feeding an
/// earlier one's leftover) is named again once there is room, after the adapter offers it
/// nothing, as `poll_readable` asks (an adapter once left such a reader waiting for ever).
#[test]
fn a_connection_whose_room_was_taken_is_named_again() {
    let mut config = Config::new("t", "1");
    config.limits.max_connections = 16;
    config.limits.max_held_bytes = 4 << 20;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let head = |len: usize| {
        format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {id}\r\nContent-Length: {len}\r\n\r\n").into_bytes()
    };
    let len = 500_000;
    let body = alloc::vec![b' '; len];
    // Announced longer than sent: no request completes (which would free its input).
    let mut wire = head(len + 10_000);
    wire.extend_from_slice(&body);
    let offer = |h: &mut Harness, conn, bytes: &[u8]| -> usize {
        let mut taken = 0;
        loop {
            let cap = h.engine.read_capacity(conn);
            if cap == 0 || taken == bytes.len() {
                return taken;
            }
            let n = h.engine.handle_bytes(h.now, conn, &bytes[taken..]);
            h.pump();
            taken += n;
            if n == 0 {
                return taken;
            }
        }
    };
    let a = h.connect();
    let b = h.connect();
    let c = h.connect();
    let x = h.connect();
    // A takes its even part and 200 KB of the pool.
    let ta = offer(&mut h, a, &wire[..16 * 1024 + 200_000]);
    // B takes the rest of the pool; C and X their even parts. B and C keep leftovers.
    let tb = offer(&mut h, b, &wire);
    let tc = offer(&mut h, c, &wire);
    let tx = offer(&mut h, x, &wire);
    assert!(h.engine.read_capacity(x) == 0);
    let mut leftover: BTreeMap<_, Vec<u8>> = BTreeMap::new();
    leftover.insert(b, wire[tb..].to_vec());
    leftover.insert(c, wire[tc..].to_vec());
    assert!(ta > 0 && tx > 0);
    // A goes: room in the pool; the driver drains poll_readable as it does.
    h.engine.handle_closed(h.now, a);
    h.pump();
    let mut credited = Vec::new();
    while let Some(conn) = h.engine.poll_readable() {
        match leftover.remove(&conn) {
            Some(rest) => {
                let n = h.engine.handle_bytes(h.now, conn, &rest);
                if n < rest.len() {
                    leftover.insert(conn, rest[n..].to_vec());
                }
            }
            None => {
                if h.engine.read_capacity(conn) > 0 {
                    credited.push(conn);
                } else {
                    h.engine.handle_bytes(h.now, conn, &[]);
                }
            }
        }
    }
    h.pump();
    // B and C go too: the pool is empty, X could read its whole body.
    h.engine.handle_closed(h.now, b);
    h.engine.handle_closed(h.now, c);
    h.pump();
    let named_again = core::iter::from_fn(|| h.engine.poll_readable()).any(|conn| conn == x);
    assert!(
        credited.contains(&x) || named_again,
        "X is never told to read again"
    );
}
