//! One `notifications/tools/list_changed` to every open stream: the time from the
//! `broadcast` call leaving the client until the last stream has the notification.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{Conn, contains};
use crate::mcp::Requests;

#[derive(Clone, Debug)]
pub struct Broadcast {
    pub streams: usize,
    pub delivered: usize,
    /// Until the broadcast call's own response arrived.
    pub call_micros: u64,
    /// Until half, and until every delivered stream, had the notification.
    pub p50_micros: u64,
    pub all_micros: u64,
}

/// Reads a stream until the notification, returning when it arrived and the connection.
pub async fn await_notification(mut conn: Conn) -> (Option<Instant>, Conn) {
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
    let sessions = super::sessions_with_streams(address, streams, 128).await?;
    // A JoinSet owns the readers: whatever happens below, they end with it.
    let readers: tokio::task::JoinSet<_> = sessions
        .into_iter()
        .map(|(_, conn)| await_notification(conn))
        .collect();
    let requests = Requests::new(address);
    let mut control = Conn::connect(address).await?;
    let session = requests.open_session(&mut control).await?;

    let sent = Instant::now();
    requests.call_broadcast(&mut control, &session).await?;
    let call = sent.elapsed();
    control.abort();
    Ok(deliveries(readers, streams, sent, call, limit).await)
}

/// Waits for every reader (until `limit` after `sent`) and sums up when the notification
/// arrived; readers still waiting then are not counted, and go with the set.
pub async fn deliveries(
    mut readers: tokio::task::JoinSet<(Option<Instant>, Conn)>,
    streams: usize,
    sent: Instant,
    call: Duration,
    limit: Duration,
) -> Broadcast {
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
    arrivals.sort();
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    Broadcast {
        streams,
        delivered: arrivals.len(),
        call_micros: micros(call),
        p50_micros: arrivals.get(arrivals.len() / 2).copied().map_or(0, micros),
        all_micros: arrivals.last().copied().map_or(0, micros),
    }
}
