//! Time: the next deadline, and what happens when each kind of timer fires.

use super::Engine;
use super::entities::{
    ConnTimer, InflightTimer, OutboundTimer, SessionTimer, StreamTimer, VerificationTimer,
};
use super::events::{CancelReason, ClientError, CloseReason};
use super::ids::SessionKey;
use crate::time::Instant;

impl Engine {
    /// When [`Engine::handle_timeout`] must next be called: the earliest armed deadline, or the
    /// current time while events or socket output are waiting to be taken. `None` when nothing
    /// is pending at all.
    ///
    /// Output of request-level exchanges does not count: a host pulls it at its consumer's
    /// pace (see [`Engine::exchanges_with_output`]), and a slow consumer must not make the
    /// engine's deadline spin.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty()
            || !self.closing.is_empty()
            || !self.dirty.is_empty()
            || !self.reports.is_empty()
        {
            return Some(self.now());
        }
        [
            self.conn_timers.next_deadline(),
            self.session_timers.next_deadline(),
            self.stream_timers.next_deadline(),
            self.inflight_timers.next_deadline(),
            self.outbound_timers.next_deadline(),
            self.verifications.timers.next_deadline(),
            self.verifications.next_expiry(),
            self.shutdown_deadline.filter(|_| !self.shutdown_forced),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        while let Some((conn, timer)) =
            self.conn_timers.pop_expired(now, &mut self.conns, |m, id| {
                m.get_mut(id).map(|c| &mut c.timers)
            })
        {
            match timer {
                ConnTimer::RequestRead => {
                    self.counters.request_read_timeouts += 1;
                    self.request_read_timeout(conn);
                }
                ConnTimer::Idle => {
                    self.counters.idle_connections_closed += 1;
                    self.remove_conn(conn, true);
                }
                ConnTimer::Write => self.write_deadline(conn),
            }
        }
        while let Some((session, timer)) =
            self.session_timers
                .pop_expired(now, &mut self.sessions, |m, id| {
                    m.get_mut(id).map(|s| &mut s.timers)
                })
        {
            match timer {
                SessionTimer::Idle => self.end_session(session, CloseReason::IdleTimeout),
                SessionTimer::Init => self.end_session(session, CloseReason::InitTimeout),
                SessionTimer::Heartbeat => self.heartbeat(session),
            }
        }
        while let Some((stream, timer)) =
            self.stream_timers
                .pop_expired(now, &mut self.streams, |m, id| {
                    m.get_mut(id).map(|s| &mut s.timers)
                })
        {
            match timer {
                StreamTimer::Keepalive => self.keepalive(stream),
                StreamTimer::Linger => self.end_stream(stream),
                StreamTimer::Upgrade => self.upgrade_stream(stream),
            }
        }
        while let Some((inflight, InflightTimer::Timeout)) =
            self.inflight_timers
                .pop_expired(now, &mut self.inflight, |m, id| {
                    m.get_mut(id).map(|i| &mut i.timers)
                })
        {
            self.end_inflight(inflight, Some(CancelReason::Timeout));
        }
        while let Some((outbound, OutboundTimer::Timeout)) =
            self.outbound_timers
                .pop_expired(now, &mut self.outbound, |m, id| {
                    m.get_mut(id).map(|o| &mut o.timers)
                })
        {
            self.end_outbound(outbound, Some(Err(ClientError::Timeout)));
        }
        while let Some((verification, VerificationTimer::Timeout)) = self
            .verifications
            .timers
            .pop_expired(now, &mut self.verifications.pending, |m, id| {
                m.get_mut(id).map(|p| &mut p.timers)
            })
        {
            self.verification_timeout(verification);
        }
        self.expire_grants(now);
        if !self.shutdown_forced
            && self
                .shutdown_deadline
                .is_some_and(|deadline| now >= deadline)
        {
            self.force_shutdown();
        }
        self.settle();
    }

    /// Arms the heartbeat of a session that just finished initializing, if configured.
    pub(super) fn arm_heartbeat(&mut self, session: SessionKey) {
        let Some(heartbeat) = self.config.timeouts.heartbeat else {
            return;
        };
        let deadline = self.now() + heartbeat.interval;
        if let Some(s) = self.sessions.get_mut(session) {
            self.session_timers
                .set(&mut s.timers, session, SessionTimer::Heartbeat, deadline);
        }
    }

    /// Sends a heartbeat ping on the session's GET stream, if it has one and no ping is
    /// outstanding, and re-arms.
    fn heartbeat(&mut self, session: SessionKey) {
        let Some(heartbeat) = self.config.timeouts.heartbeat else {
            return;
        };
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let outstanding = s
            .outbound
            .values()
            .any(|id| self.outbound.get(id).is_some_and(|o| o.heartbeat));
        let has_stream = s
            .standalone
            .is_some_and(|id| self.streams.get(id).is_some_and(|st| st.exchange.is_some()));
        if has_stream && !outstanding {
            let _ = self.send_client_request(session, None, "ping", None, heartbeat.timeout, true);
            self.counters.heartbeats_sent += 1;
        }
        self.arm_heartbeat(session);
    }

    /// A heartbeat ping was answered (`ok`) or failed.
    pub(super) fn heartbeat_answered(&mut self, session: SessionKey, ok: bool) {
        let max = self
            .config
            .timeouts
            .heartbeat
            .map_or(u32::MAX, |h| h.max_failures);
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        if ok {
            s.heartbeat_failures = 0;
            return;
        }
        s.heartbeat_failures += 1;
        self.counters.heartbeat_failures += 1;
        if s.heartbeat_failures >= max {
            self.end_session(session, CloseReason::HeartbeatFailed);
        }
    }
}
