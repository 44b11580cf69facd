//! [`ClientConfig`]: where the server is, which era to speak, how long anything may take and how
//! much the client may hold.

use alloc::string::String;

use crate::time::Duration;

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Streamable HTTP (and HTTP+SSE): connections the client opens as it needs them.
    Http,
    /// One byte stream both ways, one JSON-RPC message per line: a child's stdin and stdout
    /// (the stdio transport), or any other pipe. The client asks for exactly one connection
    /// ([`Transmit::Open`](super::Transmit::Open)); nothing is reconnected or resumed, and
    /// when the pipe ends ([`Client::handle_pipe_ended`](super::Client::handle_pipe_ended))
    /// every call fails at once.
    Pipe,
}

/// Which protocol era the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraChoice {
    /// Probe with `server/discover`; fall back to `initialize` when the server is not modern
    /// (the 2026-07-28 specification's backward-compatibility rule), and from there to
    /// HTTP+SSE as [`EraChoice::Sessions`] does.
    Auto,
    /// 2026-07-28 only: a server that does not speak it is an error.
    Modern,
    /// The session era only (`initialize`, 2025-11-25 down to 2025-03-26), and the 2024-11-05
    /// HTTP+SSE transport when `initialize` is refused with 400, 404 or 405 (the fallback the
    /// 2025-03-26 specification describes).
    Sessions,
}

/// The era a connected client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: stateless requests, listen streams.
    Modern,
    /// Streamable HTTP with a session (2025-03-26 to 2025-11-25).
    Sessions,
    /// The 2024-11-05 HTTP+SSE transport: a GET stream that names the URL to POST to; every
    /// answer arrives on that stream.
    HttpSse,
}

/// How long things may take. Every wait the client makes is bounded by one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// Opening one connection. Over a [`Transport::Pipe`] with [`EraChoice::Auto`]: how long
    /// the `server/discover` probe may go unanswered before the client falls back to
    /// `initialize` (a session-era server may ignore a method it does not know).
    pub connect: Duration,
    /// A request, from the application's call to its outcome, unless the call sets its own.
    pub request: Duration,
    /// One episode of getting connected (the first handshake, or reconnecting after a loss)
    /// or of failing to reach the server once connected (connections that do not open): past
    /// it the client gives up and closes. The episode ends when the handshake completes, or,
    /// once connected, when a connection opens or a response head arrives: a call slower than
    /// this on an open connection does not close the client.
    pub reconnect: Duration,
    /// How long the application may take to answer a request from the server.
    pub server_request: Duration,
    /// A notification or response posted to the server.
    pub post: Duration,
    /// The `DELETE` that ends a session on close.
    pub close: Duration,
    /// An idle keep-alive connection is closed after this long.
    pub idle_connection: Duration,
    /// How long the client waits for credentials after
    /// [`ClientEvent::AuthorizationRequired`](super::ClientEvent::AuthorizationRequired):
    /// past it, the wait ends as
    /// [`Client::authorization_failed`](super::Client::authorization_failed) with "no
    /// credentials within N s". A person may be signing in: this is minutes, not seconds.
    pub authorization: Duration,
}

impl Default for ClientTimeouts {
    /// 10 s to connect, 60 s per request (the TypeScript SDK's default), 60 s to reconnect,
    /// 60 s for the application to answer the server, 10 s per post, 5 s to close, 30 s idle,
    /// 300 s for credentials.
    fn default() -> Self {
        ClientTimeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            reconnect: Duration::from_secs(60),
            server_request: Duration::from_secs(60),
            post: Duration::from_secs(10),
            close: Duration::from_secs(5),
            idle_connection: Duration::from_secs(30),
            authorization: Duration::from_secs(300),
        }
    }
}

