//! The `mcpwire` server: the demo tools and every fixture of the MCP conformance suite, over
//! Streamable HTTP and the legacy HTTP+SSE transport.
//!
//! `cargo run --release` starts it on 127.0.0.1:3000; `mcpwire serve --stdio` serves one client
//! on stdin and stdout instead, as desktop hosts launch local servers; `mcpwire --help` lists the
//! options.
//! `mcpwire call URL TOOL [JSON]` calls one tool of any MCP server, through mcpwire's client.

mod call;
mod cli;
mod descriptors;
mod fixtures;
mod scripted;

use std::process::ExitCode;

use mcpwire_smol::Server;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The level `RUST_LOG` names (`off`, `error`, `warn`, `info`, `debug`, `trace`; `info` when
/// unset), or why it names none.
fn log_level() -> Result<LevelFilter, String> {
    match std::env::var("RUST_LOG") {
        Err(_) => Ok(LevelFilter::INFO),
        Ok(value) => value.trim().parse().map_err(|_| {
            format!(
                "RUST_LOG={value:?} is not a level: this server takes one of off, error, warn, \
                 info, debug, trace"
            )
        }),
    }
}

/// `println!` that ignores a closed stdout (`mcpwire --help | head -1`, a supervisor that
/// stopped reading the banner): printing never panics, and never stops the server.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    if args.peek().is_some_and(|first| first == "call") {
        return call::main(args.skip(1));
    }
    let options = match cli::parse(args) {
        Ok(cli::Action::Serve(options)) => *options,
        Ok(cli::Action::Help) => {
            say!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Action::Version) => {
            say!("mcpwire {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mcpwire: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let level = match log_level() {
        Ok(level) => level,
        Err(message) => {
            eprintln!("mcpwire: {message}");
            return ExitCode::from(2);
        }
    };
    // The level applies to mcpwire's own lines; the crates below it (the reactor, the
    // executor) log only warnings, or their debug lines would bury the request log.
    let targets = Targets::new()
        .with_target("mcpwire", level)
        .with_target("mcpwire_smol", level)
        .with_target("mcpwire_redis", level)
        .with_default(level.min(LevelFilter::WARN));
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .finish()
        .with(targets)
        .init();

    let descriptors = descriptors::raise_limit();
    let default_connections = mcpwire_smol::Config::new("", "").limits.max_connections;
    let wanted = options.max_connections.unwrap_or(default_connections);
    let max_connections = match descriptors {
        Some((before, now)) => {
            let fits = descriptors::connections_that_fit(now);
            if before != now {
                tracing::info!(from = before, to = now, "raised the open-file limit");
            }
            if fits < wanted {
                tracing::warn!(
                    descriptors = now,
                    wanted,
                    cap = fits,
                    "the connection cap is lowered to fit the open-file limit"
                );
            } else {
                tracing::info!(descriptors = now, cap = wanted, "connection cap");
            }
            wanted.min(fits)
        }
        None => wanted,
    };
    let mut server = Server::new(fixtures::app());
    if let Some(threads) = options.threads {
        server = server.threads(threads);
    }
    let server = server
        .metrics(options.metrics)
        .shutdown_grace(options.grace)
        .configure(|config| {
            let secs =
                |d: std::time::Duration| mcpwire_smol::time::Duration::from_secs(d.as_secs());
            // For load balancers and orchestrators; needs no token, host or origin.
            config.health_path = Some("/healthz".into());
            if let Some(idle) = options.idle_timeout {
                config.timeouts.session_idle = secs(idle);
            }
            if let Some(keepalive) = options.keepalive {
                config.timeouts.keepalive_interval = secs(keepalive);
            }
            if let Some(write) = options.write_timeout {
                config.timeouts.write = secs(write);
            }
            if let Some(read) = options.read_timeout {
                config.timeouts.request_read = secs(read);
            }
            if let Some(idle) = options.connection_idle {
                config.timeouts.connection_idle = secs(idle);
            }
            if let Some(interval) = options.heartbeat {
                config.timeouts.heartbeat = Some(mcpwire_smol::Heartbeat {
                    interval: secs(interval),
                    timeout: secs(interval),
                    max_failures: 2,
                });
            }
            if let Some(max) = options.max_sessions {
                config.limits.max_sessions = max;
            }
            config.limits.max_connections = max_connections;
            config.limits.max_connections_per_peer = match options.max_connections_per_peer {
                cli::PeerCap::Quarter => Some((max_connections / 4).max(1)),
                cli::PeerCap::Off => None,
                cli::PeerCap::At(cap) => Some(cap),
            };
            config
                .proxy_protocol_from
                .extend(options.proxy_protocol_from.iter().cloned());
            if let Some(max) = options.max_held_bytes {
                config.limits.max_held_bytes = max;
            }
            if let Some(max) = options.max_session_bytes {
                config.limits.max_session_bytes = max;
            }
            config
                .allowed_origins
                .extend(options.allowed_origins.iter().cloned());
            config
                .allowed_hosts
                .extend(options.allowed_hosts.iter().cloned());
            config.session_binding = options.bind_session_to.clone();
            if let Some(tag) = &options.node_tag {
                config.session_id_prefix = tag.clone();
            }
        });
    // Read now, so that a file that is missing or wrong stops the start with its name.
    let server = match &options.tls {
        Some(files) => {
            match mcpwire_smol::tls::TlsConfig::from_pem_files(&files.cert, &files.key) {
                Ok(tls) => server.tls(tls),
                Err(e) => {
                    eprintln!("mcpwire: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => server,
    };
    let server = match &options.bus {
        // Validated when the options were parsed.
        Some(url) => match mcpwire_redis::RedisBus::new(url) {
            Ok(bus) => server.bus(bus),
            Err(e) => {
                eprintln!("mcpwire: --bus: {e}");
                return ExitCode::from(2);
            }
        },
        None => server,
    };

    let server = match options.auth.clone() {
        None => server,
        Some(auth) => {
            tracing::info!(
                resource = auth.resource.resource(),
                metadata = %auth.resource.metadata_url(),
                "protected: every MCP request needs a bearer token"
            );
            match auth.verifier {
                cli::AuthVerifier::Jwt(verifier) => server.protect(auth.resource, verifier),
                cli::AuthVerifier::Introspection(verifier, no_issuer) => {
                    if no_issuer {
                        tracing::warn!(
                            "no --auth-issuer: the metadata document names no authorization \
                             server, so clients cannot find where to get a token"
                        );
                    }
                    server.protect(auth.resource, verifier)
                }
            }
        }
    };

    if !options.stdio && !options.bind.ip().is_loopback() && options.allowed_hosts.is_empty() {
        tracing::warn!(
            bind = %options.bind,
            "serving beyond loopback, but only loopback Host headers are accepted: \
             pass --allowed-host with the name clients use"
        );
    }
    let metrics = options.metrics;
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    // Announced only once serve() handles signals: a supervisor that signals as soon as it
    // reads the URL must get a graceful shutdown, not the default action.
    let server = server.on_serving(move |address| {
        say!(
            "mcpwire {} listening on {scheme}://{address}/mcp",
            env!("CARGO_PKG_VERSION")
        );
        say!("  legacy HTTP+SSE: {scheme}://{address}/sse");
        if metrics {
            say!("  metrics:         {scheme}://{address}/metrics");
        }
        say!(
            "  MCP Inspector:   npx @modelcontextprotocol/inspector, then transport \
             \"Streamable HTTP\" and URL {scheme}://{address}/mcp"
        );
        say!("  Ctrl-C shuts down gracefully; a second Ctrl-C exits at once.");
    });
    let bind = options.bind;
    let result = smol::block_on(async {
        if options.stdio {
            // stdout carries MCP messages only: no banner.
            return server.serve_stdio().await;
        }
        let listener = smol::net::TcpListener::bind(bind).await.map_err(|error| {
            std::io::Error::new(error.kind(), format!("cannot listen on {bind}: {error}"))
        })?;
        server.serve(listener).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcpwire: {error}");
            if error.kind() == std::io::ErrorKind::Interrupted {
                // What a shell reports for a process that SIGINT ended: 128 + 2.
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
