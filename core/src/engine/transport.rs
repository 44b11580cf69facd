//! Inputs and outputs at both entry levels, and the sinks every response is written through.
//!
//! Byte level: a connection's bytes go through its [`ServerCodec`]; requests come out of it one
//! at a time. Request level: the host hands over a parsed [`Request`] and polls
//! [`ExchangeOutput`]s. Both end in the same router, and every response is written with the
//! helpers at the end of this file, whichever sink it goes to.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::Engine;
use super::entities::{Conn, ConnTimer, Exchange, HostQueue, Sink};
use super::ids::{ConnId, ExchangeId};
use super::streams::Lost;
use crate::http1::{Payload, Phase, Request, ResponseBody, ResponseHead, ServerCodec};
use crate::time::Instant;
use crate::timer::TimerTable;

/// Bytes handed to the adapter and not yet reported written, per connection. It bounds what an
/// adapter buffers for a socket; the rest stays queued (and counted) in the core.
pub(super) const MAX_UNACKED: usize = 64 * 1024;

/// What the adapter must do with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnAction {
    /// Write the last `len` bytes appended to the buffer to `conn`'s socket, then report with
    /// [`Engine::handle_written`].
    Write {
        /// The connection.
        conn: ConnId,
        /// How many bytes were appended.
        len: usize,
    },
    /// Close `conn`'s socket. The engine has already forgotten it.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// One piece of a request-level exchange's response, in order: one `Head`, any number of
/// `Body` pieces, one `End`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeOutput {
    /// Status and headers.
    Head {
        /// The status code.
        status: u16,
        /// Header fields (lowercase names).
        headers: Vec<(String, String)>,
    },
    /// Body bytes.
    Body(Payload),
    /// The response is complete.
    End,
    /// The response will not complete (its reader fell too far behind, or shutdown ran out of
    /// time): the host must break the response off, so that its client sees an error rather
    /// than a truncated body that looks whole. Nothing follows.
    Aborted,
}

/// Why a connection refused to be accepted: the engine holds twice its connection limit already
/// (connections past the limit are answered 503 until then). Drop the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptRefused;

impl Engine {
    // ---- Byte level ----

    /// A new connection. Past `max_connections` it is answered 503 with `Retry-After` and
    /// closed; past twice that, it is refused outright.
    pub fn handle_accept(&mut self, now: Instant) -> Result<ConnId, AcceptRefused> {
        self.tick(now);
        let limit = self.config.limits.max_connections;
        if self.conns.len() >= limit.saturating_mul(2) {
            self.counters.connections_refused += 1;
            return Err(AcceptRefused);
        }
        let id = ConnId(self.ids.next());
        let mut codec = ServerCodec::new(self.config.limits.http);
        if self.conns.len() >= limit || self.shutdown_deadline.is_some() {
            let body = crate::jsonrpc::error_body(
                None,
                crate::jsonrpc::ErrorCode::SERVER_ERROR,
                "Service Unavailable: too many connections",
            );
            codec.refuse(
                &ResponseHead::new(
                    503,
                    &[("content-type", "application/json"), ("retry-after", "1")],
                ),
                &body,
            );
            self.counters.connections_refused += 1;
        }
        self.conns.insert(
            id,
            Conn {
                codec,
                exchange: None,
                unacked: 0,
                touched: false,
                dirty: false,
                writing: false,
                accounted: 0,
                flushing: Vec::new(),
                write_progress: self.clock.now(),
                timers: TimerTable::new(),
            },
        );
        self.counters.connections_accepted += 1;
        self.touch_conn(id);
        self.settle();
        Ok(id)
    }

    /// Bytes read from `conn`'s socket. Returns how many were taken, at most
    /// [`Engine::read_capacity`]; offer the rest again later.
    pub fn handle_bytes(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) -> usize {
        self.tick(now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return bytes.len();
        };
        let taken = c.codec.receive(bytes);
        self.touch_conn(conn);
        self.settle();
        taken
    }

