//! Certificates and keys from PEM, with errors that name the file and the problem.

use std::path::Path;

use futures_rustls::rustls::pki_types::pem::{self, PemObject};
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Larger than any certificate chain or key: a path that names something else (a log, a
/// device) is refused before it is read whole.
const MAX_PEM_FILE: u64 = 1024 * 1024;

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    let cannot = |e: std::io::Error| TlsError::new(Some(path), format!("cannot read it: {e}"));
    let size = std::fs::metadata(path).map_err(cannot)?.len();
    if size > MAX_PEM_FILE {
        return Err(TlsError::new(
            Some(path),
            format!("{size} bytes is too large for PEM certificates or a key (1 MiB at most)"),
        ));
    }
    std::fs::read(path).map_err(cannot)
}

/// Every `CERTIFICATE` section of the PEM file at `path`, in order.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates(&read(path)?, Some(path))
}

/// The private key of the PEM file at `path`.
pub(super) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    key(&read(path)?, Some(path))
}

/// Every `CERTIFICATE` section of `text`; at least one.
pub(crate) fn certificates(
    text: &[u8],
    file: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(file, format!("not valid PEM: {}", problem(&e))))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            file,
            "no CERTIFICATE section (expected PEM: -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

/// The first private key of `text`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub(crate) fn key(text: &[u8], file: Option<&Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(text).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::new(
            file,
            "no private key (expected a PEM section PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE \
             KEY)",
        ),
        e => TlsError::new(file, format!("not valid PEM: {}", problem(&e))),
    })
}

fn problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => {
            let label = String::from_utf8_lossy(end_marker);
            format!("a section has no end line (-----END {label}-----)")
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("bad section start {:?}", String::from_utf8_lossy(line))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_problem() {
        let file = Some(Path::new("cert.pem"));
        let none = certificates(b"hello", file).unwrap_err().to_string();
        assert!(
            none.starts_with("cert.pem: no CERTIFICATE section"),
            "{none}"
        );
        let cut = certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n", file)
            .unwrap_err()
            .to_string();
        assert!(cut.contains("-----END CERTIFICATE-----"), "{cut}");
        let no_key = key(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(no_key.starts_with("no private key"), "{no_key}");
        let missing = read_certificates(Path::new("/nonexistent/ca.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("/nonexistent/ca.pem: cannot read it:"),
            "{missing}"
        );
    }

    #[test]
    fn each_key_encoding_is_found() {
        let pem = |label: &str| format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n");
        assert!(matches!(
            key(pem("PRIVATE KEY").as_bytes(), None),
            Ok(PrivateKeyDer::Pkcs8(_))
        ));
        assert!(matches!(
            key(pem("RSA PRIVATE KEY").as_bytes(), None),
            Ok(PrivateKeyDer::Pkcs1(_))
        ));
        assert!(matches!(
            key(pem("EC PRIVATE KEY").as_bytes(), None),
            Ok(PrivateKeyDer::Sec1(_))
        ));
    }
}
