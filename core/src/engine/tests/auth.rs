//! The engine as an OAuth 2.1 resource server: metadata, challenges, verification as an entity
//! with a deadline, grants cached until they expire, scopes, and the principal that binds
//! sessions and input-required states.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::harness::{Harness, INIT, Response};
use crate::engine::{Config, ConnId, Event, Grant, ResourceServer, Verdict, VerificationId};
use crate::time::Duration;

const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn protected() -> Config {
    let mut config = Config::new("t", "1");
    config.capabilities = r#"{"tools":{}}"#.into();
    config.auth = Some(
        ResourceServer::new("https://mcp.example.com/mcp")
            .unwrap()
            .authorization_server("https://auth.example.com")
            .unwrap()
            .scopes_supported(["mcp", "admin"])
            .require_scope("mcp")
            .scope_for_tool("wipe", "admin"),
    );
    config
}

/// A POST of `body` with `headers` besides the usual ones.
fn post(h: &mut Harness, session: Option<&str>, body: &str, headers: &[(&str, &str)]) -> ConnId {
    let mut all = alloc::vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(session) = session {
        all.push(("Mcp-Session-Id", session));
        all.push(("MCP-Protocol-Version", "2025-11-25"));
    }
    all.extend_from_slice(headers);
    let conn = h.connect();
    h.send(conn, &Harness::request("POST", "/mcp", &all, body));
    conn
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The verification the last request asked for, and its token.
fn asked(h: &mut Harness) -> Option<(VerificationId, String)> {
    let asked = h.take_events(|e| matches!(e, Event::VerifyToken { .. }));
    match asked.as_slice() {
        [] => None,
        [
            Event::VerifyToken {
                verification,
                token,
            },
        ] => Some((*verification, token.clone())),
        more => panic!("{} verifications asked for", more.len()),
    }
}

fn grant(principal: &str, scopes: &[&str]) -> Verdict {
    Verdict::Granted(Grant::new(
        principal,
        scopes.iter().copied(),
        Some(Duration::from_secs(3600)),
    ))
}

/// Initializes a session with `token`, verified as `principal`.
fn session_of(h: &mut Harness, token: &str, principal: &str) -> String {
    let auth = bearer(token);
    let conn = post(h, None, INIT, &[("Authorization", &auth)]);
    if let Some((id, _)) = asked(h) {
        h.engine
            .token_verified(h.now, id, grant(principal, &["mcp"]))
            .unwrap();
        h.pump();
    }
    let response = h.take_response(conn).expect("answered");
    assert_eq!(response.status, 200, "{:?}", response.json());
    let session = response.header("mcp-session-id").unwrap().to_string();
    let conn = post(
        h,
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        &[("Authorization", &auth)],
    );
    assert_eq!(h.take_response(conn).unwrap().status, 202);
    session
}

fn challenged(response: &Response, status: u16) -> String {
    assert_eq!(response.status, status, "{:?}", response.json());
    assert!(
        response.json()["error"]["code"].is_i64(),
        "a JSON-RPC error"
    );
    response
        .header("www-authenticate")
        .expect("a challenge")
        .to_string()
}

#[test]
fn the_metadata_document_is_served_path_aware_and_at_the_root() {
    let mut h = Harness::new(protected());
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let conn = h.connect();
        h.send(conn, &Harness::request("GET", path, &[], ""));
        let response = h.take_response(conn).unwrap();
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        let document = response.json();
        assert_eq!(document["resource"], "https://mcp.example.com/mcp");
        assert_eq!(
            document["authorization_servers"],
            serde_json::json!(["https://auth.example.com"])
        );
        assert_eq!(
            document["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
    }
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request("POST", "/.well-known/oauth-protected-resource", &[], "{}"),
    );
    assert_eq!(h.take_response(conn).unwrap().status, 405);
    // Without a resource server there is no document.
    let mut open = Harness::default();
    let conn = open.connect();
    open.send(
        conn,
        &Harness::request("GET", "/.well-known/oauth-protected-resource", &[], ""),
    );
    assert_eq!(open.take_response(conn).unwrap().status, 404);
    h.check();
}

#[test]
fn a_request_without_a_good_token_is_challenged_with_the_metadata_url() {
    let mut h = Harness::new(protected());
    let modern = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let base = format!("Bearer resource_metadata=\"{METADATA}\", scope=\"mcp\"");
    // No token, in both eras and on the HTTP+SSE stream.
    for body in [INIT, modern] {
        let conn = post(&mut h, None, body, &[]);
        assert_eq!(challenged(&h.take_response(conn).unwrap(), 401), base);
    }
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request("GET", "/sse", &[("Accept", "text/event-stream")], ""),
    );
    assert_eq!(challenged(&h.take_response(conn).unwrap(), 401), base);
    // Another scheme is no bearer token.
    let conn = post(&mut h, None, INIT, &[("Authorization", "Basic YWRhOnB3")]);
    assert_eq!(challenged(&h.take_response(conn).unwrap(), 401), base);
    // Malformed: not token68; too long.
    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer a,b")]);
    let header = challenged(&h.take_response(conn).unwrap(), 401);
    assert!(header.contains("error=\"invalid_token\""), "{header}");
    let max = h.engine.config().limits.max_token_bytes;
    let at = bearer(&"a".repeat(max));
    let past = bearer(&"b".repeat(max + 1));
    let conn = post(&mut h, None, INIT, &[("Authorization", &past)]);
    let header = challenged(&h.take_response(conn).unwrap(), 401);
    assert!(header.contains("too long"), "{header}");
    let conn = post(&mut h, None, INIT, &[("Authorization", &at)]);
    assert!(asked(&mut h).is_some(), "a token at the limit is verified");
    assert!(h.take_response(conn).is_none(), "waiting for the verdict");
    // A token in the query, or two Authorization fields: 400.
    let conn = h.connect();
    let wire = Harness::request(
        "POST",
        "/mcp?access_token=abc",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        INIT,
    );
    h.send(conn, &wire);
    let header = challenged(&h.take_response(conn).unwrap(), 400);
    assert!(header.contains("error=\"invalid_request\""), "{header}");
    let conn = post(
        &mut h,
        None,
        INIT,
        &[("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
    );
    challenged(&h.take_response(conn).unwrap(), 400);
    assert_eq!(h.engine.counters().verifications_requested, 1);
    h.check();
}

#[test]
fn a_verified_token_is_cached_and_requests_with_it_go_through() {
    let mut h = Harness::new(protected());
    let session = session_of(&mut h, "tok-ada", "ada");
    assert_eq!(h.engine.stats().cached_grants, 1);
    // The same token again: no verification.
    let conn = post(
        &mut h,
        Some(&session),
        r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        &[("Authorization", "Bearer tok-ada")],
    );
    assert!(asked(&mut h).is_none());
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    assert_eq!(h.engine.counters().verifications_requested, 1);
    h.check();
}

#[test]
fn requests_with_one_token_wait_for_one_verdict() {
    let mut h = Harness::new(protected());
    let auth = bearer("tok");
    let conns: Vec<ConnId> = (0..3)
        .map(|_| post(&mut h, None, INIT, &[("Authorization", &auth)]))
        .collect();
    let (id, token) = asked(&mut h).expect("asked once");
    assert_eq!(token, "tok");
    assert_eq!(h.engine.stats().pending_verifications, 1);
    h.engine
        .token_verified(h.now, id, grant("ada", &["mcp"]))
        .unwrap();
    h.pump();
    for conn in conns {
        assert_eq!(h.take_response(conn).unwrap().status, 200);
    }
    assert_eq!(
        h.engine.token_verified(h.now, id, Verdict::Unavailable),
        Err(crate::engine::CommandError::StaleHandle)
    );
    h.check();
}

#[test]
fn refused_unavailable_and_late_verdicts_are_answered() {
    let mut h = Harness::new(protected());
    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer bad")]);
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(h.now, id, Verdict::Refused("the token \"expired\"".into()))
        .unwrap();
    h.pump();
    let header = challenged(&h.take_response(conn).unwrap(), 401);
    assert!(
        header.ends_with("error=\"invalid_token\", error_description=\"the token expired\""),
        "{header}"
    );

    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer later")]);
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(h.now, id, Verdict::Unavailable)
        .unwrap();
    h.pump();
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(
        h.engine.stats().cached_grants,
        0,
        "nothing granted, nothing kept"
    );

    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer slow")]);
    let (id, _) = asked(&mut h).unwrap();
    let timeout = h.engine.config().timeouts.token_verification.as_millis();
    h.advance(timeout);
    let response = h.take_response(conn).unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(h.engine.counters().verification_timeouts, 1);
    assert_eq!(
        h.engine.token_verified(h.now, id, grant("ada", &["mcp"])),
        Err(crate::engine::CommandError::StaleHandle),
        "too late"
    );
    assert_eq!(h.engine.stats().pending_verifications, 0);
    h.check();
}

#[test]
fn scopes_every_request_needs_and_a_tools_are_asked_for_step_up() {
    let mut h = Harness::new(protected());
    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer narrow")]);
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(h.now, id, grant("ada", &["other"]))
        .unwrap();
    h.pump();
    let header = challenged(&h.take_response(conn).unwrap(), 403);
    assert!(
        header.contains("scope=\"mcp\", error=\"insufficient_scope\""),
        "{header}"
    );
    // With the required scope, a session; the scoped tool needs more (and says which).
    let session = session_of(&mut h, "enough", "ada");
    let call = |name: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":"{name}","method":"tools/call","params":{{"name":"{name}"}}}}"#
        )
    };
    let conn = post(
        &mut h,
        Some(&session),
        &call("wipe"),
        &[("Authorization", "Bearer enough")],
    );
    let header = challenged(&h.take_response(conn).unwrap(), 403);
    assert!(header.contains("scope=\"admin mcp\""), "{header}");
    let before = h.events.len();
    let conn = post(
        &mut h,
        Some(&session),
        &call("echo"),
        &[("Authorization", "Bearer enough")],
    );
    assert!(h.take_response(conn).is_none(), "in flight");
    assert!(
        h.events[before..]
            .iter()
            .any(|e| matches!(e, Event::Request { method, .. } if method == "tools/call"))
    );
    // A wider token for the same principal: the same session, and the tool.
    let conn = post(
        &mut h,
        Some(&session),
        &call("wipe").replace("\"id\":\"wipe\"", "\"id\":\"wipe-2\""),
        &[("Authorization", "Bearer wider")],
    );
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(h.now, id, grant("ada", &["mcp", "admin"]))
        .unwrap();
    h.pump();
    let answer = h.take_response(conn);
    assert!(
        answer.is_none(),
        "in flight: allowed, not {:?}",
        answer.map(|r| r.json())
    );
    h.check();
}

