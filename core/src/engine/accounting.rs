//! Leak accounting: [`Engine::stats`], the monotonic [`Counters`], and
//! [`Engine::check_invariants`], which checks every index against the primary tables.

use super::entities::{SessionKind, SessionTimer, Sink, StreamKind, StreamMode, StreamTimer};
use super::events::CloseReason;
use super::{Engine, RequestHandle};
use crate::invariant::{InvariantViolation, ensure};
use crate::stats::Stats;

/// Monotonic counters of what the engine has done, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Connections accepted (including those answered 503).
    pub connections_accepted: u64,
    /// Connections refused or answered 503 at the connection limit or during shutdown.
    pub connections_refused: u64,
    /// Bearer tokens the application was asked to verify.
    pub verifications_requested: u64,
    /// Requests refused `503` because too many tokens were being verified.
    pub verifications_refused: u64,
    /// Verifications the application did not answer in time.
    pub verification_timeouts: u64,
    /// Verifications ended because every request waiting for them went away.
    pub verifications_abandoned: u64,
    /// Tokens the application granted.
    pub tokens_granted: u64,
    /// Tokens the application refused.
    pub tokens_refused: u64,
    /// Requests challenged: `401`, `400` or `403` with `WWW-Authenticate`.
    pub auth_challenges: u64,
    /// Connections whose PROXY protocol header, from a trusted proxy, named their client.
    pub proxied_connections: u64,
    /// Connections from a trusted proxy refused for a PROXY protocol header mcpwire cannot
    /// accept.
    pub proxy_headers_refused: u64,
    /// HTTP requests routed.
    pub http_requests: u64,
    /// Requests answered with an error status by the router.
    pub rejected_requests: u64,
    /// Requests the HTTP codec refused (malformed, over a limit).
    pub http_errors: u64,
    /// Connections closed because their reader was too slow or queued too much.
    pub slow_readers_disconnected: u64,
    /// Connections closed because a request took too long to arrive.
    pub request_read_timeouts: u64,
    /// Keep-alive connections closed for idleness.
    pub idle_connections_closed: u64,
    /// Connections closed because output made no progress.
    pub write_timeouts: u64,
    /// Sessions opened.
    pub sessions_opened: u64,
    /// `initialize` refused at the session limit.
    pub sessions_refused: u64,
    /// Sessions closed, indexed by [`CloseReason`] in [`CloseReason::ALL`] order.
    pub sessions_closed: [u64; CloseReason::ALL.len()],
    /// Streams opened.
    pub streams_opened: u64,
    /// Streams ended.
    pub streams_closed: u64,
    /// JSON-mode POSTs switched to SSE.
    pub streams_upgraded: u64,
    /// Streams resumed with `Last-Event-ID`.
    pub streams_resumed: u64,
    /// Resumptions whose missed events had partly left the log.
    pub resume_gaps: u64,
    /// Keep-alive comments written.
    pub keepalives_sent: u64,
    /// Responses from the application.
    pub responses_sent: u64,
    /// Responses whose stream had already ended.
    pub responses_undeliverable: u64,
    /// Requests cancelled (by the client, a timeout, the session ending or shutdown).
    pub requests_cancelled: u64,
    /// Unsolicited messages dropped from a full backlog.
    pub backlog_dropped: u64,
    /// Exchange reports dropped because [`MAX_PENDING_REPORTS`] waited already.
    ///
    /// [`MAX_PENDING_REPORTS`]: super::MAX_PENDING_REPORTS
    pub reports_dropped: u64,
    /// Log messages filtered by `logging/setLevel`.
    pub logs_filtered: u64,
    /// Broadcasts.
    pub broadcasts: u64,
    /// Heartbeat pings sent.
    pub heartbeats_sent: u64,
    /// Heartbeat pings unanswered or answered with an error.
    pub heartbeat_failures: u64,
    /// Detached streams evicted to keep a session or the engine within its byte budget.
    pub detached_streams_evicted: u64,
    /// New work (a POST, GET, `initialize`, subscription, application-path request) refused
    /// for want of room in the byte budget.
    pub budget_refusals: u64,
    /// Application messages refused with `WouldBlock`, to be retried once writable.
    pub handler_waits: u64,
    /// Results larger than the message limit, answered with an error instead.
    pub responses_too_large: u64,
    /// Times the final guard of the byte budget had to act: a session closed over its cap, a
    /// resume log trimmed, session state shed. Zero unless a gentler policy fell short.
    pub budget_sheds: u64,
    /// `subscriptions/listen` streams opened (2026-07-28).
    pub listens_opened: u64,
    /// `subscriptions/listen` requests refused at `limits.max_listen_streams`.
    pub listens_refused: u64,
    /// Results that could not be sent as they were (not an object; a list that asked for
    /// input), answered with an internal error instead.
    pub invalid_results: u64,
    /// Requests to the client refused because it did not declare the capability they need.
    pub undeclared_capability_refusals: u64,
    /// Input-required results sent (2026-07-28).
    pub input_required_sent: u64,
    /// Retries whose `requestState` was forged, altered, rebound or expired (-32602).
    pub input_states_refused: u64,
}

