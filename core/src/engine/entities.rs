//! The engine's entities and the timers each one owns. Every entity lives in exactly one primary
//! map of the engine; every index that mentions it is cleared in the transition that ends it
//! (see `lifecycle.rs`), and `check_invariants` proves it.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use serde_json::value::RawValue;

use super::ids::{ConnId, ExchangeId, InflightId, OutboundId, SessionKey, StreamId};
use super::protocol::{LogLevel, ProtocolVersion};
use super::resume_log::ResumeLog;
use crate::http1::{Payload, ServerCodec};
use crate::jsonrpc::RequestId;
use crate::timer::{TimerKind, TimerTable};

macro_rules! timer_kinds {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub(crate) enum $name { $($(#[$vdoc])* $variant),+ }

        impl TimerKind for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn slot(self) -> usize {
                self as usize
            }
        }
    };
}

timer_kinds!(
    /// A connection's timers.
    ConnTimer {
        /// A request started arriving and must finish within `request_read`.
        RequestRead,
        /// No request and no output: close after `connection_idle`.
        Idle,
        /// Output may be stalled: when it fires, close if nothing moved for `write`, else
        /// re-arm from the last progress (a lazy timer, so that progress costs no index update).
        Write,
    }
);

timer_kinds!(
    /// A session's timers.
    SessionTimer {
        /// No open stream and no request in flight.
        Idle,
        /// `notifications/initialized` has not arrived.
        Init,
        /// Time for the next heartbeat ping.
        Heartbeat,
    }
);

timer_kinds!(
    /// A stream's timers.
    StreamTimer {
        /// Time for the next keep-alive comment (attached SSE streams).
        Keepalive,
        /// The resume window of a detached stream.
        Linger,
        /// A JSON-mode POST still waiting: switch to SSE so that bytes flow.
        Upgrade,
    }
);

timer_kinds!(
    /// A client request's timer.
    InflightTimer {
        /// The configured request timeout.
        Timeout,
    }
);

timer_kinds!(
    /// A token verification's timer.
    VerificationTimer {
        /// The application's verdict is due (`Timeouts::token_verification`).
        Timeout,
    }
);

timer_kinds!(
    /// A server-to-client request's timer.
    OutboundTimer {
        /// The response deadline.
        Timeout,
    }
);

/// A byte-level transport connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) codec: ServerCodec,
    /// The exchange being answered, if any.
    pub(crate) exchange: Option<ExchangeId>,
    /// Bytes handed to the adapter by `poll_transmit` and not yet reported written.
    pub(crate) unacked: usize,
    /// Listed in the engine's `touched` queue, awaiting `settle`.
    pub(crate) touched: bool,
    /// Listed in the engine's `dirty` queue, awaiting `poll_transmit`.
    pub(crate) dirty: bool,
    /// Output is queued or unacknowledged.
    pub(crate) writing: bool,
    /// Output bytes it holds (queued or unacknowledged), as of its last settle.
    pub(crate) accounted: usize,
    /// The output queue's own slots, as of its last settle; charged with `accounted`.
    pub(crate) bookkeeping: usize,
    /// Of those, bytes of messages that waited for room (paced): what remains counts against
    /// `max_queued_bytes_per_connection`. An upper bound, clamped to `accounted`.
    pub(crate) paced: usize,
    /// Input bytes its codec holds, as charged at its last settle.
    pub(crate) input: usize,
    /// The last `handle_bytes` took less than offered or left no read capacity: the adapter
    /// waits for `poll_readable` to name it.
    pub(crate) read_blocked: bool,
    /// Listed in the engine's `readable` queue.
    pub(crate) readable_listed: bool,
    /// Listed in the engine's `input_waiters`: it waits for room in the input pool.
    pub(crate) waiting_input: bool,
    /// Who the peer is, for the per-peer connection cap.
    pub(crate) peer: Option<super::budget::PeerKey>,
    /// A trusted proxy's connection whose PROXY protocol header has not been read yet: its
    /// reader, and the proxy's own address (the peer when the header names no client).
    pub(crate) proxy: Option<Box<(crate::proxy_protocol::HeaderReader, core::net::IpAddr)>>,
    /// No request has arrived yet: the read deadline runs from the accept.
    pub(crate) fresh: bool,
    /// The peer sent FIN while a response was owed: the connection goes (as on a reset) once
    /// what is queued for it, an earlier answer, is written.
    pub(crate) peer_gone: bool,
    /// Finished streams whose last bytes are queued here: they end once everything is written.
    pub(crate) flushing: Vec<StreamId>,
    /// When output last made progress, or started to be pending: the write deadline counts
    /// from here.
    pub(crate) write_progress: crate::time::Instant,
    pub(crate) timers: TimerTable<ConnTimer, 3>,
    /// A pipe (stdio, or any byte stream carrying newline-delimited JSON-RPC): its codec is
    /// lines, not HTTP, and it carries many exchanges at once (see `pipe.rs`).
    pub(crate) pipe: Option<Box<super::pipe::Pipe>>,
}

