//! One TCP connection of the client: a task that connects, then reads into the driver's inbox
//! and writes what the driver hands it. Dropping the task closes the socket.

use async_channel::{Receiver, Sender};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use mcpwire_core::client::ClientConnId;
use smol::net::TcpStream;

use super::driver::Inbox;

/// Reads at most this much at a time: the core takes any split.
const READ_CHUNK: usize = 16 * 1024;

/// Connects to `authority`, reports the outcome, then moves bytes until either side ends.
pub(crate) async fn run(
    conn: ClientConnId,
    authority: String,
    inbox: Sender<Inbox>,
    writes: Receiver<Vec<u8>>,
) {
    let Ok(stream) = TcpStream::connect(authority.as_str()).await else {
        let _ = inbox.send(Inbox::ConnectFailed(conn)).await;
        return;
    };
    let _ = stream.set_nodelay(true);
    if inbox.send(Inbox::Connected(conn)).await.is_err() {
        return;
    }
    let mut reader = stream.clone();
    let mut writer = stream;
    let read = async {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if inbox
                        .send(Inbox::Bytes(conn, buf[..n].to_vec()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let write = async {
        while let Ok(bytes) = writes.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
        // The driver dropped its sender: it closed this connection. Wait for the reader, so
        // that the task ends only through cancellation or the socket's end.
        std::future::pending::<()>().await;
    };
    read.or(write).await;
    let _ = inbox.send(Inbox::Closed(conn)).await;
}
