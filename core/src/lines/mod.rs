//! Newline-delimited JSON-RPC framing: the stdio transport's codec, usable over any reliable
//! byte stream (a pipe pair, a Unix socket).
//!
//! One message per line; a line ends at `\n` (a `\r` before it is dropped; lines that are empty
//! or only whitespace are skipped, as hosts write them between messages). A line longer than the
//! limit is reported once, as soon as it crosses the limit, and the rest of it is discarded as
//! it arrives: the decoder never holds more than `max_line_bytes`, whatever a peer writes.
//!
//! # Examples
//!
//! ```
//! use mcpwire_core::lines::{encode_line, Frame, LineDecoder};
//!
//! let mut decoder = LineDecoder::new(64);
//! let mut input: &[u8] = b"{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}\r\n{\"jsonrpc\":";
//! assert_eq!(
//!     decoder.decode(&mut input),
//!     Some(Frame::Line(br#"{"jsonrpc":"2.0","method":"ping","id":1}"#.to_vec()))
//! );
//! assert_eq!(decoder.decode(&mut input), None); // the rest is kept until its newline
//! assert_eq!(decoder.buffered_bytes(), 11);
//!
//! let mut out = Vec::new();
//! encode_line(b"{\"a\":\n1}", &mut out);
//! assert_eq!(out, b"{\"a\": 1}\n");
//! ```

use alloc::vec::Vec;

#[cfg(test)]
mod tests;

/// What the decoder found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete line, without its `\r\n` or `\n`.
    Line(Vec<u8>),
    /// A line crossed the limit (reported as soon as it does, whatever the read sizes). Its
    /// remainder, up to and including the next `\n`, is discarded without being buffered.
    TooLong,
}

/// An incremental, bounded line splitter.
#[derive(Debug)]
pub struct LineDecoder {
    max_line_bytes: usize,
    partial: Vec<u8>,
    discarding: bool,
}

impl LineDecoder {
    /// A decoder that accepts lines of at most `max_line_bytes` bytes (not counting the line
    /// ending).
    #[must_use]
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes,
            partial: Vec::new(),
            discarding: false,
        }
    }

    /// The limit this decoder enforces.
    #[must_use]
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Bytes of an incomplete line held until its newline (at most `max_line_bytes + 1`,
    /// for a `\r` that may precede the newline).
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.partial.len()
    }

    /// Whether the remainder of an over-long line is being discarded.
    #[must_use]
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Consumes bytes from the front of `input` up to the end of the first frame and returns
    /// it; returns `None` once `input` is empty without a frame (an incomplete line is kept).
    /// Call it again while it returns frames.
    pub fn decode(&mut self, input: &mut &[u8]) -> Option<Frame> {
        while !input.is_empty() {
            let newline = input.iter().position(|&byte| byte == b'\n');
            let chunk_end = newline.unwrap_or(input.len());
            let (chunk, rest) = input.split_at(chunk_end);
            // The newline itself is consumed with its line.
            *input = if newline.is_some() { &rest[1..] } else { rest };
            if self.discarding {
                if newline.is_some() {
                    self.discarding = false;
                }
                continue;
            }
            let complete = newline.is_some();
            if self.crosses_limit(chunk, complete) {
                self.partial = Vec::new();
                self.discarding = !complete;
                return Some(Frame::TooLong);
            }
            self.partial.extend_from_slice(chunk);
            if !complete {
                return None;
            }
            if let Some(frame) = self.take_line() {
                return Some(frame);
            }
        }
        None
    }

    /// At the end of the stream: a last line without its newline, if any. Afterwards the
    /// decoder is empty.
    pub fn finish(&mut self) -> Option<Frame> {
        let discarding = core::mem::take(&mut self.discarding);
        if discarding {
            self.partial = Vec::new();
            return None;
        }
        self.take_line()
    }

    /// Whether `chunk` takes the line past the limit. A trailing `\r` is allowed one byte
    /// beyond it, since it may belong to the line ending rather than the line.
    fn crosses_limit(&self, chunk: &[u8], complete: bool) -> bool {
        let len = self.partial.len() + chunk.len();
        let ends_in_cr = chunk.last().or(self.partial.last()) == Some(&b'\r');
        let content = if ends_in_cr { len - 1 } else { len };
        if complete {
            content > self.max_line_bytes
        } else {
            len > self.max_line_bytes + 1 || content > self.max_line_bytes
        }
    }

    fn take_line(&mut self) -> Option<Frame> {
        let mut line = core::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(Frame::Line(line))
    }
}

/// Appends `json` to `out` as one line: raw `\n` and `\r` bytes become spaces (in valid JSON
/// they can only be whitespace between tokens, since strings escape them), then `\n`.
pub fn encode_line(json: &[u8], out: &mut Vec<u8>) {
    out.reserve(json.len() + 1);
    out.extend(json.iter().map(|&byte| match byte {
        b'\n' | b'\r' => b' ',
        other => other,
    }));
    out.push(b'\n');
}

/// The length [`encode_line`] gives `json`.
#[must_use]
pub fn encoded_len(json: &[u8]) -> usize {
    json.len() + 1
}
