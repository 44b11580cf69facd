//! What the engine tells the application, and what the application tells the engine.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use serde_json::value::RawValue;

use super::ids::{ExchangeId, OutboundHandle, RequestHandle, SessionKey, VerificationId};
use super::protocol::ProtocolVersion;

/// Something the application must know about. Poll with
/// [`Engine::poll_event`](super::Engine::poll_event) after every input.
#[derive(Debug)]
pub enum Event {
    /// A client initialized a session.
    SessionOpened {
        /// The new session.
        session: SessionKey,
        /// The negotiated protocol version.
        protocol_version: ProtocolVersion,
        /// The client's `clientInfo`, as raw JSON. The engine keeps the same bytes for the
        /// session's life (charged to its budget): keep this `Arc`, not a parsed copy.
        client_info: Option<Arc<RawValue>>,
        /// The client's `capabilities`, as raw JSON, shared the same way.
        client_capabilities: Option<Arc<RawValue>>,
    },
    /// A request for the application (anything but the lifecycle methods the engine answers
    /// itself). Answer it with [`Engine::respond`](super::Engine::respond).
    Request {
        /// Answer with this; relate progress and logs to it.
        handle: RequestHandle,
        /// The method.
        method: String,
        /// The params, as raw JSON.
        params: Option<Box<RawValue>>,
    },
    /// A notification for the application.
    Notification {
        /// The session it arrived on.
        session: SessionKey,
        /// The method.
        method: String,
        /// The params, as raw JSON.
        params: Option<Box<RawValue>>,
    },
    /// A request will get no answer: stop working on it. Answering it now is harmless and
    /// returns [`CommandError::StaleHandle`].
    Cancelled {
        /// The request.
        handle: RequestHandle,
        /// Why.
        reason: CancelReason,
    },
    /// The client answered a request the application sent, or it timed out.
    ClientResponse {
        /// The request.
        handle: OutboundHandle,
        /// The result, or why there is none.
        result: Result<Box<RawValue>, ClientError>,
    },
    /// A request's stream has room again: retry the command for it that returned
    /// [`CommandError::WouldBlock`].
    Writable {
        /// The request.
        handle: RequestHandle,
    },
    /// A request's stream lost its connection. The request goes on: what the application sends
    /// for it is kept for the client to resume (within the resume log, after which it waits).
    StreamDetached {
        /// The request.
        handle: RequestHandle,
    },
    /// The client resumed a request's detached stream: messages reach it again.
    StreamResumed {
        /// The request.
        handle: RequestHandle,
    },
    /// An HTTP request for one of the configured `application_paths`. Answer it with
    /// [`Engine::respond_http`](super::Engine::respond_http).
    HttpRequest {
        /// Answer with this.
        exchange: ExchangeId,
        /// The request, head and body.
        request: crate::http1::Request,
    },
    /// A request carries a bearer token for the protected resource ([`Config::auth`]): verify
    /// it (its signature, issuer, audience, expiry, or by introspection) and answer with
    /// [`Engine::token_verified`] within `Timeouts::token_verification`. Requests with the
    /// same token wait for this one verdict.
    ///
    /// [`Config::auth`]: super::Config::auth
    /// [`Engine::token_verified`]: super::Engine::token_verified
    VerifyToken {
        /// Answer with this.
        verification: VerificationId,
        /// The token, as sent.
        token: String,
    },
    /// A token verification ended without a verdict (its deadline passed, every request
    /// waiting for it went away, or the engine shut down): stop verifying. Its requests, if
    /// any are left, were answered `503`.
    VerificationCancelled {
        /// The verification.
        verification: VerificationId,
    },
    /// A session ended. Every handle on it is now stale.
    SessionClosed {
        /// The session.
        session: SessionKey,
        /// Why.
        reason: CloseReason,
    },
}

/// Why a request was cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// The client sent `notifications/cancelled`, with its reason if it gave one.
    ByClient(Option<String>),
    /// The configured request timeout passed.
    Timeout,
    /// Its response can no longer reach the client: the connection of a JSON-mode POST dropped,
    /// or a stream's resume window passed.
    Undeliverable,
    /// The session ended.
    SessionClosed,
    /// The client closed the response stream of a 2026-07-28 request before its answer:
    /// in that era, this is how a client cancels. Nothing more is sent for the request.
    StreamClosed,
    /// The server shut down and the grace period ended.
    Shutdown,
}

