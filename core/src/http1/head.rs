//! Turning a complete request head into a [`Request`] and its body framing, with the framing
//! rules of RFC 9112 §6 applied strictly: wherever two parsers could disagree about where a
//! body ends (request smuggling), the request is refused instead of interpreted.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

use super::error::RequestError;
use super::limits::{Limits, MAX_HEADERS_CAP};
use super::request::{Request, Span, Version};

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head and what it says about the exchange.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: Request,
    pub(crate) framing: Framing,
    /// Whether the connection stays open after this exchange.
    pub(crate) keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub(crate) expect_continue: bool,
}

/// Where a complete head ends in `buf`, if it does: the index just past the blank line.
///
/// A head ends at a line feed followed by an empty line (`\n\n` or `\n\r\n`). Scanning starts at
/// `from` so that bytes arriving one at a time are looked at once, not once per arrival.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut i = from;
    while let Some(offset) = buf
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let lf = i + offset;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return Ok(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return Ok(lf + 3),
            // The blank line may still be arriving: look here again next time.
            (None, _) | (Some(b'\r'), None) => return Err(lf),
            _ => i = lf + 1,
        }
    }
    Err(buf.len())
}

/// A claimed `Content-Length` reserves at most this much body capacity up front, so a peer
/// cannot make the codec allocate for bytes it never sends; beyond it the body grows as it
/// arrives.
const MAX_BODY_RESERVE: u64 = 64 * 1024;

/// Parses the head at the start of `bytes`, returning it and its length (blank line included),
/// or `None` when the head is not complete yet.
pub(crate) fn parse_head(
    bytes: &[u8],
    limits: &Limits,
) -> Result<Option<(Head, usize)>, RequestError> {
    // Uninitialized slots: zeroing 128 headers would cost more than parsing a typical head.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match parsed.parse_with_uninit_headers(bytes, &mut slots[..limits.header_slots()]) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(map_httparse_error(e)),
    };
    let bytes = &bytes[..len];
    let (Some(method), Some(path), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(RequestError::MalformedHead("incomplete request line"));
    };
    let version = match minor {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(RequestError::UnsupportedVersion),
    };
    if core::str::from_utf8(path.as_bytes()).is_err() {
        return Err(RequestError::MalformedHead("request target is not UTF-8"));
    }

    let offset = |part: &[u8]| (part.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
    let mut headers = Vec::with_capacity(parsed.headers.len());
    let mut framing = FramingHeaders::default();
    for header in parsed.headers.iter() {
        framing.observe(header.name, header.value)?;
        headers.push((
            Span::new(offset(header.name.as_bytes()), header.name.len()),
            Span::new(offset(header.value), header.value.len()),
        ));
    }
    let method = Span::new(offset(method.as_bytes()), method.len());
    let target = Span::new(offset(path.as_bytes()), path.len());
    let head = framing.finish(version, limits, |body_reserve| {
        let mut buf = Vec::with_capacity(bytes.len() + body_reserve);
        buf.extend_from_slice(bytes);
        Request::from_parts(buf, method, target, version, headers)
    })?;
    Ok(Some((head, len)))
}

fn map_httparse_error(e: httparse::Error) -> RequestError {
    match e {
        httparse::Error::TooManyHeaders => RequestError::TooManyHeaders,
        httparse::Error::Version => RequestError::UnsupportedVersion,
        httparse::Error::HeaderName => RequestError::MalformedHead("invalid header name"),
        httparse::Error::HeaderValue => RequestError::MalformedHead("invalid header value"),
        httparse::Error::NewLine => RequestError::MalformedHead("invalid line ending"),
        httparse::Error::Token => RequestError::MalformedHead("invalid method or target"),
        httparse::Error::Status => RequestError::MalformedHead("invalid request line"),
    }
}

