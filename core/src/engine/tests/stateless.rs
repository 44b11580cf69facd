//! The 2026-07-28 era on the engine: envelopes, engine-answered methods, stateless calls and
//! their cancellation by close, listen streams, and that nothing outlives its exchange.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::harness::{Harness, INIT};
use crate::engine::{CancelReason, CommandError, Config, Event, LogLevel, Reply, Target};
use crate::engine::{ConnId, RequestHandle};
use crate::jsonrpc::RawValue;

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}"#;

fn body(id: u64, method: &str, extra: &str) -> String {
    let comma = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{META}{comma}{extra}}}}}"#
    )
}

fn wire(method: &str, name: Option<&str>, body: &str) -> Vec<u8> {
    let mut headers = alloc::vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", method),
    ];
    if let Some(name) = name {
        headers.push(("Mcp-Name", name));
    }
    Harness::request("POST", "/mcp", &headers, body)
}

fn send(h: &mut Harness, method: &str, name: Option<&str>, body: &str) -> ConnId {
    let conn = h.connect();
    h.send(conn, &wire(method, name, body));
    conn
}

fn raw(s: &str) -> alloc::boxed::Box<RawValue> {
    RawValue::from_string(s.into()).unwrap()
}

/// Every gauge back at rest once the test's connections are gone.
fn assert_at_rest(h: &mut Harness) {
    h.close_all();
    let stats = h.engine.stats();
    assert!(
        stats.is_quiescent(),
        "{:?}",
        stats.residue().collect::<Vec<_>>()
    );
    assert_eq!(stats.held.total(), 0, "{:?}", stats.held);
}

#[test]
fn discover_is_answered_by_the_engine_and_allocates_nothing() {
    let mut h = Harness::default();
    let conn = send(
        &mut h,
        "server/discover",
        None,
        &body(1, "server/discover", ""),
    );
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.header("mcp-session-id").is_none());
    let result = &response.json()["result"];
    assert_eq!(
        result["supportedVersions"],
        serde_json::json!(["2026-07-28"])
    );
    assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["ttlMs"], 0);
    assert_eq!(result["cacheScope"], "private");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "test-server"
    );
    assert!(h.events.is_empty());
    let stats = h.engine.stats();
    assert_eq!((stats.sessions, stats.stateless_requests), (0, 0));
    assert_at_rest(&mut h);
}

#[test]
fn methods_this_era_removed_are_unknown_and_allocate_nothing() {
    let mut h = Harness::default();
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let conn = send(&mut h, method, None, &body(500, method, ""));
        let response = h.take_response(conn).unwrap();
        assert_eq!(response.status, 404, "{method}");
        assert_eq!(response.json()["error"]["code"], -32601);
        assert_eq!(response.json()["id"], 500);
    }
    assert!(h.events.is_empty());
    assert_eq!(h.engine.stats().sessions, 0);
    assert_eq!(h.engine.counters().sessions_opened, 0);
    assert_at_rest(&mut h);
}

#[test]
fn get_and_delete_with_the_stateless_header_are_not_allowed() {
    let mut h = Harness::default();
    for method in ["GET", "DELETE"] {
        let conn = h.connect();
        let headers = [
            ("Accept", "text/event-stream"),
            ("MCP-Protocol-Version", "2026-07-28"),
        ];
        h.send(conn, &Harness::request(method, "/mcp", &headers, ""));
        let response = h.take_response(conn).unwrap();
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("POST"));
    }
    assert_at_rest(&mut h);
}

