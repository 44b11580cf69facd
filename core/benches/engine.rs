//! Engine cost: calls per second on a tools/call round trip, broadcast cost per recipient at
//! 10,000 open GET streams, and live heap per idle session (counting allocator).
//!
//! `cargo bench -p mcpwire-core --bench engine` prints Markdown for BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant as WallClock;

use mcpwire_core::engine::{Config, ConnAction, ConnId, Engine, Event, Reply};
use mcpwire_core::jsonrpc::RawValue;
use mcpwire_core::time::Instant;

// The simulator's counting allocator, shared by source: a dev-dependency on the simulator would
// make the core depend on a crate that depends on it.
#[path = "../../tests/sim/src/counting.rs"]
mod counting;

#[global_allocator]
static ALLOCATOR: counting::CountingAllocator = counting::CountingAllocator;

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const CALL: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello world"}}}"#;

fn post(session: Option<&str>, body: &str) -> Vec<u8> {
    let mut wire = String::from(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n",
    );
    if let Some(session) = session {
        wire.push_str(&format!(
            "Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n"
        ));
    }
    wire.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    wire.into_bytes()
}

fn get(session: &str) -> Vec<u8> {
    format!(
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nAccept: text/event-stream\r\n\
         Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n"
    )
    .into_bytes()
}

/// Drains every output, acknowledging writes; returns bytes written. Counts engine calls.
fn drain(engine: &mut Engine, buf: &mut Vec<u8>, calls: &mut u64) -> usize {
    let mut written = 0;
    loop {
        buf.clear();
        *calls += 1;
        match engine.poll_transmit(buf) {
            Some(ConnAction::Write { conn, len }) => {
                written += len;
                *calls += 1;
                engine.handle_written(Instant::ZERO, conn, len);
            }
            Some(ConnAction::Close { .. }) => {}
            None => return written,
        }
    }
}

/// Opens a session on a fresh connection; returns its wire id.
fn open_session(engine: &mut Engine, buf: &mut Vec<u8>) -> (String, ConnId) {
    let conn = engine.handle_accept(Instant::ZERO, None).unwrap();
    engine.handle_bytes(Instant::ZERO, conn, &post(None, INIT));
    buf.clear();
    let mut wire_id = String::new();
    while let Some(action) = engine.poll_transmit(buf) {
        if let ConnAction::Write { conn, len } = action {
            engine.handle_written(Instant::ZERO, conn, len);
        }
    }
    let text = String::from_utf8_lossy(buf);
    if let Some(line) = text.lines().find(|l| l.starts_with("mcp-session-id: ")) {
        wire_id = line["mcp-session-id: ".len()..].to_string();
    }
    engine.handle_bytes(Instant::ZERO, conn, &post(Some(&wire_id), INITIALIZED));
    let mut calls = 0;
    drain(engine, buf, &mut calls);
    while engine.poll_event().is_some() {}
    (wire_id, conn)
}