/// The headers that decide framing and connection reuse, gathered while walking the head once.
#[derive(Default)]
struct FramingHeaders {
    content_length: Option<u64>,
    content_length_overflow: bool,
    transfer_encoding: Option<TransferCoding>,
    hosts: usize,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferCoding {
    Chunked,
    Unsupported,
}

impl FramingHeaders {
    fn observe(&mut self, name: &str, value: &[u8]) -> Result<(), RequestError> {
        if name.eq_ignore_ascii_case("content-length") {
            if self.content_length.is_some() || self.content_length_overflow {
                return Err(RequestError::BadFraming("more than one Content-Length"));
            }
            match parse_content_length(value)? {
                Some(length) => self.content_length = Some(length),
                None => self.content_length_overflow = true,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if self.transfer_encoding.is_some() {
                return Err(RequestError::BadFraming("more than one Transfer-Encoding"));
            }
            self.transfer_encoding = Some(parse_transfer_encoding(value)?);
        } else if name.eq_ignore_ascii_case("host") {
            self.hosts += 1;
            if !is_valid_host(value) {
                return Err(RequestError::BadFraming("invalid Host"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for option in list_elements(value) {
                if option.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            for expectation in list_elements(value) {
                if expectation.eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                } else {
                    return Err(RequestError::UnsupportedExpectation);
                }
            }
        }
        Ok(())
    }

    /// Decides framing and reuse, then builds the request with `build(body capacity)`.
    fn finish(
        self,
        version: Version,
        limits: &Limits,
        build: impl FnOnce(usize) -> Request,
    ) -> Result<Head, RequestError> {
        match (version, self.hosts) {
            (Version::Http11, 0) => return Err(RequestError::BadFraming("missing Host")),
            (_, 2..) => return Err(RequestError::BadFraming("more than one Host")),
            _ => {}
        }
        let has_length = self.content_length.is_some() || self.content_length_overflow;
        let framing = match self.transfer_encoding {
            Some(_) if version == Version::Http10 => {
                return Err(RequestError::BadFraming("Transfer-Encoding in HTTP/1.0"));
            }
            Some(_) if has_length => {
                return Err(RequestError::BadFraming(
                    "both Content-Length and Transfer-Encoding",
                ));
            }
            Some(TransferCoding::Unsupported) => {
                return Err(RequestError::UnsupportedTransferCoding);
            }
            Some(TransferCoding::Chunked) => Framing::Chunked,
            None if self.content_length_overflow => return Err(RequestError::BodyTooLarge),
            None => match self.content_length {
                Some(length) if length > limits.max_body_bytes as u64 => {
                    return Err(RequestError::BodyTooLarge);
                }
                Some(0) | None => Framing::Empty,
                Some(length) => Framing::Length(length),
            },
        };
        let keep_alive = match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        };
        // RFC 9110 §10.1.1: an HTTP/1.0 client cannot have sent the expectation on purpose.
        let expect_continue =
            self.expect_continue && version == Version::Http11 && framing != Framing::Empty;
        let body_reserve = match framing {
            Framing::Length(length) => length.min(MAX_BODY_RESERVE) as usize,
            Framing::Empty | Framing::Chunked => 0,
        };
        Ok(Head {
            request: build(body_reserve),
            framing,
            keep_alive,
            expect_continue,
        })
    }
}

/// `Ok(None)` when the digits are valid but overflow: the body is too large, not malformed.
pub(crate) fn parse_content_length(value: &[u8]) -> Result<Option<u64>, RequestError> {
    let digits = trim_ows(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(RequestError::BadFraming("Content-Length is not a number"));
    }
    let mut length: u64 = 0;
    for &digit in digits {
        match length
            .checked_mul(10)
            .and_then(|l| l.checked_add(u64::from(digit - b'0')))
        {
            Some(l) => length = l,
            None => return Ok(None),
        }
    }
    Ok(Some(length))
}

/// Accepts exactly one `chunked`, last. Codings before it are well-formed but not implemented;
/// a list that does not end in `chunked` leaves the body length unknowable (RFC 9112 §6.3).
pub(crate) fn parse_transfer_encoding(value: &[u8]) -> Result<TransferCoding, RequestError> {
    let mut codings = 0usize;
    let mut chunked_seen = false;
    let mut last_is_chunked = false;
    for coding in list_elements(value) {
        codings += 1;
        last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
        if last_is_chunked {
            if chunked_seen {
                return Err(RequestError::BadFraming("chunked applied twice"));
            }
            chunked_seen = true;
        }
    }
    match (codings, last_is_chunked) {
        (0, _) => Err(RequestError::BadFraming("empty Transfer-Encoding")),
        (_, false) => Err(RequestError::BadFraming(
            "Transfer-Encoding does not end in chunked",
        )),
        (1, true) => Ok(TransferCoding::Chunked),
        _ => Ok(TransferCoding::Unsupported),
    }
}

/// The non-empty elements of a comma-separated header list, with optional whitespace trimmed.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|element| !element.is_empty())
}

/// `uri-host [":" port]` (RFC 9112 §3.2): reg-name, IPv4 or IP-literal characters only.
fn is_valid_host(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b))
}

pub(crate) fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<Head, RequestError> {
        parse_head(head.as_bytes(), &Limits::default()).map(|h| h.expect("complete").0)
    }

    fn framing(headers: &str) -> Result<Framing, RequestError> {
        parse(&alloc::format!(
            "POST /mcp HTTP/1.1\r\nHost: a\r\n{headers}\r\n"
        ))
        .map(|h| h.framing)
    }

