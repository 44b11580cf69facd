//! [`ServerStats`] and its Prometheus text rendering.

use std::fmt::Write as _;

use mcpwire_core::Stats;
use mcpwire_core::engine::{CloseReason, Counters};

use crate::bus::BusStats;

/// What a server holds and has done: the engine's gauges and counters, and the adapter's live
/// tasks (handlers, the listener, the signal watcher; connections have none, the driver
/// polls their sockets).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// The engine's live entities and held bytes.
    pub engine: Stats,
    /// The engine's monotonic counters.
    pub counters: Counters,
    /// The adapter's live tasks.
    pub tasks: u64,
    /// Handlers' messages (and replies) waiting for room on their request's stream.
    pub waiting_messages: u64,
    /// Requests in flight with no handler at work and no reply on its way: always 0 (a
    /// request counted here would never be answered; the count exists so that tests and
    /// monitoring can prove it).
    pub unowned_requests: u64,
    /// Handler tasks and waiting messages kept for requests that ended: always 0.
    pub ownerless_tasks: u64,
    /// Inputs (accepted sockets, handlers' replies, commands, bus notices, signals) taken
    /// from the driver's queue and never served: always 0.
    pub lost_inputs: u64,
    /// The bus to the other nodes, when [`Server::bus`](crate::Server::bus) set one.
    pub bus: Option<BusStats>,
}

