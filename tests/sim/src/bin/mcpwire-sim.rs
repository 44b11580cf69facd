//! `mcpwire-sim`: runs seeds of the deterministic simulation and ends with `N passed, M failed`.
//!
//! ```text
//! mcpwire-sim [--seed N] [--seeds K] [--steps S] [--clients C] [--adversary | --client | --client-auth [--auth-fault F]] [--pipes] [--trace] [--minimize]
//! ```
//!
//! `--client` runs the client engine against the server engine (`ClientSimulation`);
//! `--client-auth` does so with the server a protected resource and the client getting its
//! tokens by OAuth from a simulated authorization server and person. `--auth-fault
//! forget-failure|ignore-flow-deadline` breaks the simulator's OAuth driver on purpose: the
//! run must fail.
//!
//! `--pipes` lets clients also speak over pipes (stdio), in both eras.
//! `--adversary` runs every seed in adversary mode: tight byte budgets, clients that cut
//! streams, send huge `clientInfo` and long URIs and never read.
//!
//! The environment variables `SIM_SEED`, `SIM_SEEDS`, `SIM_STEPS` and `SIM_TRACE=1` set the
//! same. The committed regressions run first. A failure prints the command that reproduces it;
//! with `--minimize`, for the shortest run that still fails.

use std::process::ExitCode;
use std::time::Instant;

use mcpwire_sim::{SimConfig, Simulation};

/// Every run bounds its heap and proves it returns to its baseline.
#[global_allocator]
static ALLOCATOR: mcpwire_sim::CountingAllocator = mcpwire_sim::CountingAllocator;

fn live_heap() -> usize {
    mcpwire_sim::live_heap_bytes()
}

