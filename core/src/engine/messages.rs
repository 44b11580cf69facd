//! The JSON-RPC messages of a session: the lifecycle methods the engine answers itself, and
//! everything else handed to the application as events.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::budget::{Holding, id_bytes};
use super::entities::{Inflight, InflightTimer, Session, SessionKind, StreamKind, StreamMode};
use super::events::{CancelReason, ClientError, Event};
use super::ids::{ExchangeId, RequestHandle, SessionKey, StreamId};
use super::protocol::{LogLevel, ProtocolVersion};
use super::{Engine, ResponseMode};
use crate::jsonrpc::{self, ErrorCode, InvalidMessage, Message, RequestId};
use crate::timer::TimerTable;

/// Where the responses to a batch of messages go.
#[derive(Debug, Clone, Copy)]
pub(super) enum ResponseTarget {
    /// A new POST stream on `exchange` (JSON or SSE, by configuration).
    Post {
        exchange: ExchangeId,
        batch: bool,
        version: ProtocolVersion,
    },
    /// An existing stream (the legacy session's SSE stream).
    Stream(StreamId),
}

/// The parts of `initialize` params the engine reads.
#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(rename = "protocolVersion")]
    protocol_version: Option<&'a str>,
    #[serde(borrow)]
    capabilities: Option<&'a RawValue>,
    #[serde(borrow, rename = "clientInfo")]
    client_info: Option<&'a RawValue>,
}

/// The version `initialize` answers with: the client's if spoken here, else the latest.
pub(super) fn negotiate(params: Option<&RawValue>) -> ProtocolVersion {
    params
        .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok())
        .and_then(|p| {
            p.protocol_version
                .and_then(ProtocolVersion::parse_session_era)
        })
        .unwrap_or(ProtocolVersion::LATEST)
}

/// The `protocolVersion` an `initialize` asks for, as sent.
pub(super) fn requested_version(params: Option<&RawValue>) -> Option<&str> {
    params
        .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok())
        .and_then(|p| p.protocol_version)
}

/// The request a `notifications/cancelled` names.
pub(super) fn cancelled_request_id(params: Option<&RawValue>) -> Option<RequestId> {
    params
        .and_then(|p| serde_json::from_str::<CancelledParams<'_>>(p.get()).ok())
        .and_then(|c| RequestId::from_json(c.request_id.get()))
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, rename = "progressToken")]
    progress_token: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WithMeta<'a> {
    #[serde(borrow, rename = "_meta")]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct LevelParams<'a> {
    level: &'a str,
}

#[derive(Deserialize)]
struct UriParams<'a> {
    #[serde(borrow)]
    uri: alloc::borrow::Cow<'a, str>,
}

/// Bytes `clientInfo` and `capabilities` take in `initialize` params, which the session keeps.
pub(super) fn client_metadata_bytes(params: Option<&RawValue>) -> usize {
    params
        .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok())
        .map_or(0, |p| {
            p.client_info.map_or(0, |c| c.get().len()) + p.capabilities.map_or(0, |c| c.get().len())
        })
}

#[derive(Deserialize)]
struct CancelledParams<'a> {
    #[serde(borrow, rename = "requestId")]
    request_id: &'a RawValue,
    reason: Option<String>,
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

