//! The command line: `mcpwire serve [options]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mcpwire_smol::auth::{Introspection, JwtVerifier, ResourceServer};

/// What `mcpwire serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub bind: SocketAddr,
    /// Serve one client on stdin and stdout instead of listening.
    pub stdio: bool,
    pub idle_timeout: Option<Duration>,
    pub keepalive: Option<Duration>,
    pub write_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub heartbeat: Option<Duration>,
    pub connection_idle: Option<Duration>,
    pub max_sessions: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_connections_per_peer: PeerCap,
    pub max_held_bytes: Option<usize>,
    pub max_session_bytes: Option<usize>,
    pub allowed_origins: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub bind_session_to: Option<String>,
    pub metrics: bool,
    pub grace: Duration,
    pub threads: Option<usize>,
    /// `redis://...`: share broadcasts and resource updates with the other nodes.
    pub bus: Option<String>,
    /// What this node's session ids start with, for a load balancer to route on.
    pub node_tag: Option<String>,
    /// Proxies whose PROXY protocol v2 header names the client.
    pub proxy_protocol_from: Vec<String>,
    /// HTTPS: the certificate chain and the private key, PEM files (both or neither).
    pub tls: Option<TlsFiles>,
    /// `--resource` and a verifier: the server is an OAuth 2.1 resource server.
    pub auth: Option<Auth>,
}

/// `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `--resource` with `--auth-issuer` or `--introspection`, validated.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The metadata document and challenges: the resource, its authorization server, scopes.
    pub resource: ResourceServer,
    pub verifier: AuthVerifier,
}

/// How tokens are verified.
#[derive(Debug, Clone)]
pub enum AuthVerifier {
    /// `--auth-issuer`: JWT access tokens, checked against the issuer's keys.
    Jwt(JwtVerifier),
    /// `--introspection`: every unseen token is asked about; `true` when no `--auth-issuer`
    /// names the authorization server for the metadata document.
    Introspection(Introspection, bool),
}

/// The authorization options as given, before they are checked together.
#[derive(Default)]
struct AuthOptions {
    resource: Option<String>,
    issuer: Option<String>,
    scopes: Vec<String>,
    introspection: Option<String>,
    client: Option<String>,
    secret_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    refetch_interval: Option<Duration>,
    clock_skew: Option<Duration>,
}

/// The most `--auth-clock-skew` takes: the verifiers' own ceiling.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// `--max-connections-per-peer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerCap {
    /// A quarter of the connection cap, whatever it ends up as.
    Quarter,
    /// No cap.
    Off,
    /// This many.
    At(usize),
}

pub const USAGE: &str = "\
Usage: mcpwire [serve] [OPTIONS]
       mcpwire call URL TOOL [ARGUMENTS] [--header NAME:VALUE] [OAuth options]
                                           (see mcpwire call --help)

Serves the demo and conformance-fixture MCP server over Streamable HTTP at /mcp
(and the 2024-11-05 HTTP+SSE transport at /sse and /messages).

