//! The client half of HTTP/1.1: [`encode_request`] writes a request, [`ResponseDecoder`] reads
//! the response to it as the bytes arrive.
//!
//! One request is outstanding per connection at a time (no pipelining): the decoder stops at
//! the end of the response it was started for, and bytes after it are the caller's to refuse.
//! The body is handed out as it is decoded, never buffered here, so a server-sent event stream
//! that lasts an hour holds no more than one read's worth of bytes in the codec. Bounding the
//! body is the caller's business: it knows whether the body is one JSON message (bounded by
//! size) or a stream of events (bounded per event).
//!
//! Framing follows RFC 9112 §6.3: no body for `HEAD`, 1xx, 204 and 304; chunked when
//! `Transfer-Encoding` ends in `chunked`; a length from one valid `Content-Length`; otherwise
//! the body runs until the server closes. Conflicting or malformed framing is an error, never a
//! guess.
//!
//! # Examples
//!
//! ```
//! use mcpwire_core::http1::{encode_request, ResponseDecoder, ResponseLimits};
//!
//! let mut wire = Vec::new();
//! encode_request(&mut wire, "POST", "/mcp", "127.0.0.1:3000", &[("content-type", "application/json")], b"{}")
//!     .unwrap();
//! assert!(wire.starts_with(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:3000\r\n"));
//!
//! let mut decoder = ResponseDecoder::new(ResponseLimits::default());
//! decoder.start(false);
//! let mut body = Vec::new();
//! let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
//! let decoded = decoder.decode(response, &mut body).unwrap();
//! assert_eq!(decoded.consumed, response.len());
//! assert_eq!(decoded.head.unwrap().status(), 200);
//! assert!(decoded.complete);
//! assert_eq!(body, b"{}");
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::chunked::ChunkedDecoder;
use super::error::RequestError;
use super::head::{
    TransferCoding, find_head_end, list_elements, parse_content_length, parse_transfer_encoding,
};
use super::limits::MAX_HEADERS_CAP;
use super::request::Version;
use crate::invariant::{InvariantViolation, ensure};

/// How much of a response head the decoder will hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimits {
    /// Largest response head (status line, fields, blank line); also bounds chunked trailers.
    pub max_head_bytes: usize,
    /// Most header fields in one response (capped at [`MAX_HEADERS_CAP`]).
    pub max_headers: usize,
}

impl Default for ResponseLimits {
    /// 16 KiB of head in 64 fields, as the server codec allows its peers.
    fn default() -> Self {
        ResponseLimits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// A response the decoder could not read. The connection must close: nothing after a framing
/// error can be trusted to line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// Not an HTTP/1.x status line and fields.
    MalformedHead(&'static str),
    /// The head is larger than [`ResponseLimits::max_head_bytes`], or has more fields than
    /// [`ResponseLimits::max_headers`].
    HeadTooLarge,
    /// Repeated or conflicting `Content-Length` or `Transfer-Encoding`, or a broken chunk.
    BadFraming(&'static str),
    /// The connection ended before the response did.
    Incomplete,
    /// Bytes arrived when no response was expected.
    Unsolicited,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::MalformedHead(why) => write!(f, "malformed response: {why}"),
            ResponseError::HeadTooLarge => f.write_str("response head too large"),
            ResponseError::BadFraming(why) => write!(f, "bad response framing: {why}"),
            ResponseError::Incomplete => f.write_str("connection closed mid-response"),
            ResponseError::Unsolicited => f.write_str("bytes arrived with no request outstanding"),
        }
    }
}

impl core::error::Error for ResponseError {}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (`HEAD`, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    status: u16,
    version: Version,
    headers: Vec<(String, Vec<u8>)>,
    framing: BodyFraming,
    keep_alive: bool,
}

impl ResponseHeader {
    /// The status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The protocol version of the status line.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// How the body is delimited.
    #[must_use]
    pub fn framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the connection can carry another request once this response has ended.
    #[must_use]
    pub fn keep_alive(&self) -> bool {
        self.keep_alive && self.framing != BodyFraming::UntilClose
    }

