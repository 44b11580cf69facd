//! MCP protocol facts the engine needs: revisions and log levels.

use core::fmt;

/// An MCP protocol revision this engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 2024-11-05: the HTTP+SSE transport.
    V2024_11_05,
    /// 2025-03-26: Streamable HTTP, batches allowed.
    V2025_03_26,
    /// 2025-06-18: `MCP-Protocol-Version` header, no batches.
    V2025_06_18,
    /// 2025-11-25: priming events, `retry`, 403 for a bad Origin.
    V2025_11_25,
    /// 2026-07-28: stateless; every request carries its own `_meta` and no session exists.
    V2026_07_28,
}

impl ProtocolVersion {
    /// The newest revision with sessions: what `initialize` offers when the client asks for one
    /// it does not know (a stateless revision is never negotiated by `initialize`).
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// Every revision, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2026_07_28,
    ];

    /// The revisions with sessions (`initialize`, `Mcp-Session-Id`), oldest first.
    pub const SESSION_ERA: [ProtocolVersion; 4] = [
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
    ];

    /// The stateless revisions (per-request `_meta`, `server/discover`), oldest first.
    pub const STATELESS_ERA: [ProtocolVersion; 1] = [ProtocolVersion::V2026_07_28];

    /// The revision named `s`, if spoken here.
    #[must_use]
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The session-era revision named `s`, if spoken here.
    #[must_use]
    pub fn parse_session_era(s: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::SESSION_ERA
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// Whether the revision is stateless: no session, no `initialize`, no GET stream.
    #[must_use]
    pub fn is_stateless(self) -> bool {
        self >= ProtocolVersion::V2026_07_28
    }

    /// The revision's date string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether JSON-RPC batches are allowed (2025-03-26 only; 2024-11-05 had them too).
    #[must_use]
    pub fn allows_batches(self) -> bool {
        self <= ProtocolVersion::V2025_03_26
    }

    /// Whether SSE streams start with a priming event (an id and empty data): only where
    /// streams are resumable, which stateless revisions' are not.
    #[must_use]
    pub fn primes_streams(self) -> bool {
        self == ProtocolVersion::V2025_11_25
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log level (RFC 5424 severities, as MCP names them), least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `alert`
    Alert,
    /// `emergency`
    Emergency,
}

impl LogLevel {
    /// The level named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "notice" => LogLevel::Notice,
            "warning" => LogLevel::Warning,
            "error" => LogLevel::Error,
            "critical" => LogLevel::Critical,
            "alert" => LogLevel::Alert,
            "emergency" => LogLevel::Emergency,
            _ => return None,
        })
    }

    /// The level's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_and_order() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(
            ProtocolVersion::parse("2026-07-28"),
            Some(ProtocolVersion::V2026_07_28)
        );
        assert_eq!(ProtocolVersion::parse_session_era("2026-07-28"), None);
        assert!(ProtocolVersion::V2026_07_28.is_stateless());
        assert!(!ProtocolVersion::V2026_07_28.primes_streams());
        assert!(!ProtocolVersion::LATEST.is_stateless());
        assert!(ProtocolVersion::V2025_03_26.allows_batches());
        assert!(!ProtocolVersion::V2025_06_18.allows_batches());
        assert!(ProtocolVersion::LATEST.primes_streams());
    }

    #[test]
    fn levels_order_by_severity() {
        assert!(LogLevel::Debug < LogLevel::Emergency);
        assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse("Warning"), None);
    }
}
