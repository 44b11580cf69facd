//! `mcpwire-bench`: mcpwire against its peers, every scenario from one load generator in one
//! run, and the report in BENCHMARKS.md with its charts.
//!
//! `tests/bench/run` installs the peers, builds this crate in release, pins this generator to
//! one CPU and the servers to another, and calls `mcpwire-bench --write`.
//!
//! Each scenario starts a fresh server, drives it from this process's single-threaded tokio
//! runtime over 127.0.0.1, and stops it; every loop is bounded in time or count.

mod client;
mod machine;
mod mcp;
mod median;
mod peer;
mod report;
mod report_auth;
mod scenario;
mod stats;
mod svg;

use std::path::PathBuf;
use std::time::Duration;

use peer::{Paths, Peer, Server};
use scenario::{
    broadcast, busy_handler, churn, heap, instructions, listen_broadcast, listen_heap, round_trips,
    scale, shutdown, slow_reader,
};

/// How big and how long each scenario is.
#[derive(Clone, Debug)]
struct Sizes {
    connections: Vec<usize>,
    warmup: Duration,
    measure: Duration,
    churn_connections: usize,
    heap_sessions: usize,
    broadcast_streams: Vec<usize>,
    /// Runs of everything, peers taking turns; each figure is the median run's.
    repeat: usize,
    /// Only these scenarios (`--scenarios`); all when empty.
    scenarios: Vec<String>,
    broadcast_limit: Duration,
    busy_sessions: usize,
    shutdown_streams: usize,
    shutdown_limit: Duration,
    listen_streams: Vec<usize>,
    /// Idle sessions for the scale rows.
    scale_sessions: Vec<usize>,
    /// Calls in the two runs under callgrind.
    instruction_calls: [usize; 2],
    /// How long `spin` holds its thread.
    spin: Duration,
}

/// The scenarios' names for `--scenarios`. `auth-round-trips` runs only when named: it needs
/// the authorization server of tests/auth, and writes its own section.
const SCENARIOS: [&str; 13] = [
    "auth-round-trips",
    "round-trips",
    "stateless-round-trips",
    "listen-heap",
    "churn",
    "heap",
    "broadcast",
    "slow-reader",
    "shutdown",
    "listen-broadcast",
    "busy-handler",
    "scale",
    "instructions",
];

impl Sizes {
    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == scenario)
    }

    /// Whether only the auth scenario was asked for.
    fn auth_only(&self) -> bool {
        self.scenarios.iter().all(|s| s == AUTH)
    }

    fn full() -> Sizes {
        Sizes {
            connections: vec![1, 8, 64],
            // Long enough for V8 and the JIT-less runtimes alike to reach their steady state.
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(3),
            churn_connections: 8,
            heap_sessions: 1_000,
            broadcast_streams: vec![1_000, 10_000],
            repeat: 3,
            scenarios: Vec::new(),
            broadcast_limit: Duration::from_secs(30),
            busy_sessions: 100,
            shutdown_streams: 100,
            shutdown_limit: Duration::from_secs(15),
            listen_streams: vec![1_000, 10_000],
            scale_sessions: vec![100, 1_000, 10_000, 100_000],
            instruction_calls: [2_000, 10_000],
            spin: Duration::from_millis(500),
        }
    }

    /// A smoke run of every scenario in well under a minute per peer.
    fn quick() -> Sizes {
        Sizes {
            measure: Duration::from_millis(500),
            repeat: 1,
            scenarios: Vec::new(),
            warmup: Duration::from_millis(100),
            heap_sessions: 200,
            broadcast_streams: vec![100],
            busy_sessions: 20,
            shutdown_streams: 20,
            shutdown_limit: Duration::from_secs(5),
            listen_streams: vec![100],
            scale_sessions: vec![100, 1_000],
            instruction_calls: [200, 1_000],
            ..Sizes::full()
        }
    }
}

const AUTH: &str = "auth-round-trips";

/// A scenario's figures, or why there are none.
type Outcome<T> = Result<T, String>;

struct PeerResults {
    peer: Peer,
    round_trips: Vec<Outcome<round_trips::RoundTrips>>,
    stateless_round_trips: Vec<Outcome<round_trips::RoundTrips>>,
    listen_heap: Option<Outcome<listen_heap::ListenHeap>>,
    churn: Option<Outcome<churn::Churn>>,
    heap: Option<Outcome<heap::Heap>>,
    broadcasts: Vec<Outcome<broadcast::Broadcast>>,
    slow_reader: Option<Outcome<slow_reader::SlowReader>>,
    shutdown: Option<Outcome<shutdown::Shutdown>>,
    listen_broadcasts: Vec<Outcome<broadcast::Broadcast>>,
    busy_handler: Option<Outcome<busy_handler::BusyHandler>>,
    /// Measured in the first run only: it is slow, and counts or grows without noise.
    scale: Vec<Outcome<scale::Scale>>,
    instructions: Option<Outcome<instructions::Instructions>>,
}

