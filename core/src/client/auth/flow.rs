//! [`AuthFlow`]: one attempt to get credentials, from a challenge to a token or an error that
//! names the step.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::challenge::Challenge;
use super::config::{ClientCredentials, Grant, OAuthConfig};
use super::metadata::{
    ResourceMetadata, ServerMetadata, resource_metadata_locations, server_metadata_locations,
};
use super::tokens::{
    AuthState, ErrorResponse, RegisteredClient, RegistrationResponse, TokenResponse, Tokens,
};
use super::url::{AuthUrl, encode_component, form, query_pairs};
use crate::entropy::Entropy;
use crate::time::Instant;

/// The step of a flow, as errors and fetches name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStep {
    /// Reading the resource's metadata (RFC 9728).
    ResourceMetadata,
    /// Reading the authorization server's metadata (RFC 8414, OpenID discovery).
    ServerMetadata,
    /// Registering the client (RFC 7591), or choosing how it is identified.
    Registration,
    /// The person authorizing, in the browser.
    Authorization,
    /// Signing the client's assertion (`private_key_jwt`).
    Assertion,
    /// Exchanging a code or client credentials for tokens.
    Token,
    /// Refreshing the tokens.
    Refresh,
}

impl fmt::Display for AuthStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthStep::ResourceMetadata => "protected resource metadata",
            AuthStep::ServerMetadata => "authorization server metadata",
            AuthStep::Registration => "client registration",
            AuthStep::Authorization => "authorization",
            AuthStep::Assertion => "client assertion",
            AuthStep::Token => "token request",
            AuthStep::Refresh => "token refresh",
        })
    }
}

/// Why a flow failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// Where.
    pub step: AuthStep,
    /// What happened (peer text in it is cut short).
    pub reason: String,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OAuth {}: {}", self.step, self.reason)
    }
}

impl core::error::Error for AuthError {}

/// A fetch's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FetchId(pub(crate) u64);

/// One HTTP request for the adapter to make: no redirect followed, at most `max_body` bytes of
/// body read, answered with [`AuthFlow::handle_response`] or [`AuthFlow::handle_fetch_failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Its handle.
    pub id: FetchId,
    /// The step it is for.
    pub step: AuthStep,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Where.
    pub url: AuthUrl,
    /// Header fields (lowercase names).
    pub headers: Vec<(String, String)>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
    /// The most body bytes to read; past it the fetch fails.
    pub max_body: usize,
}

/// What the flow needs done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAction {
    /// Make this request.
    Fetch(FetchRequest),
    /// Have the person open `url`; hand back where the browser was sent with
    /// [`AuthFlow::handle_redirect`] (or [`AuthFlow::handle_authorization_failed`]).
    Authorize {
        /// The authorization URL.
        url: String,
    },
    /// Sign a client assertion (RFC 7523: `iss` and `sub` the client id, `aud` the audience,
    /// a short `exp`, a fresh `jti`) and hand it back with [`AuthFlow::handle_assertion`].
    SignAssertion {
        /// The client id.
        client_id: String,
        /// The audience: the authorization server's issuer.
        audience: String,
        /// The token endpoint, which some servers want as the audience instead.
        token_endpoint: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    ResourceMetadata,
    ServerMetadata,
    Registration,
    Authorization,
    Assertion,
    Token,
    Refresh,
    Done,
}

/// The client a flow uses with an authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chosen {
    /// Its metadata document's URL as its `client_id`.
    Document(String),
    /// The configured client.
    Configured(ClientCredentials),
    /// The registration stored for this issuer, by its `client_id`.
    Stored(String),
    /// A new dynamic registration.
    Registration,
    /// None fits (client credentials whose client is for another issuer).
    Nothing,
}

impl Chosen {
    /// The `client_id` it will have, where known before registering.
    fn client_id(&self) -> Option<&str> {
        match self {
            Chosen::Document(id) | Chosen::Stored(id) => Some(id),
            Chosen::Configured(pre) => Some(&pre.client_id),
            Chosen::Registration | Chosen::Nothing => None,
        }
    }
}

/// The longest text of a peer's put in an error.
const QUOTED: usize = 200;

