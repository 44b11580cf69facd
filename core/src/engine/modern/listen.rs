//! `subscriptions/listen`: a long-lived POST stream of the change notifications its client
//! opted in to. The engine serves it itself: a stateless context with a `Listen` stream, its
//! URIs in the same subscriber index as sessions' (so one fan-out reaches both), and every
//! frame tagged with the listen request's id.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::{Envelope, Rejection};
use crate::engine::Engine;
use crate::engine::entities::{Listen, ListenFilter, StreamKind, StreamMode};
use crate::engine::ids::ExchangeId;
use crate::engine::protocol::ProtocolVersion;
use crate::engine::streams::sse_body;
use crate::engine::transport::Pacing;
use crate::jsonrpc::{self, ErrorCode, RequestId};

/// `_meta` key naming the listen request a frame belongs to.
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

#[derive(Deserialize, Default)]
struct Requested<'a> {
    #[serde(default, rename = "toolsListChanged")]
    tools: bool,
    #[serde(default, rename = "promptsListChanged")]
    prompts: bool,
    #[serde(default, rename = "resourcesListChanged")]
    resources: bool,
    #[serde(borrow, default, rename = "resourceSubscriptions")]
    uris: Vec<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ListenParams<'a> {
    #[serde(borrow, default)]
    notifications: Option<Requested<'a>>,
}

/// The resources a `subscriptions/listen` request's params subscribe to, read as the listen
/// itself reads them (none when it would refuse them).
pub(in crate::engine) fn listened_uris(params: Option<&RawValue>) -> Vec<String> {
    let Some(params) = params else {
        return Vec::new();
    };
    let Ok(parsed) = serde_json::from_str::<ListenParams<'_>>(params.get()) else {
        return Vec::new();
    };
    let uris = parsed.notifications.map(|n| n.uris).unwrap_or_default();
    uris.into_iter().map(Cow::into_owned).collect()
}

/// What the server can send at all, from its declared capabilities.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Supported {
    filter: ListenFilter,
    resource_updates: bool,
}

impl Supported {
    /// Read from the server's `capabilities` object.
    pub(crate) fn from_capabilities(capabilities: &RawValue) -> Supported {
        let value: serde_json::Value = serde_json::from_str(capabilities.get()).unwrap_or_default();
        let flag = |kind: &str, key: &str| value[kind][key] == serde_json::Value::Bool(true);
        Supported {
            filter: ListenFilter {
                tools: flag("tools", "listChanged"),
                prompts: flag("prompts", "listChanged"),
                resources: flag("resources", "listChanged"),
            },
            resource_updates: flag("resources", "subscribe"),
        }
    }
}

/// Which filter flag a broadcast method needs, if any.
pub(crate) fn wants(filter: ListenFilter, method: &str) -> bool {
    match method {
        "notifications/tools/list_changed" => filter.tools,
        "notifications/prompts/list_changed" => filter.prompts,
        "notifications/resources/list_changed" => filter.resources,
        _ => false,
    }
}

/// A notification for one listen stream: its params with `_meta.subscriptionId` first. The
/// params are spliced in as text, so a broadcast's JSON is encoded once and only the id differs
/// per stream.
pub(crate) fn tagged(method: &str, params: Option<&RawValue>, id: &RequestId) -> Arc<[u8]> {
    if params.is_some_and(has_meta) {
        return tagged_merging_meta(method, params, id);
    }
    let id_json = serde_json::to_string(id).unwrap_or_else(|_| String::from("null"));
    let mut json = Vec::with_capacity(96 + method.len() + params.map_or(0, |p| p.get().len()));
    json.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    json.extend_from_slice(serde_json::to_string(method).unwrap_or_default().as_bytes());
    json.extend_from_slice(b",\"params\":{\"_meta\":{\"");
    json.extend_from_slice(SUBSCRIPTION_ID.as_bytes());
    json.extend_from_slice(b"\":");
    json.extend_from_slice(id_json.as_bytes());
    json.push(b'}');
    if let Some(inner) = params
        .map(|p| p.get().trim())
        .and_then(|p| p.strip_prefix('{'))
        .and_then(|p| p.strip_suffix('}'))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        json.push(b',');
        json.extend_from_slice(inner.as_bytes());
    }
    json.extend_from_slice(b"}}");
    sse_body(&json)
}

fn has_meta(params: &RawValue) -> bool {
    serde_json::from_str::<alloc::collections::BTreeMap<Cow<'_, str>, serde::de::IgnoredAny>>(
        params.get(),
    )
    .is_ok_and(|keys| keys.contains_key("_meta"))
}

/// As `tagged`, for params with a `_meta` of their own: the id is added into it (two `_meta`
/// keys would leave the id to whichever a parser keeps).
fn tagged_merging_meta(method: &str, params: Option<&RawValue>, id: &RequestId) -> Arc<[u8]> {
    use serde_json::Value;
    let mut map: serde_json::Map<String, Value> = params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_default();
    let id_value = serde_json::to_value(id).unwrap_or(Value::Null);
    match map.get_mut("_meta") {
        Some(Value::Object(meta)) => {
            meta.insert(SUBSCRIPTION_ID.into(), id_value);
        }
        _ => {
            let mut meta = serde_json::Map::new();
            meta.insert(SUBSCRIPTION_ID.into(), id_value);
            map.insert("_meta".into(), Value::Object(meta));
        }
    }
    let json = serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": map,
    }))
    .unwrap_or_default();
    sse_body(&json)
}

