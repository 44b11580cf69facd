//! Sessions bound to a credential (`Config::session_binding`): a session id used with another
//! credential, or none, is a session that does not exist.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::harness::Harness;
use crate::engine::Config;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

fn bound() -> Harness {
    let mut config = Config::new("t", "1");
    config.session_binding = Some("authorization".into());
    Harness::new(config)
}

/// A POST with `credential` in `Authorization` (none when `None`).
fn post(
    h: &mut Harness,
    session: Option<&str>,
    credential: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let mut headers: Vec<(&str, &str)> = alloc::vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(session) = session {
        headers.push(("Mcp-Session-Id", session));
        headers.push(("MCP-Protocol-Version", "2025-11-25"));
    }
    if let Some(credential) = credential {
        headers.push(("Authorization", credential));
    }
    let conn = h.connect();
    h.send(conn, &Harness::request("POST", "/mcp", &headers, body));
    let response = h.take_response(conn).expect("a response");
    let json = if response.body.is_empty() {
        serde_json::Value::Null
    } else {
        response.json()
    };
    (
        response.status,
        json,
        response.header("mcp-session-id").map(ToString::to_string),
    )
}

#[test]
fn a_bound_session_answers_only_its_own_credential() {
    let mut h = bound();
    let (status, _, id) = post(&mut h, None, Some("Bearer alice"), INITIALIZE);
    assert_eq!(status, 200);
    let id = id.expect("a session id");
    assert_eq!(post(&mut h, Some(&id), Some("Bearer alice"), PING).0, 200);
    for other in [
        Some("Bearer alicE"),
        Some("Bearer bob"),
        Some("Bearer alice2"),
        None,
    ] {
        let (status, json, _) = post(&mut h, Some(&id), other, PING);
        assert_eq!(status, 404, "{other:?}");
        assert_eq!(json["error"]["code"], -32001, "{other:?}");
        assert_eq!(json["id"], 1, "the refusal names the request");
    }
    // The owner is unaffected by the attempts.
    assert_eq!(post(&mut h, Some(&id), Some("Bearer alice"), PING).0, 200);
    let get = Harness::request(
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", &id),
            ("Authorization", "Bearer bob"),
        ],
        "",
    );
    let conn = h.connect();
    h.send(conn, &get);
    assert_eq!(
        h.take_response(conn).unwrap().status,
        404,
        "GET with another credential"
    );
    let delete = Harness::request(
        "DELETE",
        "/mcp",
        &[("Mcp-Session-Id", &id), ("Authorization", "Bearer bob")],
        "",
    );
    let conn = h.connect();
    h.send(conn, &delete);
    assert_eq!(
        h.take_response(conn).unwrap().status,
        404,
        "DELETE with another credential"
    );
    assert_eq!(h.engine.stats().sessions, 1, "still alive");
}

#[test]
fn a_session_created_without_the_credential_stays_without_it() {
    let mut h = bound();
    let (_, _, id) = post(&mut h, None, None, INITIALIZE);
    let id = id.unwrap();
    assert_eq!(post(&mut h, Some(&id), None, PING).0, 200);
    assert_eq!(post(&mut h, Some(&id), Some("Bearer mallory"), PING).0, 404);
}

#[test]
fn without_binding_the_credential_is_not_looked_at() {
    let mut h = Harness::default();
    let (_, _, id) = post(&mut h, None, Some("Bearer alice"), INITIALIZE);
    let id = id.unwrap();
    assert_eq!(post(&mut h, Some(&id), Some("Bearer bob"), PING).0, 200);
    assert_eq!(post(&mut h, Some(&id), None, PING).0, 200);
}

/// A credential header sent twice is ambiguous (which one would a proxy have checked?): 400
/// with a JSON-RPC error, at `initialize` and on a bound session's requests alike, and no
/// session is created. Once is served.
#[test]
fn a_credential_header_sent_twice_is_refused() {
    let mut h = bound();
    let twice = |h: &mut Harness, session: Option<&str>, body: &str| {
        let mut headers: Vec<(&str, &str)> = alloc::vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Authorization", "Bearer alice"),
            ("Authorization", "Bearer bob"),
        ];
        if let Some(session) = session {
            headers.push(("Mcp-Session-Id", session));
        }
        let conn = h.connect();
        h.send(conn, &Harness::request("POST", "/mcp", &headers, body));
        h.take_response(conn).expect("a response")
    };
    let refused = twice(&mut h, None, INITIALIZE);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["code"], -32000);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("authorization header appears more than once")
    );
    assert_eq!(h.engine.stats().sessions, 0);
    let (status, _, id) = post(&mut h, None, Some("Bearer alice"), INITIALIZE);
    assert_eq!(status, 200);
    let id = id.unwrap();
    assert_eq!(twice(&mut h, Some(&id), PING).status, 400);
    assert_eq!(post(&mut h, Some(&id), Some("Bearer alice"), PING).0, 200);
}
