//! The bodies and era-specific header fields the client sends: the session era's plain
//! JSON-RPC, and 2026-07-28's `_meta` envelope with `Mcp-Method`/`Mcp-Name`.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::{Map, Value};

use super::entities::Call;
use super::{ClientConfig, MODERN_VERSION, SESSION_VERSIONS};
use crate::jsonrpc::{
    ErrorObject, ErrorResponse, Message, Notification, RawValue, Request, RequestId, Response,
};

type Headers = Vec<(String, String)>;

fn params_object(params: Option<&RawValue>) -> Map<String, Value> {
    params
        .and_then(|p| serde_json::from_str::<Map<String, Value>>(p.get()).ok())
        .unwrap_or_default()
}

fn to_raw(value: &Map<String, Value>) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

fn request_body(id: u64, method: &str, params: Option<Box<RawValue>>) -> Vec<u8> {
    Message::Request(Request {
        id: RequestId::Number(id as i64),
        method: method.into(),
        params,
    })
    .to_vec()
}

/// The `_meta` every 2026-07-28 request carries.
fn modern_meta(config: &ClientConfig) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert(
        "io.modelcontextprotocol/protocolVersion".into(),
        MODERN_VERSION.into(),
    );
    let capabilities: Value =
        serde_json::from_str(&config.capabilities).unwrap_or(Value::Object(Map::new()));
    meta.insert(
        "io.modelcontextprotocol/clientCapabilities".into(),
        capabilities,
    );
    let mut info = Map::new();
    info.insert("name".into(), config.name.clone().into());
    info.insert("version".into(), config.version.clone().into());
    meta.insert(
        "io.modelcontextprotocol/clientInfo".into(),
        Value::Object(info),
    );
    meta
}

/// A header value as 2026-07-28 mirrors body values: plain when it is visible ASCII without
/// surrounding spaces, else `=?base64?…?=`.
pub(crate) fn mirrored_header(value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.trim() == value;
    if plain {
        value.into()
    } else {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
        alloc::format!("=?base64?{encoded}?=")
    }
}

fn modern_headers(method: &str, params: &Map<String, Value>) -> Headers {
    let mut headers = Vec::with_capacity(3);
    headers.push(("mcp-protocol-version".into(), MODERN_VERSION.into()));
    headers.push(("mcp-method".into(), mirrored_header(method)));
    let named = match method {
        "tools/call" | "prompts/get" => params.get("name"),
        "resources/read" => params.get("uri"),
        _ => None,
    };
    if let Some(Value::String(name)) = named {
        headers.push(("mcp-name".into(), mirrored_header(name)));
    }
    headers
}

/// `server/discover`, with its header fields.
pub(crate) fn discover(config: &ClientConfig, id: u64) -> (Vec<u8>, Headers) {
    let mut params = Map::new();
    params.insert("_meta".into(), Value::Object(modern_meta(config)));
    let headers = modern_headers("server/discover", &params);
    (
        request_body(id, "server/discover", to_raw(&params)),
        headers,
    )
}

/// `initialize`, asking for the configured session-era version.
pub(crate) fn initialize(config: &ClientConfig, id: u64, legacy: bool) -> Vec<u8> {
    let mut params = Map::new();
    let version = if legacy {
        &super::LEGACY_VERSION
    } else {
        SESSION_VERSIONS
            .iter()
            .find(|v| **v == config.session_version)
            .unwrap_or(&SESSION_VERSIONS[0])
    };
    params.insert("protocolVersion".into(), (*version).into());
    let capabilities: Value =
        serde_json::from_str(&config.capabilities).unwrap_or(Value::Object(Map::new()));
    params.insert("capabilities".into(), capabilities);
    let mut info = Map::new();
    info.insert("name".into(), config.name.clone().into());
    info.insert("version".into(), config.version.clone().into());
    params.insert("clientInfo".into(), Value::Object(info));
    request_body(id, "initialize", to_raw(&params))
}

