//! The byte budget: every byte the engine holds for a peer is charged, when it is taken, to
//! what it is held for ([`Holding`]), to its owner (a connection, an exchange or a session) and
//! to the engine's totals; and released when it goes. Caps bound each account:
//!
//! - the engine's `limits.max_held_bytes`, split in four [`Share`]s so that one kind of holding
//!   never starves another (input being read, output being written, resume logs, session
//!   state). The input and output shares are divided further: half of each evenly among
//!   connections (so a small request or response never waits behind large ones), half a pool;
//! - each session's `limits.max_session_bytes`;
//! - each connection's input (the HTTP limits) and output (`stream_window_bytes` for paced
//!   messages, `max_queued_bytes_per_connection` for output that cannot wait).
//!
//! When an account is full the engine gives way in a fixed order, cheapest loss first: evict
//! the oldest detached stream; refuse new work (503, `WouldBlock`, stop reading, drop a
//! backlog's or an attached log's oldest message); and only then cut the reader holding the
//! most, or close a session over its own cap. [`Engine::enforce_budget`] runs at the end of
//! every input, so no path can leave an account over its cap, and `check_invariants`
//! recomputes every charge from the entities and checks every cap.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::Engine;
use super::entities::{Sink, StreamMode};
use super::events::{CloseReason, CommandError, Event};
use super::ids::{ConnId, InflightId, RequestHandle, SessionKey, StreamId};
use crate::invariant::{InvariantViolation, ensure};
use crate::stats::HeldBytes;

/// What held bytes are held for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holding {
    /// Requests being read by a connection's codec.
    Input,
    /// Output queued for a connection or a request-level exchange.
    Output,
    /// Resume logs of attached streams.
    ResumeLog,
    /// Resume logs of detached streams.
    Detached,
    /// Responses collected for one JSON body.
    JsonResponses,
    /// Unsolicited messages waiting for a GET stream.
    Backlog,
    /// Wire id, bound credential, client info and capabilities.
    Session,
    /// Subscribed URIs.
    Subscriptions,
    /// Requests in flight and application-path requests.
    Requests,
    /// Events waiting for the application.
    Events,
}

const HOLDINGS: usize = 10;

/// A quarter of the engine's budget, for one kind of holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Share {
    Input,
    Output,
    Logs,
    State,
}

/// Why a request's message must wait, and so where its `Writable` will come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Its stream is full (its connection holds a window of output, or its detached log is
    /// full): woken when the stream drains, attaches or detaches.
    Stream,
    /// A share of the engine is full: woken when it falls to three quarters.
    Share(Share),
}

/// A peer, as the per-peer connection cap counts them: an IPv4 address, or the /64 network of
/// an IPv6 address (one host gets a whole /64 as easily as one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PeerKey(u128);

impl PeerKey {
    pub(crate) fn of(address: core::net::IpAddr) -> PeerKey {
        match address {
            core::net::IpAddr::V4(v4) => PeerKey(u128::from(u32::from(v4))),
            core::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => PeerKey(u128::from(u32::from(v4))),
                // The tag bit keeps a /64 apart from every IPv4 address.
                None => PeerKey((u128::from(v6) >> 64) | (1 << 64)),
            },
        }
    }
}

/// The engine's accounts: bytes by holding, and the pools of the input and output shares.
#[derive(Debug)]
pub(crate) struct Budget {
    held: [usize; HOLDINGS],
    /// Input beyond each connection's even part.
    input_pool: usize,
    /// Output beyond each connection's (or exchange's) even part.
    output_pool: usize,
    /// A quarter of `max_held_bytes`.
    share_cap: usize,
    /// What every connection may hold of input, and of output, without drawing on the pool.
    even_part: usize,
}

impl Budget {
    pub(crate) fn new(limits: &super::Limits) -> Budget {
        let share_cap = limits.max_held_bytes / 4;
        // Connections past `max_connections` (answered 503) and request-level exchanges are
        // holders too: twice the limit is the most there can be.
        let holders = limits.max_connections.saturating_mul(2).max(1);
        Budget {
            held: [0; HOLDINGS],
            input_pool: 0,
            output_pool: 0,
            share_cap,
            even_part: share_cap / 2 / holders,
        }
    }

    pub(crate) fn add(&mut self, holding: Holding, n: usize) {
        self.held[holding as usize] += n;
    }

    pub(crate) fn sub(&mut self, holding: Holding, n: usize) {
        let held = &mut self.held[holding as usize];
        debug_assert!(*held >= n, "{holding:?} released more than it held");
        *held = held.saturating_sub(n);
    }

    fn get(&self, holding: Holding) -> usize {
        self.held[holding as usize]
    }

    pub(crate) fn used(&self, share: Share) -> usize {
        // Summed by hand: this runs at the end of every input.
        let h = &self.held;
        match share {
            Share::Input => h[Holding::Input as usize],
            Share::Output => h[Holding::Output as usize],
            Share::Logs => h[Holding::ResumeLog as usize] + h[Holding::Detached as usize],
            Share::State => {
                h[Holding::JsonResponses as usize]
                    + h[Holding::Backlog as usize]
                    + h[Holding::Session as usize]
                    + h[Holding::Subscriptions as usize]
                    + h[Holding::Requests as usize]
                    + h[Holding::Events as usize]
            }
        }
    }

