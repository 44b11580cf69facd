//! Live heap per open `subscriptions/listen` stream (2026-07-28): streams opened, each on its
//! own connection, acknowledged, then held. The figure is the growth of the live heap divided
//! by the number of streams.

use std::io;
use std::time::Duration;

use crate::client::Conn;
use crate::mcp::Requests;
use crate::peer::Server;

#[derive(Clone, Debug)]
pub struct ListenHeap {
    /// Bytes per open listen stream, its connection included.
    pub per_stream: f64,
}

/// How long the server gets to settle before the heap is read.
const SETTLE: Duration = Duration::from_millis(500);

pub async fn run(server: &mut Server, streams: usize) -> io::Result<ListenHeap> {
    let address = server.address;
    let requests = Requests::new(address);
    // Warm-up: lazy statics, pools and caches are not per-stream cost.
    for id in 0..16 {
        let mut conn = Conn::connect(address).await?;
        requests.open_listen(&mut conn, id).await?;
        conn.abort();
    }
    tokio::time::sleep(SETTLE).await;
    let before = server.heap()?;
    let mut open = Vec::with_capacity(streams);
    for chunk in (0..streams as u64).collect::<Vec<_>>().chunks(64) {
        let mut opening = Vec::new();
        for &id in chunk {
            let requests = requests.clone();
            opening.push(tokio::spawn(async move {
                let mut conn = Conn::connect(address).await?;
                requests.open_listen(&mut conn, 100 + id).await?;
                io::Result::Ok(conn)
            }));
        }
        for task in opening {
            open.push(task.await.map_err(io::Error::other)??);
        }
    }
    tokio::time::sleep(SETTLE).await;
    let with_streams = server.heap()?;
    for conn in open {
        conn.abort();
    }
    Ok(ListenHeap {
        per_stream: with_streams.saturating_sub(before) as f64 / streams as f64,
    })
}
