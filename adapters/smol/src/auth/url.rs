//! The URLs a verifier fetches from: `https://`, or `http://` on a loopback host only, so that
//! neither a key set nor a verdict on a token ever crosses a network in the clear.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::ConfigError;

/// An absolute `https://` URL, or `http://` on a loopback host (127.0.0.0/8, `::1`,
/// `localhost`), with no user information and no fragment.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    text: String,
    https: bool,
    /// The host as written, IPv6 literals without their brackets.
    host: String,
    port: u16,
    /// Where the path starts in `text`.
    path_at: usize,
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl HttpUrl {
    /// Parses `text`, naming `what` it is in the error.
    pub(crate) fn parse(text: &str, what: &str) -> Result<HttpUrl, ConfigError> {
        let refuse = |why: &str| ConfigError::new(format!("{what} {text:?} {why}"));
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(refuse("is not an absolute https:// URL"));
        };
        if text.contains('#') {
            return Err(refuse("has a fragment"));
        }
        if text.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(refuse("has a space or a character outside visible ASCII"));
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.contains('@') {
            return Err(refuse("has user information"));
        }
        let (host, port) = split_authority(authority).ok_or_else(|| refuse("has no valid host"))?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        let url = HttpUrl {
            text: text.to_string(),
            https,
            host: host.to_string(),
            port,
            path_at: text.len() - rest.len() + end,
        };
        if !https && !url.is_loopback() {
            return Err(refuse(
                "must be https:// (http:// is for loopback hosts only: 127.0.0.0/8, ::1, localhost)",
            ));
        }
        Ok(url)
    }

    /// The URL as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    /// The host, IPv6 literals without brackets: what to connect to and what the server's
    /// certificate must name.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The `Host` header: the authority, with the port only when it is not the scheme's.
    pub(crate) fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The path and query, `/` when there is no path.
    pub(crate) fn target(&self) -> &str {
        match &self.text[self.path_at..] {
            "" => "/",
            target => target,
        }
    }

    /// The path without its trailing `/` (empty for the root), when there is no query.
    pub(crate) fn path(&self) -> &str {
        self.text[self.path_at..].trim_end_matches('/')
    }

    /// `scheme://authority`, as written.
    pub(crate) fn origin(&self) -> &str {
        &self.text[..self.path_at]
    }

    fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| match ip {
                IpAddr::V4(v4) => v4.is_loopback(),
                IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
            })
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let close = rest.find(']')?;
        let host = &rest[..close];
        host.parse::<Ipv6Addr>().ok()?;
        match &rest[close + 1..] {
            "" => (host, None),
            tail => (host, Some(tail.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let valid_host = !host.is_empty()
        && (host.contains(':')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    if !valid_host {
        return None;
    }
    let port = match port {
        None => None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_on_loopback_only() {
        let url = HttpUrl::parse("https://as.example:8443/tenant/?x=1", "u").unwrap();
        assert_eq!(
            (url.host(), url.port(), url.target()),
            ("as.example", 8443, "/tenant/?x=1")
        );
        assert_eq!(url.authority(), "as.example:8443");
        for loopback in [
            "http://127.0.0.1:9/jwks",
            "http://127.8.9.10/",
            "http://[::1]:80",
            "http://LocalHost:3000/x",
        ] {
            assert!(HttpUrl::parse(loopback, "u").is_ok(), "{loopback}");
        }
        for refused in [
            "http://as.example/jwks",
            "http://10.0.0.1/",
            "http://[::2]/",
            "http://0.0.0.0/",
            "ftp://as.example/",
            "as.example/jwks",
            "https://user@as.example/",
            "https:///path",
            "https://as.example:http/",
            "https://as.example/#frag",
            "https://as example/",
        ] {
            assert!(HttpUrl::parse(refused, "u").is_err(), "{refused}");
        }
        let v6 = HttpUrl::parse("http://[::1]:8080", "u").unwrap();
        assert_eq!(
            (v6.host(), v6.authority(), v6.target()),
            ("::1", "[::1]:8080".into(), "/")
        );
        let root = HttpUrl::parse("https://as.example/", "u").unwrap();
        assert_eq!((root.path(), root.origin()), ("", "https://as.example"));
        assert_eq!(root.authority(), "as.example");
    }
}
