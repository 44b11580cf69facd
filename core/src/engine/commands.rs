//! What the application tells the engine: answers, progress, logs, requests to the client,
//! notifications, broadcasts, and shutdown. A stale handle is an error value, never a panic and
//! never a leak.

use alloc::sync::Arc;
use alloc::vec::Vec;

use serde::Serialize;
use serde_json::value::RawValue;

use super::Engine;
use super::budget::FRAMING;
use super::entities::{Outbound, OutboundTimer, SessionKind};
use super::events::{CloseReason, CommandError, Reply};
use super::ids::{ExchangeId, InflightId, OutboundHandle, RequestHandle, SessionKey};
use super::messages::response_body;
use super::protocol::LogLevel;
use super::streams::sse_body;
use crate::jsonrpc::{self, ErrorCode, RequestId};
use crate::time::{Duration, Instant};
use crate::timer::TimerTable;

/// Where a log message or a request to the client goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Related to a client request: on that request's stream.
    Request(RequestHandle),
    /// Unsolicited: on the session's GET stream (or its backlog until one opens).
    Session(SessionKey),
}

impl Target {
    fn session(self) -> SessionKey {
        match self {
            Target::Request(handle) => handle.session,
            Target::Session(session) => session,
        }
    }
}

#[derive(Serialize)]
struct Notification<'a, P: Serialize> {
    jsonrpc: &'static str,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<P>,
}

/// Whether `capabilities` (a client's, as JSON) declares what a request to it with `method`
/// needs. Methods outside the three client features need nothing.
fn declares_capability(capabilities: Option<&RawValue>, method: &str) -> bool {
    let needed = match method {
        "sampling/createMessage" => "sampling",
        "elicitation/create" => "elicitation",
        "roots/list" => "roots",
        _ => return true,
    };
    let Some(capabilities) = capabilities else {
        return false;
    };
    serde_json::from_str::<alloc::collections::BTreeMap<alloc::borrow::Cow<'_, str>, &RawValue>>(
        capabilities.get(),
    )
    .is_ok_and(|map| map.get(needed).is_some_and(|v| v.get() != "null"))
}

fn notification<P: Serialize>(method: &str, params: Option<P>) -> Vec<u8> {
    serde_json::to_vec(&Notification {
        jsonrpc: "2.0",
        method,
        params,
    })
    .unwrap_or_default()
}

/// What a request's client declared: at `initialize` for a session, in the request's own
/// `_meta` for a 2026-07-28 request (which has no [`Event::SessionOpened`](super::Event)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientContext {
    /// The protocol revision the request speaks.
    pub protocol_version: super::ProtocolVersion,
    /// `clientInfo`, as raw JSON (the engine's own bytes, shared).
    pub client_info: Option<Arc<RawValue>>,
    /// `capabilities` (or `clientCapabilities`), as raw JSON, shared the same way.
    pub client_capabilities: Option<Arc<RawValue>>,
    /// Who the request is from: the principal of its verified token, with a resource server
    /// configured ([`Config::auth`](super::Config::auth)); `None` without one.
    pub principal: Option<Arc<str>>,
}

impl Engine {
    /// What the client of a live request declared, or `None` for a stale handle.
    #[must_use]
    pub fn client_context(&self, handle: RequestHandle) -> Option<ClientContext> {
        self.live_request(handle).ok()?;
        let s = self.sessions.get(handle.session)?;
        Some(ClientContext {
            protocol_version: s.protocol,
            client_info: s.client_info.clone(),
            client_capabilities: s.client_capabilities.clone(),
            principal: self.principal(handle.session).map(Arc::from),
        })
    }

    /// Who a session (or a 2026-07-28 request's context) belongs to: the principal of the
    /// token that opened it, which every later request must carry a token of. `None` without
    /// a resource server ([`Config::auth`](super::Config::auth)), or for a stale key.
    #[must_use]
    pub fn principal(&self, session: SessionKey) -> Option<&str> {
        self.config.auth.as_ref()?;
        let binding = self.sessions.get(session)?.binding.as_deref()?;
        core::str::from_utf8(binding).ok()
    }

