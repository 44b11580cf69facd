//! The process's stdin and stdout as one connection of the driver: the engine's pipe.
//!
//! Both are duplicated and registered with the reactor, so the driver reads and writes them
//! as it does sockets, with the same credit and the same waker. A descriptor the reactor
//! cannot watch (a regular file, `/dev/null`: `server < requests.jsonl`) is served without it:
//! input by a reader thread the pipe owns, which hands over at most two chunks ahead and ends
//! when the pipe is dropped; output by plain writes, which such files never block.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite, Stream};

use crate::sockets::{MAX_READ, Read, Wrote};

/// Chunks the reader thread may have read ahead of the engine.
const READ_AHEAD: usize = 2;

enum Input {
    Watched(Async<File>),
    Thread {
        chunks: Pin<Box<async_channel::Receiver<io::Result<Vec<u8>>>>>,
        /// The part of the last chunk the engine has not taken yet.
        chunk: Vec<u8>,
        at: usize,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

enum Output {
    Watched(Async<File>),
    Plain(File),
}

/// stdin and stdout, as the driver's pipe.
pub(crate) struct PipeIo {
    input: Input,
    output: Output,
    /// The original descriptors 0 and 1, put back when the pipe is dropped; while it serves,
    /// both point at /dev/null, so that a stray `println!` (or a read of stdin) anywhere in
    /// the process never reaches the wire.
    originals: Option<(OwnedFd, OwnedFd)>,
    /// Which of stdin and stdout were blocking when the pipe took them. O_NONBLOCK, which the
    /// reactor sets, belongs to the open file the host (and whatever else it started) shares:
    /// left set, the host's shell or its next command reading that terminal or pipe gets
    /// `EAGAIN`.
    blocking: (bool, bool),
}

impl PipeIo {
    /// The process's stdin and stdout, duplicated (the originals stay open, so nothing else
    /// the process opens can take descriptor 1 and end up on the wire).
    pub(crate) fn stdio() -> io::Result<PipeIo> {
        let stdin = io::stdin().as_fd().try_clone_to_owned()?;
        let stdout = io::stdout().as_fd().try_clone_to_owned()?;
        let originals = (stdin.try_clone()?, stdout.try_clone()?);
        let blocking = (is_blocking(&stdin), is_blocking(&stdout));
        let stdout = File::from(stdout);
        let pipe = PipeIo {
            input: input(File::from(stdin))?,
            output: match Async::new(stdout.try_clone()?) {
                Ok(watched) => Output::Watched(watched),
                Err(_) => Output::Plain(stdout),
            },
            originals: Some(originals),
            blocking,
        };
        let null = File::options().read(true).write(true).open("/dev/null")?;
        // Whatever else the process writes to stdout from now on is lost, not sent.
        io::stdout().flush()?;
        rustix::stdio::dup2_stdout(&null)?;
        rustix::stdio::dup2_stdin(&null)?;
        Ok(pipe)
    }

    pub(crate) fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Read {
        match &mut self.input {
            Input::Watched(file) => loop {
                match Pin::new(&mut &*file).poll_read(cx, buf) {
                    Poll::Pending => return Read::Blocked,
                    Poll::Ready(Ok(0)) => return Read::Eof,
                    Poll::Ready(Ok(n)) => return Read::Bytes(n),
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(_)) => return Read::Failed,
                }
            },
            Input::Thread {
                chunks, chunk, at, ..
            } => {
                if *at == chunk.len() {
                    match chunks.as_mut().poll_next(cx) {
                        Poll::Pending => return Read::Blocked,
                        Poll::Ready(None) => return Read::Eof,
                        Poll::Ready(Some(Err(_))) => return Read::Failed,
                        Poll::Ready(Some(Ok(next))) => {
                            *chunk = next;
                            *at = 0;
                        }
                    }
                }
                let n = buf.len().min(chunk.len() - *at);
                buf[..n].copy_from_slice(&chunk[*at..*at + n]);
                *at += n;
                Read::Bytes(n)
            }
        }
    }

    pub(crate) fn write(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Wrote {
        loop {
            let written = match &mut self.output {
                Output::Watched(file) => match Pin::new(&mut &*file).poll_write(cx, bytes) {
                    Poll::Pending => return Wrote::Blocked,
                    Poll::Ready(result) => result,
                },
                Output::Plain(file) => file.write(bytes),
            };
            match written {
                Ok(0) => return Wrote::Failed,
                Ok(n) => return Wrote::Bytes(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EPIPE: the host closed our stdout (SIGPIPE is ignored by Rust's runtime).
                Err(_) => return Wrote::Failed,
            }
        }
    }
}

impl Drop for PipeIo {
    fn drop(&mut self) {
        if let Some((stdin, stdout)) = self.originals.take() {
            let _ = rustix::stdio::dup2_stdin(&stdin);
            let _ = rustix::stdio::dup2_stdout(&stdout);
            if self.blocking.0 {
                set_blocking(&stdin);
            }
            if self.blocking.1 {
                set_blocking(&stdout);
            }
        }
        if let Input::Thread { chunks, thread, .. } = &mut self.input {
            // A thread blocked handing over a chunk sees the channel closed; one reading a
            // regular file returns at once.
            chunks.close();
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn is_blocking(fd: &OwnedFd) -> bool {
    rustix::fs::fcntl_getfl(fd).is_ok_and(|flags| !flags.contains(rustix::fs::OFlags::NONBLOCK))
}

fn set_blocking(fd: &OwnedFd) {
    if let Ok(flags) = rustix::fs::fcntl_getfl(fd) {
        let _ = rustix::fs::fcntl_setfl(fd, flags - rustix::fs::OFlags::NONBLOCK);
    }
}

/// stdin, watched by the reactor when it can be, else read by a thread of its own.
fn input(stdin: File) -> io::Result<Input> {
    let stdin = match Async::new(stdin.try_clone()?) {
        Ok(watched) => return Ok(Input::Watched(watched)),
        Err(_) => stdin,
    };
    let (tx, rx) = async_channel::bounded(READ_AHEAD);
    let thread = std::thread::Builder::new()
        .name("mcpwire-stdin".into())
        .spawn(move || read_into(stdin, &tx))?;
    Ok(Input::Thread {
        chunks: Box::pin(rx),
        chunk: Vec::new(),
        at: 0,
        thread: Some(thread),
    })
}

fn read_into(mut stdin: File, chunks: &async_channel::Sender<io::Result<Vec<u8>>>) {
    loop {
        let mut chunk = vec![0; MAX_READ];
        let read = match stdin.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                Ok(chunk)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
        let failed = read.is_err();
        if chunks.send_blocking(read).is_err() || failed {
            return;
        }
    }
}
