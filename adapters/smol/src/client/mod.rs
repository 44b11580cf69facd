//! [`Client`]: an MCP client on smol, over `mcpwire-core`'s sans-IO client, in both protocol
//! eras, whose reconnects, calls and subscriptions cannot leak.
//!
//! One driver thread owns the core client and its connections; [`Client`] is a handle that
//! sends it commands. Handlers for the server's requests (sampling, elicitation, roots) run on
//! smol's executor, never on the driver's thread. Every call ends in one outcome, within its
//! timeout; a [`RunningCall`] or [`Subscription`] that is dropped cancels its request; and
//! [`Client::close`] returns once the session is ended (`DELETE`) and every connection, timer
//! and task is gone.
//!
//! A server can also be a child process the client owns ([`Client::spawn`], the stdio
//! transport): its stdin, stdout and stderr are driven without polling, and closing or
//! dropping the client ends it (stdin closed, SIGTERM to its process group after
//! [`ClientBuilder::shutdown_grace`], SIGKILL after [`ClientBuilder::kill_wait`]); it is always
//! reaped. A child that dies fails every call at once with [`CallError::Exited`], which names
//! its exit status and the tail of its stderr.
//!
//! # Examples
//!
//! ```no_run
//! use mcpwire_smol::client::Client;
//! use serde_json::json;
//!
//! smol::block_on(async {
//!     let client = Client::builder("http://127.0.0.1:3000/mcp")?
//!         .on_elicitation(|_request| async { Ok(json!({"action": "decline"})) })
//!         .connect()
//!         .await?;
//!     let tools = client.list_tools().await?;
//!     println!("{tools}");
//!     let result = client.call_tool("add", json!({"a": 1, "b": 2})).await?;
//!     println!("{result}");
//!     client.close().await;
//!     Ok::<(), mcpwire_smol::client::ClientError>(())
//! })?;
//! # Ok::<(), mcpwire_smol::client::ClientError>(())
//! ```

mod child;
mod conn;
mod driver;
pub mod oauth;
mod token_file;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_channel::{Receiver, Sender};
pub use mcpwire_core::client::{CallError, Era, EraChoice};
use mcpwire_core::client::{CallId, CallOptions, ClientConfig, ClientStats};
pub use mcpwire_core::jsonrpc::ErrorObject;
use serde_json::{Value, json};

use crate::clock::{Clock, to_core};
use crate::tls::TlsError;
use driver::{CallSinks, Command, Control, Inbox};
use futures_rustls::rustls::pki_types::CertificateDer;
use oauth::{OAuthConfig, TokenStore};

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, ErrorObject>> + Send>>;
type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;
pub(crate) type Handlers = Arc<BTreeMap<String, Handler>>;

/// A notification from the server about one call: progress, a log message, a listen frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Its method (`notifications/progress`, ...).
    pub method: String,
    /// Its params.
    pub params: Value,
}

