//! [`Server`]: an application, an engine configuration, and `serve`.

use std::fmt;
use std::io;
use std::sync::Arc;

use mcpwire_core::engine::{Config, Engine};
use smol::Executor;
use smol::net::TcpListener;

use crate::driver::{Driver, METRICS_PATH, Stop};
use crate::input::{INPUT_CAPACITY, Input};
use crate::tasks::TaskCounter;
use crate::workers::Workers;
use crate::{App, ServerHandle};

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
///         .configure(|config| config.timeouts.session_idle = mcpwire_core::time::Duration::from_secs(60));
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
}

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
    pub async fn serve(mut self, listener: TcpListener) -> io::Result<()> {
        if self.metrics
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
        );
        if self.signals {
            driver.signals = Some(watch_signals(
                &executor,
                &self.tasks,
                driver.input_tx.clone(),
            )?);
        }
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "serving");
        }
        driver.listen(listener);
        let stop = executor.run(driver.run()).await;
        if stop == Stop::Forced {
            tracing::warn!("stopped without draining");
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
