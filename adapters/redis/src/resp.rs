//! [`FrameReader`]: RESP2 frames out of the bytes Redis sends, however they are split, with
//! every byte examined once and a frame over the limit skipped rather than buffered.
//!
//! Sans-IO: the connection hands it what it reads and takes frames out. The scan is a state
//! machine that resumes where the last read stopped, so that a frame trickled a few bytes at
//! a time costs what it costs in one read; a scan that started over on every read cost a
//! node seconds of CPU for one 300 KB frame sent 8 bytes at a time.

use std::io;

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::OwnedFrame;

/// The deepest nesting of arrays taken from Redis. Nothing this crate asks for nests (a
/// pub/sub message is one array of bulk strings); the decoder recurses once per level, so a
/// reply of `*1\r\n` repeated would otherwise overflow the stack of the server's thread.
pub(crate) const MAX_DEPTH: usize = 2;

/// What a [`FrameReader`] took out of the bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A frame of at most the reader's limit.
    Frame {
        /// The frame.
        frame: OwnedFrame,
        /// Its length in bytes.
        len: usize,
    },
    /// A frame over the limit, whose bytes were dropped as they came: the connection goes on
    /// with the frame after it.
    Oversized {
        /// Its length in bytes.
        len: usize,
    },
}

/// A reply Redis should not have sent.
pub(crate) fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Where the scan of a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// An element's type byte.
    Kind,
    /// The rest of a `+`, `-` or `:` line (checked by the decoder), to its CRLF; `cr` when the
    /// last byte was `\r`.
    Line { cr: bool },
    /// The length of a `$` (`bulk`) or the count of a `*`: an optional sign, digits, CRLF.
    Number {
        bulk: bool,
        negative: bool,
        signed: bool,
        digits: u32,
        value: u64,
        cr: bool,
    },
    /// A bulk string's body: bytes left.
    Body { left: usize },
    /// The CRLF after a bulk string's body; `cr` when the `\r` was seen.
    BodyEnd { cr: bool },
}

/// The scan of one frame, resumable at any byte.
#[derive(Debug, Clone)]
struct Scan {
    part: Part,
    /// Elements left in each open array, outermost first.
    open: [u64; MAX_DEPTH],
    depth: usize,
    /// Bytes of the frame scanned so far.
    len: usize,
}

impl Default for Scan {
    fn default() -> Scan {
        Scan {
            part: Part::Kind,
            open: [0; MAX_DEPTH],
            depth: 0,
            len: 0,
        }
    }
}

