//! The driver: the one task that owns the engine. It feeds the engine socket events, handler
//! replies, commands and the time, and carries out what the engine asks: writes, closes,
//! handler spawns and cancellations. Everything else the server runs is a task the driver owns.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::panic::AssertUnwindSafe;

use async_io::Timer;
use futures_lite::FutureExt;
use mcpwire_core::engine::{
    CommandError, ConnAction, ConnId, Engine, Event, OutboundHandle, Reply, RequestHandle,
    SessionKey,
};
use mcpwire_core::jsonrpc::ErrorCode;
use mcpwire_core::time::Duration;
use serde_json::value::RawValue;
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, Task};

use crate::app::dispatch;
use crate::clock::Clock;
use crate::connection;
use crate::context::SessionInfo;
use crate::input::{Ack, Command, Input};
use crate::tasks::TaskCounter;
use crate::{App, Context, Error, ServerStats};

/// The path of the metrics endpoint, when enabled.
pub(crate) const METRICS_PATH: &str = "/metrics";

/// A connection's tasks and the bytes in transit for it.
struct Connection {
    /// Kept to shut the socket down; the tasks hold clones.
    stream: TcpStream,
    _reader: Task<()>,
    _writer: Task<()>,
    to_writer: async_channel::Sender<Vec<u8>>,
    credit: async_channel::Sender<usize>,
    /// Bytes from the engine not yet handed to the writer.
    out: Vec<u8>,
    /// The writer holds a batch it has not reported written.
    writing: bool,
    /// Bytes read that the engine could not take yet.
    leftover: Vec<u8>,
}

/// A handler's task, the sender whose drop tells its context the request is over, and what
/// its context reads of the request's stream.
struct Handler {
    _task: Task<()>,
    _over: async_channel::Sender<()>,
    connected: Arc<AtomicBool>,
}

/// What a request's handler sent that its stream had no room for yet: retried, in order, when
/// the engine says the request is writable; dropped with the request. A handler's context
/// sends one message at a time, so a request has at most one of these and its reply.
enum Parked {
    Command(Command),
    Reply(Reply),
}

pub(crate) struct Driver {
    pub(crate) engine: Engine,
    pub(crate) clock: Clock,
    pub(crate) executor: Arc<Executor<'static>>,
    pub(crate) tasks: TaskCounter,
    pub(crate) input_tx: async_channel::Sender<Input>,
    pub(crate) input_rx: async_channel::Receiver<Input>,
    pub(crate) app: Arc<App>,
    pub(crate) metrics: bool,
    pub(crate) grace: Duration,
    pub(crate) accept: Option<Task<()>>,
    pub(crate) signals: Option<Task<()>>,
    connections: HashMap<ConnId, Connection>,
    /// Connections with bytes in `out` to hand to an idle writer.
    ready: Vec<ConnId>,
    handlers: HashMap<RequestHandle, Handler>,
    parked: HashMap<RequestHandle, VecDeque<Parked>>,
    outbound: HashMap<OutboundHandle, Ack<Result<Box<RawValue>, Error>>>,
    sessions: HashMap<SessionKey, Arc<SessionInfo>>,
    scratch: Vec<u8>,
    shutting_down: bool,
    /// A signal began the shutdown: the next one exits at once.
    signalled: bool,
}

