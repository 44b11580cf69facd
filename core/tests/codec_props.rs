//! Property tests of the HTTP/1.1 codec and the SSE encoder/parser, over the public API.

use mcpwire_core::http1::{
    Limits, Request, RequestError, ResponseBody, ResponseHead, ServerCodec, Version,
};
use mcpwire_core::sse::{Event, SseItem, SseParser, push_comment};
use proptest::prelude::*;

// ---- A harness that behaves like an adapter ----

/// What the codec handed out for one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Request {
        method: String,
        target: String,
        version: Version,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    },
    Error(u16),
}

impl Seen {
    fn of(request: &Request) -> Seen {
        Seen::Request {
            method: request.method_str().into(),
            target: request.target().into(),
            version: request.version(),
            headers: request
                .headers()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec()))
                .collect(),
            body: request.body().to_vec(),
        }
    }
}

/// Answers every request at once and every error with its status, checking invariants after
/// every call, as an adapter that reads only what `read_capacity` allows would.
fn serve(conn: &mut ServerCodec, seen: &mut Vec<Seen>, out: &mut Vec<u8>) {
    while let Some(item) = conn.poll_request() {
        conn.check_invariants().unwrap();
        match item {
            Ok(request) => {
                seen.push(Seen::of(&request));
                conn.send_response(
                    &ResponseHead::new(200, &[("content-type", "application/json")]),
                    ResponseBody::Full(b"{}"),
                )
                .unwrap();
            }
            Err(error) => {
                seen.push(Seen::Error(error.status()));
                conn.send_error(&error).unwrap();
            }
        }
        conn.check_invariants().unwrap();
    }
    while conn.poll_transmit(out, 4096) > 0 {}
    conn.check_invariants().unwrap();
}

/// `wire` cut at the positions `cuts` (taken modulo its length): the pieces a socket might read.
fn pieces<'a>(wire: &'a [u8], cuts: &[usize]) -> impl Iterator<Item = &'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.extend([0, wire.len()]);
    points.sort_unstable();
    points.dedup();
    (1..points.len()).map(move |i| &wire[points[i - 1]..points[i]])
}

/// Feeds `wire` cut at `cuts`, then end of stream. Returns what was seen and the output.
fn run(limits: Limits, wire: &[u8], cuts: &[usize]) -> (Vec<Seen>, Vec<u8>, ServerCodec) {
    let mut conn = ServerCodec::new(limits);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for mut piece in pieces(wire, cuts) {
        while !piece.is_empty() {
            let accepted = conn.receive(piece);
            conn.check_invariants().unwrap();
            piece = &piece[accepted..];
            if accepted == 0 {
                let before = seen.len();
                serve(&mut conn, &mut seen, &mut out);
                assert!(
                    seen.len() > before || conn.read_capacity() > 0,
                    "stalled: nothing accepted and nothing to answer ({:?})",
                    conn.phase()
                );
            }
        }
        serve(&mut conn, &mut seen, &mut out);
    }
    conn.receive_eof();
    conn.check_invariants().unwrap();
    serve(&mut conn, &mut seen, &mut out);
    (seen, out, conn)
}

// ---- Valid request streams ----

#[derive(Debug, Clone)]
struct Spec {
    method: &'static str,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Chunk sizes for a chunked body (HTTP/1.1 only); `None` sends Content-Length.
    chunks: Option<Vec<usize>>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(vec!["GET", "POST", "DELETE", "OPTIONS", "PATCH"]),
        "/[a-z0-9/?=&%-]{0,40}",
        any::<bool>(),
        prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,40}"), 0..8),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::option::of(prop::collection::vec(1usize..64, 0..8)),
    )
        .prop_map(|(method, target, http10, headers, body, chunks)| Spec {
            method,
            target,
            http10,
            headers: headers
                .into_iter()
                .filter(|(n, _)| {
                    let n = n.to_ascii_lowercase();
                    ![
                        "host",
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "expect",
                    ]
                    .contains(&n.as_str())
                })
                .map(|(n, v)| (n, v.trim_matches([' ', '\t']).to_string()))
                .collect(),
            body,
            chunks: if http10 { None } else { chunks },
        })
}

