//! Virtual-time tests of the engine's rules, through the byte-level API.

mod application_paths;
mod auth;
mod budget;
mod budget_regressions;
mod harness;
mod input_required;
mod leaks;
mod pipe;
mod proxy_protocol;
mod reports;
mod review;
mod session_binding;
mod session_id_prefix;
mod stateless;
mod stream_close;

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use harness::{Harness, INIT};
use serde_json::json;

use crate::engine::{CancelReason, CloseReason, CommandError, Config, Event, Reply, Target};
use crate::jsonrpc::RawValue;

pub(super) fn raw(json: &str) -> alloc::boxed::Box<RawValue> {
    RawValue::from_string(json.into()).unwrap()
}

#[test]
fn initialize_opens_a_session_and_answers_with_json() {
    let mut h = Harness::default();
    let response = h.post(None, INIT);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let id = response.header("mcp-session-id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let body = response.json();
    assert_eq!(body["id"], 0);
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(body["result"]["serverInfo"]["name"], "test-server");
    assert_eq!(
        body["result"]["capabilities"]["resources"]["subscribe"],
        true
    );
    assert!(matches!(h.events[0], Event::SessionOpened { .. }));
    assert_eq!(h.engine.stats().sessions, 1);
}

#[test]
fn version_negotiation_echoes_a_supported_version_and_offers_the_latest_otherwise() {
    let mut h = Harness::default();
    let old = INIT.replace("2025-11-25", "2025-03-26");
    assert_eq!(
        h.post(None, &old).json()["result"]["protocolVersion"],
        "2025-03-26"
    );
    let unknown = INIT.replace("2025-11-25", "2099-01-01");
    assert_eq!(
        h.post(None, &unknown).json()["result"]["protocolVersion"],
        "2025-11-25"
    );
}

#[test]
fn session_ids_are_distinct() {
    let mut h = Harness::default();
    let a = h
        .post(None, INIT)
        .header("mcp-session-id")
        .unwrap()
        .to_owned();
    let b = h
        .post(None, INIT)
        .header("mcp-session-id")
        .unwrap()
        .to_owned();
    assert_ne!(a, b);
}

#[test]
fn ping_is_answered_by_the_engine() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let response = h.post(Some(&id), r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
    assert_eq!(
        response.json(),
        json!({"jsonrpc":"2.0","id":"p","result":{}})
    );
}

#[test]
fn application_requests_become_events_and_responses_go_back_as_json() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let conn = h.connect();
    h.send(
        conn,
        &Harness::post_wire(
            Some(&id),
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}"#,
        ),
    );
    assert!(
        h.peek_response(conn).is_none(),
        "nothing is sent before the answer"
    );
    let (handle, method) = h.take_request_event();
    assert_eq!(method, "tools/call");
    assert_eq!(h.engine.stats().inflight_requests, 1);
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert_eq!(
        response.json(),
        json!({"jsonrpc":"2.0","id":7,"result":{"content":[]}})
    );
    assert_eq!(h.engine.stats().inflight_requests, 0);
    assert_eq!(
        h.engine.respond(h.now, handle, &Reply::Result(raw("{}"))),
        Err(CommandError::StaleHandle),
        "answering twice is a stale handle, not a panic"
    );
}

#[test]
fn progress_before_the_response_switches_the_post_to_sse() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","_meta":{"progressToken":"tok"}}}"#);
    h.engine
        .send_progress(h.now, handle, 1.0, Some(3.0), Some("one"))
        .unwrap();
    assert_eq!(
        h.engine.send_progress(h.now, handle, 1.0, None, None),
        Err(CommandError::ProgressNotIncreasing)
    );
    h.engine
        .send_progress(h.now, handle, 2.0, Some(3.0), None)
        .unwrap();
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert!(response.complete, "the stream ends with the response");
    let items = response.sse();
    let first = items.iter().find_map(|i| match i {
        crate::sse::SseItem::Event(e) => Some(e.clone()),
        _ => None,
    });
    let priming = first.unwrap();
    assert!(
        priming.data.is_empty() && priming.id.is_some(),
        "priming event first"
    );
    assert!(items.contains(&crate::sse::SseItem::Retry(1000)));
    let messages = response.sse_messages();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["method"], "notifications/progress");
    assert_eq!(messages[0]["params"]["progressToken"], "tok");
    assert_eq!(messages[1]["params"]["progress"], 2.0);
    assert_eq!(messages[2]["id"], 1);
}

#[test]
fn progress_without_a_token_is_refused() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let (_conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
    assert_eq!(
        h.engine.send_progress(h.now, handle, 1.0, None, None),
        Err(CommandError::NoProgressToken)
    );
}

