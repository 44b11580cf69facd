//! mcpwire's client through a server that is killed (SIGKILL) and started again on the same
//! address mid-run: 1,000 calls, every one ended, the lost session noticed and replaced, and
//! afterwards no pending request, no task beyond one per open connection, and the client
//! process back to its descriptors of before.

mod common;

use std::time::Duration;

use common::Server;
use mcpwire_smol::client::{Client, EraChoice};
use serde_json::json;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

#[test]
fn a_thousand_calls_through_a_killed_and_restarted_server_leave_nothing() {
    let mut server = Server::start(&[]);
    let addr = server.addr.to_string();
    let url = format!("http://{addr}/mcp");
    let connect = || {
        Client::builder(&url)
            .unwrap()
            .era(EraChoice::Sessions)
            .reconnect_timeout(Duration::from_secs(30))
            .connect()
    };
    // The reactor's own descriptors exist once smol has run at all.
    smol::block_on(async { connect().await.unwrap().close().await });
    let before = open_descriptors();
    smol::block_on(async {
        let client = connect().await.unwrap();
        let (mut answered, mut failed) = (0, 0);
        for i in 0..1_000 {
            if i == 500 {
                server.signal("KILL");
                server.wait_exit(Duration::from_secs(10)).expect("killed");
                server = Server::start(&["--bind", &addr]);
            }
            let echoed = format!("call {i}");
            match client.call_tool("echo", json!({ "text": echoed })).await {
                Ok(result) => {
                    assert_eq!(result["content"][0]["text"], echoed);
                    answered += 1;
                }
                Err(_) => failed += 1,
            }
        }
        eprintln!("{answered} calls answered, {failed} failed across the restart");
        assert_eq!(answered + failed, 1_000);
        assert!(answered >= 990, "{answered} answered, {failed} failed");
        let stats = client.stats().await.unwrap();
        assert_eq!(
            (stats.calls, stats.server_requests, stats.posts),
            (0, 0, 0),
            "{stats}"
        );
        assert!(
            stats.sessions_lost_total >= 1,
            "the restart was noticed: {stats}"
        );
        let tasks = client.tasks().await.unwrap();
        assert_eq!(
            tasks as u64, stats.connections,
            "one task per open connection"
        );
        client.close().await;
    });
    assert_eq!(
        open_descriptors(),
        before,
        "the client's descriptors are all closed"
    );
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(10));
}
