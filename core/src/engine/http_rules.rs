//! The HTTP-level rules of the MCP endpoint, as pure functions over a request: allow-lists,
//! content negotiation, the protocol version header.

use crate::http1::Request;

use super::protocol::ProtocolVersion;

/// A `Host` value split as RFC 9110 §7.2 defines it: `uri-host [ ":" port ]`, where the host
/// is an IP literal in brackets, an IPv4 address or a registered name (no userinfo, so no `@`)
/// and the port is decimal digits. `None` for anything else: `[::1]evil.example`,
/// `localhost:evil` and `127.0.0.1:1@evil.example` are not authorities, and a lenient split
/// of them would let a rebinding page through.
pub(super) fn parse_authority(value: &str) -> Option<(&str, Option<u16>)> {
    let (name, rest) = if value.starts_with('[') {
        let close = value.find(']')?;
        let literal = &value[1..close];
        let hex_or_separator = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
        if literal.is_empty() || !literal.chars().all(hex_or_separator) {
            return None;
        }
        (&value[..=close], &value[close + 1..])
    } else {
        let end = value.find(':').unwrap_or(value.len());
        let name = &value[..end];
        // unreserved, pct-encoded and sub-delims (RFC 3986 §3.2.2).
        let reg_name = |c: char| c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=".contains(c);
        if name.is_empty() || !name.chars().all(reg_name) {
            return None;
        }
        (name, &value[end..])
    };
    let port = match rest.strip_prefix(':') {
        None if rest.is_empty() => None,
        None => return None,
        // `host:` is grammatical (`port = *DIGIT`) and means the default port.
        Some("") => None,
        Some(digits) if digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((name, port))
}

/// An entry of `Config::allowed_hosts`, parsed once: a host name, and the port it is allowed
/// on (any, when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AllowedHost {
    name: alloc::string::String,
    port: Option<u16>,
}

/// The entries of `Config::allowed_hosts` that are authorities (others could never match).
pub(super) fn parse_allowed_hosts(
    entries: &[alloc::string::String],
) -> alloc::vec::Vec<AllowedHost> {
    entries
        .iter()
        .filter_map(|entry| {
            let (name, port) = parse_authority(entry.trim())?;
            Some(AllowedHost {
                name: name.into(),
                port,
            })
        })
        .collect()
}

/// Whether the `Host` header names an allowed host: an entry `host` allows it on any port, an
/// entry `host:port` on that port only. A missing `Host` (HTTP/1.0) passes: the codec already
/// requires it for HTTP/1.1. A value that is not an authority never passes.
pub(super) fn host_allowed(request: &Request, allowed: &[AllowedHost]) -> bool {
    let Some(host) = request.header_str("host") else {
        return request.header("host").is_none();
    };
    let Some((name, port)) = parse_authority(host.trim()) else {
        return false;
    };
    allowed
        .iter()
        .any(|entry| same_host(&entry.name, name) && (entry.port.is_none() || entry.port == port))
}

/// Whether two host names are the same host: case aside, a fully qualified name's trailing dot
/// aside (`localhost.` is `localhost`), and IPv6 literals compared as addresses (`[::1]` is
/// `[0:0:0:0:0:0:0:1]`).
fn same_host(a: &str, b: &str) -> bool {
    let literal = |name: &str| {
        name.strip_prefix('[')?
            .strip_suffix(']')?
            .parse::<core::net::Ipv6Addr>()
            .ok()
    };
    if let (Some(a), Some(b)) = (literal(a), literal(b)) {
        return a == b;
    }
    let (a, b) = (
        a.strip_suffix('.').unwrap_or(a),
        b.strip_suffix('.').unwrap_or(b),
    );
    a.eq_ignore_ascii_case(b)
}

/// Whether the `Origin` header, if present, is allowed. Patterns are exact origins, or
/// `scheme://host:*` for any port (and none).
pub(super) fn origin_allowed(request: &Request, allowed: &[alloc::string::String]) -> bool {
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let Ok(origin) = core::str::from_utf8(origin) else {
        return false;
    };
    let origin = origin.trim();
    allowed
        .iter()
        .any(|pattern| match pattern.strip_suffix(":*") {
            Some(base) => {
                origin.eq_ignore_ascii_case(base)
                    || (origin.len() > base.len() + 1
                        && origin[..base.len()].eq_ignore_ascii_case(base)
                        && origin.as_bytes()[base.len()] == b':'
                        && origin[base.len() + 1..].bytes().all(|b| b.is_ascii_digit()))
            }
            None => origin.eq_ignore_ascii_case(pattern),
        })
}

