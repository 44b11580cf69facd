//! TLS: HTTPS on the listener ([`Server::tls`](crate::Server::tls)) and `https://` for the
//! [`Client`](crate::Client).
//!
//! Both sides use [rustls](https://docs.rs/rustls) with the *ring* provider, TLS 1.3 and
//! 1.2, and ALPN `http/1.1`. The server's certificate chain and key come from PEM files
//! ([`TlsConfig::from_pem_files`]); the client trusts Mozilla's roots (`webpki-roots`) and
//! whatever extra CA certificates it is given
//! ([`ClientBuilder::ca_file`](crate::client::ClientBuilder::ca_file)).
//!
//! On the server, the driver runs each connection's rustls state machine itself, like the
//! socket under it: no task per connection. A handshake counts against the connection's
//! existing deadline for its first request (`Config::timeouts.request_read`, from the
//! moment the connection is accepted), and what a peer can make the server hold in TLS state
//! is bounded per connection (see [`TlsStats`]).
//!
//! # Examples
//!
//! ```no_run
//! use mcpwire_smol::tls::TlsConfig;
//! use mcpwire_smol::{App, Server};
//!
//! smol::block_on(async {
//!     let tls = TlsConfig::from_pem_files("/etc/mcp/fullchain.pem", "/etc/mcp/key.pem")?;
//!     let listener = smol::net::TcpListener::bind("0.0.0.0:8443").await?;
//!     Server::new(App::builder("demo", "1.0.0").build())
//!         .configure(|config| config.allowed_hosts.push("mcp.example.com".into()))
//!         .tls(tls)
//!         .serve(listener)
//!         .await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod pem;
pub(crate) mod server;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::rustls;

pub(crate) use client::{ConnectError, client_config, connect, host};
pub(crate) use pem::{certificates, key as private_key, read_certificates};

/// The only application protocol the server and the client speak.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The crypto provider of both sides: ring, with its default cipher suites and groups.
/// rustls marks it deprecated for its lack of post-quantum key exchange (X25519MLKEM768,
/// which only the aws-lc-rs provider has); ring builds with a C compiler alone, where
/// aws-lc-rs needs CMake and builds a far larger library, and every client offers X25519.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3, then 1.2.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A listener's TLS: its certificate chain and private key. Give it to
/// [`Server::tls`](crate::Server::tls).
///
/// # Examples
///
/// ```no_run
/// use mcpwire_smol::tls::TlsConfig;
///
/// match TlsConfig::from_pem_files("cert.pem", "key.pem") {
///     Ok(tls) => println!("{tls:?}"),
///     // "cert.pem: cannot read it: No such file or directory (os error 2)"
///     Err(e) => eprintln!("{e}"),
/// }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &"http/1.1")
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the certificate chain (the server's certificate first, then its
    /// intermediates) and the private key (PKCS#8, PKCS#1 RSA or SEC1 EC) from PEM files.
    ///
    /// # Errors
    ///
    /// A [`TlsError`] that names the file and the problem: it cannot be read, holds no
    /// certificate or no key, or the key is not one the provider supports or does not belong
    /// to the certificate.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let certs = read_certificates(cert_path)?;
        let key = pem::read_key(key_path)?;
        TlsConfig::build(certs, key).map_err(|problem| TlsError {
            file: Some(key_path.to_path_buf()),
            problem: format!(
                "{problem} (with the certificate in {})",
                cert_path.display()
            ),
        })
    }

    /// The same from PEM text in memory.
    ///
    /// # Errors
    ///
    /// A [`TlsError`] that says which of the two is wrong and why.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_smol::tls::TlsConfig;
    ///
    /// let error = TlsConfig::from_pem(b"not PEM", b"").unwrap_err();
    /// assert!(error.to_string().contains("no CERTIFICATE"));
    /// ```
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        let certs = certificates(cert_chain, None)?;
        let key = pem::key(key, None)?;
        TlsConfig::build(certs, key).map_err(|problem| TlsError {
            file: None,
            problem: problem.to_string(),
        })
    }

    fn build(
        certs: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<TlsConfig, rustls::Error> {
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        server.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
        })
    }

    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }
}

/// Why TLS could not be set up: the file (when there is one) and the problem.
#[derive(Debug, Clone)]
pub struct TlsError {
    file: Option<PathBuf>,
    problem: String,
}

impl TlsError {
    /// The file at fault, when the configuration came from files.
    #[must_use]
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub(crate) fn new(file: Option<&Path>, problem: impl Into<String>) -> TlsError {
        TlsError {
            file: file.map(Path::to_path_buf),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}", file.display(), self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for std::io::Error {
    fn from(error: TlsError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string())
    }
}

/// What a TLS listener's handshakes came to, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsStats {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Connections closed at once for what the peer sent: an alert, bytes that are not TLS
    /// (plain HTTP among them), a handshake larger than the server reads for one
    /// (16 KiB), or a protocol the server does not speak.
    pub failed: u64,
    /// Connections that ended before their handshake did, for any other reason: the
    /// request deadline, the peer's close, a reset.
    pub abandoned: u64,
}
