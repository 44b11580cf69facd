//! The client's reading of a response: [`ResponseDecoder`] and, for an event stream, the
//! [`SseParser`] fed with the body as it is decoded (as the client engine does).
//!
//! The same bytes are read twice: in the pieces the input says, and whole. Both readings must
//! agree on everything the client acts on (the head, the body, where the response ends, the
//! error, every event up to the first error, the last event id), and both must keep their own
//! bounds after every piece.

use mcpwire_core::http1::{
    Decoded, ResponseDecoder, ResponseError, ResponseHeader, ResponseLimits,
};
use mcpwire_core::sse::{SseItem, SseParseError, SseParser};

/// What one reading of a response produced.
#[derive(Debug, PartialEq, Eq)]
struct Reading {
    head: Option<ResponseHeader>,
    body: Vec<u8>,
    /// Input bytes the decoder took: all of them, unless the response ended before (not
    /// compared once it broke).
    consumed: usize,
    complete: bool,
    error: Option<ResponseError>,
    /// What `finish` (the server closing) said, when the response was still open.
    finished: Option<Result<bool, ResponseError>>,
    events: Vec<SseItem>,
    event_error: Option<SseParseError>,
    last_event_id: String,
}

/// The shape of one run, from the input's first bytes.
struct Shape {
    head_request: bool,
    limits: ResponseLimits,
    /// The SSE parser's limit on a line or an event's data (the client's `max_message_bytes`).
    event_limit: usize,
    /// Lengths of the pieces the input is read in, used in turn.
    pieces: Vec<usize>,
}

/// An event stream is read while the response lasts: as the client does, only for a 2xx
/// `text/event-stream`.
fn is_event_stream(head: &ResponseHeader) -> bool {
    (200..300).contains(&head.status()) && head.media_type().as_deref() == Some("text/event-stream")
}

struct Reader {
    decoder: ResponseDecoder,
    parser: Option<SseParser>,
    limits: ResponseLimits,
    event_limit: usize,
    reading: Reading,
}

impl Reader {
    fn new(shape: &Shape) -> Reader {
        let mut decoder = ResponseDecoder::new(shape.limits);
        decoder.start(shape.head_request);
        Reader {
            decoder,
            parser: None,
            limits: shape.limits,
            event_limit: shape.event_limit,
            reading: Reading {
                head: None,
                body: Vec::new(),
                consumed: 0,
                complete: false,
                error: None,
                finished: None,
                events: Vec::new(),
                event_error: None,
                last_event_id: String::new(),
            },
        }
    }

    /// Whether the reading is over: the response ended, or broke.
    fn done(&self) -> bool {
        self.reading.complete || self.reading.error.is_some()
    }

    /// Reads one piece as the client does: again after a short take that did not complete
    /// the response (the error comes then). Returns how much of it the response took.
    fn read(&mut self, piece: &[u8]) -> usize {
        let mut taken = 0;
        while taken < piece.len() && !self.done() {
            let rest = &piece[taken..];
            let mut body = Vec::new();
            let decoded = match self.decoder.decode(rest, &mut body) {
                Ok(decoded) => decoded,
                Err(error) => {
                    self.reading.error = Some(error);
                    self.check();
                    break;
                }
            };
            let Decoded {
                consumed,
                head,
                complete,
            } = decoded;
            assert!(
                consumed <= rest.len(),
                "consumed {consumed} of {}",
                rest.len()
            );
            if let Some(head) = head {
                assert!(self.reading.head.is_none(), "a second final head");
                if is_event_stream(&head) {
                    self.parser = Some(SseParser::with_limit(self.event_limit));
                }
                self.reading.head = Some(head);
            }
            assert!(
                body.is_empty() || self.reading.head.is_some(),
                "body bytes before the head"
            );
            taken += consumed;
            self.reading.consumed += consumed;
            self.reading.complete = complete;
            self.reading.body.extend_from_slice(&body);
            self.events(&body);
            if consumed < rest.len() && !complete {
                // A short take before the end: the response broke there, and says so next.
                let again = self.decoder.decode(&rest[consumed..], &mut body);
                assert!(again.is_err(), "a short take without an error: {again:?}");
                self.reading.error = again.err();
            }
            self.check();
        }
        taken
    }

    /// Feeds body bytes to the event parser and takes every complete item.
    fn events(&mut self, body: &[u8]) {
        let Some(parser) = self.parser.as_mut() else {
            return;
        };
        if self.reading.event_error.is_some() {
            return;
        }
        parser.feed(body);
        while let Some(item) = parser.poll_item() {
            match item {
                Ok(item) => self.reading.events.push(item),
                Err(error) => {
                    self.reading.event_error = Some(error);
                    break;
                }
            }
        }
        self.reading.last_event_id = parser.last_event_id().into();
        if self.reading.event_error.is_none() {
            // Drained: what is held is one unfinished line (the limit and 8 bytes for its
            // field name), one event's data (the limit) and its type (a line's worth, each
            // invalid byte of it replaced by 3 bytes of U+FFFD).
            let line = self.event_limit + 8;
            let held = parser.buffered_bytes();
            assert!(
                held <= line + self.event_limit + 3 * line,
                "the event parser holds {held} B with a limit of {}",
                self.event_limit
            );
        }
    }