    pub(crate) fn room(&self, share: Share) -> usize {
        self.share_cap.saturating_sub(self.used(share))
    }

    fn pool_cap(&self) -> usize {
        self.share_cap / 2
    }

    /// A holder's input went from `old` to `new` bytes.
    pub(crate) fn input_changed(&mut self, old: usize, new: usize) {
        self.sub(Holding::Input, old);
        self.add(Holding::Input, new);
        self.input_pool = self.input_pool - self.excess(old) + self.excess(new);
    }

    /// A holder's output went from `old` to `new` bytes.
    pub(crate) fn output_changed(&mut self, old: usize, new: usize) {
        self.sub(Holding::Output, old);
        self.add(Holding::Output, new);
        self.output_pool = self.output_pool - self.excess(old) + self.excess(new);
    }

    fn excess(&self, held: usize) -> usize {
        held.saturating_sub(self.even_part)
    }

    /// How many more input bytes a connection holding `held` may take now.
    pub(crate) fn input_room(&self, held: usize) -> usize {
        self.even_part.saturating_sub(held) + self.pool_cap().saturating_sub(self.input_pool)
    }

    /// Whether a holder of `held` output bytes may queue `len` more.
    pub(crate) fn output_fits(&self, held: usize, len: usize) -> bool {
        let more = self.excess(held + len) - self.excess(held);
        self.output_pool + more <= self.pool_cap()
    }

    /// The largest message any holder could ever queue.
    pub(crate) fn largest_output(&self) -> usize {
        self.even_part + self.pool_cap()
    }

    fn output_pool_over(&self) -> bool {
        self.output_pool > self.pool_cap()
    }

    pub(crate) fn stats(&self) -> HeldBytes {
        let get = |h| self.get(h) as u64;
        HeldBytes {
            input: get(Holding::Input),
            output: get(Holding::Output),
            resume_logs: get(Holding::ResumeLog),
            detached_streams: get(Holding::Detached),
            json_responses: get(Holding::JsonResponses),
            backlogs: get(Holding::Backlog),
            sessions: get(Holding::Session),
            subscriptions: get(Holding::Subscriptions),
            requests: get(Holding::Requests),
            events: get(Holding::Events),
        }
    }
}

/// Bytes an event holds while it waits for the application, and the session it is charged to.
pub(super) fn event_charge(event: &Event) -> (usize, Option<SessionKey>) {
    match event {
        // Charged to its request too, for as long as the application may hold them: while the
        // event waits, they are held twice.
        Event::Request {
            handle,
            method,
            params,
        } => (
            method.len() + params.as_ref().map_or(0, |p| p.get().len()),
            Some(handle.session),
        ),
        Event::Cancelled {
            handle,
            reason: super::CancelReason::ByClient(Some(reason)),
        } => (reason.len(), Some(handle.session)),
        // Charged to its session too; the event keeps the bytes alive even if the session
        // ends before it is taken.
        Event::SessionOpened {
            session,
            client_info,
            client_capabilities,
            ..
        } => (
            client_info.as_ref().map_or(0, |c| c.get().len())
                + client_capabilities.as_ref().map_or(0, |c| c.get().len()),
            Some(*session),
        ),
        // Its body is charged to its exchange until it is answered; its head, until taken.
        Event::HttpRequest { request, .. } => (request.held_len() - request.body().len(), None),
        Event::Notification {
            session,
            method,
            params,
        } => (
            method.len() + params.as_ref().map_or(0, |p| p.get().len()),
            Some(*session),
        ),
        // Charged to its verification too, for as long as the application may hold it.
        Event::VerifyToken { token, .. } => (token.len(), None),
        Event::ClientResponse { handle, result } => {
            let bytes = match result {
                Ok(result) => result.get().len(),
                Err(super::ClientError::Rpc { message, data, .. }) => {
                    message.len() + data.as_ref().map_or(0, |d| d.get().len())
                }
                Err(_) => 0,
            };
            (bytes, Some(handle.session))
        }
        _ => (0, None),
    }
}

/// What an SSE event adds to its JSON (id line, event line, data prefixes, chunk framing):
/// messages are measured with it, so that one within the message limit always fits.
pub(super) const FRAMING: usize = 64;

/// What an answered message of a POST may hold beyond its own bytes while it is in flight: its
/// request's record, and the answer the engine writes for it (an error for an invalid entry, a
/// `ping` result) when it does not reach the application.
pub(super) const MESSAGE_BYTES: usize = REQUEST_BYTES + 192;

/// What new work of a `body` holding `messages` JSON-RPC messages may make its session hold
/// while it is in flight, at most: its params kept for the application and in its pending event
/// (a progress token inside them kept once more), and each message's record and answer. What
/// a POST is admitted against.
pub(super) fn new_work_bytes(body: usize, messages: usize) -> usize {
    3 * body + MESSAGE_BYTES * messages
}

