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

/// Whether output waited for room before it was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pacing {
    /// An application's message its request's stream had room for, or the engine's own answer
    /// to a request: judged only by the write deadline, which measures progress.
    Paced,
    /// Output that could not wait (a broadcast, a notification, a keep-alive): a reader that
    /// lets it pile up past `max_queued_bytes_per_connection` is cut.
    Unpaced,
}

/// Why a connection refused to be accepted: the engine holds twice its connection limit already
/// (connections past the limit are answered 503 until then). Drop the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptRefused;

/// Where a peer stands against `max_connections_per_peer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerLoad {
    Under,
    /// At the cap: answered 503 with `Retry-After`.
    Busy,
    /// At twice the cap: refused without a word.
    Refused,
}

const PEER_BUSY: &str = "Service Unavailable: too many connections from this peer";

impl Engine {
    // ---- Byte level ----

    /// A new connection, from `peer` when the adapter knows it. Past `max_connections` (or
    /// `max_connections_per_peer` for its peer) it is answered 503 with `Retry-After` and
    /// closed; past twice that, it is refused outright. Its first request must arrive within
    /// `timeouts.request_read`, counted from now.
    pub fn handle_accept(
        &mut self,
        now: Instant,
        peer: Option<core::net::IpAddr>,
    ) -> Result<ConnId, AcceptRefused> {
        self.tick(now);
        let limit = self.config.limits.max_connections;
        // A trusted proxy's connection counts for its client, once its header names it.
        let proxy = peer
            .filter(|address| self.trusted_proxies.iter().any(|n| n.contains(*address)))
            .map(|address| {
                alloc::boxed::Box::new((crate::proxy_protocol::HeaderReader::default(), address))
            });
        let peer = peer
            .filter(|_| proxy.is_none())
            .map(super::budget::PeerKey::of);
        let holders = self.conns.len() + self.host_exchanges;
        let over_peer = peer.map_or(PeerLoad::Under, |p| self.peer_load(p));
        if holders >= limit.saturating_mul(2) || over_peer == PeerLoad::Refused {
            self.counters.connections_refused += 1;
            return Err(AcceptRefused);
        }
        let id = self.conns.vacant_key();
        let mut codec = ServerCodec::new(self.config.limits.http);
        if holders >= limit || over_peer == PeerLoad::Busy || self.shutdown_deadline.is_some() {
            let why = if over_peer == PeerLoad::Busy {
                PEER_BUSY
            } else {
                "Service Unavailable: too many connections"
            };
            self.refuse_busy(id, &mut codec, why);
        }
        if let Some(peer) = peer {
            *self.peers.entry(peer).or_default() += 1;
        }
        self.conns
            .insert_at(id, Conn::new(codec, self.clock.now(), peer, proxy, None));
        self.counters.connections_accepted += 1;
        self.touch_conn(id);
        self.settle();
        Ok(id)
    }

    /// Bytes read from `conn`'s socket. Returns how many were taken, at most
    /// [`Engine::read_capacity`]. When it takes less than offered, or leaves the capacity at
    /// zero, stop reading: [`Engine::poll_readable`] names the connection once it can take
    /// more; offer the rest then.
    pub fn handle_bytes(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) -> usize {
        self.tick(now);
        let Some(c) = self.conns.get_mut(conn) else {
            return bytes.len();
        };
        if c.pipe.is_some() {
            return self.pipe_bytes(conn, bytes);
        }
        let mut header = 0;
        if c.proxy.is_some() {
            match self.read_proxy_header(conn, bytes) {
                Some(used) => header = used,
                None => return bytes.len(),
            }
        }
        let bytes = &bytes[header..];
        let room = self.read_capacity(conn);
        let Some(c) = self.conns.get_mut(conn) else {
            return header + bytes.len();
        };
        let taken = header + c.codec.receive(&bytes[..bytes.len().min(room)]);
        let bytes_len = header + bytes.len();
        // Known only after the codec has moved on (a complete request leaves the buffer).
        c.read_blocked = taken < bytes_len;
        self.touch_conn(conn);
        self.settle();
        let exhausted = self.read_capacity(conn) == 0;
        if let Some(c) = self.conns.get_mut(conn) {
            if exhausted && !c.read_blocked {
                c.read_blocked = true;
                self.touch_conn(conn);
                self.settle();
            }
        }
        taken
    }

