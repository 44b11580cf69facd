//! Engine events as the JSON objects JS receives (`type` names the kind; ids are numbers).
//! Params and results stay raw JSON, written through without being parsed here.

use mcpwire_core::engine::{CancelReason, ClientError, Event};
use serde::Serialize;
use serde_json::value::RawValue;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum JsEvent<'a> {
    #[serde(rename_all = "camelCase")]
    SessionOpened {
        session: u64,
        protocol_version: &'a str,
        client_info: Option<&'a RawValue>,
        client_capabilities: Option<&'a RawValue>,
    },
    Request {
        session: u64,
        request: u64,
        method: &'a str,
        params: Option<&'a RawValue>,
    },
    Notification {
        session: u64,
        method: &'a str,
        params: Option<&'a RawValue>,
    },
    Cancelled {
        session: u64,
        request: u64,
        reason: &'static str,
        message: Option<&'a str>,
    },
    ClientResponse {
        session: u64,
        outbound: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<ClientFailure<'a>>,
    },
    HttpRequest {
        exchange: u64,
        method: &'a str,
        target: &'a str,
    },
    /// The request's stream has room again: retry what was refused with `would_block`.
    Writable {
        session: u64,
        request: u64,
    },
    /// The request's stream lost its connection; what is sent for it is kept for a resume.
    StreamDetached {
        session: u64,
        request: u64,
    },
    /// The client resumed the request's stream.
    StreamResumed {
        session: u64,
        request: u64,
    },
    SessionClosed {
        session: u64,
        reason: &'static str,
    },
    /// A bearer token to verify (a protected resource only).
    VerifyToken {
        verification: u64,
        token: &'a str,
    },
    /// A verification ended without a verdict: stop verifying.
    VerificationCancelled {
        verification: u64,
    },
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum ClientFailure<'a> {
    Rpc {
        code: i64,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a RawValue>,
    },
    Timeout,
    SessionClosed,
}

fn cancel_reason(reason: &CancelReason) -> (&'static str, Option<&str>) {
    match reason {
        CancelReason::ByClient(message) => ("client", message.as_deref()),
        CancelReason::Timeout => ("timeout", None),
        CancelReason::Undeliverable => ("undeliverable", None),
        CancelReason::SessionClosed => ("session_closed", None),
        CancelReason::Shutdown => ("shutdown", None),
        CancelReason::StreamClosed => ("stream_closed", None),
    }
}

/// `event` as one JSON object.
pub(crate) fn to_json(event: &Event) -> String {
    let js = match event {
        Event::SessionOpened {
            session,
            protocol_version,
            client_info,
            client_capabilities,
        } => JsEvent::SessionOpened {
            session: session.as_u64(),
            protocol_version: protocol_version.as_str(),
            client_info: client_info.as_deref(),
            client_capabilities: client_capabilities.as_deref(),
        },
        Event::Request {
            handle,
            method,
            params,
        } => JsEvent::Request {
            session: handle.session.as_u64(),
            request: handle.request().as_u64(),
            method,
            params: params.as_deref(),
        },
        Event::Notification {
            session,
            method,
            params,
        } => JsEvent::Notification {
            session: session.as_u64(),
            method,
            params: params.as_deref(),
        },
        Event::Cancelled { handle, reason } => {
            let (reason, message) = cancel_reason(reason);
            JsEvent::Cancelled {
                session: handle.session.as_u64(),
                request: handle.request().as_u64(),
                reason,
                message,
            }
        }
        Event::ClientResponse { handle, result } => {
            let (result, error) = match result {
                Ok(value) => (Some(&**value), None),
                Err(ClientError::Rpc {
                    code,
                    message,
                    data,
                }) => (
                    None,
                    Some(ClientFailure::Rpc {
                        code: *code,
                        message,
                        data: data.as_deref(),
                    }),
                ),
                Err(ClientError::Timeout) => (None, Some(ClientFailure::Timeout)),
                Err(ClientError::SessionClosed) => (None, Some(ClientFailure::SessionClosed)),
            };
            JsEvent::ClientResponse {
                session: handle.session.as_u64(),
                outbound: handle.outbound().as_u64(),
                result,
                error,
            }
        }
        Event::HttpRequest { exchange, request } => JsEvent::HttpRequest {
            exchange: exchange.as_u64(),
            method: request.method_str(),
            target: request.target(),
        },
        Event::Writable { handle } => JsEvent::Writable {
            session: handle.session.as_u64(),
            request: handle.request().as_u64(),
        },
        Event::StreamDetached { handle } => JsEvent::StreamDetached {
            session: handle.session.as_u64(),
            request: handle.request().as_u64(),
        },
        Event::StreamResumed { handle } => JsEvent::StreamResumed {
            session: handle.session.as_u64(),
            request: handle.request().as_u64(),
        },
        Event::SessionClosed { session, reason } => JsEvent::SessionClosed {
            session: session.as_u64(),
            reason: reason.label(),
        },
        Event::VerifyToken {
            verification,
            token,
        } => JsEvent::VerifyToken {
            verification: verification.as_u64(),
            token,
        },
        Event::VerificationCancelled { verification } => JsEvent::VerificationCancelled {
            verification: verification.as_u64(),
        },
    };
    // Every field is a string, a number or already-valid JSON: this cannot fail.
    serde_json::to_string(&js).unwrap_or_default()
}
