//! Finding an authorization server's metadata from its issuer URL: RFC 8414 first
//! (`/.well-known/oauth-authorization-server`, the issuer's path appended, §3.1), then OpenID
//! Connect Discovery (`/.well-known/openid-configuration` appended to the issuer, then inserted
//! before its path as RFC 8414 §5 allows). A document counts only if its `issuer` is exactly the
//! configured one (RFC 8414 §3.3): otherwise one server could pass off another's keys.

use serde::Deserialize;

use super::fetch::Fetcher;
use super::url::HttpUrl;

/// The largest metadata document read.
pub(crate) const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The fields of the metadata the verifiers use.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) issuer: String,
    #[serde(default)]
    pub(crate) jwks_uri: Option<String>,
}

/// Where `issuer`'s metadata may be, in the order tried.
pub(crate) fn metadata_urls(issuer: &HttpUrl) -> Vec<String> {
    let (origin, path) = (issuer.origin(), issuer.path());
    let mut urls = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    urls.dedup();
    urls
}

/// Fetches `issuer`'s metadata: the first document found whose `issuer` matches.
pub(crate) async fn discover(fetcher: &Fetcher, issuer: &HttpUrl) -> Result<Metadata, String> {
    let mut failures = Vec::new();
    for url in metadata_urls(issuer) {
        let Ok(parsed) = HttpUrl::parse(&url, "metadata URL") else {
            continue;
        };
        match fetcher.get(&parsed, MAX_METADATA_BYTES).await {
            Ok(doc) if doc.status == 200 => match serde_json::from_slice::<Metadata>(&doc.body) {
                Ok(metadata) if metadata.issuer == issuer.as_str() => return Ok(metadata),
                Ok(metadata) => failures.push(format!(
                    "{url} names the issuer {:?}, not {:?}",
                    metadata.issuer,
                    issuer.as_str()
                )),
                Err(e) => failures.push(format!("{url}: not metadata ({e})")),
            },
            Ok(doc) => failures.push(format!("{url}: status {}", doc.status)),
            Err(e) => failures.push(format!("{url}: {e}")),
        }
    }
    Err(format!(
        "no metadata for the issuer {}: {}",
        issuer.as_str(),
        failures.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::Responder;
    use super::*;
    use std::time::Duration;

    #[test]
    fn well_known_locations_are_path_aware() {
        let tenant = HttpUrl::parse("https://as.example/tenant/", "i").unwrap();
        assert_eq!(
            metadata_urls(&tenant),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant",
                "https://as.example/tenant/.well-known/openid-configuration",
                "https://as.example/.well-known/openid-configuration/tenant",
            ]
        );
        let root = HttpUrl::parse("https://as.example", "i").unwrap();
        assert_eq!(
            metadata_urls(&root),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn openid_discovery_is_the_fallback_and_the_issuer_must_match() {
        smol::block_on(async {
            let responder = Responder::start().await;
            let issuer = format!("{}/tenant", responder.base());
            let url = HttpUrl::parse(&issuer, "i").unwrap();
            let fetcher = Fetcher::new(None, Duration::from_secs(5)).unwrap();
            // RFC 8414's location names another issuer: skipped, not trusted.
            responder.serve_json(
                "/.well-known/oauth-authorization-server/tenant",
                &serde_json::json!({"issuer": "https://evil.example", "jwks_uri": "https://evil.example/jwks"}),
            );
            let error = discover(&fetcher, &url).await.unwrap_err();
            assert!(error.contains("evil.example"), "{error}");
            responder.serve_json(
                "/tenant/.well-known/openid-configuration",
                &serde_json::json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}),
            );
            let metadata = discover(&fetcher, &url).await.unwrap();
            assert_eq!(metadata.jwks_uri, Some(format!("{issuer}/jwks")));
        });
    }
}