/// Why a client operation failed.
#[derive(Debug, Clone)]
pub enum ClientError {
    /// The URL is not `http://host[:port]/path` or `https://host[:port]/path`.
    Url(&'static str),
    /// The client could not connect: it says why (unreachable, refused, incompatible).
    Connect(String),
    /// The call failed.
    Call(CallError),
    /// The client refused the command (closed, too many calls, too large).
    Refused(mcpwire_core::client::CommandError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Url(why) => write!(f, "bad URL: {why}"),
            ClientError::Connect(why) => write!(f, "could not connect: {why}"),
            ClientError::Call(error) => write!(f, "{error}"),
            ClientError::Refused(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<ClientError> for std::io::Error {
    fn from(error: ClientError) -> Self {
        std::io::Error::other(error.to_string())
    }
}

/// Configures a [`Client`]; [`ClientBuilder::connect`] starts it.
pub struct ClientBuilder {
    config: ClientConfig,
    handlers: BTreeMap<String, Handler>,
    capabilities: serde_json::Map<String, Value>,
    /// CA certificates trusted for `https://` beside Mozilla's roots.
    extra_roots: Vec<CertificateDer<'static>>,
    oauth: Option<OAuthConfig>,
    authorize: Option<oauth::Authorize>,
    client_key: Option<oauth::ClientKey>,
    store: Option<Arc<dyn TokenStore>>,
    /// The child to run, for a stdio client.
    child: Option<child::Spawn>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("handlers", &self.handlers.keys().collect::<Vec<_>>())
            .field("child", &self.child)
            .finish()
    }
}

impl ClientBuilder {
    /// A builder on every default but the transport.
    fn new(config: ClientConfig, child: Option<child::Spawn>) -> Self {
        ClientBuilder {
            config,
            handlers: BTreeMap::new(),
            capabilities: serde_json::Map::new(),
            extra_roots: Vec::new(),
            oauth: None,
            authorize: None,
            client_key: None,
            store: None,
            child,
        }
    }

    /// Names the client (`clientInfo`).
    #[must_use]
    pub fn name(mut self, name: &str, version: &str) -> Self {
        self.config.name = name.into();
        self.config.version = version.into();
        self
    }

    /// Which era to speak ([`EraChoice::Auto`] by default: probe, then fall back).
    #[must_use]
    pub fn era(mut self, era: EraChoice) -> Self {
        self.config.era = era;
        self
    }

    /// The session-era version `initialize` asks for (`2025-11-25` by default; also
    /// `2025-06-18`, `2025-03-26`). The server may choose an older one.
    #[must_use]
    pub fn session_version(mut self, version: &str) -> Self {
        self.config.session_version = version.into();
        self
    }

    /// The default timeout of a call (60 s).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeouts.request = to_core(timeout);
        self
    }

    /// How long getting (re)connected may take in all before the client gives up (60 s).
    #[must_use]
    pub fn reconnect_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeouts.reconnect = to_core(timeout);
        self
    }

    /// A stdio client: how long the child may take to exit once its stdin is closed, before
    /// its process group gets SIGTERM (2 s).
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        if let Some(child) = self.child.as_mut() {
            child.grace = grace;
        }
        self
    }

    /// A stdio client: how long the child may take to exit after SIGTERM, before its process
    /// group gets SIGKILL (2 s).
    #[must_use]
    pub fn kill_wait(mut self, wait: Duration) -> Self {
        if let Some(child) = self.child.as_mut() {
            child.kill_wait = wait;
        }
        self
    }

