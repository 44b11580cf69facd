//! `x-mcp-header` (2026-07-28): a tool argument its schema annotates is mirrored in an
//! `Mcp-Param-{Name}` header, so that intermediaries can route on it; the server checks that
//! the two agree, since they may act on different ones. The engine keeps a call's headers
//! ([`Engine::param_headers`](crate::engine::Engine::param_headers)); the tool's schema is the
//! application's, so the check is a function every adapter calls with both.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::Value;

use super::envelope::decode_header_value;

/// Checks the `Mcp-Param-*` headers of a call against its arguments. Each annotated argument
/// (at any depth of `properties`) with a value must come with its header, equal after decoding
/// (numbers compared as numbers); a header sent once more, or sent for an argument that has no
/// value, is a mismatch too: an intermediary may have acted on it.
pub(crate) fn check(
    input_schema: &Value,
    arguments: Option<&Value>,
    headers: &[(String, Box<[u8]>)],
) -> Result<(), String> {
    let schema = input_schema;
    let mut annotated = Vec::new();
    annotations(schema, &mut Vec::new(), &mut annotated);
    for (path, name) in annotated {
        let mut sent = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name));
        let header = sent.next().map(|(_, v)| v);
        if sent.next().is_some() {
            return Err(format!(
                "Header mismatch: the Mcp-Param-{name} header appears more than once"
            ));
        }
        let mut value = arguments;
        for key in &path {
            value = value.and_then(|v| v.get(key));
        }
        let value = value.filter(|v| !v.is_null());
        let property = path.join(".");
        match (value, header) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(format!(
                    "Header mismatch: Mcp-Param-{name} is sent but argument {property} has no value"
                ));
            }
            (Some(_), None) => {
                return Err(format!(
                    "Header mismatch: the Mcp-Param-{name} header is required for argument {property}"
                ));
            }
            (Some(value), Some(raw)) => {
                let Some(sent) = decode_header_value(raw) else {
                    return Err(format!(
                        "Header mismatch: the Mcp-Param-{name} header value is malformed"
                    ));
                };
                if !agrees(value, &sent) {
                    return Err(format!(
                        "Header mismatch: Mcp-Param-{name} header value '{sent}' does not match \
                         argument {property}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Every `x-mcp-header` reached through a chain of `properties` keys, with its path.
fn annotations(schema: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    // Deeper than any real schema; a hostile one cannot recurse without bound.
    if path.len() > 16 {
        return;
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, property) in properties {
        path.push(key.clone());
        if let Some(name) = property.get("x-mcp-header").and_then(Value::as_str) {
            out.push((path.clone(), name.to_string()));
        }
        annotations(property, path, out);
        path.pop();
    }
}

fn agrees(value: &Value, sent: &str) -> bool {
    match value {
        Value::String(s) => s == sent,
        // Integers exactly (beyond 2^53 a float would round); other numbers as numbers.
        Value::Number(n) => match (n.as_i64(), sent.parse::<i64>()) {
            (Some(a), Ok(b)) => a == b,
            _ => sent
                .parse::<f64>()
                .ok()
                .zip(n.as_f64())
                .is_some_and(|(a, b)| a == b),
        },
        Value::Bool(b) => sent == if *b { "true" } else { "false" },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        serde_json::json!({ "type": "object", "properties": {
            "region": { "type": "string", "x-mcp-header": "Region" },
            "count": { "type": "integer", "x-mcp-header": "Count" },
            "note": { "type": "string" }
        }})
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Box<[u8]>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), Box::from(v.as_bytes())))
            .collect()
    }

    fn run(args: Value, pairs: &[(&str, &str)]) -> Result<(), String> {
        check(&schema(), Some(&args), &headers(pairs))
    }

    #[test]
    fn annotated_arguments_must_agree_with_their_headers() {
        let args = serde_json::json!({ "region": "Hello", "count": 42 });
        assert!(run(args.clone(), &[("region", "Hello"), ("count", "42.0")]).is_ok());
        assert!(
            run(
                args.clone(),
                &[("region", "=?base64?SGVsbG8=?="), ("count", "42")]
            )
            .is_ok()
        );
        assert!(
            run(
                args.clone(),
                &[("region", "=?base64?SGVsbG8?="), ("count", "42")]
            )
            .is_err()
        );
        let wrong = run(args.clone(), &[("region", "Bye"), ("count", "42")]).unwrap_err();
        assert!(wrong.contains("Mcp-Param-Region"), "{wrong}");
        assert!(run(args.clone(), &[("count", "42")]).is_err());
        assert!(run(serde_json::json!({ "note": "x" }), &[]).is_ok());
        let literal = serde_json::json!({ "region": "=?base64?SGVsbG8=" });
        assert!(run(literal, &[("region", "=?base64?SGVsbG8=")]).is_ok());
    }

    #[test]
    fn twice_sent_or_valueless_headers_are_mismatches() {
        let args = serde_json::json!({ "region": "a", "count": 1 });
        assert!(run(args, &[("region", "a"), ("Region", "b"), ("count", "1")]).is_err());
        assert!(run(serde_json::json!({}), &[("region", "a")]).is_err());
        let big = serde_json::json!({ "count": 9_007_199_254_740_993_u64 });
        assert!(run(big, &[("count", "9007199254740992")]).is_err());
    }

    #[test]
    fn nested_annotations_are_checked() {
        let schema = serde_json::json!({ "type": "object", "properties": {
            "target": { "type": "object", "properties": {
                "region": { "type": "string", "x-mcp-header": "Region" }
            }}
        }});
        let args = serde_json::json!({ "target": { "region": "eu" } });
        assert!(check(&schema, Some(&args), &headers(&[("region", "us")])).is_err());
        assert!(check(&schema, Some(&args), &headers(&[("region", "eu")])).is_ok());
    }
}
