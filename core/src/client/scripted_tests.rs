//! The client against a scripted server speaking raw bytes: each test replays a way a server
//! once broke a bound of the client (a loop at network speed, a connection held with no owner,
//! a stream lost for good, a request run twice), and a randomized hostile server checks that
//! every call still gets exactly one outcome.
extern crate std;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::entities::{Phase, Standalone};
use super::*;

pub(super) struct Req {
    pub(super) conn: ClientConnId,
    pub(super) method: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
}

impl Req {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn rpc_method(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("method")?.as_str().map(String::from)
    }
    pub(super) fn rpc_id(&self) -> Option<u64> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("id")?.as_u64()
    }
}

pub(super) struct Raw {
    pub(super) client: Client,
    pub(super) now: Instant,
    open: BTreeMap<ClientConnId, bool>,
    pub(super) events: Vec<ClientEvent>,
    pub(super) refuse_connect: bool,
    opened: usize,
}

pub(super) fn parse(conn: ClientConnId, bytes: &[u8]) -> Req {
    let text = String::from_utf8_lossy(bytes).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let method = lines.next().unwrap().split(' ').next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    Req {
        conn,
        method,
        headers,
        body: body.to_string(),
    }
}

impl Raw {
    pub(super) fn new(config: ClientConfig) -> Raw {
        Raw {
            client: Client::new(config, Instant::ZERO, [9; 32]),
            now: Instant::ZERO,
            open: BTreeMap::new(),
            events: Vec::new(),
            refuse_connect: false,
            opened: 0,
        }
    }
    /// Runs the client's transmits; returns the requests written.
    pub(super) fn flush(&mut self) -> Vec<Req> {
        let mut reqs = Vec::new();
        for _ in 0..1000 {
            let mut out = Vec::new();
            let Some(t) = self.client.poll_transmit(&mut out) else {
                break;
            };
            match t {
                Transmit::Open { conn } => {
                    self.opened += 1;
                    if self.refuse_connect {
                        self.client.handle_connect_failed(self.now, conn);
                    } else {
                        self.open.insert(conn, true);
                        self.client.handle_connected(self.now, conn);
                    }
                }
                Transmit::Write { conn, len } => reqs.push(parse(conn, &out[out.len() - len..])),
                Transmit::Close { conn } => {
                    self.open.remove(&conn);
                }
            }
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
        self.client.check_invariants().unwrap();
        reqs
    }
    pub(super) fn reply(&mut self, conn: ClientConnId, bytes: &str) {
        self.client.handle_bytes(self.now, conn, bytes.as_bytes());
    }
    pub(super) fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.client.handle_timeout(self.now);
    }
}

