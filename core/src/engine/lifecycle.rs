//! Ending entities. Each function here removes one entity from its primary map, stops every
//! timer it owns and clears every index that names it, in the same call; `check_invariants`
//! verifies that nothing else can hold on to it.
//!
//! Ending cascades downwards only: a session ends its requests, outbound requests and streams;
//! a stream ends the requests whose responses it was to carry. Nothing ends its owner, except a
//! legacy stream, which is its session's transport.

use alloc::boxed::Box;
use alloc::vec::Vec;

use serde_json::value::RawValue;

use super::Engine;
use super::budget::Holding;
use super::entities::{Inflight, SessionTimer, StreamMode};
use super::events::{CancelReason, ClientError, CloseReason, Event};
use super::ids::{InflightId, OutboundHandle, OutboundId, RequestHandle, SessionKey, StreamId};
use crate::jsonrpc::{self, ErrorCode};

impl Engine {
    /// Removes a client request from every index, returning it. The caller sends (or skips) its
    /// response.
    pub(super) fn take_inflight(&mut self, inflight: InflightId) -> Option<Inflight> {
        let mut entry = self.inflight.remove(inflight)?;
        self.inflight_timers.stop_all(&mut entry.timers, inflight);
        if let Some(session) = self.sessions.get_mut(entry.session) {
            session.inflight.remove(&entry.request_id);
        }
        if let Some(wait) = entry.blocked.take() {
            self.forget_waiter(inflight, entry.stream, wait);
        }
        self.release(Holding::Requests, Some(entry.session), entry.held);
        self.refresh_session_idle(entry.session);
        Some(entry)
    }

    /// Cancels a client request: the application is told, and the client gets an error
    /// response unless it cancelled the request itself or nothing can reach it.
    pub(super) fn end_inflight(&mut self, inflight: InflightId, reason: Option<CancelReason>) {
        let Some(entry) = self.take_inflight(inflight) else {
            return;
        };
        let message = match &reason {
            Some(CancelReason::Timeout) => Some("Request timed out"),
            Some(CancelReason::SessionClosed) => Some("Session closed"),
            Some(CancelReason::Shutdown) => Some("Server shutting down"),
            Some(
                CancelReason::ByClient(_)
                | CancelReason::Undeliverable
                | CancelReason::StreamClosed,
            )
            | None => None,
        };
        if let Some(reason) = reason {
            self.counters.requests_cancelled += 1;
            self.emit(Event::Cancelled {
                handle: RequestHandle {
                    session: entry.session,
                    inflight,
                },
                reason,
            });
        }
        match message {
            Some(message) => {
                let body =
                    jsonrpc::error_body(Some(&entry.request_id), ErrorCode::SERVER_ERROR, message);
                self.stream_response(entry.stream, body);
            }
            None => self.stream_skip_response(entry.stream),
        }
    }

    /// A request on `stream` will get no response: the stream stops waiting for it.
    fn stream_skip_response(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.get_mut(stream) {
            if s.kind == super::entities::StreamKind::Post && s.pending > 0 {
                s.pending -= 1;
                if s.pending == 0 {
                    // Completion writes whatever was collected (or 202) and ends the stream.
                    self.stream_response_done(stream);
                }
            }
        }
    }

    /// Ends a request to the client. With `Some(result)` the application hears the result; with
    /// `None` the session is closing and it hears [`ClientError::SessionClosed`].
    pub(super) fn end_outbound(
        &mut self,
        outbound: OutboundId,
        result: Option<Result<Box<RawValue>, ClientError>>,
    ) {
        let Some(mut entry) = self.outbound.remove(outbound) else {
            return;
        };
        self.outbound_timers.stop_all(&mut entry.timers, outbound);
        if let Some(session) = self.sessions.get_mut(entry.session) {
            session.outbound.remove(&entry.wire_id);
        }
        if entry.heartbeat {
            // A ping ended by its session closing is neither an answer nor a failure.
            if let Some(result) = result {
                self.heartbeat_answered(entry.session, result.is_ok());
            }
            return;
        }
        let result = result.unwrap_or(Err(ClientError::SessionClosed));
        self.emit(Event::ClientResponse {
            handle: OutboundHandle {
                session: entry.session,
                outbound,
            },
            result,
        });
    }

