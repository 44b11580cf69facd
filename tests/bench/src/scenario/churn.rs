//! Session churn: on each keep-alive connection, again and again, `initialize`,
//! `notifications/initialized`, one `tools/call`, and no DELETE, as a client that crashes or
//! forgets would. What the server keeps of those sessions is its own business.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::mcp::Requests;
use crate::stats::Latencies;

#[derive(Clone, Debug)]
pub struct Churn {
    pub sessions_per_second: f64,
    pub p50_micros: u32,
    pub p99_micros: u32,
}

pub async fn run(
    address: SocketAddr,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> io::Result<Churn> {
    let requests = Requests::new(address);
    let started = Instant::now();
    let measured_from = started + warmup;
    let stop = measured_from + measure;
    // The set owns the loops: an early return below ends them all.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let requests = requests.clone();
        tasks.spawn(async move {
            let mut conn = Conn::connect(address).await?;
            let mut latencies = Latencies::default();
            loop {
                let begun = Instant::now();
                if begun >= stop {
                    break;
                }
                let session = requests.open_session(&mut conn).await?;
                requests
                    .call_echo(&mut conn, Some(&session), 1, "hello")
                    .await?;
                if begun >= measured_from {
                    latencies.record(begun.elapsed());
                }
            }
            conn.abort();
            io::Result::Ok(latencies)
        });
    }
    let mut all = Latencies::default();
    while let Some(joined) = tasks.join_next().await {
        all.merge(joined.map_err(io::Error::other)??);
    }
    let count = all.count();
    Ok(Churn {
        sessions_per_second: count as f64 / measure.as_secs_f64(),
        p50_micros: all
            .quantile(0.50)
            .ok_or_else(|| io::Error::other("no sessions"))?,
        p99_micros: all.quantile(0.99).unwrap_or(0),
    })
}
