//! Broadcast latency across nodes: 1,000 session GET streams held on node B, and a
//! `notifications/tools/list_changed` broadcast raised on node A (through a real
//! `redis-server`) against the same broadcast raised on node B itself. The time is from the
//! broadcast's call to the last of the 1,000 streams having read it.
//!
//! `cargo bench -p mcpwire-redis --bench cross_node` (needs `redis-server` on the PATH).
//! Prints a Markdown table for BENCHMARKS.md.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcpwire_redis::RedisBus;
use mcpwire_smol::{App, Server, ServerHandle};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

const STREAMS: usize = 1_000;
const ROUNDS: usize = 30;

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A node serving on its own thread; its handle.
fn node(redis: u16) -> (SocketAddr, ServerHandle, std::thread::JoinHandle<()>) {
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let bus = RedisBus::new(&format!("redis://127.0.0.1:{redis}")).unwrap();
    // Every stream comes from 127.0.0.1: no per-peer cap.
    let server = Server::new(App::builder("bench", "1").build())
        .configure(|c| c.limits.max_connections_per_peer = None)
        .handle_signals(false)
        .threads(1)
        .bus(bus);
    let handle = server.handle();
    let thread = std::thread::spawn(move || {
        let _ = smol::block_on(server.serve(listener));
    });
    (addr, handle, thread)
}

/// One HTTP/1.1 exchange with a Content-Length body; the response head and body.
async fn exchange(stream: &mut TcpStream, request: &str) -> (String, Vec<u8>) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return (head, buf[end + 4..end + 4 + length].to_vec());
        }
    }
}

fn post(session: Option<&str>, body: &str) -> String {
    let session = session
        .map(|s| format!("Mcp-Session-Id: {s}\r\nMcp-Protocol-Version: 2025-11-25\r\n"))
        .unwrap_or_default();
    format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{session}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Opens a session on `addr` and its GET stream; each `list_changed` read bumps `seen`.
async fn stream(addr: SocketAddr, seen: Arc<AtomicUsize>, ready: async_channel::Sender<()>) {
    let mut control = TcpStream::connect(addr).await.unwrap();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let (head, _) = exchange(&mut control, &post(None, init)).await;
    let session = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("mcp-session-id")
                .then(|| value.trim().to_string())
        })
        .expect("a session id");
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    exchange(&mut control, &post(Some(&session), initialized)).await;
    let mut get = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-11-25\r\n\r\n"
    );
    get.write_all(request.as_bytes()).await.unwrap();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut head_seen = false;
    loop {
        let Ok(n) = get.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        let text = &chunk[..n];
        if !head_seen {
            head_seen = true;
            let _ = ready.send(()).await;
        }
        let found = text.windows(10).filter(|w| *w == b"list_chang").count();
        if found > 0 {
            seen.fetch_add(found, Ordering::Relaxed);
        }
    }
}

/// Broadcasts from `from`, and waits until every stream has read it; the time it took.
fn round(from: &ServerHandle, seen: &AtomicUsize) -> Duration {
    let before = seen.load(Ordering::Relaxed);
    let started = Instant::now();
    smol::block_on(from.tools_list_changed()).unwrap();
    let deadline = started + Duration::from_secs(30);
    while seen.load(Ordering::Relaxed) < before + STREAMS {
        assert!(Instant::now() < deadline, "a broadcast was lost");
        std::hint::spin_loop();
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn main() {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on the PATH (Debian: redis-server)");
    let _redis = Redis(child);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_addr_a, handle_a, thread_a) = node(port);
    let (addr_b, handle_b, thread_b) = node(port);
    for handle in [&handle_a, &handle_b] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !smol::block_on(handle.stats())
            .unwrap()
            .bus
            .is_some_and(|b| b.connected)
        {
            assert!(Instant::now() < deadline, "the bus never connected");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // The readers run on a thread of their own, apart from both nodes and the timer.
    let seen = Arc::new(AtomicUsize::new(0));
    let (ready, is_ready) = async_channel::unbounded();
    let readers = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let executor = smol::LocalExecutor::new();
            let tasks: Vec<_> = (0..STREAMS)
                .map(|_| executor.spawn(stream(addr_b, seen.clone(), ready.clone())))
                .collect();
            smol::block_on(executor.run(async {
                for task in tasks {
                    task.await;
                }
            }));
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for opened in 0..STREAMS {
        let next = smol::block_on(smol::future::or(
            async { is_ready.recv().await.ok() },
            async {
                smol::Timer::at(deadline).await;
                None
            },
        ));
        assert!(
            next.is_some(),
            "only {opened} of {STREAMS} GET streams opened in 60 s"
        );
    }
    // Warm up both paths.
    for _ in 0..3 {
        round(&handle_b, &seen);
        round(&handle_a, &seen);
    }
    let (mut local, mut cross) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        local.push(round(&handle_b, &seen));
        cross.push(round(&handle_a, &seen));
    }
    local.sort();
    cross.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| broadcast to {STREAMS} GET streams on node B | median ms | p90 ms | median vs one node |"
    );
    println!("| --- | ---: | ---: | ---: |");
    let base = percentile(&local, 0.5);
    for (what, times) in [
        ("raised on node B (one node)", &local),
        ("raised on node A, through Redis", &cross),
    ] {
        let median = percentile(times, 0.5);
        println!(
            "| {what} | {:.2} | {:.2} | {:.2}x |",
            ms(median),
            ms(percentile(times, 0.9)),
            median.as_secs_f64() / base.as_secs_f64()
        );
    }
    let stats = smol::block_on(handle_b.stats()).unwrap().bus.unwrap();
    println!(
        "\nnode B's bus: received {}, dropped {}, refused {}",
        stats.received, stats.dropped, stats.refused
    );
    for handle in [&handle_a, &handle_b] {
        smol::block_on(handle.shutdown(Duration::ZERO)).unwrap();
    }
    let _ = thread_a.join();
    let _ = thread_b.join();
    let _ = readers.join();
}
