//! The 2026-07-28 request envelope, as a pure function: from an HTTP request and its one
//! JSON-RPC request to the client's declared context, or the refusal the transport
//! specification prescribes. Nothing here touches engine state, so every rule is a table test.

use alloc::borrow::{Cow, ToOwned};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::engine::protocol::{LogLevel, ProtocolVersion};
use crate::http1::Request;
use crate::jsonrpc::ErrorCode;

/// `_meta` keys of the stateless era.
pub(crate) const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// What a stateless request declares about its client, validated.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) version: ProtocolVersion,
    /// `clientCapabilities`, an object.
    pub(crate) capabilities: Box<RawValue>,
    /// `clientInfo`, when sent.
    pub(crate) client_info: Option<Box<RawValue>>,
    /// `logLevel`: without it, no `notifications/message` is sent.
    pub(crate) log_level: Option<LogLevel>,
    /// The tool or prompt name, or resource URI, the request names (what `Mcp-Name` mirrors).
    pub(crate) name: Option<String>,
    /// `requestState`, when the request retries an input-required result: still sealed.
    pub(crate) request_state: Option<Result<String, ()>>,
    /// The `Mcp-Param-{Name}` headers of a `tools/call`, for the application to check against
    /// the arguments its tool's schema annotates (`x-mcp-header`).
    pub(crate) param_headers: Option<Vec<(String, Box<[u8]>)>>,
}

/// A refusal: HTTP status and the JSON-RPC error that explains it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) status: u16,
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    /// `error.data`, as JSON text.
    pub(crate) data: Option<String>,
}

impl Rejection {
    fn new(status: u16, code: ErrorCode, message: String) -> Rejection {
        Rejection {
            status,
            code,
            message,
            data: None,
        }
    }

    fn mismatch(message: String) -> Rejection {
        Rejection::new(400, ErrorCode::HEADER_MISMATCH, message)
    }
}

#[derive(Deserialize, Default)]
struct RawMeta<'a> {
    #[serde(borrow, rename = "io.modelcontextprotocol/protocolVersion")]
    protocol_version: Option<&'a RawValue>,
    #[serde(borrow, rename = "io.modelcontextprotocol/clientCapabilities")]
    capabilities: Option<&'a RawValue>,
    #[serde(borrow, rename = "io.modelcontextprotocol/clientInfo")]
    client_info: Option<&'a RawValue>,
    #[serde(borrow, rename = "io.modelcontextprotocol/logLevel")]
    log_level: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct RawParams<'a> {
    #[serde(borrow, rename = "_meta")]
    meta: Option<RawMeta<'a>>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    uri: Option<&'a RawValue>,
    #[serde(borrow, rename = "requestState")]
    request_state: Option<&'a RawValue>,
}

fn parse_params(params: Option<&RawValue>) -> RawParams<'_> {
    params
        .and_then(|p| serde_json::from_str::<RawParams<'_>>(p.get()).ok())
        .unwrap_or_default()
}

/// Whether a POST body's params carry the stateless era's protocol version in `_meta`: the
/// request is addressed to that era even when its headers are wrong.
pub(crate) fn declares_stateless(params: Option<&RawValue>) -> bool {
    parse_params(params)
        .meta
        .is_some_and(|m| m.protocol_version.is_some())
}

fn as_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