/// The listen request's own response, which ends its stream gracefully (at shutdown).
pub(crate) fn completion(id: &RequestId) -> Arc<[u8]> {
    let id_json = serde_json::to_string(id).unwrap_or_else(|_| String::from("null"));
    let json = format!(
        r#"{{"jsonrpc":"2.0","id":{id_json},"result":{{"resultType":"complete","_meta":{{"{SUBSCRIPTION_ID}":{id_json}}}}}}}"#
    );
    sse_body(json.as_bytes())
}

impl Engine {
    /// Opens a listen stream, bound to who opened it: acknowledged at once with the filter
    /// the server will honour.
    pub(in crate::engine) fn open_listen(
        &mut self,
        exchange: ExchangeId,
        request: jsonrpc::Request,
        envelope: Envelope,
        principal: Option<alloc::boxed::Box<[u8]>>,
    ) {
        let id = request.id.clone();
        if self.shutdown_deadline.is_some() {
            return self.unavailable(exchange, Some(&id), "shutting down");
        }
        if self.listens >= self.config.limits.max_listen_streams {
            self.counters.listens_refused += 1;
            return self.unavailable(exchange, Some(&id), "too many subscriptions");
        }
        let parsed = request
            .params
            .as_deref()
            .map(|p| serde_json::from_str::<ListenParams<'_>>(p.get()));
        let requested = match parsed {
            None => Requested::default(),
            Some(Ok(p)) => p.notifications.unwrap_or_default(),
            Some(Err(_)) => {
                return self.refuse_stateless(
                    exchange,
                    &id,
                    &invalid("Invalid params: notifications must be a filter object"),
                );
            }
        };
        let limits = self.config.limits;
        if requested.uris.len() > limits.max_subscriptions_per_session {
            let message = format!(
                "Invalid params: {} resource subscriptions, over the limit of {}",
                requested.uris.len(),
                limits.max_subscriptions_per_session
            );
            return self.refuse_stateless(exchange, &id, &invalid(&message));
        }
        if let Some(uri) = requested
            .uris
            .iter()
            .find(|u| u.len() > limits.max_uri_bytes)
        {
            let message = format!(
                "Invalid params: a subscribed uri is {} bytes, over the limit of {}",
                uri.len(),
                limits.max_uri_bytes
            );
            return self.refuse_stateless(exchange, &id, &invalid(&message));
        }
        let supported = self.listen_support;
        let filter = ListenFilter {
            tools: requested.tools && supported.filter.tools,
            prompts: requested.prompts && supported.filter.prompts,
            resources: requested.resources && supported.filter.resources,
        };
        let mut uris: Vec<Cow<'_, str>> = if supported.resource_updates {
            requested.uris
        } else {
            Vec::new()
        };
        uris.sort();
        uris.dedup();
        // Everything the stream will hold for its life, its id among it (a request id has no
        // bound of its own but the body's), charged before it is admitted: once admitted, a
        // stream is never shed to make room for the next.
        let keeps = crate::engine::budget::SESSION_BYTES
            + crate::engine::budget::STREAM_BYTES
            + crate::engine::budget::id_bytes(&id)
            + envelope.capabilities.get().len()
            + envelope.client_info.as_ref().map_or(0, |c| c.get().len())
            + principal.as_ref().map_or(0, |p| p.len())
            + uris
                .iter()
                .map(|u| crate::engine::budget::subscription_cost(u))
                .sum::<usize>();
        let most = self.config.limits.max_session_bytes;
        if keeps > most {
            // It could never fit: a retry would be refused the same way.
            let message = format!(
                "Invalid params: this subscription would hold {keeps} bytes, over the limit of \
                 {most}"
            );
            return self.refuse_stateless(exchange, &id, &invalid(&message));
        }
        if self.admits(None, keeps).is_err() {
            return self.unavailable(exchange, Some(&id), "the server holds too much");
        }
        let context = self.open_context(
            envelope,
            Some(Listen {
                id: id.clone(),
                filter,
            }),
            principal,
        );
        for uri in &uris {
            self.insert_subscription(context, uri);
        }
        self.listens += 1;
        self.counters.listens_opened += 1;
        let stream = self.new_stream(
            context,
            StreamKind::Listen,
            StreamMode::Sse,
            ProtocolVersion::V2026_07_28,
        );
        self.attach_stream(stream, exchange);
        self.start_sse(stream, false);
        let acknowledged = acknowledgment(filter, &uris);
        let ack = tagged(
            "notifications/subscriptions/acknowledged",
            Some(&acknowledged),
            &id,
        );
        self.stream_event(stream, &ack, Pacing::Unpaced);
    }
}