/// A call whose tool cannot be told for certain needs what any tool needs: the application may
/// read an array as its params struct, or the last of two names, where the gate would not.
#[test]
fn a_call_that_names_its_tool_ambiguously_needs_every_tools_scope() {
    const SHAPES: [&str; 6] = [
        r#"{"name":"wipe","arguments":{},"uri":1}"#,
        r#"{"name":"wipe","arguments":{},"uri":{}}"#,
        r#"["wipe"]"#,
        r#"{"name":"echo","name":"wipe"}"#,
        r#"{"name":"echo","na\u006de":"wipe"}"#,
        r#"{"arguments":{}}"#,
    ];
    let tool_calls = |h: &Harness| {
        h.events
            .iter()
            .filter(|e| matches!(e, Event::Request { method, .. } if method == "tools/call"))
            .count()
    };
    let mut h = Harness::new(protected());
    let session = session_of(&mut h, "narrow", "ada");
    for (id, params) in SHAPES.iter().enumerate() {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{params}}}"#);
        let conn = post(
            &mut h,
            Some(&session),
            &body,
            &[("Authorization", "Bearer narrow")],
        );
        let header = challenged(&h.take_response(conn).expect("answered"), 403);
        assert!(header.contains("scope=\"admin mcp\""), "{params}: {header}");
    }
    // The first shape, in the stateless era, with its tool in the Mcp-Name field.
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"name":"wipe","arguments":{},"uri":1}}"#;
    let conn = h.connect();
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "wipe"),
        ("Authorization", "Bearer narrow"),
    ];
    h.send(conn, &Harness::request("POST", "/mcp", &headers, body));
    challenged(&h.take_response(conn).expect("answered"), 403);
    assert_eq!(tool_calls(&h), 0, "a call reached the application");
    // The scope the rule asks for lets each through to the application, which judges it.
    let conn = post(
        &mut h,
        Some(&session),
        &format!(
            r#"{{"jsonrpc":"2.0","id":"w","method":"tools/call","params":{}}}"#,
            SHAPES[3]
        ),
        &[("Authorization", "Bearer wide")],
    );
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(h.now, id, grant("ada", &["mcp", "admin"]))
        .unwrap();
    h.pump();
    assert!(h.take_response(conn).is_none(), "in flight");
    assert_eq!(tool_calls(&h), 1);
    h.check();
}