impl Scan {
    /// Scans `bytes`, which follow those scanned before: how many of them end the frame, or
    /// `None` when all were taken and the frame goes on.
    fn feed(&mut self, bytes: &[u8]) -> io::Result<Option<usize>> {
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            let mut taken = 1;
            let mut element_done = false;
            match &mut self.part {
                Part::Kind => match byte {
                    b'+' | b'-' | b':' => self.part = Part::Line { cr: false },
                    b'$' | b'*' => {
                        self.part = Part::Number {
                            bulk: byte == b'$',
                            negative: false,
                            signed: false,
                            digits: 0,
                            value: 0,
                            cr: false,
                        }
                    }
                    _ => return Err(protocol_error("not RESP2")),
                },
                Part::Line { cr } => {
                    if *cr && byte == b'\n' {
                        element_done = true;
                    } else {
                        *cr = byte == b'\r';
                    }
                }
                Part::Number {
                    bulk,
                    negative,
                    signed,
                    digits,
                    value,
                    cr,
                } => match byte {
                    b'-' | b'+' if !*signed && *digits == 0 => {
                        *signed = true;
                        *negative = byte == b'-';
                    }
                    b'0'..=b'9' if !*cr => {
                        *digits += 1;
                        *value = value
                            .checked_mul(10)
                            .and_then(|v| v.checked_add(u64::from(byte - b'0')))
                            .filter(|&v| v <= i64::MAX as u64)
                            .ok_or_else(|| protocol_error("a RESP length out of range"))?;
                    }
                    b'\r' if !*cr && *digits > 0 => *cr = true,
                    b'\n' if *cr => {
                        let (bulk, negative, value) = (*bulk, *negative, *value);
                        element_done = self.counted(bulk, negative, value)?;
                    }
                    _ => return Err(protocol_error("a RESP length that is not a number")),
                },
                Part::Body { left } => {
                    // The body is not looked at here (the decoder takes it whole): skip it.
                    taken = (*left).min(bytes.len() - at);
                    *left -= taken;
                    if *left == 0 {
                        self.part = Part::BodyEnd { cr: false };
                    }
                }
                Part::BodyEnd { cr } => match byte {
                    b'\r' if !*cr => *cr = true,
                    b'\n' if *cr => element_done = true,
                    _ => return Err(protocol_error("a bulk string longer than its length")),
                },
            }
            at += taken;
            self.len += taken;
            if element_done && self.element_done() {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    /// A `$` length or `*` count read: what follows. True when it completed an element (a
    /// null, or an empty array).
    fn counted(&mut self, bulk: bool, negative: bool, value: u64) -> io::Result<bool> {
        if negative && value > 1 {
            return Err(protocol_error("a negative RESP length"));
        }
        if (negative && value == 1) || (value == 0 && !bulk) {
            // A null, or an empty array: the element is whole.
            self.part = Part::Kind;
            return Ok(true);
        }
        if bulk {
            self.part = match usize::try_from(value) {
                Ok(0) => Part::BodyEnd { cr: false },
                Ok(left) => Part::Body { left },
                Err(_) => return Err(protocol_error("a RESP length out of range")),
            };
            return Ok(false);
        }
        if self.depth == MAX_DEPTH {
            return Err(protocol_error(format!(
                "a reply from Redis nested deeper than {MAX_DEPTH}"
            )));
        }
        self.open[self.depth] = value;
        self.depth += 1;
        self.part = Part::Kind;
        Ok(false)
    }

    /// One element done: it closes every array it completes. True when that ends the frame.
    fn element_done(&mut self) -> bool {
        self.part = Part::Kind;
        while self.depth > 0 {
            let left = &mut self.open[self.depth - 1];
            *left -= 1;
            if *left > 0 {
                return false;
            }
            self.depth -= 1;
        }
        true
    }

    /// The fewest bytes the frame can have, from what was scanned (it is not whole).
    fn min_len(&self) -> usize {
        let still = match self.part {
            Part::Body { left } => left.saturating_add(2),
            Part::BodyEnd { cr } => 2 - usize::from(cr),
            Part::Kind | Part::Line { .. } | Part::Number { .. } => 1,
        };
        self.len.saturating_add(still)
    }
}

/// RESP2 frames from a connection's bytes: at most `limit` bytes of one frame are buffered,
/// and a longer frame is skipped as it comes (its bytes dropped once scanned) and reported
/// as [`Received::Oversized`], so that one large message costs that message, not the
/// connection. Frames nest at most two arrays deep.
///
/// Not part of the API: public for the fuzz targets.
#[derive(Debug)]
pub struct FrameReader {
    limit: usize,
    /// Bytes received; those before `start` are taken, and dropped on the next receive.
    buf: Vec<u8>,
    start: usize,
    /// The scan of the frame at `start`: its bytes in `buf` are `scan.len - skipped`.
    scan: Scan,
    /// Whether that frame is over the limit: its bytes are dropped as they are scanned.
    skipping: bool,
    /// Its bytes dropped so far.
    skipped: usize,
    examined: u64,
}

impl FrameReader {
    /// A reader buffering at most `limit` bytes (at least 1) of one frame.
    #[must_use]
    pub fn new(limit: usize) -> FrameReader {
        FrameReader {
            limit: limit.max(1),
            buf: Vec::new(),
            start: 0,
            scan: Scan::default(),
            skipping: false,
            skipped: 0,
            examined: 0,
        }
    }

    /// How many bytes [`receive`](Self::receive) takes now: never 0 once
    /// [`next_frame`](Self::next_frame) has returned `Ok(None)`.
    #[must_use]
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.buf.len() - self.start)
    }

