//! The bindings compiled to wasm32 and run in Node by wasm-bindgen-test: what JS sees.

#![cfg(target_arch = "wasm32")]

use mcpwire_wasm::{Engine, OutputKind};
use wasm_bindgen_test::wasm_bindgen_test;

const OPTIONS: &str = r#"{"serverName":"t","serverVersion":"1","capabilities":{"tools":{}},
    "timeouts":{"sessionIdleMs":1000},"limits":{"maxBodyBytes":2048}}"#;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;

/// Request headers as `handleRequest` takes them: `name\0value\0...`.
fn headers(session: Option<&str>) -> String {
    let mut h = vec![
        "host",
        "127.0.0.1:8787",
        "content-type",
        "application/json",
        "accept",
        "application/json, text/event-stream",
    ];
    if let Some(id) = session {
        h.extend(["mcp-session-id", id, "mcp-protocol-version", "2025-11-25"]);
    }
    h.iter().map(|field| format!("{field}\0")).collect()
}

/// Status, headers and body of a complete response.
fn response(engine: &mut Engine, exchange: f64) -> (u16, Vec<String>, String) {
    let (mut status, mut head, mut body) = (0, Vec::new(), Vec::new());
    while let Some(kind) = engine.poll_exchange_output(exchange) {
        match kind {
            OutputKind::Head => {
                status = engine.output_status();
                head = engine
                    .output_headers()
                    .split_terminator('\0')
                    .map(String::from)
                    .collect();
            }
            OutputKind::Body => body.extend(engine.output_body()),
            OutputKind::End => break,
            OutputKind::Aborted => panic!("aborted"),
        }
    }
    (status, head, String::from_utf8(body).unwrap())
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.chunks(2).find(|p| p[0] == name).map(|p| p[1].as_str())
}

fn initialize(engine: &mut Engine, now: f64) -> String {
    let exchange = engine
        .handle_request(now, "POST", "/mcp", &headers(None), INIT.into())
        .unwrap();
    while engine.poll_event().is_some() {}
    let (status, head, _) = response(engine, exchange);
    assert_eq!(status, 200);
    let id = header(&head, "mcp-session-id").unwrap().to_owned();
    let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec();
    let exchange = engine
        .handle_request(now, "POST", "/mcp", &headers(Some(&id)), initialized)
        .unwrap();
    assert_eq!(response(engine, exchange).0, 202);
    id
}

#[wasm_bindgen_test]
fn a_request_becomes_an_event_and_the_answer_a_response() {
    let mut engine = Engine::new(OPTIONS, 0.0, &[1; 32]).unwrap();
    let id = initialize(&mut engine, 0.0);
    let call = br#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"x"}}"#;
    let exchange = engine
        .handle_request(1.0, "POST", "/mcp", &headers(Some(&id)), call.to_vec())
        .unwrap();
    let mut request = None;
    while let Some(event) = engine.poll_event() {
        let event: serde_json::Value = serde_json::from_str(&event).unwrap();
        if event["type"] == "request" {
            assert_eq!(event["method"], "tools/call");
            assert_eq!(event["params"]["name"], "x");
            request = Some((
                event["session"].as_f64().unwrap(),
                event["request"].as_f64().unwrap(),
            ));
        }
    }
    let (session, request) = request.expect("a request event");
    assert_eq!(
        engine.poll_exchange_output(exchange),
        None,
        "waits for the answer"
    );
    engine
        .respond(2.0, session, request, r#"{"content":[]}"#)
        .unwrap();
    let (status, _, body) = response(&mut engine, exchange);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"jsonrpc":"2.0","id":"c1","result":{"content":[]}}"#
    );
    // Answering twice is a stale handle, with its code first in the message.
    let again = engine.respond(3.0, session, request, "{}");
    assert!(again.is_err());
    engine.check_invariants().unwrap();
}

