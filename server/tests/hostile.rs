//! Hostile input over real sockets, against the `mcpwire` binary: each case gets the status it
//! should (with a JSON-RPC error body where there is a body), the server keeps serving, and
//! once the clients are gone every gauge and the count of open descriptors is back at its
//! baseline, exactly.

mod common;

use std::time::Duration;

use common::{Conn, Server, Session, post, request, result_text};
use serde_json::{Value, json};

/// Short deadlines, so that every case resolves within seconds; eight sessions at most, so
/// that the cap is reached quickly.
const ARGS: [&str; 12] = [
    "--read-timeout",
    "1",
    "--connection-idle",
    "2",
    "--idle-timeout",
    "2",
    "--write-timeout",
    "1",
    "--keepalive",
    "1",
    "--max-sessions",
    "8",
];

/// How long the server may take to close and expire everything the cases left behind.
const SETTLE: Duration = Duration::from_secs(30);

const JSON_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
];

/// Sends `wire` on a new connection and reads one response.
fn answer(server: &Server, wire: &[u8]) -> (u16, Option<Value>, Conn) {
    let mut conn = Conn::open(server.addr);
    conn.send(wire);
    let response = conn.response();
    let json = serde_json::from_slice(&response.body).ok();
    (response.status, json, conn)
}

/// `wire` is refused with `status`, a JSON-RPC error body, and the connection closed.
fn refused(server: &Server, what: &str, wire: &[u8], status: u16) {
    let (got, json, mut conn) = answer(server, wire);
    assert_eq!(got, status, "{what}: {json:?}");
    let json = json.unwrap_or_else(|| panic!("{what}: no JSON body"));
    assert!(
        json["error"]["code"].is_i64(),
        "{what}: not a JSON-RPC error: {json}"
    );
    assert!(
        conn.is_closed_by_peer(),
        "{what}: the connection stays open"
    );
}

/// `wire`, sent with a live session, gets `status` and the JSON-RPC error `code`.
fn rejected(server: &Server, what: &str, wire: &[u8], status: u16, code: i64) {
    let (got, json, _) = answer(server, wire);
    assert_eq!(got, status, "{what}: {json:?}");
    assert_eq!(
        json.as_ref().map(|j| j["error"]["code"].clone()),
        Some(json!(code)),
        "{what}: {json:?}"
    );
}

/// The server still serves: a new session can call a tool.
fn healthy(server: &Server) {
    let mut session = Session::open(server.addr);
    let echo = session.call(
        "tools/call",
        json!({"name":"echo","arguments":{"text":"still here"}}),
    );
    assert_eq!(result_text(&echo[0]), "still here");
    assert_eq!(session.delete(), 200);
}