/// How the driver stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Everything drained after a shutdown.
    Drained,
    /// A second signal: everything was dropped at once.
    Forced,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        engine: Engine,
        executor: Arc<Executor<'static>>,
        tasks: TaskCounter,
        input: (async_channel::Sender<Input>, async_channel::Receiver<Input>),
        app: Arc<App>,
        metrics: bool,
        grace: Duration,
    ) -> Driver {
        Driver {
            engine,
            clock: Clock::start(),
            executor,
            tasks,
            input_tx: input.0,
            input_rx: input.1,
            app,
            metrics,
            grace,
            accept: None,
            signals: None,
            connections: HashMap::new(),
            ready: Vec::new(),
            handlers: HashMap::new(),
            parked: HashMap::new(),
            outbound: HashMap::new(),
            sessions: HashMap::new(),
            scratch: Vec::new(),
            shutting_down: false,
            signalled: false,
        }
    }

    /// Starts the accept loop: sockets go to the driver through the input queue, so a full
    /// queue stops accepting.
    pub(crate) fn listen(&mut self, listener: TcpListener) {
        let input = self.input_tx.clone();
        self.accept = Some(self.tasks.spawn(&self.executor, async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let accepted = Input::Accepted(stream, Some(peer.ip()));
                        if input.send(accepted).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        // Out of descriptors or memory: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        Timer::after(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }

    /// Runs until a shutdown has drained, or a second signal. Inputs still queued then
    /// (accepted sockets, commands) are dropped with the channel closed, so that handles kept
    /// elsewhere hold nothing open.
    pub(crate) async fn run(mut self) -> Stop {
        let stop = self.serve_inputs().await;
        self.input_rx.close();
        while self.input_rx.try_recv().is_ok() {}
        stop
    }

    async fn serve_inputs(&mut self) -> Stop {
        let mut timer = Timer::never();
        let mut armed = None;
        loop {
            self.drain();
            if self.shutting_down && self.engine.is_drained() && self.handlers.is_empty() {
                return Stop::Drained;
            }
            let deadline = self.engine.poll_timeout();
            if deadline != armed {
                armed = deadline;
                timer = match deadline {
                    Some(at) => Timer::at(self.clock.to_std(at)),
                    None => Timer::never(),
                };
            }
            let input =
                futures_lite::future::or(async { self.input_rx.recv().await.ok() }, async {
                    (&mut timer).await;
                    None
                })
                .await;
            match input {
                Some(input) => {
                    if let Some(stop) = self.on_input(input) {
                        return stop;
                    }
                }
                None => {
                    armed = None;
                    self.engine.handle_timeout(self.clock.now());
                }
            }
        }
    }

    fn on_input(&mut self, input: Input) -> Option<Stop> {
        let now = self.clock.now();
        match input {
            Input::Accepted(stream, peer) => self.accept(stream, peer),
            Input::Read { conn, bytes } => self.feed(conn, bytes),
            Input::Eof(conn) => self.engine.handle_eof(now, conn),
            Input::Broken(conn) => {
                self.engine.handle_closed(now, conn);
                self.forget(conn);
            }
            Input::Written { conn, len, done } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    if done {
                        c.writing = false;
                        if !c.out.is_empty() {
                            self.ready.push(conn);
                        }
                    }
                }
                self.engine.handle_written(now, conn, len);
            }
            Input::Reply { handle, reply } => {
                self.handlers.remove(&handle);
                if self.parked.contains_key(&handle) {
                    self.park(handle, Parked::Reply(reply));
                } else {
                    self.reply(handle, reply);
                }
            }
            Input::Command(command) => self.command(command),
            Input::Signal => {
                if self.signalled {
                    tracing::warn!("second signal: exiting now");
                    return Some(Stop::Forced);
                }
                tracing::info!("signal: shutting down (a second one exits at once)");
                self.signalled = true;
                self.begin_shutdown(self.grace);
            }
        }
        None
    }

    fn accept(&mut self, stream: TcpStream, peer: Option<std::net::IpAddr>) {
        if self.shutting_down {
            return;
        }
        let Ok(conn) = self.engine.handle_accept(self.clock.now(), peer) else {
            return;
        };
        let (to_writer, batches) = async_channel::bounded(1);
        let (credit, credits) = async_channel::bounded(1);
        let first = self.engine.read_capacity(conn);
        let reader = self.tasks.spawn(
            &self.executor,
            connection::read(conn, stream.clone(), self.input_tx.clone(), credits, first),
        );
        let writer = self.tasks.spawn(
            &self.executor,
            connection::write(conn, stream.clone(), self.input_tx.clone(), batches),
        );
        self.connections.insert(
            conn,
            Connection {
                stream,
                _reader: reader,
                _writer: writer,
                to_writer,
                credit,
                out: Vec::new(),
                writing: false,
                leftover: Vec::new(),
            },
        );
    }

    /// Drops a connection's tasks and socket.
    fn forget(&mut self, conn: ConnId) {
        if let Some(c) = self.connections.remove(&conn) {
            // Everything the engine wanted written was reported written: end with a FIN.
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Hands everything the engine has to whom it concerns, until it has nothing more.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.engine.poll_event() {
                progressed = true;
                self.on_event(event);
            }
            self.scratch.clear();
            while let Some(action) = self.engine.poll_transmit(&mut self.scratch) {
                progressed = true;
                match action {
                    ConnAction::Write { conn, len } => {
                        let start = self.scratch.len() - len;
                        if let Some(c) = self.connections.get_mut(&conn) {
                            if c.out.is_empty() && !c.writing {
                                self.ready.push(conn);
                            }
                            c.out.extend_from_slice(&self.scratch[start..]);
                        }
                        self.scratch.truncate(start);
                    }
                    ConnAction::Close { conn } => self.forget(conn),
                }
            }
            while let Some(conn) = self.engine.poll_readable() {
                progressed = true;
                self.resume_reading(conn);
            }
            if !progressed {
                break;
            }
        }
        for conn in std::mem::take(&mut self.ready) {
            if let Some(c) = self.connections.get_mut(&conn) {
                if !c.writing && !c.out.is_empty() {
                    let batch = std::mem::take(&mut c.out);
                    // Capacity one and one batch at a time: this cannot be full.
                    if c.to_writer.try_send(batch).is_ok() {
                        c.writing = true;
                    }
                }
            }
        }
    }

    /// Bytes a connection's reader got: the engine takes what it can; the reader reads again
    /// once all are taken and the engine can take more, which it says now or, through
    /// `poll_readable`, later.
    fn feed(&mut self, conn: ConnId, bytes: Vec<u8>) {
        let now = self.clock.now();
        let taken = self.engine.handle_bytes(now, conn, &bytes);
        let capacity = self.engine.read_capacity(conn);
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if taken < bytes.len() {
            c.leftover = bytes;
            c.leftover.drain(..taken);
        } else if capacity > 0 {
            let _ = c.credit.try_send(capacity);
        }
    }

    /// The engine can take more of `conn`'s bytes: what was left over, then a new read.
    fn resume_reading(&mut self, conn: ConnId) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        // Taken here, the read buffer is freed once the engine has all of it, rather than
        // kept as an empty Vec of up to 64 KiB on every idle connection.
        let leftover = std::mem::take(&mut c.leftover);
        if !leftover.is_empty() {
            return self.feed(conn, leftover);
        }
        let capacity = self.engine.read_capacity(conn);
        if capacity > 0 {
            let _ = c.credit.try_send(capacity);
        } else {
            // Another connection took the room first: offering nothing has the engine name
            // this one again once there is some.
            self.engine.handle_bytes(self.clock.now(), conn, &[]);
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::SessionOpened {
                session,
                protocol_version,
                client_info,
                client_capabilities,
            } => {
                tracing::debug!(%session, version = protocol_version.as_str(), "session opened");
                self.sessions.insert(
                    session,
                    Arc::new(SessionInfo {
                        protocol_version,
                        client_info,
                        client_capabilities,
                    }),
                );
            }
            Event::Request {
                handle,
                method,
                params,
            } => self.spawn_handler(handle, method, params),
            Event::Notification {
                session, method, ..
            } => tracing::debug!(%session, method, "notification"),
            Event::Cancelled { handle, reason } => {
                tracing::debug!(session = %handle.session, ?reason, "request cancelled");
                self.handlers.remove(&handle);
                // What waited for room is told the request has ended, not dropped: a context
                // held elsewhere then learns why.
                for parked in self.parked.remove(&handle).into_iter().flatten() {
                    if let Parked::Command(command) = parked {
                        command.refuse(CommandError::StaleHandle);
                    }
                }
            }
            Event::Writable { handle } => self.retry(handle),
            Event::StreamDetached { handle } => self.set_connected(handle, false),
            Event::StreamResumed { handle } => self.set_connected(handle, true),
            Event::ClientResponse { handle, result } => {
                if let Some(ack) = self.outbound.remove(&handle) {
                    let _ = ack.try_send(result.map_err(Error::from));
                }
            }
            Event::HttpRequest { exchange, request } => {
                let now = self.clock.now();
                let metrics = self.metrics && request.path() == METRICS_PATH;
                // A stale exchange (its connection already gone) needs no answer.
                let _ = match (metrics, request.method_str()) {
                    (true, "GET") => {
                        let body = self.stats().to_prometheus();
                        let headers = [("content-type", "text/plain; version=0.0.4")];
                        self.engine
                            .respond_http(now, exchange, 200, &headers, body.as_bytes())
                    }
                    (true, _) => {
                        self.engine
                            .respond_http(now, exchange, 405, &[("allow", "GET")], b"")
                    }
                    (false, _) => self.engine.respond_http(now, exchange, 404, &[], b""),
                };
            }
            Event::SessionClosed { session, reason } => {
                tracing::debug!(%session, reason = reason.label(), "session closed");
                self.sessions.remove(&session);
            }
        }
    }

    fn spawn_handler(
        &mut self,
        handle: RequestHandle,
        method: String,
        params: Option<Box<RawValue>>,
    ) {
        // A session's requests follow its SessionOpened; a 2026-07-28 request brings its own
        // context, which the engine keeps for as long as the request.
        let session = self.sessions.get(&handle.session).cloned().or_else(|| {
            let context = self.engine.client_context(handle)?;
            Some(Arc::new(SessionInfo {
                protocol_version: context.protocol_version,
                client_info: context.client_info,
                client_capabilities: context.client_capabilities,
            }))
        });
        let Some(session) = session else {
            // Answer rather than leave it in flight if that ever changes.
            let _ = self.engine.respond(
                self.clock.now(),
                handle,
                &Reply::Error {
                    code: ErrorCode::INTERNAL_ERROR.0,
                    message: "Internal error: unknown session".into(),
                    data: None,
                },
            );
            return;
        };
        let (over, over_rx) = async_channel::bounded(1);
        let connected = Arc::new(AtomicBool::new(true));
        let answers = if session.protocol_version.is_stateless() {
            crate::app::Answers::new(
                params.as_deref().map(RawValue::get),
                self.engine.request_state(handle),
            )
        } else {
            crate::app::Answers::default()
        };
        let param_headers = self.engine.param_headers(handle).to_vec();
        let cx = Context::new(
            handle,
            session,
            answers,
            param_headers,
            self.input_tx.clone(),
            over_rx,
            connected.clone(),
        );
        let app = self.app.clone();
        let input = self.input_tx.clone();
        let task = self.tasks.spawn(&self.executor, async move {
            // A handler that panics still answers: otherwise its request would stay in flight,
            // keeping its session alive and every shutdown waiting for the grace deadline.
            let answer = AssertUnwindSafe(dispatch(&app, &method, params.as_deref(), cx))
                .catch_unwind()
                .await;
            let reply = answer.unwrap_or_else(|_| {
                tracing::error!(method, "handler panicked");
                Reply::Error {
                    code: ErrorCode::INTERNAL_ERROR.0,
                    message: "Internal error: the handler panicked".into(),
                    data: None,
                }
            });
            let _ = input.send(Input::Reply { handle, reply }).await;
        });
        self.handlers.insert(
            handle,
            Handler {
                _task: task,
                _over: over,
                connected,
            },
        );
    }

    fn set_connected(&mut self, handle: RequestHandle, connected: bool) {
        if let Some(handler) = self.handlers.get(&handle) {
            handler.connected.store(connected, Ordering::Relaxed);
        }
    }

    fn park(&mut self, handle: RequestHandle, parked: Parked) {
        self.parked.entry(handle).or_default().push_back(parked);
    }

    /// The engine says `handle`'s stream has room: what waited goes, in order, until something
    /// has to wait again.
    fn retry(&mut self, handle: RequestHandle) {
        let Some(mut waiting) = self.parked.remove(&handle) else {
            return;
        };
        while let Some(parked) = waiting.pop_front() {
            let blocked = match parked {
                Parked::Command(command) => self.try_command(command).map(Parked::Command),
                Parked::Reply(reply) => self.try_reply(handle, reply).map(Parked::Reply),
            };
            if let Some(blocked) = blocked {
                waiting.push_front(blocked);
                self.parked.insert(handle, waiting);
                return;
            }
        }
    }

    fn reply(&mut self, handle: RequestHandle, reply: Reply) {
        if let Some(blocked) = self.try_reply(handle, reply) {
            self.park(handle, Parked::Reply(blocked));
        }
    }

    /// Answers a request, or gives the reply back when its stream has no room yet.
    fn try_reply(&mut self, handle: RequestHandle, reply: Reply) -> Option<Reply> {
        match self.engine.respond(self.clock.now(), handle, &reply) {
            Err(CommandError::WouldBlock) => Some(reply),
            Err(CommandError::StaleHandle) => {
                tracing::debug!(session = %handle.session, "answer to a request that ended");
                None
            }
            Err(refused) => {
                // An answer the engine cannot send (an input request the client did not
                // declare, a result of the wrong shape) still answers: never a hang.
                tracing::warn!(session = %handle.session, %refused, "reply refused");
                let error = Reply::Error {
                    code: ErrorCode::INTERNAL_ERROR.0,
                    message: format!("Internal error: {refused}"),
                    data: None,
                };
                match self.engine.respond(self.clock.now(), handle, &error) {
                    Err(CommandError::WouldBlock) => Some(error),
                    _ => None,
                }
            }
            Ok(()) => None,
        }
    }

    fn command(&mut self, command: Command) {
        let handle = command.request();
        if let Some(blocked) = self.try_command(command) {
            if let Some(handle) = handle {
                self.park(handle, Parked::Command(blocked));
            }
        }
    }

    /// Carries out a command, or gives it back when it concerns a request whose stream has no
    /// room yet.
    fn try_command(&mut self, command: Command) -> Option<Command> {
        let now = self.clock.now();
        let engine = &mut self.engine;
        // Messages for a request are tried by reference: one that must wait is given back whole.
        let message = match &command {
            Command::Progress {
                handle,
                progress,
                total,
                message,
                ..
            } => Some(engine.send_progress(now, *handle, *progress, *total, message.as_deref())),
            Command::Log {
                target,
                level,
                logger,
                data,
                ..
            } => Some(engine.send_log(now, *target, *level, logger.as_deref(), data)),
            _ => None,
        };
        if let Some(result) = message {
            if result == Err(CommandError::WouldBlock) {
                return Some(command);
            }
            if let Command::Progress { ack, .. } | Command::Log { ack, .. } = command {
                let _ = ack.try_send(result);
            }
            return None;
        }
        if let Command::RequestClient {
            target,
            method,
            params,
            timeout,
            ..
        } = &command
        {
            let sent = engine.request_client(now, *target, method, params.as_deref(), *timeout);
            if sent == Err(CommandError::WouldBlock) {
                return Some(command);
            }
            if let Command::RequestClient { accepted, ack, .. } = command {
                match sent {
                    Ok(handle) => {
                        let _ = accepted.try_send(());
                        self.outbound.insert(handle, ack);
                    }
                    Err(error) => {
                        let _ = ack.try_send(Err(error.into()));
                    }
                }
            }
            return None;
        }
        match command {
            Command::Progress { .. } | Command::Log { .. } | Command::RequestClient { .. } => {}
            Command::CloseStream { handle, ack } => {
                let _ = ack.try_send(engine.close_request_stream(now, handle));
            }
            Command::Notify {
                session,
                method,
                params,
                ack,
            } => {
                let _ = ack.try_send(engine.notify(now, session, &method, params.as_deref()));
            }
            Command::Broadcast {
                method,
                params,
                ack,
            } => {
                let _ = ack.try_send(engine.broadcast(now, &method, params.as_deref()));
            }
            Command::ResourceUpdated { uri, ack } => {
                let _ = ack.try_send(engine.resource_updated(now, &uri));
            }
            Command::CloseSession { session, ack } => {
                let _ = ack.try_send(engine.close_session(now, session));
            }
            Command::Shutdown { grace } => self.begin_shutdown(grace),
            Command::Stats { ack } => {
                let _ = ack.try_send(self.stats());
            }
        }
        None
    }

    fn begin_shutdown(&mut self, grace: Duration) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        // Stop accepting: the listener closes with its task.
        self.accept = None;
        self.engine.begin_shutdown(self.clock.now(), grace);
    }

    fn stats(&self) -> ServerStats {
        ServerStats {
            engine: self.engine.stats(),
            counters: self.engine.counters().clone(),
            tasks: self.tasks.live() as u64,
            waiting_messages: self.parked.values().map(|p| p.len() as u64).sum(),
        }
    }
}
