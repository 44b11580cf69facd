//! Pipes (stdio): both eras on one byte stream of lines, the opening rule, cross-era refusals,
//! the message size limit, malformed input, read backpressure, and how a pipe ends.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Value, json};

use super::harness::{Harness, INIT};
use super::raw;
use crate::engine::{CancelReason, Config, ConnId, Event, Reply};
use crate::time::Duration;

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

fn modern(id: u64, method: &str, extra: &str) -> String {
    let comma = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{META}{comma}{extra}}}}}"#
    )
}

const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

struct Pipe {
    h: Harness,
    conn: ConnId,
    /// The start of a line the host has not received whole yet.
    partial: Vec<u8>,
}

impl Pipe {
    fn with(config: Config) -> Pipe {
        let mut h = Harness::new(config);
        let conn = h.engine.open_pipe(h.now);
        h.out.insert(conn, Vec::new());
        h.pump();
        Pipe {
            h,
            conn,
            partial: Vec::new(),
        }
    }

    fn new() -> Pipe {
        let mut config = Config::new("test-server", "0.1.0");
        config.capabilities = r#"{"tools":{"listChanged":true},"logging":{}}"#.into();
        Pipe::with(config)
    }

    /// Writes bytes as a host does; returns how many the engine took.
    fn write(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        while taken < bytes.len() {
            let n = self
                .h
                .engine
                .handle_bytes(self.h.now, self.conn, &bytes[taken..]);
            self.h.pump();
            if n == 0 {
                break;
            }
            taken += n;
        }
        taken
    }

    fn line(&mut self, json: &str) {
        let mut bytes = Vec::from(json.as_bytes());
        bytes.push(b'\n');
        assert_eq!(self.write(&bytes), bytes.len(), "the line was taken whole");
    }

    /// Every line written to the host since the last call, as JSON.
    fn read(&mut self) -> Vec<Value> {
        let mut out = core::mem::take(&mut self.partial);
        out.extend(core::mem::take(self.h.out.get_mut(&self.conn).unwrap()));
        let whole = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.partial = out.split_off(whole);
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice(l)
                    .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(l)))
            })
            .collect()
    }

    fn take_request(&mut self) -> (crate::engine::RequestHandle, String) {
        self.h.take_request_event()
    }

    fn initialize(&mut self) {
        self.line(INIT);
        let answer = self.read();
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0]["result"]["protocolVersion"], "2025-11-25");
        self.line(INITIALIZED);
    }

    fn closed(&self) -> bool {
        self.h.closed.contains(&self.conn)
    }
}