    /// Takes as much of `bytes` as there is [`room`](Self::room) for; returns how much.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        // Taken bytes go once per read, not once per frame.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let taken = bytes.len().min(self.room());
        self.buf.extend_from_slice(&bytes[..taken]);
        taken
    }

    /// The next frame, or `Ok(None)` until more bytes are received. Scans only the bytes not
    /// scanned before.
    ///
    /// # Errors
    ///
    /// When the bytes are not RESP2, or nest deeper than two arrays: the connection is done.
    pub fn next_frame(&mut self) -> io::Result<Option<Received>> {
        let from = self.start + self.scan.len - self.skipped;
        let fed = &self.buf[from..];
        let end = self.scan.feed(fed)?;
        self.examined += end.unwrap_or(fed.len()) as u64;
        let Some(used) = end else {
            if !self.skipping && self.scan.min_len() > self.limit {
                self.skipping = true;
            }
            if self.skipping {
                // Everything after `start` is this frame's, and scanned.
                self.skipped += self.buf.len() - self.start;
                self.buf.truncate(self.start);
            }
            return Ok(None);
        };
        let end = from + used;
        let len = self.scan.len;
        let frame_start = self.start;
        self.start = end;
        self.scan = Scan::default();
        if self.skipping {
            self.skipping = false;
            self.skipped = 0;
            return Ok(Some(Received::Oversized { len }));
        }
        // Whole and shallow: the (recursive) decoder sees nothing else.
        let bytes = &self.buf[frame_start..end];
        match decode(bytes) {
            Ok(Some((frame, used))) if used == bytes.len() => {
                Ok(Some(Received::Frame { frame, len }))
            }
            Ok(_) => Err(protocol_error(
                "a RESP2 frame the decoder did not take whole",
            )),
            Err(e) => Err(protocol_error(e.to_string())),
        }
    }

    /// Bytes scanned since the reader was made: each received byte is scanned once.
    #[must_use]
    pub fn examined(&self) -> u64 {
        self.examined
    }

    /// Bytes held: of the frame being read, or received after it.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of `bytes` given whole, with the reader's limit `limit`.
    fn read_all(bytes: &[u8], limit: usize) -> (Vec<Received>, io::Result<()>) {
        let mut reader = FrameReader::new(limit);
        let mut out = Vec::new();
        let mut rest = bytes;
        loop {
            match reader.next_frame() {
                Ok(Some(received)) => out.push(received),
                Ok(None) if rest.is_empty() => return (out, Ok(())),
                Ok(None) => rest = &rest[reader.receive(rest)..],
                Err(e) => return (out, Err(e)),
            }
        }
    }

    /// The length of the first frame of `buf`, `None` if it is incomplete.
    fn frame_end(buf: &[u8]) -> io::Result<Option<usize>> {
        let (frames, outcome) = read_all(buf, usize::MAX);
        match frames.first() {
            Some(Received::Frame { len, .. }) => Ok(Some(*len)),
            Some(other) => panic!("{other:?}"),
            None => outcome.map(|()| None),
        }
    }

    #[test]
    fn frames_end_where_resp_says() {
        let cases: [(&[u8], Option<usize>); 10] = [
            (b"+OK\r\n", Some(5)),
            (b":12\r\nrest", Some(5)),
            (b"$3\r\nabc\r\n", Some(9)),
            (b"$3\r\nab", None),
            (b"$-1\r\n", Some(5)),
            (b"$0\r\n\r\n", Some(6)),
            (b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n", Some(32)),
            (b"*3\r\n$7\r\nmessage\r\n", None),
            (b"*0\r\n", Some(4)),
            (b"*-1\r\n", Some(5)),
        ];
        for (buf, end) in cases {
            assert_eq!(
                frame_end(buf).unwrap(),
                end,
                "{}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn nesting_at_the_limit_is_taken_and_past_it_refused() {
        // Depth 2: an array holding an array (what a transaction reply would be).
        assert_eq!(frame_end(b"*1\r\n*1\r\n:1\r\n").unwrap(), Some(12));
        assert!(frame_end(b"*1\r\n*1\r\n*1\r\n:1\r\n").is_err());
        // The attack: a quarter of a million levels, refused without recursion.
        assert!(frame_end(&b"*1\r\n".repeat(80_000)).is_err());
    }

    #[test]
    fn what_is_not_resp2_is_refused() {
        for bad in [
            &b"?x\r\n"[..],
            b"$x\r\n",
            b"*-x\r\n",
            b"$-2\r\n",
            b"$\r\n",
            b"$1 \r\n",
            b"$1\rx",
            b"$1\r\nab\r\n",
            b"$99999999999999999999\r\n",
        ] {
            assert!(frame_end(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// A pub/sub message of `payload` bytes.
    fn message(payload: usize) -> Vec<u8> {
        let mut frame =
            format!("*3\r\n$7\r\nmessage\r\n$7\r\nmcpwire\r\n${payload}\r\n").into_bytes();
        frame.resize(frame.len() + payload, b'x');
        frame.extend_from_slice(b"\r\n");
        frame
    }

    #[test]
    fn a_frame_trickled_a_byte_at_a_time_is_scanned_once() {
        // A 10,000-element array: one scan from the start on each read examined 800 million
        // bytes; a resumed scan examines each of its 40,008 once.
        let mut frame = b"*10000\r\n".to_vec();
        for _ in 0..10_000 {
            frame.extend_from_slice(b":1\r\n");
        }
        let mut reader = FrameReader::new(1 << 20);
        for (i, byte) in frame.iter().enumerate() {
            assert_eq!(reader.receive(std::slice::from_ref(byte)), 1);
            match reader.next_frame().unwrap() {
                None => assert!(i + 1 < frame.len()),
                Some(Received::Frame { len, .. }) => assert_eq!(len, frame.len()),
                Some(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(
            reader.examined(),
            frame.len() as u64,
            "each byte scanned once"
        );
    }

    #[test]
    fn a_frame_at_the_limit_is_read_and_one_byte_more_is_skipped() {
        let at = message(1000);
        let limit = at.len();
        let (frames, outcome) = read_all(&at, limit);
        outcome.unwrap();
        assert!(matches!(frames.as_slice(), [Received::Frame { len, .. }] if *len == limit));
        let mut past = message(1001);
        let next = b"*3\r\n$7\r\nmessage\r\n$7\r\nmcpwire\r\n$2\r\nhi\r\n";
        past.extend_from_slice(next);
        let (frames, outcome) = read_all(&past, limit);
        outcome.unwrap();
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(frames[0], Received::Oversized { len: limit + 1 });
        assert!(
            matches!(&frames[1], Received::Frame { len, .. } if *len == next.len()),
            "the frame after the skipped one is read: {frames:?}"
        );
    }

    #[test]
    fn a_skipped_frame_is_not_buffered() {
        // 400 KB in reads of 16 KiB under a limit of 320 KiB: never more than one read held.
        let frame = message(400_000);
        let limit = 320 * 1024;
        let mut reader = FrameReader::new(limit);
        let mut outcome = None;
        for chunk in frame.chunks(16 * 1024) {
            assert_eq!(reader.receive(chunk), chunk.len());
            outcome = reader.next_frame().unwrap();
            assert!(reader.buffered() <= 16 * 1024, "{}", reader.buffered());
        }
        assert_eq!(outcome, Some(Received::Oversized { len: frame.len() }));
        assert_eq!(reader.examined(), frame.len() as u64);
    }

    #[test]
    fn there_is_always_room_after_an_incomplete_frame() {
        // The limit reached by a frame whose length is not announced: it is skipped, and
        // reading goes on.
        let mut frame = b"*300\r\n".to_vec();
        for _ in 0..300 {
            frame.extend_from_slice(b":1\r\n");
        }
        let mut reader = FrameReader::new(64);
        let mut rest = &frame[..];
        let mut got = None;
        while got.is_none() {
            got = reader.next_frame().unwrap();
            if got.is_none() {
                assert!(reader.room() > 0);
                rest = &rest[reader.receive(rest)..];
            }
        }
        assert_eq!(got, Some(Received::Oversized { len: frame.len() }));
    }
}