/// What a connection's output queue holds beyond its bytes: its slots, and the part of its
/// front segment already taken that is no longer counted as unacknowledged (so that handing
/// bytes to the adapter, or their being written, never changes what the connection is charged).
pub(super) fn conn_bookkeeping(c: &super::entities::Conn) -> usize {
    c.codec.queued_slot_bytes() + c.codec.queued_taken_bytes().saturating_sub(c.unacked)
}

/// What a session's own record costs beyond its bytes: the entity, its indexes and timers.
/// Charged to its session like its client info, so the budget bounds how many sessions the
/// state share holds, not only their bytes.
pub(super) const SESSION_BYTES: usize = 1024;

/// What a stream costs beyond its resume log: the entity, its place in its session's set, the
/// detached index and its timers. Charged with its log.
pub(super) const STREAM_BYTES: usize = 640;

/// What a request in flight costs beyond its id and params: the entity, its session's index and
/// its timer.
pub(super) const REQUEST_BYTES: usize = 320;

/// What a message in a backlog costs: its bytes, its slot and its shared header.
pub(super) fn backlog_cost(body: &[u8]) -> usize {
    body.len() + 32
}

/// What a subscription costs its session: the URI, its shared header and its slots in the
/// session's set and the engine's index.
pub(super) fn subscription_cost(uri: &str) -> usize {
    uri.len() + 64
}

/// Bytes a request id takes (the engine keeps it twice: in its request and its session's index).
pub(super) fn id_bytes(id: &crate::jsonrpc::RequestId) -> usize {
    match id {
        crate::jsonrpc::RequestId::Number(_) => 8,
        crate::jsonrpc::RequestId::String(s) => s.len(),
    }
}

impl Engine {
    // ---- Accounts ----

    /// Charges `n` bytes held for `holding` to `session` (if it is alive) and the engine. A
    /// charge that takes a session over its cap is settled by `enforce_budget`.
    pub(super) fn charge(&mut self, holding: Holding, session: Option<SessionKey>, n: usize) {
        if n == 0 {
            return;
        }
        self.budget.add(holding, n);
        let Some(key) = session else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(key) {
            s.held += n;
            if s.held > self.config.limits.max_session_bytes && !self.over_budget.contains(&key) {
                self.over_budget.push(key);
            }
        }
    }

    /// Releases `n` bytes charged with `charge`.
    pub(super) fn release(&mut self, holding: Holding, session: Option<SessionKey>, n: usize) {
        if n == 0 {
            return;
        }
        self.budget.sub(holding, n);
        if let Some(s) = session.and_then(|k| self.sessions.get_mut(k)) {
            debug_assert!(s.held >= n, "a session released more than it held");
            s.held = s.held.saturating_sub(n);
        }
    }

    /// Moves a stream's log between the attached and detached holdings (same owner).
    pub(super) fn move_log(&mut self, from: Holding, to: Holding, n: usize) {
        self.budget.sub(from, n);
        self.budget.add(to, n);
    }

