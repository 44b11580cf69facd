//! Connections and exchanges: which request goes on which connection, reading its response,
//! and what a broken or finished exchange means for what it was for. Also the time input.

use alloc::string::String;
use alloc::vec::Vec;

use super::entities::{
    Body, CallState, ClientTimer, Conn, ConnState, Exchange, Owner, Phase, Purpose, Standalone,
    Timers, backoff, deadline_after,
};
use super::{Action, CallError, Client, ClientConnId, CloseReason, Era, wire};
use crate::http1::{BodyFraming, ResponseDecoder, ResponseHeader, ResponseLimits};
use crate::sse::{SseItem, SseParser};
use crate::time::{Duration, Instant};

/// The longest event id kept for `Last-Event-ID`.
const MAX_EVENT_ID: usize = 1024;

/// Why an exchange ended without a complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// The connection was never opened.
    NotConnected,
    /// It broke, or sent bytes that are not HTTP.
    Lost,
}

impl Client {
    // ---- byte-level inputs ----

    /// The connection the client asked for ([`super::Transmit::Open`]) is open.
    pub fn handle_connected(&mut self, now: Instant, conn: ClientConnId) {
        self.observe(now);
        if let Some(pipe) = self.pipe.as_mut().filter(|p| p.conn == conn) {
            pipe.open = true;
            self.actions.push_back(Action::Flush(conn));
            return;
        }
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        if entry.state != ConnState::Connecting {
            return;
        }
        entry.state = ConnState::Busy;
        self.timers
            .stop(&mut entry.timers, Owner::Conn(conn), ClientTimer::Connect);
        self.actions.push_back(Action::Flush(conn));
        self.reached();
    }

    /// The connection could not be opened.
    pub fn handle_connect_failed(&mut self, now: Instant, conn: ClientConnId) {
        self.observe(now);
        if self.pipe.as_ref().is_some_and(|p| p.conn == conn) {
            self.counters.connect_failures += 1;
            self.handle_pipe_ended(now, conn, "the pipe could not be opened");
            return;
        }
        if self
            .conns
            .get(&conn)
            .is_some_and(|c| c.state == ConnState::Connecting)
        {
            self.break_exchange(conn, Broken::NotConnected);
            self.remove_conn(conn);
        }
        self.pump();
    }

    /// Bytes read from a connection.
    pub fn handle_bytes(&mut self, now: Instant, conn: ClientConnId, bytes: &[u8]) {
        self.observe(now);
        if self.is_pipe() {
            self.pipe_bytes(conn, bytes);
            self.pump();
            return;
        }
        let mut rest = bytes;
        let mut body = Vec::new();
        while !rest.is_empty() {
            let Some(entry) = self.conns.get_mut(&conn) else {
                break;
            };
            if entry.exchange.is_none() {
                // Bytes with nothing asked: the connection cannot be trusted.
                self.counters.protocol_errors += 1;
                self.drop_conn(conn);
                break;
            }
            body.clear();
            let decoded = match entry.decoder.decode(rest, &mut body) {
                Ok(decoded) => decoded,
                Err(_) => {
                    self.counters.protocol_errors += 1;
                    self.break_exchange(conn, Broken::Lost);
                    break;
                }
            };
            rest = &rest[decoded.consumed..];
            if let Some(exchange) = entry.exchange.as_mut() {
                exchange.answered = true;
            }
            if let Some(head) = decoded.head {
                self.on_head(conn, head);
            }
            if !body.is_empty() {
                self.on_body(conn, &body);
                if self.dropped_too_much(conn) {
                    // Ended here, as if the body had: its head is all there is to act on. The
                    // connection goes with the rest of the body.
                    self.counters.oversized_messages += 1;
                    self.finish_exchange(conn, false);
                    self.drop_conn(conn);
                    break;
                }
            }
            if decoded.complete && self.conns.contains_key(&conn) {
                let reusable = rest.is_empty();
                self.finish_exchange(conn, reusable);
                if !rest.is_empty() {
                    self.counters.protocol_errors += 1;
                    self.drop_conn(conn);
                    break;
                }
            }
            if decoded.consumed == 0 {
                break;
            }
        }
        self.pump();
    }

    /// The server closed the connection (end of stream), or it broke.
    pub fn handle_closed(&mut self, now: Instant, conn: ClientConnId) {
        self.observe(now);
        if self.pipe.as_ref().is_some_and(|p| p.conn == conn) {
            self.handle_pipe_ended(now, conn, "the pipe closed");
            return;
        }
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        if entry.exchange.is_some() {
            match entry.decoder.finish() {
                Ok(true) => self.finish_exchange(conn, false),
                _ => self.break_exchange(conn, Broken::Lost),
            }
        }
        self.remove_conn(conn);
        self.pump();
    }