impl Conn {
    /// A new connection: nothing read, written or charged yet.
    pub(crate) fn new(
        codec: ServerCodec,
        now: crate::time::Instant,
        peer: Option<super::budget::PeerKey>,
        proxy: Option<Box<(crate::proxy_protocol::HeaderReader, core::net::IpAddr)>>,
        pipe: Option<Box<super::pipe::Pipe>>,
    ) -> Self {
        Conn {
            codec,
            exchange: None,
            unacked: 0,
            touched: false,
            dirty: false,
            writing: false,
            accounted: 0,
            bookkeeping: 0,
            paced: 0,
            input: 0,
            read_blocked: false,
            readable_listed: false,
            waiting_input: false,
            peer,
            proxy,
            // A socket's first request gets the read deadline; a pipe has none.
            fresh: pipe.is_none(),
            peer_gone: false,
            flushing: Vec::new(),
            write_progress: now,
            timers: TimerTable::new(),
            pipe,
        }
    }

    /// Output bytes queued in its codec (HTTP) or its pipe, not yet taken by the adapter.
    pub(crate) fn queued_bytes(&self) -> usize {
        match &self.pipe {
            Some(pipe) => pipe.queued_bytes(),
            None => self.codec.queued_bytes(),
        }
    }

    /// Input bytes held in its codec (HTTP) or its pipe's line decoder.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.codec.buffered_bytes() + self.pipe.as_ref().map_or(0, |p| p.buffered_bytes())
    }
}

/// Where an exchange's response goes.
#[derive(Debug)]
pub(crate) enum Sink {
    /// Into a connection's codec.
    Conn(ConnId),
    /// Into a queue the host polls (request level).
    Host(HostQueue),
}

/// A request-level exchange's output, waiting for the host.
#[derive(Debug, Default)]
pub(crate) struct HostQueue {
    pub(crate) items: VecDeque<super::ExchangeOutput>,
    pub(crate) bytes: usize,
    /// Of those, bytes of paced messages (see `Conn::paced`).
    pub(crate) paced: usize,
    /// What the budget holds for this queue: its bytes and its slots (see `charge`).
    pub(crate) charged: usize,
    /// The head has been queued.
    pub(crate) head_sent: bool,
    /// The response has ended (`End` is queued or was taken).
    pub(crate) ended: bool,
}

impl HostQueue {
    /// What the queue holds: its body bytes, and its slots while it holds anything.
    pub(crate) fn charge(&self) -> usize {
        let slots = if self.items.is_empty() {
            0
        } else {
            self.items.capacity() * size_of::<super::ExchangeOutput>()
        };
        self.bytes + slots
    }

    /// Queues body bytes; returns how many, for the budget.
    pub(crate) fn push_body(&mut self, payload: Payload) -> usize {
        let len = payload.as_slice().len();
        self.bytes += len;
        self.items.push_back(super::ExchangeOutput::Body(payload));
        len
    }
}

/// One HTTP request being answered.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) sink: Sink,
    /// The stream this exchange carries, if its response is a stream or a pending JSON body.
    pub(crate) stream: Option<StreamId>,
    /// The response head went out with a streaming body.
    pub(crate) streaming: bool,
    /// A request for an application path, waiting for `respond_http`.
    pub(crate) awaiting_application: bool,
    /// The body of that request, which the application holds until it answers: charged as
    /// request bytes.
    pub(crate) application_bytes: usize,
    /// What its report needs, while reporting is on (`reports.rs`).
    pub(crate) report: Option<Box<super::reports::ReportDraft>>,
    /// The grant of the request's bearer token, once verified (a resource server only).
    pub(crate) grant: Option<Arc<super::auth::Granted>>,
    /// The request, held while its token is verified, and the verification it waits for
    /// (its bytes are counted in `application_bytes`).
    pub(crate) awaiting: Option<Box<(super::ids::VerificationId, crate::http1::Request)>>,
}

