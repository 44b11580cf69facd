//! [`Connection`]: one TCP connection to Redis speaking RESP2, with a bounded read buffer.

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};

use crate::target::Target;

/// The most a connection buffers of one frame from Redis: a message of the largest
/// publication, its channel name and RESP's framing fit well inside.
pub(crate) const MAX_FRAME: usize = mcpwire_smol::bus::MAX_PUBLICATION + 64 * 1024;

/// The deepest nesting of arrays taken from Redis. Nothing this crate asks for nests (a
/// pub/sub message is one array of bulk strings); the decoder recurses once per level, so a
/// reply of `*1\r\n` repeated would otherwise overflow the stack of the server's thread.
const MAX_DEPTH: usize = 2;

/// A connection to Redis.
pub(crate) struct Connection {
    stream: Async<TcpStream>,
    /// Bytes read, of which those before `start` are decoded; never more than [`MAX_FRAME`].
    read: Vec<u8>,
    start: usize,
    write: Vec<u8>,
}

/// Where the first RESP2 frame of `buf` ends, `None` if it is incomplete, or an error if it
/// nests deeper than [`MAX_DEPTH`] or is not RESP2. Iterative: it never recurses.
fn frame_end(buf: &[u8]) -> io::Result<Option<usize>> {
    let mut open: Vec<i64> = Vec::new();
    let mut at = 0;
    loop {
        let Some(line) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let kind = buf.get(at).copied();
        let header = &buf[at + 1..at + line];
        at += line + 2;
        let count = || -> io::Result<i64> {
            std::str::from_utf8(header)
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| protocol_error("a RESP length that is not a number"))
        };
        match kind {
            Some(b'+' | b'-' | b':') => {}
            Some(b'$') => {
                let len = count()?;
                if len >= 0 {
                    let len = usize::try_from(len).map_err(|_| protocol_error("a huge length"))?;
                    let end = at.saturating_add(len).saturating_add(2);
                    if buf.len() < end {
                        return Ok(None);
                    }
                    at = end;
                }
            }
            Some(b'*') => {
                let len = count()?;
                if len > 0 {
                    if open.len() >= MAX_DEPTH {
                        return Err(protocol_error(format!(
                            "a reply from Redis nested deeper than {MAX_DEPTH}"
                        )));
                    }
                    open.push(len);
                    continue;
                }
            }
            _ => return Err(protocol_error("not RESP2")),
        }
        // One element done: it closes every array it completes.
        loop {
            match open.last_mut() {
                None => return Ok(Some(at)),
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

/// A reply Redis should not have sent, or none in time.
pub(crate) fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// `future`, or a `TimedOut` error after `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    future: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    future
        .or(async {
            Timer::after(limit).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "Redis did not answer in time",
            ))
        })
        .await
}

impl Connection {
    /// Connects (each resolved address in turn) and authenticates, all within `limit`.
    pub(crate) async fn open(target: &Target, limit: Duration) -> io::Result<Connection> {
        within(limit, async {
            let addresses = smol::net::resolve(target.address.as_str()).await?;
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            for address in addresses {
                match Async::<TcpStream>::connect(address).await {
                    Ok(stream) => {
                        let _ = stream.get_ref().set_nodelay(true);
                        let mut connection = Connection {
                            stream,
                            read: Vec::new(),
                            start: 0,
                            write: Vec::new(),
                        };
                        connection.authenticate(target).await?;
                        return Ok(connection);
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        })
        .await
    }

    async fn authenticate(&mut self, target: &Target) -> io::Result<()> {
        let Some((user, password)) = &target.auth else {
            return Ok(());
        };
        match user {
            Some(user) => {
                self.send(&[b"AUTH", user.as_bytes(), password.as_bytes()])
                    .await?
            }
            None => self.send(&[b"AUTH", password.as_bytes()]).await?,
        }
        match self.frame().await? {
            OwnedFrame::SimpleString(_) => Ok(()),
            OwnedFrame::Error(e) => Err(io::Error::new(io::ErrorKind::PermissionDenied, e)),
            other => Err(protocol_error(format!("AUTH answered {other:?}"))),
        }
    }

    /// Sends one command (an array of bulk strings).
    pub(crate) async fn send(&mut self, command: &[&[u8]]) -> io::Result<()> {
        let parts: Vec<BorrowedFrame<'_>> = command
            .iter()
            .map(|part| BorrowedFrame::BulkString(part))
            .collect();
        let frame = BorrowedFrame::Array(&parts);
        self.write.clear();
        self.write.resize(frame.encode_len(false), 0);
        let len = encode_borrowed(&mut self.write, &frame, false)
            .map_err(|e| protocol_error(e.to_string()))?;
        self.stream.write_all(&self.write[..len]).await?;
        self.stream.flush().await
    }

    /// The next frame from Redis. Cancel-safe: what was read stays in the buffer.
    pub(crate) async fn frame(&mut self) -> io::Result<OwnedFrame> {
        loop {
            let pending = &self.read[self.start..];
            // Checked first, so that the (recursive) decoder only sees shallow frames.
            if frame_end(pending)?.is_some() {
                if let Some((frame, used)) =
                    decode(pending).map_err(|e| protocol_error(e.to_string()))?
                {
                    self.start += used;
                    if self.start == self.read.len() {
                        self.read.clear();
                        self.start = 0;
                    }
                    return Ok(frame);
                }
            }
            // Decoded bytes go once per read, not once per frame.
            self.read.drain(..self.start);
            self.start = 0;
            if self.read.len() >= MAX_FRAME {
                return Err(protocol_error(format!(
                    "a frame from Redis over {MAX_FRAME} bytes"
                )));
            }
            let mut chunk = [0u8; 16 * 1024];
            let room = (MAX_FRAME - self.read.len()).min(chunk.len());
            let n = self.stream.read(&mut chunk[..room]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                ));
            }
            self.read.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_end_where_resp_says() {
        let cases: [(&[u8], Option<usize>); 8] = [
            (b"+OK\r\n", Some(5)),
            (b":12\r\nrest", Some(5)),
            (b"$3\r\nabc\r\n", Some(9)),
            (b"$3\r\nab", None),
            (b"$-1\r\n", Some(5)),
            (b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n", Some(32)),
            (b"*3\r\n$7\r\nmessage\r\n", None),
            (b"*0\r\n", Some(4)),
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
        for bad in [&b"?x\r\n"[..], b"$x\r\n", b"*-x\r\n"] {
            assert!(frame_end(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