    /// Reads the PROXY protocol header at the start of a trusted proxy's connection. Returns
    /// how many of `bytes` it took once the connection's peer is known (the rest is HTTP), or
    /// `None` when all of them were taken (the header is incomplete, or the connection was
    /// refused).
    fn read_proxy_header(&mut self, conn: ConnId, bytes: &[u8]) -> Option<usize> {
        use crate::proxy_protocol::Read;
        let c = self.conns.get_mut(conn)?;
        if c.codec.discards_input() {
            // Refused already (at the connection cap, in shutdown, too slow): its bytes are
            // discarded and nothing more is answered, so the header is never read.
            c.proxy = None;
            return Some(0);
        }
        let (reader, proxy) = c.proxy.as_deref_mut()?;
        let proxy = *proxy;
        let (used, read) = reader.read(bytes);
        let (client, replay) = match read {
            Read::More => return None,
            Read::Proxied(client) => (client, Vec::new()),
            Read::Direct => (None, reader.given_back().to_vec()),
            Read::Invalid(why) => {
                c.proxy = None;
                self.counters.proxy_headers_refused += 1;
                let message = alloc::format!("Bad Request: {why}");
                let body = crate::jsonrpc::error_body(
                    None,
                    crate::jsonrpc::ErrorCode::INVALID_REQUEST,
                    &message,
                );
                c.codec.refuse(
                    &ResponseHead::new(400, &[("content-type", "application/json")]),
                    &body,
                );
                self.report_connection_refused(conn, 400, &message);
                self.touch_conn(conn);
                self.settle();
                return None;
            }
        };
        c.proxy = None;
        if client.is_some() {
            self.counters.proxied_connections += 1;
        }
        // The bytes taken before the connection proved direct are HTTP: at most eleven, the
        // start of a request line, which the codec always has room for.
        let _ = c.codec.receive(&replay);
        let peer = super::budget::PeerKey::of(client.unwrap_or(proxy));
        let load = self.peer_load(peer);
        *self.peers.entry(peer).or_default() += 1;
        let c = self.conns.get_mut(conn)?;
        c.peer = Some(peer);
        match load {
            PeerLoad::Under => Some(used),
            PeerLoad::Busy => {
                let mut codec =
                    core::mem::replace(&mut c.codec, ServerCodec::new(self.config.limits.http));
                self.refuse_busy(conn, &mut codec, PEER_BUSY);
                if let Some(c) = self.conns.get_mut(conn) {
                    c.codec = codec;
                }
                self.touch_conn(conn);
                self.settle();
                None
            }
            PeerLoad::Refused => {
                self.counters.connections_refused += 1;
                self.remove_conn(conn, true);
                self.settle();
                None
            }
        }
    }

    /// How many connections `peer` has against its cap.
    fn peer_load(&self, peer: super::budget::PeerKey) -> PeerLoad {
        let Some(cap) = self.config.limits.max_connections_per_peer else {
            return PeerLoad::Under;
        };
        let open = self.peers.get(&peer).copied().unwrap_or(0);
        if open >= cap.saturating_mul(2) {
            PeerLoad::Refused
        } else if open >= cap {
            PeerLoad::Busy
        } else {
            PeerLoad::Under
        }
    }

    /// Answers a connection 503 with `Retry-After` (the codec then closes it).
    fn refuse_busy(&mut self, conn: ConnId, codec: &mut ServerCodec, why: &str) {
        let body = crate::jsonrpc::error_body(None, crate::jsonrpc::ErrorCode::SERVER_ERROR, why);
        codec.refuse(
            &ResponseHead::new(
                503,
                &[("content-type", "application/json"), ("retry-after", "1")],
            ),
            &body,
        );
        self.counters.connections_refused += 1;
        self.report_connection_refused(conn, 503, why);
    }

    /// How many bytes `conn` accepts now: what its HTTP codec can take (see
    /// [`ServerCodec::read_capacity`]), within what the input share of the byte budget has
    /// room for. At zero, stop reading until [`Engine::poll_readable`] names it.
    #[must_use]
    pub fn read_capacity(&self, conn: ConnId) -> usize {
        self.conns.get(conn).map_or(0, |c| {
            if c.pipe.is_some() {
                self.pipe_read_capacity(c)
            } else {
                read_capacity_of(c, &self.budget)
            }
        })
    }

