//! The driver: the one task that owns the engine and the sockets. It reads the sockets that
//! woke, feeds the engine their bytes, handler replies, commands and the time, and carries out
//! what the engine asks: writes (straight to the socket while the kernel has room), closes,
//! handler spawns and cancellations. Handlers run on the worker threads, never here.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::panic::AssertUnwindSafe;

use async_io::Timer;
use futures_lite::{FutureExt, Stream};
use mcpwire_core::engine::{
    CommandError, ConnAction, ConnId, Engine, Event, ExchangeReport, OutboundHandle, Reply,
    RequestHandle, SessionKey, VerificationId,
};
use mcpwire_core::jsonrpc::ErrorCode;
use mcpwire_core::time::Duration;
use serde_json::value::RawValue;
use smol::net::{TcpListener, TcpStream};
use smol::{Executor, Task};

use crate::app::dispatch;
use crate::bus::{BusLink, Notice};
use crate::clock::Clock;
use crate::context::SessionInfo;
use crate::id_map::IdMap;
use crate::input::{Ack, Command, Input};
use crate::sockets::{MAX_READ, Read, Sockets, Wrote};
use crate::tasks::TaskCounter;
use crate::workers::Workers;
use crate::{App, Context, Error, ServerStats};

mod ownership;
#[cfg(test)]
mod tests;

/// Inputs served per turn, so that sockets and the timer are served between them.
const INPUT_BATCH: usize = 256;