    fn live_request(&self, handle: RequestHandle) -> Result<InflightId, CommandError> {
        match self.inflight.get(handle.inflight) {
            Some(i) if i.session == handle.session => Ok(handle.inflight),
            _ => Err(CommandError::StaleHandle),
        }
    }

    /// Answers a client request. The response goes on the request's stream; a POST whose last
    /// request this was completes.
    ///
    /// A result larger than `limits.max_message_bytes` is replaced by a JSON-RPC error saying
    /// so (the client learns why instead of seeing a bare close). When the stream has no room
    /// now, nothing is sent and [`CommandError::WouldBlock`] asks to retry the same reply once
    /// [`Event::Writable`](super::Event::Writable) names the request: the reply is borrowed,
    /// so the caller still has it.
    pub fn respond(
        &mut self,
        now: Instant,
        handle: RequestHandle,
        reply: &Reply,
    ) -> Result<(), CommandError> {
        self.tick(now);
        let inflight = self.live_request(handle)?;
        let id = self.inflight[inflight].request_id.clone();
        let shape = self.inflight[inflight].shape;
        let mut body = match (reply, shape) {
            (Reply::Result(result), None) => response_body(&id, result),
            (Reply::Result(result), Some(shape)) => {
                self.stateless_result(&id, result, shape, false)
            }
            (
                Reply::Error {
                    code,
                    message,
                    data,
                },
                _,
            ) => Self::error_with_data(&id, *code, message, data.as_deref()),
            (
                Reply::InputRequired {
                    input_requests,
                    state,
                },
                Some(shape),
            ) if shape.may_ask() => {
                self.input_required(inflight, &id, input_requests, state, shape)?
            }
            (Reply::InputRequired { .. }, _) => return Err(CommandError::InputNotAllowed),
        };
        let limit = self.max_message();
        if body.len() > limit {
            let message = alloc::format!(
                "Internal error: the result is {} bytes, over the message limit of {limit}",
                body.len()
            );
            body = jsonrpc::error_body(Some(&id), ErrorCode::INTERNAL_ERROR, &message);
            self.counters.responses_too_large += 1;
        }
        self.request_room(inflight, body.len() + FRAMING)
            .inspect_err(|_| self.settle())?;
        let Some(entry) = self.take_inflight(inflight) else {
            return Err(CommandError::StaleHandle);
        };
        self.counters.responses_sent += 1;
        self.respond_on(entry.stream, body);
        self.settle();
        Ok(())
    }

    /// A stateless request's result, completed with what its era requires (see
    /// `modern/results.rs`). An `input_required` result that the engine did not build (`sealed`:
    /// its requests checked against the client's capabilities, its state sealed), or a result
    /// that is not an object, becomes an internal error: no client could use it safely.
    fn stateless_result(
        &mut self,
        id: &RequestId,
        result: &RawValue,
        shape: super::modern::results::ResultShape,
        sealed: bool,
    ) -> Vec<u8> {
        use super::modern::results;
        let refused = !sealed && results::is_input_required(result);
        let completed = (!refused)
            .then(|| results::complete(result, shape, &self.server_info, self.config.cache_hints))
            .flatten();
        match completed {
            Some(bytes) => super::modern::route::response_body_bytes(id, &bytes),
            None => {
                self.counters.invalid_results += 1;
                let message = if refused {
                    "Internal error: input_required is answered with Reply::InputRequired, on \
                     tools/call, prompts/get and resources/read only"
                } else {
                    "Internal error: the result is not a JSON object"
                };
                jsonrpc::error_body(Some(id), ErrorCode::INTERNAL_ERROR, message)
            }
        }
    }

