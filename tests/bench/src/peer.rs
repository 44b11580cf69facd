//! The servers under test: how each is started, pinned, asked for its heap and stopped.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// One implementation of the peer contract (see the crate docs).
#[derive(Clone, Debug)]
pub struct Peer {
    /// Short name used in tables: `mcpwire`, `rmcp`, `typescript`, `python`, `bare`.
    pub name: &'static str,
    /// What it is, for the tables' legend.
    pub label: String,
    /// Program and arguments before `--port P`.
    pub command: Vec<String>,
    /// Extra arguments when live heap is to be measured (Python turns tracemalloc on).
    pub heap_arguments: Vec<String>,
    /// Whether it speaks MCP; the bare server only answers fixed bytes.
    pub speaks_mcp: bool,
    /// Serves the session era (2025-11-25: `initialize`, `Mcp-Session-Id`, GET streams).
    pub speaks_sessions: bool,
    /// Serves the 2026-07-28 era (stateless requests, `subscriptions/listen`).
    pub speaks_stateless: bool,
    /// How its live heap is measured.
    pub heap_method: &'static str,
}

impl Peer {
    /// Whether the peer can run `scenario`: the bare server answers round trips, and writes
    /// a fixed notification to every open GET stream, which is the floor for a broadcast.
    pub fn serves(&self, scenario: &str) -> bool {
        match scenario {
            "stateless-round-trips" | "listen-heap" | "listen-broadcast" => self.speaks_stateless,
            // Only mcpwire's peer has the `spin` tool; 100,000 idle sessions of the others would
            // not fit in memory (rmcp keeps 91 KiB each).
            "busy-handler" | "scale" => self.name == "mcpwire",
            "instructions" => crate::scenario::instructions::counts(self),
            "round-trips" | "broadcast" => self.speaks_sessions || !self.speaks_mcp,
            _ => self.speaks_sessions,
        }
    }

    /// Where the peer's stderr goes: SDKs log a line per cut stream at shutdown, which would
    /// drown the generator's progress.
    pub fn log(&self) -> PathBuf {
        std::env::temp_dir().join(format!("mcpwire-bench-{}.log", self.name))
    }
}

/// Where the peers' programs are.
pub struct Paths {
    pub bin_dir: PathBuf,
    pub peers_dir: PathBuf,
    pub node: PathBuf,
    pub python: PathBuf,
    /// Pin servers to this CPU with `taskset`, when the machine has a spare one.
    pub server_cpu: Option<usize>,
}

pub fn all(paths: &Paths, versions: &crate::machine::Versions) -> Vec<Peer> {
    let bin = |name: &str| paths.bin_dir.join(name).display().to_string();
    vec![
        Peer {
            name: "mcpwire",
            label: "mcpwire-smol (this repository), smol, one thread".into(),
            command: vec![bin("bench-peer-mcpwire")],
            heap_arguments: vec![],
            speaks_mcp: true,
            speaks_sessions: true,
            speaks_stateless: true,
            heap_method: "counting allocator",
        },
        Peer {
            name: "rmcp",
            label: "rmcp 3.9.0, tokio + axum 0.8, TCP_NODELAY".into(),
            command: vec![bin("bench-peer-rmcp")],
            heap_arguments: vec![],
            speaks_mcp: true,
            speaks_sessions: true,
            speaks_stateless: true,
            heap_method: "counting allocator",
        },
        Peer {
            name: "typescript",
            label: format!(
                "@modelcontextprotocol/sdk 1.32.2, Node {}, Express (createMcpExpressApp)",
                versions.node
            ),
            command: vec![
                paths.node.display().to_string(),
                "--expose-gc".into(),
                paths
                    .peers_dir
                    .join("typescript/server.mjs")
                    .display()
                    .to_string(),
            ],
            heap_arguments: vec![],
            speaks_mcp: true,
            speaks_sessions: true,
            speaks_stateless: false,
            heap_method: "V8 heapUsed + external after gc()",
        },
        Peer {
            name: "typescript-v2",
            label: format!(
                "@modelcontextprotocol/server 2.4.0 (createMcpHandler, 2026-07-28 only), Node {}, \
                 node:http (toNodeHandler of @modelcontextprotocol/node 2.1.2)",
                versions.node
            ),
            command: vec![
                paths.node.display().to_string(),
                "--expose-gc".into(),
                paths
                    .peers_dir
                    .join("typescript/server-v2.mjs")
                    .display()
                    .to_string(),
            ],
            heap_arguments: vec![],
            speaks_mcp: true,
            speaks_sessions: false,
            speaks_stateless: true,
            heap_method: "V8 heapUsed + external after gc()",
        },
        Peer {
            name: "python",
            label: format!(
                "mcp 2.3.0, Python {}, uvicorn (h11, asyncio)",
                versions.python
            ),
            command: vec![
                paths.python.display().to_string(),
                paths
                    .peers_dir
                    .join("python/server.py")
                    .display()
                    .to_string(),
            ],
            heap_arguments: vec!["--trace-heap".into()],
            speaks_mcp: true,
            speaks_sessions: true,
            speaks_stateless: true,
            heap_method: "tracemalloc after gc.collect()",
        },
        Peer {
            name: "bare",
            label: "bare keep-alive HTTP/1.1 over httparse, fixed bodies, tokio (the ceiling)"
                .into(),
            command: vec![bin("bench-peer-bare")],
            heap_arguments: vec![],
            speaks_mcp: false,
            speaks_sessions: false,
            speaks_stateless: false,
            heap_method: "counting allocator",
        },
    ]
}

