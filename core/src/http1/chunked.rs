//! A strict, incremental decoder for `Transfer-Encoding: chunked` request bodies.
//!
//! Strict where leniency has enabled request smuggling: chunk lines end in CRLF only (a bare LF
//! or CR is an error), chunk data must be followed by exactly CRLF, sizes are hex digits only.
//! Chunk extensions are skipped within [`MAX_CHUNK_LINE`]; trailer fields are read and discarded
//! within the head size limit. The state is a few integers, so any split of the input decodes
//! the same way.

use alloc::vec::Vec;

use super::error::RequestError;
use super::limits::MAX_CHUNK_LINE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size; `digits` counts them, `line` the bytes of this size line so far.
    Size {
        size: u64,
        digits: usize,
        line: usize,
    },
    /// Whitespace after the size: only more whitespace, `;` or CR may follow.
    SizeWs { size: u64, line: usize },
    /// Inside `;extension`s, up to CR.
    Extension { size: u64, line: usize },
    /// Saw the CR ending a size line; LF must follow.
    SizeLf { size: u64 },
    /// Copying chunk data.
    Data { remaining: u64 },
    /// Chunk data done; CR must follow.
    DataCr,
    /// CR after chunk data; LF must follow.
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer { colon: bool },
    /// Saw the CR ending a trailer line; LF must follow.
    TrailerLf { blank: bool },
    /// The body is complete.
    Done,
}