/// One attempt to get credentials for the MCP server at `server`.
///
/// A flow is started by the server's challenge (a `401`, or a `403` for want of scope) and
/// the [`AuthState`] earlier flows left. It emits [`AuthAction`]s, one at a time, and ends
/// with [`AuthFlow::outcome`]: `Ok` with new tokens in [`AuthFlow::state`], or an
/// [`AuthError`] that names the step. Every wait has a deadline ([`AuthFlow::poll_timeout`]);
/// the fetches of one flow are capped in number and in body size; nothing it holds outlives
/// it.
///
/// # Examples
///
/// ```
/// use mcpwire_core::client::auth::{AuthAction, AuthFlow, AuthState, OAuthConfig};
/// use mcpwire_core::time::Instant;
///
/// let config = OAuthConfig::authorization_code("http://127.0.0.1:9/callback", "demo");
/// let mut flow = AuthFlow::new(
///     config,
///     "https://mcp.example/mcp",
///     r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp""#,
///     AuthState::default(),
///     Instant::ZERO,
///     [7; 32],
/// )
/// .unwrap();
/// let Some(AuthAction::Fetch(fetch)) = flow.poll_action() else { unreachable!() };
/// assert_eq!(fetch.url.to_string(), "https://mcp.example/.well-known/oauth-protected-resource/mcp");
/// flow.handle_response(
///     Instant::ZERO,
///     fetch.id,
///     200,
///     br#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"]}"#,
/// );
/// let Some(AuthAction::Fetch(fetch)) = flow.poll_action() else { unreachable!() };
/// assert_eq!(fetch.url.to_string(), "https://as.example/.well-known/oauth-authorization-server");
/// ```
pub struct AuthFlow {
    config: OAuthConfig,
    server: AuthUrl,
    challenge: Challenge,
    state: AuthState,
    entropy: Entropy,
    phase: Phase,
    actions: VecDeque<AuthAction>,
    /// The fetch in flight, and the deadline of whatever is awaited.
    pending: Option<FetchId>,
    deadline: Option<Instant>,
    next_fetch: u64,
    fetches: u32,
    /// Discovery: locations left to try.
    candidates: VecDeque<AuthUrl>,
    /// No resource metadata was found: the MCP server's origin is the authorization server
    /// (2025-03-26), and missing server metadata means its default endpoints.
    legacy: bool,
    /// Why the last location of the document being discovered could not be read, when it was
    /// not a plain 404.
    unreadable: Option<String>,
    resource: Option<String>,
    resource_scopes: Option<Vec<String>>,
    issuer: Option<String>,
    verifier: String,
    state_param: String,
    scope: Option<String>,
    /// The scope of the tokens held when the flow began (a step-up keeps it).
    held_scope: Option<String>,
    /// The client was registered by an earlier flow: the server may have forgotten it.
    reused_client: bool,
    /// The tokens held have a refresh token: discovery decides whether it is used.
    refresh_after_discovery: bool,
    outcome: Option<Result<(), AuthError>>,
}

impl fmt::Debug for AuthFlow {
    /// Shows where the flow is, never its verifier, `state` or tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFlow")
            .field("server", &self.server)
            .field("phase", &self.phase)
            .field("issuer", &self.issuer)
            .field("fetches", &self.fetches)
            .field("deadline", &self.deadline)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl AuthFlow {
    /// A flow for the MCP endpoint `server_url`, answering the `WWW-Authenticate` field
    /// `challenge` (empty when the response had none), from what earlier flows left.
    ///
    /// # Errors
    ///
    /// `server_url` is not an `http(s)://` URL, or the grant needs a pre-registered client
    /// the configuration lacks.
    pub fn new(
        config: OAuthConfig,
        server_url: &str,
        challenge: &str,
        state: AuthState,
        now: Instant,
        seed: [u8; 32],
    ) -> Result<AuthFlow, AuthError> {
        let fail = |reason: &str| AuthError {
            step: AuthStep::Registration,
            reason: reason.into(),
        };
        let server = AuthUrl::parse(server_url).map_err(fail)?;
        if config.grant == Grant::ClientCredentials && config.client.is_none() {
            return Err(fail("client credentials need a pre-registered client_id"));
        }
        let mut flow = AuthFlow {
            config,
            server,
            challenge: Challenge::parse(challenge),
            state,
            entropy: Entropy::from_seed(seed),
            phase: Phase::ResourceMetadata,
            actions: VecDeque::new(),
            pending: None,
            deadline: None,
            next_fetch: 1,
            fetches: 0,
            candidates: VecDeque::new(),
            legacy: false,
            unreadable: None,
            resource: None,
            resource_scopes: None,
            issuer: None,
            verifier: String::new(),
            state_param: String::new(),
            scope: None,
            held_scope: None,
            reused_client: false,
            refresh_after_discovery: false,
            outcome: None,
        };
        flow.held_scope = flow.state.tokens.as_ref().and_then(|t| t.scope.clone());
        // A store keeps a configured client without its secret: the configuration has it.
        if let (Some(client), Some(configured)) = (&mut flow.state.client, &flow.config.client) {
            let its_issuer = configured
                .issuer
                .as_deref()
                .is_none_or(|i| i == client.issuer);
            if client.client_id == configured.client_id
                && client.client_secret.is_none()
                && its_issuer
            {
                client.client_secret.clone_from(&configured.client_secret);
            }
        }
        flow.start(now);
        Ok(flow)
    }

    // ---- outputs ----

    /// The next thing to do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<AuthAction> {
        self.actions.pop_front()
    }

    /// When the current wait ends; [`AuthFlow::handle_timeout`] then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// How the flow ended, once it has.
    #[must_use]
    pub fn outcome(&self) -> Option<&Result<(), AuthError>> {
        self.outcome.as_ref()
    }

    /// What the flow has (the tokens, once it succeeded); the next flow starts from it.
    #[must_use]
    pub fn state(&self) -> &AuthState {
        &self.state
    }

    /// The state, to keep for the next flow.
    #[must_use]
    pub fn into_state(self) -> AuthState {
        self.state
    }

    // ---- inputs ----

    /// The response to fetch `id`: its status and body (at most the request's `max_body`).
    pub fn handle_response(&mut self, now: Instant, id: FetchId, status: u16, body: &[u8]) {
        if self.pending != Some(id) || self.outcome.is_some() {
            return;
        }
        self.pending = None;
        self.deadline = None;
        match self.phase {
            Phase::ResourceMetadata => self.on_resource_metadata(now, status, body),
            Phase::ServerMetadata => self.on_server_metadata(now, status, body),
            Phase::Registration => self.on_registration(now, status, body),
            Phase::Token => self.on_token(status, body, AuthStep::Token),
            Phase::Refresh => self.on_refresh(now, status, body),
            Phase::Authorization | Phase::Assertion | Phase::Done => {}
        }
    }

