//! Messages from the server: responses to calls and to the handshake, notifications, requests
//! (session era), and `input_required` results (2026-07-28).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize;

use super::entities::{
    CallState, ClientTimer, InputRound, Origin, Owner, Phase, Purpose, ServerRequest, Timers,
    deadline_after,
};
use super::{CallError, CallId, Client, ClientEvent, Era, MODERN_VERSION, ServerRequestId, wire};
use crate::jsonrpc::{self, ErrorCode, ErrorObject, Incoming, Message, RawValue, RequestId};

#[derive(Deserialize)]
struct ResultKind<'a> {
    #[serde(rename = "resultType", borrow, default)]
    result_type: Option<&'a str>,
}

#[derive(Deserialize)]
struct InputRequired {
    #[serde(rename = "inputRequests", default)]
    input_requests: BTreeMap<String, InputRequest>,
    #[serde(rename = "requestState", default)]
    request_state: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct InputRequest {
    method: String,
    #[serde(default)]
    params: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Supported {
    #[serde(default)]
    supported: Vec<String>,
}

#[derive(Deserialize)]
struct CancelledParams {
    #[serde(rename = "requestId")]
    request_id: Box<RawValue>,
}

#[derive(Deserialize)]
struct LooseError {
    error: LooseErrorObject,
}

#[derive(Deserialize)]
struct LooseErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

/// `{"error": {...}}` from a body that is not a valid JSON-RPC message.
pub(crate) fn loose_error(body: &[u8]) -> Option<ErrorObject> {
    let loose = serde_json::from_slice::<LooseError>(body).ok()?.error;
    Some(ErrorObject {
        code: loose.code,
        message: loose.message,
        data: loose.data,
    })
}

impl Client {
    /// An error answering the request of `purpose` itself (no id to route by).
    pub(crate) fn on_exchange_error(&mut self, purpose: Purpose, error: ErrorObject) {
        match purpose {
            Purpose::Call(call) | Purpose::Resume(call) => {
                if matches!(
                    self.calls.get(&call).map(|c| c.state),
                    Some(CallState::Sent(_))
                ) {
                    self.on_error(call, error);
                }
            }
            _ if self.handshake_pending(purpose) => self.on_handshake_message(purpose, Err(error)),
            _ => {}
        }
    }

    /// One JSON-RPC body (or event data) from a stream of `purpose`. Whether it delivered
    /// anything: an answer, a notification or a request for the application, beyond what
    /// opens a stream (a listen's acknowledgment, a `ping`).
    pub(crate) fn on_message(&mut self, purpose: Purpose, bytes: &[u8]) -> bool {
        match jsonrpc::decode(bytes) {
            Ok(Incoming::Single(message)) => self.route(purpose, message),
            Ok(Incoming::Batch(entries)) => {
                let mut delivered = false;
                for message in entries.into_iter().flatten() {
                    delivered |= self.route(purpose, message);
                }
                delivered
            }
            Err(_) => {
                self.counters.protocol_errors += 1;
                false
            }
        }
    }

    fn route(&mut self, purpose: Purpose, message: Message) -> bool {
        let stream_call = match purpose {
            Purpose::Call(call) | Purpose::Resume(call) => Some(call),
            _ => None,
        };
        match message {
            Message::Response(response) => {
                self.on_outcome(purpose, &response.id, Ok(response.result))
            }
            Message::Error(error) => match error.id {
                Some(id) => self.on_outcome(purpose, &id, Err(error.error)),
                // An error for no request in particular: it answers the exchange's own.
                None => {
                    self.on_exchange_error(purpose, error.error);
                    false
                }
            },
            Message::Notification(note) => {
                if note.method == "notifications/cancelled" {
                    self.on_server_cancelled(note.params.as_deref());
                }
                // It says the stream is open; a stream that carried nothing more delivered
                // nothing (a server must not keep a listen reopening for ever with it).
                let opening = note.method == "notifications/subscriptions/acknowledged";
                let call = match stream_call {
                    Some(call) => Some(call),
                    // A pipe has one stream for everything: the notification names its call.
                    None if self.is_pipe() => self.correlate(note.params.as_deref()),
                    None => None,
                }
                .filter(|c| self.calls.contains_key(c));
                self.push_event(ClientEvent::Notification {
                    call,
                    method: note.method,
                    params: note.params,
                });
                !opening
            }
            Message::Request(request) => self.on_server_request(stream_call, request),
        }
    }

    /// A response: to the handshake, or to a call. Whether it answered one.
    fn on_outcome(
        &mut self,
        purpose: Purpose,
        id: &RequestId,
        outcome: Result<Box<RawValue>, ErrorObject>,
    ) -> bool {
        let RequestId::Number(number) = id else {
            self.counters.protocol_errors += 1;
            return false;
        };
        let Ok(wire_id) = u64::try_from(*number) else {
            self.counters.protocol_errors += 1;
            return false;
        };
        // The handshake's answer: on its own exchange, or (HTTP+SSE) on the session's stream.
        let handshake = match self.link.phase {
            Phase::Discovering => Some(Purpose::Discover),
            Phase::Initializing => Some(Purpose::Initialize),
            _ => None,
        };
        let on_own_stream = purpose == Purpose::Standalone || Some(purpose) == handshake;
        if let Some(handshake) =
            handshake.filter(|_| self.handshake_wire == wire_id && wire_id != 0)
        {
            if on_own_stream {
                self.on_handshake_message(handshake, outcome);
            }
            return on_own_stream;
        }
        if matches!(purpose, Purpose::Discover | Purpose::Initialize) {
            return false;
        }
        let Some(&call) = self.by_wire.get(&wire_id) else {
            // A late answer to an attempt that already ended: nothing waits for it.
            self.counters.late_responses += 1;
            return false;
        };
        if !matches!(
            self.calls.get(&call).map(|c| c.state),
            Some(CallState::Sent(_) | CallState::Awaiting)
        ) {
            self.counters.late_responses += 1;
            return false;
        }
        let served = match &outcome {
            Ok(_) => true,
            Err(error) => !super::link::is_session_gone(error),
        };
        if served && self.link.phase == Phase::Ready {
            // The session works: a later loss starts over at once.
            self.link.losses = 0;
        }
        match outcome {
            Ok(result) => self.on_result(call, result),
            Err(error) => self.on_error(call, error),
        }
        true
    }

    fn on_result(&mut self, call: CallId, result: Box<RawValue>) {
        let modern = self.link.era == Some(Era::Modern);
        let kind = serde_json::from_str::<ResultKind<'_>>(result.get())
            .ok()
            .and_then(|k| k.result_type.map(String::from));
        if modern && kind.as_deref() == Some("input_required") {
            self.on_input_required(call, &result);
            return;
        }
        self.end_call(call, ClientEvent::Response { call, result });
    }

    fn on_error(&mut self, call: CallId, error: ErrorObject) {
        let modern = self.link.era == Some(Era::Modern);
        if modern && ErrorCode(error.code) == ErrorCode::UNSUPPORTED_PROTOCOL_VERSION {
            let offered = error
                .data
                .as_ref()
                .and_then(|d| serde_json::from_str::<Supported>(d.get()).ok())
                .is_some_and(|s| s.supported.iter().any(|v| v == MODERN_VERSION));
            let retried = self.calls.get(&call).is_some_and(|c| c.failures > 0);
            if offered && !retried {
                // The server names our version among its own: one more try, not a loop.
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.failures += 1;
                    match entry.state {
                        CallState::Sent(conn) => {
                            entry.state = CallState::Queued;
                            self.queued.insert(call);
                            self.release_conn_of(conn, call);
                        }
                        // Over a pipe: it goes again as a new line.
                        CallState::Awaiting => {
                            entry.state = CallState::Queued;
                            self.queued.insert(call);
                        }
                        _ => {}
                    }
                }
                return;
            }
        }
        if !modern && super::link::is_session_gone(&error) && self.link.session.is_some() {
            // Refused unseen: it goes again in the next session.
            self.requeue_after_refusal(call);
            self.session_lost();
            return;
        }
        self.fail_call(call, CallError::Rpc(error), false);
    }

    /// The call's attempt is over but its connection may finish its response on its own: it
    /// no longer belongs to the call.
    fn release_conn_of(&mut self, conn: super::ClientConnId, call: CallId) {
        self.release_exchange(conn, Purpose::Call(call));
        self.release_exchange(conn, Purpose::Resume(call));
    }

    fn on_input_required(&mut self, call: CallId, result: &RawValue) {
        let max_rounds = self.config.limits.max_input_rounds;
        let parsed: Option<InputRequired> = serde_json::from_str(result.get()).ok();
        let Some(parsed) = parsed.filter(|p| !p.input_requests.is_empty()) else {
            self.fail_call(
                call,
                CallError::Protocol("input_required without inputRequests"),
                false,
            );
            return;
        };
        let rounds = self
            .calls
            .get(&call)
            .and_then(|c| c.input.as_ref())
            .map_or(0, |r| r.rounds);
        if rounds >= max_rounds {
            self.fail_call(
                call,
                CallError::Protocol("too many input_required rounds"),
                false,
            );
            return;
        }
        if self.server_requests.len() + parsed.input_requests.len()
            > self.config.limits.max_server_requests
        {
            self.fail_call(
                call,
                CallError::Protocol("more input requests than the client holds"),
                false,
            );
            return;
        }
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let sent_on = match entry.state {
            CallState::Sent(conn) => Some(conn),
            _ => None,
        };
        entry.state = CallState::AwaitingInput;
        self.by_wire.remove(&entry.wire_id);
        entry.wire_id = 0;
        if let Some(conn) = sent_on {
            self.release_conn_of(conn, call);
        }
        let mut round = InputRound {
            request_state: parsed.request_state,
            rounds: rounds + 1,
            ..InputRound::default()
        };
        let deadline = deadline_after(self.now, self.config.timeouts.server_request);
        let mut asks = Vec::new();
        for (key, request) in parsed.input_requests {
            let id = ServerRequestId(self.next_id);
            self.next_id += 1;
            let mut timers = Timers::new();
            self.timers.set(
                &mut timers,
                Owner::ServerRequest(id),
                ClientTimer::Deadline,
                deadline,
            );
            self.server_requests.insert(
                id,
                ServerRequest {
                    origin: Origin::Input {
                        call,
                        key: key.clone(),
                    },
                    timers,
                },
            );
            round.pending.insert(key, id);
            asks.push((id, request));
        }
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.input = Some(round);
        }
        self.counters.held_bytes = self.held_bytes();
        for (id, request) in asks {
            self.events.push_back(ClientEvent::ServerRequest {
                request: id,
                call: Some(call),
                method: request.method,
                params: request.params,
            });
        }
    }

