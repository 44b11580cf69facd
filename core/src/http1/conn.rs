//! [`ServerCodec`]: one HTTP/1.1 server connection as a sans-IO state machine.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::chunked::ChunkedDecoder;
use super::error::RequestError;
use super::head::{Framing, find_head_end, parse_head};
use super::limits::Limits;
use super::output::OutQueue;
use super::request::{Method, Request, Version};
use super::response::{self, BodyFraming, ResponseBody, ResponseHead, SendError};
use crate::ascii::StackLine;
use crate::invariant::{InvariantViolation, ensure};

/// Where a connection stands, for choosing which timer guards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between requests with nothing buffered: an idle keep-alive connection.
    Idle,
    /// Part of a request head has arrived (blank lines before it count).
    ReadingHead,
    /// The head is parsed and the body is arriving.
    ReadingBody,
    /// A complete request, or a request error, waits for its response.
    Handling,
    /// The response head is sent and its streaming body is open.
    Responding,
    /// No further exchange will happen; queued output drains, then the connection closes.
    Closing,
    /// Closed: every buffer is released.
    Closed,
}

#[derive(Debug)]
enum ReadState {
    /// Between requests with nothing buffered but blank lines counts as idle.
    /// Waiting for, or reading, a request head. `scanned` is how far the buffered bytes are
    /// known to hold no head end (and, until `line_ok`, no line end); `skipped` counts
    /// blank-line bytes dropped before the head.
    Head {
        scanned: usize,
        skipped: usize,
        line_ok: bool,
    },
    /// Reading a `Content-Length` body.
    Body {
        request: Request,
        keep_alive: bool,
        remaining: u64,
        continue_pending: bool,
    },
    /// Reading a chunked body.
    Chunked {
        request: Request,
        keep_alive: bool,
        decoder: ChunkedDecoder,
        continue_pending: bool,
    },
    /// A complete request waits for [`ServerCodec::poll_request`].
    Ready { request: Request, keep_alive: bool },
    /// A request error waits for [`ServerCodec::poll_request`].
    Failed(RequestError),
    /// The request or error was handed out; reading resumes once its response ends.
    Paused,
    /// No more requests will be read on this connection.
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Exchange {
    version: Version,
    keep_alive: bool,
    head_request: bool,
    response: ResponseState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseState {
    Pending,
    Streaming { chunked: bool },
}

/// One HTTP/1.1 server connection: bytes in, requests out; responses in, bytes out.
///
/// Requests are handled one at a time and answered in order: after [`ServerCodec::poll_request`]
/// hands one out, later pipelined bytes are only buffered (within the head limit; see
/// [`ServerCodec::read_capacity`]) until its response has ended. A request error is handed out
/// the same way; answer it (usually with [`ServerCodec::send_error`]) and the connection closes
/// once that answer is written.
///
/// # Examples
///
/// ```
/// use mcpwire_core::http1::{Limits, Phase, ResponseBody, ResponseHead, ServerCodec};
///
/// let mut conn = ServerCodec::new(Limits::default());
/// let wire = b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}";
/// assert_eq!(conn.receive(wire), wire.len());
///
/// let request = conn.poll_request().unwrap().unwrap();
/// assert_eq!(request.body(), b"{}");
///
/// let head = ResponseHead::new(200, &[("content-type", "application/json")]);
/// conn.send_response(&head, ResponseBody::Full(b"{}")).unwrap();
///
/// let mut out = Vec::new();
/// while conn.poll_transmit(&mut out, usize::MAX) > 0 {}
/// assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
/// assert_eq!(conn.phase(), Phase::Idle);
/// ```
#[derive(Debug)]
pub struct ServerCodec {
    limits: Limits,
    input: Vec<u8>,
    input_start: usize,
    read: ReadState,
    exchange: Option<Exchange>,
    out: OutQueue,
    peer_closed: bool,
    closing_requested: bool,
    closed: bool,
}

/// Input buffers larger than this are released when they empty, so idle connections stay small.
const RETAINED_INPUT_CAPACITY: usize = 8 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl ServerCodec {
    /// A connection that has received nothing yet.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        ServerCodec {
            limits,
            input: Vec::new(),
            input_start: 0,
            read: ReadState::Head {
                scanned: 0,
                skipped: 0,
                line_ok: false,
            },
            exchange: None,
            out: OutQueue::new(),
            peer_closed: false,
            closing_requested: false,
            closed: false,
        }
    }

