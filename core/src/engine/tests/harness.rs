//! A byte-level test client for the engine: virtual time, per-connection output, a small HTTP
//! response reader, and `check_invariants` after every step.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::engine::{Config, ConnAction, ConnId, Engine, Event, RequestHandle, SessionKey};
use crate::sse::{SseItem, SseParser};
use crate::time::{Duration, Instant};

pub(super) struct Harness {
    pub(super) engine: Engine,
    pub(super) now: Instant,
    /// Bytes written to each connection and not yet read by the test.
    pub(super) out: BTreeMap<ConnId, Vec<u8>>,
    /// Connections the engine closed.
    pub(super) closed: Vec<ConnId>,
    /// Connections whose client stopped reading: their bytes are taken but never acknowledged.
    pub(super) stalled: Vec<ConnId>,
    /// Bytes each stalled connection took and did not acknowledge.
    pub(super) unacked: BTreeMap<ConnId, usize>,
    pub(super) events: Vec<Event>,
    /// The application is not polling events (to test the pending-events limit).
    pub(super) hold_events: bool,
}

/// One HTTP response read off a connection.
#[derive(Debug, Clone)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// The body ended (length reached, or chunked terminator seen).
    pub(super) complete: bool,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub(super) fn sse(&self) -> Vec<SseItem> {
        let mut parser = SseParser::new();
        parser.feed(&self.body);
        let mut items = Vec::new();
        while let Some(item) = parser.poll_item() {
            items.push(item.unwrap());
        }
        items
    }

    /// The id of the first SSE event (the priming event, on a primed stream).
    pub(super) fn first_event_id(&self) -> String {
        self.sse()
            .into_iter()
            .find_map(|item| match item {
                SseItem::Event(e) => e.id,
                _ => None,
            })
            .expect("an event with an id")
    }

    /// The JSON of every SSE message event.
    pub(super) fn sse_messages(&self) -> Vec<serde_json::Value> {
        self.sse()
            .into_iter()
            .filter_map(|item| match item {
                SseItem::Event(e) if !e.data.is_empty() && e.event == "message" => {
                    serde_json::from_str(&e.data).ok()
                }
                _ => None,
            })
            .collect()
    }
}

/// `initialize` from a client that declares sampling, elicitation and roots.
pub(super) const INIT_CAPABLE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{},"elicitation":{},"roots":{}},"clientInfo":{"name":"test","version":"1"}}}"#;
pub(super) const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;

impl Harness {
    pub(super) fn new(config: Config) -> Harness {
        Harness {
            engine: Engine::new(config, Instant::ZERO, [42; 32]),
            now: Instant::ZERO,
            out: BTreeMap::new(),
            closed: Vec::new(),
            stalled: Vec::new(),
            unacked: BTreeMap::new(),
            events: Vec::new(),
            hold_events: false,
        }
    }

    pub(super) fn default() -> Harness {
        let mut config = Config::new("test-server", "0.1.0");
        config.capabilities =
            r#"{"tools":{"listChanged":true},"resources":{"subscribe":true},"logging":{}}"#.into();
        Harness::new(config)
    }

    pub(super) fn check(&self) {
        if let Err(violation) = self.engine.check_invariants() {
            panic!("{violation}");
        }
    }

