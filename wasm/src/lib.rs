//! mcpwire for browsers and edge runtimes: [`mcpwire_core`]'s engine behind wasm-bindgen, driven
//! at the request level by a fetch-style host (the JS module in `wasm/js/`).
//!
//! # The run loop (what `wasm/js/index.js` does)
//!
//! The engine never reads a clock and never draws randomness: JS passes the time (milliseconds
//! from `performance.now()`) to every call and 32 bytes from `crypto.getRandomValues` to the
//! constructor. After every call the host drains, in this order:
//!
//! 1. events: `pollEvent()` until `undefined`, answering requests with `respond`,
//!    `respondError`, `sendProgress` and the other commands (each of which is itself a call);
//! 2. output: for each id of `exchangesWithOutput()`, `pollExchangeOutput(id)` while its
//!    consumer wants more: [`OutputKind::Head`] (read `outputStatus()`, `outputHeaders()`,
//!    the latter as `name\0value\0...`),
//!    [`OutputKind::Body`] (`outputBody()`), [`OutputKind::End`] or [`OutputKind::Aborted`],
//!    after which the id is forgotten;
//! 3. time: one timer set to `pollTimeout()`, which calls `handleTimeout(now)`.
//!
//! A consumer that cancels a response calls `handleExchangeClosed(now, id)`; a stream it
//! carried stays resumable for the resume window.
//!
//! ```
//! use mcpwire_wasm::{Engine, OutputKind};
//!
//! let options = r#"{"serverName":"demo","serverVersion":"1.0.0"}"#;
//! let mut engine = Engine::new(options, 0.0, &[7; 32]).unwrap();
//! let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
//! // Headers cross as one string: each name and value followed by a NUL.
//! let headers = "host\0127.0.0.1\0content-type\0application/json\0\
//!                accept\0application/json, text/event-stream\0";
//! let exchange = engine.handle_request(0.0, "POST", "/mcp", headers, body.as_bytes().to_vec()).unwrap();
//! while let Some(event) = engine.poll_event() {
//!     assert!(event.starts_with(r#"{"type":"sessionOpened""#));
//! }
//! assert_eq!(engine.poll_exchange_output(exchange), Some(OutputKind::Head));
//! assert_eq!(engine.output_status(), 200);
//! assert_eq!(engine.poll_exchange_output(exchange), Some(OutputKind::Body));
//! assert!(String::from_utf8(engine.output_body()).unwrap().contains(r#""serverInfo""#));
//! assert_eq!(engine.poll_exchange_output(exchange), Some(OutputKind::End));
//! engine.check_invariants().unwrap();
//! ```

mod auth;
mod events;
mod options;

use mcpwire_core::engine::{
    self as core_engine, CommandError, ExchangeId, ExchangeOutput, InflightId, LogLevel, Reply,
    RequestHandle, SessionKey, Target,
};
use mcpwire_core::http1::Request;
use mcpwire_core::time::{Duration, Instant};
use serde_json::value::RawValue;
use wasm_bindgen::prelude::*;

/// What [`Engine::poll_exchange_output`] took.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Status and headers: `outputStatus()`, `outputHeaders()`.
    Head = 1,
    /// Body bytes: `outputBody()`.
    Body = 2,
    /// The response is complete; the exchange is forgotten.
    End = 3,
    /// The response will not complete: break it off (error the body); the exchange is
    /// forgotten.
    Aborted = 4,
}

/// The MCP transport engine for one server. Every method that takes `now` takes milliseconds
/// on the host's monotonic clock.
#[wasm_bindgen]
pub struct Engine {
    engine: core_engine::Engine,
    /// The piece the last `poll_exchange_output` took, read by the `output*` accessors.
    status: u16,
    headers: String,
    body: Vec<u8>,
}

fn instant(now: f64) -> Instant {
    // `as` saturates, and maps NaN to 0; the engine's clock never goes backwards anyway.
    Instant::from_millis(now as u64)
}

fn session(id: f64) -> SessionKey {
    SessionKey::from_u64(id as u64)
}

