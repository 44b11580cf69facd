//! JSON-RPC message types and their encoding.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use serde::Serialize;
use serde_json::value::RawValue;

use super::id::RequestId;

/// JSON-RPC and MCP error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// The body is not JSON.
    pub const PARSE_ERROR: ErrorCode = ErrorCode(-32700);
    /// The JSON is not a valid JSON-RPC message (or a batch where none is allowed).
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(-32600);
    /// No such method.
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode(-32601);
    /// The method exists but its params are wrong.
    pub const INVALID_PARAMS: ErrorCode = ErrorCode(-32602);
    /// The server failed internally.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(-32603);
    /// Transport-level refusal: bad headers, limits, unsupported protocol version, shutdown.
    pub const SERVER_ERROR: ErrorCode = ErrorCode(-32000);
    /// The session is unknown, expired or deleted; the client should initialize again.
    pub const SESSION_NOT_FOUND: ErrorCode = ErrorCode(-32001);
    /// MCP: the requested resource does not exist.
    pub const RESOURCE_NOT_FOUND: ErrorCode = ErrorCode(-32002);
    /// MCP 2026-07-28: a required header is missing or does not match the body.
    pub const HEADER_MISMATCH: ErrorCode = ErrorCode(-32020);
    /// MCP 2026-07-28: the request needs a client capability its `_meta` did not declare.
    pub const MISSING_CLIENT_CAPABILITY: ErrorCode = ErrorCode(-32021);
    /// MCP 2026-07-28: the request's protocol version is not served here.
    pub const UNSUPPORTED_PROTOCOL_VERSION: ErrorCode = ErrorCode(-32022);
}

/// A request: it has an id and expects a response.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// The id the response will carry.
    pub id: RequestId,
    /// The method name.
    pub method: String,
    /// The params, as raw JSON (an object or an array).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Box<RawValue>>,
}

/// A notification: no id, no response.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// The method name.
    pub method: String,
    /// The params, as raw JSON (an object or an array).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Box<RawValue>>,
}

/// A successful response.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// The id of the request answered.
    pub id: RequestId,
    /// The result, as raw JSON.
    pub result: Box<RawValue>,
}

/// The `error` member of an error response.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject {
    /// The error code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Optional details, as raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

/// An error response. The id is `None` (JSON `null`) when the request's id could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorResponse {
    /// The id of the request answered, if known.
    pub id: Option<RequestId>,
    /// What went wrong.
    pub error: ErrorObject,
}

/// Any JSON-RPC message.
#[derive(Debug, Clone)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A notification.
    Notification(Notification),
    /// A successful response.
    Response(Response),
    /// An error response.
    Error(ErrorResponse),
}

/// The wire form: every message carries `"jsonrpc": "2.0"` first.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    jsonrpc: &'static str,
    #[serde(flatten)]
    message: &'a T,
}

fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serializing these types cannot fail: keys are strings and raw values are valid JSON.
    serde_json::to_vec(&Envelope {
        jsonrpc: "2.0",
        message,
    })
    .unwrap_or_default()
}

impl Message {
    /// The message as JSON bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_core::jsonrpc::{Message, Notification};
    ///
    /// let note = Message::Notification(Notification { method: "notifications/initialized".into(), params: None });
    /// assert_eq!(note.to_vec(), br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    /// ```
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Message::Request(m) => encode(m),
            Message::Notification(m) => encode(m),
            Message::Response(m) => encode(m),
            Message::Error(m) => encode(m),
        }
    }

    /// The id, for requests and responses.
    #[must_use]
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            Message::Request(m) => Some(&m.id),
            Message::Response(m) => Some(&m.id),
            Message::Error(m) => m.id.as_ref(),
            Message::Notification(_) => None,
        }
    }

    /// The method, for requests and notifications.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request(m) => Some(&m.method),
            Message::Notification(m) => Some(&m.method),
            Message::Response(_) | Message::Error(_) => None,
        }
    }
}

/// The JSON bytes of an error response with `id` (or `null`), `code` and `message`.
///
/// # Examples
///
/// ```
/// use mcpwire_core::jsonrpc::{error_body, ErrorCode};
///
/// assert_eq!(
///     error_body(None, ErrorCode::SESSION_NOT_FOUND, "Session not found"),
///     br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#,
/// );
/// ```
#[must_use]
pub fn error_body(id: Option<&RequestId>, code: ErrorCode, message: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Error<'a> {
        code: i64,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        id: Option<&'a RequestId>,
        error: Error<'a>,
    }
    encode(&Body {
        id,
        error: Error {
            code: code.0,
            message,
        },
    })
}

/// As [`error_body`], with `data` (raw JSON) in the error object.
#[must_use]
pub fn error_body_with_data(
    id: Option<&RequestId>,
    code: ErrorCode,
    message: &str,
    data: Option<&RawValue>,
) -> Vec<u8> {
    let Some(data) = data else {
        return error_body(id, code, message);
    };
    #[derive(Serialize)]
    struct Error<'a> {
        code: i64,
        message: &'a str,
        data: &'a RawValue,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        id: Option<&'a RequestId>,
        error: Error<'a>,
    }
    encode(&Body {
        id,
        error: Error {
            code: code.0,
            message,
            data,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn every_kind_encodes_with_jsonrpc_first_and_raw_values_verbatim() {
        let request = Message::Request(Request {
            id: RequestId::from("r-1"),
            method: "sampling/createMessage".into(),
            params: Some(raw(r#"{ "a" : [1, 2.50] }"#)),
        });
        assert_eq!(
            request.to_vec(),
            br#"{"jsonrpc":"2.0","id":"r-1","method":"sampling/createMessage","params":{ "a" : [1, 2.50] }}"#
        );
        let response = Message::Response(Response {
            id: RequestId::from(3),
            result: raw("{}"),
        });
        assert_eq!(
            response.to_vec(),
            br#"{"jsonrpc":"2.0","id":3,"result":{}}"#
        );
        let error = Message::Error(ErrorResponse {
            id: Some(RequestId::from(4)),
            error: ErrorObject {
                code: ErrorCode::METHOD_NOT_FOUND.0,
                message: "no \"x\"".into(),
                data: Some(raw(r#"{"m":"x"}"#)),
            },
        });
        assert_eq!(
            error.to_vec(),
            br#"{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"no \"x\"","data":{"m":"x"}}}"#
        );
        assert_eq!(error.id(), Some(&RequestId::from(4)));
        assert_eq!(error.method(), None);
        assert_eq!(request.method(), Some("sampling/createMessage"));
    }

    #[test]
    fn error_body_escapes_its_message() {
        let body = error_body(Some(&RequestId::from(1)), ErrorCode::SERVER_ERROR, "a\nb\"");
        assert_eq!(
            body,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"a\nb\""}}"#
        );
    }
}