#[test]
fn a_session_belongs_to_its_principal_not_to_a_token() {
    let mut h = Harness::new(protected());
    let session = session_of(&mut h, "ada-1", "ada");
    let ping = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    // Bob's valid token: the session is not his.
    let conn = post(
        &mut h,
        Some(&session),
        ping,
        &[("Authorization", "Bearer bob")],
    );
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(h.now, id, grant("bob", &["mcp"]))
        .unwrap();
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 404);
    // Ada's refreshed token: still hers.
    let conn = post(
        &mut h,
        Some(&session),
        ping,
        &[("Authorization", "Bearer ada-2")],
    );
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(h.now, id, grant("ada", &["mcp"]))
        .unwrap();
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    h.check();
}

/// The application learns who calls: the principal that opened a session, or that sent a
/// 2026-07-28 call, on the request's context.
#[test]
fn a_requests_context_names_its_principal() {
    let mut h = Harness::new(protected());
    let session = session_of(&mut h, "t1", "ada");
    let before = h.events.len();
    let conn = post(
        &mut h,
        Some(&session),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#,
        &[("Authorization", "Bearer t1")],
    );
    let handle = h.events[before..]
        .iter()
        .find_map(|e| match e {
            Event::Request { handle, .. } => Some(*handle),
            _ => None,
        })
        .expect("a request");
    assert_eq!(h.engine.principal(handle.session), Some("ada"));
    let context = h.engine.client_context(handle).unwrap();
    assert_eq!(context.principal.as_deref(), Some("ada"));
    assert!(h.take_response(conn).is_none(), "in flight");
    // A stateless call from another principal.
    let body = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"name":"echo","arguments":{}}}"#;
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "echo"),
        ("Authorization", "Bearer t2"),
    ];
    let conn = h.connect();
    h.send(conn, &Harness::request("POST", "/mcp", &headers, body));
    let (id, _) = asked(&mut h).unwrap();
    let before = h.events.len();
    h.engine
        .token_verified(h.now, id, grant("grace", &["mcp"]))
        .unwrap();
    h.pump();
    let handle = h.events[before..]
        .iter()
        .find_map(|e| match e {
            Event::Request { handle, .. } => Some(*handle),
            _ => None,
        })
        .expect("a request");
    assert_eq!(
        h.engine
            .client_context(handle)
            .unwrap()
            .principal
            .as_deref(),
        Some("grace")
    );
    h.check();
    // Without a resource server, nobody is named, whatever a header says.
    let mut open = Harness::default();
    let conn = open.connect();
    open.send(conn, &Harness::request("POST", "/mcp", &headers, body));
    let handle = open
        .events
        .iter()
        .find_map(|e| match e {
            Event::Request { handle, .. } => Some(*handle),
            _ => None,
        })
        .expect("a request");
    assert_eq!(open.engine.client_context(handle).unwrap().principal, None);
}

