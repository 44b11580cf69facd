//! [`Target`]: where the Redis server is, from a `redis://` URL.

use std::fmt;

/// A Redis server: `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host:port`, for connecting.
    pub(crate) address: String,
    /// `AUTH [user] password`, when the URL has a password.
    pub(crate) auth: Option<(Option<String>, String)>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("Target")
            .field("address", &self.address)
            .field("auth", &self.auth.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// Why a URL names no Redis server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub(crate) String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a Redis URL: {}", self.0)
    }
}

impl std::error::Error for UrlError {}

impl Target {
    /// Parses `redis://[[user]:password@]host[:port][/db]`. The database number is accepted
    /// and ignored: Redis pub/sub channels are not per database.
    pub(crate) fn parse(url: &str) -> Result<Target, UrlError> {
        let rest = url.strip_prefix("redis://").ok_or_else(|| {
            UrlError(format!(
                "{url:?} does not start with redis:// (rediss:// is not supported)"
            ))
        })?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !path.is_empty() && path.parse::<u32>().is_err() {
            return Err(UrlError(format!(
                "{url:?}: the path must be a database number"
            )));
        }
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let auth = match credentials {
            None => None,
            Some(credentials) => {
                let (user, password) = credentials.split_once(':').ok_or_else(|| {
                    UrlError(format!(
                        "{url:?}: credentials are user:password or :password"
                    ))
                })?;
                let user = (!user.is_empty()).then(|| user.to_string());
                Some((user, password.to_string()))
            }
        };
        if host_port.is_empty() {
            return Err(UrlError(format!("{url:?} names no host")));
        }
        let address = if host_port.starts_with('[') {
            // An IPv6 literal: `[::1]` or `[::1]:6380`.
            match host_port.rsplit_once("]:") {
                Some((host, port)) => format!("{host}]:{}", port_number(url, port)?),
                None => format!("{host_port}:6379"),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => format!("{host}:{}", port_number(url, port)?),
                None => format!("{host_port}:6379"),
            }
        };
        Ok(Target { address, auth })
    }
}

fn port_number(url: &str, port: &str) -> Result<u16, UrlError> {
    port.parse()
        .map_err(|_| UrlError(format!("{url:?}: {port:?} is not a port")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_server_and_credentials() {
        let cases = [
            ("redis://127.0.0.1:6379", "127.0.0.1:6379", None),
            ("redis://localhost", "localhost:6379", None),
            ("redis://localhost/0", "localhost:6379", None),
            ("redis://[::1]:6380", "[::1]:6380", None),
            ("redis://[::1]", "[::1]:6379", None),
            (
                "redis://:secret@h:1",
                "h:1",
                Some((None, "secret".to_string())),
            ),
            (
                "redis://me:p@ss@h",
                "h:6379",
                Some((Some("me".to_string()), "p@ss".to_string())),
            ),
        ];
        for (url, address, auth) in cases {
            let target = Target::parse(url).unwrap();
            assert_eq!(target.address, address, "{url}");
            assert_eq!(target.auth, auth, "{url}");
        }
    }

    #[test]
    fn bad_urls_say_why() {
        for url in [
            "http://h",
            "rediss://h",
            "redis://",
            "redis://h:port",
            "redis://h:70000",
            "redis://h/x",
            "redis://user@h",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let target = Target::parse("redis://me:hunter2@h").unwrap();
        assert!(!format!("{target:?}").contains("hunter2"));
    }
}
