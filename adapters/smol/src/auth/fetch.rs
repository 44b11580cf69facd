//! Fetching the authorization server's documents (its metadata, its key set, an introspection
//! answer): one HTTP/1.1 request per connection, with a deadline and a size cap on the body.
//!
//! The framing is the core's ([`encode_request`], [`ResponseDecoder`]): no second HTTP parser
//! lives here. `https://` goes through rustls (the ring provider) with Mozilla's roots and any
//! extra root the application names; `http://` reaches loopback hosts only ([`HttpUrl`]).
//! Redirects are not followed: every document a verifier reads has one known URL (the issuer's
//! well-known locations, the `jwks_uri` and `introspection_endpoint` they name), so a `3xx` is
//! an error rather than a hop to wherever a response points.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use futures_rustls::TlsConnector;
use mcpwire_core::http1::{ResponseDecoder, ResponseError, ResponseLimits, encode_request};
use rustls_pki_types::ServerName;
use smol::net::TcpStream;

use super::ConfigError;
use super::url::HttpUrl;

/// Reads at most this much at a time, so a body overshoots its cap by at most this.
const READ_CHUNK: usize = 16 * 1024;

/// What a response may spend on heads (its own, and interim `1xx` ones) beyond its body.
const MAX_HEADS_BYTES: usize = 64 * 1024;

/// An outbound client for small documents.
#[derive(Clone)]
pub(crate) struct Fetcher {
    tls: TlsConnector,
    timeout: Duration,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A response: its status, and its body when the status is 200.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Why a document could not be had.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// Connecting, the TLS handshake, or the connection itself failed.
    Io(io::Error),
    /// The deadline passed first.
    Timeout(Duration),
    /// The body is larger than the cap.
    TooLarge(usize),
    /// The response could not be read.
    Http(ResponseError),
    /// A `Content-Type` that is not JSON (an HTML login page, a proxy's error).
    NotJson(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Io(e) => write!(f, "{e}"),
            FetchError::Timeout(d) => write!(f, "no response within {d:?}"),
            FetchError::TooLarge(cap) => write!(f, "the response is larger than {cap} bytes"),
            FetchError::Http(e) => write!(f, "{e}"),
            FetchError::NotJson(media) => write!(f, "the response is {media}, not JSON"),
        }
    }
}

impl From<io::Error> for FetchError {
    fn from(e: io::Error) -> FetchError {
        FetchError::Io(e)
    }
}

impl From<ResponseError> for FetchError {
    fn from(e: ResponseError) -> FetchError {
        FetchError::Http(e)
    }
}

impl Fetcher {
    /// A client that trusts Mozilla's roots, and the certificates in the PEM file `ca_file`
    /// too, giving up on a request after `timeout`.
    pub(crate) fn new(ca_file: Option<&Path>, timeout: Duration) -> Result<Fetcher, ConfigError> {
        let refuse = |e: crate::tls::TlsError| ConfigError::new(format!("the CA file {e}"));
        let extra_roots = match ca_file {
            Some(path) => crate::tls::read_certificates(path).map_err(refuse)?,
            None => Vec::new(),
        };
        let config = crate::tls::client_config(&extra_roots).map_err(refuse)?;
        Ok(Fetcher {
            tls: TlsConnector::from(config),
            timeout,
        })
    }

    /// A client with the rustls configuration `tls` (the MCP client's own trust).
    pub(crate) fn with_tls(
        tls: std::sync::Arc<futures_rustls::rustls::ClientConfig>,
        timeout: Duration,
    ) -> Fetcher {
        Fetcher {
            tls: TlsConnector::from(tls),
            timeout,
        }
    }

    /// `GET url`, reading at most `max_body` bytes of body.
    pub(crate) async fn get(&self, url: &HttpUrl, max_body: usize) -> Result<Document, FetchError> {
        self.send(url, "GET", &[], b"", max_body).await
    }

    /// `POST url` with a form body and `headers`, reading at most `max_body` bytes of body.
    pub(crate) async fn post_form(
        &self,
        url: &HttpUrl,
        headers: &[(&str, &str)],
        form: &[u8],
        max_body: usize,
    ) -> Result<Document, FetchError> {
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.send(url, "POST", &all, form, max_body).await
    }

