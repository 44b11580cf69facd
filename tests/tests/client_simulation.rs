//! The client simulator under `cargo test`: the real client against the real server through
//! faults, seeds in every era, reproducible, and able to find a forgotten reconnect attempt.

use mcpwire_core::client::ClientFaults;
use mcpwire_sim::{ClientSimConfig, ClientSimulation};

fn run(config: ClientSimConfig) -> mcpwire_sim::ClientReport {
    ClientSimulation::new(config).run().unwrap_or_else(|f| {
        panic!(
            "client seed {} failed at step {}: {}\n  recent: {:#?}",
            f.seed, f.step, f.reason, f.recent
        )
    })
}

#[test]
fn client_seeds_pass_safety_and_liveness() {
    let mut restarts = 0;
    let mut lost = 0;
    for seed in 0..24 {
        let report = run(ClientSimConfig::new(seed, 800));
        assert!(report.calls.0 > 0, "seed {seed} made no calls");
        assert_eq!(
            report.calls.0,
            report.calls.1 + report.calls.2,
            "seed {seed}: one outcome per call"
        );
        restarts += report.restarts;
        lost += report.sessions_lost;
    }
    assert!(
        restarts > 0 && lost > 0,
        "the faults happened: {restarts} restarts, {lost} sessions lost"
    );
}

#[test]
fn one_client_seed_reproduces_its_run() {
    for seed in [5, 17] {
        assert_eq!(
            run(ClientSimConfig::new(seed, 500)),
            run(ClientSimConfig::new(seed, 500))
        );
    }
}

/// The proof that the client simulation can fail: a client that forgets its backoff timer
/// when it closes is caught within a few seeds.
#[test]
fn a_forgotten_reconnect_attempt_is_caught() {
    let faults = ClientFaults {
        forget_retry_timer_on_close: true,
    };
    let caught = (0..16).find(|&seed| {
        ClientSimulation::new(ClientSimConfig {
            faults,
            ..ClientSimConfig::new(seed, 800)
        })
        .run()
        .is_err()
    });
    assert!(
        caught.is_some(),
        "no seed of 16 caught the forgotten attempt"
    );
}
