//! One connection of the client: a task that connects (with TLS for `https://`), then reads
//! into the driver's inbox and writes what the driver hands it. Dropping the task closes the
//! socket.

use std::sync::Arc;

use async_channel::{Receiver, Sender};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use futures_rustls::rustls::ClientConfig;
use mcpwire_core::client::ClientConnId;
use smol::net::TcpStream;

use super::driver::Inbox;

/// Reads at most this much at a time: the core takes any split.
const READ_CHUNK: usize = 16 * 1024;

/// Where to connect for `authority`: with the scheme's port when it names none.
fn address(authority: &str, secure: bool) -> String {
    let host = crate::tls::host(authority);
    let has_port = !authority.ends_with(']') && host.len() < authority.len();
    match (has_port, secure) {
        (true, _) => authority.to_string(),
        (false, true) => format!("{authority}:443"),
        (false, false) => format!("{authority}:80"),
    }
}

/// Connects to `authority` (through TLS with `tls`), reports the outcome, then moves bytes
/// until either side ends.
pub(crate) async fn run(
    conn: ClientConnId,
    authority: String,
    tls: Option<Arc<ClientConfig>>,
    inbox: Sender<Inbox>,
    writes: Receiver<Vec<u8>>,
) {
    let Ok(stream) = TcpStream::connect(address(&authority, tls.is_some())).await else {
        let _ = inbox.send(Inbox::ConnectFailed(conn, None)).await;
        return;
    };
    let _ = stream.set_nodelay(true);
    match tls {
        None => {
            if inbox.send(Inbox::Connected(conn)).await.is_ok() {
                move_bytes(conn, stream.clone(), stream, &inbox, &writes).await;
            }
        }
        Some(config) => match crate::tls::connect(config, &authority, stream).await {
            Err(error) => {
                let _ = inbox.send(Inbox::ConnectFailed(conn, Some(error))).await;
            }
            Ok(stream) => {
                if inbox.send(Inbox::Connected(conn)).await.is_ok() {
                    let (reader, writer) = futures_lite::io::split(stream);
                    move_bytes(conn, reader, writer, &inbox, &writes).await;
                }
            }
        },
    }
}

/// Reads into the inbox and writes what the driver sends until either side ends; then tells
/// the driver the connection closed.
async fn move_bytes(
    conn: ClientConnId,
    mut reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
    inbox: &Sender<Inbox>,
    writes: &Receiver<Vec<u8>>,
) {
    let read = read_into_inbox(conn, &mut reader, inbox);
    let write = async {
        while let Ok(bytes) = writes.recv().await {
            // A TLS stream keeps what it encrypts until flushed.
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
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

/// Hands what `reader` reads to the driver until it ends, fails, or the driver is gone.
pub(super) async fn read_into_inbox(
    conn: ClientConnId,
    mut reader: impl AsyncRead + Unpin,
    inbox: &Sender<Inbox>,
) {
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
}

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn a_missing_port_is_the_schemes() {
        assert_eq!(address("127.0.0.1:3000", true), "127.0.0.1:3000");
        assert_eq!(address("mcp.example", true), "mcp.example:443");
        assert_eq!(address("mcp.example", false), "mcp.example:80");
        assert_eq!(address("[::1]", true), "[::1]:443");
        assert_eq!(address("[::1]:8443", true), "[::1]:8443");
    }
}
