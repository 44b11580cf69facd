//! [`Stats`]: the leak accounting every component reports, cheap enough to read after every step.
//!
//! Gauges count what is alive now and must all return to zero once every peer has gone and
//! every timeout has passed; counters only grow. The simulator's liveness phase and the
//! adapters' `/metrics` both read this one struct, so a leak seen in one is seen in the other.

use core::fmt;

/// Live entities, armed timers and buffered bytes, plus a few monotonic counters.
///
/// # Examples
///
/// ```
/// use mcpwire_core::Stats;
///
/// let mut stats = Stats::default();
/// assert!(stats.is_quiescent());
/// stats.sessions = 2;
/// stats.timers_armed = 2;
/// let residue: Vec<_> = stats.residue().collect();
/// assert_eq!(residue, [("sessions", 2), ("timers_armed", 2)]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Open transport connections.
    pub connections: u64,
    /// HTTP requests received and not yet answered in full.
    pub exchanges: u64,
    /// Live MCP sessions (2024-11-05 to 2025-11-25).
    pub sessions: u64,
    /// 2026-07-28 requests being answered, each in its stateless context.
    pub stateless_requests: u64,
    /// Open 2026-07-28 `subscriptions/listen` streams.
    pub subscriptions: u64,
    /// Open or resumable SSE streams.
    pub streams: u64,
    /// Client-to-server requests awaiting the application's response.
    pub inflight_requests: u64,
    /// Server-to-client requests awaiting the client's response.
    pub outbound_requests: u64,
    /// Armed timers across every entity.
    pub timers_armed: u64,
    /// Output bytes queued in the core, not yet taken by the adapter.
    pub queued_bytes: u64,
    /// Input bytes held by the HTTP codec: partial heads and bodies, pipelined requests.
    pub buffered_bytes: u64,
    /// Events held in resumption logs.
    pub resumption_log_events: u64,
    /// Bytes held in resumption logs.
    pub resumption_log_bytes: u64,
    /// Events waiting for the application to poll them.
    pub pending_events: u64,
    /// Bearer tokens the application is verifying.
    pub pending_verifications: u64,
    /// Verified tokens' grants kept until they expire.
    pub cached_grants: u64,
    /// Every byte held for peers, by what it is held for.
    pub held: HeldBytes,

    /// Connections accepted since start.
    pub connections_accepted_total: u64,
    /// Sessions opened since start.
    pub sessions_opened_total: u64,
    /// Sessions closed since start, for any reason.
    pub sessions_closed_total: u64,
    /// Inputs whose `now` went back in time and was clamped.
    pub clock_regressions_total: u64,
}

impl Stats {
    /// Every gauge with its name: the quantities that must return to zero.
    #[must_use]
    pub fn gauges(&self) -> [(&'static str, u64); 23] {
        [
            ("connections", self.connections),
            ("exchanges", self.exchanges),
            ("sessions", self.sessions),
            ("stateless_requests", self.stateless_requests),
            ("subscriptions", self.subscriptions),
            ("streams", self.streams),
            ("inflight_requests", self.inflight_requests),
            ("outbound_requests", self.outbound_requests),
            ("timers_armed", self.timers_armed),
            ("queued_bytes", self.queued_bytes),
            ("buffered_bytes", self.buffered_bytes),
            ("resumption_log_events", self.resumption_log_events),
            ("resumption_log_bytes", self.resumption_log_bytes),
            ("pending_events", self.pending_events),
            ("pending_verifications", self.pending_verifications),
            ("cached_grants", self.cached_grants),
            ("detached_stream_bytes", self.held.detached_streams),
            ("json_response_bytes", self.held.json_responses),
            ("backlog_bytes", self.held.backlogs),
            ("session_bytes", self.held.sessions),
            ("subscription_bytes", self.held.subscriptions),
            ("request_bytes", self.held.requests),
            ("event_bytes", self.held.events),
        ]
    }

    /// The gauges that are not zero, by name: what is still alive.
    pub fn residue(&self) -> impl Iterator<Item = (&'static str, u64)> {
        self.gauges().into_iter().filter(|&(_, value)| value != 0)
    }

    /// Whether every gauge is zero: nothing alive, nothing armed, nothing buffered.
    #[must_use]
    pub fn is_quiescent(&self) -> bool {
        self.residue().next().is_none()
    }
}

/// The bytes an engine holds for its peers, by what they are held for: the quantities its byte
/// budget (`Limits::max_held_bytes`) bounds. Input, output and resume logs are also in
/// [`Stats::buffered_bytes`], [`Stats::queued_bytes`] and [`Stats::resumption_log_bytes`].
///
/// # Examples
///
/// ```
/// use mcpwire_core::HeldBytes;
///
/// let mut held = HeldBytes::default();
/// held.input = 10;
/// held.subscriptions = 5;
/// assert_eq!(held.total(), 15);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldBytes {
    /// Requests being read: partial heads and bodies, pipelined requests.
    pub input: u64,
    /// Responses queued for connections and request-level exchanges, written or not yet taken.
    pub output: u64,
    /// Resume logs of streams that have a connection.
    pub resume_logs: u64,
    /// Resume logs of detached streams, kept for a client that may resume them.
    pub detached_streams: u64,
    /// Responses collected to be sent as one JSON body (a batch).
    pub json_responses: u64,
    /// Unsolicited messages waiting for a session's GET stream.
    pub backlogs: u64,
    /// Session ids, bound credentials, client info and capabilities.
    pub sessions: u64,
    /// Subscribed resource URIs.
    pub subscriptions: u64,
    /// Requests in flight (their ids and params, which the application holds while it works),
    /// and application-path requests awaiting their answer.
    pub requests: u64,
    /// Events waiting for the application (a request's event is counted in `requests`).
    pub events: u64,
}

impl HeldBytes {
    /// Every byte, whatever it is held for.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.input
            + self.output
            + self.resume_logs
            + self.detached_streams
            + self.json_responses
            + self.backlogs
            + self.sessions
            + self.subscriptions
            + self.requests
            + self.events
    }
}

impl fmt::Display for Stats {
    /// The non-zero gauges, as `name=value` pairs, or `quiescent`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.residue() {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
            first = false;
        }
        if first {
            f.write_str("quiescent")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_do_not_count_as_residue() {
        let stats = Stats {
            sessions_opened_total: 10,
            sessions_closed_total: 10,
            connections_accepted_total: 3,
            clock_regressions_total: 1,
            ..Stats::default()
        };
        assert!(stats.is_quiescent());
        assert_eq!(alloc::format!("{stats}"), "quiescent");
    }

    #[test]
    fn display_names_what_is_alive() {
        let stats = Stats {
            streams: 1,
            queued_bytes: 17,
            ..Stats::default()
        };
        assert_eq!(alloc::format!("{stats}"), "streams=1 queued_bytes=17");
        assert!(!stats.is_quiescent());
    }
}
