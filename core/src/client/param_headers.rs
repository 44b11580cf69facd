//! `x-mcp-header` (2026-07-28): a tool's input schema may name arguments that its calls
//! mirror into `Mcp-Param-{Name}` header fields, so that proxies can route without parsing
//! bodies. A client checks each tool's annotations when it lists tools (a tool with invalid
//! ones must not be called) and adds the headers to each call.

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::Value;

use super::wire::mirrored_header;

/// Why a tool's `x-mcp-header` annotations are unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidAnnotation {
    /// An empty header name.
    Empty,
    /// A name with a character outside visible ASCII token characters (space, colon,
    /// control, non-ASCII).
    Charset(String),
    /// Two annotations with the same name, ignoring case.
    Duplicate(String),
    /// An annotation on a property that is not a string, integer or boolean (a number has no
    /// exact text form a proxy could match).
    NotPrimitive(String),
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Every `(path to the argument, header name)` the schema annotates, checked.
///
/// # Examples
///
/// ```
/// use mcpwire_core::client::{InvalidAnnotation, header_annotations};
/// use serde_json::json;
///
/// let schema = json!({"type": "object", "properties": {
///     "region": {"type": "string", "x-mcp-header": "Region"},
///     "query": {"type": "string"}
/// }});
/// assert_eq!(header_annotations(&schema).unwrap(), vec![(vec!["region".to_string()], "Region".to_string())]);
///
/// let bad = json!({"properties": {"a": {"type": "object", "x-mcp-header": "A"}}});
/// assert!(matches!(header_annotations(&bad), Err(InvalidAnnotation::NotPrimitive(_))));
/// ```
pub fn header_annotations(
    input_schema: &Value,
) -> Result<Vec<(Vec<String>, String)>, InvalidAnnotation> {
    let mut found = Vec::new();
    collect(input_schema, &mut Vec::new(), &mut found, 0)?;
    let mut seen = BTreeSet::new();
    for (_, name) in &found {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(InvalidAnnotation::Duplicate(name.clone()));
        }
    }
    Ok(found)
}

fn collect(
    schema: &Value,
    path: &mut Vec<String>,
    found: &mut Vec<(Vec<String>, String)>,
    depth: usize,
) -> Result<(), InvalidAnnotation> {
    // Schemas nest as deep as their author likes; annotations deeper than this are ignored.
    if depth > 16 {
        return Ok(());
    }
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Ok(());
    };
    for (key, property) in properties {
        path.push(key.clone());
        if let Some(name) = property.get("x-mcp-header") {
            let Value::String(name) = name else {
                return Err(InvalidAnnotation::Charset(name.to_string()));
            };
            if name.is_empty() {
                return Err(InvalidAnnotation::Empty);
            }
            if !name.bytes().all(is_token_char) {
                return Err(InvalidAnnotation::Charset(name.clone()));
            }
            let primitive = match property.get("type") {
                Some(Value::String(t)) => matches!(t.as_str(), "string" | "integer" | "boolean"),
                None => true,
                _ => false,
            };
            if !primitive {
                return Err(InvalidAnnotation::NotPrimitive(name.clone()));
            }
            found.push((path.clone(), name.clone()));
        }
        collect(property, path, found, depth + 1)?;
        path.pop();
    }
    Ok(())
}

/// The `Mcp-Param-{Name}` header fields of one call: each annotated argument present and not
/// null, strings plain or `=?base64?…?=`, numbers in decimal, booleans as `true`/`false`.
///
/// # Examples
///
/// ```
/// use mcpwire_core::client::{header_annotations, param_headers};
/// use serde_json::json;
///
/// let schema = json!({"properties": {
///     "region": {"type": "string", "x-mcp-header": "Region"},
///     "n": {"type": "integer", "x-mcp-header": "N"}
/// }});
/// let annotations = header_annotations(&schema).unwrap();
/// let headers = param_headers(&annotations, &json!({"region": " eu", "n": 3}));
/// assert_eq!(headers, vec![
///     ("mcp-param-n".to_string(), "3".to_string()),
///     ("mcp-param-region".to_string(), "=?base64?IGV1?=".to_string()),
/// ]);
/// ```
#[must_use]
pub fn param_headers(
    annotations: &[(Vec<String>, String)],
    arguments: &Value,
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for (path, name) in annotations {
        let mut value = arguments;
        for key in path {
            match value.get(key) {
                Some(inner) => value = inner,
                None => {
                    value = &Value::Null;
                    break;
                }
            }
        }
        let text = match value {
            Value::String(s) => mirrored_header(s),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        headers.push((
            alloc::format!("mcp-param-{}", name.to_ascii_lowercase()),
            text,
        ));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use serde_json::json;

    #[test]
    fn invalid_annotations_are_named() {
        let cases = [
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
                "empty",
            ),
            (
                json!({"properties": {"a": {"type": "array", "x-mcp-header": "A"}}}),
                "array",
            ),
            (
                json!({"properties": {"a": {"type": "null", "x-mcp-header": "A"}}}),
                "null",
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "My Region"}}}),
                "space",
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "A:B"}}}),
                "colon",
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "Région"}}}),
                "non-ASCII",
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "A\t1"}}}),
                "tab",
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "MyField"}, "b": {"type": "string", "x-mcp-header": "myfield"}}}),
                "duplicate",
            ),
        ];
        for (schema, what) in cases {
            assert!(header_annotations(&schema).is_err(), "{what} accepted");
        }
    }

    #[test]
    fn values_are_encoded_and_nulls_omitted() {
        let schema = json!({"properties": {
            "e": {"type": "string", "x-mcp-header": "EmptyVal"},
            "v": {"type": "boolean", "x-mcp-header": "Verbose"},
            "c": {"type": "string", "x-mcp-header": "CrLf"},
            "i": {"type": "string", "x-mcp-header": "InternalSpace"},
        }});
        let annotations = header_annotations(&schema).unwrap();
        let headers = param_headers(
            &annotations,
            &json!({"e": "", "v": null, "c": "a\r\nb", "i": "us west 1"}),
        );
        assert_eq!(
            headers,
            vec![
                (
                    "mcp-param-crlf".to_string(),
                    "=?base64?YQ0KYg==?=".to_string()
                ),
                ("mcp-param-emptyval".to_string(), String::new()),
                (
                    "mcp-param-internalspace".to_string(),
                    "us west 1".to_string()
                ),
            ]
        );
    }
}
