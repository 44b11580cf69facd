//! The `mcpwire` binary as a child process (its URL, its signals, its exit, its metrics and
//! open file descriptors), and the socket client that mcpwire-smol's tests use, shared from
//! there.

#![allow(dead_code)]

#[path = "../../../adapters/smol/tests/common/mod.rs"]
mod wire;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use wire::*;

/// The `mcpwire` binary, serving on an ephemeral port with `--metrics`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Kept open: the server prints more lines, and a closed pipe would fail them.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    /// Starts `mcpwire serve --bind 127.0.0.1:0 --metrics` with `args`, and waits for its URL
    /// (`http://`, or `https://` with `--tls-cert`: then the scrapes below do not apply).
    pub fn start(args: &[&str]) -> Server {
        Server::start_under(&[], args)
    }

    /// As `start`, run by `wrapper` (such as `prlimit --as=...`), which execs the server.
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Server {
        let binary = env!("CARGO_BIN_EXE_mcpwire");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0", "--metrics"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the mcpwire binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        stdout
            .read_line(&mut line)
            .expect("the server prints its URL");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        let addr = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .trim_end_matches("/mcp")
            .parse()
            .expect("an address");
        // The URL is printed once `serve` handles signals: a signal from here on is a
        // graceful shutdown (`a_signal_right_after_the_url_is_a_graceful_shutdown`).
        Server {
            child,
            addr,
            _stdout: stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's open file descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("procfs")
            .count()
    }

    /// `GET /metrics`, parsed: `name` or `name{labels}` to value. Scraped from an address of
    /// its own (127.0.0.3), so that a test's clients never count against the scrape's
    /// per-peer cap; asked again while the server answers 503 (it is full, for a moment).
    pub fn metrics(&self) -> BTreeMap<String, u64> {
        let deadline = Instant::now() + PATIENCE;
        let (response, mut conn) = loop {
            let mut conn = Conn::open_from(self.addr, "127.0.0.3".parse().unwrap());
            conn.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let response = conn.response();
            if response.status != 503 || Instant::now() > deadline {
                break (response, conn);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(response.status, 200);
        conn.wait_closed();
        String::from_utf8(response.body)
            .expect("text")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(name, value)| (name.to_string(), value.parse().expect("an integer")))
            .collect()
    }

    /// The gauges that must come back to their baseline: every live entity and task. Every
    /// scrape also runs the server's ownership check (every request in flight has a handler
    /// or a reply on its way, nothing is kept for one that ended, no input was lost): a
    /// violation fails here, at once.
    pub fn gauges(&self) -> BTreeMap<String, u64> {
        let gauges: BTreeMap<String, u64> = self
            .metrics()
            .into_iter()
            .filter(|(name, _)| !name.split('{').next().unwrap_or("").ends_with("_total"))
            .collect();
        for owned in [
            "mcpwire_unowned_requests",
            "mcpwire_ownerless_tasks",
            "mcpwire_lost_inputs",
        ] {
            assert_eq!(gauges.get(owned), Some(&0), "{owned}: {gauges:?}");
        }
        gauges
    }

    /// Waits until the gauges and the open descriptors equal `baseline`; fails with the
    /// difference if they do not within `within`.
    pub fn wait_for_baseline(&self, baseline: &Baseline, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let gauges = self.gauges();
            let fds = self.fds();
            if gauges == baseline.gauges && fds == baseline.fds {
                return;
            }
            if Instant::now() > deadline {
                let differ: Vec<_> = gauges
                    .iter()
                    .filter(|(k, v)| baseline.gauges.get(*k) != Some(v))
                    .map(|(k, v)| format!("{k}={v} (baseline {:?})", baseline.gauges.get(k)))
                    .collect();
                panic!(
                    "not back to baseline: {differ:?}; fds {fds} (baseline {})",
                    baseline.fds
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The gauges and descriptors of an idle server: measured once nothing changes any more
    /// (the scrape's own connection counts, the same way every time).
    pub fn baseline(&self) -> Baseline {
        // The descriptors are read a moment after the scrape: the client sees the server's FIN
        // as the server shuts the socket down, just before it closes the descriptor, and a
        // baseline read in between would count the scrape's own socket.
        let settled = || {
            let gauges = self.gauges();
            std::thread::sleep(Duration::from_millis(20));
            (gauges, self.fds())
        };
        let mut last = settled();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = settled();
            if now == last {
                return Baseline {
                    gauges: now.0,
                    fds: now.1,
                };
            }
            last = now;
        }
    }

    /// Sends a signal (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit; `None` if it is still running after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What an idle server holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub gauges: BTreeMap<String, u64>,
    pub fds: usize,
}
