//! How a client gets its credentials: the grant, who it is, and the limits of one flow.

use alloc::string::String;

use crate::time::Duration;

/// How the client obtains tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A person authorizes in a browser (authorization code with PKCE); the application opens
    /// the URL and hands back where the browser was redirected.
    AuthorizationCode {
        /// Where the authorization server sends the browser back (a loopback URL, or the
        /// application's own).
        redirect_uri: String,
    },
    /// A machine, with no person (client credentials, RFC 6749 §4.4): needs a pre-registered
    /// `client_id` and either a secret or a signing key ([`ClientCredentials::key`]).
    ClientCredentials,
}

/// A client registered with the authorization server beforehand. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// Its `client_id`.
    pub client_id: String,
    /// Its secret, for `client_secret_basic` or `client_secret_post`.
    pub client_secret: Option<String>,
    /// It authenticates with a JWT signed by a key the application holds (`private_key_jwt`,
    /// RFC 7523): the flow asks for the assertion with
    /// [`AuthAction::SignAssertion`](super::AuthAction::SignAssertion).
    pub key: bool,
    /// The issuer it is registered with. Set it: a client with a secret is then used with
    /// that authorization server only, whatever server a resource names; without it, with any
    /// (a dynamic registration or a metadata document serves the others).
    pub issuer: Option<String>,
}

impl core::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<secret>"),
            )
            .field("key", &self.key)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// What one flow may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    /// The largest response body read from any endpoint (64 KiB).
    pub max_document_bytes: usize,
    /// How long one fetch may take (30 s).
    pub fetch_timeout: Duration,
    /// How long the person (or the application) may take to authorize (300 s).
    pub authorize_timeout: Duration,
    /// Fetches in one flow, all steps together (16): discovery tries at most five locations,
    /// so this only stops a flow that something keeps sending around.
    pub max_fetches: u32,
}

impl Default for FlowLimits {
    fn default() -> FlowLimits {
        FlowLimits {
            max_document_bytes: 64 * 1024,
            fetch_timeout: Duration::from_secs(30),
            authorize_timeout: Duration::from_secs(300),
            max_fetches: 16,
        }
    }
}

/// A client's OAuth configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The grant.
    pub grant: Grant,
    /// `client_name` in a dynamic registration.
    pub client_name: String,
    /// An `https://` URL where the client's metadata document is (Client ID Metadata
    /// Document): used as the `client_id` where the authorization server accepts one.
    pub client_metadata_url: Option<String>,
    /// A client registered beforehand: used when no metadata document applies, before dynamic
    /// registration; required for [`Grant::ClientCredentials`].
    pub client: Option<ClientCredentials>,
    /// The scope to ask for, whatever the server suggests (by default: the challenge's, else
    /// the resource's `scopes_supported`, else none).
    pub scope: Option<String>,
    /// Limits of one flow.
    pub limits: FlowLimits,
}

impl OAuthConfig {
    /// Authorization code with PKCE, the browser sent back to `redirect_uri`.
    #[must_use]
    pub fn authorization_code(redirect_uri: &str, client_name: &str) -> OAuthConfig {
        OAuthConfig {
            grant: Grant::AuthorizationCode {
                redirect_uri: redirect_uri.into(),
            },
            client_name: client_name.into(),
            client_metadata_url: None,
            client: None,
            scope: None,
            limits: FlowLimits::default(),
        }
    }

    /// Client credentials for the pre-registered `client`.
    #[must_use]
    pub fn client_credentials(client: ClientCredentials) -> OAuthConfig {
        OAuthConfig {
            grant: Grant::ClientCredentials,
            client_name: client.client_id.clone(),
            client_metadata_url: None,
            client: Some(client),
            scope: None,
            limits: FlowLimits::default(),
        }
    }
}
