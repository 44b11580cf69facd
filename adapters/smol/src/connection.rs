//! A connection's two tasks. The reader waits for bytes, reads a chunk, hands it to the driver and waits for
//! credit before reading again, so the engine's read capacity is the only buffer limit. The
//! writer writes one batch at a time and reports it written, so the engine knows exactly what
//! the kernel has taken. Both are owned by the driver and cancelled when the connection ends.

use std::sync::Arc;

use async_io::Async;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use mcpwire_core::engine::ConnId;
use smol::net::TcpStream;

use crate::input::Input;

/// The largest single read: bounds a reader's buffer whatever the engine's capacity. What the
/// engine could not take stays in it until it can, so this is also what a connection whose
/// peer sends into a full input pool holds outside the engine's budget.
pub(crate) const MAX_READ: usize = 16 * 1024;

/// Reads until EOF or an error. `credit` says how much the engine can take next; the reader
/// ends when the driver drops its sender.
pub(crate) async fn read(
    conn: ConnId,
    stream: TcpStream,
    input: async_channel::Sender<Input>,
    credit: async_channel::Receiver<usize>,
    first_credit: usize,
) {
    let stream: Arc<Async<std::net::TcpStream>> = stream.into();
    let mut allowed = first_credit;
    loop {
        // The buffer is allocated once bytes are there, not before: an idle keep-alive
        // connection, or one that carries a GET stream, then holds no read buffer at all.
        if stream.readable().await.is_err() {
            let _ = input.send(Input::Broken(conn)).await;
            return;
        }
        let mut buf = vec![0; allowed.clamp(1, MAX_READ)];
        let message = match (&*stream).read(&mut buf).await {
            Ok(0) => Input::Eof(conn),
            Ok(n) => {
                buf.truncate(n);
                Input::Read { conn, bytes: buf }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => Input::Broken(conn),
        };
        let last = !matches!(message, Input::Read { .. });
        if input.send(message).await.is_err() || last {
            return;
        }
        match credit.recv().await {
            Ok(next) => allowed = next,
            Err(_) => return,
        }
    }
}

/// Writes each batch, reporting every partial write (so that a slow but steady reader is
/// making progress in the engine's eyes). Ends on a write error (reported) or when the driver
/// drops its sender.
pub(crate) async fn write(
    conn: ConnId,
    mut stream: TcpStream,
    input: async_channel::Sender<Input>,
    batches: async_channel::Receiver<Vec<u8>>,
) {
    while let Ok(batch) = batches.recv().await {
        let mut written = 0;
        while written < batch.len() {
            let message = match stream.write(&batch[written..]).await {
                Ok(0) => Input::Broken(conn),
                Ok(n) => {
                    written += n;
                    Input::Written {
                        conn,
                        len: n,
                        done: written == batch.len(),
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => Input::Broken(conn),
            };
            let failed = matches!(message, Input::Broken(_));
            if input.send(message).await.is_err() || failed {
                return;
            }
        }
    }
}
