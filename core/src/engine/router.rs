//! From an HTTP request to what it asks of the engine: the endpoint's methods, the legacy
//! HTTP+SSE endpoints, and every refusal with its status and JSON-RPC error.
//!
//! Status codes and messages follow the official TypeScript SDK, so that clients written
//! against it see what they expect.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::Engine;
use super::entities::{SessionKind, StreamKind, StreamMode};
use super::http_rules;
use super::ids::{ExchangeId, SessionKey};
use super::messages::ResponseTarget;
use super::protocol::ProtocolVersion;
use crate::http1::{Method, Request};
use crate::jsonrpc::{self, ErrorCode, Incoming, InvalidMessage, Message, RequestId};

impl Engine {
    /// Answers, or starts answering, one HTTP request.
    pub(super) fn route(&mut self, exchange: ExchangeId, request: Request) {
        self.counters.http_requests += 1;
        self.draft_report(exchange, &request);
        if self.config.health_path.as_deref() == Some(request.path()) {
            return self.serve_health(exchange, &request);
        }
        if !http_rules::host_allowed(&request, &self.allowed_hosts) {
            return self.reject(
                exchange,
                403,
                ErrorCode::SERVER_ERROR,
                "Forbidden: Host not allowed",
            );
        }
        if !http_rules::origin_allowed(&request, &self.config.allowed_origins) {
            return self.reject(
                exchange,
                403,
                ErrorCode::SERVER_ERROR,
                "Forbidden: Origin not allowed",
            );
        }
        if let Some(name) = self.config.session_binding.as_deref() {
            // Which of two values would a session be bound to, or checked against? Neither:
            // a proxy may read the other one, so the request is ambiguous.
            if request.header_values(name).nth(1).is_some() {
                let message = format!("Bad Request: the {name} header appears more than once");
                return self.reject(exchange, 400, ErrorCode::SERVER_ERROR, &message);
            }
        }
        let path = request.path();
        if self.serves_metadata(path) {
            return self.serve_metadata(exchange, &request);
        }
        if self.config.application_paths.iter().any(|p| p == path) {
            return self.route_to_application(exchange, request);
        }
        let legacy = self
            .config
            .legacy
            .as_ref()
            .is_some_and(|l| path == l.sse || path == l.messages);
        if path != self.config.endpoint && !legacy {
            return self.reject(exchange, 404, ErrorCode::SERVER_ERROR, "Not Found");
        }
        if let super::auth::Gate::Through(request) = self.gate(exchange, request) {
            self.route_protected(exchange, request);
        }
    }

    /// Routes a request for the MCP endpoint or the HTTP+SSE endpoints, past the resource
    /// server's gate (when there is one).
    pub(super) fn route_protected(&mut self, exchange: ExchangeId, request: Request) {
        let path = request.path();
        if path == self.config.endpoint {
            if request.method() != Method::Post && http_rules::names_stateless_version(&request) {
                // The stateless era has no GET stream and no session to delete.
                return self.reject_with(
                    exchange,
                    None,
                    405,
                    ErrorCode::SERVER_ERROR,
                    "Method not allowed: protocol version 2026-07-28 uses POST only.",
                    &[("allow", "POST")],
                );
            }
            return match request.method() {
                Method::Post => self.post(exchange, &request),
                Method::Get => self.get(exchange, &request),
                Method::Delete => self.delete(exchange, &request),
                _ => self.method_not_allowed(exchange, "GET, POST, DELETE"),
            };
        }
        if let Some(legacy) = &self.config.legacy {
            if path == legacy.sse {
                return match request.method() {
                    Method::Get => self.legacy_open(exchange, &request),
                    _ => self.method_not_allowed(exchange, "GET"),
                };
            }
            if path == legacy.messages {
                return match request.method() {
                    Method::Post => self.legacy_post(exchange, &request),
                    _ => self.method_not_allowed(exchange, "POST"),
                };
            }
        }
        self.reject(exchange, 404, ErrorCode::SERVER_ERROR, "Not Found")
    }

    /// A complete error response: `status`, and a JSON-RPC error with `code` and `message`.
    pub(super) fn reject(
        &mut self,
        exchange: ExchangeId,
        status: u16,
        code: ErrorCode,
        message: &str,
    ) {
        self.reject_request(exchange, None, status, code, message);
    }