#[test]
fn envelope_refusals_name_the_request() {
    let mut h = Harness::default();
    let no_meta = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#;
    let conn = send(&mut h, "tools/list", None, no_meta);
    let response = h.take_response(conn).unwrap();
    assert_eq!(
        (response.status, response.json()["error"]["code"].clone()),
        (400, (-32602).into())
    );
    assert_eq!(response.json()["id"], 7);
    let conn = send(&mut h, "prompts/list", None, &body(8, "tools/list", ""));
    let response = h.take_response(conn).unwrap();
    assert_eq!(
        (response.status, response.json()["error"]["code"].clone()),
        (400, (-32020).into())
    );
    let call = body(9, "tools/call", r#""name":"echo""#);
    let conn = send(&mut h, "tools/call", Some("other"), &call);
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.json()["error"]["code"], -32020);
    let conn = h.connect();
    let unsupported = body(10, "tools/list", "").replace("\"2026-07-28\"", "\"2099-01-01\"");
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2099-01-01"),
        ("Mcp-Method", "tools/list"),
    ];
    h.send(
        conn,
        &Harness::request("POST", "/mcp", &headers, &unsupported),
    );
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 400);
    let error = &response.json()["error"];
    assert_eq!(error["code"], -32022);
    assert_eq!(error["data"]["requested"], "2099-01-01");
    assert_eq!(
        error["data"]["supported"],
        serde_json::json!(["2026-07-28"])
    );
    assert!(h.events.is_empty());
    assert_at_rest(&mut h);
}

fn call(
    h: &mut Harness,
    id: u64,
    method: &str,
    name: Option<&str>,
    extra: &str,
) -> (ConnId, RequestHandle) {
    let conn = send(h, method, name, &body(id, method, extra));
    (conn, h.take_request_event().0)
}

#[test]
fn a_call_runs_in_a_context_that_ends_with_its_response() {
    let mut h = Harness::default();
    let (conn, handle) = call(&mut h, 1, "tools/call", Some("echo"), r#""name":"echo""#);
    let stats = h.engine.stats();
    assert_eq!((stats.sessions, stats.stateless_requests), (0, 1));
    let context = h.engine.client_context(handle).unwrap();
    assert!(context.protocol_version.is_stateless());
    assert_eq!(
        context.client_info.unwrap().get(),
        r#"{"name":"c","version":"1"}"#
    );
    assert!(
        h.events
            .iter()
            .all(|e| !matches!(e, Event::SessionOpened { .. }))
    );
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.header("mcp-session-id").is_none());
    let result = &response.json()["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["content"], serde_json::json!([]));
    assert!(result.get("ttlMs").is_none());
    assert_eq!(h.engine.stats().stateless_requests, 0);
    assert!(
        h.events
            .iter()
            .all(|e| !matches!(e, Event::SessionClosed { .. }))
    );
    assert_at_rest(&mut h);
}

#[test]
fn lists_carry_caching_hints_and_cannot_ask_for_input() {
    let mut h = Harness::default();
    let (conn, handle) = call(&mut h, 1, "tools/list", None, "");
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"tools":[]}"#)))
        .unwrap();
    h.pump();
    let result = h.take_response(conn).unwrap().json()["result"].clone();
    assert_eq!(
        (result["ttlMs"].clone(), result["cacheScope"].clone()),
        (0.into(), "private".into())
    );
    let (conn, handle) = call(&mut h, 2, "prompts/list", None, "");
    let asks = raw(r#"{"resultType":"input_required","inputRequests":{}}"#);
    h.engine
        .respond(h.now, handle, &Reply::Result(asks))
        .unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.json()["error"]["code"], -32603);
    assert_eq!(h.engine.counters().invalid_results, 1);
    assert_at_rest(&mut h);
}

#[test]
fn an_unknown_method_from_the_application_is_404() {
    let mut h = Harness::default();
    let (conn, handle) = call(&mut h, 1, "unknown/method", None, "");
    let reply = Reply::Error {
        code: -32601,
        message: "Method not found".into(),
        data: None,
    };
    h.engine.respond(h.now, handle, &reply).unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 404);
    assert_eq!(response.json()["id"], 1);
    assert_at_rest(&mut h);
}

