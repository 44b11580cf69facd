//! Streams: where a session's messages go, how they are framed (one JSON body or SSE events),
//! what is kept for resumption, and how a detached stream is resumed.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::Engine;

/// How a stream lost its exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lost {
    /// The response ended cleanly; on this connection, if a socket carried it.
    Finished(Option<crate::engine::ConnId>),
    /// The exchange died first.
    Aborted,
}
use super::budget::Holding;
use super::entities::{SessionKind, Stream, StreamKind, StreamMode, StreamTimer};
use super::events::Event;
use super::ids::{ExchangeId, InflightId, RequestHandle, SessionKey, StreamId};
use super::protocol::ProtocolVersion;
use super::transport::Pacing;
use crate::ascii::StackLine;
use crate::jsonrpc::ErrorCode;
use crate::sse;
use crate::timer::TimerTable;

/// Encodes one JSON-RPC message as the shared part of an SSE event: everything after the `id:`
/// line. Line breaks inside the JSON (pretty-printed raw values) become separate `data:` lines.
pub(super) fn sse_body(json: &[u8]) -> Arc<[u8]> {
    let text = core::str::from_utf8(json).unwrap_or("");
    let mut body = Vec::with_capacity(json.len() + 24);
    body.extend_from_slice(b"event: message\n");
    sse::push_data(&mut body, text);
    body.push(b'\n');
    Arc::from(body)
}

/// The `id:` line of event `seq` on the session's stream number `index`. The id names its
/// stream, so `Last-Event-ID` alone says which stream to resume. Both numbers count within one
/// session: an id tells its client nothing about anybody else's activity.
fn id_line(index: u64, seq: u64) -> StackLine {
    let mut line = StackLine::new();
    line.push(b"id: ")
        .push_decimal(index)
        .push(b"-")
        .push_decimal(seq)
        .push(b"\n");
    line
}

/// A `Last-Event-ID` as (the session's stream number, sequence number).
fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (index, seq) = id.split_once('-')?;
    Some((index.parse().ok()?, seq.parse().ok()?))
}

impl Engine {
    pub(super) fn new_stream(
        &mut self,
        session: SessionKey,
        kind: StreamKind,
        mode: StreamMode,
        protocol: ProtocolVersion,
    ) -> StreamId {
        let id = self.streams.vacant_key();
        let index = self.sessions.get_mut(session).map_or(0, |s| {
            s.next_stream_index += 1;
            s.next_stream_index
        });
        self.streams.insert_at(
            id,
            Stream {
                session,
                index,
                kind,
                mode,
                exchange: None,
                pending: 0,
                next_seq: 1,
                log: Default::default(),
                protocol,
                flushing_on: None,
                detached_order: None,
                blocked: Vec::new(),
                timers: TimerTable::new(),
            },
        );
        if let Some(s) = self.sessions.get_mut(session) {
            s.streams.insert(id);
        }
        self.charge(
            Holding::ResumeLog,
            Some(session),
            super::budget::STREAM_BYTES,
        );
        self.counters.streams_opened += 1;
        id
    }

    /// Puts `stream` on `exchange`: it stops lingering and its keep-alive (or JSON upgrade)
    /// deadline starts.
    pub(super) fn attach_stream(&mut self, stream: StreamId, exchange: ExchangeId) {
        let now = self.now();
        let interval = self.config.timeouts.keepalive_interval;
        let resumed = self
            .streams
            .get(stream)
            .is_some_and(|s| s.detached_order.is_some());
        self.note_undetached(stream);
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        s.exchange = Some(exchange);
        self.stream_timers
            .stop(&mut s.timers, stream, StreamTimer::Linger);
        // Resumed while its last bytes were still queued elsewhere: that connection no longer
        // decides when the stream is delivered.
        if let Some(old) = s.flushing_on.take() {
            if let Some(c) = self.conns.get_mut(old) {
                c.flushing.retain(|&f| f != stream);
            }
        }
        // A stateless answer is upgraded too, though its status can then no longer say what it
        // is (404 for an unknown method): bytes must flow for the write deadline to find a
        // client that vanished during a long call, and an answer that slow is not a lookup.
        let timer = match s.mode {
            StreamMode::Sse => StreamTimer::Keepalive,
            StreamMode::Json { .. } => StreamTimer::Upgrade,
        };
        self.stream_timers
            .set(&mut s.timers, stream, timer, now + interval);
        let session = s.session;
        if let Some(ex) = self.exchanges.get_mut(exchange) {
            ex.stream = Some(stream);
        }
        if let Some(sess) = self.sessions.get_mut(session) {
            sess.attached_streams += 1;
        }
        self.refresh_session_idle(session);
        if resumed {
            for handle in self.requests_on(stream) {
                self.emit(Event::StreamResumed { handle });
            }
        }
        self.wake_stream(stream);
    }

