//! The two documents discovery reads: the protected resource's metadata (RFC 9728) and its
//! authorization server's (RFC 8414, or OpenID Connect Discovery), with the locations to try
//! for each, in the order the MCP authorization spec gives.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Deserialize;

use super::url::AuthUrl;

/// What a resource says of itself (RFC 9728 §2), as much as a client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceMetadata {
    /// The resource identifier: what tokens are asked for (`resource`, RFC 8707).
    pub resource: String,
    /// Issuers that can issue tokens for it; the first is used.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes it knows, used when a challenge names none.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// What an authorization server says of itself (RFC 8414 §2), as much as a client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerMetadata {
    /// Its issuer identifier; must equal the issuer it was looked up by.
    pub issuer: String,
    /// Where a person authorizes.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where codes, refresh tokens and client credentials become tokens.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Dynamic client registration (RFC 7591).
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Scopes it can grant (`offline_access` among them means refresh tokens).
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// How a client may authenticate at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// PKCE methods: `S256` must be among them.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Grant types it supports.
    #[serde(default)]
    pub grant_types_supported: Option<Vec<String>>,
    /// Client ID Metadata Documents are accepted.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl ServerMetadata {
    /// The endpoints of a 2025-03-26 server that publishes no metadata: `/authorize`,
    /// `/token` and `/register` at its origin.
    pub(crate) fn defaults_for(origin: &AuthUrl) -> ServerMetadata {
        let at = |path: &str| Some(origin.at(path).to_string());
        ServerMetadata {
            issuer: origin.origin(),
            authorization_endpoint: at("/authorize"),
            token_endpoint: at("/token"),
            registration_endpoint: at("/register"),
            scopes_supported: None,
            token_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: Some(alloc::vec!["S256".into()]),
            grant_types_supported: None,
            client_id_metadata_document_supported: false,
            authorization_response_iss_parameter_supported: false,
        }
    }

    /// Whether `scope` is among the scopes it lists.
    pub(crate) fn supports_scope(&self, scope: &str) -> bool {
        self.scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == scope))
    }
}

/// Where the resource metadata of `server` (the MCP endpoint) may be: path-aware first, then
/// at the root (RFC 9728 §3.1).
pub(crate) fn resource_metadata_locations(server: &AuthUrl) -> Vec<AuthUrl> {
    let base = "/.well-known/oauth-protected-resource";
    let path = server.trimmed_path();
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.push(server.at(&alloc::format!("{base}{path}")));
    }
    urls.push(server.at(base));
    urls
}

/// Where the metadata of `issuer` may be: OAuth (RFC 8414) and OpenID locations, path-aware
/// for an issuer with a path.
pub(crate) fn server_metadata_locations(issuer: &AuthUrl) -> Vec<AuthUrl> {
    let path = issuer.trimmed_path();
    if path.is_empty() {
        alloc::vec![
            issuer.at("/.well-known/oauth-authorization-server"),
            issuer.at("/.well-known/openid-configuration"),
        ]
    } else {
        alloc::vec![
            issuer.at(&alloc::format!(
                "/.well-known/oauth-authorization-server{path}"
            )),
            issuer.at(&alloc::format!("/.well-known/openid-configuration{path}")),
            issuer.at(&alloc::format!("{path}/.well-known/openid-configuration")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> AuthUrl {
        AuthUrl::parse(s).unwrap()
    }

    fn strings(urls: Vec<AuthUrl>) -> Vec<String> {
        urls.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn locations_follow_the_spec_order() {
        assert_eq!(
            strings(resource_metadata_locations(&url("https://h/mcp/"))),
            [
                "https://h/.well-known/oauth-protected-resource/mcp",
                "https://h/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            strings(resource_metadata_locations(&url("https://h/"))),
            ["https://h/.well-known/oauth-protected-resource"]
        );
        assert_eq!(
            strings(server_metadata_locations(&url("https://as/tenant"))),
            [
                "https://as/.well-known/oauth-authorization-server/tenant",
                "https://as/.well-known/openid-configuration/tenant",
                "https://as/tenant/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            strings(server_metadata_locations(&url("https://as"))),
            [
                "https://as/.well-known/oauth-authorization-server",
                "https://as/.well-known/openid-configuration"
            ]
        );
    }
}
