//! What the client tells the application and the adapter: [`ClientEvent`], [`Transmit`], and
//! why a call or command failed.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use crate::jsonrpc::{ErrorObject, RawValue};

use super::config::Era;

/// A request the application made, from [`Client::request`](super::Client::request) until its one
/// outcome ([`ClientEvent::Response`] or [`ClientEvent::Failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub(crate) u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// A request from the server awaiting the application's answer
/// ([`Client::respond`](super::Client::respond)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerRequestId(pub(crate) u64);

impl fmt::Display for ServerRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server-request-{}", self.0)
    }
}

/// One connection the adapter opened for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientConnId(pub(crate) u64);

impl ClientConnId {
    /// The id as a number, for logs and maps.
    #[must_use]
    pub fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClientConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// What the adapter must do with its sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    /// Open a connection to the server, then call
    /// [`Client::handle_connected`](super::Client::handle_connected) or
    /// [`Client::handle_connect_failed`](super::Client::handle_connect_failed).
    Open {
        /// The connection's id.
        conn: ClientConnId,
    },
    /// Write the last `len` bytes appended to the output buffer to this connection.
    Write {
        /// The connection.
        conn: ClientConnId,
        /// How many bytes.
        len: usize,
    },
    /// Close this connection and forget it; the client already has.
    Close {
        /// The connection.
        conn: ClientConnId,
    },
}

/// Why a call failed. Every call ends in exactly one outcome.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The server answered with a JSON-RPC error.
    Rpc(ErrorObject),
    /// The call's deadline passed.
    Timeout,
    /// The application cancelled it.
    Cancelled,
    /// The server forgot the session the request was sent in (404); the client opens a new
    /// one, but this request's answer is gone.
    SessionLost,
    /// The connection carrying it broke and the answer cannot be recovered.
    ConnectionLost,
    /// The client closed, or gave up reaching the server.
    Closed,
    /// The server answered with an HTTP status and no JSON-RPC error.
    Http(u16),
    /// The server broke the protocol: the reason says how.
    Protocol(&'static str),
    /// The server refused it for want of credentials (401, or 403 with
    /// `error="insufficient_scope"`) and none that it took came: the reason says why (the
    /// application's, from [`Client::authorization_failed`](super::Client::authorization_failed),
    /// or "still refused after N authorizations").
    Unauthorized(String),
    /// The pipe to the server ended (over a [`Transport::Pipe`](super::Transport::Pipe)):
    /// what the adapter knows of why (a child's exit status and the tail of its stderr).
    Exited(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rpc(error) => write!(f, "error {}: {}", error.code, error.message),
            CallError::Timeout => f.write_str("timed out"),
            CallError::Cancelled => f.write_str("cancelled"),
            CallError::SessionLost => f.write_str("the server lost the session"),
            CallError::ConnectionLost => f.write_str("the connection broke"),
            CallError::Closed => f.write_str("the client is closed"),
            CallError::Http(status) => write!(f, "HTTP {status}"),
            CallError::Protocol(why) => write!(f, "protocol error: {why}"),
            CallError::Unauthorized(why) => write!(f, "not authorized: {why}"),
            CallError::Exited(why) => write!(f, "the server ended: {why}"),
        }
    }
}

impl core::error::Error for CallError {}

/// Why the client closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// [`Client::close`](super::Client::close).
    Requested,
    /// Getting connected failed `max_attempts` times in a row, or took past the reconnect
    /// deadline.
    Unreachable,
    /// The server refused the handshake with this status (403, ...).
    Refused(u16),
    /// The server speaks no version this client does (or not the era it was told to use).
    Incompatible(String),
    /// The configuration cannot be sent (a header field holding CR, LF or NUL).
    Misconfigured(String),
    /// The server refused the handshake for want of credentials, and none that it took came:
    /// the reason says why (the application's, from
    /// [`Client::authorization_failed`](super::Client::authorization_failed), or "still
    /// refused after N authorizations").
    Unauthorized(String),
    /// The pipe to the server ended: what the adapter knows of why.
    Exited(String),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Requested => f.write_str("closed"),
            CloseReason::Unreachable => f.write_str("the server could not be reached"),
            CloseReason::Refused(status) => write!(f, "the server refused with HTTP {status}"),
            CloseReason::Incompatible(why) => write!(f, "incompatible server: {why}"),
            CloseReason::Misconfigured(why) => write!(f, "misconfigured client: {why}"),
            CloseReason::Unauthorized(why) => write!(f, "not authorized: {why}"),
            CloseReason::Exited(why) => write!(f, "the server ended: {why}"),
        }
    }
}