    /// As `reject`, for a body whose one request has `id`: the error names it, so the client
    /// can fail that request rather than guess (JSON-RPC uses null only when the id is unknown).
    fn reject_request(
        &mut self,
        exchange: ExchangeId,
        id: Option<&RequestId>,
        status: u16,
        code: ErrorCode,
        message: &str,
    ) {
        self.reject_with(exchange, id, status, code, message, &[]);
    }

    pub(super) fn reject_with(
        &mut self,
        exchange: ExchangeId,
        id: Option<&RequestId>,
        status: u16,
        code: ErrorCode,
        message: &str,
        extra: &[(&str, &str)],
    ) {
        self.counters.rejected_requests += 1;
        let body = jsonrpc::error_body(id, code, message);
        let mut headers = vec![("content-type", "application/json")];
        headers.extend_from_slice(extra);
        self.send_full(exchange, status, &headers, &body);
    }

    /// `405` for a method the path does not take, with the ones it does.
    pub(super) fn method_not_allowed(&mut self, exchange: ExchangeId, allow: &str) {
        self.reject_with(
            exchange,
            None,
            405,
            ErrorCode::SERVER_ERROR,
            "Method not allowed.",
            &[("allow", allow)],
        );
    }

    pub(super) fn unavailable(&mut self, exchange: ExchangeId, id: Option<&RequestId>, why: &str) {
        self.reject_with(
            exchange,
            id,
            503,
            ErrorCode::SERVER_ERROR,
            &format!("Service Unavailable: {why}"),
            &[("retry-after", "1")],
        );
    }

    /// The version header, or the 400 that refuses it (naming `id`, the body's one request).
    fn version_header(
        &mut self,
        exchange: ExchangeId,
        request: &Request,
        id: Option<&RequestId>,
    ) -> Result<Option<ProtocolVersion>, ()> {
        http_rules::protocol_header(request).map_err(|value| {
            let supported: Vec<&str> = ProtocolVersion::SESSION_ERA
                .iter()
                .rev()
                .map(|v| v.as_str())
                .collect();
            let message = format!(
                "Bad Request: Unsupported protocol version: {value} (supported versions: {})",
                supported.join(", ")
            );
            self.reject_request(exchange, id, 400, ErrorCode::SERVER_ERROR, &message);
        })
    }

    /// The session named by `Mcp-Session-Id`, or the 400/404 that refuses the request (naming
    /// `id`, the body's one request).
    fn session_of(
        &mut self,
        exchange: ExchangeId,
        request: &Request,
        id: Option<&RequestId>,
    ) -> Option<SessionKey> {
        let Some(wire_id) = request.header_str("mcp-session-id") else {
            self.reject_request(
                exchange,
                id,
                400,
                ErrorCode::SERVER_ERROR,
                "Bad Request: Mcp-Session-Id header is required",
            );
            return None;
        };
        match self.session_by_wire_id.get(wire_id.trim()) {
            Some(&key)
                if self.sessions.get(key).is_some_and(|s| {
                    s.kind == SessionKind::Streamable && self.binding_holds(s, exchange, request)
                }) =>
            {
                self.note_session(exchange, key);
                Some(key)
            }
            _ => {
                self.reject_request(
                    exchange,
                    id,
                    404,
                    ErrorCode::SESSION_NOT_FOUND,
                    "Session not found",
                );
                None
            }
        }
    }

    /// Whether `request` comes from who `session` was created by (always, when sessions are
    /// not bound): its grant's principal when a resource server is configured, else the
    /// `Config::session_binding` header. Compared in time independent of where the values
    /// differ.
    fn binding_holds(
        &self,
        session: &super::entities::Session,
        exchange: ExchangeId,
        request: &Request,
    ) -> bool {
        // Borrowed, not copied: this runs for every request of a bound session.
        let sent = if self.config.auth.is_some() {
            self.exchanges
                .get(exchange)
                .and_then(|e| e.grant.as_ref())
                .map(|g| g.principal.as_bytes())
        } else {
            let Some(name) = self.config.session_binding.as_deref() else {
                return true;
            };
            request.header(name)
        };
        match (session.binding.as_deref(), sent) {
            (None, None) => true,
            (Some(kept), Some(sent)) if kept.len() == sent.len() => {
                kept.iter().zip(sent).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
            }
            _ => false,
        }
    }

    /// A request for an application path: the application answers with `respond_http`.
    fn route_to_application(&mut self, exchange: ExchangeId, request: Request) {
        let bytes = request.body().len();
        if self.events_full() || self.admits(None, bytes).is_err() {
            return self.unavailable(exchange, None, "the application is busy");
        }
        if let Some(ex) = self.exchanges.get_mut(exchange) {
            ex.awaiting_application = true;
            ex.application_bytes = bytes;
        }
        self.charge(super::budget::Holding::Requests, None, bytes);
        self.emit(super::Event::HttpRequest { exchange, request });
    }

