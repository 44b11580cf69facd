//! A stdio client's child that misbehaves is ended within its deadlines, and nothing of it is
//! left: no process (no zombie), no descriptor, no thread. One test, so that the counts it
//! takes from /proc are this test's alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mcpwire_smol::client::{CallError, Client, ClientError, EraChoice};
use serde_json::json;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/children/misbehaving.py")
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(Iterator::count).unwrap_or(0)
}

/// Descriptors and threads of this process.
fn census() -> (usize, usize) {
    (count("/proc/self/fd"), count("/proc/self/task"))
}

/// Whether `pid` still runs: its /proc entry exists and it is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

struct Child {
    pids: PathBuf,
}

impl Child {
    fn new(mode: &str) -> (Child, Command) {
        let pids =
            std::env::temp_dir().join(format!("mcpwire-stdio-{}-{mode}.pids", std::process::id()));
        let _ = std::fs::remove_file(&pids);
        let mut command = Command::new("python3");
        command.arg(script()).arg(mode).arg(&pids);
        (Child { pids }, command)
    }

    fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(&self.pids)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pids);
    }
}

async fn connect(command: Command) -> Client {
    Client::stdio(command)
        .era(EraChoice::Sessions)
        .shutdown_grace(Duration::from_millis(300))
        .kill_wait(Duration::from_millis(300))
        .connect()
        .await
        .expect("connects")
}

async fn call(
    client: &Client,
    timeout: Option<Duration>,
) -> Result<serde_json::Value, ClientError> {
    let params = json!({"name": "anything", "arguments": {}});
    client
        .call("tools/call", Some(params), timeout, false)
        .await?
        .result()
        .await
}

/// The census once it has settled on `expected` (a reaped child's descriptor is released
/// by the reaper, a moment after the exit is reported), or as it is after a bounded wait.
async fn settled(expected: (usize, usize)) -> (usize, usize) {
    let mut last = census();
    for _ in 0..100 {
        smol::Timer::after(Duration::from_millis(10)).await;
        let now = census();
        if now == expected {
            return now;
        }
        last = now;
    }
    last
}

/// The child's direct process is gone (reaped by the client): /proc has no entry for it.
fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits (boundedly) for what the child started outside the client's reach to be reaped by
/// whoever adopted it; only its not running matters.
fn wait_not_alive(pid: u32) -> bool {
    for _ in 0..200 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn exited(error: ClientError) -> String {
    match error {
        ClientError::Call(CallError::Exited(why)) => why,
        other => panic!("expected the child's exit, got {other:?}"),
    }
}

#[test]
fn misbehaving_children_are_ended_and_leave_nothing() {
    smol::block_on(async {
        // The first spawns start what lives for the process (the reaper, the reactor).
        for _ in 0..2 {
            let (warm, command) = Child::new("silent");
            connect(command).await.close().await;
            drop(warm);
        }
        // What the reaper releases after the last exit it reported goes first.
        smol::Timer::after(Duration::from_millis(200)).await;
        let baseline = census();

        // Crashes mid-call: the call fails at once with the status and the stderr tail.
        let (child, command) = Child::new("crash");
        let client = connect(command).await;
        let why = exited(call(&client, None).await.unwrap_err());
        assert!(why.contains("exit status: 3"), "{why}");
        assert!(why.contains("boom: crashed mid-call"), "{why}");
        // Every later call fails too, as closed.
        assert!(call(&client, None).await.is_err());
        client.close().await;
        assert!(child.pids().iter().all(|pid| reaped(*pid)));
        assert_eq!(settled(baseline).await, baseline, "crash");

        // Answers and exits at once: the answer is read before the exit is reported, every
        // time.
        for _ in 0..5 {
            let (child, command) = Child::new("answer-exit");
            let client = connect(command).await;
            let result = call(&client, None).await.expect("its last answer");
            assert_eq!(result["content"][0]["text"], "last words");
            client.close().await;
            assert!(child.pids().iter().all(|pid| reaped(*pid)));
        }
        assert_eq!(settled(baseline).await, baseline, "answer-exit");

        // Never answers: the call's timeout fires; close ends it at stdin EOF.
        let (child, command) = Child::new("silent");
        let client = connect(command).await;
        let error = call(&client, Some(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::Call(CallError::Timeout)),
            "{error:?}"
        );
        client.close().await;
        assert!(child.pids().iter().all(|pid| reaped(*pid)));
        assert_eq!(settled(baseline).await, baseline, "silent");

        // Floods stderr (2 MiB, far past a pipe's buffer): never blocks; the tail is its end.
        let (child, command) = Child::new("flood");
        let client = connect(command).await;
        let why = exited(call(&client, None).await.unwrap_err());
        assert!(why.contains("exit status: 4"), "{why}");
        assert!(why.contains("flood-end-marker"), "{why}");
        assert!(why.len() < 9 * 1024, "the tail is bounded: {} B", why.len());
        client.close().await;
        assert!(child.pids().iter().all(|pid| reaped(*pid)));
        assert_eq!(settled(baseline).await, baseline, "flood");

        // Ignores SIGTERM and stdin EOF: SIGKILL after the kill wait.
        let (child, command) = Child::new("ignore-term");
        let client = connect(command).await;
        let pids = child.pids();
        assert_eq!(pids.len(), 1);
        assert!(alive(pids[0]));
        client.close().await;
        assert!(
            reaped(pids[0]),
            "killed and reaped by the time close returns"
        );
        assert_eq!(settled(baseline).await, baseline, "ignore-term");

        // Forks a grandchild that holds the pipes: the group's signal reaches it.
        let (child, command) = Child::new("grandchild");
        let client = connect(command).await;
        let mut pids = child.pids();
        for _ in 0..200 {
            if pids.len() == 2 {
                break;
            }
            smol::Timer::after(Duration::from_millis(10)).await;
            pids = child.pids();
        }
        assert_eq!(pids.len(), 2, "{pids:?}");
        client.close().await;
        assert!(reaped(pids[0]));
        assert!(wait_not_alive(pids[1]), "the grandchild outlived the close");
        assert_eq!(settled(baseline).await, baseline, "grandchild");

        // Dropped without close: the driver still ends and reaps the child, and its thread
        // ends after.
        let (child, command) = Child::new("ignore-term");
        let client = connect(command).await;
        let pid = child.pids()[0];
        drop(client);
        let mut ended = false;
        for _ in 0..300 {
            if reaped(pid) && census() == baseline {
                ended = true;
                break;
            }
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        assert!(
            ended,
            "{pid} reaped: {}, {:?} vs {baseline:?}",
            reaped(pid),
            census()
        );

        // A program that does not exist: the error says so, nothing is left.
        let missing = Command::new("/nonexistent/mcp-server");
        let error = Client::spawn(missing).await.unwrap_err();
        assert!(error.to_string().contains("could not start"), "{error}");
        assert_eq!(
            settled(baseline).await,
            baseline,
            "a program that does not exist"
        );
    });
}