#[test]
fn http_rules_refuse_with_clear_errors() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let cases: Vec<(Vec<u8>, u16, i64)> = alloc::vec![
        (
            Harness::request(
                "POST",
                "/mcp",
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json")
                ],
                INIT
            ),
            406,
            -32000
        ),
        (
            Harness::request(
                "POST",
                "/mcp",
                &[("Content-Type", "text/plain"), ("Accept", "*/*")],
                INIT
            ),
            415,
            -32000
        ),
        (Harness::request("PUT", "/mcp", &[], ""), 405, -32000),
        (Harness::request("POST", "/nope", &[], ""), 404, -32000),
        (
            Harness::request(
                "GET",
                "/mcp",
                &[("Accept", "application/json"), ("Mcp-Session-Id", &id)],
                ""
            ),
            406,
            -32000
        ),
        (
            Harness::post_wire(None, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            400,
            -32000
        ),
        (
            Harness::post_wire(
                Some("no-such-session"),
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
            ),
            404,
            -32001
        ),
        (Harness::post_wire(None, "{oops"), 400, -32700),
        (
            Harness::post_wire(None, r#"{"jsonrpc":"2.0"}"#),
            400,
            -32600
        ),
        (
            Harness::request(
                "POST",
                "/mcp",
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "*/*"),
                    ("Mcp-Session-Id", &id),
                    ("MCP-Protocol-Version", "1999-01-01")
                ],
                r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
            ),
            400,
            -32000
        ),
        (
            Harness::request(
                "POST",
                "/mcp",
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "*/*"),
                    ("Mcp-Session-Id", &id)
                ],
                INIT
            ),
            400,
            -32600
        ),
    ];
    for (wire, status, code) in cases {
        let conn = h.connect();
        h.send(conn, &wire);
        let response = h.take_response(conn).expect("a response");
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(&wire)
        );
        assert_eq!(
            response.json()["error"]["code"],
            code,
            "{}",
            String::from_utf8_lossy(&wire)
        );
    }
    let conn = h.connect();
    h.send(conn, &Harness::request("PATCH", "/mcp", &[], ""));
    assert_eq!(
        h.take_response(conn).unwrap().header("allow"),
        Some("GET, POST, DELETE")
    );
    assert_eq!(h.engine.stats().sessions, 1, "no refusal created a session");
}

#[test]
fn dns_rebinding_is_refused_and_the_servers_own_host_accepted() {
    let mut h = Harness::default();
    for (host, origin, status) in [
        ("evil.example.com", "http://evil.example.com", 403),
        ("127.0.0.1:3000", "http://evil.example.com", 403),
        ("localhost:3000", "http://localhost:3000", 200),
        ("127.0.0.1:3000", "http://127.0.0.1:3000", 200),
    ] {
        let conn = h.connect();
        let wire = alloc::format!(
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{INIT}",
            INIT.len()
        );
        h.send(conn, wire.as_bytes());
        assert_eq!(
            h.take_response(conn).unwrap().status,
            status,
            "{host} {origin}"
        );
    }
}

#[test]
fn requests_for_an_undeclared_capability_are_refused() {
    let mut h = Harness::default();
    let (id, key) = h.initialize();
    let (_conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
    for method in ["sampling/createMessage", "elicitation/create", "roots/list"] {
        for target in [Target::Request(handle), Target::Session(key)] {
            assert_eq!(
                h.engine.request_client(h.now, target, method, None, None),
                Err(CommandError::CapabilityNotDeclared),
                "{method}"
            );
        }
    }
    // Anything else is not a client feature, so nothing needs declaring.
    assert!(
        h.engine
            .request_client(h.now, Target::Session(key), "custom/ask", None, None)
            .is_ok()
    );
    assert_eq!(h.engine.stats().outbound_requests, 1);
    h.engine.check_invariants().unwrap();
}

#[test]
fn a_discover_probe_without_a_version_header_is_refused_and_creates_nothing() {
    let mut h = Harness::default();
    let probe = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request(
            "POST",
            "/mcp",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
                ("Mcp-Method", "server/discover"),
            ],
            probe,
        ),
    );
    // Addressed to the stateless era by its `_meta`, so refused as that era refuses: the
    // version header is required (-32020), which tells the client the server is modern.
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["code"], -32020);
    assert_eq!(response.json()["id"], 1);
    let stats = h.engine.stats();
    assert_eq!((stats.sessions, stats.stateless_requests), (0, 0));
}

#[test]
fn delete_ends_the_session_and_the_id_then_gets_404() {
    let mut h = Harness::default();
    let (id, key) = h.initialize();
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request("DELETE", "/mcp", &[("Mcp-Session-Id", &id)], ""),
    );
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    assert!(h.events.iter().any(|e| matches!(e, Event::SessionClosed { session, reason: CloseReason::Deleted } if *session == key)));
    let after = h.post(
        Some(&id),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(after.status, 404);
    assert_eq!(
        after.json()["id"],
        1,
        "the refusal names the request it refuses"
    );
    assert_eq!(after.json()["error"]["code"], -32001);
    assert_eq!(h.engine.stats().sessions, 0);
}

/// A refusal names the request's id when the body is one request, and is null otherwise.
#[test]
fn refusals_name_the_one_request_they_refuse() {
    let mut h = Harness::default();
    let cases = [
        (
            Some("gone"),
            r#"{"jsonrpc":"2.0","id":"a-7","method":"ping"}"#,
            json!("a-7"),
        ),
        (
            None,
            r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
            json!(3),
        ),
        (
            Some("gone"),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            serde_json::Value::Null,
        ),
        (
            Some("gone"),
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            serde_json::Value::Null,
        ),
    ];
    for (session, body, id) in cases {
        let response = h.post(session, body);
        assert!(response.status == 404 || response.status == 400, "{body}");
        assert_eq!(response.json()["id"], id, "{body}");
    }
}

