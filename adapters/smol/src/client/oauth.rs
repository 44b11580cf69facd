//! The client's OAuth: runs `mcpwire-core`'s sans-IO [`AuthFlow`] with real fetches, the
//! application's authorization handler and its signing key, and keeps tokens in a
//! [`TokenStore`].
//!
//! A flow is one task, owned by the client's driver: it starts when the server asks for
//! credentials ([`ClientEvent::AuthorizationRequired`](mcpwire_core::client::ClientEvent)),
//! ends with a token or an error naming its step, and is dropped (its fetch and its
//! authorization handler with it) when the client closes. Every fetch has the flow's deadline
//! and a body cap; no redirect is followed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::FutureExt;
use futures_rustls::rustls::ClientConfig as TlsConfig;
use mcpwire_core::client::auth::{AuthAction, AuthFlow, FetchRequest};
pub use mcpwire_core::client::auth::{
    AuthError, AuthState, AuthStep, ClientCredentials, FlowLimits, Grant, OAuthConfig,
    RegisteredClient, Tokens, query_pairs,
};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

use crate::auth::fetch::Fetcher;
use crate::auth::url::HttpUrl;

use crate::clock::Clock;

pub use super::token_file::FileStore;

/// What the application's authorization handler returns: the URL the browser was redirected
/// to (or its query), or why there is none.
pub type AuthorizeFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
pub(crate) type Authorize = Arc<dyn Fn(String) -> AuthorizeFuture + Send + Sync>;

/// What is kept between runs: the registered client and its tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAuth {
    /// The client as registered.
    #[serde(default)]
    pub client: Option<RegisteredClient>,
    /// The tokens.
    #[serde(default)]
    pub tokens: Option<Tokens>,
}

/// Where tokens are kept: [`MemoryStore`] by default, or [`FileStore`], a file only its user
/// can read (what `mcpwire call` uses).
pub trait TokenStore: Send + Sync {
    /// What was saved, if anything.
    fn load(&self) -> Option<StoredAuth>;
    /// Keeps `auth` (after every flow that got tokens).
    fn save(&self, auth: &StoredAuth);
}

/// Tokens in memory, for the client's life.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<Option<StoredAuth>>);

impl TokenStore for MemoryStore {
    fn load(&self) -> Option<StoredAuth> {
        self.0.lock().ok()?.clone()
    }

    fn save(&self, auth: &StoredAuth) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some(auth.clone());
        }
    }
}

/// A key that signs client assertions (`private_key_jwt`, RFC 7523).
#[derive(Clone)]
pub(crate) struct ClientKey {
    key: Arc<jsonwebtoken::EncodingKey>,
    algorithm: jsonwebtoken::Algorithm,
}

impl ClientKey {
    /// `pem` (PKCS#8: an EC key for `ES256`/`ES384`, RSA for `RS*`/`PS*`) for `algorithm`.
    pub(crate) fn from_pem(pem: &[u8], algorithm: &str) -> Result<ClientKey, String> {
        use jsonwebtoken::{Algorithm, EncodingKey};
        let algorithm: Algorithm = algorithm
            .parse()
            .map_err(|_| format!("unknown signing algorithm {algorithm:?}"))?;
        let der = crate::tls::private_key(pem, None).map_err(|e| format!("the client key: {e}"))?;
        use futures_rustls::rustls::pki_types::PrivateKeyDer;
        // The RustCrypto signers read EC and Ed25519 keys as PKCS#8, RSA keys as PKCS#1.
        let key = match (algorithm, &der) {
            (Algorithm::ES256 | Algorithm::ES384, PrivateKeyDer::Pkcs8(k)) => {
                EncodingKey::from_ec_der(k.secret_pkcs8_der())
            }
            (Algorithm::EdDSA, PrivateKeyDer::Pkcs8(k)) => {
                EncodingKey::from_ed_der(k.secret_pkcs8_der())
            }
            (
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512,
                PrivateKeyDer::Pkcs1(k),
            ) => EncodingKey::from_rsa_der(k.secret_pkcs1_der()),
            _ => {
                return Err(format!(
                    "a {algorithm:?} key must be PKCS#8 (BEGIN PRIVATE KEY) for EC and Ed25519, PKCS#1 (BEGIN RSA PRIVATE KEY) for RSA"
                ));
            }
        };
        // Sign once now: a key that cannot sign fails the builder, not a flow later.
        let probe = ClientKey {
            key: Arc::new(key),
            algorithm,
        };
        probe.sign("probe", "probe")?;
        Ok(ClientKey {
            key: probe.key,
            algorithm,
        })
    }

    /// An assertion for `client_id` to `audience`, valid for five minutes.
    fn sign(&self, client_id: &str, audience: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| e.to_string())?;
        let jti: String = jti.iter().map(|b| format!("{b:02x}")).collect();
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "jti": jti,
        });
        let header = jsonwebtoken::Header::new(self.algorithm);
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }
}