    /// With [`EraChoice::Auto`] over stdio: how long the `server/discover` probe may go
    /// unanswered before the client falls back to `initialize` (10 s).
    #[must_use]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeouts.connect = to_core(timeout);
        self
    }

    /// Trusts the CA certificates of the PEM file at `path` for an `https://` server, beside
    /// Mozilla's roots (which are always trusted): a private CA, or a test's.
    ///
    /// # Errors
    ///
    /// A [`TlsError`] that names the file: it cannot be read, holds no certificate, or one is
    /// not usable as a trust anchor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mcpwire_smol::client::Client;
    ///
    /// smol::block_on(async {
    ///     let client = Client::builder("https://127.0.0.1:8443/mcp")?
    ///         .ca_file("test-ca.pem")?
    ///         .connect()
    ///         .await?;
    ///     client.close().await;
    ///     Ok::<(), Box<dyn std::error::Error>>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, TlsError> {
        let path = path.as_ref();
        let certs = crate::tls::read_certificates(path)?;
        self.trust(certs, Some(path))
    }

    /// Trusts the CA certificates of `pem` (PEM text), as [`ClientBuilder::ca_file`] does.
    ///
    /// # Errors
    ///
    /// A [`TlsError`]: no certificate, or one not usable as a trust anchor.
    pub fn ca_pem(self, pem: &[u8]) -> Result<Self, TlsError> {
        let certs = crate::tls::certificates(pem, None)?;
        self.trust(certs, None)
    }

    fn trust(
        mut self,
        certs: Vec<CertificateDer<'static>>,
        file: Option<&std::path::Path>,
    ) -> Result<Self, TlsError> {
        self.extra_roots.extend(certs);
        // Checked now, so that connecting cannot fail for it.
        crate::tls::client_config(&self.extra_roots)
            .map_err(|e| TlsError::new(file, e.to_string()))?;
        Ok(self)
    }

    /// A header field sent with every request (`authorization`, ...).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.config
            .headers
            .push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Signs in with OAuth 2.1 when the server asks (a `401`, or a `403` for more scope):
    /// discovery, registration, the grant of `config`, refresh and step-up, the token sent
    /// only to this server. With [`Grant::AuthorizationCode`] a person authorizes through
    /// [`ClientBuilder::on_authorize`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mcpwire_smol::client::Client;
    /// use mcpwire_smol::client::oauth::OAuthConfig;
    ///
    /// smol::block_on(async {
    ///     let client = Client::builder("https://mcp.example/mcp")?
    ///         .oauth(OAuthConfig::authorization_code("http://127.0.0.1:8976/callback", "my-app"))
    ///         .on_authorize(|url| async move {
    ///             println!("open {url}");
    ///             // ... wait for the browser at the loopback redirect ...
    ///             Ok::<String, String>("http://127.0.0.1:8976/callback?code=...&state=...".into())
    ///         })
    ///         .connect()
    ///         .await?;
    ///     client.close().await;
    ///     Ok::<(), mcpwire_smol::client::ClientError>(())
    /// })?;
    /// # Ok::<(), mcpwire_smol::client::ClientError>(())
    /// ```
    #[must_use]
    pub fn oauth(mut self, config: OAuthConfig) -> Self {
        self.oauth = Some(config);
        self
    }

    /// The person's part of an authorization: `handler` gets the authorization URL, has it
    /// opened, and returns the URL the browser was redirected to (or why it cannot). Its
    /// time is bounded by [`FlowLimits::authorize_timeout`](oauth::FlowLimits).
    #[must_use]
    pub fn on_authorize<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        self.authorize = Some(Arc::new(move |url| Box::pin(handler(url))));
        self
    }

    /// The key that signs this client's assertions (`private_key_jwt`): a PKCS#8 PEM, EC for
    /// `ES256`, RSA for `RS256`.
    ///
    /// # Errors
    ///
    /// The key does not parse, or `algorithm` is not a signature algorithm.
    pub fn oauth_client_key(mut self, pem: &[u8], algorithm: &str) -> Result<Self, ClientError> {
        self.client_key =
            Some(oauth::ClientKey::from_pem(pem, algorithm).map_err(ClientError::Connect)?);
        Ok(self)
    }

    /// Where tokens are kept ([`MemoryStore`](oauth::MemoryStore) by default). Tokens stored
    /// for this server are sent from the first request.
    #[must_use]
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Answers `method` requests from the server with `handler`, and declares `capability`.
    fn handle<F, Fut>(mut self, method: &str, capability: Option<&str>, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |params| Box::pin(handler(params)));
        self.handlers.insert(method.into(), handler);
        if let Some(capability) = capability {
            self.capabilities.insert(capability.into(), json!({}));
        }
        self
    }

    /// Answers `elicitation/create` (and declares the `elicitation` capability).
    #[must_use]
    pub fn on_elicitation<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.handle("elicitation/create", Some("elicitation"), handler)
    }

    /// Answers `sampling/createMessage` (and declares `sampling`).
    #[must_use]
    pub fn on_sampling<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.handle("sampling/createMessage", Some("sampling"), handler)
    }

    /// Answers `roots/list` with `roots` (and declares `roots`).
    #[must_use]
    pub fn roots(self, roots: Vec<Value>) -> Self {
        let roots = Arc::new(roots);
        self.handle("roots/list", Some("roots"), move |_| {
            let roots = roots.clone();
            async move { Ok(json!({ "roots": *roots })) }
        })
    }

    /// Starts the client and waits until it is connected (or has given up).
    pub async fn connect(mut self) -> Result<Client, ClientError> {
        self.config.capabilities = Value::Object(self.capabilities).to_string();
        let clock = Clock::start();
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ClientError::Connect(e.to_string()))?;
        let authority = self.config.authority.clone();
        let trust = crate::tls::client_config(&self.extra_roots)
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let tls = self.config.secure.then(|| trust.clone());
        let server_url = format!(
            "{}://{}{}",
            if self.config.secure { "https" } else { "http" },
            self.config.authority,
            self.config.path
        );
        let mut oauth = self.oauth.take().map(|config| {
            let store = self
                .store
                .take()
                .unwrap_or_else(|| Arc::new(oauth::MemoryStore::default()));
            driver::Authorization {
                oauth: oauth::OAuth {
                    config,
                    authorize: self.authorize.take(),
                    key: self.client_key.take(),
                    store,
                },
                server_url: server_url.clone(),
                tls: trust,
                initial: oauth::AuthState::default(),
            }
        });
        if let Some(auth) = oauth.as_mut() {
            auth.initial = auth.oauth.stored_state().await;
            // The wait for credentials covers a whole flow: every fetch it may make and the
            // person's time, so that it never gives up on a flow that is still succeeding.
            let limits = auth.oauth.config.limits;
            let fetches = limits
                .fetch_timeout
                .as_millis()
                .saturating_mul(u64::from(limits.max_fetches));
            let flow = mcpwire_core::time::Duration::from_millis(fetches)
                .saturating_add(limits.authorize_timeout);
            if self.config.timeouts.authorization < flow {
                self.config.timeouts.authorization = flow;
            }
        }
        if let Some(header) = oauth
            .as_ref()
            .and_then(|a| oauth::authorization_for(&a.initial, &a.server_url))
        {
            // A stored token for this server goes from the first request (the core writes its
            // first request as it is made, so the token goes in its configuration); if it has
            // expired, the server's 401 starts a refresh.
            self.config
                .headers
                .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
            self.config.headers.push(("authorization".into(), header));
        }
        let target = match self.child.take() {
            Some(spawn) => driver::Target::Child(Some(spawn)),
            None => driver::Target::Http(authority, tls),
        };
        let core = mcpwire_core::client::Client::new(self.config, clock.now(), seed);
        let (sender, receiver) = async_channel::bounded(256);
        let (control, orders) = async_channel::unbounded();
        let (ready, is_ready) = async_channel::bounded(1);
        let (unsolicited, notifications) = async_channel::bounded(NOTIFICATION_QUEUE);
        let handlers: Handlers = Arc::new(self.handlers);
        let inbox = (sender.clone(), receiver);
        let control_wire = (control.clone(), orders);
        let thread = std::thread::Builder::new()
            .name("mcpwire-client".into())
            .spawn(move || {
                let wires = driver::Wires {
                    inbox,
                    control: control_wire,
                    ready,
                    unsolicited,
                };
                driver::run(core, clock, target, handlers, oauth, wires);
            })
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let mut client = Client {
            inbox: sender,
            control,
            close_sent: false,
            thread: Some(thread),
            tools: std::sync::Mutex::new(BTreeMap::new()),
            notifications,
            era: Era::Modern,
            next_token: std::sync::atomic::AtomicU64::new(1),
        };
        match is_ready.recv().await {
            Ok(Ok(era)) => {
                client.era = era;
                Ok(client)
            }
            Ok(Err(why)) => {
                client.close().await;
                Err(ClientError::Connect(why))
            }
            Err(_) => Err(ClientError::Connect("the client's driver ended".into())),
        }
    }
}