#[test]
fn closing_the_response_stream_cancels_the_request() {
    let mut h = Harness::default();
    let token = r#""name":"slow","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":5}"#;
    let conn = h.connect();
    let body = format!(r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{{token}}}}}"#);
    h.send(conn, &wire("tools/call", Some("slow"), &body));
    let (handle, _) = h.take_request_event();
    // Progress makes the answer a stream, which the client then closes.
    h.engine
        .send_progress(h.now, handle, 1.0, None, None)
        .unwrap();
    h.pump();
    h.engine.handle_closed(h.now, conn);
    h.pump();
    let cancelled = h.take_events(|e| matches!(e, Event::Cancelled { .. }));
    assert!(matches!(
        cancelled.as_slice(),
        [Event::Cancelled { handle: h2, reason: CancelReason::StreamClosed }] if *h2 == handle
    ));
    assert_eq!(
        h.engine
            .respond(h.now, handle, &Reply::Result(raw("{}")))
            .unwrap_err(),
        CommandError::StaleHandle
    );
    assert_eq!(h.engine.counters().sessions_opened, 0);
    assert_at_rest(&mut h);
}

/// A client that aborts before the first byte of the answer sends FIN (the TypeScript SDK's
/// `fetch` does): the call is cancelled at once, and its exchange, context and request are
/// gone without any timeout passing.
#[test]
fn a_fin_before_the_first_byte_cancels_the_request() {
    let mut h = Harness::default();
    let (conn, handle) = call(&mut h, 3, "tools/call", Some("slow"), r#""name":"slow""#);
    h.engine.handle_eof(h.now, conn);
    h.pump();
    assert!(h.closed.contains(&conn), "closed at once");
    let cancelled = h.take_events(|e| matches!(e, Event::Cancelled { .. }));
    assert!(matches!(
        cancelled.as_slice(),
        [Event::Cancelled { handle: h2, reason: CancelReason::StreamClosed }] if *h2 == handle
    ));
    let stats = h.engine.stats();
    assert_eq!(
        (
            stats.exchanges,
            stats.stateless_requests,
            stats.inflight_requests
        ),
        (0, 0, 0),
        "{stats}"
    );
    assert_at_rest(&mut h);
}

/// A FIN after pipelined requests: the answer the engine already made to the first is written
/// whole, then the connection goes and the call after it, still owed, is cancelled.
#[test]
fn a_fin_after_pipelined_requests_keeps_the_answers_already_made() {
    let mut h = Harness::default();
    let conn = h.connect();
    let mut pipelined = wire("server/discover", None, &body(1, "server/discover", ""));
    pipelined.extend(wire(
        "tools/call",
        Some("slow"),
        &body(2, "tools/call", r#""name":"slow""#),
    ));
    // Taken together, before anything is written: the discover answer waits in the queue.
    assert_eq!(
        h.engine.handle_bytes(h.now, conn, &pipelined),
        pipelined.len()
    );
    h.engine.handle_eof(h.now, conn);
    h.pump();
    let discovered = h.take_response(conn).expect("the answer already made");
    assert_eq!(discovered.status, 200);
    assert!(discovered.complete);
    assert_eq!(discovered.json()["id"], 1);
    assert!(h.closed.contains(&conn), "then the connection goes");
    let requests: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Request { handle, .. } => Some(*handle),
            _ => None,
        })
        .collect();
    let cancelled = h.take_events(|e| matches!(e, Event::Cancelled { .. }));
    assert!(matches!(
        cancelled.as_slice(),
        [Event::Cancelled { handle, reason: CancelReason::StreamClosed }] if requests == [*handle]
    ));
    assert_at_rest(&mut h);
}

#[test]
fn logs_reach_a_stateless_request_only_when_it_asked_for_them() {
    let mut h = Harness::default();
    let data = raw(r#""hello""#);
    let (conn, handle) = call(&mut h, 1, "tools/call", Some("t"), r#""name":"t""#);
    h.engine
        .send_log(h.now, Target::Request(handle), LogLevel::Error, None, &data)
        .unwrap();
    assert_eq!(h.engine.counters().logs_filtered, 1);
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    h.pump();
    assert_eq!(
        h.take_response(conn).unwrap().header("content-type"),
        Some("application/json")
    );
    let asked = r#""name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"warning"}"#;
    let conn = h.connect();
    let body = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{{asked}}}}}"#);
    h.send(conn, &wire("tools/call", Some("t"), &body));
    let (handle, _) = h.take_request_event();
    h.engine
        .send_log(h.now, Target::Request(handle), LogLevel::Info, None, &data)
        .unwrap();
    h.engine
        .send_log(h.now, Target::Request(handle), LogLevel::Error, None, &data)
        .unwrap();
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    h.pump();
    let messages = h.take_response(conn).unwrap().sse_messages();
    let logs: Vec<_> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .collect();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["params"]["level"], "error");
    assert_at_rest(&mut h);
}

