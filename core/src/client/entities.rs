//! The client's entities. Each has one owner, a timer table, and is removed together with its
//! timers and index entries in one transition (see `Client::end_call` and friends).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::http1::{ResponseDecoder, ResponseHeader};
use crate::jsonrpc::{RawValue, RequestId};
use crate::sse::SseParser;
use crate::time::{Duration, Instant};
use crate::timer::{TimerKind, TimerTable};

use super::config::Era;
use super::events::{CallId, ClientConnId, ServerRequestId};

/// Every timer the client arms. One queue holds them all, keyed by [`Owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ClientTimer {
    /// The end of a backoff: try again.
    Retry,
    /// The end of the whole operation (a call's timeout, a reconnect episode, a post, a close).
    Deadline,
    /// Opening a connection.
    Connect,
    /// An idle keep-alive connection.
    Idle,
    /// The session's GET stream: reopen it.
    Standalone,
    /// The wait for credentials: past it, the authorization has failed.
    Authorization,
}

impl TimerKind for ClientTimer {
    const ALL: &'static [Self] = &[
        ClientTimer::Retry,
        ClientTimer::Deadline,
        ClientTimer::Connect,
        ClientTimer::Idle,
        ClientTimer::Standalone,
        ClientTimer::Authorization,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

pub(crate) type Timers = TimerTable<ClientTimer, 6>;

/// Who a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Owner {
    Link,
    Call(CallId),
    Conn(ClientConnId),
    Post(u64),
    ServerRequest(ServerRequestId),
}

/// Where the client is in getting (and staying) connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// HTTP+SSE: the GET stream is open(ing), waiting for its `endpoint` event.
    Opening,
    /// `server/discover` is (or is about to be) in flight.
    Discovering,
    /// `initialize` is in flight.
    Initializing,
    /// `notifications/initialized` is in flight.
    Acknowledging,
    /// Requests go out.
    Ready,
    /// `DELETE` of the session is in flight.
    Closing,
    /// Nothing is left.
    Closed,
}

/// The session's GET stream (session era).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standalone {
    /// Not wanted (modern era, or not connected).
    Off,
    /// Waiting for its reopen timer or a connection.
    Waiting,
    /// Open on this connection.
    Open(ClientConnId),
    /// The server does not offer one (405).
    Unavailable,
}

/// The client's connection to the server, in the protocol's sense.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) phase: Phase,
    pub(crate) era: Option<Era>,
    pub(crate) version: String,
    pub(crate) session: Option<String>,
    /// Bumped on every new session: a job sent in an older one is stale.
    pub(crate) generation: u64,
    /// Transport failures in a row. While connecting they count until the handshake
    /// completes (a response head is no proof of that: a server can answer every attempt and
    /// still never let one finish); once ready, a connection that opens or a response head
    /// proves the server reachable and starts them over.
    pub(crate) failures: u32,
    /// Sessions lost in a row; reset once a session has served something (an answer to a
    /// call, a message on its GET stream, a GET stream that made progress).
    pub(crate) losses: u32,
    /// In backoff: nothing is dispatched until the retry timer fires.
    pub(crate) suspended: bool,
    pub(crate) standalone: Standalone,
    pub(crate) standalone_last_event: String,
    /// The GET stream's ends in a row without progress ([`Exchange::progressed`]).
    pub(crate) standalone_failures: u32,
    /// The server's `retry:` advice for its streams, in milliseconds.
    pub(crate) server_retry: Option<u64>,
    /// HTTP+SSE: the path (and query) its `endpoint` event named, where every POST goes.
    pub(crate) legacy_endpoint: Option<String>,
    /// The `initialize` result waiting for the `initialized` acknowledgment.
    pub(crate) handshake_result: Option<Box<RawValue>>,
    pub(crate) timers: Timers,
}

/// What a call is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// Waiting for the link to be ready, or for a connection.
    Queued,
    /// Its request (or its resumption) is on this connection.
    Sent(ClientConnId),
    /// HTTP+SSE: its POST was accepted; the answer comes on the session's stream.
    Awaiting,
    /// Waiting for the application's answers to an `input_required` result.
    AwaitingInput,
    /// Waiting out a backoff before resuming its stream (session era) or reopening a listen.
    Backoff,
}

/// An `input_required` round: the server's requests, and the answers collected so far.
#[derive(Debug, Default)]
pub(crate) struct InputRound {
    pub(crate) request_state: Option<Box<RawValue>>,
    /// Key → the server request asked of the application, then its answer.
    pub(crate) pending: BTreeMap<String, ServerRequestId>,
    pub(crate) answers: BTreeMap<String, Box<RawValue>>,
    pub(crate) rounds: u32,
}

/// A request of the application's.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) method: String,
    /// The application's params, kept to re-send (listen, input rounds); charged as held bytes.
    pub(crate) params: Option<Box<RawValue>>,
    pub(crate) state: CallState,
    pub(crate) progress: bool,
    /// A listen stream: reopened when it breaks, no timeout.
    pub(crate) persistent: bool,
    /// The JSON-RPC id of the attempt on the wire.
    pub(crate) wire_id: u64,
    /// The session generation its attempt went out in.
    pub(crate) generation: u64,
    /// The last event id its stream carried: resumption starts after it.
    pub(crate) last_event_id: String,
    /// When queued: resume the stream by GET rather than send the request.
    pub(crate) resume: bool,
    /// The server's `retry:` advice on its stream, in milliseconds.
    pub(crate) server_retry: Option<u64>,
    pub(crate) failures: u32,
    pub(crate) input: Option<InputRound>,
    /// Header fields of its own (`Mcp-Param-*`), 2026-07-28 only.
    pub(crate) headers: Vec<(String, String)>,
    /// Times it was refused for want of credentials since it was last accepted.
    pub(crate) authorizations: u32,
    /// Queued by the authorization gate: it fails if the credentials do not come.
    pub(crate) parked: bool,
    pub(crate) timers: Timers,
}