    /// A session-era request from the server (sampling, elicitation, roots, ping). Whether
    /// it was put to the application.
    fn on_server_request(&mut self, call: Option<CallId>, request: jsonrpc::Request) -> bool {
        let sessions = matches!(self.link.era, Some(Era::Sessions | Era::HttpSse));
        if !sessions || self.link.phase != Phase::Ready {
            // 2026-07-28 streams carry no server requests; before the handshake none are due.
            self.counters.protocol_errors += 1;
            if self.is_pipe() && self.link.phase == Phase::Ready {
                // A pipe has a way back, and a server left unanswered may wait for ever.
                let error = ErrorObject {
                    code: ErrorCode::METHOD_NOT_FOUND.0,
                    message: "the 2026-07-28 era has no requests from the server".into(),
                    data: None,
                };
                let _ = self.queue_post(wire::response(&request.id, Err(&error)));
            }
            return false;
        }
        if request.method == "ping" {
            // Answered here; the application sees nothing of it.
            let result = super::empty_object();
            let _ = self.queue_post(wire::response(&request.id, Ok(&result)));
            return false;
        }
        // Also bounded by what the application has not polled yet: a server that asks and
        // withdraws in a loop cannot grow the event queue.
        if self.server_requests.len() >= self.config.limits.max_server_requests
            || self.events.len() >= self.config.limits.max_queued
        {
            let error = ErrorObject {
                code: ErrorCode::INTERNAL_ERROR.0,
                message: "the client is holding too many requests from the server".into(),
                data: None,
            };
            let _ = self.queue_post(wire::response(&request.id, Err(&error)));
            return false;
        }
        let id = ServerRequestId(self.next_id);
        self.next_id += 1;
        let mut timers = Timers::new();
        let deadline = deadline_after(self.now, self.config.timeouts.server_request);
        self.timers.set(
            &mut timers,
            Owner::ServerRequest(id),
            ClientTimer::Deadline,
            deadline,
        );
        self.server_requests.insert(
            id,
            ServerRequest {
                origin: Origin::Session {
                    id: request.id,
                    generation: self.link.generation,
                },
                timers,
            },
        );
        self.events.push_back(ClientEvent::ServerRequest {
            request: id,
            call: call.filter(|c| self.calls.contains_key(c)),
            method: request.method,
            params: request.params,
        });
        true
    }

