//! Protecting a server: [`Server::protect`](crate::Server::protect) makes it an OAuth 2.1
//! resource server, whose every MCP request needs a bearer token that a [`Verifier`] accepts.
//!
//! The engine serves the metadata document, answers the challenges and keeps the grants of
//! verified tokens until they expire; it asks the verifier only about tokens it has not seen
//! (once per token, however many requests carry it). A verifier runs on the handler threads,
//! never on the driver's, as one task per token that the server owns: dropped when it answers,
//! and cancelled when its deadline (`Timeouts::token_verification`) passes or the server
//! stops. A verifier that panics answers [`Verdict::Unavailable`].
//!
//! Two verifiers come with it: [`JwtVerifier`] for JWT access tokens (RFC 9068), checked
//! against the issuer's published keys, which one task it owns fetches and caches; and
//! [`Introspection`], which asks the authorization server about each token (RFC 7662). Both
//! check that the token was issued for this resource (its audience, RFC 8707), always. Their
//! outbound requests go over `https://` (rustls, Mozilla's roots, and an extra CA if given),
//! or `http://` to a loopback host only, each with a deadline and a size cap.
//!
//! # Examples
//!
//! A verifier is any async function of the token:
//!
//! ```
//! use mcpwire_smol::auth::{Grant, ResourceServer, Verdict};
//! use mcpwire_smol::{App, Server, time::Duration};
//!
//! let resource = ResourceServer::new("https://mcp.example.com/mcp")?
//!     .authorization_server("https://auth.example.com")?
//!     .require_scope("mcp");
//! let server = Server::new(App::builder("protected", "1").build()).protect(
//!     resource,
//!     |token: String| async move {
//!         // Check the signature, issuer, audience and expiry, or ask the server.
//!         if token == "let-me-in" {
//!             Verdict::Granted(Grant::new("ada", ["mcp"], Some(Duration::from_secs(300))))
//!         } else {
//!             Verdict::Refused("unknown token".into())
//!         }
//!     },
//! );
//! # let _ = server;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use mcpwire_core::engine::{
    Grant, InvalidUrl, ResourceServer, Verdict, VerificationId, is_scope_token,
};

mod claims;
mod discovery;
pub(crate) mod fetch;
mod introspection;
mod jwks;
mod jwt;
mod keys;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod url;

pub use introspection::{Introspection, IntrospectionBuilder};
pub use jwks::JwksStats;
pub use jwt::{JwtVerifier, JwtVerifierBuilder};

/// A verifier's configuration that cannot work: a URL that is not `https://` (nor `http://` on
/// a loopback host), an algorithm that is not allowed, a CA file that holds no certificate.
///
/// # Examples
///
/// ```
/// use mcpwire_smol::auth::JwtVerifier;
///
/// let error = JwtVerifier::builder("http://auth.example.com", "https://mcp.example.com/mcp")
///     .build()
///     .unwrap_err();
/// assert!(error.to_string().contains("loopback"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Decides whether a bearer token is valid for this server, and for whom.
pub trait Verifier: Send + Sync + 'static {
    /// Verifies `token`: its signature, issuer, audience (this resource), expiry and
    /// not-before, or by introspection.
    fn verify(&self, token: String) -> Pin<Box<dyn Future<Output = Verdict> + Send>>;
}

impl<F, Fut> Verifier for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send + 'static,
{
    fn verify(&self, token: String) -> Pin<Box<dyn Future<Output = Verdict> + Send>> {
        Box::pin(self(token))
    }
}
