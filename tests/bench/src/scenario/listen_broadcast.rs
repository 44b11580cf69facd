//! 2026-07-28 fan-out: `subscriptions/listen` streams for tool list changes, each on its own
//! connection, then one stateless `broadcast` call; the time from the call leaving the client
//! until the last stream has read `notifications/tools/list_changed`.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{Conn, contains};
use crate::mcp::Requests;
use crate::scenario::broadcast::Broadcast;

async fn await_notification(mut conn: Conn) -> (Option<Instant>, Conn) {
    loop {
        match conn.read_chunk().await {
            Ok(Some(data)) if contains(&data, b"notifications/tools/list_changed") => {
                return (Some(Instant::now()), conn);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return (None, conn),
        }
    }
}

pub async fn run(address: SocketAddr, streams: usize, limit: Duration) -> io::Result<Broadcast> {
    let requests = Requests::new(address);
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(128));
    let mut opening = tokio::task::JoinSet::new();
    for id in 0..streams as u64 {
        let requests = requests.clone();
        let permits = permits.clone();
        opening.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let mut conn = Conn::connect(address).await?;
            requests.open_listen(&mut conn, 100 + id).await?;
            io::Result::Ok(conn)
        });
    }
    let mut readers = tokio::task::JoinSet::new();
    while let Some(opened) = opening.join_next().await {
        let conn = opened.map_err(io::Error::other)??;
        readers.spawn(await_notification(conn));
    }
    let mut control = Conn::connect(address).await?;
    let sent = Instant::now();
    requests.call_broadcast_stateless(&mut control).await?;
    let call = sent.elapsed();
    let deadline = sent + limit;
    let mut arrivals = Vec::with_capacity(streams);
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline.into(), readers.join_next()).await
    {
        if let Ok((arrived, conn)) = joined {
            if let Some(arrived) = arrived {
                arrivals.push(arrived.duration_since(sent));
            }
            conn.abort();
        }
    }
    control.abort();
    arrivals.sort();
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    Ok(Broadcast {
        streams,
        delivered: arrivals.len(),
        call_micros: micros(call),
        p50_micros: arrivals.get(arrivals.len() / 2).copied().map_or(0, micros),
        all_micros: arrivals.last().copied().map_or(0, micros),
    })
}