    /// How many bytes `conn` accepts now. At zero, stop reading until it grows (after a
    /// response ends).
    #[must_use]
    pub fn read_capacity(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.codec.read_capacity())
    }

    /// The adapter wrote `len` of the bytes it took for `conn`.
    pub fn handle_written(&mut self, now: Instant, conn: ConnId, len: usize) {
        let now = self.tick(now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.unacked = c.unacked.saturating_sub(len);
        if len > 0 {
            // Progress: the write deadline counts from now (the timer re-arms lazily).
            c.write_progress = now;
        }
        self.touch_conn(conn);
        self.settle();
    }

    /// `conn`'s peer closed its sending side. During an SSE response that means the peer is
    /// gone: the stream detaches at once (resumable) instead of at the next keep-alive that
    /// fails. Otherwise the response in progress is still written, then the connection closes.
    pub fn handle_eof(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.codec.receive_eof();
            // MCP clients and browsers never half-close and keep reading a stream; a peer that
            // sent FIN mid-stream has closed its socket.
            let streaming = c
                .exchange
                .and_then(|id| self.exchanges.get(&id))
                .is_some_and(|ex| ex.streaming);
            if streaming {
                self.remove_conn(conn, true);
            } else {
                self.touch_conn(conn);
            }
        }
        self.settle();
    }

    /// `conn`'s socket is gone (reset, error, or closed by the adapter).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        self.remove_conn(conn, false);
        self.settle();
    }

    /// The next thing to do with a socket: bytes to write (appended to `buf`) or a close.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<ConnAction> {
        if let Some(conn) = self.closing.pop_front() {
            return Some(ConnAction::Close { conn });
        }
        while let Some(conn) = self.dirty.pop_front() {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            c.dirty = false;
            let room = MAX_UNACKED.saturating_sub(c.unacked);
            let len = c.codec.poll_transmit(buf, room);
            c.unacked += len;
            self.touch_conn(conn);
            self.settle();
            if len > 0 {
                return Some(ConnAction::Write { conn, len });
            }
            if let Some(closed) = self.closing.pop_front() {
                return Some(ConnAction::Close { conn: closed });
            }
        }
        None
    }

    // ---- Request level ----

    /// A request parsed by the host. Poll its response with
    /// [`Engine::poll_exchange_output`].
    ///
    /// A body longer than `limits.http.max_body_bytes` is answered 413, as on a socket. A host
    /// that reads bodies from a stream need read at most one byte past the limit: whatever it
    /// passes beyond that is refused the same way.
    pub fn handle_request(&mut self, now: Instant, request: Request) -> ExchangeId {
        self.tick(now);
        let id = ExchangeId(self.ids.next());
        self.exchanges.insert(
            id,
            Exchange {
                sink: Sink::Host(HostQueue::default()),
                stream: None,
                streaming: false,
                awaiting_application: false,
            },
        );
        if request.body().len() > self.config.limits.http.max_body_bytes {
            let error = crate::http1::RequestError::BodyTooLarge;
            self.counters.http_requests += 1;
            self.reject(
                id,
                error.status(),
                crate::jsonrpc::ErrorCode::SERVER_ERROR,
                &alloc::format!("{error}"),
            );
        } else {
            self.route(id, request);
        }
        self.settle();
        id
    }

    /// The next piece of `exchange`'s response. After [`ExchangeOutput::End`] or
    /// [`ExchangeOutput::Aborted`] the exchange is forgotten.
    #[must_use]
    pub fn poll_exchange_output(&mut self, exchange: ExchangeId) -> Option<ExchangeOutput> {
        let ex = self.exchanges.get_mut(&exchange)?;
        let Sink::Host(queue) = &mut ex.sink else {
            return None;
        };
        let item = queue.items.pop_front();
        match &item {
            Some(ExchangeOutput::Body(payload)) => queue.bytes -= payload.as_slice().len(),
            Some(ExchangeOutput::End | ExchangeOutput::Aborted) => {
                self.exchanges.remove(&exchange);
            }
            _ => {}
        }
        if !self
            .exchanges
            .get(&exchange)
            .is_some_and(|e| matches!(&e.sink, Sink::Host(q) if !q.items.is_empty()))
        {
            self.host_ready.remove(&exchange);
        }
        item
    }

    /// Request-level exchanges with output waiting, in id order.
    pub fn exchanges_with_output(&self) -> impl Iterator<Item = ExchangeId> + '_ {
        self.host_ready.iter().copied()
    }

    /// The host stopped reading `exchange`'s response (the client went away, or the response
    /// stream was cancelled). A stream it carried stays resumable for the resume window.
    pub fn handle_exchange_closed(&mut self, now: Instant, exchange: ExchangeId) {
        self.tick(now);
        if self.exchanges.contains_key(&exchange) {
            self.abort_exchange(exchange);
            // The host knows: no `Aborted` to tell it.
            self.exchanges.remove(&exchange);
            self.host_ready.remove(&exchange);
        }
        self.settle();
    }

    // ---- Internals: connections ----

    /// Marks `conn` for re-evaluation by [`Engine::settle`].
    pub(super) fn touch_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.touched {
                c.touched = true;
                self.touched.push_back(conn);
            }
        }
    }

    /// Brings every touched connection up to date: answers pipelined requests, recomputes
    /// timers and output readiness, and closes connections that are done. Every public entry
    /// point ends here, so no connection is left in a state nobody will look at again.
    pub(super) fn settle(&mut self) {
        loop {
            while let Some(conn) = self.touched.pop_front() {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.touched = false;
                }
                self.pump(conn);
                self.settle_conn(conn);
            }
            // Shutdown ends early once nothing is in flight.
            if self.shutdown_deadline.is_some()
                && !self.shutdown_sessions_ended
                && self.inflight.is_empty()
            {
                self.finish_shutdown();
                continue;
            }
            break;
        }
    }

    /// Hands the connection's complete requests to the router while no exchange is open.
    fn pump(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.exchange.is_some() {
                return;
            }
            match c.codec.poll_request() {
                None => return,
                Some(Ok(request)) => {
                    let id = ExchangeId(self.ids.next());
                    c.exchange = Some(id);
                    self.exchanges.insert(
                        id,
                        Exchange {
                            sink: Sink::Conn(conn),
                            stream: None,
                            streaming: false,
                            awaiting_application: false,
                        },
                    );
                    self.route(id, request);
                }
                Some(Err(error)) => {
                    self.counters.http_errors += 1;
                    let _ = c.codec.send_error(&error);
                }
            }
        }
    }

    /// Timers, output readiness and closing for one connection.
    fn settle_conn(&mut self, conn: ConnId) {
        let now = self.now();
        let timeouts = self.config.timeouts;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let queued = c.codec.queued_bytes();
        if queued > 0 && c.unacked < MAX_UNACKED && !c.dirty {
            c.dirty = true;
            self.dirty.push_back(conn);
        }
        let held = queued + c.unacked;
        self.queued_total = self.queued_total - c.accounted + held;
        c.accounted = held;
        let closing = c.codec.wants_close() && held == 0;
        // Every byte is written: the streams that finished here were delivered.
        let delivered = if held == 0 {
            core::mem::take(&mut c.flushing)
        } else {
            Vec::new()
        };
        for stream in delivered {
            if let Some(s) = self.streams.get_mut(&stream) {
                s.flushing_on = None;
            }
            self.end_stream(stream);
        }
        if closing {
            self.remove_conn(conn, true);
            return;
        }
        if held > self.config.limits.max_queued_bytes_per_connection {
            self.counters.slow_readers_disconnected += 1;
            self.remove_conn(conn, true);
            return;
        }
        if self.queued_total > self.config.limits.max_queued_bytes_total {
            self.shed_largest_queue();
            if !self.conns.contains_key(&conn) {
                return;
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let phase = c.codec.phase();
        // An application path's answer is part of reading the request: the same deadline
        // bounds a stalled application and a stalled client.
        let awaiting_application = c
            .exchange
            .and_then(|id| self.exchanges.get(&id))
            .is_some_and(|ex| ex.awaiting_application);
        let reading =
            matches!(phase, Phase::ReadingHead | Phase::ReadingBody) || awaiting_application;
        match (reading, c.timers.get(ConnTimer::RequestRead)) {
            (true, None) => {
                self.conn_timers.set(
                    &mut c.timers,
                    conn,
                    ConnTimer::RequestRead,
                    now + timeouts.request_read,
                );
            }
            (false, Some(_)) => {
                self.conn_timers
                    .stop(&mut c.timers, conn, ConnTimer::RequestRead);
            }
            _ => {}
        }
        let idle = phase == Phase::Idle && queued == 0 && c.unacked == 0;
        match (idle, c.timers.get(ConnTimer::Idle)) {
            (true, None) => {
                self.conn_timers.set(
                    &mut c.timers,
                    conn,
                    ConnTimer::Idle,
                    now + timeouts.connection_idle,
                );
            }
            (false, Some(_)) => {
                self.conn_timers.stop(&mut c.timers, conn, ConnTimer::Idle);
            }
            _ => {}
        }
        let writing = queued + c.unacked > 0;
        if writing && !c.writing {
            c.write_progress = now;
        }
        c.writing = writing;
        if writing && c.timers.get(ConnTimer::Write).is_none() {
            self.conn_timers
                .set(&mut c.timers, conn, ConnTimer::Write, now + timeouts.write);
        }
    }

    /// The write timer fired: close a connection whose output has not moved for the write
    /// timeout, re-arm for one that made progress since, and let it lapse when nothing is
    /// pending.
    pub(super) fn write_deadline(&mut self, conn: ConnId) {
        let now = self.now();
        let timeout = self.config.timeouts.write;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.writing {
            return;
        }
        let deadline = c.write_progress + timeout;
        #[cfg(feature = "sim-faults")]
        let deadline = if self.config.faults.no_write_timeout {
            // The leak: the deadline keeps moving, so a stalled reader is never cut.
            now + timeout + crate::time::Duration::from_millis(1)
        } else {
            deadline
        };
        if now >= deadline {
            self.counters.write_timeouts += 1;
            self.remove_conn(conn, true);
        } else {
            self.conn_timers
                .set(&mut c.timers, conn, ConnTimer::Write, deadline);
        }
    }

    /// Over the total output limit: the connection holding the most output is the slowest
    /// reader, and is disconnected (repeatedly, until under the limit). Nobody else waits.
    fn shed_largest_queue(&mut self) {
        while self.queued_total > self.config.limits.max_queued_bytes_total {
            let Some((&largest, _)) = self
                .conns
                .iter()
                .max_by_key(|(id, c)| (c.accounted, core::cmp::Reverse(**id)))
            else {
                return;
            };
            self.counters.slow_readers_disconnected += 1;
            self.remove_conn(largest, true);
        }
    }

    /// Forgets `conn` and everything only it held. With `tell_adapter`, the adapter learns of
    /// it from `poll_transmit`.
    pub(super) fn remove_conn(&mut self, conn: ConnId, tell_adapter: bool) {
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        self.queued_total -= c.accounted;
        self.conn_timers.stop_all(&mut c.timers, conn);
        // Streams whose last bytes never reached the client stay resumable.
        for stream in core::mem::take(&mut c.flushing) {
            if let Some(s) = self.streams.get_mut(&stream) {
                s.flushing_on = None;
            }
        }
        if let Some(exchange) = c.exchange.take() {
            self.abort_exchange(exchange);
        }
        c.codec.close();
        if tell_adapter {
            self.closing.push_back(conn);
        }
    }

    /// A request that did not arrive within `timeouts.request_read` (a slowloris, or a client
    /// that stalled mid-body) is answered 408 with a JSON-RPC error and the connection closes
    /// once that is written; the write deadline bounds a client that does not read either. An
    /// application path that did not answer in time has its exchange open: that connection
    /// just closes.
    pub(super) fn request_read_timeout(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.exchange.is_none() {
            let body = crate::jsonrpc::error_body(
                None,
                crate::jsonrpc::ErrorCode::SERVER_ERROR,
                "Request Timeout: the request did not arrive in time",
            );
            c.codec.refuse(
                &ResponseHead::new(408, &[("content-type", "application/json")]),
                &body,
            );
            // Refused: the answer is queued and the codec closes once it is written.
            if c.codec.queued_bytes() > 0 {
                self.touch_conn(conn);
                return;
            }
        }
        self.remove_conn(conn, true);
    }

    // ---- Internals: writing responses ----

    /// A complete response with a body of known length. Ends the exchange.
    pub(super) fn send_full(
        &mut self,
        exchange: ExchangeId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        match &mut ex.sink {
            Sink::Conn(conn) => {
                let conn = *conn;
                if let Some(c) = self.conns.get_mut(&conn) {
                    let _ = c.codec.send_response(
                        &ResponseHead::new(status, headers),
                        ResponseBody::Full(body),
                    );
                    self.touch_conn(conn);
                }
            }
            Sink::Host(queue) => {
                queue.items.push_back(ExchangeOutput::Head {
                    status,
                    headers: owned_headers(headers),
                });
                if !body.is_empty() {
                    queue.push_body(Payload::Owned(body.to_vec()));
                }
                self.host_ready.insert(exchange);
            }
        }
        self.finish_exchange(exchange);
    }

    /// The head of a streaming response.
    pub(super) fn send_stream_head(&mut self, exchange: ExchangeId, headers: &[(&str, &str)]) {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        ex.streaming = true;
        match &mut ex.sink {
            Sink::Conn(conn) => {
                let conn = *conn;
                if let Some(c) = self.conns.get_mut(&conn) {
                    let _ = c
                        .codec
                        .send_response(&ResponseHead::new(200, headers), ResponseBody::Streaming);
                    self.touch_conn(conn);
                }
            }
            Sink::Host(queue) => {
                queue.head_sent = true;
                queue.items.push_back(ExchangeOutput::Head {
                    status: 200,
                    headers: owned_headers(headers),
                });
                self.host_ready.insert(exchange);
            }
        }
    }

    /// Part of a streaming body: `prefix`, then `shared` by reference.
    pub(super) fn send_stream_data(
        &mut self,
        exchange: ExchangeId,
        prefix: &[u8],
        shared: Option<&Arc<[u8]>>,
    ) {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        let over = match &mut ex.sink {
            Sink::Conn(conn) => {
                let conn = *conn;
                if let Some(c) = self.conns.get_mut(&conn) {
                    let _ = match shared {
                        Some(shared) => c.codec.send_body_shared(prefix, shared),
                        None => c.codec.send_body(prefix),
                    };
                    self.touch_conn(conn);
                }
                false
            }
            Sink::Host(queue) => {
                if !prefix.is_empty() {
                    queue.push_body(Payload::Owned(prefix.to_vec()));
                }
                if let Some(shared) = shared {
                    queue.push_body(Payload::Shared(shared.clone()));
                }
                self.host_ready.insert(exchange);
                queue.bytes > self.config.limits.max_queued_bytes_per_connection
            }
        };
        if over {
            // A host that does not read its stream is a slow reader: cut it loose.
            self.counters.slow_readers_disconnected += 1;
            self.abort_exchange(exchange);
        }
    }

    /// Ends a streaming response cleanly. Ends the exchange.
    pub(super) fn finish_stream_response(&mut self, exchange: ExchangeId) {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        if let Sink::Conn(conn) = &ex.sink {
            let conn = *conn;
            if let Some(c) = self.conns.get_mut(&conn) {
                let _ = c.codec.finish_body();
                self.touch_conn(conn);
            }
        }
        self.finish_exchange(exchange);
    }

    /// The response is complete: detach its stream and release the exchange (a request-level
    /// exchange stays until the host takes `End`).
    fn finish_exchange(&mut self, exchange: ExchangeId) {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        let stream = ex.stream.take();
        let how = match &mut ex.sink {
            Sink::Conn(conn) => {
                let conn = *conn;
                self.exchanges.remove(&exchange);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.exchange = None;
                }
                self.touch_conn(conn);
                Lost::Finished(Some(conn))
            }
            Sink::Host(queue) => {
                if !queue.ended {
                    queue.ended = true;
                    queue.items.push_back(ExchangeOutput::End);
                    self.host_ready.insert(exchange);
                }
                Lost::Finished(None)
            }
        };
        if let Some(stream) = stream {
            self.stream_lost_exchange(stream, how);
        }
    }

    /// The exchange ends without completing its response (the peer vanished or is too slow).
    pub(super) fn abort_exchange(&mut self, exchange: ExchangeId) {
        let Some(mut ex) = self.exchanges.remove(&exchange) else {
            return;
        };
        self.host_ready.remove(&exchange);
        if let Sink::Conn(conn) = ex.sink {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.exchange = None;
                // A half-written response poisons the connection: close it.
                if ex.streaming || c.codec.phase() != Phase::Idle {
                    c.codec.close_after_response();
                    let _ = c.codec.close();
                }
                self.touch_conn(conn);
            }
        }
        if let Some(stream) = ex.stream.take() {
            self.stream_lost_exchange(stream, Lost::Aborted);
        }
        if let Sink::Host(queue) = ex.sink {
            // A host learns of the abort only by polling: until it takes `Aborted`, the
            // exchange stays as a tombstone with no stream, no timer and no queued bytes.
            let mut tombstone = HostQueue {
                head_sent: queue.head_sent,
                ended: true,
                ..HostQueue::default()
            };
            tombstone.items.push_back(ExchangeOutput::Aborted);
            self.exchanges.insert(
                exchange,
                Exchange {
                    sink: Sink::Host(tombstone),
                    stream: None,
                    streaming: false,
                    awaiting_application: false,
                },
            );
            self.host_ready.insert(exchange);
        }
    }
}

fn owned_headers(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect()
}
