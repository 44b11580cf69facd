//! A hostile or broken Redis, and the bus's lifetime: a reply nested to blow the stack, a
//! flood that never stops, a user that may not PUBLISH, a Redis that never answers; and the
//! bus's connections end with the server. Crashes and starvation are tested in a child
//! process of this test binary, so that they fail the test instead of killing the run.
//!
//! The tests that start a `redis-server` skip without one, unless `MCPWIRE_REQUIRE_REDIS` is
//! set (CI sets it).

#[path = "../../smol/tests/common/mod.rs"]
mod common;
mod support {
    pub mod redis_server;
}

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::InProcess;
use mcpwire_redis::RedisBus;
use mcpwire_smol::{App, Server};
use support::redis_server::Redis;

/// Reads one RESP command (enough bytes to contain it; the fake is lenient).
fn read_some(stream: &mut std::net::TcpStream) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

/// A fake Redis that answers every connection's first command with `reply`, then holds it.
fn fake_redis(reply: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let reply = reply.clone();
            std::thread::spawn(move || {
                let _ = read_some(&mut stream);
                let _ = stream.write_all(&reply);
                std::thread::sleep(Duration::from_secs(60));
            });
        }
    });
    port
}

/// A deeply nested RESP array (`*1\r\n` repeated), within MAX_FRAME (320 KiB).
fn nested(depth: usize) -> Vec<u8> {
    b"*1\r\n".repeat(depth)
}