pub(super) fn json(status: &str, body: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}
pub(super) fn empty(status: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n{extra}\r\n")
}
pub(super) fn sse_head(extra: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n{extra}\r\n"
    )
}
pub(super) fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}
pub(super) fn result(id: u64, result: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

pub(super) fn sessions_config() -> ClientConfig {
    let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
    c.era = EraChoice::Sessions;
    c
}

/// Initialize + initialized; returns the requests still pending afterwards (the GET).
pub(super) fn handshake(net: &mut Raw) -> Vec<Req> {
    let mut reqs = net.flush();
    let init = reqs.remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    let id = init.rpc_id().unwrap();
    net.reply(
        init.conn,
        &json("200 OK", &result(id, r#"{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}"#), "mcp-session-id: s1\r\n"),
    );
    let mut reqs = net.flush();
    let ack = reqs.remove(0);
    assert_eq!(
        ack.rpc_method().as_deref(),
        Some("notifications/initialized")
    );
    net.reply(ack.conn, &empty("202 Accepted", ""));
    let more = net.flush();
    reqs.extend(more);
    reqs
}

pub(super) fn modern_ready(net: &mut Raw) {
    let mut reqs = net.flush();
    let d = reqs.remove(0);
    assert_eq!(d.rpc_method().as_deref(), Some("server/discover"));
    let id = d.rpc_id().unwrap();
    net.reply(
        d.conn,
        &json(
            "200 OK",
            &result(id, r#"{"supportedVersions":["2026-07-28"]}"#),
            "",
        ),
    );
    net.flush();
    assert!(net.client.is_connected());
}

// ---------------------------------------------------------------------------------------

/// A GET answered 404 every time (a server that forgets each session at once): the first loss
/// re-initializes at once, the next ones back off and count toward the attempt cap.
#[test]
fn a_server_that_forgets_every_session_is_not_reinitialized_at_network_speed() {
    let mut net = Raw::new(sessions_config());
    let mut reqs = handshake(&mut net);
    let mut initializes = 0;
    for _ in 0..500 {
        // no time passes at all
        let get = reqs.iter().position(|r| r.method == "GET");
        let Some(get) = get else { break };
        let get = reqs.remove(get);
        net.reply(get.conn, &empty("404 Not Found", ""));
        reqs.extend(net.flush());
        let Some(pos) = reqs
            .iter()
            .position(|r| r.rpc_method().as_deref() == Some("initialize"))
        else {
            break;
        };
        let init = reqs.remove(pos);
        initializes += 1;
        let id = init.rpc_id().unwrap();
        net.reply(
            init.conn,
            &json(
                "200 OK",
                &result(id, r#"{"protocolVersion":"2025-11-25"}"#),
                "mcp-session-id: s2\r\n",
            ),
        );
        reqs.extend(net.flush());
        let pos = reqs
            .iter()
            .position(|r| r.rpc_method().as_deref() == Some("notifications/initialized"))
            .unwrap();
        let ack = reqs.remove(pos);
        net.reply(ack.conn, &empty("202 Accepted", ""));
        reqs.extend(net.flush());
    }
    assert!(
        net.client.is_closed() || initializes < 20,
        "{initializes} new sessions in 0 ms, client still open: {}",
        net.client.stats()
    );
}

/// `retry: 0` on a GET stream that ends at once: floored, and counted as a failure.
#[test]
fn retry_zero_on_a_get_stream_is_not_obeyed_at_network_speed() {
    let mut net = Raw::new(sessions_config());
    let mut reqs = handshake(&mut net);
    let mut gets = 0;
    for _ in 0..500 {
        let Some(pos) = reqs.iter().position(|r| r.method == "GET") else {
            break;
        };
        let get = reqs.remove(pos);
        gets += 1;
        let body = format!("{}{}", sse_head(""), chunk("retry: 0\n\n"));
        net.reply(get.conn, &format!("{body}0\r\n\r\n"));
        net.client.handle_timeout(net.now); // the timer is due now: no time passes
        reqs.extend(net.flush());
    }
    assert!(gets < 20, "{gets} GETs in 0 ms");
}

/// A call header value with CR/LF is refused by `request`, which returns at once.
#[test]
fn a_call_header_with_cr_lf_is_refused_at_once() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
        c.era = EraChoice::Modern;
        let mut net = Raw::new(c);
        modern_ready(&mut net);
        let options = CallOptions {
            headers: alloc::vec![("mcp-param-a".into(), "x\r\ny: z".into())],
            ..CallOptions::default()
        };
        let refused = net.client.request(net.now, "tools/call", None, options);
        assert_eq!(refused, Err(CommandError::InvalidHeader));
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok(),
        "request() did not return within 5 s"
    );
}

/// Several connections failing at once are one attempt: one blip does not close the client.
#[test]
fn a_burst_of_connect_failures_is_one_attempt() {
    let mut net = Raw::new(sessions_config());
    let reqs = handshake(&mut net);
    let get = reqs.into_iter().find(|r| r.method == "GET").unwrap();
    net.reply(get.conn, &sse_head(""));
    net.flush();
    net.refuse_connect = true;
    for _ in 0..10 {
        net.client
            .request(net.now, "ping", None, CallOptions::default())
            .unwrap();
    }
    net.flush();
    assert!(
        !net.client.is_closed(),
        "closed after one burst, with no backoff: {:?}",
        net.events.last()
    );
}

/// A call's connection fails to open (a backoff is pending) and then the session is lost: the
/// new session's handshake starts at once, and the pending retry, firing while
/// `notifications/initialized` is out, does not send it a second time. Two in flight, the
/// first answered would leave the other's connection with no owner and no deadline.
#[test]
fn a_retry_due_mid_handshake_does_not_send_it_twice() {
    let mut net = Raw::new(sessions_config());
    let reqs = handshake(&mut net);
    let get = reqs.into_iter().find(|r| r.method == "GET").unwrap();
    net.refuse_connect = true;
    net.client
        .request(net.now, "ping", None, CallOptions::default())
        .unwrap();
    assert!(net.flush().is_empty());
    net.refuse_connect = false;
    // The session is gone: initialize again, at once.
    net.reply(get.conn, &empty("404 Not Found", ""));
    let mut reqs = net.flush();
    let init = reqs.remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    net.reply(
        init.conn,
        &json(
            "200 OK",
            &result(
                init.rpc_id().unwrap(),
                r#"{"protocolVersion":"2025-11-25"}"#,
            ),
            "mcp-session-id: s2\r\n",
        ),
    );
    let mut acks: Vec<Req> = net.flush();
    // The backoff of the failed connection ends while the acknowledgment is out.
    for _ in 0..20 {
        net.advance(100);
        acks.extend(net.flush());
    }
    let initialized = |r: &Req| r.rpc_method().as_deref() == Some("notifications/initialized");
    assert_eq!(acks.iter().filter(|r| initialized(r)).count(), 1);
    let ack = acks.into_iter().find(initialized).unwrap();
    net.reply(ack.conn, &empty("202 Accepted", ""));
    net.flush();
    assert!(net.client.is_connected());
}

/// `server/discover` answered by a server that does not list 2026-07-28: one that lists
/// session-era versions gets `initialize` (with `EraChoice::Auto`); one that lists nothing
/// this client speaks, or nothing at all, is refused with the versions it offered, and no
/// request goes to it in an era it does not speak.
#[test]
fn a_discover_answer_is_read_for_the_versions_it_offers() {
    let discovered = |era: EraChoice, answer: &str| {
        let mut config = sessions_config();
        config.era = era;
        let mut net = Raw::new(config);
        let call = net
            .client
            .request(net.now, "tools/list", None, CallOptions::default())
            .unwrap();
        let discover = net.flush().remove(0);
        assert_eq!(discover.rpc_method().as_deref(), Some("server/discover"));
        net.reply(
            discover.conn,
            &json("200 OK", &result(discover.rpc_id().unwrap(), answer), ""),
        );
        let next = net.flush();
        (net, call, next)
    };

    // Session-era versions only: initialize, and the call goes in a session.
    let (mut net, call, next) = discovered(
        EraChoice::Auto,
        r#"{"supportedVersions":["2025-06-18","2025-03-26"],"capabilities":{}}"#,
    );
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].rpc_method().as_deref(), Some("initialize"));
    assert!(!net.client.is_closed());
    net.reply(
        next[0].conn,
        &json(
            "200 OK",
            &result(
                next[0].rpc_id().unwrap(),
                r#"{"protocolVersion":"2025-06-18"}"#,
            ),
            "mcp-session-id: s1\r\n",
        ),
    );
    let ack = net.flush().remove(0);
    net.reply(ack.conn, &empty("202 Accepted", ""));
    let reqs = net.flush();
    assert_eq!(net.client.era(), Some(Era::Sessions));
    assert_eq!(net.client.protocol_version(), Some("2025-06-18"));
    let sent = reqs
        .iter()
        .find(|r| r.rpc_method().as_deref() == Some("tools/list"))
        .expect("the call, in the session");
    assert_eq!(sent.header("mcp-session-id"), Some("s1"));
    assert!(
        !net.events
            .iter()
            .any(|e| matches!(e, ClientEvent::Failed { call: c, .. } if *c == call))
    );

    // Nothing this client speaks, nothing at all, or (told to speak 2026-07-28 only) no
    // 2026-07-28: closed at once, naming what was offered; the call fails, unsent.
    for (era, answer, named) in [
        (
            EraChoice::Auto,
            r#"{"supportedVersions":["1999-01-01","2030-01-01"]}"#,
            "\"1999-01-01\", \"2030-01-01\", none of which this client speaks",
        ),
        (
            EraChoice::Auto,
            r#"{"capabilities":{}}"#,
            "lists no protocol version",
        ),
        (
            EraChoice::Auto,
            r#"{"supportedVersions":"2026-07-28"}"#,
            "lists no protocol version",
        ),
        (
            EraChoice::Modern,
            r#"{"supportedVersions":["2025-11-25"]}"#,
            "offers \"2025-11-25\", not 2026-07-28",
        ),
    ] {
        let (net, call, next) = discovered(era, answer);
        assert!(next.is_empty(), "{answer}: {} more requests", next.len());
        assert!(net.client.is_closed(), "{answer}");
        let reason = net
            .events
            .iter()
            .find_map(|e| match e {
                ClientEvent::Closed { reason } => Some(reason.to_string()),
                _ => None,
            })
            .unwrap();
        assert!(reason.contains(named), "{answer}: {reason}");
        assert!(
            net.events.iter().any(|e| matches!(
                e,
                ClientEvent::Failed { call: c, error: CallError::Closed } if *c == call
            )),
            "{answer}"
        );
    }

    // A server listing a great many versions is named in a few words.
    let many: Vec<String> = (0..100).map(|i| format!("\"{}\"", "v".repeat(i))).collect();
    let answer = format!(r#"{{"supportedVersions":[{}]}}"#, many.join(","));
    let (net, _, _) = discovered(EraChoice::Auto, &answer);
    let reason = net
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::Closed { reason } => Some(reason.to_string()),
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("and 92 more") && reason.len() < 400,
        "{reason}"
    );
}

/// HTTP+SSE up to the `initialized` acknowledgment: `initialize` refused, the stream's
/// `endpoint` event, `initialize` accepted there (with a session id header, as some servers
/// send) and answered on the stream. Returns the stream's connection and the acknowledgment.
fn legacy_until_acknowledged(net: &mut Raw) -> (ClientConnId, Req) {
    let init = net.flush().remove(0);
    net.reply(init.conn, &empty("405 Method Not Allowed", ""));
    let get = net.flush().remove(0);
    assert_eq!(get.method, "GET");
    net.reply(
        get.conn,
        &format!(
            "{}{}",
            sse_head(""),
            chunk("event: endpoint\ndata: /messages?s=1\n\n")
        ),
    );
    let init = net.flush().remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    net.reply(init.conn, &empty("202 Accepted", "mcp-session-id: s1\r\n"));
    let answer = result(
        init.rpc_id().unwrap(),
        r#"{"protocolVersion":"2024-11-05"}"#,
    );
    net.reply(get.conn, &chunk(&format!("data: {answer}\n\n")));
    let ack = net.flush().remove(0);
    assert_eq!(
        ack.rpc_method().as_deref(),
        Some("notifications/initialized")
    );
    (get.conn, ack)
}

/// HTTP+SSE: the server says the session is gone (404 with -32001) on the POST endpoint. The
/// stream is the session, so the loss ends it and a new stream opens, owned; it is not cleared
/// with the old one's leftovers.
#[test]
fn a_lost_http_sse_session_opens_one_new_stream_that_is_owned() {
    let mut net = Raw::new(sessions_config());
    let (_stream, ack) = legacy_until_acknowledged(&mut net);
    net.reply(ack.conn, &empty("202 Accepted", ""));
    net.flush();
    assert_eq!(net.client.era(), Some(Era::HttpSse));
    assert!(net.client.is_connected());
    let call = net
        .client
        .request(net.now, "ping", None, CallOptions::default())
        .unwrap();
    let post = net.flush().remove(0);
    let gone = format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32001,"message":"gone"}}}}"#,
        post.rpc_id().unwrap()
    );
    net.reply(post.conn, &json("404 Not Found", &gone, ""));
    let reqs = net.flush();
    let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET"], "one new stream, and nothing else yet");
    assert!(
        !net.events.iter().any(
            |e| matches!(e, ClientEvent::Failed { call: c, .. } | ClientEvent::Response { call: c, .. } if *c == call)
        ),
        "the refused call goes again in the new session: {:?}",
        net.events
    );

    // The acknowledgment refused for its session (404): the stream ends with the session, and
    // one new stream opens.
    let mut net = Raw::new(sessions_config());
    let (_stream, ack) = legacy_until_acknowledged(&mut net);
    net.reply(ack.conn, &empty("404 Not Found", ""));
    let mut reqs = net.flush();
    for _ in 0..20 {
        net.advance(500);
        reqs.extend(net.flush());
    }
    let gets = reqs.iter().filter(|r| r.method == "GET").count();
    assert_eq!(
        gets,
        1,
        "{:?}",
        reqs.iter().map(|r| &r.method).collect::<Vec<_>>()
    );
    assert!(
        !reqs
            .iter()
            .any(|r| r.rpc_method().as_deref() == Some("initialize"))
    );
}

