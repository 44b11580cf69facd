//! [`ServerHandle`]: what any part of the program can ask of a running server.

use std::fmt;
use std::time::Duration;

use mcpwire_core::engine::{CommandError, SessionKey};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::ServerStats;
use crate::input::{Ack, Command, Input};

/// The server has stopped: nothing can be asked of it any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the server has stopped")
    }
}

impl std::error::Error for Stopped {}

/// A cloneable handle on a server: broadcasts, resource updates, statistics and shutdown,
/// from any task or thread. Each call waits for room in the server's input queue.
///
/// # Examples
///
/// ```
/// use mcpwire_smol::{App, Server};
///
/// let server = Server::new(App::builder("demo", "1.0.0").build());
/// let handle = server.handle();
/// # let _ = handle;
/// // Elsewhere, once serving: `handle.tools_list_changed().await`.
/// ```
#[derive(Clone)]
pub struct ServerHandle {
    input: async_channel::Sender<Input>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle").finish_non_exhaustive()
    }
}

pub(crate) fn raw_json<T: Serialize + ?Sized>(value: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

/// Sends a command that carries a one-shot answer, and waits for the answer.
pub(crate) async fn ask<T>(
    input: &async_channel::Sender<Input>,
    command: impl FnOnce(Ack<T>) -> Command,
) -> Result<T, Stopped> {
    let (ack, answer) = async_channel::bounded(1);
    input
        .send(Input::Command(command(ack)))
        .await
        .map_err(|_| Stopped)?;
    answer.recv().await.map_err(|_| Stopped)
}

impl ServerHandle {
    pub(crate) fn new(input: async_channel::Sender<Input>) -> ServerHandle {
        ServerHandle { input }
    }

    /// Sends a notification to every open session; returns how many.
    pub async fn broadcast<P: Serialize>(
        &self,
        method: &str,
        params: Option<&P>,
    ) -> Result<usize, Stopped> {
        let method = method.to_string();
        let params = params.and_then(raw_json);
        ask(&self.input, |ack| Command::Broadcast {
            method,
            params,
            ack,
        })
        .await
    }

    /// `notifications/tools/list_changed` to every session.
    pub async fn tools_list_changed(&self) -> Result<usize, Stopped> {
        self.broadcast::<()>("notifications/tools/list_changed", None)
            .await
    }

    /// `notifications/resources/list_changed` to every session.
    pub async fn resources_list_changed(&self) -> Result<usize, Stopped> {
        self.broadcast::<()>("notifications/resources/list_changed", None)
            .await
    }

    /// `notifications/prompts/list_changed` to every session.
    pub async fn prompts_list_changed(&self) -> Result<usize, Stopped> {
        self.broadcast::<()>("notifications/prompts/list_changed", None)
            .await
    }

    /// `notifications/resources/updated` to the sessions subscribed to `uri`; returns how many.
    pub async fn resource_updated(&self, uri: &str) -> Result<usize, Stopped> {
        let uri = uri.to_string();
        ask(&self.input, |ack| Command::ResourceUpdated { uri, ack }).await
    }

    /// A notification to one session.
    pub async fn notify<P: Serialize>(
        &self,
        session: SessionKey,
        method: &str,
        params: Option<&P>,
    ) -> Result<Result<(), CommandError>, Stopped> {
        let method = method.to_string();
        let params = params.and_then(raw_json);
        ask(&self.input, |ack| Command::Notify {
            session,
            method,
            params,
            ack,
        })
        .await
    }

    /// Ends a session (its requests are cancelled, its streams end).
    pub async fn close_session(
        &self,
        session: SessionKey,
    ) -> Result<Result<(), CommandError>, Stopped> {
        ask(&self.input, |ack| Command::CloseSession { session, ack }).await
    }

    /// What the server holds now: the engine's gauges and counters and the live tasks.
    pub async fn stats(&self) -> Result<ServerStats, Stopped> {
        ask(&self.input, |ack| Command::Stats { ack }).await
    }

    /// Checks the server's own bookkeeping: every index of the engine against its tables
    /// (`Engine::check_invariants`), and that every request in flight has a handler at work
    /// or a reply on its way, with no handler task kept for a request that ended. A violation
    /// is a bug in mcpwire; tests call this after every burst of load.
    ///
    /// It walks every entity, so it costs as much as a scrape of the metrics.
    pub async fn check_invariants(
        &self,
    ) -> Result<Result<(), mcpwire_core::InvariantViolation>, Stopped> {
        ask(&self.input, |ack| Command::CheckInvariants { ack }).await
    }

    /// Begins a graceful shutdown: no new connections; open GET streams end with a retry hint;
    /// calls in flight have `grace` to finish, then are cancelled. `serve` returns once
    /// everything is closed.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), Stopped> {
        let grace = crate::clock::to_core(grace);
        self.input
            .send(Input::Command(Command::Shutdown { grace }))
            .await
            .map_err(|_| Stopped)
    }
}
