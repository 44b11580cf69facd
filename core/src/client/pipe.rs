//! The pipe transport ([`Transport::Pipe`](super::Transport::Pipe)): one byte stream both
//! ways, one JSON-RPC message per line, as the stdio transport carries it.
//!
//! Everything the HTTP transport puts on an exchange goes on the one connection as a line;
//! every line read is routed as a session's own stream is (responses by id, notifications by
//! progress token or subscription id, the server's requests in the session era), so the eras'
//! handshakes, `input_required` rounds and timeouts are the HTTP transport's. What a pipe has
//! not: reconnection, resumption, a GET stream, `DELETE`. A cancelled request is
//! `notifications/cancelled` in both eras (a stream to close there is not), and the pipe's end
//! fails every call at once.

use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize;

use super::entities::{CallState, ClientTimer, Owner, Phase, Purpose, deadline_after};
use super::{Action, CallError, CallId, Client, ClientConnId, CloseReason, Era, wire};
use crate::jsonrpc::RawValue;
use crate::lines::{Frame, LineDecoder, encode_line};
use crate::time::Instant;

/// The one connection of a pipe client.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) conn: ClientConnId,
    /// The adapter said it is open ([`Client::handle_connected`]).
    pub(crate) open: bool,
    /// Lines from the server, each at most `max_message_bytes`.
    pub(crate) decoder: LineDecoder,
    /// Lines not yet handed to the adapter.
    pub(crate) out: Vec<u8>,
}

#[derive(Deserialize)]
struct Correlated<'a> {
    #[serde(rename = "progressToken", borrow, default)]
    progress_token: Option<&'a RawValue>,
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "io.modelcontextprotocol/subscriptionId", borrow, default)]
    subscription: Option<&'a RawValue>,
}

impl Client {
    pub(crate) fn is_pipe(&self) -> bool {
        self.config.transport == super::Transport::Pipe
    }

    /// The pipe's connection, asked for once when the client starts.
    pub(crate) fn open_pipe(&mut self) {
        let conn = ClientConnId(self.fresh_id());
        self.pipe = Some(Pipe {
            conn,
            open: false,
            decoder: LineDecoder::new(self.config.limits.max_message_bytes),
            out: Vec::new(),
        });
        self.actions.push_back(Action::Open(conn));
        self.counters.connections_opened += 1;
    }