#[test]
fn a_stateless_request_sends_no_request_to_its_client() {
    let mut h = Harness::default();
    let (conn, handle) = call(&mut h, 1, "tools/call", Some("t"), r#""name":"t""#);
    assert_eq!(
        h.engine
            .request_client(h.now, Target::Request(handle), "roots/list", None, None)
            .unwrap_err(),
        CommandError::StatelessRequest
    );
    assert_eq!(
        h.engine
            .notify(h.now, handle.session, "notifications/x", None)
            .unwrap_err(),
        CommandError::NoStream
    );
    h.engine.handle_closed(h.now, conn);
    assert_at_rest(&mut h);
}

fn listen(h: &mut Harness, id: u64, filter: &str) -> ConnId {
    let extra = format!(r#""notifications":{filter}"#);
    send(
        h,
        "subscriptions/listen",
        None,
        &body(id, "subscriptions/listen", &extra),
    )
}

fn frames(h: &Harness, conn: ConnId) -> Vec<serde_json::Value> {
    h.peek_response(conn).unwrap().sse_messages()
}

#[test]
fn listen_streams_get_what_they_asked_for_tagged_with_their_id() {
    let mut h = Harness::default();
    let tools = listen(
        &mut h,
        41,
        r#"{"toolsListChanged":true,"promptsListChanged":true}"#,
    );
    let resources = listen(
        &mut h,
        42,
        r#"{"resourceSubscriptions":["test://a","test://a"]}"#,
    );
    let (_, legacy) = h.initialize();
    let stats = h.engine.stats();
    assert_eq!((stats.subscriptions, stats.sessions), (2, 1));
    let ack = &frames(&h, tools)[0];
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        41
    );
    // The server has no prompts capability: that part of the filter is not honoured.
    assert_eq!(
        ack["params"]["notifications"],
        serde_json::json!({"toolsListChanged": true})
    );
    let ack = &frames(&h, resources)[0];
    assert_eq!(
        ack["params"]["notifications"],
        serde_json::json!({"resourceSubscriptions": ["test://a"]})
    );
    // One broadcast reaches the session and the listen stream that asked for it.
    assert_eq!(
        h.engine
            .broadcast(h.now, "notifications/tools/list_changed", None),
        2
    );
    assert_eq!(
        h.engine
            .broadcast(h.now, "notifications/prompts/list_changed", None),
        1
    );
    assert_eq!(h.engine.resource_updated(h.now, "test://a"), 1);
    assert_eq!(h.engine.resource_updated(h.now, "test://b"), 0);
    h.pump();
    let got = frames(&h, tools);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["method"], "notifications/tools/list_changed");
    assert_eq!(
        got[1]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        41
    );
    let got = frames(&h, resources);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["method"], "notifications/resources/updated");
    assert_eq!(got[1]["params"]["uri"], "test://a");
    assert_eq!(
        got[1]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        42
    );
    assert_eq!(h.engine.stats().sessions, 1, "{legacy}");
    // Cut abruptly: the listen streams end with their connections, and nothing remains.
    h.engine.handle_closed(h.now, tools);
    h.engine.handle_closed(h.now, resources);
    h.pump();
    let stats = h.engine.stats();
    assert_eq!((stats.subscriptions, stats.held.subscriptions), (0, 0));
    assert_eq!(h.engine.resource_updated(h.now, "test://a"), 0);
}

