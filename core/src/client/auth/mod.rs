//! OAuth 2.1 for the client, sans-IO: from a server's `401` to a bearer token.
//!
//! [`AuthFlow`] is one attempt to get credentials. It reads the challenge, discovers the
//! protected resource's metadata and its authorization server's (RFC 9728, RFC 8414, OpenID
//! discovery, in the spec's order), chooses how the client is known (a Client ID Metadata
//! Document, a pre-registered client, or dynamic registration, RFC 7591), and gets tokens by
//! authorization code with PKCE S256 (a person in the loop), by refresh, or by client
//! credentials (a secret, or a signed assertion). The `resource` (RFC 8707) goes with every
//! authorization and token request, `iss` in the authorization response is checked
//! (RFC 9207), and the metadata must be about this resource and this issuer.
//!
//! The flow does no IO. Its outputs are [`AuthAction`]s: a [`FetchRequest`] to make, an
//! authorization URL for the person, an assertion to sign; its inputs are the answers and the
//! time. Every wait has a deadline, every response body a cap, one flow a bounded number of
//! fetches, and no redirect is followed: a flow ends, with tokens or with an [`AuthError`]
//! that names its step.
//!
//! The tokens go to the MCP server through
//! [`Client::set_authorization`](super::Client::set_authorization); the client asks for them
//! with [`ClientEvent::AuthorizationRequired`](super::ClientEvent::AuthorizationRequired).
//!
//! # The run loop
//!
//! ```
//! use mcpwire_core::client::auth::{AuthAction, AuthFlow, AuthState, OAuthConfig};
//! use mcpwire_core::time::Instant;
//!
//! # fn fetch(_: &mcpwire_core::client::auth::FetchRequest) -> (u16, Vec<u8>) {
//! #     (404, Vec::new())
//! # }
//! let config = OAuthConfig::authorization_code("http://127.0.0.1:8976/callback", "demo");
//! let now = Instant::ZERO;
//! let mut flow = AuthFlow::new(config, "http://127.0.0.1:3000/mcp", "Bearer", AuthState::default(), now, [9; 32])
//!     .unwrap();
//! while flow.outcome().is_none() {
//!     match flow.poll_action() {
//!         Some(AuthAction::Fetch(request)) => {
//!             let (status, body) = fetch(&request); // an adapter's HTTP client
//!             flow.handle_response(now, request.id, status, &body);
//!         }
//!         Some(AuthAction::Authorize { url }) => {
//!             // Open `url` in a browser; the redirect comes back to the loopback listener.
//!             flow.handle_authorization_failed("no browser here");
//!         }
//!         Some(AuthAction::SignAssertion { .. }) => {}
//!         None => flow.handle_timeout(flow.poll_timeout().unwrap()),
//!     }
//! }
//! // Nothing found anywhere: the server's origin has no registration endpoint either.
//! assert!(flow.outcome().unwrap().is_err());
//! ```

mod challenge;
mod config;
mod flow;
mod metadata;
mod tokens;
mod url;

pub use challenge::Challenge;
pub use config::{ClientCredentials, FlowLimits, Grant, OAuthConfig};
pub use flow::{AuthAction, AuthError, AuthFlow, AuthStep, FetchId, FetchRequest};
pub use metadata::{ResourceMetadata, ServerMetadata};
pub use tokens::{AuthState, RegisteredClient, Tokens};
pub use url::{AuthUrl, query_pairs};

#[cfg(test)]
mod tests;