    /// Ends a stream: requests still waiting for it are cancelled as undeliverable, and an
    /// attached response ends cleanly (SSE terminator, or the JSON collected so far).
    pub(super) fn end_stream(&mut self, stream: StreamId) {
        let Some(mut s) = self.streams.remove(stream) else {
            return;
        };
        #[cfg(feature = "sim-faults")]
        let clear = !self.config.faults.stream_timers_not_cleared;
        #[cfg(not(feature = "sim-faults"))]
        let clear = true;
        if clear {
            self.stream_timers.stop_all(&mut s.timers, stream);
        }
        if let Some(conn) = s.flushing_on {
            if let Some(c) = self.conns.get_mut(conn) {
                c.flushing.retain(|&f| f != stream);
            }
        }
        let session = s.session;
        let holding = s.log_holding();
        if let Some(order) = s.detached_order.take() {
            self.detached.remove(&(order, stream));
            if let Some(sess) = self.sessions.get_mut(session) {
                sess.detached -= 1;
            }
        }
        self.release(
            holding,
            Some(session),
            s.log.bytes() + super::budget::STREAM_BYTES,
        );
        if let StreamMode::Json { responses, .. } = &mut s.mode {
            // What was collected is sent below, or dropped with the stream: either way no
            // longer held.
            let collected = responses.iter().map(Vec::len).sum();
            self.release(Holding::JsonResponses, Some(session), collected);
        }
        if let Some(sess) = self.sessions.get_mut(session) {
            sess.streams.remove(&stream);
            if sess.standalone == Some(stream) {
                sess.standalone = None;
            }
            if s.exchange.is_some() {
                sess.attached_streams = sess.attached_streams.saturating_sub(1);
            }
        }
        let waiting: Vec<InflightId> = self
            .sessions
            .get(session)
            .map(|sess| sess.inflight.values().copied().collect())
            .unwrap_or_default();
        for inflight in waiting {
            if self
                .inflight
                .get(inflight)
                .is_some_and(|i| i.stream == stream)
            {
                self.end_inflight(inflight, Some(CancelReason::Undeliverable));
            }
        }
        if let Some(exchange) = s.exchange.take() {
            if let Some(ex) = self.exchanges.get_mut(exchange) {
                ex.stream = None;
            }
            match s.mode {
                StreamMode::Sse => self.finish_stream_response(exchange),
                StreamMode::Json { responses, batch } => {
                    self.send_json_responses(exchange, session, responses, batch);
                }
            }
        }
        self.counters.streams_closed += 1;
        self.refresh_session_idle(session);
    }

    /// Ends a session and everything it owns, and tells the application why.
    pub(super) fn end_session(&mut self, session: SessionKey, reason: CloseReason) {
        let Some(sess) = self.sessions.get(session) else {
            return;
        };
        let inflight: Vec<InflightId> = sess.inflight.values().copied().collect();
        let outbound: Vec<OutboundId> = sess.outbound.values().copied().collect();
        let cancel = if reason == CloseReason::Shutdown {
            CancelReason::Shutdown
        } else {
            CancelReason::SessionClosed
        };
        for id in inflight {
            self.end_inflight(id, Some(cancel.clone()));
        }
        for id in outbound {
            self.end_outbound(id, None);
        }
        let streams: Vec<StreamId> = self
            .sessions
            .get(session)
            .map(|s| s.streams.iter().copied().collect())
            .unwrap_or_default();
        for stream in streams {
            self.end_stream(stream);
        }
        let Some(mut sess) = self.sessions.remove(session) else {
            return;
        };
        self.session_timers.stop_all(&mut sess.timers, session);
        let stateless = sess.kind == super::entities::SessionKind::Stateless;
        if stateless {
            self.stateless_contexts -= 1;
            if sess.listen.is_some() {
                self.listens -= 1;
            }
        } else {
            self.session_by_wire_id.remove(&sess.wire_id);
        }
        let subscriptions: usize = sess
            .subscriptions
            .iter()
            .map(|u| super::budget::subscription_cost(u))
            .sum();
        #[cfg(feature = "sim-faults")]
        let unregister = !(stateless && self.config.faults.listen_not_unregistered);
        #[cfg(not(feature = "sim-faults"))]
        let unregister = true;
        for uri in sess.subscriptions.iter().filter(|_| unregister) {
            if let Some(set) = self.subscribers.get_mut(uri) {
                set.remove(&session);
                if set.is_empty() {
                    self.subscribers.remove(uri);
                }
            }
        }
        // Its requests and streams released their bytes as they ended; the rest goes now.
        self.release(Holding::Subscriptions, None, subscriptions);
        self.release(Holding::Backlog, None, sess.backlog_bytes);
        let metadata = super::budget::session_metadata_bytes(&sess);
        self.release(Holding::Session, None, metadata);
        if stateless {
            // A stateless context is no session: the application never heard of it as one.
            return;
        }
        self.counters.sessions_closed[reason as usize] += 1;
        // A legacy session whose stream ended before `initialize` was never announced: the
        // application hears of neither its opening nor its end.
        if sess.opened {
            self.emit(Event::SessionClosed { session, reason });
        }
    }

    /// Anything the client sends is activity: an armed idle timer starts over.
    pub(super) fn restart_idle_clock(&mut self, session: SessionKey) {
        let deadline = self.now() + self.config.timeouts.session_idle;
        if let Some(s) = self.sessions.get_mut(session) {
            if s.timers.get(SessionTimer::Idle).is_some() {
                self.session_timers
                    .set(&mut s.timers, session, SessionTimer::Idle, deadline);
            }
        }
    }

    /// Arms the session's idle timer when it has no open stream and no request in flight, and
    /// disarms it otherwise. An armed timer keeps its deadline: idleness is measured from when
    /// it began.
    pub(super) fn refresh_session_idle(&mut self, session: SessionKey) {
        let now = self.now();
        let idle_timeout = self.config.timeouts.session_idle;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        if s.kind == super::entities::SessionKind::Stateless {
            // Its exchange owns it: no idle clock.
            return;
        }
        let idle = s.attached_streams == 0 && s.inflight.is_empty();
        #[cfg(feature = "sim-faults")]
        let idle = idle && !self.config.faults.sessions_only_on_delete;
        match (idle, s.timers.get(SessionTimer::Idle)) {
            (true, None) => self.session_timers.set(
                &mut s.timers,
                session,
                SessionTimer::Idle,
                now + idle_timeout,
            ),
            (false, Some(_)) => {
                self.session_timers
                    .stop(&mut s.timers, session, SessionTimer::Idle);
            }
            _ => {}
        }
    }
}
