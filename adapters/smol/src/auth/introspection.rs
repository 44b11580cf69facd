//! [`Introspection`]: opaque (or any) tokens, verified by asking the authorization server
//! (RFC 7662).

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;

use super::claims::{self, Claims, Expected, MAX_CLOCK_SKEW};
use super::fetch::Fetcher;
use super::url::HttpUrl;
use super::{ConfigError, Verdict, Verifier};

/// The largest introspection answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Tokens longer than this are refused without asking.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Verifies tokens by introspection (RFC 7662): each token the engine has not seen is posted to
/// the authorization server's introspection endpoint, with the resource server's client
/// credentials (`client_secret_basic`).
///
/// The answer grants the token when it is `active`, its `exp` (if any) is not past and its
/// `nbf` (if any) not in the future (within the clock skew), its `iss` (if any) is the
/// configured issuer, and its `aud` contains the resource. An answer without `aud` is refused
/// unless [`IntrospectionBuilder::accept_missing_audience`] says otherwise: without it nothing
/// shows that the token was issued for this resource rather than for another service (RFC
/// 8707). The principal is `sub`, or `client_id` without one; the scopes are `scope`.
///
/// There is no cache here: the engine keeps each grant by the token's hash until the token's
/// `exp`, and a grant whose answer has no `exp` for `Timeouts::grant_cache` only (60 s by
/// default), so a revoked token stops working within that bound. An endpoint that cannot be
/// reached, answers with an error status, or refuses the client's credentials makes the
/// verdict [`Verdict::Unavailable`] (logged), never a refusal of a token it did not judge.
///
/// # Examples
///
/// ```no_run
/// use mcpwire_smol::auth::{Introspection, ResourceServer};
/// use mcpwire_smol::{App, Server};
///
/// let resource = ResourceServer::new("https://mcp.example.com/mcp")?
///     .authorization_server("https://auth.example.com")?;
/// let verifier = Introspection::builder(
///     "https://auth.example.com/token/introspection",
///     resource.resource(),
/// )
/// .client_secret_basic("mcp-server", "s3cret")
/// .issuer("https://auth.example.com")
/// .build()?;
/// let server = Server::new(App::builder("protected", "1").build()).protect(resource, verifier);
/// # let _ = server;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Introspection {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: HttpUrl,
    fetcher: Fetcher,
    /// `Basic ...`, when the client authenticates.
    authorization: Option<String>,
    expected: Expected,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.inner.endpoint)
            .field("audience", &self.inner.expected.audience)
            .finish_non_exhaustive()
    }
}

/// Configures an [`Introspection`] verifier; made by [`Introspection::builder`].
///
/// # Examples
///
/// ```no_run
/// use mcpwire_smol::auth::Introspection;
///
/// let verifier = Introspection::builder("https://auth.example.com/introspect", "https://mcp.example.com/mcp")
///     .client_secret_basic("mcp-server", "s3cret")
///     .accept_missing_audience()
///     .build()?;
/// # let _ = verifier;
/// # Ok::<(), mcpwire_smol::auth::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct IntrospectionBuilder {
    endpoint: String,
    audience: String,
    client: Option<(String, String)>,
    issuer: Option<String>,
    audience_required: bool,
    clock_skew: Duration,
    timeout: Duration,
    ca_file: Option<PathBuf>,
}

impl fmt::Debug for IntrospectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionBuilder")
            .field("endpoint", &self.endpoint)
            .field("audience", &self.audience)
            .field("client", &self.client.as_ref().map(|(id, _)| id))
            .finish_non_exhaustive()
    }
}

/// An introspection answer (RFC 7662 §2.2).
#[derive(Deserialize)]
struct Answer {
    active: bool,
    #[serde(flatten)]
    claims: Claims,
}

impl Introspection {
    /// A verifier that asks `endpoint` about tokens, accepting those issued for `resource` (the
    /// canonical URI of the protected resource).
    pub fn builder(endpoint: &str, resource: &str) -> IntrospectionBuilder {
        IntrospectionBuilder {
            endpoint: endpoint.to_string(),
            audience: resource.to_string(),
            client: None,
            issuer: None,
            audience_required: true,
            clock_skew: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }

    async fn check(&self, token: &str) -> Verdict {
        let inner = &self.inner;
        if token.len() > MAX_TOKEN_BYTES {
            return Verdict::Refused("token too large".into());
        }
        let mut form = String::from("token=");
        form_encode(token, &mut form);
        form.push_str("&token_type_hint=access_token");
        let headers: Vec<(&str, &str)> = inner
            .authorization
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        let endpoint = &inner.endpoint;
        let document = match inner
            .fetcher
            .post_form(endpoint, &headers, form.as_bytes(), MAX_ANSWER_BYTES)
            .await
        {
            Ok(document) => document,
            Err(e) => {
                tracing::warn!(%endpoint, "token introspection failed: {e}");
                return Verdict::Unavailable;
            }
        };
        if document.status == 400 && refuses_the_token(&document.body) {
            // The endpoint judged the token itself (oidc-provider answers a JWT issued for
            // another resource so): the client should get another token, not retry this one.
            return Verdict::Refused("the authorization server does not know this token".into());
        }
        if document.status != 200 {
            // 401 or 403: the endpoint refused this server's credentials, not the token.
            tracing::warn!(%endpoint, status = document.status, "token introspection failed");
            return Verdict::Unavailable;
        }
        let answer: Answer = match serde_json::from_slice(&document.body) {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(%endpoint, "token introspection answered no valid answer: {e}");
                return Verdict::Unavailable;
            }
        };
        if !answer.active {
            return Verdict::Refused("token is not active".into());
        }
        match claims::check(answer.claims, unix_now(), &inner.expected) {
            Ok(grant) => Verdict::Granted(grant),
            Err(why) => Verdict::Refused(why.into()),
        }
    }
}

