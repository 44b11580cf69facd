//! Two mcpwire servers sharing a real `redis-server` (started here on a free port): a broadcast
//! on one node reaches the other's sessions exactly once and its own once; Redis killed and
//! started again mid-run: local delivery goes on, the gauge says the bus is down, both nodes
//! reconnect and deliver again, and every task count returns to its baseline.
//!
//! Needs `redis-server` on the PATH. Without it the tests say so and pass, unless
//! `MCPWIRE_REQUIRE_REDIS` is set (CI sets it), when they fail.

#[path = "../../smol/tests/common/mod.rs"]
mod common;
mod support {
    pub mod redis_server;
}

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Conn, InProcess, Session};
use mcpwire_redis::RedisBus;
use mcpwire_smol::{App, Server};
use support::redis_server::Redis;

fn node(redis: &Redis, tag: &str) -> InProcess {
    let bus = RedisBus::new(&redis.url())
        .unwrap()
        .max_backoff(Duration::from_millis(300))
        .heartbeat(Duration::from_millis(500));
    let tag = tag.to_string();
    InProcess::serve_server(
        Server::new(App::builder("node", "1").build())
            .configure(move |config| config.session_id_prefix = tag)
            .bus(bus),
    )
}

fn bus_stats(node: &InProcess) -> mcpwire_smol::bus::BusStats {
    smol::block_on(node.handle.stats()).unwrap().bus.unwrap()
}

