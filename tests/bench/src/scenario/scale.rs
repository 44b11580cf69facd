//! How cost grows with the number of idle sessions: `idle` sessions initialize and go quiet,
//! then 8 more connections make closed-loop `echo` calls, and one of them calls `broadcast`,
//! which reaches every idle session (into its backlog, since none has a stream). With storage
//! indexed directly by id, the cost of a call and of one broadcast recipient should not depend
//! on how many other sessions there are.

use std::io;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::mcp::Requests;
use crate::peer::Server;

#[derive(Clone, Debug)]
pub struct Scale {
    pub idle: usize,
    /// Live heap of the idle sessions, per session.
    pub heap_per_session: f64,
    pub calls_per_second: f64,
    /// The server's CPU time (user and system, every thread) per call.
    pub cpu_micros_per_call: f64,
    /// A broadcast's time beyond an `echo` call's, per recipient (medians of 5 of each).
    pub broadcast_nanos_per_recipient: f64,
}

/// Connections that open the idle sessions, each opening its share in turn.
const OPENERS: usize = 32;

pub async fn run(server: &mut Server, idle: usize, measure: Duration) -> io::Result<Scale> {
    let address = server.address;
    let requests = Requests::new(address);
    let before = server.heap()?;
    let mut openers = tokio::task::JoinSet::new();
    for index in 0..OPENERS {
        let requests = requests.clone();
        let share = idle / OPENERS + usize::from(index < idle % OPENERS);
        openers.spawn(async move {
            let mut conn = Conn::connect(address).await?;
            for _ in 0..share {
                requests.open_session(&mut conn).await?;
            }
            conn.abort();
            io::Result::Ok(())
        });
    }
    while let Some(done) = openers.join_next().await {
        done.map_err(io::Error::other)??;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_idle = server.heap()?;

    let cpu_before = server.cpu_time()?;
    let (latencies, elapsed) = super::round_trips::closed_loops(
        address,
        Requests::new(address),
        super::round_trips::Mode::Session,
        8,
        Duration::ZERO,
        measure,
    )
    .await?;
    let cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let calls = latencies.count().max(1) as f64;

    let mut conn = Conn::connect(address).await?;
    let session = requests.open_session(&mut conn).await?;
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let mut echoes = Vec::new();
    let mut broadcasts = Vec::new();
    for id in 0..5 {
        let sent = Instant::now();
        requests
            .call_echo(&mut conn, Some(&session), id, "hello")
            .await?;
        echoes.push(sent.elapsed());
        let sent = Instant::now();
        requests.call_broadcast(&mut conn, &session).await?;
        broadcasts.push(sent.elapsed());
    }
    conn.abort();
    let beyond = median(broadcasts).saturating_sub(median(echoes));
    Ok(Scale {
        idle,
        heap_per_session: with_idle.saturating_sub(before) as f64 / idle as f64,
        calls_per_second: calls / elapsed.as_secs_f64(),
        cpu_micros_per_call: cpu.as_secs_f64() * 1e6 / calls,
        // The idle sessions, the 8 that made calls, and the broadcaster's own.
        broadcast_nanos_per_recipient: beyond.as_secs_f64() * 1e9 / (idle + 9) as f64,
    })
}