#[test]
fn listen_streams_are_capped_at_the_limit() {
    let mut config = Config::new("t", "1");
    config.capabilities = r#"{"tools":{"listChanged":true}}"#.into();
    config.limits.max_listen_streams = 2;
    let mut h = Harness::new(config);
    let open: Vec<ConnId> = (1..=2)
        .map(|id| listen(&mut h, id, r#"{"toolsListChanged":true}"#))
        .collect();
    assert!(
        open.iter()
            .all(|&c| h.peek_response(c).unwrap().status == 200)
    );
    let past = listen(&mut h, 3, r#"{"toolsListChanged":true}"#);
    let response = h.take_response(past).unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(response.json()["id"], 3);
    assert_eq!(h.engine.counters().listens_refused, 1);
    assert_eq!(h.engine.stats().subscriptions, 2);
    assert_at_rest(&mut h);
}

#[test]
fn too_many_or_too_long_subscribed_uris_are_invalid_params() {
    let mut config = Config::new("t", "1");
    config.capabilities = r#"{"resources":{"subscribe":true}}"#.into();
    config.limits.max_subscriptions_per_session = 2;
    config.limits.max_uri_bytes = 8;
    let mut h = Harness::new(config);
    let at = listen(&mut h, 1, r#"{"resourceSubscriptions":["a://1","a://2"]}"#);
    assert_eq!(h.peek_response(at).unwrap().status, 200);
    let past = listen(
        &mut h,
        2,
        r#"{"resourceSubscriptions":["a://1","a://2","a://3"]}"#,
    );
    assert_eq!(
        h.take_response(past).unwrap().json()["error"]["code"],
        -32602
    );
    let long = listen(&mut h, 3, r#"{"resourceSubscriptions":["a://123456"]}"#);
    assert_eq!(h.take_response(long).unwrap().status, 400);
    assert_eq!(h.engine.stats().subscriptions, 1);
    assert_at_rest(&mut h);
}

/// A listen with a string id of `len` bytes.
fn listen_with_long_id(h: &mut Harness, tag: char, len: usize) -> ConnId {
    let id: String = core::iter::repeat_n(tag, len).collect();
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":"{id}","method":"subscriptions/listen","params":{{{META},"notifications":{{"toolsListChanged":true}}}}}}"#
    );
    send(h, "subscriptions/listen", None, &body)
}

/// A listen's id is part of what it holds for its life, counted before it is admitted: at the
/// per-subscription limit it is admitted, one byte past it refused as invalid (it could never
/// fit).
#[test]
fn a_listen_is_admitted_with_its_id_counted() {
    use crate::engine::budget::{SESSION_BYTES, STREAM_BYTES};
    let capabilities = "{}".len();
    let client_info = r#"{"name":"c","version":"1"}"#.len();
    let mut config = Config::new("t", "1");
    config.capabilities = r#"{"tools":{"listChanged":true}}"#.into();
    config.limits.max_session_bytes =
        SESSION_BYTES + STREAM_BYTES + capabilities + client_info + 100;
    let mut h = Harness::new(config);
    let at = listen_with_long_id(&mut h, 'a', 100);
    assert_eq!(h.peek_response(at).unwrap().status, 200);
    let past = listen_with_long_id(&mut h, 'b', 101);
    let refused = h.take_response(past).unwrap();
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["code"], -32602);
    assert_eq!(h.engine.stats().subscriptions, 1);
    h.check();
    assert_at_rest(&mut h);
}

/// Listens with large ids past what the server holds are refused up front (503), and every
/// listen admitted stays: none is shed afterwards to pay for its own id.
#[test]
fn listens_with_large_ids_are_refused_up_front_not_shed() {
    const ID: usize = 64 * 1024;
    let mut config = Config::new("t", "1");
    config.capabilities = r#"{"tools":{"listChanged":true}}"#.into();
    config.limits.max_held_bytes = 4 * 1024 * 1024;
    let mut h = Harness::new(config);
    let mut admitted = Vec::new();
    let mut refused = 0;
    for n in 0..60u8 {
        let conn = listen_with_long_id(&mut h, char::from(b'0' + n % 64), ID);
        h.pump();
        match h.peek_response(conn).map(|r| r.status) {
            Some(200) => admitted.push(conn),
            Some(503) => refused += 1,
            other => panic!("listen {n}: {other:?}"),
        }
        h.check();
    }
    assert!(refused > 0, "the budget is reached");
    assert!(!admitted.is_empty());
    h.pump();
    assert_eq!(
        h.engine.stats().subscriptions,
        admitted.len() as u64,
        "every admitted listen is still open"
    );
    assert!(admitted.iter().all(|c| !h.closed.contains(c)));
    assert_at_rest(&mut h);
}

#[test]
fn shutdown_ends_listen_streams_with_their_result() {
    let mut h = Harness::default();
    let conn = listen(&mut h, 9, r#"{"toolsListChanged":true}"#);
    h.engine
        .begin_shutdown(h.now, crate::time::Duration::from_secs(5));
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert!(response.complete);
    let messages = response.sse_messages();
    let last = messages.last().unwrap();
    assert_eq!(last["id"], 9);
    assert_eq!(last["result"]["resultType"], "complete");
    assert_eq!(
        last["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        9
    );
    assert_eq!(h.engine.stats().subscriptions, 0);
    assert_at_rest(&mut h);
}

#[test]
fn initialize_never_negotiates_the_stateless_revision() {
    let mut h = Harness::default();
    let init = INIT.replace("2025-11-25", "2026-07-28");
    let response = h.post(None, &init);
    assert_eq!(response.json()["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(h.engine.stats().sessions, 1);
}

const CAPABLE: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}"#;

fn asks(h: &mut Harness, id: u64, name: &str, extra: &str) -> (ConnId, RequestHandle) {
    let comma = if extra.is_empty() { "" } else { "," };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{name}",{CAPABLE}{comma}{extra}}}}}"#
    );
    let conn = h.connect();
    h.send(conn, &wire("tools/call", Some(name), &body));
    (conn, h.take_request_event().0)
}

fn elicit() -> alloc::boxed::Box<RawValue> {
    raw(
        r#"{"user_name":{"method":"elicitation/create","params":{"message":"Name?","requestedSchema":{"type":"object","properties":{}}}}}"#,
    )
}

/// A state answers the arguments it was issued for: a retry with other arguments starts over
/// (-32602), one with the same arguments (whatever its `_meta`, its answers, or the order of
/// its members) opens it.
#[test]
fn an_input_required_state_is_bound_to_its_arguments() {
    let mut h = Harness::default();
    let (conn, handle) = asks(&mut h, 1, "pay", r#""arguments":{"to":"ada","amount":5}"#);
    let reply = Reply::InputRequired {
        input_requests: elicit(),
        state: b"confirmed 5 to ada".to_vec(),
    };
    h.engine.respond(h.now, handle, &reply).unwrap();
    h.pump();
    let result = h.take_response(conn).unwrap().json()["result"].clone();
    let sealed = result["requestState"].as_str().unwrap().to_owned();
    let answers = r#""inputResponses":{"user_name":{"action":"accept"}}"#;
    for (n, arguments) in [
        r#""arguments":{"to":"ada","amount":5000}"#,
        r#""arguments":{"to":"bob","amount":5}"#,
        r#""arguments":{}"#,
        r#""arguments":{"to":"ada","amount":5},"extra":true"#,
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let comma = if arguments.is_empty() { "" } else { "," };
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"pay",{CAPABLE},"requestState":"{sealed}",{answers}{comma}{arguments}}}}}"#
        );
        let conn = h.connect();
        h.send(conn, &wire("tools/call", Some("pay"), &body));
        let response = h.take_response(conn).unwrap();
        assert_eq!(
            (response.status, response.json()["error"]["code"].clone()),
            (400, (-32602).into()),
            "{arguments}"
        );
    }
    assert_eq!(h.engine.counters().input_states_refused, 5);
    // The same arguments, its members in another order and new answers: it opens.
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{{answers},"arguments":{{"to":"ada","amount":5}},"requestState":"{sealed}",{CAPABLE},"name":"pay"}}}}"#
    );
    let conn = h.connect();
    h.send(conn, &wire("tools/call", Some("pay"), &body));
    let (handle, _) = h.take_request_event();
    assert_eq!(
        h.engine.request_state(handle),
        Some(&b"confirmed 5 to ada"[..])
    );
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    assert_at_rest(&mut h);
}