Options:
  --bind ADDR              Address to listen on [default: 127.0.0.1:3000]
  --stdio                  Serve one client on stdin and stdout (the MCP stdio transport, as
                           desktop hosts launch local servers) instead of listening; nothing
                           but MCP messages is written to stdout, logs go to stderr
  --idle-timeout SECS      Close sessions idle this long [default: 600]
  --keepalive SECS         SSE keep-alive comment interval [default: 15]
  --write-timeout SECS     Cut connections whose output stalls this long [default: 30]
  --read-timeout SECS      Cut connections whose request takes longer to arrive [default: 30]
  --connection-idle SECS   Close keep-alive connections idle this long [default: 120]
  --heartbeat SECS         Ping clients with a GET stream this often; two missed pings
                           close the session [default: off]
  --max-sessions N         Live sessions at most [default: 10000]
  --max-connections N      Open connections at most; lowered to fit the descriptor limit,
                           which is raised to its hard limit at start [default: 4096]
  --max-connections-per-peer N|off
                           Open connections from one address (an IPv6 /64); past it 503
                           [default: a quarter of --max-connections]
  --proxy-protocol-from ADDR
                           A proxy (address, or network such as 10.0.0.0/8) whose
                           connections may begin with a PROXY protocol v2 header: its
                           client's address then counts for --max-connections-per-peer
                           (repeatable; HAProxy: send-proxy-v2) [default: none]
  --max-held-bytes SIZE    Every byte held for clients, in total: input, output, resume
                           logs, session state (SIZE: bytes, or with KiB, MiB, GiB)
                           [default: 512MiB]
  --max-session-bytes SIZE Bytes one session may hold [default: 16MiB]
  --allowed-origin ORIGIN  Accept this Origin too (repeatable; loopback is always accepted)
  --allowed-host HOST      Accept this Host header too: a name for any port, or name:port
                           (repeatable; loopback is always accepted). Needed to serve on
                           another address than loopback: other Hosts get 403
  --bind-session-to HEADER Bind each session to this request header's value at initialize,
                           such as authorization: another value gets 404 [default: off]
  --grace SECS             Shutdown grace period for calls in flight [default: 10]
  --threads N              Threads that run tool, resource and prompt handlers; the
                           sockets and the engine have a thread of their own
                           [default: the available parallelism]
  --metrics                Serve GET /metrics (Prometheus text format)
  --bus URL                Share broadcasts and resource updates with the other nodes
                           through Redis pub/sub: redis://[[user]:password@]host[:port]
                           [default: off]
  --node-tag TAG           Start every session id with TAG (letters, digits, '-', '_', '.';
                           at most 32), so that a load balancer can route a session to
                           this node [default: none]
  --tls-cert FILE          Serve HTTPS with this certificate chain (PEM: the server's
                           certificate first, then its intermediates); needs --tls-key.
                           The TLS handshake counts against --read-timeout [default: off]
  --tls-key FILE           The private key of --tls-cert (PEM: PKCS#8, RSA or EC)
  -h, --help               Print this help
  -V, --version            Print the version

OAuth 2.1 (every MCP request then needs a bearer token issued for --resource):
  --resource URL           The canonical URI of the MCP endpoint as clients reach it
                           (https://, or http:// on loopback): the tokens' audience, and
                           the base of the metadata document's URL
  --auth-issuer URL        The authorization server (its issuer URL), named in the
                           metadata; tokens are JWTs checked against its published keys
  --auth-scope SCOPE       A scope every request needs, also listed as supported
                           (repeatable)
  --introspection URL      Verify tokens by introspection (RFC 7662) at this endpoint
                           instead of as JWTs; needs the two options below
  --introspection-client ID
                           The client ID this server introspects as
  --introspection-secret-file FILE
                           The file holding that client's secret (client_secret_basic)
  --auth-ca-file FILE      Trust the CA certificates of this PEM file too, for the
                           requests to the authorization server [default: Mozilla's roots]
  --auth-refetch-interval SECONDS
                           How soon after fetching the issuer's keys a token with an
                           unknown key ID may fetch them again: after a key rotation,
                           tokens signed with the new key are refused for up to this
                           long [default: 60, at least 1]
  --auth-clock-skew SECONDS
                           How far the clocks of this server and the authorization
                           server may disagree: a token is refused once this long past
                           its expiry, and before its start [default: 60, at most 300]

Logs go to stderr; set RUST_LOG=debug for more.";

/// What to do.
pub enum Action {
    Serve(Box<Options>),
    Help,
    Version,
}

/// A positive number of seconds: for intervals, where zero means "continuously".
fn interval(value: &str, flag: &str) -> Result<Duration, String> {
    match seconds(value, flag)? {
        Duration::ZERO => Err(format!("{flag} must be at least 1 second")),
        positive => Ok(positive),
    }
}

/// A count.
fn count(value: &str, flag: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes a count, not {value:?}"))
}

/// A size in bytes: digits, optionally followed by KiB, MiB or GiB.
fn size(value: &str, flag: &str) -> Result<usize, String> {
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => value.split_at(at),
        None => (value, ""),
    };
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" | "K" => 10,
        "MiB" | "M" => 20,
        "GiB" | "G" => 30,
        _ => return Err(format!("{flag} takes a size such as 512MiB, not {value:?}")),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{flag} takes a size such as 512MiB, not {value:?}"))
}

fn seconds(value: &str, flag: &str) -> Result<Duration, String> {
    value
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{flag} takes whole seconds, not {value:?}"))
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Action, String> {
    use lexopt::prelude::*;

    let mut options = Options {
        bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
        stdio: false,
        idle_timeout: None,
        keepalive: None,
        write_timeout: None,
        read_timeout: None,
        heartbeat: None,
        connection_idle: None,
        max_sessions: None,
        max_connections: None,
        max_connections_per_peer: PeerCap::Quarter,
        max_held_bytes: None,
        max_session_bytes: None,
        bind_session_to: None,
        allowed_origins: Vec::new(),
        allowed_hosts: Vec::new(),
        metrics: false,
        grace: Duration::from_secs(10),
        threads: None,
        bus: None,
        node_tag: None,
        proxy_protocol_from: Vec::new(),
        tls: None,
        auth: None,
    };
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut auth = AuthOptions::default();
    let mut parser = lexopt::Parser::from_args(args);
    let mut command_seen = false;
    let text = |parser: &mut lexopt::Parser| -> Result<String, String> {
        parser
            .value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|v| format!("not UTF-8: {v:?}"))
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Value(command) if !command_seen && command == "serve" => command_seen = true,
            Long("bind") => {
                let value = text(&mut parser)?;
                options.bind = value.parse().map_err(|_| {
                    format!("--bind takes an address such as 127.0.0.1:3000, not {value:?}")
                })?;
            }
            Long("idle-timeout") => {
                options.idle_timeout = Some(seconds(&text(&mut parser)?, "--idle-timeout")?);
            }
            Long("keepalive") => {
                options.keepalive = Some(interval(&text(&mut parser)?, "--keepalive")?);
            }
            Long("write-timeout") => {
                options.write_timeout = Some(seconds(&text(&mut parser)?, "--write-timeout")?);
            }
            Long("read-timeout") => {
                options.read_timeout = Some(seconds(&text(&mut parser)?, "--read-timeout")?);
            }
            Long("heartbeat") => {
                options.heartbeat = Some(interval(&text(&mut parser)?, "--heartbeat")?);
            }
            Long("connection-idle") => {
                options.connection_idle = Some(seconds(&text(&mut parser)?, "--connection-idle")?);
            }
            Long("grace") => options.grace = seconds(&text(&mut parser)?, "--grace")?,
            Long("max-sessions") => {
                let value = text(&mut parser)?;
                options.max_sessions = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--max-sessions takes a count, not {value:?}"))?,
                );
            }
            Long("threads") => {
                let threads = count(&text(&mut parser)?, "--threads")?;
                if threads == 0 {
                    return Err("--threads takes at least 1".into());
                }
                options.threads = Some(threads);
            }
            Long("max-connections") => {
                options.max_connections = Some(count(&text(&mut parser)?, "--max-connections")?);
            }
            Long("max-connections-per-peer") => {
                let value = text(&mut parser)?;
                options.max_connections_per_peer = if value == "off" {
                    PeerCap::Off
                } else {
                    PeerCap::At(count(&value, "--max-connections-per-peer")?)
                };
            }
            Long("proxy-protocol-from") => {
                let value = text(&mut parser)?;
                if mcpwire_smol::proxy_protocol::Network::parse(&value).is_none() {
                    return Err(format!(
                        "--proxy-protocol-from takes an address or a network such as \
                         10.0.0.0/8, not {value:?}"
                    ));
                }
                options.proxy_protocol_from.push(value);
            }
            Long("max-held-bytes") => {
                options.max_held_bytes = Some(size(&text(&mut parser)?, "--max-held-bytes")?);
            }
            Long("max-session-bytes") => {
                let flag = "--max-session-bytes";
                options.max_session_bytes = Some(size(&text(&mut parser)?, flag)?);
            }
            Long("allowed-origin") => options.allowed_origins.push(text(&mut parser)?),
            Long("allowed-host") => options.allowed_hosts.push(text(&mut parser)?),
            Long("bind-session-to") => {
                options.bind_session_to = Some(text(&mut parser)?.to_ascii_lowercase());
            }
            Long("metrics") => options.metrics = true,
            Long("stdio") => options.stdio = true,
            Long("bus") => {
                let url = text(&mut parser)?;
                mcpwire_redis::RedisBus::new(&url).map_err(|e| format!("--bus: {e}"))?;
                options.bus = Some(url);
            }
            Long("node-tag") => {
                let tag = text(&mut parser)?;
                if !mcpwire_smol::valid_session_id_prefix(&tag) {
                    return Err(format!(
                        "--node-tag takes up to {} letters, digits, '-', '_' or '.', not {tag:?}",
                        mcpwire_smol::MAX_SESSION_ID_PREFIX
                    ));
                }
                options.node_tag = Some(tag);
            }
            Long("tls-cert") => {
                tls_cert = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            Long("tls-key") => {
                tls_key = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            Long("resource") => once(&mut auth.resource, text(&mut parser)?, "--resource")?,
            Long("auth-issuer") => once(&mut auth.issuer, text(&mut parser)?, "--auth-issuer")?,
            Long("auth-scope") => {
                let scope = text(&mut parser)?;
                if !mcpwire_smol::auth::is_scope_token(&scope) {
                    return Err(format!(
                        "--auth-scope takes a scope token (visible ASCII, no space, no '\"' or \
                         '\\'), not {scope:?}"
                    ));
                }
                auth.scopes.push(scope);
            }
            Long("introspection") => {
                once(
                    &mut auth.introspection,
                    text(&mut parser)?,
                    "--introspection",
                )?;
            }
            Long("introspection-client") => {
                once(
                    &mut auth.client,
                    text(&mut parser)?,
                    "--introspection-client",
                )?;
            }
            Long("introspection-secret-file") => {
                let flag = "--introspection-secret-file";
                once(&mut auth.secret_file, text(&mut parser)?.into(), flag)?;
            }
            Long("auth-ca-file") => {
                once(
                    &mut auth.ca_file,
                    text(&mut parser)?.into(),
                    "--auth-ca-file",
                )?;
            }
            Long("auth-refetch-interval") => {
                let flag = "--auth-refetch-interval";
                let interval = seconds(&text(&mut parser)?, flag)?;
                if interval.is_zero() {
                    return Err(format!("{flag} takes at least 1 second"));
                }
                once(&mut auth.refetch_interval, interval, flag)?;
            }
            Long("auth-clock-skew") => {
                let flag = "--auth-clock-skew";
                let skew = seconds(&text(&mut parser)?, flag)?;
                // The verifiers tolerate no more (a token expired five minutes ago is
                // expired): a larger value is refused, not quietly lowered.
                if skew > MAX_CLOCK_SKEW {
                    return Err(format!(
                        "{flag} takes at most {} seconds",
                        MAX_CLOCK_SKEW.as_secs()
                    ));
                }
                once(&mut auth.clock_skew, skew, flag)?;
            }
            Short('h') | Long("help") => return Ok(Action::Help),
            Short('V') | Long("version") => return Ok(Action::Version),
            other => return Err(other.unexpected().to_string()),
        }
    }
    options.tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            return Err("--tls-cert needs --tls-key (the certificate's private key)".into());
        }
        (None, Some(_)) => return Err("--tls-key needs --tls-cert (the certificate chain)".into()),
    };
    if options.tls.is_some() && !options.proxy_protocol_from.is_empty() {
        return Err(
            "--tls-cert and --proxy-protocol-from cannot be combined: the proxy's header \
             would come before the TLS handshake"
                .into(),
        );
    }
    options.auth = authorization(auth)?;
    if options.stdio && (options.tls.is_some() || options.auth.is_some()) {
        // A pipe from the process that launched this one has no TLS and no bearer tokens.
        return Err("--stdio takes no --tls-cert/--tls-key or --resource".into());
    }
    Ok(Action::Serve(Box::new(options)))
}

