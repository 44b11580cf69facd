//! A protected server over real sockets: challenges, a verifier that is any async function,
//! one that panics, one that never answers (cancelled at its deadline), and nothing left
//! behind.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Conn, InProcess, request};
use mcpwire_smol::auth::{Grant, ResourceServer, Verdict};
use mcpwire_smol::{App, Context, Error, NoArgs, Server, Tool, ToolResult};
use serde_json::json;

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn post(addr: std::net::SocketAddr, token: Option<&str>, body: &str) -> common::Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    let mut conn = Conn::open(addr);
    conn.send(&request("POST", "/mcp", &headers, body));
    conn.response()
}

fn protected(verified: Arc<AtomicUsize>) -> InProcess {
    let app = App::builder("protected", "1")
        .tool(Tool::new("hello", |_: NoArgs, cx: Context| async move {
            let who = cx.principal().unwrap_or("nobody").to_string();
            Ok::<_, Error>(ToolResult::text(format!("hello {who}")))
        }))
        .tool(
            Tool::new("wipe", |_: NoArgs, _cx: Context| async {
                Ok::<_, Error>(ToolResult::text("wiped"))
            })
            .requires_scope("admin"),
        )
        .build();
    let resource = ResourceServer::new("http://127.0.0.1/mcp")
        .unwrap()
        .authorization_server("http://127.0.0.1:9")
        .unwrap()
        .require_scope("mcp");
    let server = Server::new(app)
        .configure(|c| c.timeouts.token_verification = mcpwire_smol::time::Duration::from_secs(1))
        .protect(resource, move |token: String| {
            let verified = verified.clone();
            async move {
                verified.fetch_add(1, Ordering::SeqCst);
                match token.as_str() {
                    "good" => Verdict::Granted(Grant::new(
                        "ada",
                        ["mcp"],
                        Some(mcpwire_smol::time::Duration::from_secs(60)),
                    )),
                    "wide" => Verdict::Granted(Grant::new(
                        "grace",
                        ["mcp", "admin"],
                        Some(mcpwire_smol::time::Duration::from_secs(60)),
                    )),
                    "panics" => panic!("a verifier with a bug"),
                    "never" => std::future::pending().await,
                    _ => Verdict::Refused("unknown token".into()),
                }
            }
        });
    InProcess::serve_server(server)
}

#[test]
fn a_protected_server_challenges_verifies_and_leaves_nothing() {
    let verified = Arc::new(AtomicUsize::new(0));
    let server = protected(verified.clone());
    let addr = server.addr;

    let none = post(addr, None, INIT);
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some(
            "Bearer resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\""
        )
    );
    let mut metadata = Conn::open(addr);
    metadata.send(&request(
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        &[],
        "",
    ));
    let document = metadata.response().json();
    assert_eq!(document["resource"], "http://127.0.0.1/mcp");

    let refused = post(addr, Some("forged"), INIT);
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .contains("error_description=\"unknown token\"")
    );
    let session = post(addr, Some("good"), INIT);
    assert_eq!(session.status, 200);
    let id = session.header("mcp-session-id").unwrap().to_string();
    // The grant is kept: the next requests are not verified again.
    let mut call = Conn::open(addr);
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello"}});
    call.send(&request(
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Authorization", "Bearer good"),
            ("Mcp-Session-Id", &id),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
        &body.to_string(),
    ));
    let answer = call.response();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.messages()[0]["result"]["content"][0]["text"],
        "hello ada",
        "the handler knows who calls"
    );
    assert_eq!(verified.load(Ordering::SeqCst), 2, "forged, then good once");
    drop((metadata, call));

    // A verifier that panics answers 503; one that never answers is cut at its deadline.
    assert_eq!(post(addr, Some("panics"), INIT).status, 503);
    assert_eq!(post(addr, Some("never"), INIT).status, 503);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        smol::block_on(server.handle.check_invariants())
            .unwrap()
            .unwrap();
        let stats = smol::block_on(server.handle.stats()).unwrap();
        if stats.engine.pending_verifications == 0
            && stats.engine.exchanges == 0
            && stats.engine.connections == 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "not idle: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
}

/// A 2026-07-28 call of a tool.
fn stateless_call(addr: std::net::SocketAddr, token: &str, tool: &str) -> common::Response {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
                 "io.modelcontextprotocol/clientCapabilities":{}},
        "name":tool,"arguments":{}}});
    let auth = format!("Bearer {token}");
    let mut conn = Conn::open(addr);
    conn.send(&request(
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", tool),
            ("Authorization", &auth),
        ],
        &body.to_string(),
    ));
    conn.response()
}

#[test]
fn a_tools_declared_scope_is_asked_for_and_the_handler_knows_who_calls() {
    let server = protected(Arc::new(AtomicUsize::new(0)));
    let narrow = stateless_call(server.addr, "good", "wipe");
    assert_eq!(narrow.status, 403);
    let challenge = narrow.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("scope=\"admin mcp\"") && challenge.contains("insufficient_scope"),
        "{challenge}"
    );
    let wide = stateless_call(server.addr, "wide", "wipe");
    assert_eq!(wide.status, 200);
    assert_eq!(wide.messages()[0]["result"]["content"][0]["text"], "wiped");
    let hello = stateless_call(server.addr, "wide", "hello");
    assert_eq!(
        hello.messages()[0]["result"]["content"][0]["text"],
        "hello grace"
    );
    server.stop();
}