    /// Fetch `id` failed (could not connect, TLS, too large, not JSON, timed out): `reason`.
    pub fn handle_fetch_failed(&mut self, now: Instant, id: FetchId, reason: &str) {
        if self.pending != Some(id) || self.outcome.is_some() {
            return;
        }
        self.pending = None;
        self.deadline = None;
        match self.phase {
            // The next location is tried, as for a 404; but a flow that finds the document
            // nowhere says what went wrong where it looked.
            Phase::ResourceMetadata | Phase::ServerMetadata => {
                self.unreadable = Some(clip(reason));
                self.next_candidate(now);
            }
            // Discovery was just done: a new grant from here, as for a refused refresh.
            Phase::Refresh => {
                self.state.tokens = None;
                self.register(now);
            }
            _ => {
                let step = self.step();
                self.fail(step, &clip(reason));
            }
        }
    }

    /// Where the browser was sent back: the redirect URL (or just its query). Checks `state`
    /// and `iss` (RFC 9207), then exchanges the code.
    pub fn handle_redirect(&mut self, now: Instant, redirect: &str) {
        if self.phase != Phase::Authorization || self.outcome.is_some() {
            return;
        }
        self.deadline = None;
        let query = match redirect.split_once('?') {
            Some((_, query)) => query,
            None => redirect,
        };
        let query = query.split('#').next().unwrap_or_default();
        let params = query_pairs(query);
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let step = AuthStep::Authorization;
        if get("state") != Some(self.state_param.as_str()) {
            self.fail(step, "the state in the redirect is not the one sent");
            return;
        }
        let issuer = self.issuer.clone().unwrap_or_default();
        let advertised = self
            .state
            .server
            .as_ref()
            .is_some_and(|s| s.authorization_response_iss_parameter_supported);
        match get("iss") {
            Some(iss) if iss != issuer => {
                let why = alloc::format!(
                    "the redirect names issuer {:?}, not {:?} (RFC 9207): a mix-up",
                    clip(iss),
                    issuer
                );
                self.fail(step, &why);
                return;
            }
            None if advertised => {
                self.fail(
                    step,
                    "the server promises `iss` in the redirect (RFC 9207) and sent none",
                );
                return;
            }
            _ => {}
        }
        if let Some(error) = get("error") {
            let why = alloc::format!(
                "refused: {}{}",
                clip(error),
                get("error_description")
                    .map(|d| alloc::format!(" ({})", clip(d)))
                    .unwrap_or_default()
            );
            self.fail(step, &why);
            return;
        }
        let Some(code) = get("code").filter(|c| !c.is_empty()) else {
            self.fail(step, "the redirect carries no code");
            return;
        };
        let code = code.to_string();
        self.request_tokens(
            now,
            &[("grant_type", "authorization_code"), ("code", &code)],
        );
    }

    /// The person (or the application) could not authorize: `reason`.
    pub fn handle_authorization_failed(&mut self, reason: &str) {
        if self.phase == Phase::Authorization && self.outcome.is_none() {
            self.forget_unheard_client();
            self.fail(AuthStep::Authorization, &clip(reason));
        }
    }

    /// The signed client assertion asked for by [`AuthAction::SignAssertion`], or why it could
    /// not be made.
    pub fn handle_assertion(&mut self, now: Instant, assertion: Result<&str, &str>) {
        if self.phase != Phase::Assertion || self.outcome.is_some() {
            return;
        }
        self.deadline = None;
        match assertion {
            Ok(jwt) => {
                let jwt = jwt.to_string();
                self.phase = Phase::Token;
                self.send_token_request(now, &[("grant_type", "client_credentials")], Some(&jwt));
            }
            Err(why) => self.fail(AuthStep::Assertion, &clip(why)),
        }
    }

