//! [`ResourceServer`]: what an MCP server protected by OAuth 2.1 says about itself, checked
//! when it is built so that every URL the engine hands out is absolute and right.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::super::http_rules::parse_authority;

/// The engine as an OAuth 2.1 protected resource: its canonical URI, the authorization servers
/// that issue tokens for it, and the scopes it asks for. Set [`Config::auth`] to one, and every
/// MCP request (both eras, and the 2024-11-05 HTTP+SSE endpoints) needs a bearer token that
/// the application verifies (see [`Event::VerifyToken`]).
///
/// Every URL the engine writes (the metadata document's, the one in `WWW-Authenticate`) is
/// built from [`ResourceServer::resource`], never from a request's `Host`, so a server behind
/// a TLS-terminating proxy names its public `https://` address.
///
/// # Examples
///
/// ```
/// use mcpwire_core::engine::ResourceServer;
///
/// let auth = ResourceServer::new("https://mcp.example.com/mcp")
///     .unwrap()
///     .authorization_server("https://auth.example.com")
///     .unwrap()
///     .scopes_supported(["mcp:tools", "mcp:admin"])
///     .require_scope("mcp:tools")
///     .scope_for_tool("delete_everything", "mcp:admin");
/// assert_eq!(
///     auth.metadata_url(),
///     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// assert!(ResourceServer::new("http://mcp.example.com/mcp").is_err(), "https only, but on loopback");
/// assert!(ResourceServer::new("http://127.0.0.1:3000/mcp").is_ok());
/// ```
///
/// [`Config::auth`]: super::super::Config::auth
/// [`Event::VerifyToken`]: super::super::Event::VerifyToken
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    resource: String,
    /// Where the resource's path starts in `resource` (after the authority).
    path_at: usize,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    required_scopes: Vec<String>,
    method_scopes: Vec<MethodScopes>,
    resource_name: Option<String>,
}

/// Scopes a method needs, or a method on one tool, prompt or resource (its name, or its URI for
/// `resources/read`), beyond [`ResourceServer::require_scope`]: a token without them gets
/// `403` with `error="insufficient_scope"` and the scopes to ask for (step-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodScopes {
    pub(crate) method: String,
    pub(crate) name: Option<String>,
    pub(crate) scopes: Vec<String>,
}

/// Why a [`ResourceServer`] URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUrl {
    url: String,
    why: &'static str,
}

impl fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.url, self.why)
    }
}

impl core::error::Error for InvalidUrl {}

/// An absolute `https://` URL (or `http://` on a loopback host), without query or fragment.
/// Returns where its path starts.
fn check_url(url: &str) -> Result<usize, InvalidUrl> {
    let refuse = |why| InvalidUrl {
        url: url.to_string(),
        why,
    };
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(refuse("is not an absolute http:// or https:// URL"));
    };
    if url.contains(['?', '#']) {
        return Err(refuse("has a query or a fragment"));
    }
    if url
        .bytes()
        .any(|b| !(0x21..=0x7e).contains(&b) || b == b'"' || b == b'\\')
    {
        return Err(refuse(
            "has a space, a quote, a backslash or a character outside ASCII",
        ));
    }
    let end = rest.find('/').unwrap_or(rest.len());
    let (host, _) = parse_authority(&rest[..end]).ok_or_else(|| refuse("has no valid host"))?;
    let loopback = matches!(host, "localhost" | "[::1]")
        || host
            .parse::<core::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !https && !loopback {
        return Err(refuse(
            "must be https:// (http:// is for loopback hosts only)",
        ));
    }
    Ok(url.len() - rest.len() + end)
}

impl ResourceServer {
    /// A protected resource whose canonical URI is `resource`: the URL clients reach the MCP
    /// endpoint at, which tokens must be issued for (their audience, RFC 8707).
    ///
    /// # Errors
    ///
    /// When `resource` is not an absolute `https://` URL (`http://` is accepted for loopback
    /// hosts only), or has a query or a fragment.
    pub fn new(resource: &str) -> Result<ResourceServer, InvalidUrl> {
        let path_at = check_url(resource)?;
        Ok(ResourceServer {
            resource: resource.to_string(),
            path_at,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            required_scopes: Vec::new(),
            method_scopes: Vec::new(),
            resource_name: None,
        })
    }

