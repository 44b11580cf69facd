//! How deep JSON nests, found without parsing it.
//!
//! `serde_json` parses into a `Value` (and so into any type a peer is likely to use) at most
//! [`MAX_NESTING`] arrays and objects deep, but reads a `RawValue`, as mcpwire keeps params,
//! at any depth. What mcpwire takes from a peer or sends to one is held to that depth, so that
//! nothing reaches an application, or another node's clients, that they could not parse.

/// The deepest nesting of arrays and objects in one message that `serde_json` parses.
pub const MAX_NESTING: usize = 127;

/// Whether the JSON text `json` nests at most `limit` arrays and objects deep. One pass, with
/// no recursion and no allocation; brackets inside strings, escaped quotes included, do not
/// count. Text that is not JSON may pass: this checks depth only.
///
/// # Examples
///
/// ```
/// use mcpwire_core::jsonrpc::nesting_within;
///
/// assert!(nesting_within(br#"{"a":[1,{"b":"]]]"}]}"#, 3));
/// assert!(!nesting_within(b"[[[[]]]]", 3));
/// ```
#[must_use]
pub fn nesting_within(json: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn the_limit_is_what_serde_json_parses() {
        let at = nested(MAX_NESTING);
        assert!(nesting_within(at.as_bytes(), MAX_NESTING));
        assert!(serde_json::from_str::<serde_json::Value>(&at).is_ok());
        let past = nested(MAX_NESTING + 1);
        assert!(!nesting_within(past.as_bytes(), MAX_NESTING));
        assert!(serde_json::from_str::<serde_json::Value>(&past).is_err());
    }

    #[test]
    fn escapes_end_where_they_should_and_siblings_are_not_deeper() {
        assert!(nesting_within(br#"{"a":"[[[{{{"}"#, 1));
        assert!(nesting_within(br#"{"a\"[[":"\\","b":"\"{{"}"#, 1));
        assert!(
            !nesting_within(br#"{"a":"\\",[["#, 2),
            "an escaped backslash ends"
        );
        assert!(nesting_within(b"[[]][[]]", 2), "siblings are not deeper");
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let text = format!(
            r#"["{}\"{}", {{"k": "\\"}}]"#,
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(nesting_within(text.as_bytes(), 2));
        assert!(!nesting_within(text.as_bytes(), 1));
    }
}