impl Verifier for Introspection {
    fn verify(&self, token: String) -> Pin<Box<dyn Future<Output = Verdict> + Send>> {
        let this = self.clone();
        Box::pin(async move { this.check(&token).await })
    }
}

impl IntrospectionBuilder {
    /// Authenticates to the endpoint as `client_id` with `secret` (`client_secret_basic`, RFC
    /// 6749 §2.3.1: both form-encoded, then in HTTP Basic).
    pub fn client_secret_basic(mut self, client_id: &str, secret: &str) -> IntrospectionBuilder {
        self.client = Some((client_id.to_string(), secret.to_string()));
        self
    }

    /// The issuer an answer's `iss`, when present, must be.
    pub fn issuer(mut self, issuer: &str) -> IntrospectionBuilder {
        self.issuer = Some(issuer.to_string());
        self
    }

    /// Grants tokens whose answer has no `aud` (an `aud` that is present is still checked).
    /// For authorization servers that issue tokens for this resource only and do not say so;
    /// anywhere else a token for another service would pass.
    pub fn accept_missing_audience(mut self) -> IntrospectionBuilder {
        self.audience_required = false;
        self
    }

    /// The clock difference tolerated for `exp` and `nbf` (60 s by default, at most 5 minutes).
    pub fn clock_skew(mut self, skew: Duration) -> IntrospectionBuilder {
        self.clock_skew = skew.min(MAX_CLOCK_SKEW);
        self
    }

    /// The deadline of each introspection request (5 s by default).
    pub fn timeout(mut self, timeout: Duration) -> IntrospectionBuilder {
        self.timeout = timeout;
        self
    }

