//! [`Request`]: one HTTP request with its body, as the codec delivers it and as request-level
//! hosts (fetch handlers, Node `http`) build it.
//!
//! The head and the body share one byte buffer, with spans into the head, so a parsed request
//! costs two allocations (bytes, header spans) however many headers it has.

use alloc::vec::Vec;
use core::fmt;

/// The request method. Methods are case-sensitive: `get` is [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// Any other token; [`Request::method_str`] has its text.
    Other,
}

impl Method {
    /// The method named by `token`.
    #[must_use]
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// The HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HTTP/1.0: no chunked responses, connections close unless asked to stay open.
    Http10,
    /// HTTP/1.1
    Http11,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, len: usize) -> Span {
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let end = start.saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        Span { start, end }
    }

    fn of(self, bytes: &[u8]) -> &[u8] {
        bytes
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    fn str_of(self, bytes: &[u8]) -> &str {
        core::str::from_utf8(self.of(bytes)).unwrap_or_default()
    }
}

/// One HTTP request: method, target, headers and the whole body.
///
/// Header names compare case-insensitively. The method, target and header names are always
/// valid UTF-8 (the codec rejects a request otherwise); header values are bytes, since HTTP
/// allows obsolete non-ASCII text there.
///
/// # Examples
///
/// ```
/// use mcpwire_core::http1::{Method, Request};
///
/// let request = Request::builder("POST", "/mcp?debug=1")
///     .header("Content-Type", "application/json")
///     .header("Mcp-Session-Id", "abc")
///     .body(br#"{"jsonrpc":"2.0","method":"ping","id":1}"#.to_vec())
///     .build()
///     .unwrap();
/// assert_eq!(request.method(), Method::Post);
/// assert_eq!(request.path(), "/mcp");
/// assert_eq!(request.query(), Some("debug=1"));
/// assert_eq!(request.header_str("mcp-session-id"), Some("abc"));
/// ```
#[derive(Clone)]
pub struct Request {
    /// The head's bytes (which the spans index), then the body's.
    head: Vec<u8>,
    body_start: usize,
    method: Method,
    method_span: Span,
    target: Span,
    version: Version,
    headers: Vec<(Span, Span)>,
}

impl Request {
    /// Starts a request for hosts that parse HTTP themselves.
    pub fn builder(method: &str, target: &str) -> RequestBuilder {
        RequestBuilder::new(method, target)
    }

    /// A request whose head is all of `head`; the body is appended to the same buffer later,
    /// so give `head` the capacity the body will need.
    pub(crate) fn from_parts(
        head: Vec<u8>,
        method_span: Span,
        target: Span,
        version: Version,
        headers: Vec<(Span, Span)>,
    ) -> Request {
        let method = Method::from_token(method_span.str_of(&head));
        Request {
            body_start: head.len(),
            head,
            method,
            method_span,
            target,
            version,
            headers,
        }
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method's text, as sent.
    #[must_use]
    pub fn method_str(&self) -> &str {
        self.method_span.str_of(&self.head)
    }

    /// The request target as sent: usually a path with an optional query.
    #[must_use]
    pub fn target(&self) -> &str {
        self.target.str_of(&self.head)
    }

    /// The target up to, not including, any `?`.
    #[must_use]
    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The target after the first `?`, if there is one.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, query)| query)
    }

    /// The HTTP version.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// Every header in the order received, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|&(name, value)| (name.str_of(&self.head), value.of(&self.head)))
    }

    /// The value of the first header called `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.headers
            .iter()
            .find(|(n, _)| n.of(&self.head).eq_ignore_ascii_case(name))
            .map(|&(_, value)| value.of(&self.head))
    }

    /// The value of the first header called `name`, if it is valid UTF-8.
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|value| core::str::from_utf8(value).ok())
    }

    /// The values of every header called `name`, in the order received.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        // Names compared as bytes: they are ASCII tokens, and a lookup is on every request's
        // path several times over, where validating each name as UTF-8 cost more than the rest.
        self.headers
            .iter()
            .filter(move |(n, _)| n.of(&self.head).eq_ignore_ascii_case(name.as_bytes()))
            .map(|&(_, value)| value.of(&self.head))
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        self.head.get(self.body_start..).unwrap_or_default()
    }

    /// Takes the body out of the request.
    #[must_use]
    pub fn into_body(mut self) -> Vec<u8> {
        self.head.drain(..self.body_start);
        self.head
    }

    /// Length of the body so far.
    pub(crate) fn body_len(&self) -> usize {
        self.head.len() - self.body_start
    }

    /// Bytes of the head and the body so far.
    pub(crate) fn held_len(&self) -> usize {
        self.head.len()
    }

    /// The buffer the body grows at the end of: append only.
    pub(crate) fn body_tail(&mut self) -> &mut Vec<u8> {
        &mut self.head
    }

    /// Bytes this request holds on the heap (head and body, header index).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.head.capacity() + self.headers.capacity() * size_of::<(Span, Span)>()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method_str())
            .field("target", &self.target())
            .field("version", &self.version)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body_len())
            .finish()
    }
}

