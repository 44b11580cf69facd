//! What a resource server says to a client without a good token: the `WWW-Authenticate`
//! challenges of RFC 6750 §3 with RFC 9728's `resource_metadata`, and the metadata document.
//! Pure functions over a [`ResourceServer`], table-tested.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::resource::ResourceServer;

/// Why a request is challenged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Challenge<'a> {
    /// No token was sent (or not as a bearer token): `401`, and no error code (RFC 6750 §3.1).
    NoToken,
    /// The request is malformed: a token in the query, two `Authorization` fields: `400`.
    InvalidRequest(&'a str),
    /// The token was refused: expired, not for this resource, not verifiable: `401`.
    InvalidToken(&'a str),
    /// The token lacks scopes the request needs (`scope` lists every one): `403`.
    InsufficientScope(&'a [&'a str]),
}

impl Challenge<'_> {
    /// The HTTP status of the challenge.
    pub(crate) fn status(self) -> u16 {
        match self {
            Challenge::NoToken | Challenge::InvalidToken(_) => 401,
            Challenge::InvalidRequest(_) => 400,
            Challenge::InsufficientScope(_) => 403,
        }
    }

    /// The message of the JSON-RPC error in the body.
    pub(crate) fn message(self) -> String {
        let mut message = String::new();
        let _ = match self {
            Challenge::NoToken => write!(message, "Unauthorized: a bearer token is required"),
            Challenge::InvalidRequest(why) => write!(message, "Bad Request: {why}"),
            Challenge::InvalidToken(why) => write!(message, "Unauthorized: {why}"),
            Challenge::InsufficientScope(scopes) => {
                write!(
                    message,
                    "Forbidden: the token lacks scope {}",
                    scopes.join(" ")
                )
            }
        };
        message
    }

    /// The `WWW-Authenticate` value: `Bearer` with the metadata URL, the scopes to ask for,
    /// and the error code and description when there is one. Every value is a quoted string
    /// of the characters RFC 6750 allows there.
    pub(crate) fn header(self, auth: &ResourceServer) -> String {
        let mut header = String::from("Bearer ");
        let mut param = |name: &str, value: &str| {
            if !header.ends_with(' ') {
                header.push_str(", ");
            }
            let _ = write!(header, "{name}=\"");
            header.extend(value.chars().filter(|&c| allowed_in_value(c)));
            header.push('"');
        };
        param("resource_metadata", &auth.metadata_url());
        let required: Vec<&str> = auth.required().iter().map(String::as_str).collect();
        let scopes = match self {
            Challenge::InsufficientScope(scopes) => scopes,
            _ => required.as_slice(),
        };
        if !scopes.is_empty() {
            param("scope", &scopes.join(" "));
        }
        match self {
            Challenge::NoToken => {}
            Challenge::InvalidRequest(why) => {
                param("error", "invalid_request");
                param("error_description", why);
            }
            Challenge::InvalidToken(why) => {
                param("error", "invalid_token");
                param("error_description", why);
            }
            Challenge::InsufficientScope(_) => {
                param("error", "insufficient_scope");
                param("error_description", "the request needs more scope");
            }
        }
        header
    }
}

/// `%x20-21 / %x23-5B / %x5D-7E` (RFC 6750 §3): what a quoted value may hold without an
/// escape. Anything else is left out, so that nothing a verifier wrote can break the header.
fn allowed_in_value(c: char) -> bool {
    matches!(c, ' ' | '!' | '#'..='[' | ']'..='~')
}

/// The protected resource metadata document (RFC 9728 §2).
pub(crate) fn metadata_document(auth: &ResourceServer) -> String {
    let mut document = serde_json::Map::new();
    let string = |s: &str| serde_json::Value::String(s.into());
    let list =
        |items: &[String]| serde_json::Value::Array(items.iter().map(|s| string(s)).collect());
    document.insert("resource".into(), string(auth.resource()));
    document.insert(
        "authorization_servers".into(),
        list(auth.authorization_servers()),
    );
    if !auth.supported().is_empty() {
        document.insert("scopes_supported".into(), list(auth.supported()));
    }
    document.insert(
        "bearer_methods_supported".into(),
        serde_json::Value::Array(alloc::vec![string("header")]),
    );
    if let Some(name) = auth.name() {
        document.insert("resource_name".into(), string(name));
    }
    serde_json::to_string(&serde_json::Value::Object(document)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> ResourceServer {
        ResourceServer::new("https://mcp.example.com/mcp")
            .unwrap()
            .authorization_server("https://auth.example.com")
            .unwrap()
            .scopes_supported(["mcp:tools", "mcp:admin"])
            .require_scope("mcp:tools")
            .resource_name("Example \"MCP\"")
    }

    #[test]
    fn challenges_name_the_metadata_and_the_scope() {
        let auth = auth();
        let metadata = "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";
        assert_eq!(
            Challenge::NoToken.header(&auth),
            alloc::format!("Bearer {metadata}, scope=\"mcp:tools\"")
        );
        assert_eq!(
            Challenge::InvalidToken("the token \"expired\"\r\n").header(&auth),
            alloc::format!(
                "Bearer {metadata}, scope=\"mcp:tools\", error=\"invalid_token\", \
                 error_description=\"the token expired\""
            )
        );
        assert_eq!(
            Challenge::InsufficientScope(&["mcp:admin", "mcp:tools"]).header(&auth),
            alloc::format!(
                "Bearer {metadata}, scope=\"mcp:admin mcp:tools\", \
                 error=\"insufficient_scope\", error_description=\"the request needs more scope\""
            )
        );
        assert_eq!(Challenge::InsufficientScope(&[]).status(), 403);
        assert_eq!(Challenge::InvalidRequest("x").status(), 400);
        let unscoped = ResourceServer::new("https://h.example").unwrap();
        assert_eq!(
            Challenge::NoToken.header(&unscoped),
            "Bearer resource_metadata=\"https://h.example/.well-known/oauth-protected-resource\""
        );
    }

    #[test]
    fn the_metadata_document_is_rfc_9728() {
        let document: serde_json::Value =
            serde_json::from_str(&metadata_document(&auth())).unwrap();
        assert_eq!(
            document,
            serde_json::json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["mcp:tools", "mcp:admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Example \"MCP\""
            })
        );
    }
}