fn encode(spec: &Spec, last: bool) -> Vec<u8> {
    let mut wire = Vec::new();
    let version = if spec.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    wire.extend_from_slice(format!("{} {} {version}\r\n", spec.method, spec.target).as_bytes());
    wire.extend_from_slice(b"Host: 127.0.0.1\r\n");
    for (name, value) in &spec.headers {
        wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    match (spec.http10, last) {
        (true, false) => wire.extend_from_slice(b"Connection: keep-alive\r\n"),
        (false, true) => wire.extend_from_slice(b"Connection: close\r\n"),
        _ => {}
    }
    match &spec.chunks {
        None => {
            wire.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n", spec.body.len()).as_bytes(),
            );
            wire.extend_from_slice(&spec.body);
        }
        Some(sizes) => {
            wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = &spec.body[..];
            let mut sizes = sizes.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap_or(&7)).min(rest.len());
                wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        }
    }
    wire
}

fn expected(spec: &Spec, last: bool) -> Seen {
    let mut headers = vec![("host".to_string(), b"127.0.0.1".to_vec())];
    headers.extend(
        spec.headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec())),
    );
    match (spec.http10, last) {
        (true, false) => headers.push(("connection".into(), b"keep-alive".to_vec())),
        (false, true) => headers.push(("connection".into(), b"close".to_vec())),
        _ => {}
    }
    match &spec.chunks {
        None => headers.push((
            "content-length".into(),
            spec.body.len().to_string().into_bytes(),
        )),
        Some(_) => headers.push(("transfer-encoding".into(), b"chunked".to_vec())),
    }
    Seen::Request {
        method: spec.method.into(),
        target: spec.target.clone(),
        version: if spec.http10 {
            Version::Http10
        } else {
            Version::Http11
        },
        headers,
        body: spec.body.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any split of a valid pipelined stream yields exactly the requests that were sent, in
    /// order, answered in order, and the connection ends closed with nothing held.
    #[test]
    fn any_split_yields_the_same_requests(
        specs in prop::collection::vec(spec(), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        byte_at_a_time in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let last = i + 1 == specs.len();
            wire.extend(encode(spec, last));
            want.push(expected(spec, last));
        }
        let cuts: Vec<usize> = if byte_at_a_time { (0..wire.len()).collect() } else { cuts };
        let (seen, out, conn) = run(Limits::default(), &wire, &cuts);
        prop_assert_eq!(&seen, &want);
        let (whole, whole_out, _) = run(Limits::default(), &wire, &[]);
        prop_assert_eq!(&seen, &whole);
        prop_assert_eq!(&out, &whole_out, "output does not depend on the split");
        let responses = String::from_utf8_lossy(&out).matches("HTTP/1.1 200 OK").count();
        prop_assert_eq!(responses, specs.len());
        prop_assert!(conn.wants_close());
        prop_assert_eq!(conn.buffered_bytes(), 0);
    }
}

// ---- Hostile bytes ----

