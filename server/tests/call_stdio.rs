//! `mcpwire call --stdio` with children that misbehave: one that crashes is reported with its
//! exit status and stderr, and one that ignores its stdin's end is still ended when the
//! command itself is killed (no destructor runs then).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/smol/tests/children/misbehaving.py")
}

fn pids_file(mode: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "mcpwire-call-stdio-{}-{mode}.pids",
        std::process::id()
    ))
}

fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Whether `pid` still runs (a zombie no longer does).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(") ")?.1.chars().next()? != 'Z'))
        .unwrap_or(false)
}

fn stdio_command(mode: &str, file: &Path) -> String {
    format!(
        "python3 '{}' {mode} '{}'",
        script().display(),
        file.display()
    )
}

#[test]
fn a_child_that_crashes_is_reported_with_its_status_and_stderr() {
    let file = pids_file("crash");
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
        .args([
            "call",
            "--stdio",
            &stdio_command("crash", &file),
            "anything",
        ])
        .args(["--era", "sessions", "--timeout", "30"])
        .output()
        .expect("mcpwire runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exit status: 3"), "{stderr}");
    assert!(stderr.contains("boom: crashed mid-call"), "{stderr}");
    assert!(pids(&file).iter().all(|pid| !alive(*pid)));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_child_outlives_no_killed_command() {
    let file = pids_file("ignore-eof");
    let _ = std::fs::remove_file(&file);
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
        .args([
            "call",
            "--stdio",
            &stdio_command("ignore-eof", &file),
            "anything",
        ])
        .args(["--era", "sessions", "--timeout", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mcpwire runs");
    let mut child = None;
    for _ in 0..500 {
        if let Some(pid) = pids(&file).first() {
            child = Some(*pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let child = child.expect("the child started");
    assert!(alive(child));
    command.kill().expect("SIGKILL");
    command.wait().expect("reaped");
    let mut ended = false;
    for _ in 0..500 {
        if !alive(child) {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_file(&file);
    assert!(ended, "the child {child} outlived its killed parent");
}
