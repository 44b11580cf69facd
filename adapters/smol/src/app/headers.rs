//! `x-mcp-header` (2026-07-28): a tool argument its schema annotates is mirrored in an
//! `Mcp-Param-{Name}` header, so that intermediaries can route on it; the server checks that
//! the two agree, since they may act on different ones. The check is the core's, shared with
//! the wasm handler.

use mcpwire_core::engine::check_param_headers;
use mcpwire_core::jsonrpc::ErrorCode;
use serde_json::{Map, Value};

use super::Error;

/// Checks the `Mcp-Param-*` headers of a call against its arguments and its tool's
/// `inputSchema`; a disagreement is a -32020 error.
pub(crate) fn check(
    definition: &Map<String, Value>,
    arguments: Option<&Value>,
    headers: &[(String, Box<[u8]>)],
) -> Result<(), Error> {
    let Some(schema) = definition.get("inputSchema") else {
        return Ok(());
    };
    check_param_headers(schema, arguments, headers)
        .map_err(|message| Error::rpc(ErrorCode::HEADER_MISMATCH, message))
}
