//! `mcpwire serve --stdio`, the real binary launched as a desktop host launches it: both eras
//! on its stdin and stdout, hostile input (a 1 GB line, invalid UTF-8, a nesting bomb,
//! 100,000 requests written without reading the answers) with its resident memory sampled
//! from /proc, and each way it ends: stdin's end, a closed stdout, SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// How long a process may take to exit once it should: a guard against hanging the suite, not
/// a measure of anything.
const EXIT_PATIENCE: Duration = Duration::from_secs(60);

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"stdio-test","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    stderr: Option<JoinHandle<String>>,
}

impl Host {
    fn launch() -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
            .args(["serve", "--stdio", "--grace", "5"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mcpwire binary runs");
        let mut stderr = child.stderr.take().unwrap();
        // Always drained, so that the child never blocks on a full stderr pipe.
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Host {
            stdin: child.stdin.take(),
            stdout: child.stdout.take().map(BufReader::new),
            stderr: Some(stderr),
            child,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut line = String::new();
        let n = self.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
        assert!(n > 0, "stdout ended early");
        assert!(line.ends_with('\n'));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
    }

    fn ask(&mut self, line: &str) -> Value {
        self.send(line);
        self.receive()
    }

    /// Waits for the exit (bounded), then returns its status and what it logged.
    fn exit(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let mut waited = Duration::ZERO;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(waited < EXIT_PATIENCE, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
            waited += Duration::from_millis(20);
        };
        let stderr = self.stderr.take().unwrap().join().unwrap();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (status, stderr)
    }
}

fn text_of(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {answer}"))
}

#[test]
fn a_session_era_host_is_served_and_stdin_eof_exits_zero() {
    let mut host = Host::launch();
    let init = host.ask(INIT);
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    host.send(INITIALIZED);
    let tools = host.ask(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert!(tools["result"]["tools"].as_array().unwrap().len() > 1);
    let echo = host.ask(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"over a pipe"}}}"#);
    assert_eq!(text_of(&echo), "over a pipe");
    // A request in flight at EOF is still answered, then the process exits.
    host.send(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    drop(host.stdin.take());
    assert_eq!(host.receive(), json!({"jsonrpc":"2.0","id":3,"result":{}}));
    let mut rest = String::new();
    host.stdout
        .as_mut()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert_eq!(rest, "", "nothing but MCP lines on stdout");
    let (status, _) = host.exit();
    assert!(status.success(), "{status}");
}

#[test]
fn a_modern_host_is_served_without_initialize() {
    let mut host = Host::launch();
    let discover = host.ask(&format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{{{META}}}}}"#
    ));
    assert!(
        discover["result"]["supportedVersions"].is_array(),
        "{discover}"
    );
    let echo = host.ask(&format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{{META},"name":"echo","arguments":{{"text":"modern"}}}}}}"#
    ));
    assert_eq!(text_of(&echo), "modern");
    assert_eq!(echo["result"]["resultType"], "complete");
    // A tool whose argument HTTP mirrors in an Mcp-Param header: a pipe has no headers, so
    // none is demanded.
    let annotated = host.ask(&format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{{META},"name":"test_header_param","arguments":{{"region":"us-west1"}}}}}}"#
    ));
    assert_eq!(text_of(&annotated), "Ran in us-west1", "{annotated}");
    let refused = host.ask(INIT);
    assert_eq!(refused["error"]["code"], -32022, "{refused}");
    let (status, _) = host.exit();
    assert!(status.success(), "{status}");
}

/// The child's resident memory, sampled until stopped; the highest seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak_kib(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// The engine's default inbound limit (`limits.http.max_body_bytes`, as for a POST body): the
/// most one line may hold before it is refused.
const MAX_MESSAGE: u64 = 4 * 1024 * 1024;