fn raw(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

#[test]
fn slow_oversized_and_malformed_requests_are_refused_with_a_status() {
    let server = Server::start(&ARGS);
    let baseline = server.baseline();

    // Slowloris: a head, then a body, that stop arriving get 408 at the read deadline.
    let mut conn = Conn::open(server.addr);
    conn.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: 1\r\n");
    let response = conn.response();
    assert_eq!(response.status, 408, "a head that stops arriving");
    assert!(conn.is_closed_by_peer());
    let mut conn = Conn::open(server.addr);
    conn.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"");
    let response = conn.response();
    assert_eq!(response.status, 408, "a body that stops arriving");
    assert_eq!(response.json()["error"]["code"], -32000);
    assert!(conn.is_closed_by_peer());

    // Sizes: at each limit served, past it refused.
    let header = |bytes: usize| format!("X-Pad: {}\r\n", "a".repeat(bytes));
    let line = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    let head_at_limit = format!("{line}{}\r\n", header(16 * 1024 - line.len() - 11));
    assert_eq!(head_at_limit.len(), 16 * 1024);
    let (status, _, _) = answer(&server, head_at_limit.as_bytes());
    assert_eq!(
        status, 415,
        "a head of exactly 16 KiB is read (and has no Content-Type)"
    );
    let head_past = format!("{line}{}\r\n", header(16 * 1024 - line.len() - 10));
    refused(&server, "a head past 16 KiB", head_past.as_bytes(), 431);
    let many = |n: usize| {
        let fields: String = (0..n).map(|i| format!("X-{i}: 1\r\n")).collect();
        // Host is one of the fields: `n` in all.
        format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{fields}\r\n")
    };
    let (status, _, _) = answer(&server, many(63).as_bytes());
    assert_eq!(status, 415, "64 header fields are read");
    refused(&server, "65 header fields", many(64).as_bytes(), 431);
    refused(
        &server,
        "a Content-Length past 4 MiB",
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
            4 * 1024 * 1024 + 1
        )
        .as_bytes(),
        413,
    );
    let long_id = "a".repeat(20 * 1024);
    refused(
        &server,
        "a session id of 20 KiB",
        &request("POST", "/mcp", &[("Mcp-Session-Id", &long_id)], "{}"),
        431,
    );

    // Framing: bogus chunks and request smuggling.
    let chunked = |body: &str| {
        raw(&format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        ))
    };
    refused(
        &server,
        "a chunk size that is not hex",
        &chunked("zz\r\n"),
        400,
    );
    refused(
        &server,
        "a chunk size past any body limit",
        &chunked("fffffffffffffffffffff\r\n"),
        413,
    );
    refused(
        &server,
        "a chunk without its CRLF",
        &chunked("2\r\n{}XX0\r\n\r\n"),
        400,
    );
    refused(
        &server,
        "two different Content-Lengths",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    );
    refused(
        &server,
        "Content-Length with Transfer-Encoding",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    refused(
        &server,
        "a transfer coding other than chunked",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
    refused(
        &server,
        "a control character in a header value",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: ab\x01cd\r\n\r\n",
        400,
    );
    refused(
        &server,
        "a request line that is not HTTP",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        400,
    );

    // Pipelined garbage after a valid request: the request is answered, then the garbage.
    let mut conn = Conn::open(server.addr);
    let mut wire = post(
        None,
        &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},
            "clientInfo":{"name":"pipelined","version":"1"}}}),
    );
    wire.extend_from_slice(b"\x00\x01GARBAGE\r\n\r\n");
    conn.send(&wire);
    let initialized = conn.response();
    assert_eq!(initialized.status, 200, "the valid request first");
    assert!(initialized.header("mcp-session-id").is_some());
    let garbage = conn.response();
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.json()["error"]["code"], -32000);
    assert!(conn.is_closed_by_peer());

    healthy(&server);
    server.wait_for_baseline(&baseline, SETTLE);
}