/// Whether the `Accept` headers admit `media` (`type/subtype`), wildcards included. No
/// `Accept` header admits everything (RFC 9110 §12.5.1).
pub(super) fn accepts(request: &Request, media: &str) -> bool {
    // On bytes: this runs twice on every POST, and splitting `str`s by `char` cost more than
    // the rest of the header checks together.
    let media = media.as_bytes();
    let kind = media.split(|&b| b == b'/').next().unwrap_or(media);
    let mut any_header = false;
    for value in request.header_values("accept") {
        any_header = true;
        for range in value.split(|&b| b == b',') {
            let range = range
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            if range == b"*/*"
                || range.eq_ignore_ascii_case(media)
                || range
                    .strip_suffix(b"/*")
                    .is_some_and(|k| k.eq_ignore_ascii_case(kind))
            {
                return true;
            }
        }
    }
    !any_header
}

/// Whether `Content-Type` is `application/json` (parameters such as `charset` allowed).
pub(super) fn is_json(request: &Request) -> bool {
    request.header_str("content-type").is_some_and(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    })
}

/// The `MCP-Protocol-Version` header: `Ok(None)` when absent, `Err(value)` when not a version
/// this engine speaks.
pub(super) fn protocol_header(request: &Request) -> Result<Option<ProtocolVersion>, &str> {
    match request.header("mcp-protocol-version") {
        None => Ok(None),
        Some(raw) => {
            let value = core::str::from_utf8(raw).unwrap_or("").trim();
            ProtocolVersion::parse_session_era(value)
                .map(Some)
                .ok_or(value)
        }
    }
}

/// Whether the `MCP-Protocol-Version` header names a stateless revision (2026-07-28).
pub(super) fn names_stateless_version(request: &Request) -> bool {
    request
        .header_str("mcp-protocol-version")
        .and_then(|v| ProtocolVersion::parse(v.trim()))
        .is_some_and(ProtocolVersion::is_stateless)
}

