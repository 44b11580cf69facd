//! Getting connected and staying connected: the handshake of each era, the fallback from
//! `server/discover` to `initialize`, a lost session, and the session's GET stream.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Deserialize;

use super::entities::{CallState, ClientTimer, Owner, Phase, Purpose, Standalone};
use super::{
    CallError, Client, ClientEvent, CloseReason, Era, EraChoice, LEGACY_VERSION, MODERN_VERSION,
    SESSION_VERSIONS,
};
use crate::jsonrpc::{ErrorCode, ErrorObject, RawValue};
use crate::time::Duration;

#[derive(Deserialize)]
struct InitializeResult<'a> {
    #[serde(rename = "protocolVersion", borrow)]
    protocol_version: Option<&'a str>,
}

#[derive(Deserialize)]
struct Discovered {
    #[serde(rename = "supportedVersions", default)]
    supported_versions: Vec<String>,
}

/// The versions a server offered, for a message: at most a few, each cut short and quoted
/// (they are the server's bytes).
fn offered_list(offered: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut list: Vec<String> = offered
        .iter()
        .take(SHOWN)
        .map(|v| alloc::format!("{:?}", v.chars().take(32).collect::<String>()))
        .collect();
    if offered.len() > SHOWN {
        list.push(alloc::format!("and {} more", offered.len() - SHOWN));
    }
    list.join(", ")
}

#[derive(Deserialize)]
struct Supported {
    #[serde(default)]
    supported: Vec<String>,
}

impl Client {
    /// Sends the handshake request of the current phase, unless it is already in flight.
    ///
    /// A retry timer armed by an earlier failure can fire while the phase's request is out (a
    /// lost session starts its handshake at once, whatever backoff is pending): a second one
    /// would race the first, and whichever answer came first would move the phase on and
    /// leave the other exchange with no owner and no deadline, holding its connection.
    pub(crate) fn send_handshake(&mut self) {
        if self.gate.waiting {
            // It goes again when the credentials come (`set_authorization`).
            return;
        }
        let purpose = match self.link.phase {
            Phase::Opening => Purpose::Standalone,
            Phase::Discovering => Purpose::Discover,
            Phase::Initializing => Purpose::Initialize,
            Phase::Acknowledging => Purpose::Initialized,
            _ => return,
        };
        if self.is_pipe() {
            if !self.pipe_handshake_in_flight() {
                self.start_exchange(purpose);
            }
            return;
        }
        let in_flight = self
            .conns
            .values()
            .filter_map(|c| c.exchange.as_ref())
            .any(|e| e.purpose == purpose && !e.settled);
        if !in_flight {
            self.start_exchange(purpose);
        }
    }

    /// The handshake's response message arrived (result or error).
    pub(crate) fn on_handshake_message(
        &mut self,
        purpose: Purpose,
        outcome: Result<Box<RawValue>, ErrorObject>,
    ) {
        self.settle(purpose);
        // Answered: a pipe's probe is no longer waited for.
        self.timers
            .stop(&mut self.link.timers, Owner::Link, ClientTimer::Connect);
        // Answered: the end of its exchange is no refusal.
        self.handshake_wire = 0;
        match (purpose, outcome) {
            (Purpose::Discover, Ok(result)) => self.discovered(result),
            (Purpose::Discover, Err(error)) => self.discover_refused(Some(&error)),
            (Purpose::Initialize, Ok(result)) => {
                let legacy = self.link.era == Some(Era::HttpSse);
                let version = serde_json::from_str::<InitializeResult<'_>>(result.get())
                    .ok()
                    .and_then(|r| r.protocol_version)
                    .and_then(|v| {
                        if legacy {
                            (v == LEGACY_VERSION).then_some(&LEGACY_VERSION)
                        } else {
                            SESSION_VERSIONS.iter().find(|s| **s == v)
                        }
                    });
                let Some(version) = version else {
                    let why = "the server chose a protocol version this client does not speak";
                    self.shut_down(CloseReason::Incompatible(why.into()));
                    return;
                };
                if !legacy {
                    self.link.era = Some(Era::Sessions);
                }
                self.link.version = (*version).into();
                self.link.handshake_result = Some(result);
                self.link.phase = Phase::Acknowledging;
                self.send_handshake();
            }
            (Purpose::Initialize, Err(error)) => {
                let why = alloc::format!("initialize failed: {} {}", error.code, error.message);
                self.shut_down(CloseReason::Incompatible(why));
            }
            _ => {}
        }
    }

