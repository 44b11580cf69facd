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

fn exited(outcome: Option<Result<serde_json::Value, ClientError>>) -> String {
    match outcome.expect("the call hangs") {
        Err(ClientError::Call(CallError::Exited(why))) => why,
        other => panic!("expected the child's exit, got {other:?}"),
    }
}

#[test]
fn many_calls_in_flight_all_fail_with_the_exit_status_when_the_child_dies() {
    smol::block_on(async {
        let client = connect("die-after").await;
        // All twenty are sent before any outcome is awaited.
        let mut calls = Vec::new();
        for _ in 0..20 {
            let params = json!({"name": "anything", "arguments": {}});
            let handle = client.call("tools/call", Some(params), None, false).await;
            calls.push(handle.expect("sent"));
        }
        let mut outcomes = Vec::new();
        for handle in calls {
            outcomes.push(or_hang(handle.result()).await.expect("the call hangs"));
        }
        for outcome in outcomes {
            let why = exited(Some(outcome));
            assert!(why.contains("exit status: 7"), "{why}");
        }
        assert!(or_hang(client.close()).await.is_some(), "close hangs");
    });
}

#[test]
fn a_child_that_exits_with_success_mid_call_fails_the_call() {
    smol::block_on(async {
        let client = connect("exit0").await;
        let why = exited(or_hang(call(&client, json!({}), None)).await);
        assert!(why.contains("exit status: 0"), "{why}");
        client.close().await;
    });
}

#[test]
fn a_child_that_closes_its_stdin_fails_the_next_call_without_harm_to_the_parent() {
    smol::block_on(async {
        let client = connect("close-stdin").await;
        let pid = running_with("close-stdin")[0];
        for _ in 0..500 {
            if !Path::new(&format!("/proc/{pid}/fd/0")).exists() {
                break;
            }
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        // The write meets a closed pipe (EPIPE): the child is ended, the call told.
        let why = exited(or_hang(call(&client, json!({}), None)).await);
        assert!(why.contains("signal"), "{why}");
        client.close().await;
    });
}

/// This process's peak resident memory, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_line_far_past_the_limit_is_discarded_as_it_arrives() {
    smol::block_on(async {
        let client = connect("long-line").await;
        let before = peak_kib();
        let result = or_hang(call(&client, json!({}), None))
            .await
            .expect("the call hangs")
            .expect("answers after the long line");
        assert_eq!(result["content"][0]["text"], "after");
        let grown = peak_kib().saturating_sub(before);
        // 256 MiB went by; what is held is the line limit (4 MiB) and the reads in flight.
        assert!(grown < 64 * 1024, "the peak grew by {grown} KiB");
        client.close().await;
    });
}

#[test]
fn a_child_whose_stderr_never_ends_answers_and_is_ended() {
    smol::block_on(async {
        let client = connect("stderr-loop").await;
        for _ in 0..3 {
            let result = call(&client, json!({}), None).await.expect("answers");
            assert_eq!(result["content"][0]["text"], "after");
        }
        assert!(or_hang(client.close()).await.is_some(), "close hangs");
    });
}

#[test]
fn a_file_that_cannot_be_run_is_an_error() {
    smol::block_on(async {
        let not_executable = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let error = Client::spawn(Command::new(not_executable))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("could not start"), "{error}");
    });
}

/// The pids of running (not zombie) children started with `mode`.
fn running_with(mode: &str) -> Vec<u32> {
    let needle = format!("hostile.py\0{mode}\0");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, s)| s.starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(&needle) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn close_with_a_call_in_flight_fails_the_call_and_reaps_the_child() {
    smol::block_on(async {
        // A mode the child does not know: it answers nothing.
        let client = connect("mute-close").await;
        let params = json!({"name": "anything", "arguments": {}});
        let running = client.call("tools/call", Some(params), None, false).await;
        let running = running.expect("sent");
        let pids = running_with("mute-close");
        assert_eq!(pids.len(), 1);
        assert!(or_hang(client.close()).await.is_some(), "close hangs");
        assert!(running.result().await.is_err());
        // Reaped, not a zombie: its /proc entry is gone.
        assert!(!Path::new(&format!("/proc/{}", pids[0])).exists());
    });
}

