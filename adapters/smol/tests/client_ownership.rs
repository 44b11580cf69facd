//! Ownership at the edges of the smol client's API: futures dropped mid-start (what a
//! `select!` or a timeout does), notifications read to the end before the result, and
//! handlers that panic. Each leaves nothing without an owner and loses no outcome.

mod common;

use std::time::{Duration, Instant};

use common::InProcess;
use mcpwire_smol::client::{CallError, Client, ClientError, EraChoice};
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
    App::builder("review", "1")
        .tool(
            Tool::new("add", |args: Add, _cx: Context| async move {
                smol::Timer::after(Duration::from_millis(200)).await;
                Ok::<_, Error>(ToolResult::text((args.a + args.b).to_string()))
            })
            .description("Adds"),
        )
        .tool(
            Tool::new("slow", |_: Add, _cx: Context| async move {
                smol::Timer::after(Duration::from_secs(600)).await;
                Ok::<_, Error>(ToolResult::text("late"))
            })
            .description("Answers in ten minutes"),
        )
        .tool(
            Tool::new("ask", |_: Add, cx: Context| async move {
                let answer = cx
                    .elicit("name?", &json!({"type":"object","properties":{}}))
                    .await;
                Ok::<_, Error>(ToolResult::text(format!("{answer:?}")))
            })
            .description("Elicits"),
        )
        .build()
}

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    futures_lite::future::or(future, async {
        smol::Timer::after(Duration::from_secs(30)).await;
        panic!("{what}: no outcome in 30 s");
    })
    .await
}

/// `RunningCall::notification` is documented as "the next notification about this call, if
/// one comes before its end". Waiting for notifications until `None`, then taking the result,
/// must give the call's result, never `Closed`. (A race, if there were one, would be narrow:
/// the pattern runs 300 times per era.)
#[test]
fn reading_notifications_to_the_end_keeps_the_result() {
    let server = InProcess::serve(app());
    let url = format!("http://{}/mcp", server.addr);
    for era in [EraChoice::Sessions, EraChoice::Modern] {
        smol::block_on(async {
            let client = Client::builder(&url)
                .unwrap()
                .era(era)
                .connect()
                .await
                .unwrap();
            let mut lost = 0;
            for _ in 0..300 {
                let running = client.call("tools/list", None, None, false).await.unwrap();
                while bounded("notification", running.notification())
                    .await
                    .is_some()
                {}
                match bounded("result", running.result()).await {
                    Ok(_) => {}
                    Err(ClientError::Call(CallError::Closed)) => lost += 1,
                    Err(other) => panic!("{era:?}: {other:?}"),
                }
            }
            client.close().await;
            assert_eq!(lost, 0, "{era:?}: {lost} of 300 results were lost (Closed)");
        });
    }
    server.stop();
}

/// Every entity has an owner: a `listen()` future dropped after its command was sent but
/// before its call came back must not leave a listen stream (which has no deadline) running.
#[test]
fn a_listen_dropped_while_starting_leaves_no_stream() {
    let server = InProcess::serve(app());
    let url = format!("http://{}/mcp", server.addr);
    smol::block_on(async {
        let client = Client::builder(&url)
            .unwrap()
            .era(EraChoice::Modern)
            .connect()
            .await
            .unwrap();
        // Poll once: the command goes into the inbox; the reply is not there yet; drop.
        let mut orphaned = false;
        for _ in 0..100 {
            let future = client.listen(json!({"toolsListChanged": true}));
            match futures_lite::future::poll_once(Box::pin(future)).await {
                None => {
                    orphaned = true;
                    break;
                }
                Some(subscription) => drop(subscription),
            }
        }
        assert!(orphaned, "the listen future never was pending");
        // The driver takes the start, finds its asker gone and cancels before it answers this
        // (control orders go first), so no wait is needed.
        let stats = client.stats().await.unwrap();
        client.close().await;
        assert_eq!(
            stats.calls, 0,
            "an ownerless listen stream is still running: {stats}"
        );
    });
    server.stop();
}

