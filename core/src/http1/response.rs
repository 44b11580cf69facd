//! Encoding response heads: the status line, the caller's headers, and the framing headers that
//! only the codec may choose.

use alloc::vec::Vec;
use core::fmt;

use super::request::is_token;
use crate::ascii::push_decimal;

/// A response's status and headers. The codec adds `content-length`, `transfer-encoding` and
/// `connection` itself; passing any of them is an error, since a second opinion on framing is
/// how responses get split.
///
/// # Examples
///
/// ```
/// use mcpwire_core::http1::ResponseHead;
///
/// let head = ResponseHead::new(200, &[("content-type", "text/event-stream")]);
/// assert_eq!(head.status, 200);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    /// The status code, 200 to 599.
    pub status: u16,
    /// Header fields as (name, value); values must not hold control characters (tab aside).
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> ResponseHead<'a> {
    /// A head with `status` and `headers`.
    #[must_use]
    pub const fn new(status: u16, headers: &'a [(&'a str, &'a str)]) -> Self {
        ResponseHead { status, headers }
    }
}

/// What follows a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody<'a> {
    /// No body (`content-length: 0`, or none at all for 204 and 304).
    Empty,
    /// The whole body, sent with its length.
    Full(&'a [u8]),
    /// A body of unknown length, sent with
    /// [`ServerCodec::send_body`](super::ServerCodec::send_body) and ended by
    /// [`ServerCodec::finish_body`](super::ServerCodec::finish_body): chunked for HTTP/1.1,
    /// ended by closing the connection for HTTP/1.0.
    Streaming,
}

/// Why the codec refused to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No request is waiting for a response.
    NoExchange,
    /// The response head was already sent.
    AlreadyResponded,
    /// No streaming body is open.
    NotStreaming,
    /// The status is not between 200 and 599.
    InvalidStatus,
    /// A header name is not a token, or a value holds a control character.
    InvalidHeader,
    /// A framing header (`content-length`, `transfer-encoding`, `connection`) was passed.
    ReservedHeader,
    /// The connection is closed.
    Closed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NoExchange => "no request awaits a response",
            SendError::AlreadyResponded => "the response head was already sent",
            SendError::NotStreaming => "no streaming body is open",
            SendError::InvalidStatus => "status must be between 200 and 599",
            SendError::InvalidHeader => "invalid header name or value",
            SendError::ReservedHeader => "framing headers are chosen by the codec",
            SendError::Closed => "the connection is closed",
        })
    }
}

impl core::error::Error for SendError {}

/// How the body after a head is delimited, as announced in the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No framing header: 204 and 304 have no body by definition.
    None,
    /// `content-length: n`.
    Length(usize),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// No length; the body ends when the connection closes (HTTP/1.0 streaming).
    UntilClose,
}

/// Checks what the caller chose before anything is written.
pub(crate) fn validate(head: &ResponseHead<'_>) -> Result<(), SendError> {
    if !(200..=599).contains(&head.status) {
        return Err(SendError::InvalidStatus);
    }
    for &(name, value) in head.headers {
        let control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
        if !is_token(name) || value.bytes().any(control) {
            return Err(SendError::InvalidHeader);
        }
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|reserved| name.eq_ignore_ascii_case(reserved))
        {
            return Err(SendError::ReservedHeader);
        }
    }
    Ok(())
}

/// Appends the encoded head to `out`. `connection` is the `connection` header value, if any.
pub(crate) fn encode_head(
    out: &mut Vec<u8>,
    head: &ResponseHead<'_>,
    framing: BodyFraming,
    connection: Option<&str>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(head.status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(head.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for &(name, value) in head.headers {
        push_field(out, name, value.as_bytes());
    }
    match framing {
        BodyFraming::None | BodyFraming::UntilClose => {}
        BodyFraming::Length(length) => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, length as u64);
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => push_field(out, "transfer-encoding", b"chunked"),
    }
    if let Some(connection) = connection {
        push_field(out, "connection", connection.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// The size of [`encode_head`]'s output without framing headers, for reserving space once.
pub(crate) fn estimated_head_len(head: &ResponseHead<'_>) -> usize {
    64 + head
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum::<usize>()
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase of `status`, or an empty string for codes without one.
#[must_use]
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ascii::StackLine;

    fn encoded(head: ResponseHead<'_>, framing: BodyFraming, connection: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_head(&mut out, &head, framing, connection);
        out
    }

    #[test]
    fn heads_encode_exactly() {
        assert_eq!(
            encoded(
                ResponseHead::new(202, &[("x-a", "1")]),
                BodyFraming::Length(0),
                Some("close")
            ),
            b"HTTP/1.1 202 Accepted\r\nx-a: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            encoded(ResponseHead::new(200, &[]), BodyFraming::Chunked, None),
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert_eq!(
            encoded(ResponseHead::new(299, &[]), BodyFraming::None, None),
            b"HTTP/1.1 299 \r\n\r\n"
        );
    }

    #[test]
    fn validation_refuses_injection_and_framing_headers() {
        assert_eq!(
            validate(&ResponseHead::new(200, &[("x", "a\r\nSet-Cookie: y")])),
            Err(SendError::InvalidHeader)
        );
        assert_eq!(
            validate(&ResponseHead::new(200, &[("x", "a\x01\x7fb")])),
            Err(SendError::InvalidHeader)
        );
        assert_eq!(validate(&ResponseHead::new(200, &[("x", "a\tb")])), Ok(()));
        assert_eq!(
            validate(&ResponseHead::new(200, &[("bad name", "v")])),
            Err(SendError::InvalidHeader)
        );
        assert_eq!(
            validate(&ResponseHead::new(200, &[("Content-Length", "3")])),
            Err(SendError::ReservedHeader)
        );
        assert_eq!(
            validate(&ResponseHead::new(101, &[])),
            Err(SendError::InvalidStatus)
        );
        assert_eq!(
            validate(&ResponseHead::new(600, &[])),
            Err(SendError::InvalidStatus)
        );
        assert_eq!(validate(&ResponseHead::new(599, &[("a", "")])), Ok(()));
    }

    #[test]
    fn numbers_format_at_their_extremes() {
        let mut out = Vec::new();
        push_decimal(&mut out, 0);
        out.push(b' ');
        push_decimal(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
        let mut line = StackLine::new();
        line.push_hex(0)
            .push(b" ")
            .push_hex(u64::MAX)
            .push(b" ")
            .push_hex(0x1a2b);
        line.push(b" ").push_decimal(u64::MAX);
        assert_eq!(
            line.as_bytes(),
            b"0 ffffffffffffffff 1a2b 18446744073709551615"
        );
    }
}