/// Sets an option that may be given once.
fn once<T>(slot: &mut Option<T>, value: T, flag: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} may be given once"));
    }
    *slot = Some(value);
    Ok(())
}

/// A verifier's configuration error, named by the option it comes from: the CA file's, or
/// else `flag`'s.
fn configuration(error: mcpwire_smol::auth::ConfigError, flag: &str) -> String {
    let message = error.to_string();
    if message.starts_with("the CA file") {
        format!("--auth-ca-file: {message}")
    } else {
        format!("{flag}: {message}")
    }
}

/// Checks the authorization options together, and builds what they describe (nothing is
/// fetched yet).
fn authorization(auth: AuthOptions) -> Result<Option<Auth>, String> {
    let Some(resource) = &auth.resource else {
        let given = [
            (auth.issuer.is_some(), "--auth-issuer"),
            (!auth.scopes.is_empty(), "--auth-scope"),
            (auth.introspection.is_some(), "--introspection"),
            (auth.client.is_some(), "--introspection-client"),
            (auth.secret_file.is_some(), "--introspection-secret-file"),
            (auth.ca_file.is_some(), "--auth-ca-file"),
            (auth.refetch_interval.is_some(), "--auth-refetch-interval"),
            (auth.clock_skew.is_some(), "--auth-clock-skew"),
        ];
        return match given.iter().find(|(given, _)| *given) {
            Some((_, flag)) => Err(format!(
                "{flag} needs --resource URL (the canonical URI of the MCP endpoint)"
            )),
            None => Ok(None),
        };
    };
    if auth.issuer.is_none() && auth.introspection.is_none() {
        return Err(
            "--resource needs a verifier: --auth-issuer URL (JWT access tokens) or \
             --introspection URL (token introspection)"
                .into(),
        );
    }
    let mut server = ResourceServer::new(resource).map_err(|e| format!("--resource: {e}"))?;
    if let Some(issuer) = &auth.issuer {
        server = server
            .authorization_server(issuer)
            .map_err(|e| format!("--auth-issuer: {e}"))?;
    }
    server = server.scopes_supported(auth.scopes.iter().cloned());
    for scope in &auth.scopes {
        server = server.require_scope(scope);
    }
    let verifier = match &auth.introspection {
        None => {
            if auth.client.is_some() || auth.secret_file.is_some() {
                return Err(
                    "--introspection-client and --introspection-secret-file need --introspection URL"
                        .into(),
                );
            }
            // Checked above: a verifier option is there.
            let issuer = auth.issuer.as_deref().unwrap_or_default();
            let mut builder = JwtVerifier::builder(issuer, server.resource());
            if let Some(ca) = &auth.ca_file {
                builder = builder.ca_file(ca);
            }
            if let Some(interval) = auth.refetch_interval {
                builder = builder.refetch_interval(interval);
            }
            if let Some(skew) = auth.clock_skew {
                builder = builder.clock_skew(skew);
            }
            AuthVerifier::Jwt(
                builder
                    .build()
                    .map_err(|e| configuration(e, "--auth-issuer"))?,
            )
        }
        Some(endpoint) => {
            if auth.refetch_interval.is_some() {
                return Err("--auth-refetch-interval is for JWT access tokens, and \
                     --introspection verifies none"
                    .into());
            }
            let (Some(client), Some(file)) = (&auth.client, &auth.secret_file) else {
                return Err("--introspection needs --introspection-client ID and \
                     --introspection-secret-file FILE"
                    .into());
            };
            let secret = std::fs::read_to_string(file).map_err(|e| {
                format!(
                    "--introspection-secret-file: cannot read {}: {e}",
                    file.display()
                )
            })?;
            // The file's line ending is not part of the secret.
            let secret = secret.trim_end_matches(['\n', '\r']);
            if secret.is_empty() {
                return Err(format!(
                    "--introspection-secret-file: {} is empty",
                    file.display()
                ));
            }
            let mut builder = Introspection::builder(endpoint, server.resource())
                .client_secret_basic(client, secret);
            if let Some(issuer) = &auth.issuer {
                builder = builder.issuer(issuer);
            }
            if let Some(ca) = &auth.ca_file {
                builder = builder.ca_file(ca);
            }
            if let Some(skew) = auth.clock_skew {
                builder = builder.clock_skew(skew);
            }
            let verifier = builder
                .build()
                .map_err(|e| configuration(e, "--introspection"))?;
            AuthVerifier::Introspection(verifier, auth.issuer.is_none())
        }
    };
    Ok(Some(Auth {
        resource: server,
        verifier,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    #[test]
    fn defaults_without_arguments() {
        let Ok(Action::Serve(options)) = parse(args(&[])) else {
            panic!("serve by default");
        };
        assert_eq!(options.bind.to_string(), "127.0.0.1:3000");
        assert!(!options.stdio);
        assert!(!options.metrics);
    }

    #[test]
    fn every_option_parses() {
        let Ok(Action::Serve(o)) = parse(args(&[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--idle-timeout",
            "5",
            "--keepalive=2",
            "--write-timeout",
            "3",
            "--read-timeout",
            "4",
            "--heartbeat",
            "9",
            "--connection-idle",
            "8",
            "--max-sessions",
            "7",
            "--max-connections",
            "100",
            "--max-connections-per-peer",
            "4",
            "--max-held-bytes",
            "256MiB",
            "--max-session-bytes=512KiB",
            "--allowed-origin",
            "https://a.example",
            "--allowed-origin",
            "https://b.example",
            "--allowed-host",
            "mcp.example:8443",
            "--bind-session-to",
            "Authorization",
            "--metrics",
            "--threads",
            "3",
            "--bus",
            "redis://127.0.0.1:6379",
            "--node-tag",
            "a-",
        ])) else {
            panic!("parses");
        };
        assert_eq!(o.bind.port(), 0);
        assert_eq!(o.idle_timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.keepalive, Some(Duration::from_secs(2)));
        assert_eq!(o.write_timeout, Some(Duration::from_secs(3)));
        assert_eq!(o.read_timeout, Some(Duration::from_secs(4)));
        assert_eq!(o.heartbeat, Some(Duration::from_secs(9)));
        assert_eq!(o.connection_idle, Some(Duration::from_secs(8)));
        assert_eq!(o.max_sessions, Some(7));
        assert_eq!(o.max_connections, Some(100));
        assert_eq!(o.max_connections_per_peer, PeerCap::At(4));
        assert_eq!(o.max_held_bytes, Some(256 << 20));
        assert_eq!(o.max_session_bytes, Some(512 << 10));
        assert_eq!(o.allowed_origins.len(), 2);
        assert_eq!(o.allowed_hosts, ["mcp.example:8443"]);
        assert_eq!(o.bind_session_to.as_deref(), Some("authorization"));
        assert!(o.metrics);
        assert_eq!(o.threads, Some(3));
        assert_eq!(o.bus.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(o.node_tag.as_deref(), Some("a-"));
    }

    #[test]
    fn the_per_peer_cap_and_trusted_proxies() {
        let Ok(Action::Serve(o)) = parse(args(&[
            "--max-connections-per-peer",
            "off",
            "--proxy-protocol-from",
            "10.0.0.0/8",
            "--proxy-protocol-from",
            "2001:db8::7",
        ])) else {
            panic!("parses");
        };
        assert_eq!(o.max_connections_per_peer, PeerCap::Off);
        assert_eq!(o.proxy_protocol_from, ["10.0.0.0/8", "2001:db8::7"]);
        for bad in ["10.0.0.0/33", "proxy.example", ""] {
            let Err(e) = parse(args(&["--proxy-protocol-from", bad])) else {
                panic!("{bad:?} refused");
            };
            assert!(e.contains("--proxy-protocol-from"), "{e}");
        }
        let Err(e) = parse(args(&["--max-connections-per-peer", "none"])) else {
            panic!("refused");
        };
        assert!(e.contains("--max-connections-per-peer"), "{e}");
    }

    #[test]
    fn a_bad_bus_url_or_node_tag_is_refused() {
        for (flag, value, reason) in [
            ("--bus", "http://127.0.0.1:6379", "not a Redis URL"),
            ("--node-tag", "a b", "--node-tag takes"),
            ("--node-tag", &"a".repeat(33), "--node-tag takes"),
        ] {
            let Err(e) = parse(args(&[flag, value])) else {
                panic!("{flag} {value} refused");
            };
            assert!(e.contains(reason), "{e}");
        }
        let at_limit = "a".repeat(32);
        assert!(parse(args(&["--node-tag", &at_limit])).is_ok());
    }

    #[test]
    fn tls_takes_a_certificate_and_its_key_together() {
        let Ok(Action::Serve(o)) = parse(args(&["--tls-cert", "c.pem", "--tls-key=k.pem"])) else {
            panic!("parses");
        };
        assert_eq!(
            o.tls,
            Some(TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        let Ok(Action::Serve(o)) = parse(args(&[])) else {
            panic!("parses");
        };
        assert_eq!(o.tls, None);
        for (list, reason) in [
            (&["--tls-cert", "c.pem"][..], "--tls-cert needs --tls-key"),
            (&["--tls-key", "k.pem"][..], "--tls-key needs --tls-cert"),
            (&["--tls-cert"][..], "--tls-cert"),
            (
                &[
                    "--tls-cert",
                    "c.pem",
                    "--tls-key",
                    "k.pem",
                    "--proxy-protocol-from",
                    "10.0.0.1",
                ][..],
                "cannot be combined",
            ),
        ] {
            let Err(e) = parse(args(list)) else {
                panic!("{list:?} refused");
            };
            assert!(e.contains(reason), "{list:?}: {e}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let Err(e) = parse(args(&["--idle-timeout", "soon"])) else {
            panic!("refused");
        };
        assert!(e.contains("--idle-timeout"), "{e}");
        assert!(parse(args(&["--bogus"])).is_err());
        assert!(parse(args(&["--keepalive", "0"])).is_err());
        assert!(parse(args(&["--heartbeat", "0"])).is_err());
        assert!(parse(args(&["--bind", "nowhere"])).is_err());
        for bad in ["", "0", "12XB", "MiB", "99999999999GiB"] {
            assert!(size(bad, "--max-held-bytes").is_err(), "{bad:?}");
        }
        assert_eq!(size("1GiB", "f"), Ok(1 << 30));
        assert_eq!(size("4096", "f"), Ok(4096));
    }

    fn refused(list: &[&str]) -> String {
        match parse(args(list)) {
            Err(e) => e,
            Ok(_) => panic!("{list:?} refused"),
        }
    }

    fn auth(list: &[&str]) -> Auth {
        match parse(args(list)) {
            Ok(Action::Serve(o)) => o.auth.expect("protected"),
            Ok(_) => panic!("serve"),
            Err(e) => panic!("{list:?}: {e}"),
        }
    }

    /// A file in a directory of this test's own, removed with it.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> TempFile {
            let dir =
                std::env::temp_dir().join(format!("mcpwire-cli-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
        }
    }

    const RESOURCE: &str = "http://127.0.0.1:3000/mcp";
    const ISSUER: &str = "http://127.0.0.1:4000";

    #[test]
    fn no_auth_options_no_protection() {
        let Ok(Action::Serve(o)) = parse(args(&[])) else {
            panic!("parses");
        };
        assert!(o.auth.is_none());
    }

    #[test]
    fn a_resource_with_an_issuer_verifies_jwts() {
        let a = auth(&[
            "--resource",
            RESOURCE,
            "--auth-issuer",
            ISSUER,
            "--auth-scope",
            "mcp:tools",
            "--auth-scope=mcp:read",
        ]);
        assert_eq!(a.resource.resource(), RESOURCE);
        assert_eq!(
            a.resource.metadata_url(),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp"
        );
        let AuthVerifier::Jwt(verifier) = a.verifier else {
            panic!("JWT");
        };
        assert_eq!(verifier.stats().tasks, 0, "parsing fetches nothing");
    }

    #[test]
    fn introspection_takes_a_client_and_a_secret_file() {
        let secret = TempFile::new("secret", "s3cret\n");
        let a = auth(&[
            "--resource",
            RESOURCE,
            "--auth-issuer",
            ISSUER,
            "--introspection",
            "http://127.0.0.1:4000/token/introspection",
            "--introspection-client",
            "mcp-server",
            "--introspection-secret-file",
            secret.path(),
        ]);
        assert!(matches!(a.verifier, AuthVerifier::Introspection(_, false)));
        // Without an issuer: allowed, but the metadata names no authorization server.
        let a = auth(&[
            "--resource",
            RESOURCE,
            "--introspection",
            "http://127.0.0.1:4000/introspect",
            "--introspection-client",
            "c",
            "--introspection-secret-file",
            secret.path(),
        ]);
        assert!(matches!(a.verifier, AuthVerifier::Introspection(_, true)));
    }

    #[test]
    fn a_resource_needs_a_verifier_and_a_verifier_needs_a_resource() {
        let e = refused(&["--resource", RESOURCE]);
        assert!(e.contains("--resource needs a verifier"), "{e}");
        let secret = TempFile::new("lonely", "s");
        for (flag, value) in [
            ("--auth-issuer", ISSUER),
            ("--auth-scope", "mcp"),
            ("--introspection", "http://127.0.0.1:4000/introspect"),
            ("--introspection-client", "c"),
            ("--introspection-secret-file", secret.path()),
            ("--auth-ca-file", secret.path()),
        ] {
            let e = refused(&[flag, value]);
            assert!(e.starts_with(flag) && e.contains("needs --resource"), "{e}");
        }
    }

    #[test]
    fn bad_urls_and_scopes_are_named() {
        for (list, named) in [
            (
                &[
                    "--resource",
                    "http://mcp.example/mcp",
                    "--auth-issuer",
                    ISSUER,
                ][..],
                "--resource",
            ),
            (
                &[
                    "--resource",
                    "https://mcp.example/mcp?x",
                    "--auth-issuer",
                    ISSUER,
                ],
                "--resource",
            ),
            (
                &["--resource", "mcp", "--auth-issuer", ISSUER],
                "--resource",
            ),
            (
                &["--resource", RESOURCE, "--auth-issuer", "http://as.example"],
                "--auth-issuer",
            ),
            (
                &["--resource", RESOURCE, "--auth-issuer", "as.example"],
                "--auth-issuer",
            ),
            (
                &[
                    "--resource",
                    RESOURCE,
                    "--auth-issuer",
                    ISSUER,
                    "--auth-scope",
                    "a b",
                ],
                "--auth-scope",
            ),
            (
                &[
                    "--resource",
                    RESOURCE,
                    "--auth-issuer",
                    ISSUER,
                    "--auth-scope",
                    "",
                ],
                "--auth-scope",
            ),
            (
                &[
                    "--resource",
                    RESOURCE,
                    "--auth-issuer",
                    ISSUER,
                    "--auth-scope",
                    "a\"b",
                ],
                "--auth-scope",
            ),
            (
                &["--resource", RESOURCE, "--resource", RESOURCE],
                "--resource may be given once",
            ),
            (
                &["--auth-issuer", ISSUER, "--auth-issuer", ISSUER],
                "--auth-issuer may be given once",
            ),
        ] {
            let e = refused(list);
            assert!(e.contains(named), "{list:?}: {e}");
        }
    }

    #[test]
    fn introspection_options_are_checked_together() {
        let secret = TempFile::new("together", "s3cret");
        let endpoint = "http://127.0.0.1:4000/introspect";
        let base = ["--resource", RESOURCE, "--auth-issuer", ISSUER];
        let with = |more: &[&str]| {
            let mut list = base.to_vec();
            list.extend_from_slice(more);
            refused(&list)
        };
        let e = with(&["--introspection", endpoint]);
        assert!(
            e.contains("--introspection needs --introspection-client"),
            "{e}"
        );
        let e = with(&["--introspection", endpoint, "--introspection-client", "c"]);
        assert!(e.contains("--introspection-secret-file"), "{e}");
        let e = with(&[
            "--introspection-client",
            "c",
            "--introspection-secret-file",
            secret.path(),
        ]);
        assert!(e.contains("need --introspection URL"), "{e}");
        let e = with(&[
            "--introspection",
            "http://as.example/introspect",
            "--introspection-client",
            "c",
            "--introspection-secret-file",
            secret.path(),
        ]);
        assert!(
            e.starts_with("--introspection:") && e.contains("loopback"),
            "{e}"
        );
        let empty = TempFile::new("empty", "\n");
        for (file, why) in [
            (empty.path(), "is empty"),
            ("/nonexistent/secret", "cannot read"),
        ] {
            let e = with(&[
                "--introspection",
                endpoint,
                "--introspection-client",
                "c",
                "--introspection-secret-file",
                file,
            ]);
            assert!(
                e.starts_with("--introspection-secret-file") && e.contains(why),
                "{e}"
            );
        }
    }

    #[test]
    fn the_key_refetch_interval_is_whole_seconds_for_jwts_only() {
        let jwt = ["--resource", RESOURCE, "--auth-issuer", ISSUER];
        for ok in ["1", "300"] {
            let mut args = jwt.to_vec();
            args.extend(["--auth-refetch-interval", ok]);
            assert!(parse(args.iter().map(Into::into)).is_ok(), "{ok}");
        }
        for (bad, says) in [("0", "at least 1"), ("soon", "whole seconds")] {
            let mut args = jwt.to_vec();
            args.extend(["--auth-refetch-interval", bad]);
            let e = refused(&args);
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = refused(&["--auth-refetch-interval", "5"]);
        assert!(e.contains("needs --resource"), "{e}");
    }

    #[test]
    fn the_clock_skew_is_whole_seconds_up_to_five_minutes() {
        let jwt = ["--resource", RESOURCE, "--auth-issuer", ISSUER];
        for ok in ["0", "300"] {
            let mut args = jwt.to_vec();
            args.extend(["--auth-clock-skew", ok]);
            assert!(parse(args.iter().map(Into::into)).is_ok(), "{ok}");
        }
        for (bad, says) in [("301", "at most 300"), ("-1", "whole seconds")] {
            let mut args = jwt.to_vec();
            args.extend(["--auth-clock-skew", bad]);
            let e = refused(&args);
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = refused(&["--auth-clock-skew", "5"]);
        assert!(e.contains("needs --resource"), "{e}");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let junk = TempFile::new("ca.pem", "not a certificate\n");
        for file in [junk.path(), "/nonexistent/ca.pem"] {
            let e = refused(&[
                "--resource",
                RESOURCE,
                "--auth-issuer",
                ISSUER,
                "--auth-ca-file",
                file,
            ]);
            assert!(e.starts_with("--auth-ca-file: "), "{e}");
        }
    }

    #[test]
    fn stdio_is_a_flag_without_tls_or_a_resource() {
        let Ok(Action::Serve(o)) = parse(args(&["serve", "--stdio"])) else {
            panic!("serve");
        };
        assert!(o.stdio);
        assert!(
            parse(args(&[
                "--stdio",
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem"
            ]))
            .is_err()
        );
    }
}
