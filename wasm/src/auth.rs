//! The engine as an OAuth 2.1 resource server, as JS configures and answers it: the `auth`
//! option becomes a [`ResourceServer`]; the verdicts on `verifyToken` events come back through
//! `tokenGranted`, `tokenRefused` and `tokenUnavailable`. The metadata document, the
//! challenges and the scopes a request needs are the engine's; nothing of that is here.

use std::collections::BTreeMap;

use mcpwire_core::engine::{Grant, ResourceServer, Verdict, VerificationId};
use mcpwire_core::time::Duration;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::{Engine, instant, refused};

/// The `auth` engine option (`AuthOptions` in `index.d.ts`, less its `verify`, which stays in
/// JS).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AuthOptions {
    resource: String,
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    #[serde(default)]
    required_scopes: Vec<String>,
    /// Tool name to the scopes calling it needs. A map, so that the order the rules are
    /// applied in is the names' and never the host's object order.
    #[serde(default)]
    tool_scopes: BTreeMap<String, Vec<String>>,
    /// Method (`resources/read`, ...) to the scopes it needs.
    #[serde(default)]
    method_scopes: BTreeMap<String, Vec<String>>,
    resource_name: Option<String>,
}

impl AuthOptions {
    /// The resource server these options describe.
    ///
    /// # Errors
    ///
    /// A URL that is not absolute `https://` (or `http://` on loopback), no authorization
    /// server, or a scope that is not a scope token: each is named.
    pub(crate) fn into_resource_server(self) -> Result<ResourceServer, String> {
        let mut server =
            ResourceServer::new(&self.resource).map_err(|e| format!("auth.resource: {e}"))?;
        if self.authorization_servers.is_empty() {
            // The MCP specification requires one in the metadata document: without it no
            // client can find where to get a token.
            return Err("auth.authorizationServers: at least one issuer URL is needed".into());
        }
        for issuer in &self.authorization_servers {
            server = server
                .authorization_server(issuer)
                .map_err(|e| format!("auth.authorizationServers: {e}"))?;
        }
        // The builders assert that each scope is a scope token; checked first, so that a typo
        // in a host's options is an error it can catch and not a trap of the whole module.
        let scopes = self.scopes_supported.iter().map(|s| ("scopesSupported", s));
        let required = self.required_scopes.iter().map(|s| ("requiredScopes", s));
        let by_tool = self
            .tool_scopes
            .values()
            .flatten()
            .map(|s| ("toolScopes", s));
        let by_method = self
            .method_scopes
            .values()
            .flatten()
            .map(|s| ("methodScopes", s));
        for (field, scope) in scopes.chain(required).chain(by_tool).chain(by_method) {
            if !is_scope_token(scope) {
                return Err(format!(
                    "auth.{field}: {scope:?} is not an OAuth scope token (RFC 6749 §3.3)"
                ));
            }
        }
        server = server.scopes_supported(self.scopes_supported);
        for scope in &self.required_scopes {
            server = server.require_scope(scope);
        }
        for (tool, scopes) in &self.tool_scopes {
            for scope in scopes {
                server = server.scope_for_tool(tool, scope);
            }
        }
        for (method, scopes) in &self.method_scopes {
            for scope in scopes {
                server = server.scope_for_method(method, scope);
            }
        }
        if let Some(name) = &self.resource_name {
            server = server.resource_name(name);
        }
        Ok(server)
    }
}

/// A scope token (RFC 6749 §3.3): visible ASCII but `"` and `\`, at least one character. The
/// rule `ResourceServer` asserts.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

fn verification_id(id: f64) -> VerificationId {
    VerificationId::from_u64(id as u64)
}

#[wasm_bindgen]
impl Engine {
    /// Answers a `verifyToken` event: the token is valid, for `principal` (whom sessions and
    /// input-required states are bound to) with `scopes`, for `valid_for_ms` more (its expiry
    /// less now; `undefined` when it does not expire: the grant is then kept for
    /// `timeouts.grantCacheMs`). Every request waiting for it goes on, or gets `403` when it
    /// needs a scope the token lacks.
    ///
    /// # Errors
    ///
    /// `stale_handle` when the verification is over (its deadline passed: its requests got
    /// `503`; or the engine shut down).
    #[wasm_bindgen(js_name = tokenGranted)]
    pub fn token_granted(
        &mut self,
        now: f64,
        verification: f64,
        principal: &str,
        scopes: Vec<String>,
        valid_for_ms: Option<f64>,
    ) -> Result<(), JsError> {
        // `as` saturates: a negative or NaN lifetime is none, and the grant is not kept.
        let valid_for = valid_for_ms.map(|ms| Duration::from_millis(ms as u64));
        let verdict = Verdict::Granted(Grant::new(principal, scopes, valid_for));
        self.engine
            .token_verified(instant(now), verification_id(verification), verdict)
            .map_err(refused)
    }