impl Engine {
    /// Creates a session with a fresh wire id.
    pub(super) fn open_session(
        &mut self,
        kind: SessionKind,
        binding: Option<Box<[u8]>>,
    ) -> SessionKey {
        let legacy = kind == SessionKind::Legacy;
        let now = self.now();
        let key = self.sessions.vacant_key();
        let mut raw = [0u8; 16];
        self.entropy.fill(&mut raw);
        let mut wire_id = String::with_capacity(self.session_id_prefix.len() + 32);
        wire_id.push_str(&self.session_id_prefix);
        for b in raw {
            wire_id.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
            wire_id.push(char::from(HEX_DIGITS[usize::from(b & 0xf)]));
        }
        let mut session = Session {
            wire_id: wire_id.clone(),
            binding,
            kind,
            listen: None,
            protocol: if legacy {
                ProtocolVersion::V2024_11_05
            } else {
                ProtocolVersion::LATEST
            },
            opened: false,
            initialized: false,
            log_level: None,
            subscriptions: BTreeSet::new(),
            client_info: None,
            client_capabilities: None,
            held: 0,
            detached: 0,
            standalone: None,
            streams: BTreeSet::new(),
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
        let deadline = now + self.config.timeouts.session_init;
        self.session_timers.set(
            &mut session.timers,
            key,
            super::entities::SessionTimer::Init,
            deadline,
        );
        let metadata = super::budget::session_metadata_bytes(&session);
        self.sessions.insert_at(key, session);
        self.session_by_wire_id.insert(wire_id, key);
        self.charge(Holding::Session, Some(key), metadata);
        self.counters.sessions_opened += 1;
        self.refresh_session_idle(key);
        key
    }

    /// Handles `messages` for `session`, sending responses to `target`.
    pub(super) fn deliver(
        &mut self,
        session: SessionKey,
        messages: Vec<Result<Message, InvalidMessage>>,
        target: ResponseTarget,
    ) {
        let answers = messages
            .iter()
            .filter(|m| matches!(m, Ok(Message::Request(_)) | Err(_)))
            .count();
        let stream = match target {
            ResponseTarget::Stream(stream) => stream,
            ResponseTarget::Post { exchange, .. } if answers == 0 => {
                // Only notifications and responses: accepted, nothing to stream.
                let wire_id = self.sessions[session].wire_id.clone();
                self.send_full(exchange, 202, &[("mcp-session-id", &wire_id)], b"");
                StreamId(0)
            }
            ResponseTarget::Post {
                exchange,
                batch,
                version,
            } => {
                let mode = match self.config.response_mode {
                    ResponseMode::Sse => StreamMode::Sse,
                    ResponseMode::Auto => StreamMode::Json {
                        responses: Vec::new(),
                        batch,
                    },
                };
                let sse = matches!(mode, StreamMode::Sse);
                let stream = self.new_stream(session, StreamKind::Post, mode, version);
                if let Some(s) = self.streams.get_mut(stream) {
                    s.pending = answers;
                }
                self.attach_stream(stream, exchange);
                if sse {
                    self.start_sse(stream, true);
                }
                stream
            }
        };
        self.restart_idle_clock(session);
        for message in messages {
            if !self.sessions.contains_key(session) {
                break;
            }
            match message {
                Ok(Message::Request(request)) => self.client_request(session, stream, request),
                Ok(Message::Notification(notification)) => {
                    self.client_notification(session, notification.method, notification.params);
                }
                Ok(Message::Response(response)) => {
                    self.client_response(session, response.id, Ok(response.result));
                }
                Ok(Message::Error(error)) => {
                    if let Some(id) = error.id {
                        let error = ClientError::Rpc {
                            code: error.error.code,
                            message: error.error.message,
                            data: error.error.data,
                        };
                        self.client_response(session, id, Err(error));
                    }
                }
                Err(invalid) => {
                    let body = jsonrpc::error_body(
                        invalid.id.as_ref(),
                        ErrorCode::INVALID_REQUEST,
                        &format!("Invalid Request: {}", invalid.reason),
                    );
                    self.respond_on(stream, body);
                }
            }
        }
    }

    fn client_request(&mut self, session: SessionKey, stream: StreamId, request: jsonrpc::Request) {
        let id = request.id.clone();
        let answer = match request.method.as_str() {
            "initialize" => self.answer_initialize(session, request.params.as_deref()),
            "ping" => Ok(empty_result()),
            "logging/setLevel" => self.set_log_level(session, request.params.as_deref()),
            "resources/subscribe" => self.subscribe(session, request.params.as_deref(), true),
            "resources/unsubscribe" => self.subscribe(session, request.params.as_deref(), false),
            _ => return self.app_request(session, stream, request),
        };
        let body = match answer {
            Ok(result) => response_body(&id, &result),
            Err((code, message)) => jsonrpc::error_body(Some(&id), code, &message),
        };
        self.respond_on(stream, body);
    }

    fn app_request(&mut self, session: SessionKey, stream: StreamId, request: jsonrpc::Request) {
        let s = &self.sessions[session];
        let stateless = s.kind == SessionKind::Stateless;
        let refusal = if !s.opened {
            Some((
                ErrorCode::INVALID_REQUEST,
                "Invalid Request: Server not initialized",
            ))
        } else if s.inflight.contains_key(&request.id) {
            Some((
                ErrorCode::INVALID_REQUEST,
                "Invalid Request: duplicate request id",
            ))
        } else if s.inflight.len() >= self.config.limits.max_inflight_per_session
            || self.inflight.len() >= self.config.limits.max_inflight_total
        {
            Some((ErrorCode::SERVER_ERROR, "Too many requests in flight"))
        } else if self.shutdown_deadline.is_some() {
            Some((ErrorCode::SERVER_ERROR, "Server is shutting down"))
        } else {
            None
        };
        if let Some((code, message)) = refusal {
            let body = jsonrpc::error_body(Some(&request.id), code, message);
            return self.respond_on(stream, body);
        }
        let progress_token = request.params.as_deref().and_then(|p| {
            serde_json::from_str::<WithMeta<'_>>(p.get())
                .ok()
                .and_then(|m| m.meta?.progress_token.map(ToOwned::to_owned))
        });
        let inflight = self.inflight.vacant_key();
        // The application holds the params while it works; the engine keeps the id twice.
        let held = super::budget::REQUEST_BYTES
            + request.method.len()
            + 2 * id_bytes(&request.id)
            + progress_token.as_ref().map_or(0, |t| t.get().len())
            + request.params.as_ref().map_or(0, |p| p.get().len());
        let mut entry = Inflight {
            session,
            request_id: request.id.clone(),
            stream,
            progress_token,
            last_progress: None,
            held,
            blocked: None,
            shape: stateless.then(|| super::modern::results::ResultShape::of(&request.method)),
            input: None,
            timers: TimerTable::new(),
        };
        if let Some(timeout) = self.config.timeouts.request {
            let deadline = self.now() + timeout;
            self.inflight_timers.set(
                &mut entry.timers,
                inflight,
                InflightTimer::Timeout,
                deadline,
            );
        }
        self.inflight.insert_at(inflight, entry);
        if let Some(s) = self.sessions.get_mut(session) {
            s.inflight.insert(request.id, inflight);
        }
        self.charge(Holding::Requests, Some(session), held);
        self.refresh_session_idle(session);
        self.emit(Event::Request {
            handle: RequestHandle { session, inflight },
            method: request.method,
            params: request.params,
        });
    }

    fn answer_initialize(
        &mut self,
        session: SessionKey,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, (ErrorCode, String)> {
        if self.sessions[session].opened {
            return Err((
                ErrorCode::INVALID_REQUEST,
                "Invalid Request: Server already initialized".into(),
            ));
        }
        let version = negotiate(params);
        let parsed =
            params.and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok());
        // Kept once, shared with the application: a session costs its client info's bytes,
        // not a parsed tree of them.
        let shared = |raw: Option<&RawValue>| raw.map(|r| alloc::sync::Arc::from(r.to_owned()));
        let client_info: Option<alloc::sync::Arc<RawValue>> =
            shared(parsed.as_ref().and_then(|p| p.client_info));
        let client_capabilities: Option<alloc::sync::Arc<RawValue>> =
            shared(parsed.as_ref().and_then(|p| p.capabilities));
        let metadata = client_info.as_ref().map_or(0, |c| c.get().len())
            + client_capabilities.as_ref().map_or(0, |c| c.get().len());
        if let Some(s) = self.sessions.get_mut(session) {
            s.opened = true;
            s.protocol = version;
            s.client_info = client_info.clone();
            s.client_capabilities = client_capabilities.clone();
        }
        self.charge(Holding::Session, Some(session), metadata);
        self.emit(Event::SessionOpened {
            session,
            protocol_version: version,
            client_info,
            client_capabilities,
        });
        #[derive(Serialize)]
        struct ServerInfo<'a> {
            name: &'a str,
            version: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            title: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct InitializeResult<'a> {
            #[serde(rename = "protocolVersion")]
            protocol_version: &'a str,
            capabilities: &'a RawValue,
            #[serde(rename = "serverInfo")]
            server_info: ServerInfo<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            instructions: Option<&'a str>,
        }
        let result = InitializeResult {
            protocol_version: version.as_str(),
            capabilities: &self.capabilities,
            server_info: ServerInfo {
                name: &self.config.server_name,
                version: &self.config.server_version,
                title: self.config.server_title.as_deref(),
            },
            instructions: self.config.instructions.as_deref(),
        };
        serde_json::value::to_raw_value(&result)
            .map_err(|_| (ErrorCode::INTERNAL_ERROR, "Internal error".into()))
    }

