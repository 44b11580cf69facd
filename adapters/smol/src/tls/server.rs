//! One accepted connection's TLS, driven by the driver like the socket under it.
//!
//! rustls's `ServerConnection` is sans-IO, as the engine is: ciphertext in (`read_tls`,
//! `process_new_packets`), plaintext out (`reader`), plaintext in (`writer`), ciphertext out
//! (`write_tls`). So a TLS connection costs no task: the socket's reads and writes go
//! through it, and the engine sees the same plaintext as on a plain listener, with the same
//! deadlines and limits from the moment the connection is accepted.
//!
//! What a peer can make the server hold here, per connection: the handshake's bytes (read
//! only up to [`MAX_HANDSHAKE`], past which the connection is refused), then one record being
//! received (about 18 KiB) and its plaintext (16 KiB: the next record is read only once the
//! engine has taken it all); and on the way out at most [`MAX_READ`] of encrypted output,
//! since the engine's next bytes are encrypted only once the previous ones are in the
//! kernel. A peer that does not read the server's handshake answers is not read either.
//! One exception, not charged to the engine's budget: after the handshake, a handshake
//! message split across records (a KeyUpdate that claims to be long and never ends) is
//! joined by rustls up to its own 64 KiB limit, so a connection can hold about 80 KiB; size
//! `Limits::max_connections` of a TLS listener with that in mind.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::rustls::{ServerConfig, ServerConnection};

use super::TlsStats;
use crate::sockets::{MAX_READ, Read, Wrote};

/// The most a peer may send before its handshake is done. A ClientHello is a few hundred
/// bytes to 2 KiB (one with a post-quantum key share), the rest of a client's handshake
/// less; rustls alone would buffer handshake messages up to 64 KiB.
pub(crate) const MAX_HANDSHAKE: usize = 16 * 1024;

/// The listener's handshake counters, shared by its connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    handshakes: AtomicU64,
    failed: AtomicU64,
    abandoned: AtomicU64,
}

impl Counters {
    pub(crate) fn stats(&self) -> TlsStats {
        TlsStats {
            handshakes: self.handshakes.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
        }
    }
}

/// A TCP stream seen through a waker: `Pending` is `WouldBlock`, and the waker is kept for
/// when the stream is ready.
pub(crate) struct Io<'a, 'b> {
    pub(crate) stream: &'a Async<std::net::TcpStream>,
    pub(crate) cx: &'a mut Context<'b>,
}

impl io::Read for Io<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut &*self.stream).poll_read(self.cx, buf) {
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            Poll::Ready(result) => result,
        }
    }
}

impl io::Write for Io<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut &*self.stream).poll_write(self.cx, buf) {
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            Poll::Ready(result) => result,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads at most `left` bytes; never asked for more once at zero.
struct Limited<'a, 'b, 'c> {
    io: &'a mut Io<'b, 'c>,
    left: usize,
}

impl io::Read for Limited<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(self.left);
        let n = io::Read::read(self.io, &mut buf[..len])?;
        self.left -= n;
        Ok(n)
    }
}

/// What writing the pending records came to.
enum Flushed {
    All,
    Blocked,
    Failed,
}

/// A connection's TLS state.
pub(crate) struct ServerTls {
    conn: ServerConnection,
    counters: Arc<Counters>,
    /// Ciphertext read while the handshake ran.
    handshake_read: usize,
    /// Plaintext taken from the engine whose records are not all in the kernel yet.
    unsent: usize,
    /// Plaintext whose records are all in the kernel, not yet reported to the engine.
    sent: usize,
    /// The peer was refused (and counted): no `close_notify` follows the alert.
    failed: bool,
}

