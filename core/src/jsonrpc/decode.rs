//! Decoding one HTTP body into JSON-RPC messages, with -32700 and -32600 told apart.

use alloc::borrow::{Cow, ToOwned};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::id::RequestId;
use super::message::{
    ErrorCode, ErrorObject, ErrorResponse, Message, Notification, Request, Response,
};

/// What one body held.
#[derive(Debug)]
pub enum Incoming {
    /// One message.
    Single(Message),
    /// A non-empty batch, each entry decoded on its own: an invalid entry does not spoil the
    /// others and is answered with its own error.
    Batch(Vec<Result<Message, InvalidMessage>>),
}

/// A whole body that could not be decoded: answer with one error response carrying `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// [`ErrorCode::PARSE_ERROR`] when the body is not JSON, [`ErrorCode::INVALID_REQUEST`] when
    /// it is JSON but not a message or a non-empty batch.
    pub code: ErrorCode,
    /// The request's id, when it could be read.
    pub id: Option<RequestId>,
    /// Why, in a few words.
    pub reason: &'static str,
}

/// A JSON value that is not a valid JSON-RPC message (-32600).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMessage {
    /// The id, when it could be read: the error response carries it.
    pub id: Option<RequestId>,
    /// Why, in a few words.
    pub reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.code == ErrorCode::PARSE_ERROR {
            "Parse error"
        } else {
            "Invalid Request"
        };
        write!(f, "{kind}: {}", self.reason)
    }
}

impl core::error::Error for DecodeError {}

impl From<InvalidMessage> for DecodeError {
    fn from(invalid: InvalidMessage) -> Self {
        DecodeError {
            code: ErrorCode::INVALID_REQUEST,
            id: invalid.id,
            reason: invalid.reason,
        }
    }
}

/// Decodes one body: a message, or a batch of them. A body nested deeper than
/// [`MAX_NESTING`](super::MAX_NESTING) is a parse error: params are kept as raw JSON, which
/// reads at any depth, and would reach an application that cannot parse them.
pub fn decode(body: &[u8]) -> Result<Incoming, DecodeError> {
    if !super::nesting_within(body, super::MAX_NESTING) {
        return Err(DecodeError {
            code: ErrorCode::PARSE_ERROR,
            id: None,
            reason: "nested deeper than 127 levels",
        });
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'[') => {
            let entries: Vec<&RawValue> = serde_json::from_slice(body)
                .map_err(|_| not_a_message(body, "not a JSON-RPC batch"))?;
            if entries.is_empty() {
                return Err(DecodeError {
                    code: ErrorCode::INVALID_REQUEST,
                    id: None,
                    reason: "empty batch",
                });
            }
            Ok(Incoming::Batch(
                entries
                    .into_iter()
                    .map(|entry| decode_object(entry.get().as_bytes()))
                    .collect(),
            ))
        }
        Some(b'{') => match serde_json::from_slice::<Fields<'_>>(body) {
            Ok(fields) => Ok(Incoming::Single(fields.into_message()?)),
            Err(_) => Err(not_a_message(body, "not a JSON-RPC message")),
        },
        _ => Err(not_a_message(body, "not an object or an array")),
    }
}

/// Sorts a failed decode into -32700 (the body is not JSON) and -32600 (it is JSON, of the
/// wrong shape). Deserializing can stop at a shape error before reaching a syntax error later
/// in the body, so the whole body is validated as JSON to decide; this runs on errors only.
fn not_a_message(body: &[u8], reason: &'static str) -> DecodeError {
    // Skipping a value does not validate the UTF-8 inside its strings; JSON text must be UTF-8.
    let is_json =
        core::str::from_utf8(body).is_ok() && serde_json::from_slice::<IgnoredAny>(body).is_ok();
    if is_json {
        DecodeError {
            code: ErrorCode::INVALID_REQUEST,
            id: None,
            reason,
        }
    } else {
        DecodeError {
            code: ErrorCode::PARSE_ERROR,
            id: None,
            reason: "body is not valid JSON",
        }
    }
}

fn decode_object(entry: &[u8]) -> Result<Message, InvalidMessage> {
    match serde_json::from_slice::<Fields<'_>>(entry) {
        Ok(fields) => fields.into_message(),
        Err(_) => Err(InvalidMessage {
            id: None,
            reason: "not a JSON-RPC message",
        }),
    }
}

/// Every member a JSON-RPC message may have, borrowed from the body. `id`, `result` and `error`
/// keep an explicit `null` as `Some("null")`, so that absence and null stay distinct.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The `error` member as sent.
#[derive(Deserialize)]
struct ErrorFields<'a> {
    code: i64,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

enum Id {
    Absent,
    Null,
    Valid(RequestId),
    Invalid,
}

