//! A pipe: one client on a byte stream of newline-delimited JSON-RPC (stdio, or a Unix
//! socket), as a connection whose codec is lines instead of HTTP.
//!
//! The first request picks the era, as the TypeScript and Python SDKs' dual-era stdio servers
//! do: `initialize` opens one session for the life of the pipe (carried like an HTTP+SSE
//! session: every message on one stream, here the pipe itself); a request whose `_meta`
//! declares a 2026-07-28 version is served in a context of its own, on an exchange of its own,
//! which `notifications/cancelled` ends. `server/discover` before the era is known is answered
//! and picks nothing (a dual client's probe). Each era's logic is the one the HTTP entry uses
//! (`deliver`, `stateless_request`, `open_listen`); only the framing and the opening rule live
//! here.
//!
//! Bounds: the pipe stops reading while its unwritten output is over `stream_window_bytes` or
//! its requests in flight reach `max_inflight_per_session`, so a host that writes without
//! reading makes nothing grow; a line past `limits.http.max_body_bytes` (the inbound limit a
//! POST body has, which the engine keeps within its input share) is answered with an error and
//! the rest of it discarded as it arrives. Answers and a request's own notifications wait for
//! room (`WouldBlock`, then `Writable`); output that cannot wait (broadcasts) past
//! `max_queued_bytes_per_connection` ends the pipe, as it cuts a slow HTTP reader. A pipe has
//! no idle, read or write deadline: its host owns its life, and ends it by closing either side.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::Engine;
use super::entities::{Conn, Exchange, SessionKind, Sink, StreamKind, StreamMode};
use super::ids::{ConnId, ExchangeId, SessionKey, StreamId};
use super::messages::ResponseTarget;
use super::router::InitializeRefusal;
use crate::http1::ServerCodec;
use crate::jsonrpc::{self, ErrorCode, Incoming, Message, RequestId};
use crate::lines::{Frame, LineDecoder, encode_line};
use crate::time::Instant;

/// Which era a pipe speaks, fixed by its first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PipeEra {
    /// No request has picked one yet.
    Unset,
    /// `initialize` came first: one session, carried by `stream` on `exchange`.
    Session {
        session: SessionKey,
        exchange: ExchangeId,
    },
    /// A 2026-07-28 request came first: each request has a context of its own.
    Modern,
}

/// A pipe's own state, beside its connection's.
#[derive(Debug)]
pub(crate) struct Pipe {
    decoder: LineDecoder,
    /// Lines not yet taken by the adapter.
    out: Vec<u8>,
    pub(crate) era: PipeEra,
    /// The exchanges writing to it, with the request each one answers (2026-07-28), or `None`
    /// (the session's stream).
    pub(crate) exchanges: BTreeMap<ExchangeId, Option<RequestId>>,
    /// The input ended: nothing more is read; the pipe closes once everything is answered and
    /// written.
    pub(crate) eof: bool,
}

impl Pipe {
    /// Output bytes queued, not yet taken by the adapter.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.out.len()
    }

    /// Input bytes held: an incomplete line.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.decoder.buffered_bytes()
    }

    /// Appends one JSON message as a line.
    fn write_json(&mut self, json: &[u8]) {
        encode_line(json, &mut self.out);
    }

    /// Appends the messages of pre-framed SSE bytes as lines: the `data` of each event (its
    /// lines joined by a space, which is whitespace between JSON tokens); comments, ids and
    /// events without data (keep-alives, priming) carry nothing for a pipe.
    fn write_sse(&mut self, sse: &[u8]) {
        let mut event: Vec<u8> = Vec::new();
        for line in sse.split(|&b| b == b'\n') {
            if line.is_empty() {
                if !event.is_empty() {
                    encode_line(&event, &mut self.out);
                    event.clear();
                }
            } else if let Some(data) = line.strip_prefix(b"data:") {
                let data = data.strip_prefix(b" ").unwrap_or(data);
                if !event.is_empty() {
                    event.push(b' ');
                }
                event.extend_from_slice(data);
            }
        }
        if !event.is_empty() {
            encode_line(&event, &mut self.out);
        }
    }

    /// Moves up to `room` bytes of output to `buf`; returns how many.
    #[must_use]
    pub(crate) fn poll_transmit(&mut self, buf: &mut Vec<u8>, room: usize) -> usize {
        let len = room.min(self.out.len());
        buf.extend_from_slice(&self.out[..len]);
        self.out.drain(..len);
        if self.out.is_empty() {
            // A burst's buffer is not kept for the pipe's life.
            self.out = Vec::new();
        }
        len
    }
}