    fn check(&self) {
        if let Err(violation) = self.decoder.check_invariants() {
            panic!("{violation}");
        }
        let held = self.decoder.held_bytes();
        assert!(
            held <= self.limits.max_head_bytes,
            "the decoder holds {held} B, over its head limit of {}",
            self.limits.max_head_bytes
        );
        let over = self.reading.complete || self.reading.error.is_some();
        assert_eq!(
            self.decoder.is_active(),
            !over,
            "active while over, or the reverse"
        );
    }

    /// The server closed: a body that runs until close ends, any other open response broke.
    fn close(mut self) -> Reading {
        if !self.done() {
            let finished = self.decoder.finish();
            if finished == Ok(true) {
                self.reading.complete = true;
            }
            self.reading.finished = Some(finished);
            if let Err(error) = finished {
                self.reading.error = Some(error);
            }
            self.check();
        }
        if self.reading.error.is_some() {
            // Where a broken response broke depends on the pieces; that it broke does not.
            self.reading.consumed = 0;
        }
        self.reading
    }
}

/// Splits `data` into the run's shape and the response bytes.
fn shape(data: &[u8]) -> Option<(Shape, &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let (&count, rest) = rest.split_first()?;
    let count = usize::from(count % 8);
    if rest.len() < count {
        return None;
    }
    let (lengths, input) = rest.split_at(count);
    let mut pieces: Vec<usize> = lengths.iter().map(|&l| usize::from(l.max(1))).collect();
    if pieces.is_empty() {
        // No lengths: the whole input at once, which only checks the bounds.
        pieces.push(usize::MAX);
    }
    let limits = if flags & 2 == 0 {
        ResponseLimits::default()
    } else {
        ResponseLimits {
            max_head_bytes: 96,
            max_headers: 4,
        }
    };
    let event_limit = if flags & 4 == 0 { 64 * 1024 } else { 16 };
    Some((
        Shape {
            head_request: flags & 1 == 1,
            limits,
            event_limit,
            pieces,
        },
        input,
    ))
}

/// The first byte's bits choose a `HEAD` request, tight head limits and a tight event limit;
/// the second how many piece lengths follow (0 to 7, each 1 to 255 bytes); the rest is the
/// response, read in those pieces in turn and then whole.
pub fn client_response(data: &[u8]) {
    let Some((shape, input)) = shape(data) else {
        return;
    };
    let mut split = Reader::new(&shape);
    let mut rest = input;
    let mut turn = 0;
    while !rest.is_empty() && !split.done() {
        let len = shape.pieces[turn % shape.pieces.len()].min(rest.len());
        turn += 1;
        let (piece, after) = rest.split_at(len);
        rest = after;
        let taken = split.read(piece);
        if taken < piece.len() {
            // The response ended (or broke) inside this piece: the rest is not its.
            break;
        }
    }
    let split = split.close();

    let mut whole = Reader::new(&shape);
    if !input.is_empty() {
        whole.read(input);
    }
    let whole = whole.close();
    assert_eq!(split, whole, "read in pieces and read whole disagree");
}

#[cfg(test)]
mod tests {
    use super::client_response;

    fn run(flags: u8, pieces: &[u8], response: &[u8]) {
        let mut data = vec![flags, pieces.len() as u8];
        data.extend_from_slice(pieces);
        data.extend_from_slice(response);
        client_response(&data);
    }

    #[test]
    fn every_framing_and_an_event_stream_read_alike_in_pieces() {
        for response in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
              13\r\nid: 1\r\ndata: {}\r\n\r\n\r\n0\r\n\r\nextra",
            // A chunk longer than its size, after a whole event.
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
              12\r\nid: 1\r\ndata: {}\r\n\r\n\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n: hi\nretry: 5\ndata: x\n\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        ] {
            for pieces in [&[1u8][..], &[2, 7], &[255], &[]] {
                run(0, pieces, response);
            }
        }
    }

    /// An event stream's comment line longer than the parser's limit is refused whether it
    /// arrives in one piece or in two.
    #[test]
    fn a_line_over_the_event_limit_is_refused_in_any_split() {
        let mut response = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n: ".to_vec();
        response.extend_from_slice(&[b'x'; 40]);
        response.extend_from_slice(b"\ndata: y\n\n");
        for pieces in [&[1u8][..], &[60], &[]] {
            run(4, pieces, &response);
        }
    }
}
