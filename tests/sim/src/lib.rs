//! Deterministic simulation of `mcpwire-core`: the real engine, driven at the byte level by
//! virtual clients over a simulated network with a virtual clock. One seed reproduces a run bit
//! for bit.
//!
//! Every step draws an action (client behaviour, application command, fault or time jump) with
//! weights drawn per seed, so that some seeds switch whole kinds of action off (swarm testing).
//! After every engine call the invariants must hold, queued output must make the deadline
//! "now", and a reference model of live sessions must agree with the engine. At the end, the
//! faults stop, every client leaves, time runs past every deadline, and nothing may be left.
//!
//! # Examples
//!
//! ```
//! use mcpwire_sim::{SimConfig, Simulation};
//!
//! let report = Simulation::new(SimConfig { seed: 7, steps: 300, clients: 4, trace: false, heap: None })
//!     .run()
//!     .expect("seed 7 passes");
//! assert_eq!(report.seed, 7);
//! ```

mod rng;
mod simulation;

pub use rng::{Rng, TraceHash};
pub use simulation::{Failure, Report, SimConfig, Simulation};
