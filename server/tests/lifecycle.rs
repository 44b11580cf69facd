//! The protocol over real sockets: a session's whole life, notifications and progress during a
//! call, requests to the client, subscriptions, resumption, the legacy transport, and clear
//! errors for bad input.

mod common;

use common::{Conn, Server, Session, post, request, result_text};
use serde_json::{Value, json};

#[test]
fn a_session_lives_from_initialize_to_delete() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);

    let tools = session.call("tools/list", json!({}));
    let names: Vec<&str> = tools[0]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for fixture in [
        "echo",
        "test_simple_text",
        "test_sampling",
        "json_schema_2020_12_tool",
    ] {
        assert!(names.contains(&fixture), "{fixture} missing from {names:?}");
    }
    let echo = session.call(
        "tools/call",
        json!({"name":"echo","arguments":{"text":"hi"}}),
    );
    assert_eq!(result_text(&echo[0]), "hi");
    let add = session.call(
        "tools/call",
        json!({"name":"add","arguments":{"a":2,"b":3}}),
    );
    assert_eq!(add[0]["result"]["structuredContent"]["sum"], 5.0);
    let ping = session.call("ping", json!({}));
    assert_eq!(ping[0]["result"], json!({}));

    assert_eq!(session.delete(), 200);
    let after = session.send(&json!({"jsonrpc":"2.0","id":9,"method":"ping"}));
    assert_eq!(after.status, 404);
    assert_eq!(after.json()["error"]["code"], -32001);
    let metrics = server.metrics();
    assert_eq!(metrics["mcpwire_sessions"], 0);
    assert_eq!(
        metrics["mcpwire_sessions_closed_total{reason=\"deleted\"}"],
        1
    );
}

#[test]
fn progress_and_logs_arrive_during_the_call_before_its_result() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);
    let messages = session.call(
        "tools/call",
        json!({"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"tok-1"}}),
    );
    let (result, notes) = messages.split_last().unwrap();
    assert!(
        result.get("result").is_some(),
        "the result comes last: {messages:?}"
    );
    let progress: Vec<f64> = notes
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            assert_eq!(
                m["params"]["progressToken"], "tok-1",
                "the token is echoed as sent"
            );
            m["params"]["progress"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(progress, [0.0, 50.0, 100.0]);

    let set = session.call("logging/setLevel", json!({"level":"debug"}));
    assert_eq!(set[0]["result"], json!({}));
    let messages = session.call("tools/call", json!({"name":"test_tool_with_logging"}));
    let logs = messages
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .count();
    assert_eq!(logs, 3, "{messages:?}");
    assert_eq!(
        result_text(messages.last().unwrap()),
        "Tool with logging executed successfully"
    );

    // Above the session's level, logs are filtered.
    session.call("logging/setLevel", json!({"level":"error"}));
    let quiet = session.call("tools/call", json!({"name":"test_tool_with_logging"}));
    assert_eq!(quiet.len(), 1, "{quiet:?}");
}

#[test]
fn sampling_and_elicitation_round_trip_through_the_client() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);
    let (id, mut conn) = session.start_call(
        "tools/call",
        json!({"name":"test_sampling","arguments":{"prompt":"Say hi"}}),
    );
    let head = conn.head();
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    conn.start_sse();
    let (_, ask) = conn.next_message().expect("the sampling request");
    assert_eq!(ask["method"], "sampling/createMessage");
    assert_eq!(ask["params"]["messages"][0]["content"]["text"], "Say hi");
    let answer = session.send(&json!({"jsonrpc":"2.0","id":ask["id"],"result":{
        "role":"assistant","content":{"type":"text","text":"hello"},"model":"m","stopReason":"endTurn"}}));
    assert_eq!(answer.status, 202);
    let (_, result) = conn.next_message().expect("the result");
    assert_eq!(result["id"], id);
    assert_eq!(result_text(&result), "LLM response: hello");
    assert!(
        conn.next_event().is_none(),
        "the stream ends after the result"
    );

    let (_, mut conn) = session.start_call(
        "tools/call",
        json!({"name":"test_elicitation_sep1034_defaults"}),
    );
    conn.head();
    conn.start_sse();
    let (_, ask) = conn.next_message().expect("the elicitation request");
    assert_eq!(ask["method"], "elicitation/create");
    let properties = &ask["params"]["requestedSchema"]["properties"];
    assert_eq!(properties["name"]["default"], "John Doe");
    assert_eq!(properties["score"]["default"], 95.5);
    session.send(
        &json!({"jsonrpc":"2.0","id":ask["id"],"error":{"code":-1,"message":"declined by test"}}),
    );
    let (_, result) = conn.next_message().expect("the result");
    assert_eq!(
        result["result"]["isError"], true,
        "a client error is the tool's error"
    );
    assert!(result_text(&result).contains("declined by test"));
}