#[test]
fn a_grant_lasts_no_longer_than_its_token_then_is_verified_again() {
    let mut h = Harness::new(protected());
    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer short")]);
    let (id, _) = asked(&mut h).unwrap();
    let verdict = Verdict::Granted(Grant::new("ada", ["mcp"], Some(Duration::from_secs(5))));
    h.engine.token_verified(h.now, id, verdict).unwrap();
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    assert_eq!(h.engine.stats().cached_grants, 1);
    let with_grant = h.engine.stats().held.sessions;
    // The grant's expiry is a deadline: it goes when it passes.
    assert_eq!(
        h.engine.poll_timeout(),
        Some(h.now + Duration::from_secs(5))
    );
    h.advance(5_000);
    assert_eq!(h.engine.stats().cached_grants, 0);
    assert!(
        h.engine.stats().held.sessions < with_grant,
        "its bytes released"
    );
    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer short")]);
    assert!(asked(&mut h).is_some(), "verified again");
    h.engine.handle_closed(h.now, conn);
    h.check();
}

#[test]
fn verifications_are_capped_and_a_waiter_that_leaves_holds_nothing() {
    let mut config = protected();
    config.limits.max_pending_verifications = 2;
    let mut h = Harness::new(config);
    let a = post(&mut h, None, INIT, &[("Authorization", "Bearer a")]);
    let (first, _) = asked(&mut h).unwrap();
    let b = post(&mut h, None, INIT, &[("Authorization", "Bearer b")]);
    asked(&mut h).unwrap();
    let c = post(&mut h, None, INIT, &[("Authorization", "Bearer c")]);
    let refused = h.take_response(c).unwrap();
    assert_eq!(refused.status, 503, "past the cap");
    assert_eq!(h.engine.counters().verifications_refused, 1);
    // A waiter that goes: its request is released, and with nobody left waiting the
    // verification ends (the application is told), freeing its slot at once.
    let held = h.engine.stats().held.requests;
    h.engine.handle_closed(h.now, a);
    h.pump();
    assert!(h.engine.stats().held.requests < held);
    let cancelled = h.take_events(|e| matches!(e, Event::VerificationCancelled { .. }));
    assert!(
        matches!(cancelled.as_slice(), [Event::VerificationCancelled { verification }] if *verification == first),
        "{cancelled:?}"
    );
    assert_eq!(h.engine.counters().verifications_abandoned, 1);
    assert_eq!(
        h.engine
            .token_verified(h.now, first, grant("ada", &["mcp"])),
        Err(crate::engine::CommandError::StaleHandle)
    );
    let d = post(&mut h, None, INIT, &[("Authorization", "Bearer d")]);
    assert!(asked(&mut h).is_some(), "the slot is free again");
    h.engine.handle_closed(h.now, b);
    h.engine.handle_closed(h.now, d);
    h.pump();
    let stats = h.engine.stats();
    assert_eq!(stats.pending_verifications, 0);
    h.advance(3_600_000);
    let stats = h.engine.stats();
    assert!(
        stats.is_quiescent(),
        "{:?}",
        stats.residue().collect::<Vec<_>>()
    );
    h.check();
}

