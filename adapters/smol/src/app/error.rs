//! The one error type handlers return, and how it reaches the client.

use std::fmt;

use mcpwire_core::engine::{ClientError, CommandError};
use mcpwire_core::jsonrpc::ErrorCode;
use serde_json::Value;

/// Why a handler failed.
///
/// In a tool, [`Error::Tool`] becomes a result with `isError: true` (the model sees it and may
/// correct itself) and [`Error::Rpc`] a JSON-RPC error (the call itself was wrong: an unknown
/// tool, a malformed request). Elsewhere both are JSON-RPC errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The operation failed; the message is for the model.
    Tool(String),
    /// A JSON-RPC error.
    Rpc {
        /// The code (see [`ErrorCode`]).
        code: i64,
        /// The message.
        message: String,
        /// Optional data.
        data: Option<Value>,
    },
    /// A 2026-07-28 request needs its client's input first (from
    /// [`Context::input`](crate::Context::input)): pass it on with `?`, and the client answers
    /// and retries the request.
    InputRequired(super::ask::InputRequired),
}

impl Error {
    /// A failed tool call, explained to the model.
    #[must_use]
    pub fn tool(message: impl Into<String>) -> Error {
        Error::Tool(message.into())
    }

    /// A JSON-RPC error with this code.
    #[must_use]
    pub fn rpc(code: ErrorCode, message: impl Into<String>) -> Error {
        Error::Rpc {
            code: code.0,
            message: message.into(),
            data: None,
        }
    }

    /// `-32602 Invalid params`.
    #[must_use]
    pub fn invalid_params(message: impl Into<String>) -> Error {
        Error::rpc(ErrorCode::INVALID_PARAMS, message)
    }

    /// `-32603 Internal error`.
    #[must_use]
    pub fn internal(message: impl Into<String>) -> Error {
        Error::rpc(ErrorCode::INTERNAL_ERROR, message)
    }

    /// `-32021`: the request needs a client capability the client did not declare
    /// (2026-07-28), with `data.requiredCapabilities` naming it.
    #[must_use]
    pub fn missing_capability(capability: &str) -> Error {
        Error::Rpc {
            code: ErrorCode::MISSING_CLIENT_CAPABILITY.0,
            message: format!("Missing required client capability: {capability}"),
            data: Some(serde_json::json!({ "requiredCapabilities": { capability: {} } })),
        }
    }

    /// `-32002 Resource not found`, with the URI as data.
    #[must_use]
    pub fn resource_not_found(uri: &str) -> Error {
        Error::Rpc {
            code: ErrorCode::RESOURCE_NOT_FOUND.0,
            message: format!("Resource not found: {uri}"),
            data: Some(serde_json::json!({ "uri": uri })),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tool(message) => f.write_str(message),
            Error::Rpc { code, message, .. } => write!(f, "{message} ({code})"),
            Error::InputRequired(ask) => {
                let keys: Vec<&str> = ask.requests.keys().map(String::as_str).collect();
                write!(f, "the client must answer first: {}", keys.join(", "))
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<CommandError> for Error {
    fn from(error: CommandError) -> Error {
        Error::tool(error.to_string())
    }
}

impl From<ClientError> for Error {
    fn from(error: ClientError) -> Error {
        match error {
            ClientError::Rpc { code, message, .. } => Error::tool(format!(
                "the client answered with an error: {message} ({code})"
            )),
            ClientError::Timeout => Error::tool("the client did not answer in time"),
            ClientError::SessionClosed => Error::tool("the session ended"),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Error {
        Error::invalid_params(error.to_string())
    }
}