impl Engine {
    /// A frame for one listen stream: it cannot wait (a reader too slow for it is cut).
    pub(in crate::engine) fn send_to_listen(
        &mut self,
        context: crate::engine::ids::SessionKey,
        frame: &Arc<[u8]>,
    ) {
        let stream = self
            .sessions
            .get(context)
            .and_then(|s| s.streams.iter().next().copied());
        if let Some(stream) = stream {
            self.stream_event(stream, frame, Pacing::Unpaced);
        }
    }

    /// Ends every listen stream gracefully, with the listen request's own result (shutdown).
    ///
    /// The specification's subscriptions page asks for this result; its cancellation page
    /// speaks of `notifications/cancelled` from the server. The result is chosen: it is the
    /// JSON-RPC answer to the open request, so a client's request table closes the
    /// subscription with no special case, and it tells a graceful end from a dropped stream.
    pub(in crate::engine) fn complete_listens(&mut self) {
        let listens: Vec<_> = self
            .sessions
            .iter()
            .filter_map(|(key, s)| Some((key, s.listen.as_ref()?.id.clone())))
            .collect();
        for (context, _) in listens {
            self.complete_listen(context);
        }
    }

    /// Ends one listen stream gracefully (or any stateless context: a call is cancelled).
    pub(in crate::engine) fn complete_listen(&mut self, context: crate::engine::ids::SessionKey) {
        if let Some(id) = self
            .sessions
            .get(context)
            .and_then(|s| s.listen.as_ref())
            .map(|l| l.id.clone())
        {
            self.send_to_listen(context, &completion(&id));
            self.counters.responses_sent += 1;
        }
        let exchange = self
            .sessions
            .get(context)
            .filter(|s| s.listen.is_some())
            .and_then(|s| s.streams.iter().next())
            .and_then(|stream| self.streams.get(stream))
            .and_then(|s| s.exchange);
        match exchange {
            // The exchange completes, and its stream's context ends with it.
            Some(exchange) => self.finish_stream_response(exchange),
            None => self.end_context(context),
        }
    }
}

fn invalid(message: &str) -> Rejection {
    Rejection {
        status: 400,
        code: ErrorCode::INVALID_PARAMS,
        message: String::from(message),
        data: None,
    }
}

/// `{"notifications":{...}}`: the subset the server agreed to honour.
fn acknowledgment(filter: ListenFilter, uris: &[Cow<'_, str>]) -> alloc::boxed::Box<RawValue> {
    let mut notifications = serde_json::Map::new();
    let mut flag = |name: &str, on: bool| {
        if on {
            notifications.insert(name.into(), serde_json::Value::Bool(true));
        }
    };
    flag("toolsListChanged", filter.tools);
    flag("promptsListChanged", filter.prompts);
    flag("resourcesListChanged", filter.resources);
    if !uris.is_empty() {
        notifications.insert(
            "resourceSubscriptions".into(),
            uris.iter()
                .map(|u| serde_json::Value::from(u.as_ref()))
                .collect(),
        );
    }
    let mut params = serde_json::Map::new();
    params.insert("notifications".into(), notifications.into());
    serde_json::value::to_raw_value(&params)
        .unwrap_or_else(|_| crate::engine::messages::empty_result())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &[u8]) -> serde_json::Value {
        let s = core::str::from_utf8(body).unwrap();
        let data: String = s.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
        serde_json::from_str(&data).unwrap()
    }

    #[test]
    fn frames_carry_the_subscription_id_first() {
        let id = RequestId::Number(7);
        let bare = text(&tagged("notifications/tools/list_changed", None, &id));
        assert_eq!(bare["params"]["_meta"][SUBSCRIPTION_ID], 7);
        let params = RawValue::from_string(r#"{"uri":"test://a"}"#.into()).unwrap();
        let updated = text(&tagged(
            "notifications/resources/updated",
            Some(&params),
            &id,
        ));
        assert_eq!(updated["params"]["uri"], "test://a");
        assert_eq!(updated["params"]["_meta"][SUBSCRIPTION_ID], 7);
        let traced =
            RawValue::from_string(r#"{"_meta":{"example/trace":"abc"},"x":1}"#.into()).unwrap();
        let merged = text(&tagged(
            "notifications/tools/list_changed",
            Some(&traced),
            &id,
        ));
        assert_eq!(merged["params"]["_meta"][SUBSCRIPTION_ID], 7);
        assert_eq!(merged["params"]["_meta"]["example/trace"], "abc");
        assert_eq!(merged["params"]["x"], 1);
        let done = text(&completion(&RequestId::String("s".into())));
        assert_eq!(done["id"], "s");
        assert_eq!(done["result"]["resultType"], "complete");
        assert_eq!(done["result"]["_meta"][SUBSCRIPTION_ID], "s");
    }

    #[test]
    fn only_requested_kinds_match() {
        let filter = ListenFilter {
            tools: true,
            prompts: false,
            resources: false,
        };
        assert!(wants(filter, "notifications/tools/list_changed"));
        assert!(!wants(filter, "notifications/prompts/list_changed"));
        assert!(!wants(filter, "notifications/message"));
    }
}