#[wasm_bindgen_test]
fn time_comes_from_the_host_and_idle_sessions_expire() {
    let mut engine = Engine::new(OPTIONS, 0.0, &[2; 32]).unwrap();
    let id = initialize(&mut engine, 0.0);
    let deadline = engine.poll_timeout().expect("the idle timer");
    assert_eq!(deadline, 1000.0);
    engine.handle_timeout(deadline);
    let mut closed = false;
    while let Some(event) = engine.poll_event() {
        closed |= event.contains(r#""type":"sessionClosed""#) && event.contains("idle_timeout");
    }
    assert!(closed);
    let stats: serde_json::Value = serde_json::from_str(&engine.stats()).unwrap();
    assert_eq!(stats["sessions"], 0);
    assert_eq!(stats["timersArmed"], 0);
    let ping = br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#.to_vec();
    let exchange = engine
        .handle_request(1001.0, "POST", "/mcp", &headers(Some(&id)), ping)
        .unwrap();
    assert_eq!(response(&mut engine, exchange).0, 404);
}

#[wasm_bindgen_test]
fn the_body_limit_holds_at_and_past_it() {
    let mut engine = Engine::new(OPTIONS, 0.0, &[3; 32]).unwrap();
    let padded = |n: usize| {
        let mut body = INIT.as_bytes().to_vec();
        body.resize(n, b' ');
        body
    };
    let at = engine
        .handle_request(0.0, "POST", "/mcp", &headers(None), padded(2048))
        .unwrap();
    while engine.poll_event().is_some() {}
    assert_eq!(response(&mut engine, at).0, 200);
    let past = engine
        .handle_request(0.0, "POST", "/mcp", &headers(None), padded(2049))
        .unwrap();
    let (status, _, body) = response(&mut engine, past);
    assert_eq!(status, 413);
    assert!(body.contains("-32000"));
}

#[wasm_bindgen_test]
fn bad_options_and_seeds_are_errors_not_panics() {
    assert!(Engine::new("{}", 0.0, &[0; 32]).is_err());
    assert!(Engine::new(OPTIONS, 0.0, &[0; 31]).is_err());
    let mut engine = Engine::new(OPTIONS, f64::NAN, &[0; 32]).unwrap();
    assert!(engine.add_entropy(&[1; 32]).is_ok());
    assert!(engine.respond(0.0, 1.0, 2.0, "not json").is_err());
    assert!(engine.send_log(0.0, 1.0, None, "loud", None, "1").is_err());
    assert!(
        engine
            .broadcast(0.0, "notifications/x", Some("{".into()))
            .is_err()
    );
    assert!(
        engine
            .handle_request(0.0, "POST", "no slash", &headers(None), Vec::new())
            .is_err()
    );
}

const PROTECTED: &str = r#"{"serverName":"t","serverVersion":"1",
    "auth":{"resource":"http://127.0.0.1:8787/mcp","authorizationServers":["http://127.0.0.1:9000"],
            "requiredScopes":["mcp"]}}"#;

/// Sends `initialize` with `token`; returns the exchange and the verification it asked for.
fn initialize_with(engine: &mut Engine, token: &str) -> (f64, Option<f64>) {
    let headers = format!("{}authorization\0Bearer {token}\0", headers(None));
    let exchange = engine
        .handle_request(0.0, "POST", "/mcp", &headers, INIT.into())
        .unwrap();
    let mut asked = None;
    while let Some(event) = engine.poll_event() {
        let event: serde_json::Value = serde_json::from_str(&event).unwrap();
        if event["type"] == "verifyToken" {
            assert_eq!(event["token"], token);
            asked = event["verification"].as_f64();
        }
    }
    (exchange, asked)
}

#[wasm_bindgen_test]
fn a_protected_resource_asks_js_to_verify_and_takes_its_verdicts() {
    let mut engine = Engine::new(PROTECTED, 0.0, &[3; 32]).unwrap();
    let (exchange, id) = initialize_with(&mut engine, "good");
    let id = id.expect("asked to verify");
    assert_eq!(engine.poll_exchange_output(exchange), None, "waiting");
    engine
        .token_granted(0.0, id, "ada", vec!["mcp".into()], Some(60_000.0))
        .unwrap();
    assert_eq!(response(&mut engine, exchange).0, 200);
    assert!(
        engine.token_refused(0.0, id, "again").is_err(),
        "the verification is over"
    );
    let (exchange, id) = initialize_with(&mut engine, "bad");
    engine.token_refused(0.0, id.unwrap(), "revoked").unwrap();
    let (status, head, _) = response(&mut engine, exchange);
    assert_eq!(status, 401);
    let challenge = header(&head, "www-authenticate").unwrap();
    assert!(
        challenge.contains("error_description=\"revoked\""),
        "{challenge}"
    );
    let (exchange, id) = initialize_with(&mut engine, "later");
    engine.token_unavailable(0.0, id.unwrap()).unwrap();
    assert_eq!(response(&mut engine, exchange).0, 503);
    engine.check_invariants().unwrap();
}