/// What happened, for the application. Drain with
/// [`Client::poll_event`](super::Client::poll_event).
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// Connected (again, after [`ClientEvent::SessionLost`]): requests now go out.
    Connected {
        /// The era.
        era: Era,
        /// The negotiated protocol version.
        protocol_version: String,
        /// The `initialize` or `server/discover` result.
        server: Box<RawValue>,
    },
    /// The server forgot the session; a new one is being made.
    SessionLost,
    /// The server refused a request for want of credentials: the client waits (at most
    /// [`ClientTimeouts::authorization`](super::ClientTimeouts::authorization)) for
    /// [`Client::set_authorization`](super::Client::set_authorization) or
    /// [`Client::authorization_failed`](super::Client::authorization_failed), and starts
    /// nothing meanwhile. Once per wait, however many requests the server refuses in it.
    AuthorizationRequired {
        /// 401, or 403 with `error="insufficient_scope"` (step-up).
        status: u16,
        /// The response's `WWW-Authenticate` field value(s), several joined with ", " (empty
        /// when none), at most 8 KiB (cut at a char boundary).
        challenge: String,
    },
    /// A call's result.
    Response {
        /// The call.
        call: CallId,
        /// The result, as sent.
        result: Box<RawValue>,
    },
    /// A call failed.
    Failed {
        /// The call.
        call: CallId,
        /// Why.
        error: CallError,
    },
    /// A notification from the server.
    Notification {
        /// The call whose stream carried it (progress, log messages, listen frames), if any.
        call: Option<CallId>,
        /// Its method.
        method: String,
        /// Its params.
        params: Option<Box<RawValue>>,
    },
    /// The server asks something of the application (sampling, elicitation, roots): answer
    /// with [`Client::respond`](super::Client::respond) before the server-request timeout.
    ServerRequest {
        /// The handle to answer with.
        request: ServerRequestId,
        /// The call it is part of (a 2026-07-28 `input_required` result), if any.
        call: Option<CallId>,
        /// Its method.
        method: String,
        /// Its params.
        params: Option<Box<RawValue>>,
    },
    /// The client closed: every call has had its outcome, nothing is left.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// A command the client refused. Nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// The client is closing or closed.
    Closed,
    /// At [`ClientLimits::max_calls`](super::ClientLimits::max_calls), or
    /// `max_held_bytes`/`max_queued`.
    Busy,
    /// The params or body are larger than `max_request_bytes`, or an `Authorization` value
    /// is longer than `max_authorization_bytes`.
    TooLarge,
    /// The params are not a JSON object.
    InvalidParams,
    /// The call or server request is not (or no longer) known: it already had its outcome.
    Unknown,
    /// The connected era has no such thing (a listen stream in the session era).
    Unsupported,
    /// A header field name or value holds CR, LF or NUL, or the name is empty.
    InvalidHeader,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandError::Closed => "the client is closed",
            CommandError::Busy => "too many requests outstanding",
            CommandError::TooLarge => "request too large",
            CommandError::InvalidParams => "params must be a JSON object",
            CommandError::Unknown => "no such call or server request",
            CommandError::Unsupported => "not available in the connected protocol era",
            CommandError::InvalidHeader => "a header field holds CR, LF or NUL",
        })
    }
}

impl core::error::Error for CommandError {}
