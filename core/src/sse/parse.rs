//! An incremental SSE parser, as a browser's `EventSource` reads a stream.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The event type: the `event:` field, or `message`.
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
    /// The `id:` set by this event's own lines, if any.
    pub id: Option<String>,
    /// The stream's last event id when this event was dispatched (what `Last-Event-ID` would
    /// carry on reconnection).
    pub last_event_id: String,
}

/// What the parser yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event.
    Event(ParsedEvent),
    /// A comment line's text, after the colon and one optional space.
    Comment(String),
    /// A valid `retry:` field, in milliseconds.
    Retry(u64),
}

/// The stream broke the parser's size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseParseError {
    /// The limit that was exceeded, in bytes.
    pub limit: usize,
}

impl fmt::Display for SseParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SSE line or event larger than {} bytes", self.limit)
    }
}

impl core::error::Error for SseParseError {}

/// Reads an SSE stream fed in pieces of any size.
///
/// A CR ends a line at once (a following LF is then skipped), so an event is never held back
/// waiting to learn whether LF follows. A leading UTF-8 byte order mark is dropped. Lines are
/// decoded as UTF-8 with invalid sequences replaced, as browsers do. An incomplete event at the
/// end of the stream is never dispatched.
#[derive(Debug, Clone)]
pub struct SseParser {
    buf: Vec<u8>,
    start: usize,
    skip_lf: bool,
    bom_checked: bool,
    data: String,
    data_seen: bool,
    event: String,
    id_in_block: Option<String>,
    last_event_id: String,
    ready: VecDeque<SseItem>,
    limit: usize,
}

const DEFAULT_LIMIT: usize = 16 * 1024 * 1024;

/// How much longer than the limit a line may be: room for its field name and space (`data: `,
/// `event: `), so that data up to the limit fits on one line.
const FIELD_ROOM: usize = 8;

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new()
    }
}

impl SseParser {
    /// A parser that refuses lines and events over 16 MiB.
    #[must_use]
    pub fn new() -> Self {
        SseParser::with_limit(DEFAULT_LIMIT)
    }

    /// A parser that refuses any event's data larger than `limit` bytes, and any line larger
    /// than that plus room for its field name.
    #[must_use]
    pub fn with_limit(limit: usize) -> Self {
        SseParser {
            buf: Vec::new(),
            start: 0,
            skip_lf: false,
            bom_checked: false,
            data: String::new(),
            data_seen: false,
            event: String::new(),
            id_in_block: None,
            last_event_id: String::new(),
            ready: VecDeque::new(),
            limit,
        }
    }