/// Why a request to the client has no result.
#[derive(Debug, Clone)]
pub enum ClientError {
    /// The client answered with a JSON-RPC error.
    Rpc {
        /// The error code.
        code: i64,
        /// The message.
        message: String,
        /// The data, as raw JSON.
        data: Option<Box<RawValue>>,
    },
    /// No answer in time.
    Timeout,
    /// The session ended first.
    SessionClosed,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloseReason {
    /// The client sent DELETE.
    Deleted,
    /// No stream and no request for the idle timeout.
    IdleTimeout,
    /// `notifications/initialized` never came.
    InitTimeout,
    /// The ping heartbeat failed too often.
    HeartbeatFailed,
    /// The legacy SSE stream that carried the session closed.
    StreamClosed,
    /// The application closed it.
    ClosedByApplication,
    /// The server shut down.
    Shutdown,
    /// The session held more bytes than `limits.max_session_bytes` and nothing it held could
    /// be given up.
    OverBudget,
}

impl CloseReason {
    /// Every reason, for metrics labels.
    pub const ALL: [CloseReason; 8] = [
        CloseReason::Deleted,
        CloseReason::IdleTimeout,
        CloseReason::InitTimeout,
        CloseReason::HeartbeatFailed,
        CloseReason::StreamClosed,
        CloseReason::ClosedByApplication,
        CloseReason::Shutdown,
        CloseReason::OverBudget,
    ];

    /// A short snake_case label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::Deleted => "deleted",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::InitTimeout => "init_timeout",
            CloseReason::HeartbeatFailed => "heartbeat_failed",
            CloseReason::StreamClosed => "stream_closed",
            CloseReason::ClosedByApplication => "closed_by_application",
            CloseReason::Shutdown => "shutdown",
            CloseReason::OverBudget => "over_budget",
        }
    }
}

/// The application's answer to a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A result object, as JSON.
    Result(Box<RawValue>),
    /// A JSON-RPC error.
    Error {
        /// The error code.
        code: i64,
        /// The message.
        message: String,
        /// Optional data, as JSON.
        data: Option<Box<RawValue>>,
    },
    /// For a 2026-07-28 request: the client must answer `input_requests` (an object of
    /// `{key: {method, params}}`: `elicitation/create`, `sampling/createMessage`,
    /// `roots/list`) and retry the request with the answers in `inputResponses`. `state`
    /// comes back with the retry, sealed by the engine meanwhile ([`Engine::request_state`]):
    /// the server keeps nothing for a flow the client abandons.
    ///
    /// [`Engine::request_state`]: super::Engine::request_state
    InputRequired {
        /// The requests for the client, as a JSON object.
        input_requests: Box<RawValue>,
        /// What the retry needs to resume, opaque to the engine.
        state: alloc::vec::Vec<u8>,
    },
}

/// Why a command was refused. None of these is a bug in the caller's use of the engine; a
/// stale handle in particular is normal (the client went away first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// The request, session or outbound request has ended.
    StaleHandle,
    /// The request carried no progress token, so progress cannot be sent.
    NoProgressToken,
    /// Progress must increase.
    ProgressNotIncreasing,
    /// The params or result are not valid JSON, or not an object where one is required.
    InvalidJson,
    /// The session has too many requests to the client in flight.
    TooManyOutbound,
    /// There is no stream to carry the message and the backlog is not used for requests.
    NoStream,
    /// The server is shutting down.
    ShuttingDown,
    /// The client could not resume the stream: it is not a POST's SSE stream of a session on
    /// 2025-11-25 (earlier clients get no priming event to resume from, and 2026-07-28
    /// streams are not resumable).
    NotResumable,
    /// The client did not declare the capability the request to it needs (`sampling`,
    /// `elicitation`, `roots`): the specification forbids sending it.
    CapabilityNotDeclared,
    /// A 2026-07-28 request cannot send requests to the client: ask for input with an
    /// input-required result instead.
    StatelessRequest,
    /// An input-required result answers only a 2026-07-28 request that may ask for input (not
    /// a list); in the session era, send the requests to the client instead.
    InputNotAllowed,
    /// The request's stream has no room for the message now: nothing was sent. Retry the same
    /// command once [`Event::Writable`] names the request (or stop, if it is cancelled first).
    WouldBlock,
    /// The message is larger than `limits.max_message_bytes` (or than the engine's whole output
    /// share), so it could never be sent.
    TooLarge,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandError::StaleHandle => "the request or session has ended",
            CommandError::NoProgressToken => "the request carried no progress token",
            CommandError::ProgressNotIncreasing => "progress must increase",
            CommandError::InvalidJson => "not valid JSON of the required shape",
            CommandError::TooManyOutbound => "too many requests to the client in flight",
            CommandError::NoStream => "no stream can carry the message",
            CommandError::ShuttingDown => "the server is shutting down",
            CommandError::NotResumable => "the client could not resume this stream",
            CommandError::CapabilityNotDeclared => "the client did not declare that capability",
            CommandError::InputNotAllowed => {
                "only a 2026-07-28 request other than a list can answer input_required"
            }
            CommandError::StatelessRequest => {
                "a 2026-07-28 request sends no requests to the client; return input_required"
            }
            CommandError::WouldBlock => "no room on the request's stream now; retry when writable",
            CommandError::TooLarge => "the message is larger than the message limit",
        })
    }
}

impl core::error::Error for CommandError {}
