//! What a flow keeps between flows: the client it registered and the tokens it got, and the
//! token endpoint's answers.

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::metadata::ServerMetadata;

/// Tokens for one resource. `Debug` shows no token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// The access token, sent as `Authorization: Bearer`.
    pub access_token: String,
    /// A refresh token, when the server issued one.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The scope granted, when the server said.
    #[serde(default)]
    pub scope: Option<String>,
    /// Seconds the access token lives from its issue, when the server said.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The resource (RFC 8707) the tokens were issued for: they go nowhere else.
    #[serde(default)]
    pub resource: Option<String>,
}

/// A client as registered with one authorization server. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClient {
    /// The issuer it is registered with.
    pub issuer: String,
    /// Its `client_id`.
    pub client_id: String,
    /// Its secret, if it has one.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// How it authenticates at the token endpoint: `client_secret_basic`,
    /// `client_secret_post`, `private_key_jwt` or `none`.
    pub auth_method: String,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<secret>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<secret>"),
            )
            .field("scope", &self.scope)
            .field("expires_in", &self.expires_in)
            .field("resource", &self.resource)
            .finish()
    }
}

impl fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<secret>"),
            )
            .field("auth_method", &self.auth_method)
            .finish()
    }
}

/// What outlives a flow: the next flow starts from it (a refresh, a step-up).
#[derive(Debug, Clone, Default)]
pub struct AuthState {
    /// The registered client.
    pub client: Option<RegisteredClient>,
    /// The tokens.
    pub tokens: Option<Tokens>,
    /// The authorization server's metadata, as last discovered (a refresh needs its token
    /// endpoint).
    pub server: Option<ServerMetadata>,
}

impl AuthState {
    /// The `Authorization` field value for the access token.
    #[must_use]
    pub fn authorization(&self) -> Option<String> {
        self.tokens
            .as_ref()
            .map(|t| alloc::format!("Bearer {}", t.access_token))
    }
}

/// A token endpoint's success (RFC 6749 §5.1).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) token_type: Option<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    #[serde(default)]
    pub(crate) scope: Option<String>,
}

impl TokenResponse {
    /// `expires_in` as seconds: a number, or (as some servers send it) a string of one.
    pub(crate) fn lifetime(&self) -> Option<u64> {
        match self.expires_in.as_ref()? {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// An OAuth error response (RFC 6749 §5.2).
#[derive(Deserialize)]
pub(crate) struct ErrorResponse {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

/// A dynamic registration's answer (RFC 7591 §3.2.1).
#[derive(Deserialize)]
pub(crate) struct RegistrationResponse {
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) client_secret: Option<String>,
    #[serde(default)]
    pub(crate) token_endpoint_auth_method: Option<String>,
}