impl Exchange {
    /// A new exchange answering into `sink`: nothing sent, nothing held yet.
    pub(crate) fn new(sink: Sink) -> Self {
        Exchange {
            sink,
            stream: None,
            streaming: false,
            awaiting_application: false,
            application_bytes: 0,
            report: None,
            grant: None,
            awaiting: None,
        }
    }
}

/// What a stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// The responses to one POST.
    Post,
    /// The session's standalone GET stream.
    Standalone,
    /// The 2024-11-05 SSE stream that carries a legacy session.
    Legacy,
    /// A 2026-07-28 `subscriptions/listen` stream: the stateless context it belongs to is
    /// served by the engine itself, not by a request of the application.
    Listen,
}

/// What kind of client context a `Session` record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// A Streamable HTTP session (2025-03-26 to 2025-11-25), named by `Mcp-Session-Id`.
    Streamable,
    /// A 2024-11-05 HTTP+SSE session, carried by its SSE stream.
    Legacy,
    /// A 2026-07-28 request's context (see `modern/mod.rs`): no wire id, no timer, owned by
    /// the exchange of its one stream and ended with it.
    Stateless,
}

/// What a listen stream was asked to carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ListenFilter {
    pub(crate) tools: bool,
    pub(crate) prompts: bool,
    pub(crate) resources: bool,
}

/// A `subscriptions/listen` request, answered by the engine for as long as its stream lasts.
#[derive(Debug)]
pub(crate) struct Listen {
    /// The listen request's id: every frame carries it as `subscriptionId`.
    pub(crate) id: RequestId,
    pub(crate) filter: ListenFilter,
}

/// How a POST stream's responses are sent.
#[derive(Debug)]
pub(crate) enum StreamMode {
    /// Collected and sent as one JSON body when the last arrives.
    Json {
        responses: Vec<Vec<u8>>,
        batch: bool,
    },
    /// Sent as SSE events as they come.
    Sse,
}

/// An SSE stream, or a POST's responses waiting to become one JSON body.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) session: SessionKey,
    /// Its number among its session's streams, the first part of its event ids.
    pub(crate) index: u64,
    pub(crate) kind: StreamKind,
    pub(crate) mode: StreamMode,
    /// The exchange carrying the stream now; `None` while detached (resumable).
    pub(crate) exchange: Option<ExchangeId>,
    /// Client requests whose responses still have to go on this stream.
    pub(crate) pending: usize,
    /// The next event's sequence number; the priming event uses 0.
    pub(crate) next_seq: u64,
    pub(crate) log: ResumeLog,
    /// The protocol version of the request that opened the stream.
    pub(crate) protocol: ProtocolVersion,
    /// The connection its last bytes were queued on, until they are written.
    pub(crate) flushing_on: Option<ConnId>,
    /// While detached: when it detached, in the engine's detach order (its key in the engine's
    /// `detached` index, oldest first).
    pub(crate) detached_order: Option<u64>,
    /// Requests whose last command for this stream got `WouldBlock`: told `Writable` when it
    /// has room again, or when it attaches or detaches (then they retry against the new state).
    pub(crate) blocked: Vec<InflightId>,
    pub(crate) timers: TimerTable<StreamTimer, 3>,
}

impl Stream {
    /// Bytes of collected JSON responses (JSON mode only).
    pub(crate) fn json_bytes(&self) -> usize {
        match &self.mode {
            StreamMode::Json { responses, .. } => responses.iter().map(Vec::len).sum(),
            StreamMode::Sse => 0,
        }
    }

    /// Where its resume log is charged: a detached stream's log is kept only for a client that
    /// may come back.
    pub(crate) fn log_holding(&self) -> super::budget::Holding {
        if self.detached_order.is_some() {
            super::budget::Holding::Detached
        } else {
            super::budget::Holding::ResumeLog
        }
    }
}

