//! A small, real MCP server: notes kept in memory, with tools to add and find them, each note
//! a resource (`note://{title}`, a template), a prompt that asks for a summary, and a
//! background task that tells every session how many notes there are, once a minute.
//!
//! ```sh
//! cargo run --release -p mcpwire-smol --example notes            # on 127.0.0.1:3000
//! cargo run --release -p mcpwire-smol --example notes -- 127.0.0.1:4000
//! ```
//!
//! It depends on `mcpwire-smol`, `smol`, `serde`, `serde_json` and `schemars` only, as a
//! server of your own would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcpwire_smol::{
    App, Content, Context, Error, Prompt, PromptMessage, PromptResult, ResourceContents,
    ResourceTemplate, Server, ServerHandle, Tool, ToolResult,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// The notes, by title.
type Notes = Arc<Mutex<BTreeMap<String, String>>>;

#[derive(Deserialize, JsonSchema)]
struct AddNote {
    /// A short title; the note's resource is `note://{title}`.
    title: String,
    /// The note itself.
    body: String,
}

#[derive(Deserialize, JsonSchema)]
struct Search {
    /// Text to look for in titles and bodies (case-insensitive).
    query: String,
    /// At most this many titles (10 when absent).
    limit: Option<usize>,
}

fn app(notes: &Notes) -> App {
    let adding = notes.clone();
    let searching = notes.clone();
    let reading = notes.clone();
    let prompting = notes.clone();
    App::builder("notes", "1.0.0")
        .instructions(
            "Keeps notes: add them with add_note, find them with search, read note://{title}.",
        )
        .tool(
            Tool::new("add_note", move |args: AddNote, cx: Context| {
                let notes = adding.clone();
                async move {
                    if args.title.is_empty() || args.title.contains('/') {
                        return Err(Error::tool("a title must be non-empty and have no '/'"));
                    }
                    let replaced = notes
                        .lock()
                        .expect("notes lock")
                        .insert(args.title.clone(), args.body)
                        .is_some();
                    let uri = format!("note://{}", args.title);
                    if replaced {
                        // Sessions subscribed to this note hear that it changed.
                        let _ = cx.server().resource_updated(&uri).await;
                    } else {
                        let _ = cx.server().resources_list_changed().await;
                    }
                    Ok(ToolResult::text(format!("saved {uri}")))
                }
            })
            .description("Adds a note, or replaces the one with the same title"),
        )
        .tool(
            Tool::new("search", move |args: Search, _cx: Context| {
                let notes = searching.clone();
                async move {
                    let query = args.query.to_lowercase();
                    let found: Vec<String> = notes
                        .lock()
                        .expect("notes lock")
                        .iter()
                        .filter(|(title, body)| {
                            title.to_lowercase().contains(&query)
                                || body.to_lowercase().contains(&query)
                        })
                        .map(|(title, _)| format!("note://{title}"))
                        .take(args.limit.unwrap_or(10))
                        .collect();
                    Ok::<_, Error>(if found.is_empty() {
                        ToolResult::text("no note matches")
                    } else {
                        ToolResult::text(found.join("\n"))
                    })
                }
            })
            .description("Finds notes whose title or body contains the query"),
        )
        .resource_template(
            ResourceTemplate::new("note://{title}", "note", move |uri, vars, _cx| {
                let notes = reading.clone();
                async move {
                    let title = vars.get("title").cloned().unwrap_or_default();
                    let body = notes.lock().expect("notes lock").get(&title).cloned();
                    match body {
                        Some(body) => Ok(vec![ResourceContents::text(uri, "text/plain", body)]),
                        None => Err(Error::resource_not_found(&uri)),
                    }
                }
            })
            .description("A note, by its title")
            .mime_type("text/plain"),
        )
        .prompt(
            Prompt::new("summarize", move |args, _cx| {
                let notes = prompting.clone();
                async move {
                    let title = args.get("title").cloned().unwrap_or_default();
                    let body = notes
                        .lock()
                        .expect("notes lock")
                        .get(&title)
                        .cloned()
                        .ok_or_else(|| Error::invalid_params(format!("no note titled {title}")))?;
                    Ok(PromptResult::new(vec![PromptMessage::user(Content::text(
                        format!("Summarize this note in one sentence:\n\n{body}"),
                    ))]))
                }
            })
            .description("Asks for a one-sentence summary of a note")
            .argument("title", "The note's title", true),
        )
        .build()
}

/// Once a minute, a log message to every session with the number of notes. It ends when the
/// server has stopped (the handle says so); `main` also drops it when `serve` returns.
async fn announce(handle: ServerHandle, notes: Notes) {
    loop {
        smol::Timer::after(Duration::from_secs(60)).await;
        let count = notes.lock().expect("notes lock").len();
        let message = serde_json::json!({"level": "info", "logger": "notes", "data": format!("{count} notes")});
        if handle
            .broadcast("notifications/message", Some(&message))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let notes = Notes::default();
    let server = Server::new(app(&notes))
        .on_serving(|address| println!("notes: MCP at http://{address}/mcp"));
    let handle = server.handle();
    smol::block_on(async {
        let listener = smol::net::TcpListener::bind(&address).await?;
        // The announcer runs beside the server on this thread and is dropped with it.
        smol::future::or(server.serve(listener), async {
            announce(handle, notes).await;
            Ok(())
        })
        .await
    })
}