    /// `server/discover` answered: 2026-07-28 when the server lists it among its
    /// `supportedVersions`; `initialize` when it lists only earlier versions this client
    /// speaks (and it may use them); otherwise the client closes, naming what was offered.
    fn discovered(&mut self, result: Box<RawValue>) {
        let offered = serde_json::from_str::<Discovered>(result.get())
            .map(|d| d.supported_versions)
            .unwrap_or_default();
        if offered.iter().any(|v| v == MODERN_VERSION) {
            self.link.era = Some(Era::Modern);
            self.link.version = MODERN_VERSION.into();
            self.link.handshake_result = Some(result);
            self.become_ready();
            return;
        }
        let earlier = |v: &String| SESSION_VERSIONS.contains(&v.as_str()) || v == LEGACY_VERSION;
        let fall_back = self.config.era == EraChoice::Auto && offered.iter().any(earlier);
        if fall_back {
            self.link.phase = Phase::Initializing;
            self.send_handshake();
            return;
        }
        let why = if offered.is_empty() {
            "server/discover lists no protocol version (supportedVersions)".to_string()
        } else if self.config.era == EraChoice::Modern {
            alloc::format!(
                "the server offers {}, not {MODERN_VERSION}",
                offered_list(&offered)
            )
        } else {
            alloc::format!(
                "the server offers {}, none of which this client speaks ({MODERN_VERSION}, {}, {LEGACY_VERSION})",
                offered_list(&offered),
                SESSION_VERSIONS.join(", ")
            )
        };
        self.shut_down(CloseReason::Incompatible(why));
    }

    /// `server/discover` was refused: fall back to `initialize` unless the refusal is modern.
    pub(crate) fn discover_refused(&mut self, error: Option<&ErrorObject>) {
        let code = error.map(|e| ErrorCode(e.code));
        if code == Some(ErrorCode::UNSUPPORTED_PROTOCOL_VERSION) {
            let offered = error
                .and_then(|e| e.data.as_ref())
                .and_then(|d| serde_json::from_str::<Supported>(d.get()).ok())
                .map(|s| s.supported)
                .unwrap_or_default();
            if offered.iter().any(|v| v == MODERN_VERSION) {
                // It says it speaks ours after all (a server testing the fallback): ask again.
                self.link_failed(Some(Duration::ZERO));
                return;
            }
        }
        let modern_refusal = matches!(
            code,
            Some(ErrorCode::HEADER_MISMATCH | ErrorCode::MISSING_CLIENT_CAPABILITY)
        );
        if self.config.era == EraChoice::Modern || modern_refusal {
            let why = match error {
                Some(error) => alloc::format!("server/discover: {} {}", error.code, error.message),
                None => "the server does not speak 2026-07-28".to_string(),
            };
            self.shut_down(CloseReason::Incompatible(why));
            return;
        }
        self.link.phase = Phase::Initializing;
        self.send_handshake();
    }

    /// The handshake exchange ended without its message.
    pub(crate) fn handshake_refused(
        &mut self,
        purpose: Purpose,
        status: u16,
        retry_after: Option<Duration>,
    ) {
        match status {
            0 | 500..=599 | 429 | 408 => self.link_failed(retry_after),
            // A 401 (or a step-up 403) waits for credentials instead (`refused_for_credentials`).
            401 | 403 => self.shut_down(CloseReason::Refused(status)),
            _ if purpose == Purpose::Discover => self.discover_refused(None),
            400 | 404 | 405 if self.link.era.is_none() => self.start_legacy(),
            200..=299 if self.link.era == Some(Era::HttpSse) => {} // the answer is on the stream
            _ => self.shut_down(CloseReason::Refused(status)),
        }
    }

