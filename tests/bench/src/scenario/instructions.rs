//! Instructions per `tools/call`, counted by callgrind over the whole server process: what a
//! call costs the server, in a figure that does not move with the machine's noise. The server
//! runs twice under `valgrind --tool=callgrind`, serving `calls[0]` and then `calls[1]` calls
//! from the same connections; the difference of the two totals over the difference of the
//! counts leaves out start-up, session set-up and exit.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::Conn;
use crate::mcp::Requests;
use crate::peer::{Paths, Peer, Server};

#[derive(Clone, Debug)]
pub struct Instructions {
    /// Instructions the server executes per call, in every thread of the process.
    pub per_call: f64,
}

/// The peers counted: native code only (an interpreter's or a JIT's instructions are not
/// comparable, and they run for minutes under valgrind).
pub fn counts(peer: &Peer) -> bool {
    matches!(peer.name, "mcpwire" | "rmcp" | "bare")
}

/// Whether valgrind is installed.
pub fn available() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub async fn run(
    peer: &Peer,
    paths: &Paths,
    connections: usize,
    calls: [usize; 2],
) -> io::Result<Instructions> {
    let mut totals = [0u64; 2];
    for (total, &count) in totals.iter_mut().zip(&calls) {
        let out =
            std::env::temp_dir().join(format!("mcpwire-bench-callgrind-{}-{count}.out", peer.name));
        let _ = std::fs::remove_file(&out);
        let wrapper = vec![
            "valgrind".to_string(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        let mut server = Server::start_under(peer, paths, &wrapper)?;
        let served = serve_calls(server.address, peer.speaks_mcp, connections, count).await;
        // Valgrind writes the counts as the process exits, a signal included.
        server.terminate(Duration::from_secs(120)).await?;
        drop(server);
        served?;
        *total = read_total(&out)?;
        let _ = std::fs::remove_file(&out);
    }
    let extra = (calls[1] - calls[0]) as f64;
    Ok(Instructions {
        per_call: totals[1].saturating_sub(totals[0]) as f64 / extra,
    })
}

/// `count` calls in closed loops over `connections` keep-alive connections, each with its
/// session.
async fn serve_calls(
    address: SocketAddr,
    speaks_mcp: bool,
    connections: usize,
    count: usize,
) -> io::Result<()> {
    let requests = Requests::new(address);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..connections {
        let requests = requests.clone();
        let share = count / connections + usize::from(index < count % connections);
        tasks.spawn(async move {
            let mut conn = Conn::connect(address).await?;
            let session = if speaks_mcp {
                Some(requests.open_session(&mut conn).await?)
            } else {
                None
            };
            for id in 1..=share as u64 {
                requests
                    .call_echo(&mut conn, session.as_deref(), id, "hello")
                    .await?;
            }
            conn.abort();
            io::Result::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(io::Error::other)??;
    }
    Ok(())
}

/// The `summary:` (or `totals:`) line of a callgrind output file: instructions executed.
pub fn read_total(path: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::other(format!("{}: {e} (did valgrind run?)", path.display())))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .ok_or_else(|| io::Error::other(format!("{}: no totals", PathBuf::from(path).display())))
}
