//! The byte budget over real sockets: each cap at its limit and one past it, backpressure that
//! lets a fast reader receive everything, and the attack that used to exhaust the server's
//! memory. Every test ends with the server's gauges, tasks and descriptors at their baseline.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Conn, PATIENCE, Server, Session, post, request, result_text};
use serde_json::{Value, json};

fn counter(server: &Server, name: &str) -> u64 {
    server.metrics().get(name).copied().unwrap_or(0)
}

fn held_total(server: &Server) -> u64 {
    server
        .metrics()
        .iter()
        .filter(|(name, _)| name.starts_with("mcpwire_held_bytes{"))
        .map(|(_, value)| value)
        .sum()
}

/// `initialize` whose `clientInfo` and `capabilities` together take exactly `metadata` bytes.
fn initialize_with_metadata(metadata: usize) -> Vec<u8> {
    let capabilities = "{}";
    let fixed = r#"{"name":"","version":"1"}"#.len();
    let name = "n".repeat(metadata - capabilities.len() - fixed);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{capabilities},"clientInfo":{{"name":"{name}","version":"1"}}}}}}"#
    );
    request(
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        &body,
    )
}

/// A call on its own connection, cut with a reset once its SSE head has arrived: the stream
/// stays behind, detached, holding what the tool sent.
fn cut_after_head(session: &mut Session, method: &str, params: Value) {
    let (_, mut conn) = session.start_call(method, params);
    let head = conn.head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    conn.reset();
}