/// Each listed tool's `x-mcp-header` annotations: (path to the argument, header name).
type ToolHeaders = BTreeMap<String, Vec<(Vec<String>, String)>>;

/// Server notifications of no call held for [`Client::notifications`]; past it the newest
/// are dropped.
const NOTIFICATION_QUEUE: usize = 1024;

/// An MCP client. See the [module docs](self).
#[derive(Debug)]
pub struct Client {
    inbox: Sender<Inbox>,
    control: Sender<Control>,
    close_sent: bool,
    thread: Option<JoinHandle<()>>,
    tools: std::sync::Mutex<ToolHeaders>,
    notifications: Receiver<Notification>,
    era: Era,
    next_token: std::sync::atomic::AtomicU64,
}

/// A call in flight: await [`RunningCall::result`]; dropping it cancels the call.
#[derive(Debug)]
pub struct RunningCall {
    call: CallId,
    control: Sender<Control>,
    cancelled: std::sync::atomic::AtomicBool,
    outcome: Receiver<Result<Value, CallError>>,
    notes: Receiver<Notification>,
    done: bool,
}

impl RunningCall {
    /// Cancels the call now (also what dropping it does). Once: a second cancel does nothing.
    pub fn cancel(&self) {
        if !self
            .cancelled
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            // Unbounded, so never lost to a full inbox; one per call, so bounded by the calls.
            let _ = self.control.try_send(Control::Cancel(self.call));
        }
    }

    /// The next notification about this call (progress, log), if one comes before its end;
    /// `None` once it has ended (its outcome is then kept for [`RunningCall::result`]).
    pub async fn notification(&self) -> Option<Notification> {
        // The driver drops the notes' sender after it has sent the outcome, so the end of
        // the notes is the end of the call, and the outcome is never taken here.
        self.notes.recv().await.ok()
    }

    /// The call's result; each notification on the way is given to `on_note`.
    pub async fn result_with(
        mut self,
        mut on_note: impl FnMut(Notification),
    ) -> Result<Value, ClientError> {
        loop {
            let next = futures_lite::future::or(async { Err(self.outcome.recv().await) }, async {
                Ok(self.notes.recv().await)
            })
            .await;
            match next {
                Ok(Ok(note)) => on_note(note),
                Ok(Err(_)) => {}
                Err(outcome) => {
                    self.done = true;
                    while let Ok(note) = self.notes.try_recv() {
                        on_note(note);
                    }
                    return match outcome {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(error)) => Err(ClientError::Call(error)),
                        Err(_) => Err(ClientError::Call(CallError::Closed)),
                    };
                }
            }
        }
    }

    /// The call's result.
    pub async fn result(self) -> Result<Value, ClientError> {
        self.result_with(|_| {}).await
    }
}

