//! The engine's configuration as JS passes it: one JSON object, camelCase, every field
//! optional but the server's name and version. Unknown fields are an error, so a typo never
//! silently leaves a default in place.

use mcpwire_core::engine::{Config, Heartbeat, LegacyPaths, ResponseMode};
use mcpwire_core::time::Duration;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::auth::AuthOptions;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Options {
    server_name: String,
    server_version: String,
    server_title: Option<String>,
    instructions: Option<String>,
    capabilities: Option<Box<RawValue>>,
    endpoint: Option<String>,
    /// `false` turns the 2024-11-05 transport off; an object moves it.
    legacy: Option<Legacy>,
    response_mode: Option<Mode>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    /// A request header each session is bound to (`Config::session_binding`).
    session_binding: Option<String>,
    /// The engine as an OAuth 2.1 resource server (`Config::auth`).
    auth: Option<AuthOptions>,
    #[serde(default)]
    timeouts: TimeoutOptions,
    #[serde(default)]
    limits: LimitOptions,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Legacy {
    Enabled(bool),
    Paths { sse: String, messages: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Auto,
    Sse,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimeoutOptions {
    session_idle_ms: Option<u64>,
    session_init_ms: Option<u64>,
    keepalive_ms: Option<u64>,
    write_ms: Option<u64>,
    resume_window_ms: Option<u64>,
    request_ms: Option<u64>,
    client_request_ms: Option<u64>,
    request_read_ms: Option<u64>,
    connection_idle_ms: Option<u64>,
    retry_hint_ms: Option<u64>,
    input_state_ms: Option<u64>,
    token_verification_ms: Option<u64>,
    grant_cache_ms: Option<u64>,
    heartbeat: Option<HeartbeatOptions>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HeartbeatOptions {
    interval_ms: u64,
    timeout_ms: u64,
    max_failures: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LimitOptions {
    max_body_bytes: Option<usize>,
    max_sessions: Option<usize>,
    max_inflight_per_session: Option<usize>,
    max_outbound_per_session: Option<usize>,
    max_subscriptions_per_session: Option<usize>,
    max_listen_streams: Option<usize>,
    max_queued_bytes_per_exchange: Option<usize>,
    max_connections: Option<usize>,
    max_inflight_total: Option<usize>,
    max_uri_bytes: Option<usize>,
    max_client_metadata_bytes: Option<usize>,
    max_message_bytes: Option<usize>,
    stream_window_bytes: Option<usize>,
    max_held_bytes: Option<usize>,
    max_session_bytes: Option<usize>,
    max_detached_streams_per_session: Option<usize>,
    resume_log_events: Option<usize>,
    resume_log_bytes: Option<usize>,
    backlog_events: Option<usize>,
    max_pending_events: Option<usize>,
    max_pending_verifications: Option<usize>,
    max_token_bytes: Option<usize>,
    max_cached_grants: Option<usize>,
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn ms(value: Option<u64>) -> Option<Duration> {
    value.map(Duration::from_millis)
}

impl Options {
    /// Parses `json` and applies it over the core's defaults.
    pub(crate) fn parse(json: &str) -> Result<Config, String> {
        let options: Options =
            serde_json::from_str(json).map_err(|e| format!("invalid engine options: {e}"))?;
        options.into_config()
    }

    fn into_config(self) -> Result<Config, String> {
        let mut config = Config::new(&self.server_name, &self.server_version);
        config.server_title = self.server_title;
        config.instructions = self.instructions;
        set(
            &mut config.capabilities,
            self.capabilities.map(|c| c.get().to_owned()),
        );
        set(&mut config.endpoint, self.endpoint);
        match self.legacy {
            Some(Legacy::Enabled(false)) => config.legacy = None,
            Some(Legacy::Enabled(true)) | None => {}
            Some(Legacy::Paths { sse, messages }) => {
                config.legacy = Some(LegacyPaths { sse, messages });
            }
        }
        set(
            &mut config.response_mode,
            self.response_mode.map(|m| match m {
                Mode::Auto => ResponseMode::Auto,
                Mode::Sse => ResponseMode::Sse,
            }),
        );
        set(&mut config.allowed_origins, self.allowed_origins);
        set(&mut config.allowed_hosts, self.allowed_hosts);
        if let Some(header) = self.session_binding {
            config.session_binding = Some(header.to_ascii_lowercase());
        }
        config.auth = self
            .auth
            .map(AuthOptions::into_resource_server)
            .transpose()?;

        let t = self.timeouts;
        let timeouts = &mut config.timeouts;
        set(&mut timeouts.session_idle, ms(t.session_idle_ms));
        set(&mut timeouts.session_init, ms(t.session_init_ms));
        set(&mut timeouts.keepalive_interval, ms(t.keepalive_ms));
        set(&mut timeouts.write, ms(t.write_ms));
        set(&mut timeouts.resume_window, ms(t.resume_window_ms));
        if t.request_ms.is_some() {
            timeouts.request = ms(t.request_ms);
        }
        set(&mut timeouts.client_request, ms(t.client_request_ms));
        set(&mut timeouts.request_read, ms(t.request_read_ms));
        set(&mut timeouts.connection_idle, ms(t.connection_idle_ms));
        set(&mut timeouts.retry_hint, ms(t.retry_hint_ms));
        set(&mut timeouts.input_state, ms(t.input_state_ms));
        set(
            &mut timeouts.token_verification,
            ms(t.token_verification_ms),
        );
        set(&mut timeouts.grant_cache, ms(t.grant_cache_ms));
        if let Some(h) = t.heartbeat {
            timeouts.heartbeat = Some(Heartbeat {
                interval: Duration::from_millis(h.interval_ms),
                timeout: Duration::from_millis(h.timeout_ms),
                max_failures: h.max_failures,
            });
        }

        let l = self.limits;
        let limits = &mut config.limits;
        set(&mut limits.http.max_body_bytes, l.max_body_bytes);
        set(&mut limits.max_sessions, l.max_sessions);
        set(
            &mut limits.max_inflight_per_session,
            l.max_inflight_per_session,
        );
        set(
            &mut limits.max_outbound_per_session,
            l.max_outbound_per_session,
        );
        set(
            &mut limits.max_subscriptions_per_session,
            l.max_subscriptions_per_session,
        );
        set(&mut limits.max_listen_streams, l.max_listen_streams);
        set(
            &mut limits.max_queued_bytes_per_connection,
            l.max_queued_bytes_per_exchange,
        );
        set(&mut limits.max_connections, l.max_connections);
        set(&mut limits.max_inflight_total, l.max_inflight_total);
        set(&mut limits.max_uri_bytes, l.max_uri_bytes);
        set(
            &mut limits.max_client_metadata_bytes,
            l.max_client_metadata_bytes,
        );
        set(&mut limits.max_message_bytes, l.max_message_bytes);
        set(&mut limits.stream_window_bytes, l.stream_window_bytes);
        set(&mut limits.max_held_bytes, l.max_held_bytes);
        set(&mut limits.max_session_bytes, l.max_session_bytes);
        set(
            &mut limits.max_detached_streams_per_session,
            l.max_detached_streams_per_session,
        );
        set(&mut limits.resume_log_events, l.resume_log_events);
        set(&mut limits.resume_log_bytes, l.resume_log_bytes);
        set(&mut limits.backlog_events, l.backlog_events);
        set(&mut limits.max_pending_events, l.max_pending_events);
        set(
            &mut limits.max_pending_verifications,
            l.max_pending_verifications,
        );
        set(&mut limits.max_token_bytes, l.max_token_bytes);
        set(&mut limits.max_cached_grants, l.max_cached_grants);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_under_what_is_given() {
        let config = Options::parse(
            r#"{"serverName":"s","serverVersion":"1","capabilities":{"tools":{}},
                "legacy":false,"timeouts":{"sessionIdleMs":1500,"requestMs":9000},
                "limits":{"maxBodyBytes":1024}}"#,
        )
        .unwrap();
        assert_eq!(config.server_name, "s");
        assert_eq!(config.capabilities, r#"{"tools":{}}"#);
        assert!(config.legacy.is_none());
        assert_eq!(config.timeouts.session_idle, Duration::from_millis(1500));
        assert_eq!(config.timeouts.request, Some(Duration::from_millis(9000)));
        assert_eq!(config.limits.http.max_body_bytes, 1024);
        assert_eq!(config.endpoint, "/mcp");
        assert!(config.auth.is_none());
    }

    #[test]
    fn auth_and_its_deadlines_and_bounds_are_options() {
        let config = Options::parse(
            r#"{"serverName":"s","serverVersion":"1",
                "auth":{"resource":"https://h.example/mcp","authorizationServers":["https://as.example"]},
                "timeouts":{"tokenVerificationMs":250,"grantCacheMs":0},
                "limits":{"maxPendingVerifications":3,"maxTokenBytes":100,"maxCachedGrants":7}}"#,
        )
        .unwrap();
        let auth = config.auth.unwrap();
        assert_eq!(
            auth.metadata_url(),
            "https://h.example/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            config.timeouts.token_verification,
            Duration::from_millis(250)
        );
        assert_eq!(config.timeouts.grant_cache, Duration::ZERO);
        assert_eq!(config.limits.max_pending_verifications, 3);
        assert_eq!(config.limits.max_token_bytes, 100);
        assert_eq!(config.limits.max_cached_grants, 7);
        let bad = Options::parse(
            r#"{"serverName":"s","serverVersion":"1",
                "auth":{"resource":"https://h.example/mcp","authorizationServers":["https://as.example"],
                        "requiredScopes":["a b"]}}"#,
        );
        assert!(bad.unwrap_err().contains("auth.requiredScopes"));
    }

    #[test]
    fn typos_and_missing_names_are_errors() {
        let typo = Options::parse(r#"{"serverName":"s","serverVersion":"1","endpont":"/x"}"#);
        assert!(typo.unwrap_err().contains("endpont"));
        let nested =
            Options::parse(r#"{"serverName":"s","serverVersion":"1","timeouts":{"idleMs":1}}"#);
        assert!(nested.unwrap_err().contains("idleMs"));
        assert!(Options::parse(r#"{"serverVersion":"1"}"#).is_err());
        assert!(Options::parse("not json").is_err());
    }
}