struct Options {
    write: bool,
    sizes: Sizes,
    only: Option<Vec<String>>,
    paths: Paths,
    repository: PathBuf,
    command: String,
    /// tests/auth, for the auth scenario.
    auth_dir: Option<PathBuf>,
}

const USAGE: &str = "usage: mcpwire-bench --bin-dir DIR --peers-dir DIR --node NODE --python PYTHON \
--repository ROOT [--server-cpu N] [--auth-dir DIR] [--peers a,b] [--scenarios a,b] [--repeat N] [--quick] [--write] [--command TEXT]";

fn parse() -> Result<Options, String> {
    let mut arguments = std::env::args().skip(1);
    let mut write = false;
    let mut sizes = Sizes::full();
    let mut only = None;
    let mut scenarios = Vec::new();
    let mut quick = false;
    let mut repeat: Option<usize> = None;
    let (mut bin_dir, mut peers_dir, mut node, mut python, mut repository) =
        (None, None, None, None, None);
    let mut server_cpu = None;
    let mut command = "tests/bench/run".to_string();
    let mut auth_dir = None;
    while let Some(argument) = arguments.next() {
        let mut value = || arguments.next().ok_or(format!("{argument} needs a value"));
        match argument.as_str() {
            "--write" => write = true,
            "--quick" => {
                quick = true;
                sizes = Sizes::quick();
            }
            "--scenarios" => {
                scenarios = value()?.split(',').map(String::from).collect::<Vec<_>>();
                if let Some(unknown) = scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                    return Err(format!(
                        "unknown scenario {unknown}; known: {}",
                        SCENARIOS.join(",")
                    ));
                }
            }
            "--peers" => only = Some(value()?.split(',').map(String::from).collect()),
            "--bin-dir" => bin_dir = Some(PathBuf::from(value()?)),
            "--peers-dir" => peers_dir = Some(PathBuf::from(value()?)),
            "--node" => node = Some(PathBuf::from(value()?)),
            "--python" => python = Some(PathBuf::from(value()?)),
            "--repository" => repository = Some(PathBuf::from(value()?)),
            "--server-cpu" => server_cpu = Some(value()?.parse().map_err(|_| "--server-cpu N")?),
            "--command" => command = value()?,
            "--auth-dir" => auth_dir = Some(PathBuf::from(value()?)),
            "--repeat" => repeat = Some(value()?.parse().map_err(|_| "--repeat N")?),
            _ => return Err(format!("unknown argument {argument}")),
        }
    }
    // Servers run from the peers' directory, so every path is made absolute first.
    let auth_alone = !scenarios.is_empty() && scenarios.iter().all(|s| s == AUTH);
    if write && (quick || only.is_some() || (!scenarios.is_empty() && !auth_alone)) {
        return Err(
            "--write records full runs only (or --scenarios auth-round-trips alone): \
                    leave out --quick, --peers and other --scenarios"
                .into(),
        );
    }
    if scenarios.iter().any(|s| s == AUTH) && auth_dir.is_none() {
        return Err("auth-round-trips needs --auth-dir".into());
    }
    sizes.scenarios = scenarios;
    if let Some(repeat) = repeat {
        sizes.repeat = repeat.max(1);
    }
    let need = |what: Option<PathBuf>, name: &str| {
        let path = what.ok_or(format!("{name} is required"))?;
        std::path::absolute(&path).map_err(|e| format!("{name} {}: {e}", path.display()))
    };
    Ok(Options {
        write,
        sizes,
        only,
        paths: Paths {
            bin_dir: need(bin_dir, "--bin-dir")?,
            peers_dir: need(peers_dir, "--peers-dir")?,
            node: need(node, "--node")?,
            python: need(python, "--python")?,
            server_cpu,
        },
        repository: need(repository, "--repository")?,
        command,
        auth_dir: auth_dir.map(|d| need(Some(d), "--auth-dir")).transpose()?,
    })
}

/// Runs `scenario` against a fresh server, keeping a failure as the outcome. The server is
/// stopped when the scenario is done with it.
async fn fresh<T>(
    peer: &Peer,
    paths: &Paths,
    heap: bool,
    what: &str,
    scenario: impl AsyncFnOnce(&mut Server) -> std::io::Result<T>,
) -> Outcome<T> {
    eprintln!("  {what}");
    let mut server = Server::start(peer, paths, heap).map_err(|e| e.to_string())?;
    let outcome = scenario(&mut server).await.map_err(|e| e.to_string());
    drop(server);
    if let Err(error) = &outcome {
        eprintln!("    failed: {error}");
    }
    // Let sockets the scenario reset drain before the next server starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    outcome
}