/// Tokens sent by a client that hangs up at once hold no verification slot: the cap is
/// there for verifications somebody waits for.
#[test]
fn clients_that_hang_up_cannot_pin_the_verification_cap() {
    let mut config = protected();
    config.limits.max_pending_verifications = 8;
    let mut h = Harness::new(config);
    for i in 0..64 {
        let conn = post(
            &mut h,
            None,
            INIT,
            &[("Authorization", &bearer(&format!("junk{i}")))],
        );
        assert!(asked(&mut h).is_some(), "junk{i} is verified");
        h.engine.handle_closed(h.now, conn);
        h.pump();
    }
    assert_eq!(h.engine.stats().pending_verifications, 0);
    let _ = session_of(&mut h, "legit", "ada");
    h.check();
}

/// A verdict that grants with no time left is a token that expired.
#[test]
fn a_grant_with_no_time_left_is_refused() {
    let mut h = Harness::new(protected());
    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer stale")]);
    let (id, _) = asked(&mut h).unwrap();
    h.engine
        .token_verified(
            h.now,
            id,
            Verdict::Granted(Grant::new("ada", ["mcp"], Some(Duration::ZERO))),
        )
        .unwrap();
    h.pump();
    let header = challenged(&h.take_response(conn).unwrap(), 401);
    assert!(header.contains("invalid_token"), "{header}");
    assert!(header.contains("expired"), "{header}");
    assert_eq!(h.engine.stats().cached_grants, 0);
    h.check();
}