    /// Drains output and events after every input, as an adapter does.
    pub(super) fn pump(&mut self) {
        self.check();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match self.engine.poll_transmit(&mut buf) {
                Some(ConnAction::Write { conn, len }) => {
                    self.out
                        .entry(conn)
                        .or_default()
                        .extend_from_slice(&buf[buf.len() - len..]);
                    if self.stalled.contains(&conn) {
                        *self.unacked.entry(conn).or_default() += len;
                    } else {
                        self.engine.handle_written(self.now, conn, len);
                    }
                }
                Some(ConnAction::Close { conn }) => self.closed.push(conn),
                None => break,
            }
            self.check();
        }
        while !self.hold_events {
            let Some(event) = self.engine.poll_event() else {
                break;
            };
            self.events.push(event);
        }
        self.check();
        if let Some(deadline) = self.engine.poll_timeout() {
            assert!(
                deadline >= self.now || self.engine.poll_timeout() == Some(self.now),
                "a deadline in the past"
            );
        }
    }

    /// Every connection the test opened goes, as if its client closed it.
    pub(super) fn close_all(&mut self) {
        let conns: Vec<ConnId> = self.out.keys().copied().collect();
        for conn in conns {
            self.engine.handle_closed(self.now, conn);
        }
        self.pump();
    }

    /// Takes the events of one kind that arrived so far, leaving the others.
    pub(super) fn take_events(&mut self, matches: impl Fn(&Event) -> bool) -> Vec<Event> {
        let (taken, kept) = core::mem::take(&mut self.events)
            .into_iter()
            .partition(|e| matches(e));
        self.events = kept;
        taken
    }

    pub(super) fn connect(&mut self) -> ConnId {
        let conn = self.engine.handle_accept(self.now, None).expect("accepted");
        self.pump();
        conn
    }

    pub(super) fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self.engine.handle_bytes(self.now, conn, rest);
            self.pump();
            if n == 0 {
                break;
            }
            rest = &rest[n..];
        }
    }

    /// Advances virtual time by `ms`, firing every deadline on the way exactly when due.
    pub(super) fn advance(&mut self, ms: u64) {
        let target = self.now + Duration::from_millis(ms);
        let mut repeats = 0;
        let mut last = None;
        while let Some(deadline) = self.engine.poll_timeout() {
            if deadline > target || (self.hold_events && deadline == self.now) {
                break;
            }
            // Handling a deadline and draining must move it: one that stays put would spin an
            // adapter's loop forever.
            repeats = if last == Some(deadline) {
                repeats + 1
            } else {
                0
            };
            assert!(
                repeats < 100,
                "deadline {deadline:?} does not clear: {}",
                self.engine.stats()
            );
            last = Some(deadline);
            self.now = self.now.max(deadline);
            self.engine.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
        self.engine.handle_timeout(self.now);
        self.pump();
    }

    pub(super) fn request(
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Vec<u8> {
        let mut wire = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n");
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

    pub(super) fn post_wire(session: Option<&str>, body: &str) -> Vec<u8> {
        let mut headers = alloc::vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        if let Some(session) = session {
            headers.push(("Mcp-Session-Id", session));
            headers.push(("MCP-Protocol-Version", "2025-11-25"));
        }
        Self::request("POST", "/mcp", &headers, body)
    }

    /// POSTs on `conn` and returns the response as far as it has arrived.
    pub(super) fn post_on(&mut self, conn: ConnId, session: Option<&str>, body: &str) -> Response {
        self.send(conn, &Self::post_wire(session, body));
        self.take_response(conn).expect("a response head")
    }

    pub(super) fn post(&mut self, session: Option<&str>, body: &str) -> Response {
        let conn = self.connect();
        self.post_on(conn, session, body)
    }

    /// Opens a session and returns its wire id and key.
    pub(super) fn initialize(&mut self) -> (String, SessionKey) {
        self.initialize_with(INIT)
    }

    /// Opens a session with this `initialize` body.
    pub(super) fn initialize_with(&mut self, init: &str) -> (String, SessionKey) {
        let response = self.post(None, init);
        assert_eq!(
            response.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
        let wire_id = response
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        let key = self
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::SessionOpened { session, .. } => Some(*session),
                _ => None,
            })
            .expect("SessionOpened");
        let ack = self.post(
            Some(&wire_id),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        assert_eq!(ack.status, 202);
        (wire_id, key)
    }

    /// Opens a 2024-11-05 HTTP+SSE stream: its connection, and the messages endpoint its
    /// `endpoint` event names.
    pub(super) fn open_legacy(&mut self) -> (ConnId, String) {
        let sse = self.connect();
        self.send(
            sse,
            &Self::request("GET", "/sse", &[("Accept", "text/event-stream")], ""),
        );
        let endpoint = self
            .peek_response(sse)
            .expect("the SSE head")
            .sse()
            .into_iter()
            .find_map(|i| match i {
                SseItem::Event(e) if e.event == "endpoint" => Some(e.data),
                _ => None,
            })
            .expect("the endpoint event");
        (sse, endpoint)
    }

    /// POSTs a request on a new connection and takes the request event it raised.
    pub(super) fn call(&mut self, session: &str, body: &str) -> (ConnId, RequestHandle) {
        let conn = self.connect();
        self.send(conn, &Self::post_wire(Some(session), body));
        (conn, self.take_request_event().0)
    }

    /// A harness whose engine answers every POST as an SSE stream (every response resumable).
    pub(super) fn sse_mode() -> Harness {
        let mut config = Config::new("t", "1");
        config.response_mode = crate::engine::ResponseMode::Sse;
        Harness::new(config)
    }

    /// GET with `Last-Event-ID` on a new connection: resumes the stream that id names.
    pub(super) fn resume(&mut self, session: &str, last_event_id: &str) -> ConnId {
        let conn = self.connect();
        let headers = [
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", session),
            ("Last-Event-ID", last_event_id),
        ];
        self.send(conn, &Self::request("GET", "/mcp", &headers, ""));
        conn
    }

    /// Opens the session's GET stream on a new connection.
    pub(super) fn open_get(&mut self, session: &str) -> ConnId {
        let conn = self.connect();
        self.send(
            conn,
            &Self::request(
                "GET",
                "/mcp",
                &[("Accept", "text/event-stream"), ("Mcp-Session-Id", session)],
                "",
            ),
        );
        conn
    }

    pub(super) fn take_request_event(&mut self) -> (RequestHandle, String) {
        let index = self
            .events
            .iter()
            .position(|e| matches!(e, Event::Request { .. }))
            .expect("a request event");
        match self.events.remove(index) {
            Event::Request { handle, method, .. } => (handle, method),
            _ => unreachable!(),
        }
    }

    /// Reads one response (complete or not) off `conn`'s output, consuming what it used if
    /// complete.
    pub(super) fn take_response(&mut self, conn: ConnId) -> Option<Response> {
        let bytes = self.out.get(&conn)?;
        let (response, used) = parse_response(bytes)?;
        if response.complete {
            self.out.get_mut(&conn).map(|b| b.drain(..used));
        }
        Some(response)
    }

    /// The response on `conn` as it stands, consuming nothing.
    pub(super) fn peek_response(&self, conn: ConnId) -> Option<Response> {
        parse_response(self.out.get(&conn)?).map(|(r, _)| r)
    }
}

/// Parses one response from `bytes`: head, then a length-delimited or chunked body (as much as
/// has arrived). Returns it and the bytes it spans.
pub(super) fn parse_response(bytes: &[u8]) -> Option<(Response, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = parsed.parse(bytes).ok()? else {
        return None;
    };
    let status = parsed.code?;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let rest = &bytes[head_len..];
    if let Some(length) = find("content-length") {
        let length: usize = length.parse().ok()?;
        let have = rest.len().min(length);
        return Some((
            Response {
                status,
                headers,
                body: rest[..have].to_vec(),
                complete: have == length,
            },
            head_len + have,
        ));
    }
    if find("transfer-encoding").as_deref() == Some("chunked") {
        let mut body = Vec::new();
        let mut at = 0;
        while let Some(line_end) = rest[at..].windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(core::str::from_utf8(&rest[at..at + line_end]).ok()?, 16)
                    .ok()?;
            let data_start = at + line_end + 2;
            if size == 0 {
                let complete = rest.len() >= data_start + 2;
                return Some((
                    Response {
                        status,
                        headers,
                        body,
                        complete,
                    },
                    head_len + data_start + 2,
                ));
            }
            if rest.len() < data_start + size + 2 {
                break;
            }
            body.extend_from_slice(&rest[data_start..data_start + size]);
            at = data_start + size + 2;
        }
        return Some((
            Response {
                status,
                headers,
                body,
                complete: false,
            },
            head_len + at,
        ));
    }
    Some((
        Response {
            status,
            headers,
            body: rest.to_vec(),
            complete: false,
        },
        bytes.len(),
    ))
}