    /// Time passed: a wait past its deadline fails the flow.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline || self.outcome.is_some() {
            return;
        }
        self.deadline = None;
        self.pending = None;
        let step = self.step();
        let waited = match self.phase {
            Phase::Authorization => {
                self.forget_unheard_client();
                self.config.limits.authorize_timeout
            }
            _ => self.config.limits.fetch_timeout,
        };
        let why = alloc::format!("no answer within {} s", waited.as_millis() / 1000);
        self.fail(step, &why);
    }

    // ---- the steps ----

    fn start(&mut self, now: Instant) {
        // A refresh token is tried before a person is asked, but only once discovery says the
        // resource still trusts the server that issued it: after a migration, or a restart
        // that lost what the server said, a refresh at the old server would be refused again
        // and again.
        self.refresh_after_discovery = !self.challenge.is_insufficient_scope()
            && self
                .state
                .tokens
                .as_ref()
                .is_some_and(|t| t.refresh_token.is_some());
        self.full_flow(now);
    }

    /// Discovery from the start.
    fn full_flow(&mut self, now: Instant) {
        if !self.refresh_after_discovery {
            self.state.tokens = None;
        }
        self.phase = Phase::ResourceMetadata;
        self.unreadable = None;
        self.candidates = match self.challenge.resource_metadata.as_deref() {
            // The server named it: that one, no guessing (RFC 9728 §5.1).
            Some(named) => match AuthUrl::parse(named) {
                Ok(url) => [url].into(),
                Err(why) => {
                    let why = alloc::format!("the challenge's resource_metadata: {why}");
                    self.fail(AuthStep::ResourceMetadata, &why);
                    return;
                }
            },
            None => resource_metadata_locations(&self.server.without_query()).into(),
        };
        self.next_candidate(now);
    }

    /// Fetches the next location of the document being discovered, or gives up on it.
    fn next_candidate(&mut self, now: Instant) {
        if let Some(url) = self.candidates.pop_front() {
            let step = self.step();
            self.fetch(now, step, "GET", url, Vec::new(), Vec::new());
            return;
        }
        let named = self.challenge.resource_metadata.is_some();
        match self.phase {
            Phase::ResourceMetadata if named || self.unreadable.is_some() => {
                // The server said where its metadata is, or a location could not be read (not
                // a plain "not here"): guessing on would hide why.
                let why = match self.unreadable.take() {
                    Some(why) => why,
                    None => "the document the challenge names is not there".into(),
                };
                self.fail(AuthStep::ResourceMetadata, &why);
            }
            Phase::ResourceMetadata => {
                // No resource metadata (a 2025-03-26 server): its origin is the authorization
                // server, and the token is for it.
                self.legacy = true;
                let origin = self.server.at("/");
                self.issuer = Some(origin.origin());
                self.discover_server(now, &origin);
            }
            Phase::ServerMetadata if self.legacy => {
                let origin = self.server.at("/");
                self.state.server = Some(ServerMetadata::defaults_for(&origin));
                self.discovered(now);
            }
            _ => {
                let why = alloc::format!(
                    "no metadata found for issuer {}{}",
                    self.issuer.as_deref().unwrap_or_default(),
                    self.unreadable
                        .take()
                        .map(|why| alloc::format!(" ({why})"))
                        .unwrap_or_default()
                );
                self.fail(AuthStep::ServerMetadata, &why);
            }
        }
    }

    /// A location answered something else than the document: remembered, for the error if no
    /// location has it.
    fn not_here(&mut self, url_status: u16) {
        if url_status != 404 {
            self.unreadable = Some(http_failure(url_status, b""));
        }
    }

    fn on_resource_metadata(&mut self, now: Instant, status: u16, body: &[u8]) {
        if status != 200 {
            self.not_here(status);
            self.next_candidate(now);
            return;
        }
        let step = AuthStep::ResourceMetadata;
        let metadata: ResourceMetadata = match serde_json::from_slice(body) {
            Ok(m) => m,
            Err(e) => return self.fail(step, &alloc::format!("not resource metadata: {e}")),
        };
        // RFC 9728 §3.3: the document must be about the resource asked for; a token for
        // another resource must never be requested on this server's word.
        let covers = AuthUrl::parse(&metadata.resource)
            .is_ok_and(|resource| resource.covers(&self.server.without_query()));
        if !covers {
            let why = alloc::format!(
                "the metadata is for resource {:?}, not {}",
                clip(&metadata.resource),
                self.server.without_query()
            );
            return self.fail(step, &why);
        }
        let Some(issuer) = metadata.authorization_servers.first() else {
            return self.fail(step, "the metadata names no authorization server");
        };
        let issuer_url = match AuthUrl::parse(issuer) {
            Ok(url) => url,
            Err(why) => return self.fail(step, &alloc::format!("authorization server: {why}")),
        };
        self.issuer = Some(issuer.clone());
        self.resource = Some(metadata.resource);
        self.resource_scopes = metadata.scopes_supported;
        self.discover_server(now, &issuer_url);
    }

    fn discover_server(&mut self, now: Instant, issuer: &AuthUrl) {
        self.phase = Phase::ServerMetadata;
        self.unreadable = None;
        self.candidates = server_metadata_locations(issuer).into();
        self.next_candidate(now);
    }

    fn on_server_metadata(&mut self, now: Instant, status: u16, body: &[u8]) {
        if status != 200 {
            self.not_here(status);
            self.next_candidate(now);
            return;
        }
        let step = AuthStep::ServerMetadata;
        let metadata: ServerMetadata = match serde_json::from_slice(body) {
            Ok(m) => m,
            Err(e) => return self.fail(step, &alloc::format!("not server metadata: {e}")),
        };
        let issuer = self.issuer.clone().unwrap_or_default();
        // RFC 8414 §3.3: the same string, or the document speaks for someone else.
        if metadata.issuer != issuer {
            let why = alloc::format!(
                "the metadata's issuer {:?} is not {:?}",
                clip(&metadata.issuer),
                issuer
            );
            return self.fail(step, &why);
        }
        if matches!(self.config.grant, Grant::AuthorizationCode { .. }) {
            let s256 = metadata
                .code_challenge_methods_supported
                .as_ref()
                .is_some_and(|m| m.iter().any(|m| m == "S256"));
            if !s256 {
                return self.fail(step, "the server does not offer PKCE with S256");
            }
            if metadata.authorization_endpoint.is_none() {
                return self.fail(step, "the metadata has no authorization_endpoint");
            }
        }
        if metadata.token_endpoint.is_none() {
            return self.fail(step, "the metadata has no token_endpoint");
        }
        self.state.server = Some(metadata);
        self.discovered(now);
    }

    /// Discovery is done: refresh the tokens held if they are this server's for this
    /// resource, else get new ones.
    fn discovered(&mut self, now: Instant) {
        let issuer = self.issuer.clone().unwrap_or_default();
        // The tokens are refreshed by the client that got them, and only if it is the one
        // this flow would choose now (a client configured since wins over them).
        let chosen = self
            .state
            .server
            .as_ref()
            .map(|server| self.chosen_client(server, &issuer));
        let holder = self.state.client.as_ref().map(|c| c.client_id.as_str());
        let same = holder.is_some()
            && chosen.as_ref().is_some_and(|c| c.client_id() == holder)
            && self
                .state
                .tokens
                .as_ref()
                .is_some_and(|t| t.resource == self.resource);
        if core::mem::take(&mut self.refresh_after_discovery) && same {
            self.refresh(now);
        } else {
            self.state.tokens = None;
            self.register(now);
        }
    }

    /// Which client this flow uses with `issuer`, in the spec's order: a metadata document
    /// where the server accepts one, a configured client (with its own issuer only: its
    /// secret is not for whatever server a resource names), a registration stored for that
    /// issuer (not one of the configured client's where that client is not for it), a new
    /// registration.
    fn chosen_client(&self, server: &ServerMetadata, issuer: &str) -> Chosen {
        let client_credentials = self.config.grant == Grant::ClientCredentials;
        if let Some(url) = &self.config.client_metadata_url {
            if server.client_id_metadata_document_supported && !client_credentials {
                return Chosen::Document(url.clone());
            }
        }
        let configured = self.config.client.as_ref();
        if let Some(pre) = configured {
            if pre.issuer.as_deref().is_none_or(|i| i == issuer) {
                return Chosen::Configured(pre.clone());
            }
        }
        if let Some(stored) = &self.state.client {
            let excluded = configured.is_some_and(|pre| pre.client_id == stored.client_id);
            if stored.issuer == issuer && !excluded && !client_credentials {
                return Chosen::Stored(stored.client_id.clone());
            }
        }
        if client_credentials {
            return Chosen::Nothing;
        }
        Chosen::Registration
    }

    /// Chooses how the client is known to this server: as registered before, a metadata
    /// document, a pre-registered client, or a dynamic registration.
    fn register(&mut self, now: Instant) {
        self.phase = Phase::Registration;
        let issuer = self.issuer.clone().unwrap_or_default();
        let Some(server) = self.state.server.clone() else {
            return self.fail(AuthStep::Registration, "no server metadata");
        };
        let chosen = self.chosen_client(&server, &issuer);
        if !matches!(chosen, Chosen::Stored(_)) {
            self.state.client = None;
        }
        if let Chosen::Stored(_) = chosen {
            self.reused_client = true;
        } else if let Chosen::Document(url) = chosen {
            self.state.client = Some(RegisteredClient {
                issuer,
                client_id: url,
                client_secret: None,
                auth_method: "none".into(),
            });
        } else if let Chosen::Configured(pre) = chosen {
            let auth_method = if pre.key {
                "private_key_jwt".into()
            } else {
                choose_auth_method(&server, pre.client_secret.is_some()).into()
            };
            self.state.client = Some(RegisteredClient {
                issuer,
                client_id: pre.client_id,
                client_secret: pre.client_secret,
                auth_method,
            });
        } else if let Chosen::Nothing = chosen {
            let why = alloc::format!(
                "the configured client is registered with another issuer than {issuer:?}"
            );
            return self.fail(AuthStep::Registration, &why);
        } else if let Some(endpoint) = server.registration_endpoint.as_deref() {
            let url = match AuthUrl::parse(endpoint) {
                Ok(url) => url,
                Err(why) => {
                    let why = alloc::format!("registration_endpoint: {why}");
                    return self.fail(AuthStep::Registration, &why);
                }
            };
            let body = self.registration_body(&server);
            let headers = alloc::vec![("content-type".into(), "application/json".into())];
            self.fetch(now, AuthStep::Registration, "POST", url, headers, body);
            return;
        } else {
            return self.fail(
                AuthStep::Registration,
                "the server offers no registration and no client is configured",
            );
        }
        self.grant(now);
    }

    fn registration_body(&self, server: &ServerMetadata) -> Vec<u8> {
        let method = choose_auth_method(server, true);
        let redirect = match &self.config.grant {
            Grant::AuthorizationCode { redirect_uri } => redirect_uri.clone(),
            Grant::ClientCredentials => String::new(),
        };
        let mut grant_types = alloc::vec!["authorization_code", "refresh_token"];
        if redirect.is_empty() {
            grant_types = alloc::vec!["client_credentials"];
        }
        // SEP-837: a loopback redirect (or none) is a native application's.
        let native = redirect.is_empty()
            || AuthUrl::parse(&redirect).is_ok_and(|u| is_loopback(u.authority()));
        let mut document = serde_json::json!({
            "client_name": self.config.client_name,
            "application_type": if native { "native" } else { "web" },
            "redirect_uris": [redirect],
            "grant_types": grant_types,
            "response_types": ["code"],
            "token_endpoint_auth_method": method,
        });
        if let Some(scope) = self.chosen_scope() {
            document["scope"] = scope.into();
        }
        serde_json::to_vec(&document).unwrap_or_default()
    }

    fn on_registration(&mut self, now: Instant, status: u16, body: &[u8]) {
        let step = AuthStep::Registration;
        if !(200..300).contains(&status) {
            return self.fail(step, &http_failure(status, body));
        }
        let answer: RegistrationResponse = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return self.fail(step, &alloc::format!("not a registration: {e}")),
        };
        let server = self.state.server.as_ref();
        let fallback = server.map_or("client_secret_basic", |s| {
            choose_auth_method(s, answer.client_secret.is_some())
        });
        let auth_method = match (&answer.client_secret, answer.token_endpoint_auth_method) {
            (None, _) => "none".into(),
            (Some(_), Some(method)) => method,
            (Some(_), None) => fallback.into(),
        };
        self.state.client = Some(RegisteredClient {
            issuer: self.issuer.clone().unwrap_or_default(),
            client_id: answer.client_id,
            client_secret: answer.client_secret,
            auth_method,
        });
        self.grant(now);
    }

    /// Registered: a person authorizes, or the client's credentials are exchanged at once.
    fn grant(&mut self, now: Instant) {
        self.scope = self.chosen_scope();
        match self.config.grant.clone() {
            Grant::AuthorizationCode { redirect_uri } => self.authorize(now, &redirect_uri),
            Grant::ClientCredentials => {
                let client = self.state.client.clone();
                let server = self.state.server.clone();
                match (client, server) {
                    (Some(client), Some(server)) if client.auth_method == "private_key_jwt" => {
                        self.phase = Phase::Assertion;
                        self.deadline = Some(now.saturating_add(self.config.limits.fetch_timeout));
                        self.actions.push_back(AuthAction::SignAssertion {
                            client_id: client.client_id,
                            audience: server.issuer,
                            token_endpoint: server.token_endpoint.unwrap_or_default(),
                        });
                    }
                    _ => {
                        self.phase = Phase::Token;
                        self.send_token_request(now, &[("grant_type", "client_credentials")], None);
                    }
                }
            }
        }
    }

    /// The scope to ask for: configured, else the challenge's, else the resource's
    /// `scopes_supported`, else none; `offline_access` added for a person's grant where the
    /// server offers it, so that the session outlives the access token (SEP-2207; the
    /// authorization then asks for consent, without which OIDC servers drop it).
    fn chosen_scope(&self) -> Option<String> {
        let mut scope = self
            .stepped_up_scope()
            .or_else(|| self.config.scope.clone())
            .or_else(|| self.challenge.scope.clone())
            .or_else(|| self.resource_scopes.as_ref().map(|s| s.join(" ")))
            .filter(|s| !s.is_empty());
        let person = matches!(self.config.grant, Grant::AuthorizationCode { .. });
        let offline = self
            .state
            .server
            .as_ref()
            .is_some_and(|s| s.supports_scope("offline_access"));
        let has = scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|x| x == "offline_access"));
        if person && offline && !has {
            scope = Some(match scope {
                Some(s) => alloc::format!("{s} offline_access"),
                None => "offline_access".into(),
            });
        }
        // One space between scopes, each once, whatever the configuration or a peer wrote.
        scope
            .map(|s| {
                let mut seen: Vec<&str> = Vec::new();
                for token in s.split([' ', '\t']) {
                    if !token.is_empty() && !seen.contains(&token) {
                        seen.push(token);
                    }
                }
                seen.join(" ")
            })
            .filter(|s| !s.is_empty())
    }

    /// Step-up (SEP-2350): what was granted before and what the challenge asks for, so that
    /// the new token does not lose what the old one could do.
    fn stepped_up_scope(&self) -> Option<String> {
        if !self.challenge.is_insufficient_scope() {
            return None;
        }
        let asked = self.challenge.scope.as_deref()?;
        let mut union: Vec<&str> = Vec::new();
        let held = self.held_scope.as_deref().unwrap_or_default();
        let configured = self.config.scope.as_deref().unwrap_or_default();
        let all = configured
            .split(' ')
            .chain(held.split(' '))
            .chain(asked.split(' '));
        for scope in all {
            if !scope.is_empty() && !union.contains(&scope) {
                union.push(scope);
            }
        }
        Some(union.join(" "))
    }

    fn authorize(&mut self, now: Instant, redirect_uri: &str) {
        let (Some(server), Some(client)) = (self.state.server.clone(), self.state.client.clone())
        else {
            return self.fail(AuthStep::Authorization, "not registered");
        };
        let endpoint = server.authorization_endpoint.unwrap_or_default();
        let endpoint = match AuthUrl::parse(&endpoint) {
            Ok(url) => url,
            Err(why) => {
                let why = alloc::format!("authorization_endpoint: {why}");
                return self.fail(AuthStep::Authorization, &why);
            }
        };
        if !endpoint.is_https() && !is_loopback(endpoint.authority()) {
            let why = alloc::format!("{endpoint} is plain http:// to another machine");
            return self.fail(AuthStep::Authorization, &why);
        }
        if is_loopback(endpoint.authority()) && !is_loopback(self.server.authority()) {
            let why = alloc::format!("{endpoint} is on this machine, and the MCP server is not");
            return self.fail(AuthStep::Authorization, &why);
        }
        self.verifier = self.random_text(32);
        self.state_param = self.random_text(16);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()));
        let mut pairs: Vec<(&str, &str)> = alloc::vec![
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", redirect_uri),
            ("state", &self.state_param),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let resource = self.resource_parameter();
        if let Some(resource) = resource.as_deref() {
            pairs.push(("resource", resource));
        }
        if let Some(scope) = self.scope.as_deref() {
            pairs.push(("scope", scope));
            // OIDC Core §11: a server ignores offline_access (and issues no refresh token)
            // unless the authorization asks for consent; OAuth-only servers ignore `prompt`.
            if scope.split(' ').any(|s| s == "offline_access") {
                pairs.push(("prompt", "consent"));
            }
        }
        let url = endpoint.with_query(&pairs).to_string();
        self.phase = Phase::Authorization;
        self.deadline = Some(now.saturating_add(self.config.limits.authorize_timeout));
        self.actions.push_back(AuthAction::Authorize { url });
    }

    /// `resource` (RFC 8707): the resource metadata's, or the server's own URL for a
    /// 2025-03-26 server that published none.
    fn resource_parameter(&self) -> Option<String> {
        self.resource.clone()
    }

    fn request_tokens(&mut self, now: Instant, grant: &[(&str, &str)]) {
        self.phase = Phase::Token;
        self.send_token_request(now, grant, None);
    }

    /// A token request: `grant`'s parameters, the PKCE verifier and redirect for a code, the
    /// resource, the scope, and the client's authentication.
    fn send_token_request(
        &mut self,
        now: Instant,
        grant: &[(&str, &str)],
        assertion: Option<&str>,
    ) {
        let step = if self.phase == Phase::Refresh {
            AuthStep::Refresh
        } else {
            AuthStep::Token
        };
        let (Some(server), Some(client)) = (self.state.server.clone(), self.state.client.clone())
        else {
            return self.fail(step, "not registered");
        };
        let endpoint = server.token_endpoint.unwrap_or_default();
        let url = match AuthUrl::parse(&endpoint) {
            Ok(url) => url,
            Err(why) => return self.fail(step, &alloc::format!("token_endpoint: {why}")),
        };
        let mut pairs: Vec<(&str, &str)> = grant.to_vec();
        let is_code = grant.iter().any(|(_, v)| *v == "authorization_code");
        let redirect = match &self.config.grant {
            Grant::AuthorizationCode { redirect_uri } => redirect_uri.clone(),
            Grant::ClientCredentials => String::new(),
        };
        let verifier = self.verifier.clone();
        if is_code {
            pairs.push(("code_verifier", &verifier));
            pairs.push(("redirect_uri", &redirect));
        }
        let resource = self.resource_parameter();
        if let Some(resource) = resource.as_deref() {
            pairs.push(("resource", resource));
        }
        let scope = self.scope.clone();
        if !is_code && step == AuthStep::Token {
            if let Some(scope) = scope.as_deref() {
                pairs.push(("scope", scope));
            }
        }
        let mut headers = Vec::new();
        let secret = client.client_secret.clone().unwrap_or_default();
        match client.auth_method.as_str() {
            "client_secret_basic" if client.client_secret.is_some() => {
                // RFC 6749 §2.3.1: each form-encoded, then joined and base64'd.
                let mut credentials = String::new();
                encode_component(&mut credentials, &client.client_id);
                credentials.push(':');
                encode_component(&mut credentials, &secret);
                let value = alloc::format!("Basic {}", STANDARD.encode(credentials));
                headers.push(("authorization".to_string(), value));
            }
            "client_secret_post" if client.client_secret.is_some() => {
                pairs.push(("client_id", &client.client_id));
                pairs.push(("client_secret", &secret));
            }
            "private_key_jwt" => {
                pairs.push(("client_id", &client.client_id));
                if let Some(assertion) = assertion {
                    pairs.push((
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ));
                    pairs.push(("client_assertion", assertion));
                }
            }
            _ => pairs.push(("client_id", &client.client_id)),
        }
        let body = form(&pairs);
        headers.push((
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ));
        self.fetch(now, step, "POST", url, headers, body);
    }

    fn on_token(&mut self, status: u16, body: &[u8], step: AuthStep) {
        if status != 200 {
            self.forget_refused_client(body);
            return self.fail(step, &http_failure(status, body));
        }
        let answer: TokenResponse = match serde_json::from_slice(body) {
            Ok(t) => t,
            Err(e) => return self.fail(step, &alloc::format!("not a token response: {e}")),
        };
        let bearer = answer
            .token_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("bearer"));
        if !bearer {
            let why = alloc::format!(
                "token_type {:?} is not Bearer",
                clip(answer.token_type.as_deref().unwrap_or_default())
            );
            return self.fail(step, &why);
        }
        let printable = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic());
        if !printable(&answer.access_token) {
            return self.fail(step, "the access token is empty or not printable ASCII");
        }
        let lifetime = answer.lifetime();
        let refresh_token = answer.refresh_token.or_else(|| {
            // A refresh that issues no new refresh token leaves the old one valid.
            (step == AuthStep::Refresh)
                .then(|| self.state.tokens.as_ref()?.refresh_token.clone())
                .flatten()
        });
        let resource = self
            .resource
            .clone()
            .or_else(|| self.state.tokens.as_ref()?.resource.clone());
        self.state.tokens = Some(Tokens {
            access_token: answer.access_token,
            refresh_token,
            // No scope in the answer means the one asked for, or on a refresh the one held
            // (RFC 6749 §5.1, §6).
            scope: answer.scope.or_else(|| self.scope.clone()).or_else(|| {
                (step == AuthStep::Refresh)
                    .then(|| self.state.tokens.as_ref()?.scope.clone())
                    .flatten()
            }),
            expires_in: lifetime,
            resource,
        });
        self.phase = Phase::Done;
        self.outcome = Some(Ok(()));
    }

    fn refresh(&mut self, now: Instant) {
        let Some(refresh_token) = self
            .state
            .tokens
            .as_ref()
            .and_then(|t| t.refresh_token.clone())
        else {
            return self.full_flow(now);
        };
        self.phase = Phase::Refresh;
        self.send_token_request(
            now,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
            None,
        );
    }

    fn on_refresh(&mut self, now: Instant, status: u16, body: &[u8]) {
        if status == 200 {
            self.on_token(status, body, AuthStep::Refresh);
            if self.outcome.as_ref().is_some_and(Result::is_ok) {
                return;
            }
            self.outcome = None;
        }
        // The refresh token is spent or refused: a new grant (discovery was just done).
        if status != 200 {
            self.forget_refused_client(body);
        }
        self.state.tokens = None;
        self.register(now);
    }

    /// A token endpoint that answers `invalid_client` (RFC 6749 §5.2: unknown client, or its
    /// authentication failed) will refuse this registration whatever the grant: the next
    /// registration step makes a new one (a configured client is chosen again as before).
    fn forget_refused_client(&mut self, body: &[u8]) {
        let refused = serde_json::from_slice::<ErrorResponse>(body)
            .is_ok_and(|e| e.error == "invalid_client");
        if refused {
            self.state.client = None;
        }
    }

    /// The person never came back from authorizing a client an earlier flow registered. An
    /// authorization server that no longer knows a client says so to the person and never
    /// redirects (RFC 6749 §4.1.2.1), so nothing here can tell that apart from a person who
    /// gave up; kept, such a registration would fail every flow to come. The next flow
    /// registers anew instead, at the cost of one registration.
    fn forget_unheard_client(&mut self) {
        if self.reused_client {
            self.state.client = None;
        }
    }

    // ---- plumbing ----

    fn step(&self) -> AuthStep {
        match self.phase {
            Phase::ResourceMetadata => AuthStep::ResourceMetadata,
            Phase::ServerMetadata => AuthStep::ServerMetadata,
            Phase::Registration => AuthStep::Registration,
            Phase::Authorization => AuthStep::Authorization,
            Phase::Assertion => AuthStep::Assertion,
            Phase::Token | Phase::Done => AuthStep::Token,
            Phase::Refresh => AuthStep::Refresh,
        }
    }

    fn fetch(
        &mut self,
        now: Instant,
        step: AuthStep,
        method: &'static str,
        url: AuthUrl,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) {
        self.fetches += 1;
        if self.fetches > self.config.limits.max_fetches {
            let why = alloc::format!(
                "more than {} requests in one flow",
                self.config.limits.max_fetches
            );
            return self.fail(step, &why);
        }
        // Credentials travel over TLS, or to this machine.
        if !url.is_https() && !is_loopback(url.authority()) {
            let why = alloc::format!("{url} is plain http:// to another machine");
            return self.fail(step, &why);
        }
        // A server elsewhere does not get to point the client at this machine's own services
        // (every URL of a flow comes from the server and what it names).
        if is_loopback(url.authority()) && !is_loopback(self.server.authority()) {
            let why = alloc::format!("{url} is on this machine, and the MCP server is not");
            return self.fail(step, &why);
        }
        let id = FetchId(self.next_fetch);
        self.next_fetch += 1;
        self.pending = Some(id);
        self.deadline = Some(now.saturating_add(self.config.limits.fetch_timeout));
        self.actions.push_back(AuthAction::Fetch(FetchRequest {
            id,
            step,
            method,
            url,
            headers,
            body,
            max_body: self.config.limits.max_document_bytes,
        }));
    }

    fn fail(&mut self, step: AuthStep, reason: &str) {
        self.phase = Phase::Done;
        self.pending = None;
        self.deadline = None;
        self.actions.clear();
        self.outcome = Some(Err(AuthError {
            step,
            reason: reason.into(),
        }));
    }

    fn random_text(&mut self, bytes: usize) -> String {
        let mut raw = [0u8; 32];
        let raw = &mut raw[..bytes.min(32)];
        self.entropy.fill(raw);
        URL_SAFE_NO_PAD.encode(raw)
    }
}

