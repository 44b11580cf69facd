//! What every stateless result carries: `resultType`, the server's identity in `_meta`, and
//! for lists and reads the caching hints (`ttlMs`, `cacheScope`). The application writes its
//! results as it would for either era; the engine completes them here, once, at `respond`.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::Serialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::engine::Config;

/// `_meta` key of the server's identity.
pub(crate) const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Which fields a method's result must carry beyond `resultType` and `serverInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultShape {
    /// Any result, never `input_required`.
    Plain,
    /// `tools/call` and `prompts/get`: may ask for input.
    Asks,
    /// `resources/read` and `server/discover`: caching hints too; a read may ask for input.
    Cacheable,
    /// A list: caching hints, and never `input_required`.
    List,
}

impl ResultShape {
    /// The shape of `method`'s result.
    pub(crate) fn of(method: &str) -> ResultShape {
        match method {
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                ResultShape::List
            }
            "resources/read" => ResultShape::Cacheable,
            "tools/call" | "prompts/get" => ResultShape::Asks,
            _ => ResultShape::Plain,
        }
    }

    /// Whether the method may answer `input_required` (MRTR allows it on `tools/call`,
    /// `prompts/get` and `resources/read` only).
    pub(crate) fn may_ask(self) -> bool {
        matches!(self, ResultShape::Asks | ResultShape::Cacheable)
    }

    /// Whether the result carries caching hints.
    fn cacheable(self) -> bool {
        matches!(self, ResultShape::Cacheable | ResultShape::List)
    }
}

/// How clients may cache what a list or read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheScope {
    /// Any client may share the cached result.
    Public,
    /// Cached for this client only.
    Private,
}

impl CacheScope {
    fn as_str(self) -> &'static str {
        match self {
            CacheScope::Public => "public",
            CacheScope::Private => "private",
        }
    }
}

/// The caching hints results carry when the application gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHints {
    /// `ttlMs`: how long a result may be reused (0: revalidate every time).
    pub ttl_ms: u64,
    /// `cacheScope`.
    pub scope: CacheScope,
}

impl Default for CacheHints {
    /// Nothing is reused without asking, and nothing is shared: the safe default for results
    /// that may depend on the caller.
    fn default() -> Self {
        CacheHints {
            ttl_ms: 0,
            scope: CacheScope::Private,
        }
    }
}

/// `{"name":..,"version":..}` (and `title`), the server's identity as results carry it.
pub(crate) fn server_info_json(config: &Config) -> String {
    #[derive(Serialize)]
    struct ServerInfo<'a> {
        name: &'a str,
        version: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
    }
    serde_json::to_string(&ServerInfo {
        name: &config.server_name,
        version: &config.server_version,
        title: config.server_title.as_deref(),
    })
    .unwrap_or_else(|_| String::from("{}"))
}

/// The result completed with what the era requires and the application left out. `None` when
/// `result` is not a JSON object (the caller answers with an internal error).
pub(crate) fn complete(
    result: &RawValue,
    shape: ResultShape,
    server_info: &str,
    hints: CacheHints,
) -> Option<Vec<u8>> {
    let keys: BTreeMap<Cow<'_, str>, IgnoredAny> = serde_json::from_str(result.get()).ok()?;
    if keys.contains_key("_meta") {
        // The application's own `_meta` gains the server's identity: rare, so parsed in full.
        return complete_merging_meta(result, shape, server_info, hints);
    }
    let text = result.get().trim();
    let body = text.strip_suffix('}')?;
    let mut out = Vec::with_capacity(text.len() + server_info.len() + 96);
    out.extend_from_slice(body.as_bytes());
    let mut first = keys.is_empty();
    let mut field = |out: &mut Vec<u8>, name: &str, value: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.as_bytes());
    };
    if !keys.contains_key("resultType") {
        field(&mut out, "resultType", "\"complete\"");
    }
    if !keys.contains_key("_meta") {
        let meta = alloc::format!("{{\"{SERVER_INFO}\":{server_info}}}");
        field(&mut out, "_meta", &meta);
    }
    // An interim result carries no caching hints: only a complete one may be reused.
    if shape.cacheable() && !is_input_required(result) {
        if !keys.contains_key("ttlMs") {
            field(&mut out, "ttlMs", &alloc::format!("{}", hints.ttl_ms));
        }
        if !keys.contains_key("cacheScope") {
            field(
                &mut out,
                "cacheScope",
                &alloc::format!("\"{}\"", hints.scope.as_str()),
            );
        }
    }
    out.push(b'}');
    Some(out)
}

