//! [`ClientStats`] and `check_invariants`: what the client holds, recounted from scratch.

use alloc::format;
use core::fmt;

use super::entities::{Body, CallState, ConnState, Owner, Phase, Purpose, Standalone};
use super::{Client, ClientConnId};
use crate::invariant::InvariantViolation;

/// Counters that only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) held_bytes: usize,
    pub(crate) calls_started: u64,
    pub(crate) calls_answered: u64,
    pub(crate) calls_failed: u64,
    pub(crate) connections_opened: u64,
    pub(crate) connect_failures: u64,
    pub(crate) reconnect_attempts: u64,
    pub(crate) sessions_lost: u64,
    pub(crate) posts_dropped: u64,
    pub(crate) notifications_dropped: u64,
    pub(crate) late_responses: u64,
    pub(crate) oversized_messages: u64,
    pub(crate) protocol_errors: u64,
    pub(crate) authorizations_required: u64,
    pub(crate) authorization_failures: u64,
}

/// What the client holds now (gauges, which return to zero once it has closed) and what it has
/// done (totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Calls without an outcome yet.
    pub calls: u64,
    /// Of those, waiting for the link or a connection.
    pub queued_calls: u64,
    /// Connections open or opening.
    pub connections: u64,
    /// Of those, idle keep-alive connections.
    pub idle_connections: u64,
    /// Notifications and responses not yet accepted by the server.
    pub posts: u64,
    /// Requests from the server awaiting the application.
    pub server_requests: u64,
    /// Timers armed.
    pub timers_armed: u64,
    /// Events not yet polled.
    pub pending_events: u64,
    /// Socket actions not yet polled.
    pub pending_transmits: u64,
    /// Bytes held for the server: params kept for re-sending, posts, the credential, unsent
    /// request bytes, partial response heads, bodies and events.
    pub held_bytes: u64,
    /// Whether a session exists (session era).
    pub session: bool,
    /// Calls started, ever.
    pub calls_started_total: u64,
    /// Calls answered with a result, ever.
    pub calls_answered_total: u64,
    /// Calls failed (errors, timeouts, cancellations, losses), ever.
    pub calls_failed_total: u64,
    /// Connections opened, ever.
    pub connections_opened_total: u64,
    /// Connection attempts that failed, ever.
    pub connect_failures_total: u64,
    /// Reconnect attempts (backoffs) made, ever.
    pub reconnect_attempts_total: u64,
    /// Sessions the server lost (404), ever.
    pub sessions_lost_total: u64,
    /// Posts and notifications dropped (queue full, timed out, refused), ever.
    pub dropped_total: u64,
    /// Responses that arrived after their call had ended, ever.
    pub late_responses_total: u64,
    /// Messages or events over `max_message_bytes`, ever.
    pub oversized_total: u64,
    /// Bytes from the server that broke the protocol, ever.
    pub protocol_errors_total: u64,
    /// Waits for credentials ([`ClientEvent::AuthorizationRequired`](super::ClientEvent)),
    /// ever.
    pub authorizations_required_total: u64,
    /// Waits for credentials that ended without them (`authorization_failed`, or past
    /// `timeouts.authorization`), ever.
    pub authorization_failures_total: u64,
}

impl ClientStats {
    /// Whether nothing is held: no call, connection, post, server request, timer, queued event
    /// or byte. True of every client once it has closed and been drained.
    #[must_use]
    pub fn is_quiescent(&self) -> bool {
        self.calls == 0
            && self.connections == 0
            && self.posts == 0
            && self.server_requests == 0
            && self.timers_armed == 0
            && self.pending_events == 0
            && self.pending_transmits == 0
            && self.held_bytes == 0
            && !self.session
    }
}

impl fmt::Display for ClientStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "calls {} (queued {}), connections {} (idle {}), posts {}, server requests {}, \
             timers {}, events {}, transmits {}, held {} B",
            self.calls,
            self.queued_calls,
            self.connections,
            self.idle_connections,
            self.posts,
            self.server_requests,
            self.timers_armed,
            self.pending_events,
            self.pending_transmits,
            self.held_bytes
        )
    }
}