#[test]
fn notifications_only_posts_are_accepted_with_202() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let response = h.post(
        Some(&id),
        r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#,
    );
    assert_eq!(response.status, 202);
    assert!(response.body.is_empty());
    assert!(h.events.iter().any(|e| matches!(e, Event::Notification { method, .. } if method == "notifications/roots/list_changed")));
}

#[test]
fn batches_only_in_2025_03_26() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let batch =
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"},7]"#;
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request(
            "POST",
            "/mcp",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "*/*"),
                ("Mcp-Session-Id", &id),
            ],
            batch,
        ),
    );
    let response = h.take_response(conn).unwrap();
    let body = response.json();
    assert_eq!(body.as_array().unwrap().len(), 3, "{body}");
    assert_eq!(body[2]["error"]["code"], -32600);
    let refused = h.post(Some(&id), batch);
    assert_eq!(refused.status, 400, "2025-11-25 header: no batches");
}

#[test]
fn get_stream_carries_unsolicited_messages_and_keepalives_and_a_second_gets_409() {
    let mut h = Harness::default();
    let (id, key) = h.initialize();
    let conn = h.connect();
    let get = Harness::request(
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", &id),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
        "",
    );
    h.send(conn, &get);
    let head = h.peek_response(conn).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("cache-control"), Some("no-cache, no-transform"));
    assert!(!head.complete);
    let second = h.connect();
    h.send(second, &get);
    assert_eq!(h.take_response(second).unwrap().status, 409);

    h.engine
        .notify(h.now, key, "notifications/tools/list_changed", None)
        .unwrap();
    h.pump();
    let messages = h.peek_response(conn).unwrap().sse_messages();
    assert_eq!(
        messages,
        [json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})]
    );

    let comments = |h: &Harness| {
        h.peek_response(conn)
            .unwrap()
            .sse()
            .iter()
            .filter(|i| matches!(i, crate::sse::SseItem::Comment(_)))
            .count()
    };
    assert_eq!(comments(&h), 1, "a comment right after the headers");
    h.advance(15_000);
    assert_eq!(comments(&h), 2);
    h.advance(30_000);
    assert_eq!(comments(&h), 4);
}

