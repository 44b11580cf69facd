//! A hostile authorization server: every trick ends the flow with an error that names its
//! step, in bounded memory, and leaves nothing running.

use std::time::Duration;

use serde_json::json;

use std::sync::Arc;

use super::{FlowLimits, MemoryStore, OAuthConfig, RegisteredClient, StoredAuth, TokenStore};
use crate::auth::testing::Responder;
use crate::client::{Client, ClientError, EraChoice};

/// Most of an endless response one connection may have taken: the client's cap, a read
/// chunk, and what the loopback socket buffers hold between the two ends (the kernel's, some
/// megabytes each way; the client reads none of that).
const MOST_READ: usize = 16 * 1024 * 1024;

/// The endless bytes the responder got rid of, per request for `path`.
fn read_per_request(responder: &Responder, path: &str) -> usize {
    responder.endless_bytes() / responder.hits(path).max(1)
}

/// A resource server that asks for a token, and an authorization server that works, on one
/// responder; each test then breaks one part.
async fn serving() -> Responder {
    let responder = Responder::start().await;
    let base = responder.base().to_string();
    responder.raw(
        "/mcp",
        &format!(
            "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer resource_metadata=\"{base}/prm\"\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        ),
    );
    responder.serve_json(
        "/prm",
        &json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]}),
    );
    responder.serve_json(
        "/.well-known/oauth-authorization-server",
        &json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "registration_endpoint": format!("{base}/register"),
            "code_challenge_methods_supported": ["S256"],
        }),
    );
    responder.serve("/register", 201, "application/json", r#"{"client_id":"c"}"#);
    responder
}

/// Connects with OAuth; the person approves at once.
async fn sign_in(responder: &Responder, limits: FlowLimits) -> Result<Client, ClientError> {
    sign_in_with(responder, limits, Arc::new(MemoryStore::default())).await
}

async fn sign_in_with(
    responder: &Responder,
    limits: FlowLimits,
    store: Arc<dyn TokenStore>,
) -> Result<Client, ClientError> {
    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "hostile-tests");
    config.limits = limits;
    Client::builder(&format!("{}/mcp", responder.base()))?
        .era(EraChoice::Modern)
        .reconnect_timeout(Duration::from_secs(30))
        .oauth(config)
        .token_store(store)
        .on_authorize(|url| async move {
            let state = url
                .split(['?', '&'])
                .find_map(|pair| pair.strip_prefix("state="))
                .unwrap_or_default()
                .to_string();
            Ok(format!("http://127.0.0.1:9/cb?code=c&state={state}"))
        })
        .connect()
        .await
}

fn refused(outcome: Result<Client, ClientError>) -> String {
    match outcome {
        Ok(_) => panic!("connected through a hostile authorization server"),
        Err(error) => error.to_string(),
    }
}

/// `path` answers `head` and then bytes without end: the flow fails at `step`, saying why,
/// having taken a bounded number of bytes.
async fn endless_refusal(path: &str, head: &str, step: &str, why: &str) {
    let responder = serving().await;
    responder.endless(path, head);
    let error = refused(sign_in(&responder, FlowLimits::default()).await);
    assert!(error.contains(step), "{error}");
    assert!(error.contains(why), "{error}");
    let read = read_per_request(&responder, path);
    assert!(read < MOST_READ, "{read}");
}

#[test]
fn endless_metadata_is_cut_at_its_cap() {
    smol::block_on(endless_refusal(
        "/prm",
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n",
        "OAuth protected resource metadata",
        "larger than 65536 bytes",
    ));
}

#[test]
fn a_gigabyte_token_response_is_refused_by_its_length() {
    smol::block_on(endless_refusal(
        "/token",
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n",
        "OAuth token request",
        "larger than 65536 bytes",
    ));
}

#[test]
fn a_chunked_endless_token_response_is_cut_at_its_cap() {
    // Chunks that never end: one huge chunk size, then bytes for ever.
    smol::block_on(endless_refusal(
        "/token",
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nfffffff\r\n",
        "OAuth token request",
        "larger than 65536 bytes",
    ));
}

