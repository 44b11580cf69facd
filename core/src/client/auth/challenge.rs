//! Reading a `WWW-Authenticate` field (RFC 9110 §11.6.1): the Bearer challenge's parameters a
//! client acts on (RFC 6750 §3, RFC 9728 §5.1).
//!
//! The field is the server's bytes: the parser never fails and never panics. It reads
//! challenges as `scheme [token68 | auth-param *("," auth-param)]` separated by commas, keeps
//! the first `Bearer` one, and of its parameters only the four that mean something here, each
//! at most [`MAX_PARAM_BYTES`]; anything else, malformed or not, is skipped.

use alloc::string::String;
use alloc::vec::Vec;

/// The longest parameter value kept; a longer one is dropped as if absent.
pub const MAX_PARAM_BYTES: usize = 4096;

/// A Bearer challenge's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `resource_metadata`: where the protected resource's metadata is (RFC 9728).
    pub resource_metadata: Option<String>,
    /// `scope`: what the resource asks for.
    pub scope: Option<String>,
    /// `error`: `invalid_token`, `insufficient_scope`, ...
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl Challenge {
    /// The Bearer challenge of `field` (a `WWW-Authenticate` value, several joined with
    /// commas); all `None` when there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_core::client::auth::Challenge;
    ///
    /// let c = Challenge::parse(
    ///     r#"Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="https://h/.well-known/oauth-protected-resource""#,
    /// );
    /// assert_eq!(c.scope.as_deref(), Some("a b"));
    /// assert!(c.is_insufficient_scope());
    /// ```
    #[must_use]
    pub fn parse(field: &str) -> Challenge {
        let mut challenge = Challenge::default();
        let mut in_bearer = false;
        let mut seen_bearer = false;
        let mut rest = field;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let name_end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
            if name_end == 0 {
                // Not a token: skip one character and look again.
                let skip = rest.chars().next().map_or(1, char::len_utf8);
                rest = &rest[skip..];
                continue;
            }
            let name = &rest[..name_end];
            let after = rest[name_end..].trim_start_matches([' ', '\t']);
            if let Some(value_part) = after.strip_prefix('=') {
                if value_part.starts_with('=') || value_part.is_empty() {
                    // token68 padding (`abc==`) or nothing: not a parameter.
                    rest = value_part.trim_start_matches('=');
                    continue;
                }
                let value_part = value_part.trim_start_matches([' ', '\t']);
                let (value, remaining) = read_value(value_part);
                if in_bearer {
                    challenge.keep(name, value);
                }
                rest = remaining;
            } else {
                // A new challenge's scheme.
                in_bearer = !seen_bearer && name.eq_ignore_ascii_case("bearer");
                seen_bearer |= in_bearer;
                rest = after;
            }
        }
        challenge
    }

    /// Whether the resource refused for want of scope (step-up, RFC 6750 §3.1).
    #[must_use]
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }

    fn keep(&mut self, name: &str, value: Option<String>) {
        let Some(value) = value.filter(|v| v.len() <= MAX_PARAM_BYTES) else {
            return;
        };
        let slot = if name.eq_ignore_ascii_case("resource_metadata") {
            &mut self.resource_metadata
        } else if name.eq_ignore_ascii_case("scope") {
            &mut self.scope
        } else if name.eq_ignore_ascii_case("error") {
            &mut self.error
        } else if name.eq_ignore_ascii_case("error_description") {
            &mut self.error_description
        } else {
            return;
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A parameter's value (a token or a quoted string with `\` escapes) and what follows it.
/// An unterminated quoted string yields `None` and consumes the rest.
fn read_value(s: &str) -> (Option<String>, &str) {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut value = Vec::new();
        let mut bytes = quoted.bytes().enumerate();
        while let Some((i, b)) = bytes.next() {
            match b {
                b'\\' => match bytes.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => return (None, ""),
                },
                b'"' => return (String::from_utf8(value).ok(), &quoted[i + 1..]),
                _ => value.push(b),
            }
        }
        (None, "")
    } else {
        let end = s
            .find(|c: char| !is_tchar(c) && c != '/' && c != ':' && c != '=')
            .unwrap_or(s.len());
        (Some(s[..end].into()), &s[end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_challenge_is_found_among_others() {
        let c = Challenge::parse(
            r#"Basic realm="a, b", Bearer realm="mcp", error="invalid_token", error_description="expired \"now\"", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.error_description.as_deref(), Some(r#"expired "now""#));
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.scope, None);
    }

    #[test]
    fn tokens_token68_and_later_challenges() {
        let c = Challenge::parse(
            "Negotiate abc==, bearer scope=read error=insufficient_scope, Bearer scope=other",
        );
        assert_eq!(c.scope.as_deref(), Some("read"));
        assert!(c.is_insufficient_scope());
        assert_eq!(Challenge::parse(""), Challenge::default());
        assert_eq!(Challenge::parse("Basic realm=x"), Challenge::default());
    }

    #[test]
    fn hostile_fields_never_panic_and_drop_what_is_too_long() {
        for field in [
            "Bearer scope=\"unterminated",
            "Bearer scope=\"\\",
            "Bearer ,,,=,=\"\",\u{e9}\u{e9}=\u{e9}",
            "=====",
            "Bearer \u{0}\u{1}scope=a",
        ] {
            let _ = Challenge::parse(field);
        }
        let at = "a".repeat(MAX_PARAM_BYTES);
        let past = "a".repeat(MAX_PARAM_BYTES + 1);
        assert_eq!(
            Challenge::parse(&alloc::format!("Bearer scope=\"{at}\""))
                .scope
                .map(|s| s.len()),
            Some(MAX_PARAM_BYTES)
        );
        assert_eq!(
            Challenge::parse(&alloc::format!("Bearer scope=\"{past}\"")).scope,
            None
        );
    }
}