    /// The limits this connection enforces.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    // ---- Input ----

    /// How many bytes [`ServerCodec::receive`] would accept now. Read at most this much from
    /// the socket; at zero, stop reading until a response ends. After an error or close every
    /// byte is accepted and discarded, so a draining peer never blocks.
    #[must_use]
    pub fn read_capacity(&self) -> usize {
        let head_room = self
            .limits
            .max_header_bytes
            .saturating_sub(self.buffered_input());
        match &self.read {
            // At least one byte, so that a head limit already reached is answered with 431
            // rather than leaving the peer and the codec waiting on each other.
            ReadState::Head { skipped, .. } => head_room.saturating_sub(*skipped).max(1),
            ReadState::Body { remaining, .. } => {
                head_room.saturating_add(usize::try_from(*remaining).unwrap_or(usize::MAX))
            }
            ReadState::Chunked { .. } | ReadState::Ready { .. } | ReadState::Paused => head_room,
            ReadState::Failed(_) | ReadState::Done => usize::MAX,
        }
    }

    /// Whether input is being discarded (after a request error, or once the connection is
    /// closing or closed): what [`ServerCodec::receive`] takes then, it does not keep.
    #[must_use]
    pub fn discards_input(&self) -> bool {
        self.closed || matches!(self.read, ReadState::Failed(_) | ReadState::Done)
    }