impl Engine {
    // ---- Pipe level ----

    /// A new pipe: one client speaking newline-delimited JSON-RPC (stdio). Feed it with
    /// [`Engine::handle_bytes`] (within [`Engine::read_capacity`]), drain it with
    /// [`Engine::poll_transmit`], and report [`Engine::handle_written`], [`Engine::handle_eof`]
    /// (its input ended: what is in flight is answered, then it closes) and
    /// [`Engine::handle_closed`] (its output is gone: everything it asked for is cancelled), as
    /// for a socket. It has no idle, read or write deadline: a pipe lives as long as its host.
    pub fn open_pipe(&mut self, now: Instant) -> ConnId {
        self.tick(now);
        let id = self.conns.vacant_key();
        // The inbound limit HTTP bodies have, lowered by `Engine::new` to fit the input share: a
        // line that could never fit it would stop the pipe reading for good.
        let max = self.config.limits.http.max_body_bytes;
        let pipe = alloc::boxed::Box::new(Pipe {
            decoder: LineDecoder::new(max),
            out: Vec::new(),
            era: PipeEra::Unset,
            exchanges: BTreeMap::new(),
            eof: false,
        });
        self.conns.insert_at(
            id,
            Conn::new(
                ServerCodec::new(self.config.limits.http),
                self.clock.now(),
                None,
                None,
                Some(pipe),
            ),
        );
        self.counters.connections_accepted += 1;
        self.touch_conn(id);
        self.settle();
        id
    }

    /// Whether `conn` is a pipe.
    #[must_use]
    pub fn is_pipe(&self, conn: ConnId) -> bool {
        self.conns.get(conn).is_some_and(|c| c.pipe.is_some())
    }

    /// Requests of the pipe in flight: the session's, or one per 2026-07-28 exchange.
    fn pipe_inflight(&self, pipe: &Pipe) -> usize {
        match pipe.era {
            PipeEra::Session { session, .. } => {
                self.sessions.get(session).map_or(0, |s| s.inflight.len())
            }
            _ => pipe.exchanges.len(),
        }
    }

    /// Whether the pipe reads on: its output is within the window and its requests in flight
    /// under the per-session limit.
    pub(super) fn pipe_reads(&self, c: &Conn) -> bool {
        let Some(pipe) = c.pipe.as_deref() else {
            return false;
        };
        !pipe.eof
            && pipe.queued_bytes() + c.unacked < self.config.limits.stream_window_bytes
            && self.pipe_inflight(pipe) < self.config.limits.max_inflight_per_session
    }

    /// What a pipe takes now: nothing while it waits for its host to read or its requests to
    /// finish; while it discards an over-long line, anything; else what the input share has
    /// room for.
    pub(super) fn pipe_read_capacity(&self, c: &Conn) -> usize {
        let Some(pipe) = c.pipe.as_deref() else {
            return 0;
        };
        if !self.pipe_reads(c) {
            0
        } else if pipe.decoder.is_discarding() {
            usize::MAX
        } else {
            // `c.input` is settled after the call; bytes the decoder took since count already.
            let taken = pipe.buffered_bytes().saturating_sub(c.input);
            self.budget.input_room(c.input).saturating_sub(taken)
        }
    }

