//! [`Limits`]: how much a peer may make the codec hold, and what it answers past each limit.

/// The most headers a request may carry, whatever [`Limits::max_headers`] says: the parser's
/// header slots live on the stack.
pub const MAX_HEADERS_CAP: usize = 128;

/// The longest chunk-size line (size and extensions, not counting CRLF) a chunked body may use. Real clients
/// send a few hex digits; a long line is a probe or an attack.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Size limits of one HTTP/1.1 connection. Every limit is checked as the bytes arrive, so a peer
/// can never make the codec hold more than its limit, and each has a status past it.
///
/// | limit | past it |
/// | --- | --- |
/// | `max_request_line` | 414 URI Too Long, then close |
/// | `max_header_bytes` (request line, headers, leading blank lines; also chunked trailers) | 431, then close |
/// | `max_headers` (capped at [`MAX_HEADERS_CAP`]) | 431, then close |
/// | `max_body_bytes` (decoded body; a larger `Content-Length` is refused before any body byte) | 413, then close |
///
/// # Examples
///
/// ```
/// use mcpwire_core::http1::Limits;
///
/// let limits = Limits { max_body_bytes: 64 * 1024, ..Limits::default() };
/// assert_eq!(limits.max_header_bytes, 16 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version), excluding its line ending.
    pub max_request_line: usize,
    /// Largest request head, request line and blank lines before it included.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Largest request body after chunked decoding; also the longest line a pipe (stdio)
    /// reads, its inbound message limit.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    /// 8 KiB request line, 16 KiB head, 64 headers, 4 MiB body (the TypeScript SDK's limit).
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

impl Limits {
    pub(crate) fn header_slots(&self) -> usize {
        self.max_headers.min(MAX_HEADERS_CAP)
    }
}
