//! The client side: a rustls client configuration (Mozilla's roots and extra CA
//! certificates), and a TLS connection over a connected socket.

use std::sync::Arc;

use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName};
use futures_rustls::rustls::{self, ClientConfig, RootCertStore};
use smol::net::TcpStream;

use super::{ALPN_HTTP1, TlsError, VERSIONS, provider};

/// A client configuration that trusts Mozilla's roots (`webpki-roots`) and `extra_roots`,
/// and offers ALPN `http/1.1`. Anything in the crate that makes outbound HTTPS requests
/// builds its configuration here.
///
/// # Errors
///
/// An extra root that is not a usable CA certificate.
pub(crate) fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (at, cert) in extra_roots.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| {
            TlsError::new(
                None,
                format!("CA certificate {} is not usable as a root: {e}", at + 1),
            )
        })?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError::new(None, e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The host of `authority` (`host[:port]`, `[v6][:port]`), for SNI and the certificate check.
pub(crate) fn host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, _)) => host,
        None => authority,
    }
}

/// Why a TLS connection failed, and whether trying again may help: a certificate the client
/// does not trust, or a server that speaks no protocol it does, stays so.
pub(crate) struct ConnectError {
    pub(crate) why: String,
    pub(crate) lasting: bool,
}

/// The TLS handshake over `tcp`, with the server named by `authority`.
pub(crate) async fn connect(
    config: Arc<ClientConfig>,
    authority: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ConnectError> {
    let host = host(authority);
    let name = ServerName::try_from(host.to_string()).map_err(|_| ConnectError {
        why: format!("{host:?} is not a host name or an IP address TLS can check"),
        lasting: true,
    })?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let rustls = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            match rustls {
                Some(rustls::Error::InvalidCertificate(why)) => ConnectError {
                    why: format!("the server's certificate is not trusted ({why:?})"),
                    lasting: true,
                },
                Some(other) => ConnectError {
                    why: format!("TLS handshake failed: {other}"),
                    lasting: true,
                },
                None => ConnectError {
                    why: format!("TLS handshake failed: {e}"),
                    lasting: false,
                },
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_authorities() {
        assert_eq!(host("example.com:443"), "example.com");
        assert_eq!(host("example.com"), "example.com");
        assert_eq!(host("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host("[::1]:8443"), "::1");
        assert_eq!(host("[::1]"), "::1");
    }

    #[test]
    fn an_extra_root_that_is_no_certificate_is_refused() {
        let error = client_config(&[CertificateDer::from(vec![1, 2, 3])])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("CA certificate 1 is not usable"),
            "{error}"
        );
    }
}