#[test]
fn subscribers_hear_of_updates_and_a_dropped_get_stream_resumes() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);
    let mut get = session.open_get(None);
    let subscribed = session.call(
        "resources/subscribe",
        json!({"uri":"test://watched-resource"}),
    );
    assert_eq!(subscribed[0]["result"], json!({}));

    let touch = |session: &mut Session| {
        let r = session.call(
            "tools/call",
            json!({"name":"touch_resource","arguments":{"uri":"test://watched-resource"}}),
        );
        result_text(&r[0]).to_string()
    };
    assert_eq!(touch(&mut session), "1 subscribers notified");
    let (first_id, update) = get.next_message().expect("an update");
    assert_eq!(update["method"], "notifications/resources/updated");
    assert_eq!(update["params"]["uri"], "test://watched-resource");

    // The GET connection drops; what is sent meanwhile waits in the stream's log.
    drop(get);
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while server.metrics()["mcpwire_connections"] > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the drop was never noticed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    touch(&mut session);
    touch(&mut session);
    let mut resumed = session.open_get(first_id.as_deref());
    for _ in 0..2 {
        let (id, missed) = resumed.next_message().expect("a missed update");
        assert_eq!(missed["method"], "notifications/resources/updated");
        assert_ne!(id, first_id);
    }

    let unsubscribed = session.call(
        "resources/unsubscribe",
        json!({"uri":"test://watched-resource"}),
    );
    assert_eq!(unsubscribed[0]["result"], json!({}));
    assert_eq!(touch(&mut session), "0 subscribers notified");
}

#[test]
fn a_call_whose_stream_the_server_closes_is_finished_on_the_resumed_stream() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);
    let (id, mut conn) = session.start_call("tools/call", json!({"name":"test_reconnection"}));
    let head = conn.head();
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    conn.start_sse();
    let priming = conn.next_event().expect("the priming event");
    assert_eq!(priming.data, "");
    let last_id = priming.id.expect("the priming event has an id");
    assert!(
        conn.next_event().is_none(),
        "closed cleanly, before the result"
    );

    let mut resumed = session.open_get(Some(&last_id));
    let (_, result) = resumed.next_message().expect("the result, after resuming");
    assert_eq!(result["id"], id);
    assert!(result_text(&result).starts_with("Reconnection test completed"));
    assert!(
        resumed.next_event().is_none(),
        "the resumed stream ends with the call"
    );
}

#[test]
fn resources_prompts_and_completions_answer_as_the_fixtures_say() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);
    let read = session.call("resources/read", json!({"uri":"test://template/123/data"}));
    let text = read[0]["result"]["contents"][0]["text"].as_str().unwrap();
    assert!(text.contains("123"));
    let binary = session.call("resources/read", json!({"uri":"test://static-binary"}));
    assert_eq!(binary[0]["result"]["contents"][0]["mimeType"], "image/png");
    let missing = session.call("resources/read", json!({"uri":"test://nope"}));
    assert_eq!(missing[0]["error"]["code"], -32002);

    let prompt = session.call(
        "prompts/get",
        json!({"name":"test_prompt_with_arguments","arguments":{"arg1":"A","arg2":"B"}}),
    );
    let text = prompt[0]["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    assert_eq!(text, "Prompt with arguments: arg1='A', arg2='B'");
    let missing_arg = session.call("prompts/get", json!({"name":"test_prompt_with_arguments"}));
    assert_eq!(missing_arg[0]["error"]["code"], -32602);

    let completion = session.call(
        "completion/complete",
        json!({"ref":{"type":"ref/prompt","name":"test_prompt_with_arguments"},"argument":{"name":"arg1","value":"test"}}),
    );
    assert_eq!(
        completion[0]["result"]["completion"]["values"],
        json!(["test", "testValue1", "testValue2"])
    );
}

#[test]
fn bad_input_gets_a_status_and_a_json_rpc_error() {
    let server = Server::start(&[]);
    let mut session = Session::open(server.addr);
    let expect = |wire: Vec<u8>, status: u16, code: i64| {
        let mut conn = Conn::open(server.addr);
        conn.send(&wire);
        let response = conn.response();
        assert_eq!(
            response.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.json()["error"]["code"], code);
    };
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("Mcp-Session-Id", session.id.as_str()),
    ];
    expect(request("POST", "/mcp", &headers, "{not json"), 400, -32700);
    expect(
        post(
            Some("no-such-session"),
            &json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
        ),
        404,
        -32001,
    );
    expect(
        post(None, &json!({"jsonrpc":"2.0","id":1,"method":"ping"})),
        400,
        -32000,
    );
    let evil = [
        ("Host", "evil.example.com"),
        ("Origin", "http://evil.example.com"),
    ];
    let mut wire = request("POST", "/mcp", &evil, "{}");
    // The helper always sends a Host; the one under test must be the only one.
    wire = String::from_utf8(wire)
        .unwrap()
        .replacen("Host: 127.0.0.1\r\n", "", 1)
        .into_bytes();
    expect(wire, 403, -32000);

    let unknown = session.call("tools/call", json!({"name":"no_such_tool"}));
    assert_eq!(unknown[0]["error"]["code"], -32602);
    let failing = session.call("tools/call", json!({"name":"test_error_handling"}));
    assert_eq!(failing[0]["result"]["isError"], true);
    let bad_args = session.call("tools/call", json!({"name":"add","arguments":{"a":"x"}}));
    assert_eq!(
        bad_args[0]["result"]["isError"], true,
        "invalid arguments are the model's to fix"
    );
    let nothing = session.call("no/such/method", json!({}));
    assert_eq!(nothing[0]["error"]["code"], -32601);
}