async fn measure(peer: &Peer, paths: &Paths, sizes: &Sizes, round: usize) -> PeerResults {
    if round == 0 {
        let _ = std::fs::remove_file(peer.log());
    }
    eprintln!(
        "{}, run {} of {} (stderr in {})",
        peer.name,
        round + 1,
        sizes.repeat,
        peer.log().display()
    );
    let runs = |scenario: &str| sizes.runs(scenario) && peer.serves(scenario);
    let mut results = PeerResults {
        peer: peer.clone(),
        round_trips: Vec::new(),
        stateless_round_trips: Vec::new(),
        listen_heap: None,
        churn: None,
        heap: None,
        broadcasts: Vec::new(),
        slow_reader: None,
        shutdown: None,
        listen_broadcasts: Vec::new(),
        busy_handler: None,
        scale: Vec::new(),
        instructions: None,
    };
    for &connections in sizes.connections.iter().filter(|_| runs("round-trips")) {
        let what = format!("tools/call round trips, {connections} connections");
        let scenario = async |server: &mut Server| {
            let (warmup, measure) = (sizes.warmup, sizes.measure);
            round_trips::run(
                server.address,
                round_trips::Mode::of(peer.speaks_mcp),
                connections,
                warmup,
                measure,
            )
            .await
        };
        results
            .round_trips
            .push(fresh(peer, paths, false, &what, scenario).await);
    }
    for &connections in sizes
        .connections
        .iter()
        .filter(|_| runs("stateless-round-trips"))
    {
        let what = format!("stateless tools/call round trips, {connections} connections");
        let scenario = async |server: &mut Server| {
            let (warmup, measure) = (sizes.warmup, sizes.measure);
            let mode = round_trips::Mode::Stateless;
            round_trips::run(server.address, mode, connections, warmup, measure).await
        };
        results
            .stateless_round_trips
            .push(fresh(peer, paths, false, &what, scenario).await);
    }
    if runs("listen-heap") {
        let scenario =
            async |server: &mut Server| listen_heap::run(server, sizes.heap_sessions).await;
        let what = "live heap per listen stream";
        results.listen_heap = Some(fresh(peer, paths, true, what, scenario).await);
    }
    if runs("churn") {
        let scenario = async |server: &mut Server| {
            let connections = sizes.churn_connections;
            churn::run(server.address, connections, sizes.warmup, sizes.measure).await
        };
        results.churn = Some(fresh(peer, paths, false, "session churn", scenario).await);
    }
    if runs("heap") {
        let scenario = async |server: &mut Server| heap::run(server, sizes.heap_sessions).await;
        results.heap = Some(fresh(peer, paths, true, "live heap per session", scenario).await);
    }
    for &streams in sizes.broadcast_streams.iter().filter(|_| runs("broadcast")) {
        let what = format!("broadcast to {streams} streams");
        let scenario = async |server: &mut Server| {
            broadcast::run(server.address, streams, sizes.broadcast_limit).await
        };
        results
            .broadcasts
            .push(fresh(peer, paths, false, &what, scenario).await);
    }
    if runs("slow-reader") {
        let what = "a slow reader among busy sessions";
        let scenario = async |server: &mut Server| {
            let busy = sizes.busy_sessions;
            slow_reader::run(server.address, busy, sizes.warmup, sizes.measure).await
        };
        results.slow_reader = Some(fresh(peer, paths, false, what, scenario).await);
    }
    if runs("shutdown") {
        let scenario = async |server: &mut Server| {
            shutdown::run(server, sizes.shutdown_streams, sizes.shutdown_limit).await
        };
        let what = "SIGTERM with open streams";
        results.shutdown = Some(fresh(peer, paths, false, what, scenario).await);
    }
    for &streams in sizes
        .listen_streams
        .iter()
        .filter(|_| runs("listen-broadcast"))
    {
        let what = format!("broadcast to {streams} listen streams");
        let scenario = async |server: &mut Server| {
            listen_broadcast::run(server.address, streams, sizes.broadcast_limit).await
        };
        results
            .listen_broadcasts
            .push(fresh(peer, paths, false, &what, scenario).await);
    }
    if runs("busy-handler") {
        let what = "pings beside a handler that never yields";
        let scenario = async |server: &mut Server| {
            busy_handler::run(server.address, sizes.measure, sizes.spin).await
        };
        results.busy_handler = Some(fresh(peer, paths, false, what, scenario).await);
    }
    for &idle in sizes
        .scale_sessions
        .iter()
        .filter(|_| round == 0 && runs("scale"))
    {
        let what = format!("calls and a broadcast among {idle} idle sessions");
        let scenario = async |server: &mut Server| scale::run(server, idle, sizes.measure).await;
        results
            .scale
            .push(fresh(peer, paths, true, &what, scenario).await);
    }
    if round == 0 && runs("instructions") && instructions::available() {
        eprintln!("  instructions per call, under callgrind");
        let outcome = instructions::run(peer, paths, 8, sizes.instruction_calls)
            .await
            .map_err(|e| e.to_string());
        if let Err(error) = &outcome {
            eprintln!("    failed: {error}");
        }
        results.instructions = Some(outcome);
    }
    results
}

