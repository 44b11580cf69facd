//! mcpwire on [smol](https://docs.rs/smol): an MCP server over Streamable HTTP (and the
//! legacy HTTP+SSE transport) whose sessions, streams, timers and tasks cannot leak.
//!
//! # Writing a server
//!
//! An [`App`] holds tools, resources, prompts and completions. A tool's arguments are a type
//! that derives `serde::Deserialize` and `schemars::JsonSchema`; its handler is an async
//! function of those arguments and a [`Context`], which sends progress and log messages,
//! asks the client for sampling or elicitation, and tells when the request is cancelled.
//!
//! ```no_run
//! use mcpwire_smol::{App, Context, Error, LogLevel, Server, Tool, ToolResult};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Count {
//!     /// How far to count.
//!     to: u32,
//! }
//!
//! let app = App::builder("counter", "1.0.0")
//!     .tool(
//!         Tool::new("count", |args: Count, cx: Context| async move {
//!             for i in 1..=args.to {
//!                 // Only if the client asked for progress; otherwise this is a no-op error.
//!                 let _ = cx.progress(f64::from(i), Some(f64::from(args.to)), None).await;
//!             }
//!             cx.log(LogLevel::Info, None, "counted").await?;
//!             Ok::<_, Error>(ToolResult::text(format!("counted to {}", args.to)))
//!         })
//!         .description("Counts, reporting progress"),
//!     )
//!     .build();
//!
//! smol::block_on(async {
//!     let listener = smol::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     Server::new(app).metrics(true).serve(listener).await
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How it runs
//!
//! One driver task, on the thread that calls [`Server::serve`], owns the sans-IO engine of
//! `mcpwire-core` and every socket; nothing else touches them, so there is no lock. It polls
//! the sockets itself: a socket that wakes is read (only as much as the engine can take) or
//! written (straight from the engine's output while the kernel has room, reported written, so a
//! stalled peer is cut at the write timeout). There is no task and no channel per connection.
//!
//! Handlers run on worker threads ([`Server::threads`], the available parallelism by default),
//! never on the driver's: a handler that computes for a second delays no other session's I/O,
//! keep-alives or deadlines. Each handler is a task the driver owns, dropped when its request
//! is answered, cancelled or timed out, or its session ends; replies, progress and commands
//! come back on one bounded channel. Work that blocks its thread (a blocking call, a long
//! computation) belongs in `smol::unblock`, so that the worker stays free for other handlers;
//! [`Context::cancellation`] tells that work when to stop.
//!
//! One `async_io::Timer` is set to the engine's next deadline. The listener and the signal
//! watcher are tasks on the driver's thread, dropped at shutdown. [`ServerStats::tasks`] counts
//! live tasks; with the engine's gauges it returns to its baseline once the clients are gone
//! (`--metrics` shows both).
//!
//! # Logs
//!
//! mcpwire logs through [`tracing`](https://docs.rs/tracing) and installs no subscriber: a
//! library server is silent until the application installs one (for example
//! `tracing_subscriber::fmt().init()`). At `info`: serving, shutdown, and one line per request
//! the engine refused (`refused`, with the status, the JSON-RPC code and message the client
//! got, the HTTP method and path, the JSON-RPC method and id, the session and connection). At
//! `debug`, also one line per request answered (`answered`, with the status and the time to
//! the response head, which for a stream is its start) or left by its client, and sessions
//! opening and closing. Which requests the engine reports is decided once, when `serve`
//! starts, from the levels the subscriber enables for the target `mcpwire_smol::driver` (or
//! set `Config::reporting` through [`Server::configure`]); the reports wait in a bounded queue,
//! and those a flood leaves no room for are counted (`mcpwire_reports_dropped_total`), not
//! kept.

mod app;
pub mod auth;
pub mod bus;
pub mod client;
mod clock;
mod context;
mod driver;
mod handle;
mod id_map;
mod input;
mod metrics;
mod server;
mod sockets;
#[cfg(unix)]
mod stdio;
#[cfg(not(unix))]
#[path = "stdio_unsupported.rs"]
mod stdio;
mod tasks;
pub mod tls;
mod workers;

pub use app::{
    App, AppBuilder, Completion, CompletionRef, CompletionRequest, Content, Error, InputRequest,
    InputRequired, NoArgs, Prompt, PromptMessage, PromptResult, Resource, ResourceBody,
    ResourceContents, ResourceTemplate, Role, Tool, ToolResult,
};
pub use client::Client;
pub use context::{Cancellation, Context};
pub use handle::{ServerHandle, Stopped};
pub use mcpwire_core::engine::{
    CommandError, Config, Heartbeat, LogLevel, MAX_SESSION_ID_PREFIX, ProtocolVersion, SessionKey,
    valid_session_id_prefix,
};
pub use mcpwire_core::jsonrpc::ErrorCode;
pub use mcpwire_core::{proxy_protocol, time};
pub use metrics::ServerStats;
pub use server::Server;

/// The crate README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
