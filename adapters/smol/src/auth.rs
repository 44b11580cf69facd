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

use std::future::Future;
use std::pin::Pin;

pub use mcpwire_core::engine::{Grant, InvalidUrl, ResourceServer, Verdict, VerificationId};

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
