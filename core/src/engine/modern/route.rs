//! A POST addressed to the stateless era: its envelope checked, then answered by the engine
//! (`server/discover`, the methods this era removed), opened as a listen stream, or handed to
//! the application in a stateless context that its exchange owns.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use serde_json::value::RawValue;

use super::envelope::{self, Envelope, Rejection};
use super::results;
use crate::engine::Engine;
use crate::engine::budget::{self, Holding};
use crate::engine::entities::{InputRound, Listen, Session, SessionKind};
use crate::engine::events::CancelReason;
use crate::engine::ids::{ExchangeId, SessionKey};
use crate::engine::messages::{ResponseTarget, response_body};
use crate::engine::protocol::ProtocolVersion;
use crate::http1::Request;
use crate::jsonrpc::{self, ErrorCode, InvalidMessage, Message, RequestId};
use crate::timer::TimerTable;

/// Methods of the session era that the stateless era removed: they are unknown here.
const REMOVED_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// The HTTP status of a stateless JSON answer, from its error code (one table for refusals and
/// replies alike): an unknown method is 404, a transport-level refusal 400, anything else
/// (results, and errors of the method itself) 200.
pub(crate) fn status_of(code: Option<i64>) -> u16 {
    match code.map(ErrorCode) {
        Some(ErrorCode::METHOD_NOT_FOUND) => 404,
        Some(
            ErrorCode::HEADER_MISMATCH
            | ErrorCode::MISSING_CLIENT_CAPABILITY
            | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
            | ErrorCode::PARSE_ERROR
            | ErrorCode::INVALID_REQUEST,
        ) => 400,
        _ => 200,
    }
}

/// The error code of a JSON-RPC error response, if `body` is one.
pub(crate) fn error_code_of(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Error {
        code: i64,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        error: Option<Error>,
    }
    serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.error)
        .map(|e| e.code)
}

impl Engine {
    /// Whether a POST is addressed to the stateless era: its version header names a stateless
    /// revision, or its body declares one in `_meta` (then a wrong header is refused as such).
    pub(in crate::engine) fn is_stateless_post(
        request: &Request,
        messages: &[Result<Message, InvalidMessage>],
        batch: bool,
    ) -> bool {
        if crate::engine::http_rules::names_stateless_version(request) {
            return true;
        }
        // A request for a session stays in it, whatever its `_meta` says.
        !batch
            && request.header("mcp-session-id").is_none()
            && matches!(messages, [Ok(Message::Request(r))]
                if envelope::declares_stateless(r.params.as_deref()))
    }

    /// Answers a stateless POST, or starts answering it.
    pub(in crate::engine) fn stateless_post(
        &mut self,
        exchange: ExchangeId,
        request: &Request,
        mut messages: Vec<Result<Message, InvalidMessage>>,
        batch: bool,
    ) {
        if batch || messages.len() != 1 {
            return self.reject(
                exchange,
                400,
                ErrorCode::INVALID_REQUEST,
                "Invalid Request: batches are not allowed in protocol version 2026-07-28",
            );
        }
        let request_message = match messages.pop() {
            Some(Ok(Message::Request(r))) => r,
            // This era defines no client notification over HTTP: accepted, and nothing to do.
            Some(Ok(Message::Notification(_))) => return self.send_full(exchange, 202, &[], b""),
            Some(Ok(Message::Response(_) | Message::Error(_))) | None => {
                return self.reject(
                    exchange,
                    400,
                    ErrorCode::INVALID_REQUEST,
                    "Invalid Request: a client sends no responses in protocol version 2026-07-28",
                );
            }
            Some(Err(invalid)) => {
                let message = format!("Invalid Request: {}", invalid.reason);
                let body =
                    jsonrpc::error_body(invalid.id.as_ref(), ErrorCode::INVALID_REQUEST, &message);
                self.counters.rejected_requests += 1;
                return self.send_full(
                    exchange,
                    400,
                    &[("content-type", "application/json")],
                    &body,
                );
            }
        };
        let principal = self.identity(exchange, request);
        self.stateless_request(exchange, Some(request), request_message, principal);
    }