#[test]
fn unsolicited_messages_wait_in_a_bounded_backlog_until_a_get_stream_opens() {
    let mut config = Config::new("t", "1");
    config.limits.backlog_events = 2;
    let mut h = Harness::new(config);
    let (id, key) = h.initialize();
    for n in 0..3 {
        let params = raw(&alloc::format!(r#"{{"n":{n}}}"#));
        h.engine
            .notify(h.now, key, "notifications/x", Some(&params))
            .unwrap();
    }
    assert_eq!(h.engine.counters().backlog_dropped, 1);
    let conn = h.open_get(&id);
    let messages = h.peek_response(conn).unwrap().sse_messages();
    assert_eq!(
        messages
            .iter()
            .map(|m| m["params"]["n"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn cancellation_by_the_client_reaches_the_application_and_completes_the_post() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":9,"method":"tools/call"}"#);
    let cancel = h.post(Some(&id), r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9,"reason":"user"}}"#);
    assert_eq!(cancel.status, 202);
    assert!(h.events.iter().any(|e| matches!(e, Event::Cancelled { handle: c, reason: CancelReason::ByClient(Some(r)) } if *c == handle && r == "user")));
    let answer = h.take_response(conn).unwrap();
    assert_eq!(
        (answer.status, answer.header("content-type")),
        (200, Some("text/event-stream")),
        "a POST that carried requests is answered with JSON or SSE, here an empty stream"
    );
    assert!(answer.complete);
    assert!(
        answer.sse_messages().is_empty(),
        "no response for a cancelled request"
    );
    let unknown = h.post(
        Some(&id),
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12345}}"#,
    );
    assert_eq!(unknown.status, 202, "unknown ids are ignored");
}

#[test]
fn set_level_filters_log_messages() {
    let mut h = Harness::default();
    let (id, key) = h.initialize();
    let conn = h.open_get(&id);
    let set = h.post(
        Some(&id),
        r#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"warning"}}"#,
    );
    assert_eq!(set.json()["result"], json!({}));
    let data = raw(r#""hello""#);
    h.engine
        .send_log(
            h.now,
            Target::Session(key),
            crate::engine::LogLevel::Info,
            None,
            &data,
        )
        .unwrap();
    h.engine
        .send_log(
            h.now,
            Target::Session(key),
            crate::engine::LogLevel::Error,
            Some("db"),
            &data,
        )
        .unwrap();
    h.pump();
    let messages = h.peek_response(conn).unwrap().sse_messages();
    assert_eq!(
        messages,
        [
            json!({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","logger":"db","data":"hello"}})
        ]
    );
    let bad = h.post(
        Some(&id),
        r#"{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"loud"}}"#,
    );
    assert_eq!(bad.json()["error"]["code"], -32602);
}

#[test]
fn resource_updates_reach_subscribers_only_and_broadcasts_reach_everyone() {
    let mut h = Harness::default();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let (id, _) = h.initialize();
        let conn = h.open_get(&id);
        streams.push((id, conn));
    }
    let subscribe = r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"test://watched"}}"#;
    h.post(Some(&streams[1].0), subscribe);
    assert_eq!(h.engine.resource_updated(h.now, "test://watched"), 1);
    assert_eq!(h.engine.resource_updated(h.now, "test://other"), 0);
    assert_eq!(
        h.engine
            .broadcast(h.now, "notifications/tools/list_changed", None),
        3
    );
    h.pump();
    let count = |h: &Harness, conn, method: &str| {
        h.peek_response(conn)
            .unwrap()
            .sse_messages()
            .iter()
            .filter(|m| m["method"] == method)
            .count()
    };
    for (i, (_, conn)) in streams.iter().enumerate() {
        assert_eq!(
            count(&h, *conn, "notifications/resources/updated"),
            usize::from(i == 1)
        );
        assert_eq!(count(&h, *conn, "notifications/tools/list_changed"), 1);
    }
    let unsubscribe = subscribe.replace("resources/subscribe", "resources/unsubscribe");
    h.post(Some(&streams[1].0), &unsubscribe);
    assert_eq!(h.engine.resource_updated(h.now, "test://watched"), 0);
}

/// A broadcast's params nest at most one level less than a client parses (the notification is
/// one level): at that depth it is sent, one deeper it reaches nobody.
#[test]
fn a_broadcast_no_client_could_parse_is_sent_to_nobody() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let get = h.open_get(&id);
    let nested = |depth: usize| {
        raw(&alloc::format!(
            r#"{{"a":{}{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        ))
    };
    let at = nested(crate::jsonrpc::MAX_NESTING - 1);
    assert_eq!(h.engine.broadcast(h.now, "notifications/x", Some(&at)), 1);
    let past = nested(crate::jsonrpc::MAX_NESTING);
    assert_eq!(h.engine.broadcast(h.now, "notifications/x", Some(&past)), 0);
    h.pump();
    let messages = h.peek_response(get).unwrap().sse_messages();
    assert_eq!(messages.len(), 1, "parsed by the test's serde_json too");
    h.check();
}

#[test]
fn requests_to_the_client_are_answered_or_time_out() {
    let mut h = Harness::default();
    let (id, key) = h.initialize_with(harness::INIT_CAPABLE);
    let (conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
    let params = raw(r#"{"messages":[]}"#);
    let sampling = h
        .engine
        .request_client(
            h.now,
            Target::Request(handle),
            "sampling/createMessage",
            Some(&params),
            None,
        )
        .unwrap();
    h.pump();
    let messages = h.peek_response(conn).unwrap().sse_messages();
    assert_eq!(messages[0]["method"], "sampling/createMessage");
    let wire_id = messages[0]["id"].as_i64().unwrap();
    let answer = alloc::format!(r#"{{"jsonrpc":"2.0","id":{wire_id},"result":{{"model":"m"}}}}"#);
    assert_eq!(h.post(Some(&id), &answer).status, 202);
    assert!(h.events.iter().any(|e| matches!(e, Event::ClientResponse { handle, result: Ok(r) } if *handle == sampling && r.get().contains("model"))));

    let lost = h
        .engine
        .request_client(
            h.now,
            Target::Session(key),
            "roots/list",
            None,
            Some(crate::time::Duration::from_secs(5)),
        )
        .unwrap();
    h.advance(5_000);
    assert!(h.events.iter().any(|e| matches!(e, Event::ClientResponse { handle, result: Err(crate::engine::ClientError::Timeout) } if *handle == lost)));
    assert_eq!(h.engine.stats().outbound_requests, 0);
}

#[test]
fn always_sse_mode_primes_every_post() {
    let mut h = Harness::sse_mode();
    let response = h.post(None, INIT);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert!(response.complete);
    assert_eq!(
        response.sse_messages()[0]["result"]["protocolVersion"],
        "2025-11-25"
    );
}

#[test]
fn legacy_http_sse_sessions_work_end_to_end() {
    let mut h = Harness::default();
    let (sse, endpoint) = h.open_legacy();
    assert!(endpoint.starts_with("/messages?sessionId="));
    let conn = h.connect();
    let init = INIT.replace("2025-11-25", "2024-11-05");
    h.send(
        conn,
        &Harness::request(
            "POST",
            &endpoint,
            &[("Content-Type", "application/json")],
            &init,
        ),
    );
    let accepted = h.take_response(conn).unwrap();
    assert_eq!(
        (accepted.status, accepted.body.as_slice()),
        (202, &b"Accepted"[..])
    );
    let messages = h.peek_response(sse).unwrap().sse_messages();
    assert_eq!(messages[0]["result"]["protocolVersion"], "2024-11-05");
    // The session lives as long as its stream.
    h.engine.handle_closed(h.now, sse);
    h.pump();
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::SessionClosed {
            reason: CloseReason::StreamClosed,
            ..
        }
    )));
    assert_eq!(h.engine.stats().sessions, 0);
}

#[test]
fn request_level_exchanges_produce_head_body_end() {
    let mut h = Harness::default();
    let request = crate::http1::Request::builder("POST", "/mcp")
        .header("host", "localhost:8787")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INIT.as_bytes().to_vec())
        .build()
        .unwrap();
    let exchange = h.engine.handle_request(h.now, request);
    h.check();
    assert_eq!(
        h.engine.poll_timeout(),
        Some(h.now),
        "output waiting means the deadline is now"
    );
    let mut outputs = Vec::new();
    while let Some(output) = h.engine.poll_exchange_output(exchange) {
        outputs.push(output);
        h.check();
    }
    assert!(
        matches!(&outputs[0], crate::engine::ExchangeOutput::Head { status: 200, headers } if headers.iter().any(|(n, _)| n == "mcp-session-id"))
    );
    assert!(matches!(
        outputs.last(),
        Some(crate::engine::ExchangeOutput::End)
    ));
    assert_eq!(h.engine.stats().exchanges, 0);
}

#[test]
fn session_limit_is_exact() {
    let mut config = Config::new("t", "1");
    config.limits.max_sessions = 2;
    let mut h = Harness::new(config);
    assert_eq!(h.post(None, INIT).status, 200);
    assert_eq!(h.post(None, INIT).status, 200);
    let refused = h.post(None, INIT);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(h.engine.stats().sessions, 2);
}

#[test]
fn connection_limit_answers_503_then_refuses() {
    let mut config = Config::new("t", "1");
    config.limits.max_connections = 1;
    let mut h = Harness::new(config);
    let first = h.connect();
    let second = h.engine.handle_accept(h.now, None).unwrap();
    h.pump();
    assert_eq!(h.take_response(second).unwrap().status, 503);
    assert!(h.closed.contains(&second));
    let third = h.engine.handle_accept(h.now, None).unwrap();
    let fourth = h.engine.handle_accept(h.now, None);
    assert!(fourth.is_err(), "past twice the limit, refused outright");
    h.pump();
    let _ = (first, third);
}

#[test]
fn a_dropped_post_stream_is_resumed_with_last_event_id_and_replays_exactly_what_was_missed() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"test_reconnection","_meta":{"progressToken":1}}}"#);
    h.engine
        .send_progress(h.now, handle, 1.0, None, None)
        .unwrap();
    h.pump();
    let seen = h.peek_response(conn).unwrap();
    let last_id = seen
        .sse()
        .iter()
        .rev()
        .find_map(|i| match i {
            crate::sse::SseItem::Event(e) => e.id.clone(),
            _ => None,
        })
        .unwrap();
    // The connection drops; the server keeps working and answers.
    h.engine.handle_closed(h.now, conn);
    h.pump();
    h.engine
        .send_progress(h.now, handle, 2.0, None, None)
        .unwrap();
    h.engine
        .respond(h.now, handle, &Reply::Result(raw(r#"{"content":[]}"#)))
        .unwrap();
    h.pump();
    assert_eq!(h.engine.stats().streams, 1, "the stream lingers, resumable");
    let resume = h.resume(&id, &last_id);
    let replay = h.take_response(resume).unwrap();
    assert!(replay.complete, "a finished stream ends after its replay");
    let messages = replay.sse_messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["params"]["progress"], 2.0);
    assert_eq!(messages[1]["id"], 1);
    assert_eq!(h.engine.stats().streams, 0);
    assert_eq!(h.engine.counters().streams_resumed, 1);

    let bogus = h.connect();
    h.send(
        bogus,
        &Harness::request(
            "GET",
            "/mcp",
            &[
                ("Accept", "text/event-stream"),
                ("Mcp-Session-Id", &id),
                ("Last-Event-ID", "999-1"),
            ],
            "",
        ),
    );
    assert_eq!(h.take_response(bogus).unwrap().status, 400);
}

#[test]
fn a_stream_of_another_session_cannot_be_resumed() {
    let mut h = Harness::sse_mode();
    let (alice, _) = h.initialize();
    let (mallory, _) = h.initialize();
    let conn = h.connect();
    h.send(
        conn,
        &Harness::post_wire(
            Some(&alice),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        ),
    );
    let event_id = h.peek_response(conn).unwrap().first_event_id();
    h.engine.handle_closed(h.now, conn);
    h.pump();
    let thief = h.resume(&mallory, &event_id);
    assert_eq!(h.take_response(thief).unwrap().status, 400);
}

/// Event ids count within their session: however busy another session is, a client's next
/// stream is numbered one past its last, so its ids tell it nothing about anybody else.
#[test]
fn event_ids_count_within_their_session() {
    let mut h = Harness::sse_mode();
    let (alice, _) = h.initialize();
    let (bob, _) = h.initialize();
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#;
    let first_id = |h: &mut Harness, session: &str| {
        let conn = h.connect();
        h.send(conn, &Harness::post_wire(Some(session), call));
        h.peek_response(conn).unwrap().first_event_id()
    };
    let before = first_id(&mut h, &alice);
    for _ in 0..10 {
        first_id(&mut h, &bob);
    }
    let after = first_id(&mut h, &alice);
    let index = |id: &str| id.split_once('-').unwrap().0.parse::<u64>().unwrap();
    assert_eq!(index(&after), index(&before) + 1, "{before} then {after}");
    assert!(
        before.ends_with("-0"),
        "the priming event is number 0: {before}"
    );
}

#[test]
fn request_timeout_cancels_and_answers_with_an_error() {
    let mut config = Config::new("t", "1");
    config.timeouts.request = Some(crate::time::Duration::from_secs(30));
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":3,"method":"tools/call"}"#);
    h.advance(29_999);
    assert_eq!(
        h.engine.stats().inflight_requests,
        1,
        "not before the deadline"
    );
    h.advance(1);
    assert!(h.events.iter().any(|e| matches!(e, Event::Cancelled { handle: c, reason: CancelReason::Timeout } if *c == handle)));
    let response = h.take_response(conn).unwrap();
    assert_eq!(
        response.sse_messages().last().unwrap()["error"]["message"],
        "Request timed out"
    );
}

#[test]
fn a_session_that_never_finishes_initialization_is_closed_early() {
    let mut h = Harness::default();
    let response = h.post(None, INIT);
    assert_eq!(response.status, 200);
    h.advance(59_999);
    assert_eq!(h.engine.stats().sessions, 1);
    h.advance(1);
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::SessionClosed {
            reason: CloseReason::InitTimeout,
            ..
        }
    )));
}