fn main() -> ExitCode {
    let mut seed: u64 = env("SIM_SEED").unwrap_or(0);
    let mut seeds: u64 = env("SIM_SEEDS").unwrap_or(1);
    let mut steps: u64 = env("SIM_STEPS").unwrap_or(5_000);
    let mut clients: usize = 16;
    let mut trace = std::env::var("SIM_TRACE").is_ok_and(|v| v == "1");
    let mut shrink = false;
    let mut adversary = std::env::var("SIM_ADVERSARY").is_ok_and(|v| v == "1");
    let mut pipes = std::env::var("SIM_PIPES").is_ok_and(|v| v == "1");
    let mut client = false;
    let mut auth = false;
    let mut auth_fault = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--seed" => seed = value().unwrap_or(seed),
            "--seeds" => seeds = value().unwrap_or(seeds),
            "--steps" => steps = value().unwrap_or(steps),
            "--clients" => clients = value().map_or(clients, |c| c as usize),
            "--trace" => trace = true,
            "--minimize" => shrink = true,
            "--adversary" => adversary = true,
            "--pipes" => pipes = true,
            "--client" => client = true,
            "--client-auth" => {
                client = true;
                auth = true;
            }
            "--auth-fault" => match args.next().map(|f| f.parse::<mcpwire_sim::AuthFault>()) {
                Some(Ok(fault)) => auth_fault = Some(fault),
                Some(Err(why)) => {
                    eprintln!("mcpwire-sim: {why}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("mcpwire-sim: --auth-fault needs a name");
                    return ExitCode::from(2);
                }
            },
            "--help" | "-h" => {
                println!(
                    "mcpwire-sim [--seed N] [--seeds K] [--steps S] [--clients C] [--adversary | --client | --client-auth [--auth-fault F]] [--pipes] [--trace] [--minimize]\n  --client: the client engine against the server engine (ClientSimulation)\n  --client-auth: the same, the server a protected resource, the client's tokens by OAuth\n  --auth-fault forget-failure|ignore-flow-deadline: a broken OAuth driver, which must be caught"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("mcpwire-sim: unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    if client {
        let template = mcpwire_sim::ClientSimConfig {
            auth,
            auth_fault,
            ..mcpwire_sim::ClientSimConfig::new(seed, steps)
        };
        return run_client_seeds(template, seeds);
    }
    let started = Instant::now();
    let (mut passed, mut failed, mut calls) = (0u64, 0u64, 0u64);
    let runs = mcpwire_sim::regressions()
        .into_iter()
        .chain((seed..seed.saturating_add(seeds)).map(|s| (s, steps, clients)));
    for (seed, steps, clients) in runs {
        let config = SimConfig {
            trace,
            heap: Some(live_heap),
            adversary,
            pipes,
            ..SimConfig::new(seed, steps, clients)
        };
        match Simulation::new(config).run() {
            Ok(report) => {
                passed += 1;
                calls += report.engine_calls;
            }
            Err(failure) => {
                failed += 1;
                println!(
                    "seed {seed} FAILED at step {}: {}",
                    failure.step, failure.reason
                );
                for action in &failure.recent {
                    println!("    {action}");
                }
                let steps = if shrink {
                    let fewest =
                        mcpwire_sim::minimize(seed, steps, clients, Some(live_heap), adversary);
                    println!("    shrunk: the first {fewest} steps already fail");
                    fewest
                } else {
                    steps
                };
                let mode = match (adversary, pipes) {
                    (true, true) => " --adversary --pipes",
                    (true, false) => " --adversary",
                    (false, true) => " --pipes",
                    (false, false) => "",
                };
                println!(
                    "    reproduce: SIM_SEED={seed} SIM_STEPS={steps} SIM_TRACE=1 cargo run --release -p mcpwire-sim -- --clients {clients}{mode}"
                );
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{} runs ({seeds} seeds x {steps} steps with {clients} clients, and the regressions) in {elapsed:.1} s ({:.2} M engine calls/s)",
        passed + failed,
        calls as f64 / elapsed.max(1e-9) / 1e6
    );
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The client simulation of `template` over `seeds` seeds from its seed.
fn run_client_seeds(template: mcpwire_sim::ClientSimConfig, seeds: u64) -> ExitCode {
    let started = Instant::now();
    let (mut passed, mut failed, mut calls) = (0u64, 0u64, 0u64);
    let mut auth = mcpwire_sim::AuthReport::default();
    let steps = template.steps;
    let first = template.seed;
    for seed in first..first.saturating_add(seeds) {
        let config = mcpwire_sim::ClientSimConfig { seed, ..template };
        match mcpwire_sim::ClientSimulation::new(config).run() {
            Ok(report) => {
                passed += 1;
                calls += report.calls.0;
                let a = report.auth;
                auth.required.0 += a.required.0;
                auth.required.1 += a.required.1;
                auth.flows.0 += a.flows.0;
                auth.flows.1 += a.flows.1;
                auth.flows.2 += a.flows.2;
                auth.fetches += a.fetches;
                auth.stale += a.stale;
                auth.server.0 += a.server.0;
                auth.server.1 += a.server.1;
                auth.server.2 += a.server.2;
                auth.verifications += a.verifications;
            }
            Err(failure) => {
                failed += 1;
                println!(
                    "client seed {seed} FAILED at step {}: {}",
                    failure.step, failure.reason
                );
                for action in &failure.recent {
                    println!("    {action}");
                }
                let mode = match (template.auth, template.auth_fault) {
                    (false, _) => "--client".to_string(),
                    (true, None) => "--client-auth".to_string(),
                    (true, Some(fault)) => format!("--client-auth --auth-fault {fault}"),
                };
                println!(
                    "    reproduce: cargo run --release -p mcpwire-sim -- {mode} --seed {seed} --steps {steps}"
                );
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{} client runs ({seeds} seeds x {steps} steps, {calls} calls) in {elapsed:.1} s",
        passed + failed
    );
    if template.auth {
        println!(
            "OAuth: {} waits for credentials ({} step-ups), {} flows ({} got tokens, {} failed), {} fetches, {} late answers ignored, {} verifications; the authorization server restarted {} times, issued {} tokens, {} by refresh",
            auth.required.0 + auth.required.1,
            auth.required.1,
            auth.flows.0,
            auth.flows.1,
            auth.flows.2,
            auth.fetches,
            auth.stale,
            auth.verifications,
            auth.server.0,
            auth.server.1,
            auth.server.2
        );
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}