    /// The requests whose responses `stream` is to carry.
    fn requests_on(&self, stream: StreamId) -> Vec<RequestHandle> {
        let Some(session) = self.streams.get(stream).map(|s| s.session) else {
            return Vec::new();
        };
        self.sessions.get(session).map_or_else(Vec::new, |sess| {
            sess.inflight
                .values()
                .filter(|id| self.inflight.get(**id).is_some_and(|i| i.stream == stream))
                .map(|&inflight: &InflightId| RequestHandle { session, inflight })
                .collect()
        })
    }

    /// The exchange carrying `stream` is gone. A JSON-mode POST can no longer be answered and
    /// ends; a legacy stream takes its session with it. An SSE stream stays resumable for the
    /// resume window, including one whose last event was sent: until its connection confirms
    /// the bytes were written (`Lost::Finished(Some(conn))`, settled in `settle_conn`), the
    /// client may not have them.
    pub(super) fn stream_lost_exchange(&mut self, stream: StreamId, how: Lost) {
        let now = self.now();
        let window = self.config.timeouts.resume_window;
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        if s.exchange.take().is_none() {
            return;
        }
        self.stream_timers
            .stop(&mut s.timers, stream, StreamTimer::Keepalive);
        self.stream_timers
            .stop(&mut s.timers, stream, StreamTimer::Upgrade);
        let session = s.session;
        if self
            .sessions
            .get(session)
            .is_some_and(|sess| sess.kind == SessionKind::Stateless)
        {
            // In the stateless era a stream is its request: complete, or cancelled by the
            // client closing it. Either way nothing is kept.
            if let Some(sess) = self.sessions.get_mut(session) {
                sess.attached_streams = sess.attached_streams.saturating_sub(1);
            }
            return self.end_context(session);
        }
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let done = s.kind == StreamKind::Post && s.pending == 0;
        let json = matches!(s.mode, StreamMode::Json { .. });
        let legacy = s.kind == StreamKind::Legacy;
        // A request-level host took the whole response: nothing is left to resume.
        let delivered = done && how == Lost::Finished(None);
        let lingers = !json && !legacy && !delivered;
        if lingers {
            self.stream_timers
                .set(&mut s.timers, stream, StreamTimer::Linger, now + window);
            if let (true, Lost::Finished(Some(conn))) = (done, how) {
                if let Some(c) = self.conns.get_mut(conn) {
                    s.flushing_on = Some(conn);
                    c.flushing.push(stream);
                }
            }
        }
        if let Some(sess) = self.sessions.get_mut(session) {
            sess.attached_streams = sess.attached_streams.saturating_sub(1);
        }
        if legacy {
            self.end_session(session, super::CloseReason::StreamClosed);
        } else if json || delivered {
            self.end_stream(stream);
        } else {
            for handle in self.requests_on(stream) {
                self.emit(Event::StreamDetached { handle });
            }
            // Blocked requests retry against the detached stream's log; this may evict.
            self.wake_stream(stream);
            self.note_detached(stream);
        }
        self.refresh_session_idle(session);
    }

    /// Sends the SSE head on `stream`'s exchange, then the priming event (2025-11-25 and later,
    /// when `priming`) and a first keep-alive comment, so bytes flow at once.
    pub(super) fn start_sse(&mut self, stream: StreamId, priming: bool) {
        let retry = self.config.timeouts.retry_hint.as_millis();
        let Some(s) = self.streams.get(stream) else {
            return;
        };
        let Some(exchange) = s.exchange else {
            return;
        };
        let prime = priming && s.protocol.primes_streams() && s.kind != StreamKind::Legacy;
        let index = s.index;
        let wire_id = self
            .sessions
            .get(s.session)
            .filter(|sess| sess.kind == SessionKind::Streamable)
            .map(|sess| sess.wire_id.clone());
        let mut headers = alloc::vec![
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache, no-transform"),
            ("x-accel-buffering", "no"),
        ];
        if let Some(wire_id) = &wire_id {
            headers.push(("mcp-session-id", wire_id));
        }
        self.send_stream_head(exchange, &headers);
        let mut first = Vec::with_capacity(64);
        if prime {
            // The priming event: an id and empty data (2025-11-25), with the reconnection delay.
            first.extend_from_slice(id_line(index, 0).as_bytes());
            sse::push_retry(&mut first, retry);
            first.extend_from_slice(b"data:\n\n");
        }
        sse::push_comment(&mut first, "");
        first.push(b'\n');
        self.send_stream_data(exchange, &first, None, Pacing::Unpaced);
    }

