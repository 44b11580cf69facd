//! `mcpwire call URL TOOL [JSON]`: one tool call from a shell, through mcpwire's own client.
//!
//! A server that answers 401 gets a sign-in: in the browser (authorization code with PKCE, the
//! browser sent back to a loopback listener that exists only while it waits), or with client
//! credentials from the command line. Tokens are kept in a file only the user can read.
//!
//! `mcpwire call --stdio 'COMMAND ARGS' TOOL [JSON]` runs the server as a child instead, over
//! its stdin and stdout, and ends it when done.

mod args;
mod authorize;
mod redirect;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use mcpwire_smol::client::oauth::{
    ClientCredentials, FileStore, MemoryStore, OAuthConfig, StoredAuth, TokenStore,
};
use mcpwire_smol::client::{Client, ClientBuilder};
use serde_json::Value as Json;

pub use args::USAGE;
use args::{Call, SignIn, Store};

/// Runs `mcpwire call ...` (the arguments after `call`).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let call = match args::parse(args) {
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
    let builder = match builder(&call) {
        Ok(builder) => builder,
        Err(e) => {
            eprintln!("mcpwire call: {e}");
            return ExitCode::from(2);
        }
    };
    // One deadline for all of it (connect, listing, call, close), so that `--timeout` is
    // the longest the command takes, whatever the server does.
    let secs = call.timeout.as_secs();
    let outcome = if call.stdio.is_some() {
        // A child is ended before the command exits, even past the deadline (an exit would
        // leave it only its stdin's end): its handshake is bounded by the client's own
        // timeout, the rest by `expired`, and the close that follows either by the grace
        // period and the kill wait.
        smol::block_on(run(&call, builder, Some(call.timeout)))
    } else {
        smol::block_on(smol::future::or(run(&call, builder, None), async {
            smol::Timer::after(call.timeout).await;
            Err(format!("no answer within {secs} s"))
        }))
    };
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

/// The client for `call`'s URL: its `--ca-file`, its `--header`s, and how it signs in.
fn builder(call: &Call) -> Result<ClientBuilder, String> {
    if let Some(words) = &call.stdio {
        let mut command = std::process::Command::new(&words[0]);
        command.args(&words[1..]);
        return Ok(Client::stdio(command));
    }
    let mut builder = Client::builder(&call.url).map_err(|e| e.to_string())?;
    if let Some(path) = &call.ca_file {
        builder = builder
            .ca_file(path)
            .map_err(|e| format!("--ca-file {e}"))?;
    }
    for (name, value) in &call.headers {
        builder = builder.header(name, value);
    }
    let store: Arc<dyn TokenStore> = match &call.store {
        Store::Memory => Arc::new(MemoryStore::default()),
        Store::File(path) => Arc::new(Reported(FileStore::at(path))),
        Store::Default => match FileStore::for_server(&call.url) {
            Some(store) => Arc::new(Reported(store)),
            None => {
                eprintln!(
                    "mcpwire call: neither XDG_CONFIG_HOME nor HOME names a directory: tokens \
                     are kept for this run only (--token-file FILE keeps them)"
                );
                Arc::new(MemoryStore::default())
            }
        },
    };
    builder = builder.token_store(store);
    let mut config = match &call.sign_in {
        SignIn::Browser {
            client_id,
            metadata_url,
            redirect_port,
            open_browser,
        } => {
            // The redirect URI goes into the registration and the authorization request, so
            // its port is chosen now; the listener is bound only if a person must sign in.
            let port = match redirect_port {
                Some(port) => *port,
                None => redirect::free_port()
                    .map_err(|e| format!("no free port on 127.0.0.1 for the redirect: {e}"))?,
            };
            let browser = *open_browser;
            builder = builder.on_authorize(move |url| authorize::authorize(url, port, browser));
            let mut config =
                OAuthConfig::authorization_code(&redirect::redirect_uri(port), "mcpwire");
            config.client_metadata_url.clone_from(metadata_url);
            config.client = client_id.as_ref().map(|id| ClientCredentials {
                client_id: id.clone(),
                client_secret: None,
                key: false,
                issuer: call.client_issuer.clone(),
            });
            config
        }
        SignIn::Secret { client_id, secret } => {
            OAuthConfig::client_credentials(ClientCredentials {
                client_id: client_id.clone(),
                client_secret: Some(secret.clone()),
                key: false,
                issuer: call.client_issuer.clone(),
            })
        }
        SignIn::Key {
            client_id,
            pem,
            algorithm,
        } => {
            builder = builder
                .oauth_client_key(pem, algorithm)
                .map_err(|e| format!("--client-key-file: {e}"))?;
            OAuthConfig::client_credentials(ClientCredentials {
                client_id: client_id.clone(),
                client_secret: None,
                key: true,
                issuer: call.client_issuer.clone(),
            })
        }
    };
    config.scope.clone_from(&call.scope);
    Ok(builder.oauth(config))
}

/// A [`FileStore`] whose problems are told on stderr (`mcpwire call` has no log output).
struct Reported(FileStore);

impl TokenStore for Reported {
    fn load(&self) -> Option<StoredAuth> {
        self.0.read().unwrap_or_else(|e| {
            eprintln!("mcpwire call: warning: {e}");
            None
        })
    }

    fn save(&self, auth: &StoredAuth) {
        if let Err(e) = self.0.write(auth) {
            eprintln!("mcpwire call: warning: the tokens are not kept: {e}");
        }
    }
}

/// Connects, calls (or lists), and closes.
async fn run(
    call: &Call,
    builder: ClientBuilder,
    deadline: Option<std::time::Duration>,
) -> Result<Json, String> {
    let client = builder
        .name("mcpwire-call", env!("CARGO_PKG_VERSION"))
        .era(call.era)
        .request_timeout(call.timeout)
        .reconnect_timeout(call.timeout)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let work = async {
        match &call.tool {
            None => client.list_tools().await.map_err(|e| e.to_string()),
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
                    .map_err(|e| e.to_string())
            }
        }
    };
    let outcome = match deadline {
        Some(after) => {
            let expired = async {
                smol::Timer::after(after).await;
                Err(format!("no answer within {} s", after.as_secs()))
            };
            smol::future::or(work, expired).await
        }
        None => work.await,
    };
    client.close().await;
    outcome
}