    /// An authorization server whose tokens the resource accepts (its issuer URL).
    ///
    /// # Errors
    ///
    /// As [`ResourceServer::new`], for `issuer`.
    pub fn authorization_server(mut self, issuer: &str) -> Result<ResourceServer, InvalidUrl> {
        check_url(issuer)?;
        self.authorization_servers.push(issuer.to_string());
        Ok(self)
    }

    /// The scopes the resource may ask for, published in its metadata document.
    ///
    /// # Panics
    ///
    /// If a scope is not a scope token (RFC 6749 §3.3: visible ASCII but `"` and `\`, no
    /// space).
    #[must_use]
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> ResourceServer {
        for scope in scopes {
            let scope = scope.into();
            assert_scope(&scope);
            self.scopes_supported.push(scope);
        }
        self
    }

    /// A scope every request needs. Asked for in every `401` challenge.
    ///
    /// # Panics
    ///
    /// If `scope` is not a scope token: a requirement dropped in silence would let every
    /// token through.
    #[must_use]
    pub fn require_scope(mut self, scope: &str) -> ResourceServer {
        assert_scope(scope);
        self.required_scopes.push(scope.to_string());
        self
    }

    /// A scope `method` needs beyond the required ones (`tools/call`, `resources/read`, ...),
    /// whether it comes as a request or a notification (a POST carrying it without the scope
    /// is answered `403`). A rule on `resources/subscribe` applies as well to a 2026-07-28
    /// `subscriptions/listen` that subscribes to resources.
    ///
    /// # Panics
    ///
    /// If `scope` is not a scope token.
    #[must_use]
    pub fn scope_for_method(self, method: &str, scope: &str) -> ResourceServer {
        self.add_method_scope(method, None, scope)
    }

    /// A scope calling the tool `name` needs beyond the required ones. A call whose tool
    /// cannot be told for certain (params that are not an object, a name given twice) needs
    /// the scopes of every tool.
    ///
    /// # Panics
    ///
    /// If `scope` is not a scope token.
    #[must_use]
    pub fn scope_for_tool(self, name: &str, scope: &str) -> ResourceServer {
        self.add_method_scope("tools/call", Some(name), scope)
    }

    /// The human-readable name the metadata document gives the resource.
    #[must_use]
    pub fn resource_name(mut self, name: &str) -> ResourceServer {
        self.resource_name = Some(name.to_string());
        self
    }

    fn add_method_scope(mut self, method: &str, name: Option<&str>, scope: &str) -> ResourceServer {
        assert_scope(scope);
        let entry = self
            .method_scopes
            .iter_mut()
            .find(|m| m.method == method && m.name.as_deref() == name);
        match entry {
            Some(entry) => entry.scopes.push(scope.to_string()),
            None => self.method_scopes.push(MethodScopes {
                method: method.to_string(),
                name: name.map(str::to_string),
                scopes: alloc::vec![scope.to_string()],
            }),
        }
        self
    }

    /// The canonical URI.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path of the canonical URI, as requests arrive for it (`/mcp`; `/` when empty).
    #[must_use]
    pub fn path(&self) -> &str {
        match &self.resource[self.path_at..] {
            "" => "/",
            path => path,
        }
    }

    /// The URL of the metadata document (RFC 9728): path-aware, `/.well-known/
    /// oauth-protected-resource` then the resource's path, on the resource's origin.
    #[must_use]
    pub fn metadata_url(&self) -> String {
        format!("{}{}", &self.resource[..self.path_at], self.metadata_path())
    }

    /// The path the metadata document is served at (also at the root one, for clients that
    /// look there).
    #[must_use]
    pub fn metadata_path(&self) -> String {
        match self.path() {
            "/" => String::from(WELL_KNOWN),
            path => format!("{WELL_KNOWN}{}", path.trim_end_matches('/')),
        }
    }