impl Engine {
    /// Live entities, armed timers and held bytes. Every gauge returns to zero once every client
    /// is gone and every timeout has passed.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let mut stats = Stats {
            connections: self.conns.len() as u64,
            exchanges: self.exchanges.len() as u64,
            sessions: (self.sessions.len() - self.stateless_contexts) as u64,
            stateless_requests: (self.stateless_contexts - self.listens) as u64,
            subscriptions: self.listens as u64,
            streams: self.streams.len() as u64,
            inflight_requests: self.inflight.len() as u64,
            outbound_requests: self.outbound.len() as u64,
            timers_armed: (self.conn_timers.len()
                + self.session_timers.len()
                + self.stream_timers.len()
                + self.inflight_timers.len()
                + self.outbound_timers.len()
                + self.verifications.timers.len()) as u64,
            pending_verifications: self.verifications.pending.len() as u64,
            cached_grants: self.verifications.grants() as u64,
            pending_events: self.events.len() as u64,
            held: self.budget.stats(),
            connections_accepted_total: self.counters.connections_accepted,
            sessions_opened_total: self.counters.sessions_opened,
            sessions_closed_total: self.counters.sessions_closed.iter().sum(),
            clock_regressions_total: self.clock.regressions(),
            ..Stats::default()
        };
        for conn in self.conns.values() {
            stats.queued_bytes += (conn.queued_bytes() + conn.unacked) as u64;
            stats.buffered_bytes += conn.buffered_bytes() as u64;
        }
        for exchange in self.exchanges.values() {
            if let Sink::Host(queue) = &exchange.sink {
                stats.queued_bytes += queue.bytes as u64;
            }
        }
        for stream in self.streams.values() {
            stats.resumption_log_events += stream.log.len() as u64;
            stats.resumption_log_bytes += stream.log.bytes() as u64;
        }
        stats
    }

    /// Every request the application holds: those it was handed in an [`Event::Request`]
    /// (or will be, from events not polled yet) and has neither answered nor seen cancelled.
    /// An adapter checks its own bookkeeping against this: each must have a handler at work or
    /// an answer on its way, or it would stay in flight with nobody to end it.
    ///
    /// [`Event::Request`]: super::Event::Request
    pub fn inflight_requests(&self) -> impl Iterator<Item = RequestHandle> + '_ {
        self.inflight
            .iter()
            .map(|(inflight, request)| RequestHandle {
                session: request.session,
                inflight,
            })
    }

    /// What the engine has done so far.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Checks every index against the primary tables and every entity's timers against the
    /// deadline indexes. A violation is a bug in mcpwire; the message names the entity.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        for (kind, check) in [
            ("connections", self.conns.check()),
            ("exchanges", self.exchanges.check()),
            ("sessions", self.sessions.check()),
            ("streams", self.streams.check()),
            ("requests", self.inflight.check()),
            ("outbound requests", self.outbound.check()),
        ] {
            if let Err(why) = check {
                return Err(InvariantViolation::new(alloc::format!("{kind}: {why}")));
            }
        }
        ensure!(
            self.reports.len() <= super::MAX_PENDING_REPORTS,
            "{} exchange reports wait, over the bound of {}",
            self.reports.len(),
            super::MAX_PENDING_REPORTS
        );
        // The per-peer counts, recounted: a connection counts for its peer once it is known
        // (a trusted proxy's, once its header named the client).
        let mut peers = alloc::collections::BTreeMap::new();
        for conn in self.conns.values() {
            if let Some(peer) = conn.peer {
                *peers.entry(peer).or_insert(0usize) += 1;
            }
            ensure!(
                conn.proxy.is_none() || conn.peer.is_none(),
                "a connection awaiting its PROXY header already counts for a peer"
            );
        }
        ensure!(
            peers == self.peers,
            "the per-peer connection counts ({} peers) disagree with the connections ({} peers)",
            self.peers.len(),
            peers.len()
        );
        let mut timers = 0;
        for (id, conn) in self.conns.iter() {
            conn.codec.check_invariants()?;
            timers += self.conn_timers.check_table(id, &conn.timers)?;
            if let Some(exchange) = conn.exchange {
                let linked = self
                    .exchanges
                    .get(exchange)
                    .is_some_and(|e| matches!(e.sink, Sink::Conn(c) if c == id));
                ensure!(linked, "{id} names {exchange}, which is not its exchange");
            }
            // A pipe has no deadline: it lives as long as its host.
            if let Some(pipe) = conn.pipe.as_deref() {
                for exchange in pipe.exchanges.keys() {
                    let linked = self
                        .exchanges
                        .get(*exchange)
                        .is_some_and(|e| matches!(e.sink, Sink::Conn(c) if c == id));
                    ensure!(
                        linked,
                        "pipe {id} lists {exchange}, which does not write to it"
                    );
                }
            }
            let guarded = conn.exchange.is_some()
                || conn.pipe.is_some()
                || conn.timers.armed().next().is_some()
                || conn.codec.wants_close();
            ensure!(guarded, "{id} has neither an exchange nor a deadline");
        }
        ensure!(
            timers == self.conn_timers.len(),
            "{} connection timers belong to no connection",
            self.conn_timers.len() - timers
        );

        for (id, exchange) in self.exchanges.iter() {
            ensure!(
                !exchange.awaiting_application || exchange.stream.is_none(),
                "{id} waits for the application and carries a stream"
            );
            match &exchange.sink {
                Sink::Conn(conn) => ensure!(
                    self.conns.get(conn).is_some_and(|c| c.exchange == Some(id)
                        || c.pipe
                            .as_ref()
                            .is_some_and(|p| p.exchanges.contains_key(&id))),
                    "{id} writes to {conn}, which does not know it"
                ),
                Sink::Host(queue) => {
                    let sum: usize = queue
                        .items
                        .iter()
                        .map(|item| match item {
                            super::ExchangeOutput::Body(p) => p.as_slice().len(),
                            _ => 0,
                        })
                        .sum();
                    ensure!(
                        sum == queue.bytes,
                        "{id} counts {} queued bytes but holds {sum}",
                        queue.bytes
                    );
                    ensure!(
                        queue.items.is_empty() || self.host_ready.contains(&id),
                        "{id} has output nobody will be told about"
                    );
                }
            }
            if let Some(stream) = exchange.stream {
                ensure!(
                    self.streams
                        .get(stream)
                        .is_some_and(|s| s.exchange == Some(id)),
                    "{id} carries {stream}, which does not know it"
                );
            }
        }

        let mut timers = 0;
        for (id, stream) in self.streams.iter() {
            timers += self.stream_timers.check_table(id, &stream.timers)?;
            let session = self.sessions.get(stream.session);
            ensure!(
                session.is_some_and(|s| s.streams.contains(&id)),
                "{id} belongs to {}, which does not list it",
                stream.session
            );
            ensure!(
                stream.log.recount() == stream.log.bytes(),
                "{id}'s resumption log miscounts its bytes"
            );
            match (stream.exchange, &stream.mode) {
                (Some(exchange), mode) => {
                    ensure!(
                        self.exchanges
                            .get(exchange)
                            .is_some_and(|e| e.stream == Some(id)),
                        "{id} is attached to {exchange}, which does not carry it"
                    );
                    let timer = match mode {
                        StreamMode::Sse => StreamTimer::Keepalive,
                        StreamMode::Json { .. } => StreamTimer::Upgrade,
                    };
                    ensure!(
                        stream.timers.get(timer).is_some(),
                        "attached {id} has no {timer:?} deadline"
                    );
                }
                (None, _) => ensure!(
                    stream.timers.get(StreamTimer::Linger).is_some(),
                    "detached {id} has no resume-window deadline, so nothing would ever free it"
                ),
            }
            if stream.kind == StreamKind::Post {
                let waiting = self.inflight.values().filter(|i| i.stream == id).count();
                ensure!(
                    waiting == stream.pending,
                    "{id} waits for {} responses but {waiting} requests are in flight for it",
                    stream.pending
                );
            }
        }
        ensure!(
            timers == self.stream_timers.len(),
            "{} stream timers belong to no stream",
            self.stream_timers.len() - timers
        );

        let mut timers = 0;
        let (mut stateless, mut listens) = (0, 0);
        for (key, session) in self.sessions.iter() {
            timers += self.session_timers.check_table(key, &session.timers)?;
            if session.kind == SessionKind::Stateless {
                stateless += 1;
                listens += usize::from(session.listen.is_some());
                self.check_context(key, session)?;
                continue;
            }
            ensure!(
                session.listen.is_none(),
                "{key} is a session but serves a listen stream"
            );
            ensure!(
                self.session_by_wire_id.get(&session.wire_id) == Some(&key),
                "{key}'s wire id is missing from the index"
            );
            let attached = session
                .streams
                .iter()
                .filter(|s| {
                    self.streams
                        .get(**s)
                        .is_some_and(|st| st.exchange.is_some())
                })
                .count();
            ensure!(
                attached == session.attached_streams,
                "{key} counts {} attached streams but has {attached}",
                session.attached_streams
            );
            for stream in &session.streams {
                ensure!(
                    self.streams.get(stream).is_some_and(|s| s.session == key),
                    "{key} lists {stream}, which is not its stream"
                );
            }
            if let Some(standalone) = session.standalone {
                ensure!(
                    session.streams.contains(&standalone),
                    "{key}'s GET stream {standalone} is not among its streams"
                );
            }
            for (request_id, inflight) in &session.inflight {
                ensure!(
                    self.inflight
                        .get(inflight)
                        .is_some_and(|i| i.session == key && &i.request_id == request_id),
                    "{key} maps request {request_id} to {inflight}, which disagrees"
                );
            }
            for (wire_id, outbound) in &session.outbound {
                ensure!(
                    self.outbound
                        .get(outbound)
                        .is_some_and(|o| o.session == key && o.wire_id == *wire_id),
                    "{key} maps outbound id {wire_id} to {outbound}, which disagrees"
                );
            }
            for uri in &session.subscriptions {
                ensure!(
                    self.subscribers.get(uri).is_some_and(|s| s.contains(&key)),
                    "{key} subscribes to {uri:?} but the index lacks it"
                );
            }
            let idle = session.attached_streams == 0 && session.inflight.is_empty();
            ensure!(
                idle == session.timers.get(SessionTimer::Idle).is_some(),
                "{key} is {} but its idle timer is {}",
                if idle { "idle" } else { "busy" },
                if idle { "not armed" } else { "armed" }
            );
            ensure!(
                !session.initialized || session.timers.get(SessionTimer::Init).is_none(),
                "{key} is initialized but still holds its initialization deadline"
            );
            ensure!(
                session.backlog.len() <= self.config.limits.backlog_events,
                "{key}'s backlog exceeds its bound"
            );
        }
        ensure!(
            timers == self.session_timers.len(),
            "{} session timers belong to no session",
            self.session_timers.len() - timers
        );
        ensure!(
            stateless == self.stateless_contexts
                && listens == self.listens
                && listens <= self.config.limits.max_listen_streams,
            "{stateless} stateless contexts ({listens} listening) are counted as {} ({})",
            self.stateless_contexts,
            self.listens
        );
        ensure!(
            self.session_by_wire_id.len() == self.sessions.len() - stateless,
            "the wire id index has entries for ended sessions"
        );

        let mut timers = 0;
        for (id, inflight) in self.inflight.iter() {
            timers += self.inflight_timers.check_table(id, &inflight.timers)?;
            ensure!(
                self.sessions
                    .get(inflight.session)
                    .is_some_and(|s| s.inflight.get(&inflight.request_id) == Some(&id)),
                "{id} is not indexed by its session {}",
                inflight.session
            );
            ensure!(
                self.streams
                    .get(inflight.stream)
                    .is_some_and(|s| s.session == inflight.session),
                "{id}'s stream {} is gone, so its response could never be sent",
                inflight.stream
            );
            let stateless = self
                .sessions
                .get(inflight.session)
                .is_some_and(|s| s.kind == SessionKind::Stateless);
            ensure!(
                inflight.shape.is_some() == stateless && inflight.input.is_some() == stateless,
                "{id}'s result shape disagrees with its era"
            );
        }
        ensure!(
            timers == self.inflight_timers.len(),
            "{} request timers belong to no request",
            self.inflight_timers.len() - timers
        );

        let mut timers = 0;
        for (id, outbound) in self.outbound.iter() {
            let armed = self.outbound_timers.check_table(id, &outbound.timers)?;
            ensure!(armed == 1, "{id} has no response deadline");
            timers += armed;
            ensure!(
                self.sessions
                    .get(outbound.session)
                    .is_some_and(|s| s.outbound.get(&outbound.wire_id) == Some(&id)),
                "{id} is not indexed by its session {}",
                outbound.session
            );
        }
        ensure!(
            timers == self.outbound_timers.len(),
            "{} outbound timers belong to no request",
            self.outbound_timers.len() - timers
        );

        let timers = self.verifications.check()?;
        ensure!(
            timers == self.verifications.timers.len(),
            "{} verification timers belong to no verification",
            self.verifications.timers.len() - timers
        );
        // Every request held for a verdict waits on a verification that lists it, and only
        // those.
        let mut holding = 0;
        for (id, ex) in self.exchanges.iter() {
            if let Some(awaiting) = &ex.awaiting {
                holding += 1;
                ensure!(
                    self.verifications
                        .pending
                        .get(awaiting.0)
                        .is_some_and(|p| p.waiters.contains(&id)),
                    "{id} waits for {}, which does not list it",
                    awaiting.0
                );
                ensure!(
                    ex.application_bytes >= awaiting.1.heap_bytes(),
                    "{id} holds a request of {} bytes but is charged {}",
                    awaiting.1.heap_bytes(),
                    ex.application_bytes
                );
            }
        }
        ensure!(
            holding == self.verifications.waiting(),
            "verifications list {} waiting requests but {holding} wait",
            self.verifications.waiting()
        );
        if self.config.auth.is_none() {
            ensure!(
                self.verifications.pending.is_empty() && self.verifications.grants() == 0,
                "tokens are verified without a resource server"
            );
        }

        for (uri, sessions) in &self.subscribers {
            ensure!(
                !sessions.is_empty(),
                "the subscription index keeps an empty entry for {uri:?}"
            );
            for session in sessions {
                ensure!(
                    self.sessions
                        .get(session)
                        .is_some_and(|s| s.subscriptions.contains(uri)),
                    "the subscription index sends {uri:?} to {session}, which did not subscribe"
                );
            }
        }
        self.check_budget()?;
        for (id, conn) in self.conns.iter() {
            ensure!(
                conn.accounted == conn.queued_bytes() + conn.unacked
                    && conn.bookkeeping == super::budget::conn_bookkeeping(conn),
                "{id} accounts for {} queued bytes but holds {}",
                conn.accounted,
                conn.queued_bytes() + conn.unacked
            );
        }
        for (id, conn) in self.conns.iter() {
            for stream in &conn.flushing {
                ensure!(
                    self.streams
                        .get(stream)
                        .is_some_and(|s| s.flushing_on == Some(id)),
                    "{id} flushes {stream}, which does not point back"
                );
            }
        }
        for (id, stream) in self.streams.iter() {
            if let Some(conn) = stream.flushing_on {
                ensure!(
                    self.conns
                        .get(conn)
                        .is_some_and(|c| c.flushing.contains(&id)),
                    "{id} waits for {conn} to flush, which does not list it"
                );
            }
        }
        let flagged = self.conns.values().filter(|c| c.dirty).count();
        let listed = self
            .dirty
            .iter()
            .filter(|id| self.conns.get(**id).is_some_and(|c| c.dirty))
            .count();
        ensure!(
            flagged == listed,
            "{flagged} connections are flagged for output but {listed} are listed"
        );
        for (id, conn) in self.conns.iter() {
            let ready = conn.queued_bytes() > 0 && conn.unacked < super::transport::MAX_UNACKED;
            ensure!(
                !ready || conn.dirty,
                "{id} has output the adapter will never be told about"
            );
        }
        for exchange in &self.host_ready {
            ensure!(
                self.exchanges.contains_key(exchange),
                "{exchange} is marked for output but gone"
            );
        }
        ensure!(
            self.touched.is_empty() && self.conns.values().all(|c| !c.touched),
            "connections were left unsettled"
        );
        Ok(())
    }
}