#[test]
fn slowloris_heads_and_idle_keepalive_connections_are_closed() {
    let mut h = Harness::default();
    let slow = h.connect();
    h.send(slow, b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n");
    // A connection that never sends a byte is on the same clock as one that sends slowly.
    let silent = h.connect();
    let idle = h.connect();
    h.send(idle, &Harness::request("GET", "/nowhere", &[], ""));
    assert_eq!(h.take_response(idle).unwrap().status, 404);
    for _ in 0..29 {
        h.advance(1_000);
        h.send(slow, b"X-Drip: 1\r\n");
    }
    assert!(!h.closed.contains(&slow) && !h.closed.contains(&silent));
    assert!(
        h.peek_response(slow).is_none(),
        "no answer before the deadline"
    );
    h.advance(1_000);
    assert!(
        h.closed.contains(&slow),
        "the whole request must arrive within 30 s, however it drips"
    );
    assert!(
        h.closed.contains(&silent),
        "the first byte too: the read deadline starts at the accept"
    );
    for conn in [slow, silent] {
        let refused = h.take_response(conn).expect("a 408 before the close");
        assert_eq!(refused.status, 408);
        assert_eq!(refused.header("connection"), Some("close"));
        assert_eq!(refused.json()["error"]["code"], -32000);
    }
    assert!(!h.closed.contains(&idle));
    h.advance(90_000);
    assert!(
        h.closed.contains(&idle),
        "an idle keep-alive connection closes after 2 minutes"
    );
    assert_eq!(h.engine.counters().request_read_timeouts, 2);
    assert!(h.engine.stats().is_quiescent(), "{}", h.engine.stats());
}

#[test]
fn a_slow_json_answer_becomes_a_stream_so_bytes_flow() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let (conn, handle) = h.call(&id, r#"{"jsonrpc":"2.0","id":4,"method":"tools/call"}"#);
    assert!(h.peek_response(conn).is_none());
    h.advance(15_000);
    let head = h.peek_response(conn).unwrap();
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    h.engine
        .respond(h.now, handle, &Reply::Result(raw("{}")))
        .unwrap();
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().sse_messages()[0]["id"], 4);
    assert_eq!(h.engine.counters().streams_upgraded, 1);
}