#[test]
fn a_client_dropped_with_calls_pending_still_ends_its_child() {
    smol::block_on(async {
        let client = connect("mute-drop").await;
        let mut pending = Vec::new();
        for _ in 0..5 {
            let params = json!({"name": "anything", "arguments": {}});
            let running = client.call("tools/call", Some(params), None, false).await;
            pending.push(running.expect("sent"));
        }
        assert_eq!(running_with("mute-drop").len(), 1);
        drop(client);
        for running in pending {
            let outcome = or_hang(running.result()).await.expect("a call hangs");
            assert!(outcome.is_err());
        }
        let mut ended = false;
        for _ in 0..500 {
            if running_with("mute-drop").is_empty() {
                ended = true;
                break;
            }
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        assert!(ended, "the child outlived its dropped client");
    });
}

#[test]
fn what_a_child_that_exits_by_itself_left_in_its_group_is_ended() {
    smol::block_on(async {
        let client = connect("orphan").await;
        let why = exited(or_hang(call(&client, json!({}), None)).await);
        assert!(why.contains("exit status: 5"), "{why}");
        client.close().await;
        let mut ended = false;
        for _ in 0..300 {
            if running_with("orphan-grandchild").is_empty() {
                ended = true;
                break;
            }
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        let left = running_with("orphan-grandchild");
        for pid in &left {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        assert!(ended, "the grandchild {left:?} outlived its group's leader");
    });
}

#[test]
fn a_child_that_reads_slowly_is_waited_for_not_killed() {
    smol::block_on(async {
        let go = std::env::temp_dir().join(format!("mcpwire-hostile-{}.go", std::process::id()));
        let _ = std::fs::remove_file(&go);
        let mut command = command("pause");
        command.arg(&go);
        let client = Client::stdio(command)
            .era(EraChoice::Sessions)
            .connect()
            .await
            .expect("connects");
        // Far more lines than a pipe's buffer holds while the child reads nothing, all
        // within the client's own limit of calls.
        let mut calls = Vec::new();
        for _ in 0..1000 {
            let params = json!({"name": "anything", "arguments": {"pad": "p".repeat(100)}});
            let running = client.call("tools/call", Some(params), None, false).await;
            calls.push(running.expect("sent"));
        }
        // Everything is handed to the child's stdin before it reads again.
        let _ = client.stats().await;
        std::fs::write(&go, b"").unwrap();
        for running in calls {
            let outcome = or_hang(running.result()).await.expect("a call hangs");
            assert_eq!(outcome.expect("answered")["content"][0]["text"], "done");
        }
        client.close().await;
        let _ = std::fs::remove_file(&go);
    });
}

#[test]
fn a_child_whose_stdout_ends_has_its_stdin_closed_at_once() {
    smol::block_on(async {
        // Deadlines far past the watchdog: only its stdin's end, which it exits at, can end
        // the call in time.
        let client = Client::stdio(command("close-stdout"))
            .era(EraChoice::Sessions)
            .shutdown_grace(Duration::from_secs(3600))
            .kill_wait(Duration::from_secs(3600))
            .connect()
            .await
            .expect("connects");
        let why = exited(or_hang(call(&client, json!({}), None)).await);
        assert!(why.contains("exit status: 0"), "{why}");
        assert!(or_hang(client.close()).await.is_some(), "close hangs");
    });
}

#[test]
fn a_child_that_dies_leaving_a_grandchild_on_its_stdout_is_reported_at_once() {
    smol::block_on(async {
        // A kill wait far past the watchdog: the group's SIGTERM at the exit must end the
        // grandchild, and with it stdout, for the end to be reported in time.
        let client = Client::stdio(command("holder"))
            .era(EraChoice::Sessions)
            .kill_wait(Duration::from_secs(3600))
            .connect()
            .await
            .expect("connects");
        let why = exited(or_hang(call(&client, json!({}), None)).await);
        assert!(why.contains("exit status: 6"), "{why}");
        // Not awaited: the close waits out the kill wait for whatever answered the group's
        // SIGTERM (a killed grandchild left unreaped by whoever adopted it counts).
        drop(client);
    });
}