/// Scope rules reach what the application sees by other roads: a notification, and a
/// 2026-07-28 listen stream that subscribes to resources.
#[test]
fn notifications_and_listen_subscriptions_need_their_scopes() {
    let mut config = protected();
    config.capabilities = r#"{"tools":{},"resources":{"subscribe":true}}"#.into();
    config.auth = config.auth.map(|a| {
        a.scope_for_method("resources/subscribe", "read")
            .scope_for_method("notifications/roots/list_changed", "admin")
    });
    let mut h = Harness::new(config);
    let session = session_of(&mut h, "narrow", "ada");
    let before = h.events.len();
    let conn = post(
        &mut h,
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#,
        &[("Authorization", "Bearer narrow")],
    );
    let header = challenged(&h.take_response(conn).unwrap(), 403);
    assert!(header.contains("admin"), "{header}");
    assert!(
        !h.events[before..]
            .iter()
            .any(|e| matches!(e, Event::Notification { .. })),
        "the notification reached the application"
    );
    let listen = |uris: &str| {
        alloc::format!(
            r#"{{"jsonrpc":"2.0","id":"l","method":"subscriptions/listen","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}},"notifications":{{"resourceSubscriptions":{uris}}}}}}}"#
        )
    };
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "subscriptions/listen"),
        ("Authorization", "Bearer narrow"),
    ];
    // An escaped URI is the same URI.
    for uris in [r#"["file:///secret"]"#, r#"["file:\/\/\/secret"]"#] {
        let conn = h.connect();
        h.send(
            conn,
            &Harness::request("POST", "/mcp", &headers, &listen(uris)),
        );
        let header = challenged(&h.take_response(conn).unwrap(), 403);
        assert!(header.contains("scope=\"mcp read\""), "{uris}: {header}");
    }
    assert_eq!(h.engine.counters().listens_opened, 0);
    // Listening for list changes only needs nothing more.
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request("POST", "/mcp", &headers, &listen("[]")),
    );
    assert_eq!(h.peek_response(conn).unwrap().status, 200);
    h.check();
}

#[test]
fn shutdown_answers_what_waits_for_a_verdict() {
    let mut h = Harness::new(protected());
    let conn = post(&mut h, None, INIT, &[("Authorization", "Bearer t")]);
    asked(&mut h).unwrap();
    h.engine.begin_shutdown(h.now, Duration::from_secs(1));
    h.pump();
    assert!(!h.engine.is_drained(), "the verification may still finish");
    h.advance(1_000);
    assert_eq!(h.take_response(conn).unwrap().status, 503);
    h.close_all();
    assert!(h.engine.is_drained());
    let stats = h.engine.stats();
    assert!(
        stats.is_quiescent(),
        "{:?}",
        stats.residue().collect::<Vec<_>>()
    );
}

/// What a 2026-07-28 call's context keeps counts its principal: one too big for the share a
/// context may hold is refused before the application sees the call.
#[test]
fn a_stateless_calls_principal_counts_against_its_share() {
    let call = |h: &mut Harness, token: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"name":"echo","arguments":{}}}"#;
        let auth = bearer(token);
        let headers = [
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
            ("Authorization", auth.as_str()),
        ];
        let conn = h.connect();
        h.send(conn, &Harness::request("POST", "/mcp", &headers, body));
        conn
    };
    let mut config = protected();
    config.limits.max_session_bytes = 4096;
    let mut h = Harness::new(config);
    for (token, principal, reaches) in [
        ("small", "ada".to_string(), true),
        ("big", "x".repeat(65_536), false),
    ] {
        let conn = call(&mut h, token);
        let (id, _) = asked(&mut h).unwrap();
        let before = h.events.len();
        h.engine
            .token_verified(h.now, id, grant(&principal, &["mcp"]))
            .unwrap();
        h.pump();
        let reached = h.events[before..]
            .iter()
            .any(|e| matches!(e, Event::Request { .. }));
        assert_eq!(reached, reaches, "{token}");
        if !reaches {
            assert_eq!(h.take_response(conn).unwrap().status, 503);
        }
    }
    h.check();
}