#[test]
fn request_level_streams_and_host_cancellation() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let request = crate::http1::Request::builder("GET", "/mcp")
        .header("host", "127.0.0.1")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .build()
        .unwrap();
    let exchange = h.engine.handle_request(h.now, request);
    let mut body = Vec::new();
    let mut head = None;
    while let Some(output) = h.engine.poll_exchange_output(exchange) {
        match output {
            crate::engine::ExchangeOutput::Head { status, .. } => head = Some(status),
            crate::engine::ExchangeOutput::Body(payload) => {
                body.extend_from_slice(payload.as_slice())
            }
            crate::engine::ExchangeOutput::End | crate::engine::ExchangeOutput::Aborted => {
                panic!("a GET stream stays open")
            }
        }
    }
    assert_eq!(head, Some(200));
    assert!(
        body.starts_with(b"id: "),
        "priming first: {}",
        String::from_utf8_lossy(&body)
    );
    // The fetch client cancelled its ReadableStream.
    h.engine.handle_exchange_closed(h.now, exchange);
    h.check();
    assert_eq!(h.engine.stats().exchanges, 0);
    assert_eq!(
        h.engine.stats().streams,
        1,
        "lingering for the resume window"
    );
    h.advance(60_000);
    assert_eq!(h.engine.stats().streams, 0);
}

