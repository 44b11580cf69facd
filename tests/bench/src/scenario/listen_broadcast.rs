//! 2026-07-28 fan-out: `subscriptions/listen` streams for tool list changes, each on its own
//! connection, then one stateless `broadcast` call; the time from the call leaving the client
//! until the last stream has read `notifications/tools/list_changed`.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::mcp::Requests;
use crate::scenario::broadcast::{self, Broadcast, await_notification};

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
    control.abort();
    Ok(broadcast::deliveries(readers, streams, sent, call, limit).await)
}