/// As `complete`, for a result with a `_meta` of its own: `serverInfo` is added into it.
fn complete_merging_meta(
    result: &RawValue,
    shape: ResultShape,
    server_info: &str,
    hints: CacheHints,
) -> Option<Vec<u8>> {
    use serde_json::Value;
    let mut map: serde_json::Map<String, Value> = serde_json::from_str(result.get()).ok()?;
    let interim = map.get("resultType").and_then(Value::as_str) == Some("input_required");
    map.entry("resultType")
        .or_insert_with(|| Value::from("complete"));
    if let Some(Value::Object(meta)) = map.get_mut("_meta") {
        if !meta.contains_key(SERVER_INFO) {
            let info: Value = serde_json::from_str(server_info).unwrap_or_default();
            meta.insert(SERVER_INFO.into(), info);
        }
    }
    if shape.cacheable() && !interim {
        map.entry("ttlMs")
            .or_insert_with(|| Value::from(hints.ttl_ms));
        map.entry("cacheScope")
            .or_insert_with(|| Value::from(hints.scope.as_str()));
    }
    serde_json::to_vec(&map).ok()
}

/// Whether a result says `"resultType":"input_required"`.
pub(crate) fn is_input_required(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(borrow, rename = "resultType")]
        result_type: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Kind<'_>>(result.get())
        .ok()
        .and_then(|k| k.result_type)
        .is_some_and(|t| t == "input_required")
}

/// The `server/discover` result.
pub(crate) fn discover(
    config: &Config,
    capabilities: &RawValue,
    server_info: &str,
    hints: CacheHints,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Discover<'a> {
        #[serde(rename = "supportedVersions")]
        supported_versions: Vec<&'static str>,
        capabilities: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        instructions: Option<&'a str>,
    }
    let supported_versions = crate::engine::ProtocolVersion::STATELESS_ERA
        .iter()
        .map(|v| v.as_str())
        .collect();
    let result = serde_json::value::to_raw_value(&Discover {
        supported_versions,
        capabilities,
        instructions: config.instructions.as_deref(),
    })
    .ok();
    result
        .and_then(|r| complete(&r, ResultShape::Cacheable, server_info, hints))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> alloc::boxed::Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    fn done(s: &str, shape: ResultShape) -> serde_json::Value {
        let bytes = complete(
            &raw(s),
            shape,
            r#"{"name":"n","version":"1"}"#,
            CacheHints::default(),
        )
        .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn results_gain_result_type_and_server_info() {
        let v = done(r#"{"content":[]}"#, ResultShape::Plain);
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["_meta"][SERVER_INFO]["name"], "n");
        assert!(v.get("ttlMs").is_none());
        let empty = done("{}", ResultShape::Plain);
        assert_eq!(empty["resultType"], "complete");
    }

    #[test]
    fn lists_and_reads_gain_caching_hints_unless_given() {
        let v = done(r#"{"tools":[]}"#, ResultShape::List);
        assert_eq!(v["ttlMs"], 0);
        assert_eq!(v["cacheScope"], "private");
        let given = done(
            r#"{"tools":[],"ttlMs":5000,"cacheScope":"public","resultType":"complete"}"#,
            ResultShape::Cacheable,
        );
        assert_eq!(given["ttlMs"], 5000);
        assert_eq!(given["cacheScope"], "public");
    }

    #[test]
    fn an_application_meta_is_kept_and_gains_the_server_identity() {
        let v = done(r#"{"_meta":{"k":1}}"#, ResultShape::Plain);
        assert_eq!(v["_meta"]["k"], 1);
        assert_eq!(v["_meta"][SERVER_INFO]["name"], "n");
        assert_eq!(v["resultType"], "complete");
    }

    #[test]
    fn an_interim_result_carries_no_caching_hints() {
        for result in [
            r#"{"resultType":"input_required","inputRequests":{}}"#,
            r#"{"resultType":"input_required","_meta":{}}"#,
        ] {
            let v = done(result, ResultShape::Cacheable);
            assert!(
                v.get("ttlMs").is_none() && v.get("cacheScope").is_none(),
                "{v}"
            );
        }
    }

    #[test]
    fn not_an_object_is_refused() {
        assert!(complete(&raw("[1]"), ResultShape::Plain, "{}", CacheHints::default()).is_none());
        assert!(complete(&raw("3"), ResultShape::Plain, "{}", CacheHints::default()).is_none());
    }

    #[test]
    fn input_required_is_recognized() {
        assert!(is_input_required(&raw(
            r#"{"resultType":"input_required"}"#
        )));
        assert!(!is_input_required(&raw(r#"{"resultType":"complete"}"#)));
        assert!(!is_input_required(&raw(r#"{}"#)));
    }
}
