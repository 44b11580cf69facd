//! Behaviour of [`ServerCodec`] over whole exchanges.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::*;

fn limits() -> Limits {
    Limits::default()
}

fn checked(conn: &ServerCodec) {
    conn.check_invariants().unwrap();
}

fn drain(conn: &mut ServerCodec) -> String {
    let mut out = Vec::new();
    while conn.poll_transmit(&mut out, 7) > 0 {}
    checked(conn);
    String::from_utf8(out).unwrap()
}

fn feed(conn: &mut ServerCodec, bytes: &[u8]) {
    assert_eq!(conn.receive(bytes), bytes.len(), "all bytes accepted");
    checked(conn);
}

fn ok(conn: &mut ServerCodec, body: &str) {
    conn.send_response(
        &ResponseHead::new(200, &[("content-type", "text/plain")]),
        ResponseBody::Full(body.as_bytes()),
    )
    .unwrap();
    checked(conn);
}

fn next(conn: &mut ServerCodec) -> Request {
    let request = conn.poll_request().expect("a request").expect("no error");
    checked(conn);
    request
}

fn next_error(conn: &mut ServerCodec) -> RequestError {
    let error = conn
        .poll_request()
        .expect("an error")
        .expect_err("an error");
    checked(conn);
    error
}

const GET: &[u8] =
    b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nAccept: text/event-stream\r\n\r\n";

