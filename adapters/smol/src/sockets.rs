//! The driver's sockets, polled by the driver itself: no task and no channel per connection.
//!
//! Each socket has a waker of its own, which async-io's reactor keeps for the direction the
//! driver last found blocked. Waking it lists the connection as ready and wakes the driver,
//! which then tries the socket: read if the engine can take bytes, write if output waits. A
//! socket that has nothing to do is never tried, so an idle connection costs its registration
//! with the reactor, its waker and two empty vectors.
//!
//! On a TLS listener each socket also holds its rustls connection (see `tls::server`): reads
//! and writes go through it, and the engine sees plaintext, as on a plain listener.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};
use mcpwire_core::engine::ConnId;

use crate::id_map::IdMap;
use crate::tls::server::{Counters, Io, ServerTls};

/// The largest single read: bounds the driver's read buffer whatever the engine's capacity.
/// What the engine could not take of it waits in the socket's `leftover`, outside the engine's
/// budget, so this is also what a connection whose peer sends into a full input pool holds.
pub(crate) const MAX_READ: usize = 16 * 1024;

/// Connections whose socket woke, and the driver's waker.
#[derive(Default)]
struct ReadyList {
    conns: Vec<ConnId>,
    driver: Option<Waker>,
}

/// Shared between the driver and the reactor (which calls the sockets' wakers).
#[derive(Default)]
pub(crate) struct Readiness(Mutex<ReadyList>);

impl Readiness {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReadyList> {
        // A panic never happens while the lock is held; a poisoned list is still consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One socket's waker: lists its connection once until the driver takes the list.
struct SocketWaker {
    conn: ConnId,
    listed: AtomicBool,
    readiness: Arc<Readiness>,
}

impl Wake for SocketWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.listed.swap(true, Ordering::AcqRel) {
            return;
        }
        let driver = {
            let mut ready = self.readiness.lock();
            ready.conns.push(self.conn);
            ready.driver.take()
        };
        if let Some(driver) = driver {
            driver.wake();
        }
    }
}

/// A connection's socket and the bytes in transit for it.
pub(crate) struct Socket {
    /// The TCP stream; `None` for the stdio pipe, which reads and writes through `pipe`.
    stream: Option<Arc<Async<std::net::TcpStream>>>,
    pipe: Option<Box<crate::stdio::PipeIo>>,
    state: Arc<SocketWaker>,
    waker: Waker,
    /// Bytes from the engine the kernel has not taken yet.
    pub(crate) out: Vec<u8>,
    /// Bytes read that the engine could not take yet.
    pub(crate) leftover: Vec<u8>,
    /// How much the engine can take next, when the driver may read; `None` until the engine
    /// says it can take more (after leftover bytes, a full input pool, or the end of input).
    pub(crate) credit: Option<usize>,
    /// The connection's TLS, on a TLS listener (boxed: a plain socket stays small).
    tls: Option<Box<ServerTls>>,
    /// Bytes of the engine's output that reached the kernel and are not reported yet.
    sent: usize,
}

/// What a read got.
pub(crate) enum Read {
    Bytes(usize),
    Eof,
    Blocked,
    Failed,
}

/// What a write did.
pub(crate) enum Wrote {
    Bytes(usize),
    Blocked,
    Failed,
}

impl Socket {
    fn cx(&self) -> Context<'_> {
        Context::from_waker(&self.waker)
    }

    /// Whether the socket must be read even when the engine can take nothing: its TLS
    /// handshake is under way.
    pub(crate) fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.handshaking())
    }

    /// Reads into `buf` without waiting; when nothing is there, the socket's waker is kept
    /// for when something is. On TLS, `buf` is for plaintext; an empty one only moves the
    /// handshake on.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Read {
        if let Some(pipe) = self.pipe.as_mut() {
            return pipe.read(&mut Context::from_waker(&self.waker), buf);
        }
        let Some(stream) = self.stream.as_ref() else {
            return Read::Failed;
        };
        if let Some(tls) = self.tls.as_mut() {
            let waker = self.waker.clone();
            let mut cx = Context::from_waker(&waker);
            let mut io = Io {
                stream,
                cx: &mut cx,
            };
            let state = &self.state;
            let read = tls.read(&mut io, buf, &|| state.wake_by_ref());
            self.sent += tls.take_sent();
            return read;
        }
        loop {
            match Pin::new(&mut &**stream).poll_read(&mut self.cx(), buf) {
                Poll::Pending => return Read::Blocked,
                Poll::Ready(Ok(0)) => return Read::Eof,
                Poll::Ready(Ok(n)) => return Read::Bytes(n),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => return Read::Failed,
            }
        }
    }

    /// Writes what the kernel takes of `bytes` without waiting; when it takes nothing, the
    /// socket's waker is kept for when it has room. What it takes is consumed; what reached
    /// the kernel is [`Socket::take_sent`] (on TLS, once its records are written).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Wrote {
        if let Some(pipe) = self.pipe.as_mut() {
            let wrote = pipe.write(&mut Context::from_waker(&self.waker), bytes);
            if let Wrote::Bytes(n) = wrote {
                self.sent += n;
            }
            return wrote;
        }
        let Some(stream) = self.stream.clone() else {
            return Wrote::Failed;
        };
        if let Some(tls) = self.tls.as_mut() {
            let waker = self.waker.clone();
            let mut cx = Context::from_waker(&waker);
            let mut io = Io {
                stream: &stream,
                cx: &mut cx,
            };
            let wrote = tls.write(&mut io, bytes);
            self.sent += tls.take_sent();
            return wrote;
        }
        loop {
            match Pin::new(&mut &*stream).poll_write(&mut self.cx(), bytes) {
                Poll::Pending => return Wrote::Blocked,
                Poll::Ready(Ok(0)) => return Wrote::Failed,
                Poll::Ready(Ok(n)) => {
                    self.sent += n;
                    return Wrote::Bytes(n);
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => return Wrote::Failed,
            }
        }
    }

    /// Writes the TLS records that wait for the kernel (handshake answers, or the engine's
    /// last batch): `Wrote::Bytes(0)` once none waits.
    pub(crate) fn flush_tls(&mut self) -> Wrote {
        let (Some(tls), Some(stream)) = (self.tls.as_mut(), self.stream.as_ref()) else {
            return Wrote::Bytes(0);
        };
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        let mut io = Io {
            stream,
            cx: &mut cx,
        };
        let wrote = tls.flush_pending(&mut io);
        self.sent += tls.take_sent();
        wrote
    }

    /// The engine's bytes that reached the kernel since the last call: what to report
    /// written.
    pub(crate) fn take_sent(&mut self) -> usize {
        std::mem::take(&mut self.sent)
    }

    /// Lists the socket as ready again, so that the driver comes back to it after the others.
    pub(crate) fn again(&self) {
        self.state.wake_by_ref();
    }
}