#[test]
fn input_required_rounds_carry_a_sealed_state_and_keep_nothing() {
    let mut h = Harness::default();
    let (conn, handle) = asks(&mut h, 1, "greet", "");
    assert_eq!(h.engine.request_state(handle), Some(&[][..]));
    let reply = Reply::InputRequired {
        input_requests: elicit(),
        state: b"round-1".to_vec(),
    };
    h.engine.respond(h.now, handle, &reply).unwrap();
    h.pump();
    let result = h.take_response(conn).unwrap().json()["result"].clone();
    assert_eq!(result["resultType"], "input_required");
    assert_eq!(
        result["inputRequests"]["user_name"]["method"],
        "elicitation/create"
    );
    let sealed = result["requestState"].as_str().unwrap().to_owned();
    assert!(!sealed.contains("round-1"));
    assert_eq!(h.engine.counters().input_required_sent, 1);
    assert_eq!(
        h.engine.stats().stateless_requests,
        0,
        "nothing is kept between rounds"
    );
    // The retry brings the state back, opened for the application.
    let extra = format!(
        r#""requestState":"{sealed}","inputResponses":{{"user_name":{{"action":"accept"}}}}"#
    );
    let (conn, handle) = asks(&mut h, 2, "greet", &extra);
    assert_eq!(h.engine.request_state(handle), Some(&b"round-1"[..]));
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    h.pump();
    assert_eq!(
        h.take_response(conn).unwrap().json()["result"]["resultType"],
        "complete"
    );
    // Altered, replayed against another tool, or late: refused before the application.
    for (name, state) in [
        ("greet", format!("{sealed}-TAMPERED")),
        ("other", sealed.clone()),
        ("greet", String::from("not-a-state")),
    ] {
        let comma_state = format!(r#""requestState":"{state}""#);
        let comma = ",";
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"{name}",{CAPABLE}{comma}{comma_state}}}}}"#
        );
        let conn = h.connect();
        h.send(conn, &wire("tools/call", Some(name), &body));
        let response = h.take_response(conn).unwrap();
        assert_eq!(
            (response.status, response.json()["error"]["code"].clone()),
            (400, (-32602).into()),
            "{name} {state}"
        );
    }
    h.advance(600_001);
    let late = format!(r#""requestState":"{sealed}""#);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"greet",{CAPABLE},{late}}}}}"#
    );
    let conn = h.connect();
    h.send(conn, &wire("tools/call", Some("greet"), &body));
    let response = h.take_response(conn).unwrap();
    assert!(
        response.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    assert_eq!(h.engine.counters().input_states_refused, 4);
    assert!(h.events.iter().all(|e| !matches!(e, Event::Request { .. })));
    assert_at_rest(&mut h);
}

