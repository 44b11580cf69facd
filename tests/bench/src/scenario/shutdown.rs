//! SIGTERM with open streams: how long the process takes to exit, and how each stream ends:
//! with the chunked terminator (a clean end the client can tell from a failure) or cut.

use std::io;
use std::time::Duration;

use crate::client::Conn;
use crate::peer::Server;

#[derive(Clone, Debug)]
pub struct Shutdown {
    /// `None`: still running at the limit, then killed.
    pub exit_micros: Option<u64>,
    pub limit: Duration,
    pub clean_ends: usize,
    pub cut: usize,
}

/// `true` when the stream ended with its terminating chunk.
async fn read_to_end(mut conn: Conn) -> bool {
    loop {
        match conn.read_chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

pub async fn run(server: &mut Server, streams: usize, limit: Duration) -> io::Result<Shutdown> {
    let sessions = super::sessions_with_streams(server.address, streams, 64).await?;
    let mut readers: tokio::task::JoinSet<bool> = sessions
        .into_iter()
        .map(|(_, conn)| read_to_end(conn))
        .collect();
    let exited = server.terminate(limit).await?;
    // Once the process is gone its sockets are closed, so every reader ends promptly; any
    // still reading after that are counted as cut and dropped with the set.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut clean_ends = 0;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, readers.join_next()).await {
        clean_ends += usize::from(joined.unwrap_or(false));
    }
    Ok(Shutdown {
        exit_micros: exited.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        limit,
        clean_ends,
        cut: streams - clean_ends,
    })
}