    /// Connected: [`ClientEvent::Connected`], the GET stream (session era), queued work goes.
    pub(crate) fn become_ready(&mut self) {
        self.link.phase = Phase::Ready;
        self.link.failures = 0;
        self.gate.handshake_refusals = 0;
        self.gate.episode_left = None;
        self.timers
            .stop(&mut self.link.timers, Owner::Link, ClientTimer::Deadline);
        self.timers
            .stop(&mut self.link.timers, Owner::Link, ClientTimer::Retry);
        self.link.suspended = false;
        let server = self
            .link
            .handshake_result
            .take()
            .unwrap_or_else(super::empty_object);
        let era = self.link.era.unwrap_or(Era::Modern);
        // A pipe carries the server's own messages already: it has no GET stream.
        if era == Era::Sessions && self.link.standalone == Standalone::Off && !self.is_pipe() {
            self.link.standalone = Standalone::Waiting;
            self.link.standalone_last_event.clear();
            self.link.standalone_failures = 0;
            self.gate.standalone_refusals = 0;
        }
        self.events.push_back(ClientEvent::Connected {
            era,
            protocol_version: self.link.version.clone(),
            server,
        });
        self.pump();
    }

    /// The server forgot the session (404): every request it held fails, a new session is
    /// made, and queued work waits for it.
    pub(crate) fn session_lost(&mut self) {
        if self.link.phase != Phase::Ready && self.link.phase != Phase::Acknowledging {
            return;
        }
        if self.link.era == Some(Era::HttpSse) {
            // The 2024-11-05 stream is the session: losing the session is the stream's end.
            // (Clearing the transport here would end the stream inside this loss, and the new
            // stream its end opens would be cleared with the rest, left with no owner.)
            self.legacy_stream_ended(true, false);
            return;
        }
        self.counters.sessions_lost += 1;
        let generation = self.link.generation;
        let lost: Vec<_> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                let held = matches!(c.state, CallState::Sent(_) | CallState::Backoff)
                    || (c.state == CallState::Queued && c.resume);
                c.generation == generation && held
            })
            .map(|(id, _)| *id)
            .collect();
        for call in lost {
            self.fail_call(call, CallError::SessionLost, false);
        }
        self.clear_transport();
        self.link.generation += 1;
        self.link.session = None;
        self.link.version.clear();
        self.link.phase = Phase::Initializing;
        self.events.push_back(ClientEvent::SessionLost);
        self.after_loss();
    }

    /// A session was lost: the first loss starts a new one at once (a server restarted); a
    /// loss again before the new session has served anything backs off and counts toward
    /// `max_attempts`, so a server that forgets every session is not re-initialized at
    /// network speed forever.
    pub(crate) fn after_loss(&mut self) {
        self.link.losses += 1;
        if self.link.losses > self.config.retry.max_attempts {
            self.shut_down(CloseReason::Unreachable);
            return;
        }
        self.begin_episode(self.now);
        if self.link.losses == 1 {
            self.send_handshake();
            return;
        }
        self.counters.reconnect_attempts += 1;
        self.link.suspended = true;
        let random = self.random();
        let wait = super::entities::backoff(&self.config.retry, self.link.losses - 2, None, random);
        let deadline = super::entities::deadline_after(self.now, wait);
        self.timers.set(
            &mut self.link.timers,
            Owner::Link,
            ClientTimer::Retry,
            deadline,
        );
    }
}

/// Whether `error` from a session-era server means the session is gone.
pub(crate) fn is_session_gone(error: &ErrorObject) -> bool {
    ErrorCode(error.code) == ErrorCode::SESSION_NOT_FOUND
}
