//! `x-mcp-header` (2026-07-28): a tool argument its schema annotates is mirrored in an
//! `Mcp-Param-{Name}` header, so that intermediaries can route on it; the server checks that
//! the two agree, since they may act on different ones.

use mcpwire_core::engine::decode_mirrored_header;
use mcpwire_core::jsonrpc::ErrorCode;
use serde_json::{Map, Value};

use super::Error;

/// Checks the `Mcp-Param-*` headers of a call against its arguments: each annotated argument
/// with a value must come with its header, equal after decoding (numbers compared as numbers).
pub(crate) fn check(
    definition: &Map<String, Value>,
    arguments: Option<&Value>,
    headers: &[(String, Box<[u8]>)],
) -> Result<(), Error> {
    let Some(properties) = definition
        .get("inputSchema")
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    for (property, schema) in properties {
        let Some(name) = schema.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let header = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        let value = arguments
            .and_then(|a| a.get(property))
            .filter(|v| !v.is_null());
        let (Some(value), header) = (value, header) else {
            // No value: the client sends no header, and none is expected.
            continue;
        };
        let Some(raw) = header else {
            return Err(mismatch(format!(
                "Header mismatch: the Mcp-Param-{name} header is required for argument {property}"
            )));
        };
        let Some(sent) = decode_mirrored_header(raw) else {
            return Err(mismatch(format!(
                "Header mismatch: the Mcp-Param-{name} header value is malformed"
            )));
        };
        if !agrees(value, &sent) {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Param-{name} header value '{sent}' does not match argument \
                 {property}"
            )));
        }
    }
    Ok(())
}

fn agrees(value: &Value, sent: &str) -> bool {
    match value {
        Value::String(s) => s == sent,
        Value::Number(n) => sent
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        Value::Bool(b) => sent == if *b { "true" } else { "false" },
        _ => false,
    }
}

fn mismatch(message: String) -> Error {
    Error::rpc(ErrorCode::HEADER_MISMATCH, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition() -> Map<String, Value> {
        serde_json::from_value(serde_json::json!({
            "inputSchema": { "type": "object", "properties": {
                "region": { "type": "string", "x-mcp-header": "Region" },
                "count": { "type": "integer", "x-mcp-header": "Count" },
                "note": { "type": "string" }
            }}
        }))
        .unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Box<[u8]>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), Box::from(v.as_bytes())))
            .collect()
    }

    fn run(args: Value, pairs: &[(&str, &str)]) -> Result<(), Error> {
        check(&definition(), Some(&args), &headers(pairs))
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
        assert!(run(args.clone(), &[("region", "Bye"), ("count", "42")]).is_err());
        assert!(run(args.clone(), &[("count", "42")]).is_err());
        assert!(run(serde_json::json!({ "note": "x" }), &[]).is_ok());
        let literal = serde_json::json!({ "region": "=?base64?SGVsbG8=" });
        assert!(run(literal, &[("region", "=?base64?SGVsbG8=")]).is_ok());
    }
}
