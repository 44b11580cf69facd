//! [`JwtVerifier`]: JWT access tokens (RFC 9068), checked against the issuer's published keys.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::claims::{self, Claims, Expected, MAX_CLOCK_SKEW};
use super::fetch::Fetcher;
use super::jwks::{JwksStats, KeyCache, Missing, Source};
use super::url::HttpUrl;
use super::{ConfigError, Verdict, Verifier};

/// The algorithms accepted unless configured otherwise: every asymmetric one the verifier
/// supports. Never `none`, never HMAC (whose key would be the public key, known to all).
const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Tokens longer than this are refused unread.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Verifies JWT access tokens (RFC 9068) issued by one authorization server for one resource.
///
/// The issuer's signing keys come from its `jwks_uri`, found in its metadata (RFC 8414, then
/// OpenID Connect Discovery; the document's `issuer` must be the configured one) unless given,
/// and are kept by a cache task that the verifier owns, started by the first verification and
/// cancelled when the verifier (with the server that holds it) is dropped (see
/// [`JwtVerifier::stats`]). A token is
/// granted when:
///
/// - its header's `alg` is on the allow-list (by default RS256, RS384, RS512, PS256, PS384,
///   PS512, ES256, ES384, EdDSA: never `none`, never HMAC), and the key its `kid` names allows
///   that algorithm (a key whose `use` is not `sig`, or whose `alg` differs, is never used);
/// - its `typ` is `at+jwt` or `application/at+jwt` (RFC 9068), or `JWT` or absent: many
///   authorization servers, oidc-provider among them, issue access tokens typed `JWT` or
///   untyped. What keeps an ID token or another service's token out is the audience check,
///   which is always on. Any other `typ` (`dpop+jwt`, `logout+jwt`, ...) is refused, and so
///   is a `crit` header;
/// - its signature verifies;
/// - `iss` is exactly the issuer, `aud` contains the resource (RFC 8707), `exp` is present and
///   not past, `nbf` and `iat` are not in the future, each within the clock skew (60 s by
///   default, at most 5 minutes).
///
/// The grant's principal is `sub`, or `client_id` for a token without one (client
/// credentials); its scopes are `scope` (space-separated) or `scp` (an array); it ends with
/// the token (`exp`). A refused token gets [`Verdict::Refused`] with a short reason; a token
/// whose key is not cached while the key set cannot be fetched gets [`Verdict::Unavailable`].
///
/// # Examples
///
/// ```no_run
/// use mcpwire_smol::auth::{JwtVerifier, ResourceServer};
/// use mcpwire_smol::{App, Server};
///
/// let issuer = "https://auth.example.com";
/// let resource = ResourceServer::new("https://mcp.example.com/mcp")?
///     .authorization_server(issuer)?
///     .require_scope("mcp");
/// let verifier = JwtVerifier::builder(issuer, resource.resource())
///     .clock_skew(std::time::Duration::from_secs(30))
///     .build()?;
/// let server = Server::new(App::builder("protected", "1").build()).protect(resource, verifier);
/// # let _ = server;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// Started by the first verification: building a verifier neither spawns nor fetches.
    cache: OnceLock<KeyCache>,
    source: Source,
    algorithms: Vec<Algorithm>,
    expected: Expected,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.inner.expected.issuer)
            .field("audience", &self.inner.expected.audience)
            .field("algorithms", &self.inner.algorithms)
            .finish_non_exhaustive()
    }
}

/// Configures a [`JwtVerifier`]; made by [`JwtVerifier::builder`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use mcpwire_smol::auth::JwtVerifier;
///
/// let verifier = JwtVerifier::builder("https://auth.example.com", "https://mcp.example.com/mcp")
///     .jwks_uri("https://auth.example.com/keys")
///     .algorithms(["ES256", "EdDSA"])
///     .refetch_interval(Duration::from_secs(30))
///     .ca_file("/etc/ssl/private-ca.pem")
///     .build()?;
/// # let _ = verifier;
/// # Ok::<(), mcpwire_smol::auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct JwtVerifierBuilder {
    issuer: String,
    audience: String,
    jwks_uri: Option<String>,
    algorithms: Option<Vec<String>>,
    clock_skew: Duration,
    refetch_interval: Duration,
    refresh_interval: Duration,
    fetch_timeout: Duration,
    ca_file: Option<PathBuf>,
}

