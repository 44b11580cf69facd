//! A stdio client against a child that is hostile to it: one that stops reading its stdin,
//! one that writes garbage, one that closes its stdout and keeps running; and what the child
//! inherits of its parent.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_lite::FutureExt;
use mcpwire_smol::client::{CallError, Client, ClientError, EraChoice};
use serde_json::json;

fn command(mode: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/children/hostile.py"))
        .arg(mode);
    command
}

async fn connect(mode: &str) -> Client {
    Client::stdio(command(mode))
        .era(EraChoice::Sessions)
        .shutdown_grace(Duration::from_millis(200))
        .kill_wait(Duration::from_millis(200))
        .connect()
        .await
        .expect("connects")
}

async fn call(
    client: &Client,
    arguments: serde_json::Value,
    timeout: Option<Duration>,
) -> Result<serde_json::Value, ClientError> {
    let params = json!({"name": "anything", "arguments": arguments});
    client
        .call("tools/call", Some(params), timeout, false)
        .await?
        .result()
        .await
}

/// `future`, or `None` if it has not ended long after it should have (a watchdog against a
/// hang, far above the deadlines the client is given).
async fn or_hang<T>(future: impl Future<Output = T>) -> Option<T> {
    async { Some(future.await) }
        .or(async {
            smol::Timer::after(Duration::from_secs(30)).await;
            None
        })
        .await
}

#[test]
fn a_child_that_stops_reading_its_stdin_is_still_ended_by_close() {
    smol::block_on(async {
        let client = connect("no-read").await;
        // Far more than a pipe's buffer, so that a write to the child blocks.
        let big = "x".repeat(512 * 1024);
        let error = call(
            &client,
            json!({ "big": big }),
            Some(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, ClientError::Call(CallError::Timeout)),
            "{error:?}"
        );
        assert!(or_hang(client.close()).await.is_some(), "close hangs");
    });
}

/// This process's descriptors that an exec keeps open (no `O_CLOEXEC` in their flags).
fn inheritable() -> Vec<i32> {
    const O_CLOEXEC: u32 = 0o2_000_000;
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok());
        if flags.is_some_and(|f| f & O_CLOEXEC == 0) {
            fds.push(fd);
        }
    }
    fds
}

#[test]
fn a_child_inherits_no_descriptor_beyond_its_stdio() {
    smol::block_on(async {
        // Two clients at once: each child must see none of the other's pipes.
        let first = connect("fds").await;
        let second = connect("fds").await;
        for client in [&first, &second] {
            let result = call(client, json!({}), None).await.expect("answers");
            let text = result["content"][0]["text"].as_str().unwrap();
            let fds: Vec<i32> = serde_json::from_str(text).unwrap();
            // Beyond 0, 1, 2 and the one os.listdir holds open, only what this process
            // itself inherited open across exec.
            let inherited = inheritable();
            let extra: Vec<i32> = fds
                .iter()
                .copied()
                .filter(|fd| *fd > 3 && !inherited.contains(fd))
                .collect();
            assert!(extra.is_empty(), "the child holds {extra:?} of {fds:?}");
        }
        first.close().await;
        second.close().await;
    });
}

#[test]
fn garbage_from_the_child_is_skipped_and_the_answer_still_arrives() {
    smol::block_on(async {
        let client = connect("garbage").await;
        let result = call(&client, json!({}), None).await.expect("answers");
        assert_eq!(result["content"][0]["text"], "still here");
        let stats = client.stats().await.expect("stats");
        assert!(stats.held_bytes < 5 * 1024 * 1024, "{stats:?}");
        client.close().await;
    });
}

#[test]
fn a_child_that_closes_its_stdout_but_runs_on_fails_its_calls_and_is_ended() {
    smol::block_on(async {
        let client = connect("close-stdout").await;
        let outcome = or_hang(call(&client, json!({}), None)).await;
        let error = outcome.expect("the call hangs").unwrap_err();
        assert!(
            matches!(error, ClientError::Call(CallError::Exited(_))),
            "{error:?}"
        );
        assert!(or_hang(client.close()).await.is_some(), "close hangs");
    });
}
