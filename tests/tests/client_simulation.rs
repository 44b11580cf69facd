//! The client simulator under `cargo test`: the real client against the real server through
//! faults, seeds in every era, with and without OAuth, reproducible, and able to find a
//! forgotten reconnect attempt and a broken OAuth driver.

use mcpwire_core::client::ClientFaults;
use mcpwire_sim::{AuthFault, ClientSimConfig, ClientSimulation};

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

#[test]
fn oauth_seeds_pass_safety_and_liveness() {
    let mut total = mcpwire_sim::AuthReport::default();
    for seed in 0..16 {
        let report = run(ClientSimConfig::with_auth(seed, 800));
        assert_eq!(
            report.calls.0,
            report.calls.1 + report.calls.2,
            "seed {seed}: one outcome per call"
        );
        let a = report.auth;
        assert!(a.flows.1 > 0, "seed {seed}: no flow got tokens");
        total.required.1 += a.required.1;
        total.flows.2 += a.flows.2;
        total.stale += a.stale;
        total.server.0 += a.server.0;
        total.server.2 += a.server.2;
    }
    assert!(
        total.required.1 > 0
            && total.flows.2 > 0
            && total.stale > 0
            && total.server.0 > 0
            && total.server.2 > 0,
        "the step-ups, failed flows, late answers, restarts and refreshes happened: {total:?}"
    );
}

#[test]
fn one_oauth_seed_reproduces_its_run() {
    assert_eq!(
        run(ClientSimConfig::with_auth(9, 500)),
        run(ClientSimConfig::with_auth(9, 500))
    );
}

/// The proof that the OAuth checks can fail: a driver that does not report a failed flow
/// leaves the client waiting with no flow, and one that ignores a flow's deadline leaves the
/// flow running past it; each is caught within a few seeds.
#[test]
fn a_broken_oauth_driver_is_caught() {
    for fault in [AuthFault::ForgetFailure, AuthFault::IgnoreFlowDeadline] {
        let caught = (0..8).find_map(|seed| {
            ClientSimulation::new(ClientSimConfig {
                auth_fault: Some(fault),
                ..ClientSimConfig::with_auth(seed, 800)
            })
            .run()
            .err()
        });
        let failure = caught.unwrap_or_else(|| panic!("no seed of 8 caught {fault}"));
        let expected = match fault {
            AuthFault::ForgetFailure => "waits for credentials and no flow runs",
            AuthFault::IgnoreFlowDeadline => "outlived its deadline",
        };
        assert!(
            failure.reason.contains(expected),
            "{fault}: {}",
            failure.reason
        );
    }
}
