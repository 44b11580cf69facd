//! Bursts that queue several of the driver's batches of inputs at once: thousands of fresh
//! connections, thousands of handlers answering at the same moment. Every input must be
//! served: afterwards every request was answered, the server's ownership check finds every
//! request it still holds owned, and every gauge is back to zero.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Conn, InProcess, stateless_post};
use mcpwire_smol::{App, Context, Error, NoArgs, Tool, ToolResult};
use serde_json::{Value, json};

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// A 2026-07-28 request, on a connection of its own.
fn stateless(addr: SocketAddr, id: usize, method: &str, name: Option<&str>, params: Value) -> Conn {
    let mut params = params;
    params["_meta"] = meta();
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mut conn = Conn::open(addr);
    conn.send(&stateless_post(method, name, &[], &body));
    conn
}

/// The one message of a response, JSON or SSE.
fn answer(conn: &mut Conn) -> Value {
    let response = conn.response();
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    let mut messages = response.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    messages.remove(0)
}

/// Checks the server's bookkeeping and waits until it holds nothing.
fn assert_owned_then_idle(server: &InProcess) {
    smol::block_on(server.handle.check_invariants())
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = smol::block_on(server.handle.stats()).unwrap();
        assert_eq!(stats.unowned_requests, 0, "{stats:?}");
        assert_eq!(stats.ownerless_tasks, 0, "{stats:?}");
        let e = &stats.engine;
        if e.connections == 0 && e.inflight_requests == 0 && e.exchanges == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not idle: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    smol::block_on(server.handle.check_invariants())
        .unwrap()
        .unwrap();
}

/// 3,200 `tools/list` on fresh connections, all sent before any is read: the listener queues
/// accepted sockets by the batch, and the handlers' replies follow by the batch.
#[test]
fn every_connection_of_a_burst_is_served() {
    const CONNECTIONS: usize = 3200;
    const THREADS: usize = 8;
    let app = App::builder("bursts", "1")
        .tool(Tool::new("noop", |_: NoArgs, _cx: Context| async {
            Ok::<_, Error>(ToolResult::text("ok"))
        }))
        .build();
    // Every connection comes from 127.0.0.1: past the default cap of a quarter of the
    // connections per peer, which this test is not about.
    let server = InProcess::serve_server(
        mcpwire_smol::Server::new(app).configure(|c| c.limits.max_connections_per_peer = None),
    );
    let addr = server.addr;
    // Connected from several threads at once, so that the listener finds many waiting.
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let ids = (t..CONNECTIONS).step_by(THREADS);
                let mut conns: Vec<(usize, Conn)> = ids
                    .map(|id| (id, stateless(addr, id, "tools/list", None, json!({}))))
                    .collect();
                for (id, conn) in &mut conns {
                    let message = answer(conn);
                    assert_eq!(message["id"], *id, "{message}");
                    assert_eq!(message["result"]["tools"][0]["name"], "noop", "{message}");
                }
            })
        })
        .collect();
    // Meanwhile the server's own check: a lost input fails here at once, not when its client
    // gives up.
    while !threads.iter().all(std::thread::JoinHandle::is_finished) {
        smol::block_on(server.handle.check_invariants())
            .unwrap()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    assert_owned_then_idle(&server);
    server.stop();
}

/// 1,000 calls whose handlers all answer at the same moment: their replies queue several
/// batches deep.
#[test]
fn every_reply_of_a_burst_is_served() {
    const CALLS: usize = 1000;
    let (gate, opened) = async_channel::unbounded::<()>();
    let app = App::builder("bursts", "1")
        .tool(Tool::new("gated", move |_: NoArgs, _cx: Context| {
            let opened = opened.clone();
            async move {
                // Closed, not sent to: every waiting handler wakes at once.
                let _ = opened.recv().await;
                Ok::<_, Error>(ToolResult::text("through"))
            }
        }))
        .build();
    let server = InProcess::serve(app);
    let mut conns: Vec<Conn> = (0..CALLS)
        .map(|id| {
            stateless(
                server.addr,
                id,
                "tools/call",
                Some("gated"),
                json!({"name": "gated", "arguments": {}}),
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = smol::block_on(server.handle.stats()).unwrap();
        if stats.engine.inflight_requests == CALLS as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "not all in flight: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    smol::block_on(server.handle.check_invariants())
        .unwrap()
        .unwrap();
    gate.close();
    // Every reply is served, or the check says which input was lost.
    loop {
        smol::block_on(server.handle.check_invariants())
            .unwrap()
            .unwrap();
        let stats = smol::block_on(server.handle.stats()).unwrap();
        if stats.engine.inflight_requests == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still in flight: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (id, conn) in conns.iter_mut().enumerate() {
        let message = answer(conn);
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(
            message["result"]["content"][0]["text"], "through",
            "{message}"
        );
    }
    drop(conns);
    assert_owned_then_idle(&server);
    server.stop();
}