    /// The next connection that can take bytes again after a [`Engine::handle_bytes`] that
    /// took less than offered or left it no capacity: offer it what was left over, or read
    /// from its socket again. The engine's work for this does not grow with the number of
    /// connections that wait.
    ///
    /// Room one connection was named for can be taken by another before it is used: if the
    /// connection's [`Engine::read_capacity`] is zero by then, offer it nothing
    /// (`handle_bytes(now, conn, &[])`) and it is named again once there is room.
    #[must_use]
    pub fn poll_readable(&mut self) -> Option<ConnId> {
        while let Some(conn) = self.readable.pop_front() {
            if let Some(c) = self.conns.get_mut(conn) {
                if c.readable_listed {
                    c.readable_listed = false;
                    return Some(conn);
                }
            }
        }
        super::release_if_idle(&mut self.readable);
        super::release_if_idle(&mut self.input_waiters);
        None
    }

    /// The adapter wrote `len` of the bytes it took for `conn`.
    pub fn handle_written(&mut self, now: Instant, conn: ConnId, len: usize) {
        let now = self.tick(now);
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        // Written bytes are taken from output that could not wait first: what stays counted
        // against `max_queued_bytes_per_connection` is never more than what was queued unpaced.
        let unpaced = (c.queued_bytes() + c.unacked).saturating_sub(c.paced);
        c.paced = c.paced.saturating_sub(len.saturating_sub(unpaced));
        c.unacked = c.unacked.saturating_sub(len);
        if len > 0 {
            // Progress: the write deadline counts from now (the timer re-arms lazily).
            c.write_progress = now;
        }
        self.touch_conn(conn);
        self.settle();
    }