#[test]
fn the_legacy_transport_carries_a_session_over_one_sse_stream() {
    let server = Server::start(&[]);
    let mut sse = Conn::open(server.addr);
    sse.send(&request(
        "GET",
        "/sse",
        &[("Accept", "text/event-stream")],
        "",
    ));
    assert_eq!(sse.head().status, 200);
    sse.start_sse();
    let endpoint = sse.next_event().expect("the endpoint event").data;
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let send = |message: Value| {
        let mut conn = Conn::open(server.addr);
        conn.send(&request(
            "POST",
            &endpoint,
            &[("Content-Type", "application/json")],
            &message.to_string(),
        ));
        conn.response().status
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"legacy","version":"1"}}});
    assert_eq!(send(init), 202);
    let (_, result) = sse.next_message().expect("the initialize result");
    assert_eq!(result["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(
        send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
        202
    );
    assert_eq!(
        send(
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"old"}}})
        ),
        202
    );
    let (_, echo) = sse.next_message().expect("the echo result");
    assert_eq!(result_text(&echo), "old");
}

#[test]
fn an_allowed_host_is_served_and_any_other_refused() {
    let server = Server::start(&["--allowed-host", "mcp.example"]);
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let status = |host: &str| {
        let mut conn = Conn::open(server.addr);
        let headers = [
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        let wire = String::from_utf8(request("POST", "/mcp", &headers, ping))
            .unwrap()
            .replacen("Host: 127.0.0.1\r\n", &format!("Host: {host}\r\n"), 1);
        conn.send(wire.as_bytes());
        conn.response().status
    };
    // Allowed, the request gets as far as the session check (no session: 400).
    assert_eq!(status("mcp.example"), 400);
    assert_eq!(
        status("mcp.example:8443"),
        400,
        "a name alone allows any port"
    );
    assert_eq!(status("127.0.0.1"), 400, "loopback stays allowed");
    assert_eq!(status("other.example"), 403);
}

#[test]
fn the_log_has_a_line_per_refusal_at_info_and_per_answer_at_debug() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let run = |level: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mcpwire binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr: std::net::SocketAddr = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .parse()
            .unwrap();
        let mut session = Session::open(addr);
        let answered = session.call(
            "tools/call",
            json!({"name":"echo","arguments":{"text":"hi"}}),
        );
        assert_eq!(result_text(&answered[0]), "hi");
        let mut conn = Conn::open(addr);
        conn.send(&post(
            Some("no-such-session"),
            &json!({"jsonrpc":"2.0","id":"lost-1","method":"ping"}),
        ));
        assert_eq!(conn.response().status, 404);
        let pid = child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let mut log = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(child.wait().unwrap().success());
        log
    };
    let info = run("info");
    let refused: Vec<&str> = info.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(refused.len(), 1, "{info}");
    for needle in [
        "status=404",
        "code=-32001",
        "Session not found",
        "method=\"ping\"",
        "lost-1",
    ] {
        assert!(refused[0].contains(needle), "{needle} in {}", refused[0]);
    }
    assert!(!info.contains("answered"), "answers only at debug: {info}");

    let debug = run("debug");
    let call = debug
        .lines()
        .find(|l| l.contains("answered") && l.contains("tools/call"))
        .unwrap_or_else(|| panic!("no line for the call: {debug}"));
    assert!(call.contains("status=200"), "{call}");
    assert!(call.contains("session="), "{call}");
    assert!(debug.lines().any(|l| l.contains("refused")), "{debug}");
}

#[test]
fn healthz_answers_a_probe_without_token_host_or_origin() {
    let server = Server::start(&[]);
    let mut probe = Conn::open(server.addr);
    probe.send(b"GET /healthz HTTP/1.1\r\nHost: 10.1.2.3\r\nConnection: close\r\n\r\n");
    let response = probe.response();
    assert_eq!(response.status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&response.body).unwrap()["status"],
        "ok"
    );
}