    /// Whether new work that may hold up to `n` bytes of session state, and open a stream, can
    /// be taken, for `session` (when it belongs to one). The session's own detached streams are evicted to
    /// make room; past that, the caller refuses with 503 and `Retry-After`.
    ///
    /// `Err` says which holds too much, for the 503 that refuses the work.
    pub(super) fn admits(
        &mut self,
        session: Option<SessionKey>,
        n: usize,
    ) -> Result<(), &'static str> {
        // New work may open a stream: its record is charged with resume logs.
        let refused = if self.budget.room(Share::State) < n
            || !self.make_log_room(STREAM_BYTES, None)
        {
            Some("the server holds too much")
        } else if session.is_some_and(|key| !self.make_session_room(key, n + STREAM_BYTES, None)) {
            Some("the session holds too much")
        } else {
            None
        };
        match refused {
            Some(why) => {
                self.counters.budget_refusals += 1;
                Err(why)
            }
            None => Ok(()),
        }
    }

    /// Makes room for `n` more bytes in `session`, evicting its oldest detached streams (never
    /// `keep`). Returns whether there is room.
    pub(super) fn make_session_room(
        &mut self,
        session: SessionKey,
        n: usize,
        keep: Option<StreamId>,
    ) -> bool {
        let cap = self.config.limits.max_session_bytes;
        loop {
            let Some(s) = self.sessions.get(session) else {
                return false;
            };
            if s.held.saturating_add(n) <= cap {
                return true;
            }
            if !self.evict_detached(Some(session), keep) {
                return false;
            }
        }
    }

    /// Makes room for `n` more bytes of resume log in the engine, evicting the oldest detached
    /// streams (never `keep`). Returns whether there is room.
    fn make_log_room(&mut self, n: usize, keep: Option<StreamId>) -> bool {
        while self.budget.room(Share::Logs) < n {
            if !self.evict_detached(None, keep) {
                return false;
            }
        }
        true
    }

    fn detached_cap_off(&self) -> bool {
        #[cfg(feature = "sim-faults")]
        return self.config.faults.no_detached_stream_cap;
        #[cfg(not(feature = "sim-faults"))]
        false
    }

    // ---- Detached streams ----

    /// `stream` just lost its exchange and stays resumable: index it, move its log to the
    /// detached holding, and keep its session within its count of detached streams.
    pub(super) fn note_detached(&mut self, stream: StreamId) {
        let order = self.detach_order;
        self.detach_order += 1;
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        if s.detached_order.is_some() {
            return;
        }
        s.detached_order = Some(order);
        let (session, bytes) = (s.session, s.log.bytes() + STREAM_BYTES);
        self.detached.insert((order, stream));
        self.move_log(Holding::ResumeLog, Holding::Detached, bytes);
        let limit = self.config.limits.max_detached_streams_per_session;
        let Some(sess) = self.sessions.get_mut(session) else {
            return;
        };
        sess.detached += 1;
        // The stream that just detached goes last: only when the cap keeps none at all.
        if sess.detached > limit
            && !self.detached_cap_off()
            && !self.evict_detached(Some(session), Some(stream))
        {
            self.evict_detached(Some(session), None);
        }
    }

    /// `stream` is attached again (resumed), or is ending: unindex it.
    pub(super) fn note_undetached(&mut self, stream: StreamId) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let Some(order) = s.detached_order.take() else {
            return;
        };
        let (session, bytes) = (s.session, s.log.bytes() + STREAM_BYTES);
        self.detached.remove(&(order, stream));
        self.move_log(Holding::Detached, Holding::ResumeLog, bytes);
        if let Some(sess) = self.sessions.get_mut(session) {
            sess.detached -= 1;
        }
    }

    /// Ends the oldest detached stream (of `session`, or of anyone), never `keep`, preferring
    /// one whose requests are all answered: its log is only a replay, while a stream with a
    /// request still running is work its client may come back for. A later resume of it gets
    /// the answer an unknown stream gets. Returns whether one was evicted.
    fn evict_detached(&mut self, session: Option<SessionKey>, keep: Option<StreamId>) -> bool {
        if self.detached_cap_off() {
            return false;
        }
        let candidates: Vec<(u64, StreamId, bool)> = match session {
            Some(key) => {
                let Some(sess) = self.sessions.get(key) else {
                    return false;
                };
                let mut own: Vec<_> = sess
                    .streams
                    .iter()
                    .filter_map(|id| {
                        let s = self.streams.get(id)?;
                        Some((s.detached_order?, *id, s.pending == 0))
                    })
                    .collect();
                own.sort_unstable();
                own
            }
            None => self
                .detached
                .iter()
                .map(|&(order, id)| {
                    let done = self.streams.get(id).is_some_and(|s| s.pending == 0);
                    (order, id, done)
                })
                .collect(),
        };
        let victim = candidates
            .iter()
            .find(|(_, id, done)| *done && Some(*id) != keep)
            .or_else(|| candidates.iter().find(|(_, id, _)| Some(*id) != keep))
            .map(|&(_, id, _)| id);
        let Some(victim) = victim else {
            return false;
        };
        self.counters.detached_streams_evicted += 1;
        self.end_stream(victim);
        true
    }

    // ---- Resume logs ----

    /// Keeps event `seq` of `stream` for resumption, within the stream's, its session's and
    /// the engine's bounds. When the session or the logs share is full: the oldest detached
    /// streams go first, then this stream's own oldest events, and an event that still finds
    /// no room is not kept (a resume past it reports a gap).
    pub(super) fn log_event(&mut self, stream: StreamId, seq: u64, body: &Arc<[u8]>) {
        let limits = self.config.limits;
        let len = body.len() + super::resume_log::ENTRY_BYTES;
        let Some(s) = self.streams.get(stream) else {
            return;
        };
        let (session, holding) = (s.session, s.log_holding());
        if len > limits.resume_log_bytes {
            // It could never be kept; and the log can no longer replay without a gap.
            if let Some(s) = self.streams.get_mut(stream) {
                let dropped = s.log.skip();
                self.release(holding, Some(session), dropped);
            }
            return;
        }
        if !self.detached_cap_off() {
            loop {
                let room = self.make_session_room(session, len, Some(stream))
                    && self.make_log_room(len, Some(stream));
                if room {
                    break;
                }
                let Some(s) = self.streams.get_mut(stream) else {
                    return;
                };
                match s.log.drop_oldest() {
                    Some(dropped) => self.release(holding, Some(session), dropped),
                    None => {
                        let _ = s.log.skip();
                        return;
                    }
                }
            }
        }
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let dropped = s.log.push(
            seq,
            body.clone(),
            limits.resume_log_events,
            limits.resume_log_bytes,
        );
        self.charge(holding, Some(session), len);
        self.release(holding, Some(session), dropped);
    }

    // ---- Backlogs ----

    /// Holds an unsolicited message for a session without a GET stream: within the backlog's
    /// count, and as the session and the state share have room, the oldest dropped first.
    pub(super) fn backlog_push(&mut self, session: SessionKey, body: &Arc<[u8]>) {
        let limit = self.config.limits.backlog_events;
        let len = backlog_cost(body);
        loop {
            let Some(s) = self.sessions.get(session) else {
                return;
            };
            let full = s.backlog.len() >= limit;
            let room = !full
                && self.budget.room(Share::State) >= len
                && self.make_session_room(session, len, None);
            if room {
                break;
            }
            let Some(s) = self.sessions.get_mut(session) else {
                return;
            };
            self.counters.backlog_dropped += 1;
            match s.backlog.pop_front() {
                Some(oldest) => {
                    s.backlog_bytes -= backlog_cost(&oldest);
                    self.release(Holding::Backlog, Some(session), backlog_cost(&oldest));
                }
                // Not even an empty backlog has room: this one is dropped.
                None => return,
            }
        }
        if let Some(s) = self.sessions.get_mut(session) {
            s.backlog.push_back(body.clone());
            s.backlog_bytes += len;
            self.charge(Holding::Backlog, Some(session), len);
        }
    }

    /// Makes room for a GET stream of `session` from its own backlog when nothing else gives
    /// way: the stream is what would deliver the backlog, so a backlog that filled its session
    /// must not keep the stream out. The oldest messages go first.
    pub(super) fn backlog_makes_room_for_stream(&mut self, session: SessionKey) {
        let cap = self.config.limits.max_session_bytes;
        while let Some(s) = self.sessions.get_mut(session) {
            if s.held + STREAM_BYTES <= cap {
                return;
            }
            let Some(oldest) = s.backlog.pop_front() else {
                return;
            };
            let cost = backlog_cost(&oldest);
            s.backlog_bytes -= cost;
            self.counters.backlog_dropped += 1;
            self.release(Holding::Backlog, Some(session), cost);
        }
    }

    // ---- Room for the application's messages ----

    /// The largest message that could ever be sent: within the configured limit, and within
    /// what one holder of output could ever be given (with its framing).
    pub(super) fn max_message(&self) -> usize {
        self.config
            .limits
            .max_message_bytes
            .min(self.budget.largest_output().saturating_sub(FRAMING))
    }

    /// Whether the stream of `inflight` has room for a message of about `len` bytes now (the
    /// caller has held it to the message limit). When it has not, the request is listed where
    /// its `Writable` will come from and the command is refused with `WouldBlock`.
    pub(super) fn request_room(
        &mut self,
        inflight: InflightId,
        len: usize,
    ) -> Result<StreamId, CommandError> {
        let stream = self
            .inflight
            .get(inflight)
            .ok_or(CommandError::StaleHandle)?
            .stream;
        let Some(wait) = self.stream_wait(stream, len) else {
            return Ok(stream);
        };
        self.counters.handler_waits += 1;
        let Some(entry) = self.inflight.get_mut(inflight) else {
            return Err(CommandError::StaleHandle);
        };
        if entry.blocked.is_none() {
            entry.blocked = Some(wait);
            match wait {
                Wait::Stream => {
                    if let Some(s) = self.streams.get_mut(stream) {
                        s.blocked.push(inflight);
                    }
                }
                Wait::Share(share) => self.share_waiters.push((share, inflight, len)),
            }
        }
        Err(CommandError::WouldBlock)
    }

    /// What the budget holds for the exchange carrying a stream, or would once its latest bytes
    /// are settled: its output bytes and the bookkeeping that goes with them.
    fn exchange_charge(&self, exchange: super::ExchangeId) -> usize {
        match self.exchanges.get(exchange).map(|e| &e.sink) {
            Some(Sink::Conn(conn)) => self
                .conns
                .get(conn)
                .map_or(0, |c| c.queued_bytes() + c.unacked + conn_bookkeeping(c)),
            Some(Sink::Host(queue)) => queue.charge(),
            None => 0,
        }
    }

    /// Output bytes the exchange carrying a stream holds (queued, or taken and unwritten).
    pub(super) fn exchange_output(&self, exchange: super::ExchangeId) -> usize {
        match self.exchanges.get(exchange).map(|e| &e.sink) {
            Some(Sink::Conn(conn)) => self
                .conns
                .get(conn)
                .map_or(0, |c| c.queued_bytes() + c.unacked),
            Some(Sink::Host(queue)) => queue.bytes,
            None => 0,
        }
    }

    /// Why a message of `len` bytes cannot go on `stream` now, or `None` when it can.
    fn stream_wait(&mut self, stream: StreamId, len: usize) -> Option<Wait> {
        let limits = self.config.limits;
        let s = self.streams.get(stream)?;
        match s.exchange {
            Some(exchange) => {
                if self.exchange_output(exchange) >= limits.stream_window_bytes {
                    Some(Wait::Stream)
                } else if !self.budget.output_fits(self.exchange_charge(exchange), len) {
                    Some(Wait::Share(Share::Output))
                } else {
                    None
                }
            }
            None => {
                // Detached: its log is the only place the message can go, and nothing in it may
                // be dropped to make room (the client has not seen it). A message larger than a
                // log waits for the client to resume the stream.
                let session = s.session;
                if s.log.bytes() + len > limits.resume_log_bytes
                    || !self.make_session_room(session, len, Some(stream))
                {
                    Some(Wait::Stream)
                } else if !self.make_log_room(len, Some(stream)) {
                    Some(Wait::Share(Share::Logs))
                } else {
                    None
                }
            }
        }
    }

    /// Tells every request blocked on `stream` to retry.
    pub(super) fn wake_stream(&mut self, stream: StreamId) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        if s.blocked.is_empty() {
            return;
        }
        for inflight in core::mem::take(&mut s.blocked) {
            self.wake(inflight);
        }
    }

    fn wake(&mut self, inflight: InflightId) {
        let Some(entry) = self.inflight.get_mut(inflight) else {
            return;
        };
        if entry.blocked.take().is_some() {
            let handle = RequestHandle {
                session: entry.session,
                inflight,
            };
            self.emit(Event::Writable { handle });
        }
    }

    /// A request that ends is no longer waiting anywhere.
    pub(super) fn forget_waiter(&mut self, inflight: InflightId, stream: StreamId, wait: Wait) {
        match wait {
            Wait::Stream => {
                if let Some(s) = self.streams.get_mut(stream) {
                    s.blocked.retain(|&i| i != inflight);
                }
            }
            Wait::Share(_) => self.share_waiters.retain(|&(_, i, _)| i != inflight),
        }
    }

    /// Wakes the requests waiting for a share whose message has room now, judged as it will be
    /// judged when they retry: a request is never told to retry what would wait again.
    pub(super) fn wake_share_waiters(&mut self) {
        if self.share_waiters.is_empty() {
            return;
        }
        let mut keep = Vec::new();
        for (share, inflight, len) in core::mem::take(&mut self.share_waiters) {
            let stream = self.inflight.get(inflight).map(|i| i.stream);
            match stream.map(|stream| self.stream_wait(stream, len)) {
                Some(None) => self.wake(inflight),
                Some(Some(_)) => keep.push((share, inflight, len)),
                None => {}
            }
        }
        // Waking may have listed new waiters (none are, but keep the order if so).
        keep.append(&mut self.share_waiters);
        self.share_waiters = keep;
    }

    // ---- Reading ----

    /// Connections waiting for room in the input pool get another look while there is some.
    /// Returns whether any was woken (then `settle` goes round again).
    pub(super) fn wake_input_waiters(&mut self) -> bool {
        let room = self
            .budget
            .pool_cap()
            .saturating_sub(self.budget.input_pool);
        if room == 0 || self.input_waiters.is_empty() {
            return false;
        }
        // About one connection per even part of room: a stampede would only find it gone.
        let mut wake = room / self.budget.even_part.max(1) + 1;
        let mut woke = false;
        while wake > 0 {
            let Some(conn) = self.input_waiters.pop_front() else {
                break;
            };
            let Some(c) = self.conns.get_mut(conn) else {
                continue;
            };
            if !c.waiting_input {
                continue;
            }
            c.waiting_input = false;
            wake -= 1;
            woke = true;
            self.touch_conn(conn);
        }
        woke
    }

    // ---- The final guard ----

    /// Brings every account back within its cap, by the harshest means, when gentler ones (run
    /// where bytes are taken) were not enough: sessions over their cap lose their detached
    /// streams, then are closed; output past its pool cuts the reader holding the most; resume
    /// logs past their share lose the oldest detached streams, then the largest log its oldest
    /// events; session state past its share closes the session holding the most. Returns
    /// whether it did anything (then `settle` goes round again).
    pub(super) fn enforce_budget(&mut self) -> bool {
        let mut acted = false;
        let cap = self.config.limits.max_session_bytes;
        for session in core::mem::take(&mut self.over_budget) {
            if self.detached_cap_off() {
                break;
            }
            while self.sessions.get(session).is_some_and(|s| s.held > cap) {
                acted = true;
                if !self.evict_detached(Some(session), None) {
                    self.counters.budget_sheds += 1;
                    self.end_session(session, CloseReason::OverBudget);
                    break;
                }
            }
        }
        shed_output(self, &mut acted);
        while !self.detached_cap_off() && self.budget.used(Share::Logs) > self.budget.share_cap {
            acted = true;
            if self.evict_detached(None, None) {
                continue;
            }
            let largest = self
                .streams
                .iter()
                .max_by_key(|(id, s)| (s.log.bytes(), core::cmp::Reverse(*id)))
                .map(|(id, s)| (id, s.session, s.log_holding()));
            let Some((stream, session, holding)) = largest else {
                break;
            };
            self.counters.budget_sheds += 1;
            match self
                .streams
                .get_mut(stream)
                .and_then(|s| s.log.drop_oldest())
            {
                Some(dropped) => self.release(holding, Some(session), dropped),
                None => break,
            }
        }
        while self.budget.used(Share::State) > self.budget.share_cap {
            let largest = self
                .sessions
                .iter()
                .max_by_key(|(key, s)| (s.held, core::cmp::Reverse(*key)))
                .map(|(key, _)| key);
            let Some(session) = largest else {
                break;
            };
            acted = true;
            self.counters.budget_sheds += 1;
            self.end_session(session, CloseReason::OverBudget);
        }
        self.wake_share_waiters();
        acted
    }

    /// The connection or request-level exchange holding the most output, for shedding.
    fn largest_output_holder(&self) -> Option<Holder> {
        let conn = self
            .conns
            .iter()
            .max_by_key(|(id, c)| (c.accounted, core::cmp::Reverse(*id)))
            .map(|(id, c)| (c.accounted + c.bookkeeping, Holder::Conn(id)));
        let host = self
            .exchanges
            .iter()
            .filter_map(|(id, e)| match &e.sink {
                Sink::Host(q) => Some((q.charged, Holder::Exchange(id))),
                Sink::Conn(_) => None,
            })
            .max_by_key(|(bytes, _)| *bytes);
        match (conn, host) {
            (Some(c), Some(h)) => Some(if h.0 > c.0 { h.1 } else { c.1 }),
            (c, h) => c.or(h).map(|(_, holder)| holder),
        }
    }

    // ---- Recounting ----

    /// Recomputes every charge from the entities and checks it against the accounts, and every
    /// account against its cap.
    pub(super) fn check_budget(&self) -> Result<(), InvariantViolation> {
        let mut recount = HeldBytes::default();
        let mut per_session: alloc::collections::BTreeMap<SessionKey, usize> =
            self.sessions.keys().map(|k| (k, 0)).collect();
        let mut input_pool = 0;
        let mut output_pool = 0;
        let excess = |held: usize| held.saturating_sub(self.budget.even_part);
        for (id, c) in self.conns.iter() {
            ensure!(
                c.input == c.buffered_bytes(),
                "{id} is charged {} input bytes but its codec holds {}",
                c.input,
                c.buffered_bytes()
            );
            ensure!(
                c.paced <= c.accounted,
                "{id} counts {} paced bytes of {} held",
                c.paced,
                c.accounted
            );
            recount.input += c.input as u64;
            recount.output += (c.accounted + c.bookkeeping) as u64;
            input_pool += excess(c.input);
            output_pool += excess(c.accounted + c.bookkeeping);
        }
        let mut host_exchanges = 0;
        for (id, e) in self.exchanges.iter() {
            if let Sink::Host(q) = &e.sink {
                host_exchanges += 1;
                ensure!(
                    q.paced <= q.bytes,
                    "{id} counts {} paced bytes of {}",
                    q.paced,
                    q.bytes
                );
                ensure!(
                    q.charged == q.charge(),
                    "{id} is charged {} output bytes but holds {}",
                    q.charged,
                    q.charge()
                );
                recount.output += q.charged as u64;
                output_pool += excess(q.charged);
            }
            recount.requests += e.application_bytes as u64;
        }
        ensure!(
            host_exchanges == self.host_exchanges,
            "{} request-level exchanges are counted but {host_exchanges} exist",
            self.host_exchanges
        );
        ensure!(
            input_pool == self.budget.input_pool && output_pool == self.budget.output_pool,
            "the pools say {} input and {} output bytes but the holders hold {input_pool} and \
             {output_pool}",
            self.budget.input_pool,
            self.budget.output_pool
        );
        for pending in self.verifications.pending.values() {
            recount.requests += pending.held as u64;
        }
        recount.sessions += self.verifications.grant_bytes() as u64;
        let mut detached = 0;
        for (id, s) in self.streams.iter() {
            let log = s.log.bytes() + STREAM_BYTES;
            let json = s.json_bytes();
            match s.detached_order {
                Some(order) => {
                    ensure!(s.exchange.is_none(), "attached {id} is indexed as detached");
                    ensure!(
                        self.detached.contains(&(order, id)),
                        "detached {id} is missing from the detached index"
                    );
                    detached += 1;
                    recount.detached_streams += log as u64;
                }
                None => {
                    ensure!(
                        s.exchange.is_some(),
                        "detached {id} is missing from the detached index"
                    );
                    recount.resume_logs += log as u64;
                }
            }
            recount.json_responses += json as u64;
            if let Some(held) = per_session.get_mut(&s.session) {
                *held += log + json;
            }
            for &inflight in &s.blocked {
                ensure!(
                    self.inflight
                        .get(inflight)
                        .is_some_and(|i| i.stream == id && i.blocked == Some(Wait::Stream)),
                    "{id} lists {inflight} as blocked on it, which disagrees"
                );
            }
        }
        ensure!(
            detached == self.detached.len(),
            "the detached index lists {} streams but {detached} are detached",
            self.detached.len()
        );
        for (key, s) in self.sessions.iter() {
            let metadata = session_metadata_bytes(s);
            let subscriptions: usize = s.subscriptions.iter().map(|u| subscription_cost(u)).sum();
            let backlog: usize = s.backlog.iter().map(|b| backlog_cost(b)).sum();
            ensure!(
                backlog == s.backlog_bytes,
                "{key} counts {} backlog bytes but holds {backlog}",
                s.backlog_bytes
            );
            recount.sessions += metadata as u64;
            recount.subscriptions += subscriptions as u64;
            recount.backlogs += backlog as u64;
            if let Some(held) = per_session.get_mut(&key) {
                *held += metadata + subscriptions + backlog;
            }
            let detached = s
                .streams
                .iter()
                .filter(|id| {
                    self.streams
                        .get(**id)
                        .is_some_and(|st| st.detached_order.is_some())
                })
                .count();
            ensure!(
                detached == s.detached,
                "{key} counts {} detached streams but has {detached}",
                s.detached
            );
        }
        for (id, i) in self.inflight.iter() {
            let held = REQUEST_BYTES
                + 2 * id_bytes(&i.request_id)
                + i.progress_token.as_ref().map_or(0, |t| t.get().len());
            ensure!(
                i.held >= held,
                "{id} is charged {} bytes but its id and token alone take {held}",
                i.held
            );
            recount.requests += i.held as u64;
            if let Some(total) = per_session.get_mut(&i.session) {
                *total += i.held;
            }
            match i.blocked {
                Some(Wait::Stream) => ensure!(
                    self.streams
                        .get(i.stream)
                        .is_some_and(|s| s.blocked.contains(&id)),
                    "{id} waits on {} which does not list it",
                    i.stream
                ),
                Some(Wait::Share(share)) => ensure!(
                    self.share_waiters
                        .iter()
                        .any(|&(s, i, _)| (s, i) == (share, id)),
                    "{id} waits for a share but is not listed"
                ),
                None => {}
            }
        }
        for &(_, inflight, _) in &self.share_waiters {
            ensure!(
                self.inflight
                    .get(inflight)
                    .is_some_and(|i| matches!(i.blocked, Some(Wait::Share(_)))),
                "{inflight} is listed as waiting for a share but is not"
            );
        }
        for event in &self.events {
            let (bytes, session) = event_charge(event);
            recount.events += bytes as u64;
            if let Some(total) = session.and_then(|k| per_session.get_mut(&k)) {
                *total += bytes;
            }
        }
        let charged = self.budget.stats();
        ensure!(
            recount == charged,
            "the budget is charged {charged:?} but the entities hold {recount:?}"
        );
        let limits = &self.config.limits;
        for (key, held) in per_session {
            let s = &self.sessions[key];
            ensure!(
                s.held == held,
                "{key} is charged {} bytes but holds {held}",
                s.held
            );
            ensure!(
                held <= limits.max_session_bytes,
                "{key} holds {held} bytes, over its cap of {}",
                limits.max_session_bytes
            );
            ensure!(
                s.detached <= limits.max_detached_streams_per_session,
                "{key} keeps {} detached streams, over its cap of {}",
                s.detached,
                limits.max_detached_streams_per_session
            );
        }
        for (share, name) in [
            (Share::Input, "input"),
            (Share::Output, "output"),
            (Share::Logs, "resume logs"),
            (Share::State, "session state"),
        ] {
            let used = self.budget.used(share);
            ensure!(
                used <= self.budget.share_cap,
                "{name} hold {used} bytes, over their share of {}",
                self.budget.share_cap
            );
        }
        ensure!(
            self.budget.input_pool <= self.budget.pool_cap() && !self.budget.output_pool_over(),
            "a pool is over its cap: input {}, output {}, cap {}",
            self.budget.input_pool,
            self.budget.output_pool,
            self.budget.pool_cap()
        );
        ensure!(
            charged.total() <= limits.max_held_bytes as u64,
            "the engine holds {} bytes, over its budget of {}",
            charged.total(),
            limits.max_held_bytes
        );
        Ok(())
    }
}