/// The path of the metrics endpoint, when enabled.
pub(crate) const METRICS_PATH: &str = "/metrics";

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
    /// Runs the listener and the signal watcher, on the driver's thread.
    pub(crate) executor: Arc<Executor<'static>>,
    /// Runs the handlers, on threads of their own.
    workers: Workers,
    pub(crate) tasks: TaskCounter,
    pub(crate) input_tx: async_channel::Sender<Input>,
    pub(crate) input_rx: async_channel::Receiver<Input>,
    pub(crate) app: Arc<App>,
    pub(crate) metrics: bool,
    pub(crate) grace: Duration,
    pub(crate) accept: Option<Task<()>>,
    pub(crate) signals: Option<Task<()>>,
    /// Where local broadcasts are published for the other nodes, if there are any.
    pub(crate) bus: Option<BusLink>,
    /// The bus's task (its connections and reconnects), dropped with the driver.
    pub(crate) bus_task: Option<Task<()>>,
    /// What verifies bearer tokens, when the server is protected.
    pub(crate) verifier: Option<Arc<dyn crate::auth::Verifier>>,
    /// A task per token being verified, dropped with its verdict or its cancellation.
    verifications: IdMap<VerificationId, Task<()>>,
    sockets: Sockets,
    /// Sockets that woke, being served (kept for its allocation).
    woken: Vec<ConnId>,
    /// Where sockets are read into: the engine copies what it takes.
    read_buf: Vec<u8>,
    handlers: IdMap<RequestHandle, Handler>,
    parked: IdMap<RequestHandle, VecDeque<Parked>>,
    outbound: IdMap<OutboundHandle, Ack<Result<Box<RawValue>, Error>>>,
    sessions: IdMap<SessionKey, Arc<SessionInfo>>,
    scratch: Vec<u8>,
    shutting_down: bool,
    /// A signal began the shutdown: the next one exits at once.
    signalled: bool,
    /// How the driver stops, once that is decided in the middle of serving inputs.
    stop: Option<Stop>,
    /// An ownership check is draining events (a scrape among them cannot start another).
    checking: bool,
    /// Inputs taken from the queue and never served: always 0 (see `ownership`).
    lost_inputs: u64,
    /// The stdio pipe's connection, when serving stdio: the server ends with it.
    pipe: Option<ConnId>,
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
        workers: Workers,
        tasks: TaskCounter,
        input: (async_channel::Sender<Input>, async_channel::Receiver<Input>),
        app: Arc<App>,
        metrics: bool,
        grace: Duration,
        tls: Option<Arc<futures_rustls::rustls::ServerConfig>>,
    ) -> Driver {
        Driver {
            engine,
            clock: Clock::start(),
            executor,
            workers,
            tasks,
            input_tx: input.0,
            input_rx: input.1,
            app,
            metrics,
            grace,
            accept: None,
            signals: None,
            bus: None,
            bus_task: None,
            verifier: None,
            verifications: IdMap::default(),
            sockets: Sockets::new(tls),
            woken: Vec::new(),
            read_buf: vec![0; MAX_READ],
            handlers: IdMap::default(),
            parked: IdMap::default(),
            outbound: IdMap::default(),
            sessions: IdMap::default(),
            scratch: Vec::new(),
            shutting_down: false,
            signalled: false,
            stop: None,
            checking: false,
            lost_inputs: 0,
            pipe: None,
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

    /// Serves stdin and stdout as the engine's pipe, instead of a listener.
    pub(crate) fn open_stdio(&mut self, io: crate::stdio::PipeIo) {
        let conn = self.engine.open_pipe(self.clock.now());
        let credit = self.engine.read_capacity(conn);
        self.sockets.add_pipe(conn, io, credit);
        self.pipe = Some(conn);
    }

    /// The stdio pipe is done (input ended, or output gone): so is the server, once what is
    /// in flight is answered or the grace period is over.
    fn pipe_ending(&mut self, conn: ConnId) {
        if self.pipe == Some(conn) {
            self.begin_shutdown(self.grace);
        }
    }

    /// Runs until a shutdown has drained, or a second signal. Inputs still queued then
    /// (accepted sockets, commands) are dropped with the channel closed, so that handles kept
    /// elsewhere hold nothing open; the handlers are cancelled and their threads stopped.
    pub(crate) async fn run(mut self) -> Stop {
        let stop = self.serve_inputs().await;
        self.input_rx.close();
        while self.input_rx.try_recv().is_ok() {}
        let Driver {
            workers, handlers, ..
        } = self;
        drop(handlers);
        // After a drain every handler has ended, so the threads are idle and end at once; a
        // handler cancelled at the grace deadline may still be inside a poll that never
        // yields, and after a second signal nothing waits: those threads end on their own.
        let patience = match stop {
            Stop::Drained => std::time::Duration::from_secs(1),
            Stop::Forced => std::time::Duration::ZERO,
        };
        workers.stop(patience).await;
        stop
    }

    async fn serve_inputs(&mut self) -> Stop {
        let mut timer = Timer::never();
        let mut armed = None;
        // Pinned once, so that waiting on it is no allocation and keeps its place in line.
        let mut inputs = Box::pin(self.input_rx.clone());
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
            // Waits for a socket, an input or the deadline; whatever else is ready by then is
            // served in the same turn.
            let mut fired = false;
            let first = futures_lite::future::poll_fn(|cx| {
                let sockets = self.sockets.poll_ready(cx.waker());
                if let std::task::Poll::Ready(input) = inputs.as_mut().poll_next(cx) {
                    return std::task::Poll::Ready(input);
                }
                if timer.poll(cx).is_ready() {
                    fired = true;
                }
                if sockets || fired {
                    std::task::Poll::Ready(None)
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            self.serve_sockets();
            let taken = Cell::new(0);
            let mut served = 0;
            for input in batch(first, &inputs, INPUT_BATCH, &taken) {
                served += 1;
                self.on_input(input);
                if let Some(stop) = self.stop {
                    return stop;
                }
            }
            self.lost_inputs += taken.get() - served;
            if fired || armed.is_some_and(|at| self.clock.now() >= at) {
                armed = None;
                self.engine.handle_timeout(self.clock.now());
            }
            // Lets the executor's other tasks (the listener, the signal watcher) and the
            // reactor run between turns, however busy the sockets are.
            futures_lite::future::yield_now().await;
        }
    }

    /// Serves one input. A second signal sets `stop`: the caller returns it before serving
    /// anything else.
    fn on_input(&mut self, input: Input) {
        match input {
            Input::Accepted(stream, peer) => self.accept(stream, peer),
            Input::Reply { handle, reply } => self.finished(handle, reply),
            Input::Command(command) => self.command(command),
            Input::Remote(notice) => self.remote(notice),
            Input::Verdict {
                verification,
                verdict,
            } => {
                self.verifications.remove(&verification);
                // A verdict after the deadline finds the verification over: nothing to do.
                let _ = self
                    .engine
                    .token_verified(self.clock.now(), verification, verdict);
            }
            Input::Signal => {
                if self.signalled {
                    tracing::warn!("second signal: exiting now");
                    self.stop = Some(Stop::Forced);
                    return;
                }
                tracing::info!("signal: shutting down (a second one exits at once)");
                self.signalled = true;
                self.begin_shutdown(self.grace);
            }
        }
    }

    fn accept(&mut self, stream: TcpStream, peer: Option<std::net::IpAddr>) {
        if self.shutting_down {
            return;
        }
        let Ok(conn) = self.engine.handle_accept(self.clock.now(), peer) else {
            return;
        };
        let credit = self.engine.read_capacity(conn);
        if !self.sockets.add(conn, stream, credit) {
            self.engine.handle_closed(self.clock.now(), conn);
        }
    }

    /// Drops a connection's socket.
    fn forget(&mut self, conn: ConnId) {
        // Everything the engine wanted written was reported written: end with a FIN.
        self.sockets.remove(conn);
        self.pipe_ending(conn);
    }

    /// The socket failed (reset, or a write error): the engine forgets the connection.
    fn broken(&mut self, conn: ConnId) {
        self.engine.handle_closed(self.clock.now(), conn);
        self.forget(conn);
    }

    /// Serves the sockets that woke: what waits to be written, then a read if the engine can
    /// take bytes. A socket that read is listed again, behind the others, rather than read
    /// until it has nothing: one busy client cannot hold the driver.
    fn serve_sockets(&mut self) {
        let mut woken = std::mem::take(&mut self.woken);
        self.sockets.take_ready(&mut woken);
        for &conn in &woken {
            if self.flush(conn) {
                self.read(conn);
            }
        }
        self.woken = woken;
    }

    /// Writes what waits for `conn`'s socket; false if the socket failed.
    fn flush(&mut self, conn: ConnId) -> bool {
        let Some(socket) = self.sockets.get_mut(conn) else {
            return false;
        };
        let mut written = 0;
        let mut failed = matches!(socket.flush_tls(), Wrote::Failed);
        // Taken out while written, as the socket's writes borrow it whole.
        let mut out = std::mem::take(&mut socket.out);
        while !failed && written < out.len() {
            match socket.write(&out[written..]) {
                Wrote::Bytes(n) => written += n,
                Wrote::Blocked => break,
                Wrote::Failed => {
                    failed = true;
                    break;
                }
            }
        }
        out.drain(..written);
        if out.is_empty() && out.capacity() > MAX_READ {
            out = Vec::new();
        }
        socket.out = out;
        self.report_sent(conn);
        if failed {
            self.broken(conn);
        }
        !failed
    }

    /// One read from `conn`'s socket, if the engine can take bytes (or, on TLS, while the
    /// handshake runs: it needs no room in the engine).
    fn read(&mut self, conn: ConnId) {
        let Some(socket) = self.sockets.get_mut(conn) else {
            return;
        };
        let len = match socket.credit {
            Some(credit) => credit.clamp(1, MAX_READ),
            None if socket.handshaking() => 0,
            None => return,
        };
        let read = socket.read(&mut self.read_buf[..len]);
        self.report_sent(conn);
        let Some(socket) = self.sockets.get_mut(conn) else {
            return;
        };
        match read {
            Read::Blocked => {}
            Read::Eof => {
                socket.credit = None;
                self.engine.handle_eof(self.clock.now(), conn);
                self.pipe_ending(conn);
            }
            Read::Failed => self.broken(conn),
            Read::Bytes(n) => {
                socket.credit = None;
                let buf = std::mem::take(&mut self.read_buf);
                self.feed(conn, &buf[..n]);
                self.read_buf = buf;
            }
        }
    }

    /// Hands everything the engine has to whom it concerns, until it has nothing more. Output
    /// goes straight to its socket while the kernel takes it; the rest waits in the socket's
    /// `out` for the socket to wake.
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
                        self.transmit(conn, start);
                        self.scratch.truncate(start);
                    }
                    ConnAction::Close { conn } => self.forget(conn),
                }
            }
            while let Some(conn) = self.engine.poll_readable() {
                progressed = true;
                self.resume_reading(conn);
            }
            while let Some(report) = self.engine.poll_report() {
                progressed = true;
                log_report(&report);
            }
            if !progressed {
                break;
            }
        }
    }

    /// Writes `scratch[start..]` to `conn`'s socket, or queues it behind what already waits.
    fn transmit(&mut self, conn: ConnId, start: usize) {
        let Some(socket) = self.sockets.get_mut(conn) else {
            return;
        };
        let bytes = &self.scratch[start..];
        if !socket.out.is_empty() {
            socket.out.extend_from_slice(bytes);
            return;
        }
        let mut taken = 0;
        let mut failed = false;
        while taken < bytes.len() {
            match socket.write(&bytes[taken..]) {
                Wrote::Bytes(n) => taken += n,
                Wrote::Blocked => break,
                Wrote::Failed => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            socket.out.extend_from_slice(&bytes[taken..]);
        }
        self.report_sent(conn);
        if failed {
            self.broken(conn);
        }
    }

    /// Tells the engine what of `conn`'s output reached the kernel: on TLS, that is once its
    /// records did, which a read or a later write can find.
    fn report_sent(&mut self, conn: ConnId) {
        let Some(socket) = self.sockets.get_mut(conn) else {
            return;
        };
        let sent = socket.take_sent();
        if sent > 0 {
            self.engine.handle_written(self.clock.now(), conn, sent);
        }
    }

    /// Bytes read from a connection: the engine takes what it can; the socket is read again
    /// once all are taken and the engine can take more, which it says now or, through
    /// `poll_readable`, later.
    fn feed(&mut self, conn: ConnId, bytes: &[u8]) {
        let now = self.clock.now();
        let taken = self.engine.handle_bytes(now, conn, bytes);
        let capacity = self.engine.read_capacity(conn);
        let Some(socket) = self.sockets.get_mut(conn) else {
            return;
        };
        if taken < bytes.len() {
            socket.leftover.extend_from_slice(&bytes[taken..]);
        } else if capacity > 0 {
            // Listed again: its last read got bytes, so no waker waits in the reactor, and
            // what the peer sent since would otherwise sit in the kernel until a timeout.
            socket.credit = Some(capacity);
            socket.again();
        }
    }

    /// The engine can take more of `conn`'s bytes: what was left over, then a new read.
    fn resume_reading(&mut self, conn: ConnId) {
        let Some(socket) = self.sockets.get_mut(conn) else {
            return;
        };
        // Taken here, the leftover is freed once the engine has all of it, rather than kept
        // as an empty Vec of up to 16 KiB on every idle connection.
        let leftover = std::mem::take(&mut socket.leftover);
        if !leftover.is_empty() {
            return self.feed(conn, &leftover);
        }
        let capacity = self.engine.read_capacity(conn);
        if capacity > 0 {
            socket.credit = Some(capacity);
            socket.again();
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
                let principal = self.engine.principal(session).map(Arc::from);
                self.sessions.insert(
                    session,
                    Arc::new(SessionInfo {
                        protocol_version,
                        client_info,
                        client_capabilities,
                        principal,
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
            Event::VerifyToken {
                verification,
                token,
            } => self.verify(verification, token),
            Event::VerificationCancelled { verification } => {
                self.verifications.remove(&verification);
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
                principal: context.principal,
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
        // Over stdio there are no headers to mirror arguments: nothing to check.
        let param_headers = self
            .engine
            .expects_param_headers(handle)
            .then(|| self.engine.param_headers(handle).to_vec());
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
        let task = self.tasks.spawn(self.workers.executor(), async move {
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

    /// Verifies a bearer token on the handler threads: one task, owned here.
    fn verify(&mut self, verification: VerificationId, token: String) {
        let Some(verifier) = self.verifier.clone() else {
            // Protected through `configure` with no verifier: nothing can be verified.
            tracing::warn!("a bearer token arrived, and the server has no verifier");
            let _ = self.engine.token_verified(
                self.clock.now(),
                verification,
                mcpwire_core::engine::Verdict::Unavailable,
            );
            return;
        };
        let input = self.input_tx.clone();
        let task = self.tasks.spawn(self.workers.executor(), async move {
            let verdict = AssertUnwindSafe(verifier.verify(token))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("the token verifier panicked");
                    mcpwire_core::engine::Verdict::Unavailable
                });
            let _ = input
                .send(Input::Verdict {
                    verification,
                    verdict,
                })
                .await;
        });
        self.verifications.insert(verification, task);
    }

    /// A handler's answer: sent now, or after what its request still has waiting.
    fn finished(&mut self, handle: RequestHandle, reply: Reply) {
        self.handlers.remove(&handle);
        if self.parked.contains_key(&handle) {
            self.park(handle, Parked::Reply(reply));
        } else {
            self.reply(handle, reply);
        }
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
                if let Some(bus) = &self.bus {
                    bus.publish(&Notice::Broadcast { method, params });
                }
            }
            Command::ResourceUpdated { uri, ack } => {
                let _ = ack.try_send(engine.resource_updated(now, &uri));
                if let Some(bus) = &self.bus {
                    bus.publish(&Notice::ResourceUpdated { uri });
                }
            }
            Command::CloseSession { session, ack } => {
                let _ = ack.try_send(engine.close_session(now, session));
            }
            Command::Shutdown { grace } => self.begin_shutdown(grace),
            Command::Stats { ack } => {
                let _ = ack.try_send(self.stats());
            }
            Command::CheckInvariants { ack } => {
                let checked = self
                    .engine
                    .check_invariants()
                    .and_then(|()| self.check_ownership().check());
                let _ = ack.try_send(checked);
            }
        }
        None
    }

    /// Another node's notice, from the bus: delivered here, never published again.
    fn remote(&mut self, notice: Notice) {
        let now = self.clock.now();
        match notice {
            Notice::Broadcast { method, params } => {
                self.engine.broadcast(now, &method, params.as_deref());
            }
            Notice::ResourceUpdated { uri } => {
                self.engine.resource_updated(now, &uri);
            }
        }
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

    /// The server's gauges, the ownership check's among them.
    fn stats(&mut self) -> ServerStats {
        let ownership = self.check_ownership();
        ServerStats {
            unowned_requests: ownership.unowned_requests,
            ownerless_tasks: ownership.ownerless_tasks,
            lost_inputs: ownership.lost_inputs,
            engine: self.engine.stats(),
            counters: self.engine.counters().clone(),
            tasks: self.tasks.live() as u64,
            waiting_messages: self.parked.values().map(|p| p.len() as u64).sum(),
            bus: self.bus.as_ref().map(BusLink::stats),
            tls: self.sockets.tls_stats(),
        }
    }
}

/// The inputs one turn serves: `first` (already taken), then what is queued behind it, `limit`
/// in all; `taken` counts each input taken from the queue. Nothing is taken past the limit,
/// so every input taken is served: one taken and dropped would be lost with all it owns (a
/// socket, a handler's reply, an acknowledgement, the shutdown signal).
fn batch<'a, T>(
    first: Option<T>,
    queue: &'a async_channel::Receiver<T>,
    limit: usize,
    taken: &'a Cell<u64>,
) -> impl Iterator<Item = T> + 'a
where
    T: 'a,
{
    taken.set(taken.get() + u64::from(first.is_some()));
    let rest = std::iter::from_fn(move || {
        let input = queue.try_recv().ok();
        taken.set(taken.get() + u64::from(input.is_some()));
        input
    });
    first.into_iter().chain(rest).take(limit)
}

/// One line per exchange report: a refusal at info, with the JSON-RPC error the client got;
/// anything else at debug.
fn log_report(report: &ExchangeReport) {
    let method = report.method.as_deref().unwrap_or("");
    let id = report.request_id.as_deref().unwrap_or("");
    let session = report.session.map(|s| s.to_string()).unwrap_or_default();
    let conn = report.conn.map(|c| c.to_string()).unwrap_or_default();
    let millis = report.elapsed.as_millis();
    match (&report.refusal, report.status) {
        (Some(refusal), status) => tracing::info!(
            status = status.unwrap_or(0),
            code = refusal.code,
            error = refusal.message.as_str(),
            http = report.http_method.as_str(),
            path = report.path.as_str(),
            method,
            id,
            session,
            conn,
            "refused"
        ),
        (None, Some(status)) => tracing::debug!(
            status,
            http = report.http_method.as_str(),
            path = report.path.as_str(),
            method,
            id,
            session,
            conn,
            millis,
            streaming = report.streaming,
            "answered"
        ),
        (None, None) => tracing::debug!(
            http = report.http_method.as_str(),
            path = report.path.as_str(),
            method,
            id,
            session,
            conn,
            millis,
            "unanswered: the client went away"
        ),
    }
}