fn handle(session_id: f64, request: f64) -> RequestHandle {
    RequestHandle::from_parts(session(session_id), InflightId::from_u64(request as u64))
}

/// A command's refusal as a JS `Error` whose message starts with a stable code.
fn refused(error: CommandError) -> JsError {
    let code = match error {
        CommandError::StaleHandle => "stale_handle",
        CommandError::NoProgressToken => "no_progress_token",
        CommandError::ProgressNotIncreasing => "progress_not_increasing",
        CommandError::InvalidJson => "invalid_json",
        CommandError::TooManyOutbound => "too_many_outbound",
        CommandError::NoStream => "no_stream",
        CommandError::ShuttingDown => "shutting_down",
        CommandError::NotResumable => "not_resumable",
        CommandError::WouldBlock => "would_block",
        CommandError::TooLarge => "too_large",
        CommandError::CapabilityNotDeclared => "capability_not_declared",
        CommandError::StatelessRequest => "stateless_request",
        CommandError::InputNotAllowed => "input_not_allowed",
    };
    JsError::new(&format!("{code}: {error}"))
}

fn raw_json(json: &str) -> Result<Box<RawValue>, JsError> {
    RawValue::from_string(json.to_owned()).map_err(|_| refused(CommandError::InvalidJson))
}

fn optional_json(json: Option<String>) -> Result<Option<Box<RawValue>>, JsError> {
    json.map(|j| raw_json(&j)).transpose()
}

