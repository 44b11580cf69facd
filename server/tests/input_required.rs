//! Input-required results and `x-mcp-header` over real sockets, against the `mcpwire` binary:
//! what a handler may ask, and when mirrored arguments must agree with their headers.

mod common;

use std::time::Duration;

use common::{Conn, Server, Session, result_text, stateless_post};
use serde_json::{Value, json};

fn meta(caps: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps
    })
}

/// One stateless call; `None` when no response arrives within `wait`.
fn call(
    server: &Server,
    name: &str,
    params: Value,
    extra: &[(&str, &str)],
    wait: Duration,
) -> Option<Value> {
    let mut conn = Conn::open(server.addr);
    conn.stream.set_read_timeout(Some(wait)).unwrap();
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":params});
    conn.send(&stateless_post("tools/call", Some(name), extra, &body));
    let mut buf = [0u8; 1];
    // Peek: a timeout means nothing came back at all.
    match conn.stream.peek(&mut buf) {
        Ok(_) => {}
        Err(_) => return None,
    }
    let response = conn.response();
    let messages = response.messages();
    messages.into_iter().find(|m| m.get("id").is_some())
}

/// A stateless client that did not declare elicitation calls a tool that asks for it: it is
/// answered (-32021), never left hanging.
#[test]
fn undeclared_capability_answers_instead_of_hanging() {
    let server = Server::start(&["--keepalive", "60"]);
    let got = call(
        &server,
        "test_input_required_result_elicitation",
        json!({"name":"test_input_required_result_elicitation","_meta":meta(json!({}))}),
        &[],
        Duration::from_secs(5),
    );
    let gauges = server.gauges();
    assert!(
        got.is_some(),
        "no response within 5 s: the request hangs; stateless_requests={:?}",
        gauges.get("mcpwire_stateless_requests")
    );
    println!("{got:?}");
}

/// Arguments are mirrored in headers only in 2026-07-28: a session-era call of an annotated
/// tool needs no header.
#[test]
fn session_era_annotated_tool_works() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);
    let out = session.call(
        "tools/call",
        json!({"name":"test_header_param","arguments":{"region":"us-west1"}}),
    );
    assert!(out[0].get("error").is_none(), "{}", out[0]);
    assert_eq!(result_text(&out[0]), "Ran in us-west1");
}

/// Two Mcp-Param-Region headers are refused: a proxy may route on either.
#[test]
fn duplicate_param_header_is_refused() {
    let server = Server::start(&[]);
    let got = call(
        &server,
        "test_header_param",
        json!({"name":"test_header_param","arguments":{"region":"us-west1"},"_meta":meta(json!({}))}),
        &[("Mcp-Param-Region", "us-west1"), ("Mcp-Param-Region", "eu-central1")],
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(got["error"]["code"], -32020, "{got}");
}

/// A header whose argument is absent from the body is refused: a proxy routed on it, the tool
/// would run on its default.
#[test]
fn param_header_without_argument_is_refused() {
    let server = Server::start(&[]);
    let got = call(
        &server,
        "test_header_param",
        json!({"name":"test_header_param","arguments":{},"_meta":meta(json!({}))}),
        &[("Mcp-Param-Region", "us-west1")],
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(got["error"]["code"], -32020, "{got}");
}

/// A sampling answer's content may be an array of blocks (2026-07-28).
#[test]
fn sampling_answer_with_content_array_is_accepted() {
    let server = Server::start(&[]);
    let params = json!({
        "name":"test_input_required_result_sampling",
        "_meta": meta(json!({"sampling":{}})),
        "inputResponses": {"capital_question": {
            "role":"assistant","model":"m","stopReason":"endTurn",
            "content":[{"type":"text","text":"Paris"}]}}
    });
    let got = call(
        &server,
        "test_input_required_result_sampling",
        params,
        &[],
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(got.get("error").is_none(), "{got}");
}
