//! The flow against a scripted authorization server: every step, every refusal.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::*;
use crate::time::{Duration, Instant};

const SERVER: &str = "https://mcp.example/mcp";
const PRM: &str = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
const AS_META: &str = "https://as.example/.well-known/oauth-authorization-server";

/// A scripted network: URL (without query) → (status, body).
struct Net {
    routes: BTreeMap<String, (u16, String)>,
    seen: Vec<FetchRequest>,
    authorizations: Vec<String>,
}

impl Net {
    fn new() -> Net {
        let mut net = Net {
            routes: BTreeMap::new(),
            seen: Vec::new(),
            authorizations: Vec::new(),
        };
        net.route(
            PRM,
            200,
            r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["mcp:read","mcp:write"]}"#,
        );
        net.route(AS_META, 200, &as_metadata(""));
        net.route(
            "https://as.example/register",
            201,
            r#"{"client_id":"dyn-1","client_secret":"s3cret","token_endpoint_auth_method":"client_secret_basic"}"#,
        );
        net.route(
            "https://as.example/token",
            200,
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":60,"refresh_token":"rt-1"}"#,
        );
        net
    }

    fn route(&mut self, url: &str, status: u16, body: &str) {
        self.routes.insert(url.into(), (status, body.into()));
    }

    /// Runs `flow` to its end; the person authorizes by `redirect(url)`.
    fn run(&mut self, flow: &mut AuthFlow, redirect: impl Fn(&str) -> String) {
        let now = Instant::ZERO;
        for _ in 0..64 {
            if flow.outcome().is_some() {
                return;
            }
            match flow.poll_action() {
                Some(AuthAction::Fetch(request)) => {
                    let key = request.url.without_query().to_string();
                    let (status, body) = self
                        .routes
                        .get(&key)
                        .cloned()
                        .unwrap_or((404, String::new()));
                    let body = body.into_bytes();
                    let id = request.id;
                    self.seen.push(request);
                    flow.handle_response(now, id, status, &body);
                }
                Some(AuthAction::Authorize { url }) => {
                    self.authorizations.push(url.clone());
                    flow.handle_redirect(now, &redirect(&url));
                }
                Some(AuthAction::SignAssertion {
                    client_id,
                    audience,
                    ..
                }) => {
                    flow.handle_assertion(now, Ok(&alloc::format!("jwt.{client_id}.{audience}")));
                }
                None => panic!("the flow waits with nothing to do"),
            }
        }
        panic!("the flow did not end");
    }

    fn urls(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|r| r.url.without_query().to_string())
            .collect()
    }

    fn body_of(&self, url: &str) -> String {
        let request = self
            .seen
            .iter()
            .rev()
            .find(|r| r.url.without_query().to_string() == url)
            .unwrap();
        String::from_utf8(request.body.clone()).unwrap()
    }

    fn header_of(&self, url: &str, name: &str) -> Option<String> {
        let request = self
            .seen
            .iter()
            .rev()
            .find(|r| r.url.without_query().to_string() == url)?;
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

fn as_metadata(extra: &str) -> String {
    alloc::format!(
        r#"{{"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize","token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/register","code_challenge_methods_supported":["S256"]{extra}}}"#
    )
}

fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query_pairs(query)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The browser: the server redirects with a code, the state and (if `iss`) the issuer.
fn approve(iss: Option<&'static str>) -> impl Fn(&str) -> String {
    move |url: &str| {
        let state = param(url, "state").unwrap();
        let mut redirect = alloc::format!("http://127.0.0.1:9/cb?code=c0de&state={state}");
        if let Some(iss) = iss {
            redirect.push_str("&iss=");
            redirect.push_str(iss);
        }
        redirect
    }
}

/// What a first flow (a person approving, a dynamic registration) leaves.
fn signed_in() -> AuthState {
    let mut net = Net::new();
    let mut first = flow(&challenge(), AuthState::default());
    net.run(&mut first, approve(None));
    assert_eq!(first.outcome(), Some(&Ok(())));
    first.into_state()
}

fn flow_with(config: OAuthConfig, challenge: &str, state: AuthState) -> AuthFlow {
    AuthFlow::new(config, SERVER, challenge, state, Instant::ZERO, [1; 32]).unwrap()
}

fn flow(challenge: &str, state: AuthState) -> AuthFlow {
    let config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
    flow_with(config, challenge, state)
}

fn challenge() -> String {
    alloc::format!(r#"Bearer resource_metadata="{PRM}""#)
}

#[test]
fn a_person_authorizes_with_pkce_and_the_resource() {
    let mut net = Net::new();
    let mut flow = flow(&challenge(), AuthState::default());
    net.run(&mut flow, approve(None));
    assert_eq!(flow.outcome(), Some(&Ok(())));
    assert_eq!(
        net.urls(),
        [
            PRM,
            AS_META,
            "https://as.example/register",
            "https://as.example/token"
        ]
    );
    let url = &net.authorizations[0];
    assert_eq!(param(url, "response_type").as_deref(), Some("code"));
    assert_eq!(param(url, "client_id").as_deref(), Some("dyn-1"));
    assert_eq!(param(url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(url, "resource").as_deref(), Some(SERVER));
    assert_eq!(param(url, "scope").as_deref(), Some("mcp:read mcp:write"));
    let token = net.body_of("https://as.example/token");
    let sent = query_pairs(&token);
    let get = |n: &str| sent.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let verifier = get("code_verifier").unwrap();
    assert!((43..=128).contains(&verifier.len()));
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(param(url, "code_challenge"), Some(expected));
    assert_eq!(get("grant_type").as_deref(), Some("authorization_code"));
    assert_eq!(get("code").as_deref(), Some("c0de"));
    assert_eq!(get("resource").as_deref(), Some(SERVER));
    assert_eq!(
        get("redirect_uri").as_deref(),
        Some("http://127.0.0.1:9/cb")
    );
    // client_secret_basic: the secret in the header, not the body.
    assert_eq!(get("client_secret"), None);
    let basic = net
        .header_of("https://as.example/token", "authorization")
        .unwrap();
    assert_eq!(basic, "Basic ZHluLTE6czNjcmV0");
    assert_eq!(flow.state().authorization().as_deref(), Some("Bearer at-1"));
    assert_eq!(
        flow.state().tokens.as_ref().unwrap().resource.as_deref(),
        Some(SERVER)
    );
}

#[test]
fn without_a_named_document_the_well_known_locations_are_tried_in_order() {
    let mut net = Net::new();
    net.routes.remove(PRM);
    net.route(
        "https://mcp.example/.well-known/oauth-protected-resource",
        200,
        r#"{"resource":"https://mcp.example/","authorization_servers":["https://as.example/tenant"]}"#,
    );
    net.route(
        "https://as.example/tenant/.well-known/openid-configuration",
        200,
        &as_metadata("").replace(
            r#""issuer":"https://as.example""#,
            r#""issuer":"https://as.example/tenant""#,
        ),
    );
    let mut flow = flow("Bearer", AuthState::default());
    net.run(&mut flow, approve(None));
    assert_eq!(flow.outcome(), Some(&Ok(())));
    assert_eq!(
        net.urls()[..5],
        [
            PRM,
            "https://mcp.example/.well-known/oauth-protected-resource",
            "https://as.example/.well-known/oauth-authorization-server/tenant",
            "https://as.example/.well-known/openid-configuration/tenant",
            "https://as.example/tenant/.well-known/openid-configuration",
        ]
    );
    // No scope anywhere: none asked for.
    assert_eq!(param(&net.authorizations[0], "scope"), None);
}

#[test]
fn the_challenge_scope_wins_and_offline_access_is_added_where_offered() {
    let mut net = Net::new();
    net.route(
        AS_META,
        200,
        &as_metadata(r#","scopes_supported":["mcp:read","offline_access"]"#),
    );
    let mut flow = flow(
        &alloc::format!(r#"Bearer scope="mcp:admin", resource_metadata="{PRM}""#),
        AuthState::default(),
    );
    net.run(&mut flow, approve(None));
    assert_eq!(flow.outcome(), Some(&Ok(())));
    assert_eq!(
        param(&net.authorizations[0], "scope").as_deref(),
        Some("mcp:admin offline_access")
    );
    // OIDC Core §11: without consent asked for, an OIDC server drops offline_access.
    assert_eq!(
        param(&net.authorizations[0], "prompt").as_deref(),
        Some("consent")
    );
}

#[test]
fn consent_is_asked_for_only_with_offline_access() {
    // Not offered: neither offline_access nor a consent prompt.
    let mut net = Net::new();
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    assert_eq!(f.outcome(), Some(&Ok(())));
    assert_eq!(
        param(&net.authorizations[0], "scope").as_deref(),
        Some("mcp:read mcp:write")
    );
    assert_eq!(param(&net.authorizations[0], "prompt"), None);

    // Configured by the application: consent asked for too.
    let mut net = Net::new();
    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "demo");
    config.scope = Some("mcp:read offline_access".into());
    let mut f = flow_with(config, &challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    assert_eq!(f.outcome(), Some(&Ok(())));
    assert_eq!(
        param(&net.authorizations[0], "prompt").as_deref(),
        Some("consent")
    );
}

#[test]
fn metadata_about_another_resource_or_issuer_ends_the_flow_before_any_token() {
    let mut net = Net::new();
    net.route(
        PRM,
        200,
        r#"{"resource":"https://evil.example/mcp","authorization_servers":["https://as.example"]}"#,
    );
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let error = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(error.step, AuthStep::ResourceMetadata);
    assert!(error.reason.contains("evil.example"), "{error}");
    assert_eq!(net.urls(), [PRM]);

    let mut net = Net::new();
    net.route(
        AS_META,
        200,
        &as_metadata("").replace("https://as.example\"", "https://other.example\""),
    );
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    assert_eq!(
        f.outcome().unwrap().as_ref().unwrap_err().step,
        AuthStep::ServerMetadata
    );
    assert!(net.authorizations.is_empty());
}

#[test]
fn iss_is_checked_when_promised_and_whenever_present() {
    let promised = r#","authorization_response_iss_parameter_supported":true"#;
    for (metadata, iss, ok) in [
        (promised, Some("https://as.example"), true),
        (promised, None, false),
        (promised, Some("https://evil.example"), false),
        ("", None, true),
        ("", Some("https://evil.example"), false),
        ("", Some("https://as.example"), true),
    ] {
        let mut net = Net::new();
        net.route(AS_META, 200, &as_metadata(metadata));
        let mut f = flow(&challenge(), AuthState::default());
        net.run(&mut f, approve(iss));
        assert_eq!(f.outcome().unwrap().is_ok(), ok, "{metadata} {iss:?}");
        let token_requested = net.urls().iter().any(|u| u.ends_with("/token"));
        assert_eq!(token_requested, ok, "no code is exchanged after a mix-up");
    }
}

#[test]
fn a_wrong_state_or_an_error_in_the_redirect_fails_authorization() {
    let mut net = Net::new();
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, |_| "?code=x&state=forged".to_string());
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::Authorization);
    assert!(e.reason.contains("state"));

    let mut net = Net::new();
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, |url| {
        alloc::format!(
            "?error=access_denied&state={}",
            param(url, "state").unwrap()
        )
    });
    assert!(
        f.outcome()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .reason
            .contains("access_denied")
    );
}

#[test]
fn a_client_metadata_document_is_used_where_the_server_accepts_one() {
    let mut net = Net::new();
    net.route(
        AS_META,
        200,
        &as_metadata(r#","client_id_metadata_document_supported":true"#),
    );
    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
    config.client_metadata_url = Some("https://client.example/metadata.json".into());
    let mut f = flow_with(config, &challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    assert_eq!(f.outcome(), Some(&Ok(())));
    assert!(!net.urls().iter().any(|u| u.ends_with("/register")));
    assert_eq!(
        param(&net.authorizations[0], "client_id").as_deref(),
        Some("https://client.example/metadata.json")
    );
    let token = query_pairs(&net.body_of("https://as.example/token"));
    assert!(token.contains(&(
        "client_id".into(),
        "https://client.example/metadata.json".into()
    )));
    assert_eq!(
        net.header_of("https://as.example/token", "authorization"),
        None
    );
}

#[test]
fn a_pre_registered_client_authenticates_as_the_server_allows() {
    for (methods, header, in_body) in [
        (r#"["client_secret_basic"]"#, true, false),
        (r#"["client_secret_post"]"#, false, true),
    ] {
        let mut net = Net::new();
        net.route(
            AS_META,
            200,
            &as_metadata(&alloc::format!(
                r#","token_endpoint_auth_methods_supported":{methods}"#
            )),
        );
        let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
        config.client = Some(ClientCredentials {
            client_id: "pre".into(),
            client_secret: Some("pw".into()),
            key: false,
            issuer: None,
        });
        let mut f = flow_with(config, &challenge(), AuthState::default());
        net.run(&mut f, approve(None));
        assert_eq!(f.outcome(), Some(&Ok(())), "{methods}");
        assert!(!net.urls().iter().any(|u| u.ends_with("/register")));
        let token = query_pairs(&net.body_of("https://as.example/token"));
        assert_eq!(
            token.contains(&("client_secret".into(), "pw".into())),
            in_body
        );
        assert_eq!(
            net.header_of("https://as.example/token", "authorization")
                .is_some(),
            header
        );
    }
}

#[test]
fn a_refresh_token_is_used_before_a_new_authorization_and_kept_when_not_renewed() {
    let state = signed_in();

    let mut net = Net::new();
    net.route(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-2","token_type":"bearer"}"#,
    );
    let mut again = flow(r#"Bearer error="invalid_token""#, state);
    net.run(&mut again, approve(None));
    assert_eq!(again.outcome(), Some(&Ok(())));
    // Discovery first: the resource still names the server that issued the refresh token.
    assert_eq!(net.urls(), [PRM, AS_META, "https://as.example/token"]);
    assert!(net.authorizations.is_empty());
    let sent = query_pairs(&net.body_of("https://as.example/token"));
    assert!(sent.contains(&("grant_type".into(), "refresh_token".into())));
    assert!(sent.contains(&("resource".into(), SERVER.into())));
    let tokens = again.state().tokens.clone().unwrap();
    assert_eq!(
        (
            tokens.access_token.as_str(),
            tokens.refresh_token.as_deref()
        ),
        ("at-2", Some("rt-1"))
    );

    // A refused refresh goes on to a new grant, from the discovery just made.
    let mut net = Net::new();
    net.route(
        "https://as.example/token",
        400,
        r#"{"error":"invalid_grant"}"#,
    );
    let mut again = flow(&challenge(), signed_in());
    net.run(&mut again, approve(None));
    assert_eq!(
        again.outcome().unwrap().as_ref().unwrap_err().step,
        AuthStep::Token
    );
    assert_eq!(net.urls()[..3], [PRM, AS_META, "https://as.example/token"]);
    assert_eq!(net.urls().iter().filter(|u| *u == PRM).count(), 1);
    assert_eq!(net.authorizations.len(), 1);
}

#[test]
fn after_a_migration_the_refresh_token_is_not_taken_to_the_old_server() {
    let mut net = Net::new();
    net.route(
        PRM,
        200,
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://new.example"]}"#,
    );
    net.route(
        "https://new.example/.well-known/oauth-authorization-server",
        200,
        &as_metadata("").replace("as.example", "new.example"),
    );
    net.route(
        "https://new.example/register",
        201,
        r#"{"client_id":"new-1"}"#,
    );
    net.route(
        "https://new.example/token",
        200,
        r#"{"access_token":"at-new"}"#,
    );
    let mut again = flow(r#"Bearer error="invalid_token""#, signed_in());
    net.run(&mut again, approve(None));
    assert_eq!(again.outcome(), Some(&Ok(())));
    assert!(
        !net.urls()
            .iter()
            .any(|u| u.starts_with("https://as.example")),
        "{:?}",
        net.urls()
    );
    assert_eq!(again.state().client.as_ref().unwrap().client_id, "new-1");
    assert_eq!(net.authorizations.len(), 1);
}

#[test]
fn stored_tokens_without_server_metadata_are_refreshed_after_discovery() {
    // What a store keeps: the client and the tokens, not the server's metadata.
    let mut stored = signed_in();
    stored.server = None;
    let mut net = Net::new();
    let mut again = flow(r#"Bearer error="invalid_token""#, stored);
    net.run(&mut again, approve(None));
    assert_eq!(again.outcome(), Some(&Ok(())));
    assert!(net.authorizations.is_empty(), "the person was asked again");
}

#[test]
fn a_configured_client_wins_over_a_stored_one_and_stays_with_its_issuer() {
    let stored = signed_in();
    let machine = ClientCredentials {
        client_id: "machine".into(),
        client_secret: Some("pw".into()),
        key: false,
        issuer: Some("https://as.example".into()),
    };
    let mut net = Net::new();
    let config = OAuthConfig::client_credentials(machine.clone());
    let mut f = flow_with(config, &challenge(), stored.clone());
    net.run(&mut f, |_| unreachable!("no person"));
    assert_eq!(f.outcome(), Some(&Ok(())));
    // machine:pw, not the stored dyn-1.
    let basic = net
        .header_of("https://as.example/token", "authorization")
        .unwrap();
    assert_eq!(basic, "Basic bWFjaGluZTpwdw==");

    // Its secret never goes to another issuer.
    let mut net = Net::new();
    let config = OAuthConfig::client_credentials(ClientCredentials {
        issuer: Some("https://corp.example".into()),
        ..machine
    });
    let mut f = flow_with(config, &challenge(), AuthState::default());
    net.run(&mut f, |_| unreachable!("no person"));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::Registration);
    assert!(!net.urls().iter().any(|u| u.ends_with("/token")));
}

#[test]
fn a_configured_scope_joins_a_step_up_and_a_refresh_keeps_the_scope_held() {
    let mut net = Net::new();
    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
    config.scope = Some("mcp:read".into());
    let mut first = flow_with(config.clone(), &challenge(), AuthState::default());
    net.run(&mut first, approve(None));
    let mut net = Net::new();
    let up = alloc::format!(
        r#"Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="{PRM}""#
    );
    let mut f = flow_with(config, &up, first.into_state());
    net.run(&mut f, approve(None));
    assert_eq!(
        param(&net.authorizations[0], "scope").as_deref(),
        Some("mcp:read mcp:admin")
    );

    // A refresh whose answer names no scope keeps the one held.
    let mut net = Net::new();
    net.route(
        "https://as.example/token",
        200,
        r#"{"access_token":"at-3"}"#,
    );
    let mut refreshed = flow(r#"Bearer error="invalid_token""#, f.into_state());
    net.run(&mut refreshed, approve(None));
    assert_eq!(refreshed.outcome(), Some(&Ok(())));
    let scope = refreshed.state().tokens.as_ref().unwrap().scope.clone();
    assert_eq!(scope.as_deref(), Some("mcp:read mcp:admin"));
}

#[test]
fn the_browser_is_not_sent_to_plain_http_and_loopback_is_an_address() {
    let mut net = Net::new();
    net.route(
        AS_META,
        200,
        &as_metadata("").replace(
            "https://as.example/authorize",
            "http://login.example/authorize",
        ),
    );
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::Authorization);
    assert!(net.authorizations.is_empty());
    for (authority, loopback) in [
        ("127.0.0.1:8080", true),
        ("127.9.9.9", true),
        ("localhost:1", true),
        ("[::1]:3000", true),
        ("127.attacker.example", false),
        ("127.0.0.1.nip.io", false),
        ("10.0.0.1", false),
    ] {
        assert_eq!(flow::is_loopback(authority), loopback, "{authority}");
    }
}

#[test]
fn step_up_authorizes_again_with_the_scope_asked_for() {
    let mut net = Net::new();
    let mut up = flow(
        &alloc::format!(
            r#"Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="{PRM}""#
        ),
        signed_in(),
    );
    net.run(&mut up, approve(None));
    assert_eq!(up.outcome(), Some(&Ok(())));
    // SEP-2350: what was held, and what was asked for.
    assert_eq!(
        param(&net.authorizations[0], "scope").as_deref(),
        Some("mcp:read mcp:write mcp:admin")
    );
    // Registered once: the same client.
    assert!(!net.urls().iter().any(|u| u.ends_with("/register")));
}

#[test]
fn client_credentials_with_a_secret_or_a_signed_assertion() {
    let mut net = Net::new();
    let client = ClientCredentials {
        client_id: "machine".into(),
        client_secret: Some("pw".into()),
        key: false,
        issuer: None,
    };
    let mut config = OAuthConfig::client_credentials(client.clone());
    config.scope = Some("mcp:read".into());
    let mut f = flow_with(config, &challenge(), AuthState::default());
    net.run(&mut f, |_| unreachable!("no person"));
    assert_eq!(f.outcome(), Some(&Ok(())));
    let sent = query_pairs(&net.body_of("https://as.example/token"));
    assert!(sent.contains(&("grant_type".into(), "client_credentials".into())));
    assert!(sent.contains(&("scope".into(), "mcp:read".into())));
    assert!(
        net.header_of("https://as.example/token", "authorization")
            .is_some()
    );

    let mut net = Net::new();
    let config = OAuthConfig::client_credentials(ClientCredentials {
        key: true,
        issuer: None,
        client_secret: None,
        ..client
    });
    let mut f = flow_with(config, &challenge(), AuthState::default());
    net.run(&mut f, |_| unreachable!("no person"));
    assert_eq!(f.outcome(), Some(&Ok(())));
    let sent = query_pairs(&net.body_of("https://as.example/token"));
    assert!(sent.contains(&(
        "client_assertion".into(),
        "jwt.machine.https://as.example".into()
    )));
    assert!(sent.contains(&(
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()
    )));
}

#[test]
fn every_wait_has_a_deadline() {
    let limits = FlowLimits::default();
    let mut f = flow(&challenge(), AuthState::default());
    let Some(AuthAction::Fetch(_)) = f.poll_action() else {
        panic!()
    };
    let deadline = f.poll_timeout().unwrap();
    assert_eq!(deadline, Instant::ZERO + limits.fetch_timeout);
    f.handle_timeout(deadline.saturating_sub(Duration::from_millis(1)));
    assert!(f.outcome().is_none(), "not before the deadline");
    f.handle_timeout(deadline);
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::ResourceMetadata);
    assert_eq!(f.poll_timeout(), None, "an ended flow waits for nothing");

    // The person's wait.
    let mut net = Net::new();
    let mut f = flow(&challenge(), AuthState::default());
    for _ in 0..3 {
        let Some(AuthAction::Fetch(r)) = f.poll_action() else {
            panic!()
        };
        let (status, body) = net
            .routes
            .get(&r.url.without_query().to_string())
            .cloned()
            .unwrap();
        f.handle_response(Instant::ZERO, r.id, status, body.as_bytes());
    }
    let Some(AuthAction::Authorize { .. }) = f.poll_action() else {
        panic!()
    };
    assert_eq!(
        f.poll_timeout(),
        Some(Instant::ZERO + limits.authorize_timeout)
    );
    f.handle_timeout(Instant::ZERO + limits.authorize_timeout);
    assert_eq!(
        f.outcome().unwrap().as_ref().unwrap_err().step,
        AuthStep::Authorization
    );
    net.seen.clear();
}

#[test]
fn redirects_errors_and_stale_answers_end_or_are_ignored() {
    let mut net = Net::new();
    net.route("https://as.example/token", 302, "");
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::Token);
    assert!(e.reason.contains("redirects are not followed"), "{e}");

    // An answer to a fetch that is not the one awaited changes nothing.
    let mut f = flow(&challenge(), AuthState::default());
    let Some(AuthAction::Fetch(r)) = f.poll_action() else {
        panic!()
    };
    f.handle_response(Instant::ZERO, FetchId(r.id.0 + 1), 200, b"{}");
    assert!(f.outcome().is_none());
    f.handle_fetch_failed(Instant::ZERO, r.id, "connection refused");
    // The document the server named cannot be read: that is the error, no guessing on.
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::ResourceMetadata);
    assert_eq!(e.reason, "connection refused");
}

#[test]
fn discovery_says_what_went_wrong_where_it_looked() {
    // A named document that is a redirect: not followed, and said so.
    let mut net = Net::new();
    net.route(PRM, 302, "");
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::ResourceMetadata);
    assert!(e.reason.contains("redirects are not followed"), "{e}");
    assert_eq!(net.seen.len(), 1);

    // Well-known locations that fail (not a plain 404) are no 2025-03-26 server.
    let mut net = Net::new();
    net.routes.remove(PRM);
    net.route(
        "https://mcp.example/.well-known/oauth-protected-resource",
        500,
        "",
    );
    let mut f = flow("Bearer", AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(
        (e.step, e.reason.as_str()),
        (AuthStep::ResourceMetadata, "HTTP 500")
    );

    // Server metadata found nowhere: the last failure is named.
    let mut net = Net::new();
    net.route(AS_META, 503, "");
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert_eq!(e.step, AuthStep::ServerMetadata);
    assert!(e.reason.contains("HTTP 503"), "{e}");
}

#[test]
fn plain_http_is_refused_for_anything_but_loopback() {
    let mut net = Net::new();
    net.route(
        PRM,
        200,
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["http://as.example"]}"#,
    );
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert!(e.reason.contains("plain http://"), "{e}");
}

#[test]
fn one_flow_makes_a_bounded_number_of_fetches() {
    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
    config.limits.max_fetches = 3;
    let mut net = Net::new();
    let mut f = flow_with(config.clone(), &challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert!(e.reason.contains("more than 3 requests"), "{e}");
    assert_eq!(net.seen.len(), 3);
    config.limits.max_fetches = 4;
    let mut net = Net::new();
    let mut f = flow_with(config, &challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    assert_eq!(f.outcome(), Some(&Ok(())));
}

#[test]
fn a_server_without_metadata_gets_the_2025_03_26_defaults() {
    let mut net = Net::new();
    net.routes.clear();
    net.route("https://mcp.example/register", 201, r#"{"client_id":"c"}"#);
    net.route("https://mcp.example/token", 200, r#"{"access_token":"t"}"#);
    let mut f = flow("Bearer", AuthState::default());
    net.run(&mut f, approve(None));
    assert_eq!(f.outcome(), Some(&Ok(())));
    assert!(net.authorizations[0].starts_with("https://mcp.example/authorize?"));
    assert_eq!(param(&net.authorizations[0], "resource"), None);
}

/// Runs `flow`'s fetches on `net` until it sends the person to authorize.
fn until_authorize(net: &mut Net, flow: &mut AuthFlow) {
    for _ in 0..16 {
        match flow.poll_action() {
            Some(AuthAction::Fetch(request)) => {
                let key = request.url.without_query().to_string();
                let (status, body) = net
                    .routes
                    .get(&key)
                    .cloned()
                    .unwrap_or((404, String::new()));
                let id = request.id;
                net.seen.push(request);
                flow.handle_response(Instant::ZERO, id, status, body.as_bytes());
            }
            Some(AuthAction::Authorize { .. }) => return,
            other => panic!("{other:?}"),
        }
    }
    panic!("never sent to authorize");
}

#[test]
fn a_registration_the_server_forgot_is_made_again() {
    // Tokens without a refresh token, from a dynamically registered client.
    let first_tokens = || {
        let mut net = Net::new();
        net.route(
            "https://as.example/token",
            200,
            r#"{"access_token":"at-1","token_type":"Bearer"}"#,
        );
        let mut first = flow(&challenge(), AuthState::default());
        net.run(&mut first, approve(None));
        assert_eq!(first.outcome(), Some(&Ok(())));
        first.into_state()
    };

    // The person never comes back from authorizing the old registration (an authorization
    // server that forgot it never redirects): the next flow registers again.
    for timed_out in [false, true] {
        let mut net = Net::new();
        let mut again = flow(&challenge(), first_tokens());
        until_authorize(&mut net, &mut again);
        assert!(!net.urls().iter().any(|u| u.ends_with("/register")));
        if timed_out {
            again.handle_timeout(Instant::ZERO + FlowLimits::default().authorize_timeout);
        } else {
            again.handle_authorization_failed("the server does not know this client");
        }
        assert_eq!(
            again.outcome().unwrap().as_ref().unwrap_err().step,
            AuthStep::Authorization
        );
        assert_eq!(again.state().client, None, "timed out: {timed_out}");
        let mut net = Net::new();
        let mut third = flow(&challenge(), again.into_state());
        net.run(&mut third, approve(None));
        assert_eq!(third.outcome(), Some(&Ok(())));
        assert!(
            net.urls()
                .contains(&"https://as.example/register".to_string())
        );
    }

    // A registration this flow made, or one the server answered for (a refusal in the
    // redirect), is kept.
    let mut net = Net::new();
    let mut fresh = flow(&challenge(), AuthState::default());
    until_authorize(&mut net, &mut fresh);
    fresh.handle_authorization_failed("closed the browser");
    assert_eq!(fresh.state().client.as_ref().unwrap().client_id, "dyn-1");
    let mut net = Net::new();
    let mut denied = flow(&challenge(), first_tokens());
    net.run(&mut denied, |url: &str| {
        let state = param(url, "state").unwrap();
        alloc::format!("http://127.0.0.1:9/cb?error=access_denied&state={state}")
    });
    assert!(denied.outcome().unwrap().is_err());
    assert_eq!(denied.state().client.as_ref().unwrap().client_id, "dyn-1");
}

#[test]
fn a_client_the_token_endpoint_does_not_know_is_registered_again() {
    let state = signed_in();
    assert!(state.tokens.as_ref().unwrap().refresh_token.is_some());

    // The refresh is refused for the client: a new registration in the same flow.
    let mut net = Net::new();
    net.route(
        "https://as.example/token",
        401,
        r#"{"error":"invalid_client"}"#,
    );
    let mut again = flow(r#"Bearer error="invalid_token""#, state.clone());
    net.run(&mut again, approve(None));
    let urls = net.urls();
    assert_eq!(urls[2], "https://as.example/token");
    assert!(
        urls.contains(&"https://as.example/register".to_string()),
        "{urls:?}"
    );
    // Refused at the code exchange too: the registration is not kept for the next flow.
    assert_eq!(
        again.outcome().unwrap().as_ref().unwrap_err().step,
        AuthStep::Token
    );
    assert_eq!(again.state().client, None);

    // Any other refusal of the refresh keeps the registration.
    let mut net = Net::new();
    net.route(
        "https://as.example/token",
        400,
        r#"{"error":"invalid_grant"}"#,
    );
    let mut again = flow(r#"Bearer error="invalid_token""#, state);
    net.run(&mut again, approve(None));
    assert!(
        !net.urls()
            .contains(&"https://as.example/register".to_string())
    );
    assert_eq!(again.state().client.as_ref().unwrap().client_id, "dyn-1");
}

#[test]
fn a_remote_server_cannot_point_the_flow_at_this_machine() {
    let mut net = Net::new();
    net.route(
        PRM,
        200,
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["http://127.0.0.1:6379"]}"#,
    );
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    let e = f.outcome().unwrap().clone().unwrap_err();
    assert!(e.reason.contains("on this machine"), "{e}");
    assert_eq!(net.seen.len(), 1, "only the resource metadata was fetched");
}

#[test]
fn a_client_pinned_to_its_issuer_is_never_used_elsewhere_even_as_stored() {
    // An earlier run used `pre` at as.example (no issuer configured then); the store kept it
    // without its secret. Now it is pinned to corp.example.
    let pre = ClientCredentials {
        client_id: "pre".into(),
        client_secret: Some("pw".into()),
        key: false,
        issuer: None,
    };
    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
    config.client = Some(pre.clone());
    let mut net = Net::new();
    let mut first = flow_with(config.clone(), &challenge(), AuthState::default());
    net.run(&mut first, approve(None));
    let mut stored = first.into_state();
    stored.server = None;
    stored.client.as_mut().unwrap().client_secret = None;
    config.client = Some(ClientCredentials {
        issuer: Some("https://corp.example".into()),
        ..pre
    });
    let mut net = Net::new();
    let mut again = flow_with(config, r#"Bearer error="invalid_token""#, stored);
    net.run(&mut again, approve(None));
    for request in &net.seen {
        // pre:pw in Basic, or the secret in the body.
        let basic = request.headers.iter().any(|(_, v)| v.contains("cHJlOnB3"));
        let body = String::from_utf8_lossy(&request.body);
        assert!(
            !basic && !body.contains("=pw"),
            "the secret went to {}",
            request.url
        );
        assert!(
            !body.contains("client_id=pre"),
            "pre was used at {}",
            request.url
        );
    }
}

#[test]
fn the_refresh_is_kept_when_the_chosen_client_is_the_one_that_holds_it() {
    // A metadata document, and a configured client besides: the document is chosen again.
    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
    config.client_metadata_url = Some("https://client.example/c.json".into());
    config.client = Some(ClientCredentials {
        client_id: "pre".into(),
        client_secret: None,
        key: false,
        issuer: None,
    });
    let mut net = Net::new();
    net.route(
        AS_META,
        200,
        &as_metadata(r#","client_id_metadata_document_supported":true"#),
    );
    let mut first = flow_with(config.clone(), &challenge(), AuthState::default());
    net.run(&mut first, approve(None));
    let mut net2 = Net::new();
    net2.route(
        AS_META,
        200,
        &as_metadata(r#","client_id_metadata_document_supported":true"#),
    );
    let mut again = flow_with(
        config,
        r#"Bearer error="invalid_token""#,
        first.into_state(),
    );
    net2.run(&mut again, approve(None));
    assert_eq!(again.outcome(), Some(&Ok(())));
    assert!(net2.authorizations.is_empty(), "the person was asked again");
}

#[test]
fn a_remote_server_cannot_send_the_browser_to_this_machine_and_scopes_are_tidy() {
    let mut net = Net::new();
    net.route(
        AS_META,
        200,
        &as_metadata("").replace(
            "https://as.example/authorize",
            "http://127.0.0.1:6379/authorize",
        ),
    );
    let mut f = flow(&challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    assert!(net.authorizations.is_empty());
    assert!(f.outcome().unwrap().is_err());

    let mut config = OAuthConfig::authorization_code("http://127.0.0.1:9/cb", "tests");
    config.scope = Some("  mcp:read  mcp:read ".into());
    let mut net = Net::new();
    let mut f = flow_with(config, &challenge(), AuthState::default());
    net.run(&mut f, approve(None));
    assert_eq!(
        param(&net.authorizations[0], "scope").as_deref(),
        Some("mcp:read")
    );
    for (authority, loopback) in [
        ("0.0.0.0:80", true),
        ("[::ffff:127.0.0.1]:1", true),
        ("[0:0:0:0:0:0:0:1]", true),
        ("localhost.:3000", true),
        ("x.localhost", true),
        ("[2001:db8::1]:443", false),
    ] {
        assert_eq!(flow::is_loopback(authority), loopback, "{authority}");
    }
}

#[test]
fn tokens_whose_client_is_gone_are_not_refreshed() {
    // A flow that dropped the registration (the server forgot it) leaves tokens and no client.
    let mut state = signed_in();
    state.client = None;
    let mut net = Net::new();
    let mut again = flow(r#"Bearer error="invalid_token""#, state);
    net.run(&mut again, approve(None));
    assert_eq!(again.outcome(), Some(&Ok(())));
    assert!(
        net.urls()
            .contains(&"https://as.example/register".to_string()),
        "{:?}",
        net.urls()
    );
}
