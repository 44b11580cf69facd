//! The scenarios, one per file. Each starts from a fresh server process, so that what one
//! leaves behind (abandoned sessions, a grown heap) does not weigh on the next.

pub mod auth;
pub mod broadcast;
pub mod busy_handler;
pub mod churn;
pub mod heap;
pub mod instructions;
pub mod listen_broadcast;
pub mod listen_heap;
pub mod round_trips;
pub mod scale;
pub mod shutdown;
pub mod slow_reader;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::client::Conn;
use crate::mcp::{Requests, session_with_stream};

/// `count` sessions, each with an open GET stream on its own connection, set up at most
/// `parallel` at a time so that no peer's accept backlog overflows.
pub async fn sessions_with_streams(
    address: SocketAddr,
    count: usize,
    parallel: usize,
) -> io::Result<Vec<(String, Conn)>> {
    let requests = Requests::new(address);
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let requests = requests.clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            session_with_stream(address, &requests).await
        }));
    }
    let mut sessions = Vec::with_capacity(count);
    let mut first_error = None;
    for task in tasks {
        match task.await.map_err(io::Error::other)? {
            Ok(session) => sessions.push(session),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        for (_, conn) in sessions {
            conn.abort();
        }
        return Err(io::Error::other(format!(
            "setting up {count} streams: {error}"
        )));
    }
    Ok(sessions)
}