/// Every open connection's socket, and which of them woke.
pub(crate) struct Sockets {
    sockets: IdMap<ConnId, Socket>,
    readiness: Arc<Readiness>,
    /// A TLS listener's configuration and handshake counters.
    tls: Option<(Arc<futures_rustls::rustls::ServerConfig>, Arc<Counters>)>,
}

impl Sockets {
    pub(crate) fn new(tls: Option<Arc<futures_rustls::rustls::ServerConfig>>) -> Sockets {
        Sockets {
            sockets: IdMap::default(),
            readiness: Arc::default(),
            tls: tls.map(|config| (config, Arc::default())),
        }
    }

    /// What the TLS listener's handshakes came to, if it is one.
    pub(crate) fn tls_stats(&self) -> Option<crate::tls::TlsStats> {
        self.tls.as_ref().map(|(_, counters)| counters.stats())
    }

    /// Adds a connection's socket, listed as ready so that the driver tries it at once; on a
    /// TLS listener, with its TLS state (false if that cannot be made: the caller closes it).
    #[must_use]
    pub(crate) fn add(
        &mut self,
        conn: ConnId,
        stream: smol::net::TcpStream,
        credit: usize,
    ) -> bool {
        let tls = match &self.tls {
            None => None,
            Some((config, counters)) => match ServerTls::new(config.clone(), counters.clone()) {
                Ok(tls) => Some(Box::new(tls)),
                Err(error) => {
                    tracing::warn!(%error, "cannot start a TLS connection");
                    return false;
                }
            },
        };
        let state = Arc::new(SocketWaker {
            conn,
            listed: AtomicBool::new(false),
            readiness: self.readiness.clone(),
        });
        let socket = Socket {
            stream: Some(stream.into()),
            pipe: None,
            waker: Waker::from(state.clone()),
            state,
            out: Vec::new(),
            leftover: Vec::new(),
            credit: Some(credit),
            tls,
            sent: 0,
        };
        socket.again();
        self.sockets.insert(conn, socket);
        true
    }

    /// Adds the stdio pipe as a connection's socket, listed as ready.
    pub(crate) fn add_pipe(&mut self, conn: ConnId, pipe: crate::stdio::PipeIo, credit: usize) {
        let state = Arc::new(SocketWaker {
            conn,
            listed: AtomicBool::new(false),
            readiness: self.readiness.clone(),
        });
        let socket = Socket {
            stream: None,
            pipe: Some(Box::new(pipe)),
            waker: Waker::from(state.clone()),
            state,
            out: Vec::new(),
            leftover: Vec::new(),
            credit: Some(credit),
            tls: None,
            sent: 0,
        };
        socket.again();
        self.sockets.insert(conn, socket);
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Socket> {
        self.sockets.get_mut(&conn)
    }

    /// Closes a connection's socket: a FIN after everything reported written (on TLS,
    /// `close_notify` before it).
    pub(crate) fn remove(&mut self, conn: ConnId) {
        if let Some(mut socket) = self.sockets.remove(&conn) {
            // A pipe closes with its descriptors.
            let Some(stream) = socket.stream.as_ref() else {
                return;
            };
            if let Some(tls) = socket.tls.as_mut() {
                let waker = socket.waker.clone();
                let mut cx = Context::from_waker(&waker);
                tls.close(&mut Io {
                    stream,
                    cx: &mut cx,
                });
            }
            let _ = stream.get_ref().shutdown(std::net::Shutdown::Both);
        }
    }

    /// The connections whose socket woke since the last call, each once (into `into`, which
    /// is cleared first). Stale ones (closed since) are for the caller to skip.
    pub(crate) fn take_ready(&mut self, into: &mut Vec<ConnId>) {
        into.clear();
        std::mem::swap(&mut self.readiness.lock().conns, into);
        for conn in into.iter() {
            if let Some(socket) = self.sockets.get(conn) {
                // Cleared before the socket is tried: a wake from now on lists it again.
                socket.state.listed.store(false, Ordering::Release);
            }
        }
    }

    /// Whether a socket woke; if not, `driver` is woken when one does.
    pub(crate) fn poll_ready(&self, driver: &Waker) -> bool {
        let mut ready = self.readiness.lock();
        if ready.conns.is_empty() {
            if !ready.driver.as_ref().is_some_and(|w| w.will_wake(driver)) {
                ready.driver = Some(driver.clone());
            }
            false
        } else {
            true
        }
    }
}
