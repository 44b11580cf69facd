//! The benchmark's mcpwire peer: `mcpwire-smol` serving the peer contract of
//! `mcpwire_bench` (tools `echo`, `broadcast` and `spin`, `heap` on stdin), with the counting
//! allocator installed.
//!
//! Defaults throughout, except the limits a server for 10,000 clients (and, in the scale rows,
//! 100,000 idle sessions) would raise: the connection cap (4,096 by default), the session cap
//! (10,000), the listen stream cap (4,096) and the byte budget (512 MiB, a quarter of which
//! is for session state: about 100,000 idle sessions).

use mcpwire_smol::{App, Context, Error, NoArgs, Server, Tool, ToolResult};
use schemars::JsonSchema;
use serde::Deserialize;
use std::io::Write;

#[global_allocator]
static ALLOC: mcpwire_bench::CountingAllocator = mcpwire_bench::CountingAllocator;

#[derive(Deserialize, JsonSchema)]
struct Echo {
    /// The text to send back.
    message: String,
}

#[derive(Deserialize, JsonSchema)]
struct Spin {
    /// How long to compute, in milliseconds (at most 10 seconds).
    millis: u64,
}

fn app() -> App {
    App::builder("bench-mcpwire", "1.0.0")
        .tool(
            Tool::new("echo", |args: Echo, _cx: Context| async move {
                Ok::<_, Error>(ToolResult::text(args.message))
            })
            .description("Echoes the message"),
        )
        .tool(
            Tool::new("spin", |args: Spin, _cx: Context| async move {
                // Computes without yielding, as a handler that forgot `smol::unblock` would.
                let until = std::time::Instant::now()
                    + std::time::Duration::from_millis(args.millis.min(10_000));
                let mut turns = 0u64;
                while std::time::Instant::now() < until {
                    turns = std::hint::black_box(turns.wrapping_add(1));
                }
                Ok::<_, Error>(ToolResult::text(format!("spun {} ms", args.millis)))
            })
            .description("Holds its thread for the given milliseconds"),
        )
        .tool(
            Tool::new("broadcast", |_: NoArgs, cx: Context| async move {
                let sessions = cx
                    .server()
                    .tools_list_changed()
                    .await
                    .map_err(|e| Error::tool(e.to_string()))?;
                Ok::<_, Error>(ToolResult::text(format!("{sessions} sessions notified")))
            })
            .description("Sends notifications/tools/list_changed to every session"),
        )
        .build()
}

fn main() -> std::io::Result<()> {
    mcpwire_bench::report_heap_on_stdin();
    let server = Server::new(app()).configure(|config| {
        config.limits.max_connections = 32_768;
        // Every load comes from 127.0.0.1, which the default per-peer cap would hold to a
        // quarter of the connections.
        config.limits.max_connections_per_peer = None;
        config.limits.max_sessions = 131_072;
        config.limits.max_listen_streams = 32_768;
        config.limits.max_held_bytes = 2 << 30;
    });
    smol::block_on(async {
        let listener =
            smol::net::TcpListener::bind(("127.0.0.1", mcpwire_bench::port_argument())).await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready")?;
        stdout.flush()?;
        drop(stdout);
        server.serve(listener).await
    })
}