    fn set_log_level(
        &mut self,
        session: SessionKey,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, (ErrorCode, String)> {
        let level = params
            .and_then(|p| serde_json::from_str::<LevelParams<'_>>(p.get()).ok())
            .and_then(|p| LogLevel::parse(p.level))
            .ok_or((
                ErrorCode::INVALID_PARAMS,
                String::from("Invalid params: unknown log level"),
            ))?;
        if let Some(s) = self.sessions.get_mut(session) {
            s.log_level = Some(level);
        }
        Ok(empty_result())
    }

    fn subscribe(
        &mut self,
        session: SessionKey,
        params: Option<&RawValue>,
        on: bool,
    ) -> Result<Box<RawValue>, (ErrorCode, String)> {
        let uri = params
            .and_then(|p| serde_json::from_str::<UriParams<'_>>(p.get()).ok())
            .map(|p| p.uri)
            .ok_or((
                ErrorCode::INVALID_PARAMS,
                String::from("Invalid params: uri is required"),
            ))?;
        let limits = self.config.limits;
        if uri.len() > limits.max_uri_bytes {
            return Err((
                ErrorCode::INVALID_PARAMS,
                format!(
                    "Invalid params: the uri is {} bytes, over the limit of {}",
                    uri.len(),
                    limits.max_uri_bytes
                ),
            ));
        }
        let Some(s) = self.sessions.get(session) else {
            return Ok(empty_result());
        };
        let known = s.subscriptions.contains(&*uri);
        if on && !known {
            if s.subscriptions.len() >= limits.max_subscriptions_per_session {
                return Err((
                    ErrorCode::SERVER_ERROR,
                    String::from("Too many subscriptions"),
                ));
            }
            let cost = super::budget::subscription_cost(&uri);
            if self.admits(Some(session), cost).is_err() {
                return Err((
                    ErrorCode::SERVER_ERROR,
                    String::from("Server busy: no room for another subscription"),
                ));
            }
            self.insert_subscription(session, &uri);
        } else if !on && known {
            if let Some(s) = self.sessions.get_mut(session) {
                s.subscriptions.remove(&*uri);
            }
            if let Some(set) = self.subscribers.get_mut(&*uri) {
                set.remove(&session);
                if set.is_empty() {
                    self.subscribers.remove(&*uri);
                }
            }
            let cost = super::budget::subscription_cost(&uri);
            self.release(Holding::Subscriptions, Some(session), cost);
        }
        Ok(empty_result())
    }

    /// Subscribes `session` (or a listen stream's context) to `uri`, charged to it.
    pub(super) fn insert_subscription(&mut self, session: SessionKey, uri: &str) {
        let cost = super::budget::subscription_cost(uri);
        // One allocation for the URI, however many sessions subscribe to it.
        let shared: alloc::sync::Arc<str> = match self.subscribers.get_key_value(uri) {
            Some((existing, _)) => existing.clone(),
            None => alloc::sync::Arc::from(uri),
        };
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        if !s.subscriptions.insert(shared.clone()) {
            return;
        }
        self.subscribers.entry(shared).or_default().insert(session);
        self.charge(Holding::Subscriptions, Some(session), cost);
    }

    fn client_notification(
        &mut self,
        session: SessionKey,
        method: String,
        params: Option<Box<RawValue>>,
    ) {
        match method.as_str() {
            "notifications/initialized" => {
                if let Some(s) = self.sessions.get_mut(session) {
                    s.initialized = true;
                    self.session_timers.stop(
                        &mut s.timers,
                        session,
                        super::entities::SessionTimer::Init,
                    );
                }
                self.refresh_session_idle(session);
                self.arm_heartbeat(session);
            }
            "notifications/cancelled" => {
                let Some(cancelled) = params
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<CancelledParams<'_>>(p.get()).ok())
                else {
                    return;
                };
                let inflight = RequestId::from_json(cancelled.request_id.get())
                    .and_then(|id| self.sessions.get(session)?.inflight.get(&id).copied());
                // Unknown or finished requests are ignored, as the spec requires.
                if let Some(inflight) = inflight {
                    self.end_inflight(inflight, Some(CancelReason::ByClient(cancelled.reason)));
                }
            }
            _ => self.emit(Event::Notification {
                session,
                method,
                params,
            }),
        }
    }

    fn client_response(
        &mut self,
        session: SessionKey,
        id: RequestId,
        result: Result<Box<RawValue>, ClientError>,
    ) {
        let RequestId::Number(number) = id else {
            return;
        };
        let Some(outbound) = self
            .sessions
            .get(session)
            .and_then(|s| s.outbound.get(&number).copied())
        else {
            return;
        };
        self.end_outbound(outbound, Some(result));
    }
}

pub(super) fn empty_result() -> Box<RawValue> {
    RawValue::from_string(String::from("{}")).unwrap_or_else(|_| unreachable_raw())
}

/// `{}` as a raw value; the only fallback the infallible paths above need.
fn unreachable_raw() -> Box<RawValue> {
    serde_json::value::to_raw_value(&serde_json::Map::new()).unwrap_or_default()
}

/// The JSON bytes of a success response.
pub(super) fn response_body(id: &RequestId, result: &RawValue) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        jsonrpc: &'static str,
        id: &'a RequestId,
        result: &'a RawValue,
    }
    serde_json::to_vec(&Body {
        jsonrpc: "2.0",
        id,
        result,
    })
    .unwrap_or_default()
}
