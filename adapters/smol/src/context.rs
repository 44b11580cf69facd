//! [`Context`]: what a handler can do while it answers one request.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mcpwire_core::engine::{
    CommandError, LogLevel, ProtocolVersion, RequestHandle, SessionKey, Target,
};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::clock::to_core;
use crate::handle::{ask, raw_json};
use crate::input::{Command, Input};
use crate::{Error, InputRequest, ServerHandle};

fn parse(raw: Option<&RawValue>) -> Option<Value> {
    serde_json::from_str(raw?.get()).ok()
}

/// What the server knows of a session's client: the engine's own bytes of it, shared (the
/// engine charges them to the session's budget), not a parsed copy.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) protocol_version: ProtocolVersion,
    pub(crate) client_info: Option<Arc<RawValue>>,
    pub(crate) client_capabilities: Option<Arc<RawValue>>,
    /// Who the client is, when the server is protected.
    pub(crate) principal: Option<Arc<str>>,
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
///
/// Messages for the request wait for room: when the client reads slower than the handler
/// sends, `progress`, `log` and `request` return only once the message has room on the
/// request's stream, so a client that keeps up receives everything and one that does not
/// slows the handler down rather than the server's memory up.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    handle: RequestHandle,
    session: Arc<SessionInfo>,
    /// A 2026-07-28 request's answers to input it asked for in earlier rounds.
    answers: crate::app::Answers,
    /// The keys the handler asked for so far, in order: their answers ride in the next state.
    asked: std::sync::Mutex<Vec<String>>,
    /// A 2026-07-28 call's `Mcp-Param-*` headers; `None` where no header layer carried the
    /// request (stdio), so that none can be demanded.
    param_headers: Option<Vec<ParamHeader>>,
    input: async_channel::Sender<Input>,
    cancellation: Cancellation,
    server: ServerHandle,
    /// Whether the request's stream has a connection (see [`Context::is_connected`]).
    connected: Arc<AtomicBool>,
    /// One message for the request at a time, however many clones of the context send: a
    /// message that waits for room holds the others back, so the driver never queues more than
    /// one per request.
    turn: smol::lock::Mutex<()>,
}

