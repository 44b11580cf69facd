//! `tools/call` round trips on keep-alive connections, one session per connection (or, in the
//! 2026-07-28 era, none: every call carries its own context), each connection sending its
//! next call as soon as the last answer is in.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::mcp::Requests;
use crate::stats::Latencies;

/// How calls are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A fixed answer from a server that speaks no MCP (the ceiling).
    Bare,
    /// A session per connection (2025-11-25).
    Session,
    /// No session: 2026-07-28 requests.
    Stateless,
}

impl Mode {
    pub fn of(speaks_mcp: bool) -> Mode {
        if speaks_mcp {
            Mode::Session
        } else {
            Mode::Bare
        }
    }
}

#[derive(Clone, Debug)]
pub struct RoundTrips {
    pub connections: usize,
    pub per_second: f64,
    pub p50_micros: u32,
    pub p99_micros: u32,
}

/// Runs `connections` closed loops: `warmup` unmeasured, then `measure` counted.
pub async fn run(
    address: SocketAddr,
    mode: Mode,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> io::Result<RoundTrips> {
    let requests = Requests::new(address);
    let (latencies, elapsed) =
        closed_loops(address, requests, mode, connections, warmup, measure).await?;
    summarize(connections, latencies, elapsed)
}

pub fn summarize(
    connections: usize,
    mut latencies: Latencies,
    elapsed: Duration,
) -> io::Result<RoundTrips> {
    let count = latencies.count();
    Ok(RoundTrips {
        connections,
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50_micros: latencies
            .quantile(0.50)
            .ok_or_else(|| io::Error::other("no round trips"))?,
        p99_micros: latencies.quantile(0.99).unwrap_or(0),
    })
}

/// The closed loops themselves, sending what `requests` builds; every connection opens its
/// session first, then all start together.
pub async fn closed_loops(
    address: SocketAddr,
    requests: Requests,
    mode: Mode,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> io::Result<(Latencies, Duration)> {
    let ready = Arc::new(tokio::sync::Barrier::new(connections + 1));
    let mut tasks = Vec::with_capacity(connections);
    let (start_tx, start_rx) = tokio::sync::watch::channel(None::<Instant>);
    for _ in 0..connections {
        let requests = requests.clone();
        let ready = ready.clone();
        let mut start_rx = start_rx.clone();
        tasks.push(tokio::spawn(async move {
            let setup = async {
                let mut conn = Conn::connect(address).await?;
                let session = if mode == Mode::Session {
                    Some(requests.open_session(&mut conn).await?)
                } else {
                    None
                };
                io::Result::Ok((conn, session))
            }
            .await;
            ready.wait().await;
            let (mut conn, session) = setup?;
            let started = start_rx
                .wait_for(Option::is_some)
                .await
                .map_err(io::Error::other)?
                .expect("set");
            let measured_from = started + warmup;
            let stop = measured_from + measure;
            let mut latencies = Latencies::default();
            let mut id = 1u64;
            loop {
                let sent = Instant::now();
                if sent >= stop {
                    break;
                }
                if mode == Mode::Stateless {
                    requests.call_echo_stateless(&mut conn, id, "hello").await?;
                } else {
                    requests
                        .call_echo(&mut conn, session.as_deref(), id, "hello")
                        .await?;
                }
                id += 1;
                if sent >= measured_from {
                    latencies.record(sent.elapsed());
                }
            }
            conn.abort();
            io::Result::Ok(latencies)
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    start_tx.send_replace(Some(started));
    let mut all = Latencies::default();
    let mut first_error = None;
    for task in tasks {
        match task.await.map_err(io::Error::other)? {
            Ok(latencies) => all.merge(latencies),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    Ok((all, measure))
}
