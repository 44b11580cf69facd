//! Live heap per idle session: sessions that initialized and then went quiet, their
//! connections closed; then the same sessions each holding an open GET stream. Each peer
//! measures its own heap (see `Peer::heap_method`); RSS is never used.

use std::io;
use std::time::Duration;

use crate::client::Conn;
use crate::mcp::Requests;
use crate::peer::Server;

#[derive(Clone, Debug)]
pub struct Heap {
    /// Bytes per session, connection closed.
    pub idle_session: f64,
    /// Bytes per session with its GET stream open on its own connection (the session's
    /// bytes included).
    pub session_with_stream: f64,
}

/// How long the server gets to notice closed connections before the heap is read.
const SETTLE: Duration = Duration::from_millis(500);

pub async fn run(server: &mut Server, sessions: usize) -> io::Result<Heap> {
    let address = server.address;
    let requests = Requests::new(address);
    // Warm the server up first: lazy statics, pools and caches are not per-session cost.
    {
        let mut conn = Conn::connect(address).await?;
        for _ in 0..16 {
            let session = requests.open_session(&mut conn).await?;
            requests
                .call_echo(&mut conn, Some(&session), 1, "hello")
                .await?;
        }
        conn.abort();
    }
    tokio::time::sleep(SETTLE).await;
    let before = server.heap()?;

    let parallel = 8;
    let mut tasks = Vec::new();
    for worker in 0..parallel {
        let requests = requests.clone();
        let share = sessions / parallel + usize::from(worker < sessions % parallel);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(address).await?;
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                ids.push(requests.open_session(&mut conn).await?);
            }
            // A FIN, not a reset: the server sees an orderly close, as from a client that left.
            drop(conn);
            io::Result::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(sessions);
    for task in tasks {
        ids.extend(task.await.map_err(io::Error::other)??);
    }
    tokio::time::sleep(SETTLE).await;
    let idle = server.heap()?;

    let mut streams = Vec::with_capacity(sessions);
    for chunk in ids.chunks(64) {
        let mut opening = Vec::new();
        for id in chunk {
            let requests = requests.clone();
            let id = id.clone();
            opening.push(tokio::spawn(async move {
                let mut conn = Conn::connect(address).await?;
                requests.open_stream(&mut conn, &id).await?;
                io::Result::Ok(conn)
            }));
        }
        for task in opening {
            streams.push(task.await.map_err(io::Error::other)??);
        }
    }
    tokio::time::sleep(SETTLE).await;
    let with_streams = server.heap()?;
    for conn in streams {
        conn.abort();
    }
    let per = |bytes: u64| bytes as f64 / sessions as f64;
    Ok(Heap {
        idle_session: per(idle.saturating_sub(before)),
        session_with_stream: per(with_streams.saturating_sub(before)),
    })
}