    #[test]
    fn head_end_is_found_after_crlf_or_bare_lf() {
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 0),
            Ok(24)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest", 0), Ok(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), Err(21));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r", 0), Err(21));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA", 0), Err(17));
        assert_eq!(find_head_end(b"", 0), Err(0));
    }

    #[test]
    fn content_length_must_be_one_plain_number() {
        assert_eq!(framing("Content-Length: 5\r\n"), Ok(Framing::Length(5)));
        assert_eq!(framing("Content-Length:  7 \r\n"), Ok(Framing::Length(7)));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(Framing::Empty));
        assert_eq!(framing(""), Ok(Framing::Empty));
        for bad in ["+5", "-1", "5 5", "5,5", "0x10", "", "1e3"] {
            assert!(
                matches!(
                    framing(&alloc::format!("Content-Length: {bad}\r\n")),
                    Err(RequestError::BadFraming(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            framing("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Err(RequestError::BadFraming(_))
        ));
    }

    #[test]
    fn content_length_past_the_limit_or_u64_is_too_large() {
        let max = Limits::default().max_body_bytes;
        assert_eq!(
            framing(&alloc::format!("Content-Length: {max}\r\n")),
            Ok(Framing::Length(max as u64))
        );
        assert_eq!(
            framing(&alloc::format!("Content-Length: {}\r\n", max + 1)),
            Err(RequestError::BodyTooLarge)
        );
        assert_eq!(
            framing("Content-Length: 99999999999999999999999999\r\n"),
            Err(RequestError::BodyTooLarge)
        );
    }

    #[test]
    fn transfer_encoding_is_chunked_alone_or_refused() {
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: , Chunked ,\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: gzip, chunked\r\n"),
            Err(RequestError::UnsupportedTransferCoding)
        );
        for bad in [
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: ,\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: xchunked\r\n",
        ] {
            assert!(
                matches!(framing(bad), Err(RequestError::BadFraming(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn http10_with_transfer_encoding_is_refused() {
        assert_eq!(
            parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err(),
            RequestError::BadFraming("Transfer-Encoding in HTTP/1.0")
        );
    }

    #[test]
    fn host_is_required_once_in_http11() {
        assert!(matches!(
            parse("GET / HTTP/1.1\r\n\r\n"),
            Err(RequestError::BadFraming("missing Host"))
        ));
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(RequestError::BadFraming("more than one Host"))
        ));
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok());
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            Err(RequestError::BadFraming("invalid Host"))
        ));
        assert!(parse("GET / HTTP/1.1\r\nHost: [::1]:3000\r\n\r\n").is_ok());
    }

    #[test]
    fn connection_reuse_follows_version_and_options() {
        let keep = |head: &str| parse(head).unwrap().keep_alive;
        assert!(keep("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, Close\r\n\r\n"
        ));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
    }

    #[test]
    fn expectations() {
        let head = parse(
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap();
        assert!(head.expect_continue);
        let no_body = parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n").unwrap();
        assert!(!no_body.expect_continue);
        let old =
            parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").unwrap();
        assert!(!old.expect_continue);
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n").unwrap_err(),
            RequestError::UnsupportedExpectation
        );
    }

    #[test]
    fn malformed_heads_map_to_clear_errors() {
        assert_eq!(
            parse("GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            RequestError::UnsupportedVersion
        );
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
            Err(RequestError::MalformedHead(_))
        ));
        assert!(matches!(
            parse("G\0T / HTTP/1.1\r\n\r\n"),
            Err(RequestError::MalformedHead(_))
        ));
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"),
            Err(RequestError::MalformedHead(_))
        ));
    }

    #[test]
    fn header_count_limit_is_exact() {
        let limits = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let at = "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\n\r\n";
        assert!(parse_head(at.as_bytes(), &limits).unwrap().is_some());
        let past = "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\n\r\n";
        assert_eq!(
            parse_head(past.as_bytes(), &limits).unwrap_err(),
            RequestError::TooManyHeaders
        );
    }

    #[test]
    fn parsed_request_exposes_its_parts() {
        let head = parse("PUT /x?y=1 HTTP/1.1\r\nHost: h\r\nX-A:  v  \r\n\r\n").unwrap();
        let r = head.request;
        assert_eq!(r.method_str(), "PUT");
        assert_eq!(r.target(), "/x?y=1");
        assert_eq!(r.version(), Version::Http11);
        assert_eq!(r.header_str("x-a"), Some("v"));
        assert_eq!(r.headers().count(), 2);
    }
}