    pub(crate) fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    pub(crate) fn supported(&self) -> &[String] {
        &self.scopes_supported
    }

    pub(crate) fn required(&self) -> &[String] {
        &self.required_scopes
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.resource_name.as_deref()
    }

    /// The scopes `method` on `name` needs, sorted. With no `name` (the request's could not
    /// be told for certain), every rule on a name of the method applies: a request that
    /// cannot show it needs less needs all.
    pub(crate) fn scopes_for(&self, method: &str, name: Option<&str>) -> Vec<&str> {
        let mut needed: Vec<&str> = self.required_scopes.iter().map(String::as_str).collect();
        for rule in &self.method_scopes {
            let applies = rule.method == method
                && (rule.name.is_none() || name.is_none() || rule.name.as_deref() == name);
            if applies {
                needed.extend(rule.scopes.iter().map(String::as_str));
            }
        }
        needed.sort_unstable();
        needed.dedup();
        needed
    }
}

/// The root of every protected resource metadata path.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Panics unless `scope` is a scope token: it is configuration, and a scope that cannot be
/// written in a challenge cannot be asked for.
fn assert_scope(scope: &str) {
    assert!(
        valid_scope(scope),
        "{scope:?} is not an OAuth scope token (RFC 6749 §3.3)"
    );
}

/// A scope token (RFC 6749 §3.3): visible ASCII but `"` and `\`, at least one character.
fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_absolute_https_but_on_loopback() {
        for good in [
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
            "https://mcp.example.com:8443/a/b/",
            "http://localhost:3000/mcp",
            "http://127.0.0.1/mcp",
            "http://[::1]:9/mcp",
        ] {
            assert!(ResourceServer::new(good).is_ok(), "{good}");
        }
        for bad in [
            "http://mcp.example.com/mcp",
            "/mcp",
            "mcp.example.com/mcp",
            "https://mcp.example.com/mcp?tenant=1",
            "https://mcp.example.com/mcp#x",
            "https:///mcp",
            "https://user@mcp.example.com/mcp",
            "https://mcp.example.com/a b",
            "https://mcp.example.com/\"",
            "ftp://mcp.example.com",
            "http://127.evil.example/mcp",
        ] {
            assert!(ResourceServer::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_is_path_aware() {
        let at = |resource: &str| ResourceServer::new(resource).unwrap().metadata_url();
        assert_eq!(
            at("https://h.example/mcp"),
            "https://h.example/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            at("https://h.example/tenant/mcp/"),
            "https://h.example/.well-known/oauth-protected-resource/tenant/mcp"
        );
        assert_eq!(
            at("https://h.example"),
            "https://h.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            at("https://h.example/"),
            "https://h.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            at("http://127.0.0.1:3000/mcp"),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn scopes_add_up_by_method_and_name() {
        let auth = ResourceServer::new("https://h.example/mcp")
            .unwrap()
            .require_scope("mcp")
            .scope_for_method("resources/read", "read")
            .scope_for_tool("wipe", "admin")
            .scope_for_tool("wipe", "audit");
        assert_eq!(auth.scopes_for("tools/list", None), ["mcp"]);
        assert_eq!(auth.scopes_for("tools/call", Some("echo")), ["mcp"]);
        assert_eq!(
            auth.scopes_for("tools/call", Some("wipe")),
            ["admin", "audit", "mcp"]
        );
        assert_eq!(
            auth.scopes_for("resources/read", Some("file:///x")),
            ["mcp", "read"]
        );
        // A call whose tool cannot be told needs what any tool needs.
        assert_eq!(
            auth.scopes_for("tools/call", None),
            ["admin", "audit", "mcp"]
        );
    }

    #[test]
    #[should_panic(expected = "not an OAuth scope token")]
    fn a_scope_that_is_not_a_token_is_refused_loudly() {
        let _ = ResourceServer::new("https://h.example/mcp")
            .unwrap()
            .require_scope("mcp admin");
    }
}