impl Drop for RunningCall {
    fn drop(&mut self) {
        if !self.done {
            self.cancel();
        }
    }
}

/// A subscription: a 2026-07-28 listen stream ([`Client::listen`], and [`Client::subscribe`]
/// in that era), or a session's `resources/subscribe`. Dropping it ends it.
#[derive(Debug)]
pub struct Subscription {
    kind: SubscriptionKind,
}

#[derive(Debug)]
enum SubscriptionKind {
    Listen(RunningCall),
    Resource {
        token: u64,
        notes: Receiver<Notification>,
        control: Sender<Control>,
    },
}

impl Subscription {
    /// The next notification: a listen stream's frames (the first is
    /// `notifications/subscriptions/acknowledged`), or a resource's
    /// `notifications/resources/updated`. `None` once it has ended for good.
    pub async fn next(&self) -> Option<Notification> {
        match &self.kind {
            SubscriptionKind::Listen(running) => running.notification().await,
            SubscriptionKind::Resource { notes, .. } => notes.recv().await.ok(),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let SubscriptionKind::Resource { token, control, .. } = &self.kind {
            let _ = control.try_send(Control::Unsubscribe(*token));
        }
    }
}

impl Client {
    /// A client of `url` (`http://host:port/path`, or `https://` for TLS), to configure and
    /// connect.
    pub fn builder(url: &str) -> Result<ClientBuilder, ClientError> {
        let config = ClientConfig::from_url(url, "mcpwire-smol", env!("CARGO_PKG_VERSION"))
            .map_err(ClientError::Url)?;
        Ok(ClientBuilder::new(config, None))
    }

    /// A client of the server `command` runs, over its stdin and stdout (the stdio transport),
    /// to configure and connect: the child starts when the client does. It runs in a process
    /// group of its own; its stderr is kept only as a tail for errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::process::Command;
    /// use mcpwire_smol::client::Client;
    ///
    /// smol::block_on(async {
    ///     let mut command = Command::new("npx");
    ///     command.args(["-y", "@modelcontextprotocol/server-everything"]);
    ///     let client = Client::stdio(command).connect().await?;
    ///     println!("{}", client.list_tools().await?);
    ///     client.close().await; // stdin closed, then SIGTERM, then SIGKILL; reaped
    ///     Ok::<(), mcpwire_smol::client::ClientError>(())
    /// })?;
    /// # Ok::<(), mcpwire_smol::client::ClientError>(())
    /// ```
    #[must_use]
    pub fn stdio(command: std::process::Command) -> ClientBuilder {
        let config = ClientConfig::pipe("mcpwire-smol", env!("CARGO_PKG_VERSION"));
        ClientBuilder::new(
            config,
            Some(child::Spawn {
                command,
                grace: Duration::from_secs(2),
                kill_wait: Duration::from_secs(2),
            }),
        )
    }

    /// Starts `command` and connects to it over stdio on every default
    /// ([`Client::stdio`]).
    pub async fn spawn(command: std::process::Command) -> Result<Client, ClientError> {
        Client::stdio(command).connect().await
    }

    /// Connects to `url` on every default.
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        Client::builder(url)?.connect().await
    }