#[test]
fn input_is_asked_only_where_it_may_be() {
    let mut h = Harness::default();
    // Not declared: the client said nothing of sampling.
    let (conn, handle) = asks(&mut h, 1, "greet", "");
    let sampling = Reply::InputRequired {
        input_requests: raw(
            r#"{"k":{"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1}}}"#,
        ),
        state: Vec::new(),
    };
    assert_eq!(
        h.engine.respond(h.now, handle, &sampling),
        Err(CommandError::CapabilityNotDeclared)
    );
    let unknown = Reply::InputRequired {
        input_requests: raw(r#"{"k":{"method":"tools/call"}}"#),
        state: Vec::new(),
    };
    assert_eq!(
        h.engine.respond(h.now, handle, &unknown),
        Err(CommandError::InvalidJson)
    );
    h.engine.handle_closed(h.now, conn);
    // A list never asks.
    let (conn, handle) = call(&mut h, 2, "tools/list", None, "");
    let reply = Reply::InputRequired {
        input_requests: elicit(),
        state: Vec::new(),
    };
    assert_eq!(
        h.engine.respond(h.now, handle, &reply),
        Err(CommandError::InputNotAllowed)
    );
    h.engine.handle_closed(h.now, conn);
    // Nor does the session era, which sends requests to the client instead.
    let (id, _) = h.initialize_with(super::harness::INIT_CAPABLE);
    let (conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
    assert_eq!(
        h.engine.respond(h.now, handle, &reply),
        Err(CommandError::InputNotAllowed)
    );
    assert_eq!(h.engine.request_state(handle), None);
    h.engine.handle_closed(h.now, conn);
    h.pump();
}

#[test]
fn param_headers_of_a_call_reach_the_application() {
    let mut h = Harness::default();
    let body = body(1, "tools/call", r#""name":"t","arguments":{"region":"eu"}"#);
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "t"),
        ("Mcp-Param-Region", "=?base64?ZXU=?="),
    ];
    let conn = h.connect();
    h.send(conn, &Harness::request("POST", "/mcp", &headers, &body));
    let (handle, _) = h.take_request_event();
    let params = h.engine.param_headers(handle);
    assert_eq!(params.len(), 1);
    assert_eq!(params[0].0, "region");
    assert_eq!(
        crate::engine::decode_mirrored_header(&params[0].1).as_deref(),
        Some("eu")
    );
    h.engine.handle_closed(h.now, conn);
    assert_at_rest(&mut h);
}

#[test]
fn stateless_traffic_does_not_use_up_the_session_limit() {
    let mut config = Config::new("t", "1");
    config.capabilities = r#"{"tools":{"listChanged":true}}"#.into();
    config.limits.max_sessions = 1;
    let mut h = Harness::new(config);
    let _listen = listen(&mut h, 1, r#"{"toolsListChanged":true}"#);
    let _call = call(&mut h, 2, "tools/list", None, "");
    let (_, _) = h.initialize();
    assert_eq!(h.engine.stats().sessions, 1);
    assert_eq!(
        h.post(None, INIT).status,
        503,
        "the one session is the limit"
    );
}

#[test]
fn a_call_larger_than_a_context_may_hold_is_refused_up_front() {
    let mut config = Config::new("t", "1");
    config.limits.max_session_bytes = 4096;
    let mut h = Harness::new(config);
    let big = format!(r#""name":"t","arguments":{{"x":"{}"}}"#, "a".repeat(4096));
    let conn = send(
        &mut h,
        "tools/call",
        Some("t"),
        &body(1, "tools/call", &big),
    );
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(response.json()["id"], 1);
    assert!(h.events.is_empty(), "the application never heard of it");
    assert_at_rest(&mut h);
}

#[test]
fn a_mirrored_header_sent_twice_is_refused() {
    let mut h = Harness::default();
    let body = body(1, "tools/call", r#""name":"echo""#);
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "echo"),
        ("Mcp-Name", "delete_everything"),
    ];
    let conn = h.connect();
    h.send(conn, &Harness::request("POST", "/mcp", &headers, &body));
    let response = h.take_response(conn).unwrap();
    assert_eq!(
        (response.status, response.json()["error"]["code"].clone()),
        (400, (-32020).into())
    );
    assert!(h.events.is_empty());
    assert_at_rest(&mut h);
}

#[test]
fn a_request_for_a_live_session_stays_in_it_whatever_its_meta() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let with_meta = body(5, "tools/list", "");
    let conn = h.connect();
    h.send(conn, &Harness::post_wire(Some(&id), &with_meta));
    let (handle, _) = h.take_request_event();
    assert!(
        !h.engine
            .client_context(handle)
            .unwrap()
            .protocol_version
            .is_stateless()
    );
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"tools":[]}"#)))
        .unwrap();
    h.pump();
    let result = h.take_response(conn).unwrap().json()["result"].clone();
    assert!(
        result.get("resultType").is_none(),
        "answered as the session era answers"
    );
}

#[test]
fn a_listen_the_application_ends_gets_its_result() {
    let mut h = Harness::default();
    let conn = listen(&mut h, 12, r#"{"toolsListChanged":true}"#);
    assert_eq!(h.engine.stats().subscriptions, 1);
    let key = h
        .engine
        .sessions
        .iter()
        .find(|(_, s)| s.listen.is_some())
        .map(|(k, _)| k)
        .unwrap();
    h.engine.close_session(h.now, key).unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert!(response.complete);
    let last = response.sse_messages().last().cloned().unwrap();
    assert_eq!(
        (last["id"].clone(), last["result"]["resultType"].clone()),
        (12.into(), "complete".into())
    );
    assert_at_rest(&mut h);
}