    /// Live sessions, not counting stateless contexts (which `max_sessions` does not bound).
    pub(super) fn session_count(&self) -> usize {
        self.sessions.len() - self.stateless_contexts
    }

    pub(super) fn events_full(&self) -> bool {
        self.events.len() >= self.config.limits.max_pending_events
    }

    fn post(&mut self, exchange: ExchangeId, request: &Request) {
        if !http_rules::accepts(request, "application/json")
            || !http_rules::accepts(request, "text/event-stream")
        {
            return self.reject(
                exchange,
                406,
                ErrorCode::SERVER_ERROR,
                "Not Acceptable: Client must accept both application/json and text/event-stream",
            );
        }
        if !http_rules::is_json(request) {
            return self.reject(
                exchange,
                415,
                ErrorCode::SERVER_ERROR,
                "Unsupported Media Type: Content-Type must be application/json",
            );
        }
        let Some((messages, batch)) = self.decode_body(exchange, request) else {
            return;
        };
        if !self.scopes_suffice(exchange, &messages) {
            return;
        }
        if Self::is_stateless_post(request, &messages, batch) {
            return self.stateless_post(exchange, request, messages, batch);
        }
        let initialize = messages
            .iter()
            .position(|m| matches!(m, Ok(Message::Request(r)) if r.method == "initialize"));
        if let Some(index) = initialize {
            if batch {
                return self.reject(
                    exchange,
                    400,
                    ErrorCode::INVALID_REQUEST,
                    "Invalid Request: Only one initialization request is allowed",
                );
            }
            if request.header("mcp-session-id").is_some() {
                return self.reject(
                    exchange,
                    400,
                    ErrorCode::INVALID_REQUEST,
                    "Invalid Request: Server already initialized",
                );
            }
            let Some(Ok(Message::Request(init))) = messages.into_iter().nth(index) else {
                return;
            };
            // The version is negotiated in the body; the header is not checked here (as the
            // TypeScript SDK does not), since a client may send its preferred version there.
            let binding = self.identity(exchange, request);
            return self.initialize(exchange, init, binding);
        }
        let id = single_request_id(&messages, batch);
        let Ok(header_version) = self.version_header(exchange, request, id.as_ref()) else {
            return;
        };
        let effective = header_version.unwrap_or(ProtocolVersion::V2025_03_26);
        if batch && !effective.allows_batches() {
            let message =
                format!("Invalid Request: batches are not allowed in protocol version {effective}");
            return self.reject(exchange, 400, ErrorCode::INVALID_REQUEST, &message);
        }
        let Some(session) = self.session_of(exchange, request, id.as_ref()) else {
            return;
        };
        if self.events_full() {
            return self.unavailable(exchange, id.as_ref(), "the application is not keeping up");
        }
        if id.is_some() && self.inflight.len() >= self.config.limits.max_inflight_total {
            return self.unavailable(exchange, id.as_ref(), "too many requests in flight");
        }
        let holds = super::budget::new_work_bytes(request.body().len(), messages.len());
        if let Err(why) = self.admits(Some(session), holds) {
            return self.unavailable(exchange, id.as_ref(), why);
        }
        let version = header_version.unwrap_or_else(|| self.sessions[session].protocol);
        self.deliver(
            session,
            messages,
            ResponseTarget::Post {
                exchange,
                batch,
                version,
            },
        );
    }

    /// The messages of a POST body, or the 400 that refuses it.
    fn decode_body(
        &mut self,
        exchange: ExchangeId,
        request: &Request,
    ) -> Option<(Vec<Result<Message, InvalidMessage>>, bool)> {
        let decoded = match jsonrpc::decode(request.body()) {
            Ok(Incoming::Single(message)) => (vec![Ok(message)], false),
            Ok(Incoming::Batch(entries)) => (entries, true),
            Err(error) => {
                self.counters.rejected_requests += 1;
                let body = jsonrpc::error_body(error.id.as_ref(), error.code, &format!("{error}"));
                self.send_full(
                    exchange,
                    400,
                    &[("content-type", "application/json")],
                    &body,
                );
                return None;
            }
        };
        self.note_request(exchange, &decoded.0, decoded.1);
        Some(decoded)
    }