/// Fragments of HTTP, so that random streams reach deep into the parser, plus raw bytes.
fn hostile_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST /mcp HTTP/1.1\r\n",
            b"GET / HTTP/1.0\r\n",
            b"Host: h\r\n",
            b"Content-Length: ",
            b"Transfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: gzip, chunked\r\n",
            b"Connection: close\r\n",
            b"Connection: keep-alive\r\n",
            b"Expect: 100-continue\r\n",
            b"\r\n",
            b"\n",
            b"\r",
            b"0\r\n\r\n",
            b"5\r\nhello\r\n",
            b"ffffffffffffffffff\r\n",
            b";ext=1",
            b": ",
            b"12",
            b"0",
            b" ",
            b"\0",
            b"\xff\xfe",
        ])
        .prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 1..16),
    ]
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (8usize..200, 16usize..400, 0usize..8, 0usize..64).prop_map(|(line, head, headers, body)| {
        Limits {
            max_request_line: line,
            max_header_bytes: head,
            max_headers: headers,
            max_body_bytes: body,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the bytes and limits: no panic, invariants hold after every call, the same
    /// requests and errors come out however the bytes are split, every error gets a status, and
    /// closing leaves nothing behind.
    #[test]
    fn arbitrary_bytes_never_panic_and_leave_nothing_after_close(
        pieces in prop::collection::vec(hostile_piece(), 0..60),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        limits in prop_oneof![Just(Limits::default()), small_limits()],
    ) {
        let wire: Vec<u8> = pieces.concat();
        let (seen, out, mut conn) = run(limits, &wire, &cuts);
        let (whole, _, _) = run(limits, &wire, &[]);
        prop_assert_eq!(&seen, &whole, "requests and errors do not depend on the split");
        for item in &seen {
            if let Seen::Error(status) = item {
                prop_assert!(matches!(status, 400 | 413 | 414 | 417 | 431 | 501 | 505), "{}", status);
            }
        }
        let text = String::from_utf8_lossy(&out);
        prop_assert_eq!(text.matches("HTTP/1.1 ").count() - text.matches("HTTP/1.1 100 Continue").count(), seen.len());
        prop_assert!(conn.wants_close(), "end of stream always ends the connection: {:?}", conn.phase());
        conn.close();
        conn.check_invariants().unwrap();
        prop_assert_eq!((conn.buffered_bytes(), conn.queued_bytes(), conn.heap_bytes()), (0, 0, 0));
    }

    /// A request error always closes the connection after its answer: nothing after a framing
    /// error is ever read as a request.
    #[test]
    fn nothing_is_read_after_an_error(
        garbage in prop::collection::vec(any::<u8>(), 1..64),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut wire = b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n".to_vec();
        wire.extend_from_slice(&garbage);
        wire.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let (seen, _, _) = run(Limits::default(), &wire, &cuts);
        prop_assert_eq!(seen, vec![Seen::Error(RequestError::BadFraming("").status())]);
    }
}

// ---- SSE round trip ----

#[derive(Debug, Clone)]
enum Written {
    Event {
        id: Option<String>,
        event: Option<String>,
        retry: Option<u64>,
        data: String,
    },
    Comment(String),
}

fn written() -> impl Strategy<Value = Written> {
    prop_oneof![
        4 => (
            prop::option::of("[^\r\n\0]{0,12}"),
            prop::option::of("[^\r\n]{1,12}"),
            prop::option::of(any::<u64>()),
            prop_oneof!["[ -~]{0,40}", ".{0,40}", "(a|\r|\n|\r\n| ){0,12}"],
        )
            .prop_map(|(id, event, retry, data)| Written::Event { id, event, retry, data }),
        1 => prop_oneof!["[ -~]{0,20}", "(x|\r|\n|\r\n| ){0,8}"].prop_map(Written::Comment),
    ]
}

fn lines(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .map(String::from)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The parser reads back exactly what the encoder wrote, however the stream is split. Line
    /// breaks in data come back as `\n`: SSE carries lines, not line-break characters.
    #[test]
    fn sse_parser_reads_back_what_the_encoder_wrote(
        items in prop::collection::vec(written(), 0..12),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        let mut last_id = String::new();
        for item in &items {
            match item {
                Written::Event { id, event, retry, data } => {
                    Event { id: id.as_deref(), event: event.as_deref(), retry: *retry, data }
                        .encode(&mut wire)
                        .unwrap();
                    if let Some(retry) = retry {
                        want.push(SseItem::Retry(*retry));
                    }
                    if let Some(id) = id {
                        last_id.clone_from(id);
                    }
                    want.push(SseItem::Event(mcpwire_core::sse::ParsedEvent {
                        event: event.clone().unwrap_or_else(|| "message".into()),
                        data: lines(data).join("\n"),
                        id: id.clone(),
                        last_event_id: last_id.clone(),
                    }));
                }
                Written::Comment(text) => {
                    push_comment(&mut wire, text);
                    want.extend(lines(text).into_iter().map(SseItem::Comment));
                }
            }
        }
        let mut parser = SseParser::new();
        let mut got = Vec::new();
        for piece in pieces(&wire, &cuts) {
            parser.feed(piece);
            while let Some(item) = parser.poll_item() {
                got.push(item.unwrap());
            }
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(parser.buffered_bytes(), 0);
    }
}
