//! Encoding SSE events and comments.

use alloc::vec::Vec;
use core::fmt;

use crate::ascii::push_decimal;

/// One event to send. `data` may hold any text; line breaks in it become separate `data:`
/// lines and come back as `\n`.
///
/// # Examples
///
/// ```
/// use mcpwire_core::sse::Event;
///
/// // The priming event of MCP 2025-11-25: an id, empty data, and a reconnection delay.
/// let mut wire = Vec::new();
/// Event::message("").with_id("s3-0").with_retry(1000).encode(&mut wire).unwrap();
/// assert_eq!(wire, b"id: s3-0\nretry: 1000\ndata:\n\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event id (`Last-Event-ID` on reconnection). No CR, LF or NUL.
    pub id: Option<&'a str>,
    /// The event type; `None` means the default, `message`. No CR or LF.
    pub event: Option<&'a str>,
    /// The reconnection delay to advertise, in milliseconds.
    pub retry: Option<u64>,
    /// The payload.
    pub data: &'a str,
}

/// Why an event could not be encoded without changing its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEncodeError {
    /// The id holds CR, LF or NUL.
    InvalidId,
    /// The event type holds CR or LF.
    InvalidEventType,
}

impl fmt::Display for SseEncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SseEncodeError::InvalidId => "SSE id holds CR, LF or NUL",
            SseEncodeError::InvalidEventType => "SSE event type holds CR or LF",
        })
    }
}

impl core::error::Error for SseEncodeError {}

impl<'a> Event<'a> {
    /// A default-typed event carrying `data`.
    #[must_use]
    pub const fn message(data: &'a str) -> Self {
        Event {
            id: None,
            event: None,
            retry: None,
            data,
        }
    }

    /// The same event with an id.
    #[must_use]
    pub const fn with_id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// The same event with a type.
    #[must_use]
    pub const fn with_event(mut self, event: &'a str) -> Self {
        self.event = Some(event);
        self
    }

    /// The same event with a `retry` field.
    #[must_use]
    pub const fn with_retry(mut self, millis: u64) -> Self {
        self.retry = Some(millis);
        self
    }

    /// Appends the event, blank line included, to `out`. Nothing is written on error.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), SseEncodeError> {
        if let Some(id) = self.id {
            if id.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(SseEncodeError::InvalidId);
            }
        }
        if let Some(event) = self.event {
            if event.bytes().any(|b| matches!(b, b'\r' | b'\n')) {
                return Err(SseEncodeError::InvalidEventType);
            }
        }
        out.reserve(self.data.len() + 32);
        if let Some(id) = self.id {
            push_id(out, id)?;
        }
        if let Some(event) = self.event {
            push_field(out, b"event", event.as_bytes());
        }
        if let Some(millis) = self.retry {
            push_retry(out, millis);
        }
        push_data(out, self.data);
        out.push(b'\n');
        Ok(())
    }
}

/// Appends an `id:` line. Broadcasts write it per recipient before the shared rest of the event.
pub fn push_id(out: &mut Vec<u8>, id: &str) -> Result<(), SseEncodeError> {
    if id.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(SseEncodeError::InvalidId);
    }
    push_field(out, b"id", id.as_bytes());
    Ok(())
}

/// Appends a `retry:` line.
pub fn push_retry(out: &mut Vec<u8>, millis: u64) {
    out.extend_from_slice(b"retry: ");
    push_decimal(out, millis);
    out.push(b'\n');
}

/// Appends `data` as `data:` lines, one per line of text. It does not end the event: add the
/// blank line (`\n`) after it.
pub fn push_data(out: &mut Vec<u8>, data: &str) {
    for line in lines(data) {
        push_field(out, b"data", line.as_bytes());
    }
}

/// Appends a comment (`: text`), one comment line per line of text. Clients ignore comments;
/// keep-alives use them so that bytes flow and dead peers are found.
pub fn push_comment(out: &mut Vec<u8>, text: &str) {
    for line in lines(text) {
        out.push(b':');
        if !line.is_empty() {
            out.push(b' ');
            out.extend_from_slice(line.as_bytes());
        }
        out.push(b'\n');
    }
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.push(b':');
    if !value.is_empty() {
        // One space after the colon is stripped by parsers, so a value that itself begins with
        // a space survives.
        out.push(b' ');
        out.extend_from_slice(value);
    }
    out.push(b'\n');
}

/// The lines of `text`, split on CRLF, LF and CR alike. A trailing break yields a final empty
/// line, so `"a\n"` is `["a", ""]`: the parser joins them back into `"a\n"`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    core::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(i) => {
                let skip = if current[i..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[i + skip..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(event: Event<'_>) -> alloc::string::String {
        let mut out = Vec::new();
        event.encode(&mut out).unwrap();
        alloc::string::String::from_utf8(out).unwrap()
    }

    #[test]
    fn data_splits_on_every_line_break() {
        assert_eq!(
            encoded(Event::message("a\r\nb\rc\nd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(encoded(Event::message("x\n")), "data: x\ndata:\n\n");
        assert_eq!(encoded(Event::message("\r\r\n")), "data:\ndata:\ndata:\n\n");
        assert_eq!(encoded(Event::message(" lead")), "data:  lead\n\n");
    }

    #[test]
    fn all_fields_in_order() {
        assert_eq!(
            encoded(
                Event::message("{}")
                    .with_id("7")
                    .with_event("endpoint")
                    .with_retry(0)
            ),
            "id: 7\nevent: endpoint\nretry: 0\ndata: {}\n\n"
        );
    }

    #[test]
    fn fields_that_would_break_framing_are_refused_and_nothing_written() {
        let mut out = Vec::new();
        assert_eq!(
            Event::message("x").with_id("a\nb").encode(&mut out),
            Err(SseEncodeError::InvalidId)
        );
        assert_eq!(
            Event::message("x").with_id("a\0b").encode(&mut out),
            Err(SseEncodeError::InvalidId)
        );
        assert_eq!(
            Event::message("x").with_event("a\rb").encode(&mut out),
            Err(SseEncodeError::InvalidEventType)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn comments_split_too() {
        let mut out = Vec::new();
        push_comment(&mut out, "");
        push_comment(&mut out, "keep-alive\nsecond");
        assert_eq!(out, b":\n: keep-alive\n: second\n");
    }
}