    fn initialize(
        &mut self,
        exchange: ExchangeId,
        init: jsonrpc::Request,
        binding: Option<Box<[u8]>>,
    ) {
        let id = Some(&init.id);
        let binding_bytes = binding.as_ref().map_or(0, |b| b.len());
        match self.initialize_refusal(init.params.as_deref(), binding_bytes) {
            None => {}
            Some(InitializeRefusal::Unavailable(why)) => {
                return self.unavailable(exchange, id, why);
            }
            Some(InitializeRefusal::MetadataTooLarge(message)) => {
                let body = jsonrpc::error_body(id, ErrorCode::INVALID_PARAMS, &message);
                return self.send_full(
                    exchange,
                    400,
                    &[("content-type", "application/json")],
                    &body,
                );
            }
        }
        let version = super::messages::negotiate(init.params.as_deref());
        let session = self.open_session(SessionKind::Streamable, binding);
        self.note_session(exchange, session);
        self.deliver(
            session,
            vec![Ok(Message::Request(init))],
            ResponseTarget::Post {
                exchange,
                batch: false,
                version,
            },
        );
    }

    /// Why an `initialize` cannot open a session now (`None`: it can), the same on every
    /// transport: shutting down, the session cap, the application's queue, the client's
    /// metadata (kept for the session's life), and the room the session will hold.
    pub(super) fn initialize_refusal(
        &mut self,
        params: Option<&serde_json::value::RawValue>,
        binding_bytes: usize,
    ) -> Option<InitializeRefusal> {
        if self.shutdown_deadline.is_some() {
            return Some(InitializeRefusal::Unavailable("shutting down"));
        }
        if self.session_count() >= self.config.limits.max_sessions {
            self.counters.sessions_refused += 1;
            return Some(InitializeRefusal::Unavailable("too many sessions"));
        }
        if self.events_full() {
            return Some(InitializeRefusal::Unavailable(
                "the application is not keeping up",
            ));
        }
        let limit = self.config.limits.max_client_metadata_bytes;
        let metadata = super::messages::client_metadata_bytes(params);
        if metadata > limit {
            self.counters.rejected_requests += 1;
            return Some(InitializeRefusal::MetadataTooLarge(format!(
                "Invalid params: clientInfo and capabilities take {metadata} bytes, over the \
                 limit of {limit}"
            )));
        }
        let keeps = super::budget::new_work_bytes(params.map_or(0, |p| p.get().len()), 1)
            + binding_bytes
            + super::budget::SESSION_BYTES;
        if self.admits(None, keeps).is_err() {
            return Some(InitializeRefusal::Unavailable("the server holds too much"));
        }
        None
    }

    fn get(&mut self, exchange: ExchangeId, request: &Request) {
        if !http_rules::accepts(request, "text/event-stream") {
            return self.reject(
                exchange,
                406,
                ErrorCode::SERVER_ERROR,
                "Not Acceptable: Client must accept text/event-stream",
            );
        }
        let Ok(header_version) = self.version_header(exchange, request, None) else {
            return;
        };
        let Some(session) = self.session_of(exchange, request, None) else {
            return;
        };
        let version = header_version.unwrap_or_else(|| self.sessions[session].protocol);
        if let Some(last_event_id) = request.header_str("last-event-id") {
            let last_event_id = String::from(last_event_id.trim());
            return self.resume(exchange, session, &last_event_id);
        }
        if self.shutdown_deadline.is_some() {
            return self.unavailable(exchange, None, "shutting down");
        }
        self.backlog_makes_room_for_stream(session);
        if let Err(why) = self.admits(Some(session), 0) {
            return self.unavailable(exchange, None, why);
        }
        if let Some(existing) = self.sessions[session].standalone {
            if self
                .streams
                .get(existing)
                .is_some_and(|s| s.exchange.is_some())
            {
                return self.reject(
                    exchange,
                    409,
                    ErrorCode::SERVER_ERROR,
                    "Conflict: Only one SSE stream is allowed per session",
                );
            }
            // A new GET without Last-Event-ID does not resume: the detached stream is done.
            self.end_stream(existing);
        }
        let stream = self.new_stream(session, StreamKind::Standalone, StreamMode::Sse, version);
        if let Some(s) = self.sessions.get_mut(session) {
            s.standalone = Some(stream);
        }
        self.attach_stream(stream, exchange);
        self.start_sse(stream, true);
        self.flush_backlog(session);
    }

