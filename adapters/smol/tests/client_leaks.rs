//! 1,000 calls of mcpwire's smol client through a server restart, over real sockets, with
//! nothing left behind: alone in its test binary, so that the descriptors counted are its own.

mod common;

use common::InProcess;
use mcpwire_smol::client::{Client, EraChoice};
use mcpwire_smol::{App, Context, Error, Tool, ToolResult};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

fn app() -> App {
    App::builder("client-test", "1")
        .tool(
            Tool::new("add", |args: Add, _cx: Context| async move {
                Ok::<_, Error>(ToolResult::text((args.a + args.b).to_string()))
            })
            .description("Adds"),
        )
        .build()
}

fn text(result: &serde_json::Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// 1,000 calls against a server that is stopped and started again on the same address
/// mid-run (its sessions gone): every call ends, the client reconnects, and afterwards the
/// process holds no more descriptors than before and the client nothing at all.
#[test]
fn a_thousand_calls_through_a_server_restart_leave_nothing() {
    // The reactor's own descriptors (epoll, its notifier) exist once smol has run at all.
    let warm = InProcess::serve(app());
    warm.stop();
    let before = open_descriptors();
    let server = InProcess::serve(app());
    let addr = server.addr;
    let url = format!("http://{addr}/mcp");
    smol::block_on(async {
        let client = Client::builder(&url)
            .unwrap()
            .era(EraChoice::Sessions)
            .connect()
            .await
            .unwrap();
        let mut server = Some(server);
        let (mut answered, mut failed) = (0, 0);
        for i in 0..1_000i64 {
            if i == 500 {
                server.take().unwrap().stop();
                server = Some(InProcess::serve_at(app(), addr));
            }
            match client.call_tool("add", json!({"a": i, "b": 1})).await {
                Ok(result) => {
                    assert_eq!(text(&result), (i + 1).to_string());
                    answered += 1;
                }
                Err(_) => failed += 1,
            }
        }
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
        client.close().await;
        server.take().unwrap().stop();
    });
    assert!(
        open_descriptors() <= before,
        "descriptors: {before} before, {} after",
        open_descriptors()
    );
}