/// A running peer process.
pub struct Server {
    pub address: SocketAddr,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    pub fn start(peer: &Peer, paths: &Paths, measure_heap: bool) -> io::Result<Server> {
        Server::launch(peer, paths, measure_heap, &[])
    }

    /// As `start`, run by `wrapper` (such as valgrind), which execs the peer's command.
    pub fn start_under(peer: &Peer, paths: &Paths, wrapper: &[String]) -> io::Result<Server> {
        Server::launch(peer, paths, false, wrapper)
    }

    fn launch(
        peer: &Peer,
        paths: &Paths,
        measure_heap: bool,
        wrapper: &[String],
    ) -> io::Result<Server> {
        let port = free_port()?;
        let mut arguments: Vec<String> = Vec::new();
        if let Some(cpu) = paths.server_cpu {
            arguments.extend(["taskset".into(), "-c".into(), cpu.to_string()]);
        }
        arguments.extend(wrapper.iter().cloned());
        arguments.extend(peer.command.iter().cloned());
        arguments.extend(["--port".into(), port.to_string()]);
        if measure_heap {
            arguments.extend(peer.heap_arguments.iter().cloned());
        }
        let mut child = Command::new(&arguments[0])
            .args(&arguments[1..])
            .current_dir(&paths.peers_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(peer.log())?,
            ))
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "{} exited before ready; see {}",
                    peer.name,
                    peer.log().display()
                )));
            }
            if line.trim() == "ready" {
                break;
            }
        }
        Ok(Server {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            stdin,
            stdout,
        })
    }

    /// Live heap bytes as the peer measures them (after a collection where there is one).
    pub fn heap(&mut self) -> io::Result<u64> {
        writeln!(self.stdin, "heap")?;
        self.stdin.flush()?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                return Err(io::Error::other("peer exited"));
            }
            if let Ok(bytes) = line.trim().parse::<i64>() {
                return u64::try_from(bytes)
                    .map_err(|_| io::Error::other("peer has no heap figure"));
            }
        }
    }

    /// CPU time the server process has used so far, user and system, every thread
    /// (`/proc/PID/stat`, in clock ticks of 10 ms).
    pub fn cpu_time(&self) -> io::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The command name may hold spaces; the fields after it are plain numbers.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(user), Some(system)) => Ok(Duration::from_millis((user + system) * 10)),
            _ => Err(io::Error::other("unreadable /proc stat")),
        }
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit; kills it past that.
    /// Returns how long it took to exit, or `None` if it had to be killed.
    pub async fn terminate(&mut self, limit: Duration) -> io::Result<Option<Duration>> {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            return Err(io::Error::other("kill -TERM failed"));
        }
        while started.elapsed() < limit {
            if self.child.try_wait()?.is_some() {
                return Ok(Some(started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