impl Fields<'_> {
    fn into_message(self) -> Result<Message, InvalidMessage> {
        let id = match self.id.map(RawValue::get) {
            None => Id::Absent,
            Some("null") => Id::Null,
            Some(raw) => RequestId::from_json(raw).map_or(Id::Invalid, Id::Valid),
        };
        let known_id = match &id {
            Id::Valid(id) => Some(id.clone()),
            _ => None,
        };
        let invalid = |reason| InvalidMessage {
            id: known_id.clone(),
            reason,
        };
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(invalid("jsonrpc must be \"2.0\""));
        }
        if let Some(method) = self.method {
            if self.result.is_some() || self.error.is_some() {
                return Err(invalid("a request cannot carry result or error"));
            }
            let params = match self.params {
                Some(raw) if !raw.get().starts_with(['{', '[']) => {
                    return Err(invalid("params must be an object or an array"));
                }
                params => params.map(RawValue::to_owned),
            };
            let method = String::from(method);
            return match id {
                Id::Absent => Ok(Message::Notification(Notification { method, params })),
                Id::Valid(id) => Ok(Message::Request(Request { id, method, params })),
                Id::Null => Err(invalid("request id must not be null")),
                Id::Invalid => Err(invalid("id must be a string or an integer")),
            };
        }
        if self.params.is_some() {
            return Err(invalid("params without a method"));
        }
        match (self.result, self.error, id) {
            (Some(_), Some(_), _) => Err(invalid("both result and error")),
            (Some(result), None, Id::Valid(id)) => Ok(Message::Response(Response {
                id,
                result: result.to_owned(),
            })),
            (Some(_), None, _) => Err(invalid("response id must be a string or an integer")),
            (None, Some(error), id @ (Id::Valid(_) | Id::Null)) => {
                let error: ErrorFields<'_> = serde_json::from_str(error.get())
                    .map_err(|_| invalid("malformed error object"))?;
                Ok(Message::Error(ErrorResponse {
                    id: match id {
                        Id::Valid(id) => Some(id),
                        _ => None,
                    },
                    error: ErrorObject {
                        code: error.code,
                        message: String::from(error.message),
                        data: error.data.map(RawValue::to_owned),
                    },
                }))
            }
            (None, Some(_), _) => Err(invalid(
                "error response id must be a string, an integer or null",
            )),
            (None, None, _) => Err(invalid("neither a request, a notification nor a response")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn single(body: &str) -> Message {
        match decode(body.as_bytes()) {
            Ok(Incoming::Single(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    fn error(body: &str) -> DecodeError {
        decode(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn decodes_each_kind() {
        let Message::Request(r) = single(r#" {"jsonrpc":"2.0","id":"x","method":"ping"} "#) else {
            panic!()
        };
        assert_eq!(
            (r.id, r.method.as_str(), r.params.is_none()),
            (RequestId::from("x"), "ping", true)
        );

        let Message::Notification(n) = single(
            r#"{"method":"notifications/cancelled","params":{"requestId":1},"jsonrpc":"2.0"}"#,
        ) else {
            panic!()
        };
        assert_eq!(n.params.unwrap().get(), r#"{"requestId":1}"#);

        let Message::Response(r) = single(r#"{"jsonrpc":"2.0","id":5,"result":null}"#) else {
            panic!()
        };
        assert_eq!((r.id, r.result.get()), (RequestId::from(5), "null"));

        let Message::Error(e) = single(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"nope","data":[1]}}"#,
        ) else {
            panic!()
        };
        assert_eq!(e.id, None);
        assert_eq!((e.error.code, e.error.message.as_str()), (-32601, "nope"));
        assert_eq!(e.error.data.unwrap().get(), "[1]");
    }

    #[test]
    fn escaped_strings_decode() {
        let Message::Request(r) =
            single(r#"{"jsonrpc":"2.0","id":"a\u0041","method":"tools\/call"}"#)
        else {
            panic!()
        };
        assert_eq!(r.id, RequestId::from("aA"));
        assert_eq!(r.method, "tools/call");
    }

    #[test]
    fn parse_errors_are_not_invalid_requests() {
        for body in [
            "",
            "   ",
            "{",
            r#"{"jsonrpc":"2.0","id":1,"method":"x"} trailing"#,
            "[1,",
            "nul",
            "\u{feff}{}",
            r#"{"method": 5, "#,
        ] {
            assert_eq!(error(body).code, ErrorCode::PARSE_ERROR, "{body:?}");
        }
        assert_eq!(
            decode(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}")
                .unwrap_err()
                .code,
            ErrorCode::PARSE_ERROR
        );
    }

    #[test]
    fn wrong_shapes_are_invalid_requests_with_their_id_when_readable() {
        for body in [
            "42",
            r#""text""#,
            "null",
            "[]",
            r#"{}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
            r#"{"id":1,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":true,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":""}}"#,
            r#"{"jsonrpc":"2.0","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":""}}"#,
            r#"{"jsonrpc":"2.0","id":1,"params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}"#,
        ] {
            assert_eq!(error(body).code, ErrorCode::INVALID_REQUEST, "{body}");
        }
        let with_id = error(r#"{"jsonrpc":"2.0","id":"k","method":"x","params":"s"}"#);
        assert_eq!(with_id.id, Some(RequestId::from("k")));
    }

    #[test]
    fn batches_decode_entry_by_entry() {
        let Ok(Incoming::Batch(entries)) = decode(
            br#"[{"jsonrpc":"2.0","id":1,"method":"a"}, 7, {"jsonrpc":"2.0","method":"b"}, {"jsonrpc":"2.0","id":2}]"#,
        ) else {
            panic!()
        };
        assert_eq!(entries.len(), 4);
        assert!(matches!(entries[0], Ok(Message::Request(_))));
        assert_eq!(entries[1].as_ref().unwrap_err().id, None);
        assert!(matches!(entries[2], Ok(Message::Notification(_))));
        assert_eq!(
            entries[3].as_ref().unwrap_err().id,
            Some(RequestId::from(2))
        );
    }

    #[test]
    fn params_nested_past_what_a_client_parses_are_a_parse_error() {
        let nested = |depth: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        // The message's own object is one level.
        assert!(decode(nested(crate::jsonrpc::MAX_NESTING - 1).as_bytes()).is_ok());
        for depth in [crate::jsonrpc::MAX_NESTING, 100_000] {
            assert_eq!(
                error(&nested(depth)).code,
                ErrorCode::PARSE_ERROR,
                "{depth}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let mut body = String::from(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"#);
        for _ in 0..100_000 {
            body.push('[');
        }
        assert_eq!(error(&body).code, ErrorCode::PARSE_ERROR);
    }
}