/// A host that stops pulling a stream's output is a slow reader: at the queue limit the
/// exchange is aborted, and the host learns it from `Aborted` (not a clean `End`), after which
/// nothing is left but the stream's resume window. One byte under the limit, it stays.
#[test]
fn request_level_slow_reader_is_told_aborted() {
    let limit = 4096;
    let mut config = Config::new("t", "1");
    config.limits.max_queued_bytes_per_connection = limit;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let request = crate::http1::Request::builder("GET", "/mcp")
        .header("host", "127.0.0.1")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .build()
        .unwrap();
    let exchange = h.engine.handle_request(h.now, request);
    let queued = |h: &Harness| h.engine.stats().queued_bytes as usize;
    // Fill the queue to exactly the limit with broadcasts sized to land on it.
    let payload = |n: usize| alloc::format!(r#"{{"pad":"{}"}}"#, "x".repeat(n));
    let base = queued(&h);
    h.engine
        .broadcast(h.now, "notifications/pad", Some(&raw(&payload(10))));
    let one = queued(&h) - base;
    let pad = limit - queued(&h) - (one - 10);
    h.engine
        .broadcast(h.now, "notifications/pad", Some(&raw(&payload(pad))));
    h.pump();
    assert_eq!(queued(&h), limit, "at the limit");
    assert!(h.engine.exchanges_with_output().any(|e| e == exchange));
    assert_eq!(h.engine.counters().slow_readers_disconnected, 0);
    // One event more is past it.
    h.engine
        .broadcast(h.now, "notifications/pad", Some(&raw(&payload(1))));
    h.pump();
    h.check();
    assert_eq!(h.engine.counters().slow_readers_disconnected, 1);
    assert_eq!(queued(&h), 0, "the queue is dropped at once");
    assert_eq!(
        h.engine.poll_exchange_output(exchange),
        Some(crate::engine::ExchangeOutput::Aborted)
    );
    assert_eq!(h.engine.poll_exchange_output(exchange), None);
    h.check();
    assert_eq!(h.engine.stats().exchanges, 0);
    h.advance(60_000);
    assert_eq!(h.engine.stats().streams, 0);
}

/// The body limit holds at the request level too: at the limit the request is served, one
/// byte past it gets 413 with a JSON-RPC error, and nothing is left behind.
#[test]
fn request_level_body_limit_is_exact() {
    let mut config = Config::new("t", "1");
    config.limits.http.max_body_bytes = INIT.len() + 8;
    let mut h = Harness::new(config);
    let post = |body: String| {
        crate::http1::Request::builder("POST", "/mcp")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .build()
            .unwrap()
    };
    let statuses = |h: &mut Harness, exchange| {
        let mut status = None;
        let mut body = Vec::new();
        while let Some(output) = h.engine.poll_exchange_output(exchange) {
            match output {
                crate::engine::ExchangeOutput::Head { status: s, .. } => status = Some(s),
                crate::engine::ExchangeOutput::Body(p) => body.extend_from_slice(p.as_slice()),
                _ => {}
            }
        }
        (status, body)
    };
    let at_limit = alloc::format!("{INIT}{}", " ".repeat(8));
    let exchange = h.engine.handle_request(h.now, post(at_limit));
    h.pump();
    assert_eq!(statuses(&mut h, exchange).0, Some(200));
    let past = alloc::format!("{INIT}{}", " ".repeat(9));
    let exchange = h.engine.handle_request(h.now, post(past));
    let (status, body) = statuses(&mut h, exchange);
    assert_eq!(status, Some(413));
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], -32000);
    h.check();
    assert_eq!(h.engine.stats().exchanges, 0);
    assert_eq!(
        h.engine.stats().sessions,
        1,
        "only the request at the limit opened one"
    );
}

#[test]
fn inflight_limit_per_session_is_exact() {
    let mut config = Config::new("t", "1");
    config.limits.max_inflight_per_session = 2;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    for n in 0..2 {
        let conn = h.connect();
        h.send(
            conn,
            &Harness::post_wire(
                Some(&id),
                &alloc::format!(r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call"}}"#),
            ),
        );
    }
    assert_eq!(h.engine.stats().inflight_requests, 2);
    let refused = h.post(
        Some(&id),
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call"}"#,
    );
    assert_eq!(
        refused.json()["error"]["message"],
        "Too many requests in flight"
    );
    assert_eq!(h.engine.stats().inflight_requests, 2);
}

#[test]
fn subscription_limit_per_session_is_exact() {
    let mut config = Config::new("t", "1");
    config.limits.max_subscriptions_per_session = 2;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    for uri in ["a", "b", "a"] {
        let body = alloc::format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{{"uri":"{uri}"}}}}"#
        );
        assert_eq!(
            h.post(Some(&id), &body).json()["result"],
            json!({}),
            "{uri}"
        );
    }
    let past = h.post(
        Some(&id),
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"c"}}"#,
    );
    assert_eq!(past.json()["error"]["message"], "Too many subscriptions");
}

#[test]
fn outbound_limit_per_session_is_exact() {
    let mut config = Config::new("t", "1");
    config.limits.max_outbound_per_session = 2;
    let mut h = Harness::new(config);
    let (_, key) = h.initialize_with(harness::INIT_CAPABLE);
    for _ in 0..2 {
        h.engine
            .request_client(h.now, Target::Session(key), "roots/list", None, None)
            .unwrap();
    }
    assert_eq!(
        h.engine
            .request_client(h.now, Target::Session(key), "roots/list", None, None),
        Err(CommandError::TooManyOutbound)
    );
    h.check();
}

#[test]
fn a_full_event_queue_answers_503_until_the_application_catches_up() {
    let mut config = Config::new("t", "1");
    config.limits.max_pending_events = 3;
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    h.hold_events = true;
    let note = r#"{"jsonrpc":"2.0","method":"notifications/x"}"#;
    for _ in 0..3 {
        assert_eq!(h.post(Some(&id), note).status, 202);
    }
    let refused = h.post(Some(&id), note);
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, Some("1"))
    );
    assert_eq!(h.engine.stats().pending_events, 3);
    h.hold_events = false;
    h.pump();
    assert_eq!(h.post(Some(&id), note).status, 202);
}

