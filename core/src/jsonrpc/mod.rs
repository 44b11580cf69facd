//! JSON-RPC 2.0 as MCP uses it: requests, notifications, responses, errors and batches.
//!
//! [`decode`] reads one HTTP body and tells a parse error (-32700, not JSON at all) from an
//! invalid request (-32600, JSON that is not a JSON-RPC message), per batch entry where there is
//! a batch. Ids are strings or integers, as MCP requires. `params`, `result` and `error.data` are
//! kept as raw JSON text ([`RawValue`]): the transport routes messages by method and id and never
//! re-parses what the application will parse anyway.
//!
//! # Examples
//!
//! ```
//! use mcpwire_core::jsonrpc::{self, Incoming, Message, RequestId};
//!
//! let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}"#;
//! let Ok(Incoming::Single(Message::Request(request))) = jsonrpc::decode(body) else {
//!     panic!("a request")
//! };
//! assert_eq!(request.id, RequestId::Number(7));
//! assert_eq!(request.method, "tools/call");
//! assert_eq!(request.params.unwrap().get(), r#"{"name":"echo"}"#);
//!
//! let err = jsonrpc::decode(b"{not json").unwrap_err();
//! assert_eq!(err.code, jsonrpc::ErrorCode::PARSE_ERROR);
//! ```

mod decode;
mod id;
mod message;
mod nesting;

pub use decode::{DecodeError, Incoming, InvalidMessage, decode};
pub use id::RequestId;
pub use message::{
    ErrorCode, ErrorObject, ErrorResponse, Message, Notification, Request, Response, error_body,
    error_body_with_data,
};
pub use nesting::{MAX_NESTING, nesting_within};
pub use serde_json::value::RawValue;