#[test]
fn keep_alive_serves_requests_one_after_another() {
    let mut conn = ServerCodec::new(limits());
    assert_eq!(conn.phase(), Phase::Idle);
    feed(&mut conn, GET);
    assert_eq!(conn.phase(), Phase::Handling);
    let r = next(&mut conn);
    assert_eq!(
        (r.method(), r.path(), r.version()),
        (Method::Get, "/mcp", Version::Http11)
    );
    assert_eq!(r.header_str("host"), Some("127.0.0.1:3000"));
    assert!(conn.poll_request().is_none());
    ok(&mut conn, "one");
    assert_eq!(
        drain(&mut conn),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\none"
    );
    assert_eq!(conn.phase(), Phase::Idle);
    feed(&mut conn, GET);
    next(&mut conn);
    ok(&mut conn, "two");
    assert!(drain(&mut conn).ends_with("two"));
    assert!(!conn.wants_close());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut conn = ServerCodec::new(limits());
    let mut wire = Vec::new();
    wire.extend_from_slice(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nA");
    wire.extend_from_slice(
        b"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nB\r\n0\r\n\r\n",
    );
    wire.extend_from_slice(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    feed(&mut conn, &wire);
    let mut bodies = Vec::new();
    while let Some(request) = conn.poll_request() {
        let request = request.unwrap();
        assert!(conn.poll_request().is_none(), "one exchange at a time");
        bodies.push((String::from(request.path()), request.body().to_vec()));
        ok(&mut conn, request.path());
    }
    assert_eq!(
        bodies,
        [
            (String::from("/a"), b"A".to_vec()),
            (String::from("/b"), b"B".to_vec()),
            (String::from("/c"), Vec::new())
        ]
    );
    let out = drain(&mut conn);
    let a = out.find("/a").unwrap();
    let b = out.find("/b").unwrap();
    let c = out.find("/c").unwrap();
    assert!(a < b && b < c, "{out}");
}

#[test]
fn one_byte_at_a_time_yields_the_same_request() {
    let wire = b"POST /mcp?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;e=1\r\nefg\r\n0\r\nT: 1\r\n\r\n";
    let mut whole = ServerCodec::new(limits());
    feed(&mut whole, wire);
    let expected = next(&mut whole);
    let mut conn = ServerCodec::new(limits());
    for byte in wire {
        assert!(conn.poll_request().is_none());
        feed(&mut conn, core::slice::from_ref(byte));
    }
    let got = next(&mut conn);
    assert_eq!(got, expected);
    assert_eq!(got.body(), b"abcdefg");
}

#[test]
fn phases_follow_the_request() {
    let mut conn = ServerCodec::new(limits());
    feed(&mut conn, b"\r\n");
    assert_eq!(
        conn.phase(),
        Phase::Idle,
        "blank lines alone are still idle"
    );
    feed(&mut conn, b"P");
    assert_eq!(conn.phase(), Phase::ReadingHead);
    feed(
        &mut conn,
        b"OST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab",
    );
    assert_eq!(conn.phase(), Phase::ReadingBody);
    let head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n".len();
    assert_eq!(
        conn.buffered_bytes(),
        head + 2,
        "the parsed head and the body so far"
    );
    feed(&mut conn, b"cd");
    assert_eq!(conn.phase(), Phase::Handling);
    next(&mut conn);
    conn.send_response(&ResponseHead::new(200, &[]), ResponseBody::Streaming)
        .unwrap();
    assert_eq!(conn.phase(), Phase::Responding);
    conn.finish_body().unwrap();
    assert_eq!(conn.phase(), Phase::Idle);
}

#[test]
fn connection_close_is_honoured_after_the_response() {
    let mut conn = ServerCodec::new(limits());
    feed(
        &mut conn,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n",
    );
    next(&mut conn);
    ok(&mut conn, "x");
    assert_eq!(conn.phase(), Phase::Closing);
    assert!(!conn.wants_close(), "output still queued");
    let out = drain(&mut conn);
    assert!(out.contains("connection: close\r\n"), "{out}");
    assert!(conn.wants_close());
    assert!(conn.poll_request().is_none(), "nothing after close is read");
    assert_eq!(conn.buffered_bytes(), 0);
}

#[test]
fn http10_closes_unless_kept_alive_and_streams_until_close() {
    let mut conn = ServerCodec::new(limits());
    feed(&mut conn, b"GET / HTTP/1.0\r\n\r\n");
    next(&mut conn);
    ok(&mut conn, "x");
    assert!(drain(&mut conn).contains("connection: close"));
    assert!(conn.wants_close());

    let mut conn = ServerCodec::new(limits());
    feed(
        &mut conn,
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    next(&mut conn);
    ok(&mut conn, "x");
    assert!(drain(&mut conn).contains("connection: keep-alive"));
    assert_eq!(conn.phase(), Phase::Idle);

    feed(
        &mut conn,
        b"GET /sse HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    next(&mut conn);
    conn.send_response(&ResponseHead::new(200, &[]), ResponseBody::Streaming)
        .unwrap();
    conn.send_body(b"data: 1\n\n").unwrap();
    conn.finish_body().unwrap();
    let out = drain(&mut conn);
    assert_eq!(
        out, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\ndata: 1\n\n",
        "no chunked framing for HTTP/1.0"
    );
    assert!(conn.wants_close());
}

#[test]
fn streaming_bodies_are_chunked_with_a_clean_end_and_shared_payloads() {
    let mut conn = ServerCodec::new(limits());
    feed(&mut conn, GET);
    next(&mut conn);
    conn.send_response(
        &ResponseHead::new(200, &[("content-type", "text/event-stream")]),
        ResponseBody::Streaming,
    )
    .unwrap();
    conn.send_body(b": keep-alive\n\n").unwrap();
    conn.send_body(b"").unwrap();
    let shared: Arc<[u8]> = Arc::from(&b"data: {}\n\n"[..]);
    conn.send_body_shared(b"id: 1\n", &shared).unwrap();
    assert_eq!(Arc::strong_count(&shared), 2);
    conn.finish_body().unwrap();
    assert_eq!(
        drain(&mut conn),
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
         e\r\n: keep-alive\n\n\r\n10\r\nid: 1\ndata: {}\n\n\r\n0\r\n\r\n"
    );
    assert_eq!(Arc::strong_count(&shared), 1);
    assert_eq!(conn.phase(), Phase::Idle);
}

#[test]
fn head_requests_get_headers_only() {
    let mut conn = ServerCodec::new(limits());
    feed(&mut conn, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    next(&mut conn);
    ok(&mut conn, "hello");
    assert_eq!(
        drain(&mut conn),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n"
    );
}

#[test]
fn no_content_has_no_length() {
    let mut conn = ServerCodec::new(limits());
    feed(&mut conn, GET);
    next(&mut conn);
    conn.send_response(&ResponseHead::new(204, &[]), ResponseBody::Full(b"ignored"))
        .unwrap();
    assert_eq!(drain(&mut conn), "HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(conn.phase(), Phase::Idle);
}

#[test]
fn expect_continue_is_answered_only_while_the_body_is_awaited() {
    let head = b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    let mut conn = ServerCodec::new(limits());
    feed(&mut conn, head);
    assert_eq!(drain(&mut conn), "HTTP/1.1 100 Continue\r\n\r\n");
    feed(&mut conn, b"{}");
    assert_eq!(next(&mut conn).body(), b"{}");
    ok(&mut conn, "");
    assert!(drain(&mut conn).starts_with("HTTP/1.1 200 OK"));

    let mut eager = ServerCodec::new(limits());
    let mut wire = head.to_vec();
    wire.extend_from_slice(b"{}");
    feed(&mut eager, &wire);
    next(&mut eager);
    ok(&mut eager, "");
    assert!(
        drain(&mut eager).starts_with("HTTP/1.1 200 OK"),
        "no 100 for a body already sent"
    );

    let mut chunked = ServerCodec::new(limits());
    feed(
        &mut chunked,
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(drain(&mut chunked), "HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn too_large_with_expect_continue_is_refused_before_any_body() {
    let mut conn = ServerCodec::new(Limits {
        max_body_bytes: 10,
        ..limits()
    });
    feed(
        &mut conn,
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    let error = next_error(&mut conn);
    assert_eq!(error.status(), 413);
    conn.send_error(&error).unwrap();
    let out = drain(&mut conn);
    assert!(
        out.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{out}"
    );
    assert!(!out.contains("100 Continue"));
    assert!(out.ends_with(
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"request body too large"}}"#
    ));
    assert!(conn.wants_close());
}

fn error_for(limits: Limits, wire: &[u8]) -> RequestError {
    let mut conn = ServerCodec::new(limits);
    let mut rest = wire;
    while !rest.is_empty() {
        let n = conn.receive(rest);
        checked(&conn);
        assert!(n > 0, "stalled without an error");
        rest = &rest[n..];
    }
    conn.receive_eof();
    next_error(&mut conn)
}

fn accepted(limits: Limits, wire: &[u8]) -> Request {
    let mut conn = ServerCodec::new(limits);
    feed(&mut conn, wire);
    next(&mut conn)
}

#[test]
fn request_line_limit_is_exact() {
    let limits = Limits {
        max_request_line: 20,
        ..limits()
    };
    // "GET /aaaaaaa HTTP/1.1" is 21 bytes; "GET /aaaaaa HTTP/1.1" is 20.
    accepted(limits, b"GET /aaaaaa HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        error_for(limits, b"GET /aaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n"),
        RequestError::RequestLineTooLong
    );
    // Known too long before the line ends.
    let mut conn = ServerCodec::new(limits);
    feed(&mut conn, b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(next_error(&mut conn), RequestError::RequestLineTooLong);
}

#[test]
fn header_bytes_limit_is_exact_and_counts_blank_lines() {
    let head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let limits = Limits {
        max_header_bytes: head.len(),
        ..limits()
    };
    accepted(limits, head);
    let mut long = head.to_vec();
    long.splice(16..16, *b"X: 1\r\n");
    assert_eq!(error_for(limits, &long), RequestError::HeadersTooLarge);
    let mut blank_first = b"\r\n".to_vec();
    blank_first.extend_from_slice(head);
    assert_eq!(
        error_for(limits, &blank_first),
        RequestError::HeadersTooLarge
    );
    let mut lf_first = b"\n".to_vec();
    lf_first.extend_from_slice(&head[..head.len() - 1]);
    assert_eq!(error_for(limits, &lf_first), RequestError::HeadersTooLarge);
}

#[test]
fn body_limit_is_exact_for_both_framings() {
    let limits = Limits {
        max_body_bytes: 4,
        ..limits()
    };
    accepted(
        limits,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd",
    );
    assert_eq!(
        error_for(
            limits,
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde"
        ),
        RequestError::BodyTooLarge
    );
    accepted(
        limits,
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n",
    );
    assert_eq!(
        error_for(
            limits,
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
        ),
        RequestError::BodyTooLarge
    );
}

#[test]
fn malformed_input_gets_400_then_close_and_the_rest_is_discarded() {
    let mut conn = ServerCodec::new(limits());
    feed(
        &mut conn,
        b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let error = next_error(&mut conn);
    assert_eq!(error.status(), 400);
    assert_eq!(conn.buffered_bytes(), 0);
    assert_eq!(
        conn.receive(b"more garbage"),
        12,
        "discarded, never blocking"
    );
    conn.send_error(&error).unwrap();
    let out = drain(&mut conn);
    assert!(out.starts_with(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: "
    ));
    assert!(out.contains("connection: close"));
    assert!(conn.wants_close());
    assert!(conn.poll_request().is_none());
}

#[test]
fn smuggling_attempts_are_refused() {
    for wire in [
        &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n folded: x\r\n\r\nabc",
    ] {
        let error = error_for(limits(), wire);
        assert_eq!(error.status(), 400, "{:?}: {error}", core::str::from_utf8(wire));
    }
}

#[test]
fn eof_on_an_idle_connection_closes_it() {
    let mut conn = ServerCodec::new(limits());
    conn.receive_eof();
    checked(&conn);
    assert!(conn.wants_close());
    assert!(conn.poll_request().is_none());
}

#[test]
fn eof_mid_request_is_answered_as_incomplete() {
    assert_eq!(
        error_for(limits(), b"GET / HTTP/1.1\r\nHo"),
        RequestError::Incomplete
    );
    assert_eq!(
        error_for(
            limits(),
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc"
        ),
        RequestError::Incomplete
    );
}

#[test]
fn a_half_closed_peer_still_gets_every_pipelined_answer() {
    let mut conn = ServerCodec::new(limits());
    let mut wire = GET.to_vec();
    wire.extend_from_slice(GET);
    feed(&mut conn, &wire);
    conn.receive_eof();
    next(&mut conn);
    ok(&mut conn, "1");
    next(&mut conn);
    ok(&mut conn, "2");
    let out = drain(&mut conn);
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2);
    assert_eq!(
        out.matches("connection: close").count(),
        1,
        "only the last announces close"
    );
    assert!(conn.wants_close());
}

#[test]
fn pipelined_input_is_bounded_while_a_response_is_pending() {
    let limits = Limits {
        max_header_bytes: 64,
        ..limits()
    };
    let mut conn = ServerCodec::new(limits);
    let get = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    feed(&mut conn, get);
    next(&mut conn);
    assert_eq!(conn.read_capacity(), 64);
    let flood = [b'x'; 100];
    assert_eq!(conn.receive(&flood), 64);
    assert_eq!(conn.read_capacity(), 0);
    assert_eq!(conn.receive(&flood), 0);
    checked(&conn);
    ok(&mut conn, "");
    // The buffered bytes are now parsed as the next head, which is too large and not a request.
    assert_eq!(next_error(&mut conn).status(), 431);
}

#[test]
fn send_errors_are_values_not_panics() {
    let mut conn = ServerCodec::new(limits());
    assert_eq!(
        conn.send_response(&ResponseHead::new(200, &[]), ResponseBody::Empty),
        Err(SendError::NoExchange)
    );
    assert_eq!(conn.send_body(b"x"), Err(SendError::NotStreaming));
    feed(&mut conn, GET);
    next(&mut conn);
    assert_eq!(
        conn.send_response(
            &ResponseHead::new(200, &[("connection", "close")]),
            ResponseBody::Empty
        ),
        Err(SendError::ReservedHeader)
    );
    assert_eq!(conn.finish_body(), Err(SendError::NotStreaming));
    conn.send_response(&ResponseHead::new(200, &[]), ResponseBody::Streaming)
        .unwrap();
    assert_eq!(
        conn.send_response(&ResponseHead::new(200, &[]), ResponseBody::Empty),
        Err(SendError::AlreadyResponded)
    );
    conn.close();
    assert_eq!(conn.send_body(b"x"), Err(SendError::Closed));
    assert_eq!(conn.phase(), Phase::Closed);
}

#[test]
fn close_releases_everything() {
    let mut conn = ServerCodec::new(limits());
    feed(
        &mut conn,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npartial",
    );
    assert!(conn.heap_bytes() > 0);
    conn.close();
    checked(&conn);
    assert_eq!(
        (
            conn.buffered_bytes(),
            conn.queued_bytes(),
            conn.heap_bytes()
        ),
        (0, 0, 0)
    );
    assert!(conn.wants_close());
    assert_eq!(conn.receive(b"late"), 4);
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn close_after_response_finishes_the_stream_then_closes() {
    let mut conn = ServerCodec::new(limits());
    feed(&mut conn, GET);
    next(&mut conn);
    conn.send_response(&ResponseHead::new(200, &[]), ResponseBody::Streaming)
        .unwrap();
    conn.close_after_response();
    conn.finish_body().unwrap();
    assert!(drain(&mut conn).ends_with("0\r\n\r\n"));
    assert!(conn.wants_close());

    let mut idle = ServerCodec::new(limits());
    idle.close_after_response();
    assert!(idle.wants_close());
}

#[test]
fn idle_connections_release_large_input_buffers() {
    let mut conn = ServerCodec::new(limits());
    let mut wire = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12000\r\n\r\n".to_vec();
    wire.resize(wire.len() + 12_000, b'a');
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let n = conn.receive(rest);
        rest = &rest[n..];
    }
    let request = next(&mut conn);
    assert_eq!(request.body().len(), 12_000);
    ok(&mut conn, "");
    let _ = drain(&mut conn);
    assert!(
        conn.heap_bytes() <= 256,
        "an idle connection keeps no buffers, only a few queue slots: {}",
        conn.heap_bytes()
    );
}

#[test]
fn refuse_answers_without_a_request_and_closes() {
    let mut conn = ServerCodec::new(limits());
    conn.refuse(&ResponseHead::new(503, &[("retry-after", "1")]), b"busy");
    checked(&conn);
    assert_eq!(conn.receive(GET), GET.len(), "input is discarded");
    assert!(conn.poll_request().is_none());
    let out = drain(&mut conn);
    assert_eq!(
        out,
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy"
    );
    assert!(conn.wants_close());
}

#[test]
fn blank_lines_then_eof_close_quietly() {
    let mut conn = ServerCodec::new(limits());
    feed(
        &mut conn,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}\r\n",
    );
    conn.receive_eof();
    next(&mut conn);
    ok(&mut conn, "ok");
    assert!(drain(&mut conn).contains("connection: close"));
    assert!(conn.poll_request().is_none(), "no 400 for blank lines");
    assert!(conn.wants_close());

    let mut blank = ServerCodec::new(limits());
    feed(&mut blank, b"\r\n");
    assert_eq!(blank.phase(), Phase::Idle, "blank lines alone are idle");
    blank.receive_eof();
    assert!(blank.poll_request().is_none());
    assert!(blank.wants_close());
}

#[test]
fn a_zero_head_limit_answers_431_instead_of_stalling() {
    let mut conn = ServerCodec::new(Limits {
        max_header_bytes: 0,
        ..limits()
    });
    assert!(conn.receive(GET) > 0);
    assert_eq!(next_error(&mut conn), RequestError::HeadersTooLarge);
}

#[test]
fn errors_are_answered_with_framing_any_client_reads() {
    let mut conn = ServerCodec::new(Limits {
        max_body_bytes: 10,
        ..limits()
    });
    feed(&mut conn, b"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\n");
    let error = next_error(&mut conn);
    conn.send_response(&ResponseHead::new(413, &[]), ResponseBody::Streaming)
        .unwrap();
    conn.send_body(b"too big").unwrap();
    conn.finish_body().unwrap();
    let out = drain(&mut conn);
    assert_eq!(
        out,
        "HTTP/1.1 413 Content Too Large\r\nconnection: close\r\n\r\ntoo big"
    );
    assert_eq!(error.status(), 413);
    assert!(conn.wants_close());
}