fn main() -> std::process::ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("mcpwire-bench: {message}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let machine = machine::Machine::read(&options.paths.node, &options.paths.python);
    let peers: Vec<Peer> = peer::all(&options.paths, &machine.versions)
        .into_iter()
        .filter(|p| {
            options
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| n == p.name))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if options.sizes.scenarios.iter().any(|s| s == AUTH) {
        let started = std::time::Instant::now();
        let setup = scenario::auth::Setup {
            paths: &options.paths,
            auth_dir: options.auth_dir.clone().expect("checked by parse"),
        };
        let sizes = &options.sizes;
        let outcome = runtime.block_on(scenario::auth::run(
            &setup,
            options.only.as_deref(),
            &sizes.connections,
            sizes.warmup,
            sizes.measure,
            sizes.repeat,
        ));
        let results = match outcome {
            Ok(results) => results,
            Err(error) => {
                eprintln!("mcpwire-bench: auth-round-trips: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let command = format!("{} --scenarios {AUTH}", options.command);
        let report = report_auth::AuthReport {
            machine: &machine,
            results: &results,
            command: &command,
            server_cpu: options.paths.server_cpu,
            duration: started.elapsed(),
            warmup: sizes.warmup,
            measure: sizes.measure,
            repeat: sizes.repeat,
        };
        println!("{}", report.markdown());
        if options.write {
            if let Err(error) = report.write(&options.repository) {
                eprintln!("mcpwire-bench: writing the report: {error}");
                return std::process::ExitCode::FAILURE;
            }
        }
        let ours_failed = results
            .rows
            .iter()
            .any(|r| r.peer == "mcpwire" && (r.plain.is_err() || r.jwt.is_err()));
        if ours_failed {
            eprintln!("mcpwire-bench: a scenario failed against mcpwire");
            return std::process::ExitCode::FAILURE;
        }
        if sizes.auth_only() {
            return std::process::ExitCode::SUCCESS;
        }
    }
    let started = std::time::Instant::now();
    let runs: Vec<Vec<PeerResults>> = runtime.block_on(async {
        let mut runs: Vec<Vec<PeerResults>> = peers.iter().map(|_| Vec::new()).collect();
        for round in 0..options.sizes.repeat {
            for (peer, runs) in peers.iter().zip(&mut runs) {
                runs.push(measure(peer, &options.paths, &options.sizes, round).await);
            }
        }
        runs
    });
    // A peer's failure is one of its results; mcpwire's own, in any run, fails the run.
    let ours_failed = runs
        .iter()
        .flatten()
        .filter(|r| r.peer.name == "mcpwire")
        .any(|r| {
            r.round_trips.iter().any(Result::is_err)
                || r.stateless_round_trips.iter().any(Result::is_err)
                || r.broadcasts.iter().any(Result::is_err)
                || r.listen_broadcasts.iter().any(Result::is_err)
                || r.scale.iter().any(Result::is_err)
                || [
                    r.churn.as_ref().map(|o| o.as_ref().err()),
                    r.heap.as_ref().map(|o| o.as_ref().err()),
                    r.listen_heap.as_ref().map(|o| o.as_ref().err()),
                    r.slow_reader.as_ref().map(|o| o.as_ref().err()),
                    r.shutdown.as_ref().map(|o| o.as_ref().err()),
                    r.busy_handler.as_ref().map(|o| o.as_ref().err()),
                    r.instructions.as_ref().map(|o| o.as_ref().err()),
                ]
                .into_iter()
                .any(|e| matches!(e, Some(Some(_))))
        });
    let results: Vec<PeerResults> = runs.iter().map(|r| median::combine(r)).collect();
    let report = report::Report {
        machine: &machine,
        sizes: &options.sizes,
        results: &results,
        command: &options.command,
        server_cpu: options.paths.server_cpu,
        duration: started.elapsed(),
    };
    let markdown = report.markdown();
    println!("{markdown}");
    if options.write {
        if let Err(error) = report.write(&options.repository) {
            eprintln!("mcpwire-bench: writing the report: {error}");
            return std::process::ExitCode::FAILURE;
        }
    }
    if ours_failed {
        eprintln!("mcpwire-bench: a scenario failed against mcpwire");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
