//! What the driver task receives besides its sockets' readiness: accepted sockets, replies from
//! handler tasks, and commands from contexts and handles. One bounded channel carries them all,
//! so the driver owns the engine without a lock and every producer waits when it is full.

use mcpwire_core::engine::Reply;
use mcpwire_core::engine::{CommandError, LogLevel, RequestHandle, SessionKey, Target};
use mcpwire_core::time::Duration;
use serde_json::value::RawValue;
use smol::net::TcpStream;

use crate::{Error, ServerStats};

/// How many inputs may wait for the driver. Producers (the listener, handlers, handles)
/// wait when it is full; the driver itself never sends on it.
pub(crate) const INPUT_CAPACITY: usize = 1024;

/// A one-shot answer from the driver: a channel of capacity one, sent to at most once.
pub(crate) type Ack<T> = async_channel::Sender<T>;

/// One input for the driver.
pub(crate) enum Input {
    /// The listener accepted a socket from this peer.
    Accepted(TcpStream, Option<std::net::IpAddr>),
    /// A handler finished.
    Reply { handle: RequestHandle, reply: Reply },
    /// A command from a handler's context or a server handle.
    Command(Command),
    /// Another node's broadcast or resource update, from the bus.
    Remote(crate::bus::Notice),
    /// A verifier's verdict on a bearer token.
    Verdict {
        verification: mcpwire_core::engine::VerificationId,
        verdict: mcpwire_core::engine::Verdict,
    },
    /// SIGINT or SIGTERM.
    Signal,
}

/// What the application asks of the engine.
pub(crate) enum Command {
    Progress {
        handle: RequestHandle,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
        ack: Ack<Result<(), CommandError>>,
    },
    Log {
        target: Target,
        level: LogLevel,
        logger: Option<String>,
        data: Box<RawValue>,
        ack: Ack<Result<(), CommandError>>,
    },
    RequestClient {
        target: Target,
        method: String,
        params: Option<Box<RawValue>>,
        timeout: Option<Duration>,
        /// Told (or dropped, on a refusal) once the engine has taken the request: the context
        /// sends nothing else for its request until then.
        accepted: Ack<()>,
        ack: Ack<Result<Box<RawValue>, Error>>,
    },
    CloseStream {
        handle: RequestHandle,
        ack: Ack<Result<(), CommandError>>,
    },
    Notify {
        session: SessionKey,
        method: String,
        params: Option<Box<RawValue>>,
        ack: Ack<Result<(), CommandError>>,
    },
    Broadcast {
        method: String,
        params: Option<Box<RawValue>>,
        ack: Ack<usize>,
    },
    ResourceUpdated {
        uri: String,
        ack: Ack<usize>,
    },
    CloseSession {
        session: SessionKey,
        ack: Ack<Result<(), CommandError>>,
    },
    Shutdown {
        grace: Duration,
    },
    Stats {
        ack: Ack<ServerStats>,
    },
    CheckInvariants {
        ack: Ack<Result<(), mcpwire_core::InvariantViolation>>,
    },
}

impl Command {
    /// Answers the command with `error` without carrying it out.
    pub(crate) fn refuse(self, error: CommandError) {
        match self {
            Command::Progress { ack, .. }
            | Command::Log { ack, .. }
            | Command::CloseStream { ack, .. }
            | Command::Notify { ack, .. }
            | Command::CloseSession { ack, .. } => {
                let _ = ack.try_send(Err(error));
            }
            Command::RequestClient { ack, .. } => {
                let _ = ack.try_send(Err(error.into()));
            }
            Command::Broadcast { .. }
            | Command::ResourceUpdated { .. }
            | Command::Shutdown { .. }
            | Command::Stats { .. }
            | Command::CheckInvariants { .. } => {}
        }
    }

    /// The request a command is about, when it concerns one (and so may have to wait for room
    /// on its stream).
    pub(crate) fn request(&self) -> Option<RequestHandle> {
        match self {
            Command::Progress { handle, .. } | Command::CloseStream { handle, .. } => Some(*handle),
            Command::Log {
                target: Target::Request(handle),
                ..
            }
            | Command::RequestClient {
                target: Target::Request(handle),
                ..
            } => Some(*handle),
            _ => None,
        }
    }
}