    /// Every field, names lowercased, in arrival order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }

    /// The first value of the field `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// The first value of `name`, if it is UTF-8, with surrounding whitespace trimmed.
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|value| core::str::from_utf8(value).ok())
            .map(str::trim)
    }

    /// The media type of `Content-Type`, lowercased, without parameters.
    #[must_use]
    pub fn media_type(&self) -> Option<String> {
        let value = self.header_str("content-type")?;
        let media = value.split(';').next().unwrap_or("").trim();
        Some(media.to_ascii_lowercase())
    }

    /// Bytes this head holds on the heap.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.headers.capacity() * size_of::<(String, Vec<u8>)>()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.capacity() + v.capacity())
                .sum::<usize>()
    }
}

impl fmt::Debug for ResponseHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseHeader")
            .field("status", &self.status)
            .field("framing", &self.framing)
            .field("keep_alive", &self.keep_alive)
            .field("headers", &self.headers.len())
            .finish()
    }
}

/// What one call to [`ResponseDecoder::decode`] produced.
#[derive(Debug)]
pub struct Decoded {
    /// Input bytes consumed; fewer than given only once the response is complete, or broke
    /// at the byte after them (the next call returns the error).
    pub consumed: usize,
    /// The final (non-1xx) head, when it was completed by this call.
    pub head: Option<ResponseHeader>,
    /// Whether the response is complete.
    pub complete: bool,
}

#[derive(Debug, Clone)]
enum State {
    /// No request outstanding.
    Idle,
    /// Reading a head; `scanned` is how far the blank line has been looked for.
    Head {
        scanned: usize,
    },
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
    /// The response broke: every call says how.
    Failed(ResponseError),
}

/// Decodes the response to one request at a time (see [`encode_request`] for the request).
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    limits: ResponseLimits,
    state: State,
    head_request: bool,
    buf: Vec<u8>,
}

impl ResponseDecoder {
    /// A decoder with nothing outstanding.
    #[must_use]
    pub fn new(limits: ResponseLimits) -> ResponseDecoder {
        ResponseDecoder {
            limits,
            state: State::Idle,
            head_request: false,
            buf: Vec::new(),
        }
    }

    /// Expects the response to a request just sent; `head_request` when it was `HEAD`.
    pub fn start(&mut self, head_request: bool) {
        self.state = State::Head { scanned: 0 };
        self.head_request = head_request;
        self.buf.clear();
    }

    /// Whether a response is outstanding and not yet complete (nor broken).
    #[must_use]
    pub fn is_active(&self) -> bool {
        !matches!(self.state, State::Idle | State::Done | State::Failed(_))
    }

