//! Absolute `http(s)://` URLs as OAuth documents name them, and the two encodings a flow
//! writes: form bodies and query strings (`application/x-www-form-urlencoded`).
//!
//! Only what a flow needs: the origin a token may go to, the well-known locations derived from
//! an issuer or a resource, and the query of a redirect. A URL with userinfo, a fragment or
//! bytes outside printable ASCII is refused rather than normalised: every URL here came from a
//! peer, and one that needs interpretation is one a peer could use to mislead.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// The longest URL a flow accepts from a peer.
pub const MAX_URL_BYTES: usize = 2048;

/// An absolute `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUrl {
    secure: bool,
    /// `host[:port]`, lowercased.
    authority: String,
    /// Starts with `/`.
    path: String,
    /// Without its `?`; empty when there is none.
    query: String,
}

impl AuthUrl {
    /// Parses `url`.
    ///
    /// # Errors
    ///
    /// Why it is not a URL a flow can use.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_core::client::auth::AuthUrl;
    ///
    /// let url = AuthUrl::parse("https://AS.example:8443/tenant?x=1").unwrap();
    /// assert_eq!(url.origin(), "https://as.example:8443");
    /// assert_eq!(url.path(), "/tenant");
    /// assert!(AuthUrl::parse("https://user@as.example/").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<AuthUrl, &'static str> {
        if url.len() > MAX_URL_BYTES {
            return Err("the URL is too long");
        }
        if !url.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the URL holds spaces, control characters or non-ASCII bytes");
        }
        let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            (false, rest)
        } else {
            return Err("the URL is not http:// or https://");
        };
        if rest.contains('#') {
            return Err("the URL has a fragment");
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() || authority.contains('@') {
            return Err("the URL has no host, or has userinfo");
        }
        let (path, query) = match rest[end..].split_once('?') {
            Some((path, query)) => (path, query),
            None => (&rest[end..], ""),
        };
        let mut authority = authority.to_ascii_lowercase();
        // The default port is the same origin as none.
        let default_port = if secure { ":443" } else { ":80" };
        if authority.ends_with(default_port) && !authority.ends_with("]") {
            authority.truncate(authority.len() - default_port.len());
        }
        Ok(AuthUrl {
            secure,
            authority,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            query: query.into(),
        })
    }

    /// Whether the scheme is `https`.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.secure
    }

    /// `host[:port]`.
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `scheme://host[:port]`.
    #[must_use]
    pub fn origin(&self) -> String {
        alloc::format!(
            "{}://{}",
            if self.secure { "https" } else { "http" },
            self.authority
        )
    }

    /// The path, starting with `/`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query, without its `?`.
    #[must_use]
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The request target: the path and its query.
    #[must_use]
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            alloc::format!("{}?{}", self.path, self.query)
        }
    }

    /// The URL without its query.
    #[must_use]
    pub fn without_query(&self) -> AuthUrl {
        AuthUrl {
            query: String::new(),
            ..self.clone()
        }
    }

    /// The path without a trailing `/` (empty for the root).
    pub(crate) fn trimmed_path(&self) -> &str {
        self.path.trim_end_matches('/')
    }

    /// The URL at `path` (with no query) on this origin.
    pub(crate) fn at(&self, path: &str) -> AuthUrl {
        AuthUrl {
            secure: self.secure,
            authority: self.authority.clone(),
            path: path.into(),
            query: String::new(),
        }
    }

    /// This URL with `pairs` appended to its query.
    #[must_use]
    pub fn with_query(&self, pairs: &[(&str, &str)]) -> AuthUrl {
        let mut query = self.query.clone();
        for (name, value) in pairs {
            if !query.is_empty() {
                query.push('&');
            }
            encode_component(&mut query, name);
            query.push('=');
            encode_component(&mut query, value);
        }
        AuthUrl {
            query,
            ..self.clone()
        }
    }

    /// Whether a token issued for `self` (a resource) may be sent to `url`: the same origin,
    /// and `url`'s path within `self`'s (RFC 8707 resources are prefixes of what they cover).
    #[must_use]
    pub fn covers(&self, url: &AuthUrl) -> bool {
        if self.secure != url.secure || self.authority != url.authority {
            return false;
        }
        let base = self.trimmed_path();
        let path = url.path.as_str();
        path == base
            || path
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('/'))
            || base.is_empty()
    }
}

impl fmt::Display for AuthUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), self.target())
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Appends `value` percent-encoded for a query or form (`application/x-www-form-urlencoded`,
/// spaces as `%20`, which every server reads).
pub(crate) fn encode_component(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// A form body of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        encode_component(&mut out, name);
        out.push('=');
        encode_component(&mut out, value);
    }
    out.into_bytes()
}

/// The pairs of a query string, percent-decoded (`+` as a space). A pair that does not decode
/// to UTF-8 is skipped.
#[must_use]
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl From<&AuthUrl> for String {
    fn from(url: &AuthUrl) -> String {
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_refuse_what_would_need_interpreting() {
        let url = AuthUrl::parse("HTTPS://Example.COM:443/a/b?c=d").unwrap();
        assert_eq!(url.to_string(), "https://example.com/a/b?c=d");
        assert_eq!(AuthUrl::parse("http://h").unwrap().path(), "/");
        for bad in [
            "ftp://h/",
            "https://",
            "https://u:p@h/",
            "https://h/#x",
            "https://h/ a",
            "https://h/\u{e9}",
        ] {
            assert!(AuthUrl::parse(bad).is_err(), "{bad}");
        }
        let long = alloc::format!("https://h/{}", "a".repeat(MAX_URL_BYTES));
        assert!(AuthUrl::parse(&long).is_err());
        let at_limit = alloc::format!("https://h/{}", "a".repeat(MAX_URL_BYTES - 10));
        assert!(AuthUrl::parse(&at_limit).is_ok());
    }

    #[test]
    fn a_resource_covers_its_own_paths_only_on_its_own_origin() {
        let resource = AuthUrl::parse("https://h/mcp").unwrap();
        let yes = ["https://h/mcp", "https://h/mcp/", "https://h/mcp/x"];
        let no = [
            "https://h/mcpx",
            "https://h/other",
            "http://h/mcp",
            "https://g/mcp",
        ];
        for url in yes {
            assert!(resource.covers(&AuthUrl::parse(url).unwrap()), "{url}");
        }
        for url in no {
            assert!(!resource.covers(&AuthUrl::parse(url).unwrap()), "{url}");
        }
        let root = AuthUrl::parse("https://h/").unwrap();
        assert!(root.covers(&AuthUrl::parse("https://h/mcp").unwrap()));
    }

    #[test]
    fn forms_and_queries_round_trip() {
        let body = form(&[("a b", "c&d=é"), ("x", "")]);
        assert_eq!(body, b"a%20b=c%26d%3D%C3%A9&x=");
        let pairs = query_pairs(core::str::from_utf8(&body).unwrap());
        assert_eq!(pairs[0], ("a b".into(), "c&d=é".into()));
        assert_eq!(
            query_pairs("code=a+b&bad=%ZZ&x"),
            [("code".into(), "a b".into()), ("x".into(), String::new())]
        );
    }
}