#[test]
fn wrong_json_and_wrong_json_rpc_are_errors_of_their_kind() {
    let server = Server::start(&ARGS);
    let baseline = server.baseline();
    let session = Session::open(server.addr);
    let headers = [
        JSON_HEADERS[0],
        JSON_HEADERS[1],
        ("Mcp-Session-Id", session.id.as_str()),
        ("Mcp-Protocol-Version", "2025-11-25"),
    ];
    // Bodies as bytes: some of them are not UTF-8.
    let with_session = |body: &[u8]| {
        let mut wire = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
        for (name, value) in headers {
            wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        wire.extend_from_slice(body);
        wire
    };
    rejected(
        &server,
        "invalid UTF-8",
        &with_session(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffng\"}"),
        400,
        -32700,
    );
    let deep = "[".repeat(100_000);
    rejected(
        &server,
        "JSON nested 100,000 deep",
        &with_session(deep.as_bytes()),
        400,
        -32700,
    );
    rejected(&server, "an empty batch", &with_session(b"[]"), 400, -32600);
    let batch: Vec<Value> = (0..10_000)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"ping"}))
        .collect();
    let batch = serde_json::to_vec(&batch).unwrap();
    rejected(
        &server,
        "a batch of 10,000 (2025-11-25 has no batches)",
        &with_session(&batch),
        400,
        -32600,
    );
    for (what, body) in [
        (
            "JSON-RPC 1.0",
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        ),
        (
            "an object id",
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
        ),
        ("a numeric method", r#"{"jsonrpc":"2.0","id":1,"method":5}"#),
        ("a bare string", r#""ping""#),
        (
            "params that are a number",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":3}"#,
        ),
    ] {
        rejected(&server, what, &with_session(body.as_bytes()), 400, -32600);
    }
    // Batches exist in 2025-03-26 only: there, 1,000 pings in one body get 1,000 answers.
    let mut old = Conn::open(server.addr);
    old.send(&post(
        None,
        &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-03-26","capabilities":{},
            "clientInfo":{"name":"batcher","version":"1"}}}),
    ));
    let old_id = old.response().header("mcp-session-id").unwrap().to_string();
    let pings: Vec<Value> = (0..1_000)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"ping"}))
        .collect();
    let mut conn = Conn::open(server.addr);
    conn.send(&request(
        "POST",
        "/mcp",
        &[
            JSON_HEADERS[0],
            JSON_HEADERS[1],
            ("Mcp-Session-Id", old_id.as_str()),
            ("MCP-Protocol-Version", "2025-03-26"),
        ],
        &json!(pings).to_string(),
    ));
    let answers = conn.response();
    assert_eq!(answers.status, 200);
    let answers = answers.json();
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 1_000);
    assert!(answers.iter().all(|a| a["result"].is_object()));
    // The session itself was never harmed.
    let (status, json, _) = answer(
        &server,
        &with_session(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#),
    );
    assert_eq!(status, 200, "{json:?}");
    assert_eq!(session.delete(), 200);

    // Spoofed Origin and Host.
    let mut evil_origin = request(
        "POST",
        "/mcp",
        &[
            JSON_HEADERS[0],
            JSON_HEADERS[1],
            ("Origin", "http://evil.example"),
        ],
        "{}",
    );
    refused(&server, "a foreign Origin", &evil_origin, 403);
    evil_origin = String::from_utf8(request("POST", "/mcp", &JSON_HEADERS, "{}"))
        .unwrap()
        .replacen("Host: 127.0.0.1", "Host: evil.example", 1)
        .into_bytes();
    refused(&server, "a foreign Host", &evil_origin, 403);

    healthy(&server);
    server.wait_for_baseline(&baseline, SETTLE);
}

#[test]
fn sessions_flooded_to_the_cap_get_503_until_they_expire() {
    let server = Server::start(&ARGS);
    let baseline = server.baseline();
    let sessions: Vec<Session> = (0..8).map(|_| Session::open(server.addr)).collect();
    let initialize = post(
        None,
        &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},
            "clientInfo":{"name":"flood","version":"1"}}}),
    );
    let (status, json, _) = answer(&server, &initialize);
    assert_eq!(status, 503, "the ninth session: {json:?}");
    assert_eq!(json.unwrap()["error"]["code"], -32000);
    drop(sessions);
    // Abandoned, they expire after 2 s idle; then there is room again.
    server.wait_for_baseline(&baseline, SETTLE);
    healthy(&server);
    server.wait_for_baseline(&baseline, SETTLE);
}

#[test]
fn a_client_that_never_reads_during_100_000_broadcasts_is_cut_and_the_server_serves_on() {
    let server = Server::start(&ARGS);
    let baseline = server.baseline();
    let stalled_session = Session::open(server.addr);
    let mut stalled = Conn::open_small_window(server.addr);
    stalled.send(&request(
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", stalled_session.id.as_str()),
            ("Mcp-Protocol-Version", "2025-11-25"),
        ],
        "",
    ));
    let mut caller = Session::open(server.addr);
    let sent = caller.call(
        "tools/call",
        json!({"name":"announce_list_changed","arguments":{"list":"tools","times":100_000}}),
    );
    assert!(result_text(&sent[0]).ends_with(" notified"), "{sent:?}");
    // About 10 MB of notifications for a reader that takes none: it is cut at its 4 MiB
    // queue limit or at its write deadline, whichever comes first.
    let metrics = server.metrics();
    let cut = metrics["mcpwire_slow_readers_disconnected_total"]
        + metrics["mcpwire_write_timeouts_total"];
    assert!(cut >= 1, "the stalled reader was cut: {metrics:?}");
    drop(stalled);
    let _ = stalled_session.delete();
    assert_eq!(caller.delete(), 200);
    healthy(&server);
    server.wait_for_baseline(&baseline, SETTLE);
}