/// Who holds output: a connection, or a request-level exchange.
#[derive(Debug, Clone, Copy)]
enum Holder {
    Conn(ConnId),
    Exchange(super::ExchangeId),
}

/// Output past its pool cuts the reader holding the most, until it fits.
fn shed_output(engine: &mut Engine, acted: &mut bool) {
    while engine.budget.output_pool_over() {
        let Some(holder) = engine.largest_output_holder() else {
            return;
        };
        *acted = true;
        engine.counters.slow_readers_disconnected += 1;
        match holder {
            Holder::Conn(conn) => engine.remove_conn(conn, true),
            Holder::Exchange(exchange) => engine.abort_exchange(exchange),
        }
    }
}

/// Bytes of a session's own record: the entity, its wire id, bound credential, client info and
/// capabilities.
pub(super) fn session_metadata_bytes(s: &super::entities::Session) -> usize {
    SESSION_BYTES
        + s.wire_id.len()
        + s.binding.as_ref().map_or(0, |b| b.len())
        + s.client_info.as_ref().map_or(0, |c| c.get().len())
        + s.client_capabilities.as_ref().map_or(0, |c| c.get().len())
        + s.listen.as_ref().map_or(0, |l| id_bytes(&l.id))
}

/// Whether a JSON-mode stream may collect `len` more bytes: within the window, the session and
/// the state share. Otherwise it becomes SSE, and the bytes go out as they come.
pub(super) fn json_fits(engine: &mut Engine, stream: StreamId, len: usize) -> bool {
    let window = engine.config.limits.stream_window_bytes;
    let Some(s) = engine.streams.get(stream) else {
        return false;
    };
    if !matches!(s.mode, StreamMode::Json { .. }) {
        return false;
    }
    let session = s.session;
    s.json_bytes() + len <= window
        && engine.budget.room(Share::State) >= len
        && engine.make_session_room(session, len, Some(stream))
}
