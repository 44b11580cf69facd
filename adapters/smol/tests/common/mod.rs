//! A test client over real sockets: the `mcpwire` binary as a child process, a blocking
//! HTTP/1.1 client that reads JSON and SSE responses incrementally, and the server's metrics and
//! open file descriptors.
//!
//! Every wait is bounded (a socket read timeout, a polling deadline) so that a broken server
//! fails a test instead of hanging it; none of these bounds is a performance claim.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcpwire_core::sse::{SseItem, SseParser};
use serde_json::{Value, json};

/// How long any single wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The `mcpwire` binary, serving on an ephemeral port with `--metrics`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Kept open: the server prints more lines, and a closed pipe would fail them.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    /// Starts `mcpwire serve --bind 127.0.0.1:0 --metrics` with `args`, and waits for its URL.
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
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .parse()
            .expect("an address");
        let server = Server {
            child,
            addr,
            _stdout: stdout,
        };
        // The URL is printed before `serve` installs its signal handlers; an answer from the
        // driver means they are in place (a signal sooner would kill the process outright).
        server.metrics();
        server
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

    /// `GET /metrics`, parsed: `name` or `name{labels}` to value.
    pub fn metrics(&self) -> BTreeMap<String, u64> {
        let mut conn = Conn::open(self.addr);
        conn.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let response = conn.response();
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

    /// The gauges that must come back to their baseline: every live entity and task.
    pub fn gauges(&self) -> BTreeMap<String, u64> {
        self.metrics()
            .into_iter()
            .filter(|(name, _)| !name.split('{').next().unwrap_or("").ends_with("_total"))
            .collect()
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

/// A response head and as much of the body as was read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The JSON-RPC messages of an SSE body.
    pub fn sse_messages(&self) -> Vec<Value> {
        let mut parser = SseParser::new();
        parser.feed(&self.body);
        let mut messages = Vec::new();
        while let Some(item) = parser.poll_item() {
            if let Ok(SseItem::Event(event)) = item {
                if !event.data.is_empty() {
                    messages.push(serde_json::from_str(&event.data).expect("JSON data"));
                }
            }
        }
        messages
    }

    /// The messages, whether the body was JSON or SSE.
    pub fn messages(&self) -> Vec<Value> {
        if self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
        {
            self.sse_messages()
        } else {
            vec![self.json()]
        }
    }
}

/// One SSE event read off a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub data: String,
}

/// A client connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// An SSE body being read: its parser and whether it is chunked.
    sse: Option<(SseParser, bool)>,
    pub body_done: bool,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connects");
        stream.set_nodelay(true).unwrap();
        Conn::from_stream(stream)
    }

    fn from_stream(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            sse: None,
            body_done: false,
        }
    }

    /// A connection whose receive window is tiny: once the server's send buffer is full, its
    /// writes stall until this client reads.
    pub fn open_small_window(addr: SocketAddr) -> Conn {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket.connect(&addr.into()).expect("connects");
        Conn::from_stream(socket.into())
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("writes");
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Reads until the peer closes (after a `Connection: close` response).
    pub fn wait_closed(&mut self) {
        while self.fill() > 0 {}
    }

    /// Whether the server closed the connection (reads EOF or a reset).
    pub fn is_closed_by_peer(&mut self) -> bool {
        self.fill() == 0
    }

    /// Reads a response head.
    pub fn head(&mut self) -> Response {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf.drain(..end + 4).collect()).unwrap();
                let mut lines = head.split("\r\n");
                let status = lines.next().unwrap()[9..12].parse().unwrap();
                let headers = lines
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (n, v) = l.split_once(':').unwrap();
                        (n.trim().to_ascii_lowercase(), v.trim().to_string())
                    })
                    .collect();
                self.body_done = false;
                return Response {
                    status,
                    headers,
                    body: Vec::new(),
                };
            }
            assert!(self.fill() > 0, "closed before a response head");
        }
    }

    /// Reads a whole response: head and body (fixed length, or chunked to its terminator).
    pub fn response(&mut self) -> Response {
        let mut response = self.head();
        if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                assert!(self.fill() > 0, "closed mid-body");
            }
            response.body = self.buf.drain(..len).collect();
        } else if response.header("transfer-encoding") == Some("chunked") {
            while let Some(data) = self.next_chunk() {
                response.body.extend_from_slice(&data);
            }
        }
        response
    }

    /// The next piece of a chunked body, `None` at its terminator.
    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.body_done {
            return None;
        }
        loop {
            if let Some(line_end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.buf[..line_end]).unwrap().trim(),
                    16,
                )
                .expect("a chunk size");
                let total = line_end + 2 + size + 2;
                if self.buf.len() >= total {
                    let data = self.buf[line_end + 2..line_end + 2 + size].to_vec();
                    self.buf.drain(..total);
                    if size == 0 {
                        self.body_done = true;
                        return None;
                    }
                    return Some(data);
                }
            }
            assert!(
                self.fill() > 0,
                "closed mid-chunk: the stream was not terminated"
            );
        }
    }

    /// Starts reading an SSE response body event by event (after `head`).
    pub fn start_sse(&mut self) {
        self.sse = Some((SseParser::new(), true));
    }

    /// The next SSE event with data, `None` when the stream ends cleanly.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let (parser, _) = self.sse.as_mut().expect("start_sse first");
            while let Some(item) = parser.poll_item() {
                if let Ok(SseItem::Event(event)) = item {
                    return Some(Event {
                        id: event.id.clone(),
                        data: event.data.clone(),
                    });
                }
            }
            let chunk = self.next_chunk()?;
            self.sse.as_mut().unwrap().0.feed(&chunk);
        }
    }

    /// The next SSE event that carries a JSON-RPC message.
    pub fn next_message(&mut self) -> Option<(Option<String>, Value)> {
        loop {
            let event = self.next_event()?;
            if !event.data.is_empty() {
                return Some((event.id, serde_json::from_str(&event.data).expect("JSON")));
            }
        }
    }

    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Drops the connection with a reset, as a client that vanishes mid-stream does.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }
}