    // ---- time ----

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        loop {
            let fired = {
                let Client {
                    timers,
                    link,
                    calls,
                    conns,
                    posts,
                    server_requests,
                    ..
                } = self;
                let mut owners = (link, calls, conns, posts, server_requests);
                timers.pop_expired(self.now, &mut owners, |o, owner| match owner {
                    Owner::Link => Some(&mut o.0.timers),
                    Owner::Call(id) => o.1.get_mut(&id).map(|e| &mut e.timers),
                    Owner::Conn(id) => o.2.get_mut(&id).map(|e| &mut e.timers),
                    Owner::Post(id) => o.3.get_mut(&id).map(|e| &mut e.timers),
                    Owner::ServerRequest(id) => o.4.get_mut(&id).map(|e| &mut e.timers),
                })
            };
            let Some((owner, kind)) = fired else {
                break;
            };
            self.on_timer(owner, kind);
        }
        self.pump();
    }

    fn on_timer(&mut self, owner: Owner, kind: ClientTimer) {
        match (owner, kind) {
            (Owner::Link, ClientTimer::Retry) => {
                self.link.suspended = false;
                if matches!(
                    self.link.phase,
                    Phase::Opening
                        | Phase::Discovering
                        | Phase::Initializing
                        | Phase::Acknowledging
                ) {
                    self.send_handshake();
                }
            }
            (Owner::Link, ClientTimer::Deadline) => {
                if self.link.phase == Phase::Closing {
                    self.shut_down(CloseReason::Requested);
                } else {
                    self.shut_down(CloseReason::Unreachable);
                }
            }
            // The GET stream's reopen is due: `pump` starts it when there is room.
            (Owner::Link, ClientTimer::Standalone) => {}
            (Owner::Link, ClientTimer::Authorization) => self.authorization_timed_out(),
            (Owner::Link, ClientTimer::Connect) => self.probe_timed_out(),
            (Owner::Call(call), ClientTimer::Deadline) => {
                self.fail_call(call, CallError::Timeout, true);
            }
            (Owner::Call(call), ClientTimer::Retry) => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    if entry.state == CallState::Backoff {
                        entry.state = CallState::Queued;
                        self.queued.insert(call);
                    }
                }
            }
            (Owner::Conn(conn), ClientTimer::Connect) => {
                self.break_exchange(conn, Broken::NotConnected);
                self.drop_conn(conn);
            }
            (Owner::Conn(conn), ClientTimer::Idle) => self.drop_conn(conn),
            (Owner::Post(post), ClientTimer::Deadline) => {
                self.counters.posts_dropped += 1;
                self.drop_post_and_conn(post);
            }
            (Owner::ServerRequest(request), ClientTimer::Deadline) => {
                self.server_request_expired(request);
            }
            _ => {}
        }
    }

    // ---- dispatch ----

    /// Starts what can start: the handshake goes whenever it is due; calls, posts and the GET
    /// stream once connected, not backing off and not waiting for credentials.
    pub(crate) fn pump(&mut self) {
        if self.link.phase != Phase::Ready || self.link.suspended || self.gate.waiting {
            return;
        }
        // Each pass takes a snapshot: whatever happens to an entry, the loop moves on.
        let posts: Vec<u64> = self.unsent_posts.iter().copied().collect();
        for post in posts {
            if self.unsent_posts.contains(&post) && !self.start_exchange(Purpose::Post(post)) {
                return;
            }
        }
        let standalone_due = self.link.era == Some(Era::Sessions)
            && self.link.standalone == Standalone::Waiting
            && self.link.timers.get(ClientTimer::Standalone).is_none();
        if standalone_due && self.room_for_stream() && !self.start_exchange(Purpose::Standalone) {
            return;
        }
        let calls: Vec<CallId> = self.queued.iter().copied().collect();
        for call in calls {
            let Some(entry) = self
                .calls
                .get(&call)
                .filter(|_| self.queued.contains(&call))
            else {
                continue;
            };
            if entry.persistent && !self.room_for_stream() {
                // A listen waits for room; the requests behind it do not.
                continue;
            }
            let purpose = if entry.resume {
                Purpose::Resume(call)
            } else {
                Purpose::Call(call)
            };
            if !self.start_exchange(purpose) {
                return;
            }
        }
    }

    /// Whether one more long-lived stream (the GET stream, a listen) may take a connection:
    /// one connection always stays for requests, so streams can never starve them.
    fn room_for_stream(&self) -> bool {
        let streams = self
            .conns
            .values()
            .filter_map(|c| c.exchange.as_ref())
            .filter(|e| match e.purpose {
                Purpose::Standalone => true,
                Purpose::Call(call) => self.calls.get(&call).is_some_and(|c| c.persistent),
                _ => false,
            })
            .count();
        streams + 1 < self.config.limits.max_connections
    }

    /// Puts `purpose` on a connection: an idle one, or a new one under the limit. `false` when
    /// every connection is busy (it stays queued).
    pub(crate) fn start_exchange(&mut self, purpose: Purpose) -> bool {
        if self.is_pipe() {
            self.send_line(purpose);
            return true;
        }
        let Some(request) = self.encode(purpose) else {
            // Its owner went, or its bytes cannot be written: it ends, the queue goes on.
            self.unsendable(purpose);
            return true;
        };
        let (conn, reused) = if let Some(conn) = self.idle.pop_first() {
            (conn, true)
        } else if self.conns.len() < self.config.limits.max_connections {
            (ClientConnId(self.fresh_id()), false)
        } else {
            // Lowest priority waits: a busy pool delays, never drops.
            self.unencode(purpose);
            return false;
        };
        if reused {
            let Some(entry) = self.conns.get_mut(&conn) else {
                self.unencode(purpose);
                return false;
            };
            self.timers
                .stop(&mut entry.timers, Owner::Conn(conn), ClientTimer::Idle);
            entry.state = ConnState::Busy;
            entry.out = request;
            self.actions.push_back(Action::Flush(conn));
        } else {
            let mut timers = Timers::new();
            let deadline = deadline_after(self.now, self.config.timeouts.connect);
            self.timers.set(
                &mut timers,
                Owner::Conn(conn),
                ClientTimer::Connect,
                deadline,
            );
            self.conns.insert(
                conn,
                Conn {
                    state: ConnState::Connecting,
                    exchange: None,
                    decoder: ResponseDecoder::new(ResponseLimits::default()),
                    out: request,
                    served: 0,
                    timers,
                },
            );
            self.actions.push_back(Action::Open(conn));
            self.counters.connections_opened += 1;
        }
        let Some(entry) = self.conns.get_mut(&conn) else {
            return false;
        };
        entry.decoder.start(false);
        entry.exchange = Some(Exchange {
            purpose,
            head: None,
            body: Body::Awaiting,
            reused,
            answered: false,
            settled: false,
            opened_at: None,
            delivered: false,
        });
        self.bind(purpose, conn);
        true
    }

    /// `purpose`'s request could not be encoded (a header field holds CR, LF or NUL): what
    /// it is for ends now, rather than wait for a send that can never happen.
    fn unsendable(&mut self, purpose: Purpose) {
        let why = "a header field holds CR, LF or NUL";
        match purpose {
            Purpose::Call(call) | Purpose::Resume(call) => {
                self.fail_call(call, CallError::Protocol(why), false);
            }
            Purpose::Post(post) => {
                if self.posts.contains_key(&post) {
                    self.counters.posts_dropped += 1;
                    self.end_post(post);
                }
            }
            Purpose::Standalone => {
                if self.link.phase == Phase::Opening {
                    self.shut_down(CloseReason::Misconfigured(why.into()));
                } else {
                    self.link.standalone = Standalone::Unavailable;
                }
            }
            Purpose::Delete => self.shut_down(CloseReason::Requested),
            Purpose::Discover | Purpose::Initialize | Purpose::Initialized => {
                if self.handshake_pending(purpose) {
                    self.shut_down(CloseReason::Misconfigured(why.into()));
                }
            }
        }
    }

    /// Records where `purpose` now runs.
    fn bind(&mut self, purpose: Purpose, conn: ClientConnId) {
        match purpose {
            Purpose::Call(call) | Purpose::Resume(call) => {
                self.queued.remove(&call);
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.state = CallState::Sent(conn);
                }
            }
            Purpose::Post(post) => {
                self.unsent_posts.remove(&post);
                if let Some(entry) = self.posts.get_mut(&post) {
                    entry.sent = true;
                }
            }
            Purpose::Standalone => self.link.standalone = Standalone::Open(conn),
            _ => {}
        }
    }

    /// A connection goes, and what was on it breaks.
    pub(crate) fn drop_conn(&mut self, conn: ClientConnId) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.break_exchange(conn, Broken::Lost);
        self.remove_conn(conn);
    }

    fn remove_conn(&mut self, conn: ClientConnId) {
        if let Some(mut entry) = self.conns.remove(&conn) {
            self.timers.stop_all(&mut entry.timers, Owner::Conn(conn));
            self.idle.remove(&conn);
            self.actions.push_back(Action::Close(conn));
        }
    }

    fn drop_post_and_conn(&mut self, post: u64) {
        let conn = self.conns.iter().find_map(|(id, c)| {
            (c.exchange.as_ref().map(|e| e.purpose) == Some(Purpose::Post(post))).then_some(*id)
        });
        self.end_post(post);
        if let Some(conn) = conn {
            self.drop_conn(conn);
        }
    }

    // ---- responses ----

    fn on_head(&mut self, conn: ClientConnId, head: ResponseHeader) {
        let max = self.config.limits.max_message_bytes;
        let Some(exchange) = self.conns.get_mut(&conn).and_then(|c| c.exchange.as_mut()) else {
            return;
        };
        let status = head.status();
        let media = head.media_type().unwrap_or_default();
        exchange.body = if media == "text/event-stream" && (200..300).contains(&status) {
            Body::Events(SseParser::with_limit(max))
        } else if media == "application/json" || media.ends_with("+json") {
            if matches!(head.framing(), BodyFraming::Length(n) if n > max as u64) {
                self.counters.oversized_messages += 1;
                Body::Discard(0)
            } else {
                Body::Json(Vec::new())
            }
        } else {
            Body::Discard(0)
        };
        if super::authorization::refusal_status(&head).is_some() {
            // What the body says is no answer: the gate decides once the response has ended.
            exchange.body = Body::Discard(0);
        }
        let purpose = exchange.purpose;
        if status < 500 && status != 429 {
            self.reached();
        }
        if (200..300).contains(&status) {
            self.credentials_accepted(purpose);
        }
        if purpose == Purpose::Initialize && (200..300).contains(&status) {
            self.link.session = head
                .header_str("mcp-session-id")
                .filter(|id| {
                    !id.is_empty()
                        && id.len() <= 1024
                        && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
                })
                .map(String::from);
        }
        if let Some(exchange) = self.conns.get_mut(&conn).and_then(|c| c.exchange.as_mut()) {
            exchange.head = Some(head);
            exchange.opened_at = Some(self.now);
        }
    }

    /// The server was reached while ready: a connection to it opened, or it sent a response
    /// head. That ends the episode of failures (a backoff already running still runs out): a
    /// call that takes longer than `timeouts.reconnect` to be answered, on a connection that
    /// opened, is no sign of an unreachable server. While connecting only the handshake's
    /// completion ends the episode (`become_ready`).
    fn reached(&mut self) {
        if self.link.phase == Phase::Ready {
            self.link.failures = 0;
            self.gate.episode_left = None;
            self.timers
                .stop(&mut self.link.timers, Owner::Link, ClientTimer::Deadline);
        }
    }

    fn on_body(&mut self, conn: ClientConnId, bytes: &[u8]) {
        let max = self.config.limits.max_message_bytes;
        let Some(exchange) = self.conns.get_mut(&conn).and_then(|c| c.exchange.as_mut()) else {
            return;
        };
        match &mut exchange.body {
            Body::Json(buf) => {
                if buf.len() + bytes.len() > max {
                    exchange.body = Body::Discard(0);
                    self.counters.oversized_messages += 1;
                } else {
                    buf.extend_from_slice(bytes);
                }
            }
            Body::Events(parser) => {
                parser.feed(bytes);
                self.drain_events(conn);
            }
            Body::Discard(dropped) => *dropped = dropped.saturating_add(bytes.len()),
            Body::Awaiting => {}
        }
    }

    /// Whether the body being dropped on `conn` has run past `max_message_bytes`: nothing in
    /// it will be read, and a peer that sends it without end would hold the connection, and
    /// the bandwidth, until some deadline.
    fn dropped_too_much(&self, conn: ClientConnId) -> bool {
        let max = self.config.limits.max_message_bytes;
        self.conns
            .get(&conn)
            .and_then(|c| c.exchange.as_ref())
            .is_some_and(|e| matches!(e.body, Body::Discard(dropped) if dropped > max))
    }

    /// Dispatches every complete event of a stream.
    fn drain_events(&mut self, conn: ClientConnId) {
        loop {
            let Some(exchange) = self.conns.get_mut(&conn).and_then(|c| c.exchange.as_mut()) else {
                return;
            };
            let purpose = exchange.purpose;
            let Body::Events(parser) = &mut exchange.body else {
                return;
            };
            let item = parser.poll_item();
            let last_event_id = parser.last_event_id();
            // An id longer than a header can sensibly carry is not echoed back as a megabyte
            // of Last-Event-ID: the stream cannot be resumed from it, nor from the id before
            // it (that would replay what was already delivered), so none is kept.
            if !last_event_id.is_empty() {
                let kept = if last_event_id.len() <= MAX_EVENT_ID {
                    String::from(last_event_id)
                } else {
                    String::new()
                };
                self.note_event_id(purpose, kept);
            }
            match item {
                None => return,
                Some(Err(_)) => {
                    self.counters.oversized_messages += 1;
                    self.drop_conn(conn);
                    return;
                }
                Some(Ok(SseItem::Event(event))) => {
                    self.note_event(purpose);
                    let legacy = self.link.era == Some(Era::HttpSse);
                    if legacy && event.event == "endpoint" && purpose == Purpose::Standalone {
                        self.on_endpoint(&event.data);
                    } else if !event.data.is_empty()
                        && self.on_message(purpose, event.data.as_bytes())
                    {
                        self.note_delivered(conn, purpose);
                    }
                }
                Some(Ok(SseItem::Retry(ms))) => match purpose {
                    Purpose::Call(call) | Purpose::Resume(call) => {
                        if let Some(entry) = self.calls.get_mut(&call) {
                            entry.server_retry = Some(ms);
                        }
                    }
                    _ => self.link.server_retry = Some(ms),
                },
                Some(Ok(SseItem::Comment(_))) => {}
            }
        }
    }

    /// A call's stream carried an event: its resumption attempts start over.
    ///
    /// A stream that delivered is not a failure in a row: a server that ends each stream
    /// after an event (2025-11-25's polling, `close_stream`) is followed as long as the call's
    /// own deadline allows, at the server's `retry` each time. A listen has no deadline: what
    /// counts for it is progress ([`Exchange::progressed`]), judged when its stream ends.
    fn note_event(&mut self, purpose: Purpose) {
        if let Purpose::Call(call) | Purpose::Resume(call) = purpose {
            if let Some(entry) = self.calls.get_mut(&call).filter(|c| !c.persistent) {
                entry.failures = 0;
            }
        }
    }

    /// The stream on `conn` delivered a message to the application: it made progress, and
    /// (the session's stream) the session has served something.
    fn note_delivered(&mut self, conn: ClientConnId, purpose: Purpose) {
        if self.link.phase != Phase::Ready {
            // The HTTP+SSE handshake's answers open the session; they deliver nothing yet.
            return;
        }
        if let Some(exchange) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.exchange.as_mut())
            .filter(|e| e.purpose == purpose)
        {
            exchange.delivered = true;
        }
        if purpose == Purpose::Standalone {
            self.link.losses = 0;
        }
    }

    fn note_event_id(&mut self, purpose: Purpose, id: String) {
        match purpose {
            Purpose::Call(call) | Purpose::Resume(call) => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.last_event_id = id;
                }
            }
            Purpose::Standalone => self.link.standalone_last_event = id,
            _ => {}
        }
    }

    /// The response ended cleanly. `reusable`: nothing followed it on the connection.
    fn finish_exchange(&mut self, conn: ClientConnId, reusable: bool) {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(exchange) = entry.exchange.take() else {
            return;
        };
        entry.served += 1;
        let keep = reusable
            && exchange
                .head
                .as_ref()
                .is_some_and(ResponseHeader::keep_alive)
            && matches!(
                self.link.phase,
                Phase::Ready
                    | Phase::Opening
                    | Phase::Discovering
                    | Phase::Initializing
                    | Phase::Acknowledging
            );
        if keep {
            entry.state = ConnState::Idle;
            let deadline = deadline_after(self.now, self.config.timeouts.idle_connection);
            self.timers.set(
                &mut entry.timers,
                Owner::Conn(conn),
                ClientTimer::Idle,
                deadline,
            );
            self.idle.insert(conn);
        } else {
            self.remove_conn(conn);
        }
        if let Some(head) = exchange.head.as_ref() {
            if self.refused_for_credentials(conn, exchange.purpose, head) {
                return;
            }
        }
        let status = exchange.head.as_ref().map_or(0, ResponseHeader::status);
        let retry_after = exchange.head.as_ref().and_then(retry_after);
        let progressed = exchange.progressed(self.now, self.config.retry.max);
        let streamed = matches!(exchange.body, Body::Events(_));
        let json = match exchange.body {
            Body::Json(bytes) => Some(bytes),
            _ => None,
        };
        if exchange.purpose == Purpose::Standalone
            && (200..300).contains(&status)
            && !streamed
            && self.link.era == Some(Era::Sessions)
        {
            // A 2xx that is no event stream: the server offers no GET stream.
            self.link.standalone = Standalone::Unavailable;
            return;
        }
        self.on_response_end(
            exchange.purpose,
            status,
            retry_after,
            json,
            exchange.settled,
            progressed,
        );
    }

    /// What a complete response means for its purpose. `progressed`: a stream made progress
    /// ([`Exchange::progressed`]).
    fn on_response_end(
        &mut self,
        purpose: Purpose,
        status: u16,
        retry_after: Option<Duration>,
        json: Option<Vec<u8>>,
        settled: bool,
        progressed: bool,
    ) {
        let awaiting = self.handshake_wire;
        let legacy_fallback = purpose == Purpose::Initialize
            && matches!(status, 400 | 404 | 405)
            && self.link.era.is_none()
            && self.handshake_pending(purpose);
        if legacy_fallback {
            // Refused as Streamable HTTP, whatever the error says: try HTTP+SSE (the
            // 2025-03-26 backward-compatibility rule).
            self.start_legacy();
            return;
        }
        if let Some(body) = json.as_deref().filter(|b| !b.is_empty()) {
            if status >= 400 && crate::jsonrpc::decode(body).is_err() {
                // Some servers answer an error without `jsonrpc` or `id`: it is still the
                // answer to this exchange's request.
                if let Some(error) = super::messages::loose_error(body) {
                    self.on_exchange_error(purpose, error);
                }
            } else {
                self.on_message(purpose, body);
            }
        }
        let settled = settled || self.settled(purpose);
        match purpose {
            Purpose::Discover | Purpose::Initialize => {
                let unanswered = awaiting != 0 && self.handshake_wire == awaiting;
                if unanswered && !settled && self.handshake_pending(purpose) {
                    self.handshake_refused(purpose, status, retry_after);
                }
            }
            Purpose::Initialized => {
                if self.link.phase == Phase::Acknowledging {
                    if (200..300).contains(&status) {
                        self.become_ready();
                    } else if status == 404 {
                        self.session_lost();
                    } else {
                        self.link_failed(retry_after);
                    }
                }
            }
            Purpose::Call(call) | Purpose::Resume(call) => {
                if settled {
                    return;
                }
                if (200..300).contains(&status) && self.link.era == Some(Era::HttpSse) {
                    // Accepted: the answer comes on the session's stream.
                    if let Some(entry) = self.calls.get_mut(&call) {
                        entry.state = CallState::Awaiting;
                    }
                } else if status == 404
                    && self.link.era == Some(Era::Sessions)
                    && self.link.session.is_some()
                {
                    // A POST refused for its session was not seen: it goes again in the next
                    // one. A resumption refused was seen (its stream had begun): it failed.
                    if purpose == Purpose::Call(call) {
                        self.requeue_after_refusal(call);
                    }
                    self.session_lost();
                } else if (200..300).contains(&status) {
                    self.stream_ended(call, None, progressed);
                } else if status == 503 || status == 429 {
                    self.stream_ended(call, retry_after.or(Some(Duration::ZERO)), false);
                } else {
                    self.fail_call(call, CallError::Http(status), false);
                }
            }
            Purpose::Standalone if self.link.era == Some(Era::HttpSse) => {
                self.legacy_stream_ended((200..300).contains(&status), progressed);
            }
            Purpose::Standalone => {
                self.link.standalone = Standalone::Waiting;
                match status {
                    405 => self.link.standalone = Standalone::Unavailable,
                    404 if self.link.session.is_some() => self.session_lost(),
                    // A stream that ended without progress (nothing but its priming event, a
                    // moment open) counts as a failure: a server that answers and closes at
                    // once is not reopened forever.
                    200..=299 => self.reopen_standalone(!progressed),
                    _ => self.reopen_standalone(true),
                }
            }
            Purpose::Post(post) => {
                if status == 404 && self.link.session.is_some() {
                    self.end_post(post);
                    self.session_lost();
                } else {
                    if !(200..300).contains(&status) {
                        self.counters.posts_dropped += 1;
                    }
                    self.end_post(post);
                }
            }
            Purpose::Delete => {
                if self.link.phase == Phase::Closing {
                    self.shut_down(CloseReason::Requested);
                }
            }
        }
    }

    /// The exchange on `conn` broke before its response completed.
    pub(crate) fn break_exchange(&mut self, conn: ClientConnId, how: Broken) {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(exchange) = entry.exchange.take() else {
            return;
        };
        entry.state = ConnState::Busy;
        let never_reached = how == Broken::NotConnected || (exchange.reused && !exchange.answered);
        let progressed = exchange.progressed(self.now, self.config.retry.max);
        if how == Broken::NotConnected {
            self.counters.connect_failures += 1;
        }
        if let Some(head) = exchange.head.as_ref() {
            // Refused, then cut off: still refused.
            if self.refused_for_credentials(conn, exchange.purpose, head) {
                return;
            }
        }
        let settled = exchange.settled || self.settled(exchange.purpose);
        match exchange.purpose {
            Purpose::Discover | Purpose::Initialize | Purpose::Initialized => {
                let unanswered =
                    exchange.purpose == Purpose::Initialized || self.handshake_wire != 0;
                if unanswered && !settled && self.handshake_pending(exchange.purpose) {
                    self.link_failed(None);
                }
            }
            Purpose::Call(call) | Purpose::Resume(call) => {
                if settled {
                    return;
                }
                if never_reached {
                    self.requeue(call);
                    if how == Broken::NotConnected {
                        self.link_failed(None);
                    }
                } else {
                    self.stream_ended(call, None, progressed);
                }
            }
            Purpose::Standalone if self.link.era == Some(Era::HttpSse) => {
                if self.link.standalone == Standalone::Open(conn) {
                    self.legacy_stream_ended(exchange.head.is_some(), progressed);
                }
            }
            Purpose::Standalone => {
                if self.link.standalone == Standalone::Open(conn) {
                    self.link.standalone = Standalone::Waiting;
                    self.reopen_standalone(!progressed);
                }
            }
            Purpose::Post(post) => {
                if never_reached && self.posts.contains_key(&post) {
                    if let Some(p) = self.posts.get_mut(&post) {
                        p.sent = false;
                    }
                    self.unsent_posts.insert(post);
                    if how == Broken::NotConnected {
                        self.link_failed(None);
                    }
                } else {
                    self.end_post(post);
                }
            }
            Purpose::Delete => {
                if self.link.phase == Phase::Closing {
                    self.shut_down(CloseReason::Requested);
                }
            }
        }
    }

    /// Back in the queue after the server refused it unprocessed (404 for its session), up to
    /// `max_attempts` times.
    pub(crate) fn requeue_after_refusal(&mut self, call: CallId) {
        let max_attempts = self.config.retry.max_attempts;
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if entry.resume || !entry.last_event_id.is_empty() {
            // The server had begun its answer: not refused unseen, and not to be run twice.
            return;
        }
        entry.failures += 1;
        if entry.failures > max_attempts {
            self.fail_call(call, CallError::SessionLost, false);
            return;
        }
        if entry.wire_id != 0 {
            self.by_wire.remove(&entry.wire_id);
            entry.wire_id = 0;
        }
        entry.resume = false;
        self.requeue(call);
    }

    /// Back in the queue: it never reached the server.
    fn requeue(&mut self, call: CallId) {
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.state = CallState::Queued;
            self.queued.insert(call);
        }
    }

    /// A call's stream ended without its response: resume it (session era, after an event
    /// id), reopen it (a listen stream), or fail it. A listen's stream that `progressed`
    /// ([`Exchange::progressed`]) starts its failures over; any other end is one more in a row.
    fn stream_ended(&mut self, call: CallId, floor: Option<Duration>, progressed: bool) {
        let sessions = self.link.era == Some(Era::Sessions);
        let max_attempts = self.config.retry.max_attempts;
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if progressed && entry.persistent {
            entry.failures = 0;
        }
        let resumable = sessions && !entry.last_event_id.is_empty();
        let retryable = resumable || entry.persistent || floor.is_some();
        if !retryable || entry.failures >= max_attempts {
            self.fail_call(call, CallError::ConnectionLost, false);
            return;
        }
        entry.state = CallState::Backoff;
        entry.resume = resumable;
        let attempt = entry.failures;
        entry.failures += 1;
        let advice = entry.server_retry.map(Duration::from_millis).or(floor);
        let random = self.random();
        let wait = match advice {
            // The server said when: that is the time, give or take nothing (sse-retry).
            Some(advice) if attempt == 0 => self.advised(advice),
            _ => backoff(&self.config.retry, attempt, advice, random),
        };
        let deadline = deadline_after(self.now, wait);
        if let Some(entry) = self.calls.get_mut(&call) {
            self.timers.set(
                &mut entry.timers,
                Owner::Call(call),
                ClientTimer::Retry,
                deadline,
            );
        }
    }

    /// Reopens the session's GET stream after the server's advice or a backoff. `failed`: it
    /// ended without progress, one more failure in a row; otherwise its failures start over,
    /// and the session has served something.
    fn reopen_standalone(&mut self, failed: bool) {
        if self.link.phase != Phase::Ready || self.link.era != Some(Era::Sessions) {
            self.link.standalone = Standalone::Off;
            return;
        }
        if failed {
            self.link.standalone_failures += 1;
            if self.link.standalone_failures > self.config.retry.max_attempts {
                self.link.standalone = Standalone::Unavailable;
                return;
            }
        } else {
            self.link.standalone_failures = 0;
            self.link.losses = 0;
        }
        self.link.standalone = Standalone::Waiting;
        let attempt = self.link.standalone_failures;
        let advice = self.link.server_retry.map(Duration::from_millis);
        let random = self.random();
        let wait = match advice {
            Some(advice) if !failed => self.advised(advice),
            _ => backoff(&self.config.retry, attempt, advice, random),
        };
        let deadline = deadline_after(self.now, wait);
        self.timers.set(
            &mut self.link.timers,
            Owner::Link,
            ClientTimer::Standalone,
            deadline,
        );
    }

    /// A server's `retry:` advice, within reason: at least 100 ms (a stream that ends at once
    /// must not be reopened at network speed), at most [`Retry::max`](super::Retry::max).
    fn advised(&self, advice: Duration) -> Duration {
        let max = self.config.retry.max.as_millis().max(100);
        Duration::from_millis(advice.as_millis().clamp(100, max))
    }

    /// Whether the thing `purpose` exists for has already been answered.
    fn settled(&self, purpose: Purpose) -> bool {
        match purpose {
            Purpose::Call(call) | Purpose::Resume(call) => self
                .calls
                .get(&call)
                .is_none_or(|c| !matches!(c.state, CallState::Sent(_))),
            _ => false,
        }
    }

    pub(crate) fn handshake_pending(&self, purpose: Purpose) -> bool {
        matches!(
            (purpose, &self.link.phase),
            (Purpose::Discover, Phase::Discovering)
                | (Purpose::Initialize, Phase::Initializing)
                | (Purpose::Initialized, Phase::Acknowledging)
        )
    }

    /// The handshake (or the link's requests) could not reach the server: back off, or give
    /// up past the attempt cap.
    pub(crate) fn link_failed(&mut self, floor: Option<Duration>) {
        if matches!(self.link.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        if self.link.suspended {
            // Exchanges already in flight when the first failed are the same attempt.
            return;
        }
        self.counters.reconnect_attempts += 1;
        let attempt = self.link.failures;
        self.link.failures += 1;
        if self.link.failures > self.config.retry.max_attempts {
            self.shut_down(CloseReason::Unreachable);
            return;
        }
        self.begin_episode(self.now);
        self.link.suspended = true;
        let random = self.random();
        let wait = backoff(&self.config.retry, attempt, floor, random);
        let deadline = deadline_after(self.now, wait);
        self.timers.set(
            &mut self.link.timers,
            Owner::Link,
            ClientTimer::Retry,
            deadline,
        );
    }

    /// Arms the reconnect deadline if no episode is running. While the client waits for
    /// credentials the episode begins paused: it runs from when the wait ends.
    pub(crate) fn begin_episode(&mut self, now: Instant) {
        if self.gate.waiting {
            if self.gate.episode_left.is_none() {
                self.gate.episode_left = Some(self.config.timeouts.reconnect);
            }
            return;
        }
        if self.link.timers.get(ClientTimer::Deadline).is_none() {
            let deadline = deadline_after(now, self.config.timeouts.reconnect);
            self.timers.set(
                &mut self.link.timers,
                Owner::Link,
                ClientTimer::Deadline,
                deadline,
            );
        }
    }

    /// Undoes the bookkeeping of an encode that found no connection.
    fn unencode(&mut self, purpose: Purpose) {
        if let Purpose::Call(call) = purpose {
            if let Some(entry) = self.calls.get_mut(&call) {
                if entry.wire_id != 0 {
                    self.by_wire.remove(&entry.wire_id);
                    entry.wire_id = 0;
                }
            }
        }
    }

    /// A new JSON-RPC id for `call`'s next attempt, indexed; `None` if the call is gone.
    pub(crate) fn assign_wire(&mut self, call: CallId) -> Option<u64> {
        let wire_id = self.fresh_id();
        let generation = self.link.generation;
        let entry = self.calls.get_mut(&call)?;
        if entry.wire_id != 0 {
            self.by_wire.remove(&entry.wire_id);
        }
        entry.wire_id = wire_id;
        entry.generation = generation;
        entry.last_event_id.clear();
        entry.server_retry = None;
        self.by_wire.insert(wire_id, call);
        Some(wire_id)
    }

    /// Builds the bytes of `purpose`'s request, or `None` if its owner is gone.
    fn encode(&mut self, purpose: Purpose) -> Option<Vec<u8>> {
        let mut headers: Vec<(String, String)> = self.config.headers.clone();
        // Every request, DELETE and HTTP+SSE ones included: each goes to the one server.
        if let Some(value) = &self.gate.value {
            headers.push(("authorization".into(), value.clone()));
        }
        let era = self.link.era;
        let session_headers = |headers: &mut Vec<(String, String)>, link: &super::Link| {
            if link.era == Some(Era::HttpSse) {
                // 2024-11-05 knows neither: the session is in the endpoint's URL.
                return;
            }
            if let Some(id) = &link.session {
                headers.push(("mcp-session-id".into(), id.clone()));
            }
            if !link.version.is_empty() {
                headers.push(("mcp-protocol-version".into(), link.version.clone()));
            }
        };
        let (method, body): (&str, Vec<u8>) = match purpose {
            Purpose::Discover => {
                self.handshake_wire = self.fresh_id();
                let (body, extra) = wire::discover(&self.config, self.handshake_wire);
                headers.extend(extra);
                ("POST", body)
            }
            Purpose::Initialize => {
                self.handshake_wire = self.fresh_id();
                let legacy = era == Some(Era::HttpSse);
                (
                    "POST",
                    wire::initialize(&self.config, self.handshake_wire, legacy),
                )
            }
            Purpose::Initialized => {
                session_headers(&mut headers, &self.link);
                (
                    "POST",
                    wire::notification("notifications/initialized", None),
                )
            }
            Purpose::Post(post) => {
                session_headers(&mut headers, &self.link);
                ("POST", self.posts.get(&post)?.body.clone())
            }
            Purpose::Delete => {
                session_headers(&mut headers, &self.link);
                ("DELETE", Vec::new())
            }
            Purpose::Standalone => {
                session_headers(&mut headers, &self.link);
                if !self.link.standalone_last_event.is_empty() {
                    headers.push((
                        "last-event-id".into(),
                        self.link.standalone_last_event.clone(),
                    ));
                }
                ("GET", Vec::new())
            }
            Purpose::Resume(call) => {
                session_headers(&mut headers, &self.link);
                let entry = self.calls.get(&call)?;
                headers.push(("last-event-id".into(), entry.last_event_id.clone()));
                ("GET", Vec::new())
            }
            Purpose::Call(call) => {
                let wire_id = self.assign_wire(call)?;
                let entry = &self.calls[&call];
                match era {
                    Some(Era::Modern) => {
                        let (body, extra) = wire::modern_request(&self.config, entry, wire_id);
                        headers.extend(extra);
                        ("POST", body)
                    }
                    _ => {
                        if entry.persistent {
                            // A listen stream needs 2026-07-28: fail it, not the session.
                            self.fail_call(
                                call,
                                CallError::Protocol(
                                    "subscriptions/listen needs the 2026-07-28 era",
                                ),
                                false,
                            );
                            return None;
                        }
                        let body = wire::session_request(entry, wire_id);
                        session_headers(&mut headers, &self.link);
                        ("POST", body)
                    }
                }
            }
        };
        let accept = match method {
            "GET" => "text/event-stream",
            _ => "application/json, text/event-stream",
        };
        headers.push(("accept".into(), accept.into()));
        if method == "POST" {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let borrowed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let target = match (&self.link.legacy_endpoint, method) {
            (Some(endpoint), "POST") if era == Some(Era::HttpSse) => endpoint.as_str(),
            _ => self.config.path.as_str(),
        };
        let mut out = Vec::new();
        if crate::http1::encode_request(
            &mut out,
            method,
            target,
            &self.config.authority,
            &borrowed,
            &body,
        )
        .is_err()
        {
            self.counters.protocol_errors += 1;
            return None;
        }
        Some(out)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured: the core has no calendar).
fn retry_after(head: &ResponseHeader) -> Option<Duration> {
    let value = head.header_str("retry-after")?;
    let secs: u64 = value.parse().ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

use super::CallId;
