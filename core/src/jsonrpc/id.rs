//! [`RequestId`]: a JSON-RPC request id, a string or an integer.

use alloc::string::String;
use core::fmt;

use serde::{Serialize, Serializer};

/// A request id. MCP requires a string or an integer; `null` and fractions are refused when
/// decoding.
///
/// Ids order numbers before strings, so maps keyed by id iterate deterministically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl RequestId {
    /// Reads an id from its raw JSON text, or `None` when it is not a string or an integer.
    pub(crate) fn from_json(raw: &str) -> Option<RequestId> {
        if raw.starts_with('"') {
            serde_json::from_str::<String>(raw)
                .ok()
                .map(RequestId::String)
        } else {
            serde_json::from_str::<i64>(raw).ok().map(RequestId::Number)
        }
    }
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        RequestId::Number(n)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        RequestId::String(s.into())
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RequestId::Number(n) => serializer.serialize_i64(*n),
            RequestId::String(s) => serializer.serialize_str(s),
        }
    }
}

impl fmt::Display for RequestId {
    /// The id as JSON would show it: `7`, `"abc"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_and_integers_only() {
        assert_eq!(RequestId::from_json("7"), Some(RequestId::Number(7)));
        assert_eq!(RequestId::from_json("-3"), Some(RequestId::Number(-3)));
        assert_eq!(
            RequestId::from_json(r#""a\"b""#),
            Some(RequestId::String("a\"b".into()))
        );
        for bad in [
            "1.5",
            "1e3",
            "null",
            "true",
            "{}",
            "[]",
            "18446744073709551615",
        ] {
            assert_eq!(RequestId::from_json(bad), None, "{bad}");
        }
        assert_eq!(
            RequestId::from_json("9223372036854775807"),
            Some(RequestId::Number(i64::MAX))
        );
    }

    #[test]
    fn numbers_order_before_strings() {
        let mut ids = [
            RequestId::from("b"),
            RequestId::from(2),
            RequestId::from("a"),
            RequestId::from(-1),
        ];
        ids.sort();
        assert_eq!(
            ids,
            [
                RequestId::from(-1),
                RequestId::from(2),
                RequestId::from("a"),
                RequestId::from("b")
            ]
        );
        assert_eq!(alloc::format!("{} {}", ids[0], ids[2]), "-1 \"a\"");
    }
}
