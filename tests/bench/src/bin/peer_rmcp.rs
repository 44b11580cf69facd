//! The rmcp peer: the benchmark's MCP server built with the official Rust SDK (rmcp), served
//! over Streamable HTTP at `/mcp` by axum, stateful, with rmcp's defaults everywhere else
//! (2026-07-28 requests are served statelessly, as rmcp always does).
//! It follows the contract in the crate documentation: `echo {message}` answers the message and
//! registers the calling session, `broadcast {}` sends `notifications/tools/list_changed` to
//! every registered session and to every `subscriptions/listen` stream that asked for tool list
//! changes, and SIGTERM or SIGINT shuts down the way rmcp's examples do.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::serve::ListenerExt;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig,
    SubscriptionFilter,
};
use rmcp::service::{SubscriptionContext, SubscriptionSink};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

#[global_allocator]
static ALLOC: mcpwire_bench::CountingAllocator = mcpwire_bench::CountingAllocator;

/// The sessions that called `echo`, keyed by the number of their handler.
type Registry = Arc<Mutex<HashMap<u64, Peer<RoleServer>>>>;

/// The open `subscriptions/listen` streams, keyed by a number of their own. rmcp hands each
/// stream's sink to `ServerHandler::listen` and keeps no list of them; a fan-out needs one.
type Listeners = Arc<Mutex<HashMap<u64, SubscriptionSink>>>;

/// One handler per session: stateful Streamable HTTP calls the service factory once per
/// `initialize` (and once per 2026-07-28 request), so the handler's number identifies its
/// session.
struct Bench {
    session: u64,
    peers: Registry,
    listeners: Listeners,
}

/// Takes a listen stream's sink out of the list however `listen` ends, cancelled or dropped.
struct Listening {
    id: u64,
    listeners: Listeners,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.listeners
            .lock()
            .expect("listeners lock")
            .remove(&self.id);
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    message: String,
}

#[tool_router]
impl Bench {
    #[tool(description = "Answer the message as text and register the calling session")]
    async fn echo(
        &self,
        Parameters(EchoArgs { message }): Parameters<EchoArgs>,
        peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut peers = self.peers.lock().expect("registry lock");
        peers.entry(self.session).or_insert(peer);
        drop(peers);
        Ok(CallToolResult::success(vec![ContentBlock::text(message)]))
    }

    #[tool(description = "Send notifications/tools/list_changed to every registered session")]
    async fn broadcast(&self) -> Result<CallToolResult, ErrorData> {
        let snapshot: Vec<(u64, Peer<RoleServer>)> = {
            let peers = self.peers.lock().expect("registry lock");
            peers.iter().map(|(id, peer)| (*id, peer.clone())).collect()
        };
        let sinks: Vec<SubscriptionSink> = {
            let listeners = self.listeners.lock().expect("listeners lock");
            listeners.values().cloned().collect()
        };
        // All sends run at once, so one slow session delays the answer by its own send only.
        let mut sends = JoinSet::new();
        for (id, peer) in snapshot {
            sends.spawn(async move { (id, peer.notify_tool_list_changed().await.is_ok()) });
        }
        // A listen stream that ended has left the list by itself.
        let mut listen_sends = JoinSet::new();
        for sink in sinks {
            listen_sends.spawn(async move { sink.notify_tool_list_changed().await.is_ok() });
        }
        let mut listening = 0usize;
        while let Some(joined) = listen_sends.join_next().await {
            listening += usize::from(joined.unwrap_or(false));
        }
        let (mut notified, mut closed) = (0usize, Vec::new());
        while let Some(joined) = sends.join_next().await {
            match joined {
                Ok((_, true)) => notified += 1,
                Ok((id, false)) => closed.push(id),
                Err(_) => {}
            }
        }
        if !closed.is_empty() {
            let mut peers = self.peers.lock().expect("registry lock");
            for id in closed {
                peers.remove(&id);
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{notified} sessions and {listening} listen streams notified"
        ))]))
    }
}

#[tool_handler]
impl ServerHandler for Bench {
    /// 2026-07-28 `subscriptions/listen`: whatever is asked for (rmcp narrows it to the
    /// advertised capabilities); rmcp's default `listen` holds the stream until cancelled.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    /// Holds the stream until it is cancelled, as rmcp's default does, with its sink in the list
    /// `broadcast` sends to.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.listeners
            .lock()
            .expect("listeners lock")
            .insert(id, context.sink().clone());
        let _listening = Listening {
            id,
            listeners: self.listeners.clone(),
        };
        context.cancelled().await;
        Ok(())
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("bench-rmcp", "1.0.0"))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    mcpwire_bench::report_heap_on_stdin();
    let peers = Registry::default();
    let listeners = Listeners::default();
    let sessions = AtomicU64::new(0);
    let config = StreamableHttpServerConfig::default();
    // The token rmcp cancels every session and SSE stream with; the default config's own one,
    // which is what `with_cancellation_token` would install.
    let shutdown = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || {
            let session = sessions.fetch_add(1, Ordering::Relaxed);
            Ok(Bench {
                session,
                peers: peers.clone(),
                listeners: listeners.clone(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", mcpwire_bench::port_argument()))
        .await?
        .tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        shutdown.cancel();
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);
    server.await
}