/// Validates one request's envelope, in the order the references check it: the version
/// header present (-32020), `_meta`'s required fields (-32602), header and `_meta` agreeing
/// (-32020, before the version is judged), the version served here (-32022), then the method
/// and name headers (-32020).
///
/// `request` is the HTTP request that carried it; a message from a byte stream (stdio) has no
/// header layer, so `None` checks the body alone.
pub(crate) fn classify(
    request: Option<&Request>,
    method: &str,
    params: Option<&RawValue>,
) -> Result<Envelope, Rejection> {
    let header = match request {
        Some(request) => Some(version_header(request)?),
        None => None,
    };
    let parsed = parse_params(params);
    let meta = parsed.meta.unwrap_or_default();
    let missing = |field: &str| {
        Rejection::new(
            400,
            ErrorCode::INVALID_PARAMS,
            format!("Invalid params: _meta[\"{field}\"] is required"),
        )
    };
    let requested = meta
        .protocol_version
        .ok_or_else(|| missing(PROTOCOL_VERSION))?;
    let requested = as_str(requested).ok_or_else(|| {
        Rejection::new(
            400,
            ErrorCode::INVALID_PARAMS,
            format!("Invalid params: _meta[\"{PROTOCOL_VERSION}\"] must be a string"),
        )
    })?;
    let capabilities = meta
        .capabilities
        .filter(|c| is_object(c))
        .ok_or_else(|| missing(CLIENT_CAPABILITIES))?;
    if let Some(header) = header.filter(|h| requested != *h) {
        return Err(Rejection::mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header value '{header}' does not match \
             _meta protocol version '{requested}'"
        )));
    }
    let version = ProtocolVersion::STATELESS_ERA
        .into_iter()
        .find(|v| v.as_str() == requested)
        .ok_or_else(|| unsupported(&requested))?;
    match request.map(|r| r.header_str("mcp-method").map(str::trim)) {
        None => {}
        Some(None) => {
            return Err(Rejection::mismatch(String::from(
                "Header mismatch: the Mcp-Method header is required",
            )));
        }
        Some(Some(header)) if header != method => {
            return Err(Rejection::mismatch(format!(
                "Header mismatch: Mcp-Method header value '{header}' does not match body \
                 method '{method}'"
            )));
        }
        Some(Some(_)) => {}
    }
    let named = match method {
        "tools/call" | "prompts/get" => Some(("name", parsed.name)),
        "resources/read" => Some(("uri", parsed.uri)),
        _ => None,
    };
    let mut name = None;
    if let Some((field, value)) = named {
        let body = value.and_then(as_str);
        if let Some(request) = request {
            check_name(request, field, body.as_deref())?;
        }
        name = body.map(Cow::into_owned);
    }
    // A state that is not a string cannot be one this server issued; `null` is no state.
    let request_state = parsed
        .request_state
        .filter(|raw| raw.get() != "null")
        .map(|raw| as_str(raw).map(Cow::into_owned).ok_or(()));
    let log_level = meta
        .log_level
        .and_then(as_str)
        .and_then(|level| LogLevel::parse(&level));
    Ok(Envelope {
        version,
        capabilities: capabilities.to_owned(),
        client_info: meta
            .client_info
            .filter(|c| is_object(c))
            .map(|c| c.to_owned()),
        log_level,
        name,
        request_state,
        param_headers: request
            .filter(|_| method == "tools/call")
            .map(param_headers),
    })
}

/// The version header, present once (a header sent twice could be routed on one copy and
/// checked on the other; so could the method and name headers).
fn version_header(request: &Request) -> Result<&str, Rejection> {
    for name in ["mcp-protocol-version", "mcp-method", "mcp-name"] {
        if request.header_values(name).nth(1).is_some() {
            return Err(Rejection::mismatch(format!(
                "Header mismatch: the {name} header appears more than once"
            )));
        }
    }
    request
        .header_str("mcp-protocol-version")
        .map(str::trim)
        .ok_or_else(|| {
            Rejection::mismatch(String::from(
                "Header mismatch: the MCP-Protocol-Version header is required",
            ))
        })
}

/// The `Mcp-Param-*` headers, each name's suffix lowercased (header names are
/// case-insensitive), at most 64 of them.
fn param_headers(request: &Request) -> Vec<(String, Box<[u8]>)> {
    const PREFIX: &str = "mcp-param-";
    request
        .headers()
        .filter_map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let suffix = lower.strip_prefix(PREFIX)?;
            Some((String::from(suffix), Box::from(value)))
        })
        .take(64)
        .collect()
}

/// -32022 with the versions served here and the one asked for.
pub(crate) fn unsupported(requested: &str) -> Rejection {
    #[derive(serde::Serialize)]
    struct Data<'a> {
        supported: Vec<&'static str>,
        requested: &'a str,
    }
    let supported: Vec<&'static str> = ProtocolVersion::STATELESS_ERA
        .iter()
        .map(|v| v.as_str())
        .collect();
    let data = serde_json::to_string(&Data {
        supported,
        requested,
    })
    .ok();
    Rejection {
        status: 400,
        code: ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        message: format!("Unsupported protocol version: {requested}"),
        data,
    }
}

/// `Mcp-Name` must be present and equal the body's `name` (or `uri`), after decoding.
fn check_name(request: &Request, field: &str, body: Option<&str>) -> Result<(), Rejection> {
    let Some(raw) = request.header("mcp-name") else {
        return Err(Rejection::mismatch(String::from(
            "Header mismatch: the Mcp-Name header is required",
        )));
    };
    let header = decode_header_value(raw).ok_or_else(|| {
        Rejection::mismatch(String::from(
            "Header mismatch: the Mcp-Name header value is malformed",
        ))
    })?;
    match body {
        Some(body) if body == header => Ok(()),
        Some(body) => Err(Rejection::mismatch(format!(
            "Header mismatch: Mcp-Name header value '{header}' does not match body {field} \
             '{body}'"
        ))),
        None => Err(Rejection::mismatch(format!(
            "Header mismatch: Mcp-Name is sent but the body has no {field}"
        ))),
    }
}

