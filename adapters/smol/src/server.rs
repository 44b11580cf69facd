//! [`Server`]: an application, an engine configuration, and `serve`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mcpwire_core::engine::{Config, Engine, Reporting};
use smol::Executor;
use smol::net::TcpListener;

use crate::bus::Bus;
use crate::driver::{Driver, METRICS_PATH, Stop};
use crate::input::{INPUT_CAPACITY, Input};
use crate::tasks::TaskCounter;
use crate::workers::Workers;
use crate::{App, ServerHandle};

/// The target of the driver's log lines, the request log among them.
const DRIVER: &str = "mcpwire_smol::driver";

/// An MCP server: an [`App`] served over Streamable HTTP (and the legacy HTTP+SSE transport)
/// on a TCP listener.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mcpwire_smol::{App, Server};
///
/// smol::block_on(async {
///     let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
///     let server = Server::new(App::builder("demo", "1.0.0").build())
///         .configure(|config| config.timeouts.session_idle = mcpwire_smol::time::Duration::from_secs(60))
///         .on_serving(|address| println!("serving on http://{address}/mcp"));
///     let handle = server.handle();
///     // Shut down at once, so that this example ends; a real server runs until a signal.
///     handle.shutdown(Duration::ZERO).await.map_err(std::io::Error::other)?;
///     server.serve(listener).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    app: Arc<App>,
    config: Config,
    metrics: bool,
    grace: mcpwire_core::time::Duration,
    signals: bool,
    threads: usize,
    input: (async_channel::Sender<Input>, async_channel::Receiver<Input>),
    tasks: TaskCounter,
    on_serving: Option<OnServing>,
    bus: Option<Box<dyn Bus>>,
    verifier: Option<Arc<dyn crate::auth::Verifier>>,
    tls: Option<crate::tls::TlsConfig>,
}