impl Client {
    /// What the client holds and has done.
    #[must_use]
    pub fn stats(&self) -> ClientStats {
        let c = &self.counters;
        let conn_bytes: usize = self
            .conns
            .values()
            .map(super::entities::Conn::held_bytes)
            .sum();
        ClientStats {
            calls: self.calls.len() as u64,
            queued_calls: self.queued.len() as u64,
            connections: (self.conns.len() + usize::from(self.pipe.is_some())) as u64,
            idle_connections: self.idle.len() as u64,
            posts: self.posts.len() as u64,
            server_requests: self.server_requests.len() as u64,
            timers_armed: self.timers.len() as u64,
            pending_events: self.events.len() as u64,
            pending_transmits: self.actions.len() as u64,
            held_bytes: (c.held_bytes + conn_bytes + self.pipe_held_bytes()) as u64,
            session: self.link.session.is_some(),
            calls_started_total: c.calls_started,
            calls_answered_total: c.calls_answered,
            calls_failed_total: c.calls_failed,
            connections_opened_total: c.connections_opened,
            connect_failures_total: c.connect_failures,
            reconnect_attempts_total: c.reconnect_attempts,
            sessions_lost_total: c.sessions_lost,
            dropped_total: c.posts_dropped + c.notifications_dropped,
            late_responses_total: c.late_responses,
            oversized_total: c.oversized_messages,
            protocol_errors_total: c.protocol_errors,
            authorizations_required_total: c.authorizations_required,
            authorization_failures_total: c.authorization_failures,
        }
    }

