//! `mcpwire call URL TOOL [JSON]`: one tool call from a shell, through mcpwire's own client.

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use mcpwire_smol::client::{Client, EraChoice};
use serde_json::Value as Json;

pub const USAGE: &str = "\
Usage: mcpwire call URL TOOL [ARGUMENTS] [OPTIONS]
       mcpwire call URL --list

Calls TOOL on the MCP server at URL (http://host:port/path, or https://) with ARGUMENTS, a
JSON object [default: {}], and prints the result as JSON. Progress goes to stderr. The exit
status is 0 for a result, 1 for a result with isError or a failed call, 2 for bad usage.

Options:
  --list              List the server's tools instead
  --era ERA           auto (probe 2026-07-28, fall back to a session), modern or sessions
                      [default: auto]
  --timeout SECS      Give up on the call after this long [default: 60]
  --ca-file FILE      Trust the CA certificates of this PEM file for https://, beside
                      Mozilla's roots [default: none]
  -h, --help          Print this help";

struct Call {
    url: String,
    tool: Option<String>,
    arguments: Json,
    era: EraChoice,
    timeout: Duration,
    ca_file: Option<std::path::PathBuf>,
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Call>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut positional = Vec::new();
    let mut list = false;
    let mut era = EraChoice::Auto;
    let mut timeout = Duration::from_secs(60);
    let mut ca_file = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("list") => list = true,
            Long("era") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                era = match value.to_str() {
                    Some("auto") => EraChoice::Auto,
                    Some("modern") => EraChoice::Modern,
                    Some("sessions") => EraChoice::Sessions,
                    _ => {
                        return Err(format!(
                            "--era takes auto, modern or sessions, not {value:?}"
                        ));
                    }
                };
            }
            Long("timeout") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                let secs: u64 = value
                    .to_str()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("--timeout takes a number of seconds, not {value:?}"))?;
                timeout = Duration::from_secs(secs);
            }
            Long("ca-file") => {
                ca_file = Some(parser.value().map_err(|e| e.to_string())?.into());
            }
            Value(value) => positional.push(
                value
                    .into_string()
                    .map_err(|v| format!("not UTF-8: {v:?}"))?,
            ),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let mut positional = positional.into_iter();
    let url = positional.next().ok_or("a URL is required")?;
    let tool = positional.next();
    let arguments = match positional.next() {
        None => Json::Object(Default::default()),
        Some(json) => match serde_json::from_str::<Json>(&json) {
            Ok(value @ Json::Object(_)) => value,
            Ok(_) => return Err("ARGUMENTS must be a JSON object".into()),
            Err(e) => return Err(format!("ARGUMENTS is not JSON: {e}")),
        },
    };
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    if tool.is_none() && !list {
        return Err("a TOOL is required (or --list)".into());
    }
    Ok(Some(Call {
        url,
        tool: if list { None } else { tool },
        arguments,
        era,
        timeout,
        ca_file,
    }))
}

/// Runs `mcpwire call ...` (the arguments after `call`).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let call = match parse(args) {
        Ok(Some(call)) => call,
        Ok(None) => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mcpwire call: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = builder(&call) {
        eprintln!("mcpwire call: {e}");
        return ExitCode::from(2);
    }
    // One deadline for all of it (connect, listing, call, close), so that `--timeout` is
    // the longest the command takes, whatever the server does.
    let secs = call.timeout.as_secs();
    let outcome = smol::block_on(smol::future::or(run(&call), async {
        smol::Timer::after(call.timeout).await;
        Err(format!("no answer within {secs} s"))
    }));
    match outcome {
        Ok(result) => {
            let text = serde_json::to_string_pretty(&result).unwrap_or_default();
            // A closed stdout (`| head -c0`) is not a failure of the call.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            if result.get("isError") == Some(&Json::Bool(true)) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("mcpwire call: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The client for `call`'s URL, trusting its `--ca-file`.
fn builder(call: &Call) -> Result<mcpwire_smol::client::ClientBuilder, String> {
    let builder = Client::builder(&call.url).map_err(|e| e.to_string())?;
    match &call.ca_file {
        Some(path) => builder.ca_file(path).map_err(|e| format!("--ca-file {e}")),
        None => Ok(builder),
    }
}

/// Connects, calls (or lists), and closes.
async fn run(call: &Call) -> Result<Json, String> {
    let client = builder(call)?
        .name("mcpwire-call", env!("CARGO_PKG_VERSION"))
        .era(call.era)
        .request_timeout(call.timeout)
        .reconnect_timeout(call.timeout)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let outcome = match &call.tool {
        None => client.list_tools().await,
        Some(tool) => {
            if client.era() == mcpwire_smol::client::Era::Modern {
                // A 2026-07-28 server may require the `Mcp-Param-*` header fields its tool's
                // schema declares; the client learns them from the listing. If the listing
                // fails, the call goes without them and the server says why.
                let _ = client.list_tools().await;
            }
            client
                .call_tool_with_progress(tool, call.arguments.clone(), |progress| {
                    eprintln!("progress: {progress}");
                })
                .await
        }
    };
    client.close().await;
    outcome.map_err(|e| e.to_string())
}