/// Answers (discover, an input_required result) on SSE streams the server keeps open: each
/// stream is closed once its answer is in, so the pool never fills with streams nobody owns,
/// and the input round's retry goes out.
#[test]
fn a_stream_kept_open_after_its_answer_is_closed() {
    let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
    c.era = EraChoice::Modern;
    c.limits.max_connections = 2;
    let mut net = Raw::new(c);
    let mut reqs = net.flush();
    let d = reqs.remove(0);
    let id = d.rpc_id().unwrap();
    let ev = format!(
        "data: {}\n\n",
        result(id, r#"{"supportedVersions":["2026-07-28"]}"#)
    );
    net.reply(d.conn, &format!("{}{}", sse_head(""), chunk(&ev)));
    net.flush();
    assert!(net.client.is_connected());
    // A call answered input_required, also on a stream kept open.
    let call = net
        .client
        .request(
            net.now,
            "tools/call",
            Some(&RawValue::from_string(r#"{"name":"t"}"#.into()).unwrap()),
            CallOptions::default(),
        )
        .unwrap();
    let r = net.flush().remove(0);
    let id = r.rpc_id().unwrap();
    let ir = r#"{"resultType":"input_required","inputRequests":{"k":{"method":"elicitation/create","params":{}}},"requestState":"s"}"#;
    net.reply(
        r.conn,
        &format!(
            "{}{}",
            sse_head(""),
            chunk(&format!("data: {}\n\n", result(id, ir)))
        ),
    );
    net.flush();
    let request = net
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::ServerRequest { request, .. } => Some(*request),
            _ => None,
        })
        .unwrap();
    net.client
        .respond(
            net.now,
            request,
            Ok(&RawValue::from_string("{}".into()).unwrap()),
        )
        .unwrap();
    let retried = net.flush();
    // Hours pass: the two streams are still held, the retry never goes, the call times out.
    net.advance(3_600_000);
    net.flush();
    let timed_out = net.events.iter().any(
        |e| matches!(e, ClientEvent::Failed { call: c, error: CallError::Timeout } if *c == call),
    );
    assert!(!retried.is_empty(), "the answered round's retry went out");
    assert!(timed_out, "the retry, never answered, timed out");
    assert_eq!(net.client.stats().connections, 0, "{}", net.client.stats());
}

/// A GET that resumes a call's stream answered 404: the server had seen the call (it streamed
/// events for it), so it fails rather than run twice in the new session.
#[test]
fn a_refused_resumption_is_not_posted_again() {
    let mut net = Raw::new(sessions_config());
    let reqs = handshake(&mut net);
    let get = reqs.into_iter().find(|r| r.method == "GET").unwrap();
    net.reply(get.conn, &sse_head(""));
    net.flush();
    let _call = net
        .client
        .request(
            net.now,
            "tools/call",
            Some(&RawValue::from_string(r#"{"name":"charge_card"}"#.into()).unwrap()),
            CallOptions::default(),
        )
        .unwrap();
    let post = net.flush().remove(0);
    assert_eq!(post.rpc_method().as_deref(), Some("tools/call"));
    // The server starts the stream with an event id (a progress note), then the connection breaks.
    net.reply(post.conn, &format!("{}{}", sse_head(""), chunk("id: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")));
    net.client.handle_closed(net.now, post.conn);
    net.flush();
    net.advance(1_000);
    let resume = net
        .flush()
        .into_iter()
        .find(|r| r.method == "GET" && r.header("last-event-id").is_some())
        .unwrap();
    net.reply(resume.conn, &empty("404 Not Found", ""));
    let reqs = handshake_after_loss(&mut net);
    let reposted = reqs
        .iter()
        .filter(|r| r.rpc_method().as_deref() == Some("tools/call"))
        .count();
    assert_eq!(reposted, 0, "the seen tools/call was POSTed again");
}

fn handshake_after_loss(net: &mut Raw) -> Vec<Req> {
    let mut reqs = net.flush();
    let pos = reqs
        .iter()
        .position(|r| r.rpc_method().as_deref() == Some("initialize"))
        .unwrap();
    let init = reqs.remove(pos);
    let id = init.rpc_id().unwrap();
    net.reply(
        init.conn,
        &json(
            "200 OK",
            &result(id, r#"{"protocolVersion":"2025-11-25"}"#),
            "mcp-session-id: s2\r\n",
        ),
    );
    reqs.extend(net.flush());
    let pos = reqs
        .iter()
        .position(|r| r.rpc_method().as_deref() == Some("notifications/initialized"))
        .unwrap();
    let ack = reqs.remove(pos);
    net.reply(ack.conn, &empty("202 Accepted", ""));
    reqs.extend(net.flush());
    reqs
}

/// The GET stream's reopen falls due while every connection is busy: it opens once one is free.
#[test]
fn the_get_stream_reopens_once_the_pool_has_room() {
    let mut c = sessions_config();
    c.limits.max_connections = 2;
    let mut net = Raw::new(c);
    let reqs = handshake(&mut net);
    let get = reqs.into_iter().find(|r| r.method == "GET").unwrap();
    net.reply(get.conn, &sse_head(""));
    net.flush();
    let a = net
        .client
        .request(net.now, "tools/call", None, CallOptions::default())
        .unwrap();
    let pa = net.flush().remove(0);
    net.reply(pa.conn, &sse_head(""));
    // The GET stream ends; before its reopen timer fires another call takes the free slot.
    net.client.handle_closed(net.now, get.conn);
    net.flush();
    let _b = net
        .client
        .request(net.now, "tools/call", None, CallOptions::default())
        .unwrap();
    let pb = net.flush().remove(0);
    net.reply(pb.conn, &sse_head(""));
    net.advance(20_000);
    net.flush();
    // Both calls finish; connections are free again.
    let _ = a;
    net.reply(
        pa.conn,
        &chunk(&format!("data: {}\n\n", result(pa.rpc_id().unwrap(), "{}"))),
    );
    net.reply(
        pb.conn,
        &chunk(&format!("data: {}\n\n", result(pb.rpc_id().unwrap(), "{}"))),
    );
    net.flush();
    net.advance(600_000);
    let later = net.flush();
    assert!(
        later.iter().any(|r| r.method == "GET")
            || !matches!(net.client.link.standalone, Standalone::Waiting),
        "GET stream {:?} with standalone timer {:?}, phase {:?}",
        net.client.link.standalone,
        net.client.link.timers.get(ClientTimer::Standalone),
        net.client.link.phase == Phase::Ready
    );
}

/// JSON answers leave their connection in the pool: sequential calls reuse it.
#[test]
fn json_answers_reuse_their_connection() {
    let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
    c.era = EraChoice::Modern;
    let mut net = Raw::new(c);
    modern_ready(&mut net);
    let before = net.opened;
    for _ in 0..5 {
        net.client
            .request(net.now, "ping", None, CallOptions::default())
            .unwrap();
        let r = net.flush().remove(0);
        net.reply(
            r.conn,
            &json("200 OK", &result(r.rpc_id().unwrap(), "{}"), ""),
        );
        net.flush();
    }
    assert!(
        net.opened - before <= 1,
        "{} connections for 5 sequential calls",
        net.opened - before
    );
}

/// A connection that failed to open leaves the pool at once.
#[test]
fn a_failed_connection_leaves_the_pool_at_once() {
    let mut net = Raw::new(sessions_config());
    net.refuse_connect = true;
    net.flush();
    assert_eq!(net.client.stats().connections, 0, "{}", net.client.stats());
}

/// `retry:` advice is capped by `Retry::max`: a listen told `retry: 10^15` is reopened.
#[test]
fn huge_retry_advice_is_capped() {
    let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
    c.era = EraChoice::Modern;
    let mut net = Raw::new(c);
    modern_ready(&mut net);
    let _l = net
        .client
        .listen(
            net.now,
            &RawValue::from_string(r#"{"toolsListChanged":true}"#.into()).unwrap(),
        )
        .unwrap();
    let r = net.flush().remove(0);
    net.reply(
        r.conn,
        &format!(
            "{}{}0\r\n\r\n",
            sse_head(""),
            chunk("retry: 1000000000000000\n\n")
        ),
    );
    net.flush();
    net.advance(24 * 3_600_000);
    let again = net.flush();
    assert!(
        !again.is_empty(),
        "listen not reopened after a day; next timeout {:?}",
        net.client.poll_timeout()
    );
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn hostile_reply(rng: &mut Rng, req: &Req, others: &[u64]) -> (String, bool) {
    let id = req.rpc_id().unwrap_or(0);
    let any_id = if !others.is_empty() && rng.below(3) == 0 {
        others[rng.below(others.len() as u64) as usize]
    } else {
        id
    };
    let method = req.rpc_method().unwrap_or_default();
    let res = match method.as_str() {
        "initialize" => r#"{"protocolVersion":"2025-06-18"}"#.to_string(),
        "server/discover" => r#"{"supportedVersions":["2026-07-28"]}"#.to_string(),
        _ => match rng.below(4) {
            0 => r#"{"resultType":"input_required","inputRequests":{"a":{"method":"elicitation/create"}},"requestState":"x"}"#.to_string(),
            _ => "{}".to_string(),
        },
    };
    let msg = match rng.below(6) {
        0 => format!(
            r#"{{"jsonrpc":"2.0","id":{any_id},"error":{{"code":-32022,"message":"v","data":{{"supported":["2026-07-28"]}}}}}}"#
        ),
        1 => format!(
            r#"{{"jsonrpc":"2.0","id":{any_id},"error":{{"code":-32001,"message":"gone"}}}}"#
        ),
        2 => format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"sampling/createMessage","params":{{}}}}"#,
            rng.below(5)
        ),
        _ => result(any_id, &res),
    };
    let session = if rng.below(2) == 0 {
        "mcp-session-id: s\r\n"
    } else {
        ""
    };
    let close = rng.below(4) == 0;
    let text = match rng.below(12) {
        0 => empty("404 Not Found", session),
        1 => empty("503 Busy", "retry-after: 1\r\n"),
        2 => empty("202 Accepted", session),
        3 => json("200 OK", &msg, session),
        4 => json("400 Bad", r#"{"error":{"code":-32600,"message":"x"}}"#, ""),
        5 => {
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
        }
        6 => format!(
            "{}{}",
            sse_head(session),
            chunk(&format!(
                "id: {}\nretry: {}\ndata: {msg}\n\n",
                rng.below(100),
                rng.below(3000)
            ))
        ),
        7 => format!(
            "{}{}0\r\n\r\n",
            sse_head(session),
            chunk(&format!(
                "id: e{}\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{}}}}\n\n",
                rng.below(9)
            ))
        ),
        8 => format!(
            "{}{}0\r\n\r\n",
            sse_head(session),
            chunk(&format!("data: {msg}\n\n"))
        ),
        9 => "\x00garbage\r\n\r\n".to_string(),
        10 => format!(
            "HTTP/1.1 100 Continue\r\n\r\n{}",
            json("200 OK", &msg, session)
        ),
        _ => format!(
            "{}{}",
            sse_head(session),
            chunk(&format!("data: {msg}\n\n"))
        ),
    };
    (text, close)
}

fn fuzz_one(seed: u64, era: EraChoice) {
    let mut rng = Rng(seed | 1);
    let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
    c.era = era;
    c.limits.max_connections = 1 + rng.below(4) as usize;
    c.timeouts.request = Duration::from_secs(30);
    let mut net = Raw::new(c);
    let mut pending: Vec<Req> = Vec::new();
    let mut started: Vec<CallId> = Vec::new();
    for _step in 0..300 {
        match rng.below(10) {
            0 | 1 => {
                if let Ok(call) = net.client.request(
                    net.now,
                    "tools/call",
                    Some(&RawValue::from_string(r#"{"name":"t"}"#.into()).unwrap()),
                    CallOptions::default(),
                ) {
                    started.push(call);
                }
            }
            2 => {
                if let Some(&call) = started.get(rng.below(started.len().max(1) as u64) as usize) {
                    let _ = net.client.cancel(net.now, call);
                }
            }
            3 => net.advance(rng.below(5_000)),
            4 => {
                if !pending.is_empty() {
                    let r = pending.remove(rng.below(pending.len() as u64) as usize);
                    net.client.handle_closed(net.now, r.conn);
                }
            }
            5 => {
                let reqs: Vec<ServerRequestId> = net
                    .events
                    .iter()
                    .filter_map(|e| match e {
                        ClientEvent::ServerRequest { request, .. } => Some(*request),
                        _ => None,
                    })
                    .collect();
                if let Some(&r) = reqs.get(rng.below(reqs.len().max(1) as u64) as usize) {
                    let _ = net.client.respond(
                        net.now,
                        r,
                        Ok(&RawValue::from_string("{}".into()).unwrap()),
                    );
                }
            }
            _ => {
                if !pending.is_empty() {
                    let r = pending.remove(rng.below(pending.len() as u64) as usize);
                    let others: Vec<u64> = pending.iter().filter_map(Req::rpc_id).collect();
                    let (text, close) = hostile_reply(&mut rng, &r, &others);
                    let bytes = text.as_bytes();
                    let cut = rng.below(bytes.len() as u64 + 1) as usize;
                    net.client.handle_bytes(net.now, r.conn, &bytes[..cut]);
                    net.client.handle_bytes(net.now, r.conn, &bytes[cut..]);
                    if close {
                        net.client.handle_closed(net.now, r.conn);
                    }
                }
            }
        }
        let new = net.flush();
        pending.retain(|r| net.open.contains_key(&r.conn));
        pending.extend(new);
        pending.retain(|r| net.open.contains_key(&r.conn));
        let mut counts: BTreeMap<CallId, u32> = BTreeMap::new();
        for e in &net.events {
            if let ClientEvent::Response { call, .. } | ClientEvent::Failed { call, .. } = e {
                *counts.entry(*call).or_default() += 1;
            }
        }
        for (call, n) in &counts {
            assert!(*n == 1, "seed {seed}: {call} got {n} outcomes");
        }
    }
    // Hours pass: every call has its outcome.
    for _ in 0..200 {
        net.advance(60_000);
        let new = net.flush();
        pending.extend(new);
    }
    let mut answered = 0;
    for call in &started {
        let n = net.events.iter().filter(|e| matches!(e, ClientEvent::Response { call: c, .. } | ClientEvent::Failed { call: c, .. } if c == call)).count();
        assert_eq!(
            n,
            1,
            "seed {seed}: {call} got {n} outcomes; stats {}",
            net.client.stats()
        );
        answered += 1;
    }
    let conn = net
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Connected { .. }))
        .count();
    let resp = net
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Response { .. }))
        .count();
    std::eprintln!(
        "FUZZ {seed} {era:?} connected {conn} responses {resp} calls {answered} lost {}",
        net.events
            .iter()
            .filter(|e| matches!(e, ClientEvent::SessionLost))
            .count()
    );
    net.client.close(net.now);
    for _ in 0..10 {
        net.advance(10_000);
        net.flush();
    }
    assert!(
        net.client.stats().is_quiescent(),
        "seed {seed}: {}",
        net.client.stats()
    );
}

#[test]
fn a_hostile_server_never_breaks_one_outcome_per_call() {
    for seed in 1..400u64 {
        for era in [EraChoice::Sessions, EraChoice::Modern, EraChoice::Auto] {
            fuzz_one(seed * 7919, era);
        }
    }
}

/// A server that answers GET with 200 and a JSON document offers no GET stream: it is not
/// asked again.
#[test]
fn a_get_answered_with_json_is_not_polled() {
    let mut net = Raw::new(sessions_config());
    let mut reqs = handshake(&mut net);
    let mut gets = 0;
    for _ in 0..1000 {
        let Some(pos) = reqs.iter().position(|r| r.method == "GET") else {
            break;
        };
        let get = reqs.remove(pos);
        gets += 1;
        net.reply(get.conn, &json("200 OK", r#"{"status":"ok"}"#, ""));
        reqs.extend(net.flush());
        net.advance(250);
        reqs.extend(net.flush());
    }
    assert!(gets < 20, "{gets} GETs in {} ms", net.now.as_millis());
}

/// A configured header with a trailing newline (a token read from a file): the client closes
/// at once, saying its configuration cannot be sent.
#[test]
fn a_config_header_with_a_newline_closes_the_client_as_misconfigured() {
    let mut c = sessions_config();
    c.headers
        .push(("authorization".into(), "Bearer t0k3n\n".into()));
    let mut net = Raw::new(c);
    let sent = net.flush();
    net.advance(60_000);
    net.flush();
    assert!(sent.is_empty());
    assert!(
        matches!(
            net.events.last(),
            Some(ClientEvent::Closed {
                reason: CloseReason::Misconfigured(_)
            })
        ),
        "{:?} after {} connections",
        net.events.last(),
        net.opened
    );
}

/// The 2025-11-25 polling pattern: the server ends a long call's SSE stream after each event
/// (with `retry:`), and the client resumes with `Last-Event-ID`. Every resumption succeeds
/// and carries an event, so none is a failure "in a row" (`Retry::max_attempts`); the call
/// must get its result when the server finally sends it, well within its deadline.
#[test]
fn a_call_resumed_after_every_event_is_followed_to_its_result() {
    let mut net = Raw::new(sessions_config());
    let reqs = handshake(&mut net);
    let get = reqs.into_iter().find(|r| r.method == "GET").unwrap();
    net.reply(get.conn, &sse_head(""));
    net.flush();
    let call = net
        .client
        .request(
            net.now,
            "tools/call",
            Some(&RawValue::from_string(r#"{"name":"long"}"#.into()).unwrap()),
            CallOptions::default(),
        )
        .unwrap();
    let post = net.flush().remove(0);
    let wire = post.rpc_id().unwrap();
    let progress = |n: u32| {
        chunk(&format!(
            "retry: 100\nid: e{n}\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progress\":{n}}}}}\n\n"
        ))
    };
    // The POST's stream: one event, then a clean end.
    net.reply(
        post.conn,
        &format!("{}{}0\r\n\r\n", sse_head(""), progress(0)),
    );
    net.flush();
    let mut resumed = 0;
    for n in 1..=12u32 {
        // Wait out the backoff (at most 10 s, Retry::max), well within the 60 s deadline.
        let mut found = None;
        let mut waited = 0;
        for _ in 0..110 {
            net.advance(100);
            waited += 100;
            found = net
                .flush()
                .into_iter()
                .find(|r| r.method == "GET" && r.header("last-event-id").is_some());
            if found.is_some() {
                break;
            }
        }
        let Some(resume) = found else {
            break;
        };
        assert!(
            waited <= 200,
            "resumption {n} waited {waited} ms of simulated time; the server said retry: 100"
        );
        resumed += 1;
        if n == 12 {
            let answer = result(wire, r#"{"content":[]}"#);
            net.reply(
                resume.conn,
                &format!(
                    "{}{}0\r\n\r\n",
                    sse_head(""),
                    chunk(&format!("id: e{n}\ndata: {answer}\n\n"))
                ),
            );
        } else {
            net.reply(
                resume.conn,
                &format!("{}{}0\r\n\r\n", sse_head(""), progress(n)),
            );
        }
        net.flush();
    }
    let outcome = net.events.iter().find_map(|e| match e {
        ClientEvent::Response { call: c, .. } if *c == call => Some(Ok(())),
        ClientEvent::Failed { call: c, error } if *c == call => Some(Err(error.clone())),
        _ => None,
    });
    assert!(
        matches!(outcome, Some(Ok(()))),
        "after {resumed} successful resumptions (each carrying an event) the call ended with {outcome:?}"
    );
}

/// The stream of a call whose only event had the id `id`, ended: the Last-Event-ID values
/// the client resumed with over 20 s, and whether the call failed as not resumable.
fn resumes_after_an_event_id(id: &str) -> (Vec<String>, bool) {
    let mut net = Raw::new(sessions_config());
    let reqs = handshake(&mut net);
    let get = reqs.into_iter().find(|r| r.method == "GET").unwrap();
    net.reply(get.conn, &sse_head(""));
    net.flush();
    let call = net
        .client
        .request(
            net.now,
            "tools/call",
            Some(&RawValue::from_string(r#"{"name":"long"}"#.into()).unwrap()),
            CallOptions::default(),
        )
        .unwrap();
    let post = net.flush().remove(0);
    let event = |id: &str| {
        chunk(&format!(
            "retry: 100\nid: {id}\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progress\":1}}}}\n\n"
        ))
    };
    // A short id first: what a careless client would fall back to.
    net.reply(
        post.conn,
        &format!("{}{}{}0\r\n\r\n", sse_head(""), event("e1"), event(id)),
    );
    net.flush();
    let mut resumes = Vec::new();
    for _ in 0..200 {
        net.advance(100);
        for request in net.flush() {
            if let Some(id) = request.header("last-event-id") {
                resumes.push(String::from(id));
                if resumes.len() == 1 {
                    // Ends the call, so that it is resumed once.
                    let answer = result(post.rpc_id().unwrap(), r#"{"content":[]}"#);
                    net.reply(
                        request.conn,
                        &format!(
                            "{}{}0\r\n\r\n",
                            sse_head(""),
                            chunk(&format!("data: {answer}\n\n"))
                        ),
                    );
                }
            }
        }
    }
    let failed = net.events.iter().any(|e| {
        matches!(e, ClientEvent::Failed { call: c, error: CallError::ConnectionLost } if *c == call)
    });
    (resumes, failed)
}

/// An event id of 1,024 bytes is resumed from; one of 1,025 makes the stream not resumable,
/// and the client must not resume from the id before it, which would replay what it has
/// already delivered.
#[test]
fn an_event_id_at_the_limit_is_resumed_from_and_one_past_it_is_not() {
    let at_limit = "a".repeat(1024);
    let (resumes, failed) = resumes_after_an_event_id(&at_limit);
    assert_eq!(
        resumes,
        [at_limit],
        "resumed once, from the id at the limit"
    );
    assert!(!failed);
    let (resumes, failed) = resumes_after_an_event_id(&"b".repeat(1025));
    assert!(resumes.is_empty(), "resumed from {resumes:?}");
    assert!(
        failed,
        "the call fails at once: its stream cannot be resumed"
    );
}

// ---- reachability ----

/// Lets time pass in steps of 50 ms, up to `limit` ms, until the client writes a request that
/// `pick` chooses (others are left unanswered); returns it and how long it took.
fn next_request(net: &mut Raw, limit: u64, pick: impl Fn(&Req) -> bool) -> Option<(Req, u64)> {
    let mut waited = 0;
    loop {
        if let Some(req) = net.flush().into_iter().find(|r| pick(r)) {
            return Some((req, waited));
        }
        if waited >= limit {
            return None;
        }
        net.advance(50);
        waited += 50;
    }
}

fn outcome_of(net: &Raw, call: CallId) -> Option<Result<(), CallError>> {
    net.events.iter().find_map(|e| match e {
        ClientEvent::Response { call: c, .. } if *c == call => Some(Ok(())),
        ClientEvent::Failed { call: c, error } if *c == call => Some(Err(error.clone())),
        _ => None,
    })
}

/// A connection fails to open while ready; the next one opens, and the call on it takes
/// longer than `timeouts.reconnect` to be answered (well within its own timeout). The opened
/// connection proved the server reachable: the call gets its answer and the client stays.
#[test]
fn a_connection_that_opens_ends_the_unreachability_episode() {
    let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
    c.era = EraChoice::Modern;
    c.timeouts.reconnect = Duration::from_secs(5);
    c.timeouts.request = Duration::from_secs(60);
    let mut net = Raw::new(c);
    let d = net.flush().remove(0);
    net.reply(
        d.conn,
        &json(
            "200 OK",
            &result(
                d.rpc_id().unwrap(),
                r#"{"supportedVersions":["2026-07-28"]}"#,
            ),
            "connection: close\r\n",
        ),
    );
    net.flush();
    assert!(net.client.is_connected());
    assert_eq!(net.client.stats().connections, 0, "no connection to reuse");
    net.refuse_connect = true;
    let call = net
        .client
        .request(net.now, "tools/call", None, CallOptions::default())
        .unwrap();
    assert!(net.flush().is_empty(), "the connection failed to open");
    net.refuse_connect = false;
    let (post, _) = next_request(&mut net, 1_000, |r| {
        r.rpc_method().as_deref() == Some("tools/call")
    })
    .expect("sent once a connection opened");
    // The server works on it for 8 s: past the reconnect timeout, within the call's.
    for _ in 0..80 {
        net.advance(100);
        net.flush();
    }
    net.reply(
        post.conn,
        &json(
            "200 OK",
            &result(post.rpc_id().unwrap(), r#"{"content":[]}"#),
            "",
        ),
    );
    net.flush();
    assert!(
        matches!(outcome_of(&net, call), Some(Ok(()))),
        "{:?}",
        net.events
    );
    assert!(!net.client.is_closed());
    assert!(net.client.is_connected());
}

// ---- streams that end at once: what counts as progress ----

const ACKNOWLEDGED: &str = r#"{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"notifications":{"toolsListChanged":true}}}"#;
const LIST_CHANGED: &str = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;

/// Answers each request `pick` chooses with `answer`, for as long as the client makes one
/// within a minute of the last (at most `cycles` times). Returns the waits between them.
fn serve_each(
    net: &mut Raw,
    cycles: usize,
    pick: impl Fn(&Req) -> bool,
    mut answer: impl FnMut(&mut Raw, &Req),
) -> Vec<u64> {
    let mut waits = Vec::new();
    for _ in 0..cycles {
        let Some((req, waited)) = next_request(net, 60_000, &pick) else {
            break;
        };
        waits.push(waited);
        answer(net, &req);
    }
    waits
}

fn is_listen(req: &Req) -> bool {
    req.rpc_method().as_deref() == Some("subscriptions/listen")
}

fn is_get(req: &Req) -> bool {
    req.method == "GET"
}

fn modern_listening() -> (Raw, CallId) {
    let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
    c.era = EraChoice::Modern;
    let mut net = Raw::new(c);
    modern_ready(&mut net);
    let listen = net
        .client
        .listen(
            net.now,
            &RawValue::from_string(r#"{"toolsListChanged":true}"#.into()).unwrap(),
        )
        .unwrap();
    (net, listen)
}

fn listen_frames(frames: &[&str]) -> String {
    let events: String = frames.iter().map(|f| format!("data: {f}\n\n")).collect();
    format!("{}{}", sse_head(""), chunk(&events))
}

/// A listen stream the server ends right after its acknowledgment (cleanly, or by closing the
/// connection): the acknowledgment is no delivery, so each end is a failure in a row. The
/// reopens back off exponentially up to `Retry::max`, and past `Retry::max_attempts` the
/// listen fails, rather than being reopened every 125-250 ms for ever.
#[test]
fn a_listen_ended_after_its_acknowledgment_backs_off_and_gives_up() {
    for clean in [true, false] {
        let (mut net, listen) = modern_listening();
        let retry = net.client.config.retry;
        let waits = serve_each(&mut net, 100, is_listen, |net, req| {
            net.reply(req.conn, &listen_frames(&[ACKNOWLEDGED]));
            if clean {
                net.reply(req.conn, "0\r\n\r\n");
            } else {
                net.client.handle_closed(net.now, req.conn);
            }
        });
        assert_eq!(
            waits.len(),
            retry.max_attempts as usize + 1,
            "clean {clean}: listen requests after waits of {waits:?} ms"
        );
        assert!(
            waits.windows(2).take(5).all(|w| w[1] >= w[0])
                && waits
                    .last()
                    .is_some_and(|w| *w >= retry.max.as_millis() / 2),
            "clean {clean}: the waits grow to Retry::max: {waits:?}"
        );
        assert!(
            matches!(
                outcome_of(&net, listen),
                Some(Err(CallError::ConnectionLost))
            ),
            "clean {clean}"
        );
        assert!(!net.client.is_closed(), "a listen gives up, not the client");
    }
}

/// The other side of the policy: a listen stream that delivered a frame beyond its
/// acknowledgment, or that stayed open for `Retry::max`, made progress. Its end is reopened
/// promptly (the first backoff step), however many times it happens. One that stayed open
/// 1 ms less, with nothing delivered, did not.
#[test]
fn a_listen_that_delivered_or_lived_is_reopened_promptly_every_time() {
    let (mut net, listen) = modern_listening();
    let retry = net.client.config.retry;
    let prompt = retry.initial.as_millis();
    let waits = serve_each(&mut net, 30, is_listen, |net, req| {
        net.reply(req.conn, &listen_frames(&[ACKNOWLEDGED, LIST_CHANGED]));
        net.reply(req.conn, "0\r\n\r\n");
    });
    assert_eq!(waits.len(), 30, "{waits:?}");
    assert!(waits.iter().all(|w| *w <= prompt), "{waits:?}");
    assert!(outcome_of(&net, listen).is_none());

    for (open_for, progress) in [
        (retry.max.as_millis(), true),
        (retry.max.as_millis() - 1, false),
    ] {
        let (mut net, listen) = modern_listening();
        let waits = serve_each(&mut net, 20, is_listen, |net, req| {
            net.reply(req.conn, &listen_frames(&[ACKNOWLEDGED]));
            net.now += Duration::from_millis(open_for);
            net.reply(req.conn, "0\r\n\r\n");
        });
        if progress {
            assert_eq!(waits.len(), 20, "open for {open_for} ms: {waits:?}");
            assert!(waits.iter().all(|w| *w <= prompt), "{waits:?}");
            assert!(outcome_of(&net, listen).is_none());
        } else {
            assert_eq!(
                waits.len(),
                retry.max_attempts as usize + 1,
                "open for {open_for} ms: {waits:?}"
            );
            assert!(matches!(
                outcome_of(&net, listen),
                Some(Err(CallError::ConnectionLost))
            ));
        }
    }
}

/// The session's GET stream ended right after its priming event (an id and empty data, as
/// 2025-11-25 servers send), cleanly or by a cut, or after a `ping` the client answers itself:
/// no delivery, so a failure in a row each time. The client stops asking after
/// `Retry::max_attempts`; a stream that stayed open for `Retry::max` is reopened promptly
/// however often it ends.
#[test]
fn a_get_stream_ended_after_its_priming_event_backs_off_and_gives_up() {
    let ping = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    for (events, clean) in [
        (String::from("id: p0\nretry: 1000\ndata: \n\n"), true),
        (String::from("id: p0\nretry: 1000\ndata: \n\n"), false),
        (format!("id: p0\ndata: \n\ndata: {ping}\n\n"), true),
    ] {
        let mut net = Raw::new(sessions_config());
        let retry = net.client.config.retry;
        let first = handshake(&mut net).into_iter().find(is_get).unwrap();
        let answer = |net: &mut Raw, req: &Req| {
            net.reply(req.conn, &format!("{}{}", sse_head(""), chunk(&events)));
            if clean {
                net.reply(req.conn, "0\r\n\r\n");
            } else {
                net.client.handle_closed(net.now, req.conn);
            }
        };
        answer(&mut net, &first);
        let waits = serve_each(&mut net, 100, is_get, answer);
        assert_eq!(
            waits.len(),
            retry.max_attempts as usize,
            "{events:?}, clean {clean}: GETs reopened after waits of {waits:?} ms"
        );
        assert!(
            waits
                .last()
                .is_some_and(|w| *w >= retry.max.as_millis() / 2),
            "{events:?}, clean {clean}: {waits:?}"
        );
        assert!(
            net.client.is_connected(),
            "the GET stream gives up, not the client"
        );
    }

    let mut net = Raw::new(sessions_config());
    let retry = net.client.config.retry;
    let first = handshake(&mut net).into_iter().find(is_get).unwrap();
    let answer = |net: &mut Raw, req: &Req| {
        net.reply(
            req.conn,
            &format!("{}{}", sse_head(""), chunk("id: p0\ndata: \n\n")),
        );
        net.now += retry.max;
        net.reply(req.conn, "0\r\n\r\n");
    };
    answer(&mut net, &first);
    let waits = serve_each(&mut net, 20, is_get, answer);
    assert_eq!(waits.len(), 20, "{waits:?}");
    assert!(
        waits.iter().all(|w| *w <= retry.initial.as_millis()),
        "{waits:?}"
    );
}

/// HTTP+SSE up to the `endpoint` event on a stream the caller holds: `initialize` refused,
/// then the GET.
fn legacy_stream(net: &mut Raw) -> Req {
    let init = net.flush().remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    net.reply(init.conn, &empty("405 Method Not Allowed", ""));
    let (get, _) = next_request(net, 0, is_get).unwrap();
    get
}

/// The HTTP+SSE stream ended right after its `endpoint` event (its head), over and over: the
/// client backs off exponentially and closes after `Retry::max_attempts`, well within the
/// reconnect deadline (an hour here), instead of reopening it every 125-250 ms until then.
#[test]
fn an_http_sse_stream_ended_after_its_endpoint_event_backs_off_and_gives_up() {
    let mut c = sessions_config();
    c.timeouts.reconnect = Duration::from_secs(3600);
    let mut net = Raw::new(c);
    let retry = net.client.config.retry;
    let endpoint = || {
        format!(
            "{}{}0\r\n\r\n",
            sse_head(""),
            chunk("event: endpoint\ndata: /messages?s=1\n\n")
        )
    };
    let first = legacy_stream(&mut net);
    net.reply(first.conn, &endpoint());
    let waits = serve_each(&mut net, 100, is_get, |net, req| {
        net.reply(req.conn, &endpoint());
    });
    assert_eq!(waits.len(), retry.max_attempts as usize, "{waits:?}");
    assert!(
        waits
            .last()
            .is_some_and(|w| *w >= retry.max.as_millis() / 2),
        "{waits:?}"
    );
    assert!(
        matches!(
            net.events.last(),
            Some(ClientEvent::Closed {
                reason: CloseReason::Unreachable
            })
        ),
        "{:?} after {} ms",
        net.events.last(),
        net.now.as_millis()
    );
}

/// One HTTP+SSE session on the stream `get`: the endpoint event, `initialize` answered on the
/// stream, `initialized` accepted; then the stream carries `tail` (and stays open).
fn legacy_session(net: &mut Raw, get: &Req, tail: &str) {
    net.reply(
        get.conn,
        &format!(
            "{}{}",
            sse_head(""),
            chunk("event: endpoint\ndata: /messages?s=1\n\n")
        ),
    );
    let (init, _) = next_request(net, 0, |r| r.rpc_method().as_deref() == Some("initialize"))
        .expect("initialize");
    net.reply(init.conn, &empty("202 Accepted", ""));
    let answer = result(
        init.rpc_id().unwrap(),
        r#"{"protocolVersion":"2024-11-05"}"#,
    );
    net.reply(get.conn, &chunk(&format!("data: {answer}\n\n")));
    let (ack, _) = next_request(net, 0, |r| {
        r.rpc_method().as_deref() == Some("notifications/initialized")
    })
    .expect("initialized");
    net.reply(ack.conn, &empty("202 Accepted", ""));
    net.flush();
    assert!(net.client.is_connected());
    net.reply(get.conn, &chunk(tail));
}

/// HTTP+SSE sessions whose stream ends right after the handshake and an event with no data:
/// each is a session lost without having served anything, so the client backs off and closes
/// after `Retry::max_attempts`, instead of starting a new session at network speed. A stream
/// that stayed open for `Retry::max` served: it is reconnected at once, every time.
#[test]
fn an_http_sse_session_ended_after_its_handshake_is_not_restarted_for_ever() {
    let mut net = Raw::new(sessions_config());
    let retry = net.client.config.retry;
    let first = legacy_stream(&mut net);
    let answer = |net: &mut Raw, get: &Req| {
        legacy_session(net, get, "id: 1\ndata: \n\n");
        net.reply(get.conn, "0\r\n\r\n");
    };
    answer(&mut net, &first);
    let waits = serve_each(&mut net, 100, is_get, answer);
    assert_eq!(waits.len(), retry.max_attempts as usize, "{waits:?}");
    assert!(
        waits
            .last()
            .is_some_and(|w| *w >= retry.max.as_millis() / 2),
        "{waits:?}"
    );
    assert!(net.client.is_closed(), "{:?}", net.events.last());

    let mut net = Raw::new(sessions_config());
    let first = legacy_stream(&mut net);
    let answer = |net: &mut Raw, get: &Req| {
        legacy_session(net, get, ": keep-alive\n\n");
        net.now += retry.max;
        net.reply(get.conn, "0\r\n\r\n");
    };
    answer(&mut net, &first);
    let waits = serve_each(&mut net, 20, is_get, answer);
    assert_eq!(waits, [0; 20]);
    assert!(!net.client.is_closed(), "{:?}", net.events.last());
}
