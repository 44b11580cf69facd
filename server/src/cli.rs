//! The command line: `mcpwire serve [options]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What `mcpwire serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub bind: SocketAddr,
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
}

/// `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

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
       mcpwire call URL TOOL [ARGUMENTS]   (see mcpwire call --help)

Serves the demo and conformance-fixture MCP server over Streamable HTTP at /mcp
(and the 2024-11-05 HTTP+SSE transport at /sse and /messages).

Options:
  --bind ADDR              Address to listen on [default: 127.0.0.1:3000]
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
    };
    let mut tls_cert = None;
    let mut tls_key = None;
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
    Ok(Action::Serve(Box::new(options)))
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
}