/// The value of query parameter `name`, as sent (no percent-decoding: the ids this engine hands
/// out never need it).
pub(super) fn query_param<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    fn request(headers: &[(&str, &str)]) -> Request {
        headers
            .iter()
            .fold(
                Request::builder("POST", "/mcp?a=1&sessionId=xyz"),
                |b, (n, v)| b.header(n, v),
            )
            .build()
            .unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| String::from(*s)).collect()
    }

    fn hosts(items: &[&str]) -> Vec<AllowedHost> {
        parse_allowed_hosts(&strings(items))
    }

    #[test]
    fn hosts_match_by_name_whatever_the_port() {
        let allowed = hosts(&["localhost", "127.0.0.1", "[::1]"]);
        for ok in [
            "localhost:3000",
            "LOCALHOST",
            "127.0.0.1:1",
            "[::1]:8080",
            "[::1]",
            "localhost:",
            "localhost.:3000",
            "[0:0:0:0:0:0:0:1]:80",
        ] {
            assert!(host_allowed(&request(&[("host", ok)]), &allowed), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "localhost.evil.com:3000",
            "[::2]:1",
            "127.0.0.2",
            "localhost..",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(!host_allowed(&request(&[("host", bad)]), &allowed), "{bad}");
        }
        let exact = hosts(&["example.com:443"]);
        assert!(host_allowed(
            &request(&[("host", "example.com:443")]),
            &exact
        ));
        assert!(!host_allowed(
            &request(&[("host", "example.com:80")]),
            &exact
        ));
        assert!(!host_allowed(&request(&[("host", "example.com")]), &exact));
    }

    /// What a lenient split lets through: text after the bracket, a port that is not a number,
    /// userinfo. Each is refused, whichever entry it imitates.
    #[test]
    fn hosts_that_are_not_authorities_are_refused() {
        let allowed = hosts(&["localhost", "127.0.0.1", "[::1]", "example.com:443"]);
        for bad in [
            "[::1]evil.example",
            "[::1]evil.example:80",
            "localhost:evil",
            "127.0.0.1:1@evil.example",
            "user@localhost",
            "localhost:3000:1",
            "localhost:123456",
            "localhost:65536",
            "[]",
            "[::1",
            "[::g]",
            "",
            ":80",
            "example.com:443/x",
            "local host",
        ] {
            assert!(
                !host_allowed(&request(&[("host", bad)]), &allowed),
                "{bad:?}"
            );
        }
        assert_eq!(parse_authority("[::1]:65535"), Some(("[::1]", Some(65535))));
        assert_eq!(parse_authority("a.b:080"), Some(("a.b", Some(80))));
    }

    #[test]
    fn origins_match_exactly_or_by_port_wildcard() {
        let allowed = strings(&["http://localhost:*", "https://app.example.com"]);
        for ok in [
            "http://localhost:3000",
            "http://localhost",
            "https://app.example.com",
        ] {
            assert!(
                origin_allowed(&request(&[("origin", ok)]), &allowed),
                "{ok}"
            );
        }
        for bad in [
            "http://evil.example.com",
            "http://localhost.evil.com",
            "http://localhost:3000x",
            "https://localhost:3000",
            "null",
            "https://app.example.com:8443",
        ] {
            assert!(
                !origin_allowed(&request(&[("origin", bad)]), &allowed),
                "{bad}"
            );
        }
        assert!(
            origin_allowed(&request(&[]), &allowed),
            "no Origin: not a browser"
        );
    }

    #[test]
    fn accept_understands_lists_parameters_and_wildcards() {
        let both = request(&[("accept", "application/json, text/event-stream;q=0.9")]);
        assert!(accepts(&both, "application/json") && accepts(&both, "text/event-stream"));
        let split = request(&[
            ("accept", "application/json"),
            ("accept", "text/event-stream"),
        ]);
        assert!(accepts(&split, "text/event-stream"));
        let wild = request(&[("accept", "*/*")]);
        assert!(accepts(&wild, "text/event-stream"));
        let text = request(&[("accept", "text/*")]);
        assert!(accepts(&text, "text/event-stream") && !accepts(&text, "application/json"));
        let json_only = request(&[("accept", "application/json")]);
        assert!(!accepts(&json_only, "text/event-stream"));
        assert!(accepts(&request(&[]), "application/json"));
    }

    #[test]
    fn content_type_and_protocol_header() {
        assert!(is_json(&request(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(!is_json(&request(&[("content-type", "text/plain")])));
        assert!(!is_json(&request(&[])));
        assert_eq!(protocol_header(&request(&[])), Ok(None));
        assert_eq!(
            protocol_header(&request(&[("mcp-protocol-version", "2025-06-18")])),
            Ok(Some(ProtocolVersion::V2025_06_18))
        );
        assert_eq!(
            protocol_header(&request(&[("mcp-protocol-version", "2026-07-28")])),
            Err("2026-07-28")
        );
        let _ = vec![0u8];
    }

    #[test]
    fn query_parameters() {
        let r = request(&[]);
        assert_eq!(query_param(&r, "sessionId"), Some("xyz"));
        assert_eq!(query_param(&r, "b"), None);
    }

    fn with_accept(accept: &[u8]) -> Request {
        let mut raw =
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nAccept: ".to_vec();
        raw.extend_from_slice(accept);
        raw.extend_from_slice(b"\r\n\r\n");
        let mut codec = crate::http1::ServerCodec::new(crate::http1::Limits::default());
        codec.receive(&raw);
        codec
            .poll_request()
            .expect("a request")
            .expect("well-formed")
    }

    #[test]
    fn accept_ranges_are_read_as_bytes_with_http_whitespace() {
        // A range that names the type counts whatever bytes another range holds (the header
        // was skipped whole when any byte was not UTF-8).
        assert!(accepts(
            &with_accept(b"application/json, \xff"),
            "application/json"
        ));
        assert!(!accepts(
            &with_accept(b"application/json, \xff"),
            "text/event-stream"
        ));
        // Optional whitespace is spaces and tabs (RFC 9110), not every Unicode space.
        assert!(accepts(
            &with_accept(b"application/json \t"),
            "application/json"
        ));
        assert!(!accepts(
            &with_accept(b"application/json\xc2\xa0"),
            "application/json"
        ));
        assert!(accepts(
            &with_accept(b"APPLICATION/*;q=1"),
            "application/json"
        ));
        assert!(accepts(
            &with_accept(b"text/event-stream, */*"),
            "application/json"
        ));
        assert!(!accepts(&with_accept(b","), "application/json"));
    }
}