impl ServerTls {
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        counters: Arc<Counters>,
    ) -> Result<ServerTls, futures_rustls::rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        conn.set_buffer_limit(Some(MAX_READ));
        Ok(ServerTls {
            conn,
            counters,
            handshake_read: 0,
            unsent: 0,
            sent: 0,
            failed: false,
        })
    }

    pub(crate) fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Plaintext that reached the kernel since the last call.
    pub(crate) fn take_sent(&mut self) -> usize {
        std::mem::take(&mut self.sent)
    }

    fn refuse(&mut self, io: &mut Io<'_, '_>) -> Read {
        self.failed = true;
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        // The alert rustls queued, if the kernel takes it now; nothing waits for it.
        let _ = self.flush(io);
        Read::Failed
    }

    /// Writes the records waiting for the kernel.
    fn flush(&mut self, io: &mut Io<'_, '_>) -> Flushed {
        while self.conn.wants_write() {
            match self.conn.write_tls(io) {
                Ok(0) => return Flushed::Failed,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flushed::Failed,
            }
        }
        self.sent += std::mem::take(&mut self.unsent);
        Flushed::All
    }

    /// Writes pending records, for a socket that woke writable with nothing else to write.
    pub(crate) fn flush_pending(&mut self, io: &mut Io<'_, '_>) -> Wrote {
        match self.flush(io) {
            Flushed::All => Wrote::Bytes(0),
            Flushed::Blocked => Wrote::Blocked,
            Flushed::Failed => Wrote::Failed,
        }
    }

    /// Reads plaintext into `buf`, reading and decrypting what the socket has until some
    /// arrives, the socket has nothing more, or a read's worth of ciphertext was taken (then
    /// `again` lists the socket to be tried after the others). An empty `buf` (the engine
    /// can take nothing now) only moves the handshake on.
    pub(crate) fn read(&mut self, io: &mut Io<'_, '_>, buf: &mut [u8], again: &dyn Fn()) -> Read {
        let mut budget = MAX_READ;
        loop {
            let handshaking = self.conn.is_handshaking();
            if !handshaking {
                if buf.is_empty() {
                    return Read::Blocked;
                }
                match io::Read::read(&mut self.conn.reader(), buf) {
                    // close_notify: the peer's clean end.
                    Ok(0) => return Read::Eof,
                    Ok(n) => return Read::Bytes(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The socket ended without close_notify: to HTTP/1.1, whose messages say
                    // their own length, the same end.
                    Err(_) => return Read::Eof,
                }
            }
            // The handshake's answers, alerts and tickets go out before more is read.
            match self.flush(io) {
                Flushed::All => {}
                Flushed::Blocked => return Read::Blocked,
                Flushed::Failed => return Read::Failed,
            }
            if budget == 0 {
                again();
                return Read::Blocked;
            }
            let left = if handshaking {
                // One byte past the limit is enough to know it is past.
                budget.min(MAX_HANDSHAKE + 1 - self.handshake_read)
            } else {
                budget
            };
            match self.conn.read_tls(&mut Limited { io, left }) {
                Ok(0) => return Read::Eof,
                Ok(n) => {
                    budget -= n;
                    if handshaking {
                        self.handshake_read += n;
                        if self.handshake_read > MAX_HANDSHAKE {
                            return self.refuse(io);
                        }
                    }
                    if self.conn.process_new_packets().is_err() {
                        return self.refuse(io);
                    }
                    if handshaking && !self.conn.is_handshaking() {
                        self.counters.handshakes.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Read::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // rustls's own refusals (a handshake message it will not buffer) are the
                // peer's doing; the socket's errors are not.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return self.refuse(io),
                Err(_) => return Read::Failed,
            }
        }
    }

    /// Takes as much of the engine's `bytes` as one batch of records, once the previous
    /// batch is all in the kernel.
    ///
    /// Before the handshake has ended, the engine has no request to answer: what it writes
    /// then is a refusal that closes the connection (408 at the request deadline, 503 when
    /// it is full). Those are dropped, as if written, and the connection closes at once: a
    /// peer that has not finished its handshake by the deadline is not waited for, and a
    /// server refusing connections under load does not pay a handshake for each.
    pub(crate) fn write(&mut self, io: &mut Io<'_, '_>, bytes: &[u8]) -> Wrote {
        if self.conn.is_handshaking() {
            self.sent += bytes.len();
            return Wrote::Bytes(bytes.len());
        }
        match self.flush(io) {
            Flushed::All => {}
            Flushed::Blocked => return Wrote::Blocked,
            Flushed::Failed => return Wrote::Failed,
        }
        let n = match io::Write::write(&mut self.conn.writer(), bytes) {
            Ok(n) if n > 0 => n,
            _ => return Wrote::Failed,
        };
        self.unsent += n;
        match self.flush(io) {
            Flushed::Failed => Wrote::Failed,
            Flushed::All | Flushed::Blocked => Wrote::Bytes(n),
        }
    }

    /// The connection ends: `close_notify` if the handshake was done and the peer not
    /// refused, written if the kernel takes it now; an unfinished handshake is counted.
    pub(crate) fn close(&mut self, io: &mut Io<'_, '_>) {
        if self.conn.is_handshaking() {
            if !self.failed {
                self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if !self.failed {
            self.conn.send_close_notify();
            let _ = self.flush(io);
        }
    }
}
