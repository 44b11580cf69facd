//! Input-required results on the engine: which methods may ask, that only the engine builds
//! them, and that a state is bound to the principal it was issued to.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::vec::Vec;

use super::harness::Harness;
use crate::engine::{ConnId, Reply, RequestHandle};
use crate::jsonrpc::RawValue;

const CAPABLE: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{},"sampling":{},"roots":{}}}"#;

fn raw(s: &str) -> alloc::boxed::Box<RawValue> {
    RawValue::from_string(s.into()).unwrap()
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

fn req(
    h: &mut Harness,
    id: u64,
    method: &str,
    name: Option<&str>,
    params: &str,
) -> (ConnId, RequestHandle) {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{CAPABLE},{params}}}}}"#
    );
    let conn = h.connect();
    h.send(conn, &wire(method, name, &body));
    (conn, h.take_request_event().0)
}

fn ask(h: &mut Harness, conn: ConnId, handle: RequestHandle, state: &[u8]) -> serde_json::Value {
    let reply = Reply::InputRequired {
        input_requests: raw(
            r#"{"confirm":{"method":"elicitation/create","params":{"message":"Transfer $1?","requestedSchema":{"type":"object","properties":{}}}}}"#,
        ),
        state: state.to_vec(),
    };
    h.engine.respond(h.now, handle, &reply).unwrap();
    h.pump();
    h.take_response(conn).unwrap().json()
}

/// mrtr.mdx: the state SHOULD carry the authenticated principal. With
/// `Config::session_binding` (here Authorization) a state issued to alice opens for alice and
/// is refused for bob.
#[test]
fn a_state_is_bound_to_its_principal() {
    let mut config = crate::engine::Config::new("t", "1");
    config.session_binding = Some("authorization".into());
    let mut h = Harness::new(config);
    let send = |h: &mut Harness, id: u64, who: &str, extra: &str| {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{{CAPABLE},"name":"t"{extra}}}}}"#
        );
        let headers = [
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "t"),
            ("Authorization", who),
        ];
        let conn = h.connect();
        h.send(conn, &Harness::request("POST", "/mcp", &headers, &body));
        conn
    };
    let conn = send(&mut h, 1, "Bearer alice", "");
    let (handle, _) = h.take_request_event();
    let sealed = ask(&mut h, conn, handle, b"alice-only")["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_owned();
    let retry = format!(r#","requestState":"{sealed}""#);
    let conn = send(&mut h, 2, "Bearer bob", &retry);
    let response = h.take_response(conn).unwrap();
    assert_eq!(
        (response.status, response.json()["error"]["code"].clone()),
        (400, (-32602).into())
    );
    assert!(
        h.events
            .iter()
            .all(|e| !matches!(e, crate::engine::Event::Request { .. }))
    );
    let _conn = send(&mut h, 3, "Bearer alice", &retry);
    let (handle, _) = h.take_request_event();
    assert_eq!(h.engine.request_state(handle), Some(&b"alice-only"[..]));
}

/// mrtr.mdx: only prompts/get, resources/read and tools/call may be answered with an
/// input-required result; any other request is refused `InputNotAllowed`.
#[test]
fn input_required_only_on_the_three_methods() {
    for method in ["completion/complete", "x/custom"] {
        let mut h = Harness::default();
        let (conn, handle) = req(
            &mut h,
            1,
            method,
            None,
            r#""ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":""}"#,
        );
        let reply = Reply::InputRequired {
            input_requests: raw(r#"{"k":{"method":"roots/list","params":{}}}"#),
            state: Vec::new(),
        };
        let sent = h.engine.respond(h.now, handle, &reply);
        h.pump();
        let body = h.take_response(conn).map(|r| r.json());
        assert!(
            sent.is_err(),
            "{method}: engine accepted input_required and sent {body:?}"
        );
    }
}

/// A `Reply::Result` whose body says input_required would skip the capability check and the
/// sealing: it is answered with an internal error instead.
#[test]
fn a_raw_input_required_result_is_refused() {
    let mut h = Harness::default();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"name":"t"}}"#;
    let conn = h.connect();
    h.send(conn, &wire("tools/call", Some("t"), body));
    let (handle, _) = h.take_request_event();
    let forged = raw(
        r#"{"resultType":"input_required","inputRequests":{"k":{"method":"sampling/createMessage","params":{}}},"requestState":"plain"}"#,
    );
    h.engine
        .respond(h.now, handle, &Reply::Result(forged))
        .unwrap();
    h.pump();
    let out = h.take_response(conn).unwrap().json();
    assert_ne!(out["result"]["resultType"], "input_required", "{out}");
}