fn config() -> Config {
    let mut config = Config::new("bench", "1");
    config.limits.max_sessions = 100_000;
    config.limits.max_connections = 100_000;
    config
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut buf = Vec::with_capacity(64 * 1024);
    // `MCPWIRE_BENCH=broadcast` runs only that part (for profilers).
    let only = std::env::var("MCPWIRE_BENCH").ok();
    if only.as_deref() == Some("broadcast") {
        // `MCPWIRE_BENCH_STREAMS` sets how many streams (1,000 by default).
        let streams = std::env::var("MCPWIRE_BENCH_STREAMS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000);
        let ns = broadcast_cost(&mut buf, streams, 3);
        println!(
            "broadcast per recipient: {:.0} ns enqueue, {:.0} ns with transmit",
            ns.0, ns.1
        );
        return;
    }

    // 1. tools/call round trips on one keep-alive connection. `MCPWIRE_BENCH=round-trips`
    // runs 20,000 of them only (for profilers), beside `MCPWIRE_BENCH_IDLE` idle sessions.
    let mut engine = Engine::new(config(), Instant::ZERO, [1; 32]);
    let idle: usize = std::env::var("MCPWIRE_BENCH_IDLE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    for _ in 0..idle {
        let (_, conn) = open_session(&mut engine, &mut buf);
        engine.handle_closed(Instant::ZERO, conn);
        while engine.poll_event().is_some() {}
    }
    let (wire_id, conn) = open_session(&mut engine, &mut buf);
    let request = post(Some(&wire_id), CALL);
    let result =
        RawValue::from_string(r#"{"content":[{"type":"text","text":"hello world"}]}"#.into())
            .unwrap();
    let mut calls = 0u64;
    let mut round = |engine: &mut Engine, calls: &mut u64| {
        *calls += 1;
        engine.handle_bytes(Instant::ZERO, conn, &request);
        *calls += 1;
        let Some(Event::Request { handle, .. }) = engine.poll_event() else {
            panic!("a request event")
        };
        *calls += 1;
        engine
            .respond(Instant::ZERO, handle, &Reply::Result(result.clone()))
            .unwrap();
        drain(engine, &mut buf, calls)
    };
    for _ in 0..10_000 {
        round(&mut engine, &mut calls);
    }
    if only.as_deref() == Some("round-trips") {
        let start = WallClock::now();
        for _ in 0..20_000 {
            black_box(round(&mut engine, &mut calls));
        }
        println!(
            "{:.0} ns per round trip beside {idle} idle sessions",
            start.elapsed().as_secs_f64() * 1e9 / 20_000.0
        );
        return;
    }
    let mut samples = Vec::new();
    for _ in 0..7 {
        calls = 0;
        let rounds = 200_000;
        let start = WallClock::now();
        for _ in 0..rounds {
            black_box(round(&mut engine, &mut calls));
        }
        let elapsed = start.elapsed().as_secs_f64();
        samples.push((rounds as f64 / elapsed, calls as f64 / elapsed));
    }
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (round_trips, call_rate) = samples[samples.len() / 2];
    engine.check_invariants().unwrap();

    // 2. Broadcast to 10,000 open GET streams.
    let (enqueue, total) = broadcast_cost(&mut buf, 10_000, 9);

    // 3. Live heap per idle session, without and with an open GET stream.
    let n = 2_000;
    let heap_per_session = |with_stream: bool| {
        let mut engine = Engine::new(config(), Instant::ZERO, [3; 32]);
        let mut buf = Vec::with_capacity(64 * 1024);
        // Warm the engine's maps so their growth is not billed to the first sessions.
        let before = counting::live_heap_bytes();
        for _ in 0..n {
            let (wire_id, conn) = open_session(&mut engine, &mut buf);
            if with_stream {
                engine.handle_bytes(Instant::ZERO, conn, &get(&wire_id));
                let mut c = 0;
                drain(&mut engine, &mut buf, &mut c);
            } else {
                engine.handle_closed(Instant::ZERO, conn);
            }
        }
        while engine.poll_event().is_some() {}
        let after = counting::live_heap_bytes();
        assert_eq!(engine.stats().sessions, n as u64);
        let per = (after - before) as f64 / n as f64;
        drop(engine);
        per
    };
    let idle = heap_per_session(false);
    let streaming = heap_per_session(true);

    println!(
        "Machine: {} cores. Medians of 7 to 9 samples.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| what | figure |");
    println!("| --- | ---: |");
    println!(
        "| tools/call round trips through the engine (parse, event, respond, encode, transmit), one connection | {:.0} /s |",
        round_trips
    );
    println!(
        "| engine calls (handle_bytes, poll_event, respond, poll_transmit, handle_written) | {:.2} M/s |",
        call_rate / 1e6
    );
    println!(
        "| broadcast to 10,000 open GET streams: enqueue, per recipient | {:.0} ns |",
        enqueue
    );
    println!(
        "| broadcast to 10,000 open GET streams: enqueue and hand every byte to the adapter, per recipient | {:.0} ns |",
        total
    );
    println!(
        "| live heap per idle session, no stream ({n} sessions) | {:.0} B |",
        idle
    );
    println!(
        "| live heap per idle session with an open GET stream and its connection ({n} sessions) | {:.0} B |",
        streaming
    );
}

/// Median nanoseconds per recipient of a broadcast to `sessions` open GET streams: enqueueing,
/// and enqueueing plus handing every byte to the adapter.
fn broadcast_cost(buf: &mut Vec<u8>, sessions: usize, samples: usize) -> (f64, f64) {
    let mut engine = Engine::new(config(), Instant::ZERO, [2; 32]);
    for _ in 0..sessions {
        let (wire_id, conn) = open_session(&mut engine, buf);
        engine.handle_bytes(Instant::ZERO, conn, &get(&wire_id));
        let mut c = 0;
        drain(&mut engine, buf, &mut c);
    }
    assert_eq!(engine.stats().streams, sessions as u64);
    let params = RawValue::from_string("{}".into()).unwrap();
    let mut enqueue = Vec::new();
    let mut total = Vec::new();
    for _ in 0..samples {
        let start = WallClock::now();
        let sent = engine.broadcast(
            Instant::ZERO,
            "notifications/tools/list_changed",
            Some(&params),
        );
        let queued = start.elapsed().as_secs_f64();
        let mut c = 0;
        let written = drain(&mut engine, buf, &mut c);
        let drained = start.elapsed().as_secs_f64();
        assert_eq!(sent, sessions);
        assert!(written >= sessions * 60);
        enqueue.push(queued * 1e9 / sessions as f64);
        total.push(drained * 1e9 / sessions as f64);
    }
    enqueue.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    engine.check_invariants().unwrap();
    (enqueue[enqueue.len() / 2], total[total.len() / 2])
}
