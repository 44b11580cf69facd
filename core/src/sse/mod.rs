//! Server-Sent Events: an encoder for the server and an incremental parser for clients (the
//! simulator's and the tests').
//!
//! Both follow the WHATWG HTML "server-sent events" algorithm: data is split on every line
//! break (CRLF, LF or CR) into `data:` lines, a blank line dispatches an event, an event whose
//! data buffer is empty is not dispatched (but its `id` still takes effect), `retry` takes
//! digits only, and an `id` holding NUL is ignored. What the encoder writes, the parser reads
//! back exactly.
//!
//! # Examples
//!
//! ```
//! use mcpwire_core::sse::{Event, SseItem, SseParser};
//!
//! let mut wire = Vec::new();
//! Event::message("line one\nline two").with_id("s1-7").encode(&mut wire).unwrap();
//! assert_eq!(wire, b"id: s1-7\ndata: line one\ndata: line two\n\n");
//!
//! let mut parser = SseParser::new();
//! parser.feed(&wire);
//! let Some(Ok(SseItem::Event(event))) = parser.poll_item() else { panic!() };
//! assert_eq!(event.data, "line one\nline two");
//! assert_eq!(event.id.as_deref(), Some("s1-7"));
//! ```

mod encode;
mod parse;

pub use encode::{Event, SseEncodeError, push_comment, push_data, push_id, push_retry};
pub use parse::{ParsedEvent, SseItem, SseParseError, SseParser};