impl JwtVerifier {
    /// A verifier of tokens that `issuer` (its exact issuer URL) issues for `resource` (the
    /// canonical URI of the protected resource, [`ResourceServer::resource`]).
    ///
    /// [`ResourceServer::resource`]: super::ResourceServer::resource
    pub fn builder(issuer: &str, resource: &str) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuer: issuer.to_string(),
            audience: resource.to_string(),
            jwks_uri: None,
            algorithms: None,
            clock_skew: Duration::from_secs(60),
            refetch_interval: Duration::from_secs(60),
            refresh_interval: Duration::from_secs(3600),
            fetch_timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }

    /// What the key cache has done: fetches, failures, keys held, its task (none before the
    /// first verification).
    #[must_use]
    pub fn stats(&self) -> JwksStats {
        self.inner
            .cache
            .get()
            .map(KeyCache::stats)
            .unwrap_or_default()
    }

    /// The key cache, started on first use.
    fn cache(&self) -> &KeyCache {
        self.inner
            .cache
            .get_or_init(|| KeyCache::start(self.inner.source.clone()))
    }

    /// Verifies `token` now.
    async fn check(&self, token: &str) -> Verdict {
        match self.check_at(token, unix_now).await {
            Ok(grant) => Verdict::Granted(grant),
            Err(Missing::Refused(why)) => Verdict::Refused(why.into()),
            Err(Missing::Unavailable) => Verdict::Unavailable,
        }
    }

    /// Verifies `token`, reading the time with `now` once its key is at hand: what a key
    /// fetch took is not left out of the grant's lifetime.
    async fn check_at(&self, token: &str, now: fn() -> f64) -> Result<super::Grant, Missing> {
        let inner = &self.inner;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Missing::Refused("token too large"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| Missing::Refused("malformed token"))?;
        if !inner.algorithms.contains(&header.alg) {
            return Err(Missing::Refused("algorithm not allowed"));
        }
        let typ_ok = header.typ.as_deref().is_none_or(|typ| {
            ["at+jwt", "application/at+jwt", "JWT"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(typ))
        });
        if !typ_ok {
            return Err(Missing::Refused("not an access token (typ)"));
        }
        if header.crit.is_some() {
            return Err(Missing::Refused("unsupported critical header"));
        }
        let key = self.cache().key(header.kid.as_deref(), header.alg).await?;
        // The library checks the signature only: every claim is checked below, at `now`.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return Err(Missing::Refused(match e.kind() {
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidAlgorithm => "algorithm not allowed",
                    _ => "malformed token",
                }));
            }
        };
        claims::check(claims, now(), &inner.expected).map_err(Missing::Refused)
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Verifier for JwtVerifier {
    fn verify(&self, token: String) -> Pin<Box<dyn Future<Output = Verdict> + Send>> {
        let this = self.clone();
        Box::pin(async move { this.check(&token).await })
    }
}

impl JwtVerifierBuilder {
    /// Fetches the keys from `uri` rather than from the `jwks_uri` of the issuer's metadata.
    pub fn jwks_uri(mut self, uri: &str) -> JwtVerifierBuilder {
        self.jwks_uri = Some(uri.to_string());
        self
    }

    /// Accepts only these algorithms (JOSE names: `RS256`, `PS256`, `ES256`, `EdDSA`, ...).
    /// `none` and the HMAC algorithms are configuration errors.
    pub fn algorithms<S: AsRef<str>>(
        mut self,
        algorithms: impl IntoIterator<Item = S>,
    ) -> JwtVerifierBuilder {
        self.algorithms = Some(
            algorithms
                .into_iter()
                .map(|a| a.as_ref().to_string())
                .collect(),
        );
        self
    }

    /// The clock difference tolerated for `exp`, `nbf` and `iat` (60 s by default; at most 5
    /// minutes, which larger values become).
    pub fn clock_skew(mut self, skew: Duration) -> JwtVerifierBuilder {
        self.clock_skew = skew.min(MAX_CLOCK_SKEW);
        self
    }

    /// How soon after a fetch a token with an unknown `kid` may cause another (60 s by
    /// default, at least 1 s): what bounds the fetches a flood of made-up `kid`s causes.
    pub fn refetch_interval(mut self, interval: Duration) -> JwtVerifierBuilder {
        self.refetch_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// How often the key set is fetched again with no token asking (an hour by default, at
    /// least the refetch interval): how long a key the server withdrew stays trusted.
    pub fn refresh_interval(mut self, interval: Duration) -> JwtVerifierBuilder {
        self.refresh_interval = interval;
        self
    }

    /// The deadline of each document fetch (5 s by default).
    pub fn fetch_timeout(mut self, timeout: Duration) -> JwtVerifierBuilder {
        self.fetch_timeout = timeout;
        self
    }

    /// Trusts the certificates of the PEM file at `path` too, beside Mozilla's roots (a
    /// private CA, a test's).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> JwtVerifierBuilder {
        self.ca_file = Some(path.into());
        self
    }

    /// The verifier. Nothing is fetched yet: its key cache starts with the first
    /// verification, and ends when the last clone of the verifier is dropped.
    ///
    /// # Errors
    ///
    /// When the issuer, the resource or the key set URL is not `https://` (or `http://` on a
    /// loopback host), when an algorithm is not allowed, or when the CA file cannot be read.
    pub fn build(self) -> Result<JwtVerifier, ConfigError> {
        let issuer = HttpUrl::parse(&self.issuer, "the issuer")?;
        if self.issuer.contains('?') {
            return Err(ConfigError::new(format!(
                "the issuer {:?} has a query",
                self.issuer
            )));
        }
        HttpUrl::parse(&self.audience, "the resource")?;
        let jwks_uri = match &self.jwks_uri {
            Some(uri) => Some(HttpUrl::parse(uri, "the key set URL")?),
            None => None,
        };
        let algorithms = match &self.algorithms {
            None => DEFAULT_ALGORITHMS.to_vec(),
            Some(names) => {
                let mut algorithms = Vec::new();
                for name in names {
                    let alg = name
                        .parse::<Algorithm>()
                        .ok()
                        .filter(|a| DEFAULT_ALGORITHMS.contains(a))
                        .ok_or_else(|| {
                            ConfigError::new(format!(
                                "the algorithm {name:?} is not allowed: one of RS256, RS384, \
                                 RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                            ))
                        })?;
                    algorithms.push(alg);
                }
                if algorithms.is_empty() {
                    return Err(ConfigError::new("no algorithm is allowed"));
                }
                algorithms
            }
        };
        let fetcher = Fetcher::new(self.ca_file.as_deref(), self.fetch_timeout)?;
        let source = Source {
            fetcher,
            issuer,
            jwks_uri,
            refetch_interval: self.refetch_interval,
            refresh_interval: self.refresh_interval.max(self.refetch_interval),
        };
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                cache: OnceLock::new(),
                source,
                algorithms,
                expected: Expected {
                    issuer: Some(self.issuer),
                    issuer_required: true,
                    audience: self.audience,
                    audience_required: true,
                    expiry_required: true,
                    skew: self.clock_skew,
                },
            }),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