    /// The server withdrew a request of its own: its answer is no longer wanted.
    fn on_server_cancelled(&mut self, params: Option<&RawValue>) {
        let Some(params) =
            params.and_then(|p| serde_json::from_str::<CancelledParams>(p.get()).ok())
        else {
            return;
        };
        let Some(cancelled) = RequestId::from_json(params.request_id.get()) else {
            return;
        };
        let found = self
            .server_requests
            .iter()
            .find_map(|(id, entry)| match &entry.origin {
                Origin::Session { id: asked, .. } if *asked == cancelled => Some(*id),
                _ => None,
            });
        if let Some(id) = found {
            if let Some(mut entry) = self.server_requests.remove(&id) {
                self.timers
                    .stop_all(&mut entry.timers, Owner::ServerRequest(id));
            }
        }
    }

    /// The application did not answer in time: the server gets an error (session era), or the
    /// call that needed the answer fails (2026-07-28).
    pub(crate) fn server_request_expired(&mut self, request: ServerRequestId) {
        let Some(mut entry) = self.server_requests.remove(&request) else {
            return;
        };
        self.timers
            .stop_all(&mut entry.timers, Owner::ServerRequest(request));
        match entry.origin {
            Origin::Session { id, generation } => {
                if generation == self.link.generation && self.link.phase == Phase::Ready {
                    let error = ErrorObject {
                        code: ErrorCode::INTERNAL_ERROR.0,
                        message: "the client application did not answer in time".into(),
                        data: None,
                    };
                    let _ = self.queue_post(wire::response(&id, Err(&error)));
                }
            }
            Origin::Input { call, .. } => self.fail_call(call, CallError::Timeout, false),
        }
    }
}