/// Exponential backoff with jitter between attempts.
///
/// Attempt `n` (from 0) waits a uniformly drawn time in `[d/2, d]` with `d = min(max, initial ×
/// 2^n)`, or at least what the server asked for (`retry:` on an event stream, `Retry-After` on
/// a 503 or 429), capped by `max`. After `max_attempts` failures in a row the operation fails.
///
/// # Long-lived streams
///
/// A listen stream (2026-07-28), the session's GET stream and the HTTP+SSE stream are reopened
/// when they end or break. Whether that end is a failure in a row depends on whether the stream
/// made progress:
///
/// - it **delivered** something to the application beyond what opens it (a listen's
///   `notifications/subscriptions/acknowledged`, a priming event with no data, the HTTP+SSE
///   `endpoint` event and handshake, a server's `ping`), or
/// - it stayed **open for at least `max`**.
///
/// After progress the stream is reopened promptly (at the server's `retry:` advice, at least
/// 100 ms, or the first backoff step) and its failures start over. Any other end (a stream the
/// server closes right after its acknowledgment or priming event) is a failure: the next
/// reopen backs off exponentially up to `max`, and after `max_attempts` of them in a row the
/// listen fails with [`CallError::ConnectionLost`](super::CallError::ConnectionLost), the GET
/// stream is given up for the session, and an HTTP+SSE client closes. A hostile server can
/// therefore make the client reopen a stream at most `max_attempts` times in a row, then once
/// per delivered message or once per `max`: the rate the capped backoff settles at anyway,
/// so a server (or a proxy) that ends quiet streams on a schedule is followed for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Failures in a row after which the operation fails.
    pub max_attempts: u32,
    /// New credentials one request may be refused with (401, or 403 with
    /// `error="insufficient_scope"`) in a row: refused again after this many, a call fails
    /// with [`CallError::Unauthorized`](super::CallError::Unauthorized), the handshake closes
    /// the client with [`CloseReason::Unauthorized`](super::CloseReason::Unauthorized), a post
    /// is dropped and the session's GET stream is given up.
    pub max_authorizations: u32,
}

impl Default for Retry {
    /// 250 ms doubling to 10 s, 8 attempts, 3 authorizations.
    fn default() -> Self {
        Retry {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            max_attempts: 8,
            max_authorizations: 3,
        }
    }
}

/// How much the client may hold. Past each limit the command that would exceed it is refused
/// with [`CommandError`](super::CommandError); bytes from the server past a limit fail what
/// they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Requests outstanding at once (listen streams included).
    pub max_calls: usize,
    /// Connections open at once; more exchanges than this wait their turn.
    pub max_connections: usize,
    /// Largest JSON-RPC message from the server (a JSON body, or one event's data).
    pub max_message_bytes: usize,
    /// Largest params of one request, or body of one post.
    pub max_request_bytes: usize,
    /// Bytes held for the server in all: params kept for re-sending, posts not yet sent, the
    /// `Authorization` value.
    pub max_held_bytes: usize,
    /// Requests from the server awaiting the application's answer.
    pub max_server_requests: usize,
    /// Notifications and posts queued; past it new notifications are dropped (and counted).
    pub max_queued: usize,
    /// `input_required` rounds one request may go through.
    pub max_input_rounds: u32,
    /// Longest `Authorization` field value
    /// [`Client::set_authorization`](super::Client::set_authorization) accepts.
    pub max_authorization_bytes: usize,
}

impl Default for ClientLimits {
    /// 1,024 calls, 16 connections, 4 MiB messages and requests, 64 MiB held, 64 server
    /// requests, 1,024 queued, 8 input rounds, 16 KiB of `Authorization`.
    fn default() -> Self {
        ClientLimits {
            max_calls: 1024,
            max_connections: 16,
            max_message_bytes: 4 * 1024 * 1024,
            max_request_bytes: 4 * 1024 * 1024,
            max_held_bytes: 64 * 1024 * 1024,
            max_server_requests: 64,
            max_queued: 1024,
            max_input_rounds: 8,
            max_authorization_bytes: 16 * 1024,
        }
    }
}