    /// Recounts everything the client holds and checks that every index agrees with the
    /// entities, every armed timer is in the deadline index and nothing else is, and every
    /// limit holds.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |message: alloc::string::String| Err(InvariantViolation::new(message));
        let limits = &self.config.limits;
        let mut armed = self.timers.check_table(Owner::Link, &self.link.timers)?;
        for (&id, call) in &self.calls {
            armed += self.timers.check_table(Owner::Call(id), &call.timers)?;
            if (call.state == CallState::Queued) != self.queued.contains(&id) {
                return fail(format!("{id} is {:?} but the queue disagrees", call.state));
            }
            if let CallState::Sent(conn) = call.state {
                let on_conn = self
                    .conns
                    .get(&conn)
                    .and_then(|c| c.exchange.as_ref())
                    .map(|e| e.purpose);
                if !matches!(on_conn, Some(Purpose::Call(c) | Purpose::Resume(c)) if c == id) {
                    return fail(format!("{id} is sent on {conn} which carries {on_conn:?}"));
                }
            }
            let one_stream = self.link.era == Some(super::Era::HttpSse) || self.is_pipe();
            if call.state == CallState::Awaiting && !one_stream {
                return fail(format!("{id} awaits a stream answer outside HTTP+SSE"));
            }
            if self.is_pipe() && matches!(call.state, CallState::Sent(_) | CallState::Backoff) {
                return fail(format!("{id} is {:?} over a pipe", call.state));
            }
            if call.wire_id != 0 && self.by_wire.get(&call.wire_id) != Some(&id) {
                return fail(format!("{id}'s wire id {} is not indexed", call.wire_id));
            }
            if call.state == CallState::Backoff
                && call.timers.get(super::ClientTimer::Retry).is_none()
            {
                return fail(format!("{id} backs off with no retry timer"));
            }
            if !call.persistent && call.timers.get(super::ClientTimer::Deadline).is_none() {
                return fail(format!("{id} has no deadline"));
            }
        }
        for (wire, call) in &self.by_wire {
            if self.calls.get(call).map(|c| c.wire_id) != Some(*wire) {
                return fail(format!(
                    "wire id {wire} names {call}, which does not hold it"
                ));
            }
        }
        for call in &self.queued {
            if !self.calls.contains_key(call) {
                return fail(format!("queued {call} does not exist"));
            }
        }
        for (&id, conn) in &self.conns {
            armed += self.timers.check_table(Owner::Conn(id), &conn.timers)?;
            let idle = conn.state == ConnState::Idle;
            if idle != self.idle.contains(&id) || (idle && conn.exchange.is_some()) {
                return fail(format!(
                    "{id} is {:?} but the idle set disagrees",
                    conn.state
                ));
            }
            if conn.state == ConnState::Connecting
                && conn.timers.get(super::ClientTimer::Connect).is_none()
            {
                return fail(format!("{id} connects with no deadline"));
            }
            if let Some(exchange) = &conn.exchange {
                self.check_exchange_owner(id, exchange.purpose, exchange.settled)?;
                if let Body::Json(bytes) = &exchange.body {
                    if bytes.len() > limits.max_message_bytes {
                        return fail(format!("{id} holds a {} B body", bytes.len()));
                    }
                }
            }
        }
        if self.is_pipe() && !self.conns.is_empty() {
            return fail(format!(
                "a pipe client holds {} connections",
                self.conns.len()
            ));
        }
        if let Some(pipe) = &self.pipe {
            if pipe.decoder.buffered_bytes() > limits.max_message_bytes + 1 {
                return fail(format!(
                    "the pipe holds a {} B partial line",
                    pipe.decoder.buffered_bytes()
                ));
            }
            if self.link.phase == Phase::Closed {
                return fail("a closed client holds its pipe".into());
            }
        }
        for id in &self.idle {
            if !self.conns.contains_key(id) {
                return fail(format!("idle {id} does not exist"));
            }
        }
        for (&id, post) in &self.posts {
            armed += self.timers.check_table(Owner::Post(id), &post.timers)?;
            if post.sent == self.unsent_posts.contains(&id) {
                return fail(format!(
                    "post {id} sent={} disagrees with the queue",
                    post.sent
                ));
            }
        }
        for (&id, request) in &self.server_requests {
            armed += self
                .timers
                .check_table(Owner::ServerRequest(id), &request.timers)?;
            if let super::entities::Origin::Input { call, key } = &request.origin {
                let pending = self
                    .calls
                    .get(call)
                    .and_then(|c| c.input.as_ref())
                    .and_then(|r| r.pending.get(key));
                if pending != Some(&id) {
                    return fail(format!(
                        "{id} answers {call}'s {key}, which does not wait for it"
                    ));
                }
            }
        }
        if armed != self.timers.len() {
            return fail(format!(
                "{} timers indexed, {armed} armed",
                self.timers.len()
            ));
        }
        let held = self.held_bytes();
        if held != self.counters.held_bytes {
            return fail(format!(
                "held bytes {} recounted as {held}",
                self.counters.held_bytes
            ));
        }
        if held > limits.max_held_bytes {
            return fail(format!("{held} B held, over the limit"));
        }
        if self.calls.len() > limits.max_calls
            || self.conns.len() > limits.max_connections
            || self.server_requests.len() > limits.max_server_requests + limits.max_calls
            || self.posts.len() > limits.max_queued
        {
            return fail(format!("over a count limit: {}", self.stats()));
        }
        if let Standalone::Open(conn) = self.link.standalone {
            let purpose = self
                .conns
                .get(&conn)
                .and_then(|c| c.exchange.as_ref())
                .map(|e| e.purpose);
            if purpose != Some(Purpose::Standalone) {
                return fail(format!(
                    "the GET stream is on {conn}, which carries {purpose:?}"
                ));
            }
        }
        self.check_gate()?;
        if self.link.phase == Phase::Closed {
            let stats = self.stats();
            let held = stats.calls + stats.connections + stats.posts + stats.server_requests;
            if held != 0 || stats.timers_armed != 0 {
                return fail(format!("closed but holding: {stats}"));
            }
        }
        Ok(())
    }

    fn check_exchange_owner(
        &self,
        conn: ClientConnId,
        purpose: Purpose,
        settled: bool,
    ) -> Result<(), InvariantViolation> {
        let owned = settled
            || match purpose {
                Purpose::Call(call) | Purpose::Resume(call) => self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.state == CallState::Sent(conn)),
                Purpose::Post(post) => self.posts.get(&post).is_some_and(|p| p.sent),
                Purpose::Standalone => self.link.standalone == Standalone::Open(conn),
                Purpose::Discover | Purpose::Initialize | Purpose::Initialized => {
                    self.handshake_pending(purpose)
                }
                Purpose::Delete => self.link.phase == Phase::Closing,
            };
        if owned {
            Ok(())
        } else {
            Err(InvariantViolation::new(format!(
                "{conn} carries {purpose:?}, which nothing owns"
            )))
        }
    }
}