/// An MCP session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The `Mcp-Session-Id`: a secret.
    pub(crate) wire_id: String,
    /// The value of `Config::session_binding`'s header when the session was created.
    pub(crate) binding: Option<Box<[u8]>>,
    pub(crate) kind: SessionKind,
    /// A stateless context that serves a listen stream.
    pub(crate) listen: Option<Box<Listen>>,
    pub(crate) protocol: ProtocolVersion,
    /// `initialize` was answered.
    pub(crate) opened: bool,
    /// `notifications/initialized` arrived.
    pub(crate) initialized: bool,
    /// Minimum level of log notifications; `None` sends every level, except in a stateless
    /// context, where it sends none (the request asked for no log).
    pub(crate) log_level: Option<LogLevel>,
    /// Subscribed URIs, shared with the engine's `subscribers` index (stored once).
    pub(crate) subscriptions: BTreeSet<Arc<str>>,
    /// `clientInfo` and `capabilities` of `initialize`, shared with the application.
    pub(crate) client_info: Option<Arc<RawValue>>,
    pub(crate) client_capabilities: Option<Arc<RawValue>>,
    /// Bytes charged to this session (see `budget.rs`); at most `limits.max_session_bytes`.
    pub(crate) held: usize,
    /// Its streams that are detached.
    pub(crate) detached: usize,
    /// The standalone GET stream (or the legacy stream).
    pub(crate) standalone: Option<StreamId>,
    pub(crate) streams: BTreeSet<StreamId>,
    /// The last stream number handed out (see `Stream::index`).
    pub(crate) next_stream_index: u64,
    /// Streams with an exchange attached: an open stream keeps the session alive.
    pub(crate) attached_streams: usize,
    pub(crate) inflight: BTreeMap<RequestId, InflightId>,
    pub(crate) outbound: BTreeMap<i64, OutboundId>,
    pub(crate) next_outbound_id: i64,
    /// Unsolicited messages waiting for a GET stream (SSE bodies), bounded.
    pub(crate) backlog: VecDeque<Arc<[u8]>>,
    /// Bytes in `backlog`.
    pub(crate) backlog_bytes: usize,
    pub(crate) heartbeat_failures: u32,
    pub(crate) timers: TimerTable<SessionTimer, 3>,
}

/// A client request the application has not answered.
#[derive(Debug)]
pub(crate) struct Inflight {
    pub(crate) session: SessionKey,
    pub(crate) request_id: RequestId,
    pub(crate) stream: StreamId,
    /// `params._meta.progressToken`, as raw JSON.
    pub(crate) progress_token: Option<Box<RawValue>>,
    pub(crate) last_progress: Option<f64>,
    /// Bytes charged for it (its id, kept twice, and its params, which the application holds
    /// while it works).
    pub(crate) held: usize,
    /// Its last command got `WouldBlock`: it is listed where `Writable` will come from.
    pub(crate) blocked: Option<super::budget::Wait>,
    /// A stateless request: what its result must carry (see `modern/results.rs`).
    pub(crate) shape: Option<super::modern::results::ResultShape>,
    /// A stateless retry of an input-required result: the state it brought back, opened, and
    /// what it is bound to (its method and name), for the next round's seal.
    pub(crate) input: Option<Box<InputRound>>,
    pub(crate) timers: TimerTable<InflightTimer, 1>,
}

/// What a stateless request carries beyond its params: its input-required round and the
/// parameters its headers mirror.
#[derive(Debug)]
pub(crate) struct InputRound {
    /// The state the retry brought back, opened (empty on a first round).
    pub(crate) state: Vec<u8>,
    /// The method and name a next round's state is bound to.
    pub(crate) binding: Vec<u8>,
    /// `Mcp-Param-{Name}` headers: the name lowercased, the value as sent.
    pub(crate) param_headers: Vec<(String, Box<[u8]>)>,
    /// The request came with HTTP headers that must mirror its parameters (not over a pipe,
    /// which has no header layer).
    pub(crate) mirrored: bool,
}

impl InputRound {
    /// Bytes it holds, charged with its request.
    pub(crate) fn bytes(&self) -> usize {
        self.state.len()
            + self.binding.len()
            + self
                .param_headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 32)
                .sum::<usize>()
    }
}

/// A request to the client awaiting its response.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) session: SessionKey,
    pub(crate) wire_id: i64,
    /// A heartbeat ping: its answer goes to the heartbeat, not the application.
    pub(crate) heartbeat: bool,
    pub(crate) timers: TimerTable<OutboundTimer, 1>,
}
