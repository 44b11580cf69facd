//! The adapter's half of the leak proof. The engine checks its own tables
//! (`Engine::check_invariants`); the driver checks that every request the engine holds in
//! flight is owned here (a handler at work, or its reply on the way), that nothing is kept
//! here for a request that ended, and that no input was taken from the queue without being
//! served. A request that nobody owns would stay in flight until its client gave up, keep its
//! session alive and make every shutdown wait out its grace period.

use mcpwire_core::InvariantViolation;
use mcpwire_core::engine::{RequestHandle, VerificationId};

use super::{Driver, Parked};

/// What the ownership check found: all zero on a healthy server, always.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ownership {
    /// Requests the engine holds in flight with no handler and no reply waiting here, and
    /// token verifications with no verifier at work.
    pub(crate) unowned_requests: u64,
    /// Handler tasks and waiting messages kept for requests that ended, and verifier tasks for
    /// verifications that ended.
    pub(crate) ownerless_tasks: u64,
    /// Inputs taken from the queue and never served (a socket, a reply, a command...).
    pub(crate) lost_inputs: u64,
}

impl Ownership {
    pub(crate) fn check(&self) -> Result<(), InvariantViolation> {
        if *self == Ownership::default() {
            return Ok(());
        }
        Err(InvariantViolation::new(format!(
            "{} requests in flight have no handler and no reply waiting; {} handler tasks or \
             waiting messages belong to requests that ended; {} inputs were taken and never \
             served",
            self.unowned_requests, self.ownerless_tasks, self.lost_inputs
        )))
    }
}

impl Driver {
    /// Checks that every request in flight is owned, and nothing is kept for one that ended.
    ///
    /// A request is owned by its handler's entry until its reply is served: the task runs, or
    /// it has ended and its reply is in the input queue (a task ends only once its reply is
    /// queued, and every input taken from the queue is served, which `lost_inputs` proves),
    /// or the reply waits here for room on the request's stream. Events not handled yet are
    /// handled first, so that a request just announced has its handler.
    pub(crate) fn check_ownership(&mut self) -> Ownership {
        if self.checking {
            // A scrape handled while the check drains events: the check in progress answers.
            return Ownership::default();
        }
        self.checking = true;
        self.drain();
        self.checking = false;
        let mut held: Vec<RequestHandle> = self.engine.inflight_requests().collect();
        held.sort_unstable();
        let unowned = held.iter().filter(|handle| {
            let reply_waiting = self.parked.get(handle).is_some_and(|waiting| {
                waiting
                    .iter()
                    .any(|parked| matches!(parked, Parked::Reply(_)))
            });
            !self.handlers.contains_key(handle) && !reply_waiting
        });
        let ended = |handle: &&RequestHandle| held.binary_search(handle).is_err();
        // Token verifications the same way: each has its task until its verdict is served.
        let mut verifying: Vec<VerificationId> = self.engine.pending_verifications().collect();
        verifying.sort_unstable();
        let unverified = verifying
            .iter()
            .filter(|id| !self.verifications.contains_key(id))
            .count();
        let stale_verifiers = self
            .verifications
            .keys()
            .filter(|id| verifying.binary_search(id).is_err())
            .count();
        Ownership {
            unowned_requests: (unowned.count() + unverified) as u64,
            ownerless_tasks: (self.handlers.keys().filter(ended).count()
                + self.parked.keys().filter(ended).count()
                + stale_verifiers) as u64,
            lost_inputs: self.lost_inputs,
        }
    }
}