#[test]
fn session_era_initialize_then_calls_with_progress_on_the_pipe() {
    let mut p = Pipe::new();
    p.initialize();
    assert_eq!(p.h.engine.stats().sessions, 1);
    p.line(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
    assert_eq!(p.read(), [json!({"jsonrpc":"2.0","id":"p","result":{}})]);
    p.line(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":"t"}}}"#);
    let (handle, method) = p.take_request();
    assert_eq!(method, "tools/call");
    p.h.engine
        .send_progress(p.h.now, handle, 1.0, Some(2.0), Some("half"))
        .unwrap();
    p.h.pump();
    p.h.engine
        .respond(p.h.now, handle, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    p.h.pump();
    let lines = p.read();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["method"], "notifications/progress");
    assert_eq!(lines[0]["params"]["progressToken"], "t");
    assert_eq!(
        lines[1],
        json!({"jsonrpc":"2.0","id":7,"result":{"content":[]}})
    );
    // Broadcasts reach the session on its pipe.
    assert_eq!(
        p.h.engine
            .broadcast(p.h.now, "notifications/tools/list_changed", None),
        1
    );
    p.h.pump();
    assert_eq!(p.read()[0]["method"], "notifications/tools/list_changed");
    // The session lives as long as the pipe, however long it is quiet.
    p.h.advance(3_600_000);
    assert_eq!(p.h.engine.stats().sessions, 1);
    assert!(p.read().is_empty(), "keep-alives are not written to a pipe");
    p.h.engine.handle_closed(p.h.now, p.conn);
    p.h.pump();
    let stats = p.h.engine.stats();
    assert_eq!(
        (stats.connections, stats.sessions, stats.streams),
        (0, 0, 0)
    );
    assert_eq!(stats.held.total(), 0, "{stats}");
}

#[test]
fn modern_era_requests_each_get_a_context_and_cancel_ends_one() {
    let mut p = Pipe::new();
    p.line(&modern(1, "tools/call", r#""name":"a""#));
    p.line(&modern(2, "tools/call", r#""name":"b""#));
    let (first, _) = p.take_request();
    let (second, _) = p.take_request();
    assert_eq!(p.h.engine.stats().stateless_requests, 2);
    p.line(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#);
    let cancelled = p.h.take_events(|e| matches!(e, Event::Cancelled { .. }));
    assert!(
        matches!(&cancelled[..], [Event::Cancelled { handle, reason: CancelReason::StreamClosed }] if *handle == first),
        "{cancelled:?}"
    );
    p.h.engine
        .respond(p.h.now, second, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    p.h.pump();
    let lines = p.read();
    assert_eq!(
        lines.len(),
        1,
        "nothing is sent for the cancelled request: {lines:?}"
    );
    assert_eq!(lines[0]["id"], 2);
    assert_eq!(lines[0]["result"]["resultType"], "complete");
    let stats = p.h.engine.stats();
    assert_eq!(
        (
            stats.sessions,
            stats.stateless_requests,
            stats.inflight_requests
        ),
        (0, 0, 0)
    );
    // The era's own refusals come as lines too.
    p.line(&modern(3, "ping", ""));
    assert_eq!(p.read()[0]["error"]["code"], -32601);
}

#[test]
fn listen_streams_carry_notifications_tagged_with_their_subscription() {
    let mut p = Pipe::new();
    p.line(&modern(
        9,
        "subscriptions/listen",
        r#""notifications":{"toolsListChanged":true}"#,
    ));
    let ack = p.read();
    assert_eq!(ack.len(), 1, "{ack:?}");
    assert_eq!(
        p.h.engine
            .broadcast(p.h.now, "notifications/tools/list_changed", None),
        1
    );
    p.h.pump();
    let lines = p.read();
    assert_eq!(lines[0]["method"], "notifications/tools/list_changed");
    assert_eq!(
        lines[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        9
    );
    // Cancelling the listen ends it.
    p.line(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#);
    assert_eq!(p.h.engine.stats().streams, 0);
}

#[test]
fn discover_first_pins_nothing_and_initialize_then_opens_the_session() {
    let mut p = Pipe::new();
    p.line(&modern(0, "server/discover", ""));
    let discover = p.read();
    assert!(
        discover[0]["result"]["supportedVersions"].is_array(),
        "{discover:?}"
    );
    p.initialize();
    assert_eq!(p.h.engine.stats().sessions, 1);
}

#[test]
fn discover_first_then_a_modern_request_pins_the_modern_era() {
    let mut p = Pipe::new();
    p.line(&modern(0, "server/discover", ""));
    p.read();
    p.line(&modern(1, "tools/list", ""));
    p.take_request();
    p.line(INIT);
    let refusal = p.read();
    assert_eq!(refusal[0]["error"]["code"], -32022, "{refusal:?}");
    assert_eq!(refusal[0]["error"]["data"]["supported"][0], "2026-07-28");
}

#[test]
fn an_initialized_pipe_refuses_enveloped_requests() {
    let mut p = Pipe::new();
    p.initialize();
    p.line(&modern(5, "tools/list", ""));
    let refusal = p.read();
    assert_eq!(refusal[0]["id"], 5);
    assert_eq!(refusal[0]["error"]["code"], -32600);
    assert!(
        p.h.take_events(|e| matches!(e, Event::Request { .. }))
            .is_empty()
    );
}

#[test]
fn a_first_request_of_neither_era_is_refused_and_pins_nothing() {
    let mut p = Pipe::new();
    p.line(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert_eq!(p.read()[0]["error"]["code"], -32600);
    p.initialize();
}

/// `{"jsonrpc":"2.0","id":1,"method":"ping"}` padded with spaces to `len` bytes.
fn padded_ping(len: usize) -> Vec<u8> {
    let mut line = Vec::from(&br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#[..]);
    line.resize(len, b' ');
    line.push(b'\n');
    line
}

#[test]
fn a_line_at_the_limit_is_read_and_one_past_it_is_refused_and_discarded() {
    let mut config = Config::new("test-server", "0.1.0");
    config.limits.http.max_body_bytes = 256;
    let mut p = Pipe::with(config);
    p.initialize();
    assert_eq!(p.write(&padded_ping(256)), 257);
    assert_eq!(p.read(), [json!({"jsonrpc":"2.0","id":1,"result":{}})]);
    // One past: refused with id null, naming the limit; the rest of the line never buffered.
    let mut long = padded_ping(257);
    long.extend_from_slice(&padded_ping(10 + 30));
    assert_eq!(p.write(&long), long.len());
    let lines = p.read();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["id"], Value::Null);
    assert_eq!(lines[0]["error"]["code"], -32600);
    assert!(
        lines[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("256")
    );
    assert_eq!(lines[1]["result"], json!({}), "the next line is served");
    // A long line written in small pieces is refused as soon as it crosses the limit.
    let huge = padded_ping(100_000);
    for chunk in huge.chunks(1000) {
        p.write(chunk);
        assert!(p.h.engine.stats().buffered_bytes <= 257);
    }
    let lines = p.read();
    assert_eq!(lines.len(), 1, "one error for one line");
    assert_eq!(lines[0]["error"]["code"], -32600);
}

#[test]
fn the_line_limit_fits_the_input_share_so_a_long_line_never_stalls_the_pipe() {
    // A small engine: its input share is far below the largest message it may send, and the
    // line limit is lowered to fit it, as the HTTP body limit is.
    let mut config = Config::new("test-server", "0.1.0");
    config.limits.max_held_bytes = 1 << 20;
    let mut p = Pipe::with(config);
    p.initialize();
    let limit = p.h.engine.config.limits.http.max_body_bytes;
    assert!(limit < p.h.engine.config.limits.max_message_bytes);
    assert!(limit < p.h.engine.read_capacity(p.conn));
    assert_eq!(p.write(&padded_ping(limit)), limit + 1);
    // Read whole and judged as a request (here the session's share of this small engine
    // refuses work that large, as it would refuse the same POST).
    let at = p.read();
    assert_eq!(at.len(), 1, "{at:?}");
    assert_eq!(at[0]["id"], 1, "{at:?}");
    // Past the input share, below the message limit: refused, and the pipe reads on.
    let mut long = padded_ping(2 * p.h.engine.read_capacity(p.conn));
    long.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n");
    assert_eq!(p.write(&long), long.len(), "the pipe never stops reading");
    let lines = p.read();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["error"]["code"], -32600);
    assert!(
        lines[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{limit}"))
    );
    assert_eq!(lines[1], json!({"jsonrpc":"2.0","id":2,"result":{}}));
}

#[test]
fn invalid_utf8_and_json_and_a_nesting_bomb_are_parse_errors_with_id_null() {
    let mut p = Pipe::new();
    p.initialize();
    p.write(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xff\xfe\"}\n");
    p.write(b"{not json\n");
    let mut bomb = "[".repeat(100_000);
    bomb.push('\n');
    p.write(bomb.as_bytes());
    let lines = p.read();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        assert_eq!(line["id"], Value::Null);
        assert_eq!(line["error"]["code"], -32700);
    }
    assert!(
        lines[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested")
    );
    p.line(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    assert_eq!(p.read()[0]["id"], 2, "still serving");
}

#[test]
fn a_host_that_does_not_read_stops_the_pipe_reading_and_nothing_grows() {
    let mut p = Pipe::new();
    p.h.stalled.push(p.conn);
    p.initialize();
    let window = p.h.engine.config.limits.stream_window_bytes;
    // Requests the engine answers itself: their answers pile up until the window is full.
    let mut input = Vec::new();
    for id in 0..100_000 {
        input.extend_from_slice(
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#).as_bytes(),
        );
        input.push(b'\n');
    }
    let taken = p.write(&input);
    assert!(taken < input.len() / 4, "reading stopped: took {taken}");
    assert_eq!(p.h.engine.read_capacity(p.conn), 0);
    let stats = p.h.engine.stats();
    let held = stats.queued_bytes as usize;
    assert!(
        held < window + 1024,
        "output held within the window: {held}"
    );
    assert!(stats.buffered_bytes < 1024);
    // The host reads: the pipe reads again, and every request is answered.
    p.h.stalled.clear();
    let mut rest = &input[taken..];
    let mut answered = p.read().len();
    for _ in 0..10_000 {
        let unacked = p.h.unacked.remove(&p.conn).unwrap_or(0);
        if unacked > 0 {
            p.h.engine.handle_written(p.h.now, p.conn, unacked);
            p.h.pump();
        }
        while let Some(conn) = p.h.engine.poll_readable() {
            assert_eq!(conn, p.conn);
        }
        let n = p.write(rest);
        rest = &rest[n..];
        answered += p.read().len();
        if rest.is_empty() && p.h.unacked.is_empty() {
            break;
        }
    }
    assert!(rest.is_empty());
    assert_eq!(
        answered,
        100_000 + 1 - 1,
        "every ping answered (initialize read apart)"
    );
}

#[test]
fn answers_that_find_the_window_full_wait_and_are_told_when_the_host_reads() {
    let mut p = Pipe::new();
    p.initialize();
    p.h.stalled.push(p.conn);
    let big = format!(
        r#"{{"content":[{{"type":"text","text":"{}"}}]}}"#,
        "x".repeat(100_000)
    );
    let mut handles = Vec::new();
    for id in 0..8 {
        p.line(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"big"}}}}"#
        ));
        handles.push(p.take_request().0);
    }
    let mut waiting = Vec::new();
    for handle in handles {
        match p
            .h
            .engine
            .respond(p.h.now, handle, &Reply::Result(raw(&big)))
        {
            Ok(()) => {}
            Err(crate::engine::CommandError::WouldBlock) => waiting.push(handle),
            Err(other) => panic!("{other:?}"),
        }
        p.h.pump();
    }
    assert!(!waiting.is_empty(), "the window filled");
    // The host reads: each waiting answer is told it may go, and goes.
    p.h.stalled.clear();
    let mut answered = p.read().len();
    for _ in 0..100 {
        let unacked = p.h.unacked.remove(&p.conn).unwrap_or(0);
        p.h.engine.handle_written(p.h.now, p.conn, unacked);
        p.h.pump();
        let writable = p.h.take_events(|e| matches!(e, Event::Writable { .. }));
        for event in writable {
            let Event::Writable { handle } = event else {
                unreachable!()
            };
            if p.h
                .engine
                .respond(p.h.now, handle, &Reply::Result(raw(&big)))
                .is_ok()
            {
                waiting.retain(|h| *h != handle);
            }
            p.h.pump();
        }
        answered += p.read().len();
        if waiting.is_empty() && p.h.unacked.is_empty() {
            break;
        }
    }
    assert!(waiting.is_empty(), "every waiting answer was told to retry");
    assert_eq!(answered, 8);
}

#[test]
fn requests_in_flight_at_the_limit_stop_reading_until_one_is_answered() {
    let mut config = Config::new("test-server", "0.1.0");
    config.limits.max_inflight_per_session = 4;
    let mut p = Pipe::with(config);
    let mut input = Vec::new();
    for id in 0..5 {
        input.extend_from_slice(modern(id, "tools/list", "").as_bytes());
        input.push(b'\n');
    }
    let taken = p.write(&input);
    let held = p.h.take_events(|e| matches!(e, Event::Request { .. }));
    assert_eq!(held.len(), 4, "at the limit, reading stops");
    assert!(taken < input.len());
    let Event::Request { handle, .. } = held[0] else {
        unreachable!()
    };
    p.h.engine
        .respond(p.h.now, handle, &Reply::Result(raw(r#"{"tools":[]}"#)))
        .unwrap();
    p.h.pump();
    assert_eq!(p.h.engine.poll_readable(), Some(p.conn));
    assert_eq!(p.write(&input[taken..]), input.len() - taken);
    assert_eq!(
        p.h.take_events(|e| matches!(e, Event::Request { .. }))
            .len(),
        1
    );
}

#[test]
fn eof_answers_what_is_in_flight_then_closes() {
    let mut p = Pipe::new();
    p.initialize();
    p.line(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}"#);
    let (handle, _) = p.take_request();
    // A last line without its newline is still read.
    p.write(br#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
    p.h.engine.handle_eof(p.h.now, p.conn);
    p.h.pump();
    assert_eq!(p.read()[0]["id"], 4);
    assert!(!p.closed(), "a request is in flight");
    p.h.engine
        .respond(p.h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    p.h.pump();
    assert_eq!(p.read()[0]["id"], 3);
    assert!(p.closed());
    let stats = p.h.engine.stats();
    assert_eq!(
        (
            stats.connections,
            stats.sessions,
            stats.streams,
            stats.exchanges
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(stats.held.total(), 0, "{stats}");
}

#[test]
fn eof_on_a_modern_pipe_ends_listens_and_waits_for_calls() {
    let mut p = Pipe::new();
    p.line(&modern(
        1,
        "subscriptions/listen",
        r#""notifications":{"toolsListChanged":true}"#,
    ));
    p.line(&modern(2, "tools/list", ""));
    let (handle, _) = p.take_request();
    p.h.engine.handle_eof(p.h.now, p.conn);
    p.h.pump();
    assert!(!p.closed());
    p.h.engine
        .respond(p.h.now, handle, &Reply::Result(raw(r#"{"tools":[]}"#)))
        .unwrap();
    p.h.pump();
    assert!(p.closed());
    assert_eq!(p.h.engine.stats().held.total(), 0);
}

#[test]
fn a_closed_output_cancels_everything_and_the_engine_returns_to_idle() {
    let mut p = Pipe::new();
    p.line(&modern(1, "tools/call", r#""name":"a""#));
    p.line(&modern(
        2,
        "subscriptions/listen",
        r#""notifications":{"toolsListChanged":true}"#,
    ));
    let (handle, _) = p.take_request();
    p.h.engine.handle_closed(p.h.now, p.conn);
    p.h.pump();
    assert!(
        p.h.events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { handle: h, .. } if *h == handle))
    );
    let stats = p.h.engine.stats();
    assert_eq!(
        (
            stats.connections,
            stats.exchanges,
            stats.sessions,
            stats.streams,
            stats.timers_armed
        ),
        (0, 0, 0, 0, 0),
        "{stats}"
    );
    assert_eq!(stats.held.total(), 0, "{stats}");
    p.h.advance(60_000);
}

#[test]
fn a_pipe_has_no_idle_or_read_deadline() {
    let mut p = Pipe::new();
    p.write(b"{\"jsonrpc\":");
    p.h.advance(24 * 3_600_000);
    assert!(!p.closed());
    p.write(b"\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}\n");
    assert_eq!(p.read()[0]["id"], 1);
    let _ = Duration::from_millis(0);
}

#[test]
fn requests_over_a_pipe_have_no_param_headers_to_check() {
    let mut p = Pipe::new();
    p.line(&modern(
        1,
        "tools/call",
        r#""name":"a","arguments":{"x":1}"#,
    ));
    let (handle, _) = p.take_request();
    assert!(p.h.engine.param_headers(handle).is_empty());
    assert!(!p.h.engine.expects_param_headers(handle));
}

#[test]
fn a_session_pipe_admits_requests_up_to_the_pending_events_limit_and_refuses_one_past_it() {
    let mut config = Config::new("test-server", "0.1.0");
    config.limits.max_pending_events = 3;
    let mut p = Pipe::with(config);
    p.initialize();
    p.h.hold_events = true;
    for id in 1..=3 {
        p.line(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"a"}}}}"#
        ));
    }
    assert!(
        p.read().is_empty(),
        "three requests wait for the application"
    );
    p.line(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"a"}}"#);
    let refusal = p.read();
    assert_eq!(refusal.len(), 1, "{refusal:?}");
    assert_eq!(refusal[0]["id"], 4);
    assert_eq!(refusal[0]["error"]["code"], -32000);
    assert_eq!(p.h.engine.stats().inflight_requests, 3);
}

#[test]
fn client_info_past_the_metadata_limit_is_refused_on_a_pipe_and_at_it_opens_the_session() {
    let limit = 1024;
    let mut config = Config::new("t", "1");
    config.limits.max_client_metadata_bytes = limit;
    let mut p = Pipe::with(config);
    let init = |name_len: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"{}","version":"1"}}}}}}"#,
            "n".repeat(name_len)
        )
    };
    // `{}` and `{"name":"","version":"1"}` around the name.
    let fixed = 2 + r#"{"name":"","version":"1"}"#.len();
    p.line(&init(limit - fixed + 1));
    let past = p.read();
    assert_eq!(past.len(), 1, "{past:?}");
    assert_eq!(past[0]["id"], 0);
    assert_eq!(past[0]["error"]["code"], -32602, "{past:?}");
    assert_eq!(p.h.engine.stats().sessions, 0, "no session kept");
    // The refusal picked no era: an initialize within the limit opens the session.
    p.line(&init(limit - fixed));
    let at = p.read();
    assert_eq!(at[0]["result"]["protocolVersion"], "2025-11-25", "{at:?}");
    assert_eq!(p.h.engine.stats().sessions, 1);
    p.h.engine.check_invariants().unwrap();
}

#[test]
fn a_session_pipe_idle_for_a_day_still_serves_and_writes_nothing_unasked() {
    let mut p = Pipe::new();
    p.initialize();
    p.h.advance(24 * 3_600_000);
    assert!(!p.closed());
    assert_eq!(
        p.read(),
        Vec::<Value>::new(),
        "no keep-alive or heartbeat on a pipe"
    );
    p.line(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
    assert_eq!(p.read(), [json!({"jsonrpc":"2.0","id":9,"result":{}})]);
    assert_eq!(p.h.engine.stats().sessions, 1);
}