    /// Writes a keep-alive comment and re-arms the timer. A stream whose connection still holds
    /// output needs none: bytes are pending, and the write deadline judges whether they move.
    pub(super) fn keepalive(&mut self, stream: StreamId) {
        let now = self.now();
        let interval = self.config.timeouts.keepalive_interval;
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let Some(exchange) = s.exchange else {
            return;
        };
        self.stream_timers.set(
            &mut s.timers,
            stream,
            StreamTimer::Keepalive,
            now + interval,
        );
        if self.exchange_output(exchange) > 0 {
            return;
        }
        self.counters.keepalives_sent += 1;
        self.send_stream_data(exchange, b":\n\n", None, Pacing::Unpaced);
    }

    /// One SSE event with the next id: logged for resumption, and written if attached.
    pub(super) fn stream_event(&mut self, stream: StreamId, body: &Arc<[u8]>, pacing: Pacing) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let seq = s.next_seq;
        s.next_seq += 1;
        // Legacy streams have no event ids, and stateless streams cannot be resumed: neither
        // keeps a log.
        let resumable = !matches!(s.kind, StreamKind::Legacy | StreamKind::Listen)
            && !s.protocol.is_stateless();
        let index = s.index;
        if resumable {
            self.log_event(stream, seq, body);
        }
        let Some(exchange) = self.streams.get(stream).and_then(|s| s.exchange) else {
            return;
        };
        let prefix = if resumable {
            id_line(index, seq)
        } else {
            StackLine::new()
        };
        self.send_stream_data(exchange, prefix.as_bytes(), Some(body), pacing);
    }

    /// A response for a request on `stream`. The stream completes when it was the last one.
    pub(super) fn stream_response(&mut self, stream: StreamId, json: Vec<u8>) {
        let Some(s) = self.streams.get_mut(stream) else {
            self.counters.responses_undeliverable += 1;
            return;
        };
        if s.kind == StreamKind::Post {
            s.pending = s.pending.saturating_sub(1);
        }
        let session = s.session;
        match &mut s.mode {
            StreamMode::Json { responses, .. } => {
                let len = json.len();
                responses.push(json);
                self.charge(Holding::JsonResponses, Some(session), len);
            }
            StreamMode::Sse => self.stream_event(stream, &sse_body(&json), Pacing::Paced),
        }
        self.stream_response_done(stream);
    }

    /// A request or notification related to a request on `stream`: it forces SSE.
    pub(super) fn stream_message(&mut self, stream: StreamId, body: &Arc<[u8]>) {
        if matches!(
            self.streams.get(stream).map(|s| &s.mode),
            Some(StreamMode::Json { .. })
        ) {
            self.upgrade_stream(stream);
        }
        self.stream_event(stream, body, Pacing::Paced);
    }

    /// A JSON-mode POST stream becomes SSE: head, priming, and the responses collected so far.
    pub(super) fn upgrade_stream(&mut self, stream: StreamId) {
        let now = self.now();
        let interval = self.config.timeouts.keepalive_interval;
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let StreamMode::Json { responses, .. } = core::mem::replace(&mut s.mode, StreamMode::Sse)
        else {
            return;
        };
        let session = s.session;
        let collected = responses.iter().map(Vec::len).sum();
        self.stream_timers
            .stop(&mut s.timers, stream, StreamTimer::Upgrade);
        if s.exchange.is_some() {
            self.stream_timers.set(
                &mut s.timers,
                stream,
                StreamTimer::Keepalive,
                now + interval,
            );
        }
        self.release(Holding::JsonResponses, Some(session), collected);
        self.counters.streams_upgraded += 1;
        self.start_sse(stream, true);
        for json in responses {
            self.stream_event(stream, &sse_body(&json), Pacing::Paced);
        }
    }

    /// Ends a POST stream whose last response was sent: one JSON body, or the SSE terminator. A
    /// detached SSE stream keeps lingering so the client can still resume and read the end.
    pub(super) fn stream_response_done(&mut self, stream: StreamId) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        if s.kind != StreamKind::Post || s.pending > 0 {
            return;
        }
        let Some(exchange) = s.exchange else {
            return;
        };
        let session = s.session;
        match &mut s.mode {
            StreamMode::Json { responses, batch } => {
                let responses = core::mem::take(responses);
                let batch = *batch;
                let collected = responses.iter().map(Vec::len).sum();
                self.release(Holding::JsonResponses, Some(session), collected);
                self.send_json_responses(exchange, session, responses, batch);
            }
            StreamMode::Sse => self.finish_stream_response(exchange),
        }
    }

    /// Answers a JSON-mode POST with the responses collected: one object, or an array for a
    /// batch; an empty SSE stream when there is none (every request was cancelled).
    pub(super) fn send_json_responses(
        &mut self,
        exchange: ExchangeId,
        session: SessionKey,
        responses: Vec<Vec<u8>>,
        batch: bool,
    ) {
        let (wire_id, stateless) = self.sessions.get(session).map_or((None, false), |x| {
            (
                (x.kind == SessionKind::Streamable).then(|| x.wire_id.clone()),
                x.kind == SessionKind::Stateless,
            )
        });
        let mut headers = alloc::vec![("content-type", "text/event-stream")];
        if let Some(wire_id) = &wire_id {
            headers.push(("mcp-session-id", wire_id));
        }
        if responses.is_empty() {
            // Every request was cancelled, so there is nothing to answer with; a POST that
            // carried requests still gets JSON or SSE: an empty stream.
            headers.push(("cache-control", "no-cache, no-transform"));
            self.send_stream_head(exchange, &headers);
            self.finish_stream_response(exchange);
            return;
        }
        headers[0].1 = "application/json";
        let body = if batch {
            let mut body = Vec::with_capacity(
                responses.iter().map(Vec::len).sum::<usize>() + responses.len() + 1,
            );
            body.push(b'[');
            for (i, r) in responses.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(r);
            }
            body.push(b']');
            body
        } else {
            responses.into_iter().next().unwrap_or_default()
        };
        // A stateless answer's status says what its error is (404 for an unknown method).
        let status = if stateless {
            super::modern::route::status_of(super::modern::route::error_code_of(&body))
        } else {
            200
        };
        self.send_full(exchange, status, &headers, &body);
    }

    /// A message for the session not related to any request: on the GET stream, or held in
    /// the bounded backlog until one opens (oldest dropped when full). It cannot wait.
    pub(super) fn send_unsolicited(&mut self, session: SessionKey, body: &Arc<[u8]>) {
        let Some(sess) = self.sessions.get(session) else {
            return;
        };
        match sess.standalone {
            Some(stream) => self.stream_event(stream, body, Pacing::Unpaced),
            None => self.backlog_push(session, body),
        }
    }

    pub(super) fn flush_backlog(&mut self, session: SessionKey) {
        let Some(sess) = self.sessions.get_mut(session) else {
            return;
        };
        let Some(stream) = sess.standalone else {
            return;
        };
        let backlog = core::mem::take(&mut sess.backlog);
        let bytes = core::mem::take(&mut sess.backlog_bytes);
        self.release(Holding::Backlog, Some(session), bytes);
        for body in backlog {
            self.stream_event(stream, &body, Pacing::Unpaced);
        }
    }

    /// GET with `Last-Event-ID`: replays the events of that stream after that id, then
    /// continues live (or ends, if the stream has nothing more to send).
    pub(super) fn resume(
        &mut self,
        exchange: ExchangeId,
        session: SessionKey,
        last_event_id: &str,
    ) {
        let target = parse_event_id(last_event_id).and_then(|(index, seq)| {
            let streams = &self.sessions.get(session)?.streams;
            let stream = streams.iter().copied().find(|id| {
                self.streams.get(id).is_some_and(|s| {
                    s.index == index
                        && s.kind != StreamKind::Legacy
                        && matches!(s.mode, StreamMode::Sse)
                })
            })?;
            Some((stream, seq))
        });
        let Some((stream, seq)) = target else {
            return self.reject(
                exchange,
                400,
                ErrorCode::SERVER_ERROR,
                "Invalid event ID format",
            );
        };
        if self.streams[stream].exchange.is_some() {
            return self.reject(
                exchange,
                409,
                ErrorCode::SERVER_ERROR,
                "Conflict: Stream already has an active connection",
            );
        }
        self.counters.streams_resumed += 1;
        self.attach_stream(stream, exchange);
        self.start_sse(stream, false);
        let Some(s) = self.streams.get(stream) else {
            return;
        };
        let index = s.index;
        let (events, gap) = s.log.after(seq);
        let replay: Vec<(u64, Arc<[u8]>)> = events.cloned().collect();
        if gap {
            self.counters.resume_gaps += 1;
        }
        for (seq, body) in replay {
            let id = id_line(index, seq);
            self.send_stream_data(exchange, id.as_bytes(), Some(&body), Pacing::Paced);
        }
        self.stream_response_done(stream);
    }
}