    /// Bytes for a pipe: lines are handled one at a time while it reads on.
    pub(super) fn pipe_bytes(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        let mut rest = bytes;
        loop {
            let Some(c) = self.conns.get(conn) else {
                return bytes.len();
            };
            let room = self.pipe_read_capacity(c);
            if room == 0 || rest.is_empty() {
                break;
            }
            let offered = rest.len().min(room);
            let mut input = &rest[..offered];
            let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) else {
                return bytes.len();
            };
            let frame = pipe.decoder.decode(&mut input);
            let used = offered - input.len();
            rest = &rest[used..];
            match frame {
                Some(frame) => self.pipe_frame(conn, frame),
                None if used == 0 => break,
                None => {}
            }
        }
        let taken = bytes.len() - rest.len();
        let exhausted = self
            .conns
            .get(conn)
            .is_none_or(|c| self.pipe_read_capacity(c) == 0);
        if let Some(c) = self.conns.get_mut(conn) {
            c.read_blocked = taken < bytes.len() || exhausted;
        }
        self.touch_conn(conn);
        self.settle();
        taken
    }

    /// The pipe's input ended: a last line without its newline is handled, listen streams end
    /// (nothing more can be asked of them), and the pipe closes once what is in flight is
    /// answered and written.
    pub(super) fn pipe_eof(&mut self, conn: ConnId) {
        let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) else {
            return;
        };
        if pipe.eof {
            return;
        }
        let last = pipe.decoder.finish();
        if let Some(frame) = last {
            self.pipe_frame(conn, frame);
        }
        let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) else {
            return;
        };
        pipe.eof = true;
        let exchanges: Vec<ExchangeId> = pipe.exchanges.keys().copied().collect();
        for exchange in exchanges {
            let listen = self
                .exchanges
                .get(exchange)
                .and_then(|e| e.stream)
                .and_then(|s| self.streams.get(s))
                .is_some_and(|s| s.kind == StreamKind::Listen);
            if listen {
                self.abort_exchange(exchange);
            }
        }
        self.touch_conn(conn);
    }

    /// Whether a pipe is done: its input ended and nothing it asked for is left to answer.
    pub(super) fn pipe_done(&self, c: &Conn) -> bool {
        let Some(pipe) = c.pipe.as_deref() else {
            return false;
        };
        // The session's stream (no request id) stays to the end; any other exchange is an
        // answer still owed.
        pipe.eof && self.pipe_inflight(pipe) == 0 && pipe.exchanges.values().all(Option::is_none)
    }

    /// One frame of the pipe's input.
    fn pipe_frame(&mut self, conn: ConnId, frame: Frame) {
        match frame {
            Frame::TooLong => {
                let max = self.config.limits.http.max_body_bytes;
                self.counters.rejected_requests += 1;
                let message = format!(
                    "Invalid Request: the message is longer than the limit of {max} bytes; \
                     it was discarded"
                );
                self.pipe_error(conn, None, ErrorCode::INVALID_REQUEST, &message);
            }
            Frame::Line(line) => self.pipe_line(conn, &line),
        }
    }

    fn pipe_error(&mut self, conn: ConnId, id: Option<&RequestId>, code: ErrorCode, text: &str) {
        let body = jsonrpc::error_body(id, code, text);
        self.pipe_write(conn, &body);
    }

    fn pipe_write(&mut self, conn: ConnId, json: &[u8]) {
        if let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) {
            pipe.write_json(json);
        }
        self.touch_conn(conn);
    }

    /// One line: decoded, then routed by the pipe's era.
    fn pipe_line(&mut self, conn: ConnId, line: &[u8]) {
        let len = line.len();
        let message = match jsonrpc::decode(line) {
            Ok(Incoming::Single(message)) => message,
            Ok(Incoming::Batch(_)) => {
                self.counters.rejected_requests += 1;
                return self.pipe_error(
                    conn,
                    None,
                    ErrorCode::INVALID_REQUEST,
                    "Invalid Request: batches are not accepted on this transport",
                );
            }
            Err(error) => {
                self.counters.rejected_requests += 1;
                let body = jsonrpc::error_body(error.id.as_ref(), error.code, &format!("{error}"));
                return self.pipe_write(conn, &body);
            }
        };
        let Some(era) = self
            .conns
            .get(conn)
            .and_then(|c| c.pipe.as_deref())
            .map(|p| p.era)
        else {
            return;
        };
        match (era, message) {
            (PipeEra::Unset, Message::Request(request)) => {
                if request.method == "initialize" {
                    self.pipe_initialize(conn, request);
                } else if super::modern::envelope::declares_stateless(request.params.as_deref()) {
                    if request.method != "server/discover" {
                        self.set_pipe_era(conn, PipeEra::Modern);
                    }
                    self.pipe_stateless(conn, request);
                } else {
                    self.counters.rejected_requests += 1;
                    self.pipe_error(
                        conn,
                        Some(&request.id),
                        ErrorCode::INVALID_REQUEST,
                        "Invalid Request: the first request must be initialize, or carry a \
                         protocol version in _meta",
                    );
                }
            }
            // Nothing to answer before the era is known.
            (PipeEra::Unset, _) => {}
            (PipeEra::Modern, Message::Request(request)) => {
                if request.method == "initialize" {
                    // Named versions let a dual client retry in this era.
                    let rejection = super::modern::envelope::unsupported(
                        super::messages::requested_version(request.params.as_deref())
                            .unwrap_or("none"),
                    );
                    self.counters.rejected_requests += 1;
                    let data = rejection
                        .data
                        .as_deref()
                        .and_then(|d| serde_json::from_str::<&serde_json::value::RawValue>(d).ok());
                    let body = jsonrpc::error_body_with_data(
                        Some(&request.id),
                        rejection.code,
                        "Unsupported protocol version: this connection speaks 2026-07-28; \
                         initialize is not part of it",
                        data,
                    );
                    self.pipe_write(conn, &body);
                } else {
                    self.pipe_stateless(conn, request);
                }
            }
            (PipeEra::Modern, Message::Notification(notification)) => {
                if notification.method == "notifications/cancelled" {
                    let id = super::messages::cancelled_request_id(notification.params.as_deref());
                    if let Some(id) = id {
                        self.pipe_cancel(conn, &id);
                    }
                }
            }
            // A client sends no responses in this era.
            (PipeEra::Modern, _) => {}
            (PipeEra::Session { session, exchange }, message) => {
                self.pipe_session_message(conn, session, exchange, message, len);
            }
        }
    }

    fn set_pipe_era(&mut self, conn: ConnId, era: PipeEra) {
        if let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) {
            pipe.era = era;
        }
    }

    /// A new exchange writing to the pipe.
    fn pipe_exchange(&mut self, conn: ConnId, request: Option<RequestId>) -> ExchangeId {
        let id = self.exchanges.vacant_key();
        self.exchanges
            .insert_at(id, Exchange::new(Sink::Conn(conn)));
        if let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) {
            pipe.exchanges.insert(id, request);
        }
        id
    }

    /// `initialize` first: one session for the life of the pipe, carried by a stream that is
    /// the pipe itself (as an HTTP+SSE session is carried by its SSE stream).
    fn pipe_initialize(&mut self, conn: ConnId, init: jsonrpc::Request) {
        let id = init.id.clone();
        let refuse = |engine: &mut Engine, why: &str| {
            engine.counters.rejected_requests += 1;
            let message = format!("Service unavailable: {why}");
            engine.pipe_error(conn, Some(&id), ErrorCode::SERVER_ERROR, &message);
        };
        match self.initialize_refusal(init.params.as_deref(), 0) {
            None => {}
            Some(InitializeRefusal::Unavailable(why)) => return refuse(self, why),
            Some(InitializeRefusal::MetadataTooLarge(message)) => {
                return self.pipe_error(conn, Some(&id), ErrorCode::INVALID_PARAMS, &message);
            }
        }
        // Its wire id is never sent: the session is reached only through this pipe.
        let session = self.open_session(SessionKind::Legacy, None);
        let version = super::messages::negotiate(init.params.as_deref());
        let stream = self.new_stream(session, StreamKind::Legacy, StreamMode::Sse, version);
        if let Some(s) = self.sessions.get_mut(session) {
            s.standalone = Some(stream);
        }
        let exchange = self.pipe_exchange(conn, None);
        self.set_pipe_era(conn, PipeEra::Session { session, exchange });
        self.attach_stream(stream, exchange);
        self.start_sse(stream, false);
        self.deliver(
            session,
            vec![Ok(Message::Request(init))],
            ResponseTarget::Stream(stream),
        );
    }

    /// A message on a session-era pipe: delivered to its session, as an HTTP+SSE POST is.
    fn pipe_session_message(
        &mut self,
        conn: ConnId,
        session: SessionKey,
        exchange: ExchangeId,
        message: Message,
        len: usize,
    ) {
        let stream: Option<StreamId> = self
            .exchanges
            .get(exchange)
            .and_then(|e| e.stream)
            .filter(|_| self.sessions.contains_key(session));
        let Some(stream) = stream else {
            if let Message::Request(request) = message {
                self.counters.rejected_requests += 1;
                self.pipe_error(
                    conn,
                    Some(&request.id),
                    ErrorCode::SESSION_NOT_FOUND,
                    "Session ended",
                );
            }
            return;
        };
        if let Message::Request(request) = &message {
            if request.method != "initialize"
                && super::modern::envelope::declares_stateless(request.params.as_deref())
            {
                self.counters.rejected_requests += 1;
                return self.pipe_error(
                    conn,
                    Some(&request.id),
                    ErrorCode::INVALID_REQUEST,
                    "Invalid Request: this connection was initialized; 2026-07-28 requests are \
                     not part of its session",
                );
            }
            // Admitted as an HTTP+SSE POST is: within the event queue, the in-flight limit
            // and the session's and engine's bytes.
            let refusal = if self.events_full() {
                Some("the application is not keeping up")
            } else if self.inflight.len() >= self.config.limits.max_inflight_total {
                Some("too many requests in flight")
            } else {
                self.admits(Some(session), super::budget::new_work_bytes(len, 1))
                    .err()
            };
            if let Some(why) = refusal {
                self.counters.rejected_requests += 1;
                let message = format!("Service unavailable: {why}");
                return self.pipe_error(conn, Some(&request.id), ErrorCode::SERVER_ERROR, &message);
            }
        }
        self.deliver(session, vec![Ok(message)], ResponseTarget::Stream(stream));
    }

    /// A 2026-07-28 request on the pipe: an exchange of its own, then the era's own path.
    fn pipe_stateless(&mut self, conn: ConnId, request: jsonrpc::Request) {
        let duplicate = self
            .conns
            .get(conn)
            .and_then(|c| c.pipe.as_deref())
            .is_some_and(|p| {
                p.exchanges
                    .values()
                    .any(|r| r.as_ref() == Some(&request.id))
            });
        if duplicate {
            self.counters.rejected_requests += 1;
            return self.pipe_error(
                conn,
                Some(&request.id),
                ErrorCode::INVALID_REQUEST,
                "Invalid Request: a request with this id is in flight",
            );
        }
        let exchange = self.pipe_exchange(conn, Some(request.id.clone()));
        self.stateless_request(exchange, None, request, None);
    }

    /// `notifications/cancelled` on a 2026-07-28 pipe: the request's exchange ends, which
    /// cancels its context as a closed HTTP stream does; nothing more is sent for it.
    fn pipe_cancel(&mut self, conn: ConnId, id: &RequestId) {
        let exchange = self
            .conns
            .get(conn)
            .and_then(|c| c.pipe.as_deref())
            .and_then(|p| {
                p.exchanges
                    .iter()
                    .find(|(_, r)| r.as_ref() == Some(id))
                    .map(|(e, _)| *e)
            });
        if let Some(exchange) = exchange {
            self.abort_exchange(exchange);
        }
    }

    /// Output for an exchange on a pipe: JSON as a line.
    pub(super) fn pipe_send_json(&mut self, conn: ConnId, body: &[u8]) {
        if !body.is_empty() {
            self.pipe_write(conn, body);
        }
    }

    /// Output for an exchange on a pipe: SSE-framed messages as lines.
    pub(super) fn pipe_send_sse(&mut self, conn: ConnId, prefix: &[u8], shared: Option<&[u8]>) {
        if let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) {
            match shared {
                Some(shared) if !prefix.is_empty() => {
                    let mut joined = Vec::with_capacity(prefix.len() + shared.len());
                    joined.extend_from_slice(prefix);
                    joined.extend_from_slice(shared);
                    pipe.write_sse(&joined);
                }
                Some(shared) => pipe.write_sse(shared),
                None => pipe.write_sse(prefix),
            }
        }
        self.touch_conn(conn);
    }

    /// An exchange on a pipe ended.
    pub(super) fn pipe_forget(&mut self, conn: ConnId, exchange: ExchangeId) {
        if let Some(pipe) = self.conns.get_mut(conn).and_then(|c| c.pipe.as_deref_mut()) {
            pipe.exchanges.remove(&exchange);
        }
        self.touch_conn(conn);
    }

    /// A pipe's re-evaluation (its `settle_conn`): output readiness, charges, reading, and
    /// closing once done. No timers: a pipe lives as long as its host.
    pub(super) fn settle_pipe(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let queued = c.queued_bytes();
        if queued > 0 && c.unacked < super::transport::MAX_UNACKED && !c.dirty {
            c.dirty = true;
            self.dirty.push_back(conn);
        }
        let held = queued + c.unacked;
        let bookkeeping = super::budget::conn_bookkeeping(c);
        self.budget
            .output_changed(c.accounted + c.bookkeeping, held + bookkeeping);
        c.accounted = held;
        c.bookkeeping = bookkeeping;
        c.paced = c.paced.min(held);
        let input = c.pipe.as_deref().map_or(0, Pipe::buffered_bytes);
        self.budget.input_changed(c.input, input);
        c.input = input;
        let c = &self.conns[conn];
        // In a shutdown, once the sessions have ended, a pipe with no answer owed goes too.
        let shut = self.shutdown_sessions_ended
            && c.pipe.as_deref().is_some_and(|p| p.exchanges.is_empty());
        if (self.pipe_done(c) || shut) && held == 0 {
            self.remove_conn(conn, true);
            return;
        }
        if held < self.config.limits.stream_window_bytes {
            // Room again: the requests that waited for it retry (the streams of a pipe share
            // its window, as an HTTP connection's one stream has its own).
            let streams: Vec<StreamId> = c.pipe.as_deref().map_or_else(Vec::new, |p| {
                p.exchanges
                    .keys()
                    .filter_map(|e| self.exchanges.get(*e).and_then(|e| e.stream))
                    .filter(|s| self.streams.get(*s).is_some_and(|s| !s.blocked.is_empty()))
                    .collect()
            });
            for stream in streams {
                self.wake_stream(stream);
            }
        }
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let capacity = self.pipe_read_capacity(c);
        let reads = self.pipe_reads(c);
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.read_blocked {
            if capacity > 0 {
                c.read_blocked = false;
                if !c.readable_listed {
                    c.readable_listed = true;
                    self.readable.push_back(conn);
                }
            } else if reads && !c.waiting_input {
                // Only the input pool is in the way.
                c.waiting_input = true;
                self.input_waiters.push_back(conn);
            }
        }
    }
}
