//! [`Connection`]: one TCP connection to Redis speaking RESP2, its frames read by a
//! [`FrameReader`].

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};

pub(crate) use crate::resp::protocol_error;
use crate::resp::{FrameReader, Received};
use crate::target::Target;

/// The most a connection buffers of one frame from Redis: a message of the largest
/// publication, its channel name and RESP's framing fit well inside. A longer frame is
/// skipped as it comes.
pub(crate) const MAX_FRAME: usize = mcpwire_smol::bus::MAX_PUBLICATION + 64 * 1024;

/// Reads between two turns given back to the executor while no frame is whole: a frame that
/// never ends, arriving as fast as it is read, must not keep the server's sockets waiting.
const READS_PER_TURN: u32 = 16;

/// A connection to Redis.
pub(crate) struct Connection {
    stream: Async<TcpStream>,
    reader: FrameReader,
    write: Vec<u8>,
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
                            reader: FrameReader::new(MAX_FRAME),
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

    /// The next frame from Redis, or one over [`MAX_FRAME`] skipped. Cancel-safe: what was
    /// read stays in the reader.
    pub(crate) async fn receive(&mut self) -> io::Result<Received> {
        let mut reads = 0;
        loop {
            if let Some(received) = self.reader.next_frame()? {
                return Ok(received);
            }
            reads += 1;
            if reads % READS_PER_TURN == 0 {
                smol::future::yield_now().await;
            }
            let mut chunk = [0u8; 16 * 1024];
            let room = self.reader.room().min(chunk.len());
            let n = self.stream.read(&mut chunk[..room]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                ));
            }
            self.reader.receive(&chunk[..n]);
        }
    }

    /// The next frame from Redis; one over [`MAX_FRAME`] is an error here, where only a
    /// reply is expected. Cancel-safe.
    pub(crate) async fn frame(&mut self) -> io::Result<OwnedFrame> {
        match self.receive().await? {
            Received::Frame { frame, .. } => Ok(frame),
            Received::Oversized { len } => Err(protocol_error(format!(
                "a reply from Redis of {len} bytes, over {MAX_FRAME}"
            ))),
        }
    }
}
