//! [`Context`]: what a handler can do while it answers one request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcpwire_core::engine::{
    CommandError, LogLevel, ProtocolVersion, RequestHandle, SessionKey, Target,
};
use serde::Serialize;
use serde_json::Value;

use crate::clock::to_core;
use crate::handle::{ask, raw_json};
use crate::input::{Command, Input};
use crate::{Error, ServerHandle, Stopped};

/// What the server knows of a session's client.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) protocol_version: ProtocolVersion,
    pub(crate) client_info: Option<Value>,
    pub(crate) client_capabilities: Option<Value>,
}

/// Tells whether a request is over: answered, cancelled by the client, timed out, or its
/// session ended. A handler's task is dropped at that moment; hand this to work running
/// elsewhere (a thread, `smol::unblock`) so that it can stop too.
#[derive(Debug, Clone)]
pub struct Cancellation {
    over: async_channel::Receiver<()>,
}

impl Cancellation {
    /// Whether the request is over.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.over.is_closed()
    }

    /// Waits until the request is over.
    pub async fn cancelled(&self) {
        // Nothing is ever sent: the channel closes when the request ends.
        let _ = self.over.recv().await;
    }
}

/// A handler's view of its request: progress, log messages, requests to the client,
/// cancellation, and the server.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    handle: RequestHandle,
    session: Arc<SessionInfo>,
    input: async_channel::Sender<Input>,
    cancellation: Cancellation,
    server: ServerHandle,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("session", &self.inner.handle.session)
            .field("protocol_version", &self.inner.session.protocol_version)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(
        handle: RequestHandle,
        session: Arc<SessionInfo>,
        input: async_channel::Sender<Input>,
        over: async_channel::Receiver<()>,
    ) -> Context {
        Context {
            inner: Arc::new(Inner {
                handle,
                session,
                server: ServerHandle::new(input.clone()),
                input,
                cancellation: Cancellation { over },
            }),
        }
    }

    /// The session the request arrived on.
    #[must_use]
    pub fn session(&self) -> SessionKey {
        self.inner.handle.session
    }

    /// The protocol revision the session negotiated.
    #[must_use]
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.session.protocol_version
    }

    /// The client's `clientInfo`.
    #[must_use]
    pub fn client_info(&self) -> Option<&Value> {
        self.inner.session.client_info.as_ref()
    }

    /// The client's `capabilities` (check `sampling` or `elicitation` before asking for them).
    #[must_use]
    pub fn client_capabilities(&self) -> Option<&Value> {
        self.inner.session.client_capabilities.as_ref()
    }

    /// Whether the request is over (see [`Cancellation`]).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancellation.is_cancelled()
    }

    /// A cancellation signal to hand to other work.
    #[must_use]
    pub fn cancellation(&self) -> Cancellation {
        self.inner.cancellation.clone()
    }

    /// The server, for broadcasts and resource updates.
    #[must_use]
    pub fn server(&self) -> &ServerHandle {
        &self.inner.server
    }

    /// Sends `notifications/progress`, if the client asked for progress (it sent a
    /// `progressToken`; otherwise [`CommandError::NoProgressToken`]). Progress must increase.
    pub async fn progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<&str>,
    ) -> Result<(), CommandError> {
        let handle = self.inner.handle;
        let message = message.map(str::to_string);
        ask(&self.inner.input, |ack| Command::Progress {
            handle,
            progress,
            total,
            message,
            ack,
        })
        .await
        .unwrap_or(Err(CommandError::ShuttingDown))
    }

    /// Sends `notifications/message` related to this request (filtered by the client's
    /// `logging/setLevel`).
    pub async fn log<T: Serialize + ?Sized>(
        &self,
        level: LogLevel,
        logger: Option<&str>,
        data: &T,
    ) -> Result<(), CommandError> {
        let data = raw_json(data).ok_or(CommandError::InvalidJson)?;
        let target = Target::Request(self.inner.handle);
        let logger = logger.map(str::to_string);
        ask(&self.inner.input, |ack| Command::Log {
            target,
            level,
            logger,
            data,
            ack,
        })
        .await
        .unwrap_or(Err(CommandError::ShuttingDown))
    }

    /// Sends a request to the client, related to this request, and waits for its result.
    /// `timeout` defaults to the server's `client_request` timeout.
    pub async fn request<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: &P,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let params = Some(raw_json(params).ok_or(CommandError::InvalidJson)?);
        let target = Target::Request(self.inner.handle);
        let method = method.to_string();
        let raw = ask(&self.inner.input, |ack| Command::RequestClient {
            target,
            method,
            params,
            timeout: timeout.map(to_core),
            ack,
        })
        .await
        .map_err(|Stopped| Error::from(CommandError::ShuttingDown))??;
        Ok(serde_json::from_str(raw.get())?)
    }

    /// `sampling/createMessage`: asks the client's model for a completion.
    pub async fn create_message<P: Serialize + ?Sized>(&self, params: &P) -> Result<Value, Error> {
        self.request("sampling/createMessage", params, None).await
    }

    /// `elicitation/create` (form mode): asks the user for input matching `requested_schema`.
    /// The result's `action` is `accept` (with `content`), `decline` or `cancel`.
    pub async fn elicit(&self, message: &str, requested_schema: &Value) -> Result<Value, Error> {
        let params = serde_json::json!({
            "message": message,
            "requestedSchema": requested_schema,
        });
        self.request("elicitation/create", &params, None).await
    }

    /// Ends this request's SSE stream now, without ending the request: the client reconnects
    /// and reads the rest (2025-11-25 clients; [`CommandError::NotResumable`] otherwise).
    /// Frees a connection during a long call.
    pub async fn close_stream(&self) -> Result<(), CommandError> {
        let handle = self.inner.handle;
        ask(&self.inner.input, |ack| Command::CloseStream {
            handle,
            ack,
        })
        .await
        .unwrap_or(Err(CommandError::ShuttingDown))
    }
}