/// Everything a [`Client`](super::Client) needs to know before it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// How the server is reached.
    pub transport: Transport,
    /// `host:port` as sent in `Host`.
    pub authority: String,
    /// Whether the server is reached over TLS (`https://`): the adapter connects with TLS,
    /// and an HTTP+SSE `endpoint` event may name the server with `https://`.
    pub secure: bool,
    /// The MCP endpoint's path (and query), such as `/mcp`.
    pub path: String,
    /// Which era to speak.
    pub era: EraChoice,
    /// `clientInfo.name`.
    pub name: String,
    /// `clientInfo.version`.
    pub version: String,
    /// The client capabilities as a JSON object (`{"elicitation":{}}`, ...).
    pub capabilities: String,
    /// Waits.
    pub timeouts: ClientTimeouts,
    /// Backoff between attempts.
    pub retry: Retry,
    /// Bounds.
    pub limits: ClientLimits,
    /// Extra header fields sent with every request. An `authorization` field among them is the
    /// client's first credential: it is sent as
    /// [`Client::set_authorization`](super::Client::set_authorization) would, and replaced by
    /// it.
    pub headers: alloc::vec::Vec<(String, String)>,
    /// The session-era version `initialize` asks for (one of
    /// [`SESSION_VERSIONS`](super::SESSION_VERSIONS); the newest by default). The server may
    /// answer with an older one it prefers, which the client then speaks.
    pub session_version: String,
}

impl ClientConfig {
    /// A client of `http://{authority}{path}` named `name` `version`, on every default.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_core::client::{ClientConfig, EraChoice};
    ///
    /// let config = ClientConfig::new("127.0.0.1:3000", "/mcp", "my-agent", "1.0.0");
    /// assert_eq!(config.era, EraChoice::Auto);
    /// ```
    #[must_use]
    pub fn new(authority: &str, path: &str, name: &str, version: &str) -> ClientConfig {
        ClientConfig {
            transport: Transport::Http,
            authority: authority.into(),
            secure: false,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            era: EraChoice::Auto,
            name: name.into(),
            version: version.into(),
            capabilities: "{}".into(),
            timeouts: ClientTimeouts::default(),
            retry: Retry::default(),
            limits: ClientLimits::default(),
            headers: alloc::vec::Vec::new(),
            session_version: super::SESSION_VERSIONS[0].into(),
        }
    }

    /// A client of a server over a pipe ([`Transport::Pipe`]: a child's stdin and stdout),
    /// named `name` `version`, on every default.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_core::client::{ClientConfig, Transport};
    ///
    /// let config = ClientConfig::pipe("my-agent", "1.0.0");
    /// assert_eq!(config.transport, Transport::Pipe);
    /// ```
    #[must_use]
    pub fn pipe(name: &str, version: &str) -> ClientConfig {
        let mut config = ClientConfig::new("", "/", name, version);
        config.transport = Transport::Pipe;
        config
    }

    /// Parses `http://host[:port][/path]` or `https://host[:port][/path]` into a config; an
    /// `https` URL sets [`ClientConfig::secure`], and the adapter connects with TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_core::client::ClientConfig;
    ///
    /// let config = ClientConfig::from_url("http://127.0.0.1:3000/mcp", "cli", "1").unwrap();
    /// assert_eq!((config.authority.as_str(), config.path.as_str()), ("127.0.0.1:3000", "/mcp"));
    /// assert!(!config.secure);
    /// assert!(ClientConfig::from_url("https://mcp.example/mcp", "cli", "1").unwrap().secure);
    /// assert!(ClientConfig::from_url("ftp://x", "cli", "1").is_err());
    /// ```
    pub fn from_url(url: &str, name: &str, version: &str) -> Result<ClientConfig, &'static str> {
        let (secure, rest) = match url.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (
                false,
                url.strip_prefix("http://")
                    .ok_or("the URL must start with http:// or https://")?,
            ),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            alloc::format!("/{path}")
        } else {
            path.into()
        };
        if authority.is_empty()
            || authority.contains('@')
            || !authority.bytes().all(|b| b.is_ascii_graphic())
            || !path.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err("the URL's host or path is not plain ASCII");
        }
        let mut config = ClientConfig::new(authority, &path, name, version);
        config.secure = secure;
        Ok(config)
    }
}