#[test]
fn total_output_limit_disconnects_the_largest_queue_first() {
    let mut config = Config::new("t", "1");
    // The output pool is an eighth of the budget: 96 KiB.
    config.limits.max_held_bytes = 8 * 96 * 1024;
    let mut h = Harness::new(config);
    let mut gets = Vec::new();
    for _ in 0..3 {
        let (id, _) = h.initialize();
        let conn = h.open_get(&id);
        gets.push(conn);
    }
    // Two readers stall; the first stalls earlier and so holds more.
    h.stalled.push(gets[0]);
    let params = raw(&alloc::format!(r#"{{"blob":"{}"}}"#, "y".repeat(16 * 1024)));
    for _ in 0..2 {
        h.engine
            .broadcast(h.now, "notifications/message", Some(&params));
        h.pump();
    }
    h.stalled.push(gets[1]);
    for _ in 0..4 {
        h.engine
            .broadcast(h.now, "notifications/message", Some(&params));
        h.pump();
    }
    assert!(h.closed.contains(&gets[0]), "the largest queue went first");
    assert!(
        !h.closed.contains(&gets[2]),
        "a reader that keeps up is never shed"
    );
    let stats = h.engine.stats();
    assert!(stats.queued_bytes <= 96 * 1024 + 1024, "{stats:?}");
}

#[test]
fn a_resume_past_the_log_replays_what_is_left_and_counts_the_gap() {
    let mut config = Config::new("t", "1");
    config.limits.resume_log_events = 2;
    let mut h = Harness::new(config);
    let (id, key) = h.initialize();
    let conn = h.open_get(&id);
    let priming = h.peek_response(conn).unwrap().first_event_id();
    h.engine.handle_closed(h.now, conn);
    h.pump();
    for n in 0..5 {
        let params = raw(&alloc::format!(r#"{{"n":{n}}}"#));
        h.engine
            .notify(h.now, key, "notifications/x", Some(&params))
            .unwrap();
    }
    let resume = h.resume(&id, &priming);
    let messages = h.peek_response(resume).unwrap().sse_messages();
    assert_eq!(
        messages
            .iter()
            .map(|m| m["params"]["n"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(h.engine.counters().resume_gaps, 1);
}

#[test]
fn shutdown_ends_get_streams_at_once_with_a_retry_hint() {
    let mut h = Harness::default();
    let (id, _) = h.initialize();
    let conn = h.open_get(&id);
    h.engine
        .begin_shutdown(h.now, crate::time::Duration::from_secs(30));
    h.pump();
    let stream = h.take_response(conn).unwrap();
    assert!(stream.complete, "the GET stream ended at once");
    assert!(stream.sse().contains(&crate::sse::SseItem::Retry(1000)));
    assert!(
        h.engine.is_drained(),
        "nothing was in flight: {}",
        h.engine.stats()
    );
    assert!(h.closed.contains(&conn));
}

#[test]
fn answered_heartbeats_keep_the_session() {
    let mut config = Config::new("t", "1");
    config.timeouts.heartbeat = Some(crate::engine::Heartbeat {
        interval: crate::time::Duration::from_secs(10),
        timeout: crate::time::Duration::from_secs(5),
        max_failures: 1,
    });
    let mut h = Harness::new(config);
    let (id, _) = h.initialize();
    let conn = h.open_get(&id);
    for round in 0..5 {
        h.advance(10_000);
        let pings: Vec<_> = h
            .peek_response(conn)
            .unwrap()
            .sse_messages()
            .into_iter()
            .filter(|m| m["method"] == "ping")
            .collect();
        assert_eq!(pings.len(), round + 1);
        let answer = alloc::format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#,
            pings[round]["id"]
        );
        assert_eq!(h.post(Some(&id), &answer).status, 202);
    }
    assert_eq!(h.engine.stats().sessions, 1);
    assert_eq!(h.engine.counters().heartbeat_failures, 0);
}

#[test]
fn the_health_path_says_serving_then_draining_before_any_check() {
    let mut config = Config::new("t", "1");
    config.health_path = Some("/healthz".into());
    config.auth = Some(
        crate::engine::ResourceServer::new("https://mcp.example.com/mcp")
            .unwrap()
            .require_scope("mcp"),
    );
    let mut h = Harness::new(config);
    // A probe with a Host no client would send, no Origin check, no token.
    let probe = |h: &mut Harness, method: &str| {
        let conn = h.connect();
        let wire = alloc::format!("{method} /healthz HTTP/1.1\r\nHost: 10.0.0.7:3000\r\n\r\n");
        h.send(conn, wire.as_bytes());
        h.take_response(conn).unwrap()
    };
    let ok = probe(&mut h, "GET");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["status"], "ok");
    assert_eq!(probe(&mut h, "HEAD").status, 200);
    assert_eq!(probe(&mut h, "POST").status, 405);
    // Anything else on that host is still refused.
    let conn = h.connect();
    h.send(conn, b"GET /mcp HTTP/1.1\r\nHost: 10.0.0.7:3000\r\n\r\n");
    assert_eq!(h.take_response(conn).unwrap().status, 403);
    // Draining (a call still in flight keeps it so): a probe's new connection is refused.
    let mut h = Harness::new({
        let mut config = Config::new("t", "1");
        config.health_path = Some("/healthz".into());
        config
    });
    let (session, _) = h.initialize();
    let _in_flight = h.call(
        &session,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}"#,
    );
    h.engine
        .begin_shutdown(h.now, crate::time::Duration::from_secs(5));
    h.pump();
    let draining = probe(&mut h, "GET");
    assert_eq!(draining.status, 503);
    assert!(draining.header("retry-after").is_some());
    // Without a health path, the path is nothing special.
    let mut plain = Harness::default();
    let conn = plain.connect();
    plain.send(conn, &Harness::request("GET", "/healthz", &[], ""));
    assert_eq!(plain.take_response(conn).unwrap().status, 404);
}