#[wasm_bindgen]
impl Engine {
    /// An engine configured by `options` (JSON; see `EngineOptions` in `index.d.ts`), starting
    /// at `now`, its session ids drawn from `seed` (32 random bytes).
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str, now: f64, seed: &[u8]) -> Result<Engine, JsError> {
        let config = options::Options::parse(options).map_err(|e| JsError::new(&e))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| JsError::new("the seed must be 32 bytes"))?;
        Ok(Engine {
            engine: core_engine::Engine::new(config, instant(now), seed),
            status: 0,
            headers: String::new(),
            body: Vec::new(),
        })
    }

    /// Mixes 32 fresh random bytes into the session-id generator.
    #[wasm_bindgen(js_name = addEntropy)]
    pub fn add_entropy(&mut self, fresh: &[u8]) -> Result<(), JsError> {
        let fresh: [u8; 32] = fresh
            .try_into()
            .map_err(|_| JsError::new("entropy comes in 32 bytes"))?;
        self.engine.add_entropy(fresh);
        Ok(())
    }

    /// The key input-required states are sealed with (32 bytes). Engines that share a key
    /// open each other's states, so that a retry may reach any instance; without one, states
    /// open only on the engine that sealed them, and not after a restart.
    #[wasm_bindgen(js_name = setStateKey)]
    pub fn set_state_key(&mut self, key: &[u8]) -> Result<(), JsError> {
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| JsError::new("the state key must be 32 bytes"))?;
        self.engine.set_state_key(key);
        Ok(())
    }

    // ---- Requests and their responses ----

    /// An HTTP request: `method`, `target` (path and query), `headers` as one string of names
    /// and values, each followed by a NUL (`name\0value\0...`; include `host`: fetch requests
    /// carry it in their URL), and the body
    /// (at most one byte past the body limit need be read: the engine answers 413). Returns
    /// the exchange id to poll.
    #[wasm_bindgen(js_name = handleRequest)]
    pub fn handle_request(
        &mut self,
        now: f64,
        method: &str,
        target: &str,
        headers: &str,
        body: Vec<u8>,
    ) -> Result<f64, JsError> {
        // One string instead of an array: converting an array of JS strings costs a crossing
        // per string, a quarter of this call. Fetch header names and values hold no NUL.
        let mut builder = Request::builder(method, target);
        let mut fields = headers.split('\0');
        while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(body)
            .build()
            .map_err(|e| JsError::new(&format!("bad request: {e}")))?;
        Ok(self.engine.handle_request(instant(now), request).as_u64() as f64)
    }

    /// Takes the next piece of `exchange`'s response, if one is ready.
    #[must_use]
    #[wasm_bindgen(js_name = pollExchangeOutput)]
    pub fn poll_exchange_output(&mut self, exchange: f64) -> Option<OutputKind> {
        let piece = self
            .engine
            .poll_exchange_output(ExchangeId::from_u64(exchange as u64))?;
        Some(match piece {
            ExchangeOutput::Head { status, headers } => {
                self.status = status;
                self.headers.clear();
                for (name, value) in headers {
                    self.headers.push_str(&name);
                    self.headers.push('\0');
                    self.headers.push_str(&value);
                    self.headers.push('\0');
                }
                OutputKind::Head
            }
            ExchangeOutput::Body(payload) => {
                self.body = payload.as_slice().to_vec();
                OutputKind::Body
            }
            ExchangeOutput::End => OutputKind::End,
            ExchangeOutput::Aborted => OutputKind::Aborted,
        })
    }

    /// The status of the head just taken.
    #[wasm_bindgen(js_name = outputStatus)]
    pub fn output_status(&self) -> u16 {
        self.status
    }

    /// The headers of the head just taken: lowercase names and values, each followed by a
    /// NUL (`name\0value\0...`), as `handleRequest` takes them.
    #[wasm_bindgen(js_name = outputHeaders)]
    pub fn output_headers(&mut self) -> String {
        core::mem::take(&mut self.headers)
    }

    /// The bytes of the body piece just taken.
    #[wasm_bindgen(js_name = outputBody)]
    pub fn output_body(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.body)
    }

    /// Exchanges with output waiting, in id order.
    #[wasm_bindgen(js_name = exchangesWithOutput)]
    pub fn exchanges_with_output(&self) -> Vec<f64> {
        self.engine
            .exchanges_with_output()
            .map(|e| e.as_u64() as f64)
            .collect()
    }

    /// The consumer stopped reading `exchange`'s response.
    #[wasm_bindgen(js_name = handleExchangeClosed)]
    pub fn handle_exchange_closed(&mut self, now: f64, exchange: f64) {
        self.engine
            .handle_exchange_closed(instant(now), ExchangeId::from_u64(exchange as u64));
    }

    // ---- Application ----

    /// The next event, as JSON (see `EngineEvent` in `index.d.ts`).
    #[must_use]
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> Option<String> {
        self.engine.poll_event().map(|e| events::to_json(&e))
    }

    /// Answers a request with a result (a JSON object).
    pub fn respond(
        &mut self,
        now: f64,
        session: f64,
        request: f64,
        result: &str,
    ) -> Result<(), JsError> {
        let reply = Reply::Result(raw_json(result)?);
        self.engine
            .respond(instant(now), handle(session, request), &reply)
            .map_err(refused)
    }

    /// Answers a request with a JSON-RPC error.
    #[wasm_bindgen(js_name = respondError)]
    pub fn respond_error(
        &mut self,
        now: f64,
        session: f64,
        request: f64,
        code: f64,
        message: &str,
        data: Option<String>,
    ) -> Result<(), JsError> {
        let reply = Reply::Error {
            code: code as i64,
            message: message.to_owned(),
            data: optional_json(data)?,
        };
        self.engine
            .respond(instant(now), handle(session, request), &reply)
            .map_err(refused)
    }

    /// Answers a 2026-07-28 request with an input-required result: the client answers
    /// `input_requests` (a JSON object of `{key: {method, params}}`) and retries the request,
    /// bringing back `state`, sealed by the engine meanwhile ([`Engine::request_state`] opens
    /// it). The server keeps nothing for a flow the client abandons.
    #[wasm_bindgen(js_name = respondInputRequired)]
    pub fn respond_input_required(
        &mut self,
        now: f64,
        session: f64,
        request: f64,
        input_requests: &str,
        state: &[u8],
    ) -> Result<(), JsError> {
        let reply = Reply::InputRequired {
            input_requests: raw_json(input_requests)?,
            state: state.to_vec(),
        };
        self.engine
            .respond(instant(now), handle(session, request), &reply)
            .map_err(refused)
    }

    /// The state a 2026-07-28 request brought back from its previous input-required round,
    /// opened: empty on a first round (or when it did not open: expired, forged, another
    /// key's); `undefined` for a session-era request or a stale handle.
    #[wasm_bindgen(js_name = requestState)]
    pub fn request_state(&self, session: f64, request: f64) -> Option<Vec<u8>> {
        self.engine
            .request_state(handle(session, request))
            .map(<[u8]>::to_vec)
    }

    /// What a live request's client declared, as JSON: `protocolVersion`, `clientInfo` and
    /// `clientCapabilities` (from `initialize` in the session era, from the request's `_meta`
    /// in 2026-07-28), and `principal`, whom its verified token stands for (`null` without
    /// `auth`); `undefined` for a stale handle.
    #[wasm_bindgen(js_name = clientContext)]
    pub fn client_context(&self, session: f64, request: f64) -> Option<String> {
        let context = self.engine.client_context(handle(session, request))?;
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Context<'a> {
            protocol_version: &'a str,
            client_info: Option<&'a RawValue>,
            client_capabilities: Option<&'a RawValue>,
            principal: Option<&'a str>,
        }
        serde_json::to_string(&Context {
            protocol_version: context.protocol_version.as_str(),
            client_info: context.client_info.as_deref(),
            client_capabilities: context.client_capabilities.as_deref(),
            principal: context.principal.as_deref(),
        })
        .ok()
    }

    /// For a 2026-07-28 `tools/call`: whether its `Mcp-Param-*` headers agree with its
    /// `arguments` (JSON) for every argument the tool's `input_schema` (JSON) annotates with
    /// `x-mcp-header`. Returns the message of the -32020 error to answer with, or `undefined`
    /// when they agree (or the request is not such a call).
    #[wasm_bindgen(js_name = paramHeaderMismatch)]
    pub fn param_header_mismatch(
        &self,
        session: f64,
        request: f64,
        input_schema: &str,
        arguments: Option<String>,
    ) -> Option<String> {
        let schema: serde_json::Value = serde_json::from_str(input_schema).ok()?;
        let arguments: Option<serde_json::Value> =
            arguments.and_then(|a| serde_json::from_str(&a).ok());
        core_engine::check_param_headers(
            &schema,
            arguments.as_ref(),
            self.engine.param_headers(handle(session, request)),
        )
        .err()
    }

    /// Progress on a request that carried a progress token.
    #[wasm_bindgen(js_name = sendProgress)]
    pub fn send_progress(
        &mut self,
        now: f64,
        session: f64,
        request: f64,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) -> Result<(), JsError> {
        self.engine
            .send_progress(
                instant(now),
                handle(session, request),
                progress,
                total,
                message.as_deref(),
            )
            .map_err(refused)
    }

    /// A log message (`data` is JSON), on a request's stream or (with `request` undefined)
    /// the session's GET stream, filtered by the session's `logging/setLevel`.
    #[wasm_bindgen(js_name = sendLog)]
    pub fn send_log(
        &mut self,
        now: f64,
        session: f64,
        request: Option<f64>,
        level: &str,
        logger: Option<String>,
        data: &str,
    ) -> Result<(), JsError> {
        let level = LogLevel::parse(level)
            .ok_or_else(|| JsError::new(&format!("invalid_level: {level}")))?;
        let data = raw_json(data)?;
        self.engine
            .send_log(
                instant(now),
                target(session, request),
                level,
                logger.as_deref(),
                &data,
            )
            .map_err(refused)
    }

    /// A request to the client (sampling, elicitation, roots), related to `request` if given.
    /// Returns the outbound id its `clientResponse` event will carry.
    #[wasm_bindgen(js_name = requestClient)]
    pub fn request_client(
        &mut self,
        now: f64,
        session: f64,
        request: Option<f64>,
        method: &str,
        params: Option<String>,
        timeout_ms: Option<f64>,
    ) -> Result<f64, JsError> {
        let params = optional_json(params)?;
        self.engine
            .request_client(
                instant(now),
                target(session, request),
                method,
                params.as_deref(),
                timeout_ms.map(|ms| Duration::from_millis(ms as u64)),
            )
            .map(|h| h.outbound().as_u64() as f64)
            .map_err(refused)
    }

    /// A notification to one session's GET stream (or its backlog until one opens).
    pub fn notify(
        &mut self,
        now: f64,
        session_id: f64,
        method: &str,
        params: Option<String>,
    ) -> Result<(), JsError> {
        let params = optional_json(params)?;
        self.engine
            .notify(instant(now), session(session_id), method, params.as_deref())
            .map_err(refused)
    }

    /// A notification to every initialized session, encoded once. Returns how many.
    pub fn broadcast(
        &mut self,
        now: f64,
        method: &str,
        params: Option<String>,
    ) -> Result<f64, JsError> {
        let params = optional_json(params)?;
        Ok(self
            .engine
            .broadcast(instant(now), method, params.as_deref()) as f64)
    }

    /// `notifications/resources/updated` to the sessions subscribed to `uri`. Returns how many.
    #[wasm_bindgen(js_name = resourceUpdated)]
    pub fn resource_updated(&mut self, now: f64, uri: &str) -> f64 {
        self.engine.resource_updated(instant(now), uri) as f64
    }

    /// Ends a session, as if it had expired.
    #[wasm_bindgen(js_name = closeSession)]
    pub fn close_session(&mut self, now: f64, session_id: f64) -> Result<(), JsError> {
        self.engine
            .close_session(instant(now), session(session_id))
            .map_err(refused)
    }

    /// Closes a request's SSE stream so the client resumes it later (SEP-1699).
    #[wasm_bindgen(js_name = closeRequestStream)]
    pub fn close_request_stream(
        &mut self,
        now: f64,
        session: f64,
        request: f64,
    ) -> Result<(), JsError> {
        self.engine
            .close_request_stream(instant(now), handle(session, request))
            .map_err(refused)
    }

    /// Starts a graceful shutdown: new work gets 503; requests in flight get `grace_ms`.
    #[wasm_bindgen(js_name = beginShutdown)]
    pub fn begin_shutdown(&mut self, now: f64, grace_ms: f64) {
        self.engine
            .begin_shutdown(instant(now), Duration::from_millis(grace_ms as u64));
    }

    /// Whether shutdown has begun and nothing is left.
    #[wasm_bindgen(js_name = isDrained)]
    pub fn is_drained(&self) -> bool {
        self.engine.is_drained()
    }

    // ---- Time ----

    /// When `handleTimeout` must next be called (`now` while events wait), or `undefined`.
    #[must_use]
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.engine.poll_timeout().map(|t| t.as_millis() as f64)
    }

    /// Fires every timer due at `now`.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) {
        self.engine.handle_timeout(instant(now));
    }

    // ---- Accounting ----

    /// Live entities and totals, as JSON (see `EngineStats` in `index.d.ts`).
    pub fn stats(&self) -> String {
        let s = self.engine.stats();
        let mut json = String::from("{");
        let gauges = s.gauges();
        let totals = [
            ("connections_accepted_total", s.connections_accepted_total),
            ("sessions_opened_total", s.sessions_opened_total),
            ("sessions_closed_total", s.sessions_closed_total),
            ("clock_regressions_total", s.clock_regressions_total),
        ];
        for (i, (name, value)) in gauges.iter().chain(totals.iter()).enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!("\"{}\":{value}", camel(name)));
        }
        json.push('}');
        json
    }

    /// Checks every internal index against every other; the error names what disagrees.
    #[wasm_bindgen(js_name = checkInvariants)]
    pub fn check_invariants(&self) -> Result<(), JsError> {
        self.engine
            .check_invariants()
            .map_err(|e| JsError::new(&format!("invariant violated: {e}")))
    }
}

fn target(session_id: f64, request: Option<f64>) -> Target {
    match request {
        Some(request) => Target::Request(handle(session_id, request)),
        None => Target::Session(session(session_id)),
    }
}

/// `snake_case` to `camelCase`.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