#[test]
fn a_stolen_session_id_without_its_credential_is_not_found() {
    let server = Server::start(&["--bind-session-to", "Authorization"]);
    let baseline = server.baseline();
    let with = |session: Option<&str>, credential: &str, body: &Value| {
        let mut headers = vec![
            JSON_HEADERS[0],
            JSON_HEADERS[1],
            ("MCP-Protocol-Version", "2025-11-25"),
            ("Authorization", credential),
        ];
        if let Some(session) = session {
            headers.push(("Mcp-Session-Id", session));
        }
        request("POST", "/mcp", &headers, &body.to_string())
    };
    let initialize = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"a","version":"1"}}});
    let mut conn = Conn::open(server.addr);
    conn.send(&with(None, "Bearer alice", &initialize));
    let id = conn
        .response()
        .header("mcp-session-id")
        .unwrap()
        .to_string();
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    let (status, _, _) = answer(&server, &with(Some(&id), "Bearer alice", &ping));
    assert_eq!(status, 200, "the owner");
    rejected(
        &server,
        "the same session id with another credential",
        &with(Some(&id), "Bearer mallory", &ping),
        404,
        -32001,
    );
    let delete = request(
        "DELETE",
        "/mcp",
        &[
            ("Mcp-Session-Id", id.as_str()),
            ("Authorization", "Bearer alice"),
        ],
        "",
    );
    let (status, _, _) = answer(&server, &delete);
    assert_eq!(status, 200, "the owner ends it");
    drop(conn);
    server.wait_for_baseline(&baseline, SETTLE);
}

/// One address opens 4,200 sockets and never sends a byte: more than the 4,096 connections
/// the server holds. By default that address gets a quarter of them (past it, 503; past twice
/// it, nothing), so another client is still served. With the per-peer cap off, as it was by
/// default, the same flood leaves everyone else 503 until the silent sockets time out.
#[test]
fn one_silent_address_cannot_take_every_connection_by_default() {
    for (args, served) in [
        (&[][..], true),
        (&["--max-connections-per-peer", "off"][..], false),
    ] {
        let server = Server::start(args);
        let baseline = server.baseline();
        let silent: Vec<std::net::TcpStream> = (0..4200)
            .map(|_| std::net::TcpStream::connect(server.addr).expect("connects"))
            .collect();
        // Accepted in order: once the last one is answered (503) or dropped, the server has
        // dealt with every one before it.
        let mut last = silent.last().unwrap().try_clone().unwrap();
        last.set_read_timeout(Some(SETTLE)).unwrap();
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut last, &mut rest).expect("closed by the server");
        let mut other = Conn::open_from(server.addr, "127.0.0.2".parse().unwrap());
        other.send(&post(
            None,
            &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion":"2025-11-25","capabilities":{},
                "clientInfo":{"name":"another address","version":"1"}}}),
        ));
        let response = other.response();
        if served {
            assert_eq!(response.status, 200, "another address is served");
            let session = response.header("mcp-session-id").expect("a session");
            let mut gone = Conn::open_from(server.addr, "127.0.0.2".parse().unwrap());
            gone.send(&request(
                "DELETE",
                "/mcp",
                &[("Mcp-Session-Id", session)],
                "",
            ));
            assert_eq!(gone.response().status, 200);
        } else {
            assert_eq!(
                response.status, 503,
                "without the cap, one address took everything"
            );
        }
        drop(other);
        drop(silent);
        server.wait_for_baseline(&baseline, SETTLE);
    }
}