/// Decodes one chunked body, bounded by the body and trailer limits.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Body bytes decoded so far.
    decoded: u64,
    max_body: u64,
    max_trailer: usize,
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new(max_body: usize, max_trailer: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size {
                size: 0,
                digits: 0,
                line: 0,
            },
            decoded: 0,
            max_body: max_body as u64,
            max_trailer,
            trailer_bytes: 0,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending data to the end of `body` (which may hold other bytes
    /// before it), and returns how many input bytes it consumed. It stops at the end of the
    /// body: bytes after it belong to the next request.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<usize, RequestError> {
        let mut at = 0;
        self.decode_at(input, body, &mut at)?;
        Ok(at)
    }

    /// [`ChunkedDecoder::decode`], with the bytes consumed kept in `i` as it goes: after an
    /// error it is where the error is, and `body` holds the data before it.
    pub(crate) fn decode_at(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        i: &mut usize,
    ) -> Result<(), RequestError> {
        *i = 0;
        while *i < input.len() && self.state != State::Done {
            if let State::Data { remaining } = self.state {
                let available = input.len() - *i;
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(available);
                body.extend_from_slice(&input[*i..*i + take]);
                self.decoded += take as u64;
                *i += take;
                let remaining = remaining - take as u64;
                self.state = if remaining == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining }
                };
                continue;
            }
            self.state = self.step(input[*i])?;
            *i += 1;
        }
        Ok(())
    }

    fn step(&mut self, byte: u8) -> Result<State, RequestError> {
        Ok(match self.state {
            State::Size { size, digits, line } => {
                if let Some(value) = hex_value(byte) {
                    let line = Self::line_len(line)?;
                    let size = size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(u64::from(value)))
                        .filter(|&s| s <= self.max_body.saturating_sub(self.decoded))
                        .ok_or(RequestError::BodyTooLarge)?;
                    State::Size {
                        size,
                        digits: digits + 1,
                        line,
                    }
                } else if digits == 0 {
                    return Err(RequestError::BadChunk("chunk size is not hex"));
                } else {
                    self.after_size(byte, size, line)?
                }
            }
            State::SizeWs { size, line } | State::Extension { size, line } => {
                self.after_size(byte, size, line)?
            }
            State::SizeLf { size } => match (byte, size) {
                (b'\n', 0) => State::TrailerStart,
                (b'\n', size) => State::Data { remaining: size },
                _ => return Err(RequestError::BadChunk("chunk size line not ended by CRLF")),
            },
            State::Data { .. } | State::Done => self.state,
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(RequestError::BadChunk("chunk data longer than its size")),
            },
            State::DataLf => match byte {
                b'\n' => State::Size {
                    size: 0,
                    digits: 0,
                    line: 0,
                },
                _ => return Err(RequestError::BadChunk("chunk data not ended by CRLF")),
            },
            State::TrailerStart | State::Trailer { .. } | State::TrailerLf { .. } => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > self.max_trailer {
                    return Err(RequestError::HeadersTooLarge);
                }
                self.trailer_step(byte)?
            }
        })
    }

    fn after_size(&self, byte: u8, size: u64, line: usize) -> Result<State, RequestError> {
        if byte == b'\r' {
            return Ok(State::SizeLf { size });
        }
        let line = Self::line_len(line)?;
        match (self.state, byte) {
            (_, b'\n') => Err(RequestError::BadChunk("bare LF in chunk size line")),
            (_, 0) => Err(RequestError::BadChunk("NUL in chunk extension")),
            // Extensions (`;name=value`) carry nothing mcpwire uses: skipped up to CR.
            (State::Extension { .. }, _) | (_, b';') => Ok(State::Extension { size, line }),
            (_, b' ' | b'\t') => Ok(State::SizeWs { size, line }),
            _ => Err(RequestError::BadChunk("chunk size is not hex")),
        }
    }

    fn trailer_step(&self, byte: u8) -> Result<State, RequestError> {
        Ok(match (self.state, byte) {
            (State::TrailerStart, b'\r') => State::TrailerLf { blank: true },
            (State::Trailer { colon }, b'\r') => {
                if !colon {
                    return Err(RequestError::BadChunk("trailer field without a colon"));
                }
                State::TrailerLf { blank: false }
            }
            (State::TrailerStart | State::Trailer { .. }, b'\n' | 0) => {
                return Err(RequestError::BadChunk("bare LF or NUL in trailer"));
            }
            (State::TrailerStart, b':') => {
                return Err(RequestError::BadChunk("trailer field without a name"));
            }
            (State::TrailerStart, _) => State::Trailer { colon: false },
            (State::Trailer { colon }, b) => State::Trailer {
                colon: colon || b == b':',
            },
            (State::TrailerLf { blank: true }, b'\n') => State::Done,
            (State::TrailerLf { blank: false }, b'\n') => State::TrailerStart,
            (State::TrailerLf { .. }, _) => {
                return Err(RequestError::BadChunk("trailer line not ended by CRLF"));
            }
            (state, _) => state,
        })
    }

    fn line_len(line: usize) -> Result<usize, RequestError> {
        let line = line + 1;
        if line > MAX_CHUNK_LINE {
            return Err(RequestError::BadChunk("chunk size line too long"));
        }
        Ok(line)
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), RequestError> {
        let mut decoder = ChunkedDecoder::new(1024, 256);
        let mut body = Vec::new();
        let used = decoder.decode(input, &mut body)?;
        assert!(decoder.is_done(), "not done after {used} bytes");
        Ok((body, used))
    }

    fn error_of(input: &[u8]) -> RequestError {
        let mut decoder = ChunkedDecoder::new(1024, 256);
        decoder
            .decode(input, &mut Vec::new())
            .expect_err("expected an error")
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let (body, used) =
            decode_all(b"5\r\nhello\r\n6;ext=\"x\"\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT").unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(used, 42);
        let (body, _) = decode_all(b"A \t;a;b=c\r\n0123456789\r\n000\r\n\r\n").unwrap();
        assert_eq!(body, b"0123456789");
        let (body, _) = decode_all(b"0\r\n\r\n").unwrap();
        assert!(body.is_empty());
    }

    #[test]
    fn every_split_decodes_the_same() {
        let input = b"3\r\nabc\r\n1;x\r\nd\r\n0\r\nT: v\r\n\r\n";
        for cut in 0..=input.len() {
            let mut decoder = ChunkedDecoder::new(64, 64);
            let mut body = Vec::new();
            let a = decoder.decode(&input[..cut], &mut body).unwrap();
            assert_eq!(a, cut);
            let b = decoder.decode(&input[cut..], &mut body).unwrap();
            assert_eq!(a + b, input.len());
            assert!(decoder.is_done());
            assert_eq!(body, b"abcd");
        }
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"\r\n",
            b"5;a\nb\r\nhello\r\n",
            b"0\r\nNoColon\r\n\r\n",
            b"0\r\n: v\r\n\r\n",
            b"0\r\nT: v\n\r\n",
            b"0\r\n\n",
            b"5 5\r\nhello\r\n0\r\n\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
        ] {
            assert!(
                matches!(error_of(bad), RequestError::BadChunk(_)),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
    }

    #[test]
    fn body_limit_is_exact() {
        let mut at = ChunkedDecoder::new(4, 64);
        let mut body = Vec::new();
        at.decode(b"4\r\nabcd\r\n0\r\n\r\n", &mut body).unwrap();
        assert!(at.is_done());

        let mut past = ChunkedDecoder::new(4, 64);
        let mut body = Vec::new();
        assert_eq!(
            past.decode(b"3\r\nabc\r\n2\r\n", &mut body).unwrap_err(),
            RequestError::BodyTooLarge
        );
        assert_eq!(
            error_of(b"fffffffffffffffffffff\r\n"),
            RequestError::BodyTooLarge
        );
    }

    #[test]
    fn size_line_and_trailer_limits_are_exact() {
        let mut line = b"1".to_vec();
        line.extend(core::iter::repeat_n(b' ', MAX_CHUNK_LINE - 1));
        line.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(decode_all(&line).unwrap().0, b"x");
        let mut long = b"1".to_vec();
        long.extend(core::iter::repeat_n(b' ', MAX_CHUNK_LINE));
        long.extend_from_slice(b"\r\n");
        assert!(matches!(error_of(&long), RequestError::BadChunk(_)));

        // The trailer section, blank line included, may use exactly max_trailer bytes.
        let mut at = ChunkedDecoder::new(16, 8);
        at.decode(b"0\r\nA: 1\r\n\r\n", &mut Vec::new()).unwrap();
        assert!(at.is_done());
        let mut past = ChunkedDecoder::new(16, 8);
        assert_eq!(
            past.decode(b"0\r\nA: 12\r\n\r\n", &mut Vec::new())
                .unwrap_err(),
            RequestError::HeadersTooLarge
        );
    }
}