    /// Answers a `verifyToken` event: the token is not valid for this resource (malformed,
    /// expired, signed by an unknown key, for another audience, revoked). Its requests get
    /// `401` with `error="invalid_token"` and `reason`, which the client sees.
    ///
    /// # Errors
    ///
    /// `stale_handle`, as for `tokenGranted`.
    #[wasm_bindgen(js_name = tokenRefused)]
    pub fn token_refused(
        &mut self,
        now: f64,
        verification: f64,
        reason: &str,
    ) -> Result<(), JsError> {
        let verdict = Verdict::Refused(reason.to_owned());
        self.engine
            .token_verified(instant(now), verification_id(verification), verdict)
            .map_err(refused)
    }

    /// Answers a `verifyToken` event: the token could not be verified now (the authorization
    /// server or its keys are out of reach). Its requests get `503` with `Retry-After`;
    /// nothing is kept.
    ///
    /// # Errors
    ///
    /// `stale_handle`, as for `tokenGranted`.
    #[wasm_bindgen(js_name = tokenUnavailable)]
    pub fn token_unavailable(&mut self, now: f64, verification: f64) -> Result<(), JsError> {
        self.engine
            .token_verified(
                instant(now),
                verification_id(verification),
                Verdict::Unavailable,
            )
            .map_err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ResourceServer, String> {
        serde_json::from_str::<AuthOptions>(json)
            .map_err(|e| e.to_string())?
            .into_resource_server()
    }

    #[test]
    fn options_become_the_resource_server() {
        let server = parse(
            r#"{"resource":"https://mcp.example.com/mcp",
                "authorizationServers":["https://auth.example.com"],
                "scopesSupported":["mcp","admin"],"requiredScopes":["mcp"],
                "toolScopes":{"wipe":["admin"]},"resourceName":"Example"}"#,
        )
        .unwrap();
        let expected = ResourceServer::new("https://mcp.example.com/mcp")
            .unwrap()
            .authorization_server("https://auth.example.com")
            .unwrap()
            .scopes_supported(["mcp", "admin"])
            .require_scope("mcp")
            .scope_for_tool("wipe", "admin")
            .resource_name("Example");
        assert_eq!(server, expected);
    }

    #[test]
    fn bad_options_are_errors_and_never_panics() {
        let with = |extra: &str| {
            parse(&format!(
                r#"{{"resource":"https://h.example/mcp","authorizationServers":["https://as.example"]{extra}}}"#
            ))
        };
        assert!(with("").is_ok());
        for (extra, named) in [
            (r#","requiredScopes":["mcp admin"]"#, "requiredScopes"),
            (r#","scopesSupported":[""]"#, "scopesSupported"),
            (r#","toolScopes":{"wipe":["a\"b"]}"#, "toolScopes"),
            (
                r#","methodScopes":{"resources/read":["é"]}"#,
                "methodScopes",
            ),
            (r#","requiredScope":["mcp"]"#, "requiredScope"),
        ] {
            let error = with(extra).unwrap_err();
            assert!(error.contains(named), "{extra}: {error}");
        }
        let http = parse(
            r#"{"resource":"http://h.example/mcp","authorizationServers":["https://as.example"]}"#,
        );
        assert!(http.unwrap_err().starts_with("auth.resource"));
        let none = parse(r#"{"resource":"https://h.example/mcp","authorizationServers":[]}"#);
        assert!(none.unwrap_err().contains("at least one"));
        let relative =
            parse(r#"{"resource":"https://h.example/mcp","authorizationServers":["/as"]}"#);
        assert!(
            relative
                .unwrap_err()
                .starts_with("auth.authorizationServers")
        );
        assert!(parse(r#"{"resource":"https://h.example/mcp"}"#).is_err());
    }
}
