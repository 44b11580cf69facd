//! The 2024-11-05 HTTP+SSE transport, the fallback of the session era: a GET stream whose
//! first event (`endpoint`) names the URL every message is POSTed to, and on which every answer
//! and server message arrives. The stream is the session: when it ends, the session has, and a
//! new stream makes a new one.

use alloc::string::String;
use alloc::vec::Vec;

use super::entities::{CallState, Phase, Standalone};
use super::{CallError, Client, ClientEvent, Era, LEGACY_VERSION};

impl Client {
    /// `initialize` was refused as Streamable HTTP (400, 404, 405): open the GET stream.
    pub(crate) fn start_legacy(&mut self) {
        self.link.era = Some(Era::HttpSse);
        self.link.version = LEGACY_VERSION.into();
        self.link.phase = Phase::Opening;
        self.link.legacy_endpoint = None;
        self.link.standalone = Standalone::Off;
        self.link.standalone_last_event.clear();
        self.send_handshake();
    }

    /// The stream's `endpoint` event: where to POST. A relative reference resolves against
    /// the server; an absolute URL must name the same server (a stream must not send the
    /// client's messages elsewhere).
    pub(crate) fn on_endpoint(&mut self, data: &str) {
        if self.link.phase != Phase::Opening {
            return;
        }
        let data = data.trim();
        let scheme = if self.config.secure {
            "https://"
        } else {
            "http://"
        };
        let path = if let Some(rest) = data.strip_prefix(scheme) {
            match rest.find('/') {
                Some(at) if rest[..at].eq_ignore_ascii_case(&self.config.authority) => &rest[at..],
                _ => "",
            }
        } else if data.starts_with('/') {
            data
        } else {
            ""
        };
        let clean =
            !path.is_empty() && path.len() <= 2048 && path.bytes().all(|b| b.is_ascii_graphic());
        if !clean {
            self.counters.protocol_errors += 1;
            self.shut_down(super::CloseReason::Incompatible(
                "the HTTP+SSE endpoint event names no URL of this server".into(),
            ));
            return;
        }
        self.link.legacy_endpoint = Some(String::from(path));
        self.link.phase = Phase::Initializing;
        self.send_handshake();
    }

    /// The session's stream ended or broke: what the session held is lost, and a new stream
    /// is opened (after a backoff when it failed without an answer). A stream that
    /// `progressed` once ready ([`Exchange::progressed`](super::entities::Exchange::progressed))
    /// served its session: the losses in a row start over. Before the session was ready, an
    /// end is a failure of the handshake, whatever the stream carried.
    pub(crate) fn legacy_stream_ended(&mut self, answered: bool, progressed: bool) {
        self.link.standalone = Standalone::Off;
        if matches!(self.link.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        let was_ready = self.link.phase == Phase::Ready;
        if was_ready && progressed {
            self.link.losses = 0;
        }
        let generation = self.link.generation;
        let lost: Vec<_> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                c.generation == generation
                    && matches!(c.state, CallState::Sent(_) | CallState::Awaiting)
            })
            .map(|(id, _)| *id)
            .collect();
        for call in lost {
            self.fail_call(call, CallError::SessionLost, false);
        }
        self.clear_transport();
        self.link.generation += 1;
        self.link.legacy_endpoint = None;
        self.link.handshake_result = None;
        self.handshake_wire = 0;
        self.link.phase = Phase::Opening;
        if was_ready {
            self.counters.sessions_lost += 1;
            self.events.push_back(ClientEvent::SessionLost);
        }
        if answered && was_ready {
            self.after_loss();
        } else {
            self.link_failed(None);
        }
    }
}