    /// Trusts the certificates of the PEM file at `path` too, beside Mozilla's roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> IntrospectionBuilder {
        self.ca_file = Some(path.into());
        self
    }

    /// The verifier.
    ///
    /// # Errors
    ///
    /// When the endpoint, the resource or the issuer is not `https://` (or `http://` on a
    /// loopback host), or the CA file cannot be read.
    pub fn build(self) -> Result<Introspection, ConfigError> {
        let endpoint = HttpUrl::parse(&self.endpoint, "the introspection endpoint")?;
        HttpUrl::parse(&self.audience, "the resource")?;
        if let Some(issuer) = &self.issuer {
            HttpUrl::parse(issuer, "the issuer")?;
        }
        let authorization = self.client.as_ref().map(|(id, secret)| {
            let mut pair = String::new();
            form_encode(id, &mut pair);
            pair.push(':');
            form_encode(secret, &mut pair);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Ok(Introspection {
            inner: Arc::new(Inner {
                endpoint,
                fetcher: Fetcher::new(self.ca_file.as_deref(), self.timeout)?,
                authorization,
                expected: Expected {
                    issuer: self.issuer,
                    issuer_required: false,
                    audience: self.audience,
                    audience_required: self.audience_required,
                    expiry_required: false,
                    skew: self.clock_skew,
                },
            }),
        })
    }
}

/// Appends `value` form-urlencoded (`application/x-www-form-urlencoded`).
fn form_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whether an error answer is about the token rather than the request or this client: RFC 7009
/// names `unsupported_token_type` for a token the server cannot introspect, and some servers
/// answer `invalid_token`.
fn refuses_the_token(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct ErrorAnswer<'a> {
        #[serde(borrow)]
        error: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<ErrorAnswer<'_>>(body)
        .is_ok_and(|e| matches!(&*e.error, "unsupported_token_type" | "invalid_token"))
}

#[cfg(test)]
mod tests {
    use super::super::testing::Responder;
    use super::*;
    use serde_json::json;

    const RESOURCE: &str = "https://mcp.example/mcp";

    fn now() -> u64 {
        unix_now() as u64
    }

    fn verifier(responder: &Responder) -> Introspection {
        Introspection::builder(&format!("{}/introspect", responder.base()), RESOURCE)
            .client_secret_basic("mcp server", "p@ss:word")
            .issuer("https://as.example")
            .build()
            .unwrap()
    }

    #[test]
    fn an_active_token_for_this_resource_is_granted() {
        smol::block_on(async {
            let responder = Responder::start().await;
            responder.serve_json(
                "/introspect",
                &json!({"active": true, "sub": "ada", "aud": [RESOURCE], "scope": "mcp:tools",
                        "iss": "https://as.example", "exp": now() + 120, "client_id": "c"}),
            );
            let v = verifier(&responder);
            let Verdict::Granted(grant) = v.check("opaque token/+=").await else {
                panic!("granted");
            };
            assert_eq!(
                (grant.principal.as_str(), grant.scopes.as_slice()),
                ("ada", &["mcp:tools".to_string()][..])
            );
            assert!(grant.valid_for.unwrap().as_millis() <= 120_000);
            let request = responder.requests().pop().unwrap();
            assert!(
                request.starts_with("POST /introspect HTTP/1.1\r\n"),
                "{request}"
            );
            // client_secret_basic: form-encoded, then base64.
            let basic =
                base64::engine::general_purpose::STANDARD.encode("mcp+server:p%40ss%3Aword");
            assert!(
                request.contains(&format!("authorization: Basic {basic}\r\n")),
                "{request}"
            );
            assert!(
                request
                    .ends_with("\r\n\r\ntoken=opaque+token%2F%2B%3D&token_type_hint=access_token"),
                "{request}"
            );
        });
    }

    #[test]
    fn an_answer_without_expiry_is_granted_for_the_engine_to_bound() {
        smol::block_on(async {
            let responder = Responder::start().await;
            responder.serve_json(
                "/introspect",
                &json!({"active": true, "client_id": "robot", "aud": RESOURCE}),
            );
            let Verdict::Granted(grant) = verifier(&responder).check("t").await else {
                panic!("granted");
            };
            assert_eq!(grant.principal, "robot");
            // No expiry: the engine keeps it for `Timeouts::grant_cache` at most.
            assert_eq!(grant.valid_for, None);
        });
    }

    #[test]
    fn inactive_foreign_and_expired_tokens_are_refused() {
        smol::block_on(async {
            let responder = Responder::start().await;
            let v = verifier(&responder);
            let cases = [
                (json!({"active": false}), "token is not active"),
                (
                    json!({"active": true, "sub": "a", "aud": "https://other.example"}),
                    "not issued for this resource",
                ),
                (json!({"active": true, "sub": "a"}), "no audience"),
                (
                    json!({"active": true, "sub": "a", "aud": RESOURCE, "iss": "https://evil.example"}),
                    "wrong issuer",
                ),
                (
                    json!({"active": true, "sub": "a", "aud": RESOURCE, "exp": now() - 120}),
                    "expired",
                ),
                (
                    json!({"active": true, "sub": "a", "aud": RESOURCE, "nbf": now() + 600}),
                    "not yet valid",
                ),
            ];
            for (answer, reason) in cases {
                responder.serve_json("/introspect", &answer);
                assert_eq!(
                    v.check("t").await,
                    Verdict::Refused(reason.into()),
                    "{answer}"
                );
            }
            // The explicit exception for a missing audience; a present one is still checked.
            let lenient =
                Introspection::builder(&format!("{}/introspect", responder.base()), RESOURCE)
                    .accept_missing_audience()
                    .build()
                    .unwrap();
            responder.serve_json("/introspect", &json!({"active": true, "sub": "a"}));
            assert!(matches!(lenient.check("t").await, Verdict::Granted(_)));
            responder.serve_json(
                "/introspect",
                &json!({"active": true, "sub": "a", "aud": "x"}),
            );
            assert!(matches!(lenient.check("t").await, Verdict::Refused(_)));
        });
    }

    #[test]
    fn an_endpoint_that_fails_is_unavailable_not_a_refusal() {
        smol::block_on(async {
            let responder = Responder::start().await;
            let v = verifier(&responder);
            // A 400 that names the token is the token's fault; any other 400 is not.
            responder.serve(
                "/introspect",
                400,
                "application/json",
                "{\"error\":\"unsupported_token_type\"}",
            );
            assert!(matches!(v.check("t").await, Verdict::Refused(_)));
            responder.serve(
                "/introspect",
                400,
                "application/json",
                "{\"error\":\"invalid_request\"}",
            );
            assert_eq!(v.check("t").await, Verdict::Unavailable);
            responder.serve(
                "/introspect",
                401,
                "application/json",
                "{\"error\":\"invalid_client\"}",
            );
            assert_eq!(v.check("t").await, Verdict::Unavailable);
            responder.serve(
                "/introspect",
                200,
                "application/json",
                "{\"sub\": \"no active\"}",
            );
            assert_eq!(v.check("t").await, Verdict::Unavailable);
            responder.down(true);
            assert_eq!(v.check("t").await, Verdict::Unavailable);
            responder.down(false);
            responder.stall("/introspect");
            let slow =
                Introspection::builder(&format!("{}/introspect", responder.base()), RESOURCE)
                    .timeout(Duration::from_millis(200))
                    .build()
                    .unwrap();
            assert_eq!(slow.check("t").await, Verdict::Unavailable);
        });
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        let error = Introspection::builder("http://as.example/introspect", RESOURCE)
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("loopback"), "{error}");
        assert!(
            Introspection::builder("https://as.example/introspect", RESOURCE)
                .build()
                .is_ok()
        );
    }
}