    /// `conn`'s peer closed its sending side. While a response is owed (not begun, or
    /// streaming) that means the peer is gone, as a reset does: MCP clients and browsers never
    /// half-close a request they still want answered, and an aborted `fetch()` sends FIN. So
    /// the connection goes as soon as what is queued for it (answers already made to earlier
    /// requests) is written, at once if nothing is: a 2026-07-28 request is cancelled, a
    /// session's stream detaches (resumable), rather than a handler running on for nobody
    /// until its answer or a timeout. (nginx treats a client that closes while its request is
    /// pending the same way, 499.) A response already complete is still written, then the
    /// connection closes.
    pub fn handle_eof(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        if self.is_pipe(conn) {
            self.pipe_eof(conn);
        } else if let Some(c) = self.conns.get_mut(conn) {
            c.codec.receive_eof();
            c.peer_gone = c.exchange.is_some();
            self.touch_conn(conn);
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
        super::release_if_idle(&mut self.closing);
        while let Some(conn) = self.dirty.pop_front() {
            let Some(c) = self.conns.get_mut(conn) else {
                continue;
            };
            c.dirty = false;
            let room = MAX_UNACKED.saturating_sub(c.unacked);
            let len = match c.pipe.as_deref_mut() {
                Some(pipe) => pipe.poll_transmit(buf, room),
                None => c.codec.poll_transmit(buf, room),
            };
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
        super::release_if_idle(&mut self.dirty);
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
        let id = self.exchanges.vacant_key();
        let crowded = self.conns.len() + self.host_exchanges >= self.config.limits.max_connections;
        self.exchanges
            .insert_at(id, Exchange::new(Sink::Host(HostQueue::default())));
        self.host_exchanges += 1;
        if request.body().len() > self.config.limits.http.max_body_bytes {
            let error = crate::http1::RequestError::BodyTooLarge;
            self.counters.http_requests += 1;
            self.draft_report(id, &request);
            self.reject(
                id,
                error.status(),
                crate::jsonrpc::ErrorCode::SERVER_ERROR,
                &alloc::format!("{error}"),
            );
        } else if crowded {
            // As a connection past the limit is answered: a host's concurrent requests are
            // bounded like sockets.
            self.counters.http_requests += 1;
            self.counters.connections_refused += 1;
            self.draft_report(id, &request);
            self.refuse_crowded(id);
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
        let ex = self.exchanges.get_mut(exchange)?;
        let stream = ex.stream;
        let Sink::Host(queue) = &mut ex.sink else {
            return None;
        };
        let item = queue.items.pop_front();
        match &item {
            Some(ExchangeOutput::Body(payload)) => {
                let len = payload.as_slice().len();
                let unpaced = queue.bytes.saturating_sub(queue.paced);
                queue.paced = queue.paced.saturating_sub(len.saturating_sub(unpaced));
                queue.bytes -= len;
            }
            Some(ExchangeOutput::End | ExchangeOutput::Aborted) => {
                self.budget.output_changed(queue.charged, 0);
                self.exchanges.remove(exchange);
                self.host_exchanges -= 1;
            }
            _ => {}
        }
        self.recharge_host(exchange);
        let after = self.host_queue_bytes(exchange);
        if !self
            .exchanges
            .get(exchange)
            .is_some_and(|e| matches!(&e.sink, Sink::Host(q) if !q.items.is_empty()))
        {
            self.host_ready.remove(&exchange);
        }
        if let Some(stream) = stream {
            if after < self.config.limits.stream_window_bytes {
                self.wake_stream(stream);
            }
        }
        // What the host took may be the room another request waits for.
        self.wake_share_waiters();
        item
    }

    /// Brings the budget's charge for a request-level exchange's queue up to date.
    pub(super) fn recharge_host(&mut self, exchange: ExchangeId) {
        if let Some(Sink::Host(queue)) = self.exchanges.get_mut(exchange).map(|e| &mut e.sink) {
            let charge = queue.charge();
            self.budget.output_changed(queue.charged, charge);
            queue.charged = charge;
        }
    }

    /// Output bytes a request-level exchange holds.
    fn host_queue_bytes(&self, exchange: ExchangeId) -> usize {
        match self.exchanges.get(exchange).map(|e| &e.sink) {
            Some(Sink::Host(queue)) => queue.bytes,
            _ => 0,
        }
    }

    /// Answers a request-level exchange 503, as a connection past the limit is.
    fn refuse_crowded(&mut self, exchange: ExchangeId) {
        let body = crate::jsonrpc::error_body(
            None,
            crate::jsonrpc::ErrorCode::SERVER_ERROR,
            "Service Unavailable: too many connections",
        );
        self.send_full(
            exchange,
            503,
            &[("content-type", "application/json"), ("retry-after", "1")],
            &body,
        );
    }

    /// Request-level exchanges with output waiting, in id order.
    pub fn exchanges_with_output(&self) -> impl Iterator<Item = ExchangeId> + '_ {
        self.host_ready.iter().copied()
    }

    /// The host stopped reading `exchange`'s response (the client went away, or the response
    /// stream was cancelled). A stream it carried stays resumable for the resume window.
    pub fn handle_exchange_closed(&mut self, now: Instant, exchange: ExchangeId) {
        self.tick(now);
        if self.exchanges.contains_key(exchange) {
            self.abort_exchange(exchange);
            // The host knows: no `Aborted` to tell it.
            if let Some(tombstone) = self.exchanges.remove(exchange) {
                self.host_exchanges -= 1;
                if let Sink::Host(queue) = tombstone.sink {
                    self.budget.output_changed(queue.charged, 0);
                }
            }
            self.host_ready.remove(&exchange);
        }
        self.settle();
    }

    // ---- Internals: connections ----

    /// Marks `conn` for re-evaluation by [`Engine::settle`].
    pub(super) fn touch_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(conn) {
            if !c.touched {
                c.touched = true;
                self.touched.push_back(conn);
            }
        }
    }

    /// Brings every touched connection up to date: answers pipelined requests, recomputes
    /// timers and output readiness, and closes connections that are done; then holds every
    /// account of the byte budget within its cap. Every public entry point ends here, so no
    /// connection is left in a state nobody will look at again, and no cap is ever exceeded
    /// between inputs.
    pub(super) fn settle(&mut self) {
        loop {
            while let Some(conn) = self.touched.pop_front() {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.touched = false;
                }
                if self.is_pipe(conn) {
                    self.settle_pipe(conn);
                } else {
                    self.pump(conn);
                    self.settle_conn(conn);
                }
            }
            // Shutdown ends early once nothing is in flight.
            if self.shutdown_deadline.is_some()
                && !self.shutdown_sessions_ended
                && self.inflight.is_empty()
                && self.verifications.pending.is_empty()
            {
                self.finish_shutdown();
                continue;
            }
            if self.wake_input_waiters() || self.enforce_budget() {
                continue;
            }
            break;
        }
    }

