//! A test client over real sockets: a blocking HTTP/1.1 client that reads JSON and SSE
//! responses incrementally, and an MCP session over it. The tests of the `mcpwire` binary
//! (`server/tests`) use it too, beside their own child-process wrapper.
//!
//! Every wait is bounded (a socket read timeout, a polling deadline) so that a broken server
//! fails a test instead of hanging it; none of these bounds is a performance claim.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use mcpwire_core::sse::{SseItem, SseParser};
use serde_json::{Value, json};

/// How long any single wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

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

    /// A connection from another local address (any of 127.0.0.0/8): another peer, for the
    /// server's per-peer connection cap.
    pub fn open_from(addr: SocketAddr, source: std::net::IpAddr) -> Conn {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        socket
            .bind(&SocketAddr::new(source, 0).into())
            .expect("binds the source address");
        socket.connect(&addr.into()).expect("connects");
        let stream: TcpStream = socket.into();
        stream.set_nodelay(true).unwrap();
        Conn::from_stream(stream)
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

/// A POST of a 2026-07-28 request to `/mcp`: that era's headers (`MCP-Protocol-Version`,
/// `Mcp-Method`, and `Mcp-Name` for a named request), then `extra`.
pub fn stateless_post(
    method: &str,
    name: Option<&str>,
    extra: &[(&str, &str)],
    body: &Value,
) -> Vec<u8> {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", method),
    ];
    if let Some(name) = name {
        headers.push(("Mcp-Name", name));
    }
    headers.extend_from_slice(extra);
    request("POST", "/mcp", &headers, &body.to_string())
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

/// An application served in this process on an ephemeral port, signals left alone: its
/// address, its handle, and the thread that serves it (joined once the handle shut it down).
pub struct InProcess {
    pub addr: SocketAddr,
    pub handle: mcpwire_smol::ServerHandle,
    serving: std::thread::JoinHandle<std::io::Result<()>>,
}

impl InProcess {
    pub fn serve(app: mcpwire_smol::App) -> InProcess {
        InProcess::serve_at(app, "127.0.0.1:0".parse().unwrap())
    }

    /// Serves on `addr` (a restarted server on the address of one that stopped).
    pub fn serve_at(app: mcpwire_smol::App, addr: SocketAddr) -> InProcess {
        InProcess::serve_server_at(mcpwire_smol::Server::new(app), addr)
    }

    /// Serves a configured `server` on a free port.
    pub fn serve_server(server: mcpwire_smol::Server) -> InProcess {
        InProcess::serve_server_at(server, "127.0.0.1:0".parse().unwrap())
    }

    fn serve_server_at(server: mcpwire_smol::Server, addr: SocketAddr) -> InProcess {
        let listener = smol::block_on(smol::net::TcpListener::bind(addr)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = server.handle_signals(false);
        let handle = server.handle();
        let serving = std::thread::spawn(move || smol::block_on(server.serve(listener)));
        InProcess {
            addr,
            handle,
            serving,
        }
    }

    /// Checks the server's bookkeeping (the engine's invariants, and that every request in
    /// flight is owned), shuts the server down at once and waits for `serve` to return.
    pub fn stop(self) {
        smol::block_on(self.handle.check_invariants())
            .expect("running")
            .expect("the server's bookkeeping holds");
        smol::block_on(self.handle.shutdown(Duration::ZERO)).unwrap();
        self.serving.join().unwrap().unwrap();
    }
}
