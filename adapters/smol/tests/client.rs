//! mcpwire's smol client over real sockets against mcpwire's server: both eras, progress,
//! subscriptions and notifications, an unreachable server. (1,000 calls through a server that
//! is killed and restarted are `server/tests/client_restart.rs`, against the real process.)

mod common;

use std::time::Duration;

use common::InProcess;
use mcpwire_smol::client::{Client, ClientError, EraChoice};
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
            Tool::new("add", |args: Add, cx: Context| async move {
                let _ = cx.progress(1.0, Some(1.0), None).await;
                Ok::<_, Error>(ToolResult::text((args.a + args.b).to_string()))
            })
            .description("Adds"),
        )
        .build()
}

fn text(result: &serde_json::Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

#[test]
fn both_eras_call_tools_with_progress_and_close_cleanly() {
    let server = InProcess::serve(app());
    let url = format!("http://{}/mcp", server.addr);
    for era in [EraChoice::Sessions, EraChoice::Modern, EraChoice::Auto] {
        smol::block_on(async {
            let client = Client::builder(&url)
                .unwrap()
                .era(era)
                .connect()
                .await
                .unwrap();
            let tools = client.list_tools().await.unwrap();
            assert_eq!(tools["tools"][0]["name"], "add", "{era:?}");
            let sum = client
                .call_tool("add", json!({"a": 2, "b": 3}))
                .await
                .unwrap();
            assert_eq!(text(&sum), "5");
            let mut progress = Vec::new();
            let sum = client
                .call_tool_with_progress("add", json!({"a": 1, "b": 1}), |p| progress.push(p))
                .await
                .unwrap();
            assert_eq!(text(&sum), "2");
            assert_eq!(progress.len(), 1, "{era:?}: {progress:?}");
            let bad = client.call_tool("add", json!({"a": "x"})).await.unwrap();
            assert_eq!(bad["isError"], true);
            let stats = client.stats().await.unwrap();
            assert_eq!((stats.calls, stats.server_requests), (0, 0), "{era:?}");
            client.close().await;
        });
    }
    let stats = smol::block_on(server.handle.stats()).unwrap();
    assert_eq!(stats.engine.sessions, 0, "every session was DELETEd");
    server.stop();
}

#[test]
fn an_unreachable_server_fails_connect_within_the_reconnect_timeout() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", free.local_addr().unwrap());
    drop(free);
    let started = std::time::Instant::now();
    let outcome = smol::block_on(
        Client::builder(&url)
            .unwrap()
            .reconnect_timeout(Duration::from_secs(2))
            .connect(),
    );
    assert!(
        matches!(outcome, Err(ClientError::Connect(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Waits for `future`, or gives up after 20 s (a bound so that a defect fails instead of
/// hanging, not a performance threshold).
async fn within<T>(future: impl Future<Output = Option<T>>) -> Option<T> {
    futures_lite::future::or(future, async {
        smol::Timer::after(Duration::from_secs(20)).await;
        None
    })
    .await
}

#[test]
fn subscriptions_and_notifications_reach_the_client_in_both_eras() {
    let app = App::builder("watch", "1")
        .resource(mcpwire_smol::Resource::text(
            "file:///watched",
            "watched",
            "text/plain",
            "v1",
        ))
        .tool(
            Tool::new("add", |args: Add, _cx: Context| async move {
                Ok::<_, Error>(ToolResult::text((args.a + args.b).to_string()))
            })
            .description("Adds"),
        )
        .build();
    let server = InProcess::serve(app);
    let url = format!("http://{}/mcp", server.addr);
    for era in [EraChoice::Sessions, EraChoice::Modern] {
        smol::block_on(async {
            let client = Client::builder(&url)
                .unwrap()
                .era(era)
                .connect()
                .await
                .unwrap();
            let subscription = client.subscribe("file:///watched").await.unwrap();
            if era == EraChoice::Modern {
                let first = within(subscription.next()).await.expect("acknowledged");
                assert_eq!(first.method, "notifications/subscriptions/acknowledged");
            }
            server
                .handle
                .resource_updated("file:///watched")
                .await
                .unwrap();
            let update = within(subscription.next()).await.expect("an update");
            assert_eq!(update.method, "notifications/resources/updated", "{era:?}");
            assert_eq!(update.params["uri"], "file:///watched");
            if era == EraChoice::Sessions {
                // Notifications of no call arrive on the session's GET stream.
                let notifications = client.notifications();
                server.handle.tools_list_changed().await.unwrap();
                let changed = within(async { notifications.recv().await.ok() })
                    .await
                    .expect("list_changed");
                assert_eq!(changed.method, "notifications/tools/list_changed");
            }
            drop(subscription);
            let stats = client.stats().await.unwrap();
            assert_eq!(stats.server_requests, 0);
            client.close().await;
        });
    }
    let stats = smol::block_on(server.handle.stats()).unwrap();
    assert_eq!(stats.engine.sessions, 0);
    assert_eq!(stats.engine.subscriptions, 0, "unsubscribed, then DELETEd");
    server.stop();
}

/// A tool that answers after ten minutes: calls to it end only by cancellation or close.
fn slow_app() -> App {
    App::builder("slow", "1")
        .tool(
            Tool::new("slow", |_: Add, _cx: Context| async move {
                smol::Timer::after(Duration::from_secs(600)).await;
                Ok::<_, Error>(ToolResult::text("late"))
            })
            .description("Answers in ten minutes"),
        )
        .build()
}

/// More calls than the driver's inbox has room for, each started and left running.
async fn start_slow_calls(client: &Client, count: usize) -> Vec<mcpwire_smol::client::RunningCall> {
    let mut running = Vec::with_capacity(count);
    for _ in 0..count {
        let params = json!({"name": "slow", "arguments": {"a": 0, "b": 0}});
        let call = client
            .call(
                "tools/call",
                Some(params),
                Some(Duration::from_secs(600)),
                false,
            )
            .await
            .unwrap();
        running.push(call);
    }
    running
}

/// Polls the server until it holds no session, for at most [`common::PATIENCE`].
fn wait_for_no_sessions(server: &InProcess) -> u64 {
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let sessions = smol::block_on(server.handle.stats())
            .unwrap()
            .engine
            .sessions;
        if sessions == 0 || std::time::Instant::now() > deadline {
            return sessions;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_dropped_call_is_cancelled_however_many_at_once() {
    let server = InProcess::serve(slow_app());
    let url = format!("http://{}/mcp", server.addr);
    for era in [EraChoice::Sessions, EraChoice::Modern] {
        smol::block_on(async {
            let client = Client::builder(&url)
                .unwrap()
                .era(era)
                .connect()
                .await
                .unwrap();
            let running = start_slow_calls(&client, 800).await;
            assert_eq!(client.stats().await.unwrap().calls, 800);
            // 800 cancellations at once, more than the inbox holds: none may be lost. They
            // are taken before the stats request that follows them.
            drop(running);
            let stats = client.stats().await.unwrap();
            assert_eq!(
                stats.calls, 0,
                "{era:?}: dropped calls still running: {stats}"
            );
            client.close().await;
        });
    }
    assert_eq!(wait_for_no_sessions(&server), 0);
    server.stop();
}

#[test]
fn a_dropped_client_ends_its_session_even_behind_a_full_inbox() {
    let server = InProcess::serve(slow_app());
    let url = format!("http://{}/mcp", server.addr);
    smol::block_on(async {
        let client = Client::builder(&url)
            .unwrap()
            .era(EraChoice::Sessions)
            .connect()
            .await
            .unwrap();
        let running = start_slow_calls(&client, 800).await;
        drop(running);
        // Dropped, not closed: its close order must not be lost behind 800 cancellations.
        drop(client);
    });
    assert_eq!(
        wait_for_no_sessions(&server),
        0,
        "the dropped client never sent DELETE"
    );
    server.stop();
}
