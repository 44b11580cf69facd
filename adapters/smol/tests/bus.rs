//! Two servers sharing a bus (an in-process hub here; `mcpwire-redis` over Redis in its own
//! tests): a broadcast or resource update on one node reaches the sessions of both exactly
//! once, a node never delivers its own publication twice, and the bus's counters say so.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use common::{InProcess, Session};
use futures_lite::FutureExt;
use mcpwire_smol::bus::{Bus, BusPort};
use mcpwire_smol::{App, Server};
use serde_json::json;

/// Every node's publications, to every node (its own included, as Redis does).
#[derive(Clone, Default)]
struct Hub {
    nodes: Arc<Mutex<Vec<async_channel::Sender<Vec<u8>>>>>,
}

impl Bus for Hub {
    fn run(self: Box<Self>, port: BusPort) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let (sender, received) = async_channel::unbounded();
        self.nodes.lock().unwrap().push(sender);
        Box::pin(async move {
            port.set_connected(true);
            let publish = async {
                while let Some(publication) = port.next_publication().await {
                    let nodes = self.nodes.lock().unwrap().clone();
                    for node in nodes {
                        let _ = node.try_send(publication.wire().to_vec());
                    }
                    port.count_published();
                }
            };
            let deliver = async {
                while let Ok(wire) = received.recv().await {
                    let _ = port.deliver(&wire).await;
                }
            };
            publish.or(deliver).await;
        })
    }
}

impl Hub {
    /// Hands `wire` to every node, as if a node had published it.
    fn inject(&self, wire: &str) {
        for node in self.nodes.lock().unwrap().iter() {
            node.try_send(wire.as_bytes().to_vec()).unwrap();
        }
    }

    /// Waits until `count` nodes run their bus.
    fn wait_for_nodes(&self, count: usize) {
        let deadline = std::time::Instant::now() + common::PATIENCE;
        while self.nodes.lock().unwrap().len() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "the nodes never ran their bus"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

fn app() -> App {
    App::builder("node", "1")
        .resource(mcpwire_smol::Resource::text(
            "file:///shared",
            "shared",
            "text/plain",
            "v1",
        ))
        .build()
}

/// Notifications on a session's GET stream until `fence` (a method) arrives.
fn until_fence(get: &mut common::Conn, fence: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some((_, message)) = get.next_message() {
        let method = message["method"].as_str().unwrap_or_default().to_string();
        if method == fence {
            return seen;
        }
        seen.push(method);
    }
    panic!("the stream ended before {fence}: {seen:?}");
}

#[test]
fn a_broadcast_on_one_node_reaches_every_nodes_sessions_exactly_once() {
    let hub = Hub::default();
    let a = InProcess::serve_server(Server::new(app()).bus(hub.clone()));
    let b = InProcess::serve_server(Server::new(app()).bus(hub.clone()));
    let on_a = Session::open(a.addr);
    let mut on_b = Session::open(b.addr);
    on_b.call("resources/subscribe", json!({"uri": "file:///shared"}));
    let mut get_a = on_a.open_get(None);
    let mut get_b = on_b.open_get(None);
    smol::block_on(async {
        a.handle.tools_list_changed().await.unwrap();
        a.handle.resource_updated("file:///shared").await.unwrap();
        // The fence: published after, on the same bus, so it arrives after on every node.
        a.handle.prompts_list_changed().await.unwrap();
    });
    let fence = "notifications/prompts/list_changed";
    assert_eq!(
        until_fence(&mut get_a, fence),
        ["notifications/tools/list_changed"],
        "the publishing node delivers once, and ignores its own publication"
    );
    assert_eq!(
        until_fence(&mut get_b, fence),
        [
            "notifications/tools/list_changed",
            "notifications/resources/updated"
        ],
        "the other node delivers once"
    );
    let stats = |node: &InProcess| smol::block_on(node.handle.stats()).unwrap().bus.unwrap();
    let (sa, sb) = (stats(&a), stats(&b));
    assert_eq!((sa.published, sa.received, sa.dropped), (3, 0, 0));
    assert_eq!((sb.published, sb.received, sb.dropped), (0, 3, 0));
    assert!(sa.connected && sb.connected);
    let metrics = smol::block_on(b.handle.stats()).unwrap().to_prometheus();
    assert!(metrics.contains("mcpwire_bus_connected 1"), "{metrics}");
    assert!(
        metrics.contains("mcpwire_bus_received_total 3"),
        "{metrics}"
    );
    drop((get_a, get_b));
    a.stop();
    b.stop();
}

#[test]
fn a_server_without_a_bus_reports_none() {
    let server = InProcess::serve(app());
    let stats = smol::block_on(server.handle.stats()).unwrap();
    assert!(stats.bus.is_none());
    assert!(!stats.to_prometheus().contains("mcpwire_bus_"));
    server.stop();
}

/// Params of `depth` levels: an object holding arrays.
fn nested(depth: usize) -> String {
    format!(
        r#"{{"a":{}{}}}"#,
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

/// A publication with params no client could send the engine (nested 100,000 deep, or past
/// the limit, or not an object) is refused and counted, and reaches no stream; one at the
/// limit is delivered, and a client parses it. A node's own broadcast with such params is
/// never published.
#[test]
fn a_publication_no_client_could_send_reaches_no_stream() {
    use mcpwire_smol::bus::MAX_PARAMS_DEPTH;
    let hub = Hub::default();
    let a = InProcess::serve_server(Server::new(app()).bus(hub.clone()));
    let b = InProcess::serve_server(Server::new(app()).bus(hub.clone()));
    hub.wait_for_nodes(2);
    let on_b = Session::open(b.addr);
    let mut get_b = on_b.open_get(None);
    let wire = |method: &str, params: &str| {
        format!(r#"{{"origin":"elsewhere","method":"{method}","params":{params}}}"#)
    };
    let hostile = [
        nested(100_000),
        nested(MAX_PARAMS_DEPTH + 1),
        "[1]".to_string(),
        r#""text""#.to_string(),
        "3".to_string(),
    ];
    for params in &hostile {
        hub.inject(&wire("notifications/hostile", params));
    }
    hub.inject(&wire("notifications/at_limit", &nested(MAX_PARAMS_DEPTH)));
    smol::block_on(async {
        let past = serde_json::value::RawValue::from_string(nested(MAX_PARAMS_DEPTH + 1)).unwrap();
        a.handle
            .broadcast("notifications/local_past", Some(&past))
            .await
            .unwrap();
        a.handle.prompts_list_changed().await.unwrap();
    });
    assert_eq!(
        until_fence(&mut get_b, "notifications/prompts/list_changed"),
        ["notifications/at_limit"],
        "only the publication at the limit reaches a stream"
    );
    let stats = |node: &InProcess| smol::block_on(node.handle.stats()).unwrap().bus.unwrap();
    let (sa, sb) = (stats(&a), stats(&b));
    assert_eq!(
        (sb.received, sb.refused),
        (2, hostile.len() as u64),
        "{sb:?}"
    );
    assert_eq!(
        (sa.received, sa.refused),
        (1, hostile.len() as u64),
        "{sa:?}"
    );
    assert_eq!(
        (sa.published, sa.dropped),
        (1, 1),
        "the local one is not published: {sa:?}"
    );
    drop(get_b);
    a.stop();
    b.stop();
}
