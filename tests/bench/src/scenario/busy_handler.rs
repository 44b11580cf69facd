//! One session's tool computes for `spin` without yielding; meanwhile another session's `ping`
//! round trips go on, one at a time. Their latency beside the busy handler, against the same
//! pings with the server idle, shows whether handlers share the thread that serves I/O.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::mcp::Requests;
use crate::stats::Latencies;

#[derive(Clone, Debug)]
pub struct BusyHandler {
    pub idle_p50_micros: u32,
    pub idle_p99_micros: u32,
    pub busy_p50_micros: u32,
    pub busy_p99_micros: u32,
    /// Pings answered while the spin ran.
    pub busy_pings: usize,
    /// The spin's own time, call to answer.
    pub spin_micros: u64,
}

async fn pings(
    requests: &Requests,
    conn: &mut Conn,
    session: &str,
    until: impl Fn() -> bool,
    latencies: &mut Latencies,
) -> io::Result<()> {
    let mut id = 10;
    while !until() {
        let sent = Instant::now();
        requests.ping(conn, session, id).await?;
        latencies.record(sent.elapsed());
        id += 1;
    }
    Ok(())
}

pub async fn run(address: SocketAddr, idle: Duration, spin: Duration) -> io::Result<BusyHandler> {
    let requests = Requests::new(address);
    let mut conn = Conn::connect(address).await?;
    let session = requests.open_session(&mut conn).await?;
    let mut spinner = Conn::connect(address).await?;
    let spinner_session = requests.open_session(&mut spinner).await?;

    let mut alone = Latencies::default();
    let started = Instant::now();
    pings(
        &requests,
        &mut conn,
        &session,
        || started.elapsed() >= idle,
        &mut alone,
    )
    .await?;

    let mut beside = Latencies::default();
    let millis = u64::try_from(spin.as_millis()).unwrap_or(u64::MAX);
    let sent = Instant::now();
    requests
        .start_spin(&mut spinner, &spinner_session, millis)
        .await?;
    let answered = std::cell::Cell::new(None);
    let spinning = async {
        let head = spinner.read_head().await?;
        let _ = spinner.read_body(&head).await?;
        answered.set(Some(sent.elapsed()));
        io::Result::Ok(())
    };
    let pinging = pings(
        &requests,
        &mut conn,
        &session,
        || answered.get().is_some() || sent.elapsed() >= spin * 4,
        &mut beside,
    );
    let (spun, pinged) = tokio::join!(spinning, pinging);
    spun?;
    pinged?;
    conn.abort();
    spinner.abort();
    let spin_micros = answered.get().map_or(u64::MAX, |d| {
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
    });
    let busy_pings = beside.count();
    Ok(BusyHandler {
        idle_p50_micros: alone.quantile(0.5).unwrap_or(0),
        idle_p99_micros: alone.quantile(0.99).unwrap_or(0),
        busy_p50_micros: beside.quantile(0.5).unwrap_or(0),
        busy_p99_micros: beside.quantile(0.99).unwrap_or(0),
        busy_pings,
        spin_micros,
    })
}