    /// One 2026-07-28 request, on whichever transport: its envelope checked (with the headers
    /// of the HTTP request that carried it, if any), then answered here, opened as a listen
    /// stream, or handed to the application.
    pub(in crate::engine) fn stateless_request(
        &mut self,
        exchange: ExchangeId,
        request: Option<&Request>,
        request_message: jsonrpc::Request,
        principal: Option<alloc::boxed::Box<[u8]>>,
    ) {
        let id = request_message.id.clone();
        let envelope = match envelope::classify(
            request,
            &request_message.method,
            request_message.params.as_deref(),
        ) {
            Ok(envelope) => envelope,
            Err(rejection) => return self.refuse_stateless(exchange, &id, &rejection),
        };
        let limit = self.config.limits.max_client_metadata_bytes;
        let metadata = envelope.capabilities.get().len()
            + envelope.client_info.as_ref().map_or(0, |c| c.get().len());
        if metadata > limit {
            let message = format!(
                "Invalid params: clientInfo and clientCapabilities take {metadata} bytes, over \
                 the limit of {limit}"
            );
            let rejection = Rejection {
                status: 400,
                code: ErrorCode::INVALID_PARAMS,
                message,
                data: None,
            };
            return self.refuse_stateless(exchange, &id, &rejection);
        }
        let method = request_message.method.as_str();
        if REMOVED_METHODS.contains(&method) {
            let message = format!("Method not found: {method}");
            return self.refuse_stateless(
                exchange,
                &id,
                &Rejection {
                    status: 404,
                    code: ErrorCode::METHOD_NOT_FOUND,
                    message,
                    data: None,
                },
            );
        }
        match method {
            "server/discover" => {
                let result = results::discover(
                    &self.config,
                    &self.capabilities,
                    &self.server_info,
                    self.config.cache_hints,
                );
                let body = response_body_bytes(&id, &result);
                self.counters.responses_sent += 1;
                self.send_full(
                    exchange,
                    200,
                    &[("content-type", "application/json")],
                    &body,
                );
            }
            "subscriptions/listen" => {
                self.open_listen(exchange, request_message, envelope, principal);
            }
            _ => {
                self.stateless_call(exchange, request_message, envelope, principal.as_deref());
            }
        }
    }