    /// An input-required result: the requests checked against what the client declared, and
    /// the state sealed for the retry, bound to this request's method and name.
    fn input_required(
        &mut self,
        inflight: InflightId,
        id: &RequestId,
        input_requests: &RawValue,
        state: &[u8],
        shape: super::modern::results::ResultShape,
    ) -> Result<Vec<u8>, CommandError> {
        #[derive(serde::Deserialize)]
        struct InputRequest<'a> {
            #[serde(borrow)]
            method: alloc::borrow::Cow<'a, str>,
        }
        let requests: alloc::collections::BTreeMap<alloc::borrow::Cow<'_, str>, InputRequest<'_>> =
            serde_json::from_str(input_requests.get()).map_err(|_| CommandError::InvalidJson)?;
        let entry = &self.inflight[inflight];
        let capabilities = self
            .sessions
            .get(entry.session)
            .and_then(|s| s.client_capabilities.clone());
        for request in requests.values() {
            let known = matches!(
                &*request.method,
                "elicitation/create" | "sampling/createMessage" | "roots/list"
            );
            if !known {
                return Err(CommandError::InvalidJson);
            }
            if !declares_capability(capabilities.as_deref(), &request.method) {
                self.counters.undeclared_capability_refusals += 1;
                return Err(CommandError::CapabilityNotDeclared);
            }
        }
        let binding = entry
            .input
            .as_ref()
            .map(|round| round.binding.clone())
            .unwrap_or_default();
        let mut nonce = [0u8; 12];
        self.entropy.fill(&mut nonce);
        let expires = self.now() + self.config.timeouts.input_state;
        let sealed = self.state_key.seal(nonce, expires, &binding, state);
        #[derive(Serialize)]
        struct InputRequired<'a> {
            #[serde(rename = "resultType")]
            result_type: &'static str,
            #[serde(rename = "inputRequests")]
            input_requests: &'a RawValue,
            #[serde(rename = "requestState")]
            request_state: &'a str,
        }
        let result = serde_json::value::to_raw_value(&InputRequired {
            result_type: "input_required",
            input_requests,
            request_state: &sealed,
        })
        .map_err(|_| CommandError::InvalidJson)?;
        self.counters.input_required_sent += 1;
        Ok(self.stateless_result(id, &result, shape, true))
    }

    /// The state a 2026-07-28 request brought back from its previous input-required round,
    /// opened: what [`Reply::InputRequired`] sealed. Empty on a first round; `None` for a
    /// stale handle or a session-era request.
    #[must_use]
    pub fn request_state(&self, handle: RequestHandle) -> Option<&[u8]> {
        let inflight = self.live_request(handle).ok()?;
        self.inflight[inflight]
            .input
            .as_ref()
            .map(|round| round.state.as_slice())
    }

    /// The `Mcp-Param-{Name}` headers of a 2026-07-28 `tools/call` (names lowercased, values
    /// as sent; decode them with [`decode_mirrored_header`](super::decode_mirrored_header)),
    /// for the application to check against the arguments its tool annotates with
    /// `x-mcp-header`. Empty for other requests.
    #[must_use]
    pub fn param_headers(
        &self,
        handle: RequestHandle,
    ) -> &[(alloc::string::String, alloc::boxed::Box<[u8]>)] {
        let Ok(inflight) = self.live_request(handle) else {
            return &[];
        };
        self.inflight[inflight]
            .input
            .as_ref()
            .map_or(&[], |round| round.param_headers.as_slice())
    }

    /// Whether a 2026-07-28 `tools/call` came with HTTP headers that must mirror its
    /// annotated arguments: false over a pipe (stdio has no header layer) and for other
    /// requests. Check [`Engine::param_headers`] only when this holds.
    #[must_use]
    pub fn expects_param_headers(&self, handle: RequestHandle) -> bool {
        let Ok(inflight) = self.live_request(handle) else {
            return false;
        };
        self.inflight[inflight]
            .input
            .as_ref()
            .is_some_and(|round| round.mirrored)
    }

    /// Puts a response on its stream: collected for one JSON body while that stays small, as
    /// SSE otherwise.
    pub(super) fn respond_on(&mut self, stream: super::ids::StreamId, body: Vec<u8>) {
        let batching = self.streams.get(stream).is_some_and(|s| {
            s.pending > 1 && matches!(s.mode, super::entities::StreamMode::Json { .. })
        });
        if batching && !super::budget::json_fits(self, stream, body.len()) {
            self.upgrade_stream(stream);
        }
        self.stream_response(stream, body);
    }

    fn error_with_data(
        id: &RequestId,
        code: i64,
        message: &str,
        data: Option<&RawValue>,
    ) -> Vec<u8> {
        match data {
            None => jsonrpc::error_body(Some(id), ErrorCode(code), message),
            Some(data) => {
                #[derive(Serialize)]
                struct Error<'a> {
                    code: i64,
                    message: &'a str,
                    data: &'a RawValue,
                }
                #[derive(Serialize)]
                struct Body<'a> {
                    jsonrpc: &'static str,
                    id: &'a RequestId,
                    error: Error<'a>,
                }
                serde_json::to_vec(&Body {
                    jsonrpc: "2.0",
                    id,
                    error: Error {
                        code,
                        message,
                        data,
                    },
                })
                .unwrap_or_default()
            }
        }
    }

    /// Sends `notifications/progress` for a request that asked for it (its params carried
    /// `_meta.progressToken`). Progress must increase.
    pub fn send_progress(
        &mut self,
        now: Instant,
        handle: RequestHandle,
        progress: f64,
        total: Option<f64>,
        message: Option<&str>,
    ) -> Result<(), CommandError> {
        self.tick(now);
        let inflight = self.live_request(handle)?;
        let entry = self
            .inflight
            .get_mut(inflight)
            .ok_or(CommandError::StaleHandle)?;
        let token = entry
            .progress_token
            .as_deref()
            .ok_or(CommandError::NoProgressToken)?;
        if !progress.is_finite() || entry.last_progress.is_some_and(|last| progress <= last) {
            return Err(CommandError::ProgressNotIncreasing);
        }
        #[derive(Serialize)]
        struct Progress<'a> {
            #[serde(rename = "progressToken")]
            progress_token: &'a RawValue,
            progress: f64,
            #[serde(skip_serializing_if = "Option::is_none")]
            total: Option<f64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<&'a str>,
        }
        let json = notification(
            "notifications/progress",
            Some(Progress {
                progress_token: token,
                progress,
                total: total.filter(|t| t.is_finite()),
                message,
            }),
        );
        let body = sse_body(&json);
        let result = self.request_room(inflight, body.len() + FRAMING);
        if result.is_ok() {
            if let Some(entry) = self.inflight.get_mut(inflight) {
                entry.last_progress = Some(progress);
            }
        }
        let stream = result.inspect_err(|_| self.settle())?;
        self.stream_message(stream, &body);
        self.settle();
        Ok(())
    }

    /// Sends a log message (`notifications/message`) unless the session's `logging/setLevel`
    /// filters it out. `data` is any JSON value.
    pub fn send_log(
        &mut self,
        now: Instant,
        target: Target,
        level: LogLevel,
        logger: Option<&str>,
        data: &RawValue,
    ) -> Result<(), CommandError> {
        self.tick(now);
        let session = target.session();
        let s = self
            .sessions
            .get(session)
            .ok_or(CommandError::StaleHandle)?;
        let minimum = s.log_level;
        // A stateless request that named no `logLevel` asked for no log at all.
        let silent = s.kind == SessionKind::Stateless && minimum.is_none();
        if silent || minimum.is_some_and(|min| level < min) {
            self.counters.logs_filtered += 1;
            return Ok(());
        }
        #[derive(Serialize)]
        struct Log<'a> {
            level: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            logger: Option<&'a str>,
            data: &'a RawValue,
        }
        let json = notification(
            "notifications/message",
            Some(Log {
                level: level.as_str(),
                logger,
                data,
            }),
        );
        self.send_to(target, &sse_body(&json))?;
        self.settle();
        Ok(())
    }

    /// Sends a message: related to a request, it waits for room on that request's stream
    /// ([`CommandError::WouldBlock`]); unsolicited, it cannot wait.
    fn send_to(&mut self, target: Target, body: &Arc<[u8]>) -> Result<(), CommandError> {
        if body.len() > self.max_message() {
            return Err(CommandError::TooLarge);
        }
        match target {
            Target::Request(handle) => {
                let inflight = self.live_request(handle)?;
                let stream = self
                    .request_room(inflight, body.len() + FRAMING)
                    .inspect_err(|_| self.settle())?;
                self.stream_message(stream, body);
            }
            Target::Session(session) => match self.sessions.get(session).map(|s| s.kind) {
                None => return Err(CommandError::StaleHandle),
                // A stateless context has only its request's stream.
                Some(SessionKind::Stateless) => return Err(CommandError::NoStream),
                Some(_) => self.send_unsolicited(session, body),
            },
        }
        Ok(())
    }

    /// Sends a request to the client (`sampling/createMessage`, `elicitation/create`,
    /// `roots/list`, ...). The answer arrives as [`Event::ClientResponse`](super::Event), or a
    /// timeout after `timeout` (default: the configured client request timeout).
    pub fn request_client(
        &mut self,
        now: Instant,
        target: Target,
        method: &str,
        params: Option<&RawValue>,
        timeout: Option<Duration>,
    ) -> Result<OutboundHandle, CommandError> {
        self.tick(now);
        let related = match target {
            Target::Request(handle) => Some(self.live_request(handle)?),
            Target::Session(_) => None,
        };
        let timeout = timeout.unwrap_or(self.config.timeouts.client_request);
        let handle =
            self.send_client_request(target.session(), related, method, params, timeout, false);
        self.settle();
        handle
    }

    pub(super) fn send_client_request(
        &mut self,
        session: SessionKey,
        related: Option<InflightId>,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
        heartbeat: bool,
    ) -> Result<OutboundHandle, CommandError> {
        let now = self.now();
        let limit = self.config.limits.max_outbound_per_session;
        let s = self
            .sessions
            .get_mut(session)
            .ok_or(CommandError::StaleHandle)?;
        if s.kind == SessionKind::Stateless {
            return Err(CommandError::StatelessRequest);
        }
        if !heartbeat && !declares_capability(s.client_capabilities.as_deref(), method) {
            self.counters.undeclared_capability_refusals += 1;
            return Err(CommandError::CapabilityNotDeclared);
        }
        if s.outbound.len() >= limit {
            return Err(CommandError::TooManyOutbound);
        }
        let len = method.len() + params.map_or(0, |p| p.get().len()) + FRAMING;
        if len > self.max_message() {
            return Err(CommandError::TooLarge);
        }
        if let Some(related) = related {
            self.request_room(related, len)?;
        }
        let Some(s) = self.sessions.get_mut(session) else {
            return Err(CommandError::StaleHandle);
        };
        let wire_id = s.next_outbound_id;
        s.next_outbound_id += 1;
        let outbound = self.outbound.vacant_key();
        s.outbound.insert(wire_id, outbound);
        let mut entry = Outbound {
            session,
            wire_id,
            heartbeat,
            timers: TimerTable::new(),
        };
        self.outbound_timers.set(
            &mut entry.timers,
            outbound,
            OutboundTimer::Timeout,
            now + timeout,
        );
        self.outbound.insert_at(outbound, entry);
        #[derive(Serialize)]
        struct Request<'a> {
            jsonrpc: &'static str,
            id: i64,
            method: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            params: Option<&'a RawValue>,
        }
        let json = serde_json::to_vec(&Request {
            jsonrpc: "2.0",
            id: wire_id,
            method,
            params,
        })
        .unwrap_or_default();
        let body = sse_body(&json);
        match related.and_then(|r| self.inflight.get(r)).map(|i| i.stream) {
            Some(stream) => self.stream_message(stream, &body),
            None => self.send_unsolicited(session, &body),
        }
        Ok(OutboundHandle { session, outbound })
    }

    /// Sends a notification to one session, on its GET stream (or its backlog).
    pub fn notify(
        &mut self,
        now: Instant,
        session: SessionKey,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<(), CommandError> {
        self.tick(now);
        let json = notification(method, params);
        self.send_to(Target::Session(session), &sse_body(&json))?;
        self.settle();
        Ok(())
    }

    /// Sends a notification (usually a `notifications/*/list_changed`) to every initialized
    /// session. It is encoded once; each recipient adds only its event id. Returns how many
    /// sessions it was sent to: none when it is larger than `limits.max_message_bytes`, or
    /// nested deeper than a client parses ([`MAX_NESTING`](crate::jsonrpc::MAX_NESTING)).
    pub fn broadcast(&mut self, now: Instant, method: &str, params: Option<&RawValue>) -> usize {
        self.tick(now);
        // The notification adds a level: deeper params would reach clients that cannot parse
        // them (a bus node refuses the same).
        let depth = jsonrpc::MAX_NESTING - 1;
        if params.is_some_and(|p| !jsonrpc::nesting_within(p.get().as_bytes(), depth)) {
            return 0;
        }
        let body = sse_body(&notification(method, params));
        if body.len() > self.max_message() {
            return 0;
        }
        // Sessions, and the listen streams whose filter asked for this kind of change.
        let recipients: Vec<(SessionKey, Option<RequestId>)> = self
            .sessions
            .iter()
            .filter_map(|(k, s)| match (&s.kind, &s.listen) {
                (SessionKind::Stateless, Some(listen)) => {
                    super::modern::listen::wants(listen.filter, method)
                        .then(|| (k, Some(listen.id.clone())))
                }
                (SessionKind::Stateless, None) => None,
                _ => s.opened.then_some((k, None)),
            })
            .collect();
        for (session, listen) in &recipients {
            match listen {
                None => self.send_unsolicited(*session, &body),
                Some(id) => {
                    let frame = super::modern::listen::tagged(method, params, id);
                    self.send_to_listen(*session, &frame);
                }
            }
        }
        self.counters.broadcasts += 1;
        self.settle();
        recipients.len()
    }

    /// Sends `notifications/resources/updated` for `uri` to the sessions subscribed to it, and
    /// to no others. Returns how many there were.
    pub fn resource_updated(&mut self, now: Instant, uri: &str) -> usize {
        self.tick(now);
        let Some(subscribers) = self.subscribers.get(uri) else {
            return 0;
        };
        let recipients: Vec<SessionKey> = subscribers.iter().copied().collect();
        #[derive(Serialize)]
        struct Updated<'a> {
            uri: &'a str,
        }
        const METHOD: &str = "notifications/resources/updated";
        let params = serde_json::value::to_raw_value(&Updated { uri }).ok();
        let body = sse_body(&notification(METHOD, params.as_deref()));
        for &session in &recipients {
            let listen = self
                .sessions
                .get(session)
                .and_then(|s| s.listen.as_ref())
                .map(|l| l.id.clone());
            match listen {
                None => self.send_unsolicited(session, &body),
                Some(id) => {
                    let frame = super::modern::listen::tagged(METHOD, params.as_deref(), &id);
                    self.send_to_listen(session, &frame);
                }
            }
        }
        self.settle();
        recipients.len()
    }

    /// Ends a session from the application's side.
    pub fn close_session(&mut self, now: Instant, session: SessionKey) -> Result<(), CommandError> {
        self.tick(now);
        match self.sessions.get(session) {
            None => return Err(CommandError::StaleHandle),
            // A listen stream ends with its request's result; a call is cancelled.
            Some(s) if s.kind == SessionKind::Stateless => self.complete_listen(session),
            Some(_) => self.end_session(session, CloseReason::ClosedByApplication),
        }
        self.settle();
        Ok(())
    }

    /// Closes the SSE stream carrying a request's responses, cleanly, without ending the
    /// request: the client reconnects with GET and `Last-Event-ID` and reads the rest there
    /// (the 2025-11-25 polling pattern, which frees a connection during a long call). A JSON
    /// response switches to SSE first, so the client has the priming event to resume from.
    pub fn close_request_stream(
        &mut self,
        now: Instant,
        handle: RequestHandle,
    ) -> Result<(), CommandError> {
        self.tick(now);
        let inflight = self.live_request(handle)?;
        let stream = self.inflight[inflight].stream;
        let Some(s) = self.streams.get(stream) else {
            return Err(CommandError::StaleHandle);
        };
        if s.kind != super::entities::StreamKind::Post || !s.protocol.primes_streams() {
            return Err(CommandError::NotResumable);
        }
        if matches!(s.mode, super::entities::StreamMode::Json { .. }) {
            self.upgrade_stream(stream);
        }
        if let Some(exchange) = self.streams.get(stream).and_then(|s| s.exchange) {
            self.finish_stream_response(exchange);
        }
        self.settle();
        Ok(())
    }

    /// Answers a request for an application path ([`Event::HttpRequest`]) with a complete
    /// response.
    ///
    /// [`Event::HttpRequest`]: super::Event::HttpRequest
    pub fn respond_http(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), CommandError> {
        self.tick(now);
        let held = match self.exchanges.get_mut(exchange) {
            Some(ex) if ex.awaiting_application => {
                ex.awaiting_application = false;
                core::mem::take(&mut ex.application_bytes)
            }
            _ => return Err(CommandError::StaleHandle),
        };
        self.release(super::budget::Holding::Requests, None, held);
        self.send_full(exchange, status, headers, body);
        self.settle();
        Ok(())
    }

    /// Begins a graceful shutdown: new sessions, streams and connections get 503; GET streams
    /// end at once with a `retry` hint; requests in flight have until `now + grace`, then are
    /// cancelled; then every session ends and every connection closes. Once nothing is in
    /// flight, that happens early. [`Engine::is_drained`] says when it is complete.
    pub fn begin_shutdown(&mut self, now: Instant, grace: Duration) {
        let now = self.tick(now);
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now + grace);
        let retry = self.config.timeouts.retry_hint.as_millis();
        // GET streams only: a legacy session's stream is its only way to answer requests still
        // in flight, so it stays until they are done.
        let standalone: Vec<_> = self
            .sessions
            .values()
            .filter_map(|s| s.standalone)
            .filter(|id| {
                self.streams
                    .get(id)
                    .is_some_and(|s| s.kind == super::entities::StreamKind::Standalone)
            })
            .collect();
        self.complete_listens();
        for stream in standalone {
            if let Some(exchange) = self.streams.get(stream).and_then(|s| s.exchange) {
                let mut hint = Vec::new();
                crate::sse::push_retry(&mut hint, retry);
                hint.push(b'\n');
                self.send_stream_data(exchange, &hint, None, super::transport::Pacing::Unpaced);
            }
            self.end_stream(stream);
        }
        let conns: Vec<_> = self.conns.keys().collect();
        for conn in conns {
            if let Some(c) = self.conns.get_mut(conn) {
                c.codec.close_after_response();
            }
            self.touch_conn(conn);
        }
        self.settle();
    }

    /// Whether shutdown has begun and nothing is left: no session, no connection, no exchange.
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.shutdown_deadline.is_some()
            && self.sessions.is_empty()
            && self.conns.is_empty()
            && self.exchanges.is_empty()
            && self.verifications.pending.is_empty()
    }

    /// Ends every session (requests in flight are cancelled with an error response). Runs once
    /// nothing is in flight, or at the grace deadline.
    pub(super) fn finish_shutdown(&mut self) {
        if self.shutdown_sessions_ended {
            return;
        }
        self.shutdown_sessions_ended = true;
        // Tokens still being verified get no verdict now; grants are no longer needed.
        self.end_verifications();
        let released = self.verifications.forget_grants();
        self.release(super::budget::Holding::Session, None, released);
        let sessions: Vec<_> = self.sessions.keys().collect();
        for session in sessions {
            self.end_session(session, CloseReason::Shutdown);
        }
    }

    /// At the grace deadline: connections still holding output are stuck readers and are
    /// cut; requests still in flight are answered with an error; every other connection closes
    /// as soon as those last bytes are written, which the write deadline bounds.
    pub(super) fn force_shutdown(&mut self) {
        self.shutdown_forced = true;
        let stuck: Vec<_> = self
            .conns
            .iter()
            .filter(|(_, c)| c.accounted > 0)
            .map(|(id, _)| id)
            .collect();
        for conn in stuck {
            self.remove_conn(conn, true);
        }
        let stuck_hosts: Vec<_> = self
            .exchanges
            .iter()
            // Unread body bytes, or a response still under way; a complete one keeps its `End`.
            .filter(|(_, e)| {
                matches!(&e.sink, super::entities::Sink::Host(q) if q.bytes > 0 || (!q.ended && !q.items.is_empty()))
            })
            .map(|(id, _)| id)
            .collect();
        for exchange in stuck_hosts {
            self.abort_exchange(exchange);
        }
        self.finish_shutdown();
        let conns: Vec<_> = self.conns.keys().collect();
        for conn in conns {
            if let Some(c) = self.conns.get_mut(conn) {
                c.codec.close_after_response();
            }
            self.touch_conn(conn);
        }
    }
}