/// How a client with (or without) a secret authenticates, as the server allows: Basic first
/// (the default RFC 8414 assumes when the list is absent), then the form, else none.
fn choose_auth_method(server: &ServerMetadata, has_secret: bool) -> &'static str {
    let supported = |m: &str| {
        server
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_none_or(|list| list.iter().any(|x| x == m))
    };
    let listed = |m: &str| {
        server
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|list| list.iter().any(|x| x == m))
    };
    if !has_secret {
        return "none";
    }
    if supported("client_secret_basic") {
        "client_secret_basic"
    } else if listed("client_secret_post") {
        "client_secret_post"
    } else {
        "none"
    }
}

/// A refusal as an error: the status, and the OAuth error in the body if there is one.
fn http_failure(status: u16, body: &[u8]) -> String {
    if (300..400).contains(&status) {
        return alloc::format!("HTTP {status}: redirects are not followed");
    }
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => alloc::format!(
            "HTTP {status}: {}{}",
            clip(&e.error),
            e.error_description
                .map(|d| alloc::format!(" ({})", clip(&d)))
                .unwrap_or_default()
        ),
        Err(_) => alloc::format!("HTTP {status}"),
    }
}

fn clip(text: &str) -> String {
    // Peer text ends up on terminals and in logs: no control characters (escapes) in it.
    text.chars()
        .take(QUOTED)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

pub(crate) fn is_loopback(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => {
            host
        }
        _ => authority,
    };
    let host = host.trim_end_matches('.');
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<core::net::Ipv6Addr>().is_ok_and(|ip| {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        });
    }
    host.parse::<core::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}