#[test]
fn hostile_stdin_is_answered_and_memory_stays_bounded() {
    let mut host = Host::launch();
    let pid = host.child.id();
    host.ask(INIT);
    host.send(INITIALIZED);
    assert_eq!(
        host.ask(r#"{"jsonrpc":"2.0","id":"warm","method":"tools/list"}"#)["id"],
        "warm"
    );
    let baseline = rss_kib(pid).unwrap();
    let mut sampler = RssSampler::start(pid);

    // A 1 GB line, written by a thread (the server answers its error while it is still being
    // written), then a request that must be served.
    let mut stdin = host.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"")
            .unwrap();
        for _ in 0..1024 {
            stdin.write_all(&chunk).unwrap();
        }
        stdin.write_all(b"\"}\n").unwrap();
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"ping\"}\n")
            .unwrap();
        stdin
    });
    let refusal = host.receive();
    assert_eq!(refusal["id"], Value::Null, "{refusal}");
    assert_eq!(refusal["error"]["code"], -32600, "{refusal}");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&MAX_MESSAGE.to_string()),
        "{refusal}"
    );
    assert_eq!(host.receive()["id"], "after", "served after the long line");
    host.stdin = Some(writer.join().unwrap());

    // Invalid UTF-8, then a nesting bomb: parse errors with id null, and still serving.
    host.stdin
        .as_mut()
        .unwrap()
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"\xff\xfe\"}\n")
        .unwrap();
    let invalid = host.receive();
    assert_eq!(
        (invalid["id"].clone(), invalid["error"]["code"].clone()),
        (Value::Null, json!(-32700))
    );
    host.send(&"[".repeat(1_000_000));
    let bomb = host.receive();
    assert_eq!(bomb["error"]["code"], -32700, "{bomb}");
    assert!(
        bomb["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested")
    );

    // 100,000 requests written without reading: the server stops reading once its output
    // window is full, the writer blocks, nothing grows. Then every one is answered.
    const REQUESTS: usize = 100_000;
    let mut stdin = host.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut batch = Vec::new();
        for id in 0..REQUESTS {
            batch.extend_from_slice(
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{id}"}}}}}}"#)
                    .as_bytes(),
            );
            batch.push(b'\n');
            if batch.len() > 1 << 16 {
                stdin.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        stdin.write_all(&batch).unwrap();
        stdin
    });
    // Not read for a while: the server fills its window and stops reading, so the writer,
    // with 11 MB to write, cannot finish.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !writer.is_finished(),
        "the server read everything without being read"
    );
    let mut seen = vec![false; REQUESTS];
    for _ in 0..REQUESTS {
        let answer = host.receive();
        let id = answer["id"].as_u64().unwrap_or_else(|| panic!("{answer}")) as usize;
        assert_eq!(text_of(&answer), id.to_string());
        assert!(!seen[id], "answered twice: {id}");
        seen[id] = true;
    }
    host.stdin = Some(writer.join().unwrap());
    let peak = sampler.peak_kib();
    // What the server may hold beyond its start: one line up to the message limit while it is
    // checked, and slack for the allocator, the handler threads and the output window
    // (256 KiB). A 1 GB line or 100,000 queued requests held would be far beyond it.
    let bound = baseline + MAX_MESSAGE / 1024 + 32 * 1024;
    assert!(
        peak < bound,
        "VmRSS peaked at {peak} KiB: baseline {baseline} KiB, bound {bound} KiB"
    );
    eprintln!("VmRSS: baseline {baseline} KiB, peak {peak} KiB, bound {bound} KiB");
    let (status, _) = host.exit();
    assert!(status.success(), "{status}");
}

#[test]
fn a_closed_stdout_ends_the_server_without_a_panic() {
    let mut host = Host::launch();
    host.ask(INIT);
    host.send(INITIALIZED);
    drop(host.stdout.take());
    // Answers now meet EPIPE; the server ends. Writing to it may fail once it has.
    for id in 0..100 {
        let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n");
        if host
            .stdin
            .as_mut()
            .unwrap()
            .write_all(line.as_bytes())
            .is_err()
        {
            break;
        }
    }
    let mut waited = Duration::ZERO;
    while host.child.try_wait().unwrap().is_none() {
        assert!(waited < EXIT_PATIENCE, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    }
    let (status, _) = host.exit();
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_ends_a_stdio_server_cleanly() {
    let mut host = Host::launch();
    // A TypeScript 2.4 host probes a throwaway process and SIGTERMs it right away.
    let discover = host.ask(&format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{{{META}}}}}"#
    ));
    assert!(discover["result"].is_object());
    let killed = Command::new("kill")
        .args(["-TERM", &host.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut waited = Duration::ZERO;
    while host.child.try_wait().unwrap().is_none() {
        assert!(waited < EXIT_PATIENCE, "the server did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    }
    let (status, _) = host.exit();
    assert!(status.success(), "{status}");
}

#[test]
fn requests_from_a_file_are_answered_and_the_server_exits() {
    let dir = std::env::temp_dir().join(format!("mcpwire-stdio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("requests.jsonl");
    let mut lines = String::new();
    for id in 0..50 {
        lines.push_str(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{{META},"name":"echo","arguments":{{"text":"{id}"}}}}}}"#
        ));
        lines.push('\n');
    }
    std::fs::write(&input, lines).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
        .args(["serve", "--stdio"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .expect("the mcpwire binary runs");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(output.status.success(), "{output:?}");
    let answers: Vec<Value> = output
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 50);
}

/// Whether an open file is non-blocking, from the kernel's own account of this process's
/// descriptor (`flags` in /proc/self/fdinfo, octal; O_NONBLOCK is 0o4000).
fn nonblocking(fd: &impl std::os::fd::AsRawFd) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .unwrap();
    flags & 0o4000 != 0
}

#[test]
fn the_hosts_stdin_and_stdout_are_left_blocking_as_they_came() {
    // A socket pair each way, as a host may launch a server: the reactor watches both, and
    // the open files (with their flags) are the host's too.
    let (input, host_in) = std::os::unix::net::UnixStream::pair().unwrap();
    let (output, host_out) = std::os::unix::net::UnixStream::pair().unwrap();
    let (input_seen, output_seen) = (input.try_clone().unwrap(), output.try_clone().unwrap());
    assert!(!nonblocking(&input_seen) && !nonblocking(&output_seen));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
        .args(["serve", "--stdio"])
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(input)))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(output)))
        .stderr(Stdio::null())
        .spawn()
        .expect("the mcpwire binary runs");
    let mut writer = host_in;
    writer.write_all(format!("{INIT}\n").as_bytes()).unwrap();
    let mut reader = BufReader::new(host_out);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("protocolVersion"), "{line}");
    writer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(waited < EXIT_PATIENCE, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    };
    assert!(status.success(), "{status}");
    assert!(!nonblocking(&input_seen), "stdin left non-blocking");
    assert!(!nonblocking(&output_seen), "stdout left non-blocking");
}