/// Waits (at most [`common::PATIENCE`]) until `done` holds for the node's bus.
fn wait_for(node: &InProcess, what: &str, done: impl Fn(&mcpwire_smol::bus::BusStats) -> bool) {
    let deadline = Instant::now() + common::PATIENCE;
    loop {
        let stats = bus_stats(node);
        if done(&stats) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The notifications on a GET stream until `fence` arrives, but for those made while Redis
/// was away (`notifications/outage/*`), which reach the other node or not, as pub/sub gives
/// them: the publisher may send them before the other node has subscribed again.
fn until_fence(get: &mut Conn, fence: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some((_, message)) = get.next_message() {
        let method = message["method"].as_str().unwrap_or_default().to_string();
        if method == fence {
            return seen;
        }
        if !method.starts_with("notifications/outage/") {
            seen.push(method);
        }
    }
    panic!("the stream ended before {fence}: {seen:?}");
}

const TOOLS: &str = "notifications/tools/list_changed";
const FENCE: &str = "notifications/prompts/list_changed";

/// A tools broadcast then the fence, on `node`.
fn announce(node: &InProcess) {
    smol::block_on(async {
        node.handle.tools_list_changed().await.unwrap();
        node.handle.prompts_list_changed().await.unwrap();
    });
}

#[test]
fn a_broadcast_reaches_both_nodes_once_through_a_redis_restart() {
    let Some(redis) = Redis::start() else { return };
    let a = node(&redis, "a-");
    let b = node(&redis, "b-");
    wait_for(&a, "connected", |s| s.connected);
    wait_for(&b, "connected", |s| s.connected);
    let tasks = |node: &InProcess| smol::block_on(node.handle.stats()).unwrap().tasks;
    let baseline = (tasks(&a), tasks(&b));
    let on_a = Session::open(a.addr);
    let on_b = Session::open(b.addr);
    assert!(
        on_a.id.starts_with("a-") && on_b.id.starts_with("b-"),
        "tagged ids"
    );
    let mut get_a = on_a.open_get(None);
    let mut get_b = on_b.open_get(None);

    announce(&a);
    assert_eq!(
        until_fence(&mut get_a, FENCE),
        [TOOLS],
        "once on its own node"
    );
    assert_eq!(
        until_fence(&mut get_b, FENCE),
        [TOOLS],
        "once on the other node"
    );

    // Redis goes away: both nodes notice, and local delivery goes on.
    let port = redis.kill();
    wait_for(&a, "disconnected", |s| !s.connected);
    wait_for(&b, "disconnected", |s| !s.connected);
    let metrics = smol::block_on(a.handle.stats()).unwrap().to_prometheus();
    assert!(metrics.contains("mcpwire_bus_connected 0"), "{metrics}");
    smol::block_on(async {
        let during = "notifications/outage/during";
        b.handle.broadcast::<()>(during, None).await.unwrap();
        b.handle.prompts_list_changed().await.unwrap();
    });
    let mut local = Vec::new();
    while let Some((_, message)) = get_b.next_message() {
        match message["method"].as_str().unwrap_or_default() {
            FENCE => break,
            method => local.push(method.to_string()),
        }
    }
    assert_eq!(
        local,
        ["notifications/outage/during"],
        "local delivery goes on"
    );

    // Redis is back on the same port: both reconnect and deliver again.
    let redis = Redis::start_on(port).expect("restarted");
    wait_for(&a, "reconnected", |s| s.connected && s.reconnects >= 2);
    wait_for(&b, "reconnected", |s| s.connected && s.reconnects >= 2);
    // b's publications made while away may or may not reach a (pub/sub: a may subscribe
    // again after b has published them); a's own, after both are back, reach both once.
    smol::block_on(async {
        a.handle.tools_list_changed().await.unwrap();
        a.handle.resources_list_changed().await.unwrap();
    });
    const AFTER: &str = "notifications/resources/list_changed";
    let seen_on_a: Vec<String> = until_fence(&mut get_a, AFTER)
        .into_iter()
        .filter(|m| m != FENCE)
        .collect();
    assert_eq!(seen_on_a, [TOOLS]);
    assert_eq!(
        until_fence(&mut get_b, AFTER),
        [TOOLS],
        "delivered again after the restart"
    );
    // Counted once Redis has answered the PUBLISH, which may come after the delivery.
    wait_for(&a, "published all", |s| s.published == 4);
    let (sa, sb) = (bus_stats(&a), bus_stats(&b));
    assert_eq!(sb.received, 4, "a's four publications, each once: {sb:?}");
    assert!(sa.received <= 2, "at most b's two, never a's own: {sa:?}");
    assert_eq!(
        (sa.queued, sa.queued_bytes, sb.queued, sb.queued_bytes),
        (0, 0, 0, 0)
    );
    assert_eq!(
        (tasks(&a), tasks(&b)),
        baseline,
        "no task left by the reconnects"
    );
    drop((get_a, get_b));
    a.stop();
    b.stop();
    drop(redis);
}

/// Publishes `payload` on the `mcpwire` channel through a socket of the test's own (as any
/// client of the same Redis could), once Redis has answered.
fn publish_raw(redis: &Redis, payload: &[u8]) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    let mut command = format!(
        "*3\r\n$7\r\nPUBLISH\r\n$7\r\nmcpwire\r\n${}\r\n",
        payload.len()
    )
    .into_bytes();
    command.extend_from_slice(payload);
    command.extend_from_slice(b"\r\n");
    socket.write_all(&command).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = [0u8; 64];
    let n = socket.read(&mut reply).unwrap();
    assert!(reply[..n].starts_with(b":"), "{:?}", &reply[..n]);
}

/// One 400 KB message on the channel, over the bus's frame limit: each node refuses it and
/// keeps its subscription, so that the 100 broadcasts right after it all arrive. (The frame
/// used to end the subscriber's connection, and every broadcast made during the reconnect's
/// backoff was lost.) A node's own publication over the limit is never sent.
#[test]
fn an_oversized_message_costs_that_message_not_the_subscription() {
    let Some(redis) = Redis::start() else { return };
    let a = node(&redis, "a-");
    let b = node(&redis, "b-");
    wait_for(&a, "connected", |s| s.connected);
    wait_for(&b, "connected", |s| s.connected);

    let mut oversized =
        br#"{"origin":"elsewhere","method":"notifications/big","params":{"pad":""#.to_vec();
    oversized.resize(400_000, b'x');
    oversized.extend_from_slice(br#""}}"#);
    publish_raw(&redis, &oversized);
    smol::block_on(async {
        for i in 0..100 {
            let params = serde_json::json!({ "i": i });
            a.handle
                .broadcast("notifications/numbered", Some(&params))
                .await
                .unwrap();
        }
    });
    wait_for(&b, "received the 100, or reconnected", |s| {
        s.received == 100 || s.reconnects > 0
    });
    let sb = bus_stats(&b);
    assert_eq!(
        (sb.received, sb.refused, sb.reconnects),
        (100, 1, 0),
        "every broadcast after the oversized message arrived, on the same subscription"
    );
    wait_for(&a, "refused the oversized one", |s| s.refused == 1);
    assert_eq!(bus_stats(&a).reconnects, 0);

    // Over the limit at the publisher: delivered here (or not, as the engine decides), never
    // sent to Redis, and counted.
    wait_for(&a, "published the 100", |s| s.published == 100);
    let big = serde_json::json!({ "pad": "x".repeat(mcpwire_smol::bus::MAX_PUBLICATION) });
    smol::block_on(a.handle.broadcast("notifications/big", Some(&big))).unwrap();
    smol::block_on(a.handle.tools_list_changed()).unwrap();
    wait_for(&b, "received the fence", |s| s.received == 101);
    let (sa, sb) = (bus_stats(&a), bus_stats(&b));
    assert_eq!((sa.published, sa.dropped), (101, 1), "{sa:?}");
    assert_eq!((sb.received, sb.refused), (101, 1), "{sb:?}");
    a.stop();
    b.stop();
}

#[test]
fn a_node_serves_without_redis_and_connects_when_it_comes() {
    // A port where nothing listens yet.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let bus = RedisBus::new(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .max_backoff(Duration::from_millis(300));
    let a = InProcess::serve_server(Server::new(App::builder("node", "1").build()).bus(bus));
    let on_a = Session::open(a.addr);
    let mut get_a = on_a.open_get(None);
    announce(&a);
    assert_eq!(
        until_fence(&mut get_a, FENCE),
        [TOOLS],
        "served while Redis is away"
    );
    assert!(!bus_stats(&a).connected);
    let Some(redis) = Redis::start_on(port) else {
        a.stop();
        return;
    };
    wait_for(&a, "connected", |s| s.connected);
    // The publications made while away waited in the bounded queue and went out.
    wait_for(&a, "published", |s| s.published >= 2 && s.queued == 0);
    drop(get_a);
    a.stop();
    drop(redis);
}