/// A mirrored header value: plain visible ASCII (spaces inside; around it, trimmed), or the
/// `=?base64?...?=` sentinel around the value's UTF-8 in standard Base64. `None` when
/// malformed.
pub(crate) fn decode_header_value(raw: &[u8]) -> Option<String> {
    const PREFIX: &[u8] = b"=?base64?";
    const SUFFIX: &[u8] = b"?=";
    let raw = raw.trim_ascii();
    if let Some(inner) = raw
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
    {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(inner)
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    // Optional whitespace around a field value is not part of it (RFC 9110 5.5).
    let raw = raw.trim_ascii();
    if !raw.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    core::str::from_utf8(raw).ok().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::Request;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder("POST", "/mcp");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder.build().unwrap()
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.into()).unwrap()
    }

    const META: &str = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

    fn params(extra: &str) -> Box<RawValue> {
        raw(&format!("{META}{extra}}}"))
    }

    const GOOD: &[(&str, &str)] = &[
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ];

    fn code(result: Result<Envelope, Rejection>) -> (u16, i64) {
        let r = result.expect_err("refused");
        (r.status, r.code.0)
    }

    #[test]
    fn a_complete_envelope_is_accepted() {
        let p = params("");
        let e = classify(Some(&request(GOOD)), "tools/list", Some(&p)).unwrap();
        assert_eq!(e.version, ProtocolVersion::V2026_07_28);
        assert_eq!(e.capabilities.get(), "{}");
        assert!(e.client_info.is_none());
        assert!(e.log_level.is_none());
    }

    #[test]
    fn a_header_that_disagrees_wins_over_an_unsupported_version() {
        let p = raw(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"v999.0.0","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        assert_eq!(
            code(classify(Some(&request(GOOD)), "tools/list", Some(&p))),
            (400, -32020)
        );
        let both = [
            ("mcp-protocol-version", "v999.0.0"),
            ("mcp-method", "tools/list"),
        ];
        assert_eq!(
            code(classify(Some(&request(&both)), "tools/list", Some(&p))),
            (400, -32022)
        );
    }

    #[test]
    fn missing_meta_fields_are_invalid_params() {
        let none = classify(Some(&request(GOOD)), "tools/list", None);
        assert_eq!(code(none), (400, -32602));
        let no_caps = raw(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#);
        assert_eq!(
            code(classify(Some(&request(GOOD)), "tools/list", Some(&no_caps))),
            (400, -32602)
        );
    }

    #[test]
    fn an_unsupported_version_names_the_supported_ones() {
        let p = raw(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        let headers = [
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/list"),
        ];
        let r = classify(Some(&request(&headers)), "tools/list", Some(&p)).unwrap_err();
        assert_eq!((r.status, r.code.0), (400, -32022));
        assert_eq!(
            r.data.as_deref(),
            Some(r#"{"supported":["2026-07-28"],"requested":"2099-01-01"}"#)
        );
    }

    #[test]
    fn headers_must_be_present_and_agree_with_the_body() {
        let p = params("");
        let cases: &[&[(&str, &str)]] = &[
            &[("mcp-method", "tools/list")],
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/list"),
            ],
            &[("mcp-protocol-version", "2026-07-28")],
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
            ],
        ];
        for headers in cases {
            assert_eq!(
                code(classify(Some(&request(headers)), "tools/list", Some(&p))),
                (400, -32020),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn mcp_name_is_checked_plain_and_base64() {
        let call = |name: &str, header: Option<&str>| {
            let p = params(&format!(
                r#","name":{}"#,
                serde_json::to_string(name).unwrap()
            ));
            let mut headers = alloc::vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
            ];
            if let Some(h) = header {
                headers.push(("mcp-name", h));
            }
            classify(Some(&request(&headers)), "tools/call", Some(&p)).map(|_| ())
        };
        assert!(call("echo", Some("echo")).is_ok());
        assert!(call("héllo", Some("=?base64?aMOpbGxv?=")).is_ok());
        assert_eq!(call("echo", None).unwrap_err().code.0, -32020);
        assert_eq!(call("echo", Some("other")).unwrap_err().code.0, -32020);
        assert_eq!(
            call("echo", Some("=?base64?!!?=")).unwrap_err().code.0,
            -32020
        );
        assert!(call("echo", Some("  echo  ")).is_ok());
        assert_eq!(call("echo", Some("ech\u{7f}o")).unwrap_err().code.0, -32020);
    }

    #[test]
    fn resources_read_is_named_by_its_uri() {
        let p = params(r#","uri":"test://static-text""#);
        let headers = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "resources/read"),
            ("mcp-name", "test://static-text"),
        ];
        assert!(classify(Some(&request(&headers)), "resources/read", Some(&p)).is_ok());
    }

    #[test]
    fn stateless_requests_are_recognized_by_their_meta() {
        assert!(declares_stateless(Some(&params(""))));
        assert!(!declares_stateless(Some(&raw(
            r#"{"_meta":{"progressToken":1}}"#
        ))));
        assert!(!declares_stateless(None));
    }
}