/// What [`Server::on_serving`] is given.
type OnServing = Box<dyn FnOnce(SocketAddr) + Send>;

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("app", &self.app)
            .field("config", &self.config)
            .field("metrics", &self.metrics)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for `app`, with the engine's defaults: endpoint `/mcp`, legacy HTTP+SSE at
    /// `/sse` and `/messages`, loopback `Host` and `Origin` only, a 10 minute session idle
    /// timeout, a 10 second shutdown grace period, SIGINT and SIGTERM handled.
    #[must_use]
    pub fn new(app: App) -> Server {
        let mut config = Config::new(app.name(), app.version());
        config.server_title = app.title().map(str::to_string);
        config.instructions = app.instructions().map(str::to_string);
        config.capabilities = app.capabilities().to_string();
        Server {
            app: Arc::new(app),
            config,
            metrics: false,
            grace: mcpwire_core::time::Duration::from_secs(10),
            signals: true,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            input: async_channel::bounded(INPUT_CAPACITY),
            tasks: TaskCounter::default(),
            on_serving: None,
            bus: None,
            verifier: None,
            tls: None,
        }
    }

    /// Adjusts the engine's configuration: timeouts, limits, allowed origins and hosts, paths.
    #[must_use]
    pub fn configure(mut self, adjust: impl FnOnce(&mut Config)) -> Server {
        adjust(&mut self.config);
        self
    }

    /// The engine's configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves `GET /metrics` in the Prometheus text format.
    #[must_use]
    pub fn metrics(mut self, enabled: bool) -> Server {
        self.metrics = enabled;
        self
    }

    /// How long calls in flight may run once shutdown begins.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: std::time::Duration) -> Server {
        self.grace = crate::clock::to_core(grace);
        self
    }

    /// Whether SIGINT and SIGTERM begin a graceful shutdown (a second one exits at once).
    /// On by default; turn it off when several servers share a process.
    #[must_use]
    pub fn handle_signals(mut self, enabled: bool) -> Server {
        self.signals = enabled;
        self
    }

    /// How many threads run the application's handlers (at least one; by default the available
    /// parallelism). The thread that calls [`Server::serve`] runs the engine and the sockets
    /// only, so a handler never delays another session's I/O; a handler that blocks holds one
    /// of these threads, and should use `smol::unblock` for the blocking part.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Server {
        self.threads = threads.max(1);
        self
    }

    /// Called once [`Server::serve`] accepts connections and handles signals, with the
    /// listener's address: the moment to announce the server. A supervisor that signals as soon
    /// as it reads the announcement then gets a graceful shutdown, where a line printed before
    /// `serve` would race the signal handlers, whose absence means the default action, death.
    #[must_use]
    pub fn on_serving(mut self, announce: impl FnOnce(SocketAddr) + Send + 'static) -> Server {
        self.on_serving = Some(Box::new(announce));
        self
    }

    /// Shares broadcasts and resource updates with the other nodes of a cluster through `bus`
    /// (see [`bus`](crate::bus)): what this node's handle broadcasts is published once, and
    /// what other nodes publish is delivered here.
    #[must_use]
    pub fn bus(mut self, bus: impl Bus) -> Server {
        self.bus = Some(Box::new(bus));
        self
    }

    /// Where inputs for the driver are queued, for tests that queue them before it runs.
    #[cfg(test)]
    pub(crate) fn input_sender(&self) -> async_channel::Sender<Input> {
        self.input.0.clone()
    }

    /// Makes the server an OAuth 2.1 resource server (see [`auth`](crate::auth)): every MCP
    /// request needs a bearer token that `verifier` accepts for `resource`, which the engine's
    /// metadata document and challenges name. The scopes the application's tools declare
    /// ([`Tool::requires_scope`](crate::Tool::requires_scope)) are added to `resource`.
    ///
    /// # Panics
    ///
    /// If a tool declares a scope that is not a scope token.
    #[must_use]
    pub fn protect(
        mut self,
        resource: crate::auth::ResourceServer,
        verifier: impl crate::auth::Verifier,
    ) -> Server {
        let resource = self
            .app
            .tool_scopes()
            .fold(resource, |resource, (tool, scope)| {
                resource.scope_for_tool(tool, scope)
            });
        self.config.auth = Some(resource);
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// Serves HTTPS: every accepted connection begins with a TLS handshake (TLS 1.3 or 1.2,
    /// ALPN `http/1.1`), within the deadline of its first request
    /// (`Config::timeouts.request_read`, counted from the accept), and anything that is not
    /// TLS is closed. [`ServerStats::tls`](crate::ServerStats::tls) counts the handshakes.
    /// See [`tls`](crate::tls).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mcpwire_smol::tls::TlsConfig;
    /// use mcpwire_smol::{App, Server};
    ///
    /// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
    /// let server = Server::new(App::builder("demo", "1.0.0").build()).tls(tls);
    /// smol::block_on(async {
    ///     let listener = smol::net::TcpListener::bind("127.0.0.1:8443").await?;
    ///     server.serve(listener).await
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn tls(mut self, tls: crate::tls::TlsConfig) -> Server {
        self.tls = Some(tls);
        self
    }

    /// A handle on the server, usable before and while it serves.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(self.input.0.clone())
    }

    /// Serves until a shutdown (a signal, or [`ServerHandle::shutdown`]) has closed every
    /// session and connection. Every task it started has ended when it returns, but for a
    /// handler cancelled while it computes without yielding: its thread ends on its own once
    /// that poll returns, and the exit does not wait for it. Dropping the future instead
    /// cancels them all.
    ///
    /// Runs the engine and the sockets on the calling thread, and the handlers on
    /// [`Server::threads`] threads of their own, stopped before it returns.
    ///
    /// # Errors
    ///
    /// One of kind [`io::ErrorKind::InvalidInput`] for [`Server::tls`] together with
    /// `Config::proxy_protocol_from`; the operating system's, when the signal handlers or the
    /// worker threads cannot be set up; and one of kind [`io::ErrorKind::Interrupted`] when a
    /// second signal stopped the server before it had drained, so that a binary can exit with
    /// a failure status.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        self.run(Some(listener)).await
    }

    /// Serves one client on stdin and stdout (the MCP stdio transport), as a desktop host that
    /// launched this process expects: newline-delimited JSON-RPC, either era, picked by the
    /// client's first request. The same application, the same handler threads; only MCP lines
    /// are ever written to stdout (log to stderr).
    ///
    /// Returns once stdin has ended and everything in flight is answered (within
    /// [`Server::shutdown_grace`]) and written, once stdout is closed (what was in flight is
    /// cancelled), or after a signal has drained the server. stdin may be a pipe, a terminal,
    /// a socket or a regular file (`server < requests.jsonl`).
    ///
    /// # Errors
    ///
    /// The operating system's, when stdin or stdout cannot be duplicated or the signal
    /// handlers or worker threads cannot be set up; one of kind
    /// [`io::ErrorKind::Interrupted`] when a second signal stopped the server before it had
    /// drained.
    pub async fn serve_stdio(self) -> io::Result<()> {
        self.run(None).await
    }

    /// Serves `listener`, or stdio without one.
    async fn run(mut self, listener: Option<TcpListener>) -> io::Result<()> {
        if self.tls.is_some() && !self.config.proxy_protocol_from.is_empty() {
            // A proxy's header comes before the client's handshake, in the clear; the driver
            // hands a TLS listener's first bytes to rustls.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS and the PROXY protocol cannot be combined on one listener",
            ));
        }
        if self.metrics
            && listener.is_some()
            && !self
                .config
                .application_paths
                .iter()
                .any(|p| p == METRICS_PATH)
        {
            self.config.application_paths.push(METRICS_PATH.into());
        }
        let mut seed = [0; 32];
        getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
        let executor = Arc::new(Executor::new());
        let workers = Workers::start(self.threads)?;
        if self.config.reporting == Reporting::Off {
            // The request log costs only what is logged: every exchange at debug, refusals at
            // info, nothing when the subscriber takes neither.
            self.config.reporting = if tracing::enabled!(target: DRIVER, tracing::Level::DEBUG) {
                Reporting::Everything
            } else if tracing::enabled!(target: DRIVER, tracing::Level::INFO) {
                Reporting::Refusals
            } else {
                Reporting::Off
            };
        }
        let engine = Engine::new(self.config, mcpwire_core::time::Instant::ZERO, seed);
        let mut driver = Driver::new(
            engine,
            executor.clone(),
            workers,
            self.tasks.clone(),
            self.input,
            self.app,
            self.metrics,
            self.grace,
            self.tls.as_ref().map(crate::tls::TlsConfig::server_config),
        );
        if self.signals {
            driver.signals = Some(watch_signals(
                &executor,
                &self.tasks,
                driver.input_tx.clone(),
            )?);
        }
        if let Some(bus) = self.bus.take() {
            let mut node = [0u8; 16];
            getrandom::fill(&mut node).map_err(|e| io::Error::other(e.to_string()))?;
            let node: String = node.iter().map(|b| format!("{b:02x}")).collect();
            let (link, port) = crate::bus::link(&node, driver.input_tx.clone());
            driver.bus = Some(link);
            driver.bus_task = Some(self.tasks.spawn(&executor, bus.run(port)));
        }
        driver.verifier = self.verifier.take();
        match listener {
            Some(listener) => {
                let address = listener.local_addr();
                driver.listen(listener);
                if let Ok(address) = address {
                    tracing::info!(%address, "serving");
                    if let Some(announce) = self.on_serving.take() {
                        announce(address);
                    }
                }
            }
            None => {
                driver.open_stdio(crate::stdio::PipeIo::stdio()?);
                tracing::info!("serving on stdio");
            }
        }
        let stop = executor.run(driver.run()).await;
        if stop == Stop::Forced {
            tracing::warn!("stopped without draining");
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "a second signal stopped the server before it had drained",
            ));
        }
        Ok(())
    }
}

/// Forwards SIGINT and SIGTERM to the driver, as inputs.
fn watch_signals(
    executor: &Executor<'static>,
    tasks: &TaskCounter,
    input: async_channel::Sender<Input>,
) -> io::Result<smol::Task<()>> {
    use async_signal::{Signal, Signals};
    use futures_lite::StreamExt;

    #[cfg(unix)]
    let mut signals = Signals::new([Signal::Int, Signal::Term])?;
    #[cfg(not(unix))]
    let mut signals = Signals::new([Signal::Int])?;
    Ok(tasks.spawn(executor, async move {
        while signals.next().await.is_some() {
            if input.send(Input::Signal).await.is_err() {
                return;
            }
        }
    }))
}