/// An `Mcp-Param-{Name}` header: the name lowercased, the value as sent.
pub(crate) type ParamHeader = (String, Box<[u8]>);

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
        answers: crate::app::Answers,
        param_headers: Option<Vec<ParamHeader>>,
        input: async_channel::Sender<Input>,
        over: async_channel::Receiver<()>,
        connected: Arc<AtomicBool>,
    ) -> Context {
        Context {
            inner: Arc::new(Inner {
                handle,
                session,
                answers,
                asked: std::sync::Mutex::new(Vec::new()),
                param_headers,
                server: ServerHandle::new(input.clone()),
                input,
                cancellation: Cancellation { over },
                connected,
                turn: smol::lock::Mutex::new(()),
            }),
        }
    }

    pub(crate) fn param_headers(&self) -> Option<&[ParamHeader]> {
        self.inner.param_headers.as_deref()
    }

    /// The session the request arrived on.
    #[must_use]
    pub fn session(&self) -> SessionKey {
        self.inner.handle.session
    }

    /// Who is calling: the principal of the verified token that opened the session (or that
    /// carried this 2026-07-28 request), when the server is protected
    /// ([`Server::protect`](crate::Server::protect)); `None` otherwise.
    #[must_use]
    pub fn principal(&self) -> Option<&str> {
        self.inner.session.principal.as_deref()
    }

    /// The protocol revision the session negotiated.
    #[must_use]
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.session.protocol_version
    }

    /// The client's `clientInfo`, parsed from the bytes the session keeps (a parsed tree takes
    /// many times their size, so it is built for the caller, not kept).
    #[must_use]
    pub fn client_info(&self) -> Option<Value> {
        parse(self.inner.session.client_info.as_deref())
    }

    /// The client's `capabilities` (check `sampling` or `elicitation` before asking for them),
    /// parsed as [`Context::client_info`] is.
    #[must_use]
    pub fn client_capabilities(&self) -> Option<Value> {
        parse(self.inner.session.client_capabilities.as_deref())
    }

    /// Whether the request's response stream reaches its client now. While it does not (the
    /// client's connection dropped; it may resume), what the handler sends is kept for the
    /// client, within the stream's resume log, and once that is full the next message waits
    /// until the client resumes: the request is cancelled if it never does.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
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
        let _turn = self.inner.turn.lock().await;
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
        let _turn = self.inner.turn.lock().await;
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
        let (ack, answer) = async_channel::bounded(1);
        {
            // The turn is held until the engine has taken the request, not while the client
            // thinks: progress may flow while it answers.
            let _turn = self.inner.turn.lock().await;
            let (accepted, taken) = async_channel::bounded(1);
            let command = Command::RequestClient {
                target,
                method,
                params,
                timeout: timeout.map(to_core),
                accepted,
                ack,
            };
            self.inner
                .input
                .send(Input::Command(command))
                .await
                .map_err(|_| Error::from(CommandError::ShuttingDown))?;
            let _ = taken.recv().await;
        }
        let raw = answer
            .recv()
            .await
            .map_err(|_| Error::from(CommandError::ShuttingDown))??;
        Ok(serde_json::from_str(raw.get())?)
    }

    /// Asks the client for input and returns its answer, in either era (see
    /// [`InputRequest`]).
    ///
    /// In the session era this sends the request to the client and waits for its result. In
    /// 2026-07-28, a retry that carries the answer under `key` returns it at once; otherwise
    /// this returns [`Error::InputRequired`], which the handler passes on with `?`: the client
    /// answers and retries the request, and the handler runs again from the start, this time
    /// getting the answer. Ask in the same order on every run, with keys unique within the
    /// handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_smol::{Context, Error, InputRequest, NoArgs, Tool, ToolResult};
    ///
    /// let greet = Tool::new("greet", |_: NoArgs, cx: Context| async move {
    ///     let schema = serde_json::json!({
    ///         "type": "object",
    ///         "properties": { "name": { "type": "string" } },
    ///         "required": ["name"]
    ///     });
    ///     let answer = cx
    ///         .input("user_name", InputRequest::elicit("What is your name?", schema))
    ///         .await?;
    ///     let name = answer["content"]["name"].as_str().unwrap_or("stranger");
    ///     Ok::<_, Error>(ToolResult::text(format!("Hello, {name}!")))
    /// });
    /// # let _ = greet;
    /// ```
    pub async fn input(&self, key: &str, request: InputRequest) -> Result<Value, Error> {
        let mut answers = self.inputs(vec![(key.to_string(), request)]).await?;
        Ok(answers.pop().unwrap_or(Value::Null))
    }

    /// Asks the client for several inputs at once (one round in 2026-07-28; one request after
    /// the other in the session era) and returns the answers in order.
    pub async fn inputs(&self, requests: Vec<(String, InputRequest)>) -> Result<Vec<Value>, Error> {
        if self.protocol_version().is_stateless() {
            let capabilities = self.client_capabilities();
            for (_, request) in &requests {
                let needed = request.capability();
                let declared = capabilities
                    .as_ref()
                    .and_then(|c| c.get(needed))
                    .is_some_and(|v| !v.is_null());
                if !declared {
                    return Err(Error::missing_capability(needed));
                }
            }
            let asked = {
                let mut asked = self.inner.asked.lock().unwrap_or_else(|e| e.into_inner());
                for (key, _) in &requests {
                    if !asked.contains(key) {
                        asked.push(key.clone());
                    }
                }
                asked.clone()
            };
            return self.inner.answers.resolve(&requests, &asked);
        }
        let mut answers = Vec::with_capacity(requests.len());
        for (_, request) in requests {
            answers.push(
                self.request(request.method(), request.params(), None)
                    .await?,
            );
        }
        Ok(answers)
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
        let _turn = self.inner.turn.lock().await;
        ask(&self.inner.input, |ack| Command::CloseStream {
            handle,
            ack,
        })
        .await
        .unwrap_or(Err(CommandError::ShuttingDown))
    }
}