    /// Hands the connection's complete requests to the router while no exchange is open.
    fn pump(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            if c.exchange.is_some() {
                return;
            }
            match c.codec.poll_request() {
                None => return,
                Some(Ok(request)) => {
                    let id = self.exchanges.vacant_key();
                    c.exchange = Some(id);
                    c.fresh = false;
                    self.exchanges
                        .insert_at(id, Exchange::new(Sink::Conn(conn)));
                    self.route(id, request);
                }
                Some(Err(error)) => {
                    self.counters.http_errors += 1;
                    let _ = c.codec.send_error(&error);
                    let message = alloc::format!("{error}");
                    self.report_connection_refused(conn, error.status(), &message);
                    return;
                }
            }
        }
    }

    /// Timers, output readiness, reading, the budget's charges and closing for one connection.
    fn settle_conn(&mut self, conn: ConnId) {
        let now = self.now();
        let timeouts = self.config.timeouts;
        let window = self.config.limits.stream_window_bytes;
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let queued = c.queued_bytes();
        if queued > 0 && c.unacked < MAX_UNACKED && !c.dirty {
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
        let input = c.codec.buffered_bytes();
        self.budget.input_changed(c.input, input);
        c.input = input;
        // A peer gone while a response is owed: the connection goes once the answers made
        // before are written (see `handle_eof`).
        let closing = (c.codec.wants_close() || (c.peer_gone && c.exchange.is_some())) && held == 0;
        // Every byte is written: the streams that finished here were delivered.
        let delivered = if held == 0 {
            core::mem::take(&mut c.flushing)
        } else {
            Vec::new()
        };
        for stream in delivered {
            if let Some(s) = self.streams.get_mut(stream) {
                s.flushing_on = None;
            }
            self.end_stream(stream);
        }
        if closing {
            self.remove_conn(conn, true);
            return;
        }
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.read_blocked {
            let capacity = read_capacity_of(c, &self.budget);
            if capacity > 0 {
                c.read_blocked = false;
                if !c.readable_listed {
                    c.readable_listed = true;
                    self.readable.push_back(conn);
                }
            } else if c.codec.read_capacity() > 0 && !c.waiting_input {
                // The codec would take more: only the input pool is in the way.
                c.waiting_input = true;
                self.input_waiters.push_back(conn);
            }
        }
        let phase = c.codec.phase();
        // An application path's answer is part of reading the request: the same deadline
        // bounds a stalled application and a stalled client. So does a connection that has
        // sent nothing yet: opening one must not buy a peer more time than sending slowly.
        let carried = c.exchange.and_then(|id| self.exchanges.get(id));
        let awaiting_application = carried.is_some_and(|ex| ex.awaiting_application);
        let stream = carried.and_then(|ex| ex.stream);
        let reading = matches!(phase, Phase::ReadingHead | Phase::ReadingBody)
            || awaiting_application
            || (c.fresh && phase == Phase::Idle);
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
        let idle = phase == Phase::Idle && queued == 0 && c.unacked == 0 && !c.fresh;
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
        if let Some(stream) = stream {
            if held < window {
                self.wake_stream(stream);
            }
        }
    }

    /// The write timer fired: close a connection whose output has not moved for the write
    /// timeout, re-arm for one that made progress since, and let it lapse when nothing is
    /// pending.
    pub(super) fn write_deadline(&mut self, conn: ConnId) {
        let now = self.now();
        let timeout = self.config.timeouts.write;
        let Some(c) = self.conns.get_mut(conn) else {
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

    /// Forgets `conn` and everything only it held. With `tell_adapter`, the adapter learns of
    /// it from `poll_transmit`.
    pub(super) fn remove_conn(&mut self, conn: ConnId, tell_adapter: bool) {
        let Some(mut c) = self.conns.remove(conn) else {
            return;
        };
        self.budget.output_changed(c.accounted + c.bookkeeping, 0);
        self.budget.input_changed(c.input, 0);
        if let Some(peer) = c.peer {
            if let Some(count) = self.peers.get_mut(&peer) {
                *count -= 1;
                if *count == 0 {
                    self.peers.remove(&peer);
                }
            }
        }
        if c.readable_listed {
            self.readable.retain(|&id| id != conn);
        }
        if c.waiting_input {
            self.input_waiters.retain(|&id| id != conn);
        }
        self.conn_timers.stop_all(&mut c.timers, conn);
        // Streams whose last bytes never reached the client stay resumable.
        for stream in core::mem::take(&mut c.flushing) {
            if let Some(s) = self.streams.get_mut(stream) {
                s.flushing_on = None;
            }
        }
        if let Some(exchange) = c.exchange.take() {
            self.abort_exchange(exchange);
        }
        // A pipe's exchanges go with it: its requests are cancelled, its session ends.
        if let Some(pipe) = c.pipe.take() {
            for exchange in pipe.exchanges.keys() {
                self.abort_exchange(*exchange);
            }
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
        let Some(c) = self.conns.get_mut(conn) else {
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
            let message = "Request Timeout: the request did not arrive in time";
            self.report_connection_refused(conn, 408, message);
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            // Refused: the answer is queued and the codec closes once it is written.
            if c.queued_bytes() > 0 {
                self.touch_conn(conn);
                return;
            }
        }
        self.remove_conn(conn, true);
    }

    // ---- Internals: writing responses ----

    /// A complete response with a body of known length. Ends the exchange. It counts as paced:
    /// an answer is what its request waited for.
    pub(super) fn send_full(
        &mut self,
        exchange: ExchangeId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        self.report_head(exchange, status, false, body);
        let Some(ex) = self.exchanges.get_mut(exchange) else {
            return;
        };
        match &mut ex.sink {
            Sink::Conn(conn) if self.conns.get(*conn).is_some_and(|c| c.pipe.is_some()) => {
                let conn = *conn;
                self.pipe_send_json(conn, body);
                if let Some(c) = self.conns.get_mut(conn) {
                    c.paced = c.queued_bytes() + c.unacked;
                }
            }
            Sink::Conn(conn) => {
                let conn = *conn;
                if let Some(c) = self.conns.get_mut(conn) {
                    let before = c.queued_bytes();
                    let _ = c.codec.send_response(
                        &ResponseHead::new(status, headers),
                        ResponseBody::Full(body),
                    );
                    c.paced += c.queued_bytes().saturating_sub(before);
                    self.touch_conn(conn);
                }
            }
            Sink::Host(queue) => {
                queue.items.push_back(ExchangeOutput::Head {
                    status,
                    headers: owned_headers(headers),
                });
                if !body.is_empty() {
                    queue.paced += queue.push_body(Payload::Owned(body.to_vec()));
                }
                self.host_ready.insert(exchange);
            }
        }
        self.finish_exchange(exchange);
        self.recharge_host(exchange);
    }

    /// The head of a streaming response.
    pub(super) fn send_stream_head(&mut self, exchange: ExchangeId, headers: &[(&str, &str)]) {
        self.report_head(exchange, 200, true, &[]);
        let Some(ex) = self.exchanges.get_mut(exchange) else {
            return;
        };
        ex.streaming = true;
        match &mut ex.sink {
            Sink::Conn(conn) => {
                let conn = *conn;
                if let Some(c) = self.conns.get_mut(conn).filter(|c| c.pipe.is_none()) {
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
                self.recharge_host(exchange);
            }
        }
    }

    /// Part of a streaming body: `prefix`, then `shared` by reference. Unpaced output that
    /// takes its reader past `max_queued_bytes_per_connection` (not counting what paced
    /// messages hold) disconnects it: nobody waits for a slow reader.
    pub(super) fn send_stream_data(
        &mut self,
        exchange: ExchangeId,
        prefix: &[u8],
        shared: Option<&Arc<[u8]>>,
        pacing: Pacing,
    ) {
        let cap = self.config.limits.max_queued_bytes_per_connection;
        let Some(ex) = self.exchanges.get_mut(exchange) else {
            return;
        };
        match &mut ex.sink {
            Sink::Conn(conn) => {
                let conn = *conn;
                let Some(c) = self.conns.get_mut(conn) else {
                    return;
                };
                let before = c.queued_bytes();
                if c.pipe.is_some() {
                    self.pipe_send_sse(conn, prefix, shared.map(|s| &s[..]));
                } else {
                    let _ = match shared {
                        Some(shared) => c.codec.send_body_shared(prefix, shared),
                        None => c.codec.send_body(prefix),
                    };
                }
                let Some(c) = self.conns.get_mut(conn) else {
                    return;
                };
                let added = c.queued_bytes().saturating_sub(before);
                let over = match pacing {
                    Pacing::Paced => {
                        c.paced += added;
                        false
                    }
                    Pacing::Unpaced => {
                        let held = c.queued_bytes() + c.unacked;
                        held.saturating_sub(c.paced) > cap
                    }
                };
                self.touch_conn(conn);
                if over {
                    self.counters.slow_readers_disconnected += 1;
                    self.remove_conn(conn, true);
                }
            }
            Sink::Host(queue) => {
                let mut added = 0;
                if !prefix.is_empty() {
                    added += queue.push_body(Payload::Owned(prefix.to_vec()));
                }
                if let Some(shared) = shared {
                    added += queue.push_body(Payload::Shared(shared.clone()));
                }
                if pacing == Pacing::Paced {
                    queue.paced += added;
                }
                let unpaced = queue.bytes - queue.paced;
                self.host_ready.insert(exchange);
                self.recharge_host(exchange);
                if pacing == Pacing::Unpaced && unpaced > cap {
                    // A host that does not read its stream is a slow reader: cut it loose.
                    self.counters.slow_readers_disconnected += 1;
                    self.abort_exchange(exchange);
                }
            }
        }
    }

    /// Ends a streaming response cleanly. Ends the exchange.
    pub(super) fn finish_stream_response(&mut self, exchange: ExchangeId) {
        let Some(ex) = self.exchanges.get_mut(exchange) else {
            return;
        };
        if let Sink::Conn(conn) = &ex.sink {
            let conn = *conn;
            if let Some(c) = self.conns.get_mut(conn) {
                let _ = c.codec.finish_body();
                self.touch_conn(conn);
            }
        }
        self.finish_exchange(exchange);
    }

    /// The response is complete: detach its stream and release the exchange (a request-level
    /// exchange stays until the host takes `End`).
    fn finish_exchange(&mut self, exchange: ExchangeId) {
        let Some(ex) = self.exchanges.get_mut(exchange) else {
            return;
        };
        let stream = ex.stream.take();
        let how = match &mut ex.sink {
            Sink::Conn(conn) => {
                let conn = *conn;
                self.exchanges.remove(exchange);
                if let Some(c) = self.conns.get_mut(conn) {
                    c.exchange = None;
                }
                self.pipe_forget(conn, exchange);
                self.touch_conn(conn);
                Lost::Finished(Some(conn))
            }
            Sink::Host(queue) => {
                if !queue.ended {
                    queue.ended = true;
                    queue.items.push_back(ExchangeOutput::End);
                    self.host_ready.insert(exchange);
                    self.recharge_host(exchange);
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
        let Some(held) = self.exchanges.get_mut(exchange) else {
            return;
        };
        // A host's exchange stays, under its id, as a tombstone (see below): it is emptied in
        // place rather than removed, since a removed id never comes back.
        let mut ex = match held.sink {
            Sink::Host(_) => core::mem::replace(
                held,
                Exchange::new(Sink::Host(HostQueue {
                    ended: true,
                    ..HostQueue::default()
                })),
            ),
            Sink::Conn(_) => match self.exchanges.remove(exchange) {
                Some(ex) => ex,
                None => return,
            },
        };
        self.host_ready.remove(&exchange);
        if let Some(draft) = ex.report.take() {
            let conn = match ex.sink {
                Sink::Conn(conn) => Some(conn),
                Sink::Host(_) => None,
            };
            self.report_unanswered(conn, &draft);
        }
        if let Sink::Conn(conn) = ex.sink {
            self.pipe_forget(conn, exchange);
            if let Some(c) = self.conns.get_mut(conn).filter(|c| c.pipe.is_none()) {
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
        if let Some(awaiting) = ex.awaiting.take() {
            self.leave_verification(exchange, awaiting.0);
        }
        if ex.application_bytes > 0 {
            self.release(super::budget::Holding::Requests, None, ex.application_bytes);
        }
        if let Sink::Host(queue) = ex.sink {
            self.budget.output_changed(queue.charged, 0);
            // A host learns of the abort only by polling: until it takes `Aborted`, the
            // exchange stays as a tombstone with no stream, no timer and no queued bytes.
            if let Some(Exchange {
                sink: Sink::Host(tombstone),
                ..
            }) = self.exchanges.get_mut(exchange)
            {
                tombstone.head_sent = queue.head_sent;
                tombstone.items.push_back(ExchangeOutput::Aborted);
            }
            self.host_ready.insert(exchange);
            self.recharge_host(exchange);
        }
    }
}

/// What a connection's codec can take, within the input share's room for it.
fn read_capacity_of(c: &Conn, budget: &super::budget::Budget) -> usize {
    let codec = c.codec.read_capacity();
    if c.codec.discards_input() {
        codec
    } else {
        codec.min(budget.input_room(c.input))
    }
}

fn owned_headers(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect()
}