    /// What `start_exchange` is over a pipe: `purpose`'s message goes out as one line, and
    /// what it was for waits for its answer on the pipe (or, for what has none, is done).
    pub(crate) fn send_line(&mut self, purpose: Purpose) {
        let Some(body) = self.line_body(purpose) else {
            if let Purpose::Post(post) = purpose {
                self.end_post(post);
            }
            return;
        };
        let Some(pipe) = self.pipe.as_mut() else {
            return;
        };
        encode_line(&body, &mut pipe.out);
        let conn = pipe.conn;
        self.actions.push_back(Action::Flush(conn));
        match purpose {
            Purpose::Discover => {
                // A session-era server may leave a method it does not know unanswered.
                let deadline = deadline_after(self.now, self.config.timeouts.connect);
                self.timers.set(
                    &mut self.link.timers,
                    Owner::Link,
                    ClientTimer::Connect,
                    deadline,
                );
            }
            Purpose::Initialized => self.become_ready(),
            Purpose::Post(post) => self.end_post(post),
            Purpose::Call(call) => {
                self.queued.remove(&call);
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.state = CallState::Awaiting;
                }
            }
            _ => {}
        }
    }

    /// The JSON of `purpose`'s message, or `None` if its owner is gone or a pipe has no such
    /// thing.
    fn line_body(&mut self, purpose: Purpose) -> Option<Vec<u8>> {
        match purpose {
            Purpose::Discover => {
                self.handshake_wire = self.fresh_id();
                Some(wire::discover(&self.config, self.handshake_wire).0)
            }
            Purpose::Initialize => {
                self.handshake_wire = self.fresh_id();
                Some(wire::initialize(&self.config, self.handshake_wire, false))
            }
            Purpose::Initialized => Some(wire::notification("notifications/initialized", None)),
            Purpose::Post(post) => Some(self.posts.get(&post)?.body.clone()),
            Purpose::Call(call) => {
                let wire_id = self.assign_wire(call)?;
                let entry = &self.calls[&call];
                if self.link.era == Some(Era::Modern) {
                    return Some(wire::modern_request(&self.config, entry, wire_id).0);
                }
                if entry.persistent {
                    self.fail_call(
                        call,
                        CallError::Protocol("subscriptions/listen needs the 2026-07-28 era"),
                        false,
                    );
                    return None;
                }
                Some(wire::session_request(entry, wire_id))
            }
            Purpose::Resume(_) | Purpose::Standalone | Purpose::Delete => None,
        }
    }

    /// Whether the handshake request of the current phase is out on the pipe, unanswered.
    pub(crate) fn pipe_handshake_in_flight(&self) -> bool {
        matches!(self.link.phase, Phase::Discovering | Phase::Initializing)
            && self.handshake_wire != 0
    }

    /// The probe went unanswered: the server is taken for a session-era one.
    pub(crate) fn probe_timed_out(&mut self) {
        if self.link.phase == Phase::Discovering && self.handshake_wire != 0 {
            // A late answer to the probe is then no one's.
            self.handshake_wire = 0;
            self.discover_refused(None);
        }
    }

    /// Bytes from the pipe: each complete line is one message; a line past
    /// `max_message_bytes` is counted and discarded as it arrives.
    pub(crate) fn pipe_bytes(&mut self, conn: ClientConnId, bytes: &[u8]) {
        let mut rest = bytes;
        loop {
            let Some(pipe) = self.pipe.as_mut().filter(|p| p.conn == conn) else {
                return;
            };
            let Some(frame) = pipe.decoder.decode(&mut rest) else {
                return;
            };
            self.on_frame(frame);
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Line(line) => {
                self.on_message(Purpose::Standalone, &line);
            }
            Frame::TooLong => self.counters.oversized_messages += 1,
        }
    }

    /// The call a notification read from the pipe is about: the one whose request id is its
    /// progress token, or (a listen) its subscription id.
    pub(crate) fn correlate(&self, params: Option<&RawValue>) -> Option<CallId> {
        let parsed: Correlated<'_> = serde_json::from_str(params?.get()).ok()?;
        let token = parsed
            .progress_token
            .or(parsed.meta.and_then(|m| m.subscription))?;
        let text = token.get().trim();
        let wire: u64 = text.trim_matches('"').parse().ok()?;
        self.by_wire.get(&wire).copied()
    }

    /// The pipe ended (the adapter knows why: a child's exit status, its stderr's tail):
    /// every call fails with [`CallError::Exited`] and the client closes with
    /// [`CloseReason::Exited`].
    pub fn handle_pipe_ended(&mut self, now: Instant, conn: ClientConnId, why: &str) {
        self.observe(now);
        if self.pipe.as_ref().is_none_or(|p| p.conn != conn) {
            return;
        }
        // A last line without its newline is still a message.
        if let Some(frame) = self.pipe.as_mut().and_then(|p| p.decoder.finish()) {
            self.on_frame(frame);
        }
        // The adapter has already let it go.
        self.pipe = None;
        if self.is_closed() {
            return;
        }
        let why = String::from(why);
        self.clear_work(CallError::Exited(why.clone()));
        self.shut_down(CloseReason::Exited(why));
    }

    /// Over a pipe, the pipe's connection: let go, as told.
    pub(crate) fn close_pipe(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            self.actions.push_back(Action::Close(pipe.conn));
        }
    }

    /// The bytes a pipe holds: unsent lines and a partial line read.
    pub(crate) fn pipe_held_bytes(&self) -> usize {
        self.pipe
            .as_ref()
            .map_or(0, |p| p.out.len() + p.decoder.buffered_bytes())
    }
}