    /// A refusal in the stateless era: its status, and the error naming the request.
    pub(in crate::engine) fn refuse_stateless(
        &mut self,
        exchange: ExchangeId,
        id: &RequestId,
        rejection: &Rejection,
    ) {
        self.counters.rejected_requests += 1;
        let data = rejection
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str::<&RawValue>(d).ok());
        let body =
            jsonrpc::error_body_with_data(Some(id), rejection.code, &rejection.message, data);
        self.send_full(
            exchange,
            rejection.status,
            &[("content-type", "application/json")],
            &body,
        );
    }

    /// A request for the application, in a context of its own.
    fn stateless_call(
        &mut self,
        exchange: ExchangeId,
        request: jsonrpc::Request,
        mut envelope: Envelope,
        principal: Option<&[u8]>,
    ) {
        let id = Some(&request.id);
        if self.shutdown_deadline.is_some() {
            return self.unavailable(exchange, id, "shutting down");
        }
        if self.events_full() {
            return self.unavailable(exchange, id, "the application is not keeping up");
        }
        if self.inflight.len() >= self.config.limits.max_inflight_total {
            return self.unavailable(exchange, id, "too many requests in flight");
        }
        let params = request.params.as_ref().map_or(0, |p| p.get().len());
        // The opened state is at most the sealed one, which is within the params.
        let keeps = budget::new_work_bytes(params, 1)
            + params
            + budget::SESSION_BYTES
            + envelope.capabilities.get().len()
            + envelope.client_info.as_ref().map_or(0, |c| c.get().len())
            + principal.map_or(0, <[u8]>::len);
        // A context is capped as a session is: what could never fit is refused up front.
        if keeps > self.config.limits.max_session_bytes || self.admits(None, keeps).is_err() {
            return self.unavailable(exchange, id, "the server holds too much");
        }
        // Only a method that may answer `input_required` ever seals a state to bind.
        let asks = results::ResultShape::of(&request.method).may_ask();
        let arguments =
            super::input::ArgumentsDigest::of(asks.then_some(request.params.as_deref()).flatten());
        let binding = super::input::binding(
            &request.method,
            envelope.name.as_deref(),
            &arguments,
            principal,
        );
        let state = match envelope.request_state.take() {
            None => Vec::new(),
            Some(sealed) => {
                let opened = sealed
                    .map_err(|()| super::input::Refused::Forged)
                    .and_then(|sealed| self.state_key.open(&sealed, self.now(), &binding));
                match opened {
                    Ok(state) => state,
                    Err(refused) => {
                        self.counters.input_states_refused += 1;
                        let message = match refused {
                            super::input::Refused::Forged => {
                                "Invalid params: requestState integrity check failed"
                            }
                            super::input::Refused::Expired => {
                                "Invalid params: requestState expired; start over"
                            }
                        };
                        let rejection = Rejection {
                            status: 400,
                            code: ErrorCode::INVALID_PARAMS,
                            message: message.into(),
                            data: None,
                        };
                        return self.refuse_stateless(exchange, &request.id, &rejection);
                    }
                }
            }
        };
        let round = InputRound {
            state,
            binding,
            mirrored: envelope.param_headers.is_some(),
            param_headers: envelope.param_headers.take().unwrap_or_default(),
        };
        let held = round.bytes();
        let context = self.open_context(envelope, None, principal.map(alloc::boxed::Box::from));
        self.deliver(
            context,
            vec![Ok(Message::Request(request))],
            ResponseTarget::Post {
                exchange,
                batch: false,
                version: ProtocolVersion::V2026_07_28,
            },
        );
        // The request is the context's only one; its round is charged with it.
        let inflight = self
            .sessions
            .get(context)
            .and_then(|s| s.inflight.values().next().copied());
        if let Some(entry) = inflight.and_then(|i| self.inflight.get_mut(i)) {
            entry.input = Some(alloc::boxed::Box::new(round));
            entry.held += held;
            self.charge(Holding::Requests, Some(context), held);
        }
    }

    /// A stateless context: the client's declared context, and who it is from (its verified
    /// principal), kept for as long as its one stream.
    pub(in crate::engine) fn open_context(
        &mut self,
        envelope: Envelope,
        listen: Option<Listen>,
        binding: Option<alloc::boxed::Box<[u8]>>,
    ) -> SessionKey {
        let key = self.sessions.vacant_key();
        let shared = |raw: alloc::boxed::Box<RawValue>| Arc::<RawValue>::from(raw);
        let session = Session {
            wire_id: alloc::string::String::new(),
            binding,
            kind: SessionKind::Stateless,
            listen: listen.map(alloc::boxed::Box::new),
            protocol: envelope.version,
            opened: true,
            initialized: true,
            log_level: envelope.log_level,
            subscriptions: Default::default(),
            client_info: envelope.client_info.map(shared),
            client_capabilities: Some(shared(envelope.capabilities)),
            held: 0,
            detached: 0,
            standalone: None,
            streams: Default::default(),
            next_stream_index: 0,
            attached_streams: 0,
            inflight: Default::default(),
            outbound: Default::default(),
            next_outbound_id: 0,
            backlog: Default::default(),
            backlog_bytes: 0,
            heartbeat_failures: 0,
            timers: TimerTable::new(),
        };
        let metadata = budget::session_metadata_bytes(&session);
        self.sessions.insert_at(key, session);
        self.stateless_contexts += 1;
        self.charge(Holding::Session, Some(key), metadata);
        key
    }

    /// The stream of a stateless context lost its exchange: the context ends with it. Before
    /// the response was complete, that is the client cancelling its request (2026-07-28
    /// cancellation): the application is told, and nothing more is sent for it.
    pub(in crate::engine) fn end_context(&mut self, context: SessionKey) {
        let Some(s) = self.sessions.get(context) else {
            return;
        };
        let inflight: Vec<_> = s.inflight.values().copied().collect();
        for request in inflight {
            self.end_inflight(request, Some(CancelReason::StreamClosed));
        }
        self.end_session(context, crate::engine::CloseReason::StreamClosed);
    }
}

/// The JSON bytes of a success response whose result is already encoded.
pub(crate) fn response_body_bytes(id: &RequestId, result: &[u8]) -> Vec<u8> {
    let text = core::str::from_utf8(result).unwrap_or("{}");
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => response_body(id, raw),
        Err(_) => response_body(id, &crate::engine::messages::empty_result()),
    }
}
