//! Deterministic simulation of `mcpwire-core`: the real engine, driven at the byte level by
//! virtual clients over a simulated network with a virtual clock. One seed reproduces a run bit
//! for bit.
//!
//! Every step draws an action (client behaviour, application command, fault or time jump) with
//! weights drawn per seed, so that some seeds switch whole kinds of action off (swarm testing).
//! After every engine call the invariants must hold (every byte held for a peer recounted, every
//! cap of the byte budget kept), queued output must make the deadline "now", the heap must stay
//! within what the engine says it holds plus a constant per live entity, and a reference model
//! of live sessions must agree with the engine. At the end, the faults stop, every client
//! leaves, time runs past every deadline, and nothing may be left: no entity, no held byte, and
//! no request that was told to wait without being told to go on.
//!
//! [`ClientSimulation`] does the same for the client: the real client engine against the real
//! server engine, through cuts, stalls, lost responses, a server that restarts (404), goes down
//! or answers 503 with `Retry-After`; in its liveness phase every call has ended within its
//! deadline, no reconnect attempt is left, and both sides hold nothing. With
//! [`ClientSimConfig::auth`], the server is a protected resource and the client gets its
//! tokens through the OAuth flow, from a simulated authorization server and person that are
//! slow, fail, restart and refuse; flows, their fetches and the wait for credentials are
//! checked after every step, and once the faults stop a call must get through again.
//!
//! In adversary mode ([`SimConfig::adversary`]) the budgets are tight and the clients hostile:
//! they cut streams as fast as they can, send huge `clientInfo` and long URIs, never read.
//!
//! # Examples
//!
//! ```
//! use mcpwire_sim::{SimConfig, Simulation};
//!
//! let report = Simulation::new(SimConfig::new(7, 300, 4))
//!     .run()
//!     .expect("seed 7 passes");
//! assert_eq!(report.seed, 7);
//! ```
//!
//! # Your application under simulation
//!
//! Implement [`Application`] with your event handler and run it in place of the simulator's
//! random one. Here a tool server that answers every call on the next step; the seeds check that
//! whatever the clients do, it never leaks:
//!
//! ```
//! use mcpwire_core::engine::{Engine, Event, Reply, RequestHandle};
//! use mcpwire_core::jsonrpc::RawValue;
//! use mcpwire_core::time::Instant;
//! use mcpwire_sim::{Application, Rng, SimConfig, Simulation};
//!
//! #[derive(Default)]
//! struct EchoServer {
//!     waiting: Vec<RequestHandle>,
//! }
//!
//! impl Application for EchoServer {
//!     fn on_event(&mut self, _engine: &mut Engine, _now: Instant, event: &Event) {
//!         if let Event::Request { handle, .. } = event {
//!             self.waiting.push(*handle);
//!         }
//!     }
//!
//!     fn on_step(&mut self, engine: &mut Engine, now: Instant, _rng: &mut Rng) {
//!         for handle in self.waiting.drain(..) {
//!             let result = RawValue::from_string(r#"{"content":[]}"#.into()).unwrap();
//!             // The client may have gone: a stale handle is an answer, not an error to handle.
//!             let _ = engine.respond(now, handle, &Reply::Result(result));
//!         }
//!     }
//! }
//!
//! for seed in 0..4 {
//!     Simulation::new(SimConfig::new(seed, 500, 8))
//!         .with_application(EchoServer::default())
//!         .run()
//!         .unwrap_or_else(|failure| panic!("seed {seed}: {}", failure.reason));
//! }
//! ```

mod client_auth;
mod client_sim;
mod counting;
mod rng;
mod simulation;

pub use client_auth::{AuthFault, AuthReport};
pub use client_sim::{ClientReport, ClientSimConfig, ClientSimulation};
pub use counting::{CountingAllocator, live_heap_bytes};
pub use rng::{Rng, TraceHash};
pub use simulation::{Application, Failure, Report, SimConfig, Simulation};

/// The committed regressions (`tests/sim/regressions.txt`) as `(seed, steps, clients)`: runs
/// that once failed, replayed before anything else.
#[must_use]
pub fn regressions() -> Vec<(u64, u64, usize)> {
    include_str!("../regressions.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u64>);
            Some((
                fields.next()?.ok()?,
                fields.next()?.ok()?,
                fields.next()?.ok()? as usize,
            ))
        })
        .collect()
}

/// The fewest steps after which `seed` still fails (with `clients`), by bisection over the
/// steps of a run known to fail at `steps`. Runs are prefixes of one another (the seed decides
/// every action), so a shorter failing run is a shorter trace of the same failure, or of one
/// found on the way there.
#[must_use]
pub fn minimize(
    seed: u64,
    steps: u64,
    clients: usize,
    heap: Option<fn() -> usize>,
    adversary: bool,
) -> u64 {
    let fails = |steps| {
        let config = SimConfig {
            heap,
            adversary,
            ..SimConfig::new(seed, steps, clients)
        };
        Simulation::new(config).run().is_err()
    };
    let (mut passing, mut failing) = (0, steps);
    while failing - passing > 1 {
        let mid = passing + (failing - passing) / 2;
        if fails(mid) {
            failing = mid;
        } else {
            passing = mid;
        }
    }
    failing
}