/// A call's attempt in the 2026-07-28 era: `_meta` merged into its params, the answers of an
/// `input_required` round added.
pub(crate) fn modern_request(config: &ClientConfig, call: &Call, id: u64) -> (Vec<u8>, Headers) {
    let mut params = params_object(call.params.as_deref());
    let mut meta = match params.remove("_meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.extend(modern_meta(config));
    if call.progress {
        meta.insert("progressToken".into(), id.into());
    }
    params.insert("_meta".into(), Value::Object(meta));
    if let Some(round) = &call.input {
        let mut answers = Map::new();
        for (key, answer) in &round.answers {
            let value: Value = serde_json::from_str(answer.get()).unwrap_or(Value::Null);
            answers.insert(key.clone(), value);
        }
        params.insert("inputResponses".into(), Value::Object(answers));
    }
    let mut headers = modern_headers(&call.method, &params);
    headers.extend(call.headers.iter().cloned());
    let mut text = serde_json::to_string(&params).unwrap_or_else(|_| "{}".into());
    if let Some(state) = call.input.as_ref().and_then(|r| r.request_state.as_ref()) {
        // Echoed byte for byte: the server may have signed exactly these bytes.
        text.pop();
        text.push_str(",\"requestState\":");
        text.push_str(state.get());
        text.push('}');
    }
    let params = RawValue::from_string(text).ok();
    (request_body(id, &call.method, params), headers)
}

/// A call's attempt in the session era: its params, with a progress token when asked.
pub(crate) fn session_request(call: &Call, id: u64) -> Vec<u8> {
    if !call.progress {
        let params = call
            .params
            .as_ref()
            .and_then(|p| RawValue::from_string(p.get().to_string()).ok());
        return request_body(id, &call.method, params);
    }
    let mut params = params_object(call.params.as_deref());
    let mut meta = match params.remove("_meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.insert("progressToken".into(), id.into());
    params.insert("_meta".into(), Value::Object(meta));
    request_body(id, &call.method, to_raw(&params))
}

/// `{"notifications": filter}` for `subscriptions/listen`; `None` unless `filter` is an object.
pub(crate) fn listen_params(filter: &RawValue) -> Option<Box<RawValue>> {
    let filter: Map<String, Value> = serde_json::from_str(filter.get()).ok()?;
    let mut params = Map::new();
    params.insert("notifications".into(), Value::Object(filter));
    to_raw(&params)
}

pub(crate) fn notification(method: &str, params: Option<&RawValue>) -> Vec<u8> {
    Message::Notification(Notification {
        method: method.into(),
        params: params.and_then(|p| RawValue::from_string(p.get().into()).ok()),
    })
    .to_vec()
}

pub(crate) fn cancelled(id: u64, reason: &str) -> Vec<u8> {
    let mut params = Map::new();
    params.insert("requestId".into(), id.into());
    params.insert("reason".into(), reason.into());
    Message::Notification(Notification {
        method: "notifications/cancelled".into(),
        params: to_raw(&params),
    })
    .to_vec()
}

pub(crate) fn response(id: &RequestId, outcome: Result<&RawValue, &ErrorObject>) -> Vec<u8> {
    match outcome {
        Ok(result) => Message::Response(Response {
            id: id.clone(),
            result: RawValue::from_string(result.get().into())
                .unwrap_or_else(|_| super::empty_object()),
        })
        .to_vec(),
        Err(error) => Message::Error(ErrorResponse {
            id: Some(id.clone()),
            error: error.clone(),
        })
        .to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_headers_are_plain_or_base64() {
        assert_eq!(mirrored_header("echo"), "echo");
        assert_eq!(mirrored_header("héllo"), "=?base64?aMOpbGxv?=");
        assert_eq!(mirrored_header(" padded"), "=?base64?IHBhZGRlZA==?=");
        assert_eq!(mirrored_header(""), "");
        assert_eq!(
            crate::engine::decode_mirrored_header(mirrored_header("日本").as_bytes()).as_deref(),
            Some("日本")
        );
    }
}