    async fn start(
        &self,
        method: &str,
        params: Option<Value>,
        options: CallOptions,
        listen: bool,
    ) -> Result<RunningCall, ClientError> {
        let (outcome_tx, outcome) = async_channel::bounded(1);
        let (notes_tx, notes) = async_channel::bounded(1024);
        let (started_tx, started) = async_channel::bounded(1);
        let command = Command::Request {
            method: method.into(),
            params,
            options,
            listen,
            started: started_tx,
            sinks: CallSinks {
                outcome: outcome_tx,
                notes: Some(notes_tx),
            },
            ends: (outcome, notes),
        };
        let closed = ClientError::Refused(mcpwire_core::client::CommandError::Closed);
        self.inbox
            .send(Inbox::Command(command))
            .await
            .map_err(|_| closed.clone())?;
        // The driver makes the RunningCall: if this future is dropped before it arrives, it
        // is dropped in the channel, and its Drop cancels the call; no call is left unowned.
        started
            .recv()
            .await
            .map_err(|_| closed)?
            .map_err(ClientError::Refused)
    }

    /// Starts any request; see [`RunningCall`]. A `tools/call` of a listed tool carries the
    /// `Mcp-Param-*` header fields its schema's `x-mcp-header` annotations ask for.
    pub async fn call(
        &self,
        method: &str,
        params: Option<Value>,
        timeout: Option<Duration>,
        progress: bool,
    ) -> Result<RunningCall, ClientError> {
        let headers = match (&params, method) {
            (Some(params), "tools/call") => self.param_headers(params),
            _ => Vec::new(),
        };
        let options = CallOptions {
            timeout: timeout.map(to_core),
            progress,
            headers,
        };
        self.start(method, params, options, false).await
    }