    /// Takes bytes from the peer and returns how many were accepted (at most
    /// [`ServerCodec::read_capacity`]). Keep the rest and offer them again after a response ends.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        if self.closed || matches!(self.read, ReadState::Failed(_) | ReadState::Done) {
            return bytes.len();
        }
        let accepted = bytes.len().min(self.read_capacity());
        let bytes = &bytes[..accepted];
        if bytes.is_empty() {
            return 0;
        }
        if self.buffered_input() == 0 {
            // Nothing buffered: parse straight from the caller's bytes and keep only what is
            // left over (a partial head, a pipelined request).
            let used = self.advance_over(bytes);
            if self.reading() {
                self.input.clear();
                self.input_start = 0;
                self.input.extend_from_slice(&bytes[used..]);
            }
        } else {
            self.compact_input();
            self.input.extend_from_slice(bytes);
            self.advance();
        }
        accepted
    }

    /// The peer will send nothing more (it half-closed or the socket hit end of stream).
    ///
    /// A request still arriving is answered with 400 ([`RequestError::Incomplete`]); a request
    /// already complete is still answered, and the connection closes after it.
    pub fn receive_eof(&mut self) {
        if self.closed || self.peer_closed {
            return;
        }
        self.peer_closed = true;
        self.advance();
    }

    /// The next complete request, or the error that ended reading. Returns `None` while a
    /// request is incomplete or while an earlier one still awaits the end of its response.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<Result<Request, RequestError>> {
        let (result, version, keep_alive, head_request) =
            match core::mem::replace(&mut self.read, ReadState::Paused) {
                ReadState::Ready {
                    request,
                    keep_alive,
                } => {
                    let version = request.version();
                    let head_request = request.method() == Method::Head;
                    (Ok(request), version, keep_alive, head_request)
                }
                ReadState::Failed(error) => {
                    self.discard_input();
                    // The head may be unparsed, so its version and method are unknown: answer
                    // as to HTTP/1.0, whose framing (length, or until close) every client reads.
                    (Err(error), Version::Http10, false, false)
                }
                other => {
                    self.read = other;
                    return None;
                }
            };
        self.exchange = Some(Exchange {
            version,
            keep_alive,
            head_request,
            response: ResponseState::Pending,
        });
        Some(result)
    }

    // ---- Output ----

    /// Starts the response to the request last handed out. With [`ResponseBody::Empty`] or
    /// [`ResponseBody::Full`] the response is complete; with [`ResponseBody::Streaming`] send the
    /// body with [`ServerCodec::send_body`] and end it with [`ServerCodec::finish_body`].
    pub fn send_response(
        &mut self,
        head: &ResponseHead<'_>,
        body: ResponseBody<'_>,
    ) -> Result<(), SendError> {
        let exchange = self.pending_exchange()?;
        response::validate(head)?;
        let bodiless_status = matches!(head.status, 204 | 304);
        let framing = match body {
            _ if bodiless_status => BodyFraming::None,
            ResponseBody::Empty => BodyFraming::Length(0),
            ResponseBody::Full(bytes) => BodyFraming::Length(bytes.len()),
            ResponseBody::Streaming if exchange.version == Version::Http11 => BodyFraming::Chunked,
            ResponseBody::Streaming => BodyFraming::UntilClose,
        };
        let closes = self.closes_after(&exchange) || framing == BodyFraming::UntilClose;
        let connection = match (closes, exchange.version) {
            (true, _) => Some("close"),
            (false, Version::Http10) => Some("keep-alive"),
            (false, Version::Http11) => None,
        };
        let payload = match body {
            ResponseBody::Full(bytes) if !exchange.head_request && !bodiless_status => bytes,
            _ => &[],
        };
        self.out
            .write_with(response::estimated_head_len(head) + payload.len(), |out| {
                response::encode_head(out, head, framing, connection);
                out.extend_from_slice(payload);
            });
        if closes {
            self.closing_requested = true;
        }
        match body {
            ResponseBody::Streaming if !bodiless_status => {
                self.exchange = Some(Exchange {
                    response: ResponseState::Streaming {
                        chunked: framing == BodyFraming::Chunked,
                    },
                    ..exchange
                });
            }
            _ => self.end_exchange(),
        }
        Ok(())
    }

    /// Answers a request error with its status, `connection: close` and a JSON-RPC error body
    /// (`code` -32000, the error's text as message). The connection closes once it is written.
    pub fn send_error(&mut self, error: &RequestError) -> Result<(), SendError> {
        self.pending_exchange()?;
        let body = crate::jsonrpc::error_body(
            None,
            crate::jsonrpc::ErrorCode::SERVER_ERROR,
            &alloc::format!("{error}"),
        );
        self.closing_requested = true;
        self.send_response(
            &ResponseHead::new(error.status(), &[("content-type", "application/json")]),
            ResponseBody::Full(&body),
        )
    }

    /// Answers without waiting for a request, then closes: for a connection the server will not
    /// serve (over its connection limit, shutting down). Does nothing once a request has been
    /// handed out.
    pub fn refuse(&mut self, head: &ResponseHead<'_>, body: &[u8]) {
        if self.closed || self.exchange.is_some() {
            return;
        }
        self.read = ReadState::Paused;
        self.discard_input();
        self.closing_requested = true;
        self.exchange = Some(Exchange {
            version: Version::Http11,
            keep_alive: false,
            head_request: false,
            response: ResponseState::Pending,
        });
        if self.send_response(head, ResponseBody::Full(body)).is_err() {
            self.exchange = None;
            self.stop_reading();
        }
    }

    /// Sends part of a streaming body. Empty data sends nothing (an empty chunk would end the
    /// body).
    pub fn send_body(&mut self, data: &[u8]) -> Result<(), SendError> {
        let chunked = self.streaming()?;
        if data.is_empty() || self.head_request() {
            return Ok(());
        }
        if chunked {
            let mut size = StackLine::new();
            size.push_hex(data.len() as u64).push(b"\r\n");
            self.out.push_slice(size.as_bytes());
        }
        self.out.push_slice(data);
        if chunked {
            self.out.push_static(b"\r\n");
        }
        Ok(())
    }

    /// Sends `prefix` followed by `shared` as one part of a streaming body, queueing `shared`
    /// by reference: a broadcast encodes its message once and each recipient adds only its own
    /// prefix (an SSE event id). A short prefix is stored inline, so this allocates nothing.
    pub fn send_body_shared(&mut self, prefix: &[u8], shared: &Arc<[u8]>) -> Result<(), SendError> {
        let chunked = self.streaming()?;
        let len = prefix.len() + shared.len();
        if len == 0 || self.head_request() {
            return Ok(());
        }
        let mut head = StackLine::new();
        if chunked {
            head.push_hex(len as u64).push(b"\r\n");
        }
        if head.fits(prefix.len()) {
            head.push(prefix);
            self.out.push_slice(head.as_bytes());
        } else {
            self.out.push_slice(head.as_bytes());
            self.out.push_slice(prefix);
        }
        self.out.push_shared(shared.clone());
        if chunked {
            self.out.push_static(b"\r\n");
        }
        Ok(())
    }

    /// Ends a streaming body cleanly: the chunked terminator for HTTP/1.1; for HTTP/1.0, the
    /// connection closes once the output drains.
    pub fn finish_body(&mut self) -> Result<(), SendError> {
        let chunked = self.streaming()?;
        if chunked && !self.head_request() {
            self.out.push_static(b"0\r\n\r\n");
        }
        self.end_exchange();
        Ok(())
    }

    /// Closes the connection after the current response, or at once when no request is being
    /// answered (a request still arriving is dropped), as when the server shuts down. Output
    /// already queued is still written.
    pub fn close_after_response(&mut self) {
        self.closing_requested = true;
        if self.exchange.is_none()
            && !matches!(self.read, ReadState::Ready { .. } | ReadState::Failed(_))
        {
            self.stop_reading();
        }
    }

    /// Moves up to `max` queued output bytes to the end of `buf`, returning how many moved.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>, max: usize) -> usize {
        self.out.pop_into(buf, max)
    }

    /// Whether the adapter should close the socket now: no exchange will happen and every
    /// queued byte has been taken.
    #[must_use]
    pub fn wants_close(&self) -> bool {
        self.closed || (self.phase() == Phase::Closing && self.out.is_empty())
    }

    /// Closes the connection at once: drops queued output, buffered input and any exchange.
    /// Returns how many queued output bytes were dropped.
    pub fn close(&mut self) -> usize {
        self.closed = true;
        self.read = ReadState::Done;
        self.exchange = None;
        self.discard_input();
        self.out.clear()
    }

    // ---- Accounting ----

    /// Where the connection stands.
    #[must_use]
    pub fn phase(&self) -> Phase {
        if self.closed {
            return Phase::Closed;
        }
        if let Some(exchange) = &self.exchange {
            return match exchange.response {
                ResponseState::Pending => Phase::Handling,
                ResponseState::Streaming { .. } => Phase::Responding,
            };
        }
        match &self.read {
            ReadState::Head { .. } if self.buffered_input() == 0 => Phase::Idle,
            ReadState::Head { .. } => Phase::ReadingHead,
            ReadState::Body { .. } | ReadState::Chunked { .. } => Phase::ReadingBody,
            ReadState::Ready { .. } | ReadState::Failed(_) => Phase::Handling,
            ReadState::Paused | ReadState::Done => Phase::Closing,
        }
    }

    /// Output bytes queued and not yet taken by [`ServerCodec::poll_transmit`].
    #[must_use]
    pub fn queued_bytes(&self) -> usize {
        self.out.len()
    }

    /// Heap bytes the output queue's slots take while it holds anything (see
    /// [`OutQueue::slot_bytes`]).
    #[must_use]
    pub fn queued_slot_bytes(&self) -> usize {
        self.out.slot_bytes()
    }

    /// Bytes already taken by [`ServerCodec::poll_transmit`] that its queue still holds (see
    /// [`OutQueue::taken_bytes`]).
    #[must_use]
    pub fn queued_taken_bytes(&self) -> usize {
        self.out.taken_bytes()
    }

    /// Input bytes held: buffered raw bytes, plus the head and body of a request not yet
    /// handed out.
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_input()
            + match &self.read {
                ReadState::Body { request, .. }
                | ReadState::Chunked { request, .. }
                | ReadState::Ready { request, .. } => request.held_len(),
                _ => 0,
            }
    }

    /// Heap bytes held by this connection's buffers.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.input.capacity()
            + self.out.heap_bytes()
            + match &self.read {
                ReadState::Body { request, .. }
                | ReadState::Chunked { request, .. }
                | ReadState::Ready { request, .. } => request.heap_bytes(),
                _ => 0,
            }
    }

    /// Checks the codec's internal bookkeeping.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        ensure!(
            self.input_start <= self.input.len(),
            "input start {} past input end {}",
            self.input_start,
            self.input.len()
        );
        ensure!(
            self.out.recount() == self.out.len(),
            "output queue counts {} bytes but holds {}",
            self.out.len(),
            self.out.recount()
        );
        let paused = matches!(self.read, ReadState::Paused);
        ensure!(
            !paused || self.exchange.is_some(),
            "reading is paused for an exchange that does not exist"
        );
        ensure!(
            self.exchange.is_none() || matches!(self.read, ReadState::Paused | ReadState::Done),
            "an exchange is open while reading continues ({:?})",
            self.read
        );
        match &self.read {
            ReadState::Failed(_) | ReadState::Done => ensure!(
                self.buffered_input() == 0,
                "{} input bytes kept after reading stopped",
                self.buffered_input()
            ),
            ReadState::Head { skipped, .. } => ensure!(
                skipped + self.buffered_input() <= self.limits.max_header_bytes,
                "head buffer {} over its limit",
                skipped + self.buffered_input()
            ),
            _ => ensure!(
                self.buffered_input() <= self.limits.max_header_bytes,
                "pipelined buffer {} over the head limit",
                self.buffered_input()
            ),
        }
        if let ReadState::Body { request, .. } | ReadState::Chunked { request, .. } = &self.read {
            ensure!(
                request.body_len() <= self.limits.max_body_bytes,
                "body {} over its limit",
                request.body_len()
            );
        }
        if self.closed {
            ensure!(
                self.out.is_empty() && self.input.capacity() == 0 && self.exchange.is_none(),
                "a closed connection still holds buffers or an exchange"
            );
        }
        Ok(())
    }

    // ---- Internals ----

    fn buffered_input(&self) -> usize {
        self.input.len() - self.input_start
    }

    fn pending_exchange(&self) -> Result<Exchange, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        match self.exchange {
            None => Err(SendError::NoExchange),
            Some(e) if e.response != ResponseState::Pending => Err(SendError::AlreadyResponded),
            Some(e) => Ok(e),
        }
    }

    fn streaming(&self) -> Result<bool, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        match self.exchange {
            Some(Exchange {
                response: ResponseState::Streaming { chunked },
                ..
            }) => Ok(chunked),
            _ => Err(SendError::NotStreaming),
        }
    }

    fn head_request(&self) -> bool {
        self.exchange.is_some_and(|e| e.head_request)
    }

    /// Whether the connection closes once `exchange` is answered. A peer that half-closed
    /// after pipelining requests still gets every buffered request answered.
    fn closes_after(&self, exchange: &Exchange) -> bool {
        self.closing_requested
            || !exchange.keep_alive
            || (self.peer_closed && !self.more_requests_buffered())
    }

    /// Whether buffered input holds anything but blank lines: the start of another request.
    fn more_requests_buffered(&self) -> bool {
        self.input[self.input_start..]
            .iter()
            .any(|&b| b != b'\r' && b != b'\n')
    }

    /// The response is complete: read the next request, or stop.
    fn end_exchange(&mut self) {
        let Some(exchange) = self.exchange.take() else {
            return;
        };
        if self.closes_after(&exchange) {
            self.stop_reading();
        } else {
            self.read = ReadState::Head {
                scanned: 0,
                skipped: 0,
                line_ok: false,
            };
            self.advance();
        }
    }

    fn stop_reading(&mut self) {
        self.read = ReadState::Done;
        self.discard_input();
    }

    fn discard_input(&mut self) {
        self.input = Vec::new();
        self.input_start = 0;
    }

    fn compact_input(&mut self) {
        if self.input_start > 0 {
            self.input.drain(..self.input_start);
            self.input_start = 0;
        }
    }

    fn consume_input(&mut self, n: usize) {
        self.input_start += n;
        if self.input_start >= self.input.len() {
            self.input_start = 0;
            if self.input.capacity() > RETAINED_INPUT_CAPACITY {
                self.input = Vec::new();
            } else {
                self.input.clear();
            }
        }
    }

    /// Whether requests are still being read (no error, not stopped).
    fn reading(&self) -> bool {
        !matches!(self.read, ReadState::Failed(_) | ReadState::Done)
    }

    /// Runs the read state machine over the buffered input as far as it goes.
    fn advance(&mut self) {
        let input = core::mem::take(&mut self.input);
        let used = self.advance_over(&input[self.input_start..]);
        if self.reading() {
            self.input = input;
            self.consume_input(used);
        } else {
            self.input_start = 0;
        }
        if self.peer_closed {
            self.apply_eof();
        }
    }

    /// Runs the read state machine over `buf` and returns how many bytes it consumed. After an
    /// error everything counts as consumed: nothing more is read.
    fn advance_over(&mut self, buf: &[u8]) -> usize {
        let mut consumed = 0;
        loop {
            match self.step(&buf[consumed..]) {
                Ok(0) => return consumed,
                Ok(used) => consumed += used,
                Err(error) => {
                    self.fail(error);
                    return buf.len();
                }
            }
        }
    }

    fn fail(&mut self, error: RequestError) {
        self.read = ReadState::Failed(error);
        self.discard_input();
    }

    fn apply_eof(&mut self) {
        match &self.read {
            // Blank lines before a request line are ignorable (RFC 9112 §2.2): EOF after
            // them is as clean as EOF between requests.
            ReadState::Head { .. } if self.buffered_input() == 0 => {
                self.closing_requested = true;
                self.stop_reading();
            }
            ReadState::Head { .. } | ReadState::Body { .. } | ReadState::Chunked { .. } => {
                self.fail(RequestError::Incomplete);
            }
            _ => {}
        }
    }

    /// One transition of the read state machine over the unconsumed bytes `buf`; returns how
    /// many it consumed, zero when it cannot go further without more input or a response.
    fn step(&mut self, buf: &[u8]) -> Result<usize, RequestError> {
        match &mut self.read {
            ReadState::Head {
                scanned,
                skipped,
                line_ok,
            } => {
                let blank = leading_blank_lines(buf);
                if blank > 0 {
                    *skipped += blank;
                    *scanned = 0;
                    return Ok(blank);
                }
                if *skipped >= self.limits.max_header_bytes {
                    return Err(RequestError::HeadersTooLarge);
                }
                if buf.is_empty() {
                    return Ok(0);
                }
                if !*line_ok {
                    *line_ok = check_request_line(buf, *scanned, self.limits.max_request_line)?;
                }
                if *scanned == 0 {
                    // First sight of this head: httparse finds its end faster than the
                    // incremental scan. A partial or failing parse falls through to the scan, so
                    // errors surface only once the head is complete, whatever the split.
                    if let Ok(Some((head, end))) = parse_head(buf, &self.limits) {
                        if *skipped + end > self.limits.max_header_bytes {
                            return Err(RequestError::HeadersTooLarge);
                        }
                        self.start_body(head);
                        return Ok(end);
                    }
                }
                match find_head_end(buf, *scanned) {
                    Ok(end) => {
                        if *skipped + end > self.limits.max_header_bytes {
                            return Err(RequestError::HeadersTooLarge);
                        }
                        let (head, _) = parse_head(&buf[..end], &self.limits)?
                            .ok_or(RequestError::MalformedHead("incomplete head"))?;
                        self.start_body(head);
                        Ok(end)
                    }
                    Err(resume_at) => {
                        *scanned = resume_at;
                        if *skipped + buf.len() >= self.limits.max_header_bytes {
                            return Err(RequestError::HeadersTooLarge);
                        }
                        Ok(0)
                    }
                }
            }
            ReadState::Body {
                request,
                remaining,
                continue_pending,
                ..
            } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                request.body_tail().extend_from_slice(&buf[..take]);
                *remaining -= take as u64;
                if *remaining > 0 && core::mem::take(continue_pending) {
                    self.out.push_static(CONTINUE);
                }
                self.finish_body_if_complete();
                Ok(take)
            }
            ReadState::Chunked {
                request,
                decoder,
                continue_pending,
                ..
            } => {
                let used = decoder.decode(buf, request.body_tail())?;
                if !decoder.is_done() && core::mem::take(continue_pending) {
                    self.out.push_static(CONTINUE);
                }
                self.finish_body_if_complete();
                Ok(used)
            }
            ReadState::Ready { .. }
            | ReadState::Failed(_)
            | ReadState::Paused
            | ReadState::Done => Ok(0),
        }
    }

    fn start_body(&mut self, head: super::head::Head) {
        let request = head.request;
        let keep_alive = head.keep_alive;
        let continue_pending = head.expect_continue;
        self.read = match head.framing {
            Framing::Empty => ReadState::Ready {
                request,
                keep_alive,
            },
            Framing::Length(length) => ReadState::Body {
                request,
                keep_alive,
                remaining: length,
                continue_pending,
            },
            Framing::Chunked => ReadState::Chunked {
                request,
                keep_alive,
                decoder: ChunkedDecoder::new(
                    self.limits.max_body_bytes,
                    self.limits.max_header_bytes,
                ),
                continue_pending,
            },
        };
    }

    fn finish_body_if_complete(&mut self) {
        let complete = match &self.read {
            ReadState::Body { remaining, .. } => *remaining == 0,
            ReadState::Chunked { decoder, .. } => decoder.is_done(),
            _ => false,
        };
        if complete {
            if let ReadState::Body {
                request,
                keep_alive,
                ..
            }
            | ReadState::Chunked {
                request,
                keep_alive,
                ..
            } = core::mem::replace(&mut self.read, ReadState::Paused)
            {
                self.read = ReadState::Ready {
                    request,
                    keep_alive,
                };
            }
        }
    }
}

/// How many bytes of blank lines (`\r\n` or `\n`) start `buf`. RFC 9112 §2.2 lets a server skip
/// them before a request line; a lone trailing `\r` waits for its `\n`.
fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\n', ..]) => i += 1,
            Some([b'\r', b'\n', ..]) => i += 2,
            _ => return i,
        }
    }
}

/// Refuses a request line longer than `max` (its line ending excluded) as soon as that is
/// certain; `Ok(true)` once the whole line has arrived within the limit. `from` is where to
/// resume looking for its end: earlier bytes are known to hold none.
fn check_request_line(buf: &[u8], from: usize, max: usize) -> Result<bool, RequestError> {
    let window = &buf[..buf.len().min(max.saturating_add(2))];
    let lf = window
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map(|offset| from + offset);
    let (line_len, complete) = match lf {
        Some(lf) if lf > 0 && window[lf - 1] == b'\r' => (lf - 1, true),
        Some(lf) => (lf, true),
        None if window.last() == Some(&b'\r') => (window.len() - 1, false),
        None => (window.len(), false),
    };
    if line_len > max {
        return Err(RequestError::RequestLineTooLong);
    }
    Ok(complete)
}
