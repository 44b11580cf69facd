//! What the `mcpwire` binary serves: a few demo tools that exercise progress, cancellation,
//! logging and resource updates, and every fixture the MCP conformance suite calls, from the
//! shared `fixtures/conformance.json` ([`crate::scripted`]).

use std::time::Duration;

use mcpwire_smol::{App, Context, Error, LogLevel, NoArgs, Tool, ToolResult};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

async fn sleep(millis: u64) {
    smol::Timer::after(Duration::from_millis(millis)).await;
}

/// The server's application.
pub fn app() -> App {
    let builder = App::builder("mcpwire", env!("CARGO_PKG_VERSION"))
        .title("mcpwire demo and conformance server")
        .instructions("Demo tools (echo, add, sleep, flood, generate, touch_resource, announce_list_changed) and the MCP conformance fixtures.");
    let builder = demo_tools(builder);
    // The file is this repository's own, checked by a test: failing to load it is a bug here.
    crate::scripted::fixtures(builder, crate::scripted::CONFORMANCE)
        .unwrap_or_else(|e| panic!("{e}"))
        .build()
}

#[derive(Deserialize, JsonSchema)]
struct Echo {
    /// The text to send back.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct Add {
    /// The first term.
    a: f64,
    /// The second term.
    b: f64,
}

#[derive(Deserialize, JsonSchema)]
struct Sleep {
    /// How long to work, in milliseconds (at most 10 minutes; `spin`, one minute).
    millis: u64,
}

#[derive(Deserialize, JsonSchema)]
struct Flood {
    /// How many log messages to send.
    count: u32,
    /// The size of each, in bytes (at most 1 MiB).
    size: usize,
}

/// Which list a client should fetch again.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ListKind {
    Tools,
    Resources,
    Prompts,
}

#[derive(Deserialize, JsonSchema)]
struct ListChanged {
    /// The list that changed.
    list: ListKind,
    /// How many times to send it (1 by default; at most 1,000,000).
    times: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
struct Generate {
    /// How many bytes of text to answer with (at most 64 MiB).
    bytes: usize,
}

#[derive(Deserialize, JsonSchema)]
struct Touch {
    /// The resource whose subscribers hear of an update.
    uri: String,
}

fn demo_tools(builder: mcpwire_smol::AppBuilder) -> mcpwire_smol::AppBuilder {
    builder
        .tool(
            Tool::new("echo", |args: Echo, _cx: Context| async move {
                Ok(ToolResult::text(args.text))
            })
            .description("Sends the text back")
            .annotations(json!({ "readOnlyHint": true })),
        )
        .tool(
            Tool::new("add", |args: Add, _cx: Context| async move {
                let sum = args.a + args.b;
                Ok(ToolResult::text(sum.to_string()).with_structured(json!({ "sum": sum })))
            })
            .description("Adds two numbers")
            .output_schema(json!({
                "type": "object",
                "properties": { "sum": { "type": "number" } },
                "required": ["sum"]
            })),
        )
        .tool(
            Tool::new("sleep", |args: Sleep, cx: Context| async move {
                // Works in steps of 100 ms, reporting progress; if the request is cancelled the
                // task is dropped at its next await.
                let millis = args.millis.min(600_000);
                let steps = millis.div_ceil(100).max(1);
                for step in 1..=steps {
                    sleep(millis / steps).await;
                    let _ = cx.progress(step as f64, Some(steps as f64), None).await;
                }
                Ok(ToolResult::text(format!("slept {millis} ms")))
            })
            .description("Sleeps, reporting progress every 100 ms; cancellable"),
        )
        .tool(
            Tool::new("spin", |args: Sleep, cx: Context| async move {
                // Holds its thread, computing, as a handler that forgot `smol::unblock`
                // would; the first progress tells the client it has begun.
                let millis = args.millis.min(60_000);
                let _ = cx.progress(0.0, None, Some("spinning")).await;
                let until = std::time::Instant::now() + Duration::from_millis(millis);
                let mut turns = 0u64;
                while std::time::Instant::now() < until {
                    turns = std::hint::black_box(turns.wrapping_add(1));
                }
                Ok(ToolResult::text(format!("spun {millis} ms")))
            })
            .description("Computes on its thread for the given time, never yielding"),
        )
        .tool(
            Tool::new("flood", |args: Flood, cx: Context| async move {
                let line = "x".repeat(args.size.min(1 << 20));
                for _ in 0..args.count {
                    cx.log(LogLevel::Info, Some("flood"), &line).await?;
                }
                Ok(ToolResult::text(format!("sent {} messages", args.count)))
            })
            .description("Sends many large log messages on the call's stream"),
        )
        .tool(
            Tool::new("generate", |args: Generate, _cx: Context| async move {
                Ok(ToolResult::text("g".repeat(args.bytes.min(64 << 20))))
            })
            .description("Answers with a text of the given size, to try large results"),
        )
        .tool(
            Tool::new("touch_resource", |args: Touch, cx: Context| async move {
                let subscribers = cx
                    .server()
                    .resource_updated(&args.uri)
                    .await
                    .map_err(|e| Error::tool(e.to_string()))?;
                Ok(ToolResult::text(format!(
                    "{subscribers} subscribers notified"
                )))
            })
            .description("Tells the subscribers of a resource that it changed"),
        )
        .tool(
            Tool::new("announce_list_changed", |args: ListChanged, cx: Context| async move {
                let server = cx.server();
                let mut sessions = 0;
                for _ in 0..args.times.unwrap_or(1).min(1_000_000) {
                    sessions = match args.list {
                        ListKind::Tools => server.tools_list_changed().await,
                        ListKind::Resources => server.resources_list_changed().await,
                        ListKind::Prompts => server.prompts_list_changed().await,
                    }
                    .map_err(|e| Error::tool(e.to_string()))?;
                }
                let noun = if sessions == 1 { "session" } else { "sessions" };
                Ok(ToolResult::text(format!("{sessions} {noun} notified")))
            })
            .description("Tells every session that a list changed, as a server whose tools, resources or prompts change would")
            // Reaches every session: on a protected server, for those allowed more.
            .requires_scope("mcp:admin"),
        )
        .tool(
            Tool::new("whoami", |_: NoArgs, cx: Context| async move {
                Ok(ToolResult::text(cx.principal().unwrap_or("anonymous")))
            })
            .description("Says who is calling: the principal of the caller's token, or anonymous on an unprotected server")
            .annotations(json!({ "readOnlyHint": true })),
        )
}