impl Call {
    pub(crate) fn held_bytes(&self) -> usize {
        self.headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
            + self.params.as_ref().map_or(0, |p| p.get().len())
            + self.input.as_ref().map_or(0, |round| {
                round.request_state.as_ref().map_or(0, |s| s.get().len())
                    + round
                        .answers
                        .iter()
                        .map(|(k, v)| k.len() + v.get().len())
                        .sum::<usize>()
            })
    }
}

/// A notification or response posted to the server; no outcome reaches the application.
#[derive(Debug)]
pub(crate) struct Post {
    pub(crate) body: Vec<u8>,
    pub(crate) sent: bool,
    /// Times it was refused for want of credentials.
    pub(crate) authorizations: u32,
    /// Unsent again by the authorization gate: dropped if the credentials do not come.
    pub(crate) parked: bool,
    pub(crate) timers: Timers,
}

/// Where a server request came from, and so where its answer goes.
#[derive(Debug)]
pub(crate) enum Origin {
    /// A JSON-RPC request on a session-era stream: answered by a POST.
    Session { id: RequestId, generation: u64 },
    /// One of an `input_required` result's requests.
    Input { call: CallId, key: String },
}

#[derive(Debug)]
pub(crate) struct ServerRequest {
    pub(crate) origin: Origin,
    pub(crate) timers: Timers,
}

/// Why an exchange exists: what its response is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Discover,
    Initialize,
    Initialized,
    Call(CallId),
    /// GET with `Last-Event-ID` for a call's broken stream.
    Resume(CallId),
    Standalone,
    Post(u64),
    Delete,
}

/// How a response body is being read.
#[derive(Debug)]
pub(crate) enum Body {
    /// The head has not arrived.
    Awaiting,
    /// One JSON message, up to `max_message_bytes`.
    Json(Vec<u8>),
    /// An event stream.
    Events(SseParser),
    /// Read and dropped (202s, errors without JSON): the bytes dropped so far.
    Discard(usize),
}

/// One HTTP request and its response, on one connection.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) purpose: Purpose,
    pub(crate) head: Option<ResponseHeader>,
    pub(crate) body: Body,
    /// The request was written on a connection that had served one before.
    pub(crate) reused: bool,
    /// Whether any byte of the response arrived.
    pub(crate) answered: bool,
    /// Whether the message this exchange exists for (a response) arrived.
    pub(crate) settled: bool,
    /// When its response head arrived: how long a stream has been open.
    pub(crate) opened_at: Option<Instant>,
    /// Whether it carried, once the client was ready, a message for the application beyond
    /// what opens a stream (a priming event, a listen's acknowledgment, a server's `ping`).
    pub(crate) delivered: bool,
}

impl Exchange {
    /// Whether a stream that ends now made progress: it delivered a message, or it stayed
    /// open for at least `min_life` ([`Retry::max`](super::Retry::max)). An end after
    /// progress is reopened promptly and starts its failures over; any other end is a failure
    /// in a row, backed off and counted toward [`Retry::max_attempts`](super::Retry).
    ///
    /// A stream that lived `Retry::max` costs one request per `Retry::max` at most, the rate
    /// the capped backoff settles at anyway: counting it as a failure would bound nothing
    /// more, and would give up on servers and proxies that end quiet streams on a schedule.
    pub(crate) fn progressed(&self, now: Instant, min_life: Duration) -> bool {
        self.delivered
            || self
                .opened_at
                .is_some_and(|at| now.saturating_duration_since(at) >= min_life)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    Connecting,
    Busy,
    Idle,
}

/// One connection to the server.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) state: ConnState,
    pub(crate) exchange: Option<Exchange>,
    pub(crate) decoder: ResponseDecoder,
    /// Request bytes not yet handed to the adapter.
    pub(crate) out: Vec<u8>,
    pub(crate) served: u32,
    pub(crate) timers: Timers,
}

impl Conn {
    pub(crate) fn held_bytes(&self) -> usize {
        self.out.len()
            + self.decoder.held_bytes()
            + match self.exchange.as_ref().map(|e| &e.body) {
                Some(Body::Json(bytes)) => bytes.len(),
                Some(Body::Events(parser)) => parser.buffered_bytes(),
                _ => 0,
            }
    }
}

/// Backoff: `initial × 2^attempt` capped at `max`, drawn in `[d/2, d]`, at least `floor`.
pub(crate) fn backoff(
    retry: &super::config::Retry,
    attempt: u32,
    floor: Option<Duration>,
    random: u64,
) -> Duration {
    let cap = retry.max.as_millis().max(1);
    let base = retry
        .initial
        .as_millis()
        .saturating_mul(1u64 << attempt.min(32))
        .clamp(1, cap);
    let half = base / 2;
    let drawn = half + random % (base - half + 1);
    let floor = floor.map_or(0, |f| f.as_millis().min(cap));
    Duration::from_millis(drawn.max(floor))
}

pub(crate) fn deadline_after(now: Instant, wait: Duration) -> Instant {
    now.saturating_add(wait)
}