#[test]
fn a_reader_that_keeps_up_receives_a_large_flood_and_a_large_result_whole() {
    let server = Server::start(&[]);
    let baseline = server.baseline();
    let mut session = Session::open(server.addr);
    // Through a small receive window: loopback buffers grow to tens of MiB and the driver
    // writes straight to the socket, so without it the kernel could take the whole flood and
    // the tool would not have to wait for its reader.
    let (_, mut conn) = session.start_call_on(
        Conn::open_small_window(server.addr),
        "tools/call",
        json!({"name": "flood", "arguments": {"count": 20, "size": 1 << 20}}),
    );
    assert_eq!(conn.head().status, 200);
    // And a late start, once the tool has had to wait for its reader (however fast this
    // machine makes it).
    let started = Instant::now();
    while counter(&server, "mcpwire_handler_waits_total") == 0 {
        assert!(
            started.elapsed() < PATIENCE,
            "the tool waits for its reader"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    conn.start_sse();
    let mut logs = 0;
    let result = loop {
        let (_, message) = conn
            .next_message()
            .expect("the stream goes on to its result");
        if message["method"] == "notifications/message" {
            assert_eq!(message["params"]["data"].as_str().unwrap().len(), 1 << 20);
            logs += 1;
        } else {
            break message;
        }
    };
    assert_eq!(logs, 20, "every message, none cut");
    assert_eq!(result_text(&result), "sent 20 messages");
    let generated = session.call(
        "tools/call",
        json!({"name": "generate", "arguments": {"bytes": 6_000_000}}),
    );
    assert_eq!(result_text(&generated[0]).len(), 6_000_000);
    assert_eq!(
        counter(&server, "mcpwire_slow_readers_disconnected_total"),
        0
    );
    drop(conn);
    assert_eq!(session.delete(), 200);
    server.wait_for_baseline(&baseline, PATIENCE);
}

#[test]
fn a_result_past_the_message_limit_is_an_error_on_its_stream_not_a_bare_close() {
    let server = Server::start(&[]);
    let baseline = server.baseline();
    let mut session = Session::open(server.addr);
    let messages = session.call(
        "tools/call",
        json!({"name": "generate", "arguments": {"bytes": 17 << 20}}),
    );
    let error = &messages.last().unwrap()["error"];
    assert_eq!(error["code"], -32603, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("over the message limit"),
        "{error}"
    );
    assert_eq!(counter(&server, "mcpwire_responses_too_large_total"), 1);
    // Well within it, the whole result.
    let messages = session.call(
        "tools/call",
        json!({"name": "generate", "arguments": {"bytes": (16 << 20) - 4096}}),
    );
    assert_eq!(result_text(&messages[0]).len(), (16 << 20) - 4096);
    assert_eq!(session.delete(), 200);
    server.wait_for_baseline(&baseline, PATIENCE);
}

/// Results around the largest message a small budget allows (its output pool plus a
/// connection's even part): each is answered, whole or with an error, and the server goes on
/// answering. A message the room check could never fit once made the server spin.
#[test]
fn results_around_the_largest_a_budget_allows_are_answered() {
    let server = Server::start(&["--max-held-bytes", "64MiB", "--max-connections", "16"]);
    let baseline = server.baseline();
    let mut session = Session::open(server.addr);
    let largest = (8usize << 20) + (256 << 10);
    let (mut whole, mut refused) = (0, 0);
    for bytes in [largest - 200_000, largest - 100, largest - 40, largest + 1] {
        let messages = session.call(
            "tools/call",
            json!({"name": "generate", "arguments": {"bytes": bytes}}),
        );
        let last = messages.last().unwrap();
        if last.get("error").is_some() {
            assert_eq!(last["error"]["code"], -32603, "{last}");
            refused += 1;
        } else {
            assert_eq!(result_text(last).len(), bytes);
            whole += 1;
        }
        assert_eq!(
            server.metrics()["mcpwire_slow_readers_disconnected_total"],
            0
        );
    }
    assert!(
        whole >= 1 && refused >= 1,
        "{whole} whole, {refused} refused"
    );
    assert_eq!(session.delete(), 200);
    server.wait_for_baseline(&baseline, PATIENCE);
}

#[test]
fn a_session_keeps_16_detached_streams_and_evicts_the_oldest_past_that() {
    let server = Server::start(&[]);
    let baseline = server.baseline();
    let mut session = Session::open(server.addr);
    let slow =
        || json!({"name": "sleep", "arguments": {"millis": 60_000}, "_meta": {"progressToken": 1}});
    for _ in 0..16 {
        cut_after_head(&mut session, "tools/call", slow());
    }
    let wait_for = |name: &str, value: u64| {
        let deadline = Instant::now() + PATIENCE;
        while server.metrics().get(name).copied().unwrap_or(0) != value {
            assert!(Instant::now() < deadline, "{name} never reached {value}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("mcpwire_streams", 16);
    assert_eq!(
        counter(&server, "mcpwire_detached_streams_evicted_total"),
        0
    );
    cut_after_head(&mut session, "tools/call", slow());
    wait_for("mcpwire_detached_streams_evicted_total", 1);
    wait_for("mcpwire_streams", 16);
    assert_eq!(
        counter(&server, "mcpwire_requests_cancelled_total"),
        1,
        "the evicted stream's request is given up"
    );
    assert_eq!(session.delete(), 200);
    server.wait_for_baseline(&baseline, PATIENCE);
}

#[test]
fn new_work_past_the_sessions_byte_cap_gets_503() {
    let server = Server::start(&["--max-session-bytes", "64KiB"]);
    let baseline = server.baseline();
    let mut session = Session::open(server.addr);
    let note = |pad: usize| json!({"jsonrpc": "2.0", "method": "notifications/x", "params": {"pad": "p".repeat(pad)}});
    // A request may make the session hold three times its size: 18 KiB fits in 64, 22 does not.
    assert_eq!(session.send(&note(18 * 1024)).status, 202);
    let refused = session.send(&note(22 * 1024));
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["error"]["code"], -32000);
    assert_eq!(counter(&server, "mcpwire_budget_refusals_total"), 1);
    assert_eq!(session.call("ping", json!({}))[0]["result"], json!({}));
    assert_eq!(session.delete(), 200);
    server.wait_for_baseline(&baseline, PATIENCE);
}

#[test]
fn client_info_at_the_limit_opens_a_session_and_past_it_gets_400() {
    let server = Server::start(&[]);
    let baseline = server.baseline();
    let answer = |wire: Vec<u8>| {
        let mut conn = Conn::open(server.addr);
        conn.send(&wire);
        conn.response()
    };
    let at = answer(initialize_with_metadata(64 * 1024));
    assert_eq!(at.status, 200);
    let id = at.header("mcp-session-id").unwrap().to_string();
    let past = answer(initialize_with_metadata(64 * 1024 + 1));
    assert_eq!(past.status, 400);
    assert_eq!(past.json()["error"]["code"], -32602);
    assert_eq!(past.json()["id"], 0);
    assert_eq!(server.metrics()["mcpwire_sessions"], 1);
    assert_eq!(
        server.metrics()["mcpwire_held_bytes{kind=\"sessions\"}"],
        1024 + 64 * 1024 + 32,
        "the session's record, its client info kept once, and its id"
    );
    let deleted = answer(request(
        "DELETE",
        "/mcp",
        &[
            ("Mcp-Session-Id", &id),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
        "",
    ));
    assert_eq!(deleted.status, 200);
    server.wait_for_baseline(&baseline, PATIENCE);
}

#[test]
fn subscription_uris_at_the_limit_are_kept_and_past_it_refused() {
    let server = Server::start(&[]);
    let baseline = server.baseline();
    let mut session = Session::open(server.addr);
    let uri = |len: usize| format!("test://{}", "u".repeat(len - "test://".len()));
    let at = session.call("resources/subscribe", json!({"uri": uri(8192)}));
    assert_eq!(at[0]["result"], json!({}));
    let past = session.call("resources/subscribe", json!({"uri": uri(8193)}));
    assert_eq!(past[0]["error"]["code"], -32602);
    assert!(server.metrics()["mcpwire_held_bytes{kind=\"subscriptions\"}"] > 8192);
    assert_eq!(session.delete(), 200);
    server.wait_for_baseline(&baseline, PATIENCE);
}

#[test]
fn connections_from_one_peer_past_its_cap_get_503() {
    let server = Server::start(&["--max-connections-per-peer", "3"]);
    let baseline = server.baseline();
    // The scrape of the baseline is over: these three are all this peer holds.
    let held: Vec<Conn> = (0..3).map(|_| Conn::open(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut refused = Conn::open(server.addr);
    let answer = refused.response();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from this peer")
    );
    assert!(refused.is_closed_by_peer());
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let mut served = Conn::open(server.addr);
    served.send(&post(
        None,
        &json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
    ));
    assert_eq!(
        served.response().status,
        400,
        "served: a request without a session id"
    );
    drop(served);
    server.wait_for_baseline(&baseline, PATIENCE);
}

#[test]
fn a_connection_that_never_sends_is_answered_408_at_the_read_deadline() {
    let server = Server::start(&["--read-timeout", "1"]);
    let baseline = server.baseline();
    let started = Instant::now();
    let mut silent = Conn::open(server.addr);
    let answer = silent.response();
    assert_eq!(answer.status, 408);
    assert_eq!(answer.json()["error"]["code"], -32000);
    assert!(silent.is_closed_by_peer());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "well before the 120 s idle timeout"
    );
    server.wait_for_baseline(&baseline, PATIENCE);
}

/// Under `prlimit --nofile=200`, the cap is sized so that every connection the engine keeps
/// (those past the cap answered 503) has a descriptor: 68 are served, the next gets 503.
#[test]
fn the_connection_cap_is_sized_to_the_descriptor_limit() {
    let server = Server::start_under(&["prlimit", "--nofile=200:200"], &[]);
    let baseline = server.baseline();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains("200")),
        "{limits}"
    );
    // The baseline's scrape connection has gone: 68 of (200 - 64) / 2 are free.
    let held: Vec<Conn> = (0..68).map(|_| Conn::open(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut past = Conn::open(server.addr);
    assert_eq!(past.response().status, 503);
    drop(held);
    drop(past);
    server.wait_for_baseline(&baseline, PATIENCE);
}

/// The raised soft limit: from what the process was given up to its hard limit.
#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let server = Server::start_under(&["prlimit", "--nofile=256:4096"], &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
}

/// The engine's own budget: many sessions each leaving 256 KiB streams behind fill the
/// resume logs' share (2 MiB of an 8 MiB budget); the oldest detached streams go, the total
/// never passes the budget, and another client is served throughout.
#[test]
fn detached_streams_of_many_sessions_stay_within_the_servers_budget() {
    let budget = 8 << 20;
    let server = Server::start(&["--max-held-bytes", "8MiB"]);
    let baseline = server.baseline();
    let mut sessions: Vec<Session> = (0..6).map(|_| Session::open(server.addr)).collect();
    let mut victim = Session::open(server.addr);
    for round in 0..4 {
        for session in &mut sessions {
            cut_after_head(
                session,
                "tools/call",
                json!({"name": "flood", "arguments": {"count": 1, "size": 256 << 10}}),
            );
        }
        assert!(held_total(&server) <= budget, "round {round}");
        assert_eq!(victim.call("ping", json!({}))[0]["result"], json!({}));
    }
    assert!(counter(&server, "mcpwire_detached_streams_evicted_total") > 0);
    assert!(
        server.metrics()["mcpwire_held_bytes{kind=\"detached_streams\"}"] <= budget / 4,
        "within the logs' share"
    );
    for session in sessions.iter().chain([&victim]) {
        assert_eq!(session.delete(), 200);
    }
    server.wait_for_baseline(&baseline, PATIENCE);
}

/// The attack that used to exhaust the server: one client loops a new connection, a call of a
/// tool that sends ~1 MB, the SSE head, a reset, 200 times (or for 90 s at most) across 8
/// sessions, against a server whose address space is capped (the old server aborted after 5 s
/// under this cap). Each session keeps its 16 newest detached streams, so past 128 cuts
/// streams are evicted; the server keeps serving another client throughout, and its held
/// bytes stay within its budget. Bounded by count, not time: a loaded machine makes fewer
/// cuts a second, not a weaker attack.
#[test]
fn a_memory_capped_server_survives_200_cut_streams_and_serves_on() {
    let server = Server::start_under(&["prlimit", "--as=2500000000"], &[]);
    let baseline = server.baseline();
    let addr = server.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sessions: Vec<Session> = (0..8).map(|_| Session::open(addr)).collect();
            let mut cuts = 0u64;
            let started = Instant::now();
            while cuts < 200 && started.elapsed() < Duration::from_secs(90) {
                let session = &mut sessions[cuts as usize % 8];
                cut_after_head(
                    session,
                    "tools/call",
                    json!({"name": "flood", "arguments": {"count": 1, "size": 1_000_000}}),
                );
                cuts += 1;
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            (sessions, cuts)
        })
    };
    let mut victim = Session::open(addr);
    let (mut pings, mut slowest, mut most_held) = (0u64, Duration::ZERO, 0);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let started = Instant::now();
        assert_eq!(victim.call("ping", json!({}))[0]["result"], json!({}));
        slowest = slowest.max(started.elapsed());
        pings += 1;
        if pings % 20 == 0 {
            most_held = most_held.max(held_total(&server));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (sessions, cuts) = attacker.join().expect("the attacker ran");
    println!(
        "{cuts} streams cut; {pings} pings answered, the slowest in {slowest:?}; \
         at most {most_held} bytes held"
    );
    assert!(
        cuts > 8 * 16,
        "the attack ran past what the sessions keep: {cuts}"
    );
    assert!(most_held <= 1 << 30);
    assert!(
        server.metrics()["mcpwire_held_bytes{kind=\"detached_streams\"}"] <= 8 * 16 * 1_100_000,
        "no session past its 16 detached streams"
    );
    assert!(counter(&server, "mcpwire_detached_streams_evicted_total") > 0);
    for session in sessions.iter().chain([&victim]) {
        assert_eq!(session.delete(), 200);
    }
    server.wait_for_baseline(&baseline, PATIENCE);
}

/// A read the engine could not take whole waits as leftover; once the engine has taken it and
/// has room, the connection is read again (its last read got bytes, so no waker of its waits
/// in the reactor: the driver must list it itself).
#[test]
fn a_connection_whose_leftover_was_taken_is_read_again() {
    // Input share 12 KiB: no even part per connection (6 KiB / 8192 holders), a 6 KiB pool.
    let server = Server::start(&["--max-held-bytes", "48KiB", "--max-connections", "4096"]);
    // Two unfinished heads of 4000 bytes fill the input pool (neither reaches the head limit).
    let mut fillers = Vec::new();
    for _ in 0..2 {
        let mut a = std::net::TcpStream::connect(server.addr).unwrap();
        let mut head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ".to_vec();
        let pad = 4000 - head.len();
        head.extend(std::iter::repeat_n(b'a', pad));
        a.write_all(&head).unwrap();
        fillers.push(a);
        std::thread::sleep(Duration::from_millis(200));
    }
    // B arrives with no room: the driver reads one byte (credit 0 clamped to 1), which the
    // engine cannot take; it waits in B's leftover.
    let mut b = std::net::TcpStream::connect(server.addr).unwrap();
    // A request whose answer is small (the metrics no longer fit this server's 6 KiB output
    // pool): any answer at all shows the request was read.
    b.write_all(b"GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The fillers go: the pool empties, B is named readable and offered its leftover byte.
    drop(fillers);
    b.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = [0u8; 12];
    let n = b.read(&mut got).unwrap_or(0);
    assert_eq!(
        &got[..n],
        b"HTTP/1.1 404",
        "B's request was never read past its first byte"
    );
}