impl PartialEq for Request {
    /// Requests are equal when method, target, version, headers and body are equal, however
    /// their heads were laid out.
    fn eq(&self, other: &Self) -> bool {
        self.method_str() == other.method_str()
            && self.target() == other.target()
            && self.version == other.version
            && self.headers().eq(other.headers())
            && self.body() == other.body()
    }
}

impl Eq for Request {}

/// Why [`RequestBuilder::build`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The method is not an HTTP token.
    InvalidMethod,
    /// The target is empty or holds whitespace or control characters.
    InvalidTarget,
    /// A header name is not an HTTP token.
    InvalidHeaderName,
    /// A header value holds CR, LF or NUL.
    InvalidHeaderValue,
    /// The head exceeds 4 GiB.
    TooLarge,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildError::InvalidMethod => "invalid method",
            BuildError::InvalidTarget => "invalid request target",
            BuildError::InvalidHeaderName => "invalid header name",
            BuildError::InvalidHeaderValue => "invalid header value",
            BuildError::TooLarge => "request head too large",
        })
    }
}

impl core::error::Error for BuildError {}

/// Builds a [`Request`] from parts; see [`Request::builder`].
#[derive(Debug)]
#[must_use]
pub struct RequestBuilder {
    head: Vec<u8>,
    method: Span,
    target: Span,
    version: Version,
    headers: Vec<(Span, Span)>,
    body: Vec<u8>,
    error: Option<BuildError>,
}

impl RequestBuilder {
    fn new(method: &str, target: &str) -> RequestBuilder {
        let mut head = Vec::with_capacity(method.len() + target.len() + 64);
        let mut error = None;
        if !is_token(method) {
            error = Some(BuildError::InvalidMethod);
        }
        if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            error = error.or(Some(BuildError::InvalidTarget));
        }
        let method_span = Span::new(head.len(), method.len());
        head.extend_from_slice(method.as_bytes());
        let target_span = Span::new(head.len(), target.len());
        head.extend_from_slice(target.as_bytes());
        RequestBuilder {
            head,
            method: method_span,
            target: target_span,
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
            error,
        }
    }

    /// Sets the HTTP version (default HTTP/1.1).
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let value = value.as_ref();
        if !is_token(name) {
            self.error = self.error.or(Some(BuildError::InvalidHeaderName));
        }
        if value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
            self.error = self.error.or(Some(BuildError::InvalidHeaderValue));
        }
        let name_span = Span::new(self.head.len(), name.len());
        self.head.extend_from_slice(name.as_bytes());
        let value_span = Span::new(self.head.len(), value.len());
        self.head.extend_from_slice(value);
        self.headers.push((name_span, value_span));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The request, or the first problem found in its parts.
    pub fn build(self) -> Result<Request, BuildError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if u32::try_from(self.head.len()).is_err() {
            return Err(BuildError::TooLarge);
        }
        let mut head = self.head;
        head.extend_from_slice(&self.body);
        let body_start = head.len() - self.body.len();
        let mut request =
            Request::from_parts(head, self.method, self.target, self.version, self.headers);
        request.body_start = body_start;
        Ok(request)
    }
}

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rejects_what_the_wire_could_not_carry() {
        assert_eq!(
            Request::builder("GE T", "/").build().unwrap_err(),
            BuildError::InvalidMethod
        );
        assert_eq!(
            Request::builder("GET", "/a b").build().unwrap_err(),
            BuildError::InvalidTarget
        );
        assert_eq!(
            Request::builder("GET", "").build().unwrap_err(),
            BuildError::InvalidTarget
        );
        assert_eq!(
            Request::builder("GET", "/")
                .header("X:Y", "v")
                .build()
                .unwrap_err(),
            BuildError::InvalidHeaderName
        );
        assert_eq!(
            Request::builder("GET", "/")
                .header("X", "v\r\nInjected: 1")
                .build()
                .unwrap_err(),
            BuildError::InvalidHeaderValue
        );
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_ordered() {
        let r = Request::builder("DELETE", "/mcp")
            .header("Accept", "text/event-stream")
            .header("accept", "application/json")
            .header("X-Bin", [0xffu8, 0x41])
            .build()
            .unwrap();
        assert_eq!(r.method(), Method::Delete);
        assert_eq!(r.header_str("ACCEPT"), Some("text/event-stream"));
        let all: Vec<_> = r.header_values("accept").collect();
        assert_eq!(all, [&b"text/event-stream"[..], b"application/json"]);
        assert_eq!(r.header("x-bin"), Some(&[0xffu8, 0x41][..]));
        assert_eq!(r.header_str("x-bin"), None);
        assert_eq!(r.header("missing"), None);
        assert_eq!(r.query(), None);
        assert_eq!(r.path(), "/mcp");
    }

    #[test]
    fn lowercase_method_is_other() {
        let r = Request::builder("get", "/").build().unwrap();
        assert_eq!(r.method(), Method::Other);
        assert_eq!(r.method_str(), "get");
    }
}