/// The wire form of a request.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut wire = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        wire.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        wire.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    wire.push_str("\r\n");
    wire.push_str(body);
    wire.into_bytes()
}

/// A POST of a JSON-RPC message to `/mcp`.
pub fn post(session: Option<&str>, body: &Value) -> Vec<u8> {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    if let Some(session) = session {
        headers.push(("Mcp-Session-Id", session));
    }
    request("POST", "/mcp", &headers, &body.to_string())
}

/// An initialized session.
pub struct Session {
    pub addr: SocketAddr,
    pub id: String,
    next_id: i64,
}

impl Session {
    /// `initialize` and `notifications/initialized`.
    pub fn open(addr: SocketAddr) -> Session {
        let mut conn = Conn::open(addr);
        conn.send(&post(
            None,
            &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion":"2025-11-25",
                "capabilities":{"sampling":{},"elicitation":{}},
                "clientInfo":{"name":"socket-test","version":"1"}}}),
        ));
        let response = conn.response();
        assert_eq!(
            response.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
        let id = response
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        assert_eq!(
            response.messages()[0]["result"]["protocolVersion"],
            "2025-11-25"
        );
        let mut session = Session {
            addr,
            id,
            next_id: 1,
        };
        let ack = session.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        assert_eq!(ack.status, 202);
        session
    }

    /// Sends one message on a new connection and reads the whole response.
    pub fn send(&mut self, message: &Value) -> Response {
        let mut conn = Conn::open(self.addr);
        conn.send(&post(Some(&self.id), message));
        conn.response()
    }

    /// The next request id.
    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Calls `method` and returns every message of the response (notifications, then the
    /// result).
    pub fn call(&mut self, method: &str, params: Value) -> Vec<Value> {
        let id = self.next_id();
        let response = self.send(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}));
        assert_eq!(
            response.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
        response.messages()
    }

    /// Starts a call on its own connection; read its response from the returned connection.
    pub fn start_call(&mut self, method: &str, params: Value) -> (i64, Conn) {
        self.start_call_on(Conn::open(self.addr), method, params)
    }

    /// Starts a call on `conn`.
    pub fn start_call_on(&mut self, mut conn: Conn, method: &str, params: Value) -> (i64, Conn) {
        let id = self.next_id();
        conn.send(&post(
            Some(&self.id),
            &json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
        ));
        (id, conn)
    }

    /// Opens the session's GET stream (or resumes one with `last_event_id`), after its head.
    pub fn open_get(&self, last_event_id: Option<&str>) -> Conn {
        let mut conn = Conn::open(self.addr);
        let mut headers = vec![
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", self.id.as_str()),
            ("MCP-Protocol-Version", "2025-11-25"),
        ];
        if let Some(id) = last_event_id {
            headers.push(("Last-Event-ID", id));
        }
        conn.send(&request("GET", "/mcp", &headers, ""));
        let head = conn.head();
        assert_eq!(head.status, 200);
        conn.start_sse();
        conn
    }

    /// DELETE.
    pub fn delete(&self) -> u16 {
        let mut conn = Conn::open(self.addr);
        conn.send(&request(
            "DELETE",
            "/mcp",
            &[
                ("Mcp-Session-Id", &self.id),
                ("MCP-Protocol-Version", "2025-11-25"),
            ],
            "",
        ));
        conn.response().status
    }
}

/// The text of a tool result's first content block.
/// A call of the `spin` tool for `millis`, on its own connection, once it is computing: its
/// session, and the call's stream (read on to get its result).
pub fn start_spin(addr: SocketAddr, millis: u64) -> (Session, Conn) {
    let mut spinner = Session::open(addr);
    let (_, mut call) = spinner.start_call(
        "tools/call",
        json!({"name":"spin","arguments":{"millis":millis},"_meta":{"progressToken":"s"}}),
    );
    assert_eq!(call.head().status, 200);
    call.start_sse();
    let (_, progress) = call.next_message().expect("the spin reports that it began");
    assert_eq!(progress["params"]["message"], "spinning");
    (spinner, call)
}

pub fn result_text(message: &Value) -> &str {
    message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {message}"))
}