    /// Bytes held while a head is incomplete.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Checks that the decoder holds bytes only while reading a head, and never more than
    /// [`ResponseLimits::max_head_bytes`] (as length or as capacity).
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        ensure!(
            self.buf.capacity() <= self.limits.max_head_bytes,
            "{} B of head capacity held, over the limit of {}",
            self.buf.capacity(),
            self.limits.max_head_bytes
        );
        match self.state {
            State::Head { scanned } => ensure!(
                scanned <= self.buf.len(),
                "head scanned to {scanned} of {} bytes",
                self.buf.len()
            ),
            _ => ensure!(
                self.buf.capacity() == 0,
                "{} B of head capacity kept past the head",
                self.buf.capacity()
            ),
        }
        Ok(())
    }

    /// Decodes `input`, appending body bytes to `body`.
    ///
    /// When the response turns out broken part-way through `input`, what came before the
    /// break (a head, body bytes) is still returned, with `consumed` short of the input, and
    /// the error comes from the next call: the caller sees the same bytes whatever the
    /// pieces they arrived in. Once failed, every call returns the error.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<Decoded, ResponseError> {
        let mut decoded = Decoded {
            consumed: 0,
            head: None,
            complete: false,
        };
        if let State::Failed(error) = self.state {
            return Err(error);
        }
        if input.is_empty() {
            decoded.complete = matches!(self.state, State::Done);
            return Ok(decoded);
        }
        if matches!(self.state, State::Idle | State::Done) {
            return Err(ResponseError::Unsolicited);
        }
        let body_before = body.len();
        match self.decode_into(input, body, &mut decoded) {
            Ok(()) => {}
            Err(error) => {
                self.state = State::Failed(error);
                self.buf = Vec::new();
                let progress = decoded.consumed > 0 || decoded.head.is_some();
                if !progress {
                    body.truncate(body_before);
                    return Err(error);
                }
            }
        }
        decoded.complete = matches!(self.state, State::Done);
        Ok(decoded)
    }

    /// The loop of [`ResponseDecoder::decode`]: `decoded.consumed` is kept up to date, so
    /// that an error leaves it at the byte that broke the response.
    fn decode_into(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        decoded: &mut Decoded,
    ) -> Result<(), ResponseError> {
        let mut i = 0;
        while i < input.len() {
            decoded.consumed = i;
            match &mut self.state {
                State::Idle | State::Done | State::Failed(_) => break,
                State::Head { scanned } => {
                    let room = self.limits.max_head_bytes.saturating_sub(self.buf.len());
                    let take = room.min(input.len() - i);
                    let from = scanned.saturating_sub(2);
                    // Grown by doubling as usual, but never past the limit: the head's
                    // buffer is bounded in capacity, not only in length.
                    let wanted = self.buf.len() + take;
                    if wanted > self.buf.capacity() {
                        let grown = wanted
                            .max(self.buf.capacity() * 2)
                            .min(self.limits.max_head_bytes);
                        self.buf.reserve_exact(grown - self.buf.len());
                    }
                    self.buf.extend_from_slice(&input[i..i + take]);
                    match find_head_end(&self.buf, from) {
                        Ok(end) => {
                            let extra = self.buf.len() - end;
                            let head = self.parse_head(end)?;
                            i += take - extra;
                            self.buf = Vec::new();
                            if (100..200).contains(&head.status) {
                                // An interim response: the real one follows.
                                self.state = State::Head { scanned: 0 };
                                continue;
                            }
                            self.state = match head.framing {
                                BodyFraming::Empty | BodyFraming::Length(0) => State::Done,
                                BodyFraming::Length(n) => State::Length { remaining: n },
                                BodyFraming::Chunked => State::Chunked(ChunkedDecoder::new(
                                    usize::MAX,
                                    self.limits.max_head_bytes,
                                )),
                                BodyFraming::UntilClose => State::UntilClose,
                            };
                            decoded.head = Some(head);
                        }
                        Err(scanned_to) => {
                            if self.buf.len() >= self.limits.max_head_bytes {
                                return Err(ResponseError::HeadTooLarge);
                            }
                            i += take;
                            *scanned = scanned_to;
                        }
                    }
                }
                State::Length { remaining } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - i);
                    body.extend_from_slice(&input[i..i + take]);
                    i += take;
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.state = State::Done;
                    }
                }
                State::Chunked(chunks) => {
                    let mut at = 0;
                    let result = chunks.decode_at(&input[i..], body, &mut at);
                    i += at;
                    decoded.consumed = i;
                    result.map_err(chunk_error)?;
                    if chunks.is_done() {
                        self.state = State::Done;
                    }
                }
                State::UntilClose => {
                    body.extend_from_slice(&input[i..]);
                    i = input.len();
                }
            }
        }
        decoded.consumed = i;
        Ok(())
    }

    /// The server closed its side: completes a body that runs until close, and is
    /// [`ResponseError::Incomplete`] for any other response still outstanding (which is then
    /// over: the decoder holds nothing more for it).
    pub fn finish(&mut self) -> Result<bool, ResponseError> {
        match self.state {
            State::UntilClose => {
                self.state = State::Done;
                Ok(true)
            }
            State::Idle | State::Done => Ok(false),
            State::Failed(error) => Err(error),
            State::Head { .. } | State::Length { .. } | State::Chunked(_) => {
                self.state = State::Failed(ResponseError::Incomplete);
                self.buf = Vec::new();
                Err(ResponseError::Incomplete)
            }
        }
    }

    fn parse_head(&self, len: usize) -> Result<ResponseHeader, ResponseError> {
        // One response head per request: zeroing the slots costs nothing next to the round trip.
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
        let mut parsed =
            httparse::Response::new(&mut slots[..self.limits.max_headers.min(MAX_HEADERS_CAP)]);
        match parsed.parse(&self.buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(ResponseError::MalformedHead("incomplete head"));
            }
            Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::HeadTooLarge),
            Err(_) => return Err(ResponseError::MalformedHead("not an HTTP/1.x response")),
        }
        let (Some(status), Some(minor)) = (parsed.code, parsed.version) else {
            return Err(ResponseError::MalformedHead("incomplete status line"));
        };
        let version = match minor {
            0 => Version::Http10,
            1 => Version::Http11,
            _ => return Err(ResponseError::MalformedHead("unsupported HTTP version")),
        };
        let mut headers = Vec::with_capacity(parsed.headers.len());
        let mut length = None;
        let mut chunked = None;
        let mut close = version == Version::Http10;
        for header in parsed.headers.iter() {
            let name = header.name.to_ascii_lowercase();
            match name.as_str() {
                "content-length" => {
                    let value = parse_content_length(header.value)
                        .map_err(chunk_error)?
                        .ok_or(ResponseError::BadFraming("Content-Length overflows"))?;
                    if length.is_some_and(|l| l != value) {
                        return Err(ResponseError::BadFraming("conflicting Content-Length"));
                    }
                    length = Some(value);
                }
                "transfer-encoding" => {
                    if chunked.is_some() {
                        return Err(ResponseError::BadFraming("repeated Transfer-Encoding"));
                    }
                    chunked = Some(
                        parse_transfer_encoding(header.value).map_err(chunk_error)?
                            == TransferCoding::Chunked,
                    );
                }
                "connection" => {
                    for option in list_elements(header.value) {
                        if option.eq_ignore_ascii_case(b"close") {
                            close = true;
                        } else if option.eq_ignore_ascii_case(b"keep-alive") {
                            close = false;
                        }
                    }
                }
                _ => {}
            }
            headers.push((name, header.value.to_vec()));
        }
        let no_body =
            self.head_request || (100..200).contains(&status) || matches!(status, 204 | 304);
        let framing = match (no_body, chunked, length) {
            (true, _, _) => BodyFraming::Empty,
            (false, Some(_), Some(_)) => {
                return Err(ResponseError::BadFraming(
                    "both Transfer-Encoding and Content-Length",
                ));
            }
            (false, Some(true), None) => BodyFraming::Chunked,
            (false, Some(false), None) => {
                return Err(ResponseError::BadFraming("unsupported transfer coding"));
            }
            (false, None, Some(n)) => BodyFraming::Length(n),
            (false, None, None) => BodyFraming::UntilClose,
        };
        Ok(ResponseHeader {
            status,
            version,
            headers,
            framing,
            keep_alive: !close,
        })
    }
}