impl Engine {
    /// A stateless context's own rules: no wire id, no timer, no outbound request, no detached
    /// stream; exactly one stream, attached, which its exchange carries; a listen context's
    /// stream is a listen stream, a call's is a POST stream with its one request or none.
    fn check_context(
        &self,
        key: super::ids::SessionKey,
        session: &super::entities::Session,
    ) -> Result<(), InvariantViolation> {
        ensure!(
            session.timers.armed().next().is_none(),
            "stateless {key} has a timer"
        );
        ensure!(
            // A binding names who the context is from (its principal), nothing more.
            session.wire_id.is_empty()
                && session.standalone.is_none()
                && session.backlog_bytes == 0
                && session.opened,
            "stateless {key} holds session state"
        );
        ensure!(
            session.listen.is_none() || session.inflight.is_empty(),
            "listening {key} carries requests"
        );
        ensure!(
            session.outbound.is_empty() && session.backlog.is_empty(),
            "stateless {key} holds requests to the client or a backlog"
        );
        ensure!(
            session.streams.len() == 1 && session.attached_streams == 1,
            "stateless {key} has {} streams, {} attached: it must end with its one stream",
            session.streams.len(),
            session.attached_streams
        );
        for stream in &session.streams {
            let Some(s) = self.streams.get(stream) else {
                return Err(InvariantViolation::new(alloc::format!(
                    "stateless {key} lists {stream}, which is gone"
                )));
            };
            ensure!(
                s.protocol.is_stateless(),
                "stateless {key}'s {stream} speaks {}",
                s.protocol
            );
            ensure!(
                session.listen.is_none() || matches!(s.mode, StreamMode::Sse),
                "listening {key}'s {stream} is not an SSE stream"
            );
            let expected = if session.listen.is_some() {
                StreamKind::Listen
            } else {
                StreamKind::Post
            };
            ensure!(
                s.kind == expected && s.log.len() == 0 && s.detached_order.is_none(),
                "stateless {key}'s {stream} is a {:?} stream that keeps a log or detached",
                s.kind
            );
        }
        ensure!(
            session.listen.is_some() || session.inflight.len() <= 1,
            "stateless {key} carries {} requests",
            session.inflight.len()
        );
        ensure!(
            session.listen.is_some() || session.subscriptions.is_empty(),
            "stateless {key} subscribes without listening"
        );
        Ok(())
    }
}