/// The same for a plain call: dropped mid-start, it is cancelled, not left to its own timeout
/// (here 600 s).
#[test]
fn a_call_dropped_while_starting_is_cancelled_at_once() {
    let server = InProcess::serve(app());
    let url = format!("http://{}/mcp", server.addr);
    smol::block_on(async {
        let client = Client::builder(&url)
            .unwrap()
            .era(EraChoice::Sessions)
            .connect()
            .await
            .unwrap();
        let mut orphaned = false;
        for _ in 0..100 {
            let params = json!({"name": "slow", "arguments": {"a": 0, "b": 0}});
            let future = client.call(
                "tools/call",
                Some(params),
                Some(Duration::from_secs(600)),
                false,
            );
            match futures_lite::future::poll_once(Box::pin(future)).await {
                None => {
                    orphaned = true;
                    break;
                }
                Some(running) => drop(running),
            }
        }
        assert!(orphaned);
        let stats = client.stats().await.unwrap();
        client.close().await;
        assert_eq!(
            stats.calls, 0,
            "a call no handle owns is still running: {stats}"
        );
    });
    server.stop();
}

/// A server request whose handler panics: the server must get an answer (an error) at once,
/// as it does when the handler returns `Err`, not wait for the server-request timeout (60 s).
#[test]
fn a_panicking_handler_answers_the_server_with_an_error_at_once() {
    let server = InProcess::serve(app());
    let url = format!("http://{}/mcp", server.addr);
    smol::block_on(async {
        let client = Client::builder(&url)
            .unwrap()
            .era(EraChoice::Sessions)
            .request_timeout(Duration::from_secs(10))
            .on_elicitation(|_| async { panic!("handler bug") })
            .connect()
            .await
            .unwrap();
        let started = Instant::now();
        let outcome = client.call_tool("ask", json!({"a": 0, "b": 0})).await;
        let took = started.elapsed();
        let tasks = client.tasks().await;
        let stats = client.stats().await.unwrap();
        client.close().await;
        let result = outcome.unwrap_or_else(|e| {
            panic!("the server never heard from the panicked handler: {e:?} after {took:?}")
        });
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("handler panicked"),
            "the tool saw the handler's error: {text}"
        );
        assert_eq!(
            tasks,
            Some(stats.connections as usize),
            "one task per connection, and none for the handler: {stats}"
        );
    });
    server.stop();
}

/// A `subscribe()` dropped before it returns (a timeout around it, a `select!`) leaves no
/// registration: updates of that resource go to `Client::notifications()`, not to a sink
/// nobody reads, and no new session subscribes to it again.
#[test]
fn a_subscribe_dropped_while_starting_leaves_no_registration() {
    let app = App::builder("watch", "1")
        .resource(mcpwire_smol::Resource::text(
            "file:///watched",
            "watched",
            "text/plain",
            "v1",
        ))
        .build();
    let server = InProcess::serve(app);
    let url = format!("http://{}/mcp", server.addr);
    smol::block_on(async {
        let client = Client::builder(&url)
            .unwrap()
            .era(EraChoice::Sessions)
            .connect()
            .await
            .unwrap();
        let notifications = client.notifications();
        for _ in 0..50 {
            let future = client.subscribe("file:///watched");
            let polled = futures_lite::future::poll_once(Box::pin(future)).await;
            assert!(
                polled.is_none(),
                "subscribe cannot finish without a round trip"
            );
        }
        // Every orphaned order taken, and the resources/unsubscribe each dropped subscription
        // sent answered (were one to arrive after the subscribe below, it would undo it).
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.stats().await.unwrap().calls != 0 && Instant::now() < deadline {
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        // Subscribed on the server, with no Subscription on the client: per the docs, the
        // updates go to `Client::notifications()`.
        client
            .request(
                "resources/subscribe",
                Some(json!({"uri": "file:///watched"})),
            )
            .await
            .unwrap();
        while notifications.try_recv().is_ok() {}
        server
            .handle
            .resource_updated("file:///watched")
            .await
            .unwrap();
        let update = futures_lite::future::or(async { notifications.recv().await.ok() }, async {
            smol::Timer::after(Duration::from_secs(5)).await;
            None
        })
        .await;
        client.close().await;
        let update = update.expect("the update was swallowed by a subscription nobody holds");
        assert_eq!(update.method, "notifications/resources/updated");
    });
    server.stop();
}