fn chunk_error(error: RequestError) -> ResponseError {
    match error {
        RequestError::HeadersTooLarge => ResponseError::HeadTooLarge,
        RequestError::BadChunk(why) | RequestError::BadFraming(why) => {
            ResponseError::BadFraming(why)
        }
        _ => ResponseError::BadFraming("bad chunked body"),
    }
}

/// A header value the encoder refused: it would have broken the request's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderInjection;

impl fmt::Display for HeaderInjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("header name or value holds a control character")
    }
}

impl core::error::Error for HeaderInjection {}

/// Appends an HTTP/1.1 request to `out`: request line, `host`, `headers`, a `content-length`
/// when there is a body or the method is `POST`, then the body. Nothing is written when a name
/// or value holds CR, LF or NUL (values from a server, such as a session id, pass through here).
pub fn encode_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), HeaderInjection> {
    let clean = |s: &str| !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    let names_clean = headers
        .iter()
        .all(|(n, v)| clean(n) && clean(v) && !n.is_empty() && !n.contains(':'));
    if !names_clean || !clean(target) || target.contains(' ') || !clean(host) {
        return Err(HeaderInjection);
    }
    out.reserve(64 + target.len() + host.len() + body.len());
    for part in [method, " ", target, " HTTP/1.1\r\nhost: ", host, "\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    for (name, value) in headers {
        for part in [*name, ": ", *value, "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
    if !body.is_empty() || method.eq_ignore_ascii_case("POST") {
        let mut digits = [0u8; 20];
        let mut n = body.len();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(&digits[at..]);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        head_request: bool,
        wire: &[u8],
        split: usize,
    ) -> Result<(ResponseHeader, Vec<u8>, bool), ResponseError> {
        let mut decoder = ResponseDecoder::new(ResponseLimits::default());
        decoder.start(head_request);
        let mut body = Vec::new();
        let mut head = None;
        let mut complete = false;
        for piece in wire.chunks(split.max(1)) {
            let decoded = decoder.decode(piece, &mut body)?;
            head = head.or(decoded.head);
            complete = decoded.complete;
            if complete {
                assert_eq!(
                    decoded.consumed,
                    piece.len(),
                    "no bytes after the response here"
                );
            }
        }
        if !complete {
            complete = decoder.finish()?;
        }
        Ok((head.expect("a head"), body, complete))
    }

    #[test]
    fn every_framing_decodes_the_same_in_any_split() {
        let cases: [(&[u8], &[u8], BodyFraming); 4] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello", BodyFraming::Length(5)),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
                b"hello",
                BodyFraming::Chunked,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\nhello", b"hello", BodyFraming::UntilClose),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", b"", BodyFraming::Empty),
        ];
        for (wire, want, framing) in cases {
            for split in [1, 2, 3, 7, wire.len()] {
                let (head, body, complete) = decode_all(false, wire, split).unwrap();
                assert_eq!(head.framing(), framing);
                assert_eq!(body, want);
                assert!(complete);
            }
        }
    }

    #[test]
    fn head_requests_and_304_have_no_body() {
        let (head, body, complete) =
            decode_all(true, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 4).unwrap();
        assert_eq!(
            (head.framing(), body.len(), complete),
            (BodyFraming::Empty, 0, true)
        );
        let (head, _, _) = decode_all(false, b"HTTP/1.1 304 Not Modified\r\n\r\n", 1).unwrap();
        assert_eq!(head.framing(), BodyFraming::Empty);
    }

    #[test]
    fn the_decoder_stops_at_the_end_of_its_response() {
        let mut decoder = ResponseDecoder::new(ResponseLimits::default());
        decoder.start(false);
        let mut body = Vec::new();
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK";
        let decoded = decoder.decode(wire, &mut body).unwrap();
        assert!(decoded.complete);
        assert_eq!(decoded.consumed, wire.len() - b"HTTP/1.1 200 OK".len());
        assert_eq!(
            decoder.decode(b"x", &mut body).unwrap_err(),
            ResponseError::Unsolicited
        );
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let reuse = |wire: &[u8]| decode_all(false, wire, 64).unwrap().0.keep_alive();
        assert!(reuse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!reuse(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!reuse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(reuse(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!reuse(b"HTTP/1.1 200 OK\r\n\r\n"));
    }

    #[test]
    fn bad_framing_is_refused() {
        let bad: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"SMTP 220 hello\r\n\r\n",
        ];
        for wire in bad {
            assert!(
                decode_all(false, wire, 5).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn head_limit_at_and_past() {
        let limits = ResponseLimits {
            max_head_bytes: 64,
            max_headers: 4,
        };
        let head_of = |len: usize| {
            let mut wire = b"HTTP/1.1 204 No Content\r\nx: ".to_vec();
            while wire.len() < len - 4 {
                wire.push(b'a');
            }
            wire.extend_from_slice(b"\r\n\r\n");
            wire
        };
        let run = |wire: &[u8]| {
            let mut decoder = ResponseDecoder::new(limits);
            decoder.start(false);
            decoder.decode(wire, &mut Vec::new()).map(|d| d.complete)
        };
        assert_eq!(run(&head_of(64)), Ok(true));
        assert_eq!(run(&head_of(65)), Err(ResponseError::HeadTooLarge));
        let many = b"HTTP/1.1 204 No Content\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\n\r\n";
        let mut decoder = ResponseDecoder::new(ResponseLimits {
            max_head_bytes: 1024,
            max_headers: 4,
        });
        decoder.start(false);
        assert_eq!(
            decoder.decode(many, &mut Vec::new()).unwrap_err(),
            ResponseError::HeadTooLarge
        );
    }

    /// A chunked body that breaks after some data: the data before the break is returned in
    /// every split, as in one piece, and the error follows (and stays).
    #[test]
    fn what_came_before_a_break_is_returned_in_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\ndefg";
        for split in [1, 2, 5, 40, wire.len()] {
            let mut decoder = ResponseDecoder::new(ResponseLimits::default());
            decoder.start(false);
            let (mut body, mut head, mut error) = (Vec::new(), None, None);
            for piece in wire.chunks(split) {
                let mut rest = piece;
                while !rest.is_empty() && error.is_none() {
                    match decoder.decode(rest, &mut body) {
                        Ok(decoded) => {
                            head = head.or(decoded.head);
                            assert!(!decoded.complete);
                            rest = &rest[decoded.consumed..];
                        }
                        Err(e) => error = Some(e),
                    }
                }
            }
            assert_eq!(head.map(|h| h.status()), Some(200), "split {split}");
            assert_eq!(body, b"abcde", "split {split}");
            let broken = ResponseError::BadFraming("chunk data longer than its size");
            assert_eq!(error, Some(broken), "split {split}");
            assert_eq!(decoder.decode(b"x", &mut body).unwrap_err(), broken);
            assert_eq!(decoder.finish(), Err(broken));
            assert!(!decoder.is_active());
            decoder.check_invariants().unwrap();
        }
    }

    /// A head arriving a byte at a time never grows its buffer past the head limit.
    #[test]
    fn a_head_buffer_stays_within_its_limit_in_capacity() {
        for max_head_bytes in [64, 96, 100, 16 * 1024] {
            let limits = ResponseLimits {
                max_head_bytes,
                max_headers: 8,
            };
            let mut decoder = ResponseDecoder::new(limits);
            decoder.start(false);
            let mut wire = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
            wire.resize(max_head_bytes + 10, b'a');
            let mut failed = false;
            for byte in wire.chunks(1) {
                if decoder.decode(byte, &mut Vec::new()).is_err() {
                    failed = true;
                    break;
                }
                assert!(decoder.held_bytes() <= max_head_bytes);
                decoder.check_invariants().unwrap();
            }
            assert!(failed, "a head past the limit is refused");
            decoder.check_invariants().unwrap();
        }
    }

    #[test]
    fn an_early_close_is_incomplete() {
        let mut decoder = ResponseDecoder::new(ResponseLimits::default());
        decoder.start(false);
        decoder
            .decode(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe",
                &mut Vec::new(),
            )
            .unwrap();
        assert_eq!(decoder.finish(), Err(ResponseError::Incomplete));
        assert!(!decoder.is_active());
        decoder.check_invariants().unwrap();
    }

    #[test]
    fn the_encoder_refuses_injected_values() {
        let mut out = Vec::new();
        assert_eq!(
            encode_request(
                &mut out,
                "GET",
                "/mcp",
                "h",
                &[("mcp-session-id", "a\r\nx: y")],
                b""
            ),
            Err(HeaderInjection)
        );
        assert!(out.is_empty());
        encode_request(
            &mut out,
            "DELETE",
            "/mcp",
            "h",
            &[("mcp-session-id", "abc")],
            b"",
        )
        .unwrap();
        assert_eq!(
            out,
            b"DELETE /mcp HTTP/1.1\r\nhost: h\r\nmcp-session-id: abc\r\n\r\n"
        );
    }
}