/// Runs the named test of this binary in a child process with `MCPWIRE_TEST_CHILD` set, and
/// returns whether it exited successfully (within 30 s).
fn in_child(name: &str) -> std::process::ExitStatus {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("MCPWIRE_TEST_CHILD", "1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Redis that answers SUBSCRIBE with 80,000 nested one-element arrays (320,000 bytes, under
/// MAX_FRAME) must cost the node a reconnect, not its process.
#[test]
fn a_deeply_nested_reply_does_not_crash_the_server() {
    if std::env::var_os("MCPWIRE_TEST_CHILD").is_some() {
        let port = fake_redis(nested(80_000));
        let bus = RedisBus::new(&format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(2));
        let node = InProcess::serve_server(Server::new(App::builder("n", "1").build()).bus(bus));
        // Long enough for the subscriber (and the publisher's idle read) to get the reply.
        std::thread::sleep(Duration::from_secs(3));
        let stats = smol::block_on(node.handle.stats()).unwrap();
        eprintln!("child: still alive, bus {:?}", stats.bus);
        node.stop();
        return;
    }
    let status = in_child("a_deeply_nested_reply_does_not_crash_the_server");
    assert!(
        status.success(),
        "the server process died on a hostile Redis reply: {status:?}"
    );
}

fn bus_stats(node: &InProcess) -> mcpwire_smol::bus::BusStats {
    smol::block_on(node.handle.stats()).unwrap().bus.unwrap()
}

fn wait_for(node: &InProcess, what: &str, done: impl Fn(&mcpwire_smol::bus::BusStats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = bus_stats(node);
        if done(&stats) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A user that may SUBSCRIBE but not PUBLISH (an ACL mistake, or a read-only proxy): every
/// publication fails; `mcpwire_bus_connected` must not say 1 while none can be sent.
#[test]
fn connected_is_not_reported_while_every_publish_is_refused() {
    let Some(redis) = Redis::start() else {
        return;
    };
    assert!(
        redis
            .cli(&[
                "ACL", "SETUSER", "nopub", "on", ">pw", "~*", "&*", "+@all", "-publish"
            ])
            .contains("OK")
    );
    let bus = RedisBus::new(&format!("redis://nopub:pw@127.0.0.1:{}", redis.port))
        .unwrap()
        .max_backoff(Duration::from_millis(300));
    let node = InProcess::serve_server(Server::new(App::builder("n", "1").build()).bus(bus));
    wait_for(&node, "subscribed", |s| s.connected);
    let (mut connected_samples, mut samples) = (0, 0);
    for _ in 0..20 {
        smol::block_on(node.handle.tools_list_changed()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        samples += 1;
        if bus_stats(&node).connected {
            connected_samples += 1;
        }
    }
    let stats = bus_stats(&node);
    eprintln!("{stats:?}; connected in {connected_samples} of {samples} samples");
    assert_eq!(stats.published, 0);
    assert!(stats.dropped > 0);
    assert_eq!(
        connected_samples, 0,
        "mcpwire_bus_connected said 1 while every PUBLISH was refused: {stats:?}"
    );
    node.stop();
}

/// A stopped server's bus task ends: its connections to Redis close.
#[test]
fn a_stopped_server_closes_its_redis_connections() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let clients = |redis: &Redis| {
        redis
            .cli(&["CLIENT", "LIST"])
            .lines()
            .filter(|l| !l.contains("cmd=client"))
            .count()
    };
    let bus = RedisBus::new(&format!("redis://127.0.0.1:{}", redis.port)).unwrap();
    let node = InProcess::serve_server(Server::new(App::builder("n", "1").build()).bus(bus));
    wait_for(&node, "connected", |s| s.connected);
    assert_eq!(clients(&redis), 2, "{}", redis.cli(&["CLIENT", "LIST"]));
    node.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while clients(&redis) != 0 {
        assert!(
            Instant::now() < deadline,
            "the stopped server still holds Redis connections: {}",
            redis.cli(&["CLIENT", "LIST"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stopping while the bus waits on a Redis that accepted and never answers (its attempt's
/// deadline is 20 s away) does not wait for the bus: `stop` returns at once, well inside the
/// bound of this test.
#[test]
fn stop_does_not_wait_for_a_redis_that_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let bus = RedisBus::new(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(20));
    let node = InProcess::serve_server(Server::new(App::builder("n", "1").build()).bus(bus));
    let stats = smol::block_on(node.handle.stats()).unwrap();
    assert!(!stats.bus.unwrap().connected);
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        node.stop();
        let _ = done.send(());
    });
    assert!(
        stopped.recv_timeout(Duration::from_secs(15)).is_ok(),
        "stop waited for the bus's connect attempt"
    );
}

/// A fake Redis that answers SUBSCRIBE and then sends `head` once and `frame` back to back for
/// as long as the connection lasts (the publisher's connection is held silent).
fn flooding_redis(head: &'static [u8], frame: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let first = read_some(&mut stream);
                if !String::from_utf8_lossy(&first).contains("SUBSCRIBE") {
                    std::thread::sleep(Duration::from_secs(60));
                    return;
                }
                let _ = stream.write_all(b"*3\r\n$9\r\nsubscribe\r\n$7\r\nmcpwire\r\n:1\r\n");
                // Subscribed and quiet for a while (the server is seen answering), then the flood.
                std::thread::sleep(Duration::from_millis(1500));
                let burst = frame.repeat(4096);
                if stream.write_all(head).is_err() {
                    return;
                }
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(40) {
                    if stream.write_all(&burst).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Whether the server answers an HTTP request within `limit`.
fn answers_within(addr: std::net::SocketAddr, limit: Duration) -> bool {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(limit)).unwrap();
    conn.write_all(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    matches!(conn.read(&mut buf), Ok(n) if n > 0)
}

/// A Redis (or, through a real Redis, a node) that keeps the subscriber's socket full of
/// messages the bus ignores must not take the server's I/O thread: the bus task has to yield.
#[test]
fn a_flood_of_ignored_messages_does_not_starve_the_server() {
    if std::env::var_os("MCPWIRE_TEST_CHILD").is_some() {
        // A message whose payload is not a notice: refused, and delivered nowhere.
        let port = flooding_redis(b"", b"*3\r\n$7\r\nmessage\r\n$7\r\nmcpwire\r\n$1\r\nx\r\n");
        let bus = RedisBus::new(&format!("redis://127.0.0.1:{port}")).unwrap();
        let node = InProcess::serve_server(Server::new(App::builder("n", "1").build()).bus(bus));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            answers_within(node.addr, Duration::from_secs(10)),
            "before the flood"
        );
        std::thread::sleep(Duration::from_millis(1700));
        let answered = answers_within(node.addr, Duration::from_secs(10));
        // The server cannot be stopped while starved; exit the child either way.
        eprintln!("child: answered during the flood: {answered}");
        std::process::exit(if answered { 0 } else { 1 });
    }
    let status = in_child("a_flood_of_ignored_messages_does_not_starve_the_server");
    assert!(
        status.success(),
        "the server did not answer an HTTP request during the flood: {status:?}"
    );
}

/// A message that never ends (its length a terabyte, its bytes arriving as fast as they are
/// read) is skipped as it comes, not buffered; skipping it must not take the server's I/O
/// thread, and the heartbeat, which hears no frame, ends the connection.
#[test]
fn a_message_that_never_ends_does_not_starve_the_server() {
    if std::env::var_os("MCPWIRE_TEST_CHILD").is_some() {
        let port = flooding_redis(
            b"*3\r\n$7\r\nmessage\r\n$7\r\nmcpwire\r\n$1000000000000\r\n",
            &[b'x'; 4096],
        );
        let bus = RedisBus::new(&format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .heartbeat(Duration::from_millis(500));
        let node = InProcess::serve_server(Server::new(App::builder("n", "1").build()).bus(bus));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            answers_within(node.addr, Duration::from_secs(10)),
            "before the flood"
        );
        std::thread::sleep(Duration::from_millis(1700));
        let answered = answers_within(node.addr, Duration::from_secs(10));
        eprintln!("child: answered during the endless message: {answered}");
        if !answered {
            // The server cannot be stopped while starved.
            std::process::exit(1);
        }
        wait_for(&node, "reconnected", |s| s.reconnects > 0);
        node.stop();
        return;
    }
    let status = in_child("a_message_that_never_ends_does_not_starve_the_server");
    assert!(
        status.success(),
        "the server did not answer during an endless message, or kept the connection: {status:?}"
    );
}