/// A client's OAuth: its configuration and what runs a flow.
#[derive(Clone)]
pub(crate) struct OAuth {
    pub(crate) config: OAuthConfig,
    pub(crate) authorize: Option<Authorize>,
    pub(crate) key: Option<ClientKey>,
    pub(crate) store: Arc<dyn TokenStore>,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("config", &self.config)
            .field("authorize", &self.authorize.is_some())
            .field("key", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// What the store holds, as a flow's starting state (read off the executor's threads: a
    /// store may read a file).
    pub(crate) async fn stored_state(&self) -> AuthState {
        let store = self.store.clone();
        let stored = smol::unblock(move || store.load())
            .await
            .unwrap_or_default();
        AuthState {
            client: stored.client,
            tokens: stored.tokens,
            server: None,
        }
    }

    /// One flow, to its end: the new state, and the `Authorization` value or the error.
    pub(crate) async fn run(
        &self,
        server_url: &str,
        challenge: &str,
        state: AuthState,
        tls: Arc<TlsConfig>,
    ) -> (AuthState, Result<String, AuthError>) {
        let clock = Clock::start();
        let mut seed = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut seed) {
            let error = AuthError {
                step: AuthStep::Authorization,
                reason: format!("no randomness: {e}"),
            };
            return (state, Err(error));
        }
        let mut flow = match AuthFlow::new(
            self.config.clone(),
            server_url,
            challenge,
            state.clone(),
            clock.now(),
            seed,
        ) {
            Ok(flow) => flow,
            Err(error) => return (state, Err(error)),
        };
        let fetch_timeout = Duration::from_millis(self.config.limits.fetch_timeout.as_millis());
        let fetcher = Fetcher::with_tls(tls, fetch_timeout);
        loop {
            if let Some(outcome) = flow.outcome().cloned() {
                let state = flow.into_state();
                return match outcome {
                    Ok(()) => {
                        self.keep(StoredAuth {
                            client: state.client.clone(),
                            tokens: state.tokens.clone(),
                        })
                        .await;
                        let header = state.authorization().unwrap_or_default();
                        (state, Ok(header))
                    }
                    Err(error) => {
                        // A registration the server forgot, dropped by the flow, must not
                        // come back with the next client: the client is kept as it is now,
                        // the tokens as they were (a failed step-up leaves the held ones good).
                        let store = self.store.clone();
                        let stored = smol::unblock(move || store.load())
                            .await
                            .unwrap_or_default();
                        if stored.client != state.client {
                            self.keep(StoredAuth {
                                client: state.client.clone(),
                                tokens: stored.tokens,
                            })
                            .await;
                        }
                        (state, Err(error))
                    }
                };
            }
            let Some(action) = flow.poll_action() else {
                // Waiting with nothing to do cannot happen (every wait is an action's), but
                // were it to, the deadline still ends it.
                self.wait_out(&clock, &mut flow).await;
                continue;
            };
            let deadline = flow.poll_timeout();
            match action {
                AuthAction::Fetch(request) => {
                    let id = request.id;
                    let answer = async { Some(fetch(&fetcher, &request).await) }
                        .or(async {
                            sleep_until(clock, deadline).await;
                            None
                        })
                        .await;
                    let now = clock.now();
                    match answer {
                        Some(Ok((status, body))) => flow.handle_response(now, id, status, &body),
                        Some(Err(why)) => flow.handle_fetch_failed(now, id, &why),
                        None => flow.handle_timeout(now),
                    }
                }
                AuthAction::Authorize { url } => {
                    let Some(authorize) = self.authorize.clone() else {
                        flow.handle_authorization_failed(
                            "a person must authorize, and the client has no authorization handler (ClientBuilder::on_authorize)",
                        );
                        continue;
                    };
                    let answer = async { Some(authorize(url).await) }
                        .or(async {
                            sleep_until(clock, deadline).await;
                            None
                        })
                        .await;
                    match answer {
                        Some(Ok(redirect)) => flow.handle_redirect(clock.now(), &redirect),
                        Some(Err(why)) => flow.handle_authorization_failed(&why),
                        None => flow.handle_timeout(clock.now()),
                    }
                }
                AuthAction::SignAssertion {
                    client_id,
                    audience,
                    ..
                } => {
                    let signed = match &self.key {
                        Some(key) => key.sign(&client_id, &audience),
                        None => Err("no client key to sign the assertion with".into()),
                    };
                    flow.handle_assertion(clock.now(), signed.as_deref().map_err(String::as_str));
                }
            }
        }
    }

    /// Saves `auth` off the executor's threads: a store may write and sync a file. A
    /// configured client's secret is the application's to keep, not the store's.
    async fn keep(&self, mut auth: StoredAuth) {
        if let (Some(client), Some(configured)) = (auth.client.as_mut(), &self.config.client) {
            if client.client_id == configured.client_id {
                client.client_secret = None;
            }
        }
        let store = self.store.clone();
        smol::unblock(move || store.save(&auth)).await;
    }

    async fn wait_out(&self, clock: &Clock, flow: &mut AuthFlow) {
        match flow.poll_timeout() {
            Some(at) => {
                async_io::Timer::at(clock.to_std(at)).await;
                flow.handle_timeout(clock.now());
            }
            None => flow.handle_authorization_failed("the flow stalled"),
        }
    }
}

/// The `Authorization` value of `state`'s tokens if they were issued for `server_url`.
pub(crate) fn authorization_for(state: &AuthState, server_url: &str) -> Option<String> {
    let resource = state.tokens.as_ref()?.resource.clone()?;
    let covers = mcpwire_core::client::auth::AuthUrl::parse(&resource)
        .ok()
        .zip(mcpwire_core::client::auth::AuthUrl::parse(server_url).ok())
        .is_some_and(|(resource, server)| resource.covers(&server));
    covers.then(|| state.authorization()).flatten()
}

/// Until `at` (forever when there is no deadline).
async fn sleep_until(clock: Clock, at: Option<mcpwire_core::time::Instant>) {
    match at {
        Some(at) => {
            async_io::Timer::at(clock.to_std(at)).await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Makes `request`: its status and body, or why not.
async fn fetch(fetcher: &Fetcher, request: &FetchRequest) -> Result<(u16, Vec<u8>), String> {
    let url =
        HttpUrl::parse(&request.url.to_string(), "an OAuth endpoint").map_err(|e| e.to_string())?;
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let document = fetcher
        .send(
            &url,
            request.method,
            &headers,
            &request.body,
            request.max_body,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok((document.status, document.body))
}
