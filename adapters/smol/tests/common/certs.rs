//! A test CA and a server certificate it signs for `127.0.0.1` and `localhost`, made afresh
//! by each test that needs them, as PEM text and as files.

#![allow(dead_code)]

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA, and a server certificate (with its key) that it signed.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn new() -> TestPki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "mcpwire test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("a server key");
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "mcpwire test server");
        let cert = server
            .signed_by(&key, &issuer)
            .expect("a server certificate");
        TestPki {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The server's `TlsConfig`.
    pub fn server_tls(&self) -> mcpwire_smol::tls::TlsConfig {
        mcpwire_smol::tls::TlsConfig::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .expect("the test certificate and key load")
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into a fresh directory named after `test`.
    pub fn write(&self, test: &str) -> Files {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tls-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the PEM files");
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("PEM written");
            path
        };
        Files {
            ca: write("ca.pem", &self.ca_pem),
            cert: write("cert.pem", &self.cert_pem),
            key: write("key.pem", &self.key_pem),
        }
    }
}

/// Where [`TestPki::write`] put the PEM files.
pub struct Files {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}