impl ServerStats {
    /// The Prometheus text exposition format (version 0.0.4).
    #[must_use]
    pub fn to_prometheus(&self) -> String {
        let s = &self.engine;
        let c = &self.counters;
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge("mcpwire_sessions", "Live MCP sessions.", s.sessions);
        gauge(
            "mcpwire_stateless_requests",
            "2026-07-28 requests being answered, each in its stateless context.",
            s.stateless_requests,
        );
        gauge(
            "mcpwire_subscriptions",
            "Open 2026-07-28 subscriptions/listen streams.",
            s.subscriptions,
        );
        gauge(
            "mcpwire_connections",
            "Open TCP connections.",
            s.connections,
        );
        gauge(
            "mcpwire_exchanges",
            "HTTP requests being answered.",
            s.exchanges,
        );
        gauge(
            "mcpwire_streams",
            "Open or resumable SSE streams.",
            s.streams,
        );
        gauge(
            "mcpwire_inflight_requests",
            "Client requests awaiting the application.",
            s.inflight_requests,
        );
        gauge(
            "mcpwire_outbound_requests",
            "Requests to clients awaiting an answer.",
            s.outbound_requests,
        );
        gauge(
            "mcpwire_timers_armed",
            "Armed engine timers.",
            s.timers_armed,
        );
        gauge(
            "mcpwire_queued_bytes",
            "Output bytes queued in the engine.",
            s.queued_bytes,
        );
        gauge(
            "mcpwire_buffered_bytes",
            "Input bytes buffered by the HTTP codec.",
            s.buffered_bytes,
        );
        gauge(
            "mcpwire_resumption_log_bytes",
            "Bytes kept for stream resumption.",
            s.resumption_log_bytes,
        );
        gauge(
            "mcpwire_pending_events",
            "Engine events waiting for the adapter.",
            s.pending_events,
        );
        gauge(
            "mcpwire_pending_verifications",
            "Bearer tokens the verifier is verifying.",
            s.pending_verifications,
        );
        gauge(
            "mcpwire_cached_grants",
            "Verified tokens' grants kept until they expire.",
            s.cached_grants,
        );
        gauge("mcpwire_tasks", "The adapter's live tasks.", self.tasks);
        gauge(
            "mcpwire_waiting_messages",
            "Handler messages waiting for room on their request's stream.",
            self.waiting_messages,
        );
        gauge(
            "mcpwire_unowned_requests",
            "Requests in flight with no handler at work and no reply on its way (always 0).",
            self.unowned_requests,
        );
        gauge(
            "mcpwire_ownerless_tasks",
            "Handler tasks and waiting messages kept for requests that ended (always 0).",
            self.ownerless_tasks,
        );
        gauge(
            "mcpwire_lost_inputs",
            "Driver inputs taken from its queue and never served (always 0).",
            self.lost_inputs,
        );
        let name = "mcpwire_held_bytes";
        let _ = writeln!(
            out,
            "# HELP {name} Bytes held for clients, by what they are held for.\n# TYPE {name} gauge"
        );
        let h = &s.held;
        for (kind, value) in [
            ("input", h.input),
            ("output", h.output),
            ("resume_logs", h.resume_logs),
            ("detached_streams", h.detached_streams),
            ("json_responses", h.json_responses),
            ("backlogs", h.backlogs),
            ("sessions", h.sessions),
            ("subscriptions", h.subscriptions),
            ("requests", h.requests),
            ("events", h.events),
        ] {
            let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {value}");
        }
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "mcpwire_connections_accepted_total",
            "Connections accepted.",
            c.connections_accepted,
        );
        counter(
            "mcpwire_http_requests_total",
            "HTTP requests routed.",
            c.http_requests,
        );
        counter(
            "mcpwire_sessions_opened_total",
            "Sessions opened.",
            c.sessions_opened,
        );
        counter(
            "mcpwire_slow_readers_disconnected_total",
            "Connections cut for reading too slowly.",
            c.slow_readers_disconnected,
        );
        counter(
            "mcpwire_write_timeouts_total",
            "Connections cut because output made no progress.",
            c.write_timeouts,
        );
        counter(
            "mcpwire_request_read_timeouts_total",
            "Connections cut because a request arrived too slowly.",
            c.request_read_timeouts,
        );
        counter(
            "mcpwire_requests_cancelled_total",
            "Client requests cancelled.",
            c.requests_cancelled,
        );
        counter(
            "mcpwire_connections_refused_total",
            "Connections answered 503 or refused at a connection cap or during shutdown.",
            c.connections_refused,
        );
        counter(
            "mcpwire_verifications_total",
            "Bearer tokens the verifier was asked about.",
            c.verifications_requested,
        );
        counter(
            "mcpwire_verifications_refused_total",
            "Requests answered 503 because too many tokens were being verified.",
            c.verifications_refused,
        );
        counter(
            "mcpwire_verification_timeouts_total",
            "Verifications the verifier did not answer in time.",
            c.verification_timeouts,
        );
        counter(
            "mcpwire_verifications_abandoned_total",
            "Verifications ended because every request waiting for them went away.",
            c.verifications_abandoned,
        );
        counter(
            "mcpwire_tokens_granted_total",
            "Tokens the verifier granted.",
            c.tokens_granted,
        );
        counter(
            "mcpwire_tokens_refused_total",
            "Tokens the verifier refused.",
            c.tokens_refused,
        );
        counter(
            "mcpwire_auth_challenges_total",
            "Requests answered 401, 400 or 403 with WWW-Authenticate.",
            c.auth_challenges,
        );
        counter(
            "mcpwire_proxied_connections_total",
            "Connections whose PROXY protocol header, from a trusted proxy, named the client.",
            c.proxied_connections,
        );
        counter(
            "mcpwire_proxy_headers_refused_total",
            "Connections from a trusted proxy refused for a PROXY protocol header.",
            c.proxy_headers_refused,
        );
        counter(
            "mcpwire_detached_streams_evicted_total",
            "Detached streams evicted to keep a session or the server within its byte budget.",
            c.detached_streams_evicted,
        );
        counter(
            "mcpwire_reports_dropped_total",
            "Exchange reports (the request log) dropped while the log was full.",
            c.reports_dropped,
        );
        counter(
            "mcpwire_budget_refusals_total",
            "New work refused (503) for want of room in the byte budget.",
            c.budget_refusals,
        );
        counter(
            "mcpwire_handler_waits_total",
            "Handler messages that waited for room on their request's stream.",
            c.handler_waits,
        );
        counter(
            "mcpwire_responses_too_large_total",
            "Results over the message limit, answered with an error instead.",
            c.responses_too_large,
        );
        counter(
            "mcpwire_budget_sheds_total",
            "Times the byte budget's last resort acted (a session closed over its cap).",
            c.budget_sheds,
        );
        let name = "mcpwire_sessions_closed_total";
        let _ = writeln!(
            out,
            "# HELP {name} Sessions closed, by reason.\n# TYPE {name} counter"
        );
        for (reason, count) in CloseReason::ALL.iter().zip(c.sessions_closed) {
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {count}", reason.label());
        }
        if let Some(bus) = &self.bus {
            bus_metrics(&mut out, bus);
        }
        out
    }
}

/// The bus's lines: only a server with a bus has them.
fn bus_metrics(out: &mut String, bus: &BusStats) {
    for (kind, name, help, value) in [
        (
            "gauge",
            "mcpwire_bus_connected",
            "Whether the bus to the other nodes is connected (1) or not (0).",
            u64::from(bus.connected),
        ),
        (
            "gauge",
            "mcpwire_bus_queued_bytes",
            "Bytes of publications waiting for the bus.",
            bus.queued_bytes,
        ),
        (
            "counter",
            "mcpwire_bus_published_total",
            "Broadcasts and resource updates published to the other nodes.",
            bus.published,
        ),
        (
            "counter",
            "mcpwire_bus_received_total",
            "Broadcasts and resource updates received from other nodes and delivered here.",
            bus.received,
        ),
        (
            "counter",
            "mcpwire_bus_dropped_total",
            "Publications dropped: the queue was full, or the bus could not send them.",
            bus.dropped,
        ),
        (
            "counter",
            "mcpwire_bus_refused_total",
            "Messages from the bus that were not notices of a node, and were ignored.",
            bus.refused,
        ),
        (
            "counter",
            "mcpwire_bus_reconnects_total",
            "Connections to the bus made again after one was lost.",
            bus.reconnects,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}