    /// Buffers more of the stream. Call [`SseParser::poll_item`] until it returns `None`.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete item, or `None` until more bytes arrive.
    #[must_use]
    pub fn poll_item(&mut self) -> Option<Result<SseItem, SseParseError>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(Ok(item));
            }
            match self.next_line() {
                Ok(Some((from, to))) => self.process_line(from, to),
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
            if self.data.len() > self.limit {
                return Some(Err(SseParseError { limit: self.limit }));
            }
        }
    }

    /// The last event id seen, as `EventSource.lastEventId` would report it after the most
    /// recent blank line.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Bytes held: unparsed input and the event being assembled.
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() - self.start + self.data.len() + self.event.len()
    }

    /// The next line's byte range in `buf`, consuming it and its line ending.
    fn next_line(&mut self) -> Result<Option<(usize, usize)>, SseParseError> {
        if !self.bom_checked {
            let pending = &self.buf[self.start..];
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            if pending.len() < BOM.len() && BOM.starts_with(pending) {
                return Ok(None);
            }
            if pending.starts_with(BOM) {
                self.start += BOM.len();
            }
            self.bom_checked = true;
        }
        if self.skip_lf && self.buf.get(self.start) == Some(&b'\n') {
            self.start += 1;
            self.skip_lf = false;
        }
        let pending = &self.buf[self.start..];
        if pending.is_empty() {
            return Ok(None);
        }
        self.skip_lf = false;
        match pending.iter().position(|&b| b == b'\r' || b == b'\n') {
            // Refused whether its end has arrived or not: the pieces the stream came in must
            // not decide what it means.
            Some(end) if end > self.limit.saturating_add(FIELD_ROOM) => {
                Err(SseParseError { limit: self.limit })
            }
            Some(end) => {
                let from = self.start;
                self.skip_lf = pending[end] == b'\r';
                self.start += end + 1;
                Ok(Some((from, from + end)))
            }
            None if pending.len() > self.limit.saturating_add(FIELD_ROOM) => {
                Err(SseParseError { limit: self.limit })
            }
            None => Ok(None),
        }
    }

    fn process_line(&mut self, from: usize, to: usize) {
        let line = String::from_utf8_lossy(&self.buf[from..to]).into_owned();
        if line.is_empty() {
            self.dispatch();
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "" => self.ready.push_back(SseItem::Comment(value.into())),
            "event" => self.event = value.into(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.data_seen = true;
            }
            "id" if !value.contains('\0') => self.id_in_block = Some(value.into()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(millis) = value.parse() {
                    self.ready.push_back(SseItem::Retry(millis));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        let id = self.id_in_block.take();
        if let Some(id) = &id {
            self.last_event_id.clone_from(id);
        }
        let event = core::mem::take(&mut self.event);
        if !core::mem::take(&mut self.data_seen) {
            return;
        }
        let mut data = core::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        self.ready.push_back(SseItem::Event(ParsedEvent {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
            id,
            last_event_id: self.last_event_id.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn parse_all(input: &[u8]) -> Vec<SseItem> {
        let mut parser = SseParser::new();
        parser.feed(input);
        let mut items = Vec::new();
        while let Some(item) = parser.poll_item() {
            items.push(item.unwrap());
        }
        items
    }

    fn event(event: &str, data: &str, id: Option<&str>, last: &str) -> SseItem {
        SseItem::Event(ParsedEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
            last_event_id: last.into(),
        })
    }

    #[test]
    fn follows_the_whatwg_examples() {
        assert_eq!(
            parse_all(b"data: YHOO\ndata: +2\ndata: 10\n\n"),
            vec![event("message", "YHOO\n+2\n10", None, "")]
        );
        assert_eq!(
            parse_all(b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"),
            vec![
                SseItem::Comment("test stream".into()),
                event("message", "first event", Some("1"), "1"),
                event("message", "second event", Some(""), ""),
                event("message", " third event", None, ""),
            ]
        );
        assert_eq!(
            parse_all(b"data\n\ndata\ndata\n\ndata:"),
            vec![
                event("message", "", None, ""),
                event("message", "\n", None, "")
            ]
        );
    }

    #[test]
    fn line_endings_mix_and_cr_alone_ends_a_line() {
        assert_eq!(
            parse_all(b"data: a\r\ndata: b\rdata: c\n\r\n"),
            vec![event("message", "a\nb\nc", None, "")]
        );
        assert_eq!(
            parse_all(b"data: x\r\r"),
            vec![event("message", "x", None, "")]
        );
    }

    #[test]
    fn id_only_blocks_update_the_last_id_without_dispatching() {
        let mut parser = SseParser::new();
        parser.feed(b"id: 42\n\nid: a\0b\ndata: d\n\n");
        let Some(Ok(SseItem::Event(e))) = parser.poll_item() else {
            panic!()
        };
        assert_eq!((e.id, e.last_event_id.as_str()), (None, "42"));
        assert_eq!(parser.last_event_id(), "42");
    }

    #[test]
    fn retry_takes_digits_only_and_unknown_fields_are_ignored() {
        assert_eq!(
            parse_all(b"retry: 1500\nretry: 1.5\nretry:\nfoo: bar\nevent: e\ndata: d\n\n"),
            vec![SseItem::Retry(1500), event("e", "d", None, "")]
        );
    }

    #[test]
    fn bom_is_dropped_once_even_when_split() {
        let mut parser = SseParser::new();
        parser.feed(b"\xEF\xBB");
        assert_eq!(parser.poll_item(), None);
        parser.feed(b"\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n");
        let Some(Ok(SseItem::Event(first))) = parser.poll_item() else {
            panic!()
        };
        assert_eq!(first.data, "x");
        // A second BOM is an ordinary (unknown) field name.
        assert_eq!(parser.poll_item(), None);
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        assert!(parse_all(b"data: partial\n").is_empty());
    }

    #[test]
    fn limits_bound_lines_and_data() {
        let mut parser = SseParser::with_limit(8);
        parser.feed(b"data: 12345678901");
        assert_eq!(parser.poll_item(), Some(Err(SseParseError { limit: 8 })));
        let mut parser = SseParser::with_limit(8);
        parser.feed(b"data: 12345678\n");
        assert_eq!(parser.poll_item(), Some(Err(SseParseError { limit: 8 })));
        let mut parser = SseParser::with_limit(8);
        parser.feed(b"data: 1234\ndata: 5678\n");
        assert_eq!(parser.poll_item(), Some(Err(SseParseError { limit: 8 })));
        let mut at = SseParser::with_limit(8);
        at.feed(b"data:123\n\n");
        assert!(matches!(at.poll_item(), Some(Ok(SseItem::Event(_)))));
    }

    /// A line may be 8 bytes longer than the limit (its field name), whether its end came
    /// with it or later; one byte more is refused either way.
    #[test]
    fn a_line_over_the_limit_is_refused_in_one_piece_as_in_two() {
        for line in [&b": 123456789012345\n"[..], b"event: 1234567890\n"] {
            assert_eq!(line.len() - 1, 8 + 8 + 1);
            let mut whole = SseParser::with_limit(8);
            whole.feed(line);
            assert_eq!(whole.poll_item(), Some(Err(SseParseError { limit: 8 })));
            let mut split = SseParser::with_limit(8);
            split.feed(&line[..line.len() - 1]);
            assert_eq!(split.poll_item(), Some(Err(SseParseError { limit: 8 })));
        }
        let mut at = SseParser::with_limit(8);
        at.feed(b": 12345678901234");
        assert_eq!(at.poll_item(), None);
        at.feed(b"\n");
        assert_eq!(
            at.poll_item(),
            Some(Ok(SseItem::Comment("12345678901234".into())))
        );
        // Data up to the limit (its line break included) fits on one line.
        let mut data = SseParser::with_limit(8);
        data.feed(b"data: 1234567");
        assert_eq!(data.poll_item(), None);
        data.feed(b"\n\n");
        assert!(matches!(data.poll_item(), Some(Ok(SseItem::Event(e))) if e.data == "1234567"));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(
            parse_all(b"data: a\xffb\n\n"),
            vec![event("message", "a\u{fffd}b", None, "")]
        );
    }
}