    fn param_headers(&self, params: &Value) -> Vec<(String, String)> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Vec::new();
        };
        let tools = self
            .tools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let arguments = params.get("arguments").unwrap_or(&Value::Null);
        tools
            .get(name)
            .map(|annotations| mcpwire_core::client::param_headers(annotations, arguments))
            .unwrap_or_default()
    }

    /// Sends any request and waits for its result.
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ClientError> {
        self.call(method, params, None, false).await?.result().await
    }

    /// `tools/list` (the first page). Tools whose `x-mcp-header` annotations are invalid are
    /// left out (calling them would be refused); the others' annotations are kept, so that
    /// [`Client::call_tool`] sends their `Mcp-Param-*` header fields.
    pub async fn list_tools(&self) -> Result<Value, ClientError> {
        let mut result = self.request("tools/list", None).await?;
        if let Some(Value::Array(tools)) = result.get_mut("tools") {
            let mut known = self
                .tools
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tools.retain(|tool| {
                let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
                let schema = tool.get("inputSchema").unwrap_or(&Value::Null);
                match mcpwire_core::client::header_annotations(schema) {
                    Ok(annotations) => {
                        known.insert(name.to_string(), annotations);
                        true
                    }
                    Err(_) => {
                        known.remove(name);
                        false
                    }
                }
            });
        }
        Ok(result)
    }

    /// `tools/call` of `name` with `arguments`.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, ClientError> {
        self.request(
            "tools/call",
            Some(json!({"name": name, "arguments": arguments})),
        )
        .await
    }

    /// `tools/call` with progress: `on_progress` gets each `notifications/progress` params.
    /// Dropping the future cancels the call.
    pub async fn call_tool_with_progress(
        &self,
        name: &str,
        arguments: Value,
        mut on_progress: impl FnMut(Value),
    ) -> Result<Value, ClientError> {
        let params = json!({"name": name, "arguments": arguments});
        let running = self.call("tools/call", Some(params), None, true).await?;
        running
            .result_with(|note| {
                if note.method == "notifications/progress" {
                    on_progress(note.params);
                }
            })
            .await
    }

    /// `resources/list`.
    pub async fn list_resources(&self) -> Result<Value, ClientError> {
        self.request("resources/list", None).await
    }

    /// `resources/read` of `uri`.
    pub async fn read_resource(&self, uri: &str) -> Result<Value, ClientError> {
        self.request("resources/read", Some(json!({"uri": uri})))
            .await
    }

    /// `prompts/list`.
    pub async fn list_prompts(&self) -> Result<Value, ClientError> {
        self.request("prompts/list", None).await
    }

    /// `prompts/get` of `name` with `arguments`.
    pub async fn get_prompt(&self, name: &str, arguments: Value) -> Result<Value, ClientError> {
        self.request(
            "prompts/get",
            Some(json!({"name": name, "arguments": arguments})),
        )
        .await
    }

    /// `completion/complete` for `reference` (`{"type":"ref/prompt","name":...}`) and the
    /// argument being completed.
    pub async fn complete(
        &self,
        reference: Value,
        argument: &str,
        value: &str,
    ) -> Result<Value, ClientError> {
        let params = json!({"ref": reference, "argument": {"name": argument, "value": value}});
        self.request("completion/complete", Some(params)).await
    }

    /// Opens a 2026-07-28 `subscriptions/listen` stream with `filter` (such as
    /// `{"toolsListChanged": true}`); it is reopened when it breaks, and ends when dropped.
    pub async fn listen(&self, filter: Value) -> Result<Subscription, ClientError> {
        let options = CallOptions::default();
        let running = self
            .start("subscriptions/listen", Some(filter), options, true)
            .await?;
        Ok(Subscription {
            kind: SubscriptionKind::Listen(running),
        })
    }

    /// Subscribes to updates of the resource `uri`: a listen stream in 2026-07-28,
    /// `resources/subscribe` in a session (made again in each new session, and undone with
    /// `resources/unsubscribe` when the subscription is dropped).
    pub async fn subscribe(&self, uri: &str) -> Result<Subscription, ClientError> {
        if self.era == Era::Modern {
            return self.listen(json!({ "resourceSubscriptions": [uri] })).await;
        }
        let token = self
            .next_token
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sink, notes) = async_channel::bounded(NOTIFICATION_QUEUE);
        let order = Control::Subscribe {
            token,
            uri: uri.into(),
            sink,
        };
        let closed = ClientError::Refused(mcpwire_core::client::CommandError::Closed);
        // Registered before it is asked for, so that no update falls between the two; on the
        // control channel, ahead of the request and never behind its own Unsubscribe.
        self.control.try_send(order).map_err(|_| closed)?;
        let subscription = Subscription {
            kind: SubscriptionKind::Resource {
                token,
                notes,
                control: self.control.clone(),
            },
        };
        self.request("resources/subscribe", Some(json!({ "uri": uri })))
            .await?;
        Ok(subscription)
    }

    /// Notifications of no call: `list_changed`, log messages, updates of resources with no
    /// [`Subscription`]. One stream, shared by every clone of the receiver; at most 1,024 wait,
    /// and past that the newest are dropped.
    #[must_use]
    pub fn notifications(&self) -> Receiver<Notification> {
        self.notifications.clone()
    }

    /// The era the client connected in.
    #[must_use]
    pub fn era(&self) -> Era {
        self.era
    }

    /// What the client holds now.
    pub async fn stats(&self) -> Option<ClientStats> {
        Some(self.stats_and_tasks().await?.0)
    }

    /// The tasks the client runs now: one per open connection, one per server request being
    /// answered by a handler. None outlives [`Client::close`].
    pub async fn tasks(&self) -> Option<usize> {
        Some(self.stats_and_tasks().await?.1)
    }

    async fn stats_and_tasks(&self) -> Option<(ClientStats, usize)> {
        let (reply, stats) = async_channel::bounded(1);
        self.inbox
            .send(Inbox::Command(Command::Stats(reply)))
            .await
            .ok()?;
        stats.recv().await.ok()
    }

    /// Ends the session (`DELETE`), fails every call still running, and returns once the
    /// driver thread has ended: no connection, timer or task is left. A stdio client's child
    /// is ended first (stdin closed, then SIGTERM and SIGKILL to its process group after
    /// [`ClientBuilder::shutdown_grace`] and [`ClientBuilder::kill_wait`]) and reaped.
    pub async fn close(mut self) {
        self.close_sent = true;
        let _ = self.control.try_send(Control::Close);
        if let Some(thread) = self.thread.take() {
            let _ = smol::unblock(move || thread.join()).await;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Dropped without close(): the driver still closes, within the close timeout (a child:
        // within the grace period and the kill wait, reaped), and its thread ends by itself.
        if !self.close_sent {
            let _ = self.control.try_send(Control::Close);
        }
    }
}
