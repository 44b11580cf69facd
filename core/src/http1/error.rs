//! [`RequestError`]: why the codec refused a request, with the status that says so.

use core::fmt;

/// A request the codec could not accept. The connection answers with [`RequestError::status`]
/// and closes: after a framing error nothing on the connection can be trusted to line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The bytes are not an HTTP/1.x request head (400).
    MalformedHead(&'static str),
    /// The request line is longer than [`Limits::max_request_line`](super::Limits) (414).
    RequestLineTooLong,
    /// The head is larger than [`Limits::max_header_bytes`](super::Limits) (431).
    HeadersTooLarge,
    /// More header fields than [`Limits::max_headers`](super::Limits) (431).
    TooManyHeaders,
    /// The version is not HTTP/1.0 or HTTP/1.1 (505).
    UnsupportedVersion,
    /// Missing, repeated or conflicting message framing: `Content-Length`,
    /// `Transfer-Encoding`, `Host` (400).
    BadFraming(&'static str),
    /// A transfer coding other than `chunked` (501).
    UnsupportedTransferCoding,
    /// An `Expect` other than `100-continue` (417).
    UnsupportedExpectation,
    /// The body is larger than [`Limits::max_body_bytes`](super::Limits) (413).
    BodyTooLarge,
    /// A chunked body broke its framing (400).
    BadChunk(&'static str),
    /// The peer closed its side in the middle of a request (400).
    Incomplete,
}

impl RequestError {
    /// The HTTP status that answers this error.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            RequestError::MalformedHead(_)
            | RequestError::BadFraming(_)
            | RequestError::BadChunk(_)
            | RequestError::Incomplete => 400,
            RequestError::RequestLineTooLong => 414,
            RequestError::HeadersTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::UnsupportedVersion => 505,
            RequestError::UnsupportedTransferCoding => 501,
            RequestError::UnsupportedExpectation => 417,
            RequestError::BodyTooLarge => 413,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::MalformedHead(why) => write!(f, "malformed request: {why}"),
            RequestError::RequestLineTooLong => f.write_str("request line too long"),
            RequestError::HeadersTooLarge => f.write_str("request header section too large"),
            RequestError::TooManyHeaders => f.write_str("too many request header fields"),
            RequestError::UnsupportedVersion => f.write_str("HTTP version not supported"),
            RequestError::BadFraming(why) => write!(f, "bad message framing: {why}"),
            RequestError::UnsupportedTransferCoding => {
                f.write_str("transfer coding not implemented")
            }
            RequestError::UnsupportedExpectation => f.write_str("expectation not supported"),
            RequestError::BodyTooLarge => f.write_str("request body too large"),
            RequestError::BadChunk(why) => write!(f, "bad chunked body: {why}"),
            RequestError::Incomplete => f.write_str("connection closed mid-request"),
        }
    }
}

impl core::error::Error for RequestError {}
