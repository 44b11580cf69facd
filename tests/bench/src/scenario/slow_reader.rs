//! A slow reader among busy sessions: one client pipelines large `echo` calls and never reads
//! an answer, while 100 sessions run closed loops of small calls. A server that isolates
//! connections keeps the busy sessions' latency; one that buffers without bound, or blocks on
//! the slow socket, does not.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::client::Conn;
use crate::mcp::Requests;
use crate::scenario::round_trips::{Mode, RoundTrips, closed_loops, summarize};

#[derive(Clone, Debug)]
pub struct SlowReader {
    pub alone: RoundTrips,
    pub beside_slow_reader: RoundTrips,
    /// Calls the slow reader got the server to take before its writes blocked.
    pub slow_calls_sent: usize,
}

/// Bytes of each slow call's message; the answer is as large.
const SLOW_MESSAGE_BYTES: usize = 64 * 1024;
/// Enough answers to fill any socket buffer many times over, and a bound on the run.
const SLOW_CALLS_MAX: usize = 2_000;

pub async fn run(
    address: SocketAddr,
    busy: usize,
    warmup: Duration,
    measure: Duration,
) -> io::Result<SlowReader> {
    // One unmeasured pass first: a JIT compiles, pools and buffers grow. Without it the
    // first measured pass is the slower one whatever it measures.
    closed_loops(
        address,
        Requests::new(address),
        Mode::Session,
        busy,
        Duration::ZERO,
        warmup,
    )
    .await?;
    let (latencies, elapsed) = closed_loops(
        address,
        Requests::new(address),
        Mode::Session,
        busy,
        warmup,
        measure,
    )
    .await?;
    let alone = summarize(busy, latencies, elapsed)?;

    let requests = Requests::new(address);
    let mut slow = Conn::connect(address).await?;
    let session = requests.open_session(&mut slow).await?;
    let (sent_tx, sent_rx) = tokio::sync::watch::channel(0usize);
    // Not a task: the writer lives inside this future, and is dropped with its connection
    // the moment the measurement ends, however it ends.
    let writing = async move {
        let message = "x".repeat(SLOW_MESSAGE_BYTES);
        for id in 1..=SLOW_CALLS_MAX {
            if slow
                .send(&requests.echo(Some(&session), id as u64, &message))
                .await
                .is_err()
            {
                break;
            }
            sent_tx.send_replace(id);
        }
        // Hold the connection, unread, until the measurement ends.
        std::future::pending::<()>().await;
    };
    let (latencies, elapsed) = tokio::select! {
        measured = closed_loops(address, Requests::new(address), Mode::Session, busy, warmup, measure) => measured?,
        () = writing => unreachable!("the writer holds its connection until dropped"),
    };
    let beside_slow_reader = summarize(busy, latencies, elapsed)?;
    let slow_calls_sent = *sent_rx.borrow();
    Ok(SlowReader {
        alone,
        beside_slow_reader,
        slow_calls_sent,
    })
}