    /// `method url` with `headers` and `body`, reading at most `max_body` bytes of body.
    pub(crate) async fn send(
        &self,
        url: &HttpUrl,
        method: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        max_body: usize,
    ) -> Result<Document, FetchError> {
        let mut all = vec![
            ("accept", "application/json"),
            ("user-agent", concat!("mcpwire/", env!("CARGO_PKG_VERSION"))),
            ("connection", "close"),
        ];
        all.extend_from_slice(headers);
        let mut wire = Vec::new();
        encode_request(
            &mut wire,
            method,
            url.target(),
            &url.authority(),
            &all,
            body,
        )
        .map_err(|e| FetchError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let timeout = self.timeout;
        let work = async {
            let tcp = TcpStream::connect((url.host(), url.port())).await?;
            if url.is_https() {
                let name = ServerName::try_from(url.host().to_string())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let tls = self.tls.connect(name, tcp).await?;
                exchange(tls, &wire, max_body).await
            } else {
                exchange(tcp, &wire, max_body).await
            }
        };
        work.or(async {
            async_io::Timer::after(timeout).await;
            Err(FetchError::Timeout(timeout))
        })
        .await
    }
}

/// Writes `request`, then reads its response.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    max_body: usize,
) -> Result<Document, FetchError> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut decoder = ResponseDecoder::new(ResponseLimits::default());
    decoder.start(false);
    let mut buf = vec![0; READ_CHUNK];
    let mut body = Vec::new();
    let mut head = None;
    // Everything read counts, heads included: a server that sends `100 Continue` forever
    // makes no body, and would otherwise be read forever.
    let most = max_body.saturating_add(MAX_HEADS_BYTES);
    let mut read = 0usize;
    loop {
        // A stream that is always ready never lets the deadline beside this future run.
        futures_lite::future::yield_now().await;
        let n = stream.read(&mut buf).await?;
        read += n;
        if read > most {
            return Err(FetchError::TooLarge(max_body));
        }
        if n == 0 {
            decoder.finish()?;
            break;
        }
        let mut input = &buf[..n];
        let mut complete = false;
        while !input.is_empty() && !complete {
            let decoded = decoder.decode(input, &mut body)?;
            if let Some(h) = decoded.head {
                if let mcpwire_core::http1::BodyFraming::Length(n) = h.framing() {
                    if n > max_body as u64 {
                        return Err(FetchError::TooLarge(max_body));
                    }
                }
                head = Some(h);
            }
            if body.len() > max_body {
                return Err(FetchError::TooLarge(max_body));
            }
            complete = decoded.complete;
            input = &input[decoded.consumed..];
        }
        if complete {
            break;
        }
    }
    let head = head.ok_or(FetchError::Http(ResponseError::Incomplete))?;
    if head.status() == 200 {
        if let Some(media) = head.media_type() {
            // Lenient: `application/json`, `application/jwk-set+json`, and the `text/json`
            // or `text/plain` some servers send; never HTML or anything else.
            let json = media.contains("json") || media == "text/plain";
            if !json {
                return Err(FetchError::NotJson(media));
            }
        }
    }
    Ok(Document {
        status: head.status(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_rustls::rustls;

    use super::super::testing::Responder;
    use super::*;

    fn fetcher(timeout: Duration) -> Fetcher {
        Fetcher::new(None, timeout).unwrap()
    }

    fn url(responder: &Responder, path: &str) -> HttpUrl {
        HttpUrl::parse(&format!("{}{path}", responder.base()), "test").unwrap()
    }

    #[test]
    fn a_document_is_fetched_and_capped_at_its_size() {
        smol::block_on(async {
            let responder = Responder::start().await;
            responder.serve("/doc", 200, "application/json", &"x".repeat(100));
            let f = fetcher(Duration::from_secs(5));
            let doc = f.get(&url(&responder, "/doc"), 100).await.unwrap();
            assert_eq!((doc.status, doc.body.len()), (200, 100), "at the cap");
            let past = f.get(&url(&responder, "/doc"), 99).await.unwrap_err();
            assert!(matches!(past, FetchError::TooLarge(99)), "{past}");
            // The cap holds for a body without a length too.
            responder.serve_chunked("/chunked", &"y".repeat(200_000));
            let past = f
                .get(&url(&responder, "/chunked"), 100_000)
                .await
                .unwrap_err();
            assert!(matches!(past, FetchError::TooLarge(_)), "{past}");
            let at = f.get(&url(&responder, "/chunked"), 200_000).await.unwrap();
            assert_eq!(at.body.len(), 200_000);
            let missing = f.get(&url(&responder, "/nothing"), 100).await.unwrap();
            assert_eq!(missing.status, 404);
        });
    }

    #[test]
    fn a_stalled_server_meets_the_deadline() {
        smol::block_on(async {
            let responder = Responder::start().await;
            responder.stall("/slow");
            let f = fetcher(Duration::from_millis(200));
            let error = f.get(&url(&responder, "/slow"), 100).await.unwrap_err();
            assert!(matches!(error, FetchError::Timeout(_)), "{error}");
        });
    }

    #[test]
    fn html_is_not_json_and_redirects_are_not_followed() {
        smol::block_on(async {
            let responder = Responder::start().await;
            responder.serve("/login", 200, "text/html; charset=utf-8", "<html>");
            responder.serve("/moved", 302, "application/json", "{}");
            let f = fetcher(Duration::from_secs(5));
            let error = f.get(&url(&responder, "/login"), 100).await.unwrap_err();
            assert!(
                matches!(error, FetchError::NotJson(ref m) if m == "text/html"),
                "{error}"
            );
            let moved = f.get(&url(&responder, "/moved"), 100).await.unwrap();
            assert_eq!(moved.status, 302, "reported, not followed");
        });
    }

    /// A server that sends interim responses forever makes no body; what it sends still
    /// counts, and the fetch ends.
    #[test]
    fn endless_interim_responses_end_the_fetch() {
        smol::block_on(async {
            let responder = Responder::start().await;
            responder.endless_interim("/jwks");
            let error = fetcher(Duration::from_secs(5))
                .get(&url(&responder, "/jwks"), 1024)
                .await
                .unwrap_err();
            assert!(matches!(error, FetchError::TooLarge(1024)), "{error}");
        });
    }

    #[test]
    fn a_bad_ca_file_is_a_configuration_error() {
        let dir = std::env::temp_dir().join(format!("mcpwire-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Fetcher::new(Some(&empty), Duration::from_secs(1)).unwrap_err();
        assert!(
            error.to_string().contains("no CERTIFICATE section"),
            "{error}"
        );
        let missing = dir.join("missing.pem");
        assert!(Fetcher::new(Some(&missing), Duration::from_secs(1)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it: the CA's PEM,
    /// and the server's TLS configuration.
    fn private_ca() -> (String, Arc<rustls::ServerConfig>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        (ca.pem(), Arc::new(config))
    }

    #[test]
    fn https_trusts_an_extra_ca_only_when_given() {
        smol::block_on(async {
            let (ca_pem, config) = private_ca();
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let acceptor = futures_rustls::TlsAcceptor::from(config);
            let _server = smol::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        continue;
                    };
                    let mut request = [0u8; 4096];
                    let _ = tls.read(&mut request).await;
                    let body = "{\"keys\":[]}";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.flush().await;
                }
            });
            let dir = std::env::temp_dir().join(format!("mcpwire-tls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let ca_file = dir.join("ca.pem");
            std::fs::write(&ca_file, ca_pem).unwrap();
            let trusting = Fetcher::new(Some(&ca_file), Duration::from_secs(5)).unwrap();
            for host in ["localhost", "127.0.0.1"] {
                let url = HttpUrl::parse(&format!("https://{host}:{port}/jwks"), "t").unwrap();
                let doc = trusting.get(&url, 1024).await.unwrap();
                assert_eq!(
                    (doc.status, doc.body.as_slice()),
                    (200, &b"{\"keys\":[]}"[..])
                );
            }
            // Mozilla's roots alone do not know this CA.
            let url = HttpUrl::parse(&format!("https://localhost:{port}/jwks"), "t").unwrap();
            let error = fetcher(Duration::from_secs(5))
                .get(&url, 1024)
                .await
                .unwrap_err();
            assert!(error.to_string().contains("certificate"), "{error}");
            std::fs::remove_dir_all(&dir).unwrap();
        });
    }
}