#[test]
fn redirects_are_never_followed() {
    smol::block_on(async {
        let responder = serving().await;
        let hop = "HTTP/1.1 302 Found\r\nlocation: /prm\r\ncontent-length: 0\r\n\r\n";
        responder.raw("/prm", hop);
        let error = refused(sign_in(&responder, FlowLimits::default()).await);
        assert!(
            error.contains("OAuth protected resource metadata"),
            "{error}"
        );
        assert!(error.contains("redirects are not followed"), "{error}");
        assert_eq!(responder.hits("/prm"), 1);

        let responder = serving().await;
        responder.raw("/token", &hop.replace("/prm", "/token"));
        let error = refused(sign_in(&responder, FlowLimits::default()).await);
        assert!(error.contains("OAuth token request: HTTP 302"), "{error}");
        assert_eq!(responder.hits("/token"), 1);
    });
}

#[test]
fn a_token_endpoint_that_never_answers_ends_at_the_fetch_deadline() {
    smol::block_on(async {
        let responder = serving().await;
        responder.stall("/token");
        let limits = FlowLimits {
            fetch_timeout: mcpwire_core::time::Duration::from_secs(1),
            ..FlowLimits::default()
        };
        let error = refused(sign_in(&responder, limits).await);
        assert!(error.contains("OAuth token request"), "{error}");
        assert_eq!(responder.hits("/token"), 1);
    });
}

#[test]
fn a_www_authenticate_that_never_ends_is_no_challenge() {
    smol::block_on(async {
        let responder = serving().await;
        responder.endless(
            "/mcp",
            "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer realm=\"",
        );
        let error = refused(sign_in(&responder, FlowLimits::default()).await);
        let read = read_per_request(&responder, "/mcp");
        assert!(read < MOST_READ, "{read}");
        // The head was never whole: no challenge, no flow.
        assert_eq!(responder.hits("/prm"), 0, "{error}");
    });
}

#[test]
fn a_challenge_with_an_endless_body_is_acted_on_and_the_body_cut() {
    smol::block_on(async {
        let responder = serving().await;
        let base = responder.base().to_string();
        responder.endless(
            "/mcp",
            &format!(
                "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer resource_metadata=\"{base}/prm\"\r\n\r\n"
            ),
        );
        responder.serve("/token", 200, "application/json", r#"{"access_token":"t"}"#);
        // Signed in every time, refused every time: the client stops after its limit.
        let error = refused(sign_in(&responder, FlowLimits::default()).await);
        assert!(error.contains("still refused"), "{error}");
        let read = read_per_request(&responder, "/mcp");
        assert!(read < MOST_READ, "{read}");
        assert!(
            responder.hits("/token") <= 4,
            "{}",
            responder.hits("/token")
        );
    });
}

#[test]
fn a_registration_the_server_forgot_is_not_kept_for_the_next_client() {
    smol::block_on(async {
        let responder = serving().await;
        responder.serve(
            "/token",
            401,
            "application/json",
            r#"{"error":"invalid_client"}"#,
        );
        let store = Arc::new(MemoryStore::default());
        let forgotten = RegisteredClient {
            issuer: responder.base().to_string(),
            client_id: "forgotten".into(),
            client_secret: None,
            auth_method: "none".into(),
        };
        store.save(&StoredAuth {
            client: Some(forgotten.clone()),
            tokens: None,
        });
        let error = refused(sign_in_with(&responder, FlowLimits::default(), store.clone()).await);
        assert!(error.contains("invalid_client"), "{error}");
        let kept = store.load().unwrap_or_default().client;
        assert_ne!(kept, Some(forgotten), "the next client would reuse it");
    });
}

#[test]
fn a_panicking_authorize_handler_ends_the_flow_at_once() {
    smol::block_on(async {
        let responder = serving().await;
        let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
        config.limits = FlowLimits::default();
        let outcome = Client::builder(&format!("{}/mcp", responder.base()))
            .unwrap()
            .era(EraChoice::Modern)
            .oauth(config)
            .on_authorize(|_url| async move {
                panic!("a handler with a bug");
                #[allow(unreachable_code)]
                Ok(String::new())
            })
            .connect()
            .await;
        let error = refused(outcome);
        // Not the gate's timeout (minutes): the flow's own end, naming the panic.
        assert!(error.contains("panicked"), "{error}");
    });
}
