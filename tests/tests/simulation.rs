//! The deterministic simulator under `cargo test`: a spread of seeds, and the same seeds run
//! twice to prove a seed reproduces its run bit for bit.

use mcpwire_sim::{SimConfig, Simulation};

fn run(seed: u64, steps: u64, clients: usize) -> mcpwire_sim::Report {
    Simulation::new(SimConfig::new(seed, steps, clients))
        .run()
        .unwrap_or_else(|f| {
            panic!(
                "seed {} failed at step {}: {}\n  recent: {:#?}\n  reproduce: SIM_SEED={seed} SIM_STEPS={steps} SIM_TRACE=1 cargo run --release -p mcpwire-sim -- --clients {clients}",
                f.seed, f.step, f.reason, f.recent
            )
        })
}

#[test]
fn the_committed_regressions_pass() {
    let regressions = mcpwire_sim::regressions();
    assert!(!regressions.is_empty());
    for (seed, steps, clients) in regressions {
        run(seed, steps.min(4_000), clients);
    }
}

#[test]
fn seeds_pass_safety_and_liveness() {
    for seed in 0..24 {
        run(seed, 600, 1 + (seed as usize % 8));
    }
}

/// Pipes (stdio) beside HTTP: clients open pipes and write lines of either era, cancel,
/// listen and end their input, and the same safety and liveness hold.
#[test]
fn pipe_seeds_pass_safety_and_liveness() {
    // CI can run many more, in release: `mcpwire-sim --pipes`.
    for seed in 0..12 {
        let clients = 1 + (seed as usize % 8);
        let config = SimConfig::new(seed, 600, clients).pipes();
        Simulation::new(config).run().unwrap_or_else(|f| {
            panic!(
                "pipe seed {} failed at step {}: {}\n  recent: {:#?}\n  reproduce: SIM_SEED={seed} SIM_STEPS=600 SIM_TRACE=1 cargo run --release -p mcpwire-sim -- --pipes --clients {clients}",
                f.seed, f.step, f.reason, f.recent
            )
        });
    }
}

/// Adversary mode: hostile clients against tight budgets, and the engine within its budget
/// after every step.
#[test]
fn adversary_seeds_stay_within_the_byte_budget() {
    // CI runs many more, in release: `mcpwire-sim --adversary`.
    for seed in 0..8 {
        let config = SimConfig::new(seed, 500, 1 + (seed as usize % 6)).adversary();
        Simulation::new(config).run().unwrap_or_else(|f| {
            panic!(
                "adversary seed {} failed at step {}: {}\n  recent: {:#?}\n  reproduce: SIM_SEED={seed} SIM_STEPS=500 SIM_TRACE=1 cargo run --release -p mcpwire-sim -- --adversary --clients {}",
                f.seed, f.step, f.reason, f.recent, 1 + (seed as usize % 6)
            )
        });
    }
}

#[test]
fn one_seed_reproduces_its_run_exactly() {
    for seed in [3, 11, 42] {
        let a = run(seed, 400, 6);
        let b = run(seed, 400, 6);
        assert_eq!(a, b, "seed {seed} did not reproduce");
    }
    assert_ne!(run(1, 400, 6).trace_hash, run(2, 400, 6).trace_hash);
}

/// The proof that the simulator can fail: each known leak, switched back on in the engine, is
/// found within a few seeds (by the invariants, or by the liveness phase).
#[test]
fn every_injected_leak_is_caught_within_a_few_seeds() {
    use mcpwire_core::engine::Faults;
    let leaks = [
        (
            "sessions removed only on DELETE",
            Faults {
                sessions_only_on_delete: true,
                ..Faults::default()
            },
            false,
        ),
        (
            "no write timeout",
            Faults {
                no_write_timeout: true,
                ..Faults::default()
            },
            false,
        ),
        (
            "stream timers not cleared",
            Faults {
                stream_timers_not_cleared: true,
                ..Faults::default()
            },
            false,
        ),
        (
            "a closed listen stream left in the subscriber index",
            Faults {
                listen_not_unregistered: true,
                ..Faults::default()
            },
            false,
        ),
        (
            "a token verification forgotten at its deadline",
            Faults {
                verification_forgotten: true,
                ..Faults::default()
            },
            false,
        ),
        (
            "no cap on detached streams",
            Faults {
                no_detached_stream_cap: true,
                ..Faults::default()
            },
            true,
        ),
    ];
    // Modern clients are in every seed's mix: seed 0 must find the listen leak.
    let listen = SimConfig {
        faults: Faults {
            listen_not_unregistered: true,
            ..Faults::default()
        },
        ..SimConfig::new(0, 2_000, 8)
    };
    let failure = Simulation::new(listen)
        .run()
        .expect_err("seed 0 catches a closed listen stream left in the subscriber index");
    assert!(failure.reason.contains("subscri"), "{}", failure.reason);
    for (name, faults, adversary) in leaks {
        let caught = (0..16).find_map(|seed| {
            let config = SimConfig {
                faults,
                adversary,
                ..SimConfig::new(seed, 2_000, 8)
            };
            Simulation::new(config).run().err()
        });
        let failure = caught.unwrap_or_else(|| panic!("{name}: no seed out of 16 caught it"));
        println!(
            "{name}: caught by seed {} at step {}: {}",
            failure.seed, failure.step, failure.reason
        );
    }
}