    fn delete(&mut self, exchange: ExchangeId, request: &Request) {
        if self.version_header(exchange, request, None).is_err() {
            return;
        }
        let Some(session) = self.session_of(exchange, request, None) else {
            return;
        };
        self.end_session(session, super::CloseReason::Deleted);
        self.send_full(exchange, 200, &[], b"");
    }

    fn legacy_open(&mut self, exchange: ExchangeId, request: &Request) {
        if !http_rules::accepts(request, "text/event-stream") {
            return self.reject(
                exchange,
                406,
                ErrorCode::SERVER_ERROR,
                "Not Acceptable: Client must accept text/event-stream",
            );
        }
        if self.shutdown_deadline.is_some() {
            return self.unavailable(exchange, None, "shutting down");
        }
        if self.session_count() >= self.config.limits.max_sessions {
            self.counters.sessions_refused += 1;
            return self.unavailable(exchange, None, "too many sessions");
        }
        let binding = self.identity(exchange, request);
        if self
            .admits(None, binding.as_ref().map_or(0, |b| b.len()) + 64)
            .is_err()
        {
            return self.unavailable(exchange, None, "the server holds too much");
        }
        let session = self.open_session(SessionKind::Legacy, binding);
        self.note_session(exchange, session);
        let stream = self.new_stream(
            session,
            StreamKind::Legacy,
            StreamMode::Sse,
            ProtocolVersion::V2024_11_05,
        );
        if let Some(s) = self.sessions.get_mut(session) {
            s.standalone = Some(stream);
        }
        // The endpoint is read before anything is written: a write can end the session (an
        // output limit smaller than the first bytes).
        let messages_path = self
            .config
            .legacy
            .as_ref()
            .map_or("", |l| l.messages.as_str());
        let separator = if messages_path.contains('?') {
            '&'
        } else {
            '?'
        };
        let endpoint = format!(
            "{messages_path}{separator}sessionId={}",
            self.sessions[session].wire_id
        );
        self.attach_stream(stream, exchange);
        self.start_sse(stream, false);
        let mut event = Vec::with_capacity(endpoint.len() + 32);
        let _ = crate::sse::Event::message(&endpoint)
            .with_event("endpoint")
            .encode(&mut event);
        self.send_stream_data(exchange, &event, None, super::transport::Pacing::Unpaced);
    }

    fn legacy_post(&mut self, exchange: ExchangeId, request: &Request) {
        let key = http_rules::query_param(request, "sessionId")
            .and_then(|id| self.session_by_wire_id.get(id).copied())
            .filter(|key| {
                self.sessions.get(key).is_some_and(|s| {
                    s.kind == SessionKind::Legacy && self.binding_holds(s, exchange, request)
                })
            });
        let Some(session) = key else {
            return self.reject(
                exchange,
                404,
                ErrorCode::SESSION_NOT_FOUND,
                "Session not found",
            );
        };
        self.note_session(exchange, session);
        if !http_rules::is_json(request) {
            return self.reject(
                exchange,
                400,
                ErrorCode::SERVER_ERROR,
                "Bad Request: Content-Type must be application/json",
            );
        }
        if self.events_full() {
            return self.unavailable(exchange, None, "the application is not keeping up");
        }
        let Some((messages, _batch)) = self.decode_body(exchange, request) else {
            return;
        };
        if !self.scopes_suffice(exchange, &messages) {
            return;
        }
        let holds = super::budget::new_work_bytes(request.body().len(), messages.len());
        if let Err(why) = self.admits(Some(session), holds) {
            return self.unavailable(exchange, None, why);
        }
        let Some(stream) = self.sessions[session].standalone else {
            return self.reject(
                exchange,
                500,
                ErrorCode::SERVER_ERROR,
                "SSE connection not established",
            );
        };
        self.send_full(
            exchange,
            202,
            &[("content-type", "text/plain")],
            b"Accepted",
        );
        self.deliver(session, messages, ResponseTarget::Stream(stream));
    }
}

/// The id of the body's request when it is exactly one request; refusals name it.
fn single_request_id(
    messages: &[Result<Message, InvalidMessage>],
    batch: bool,
) -> Option<RequestId> {
    match messages {
        [Ok(Message::Request(request))] if !batch => Some(request.id.clone()),
        _ => None,
    }
}

/// Why [`Engine::initialize_refusal`] refuses a session.
pub(super) enum InitializeRefusal {
    /// Not now (503 over HTTP): the reason.
    Unavailable(&'static str),
    /// The client's metadata is over its limit (-32602): the message.
    MetadataTooLarge(String),
}
