//! Verifying bearer tokens, as the engine sees it: it asks ([`Event::VerifyToken`]) and is told
//! ([`Engine::token_verified`]); it never verifies anything itself.
//!
//! [`Verifications`] owns its indexes and is tested without an engine:
//!
//! - **Pending verifications**, one per token being verified, each with its deadline and the
//!   exchanges waiting for its verdict. A burst of requests carrying the same token asks the
//!   application once. Bounded in count by the engine (`Limits::max_pending_verifications`);
//!   what each holds is charged to the budget.
//! - **Grants**: the verdicts that granted access, kept until the token expires or
//!   `Timeouts::grant_cache` passes, whichever comes first, so that a client's every request
//!   does not cost a verification. Keyed by the SHA-256 of the token: the engine keeps no
//!   token. Bounded in count (`Limits::max_cached_grants`; the one that expires soonest makes
//!   room) and charged to the budget.
//!
//! [`Event::VerifyToken`]: super::super::Event::VerifyToken
//! [`Engine::token_verified`]: super::super::Engine::token_verified

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use sha2::Digest as _;

use super::super::entities::VerificationTimer;
use super::super::ids::{ExchangeId, VerificationId};
use super::super::slab::Slab;
use crate::invariant::{InvariantViolation, ensure};
use crate::time::{Duration, Instant};
use crate::timer::{TimerQueue, TimerTable};

/// A token, as the engine keeps it: its SHA-256.
pub(crate) type TokenDigest = [u8; 32];

/// The digest of `token`.
pub(crate) fn digest(token: &str) -> TokenDigest {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// What the application decided about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The token is valid for this resource.
    Granted(Grant),
    /// The token is not valid for this resource (malformed, expired, not yet valid, signed by
    /// an unknown key, issued by another server or for another audience, revoked): `401` with
    /// `error="invalid_token"` and this description, which the client sees.
    Refused(String),
    /// The token could not be verified now (the authorization server is unreachable, its keys
    /// could not be fetched): `503` with `Retry-After`, nothing cached.
    Unavailable,
}

/// A token the application verified: who it was issued to, what it allows, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    /// Who the token stands for, as the application names it (an issuer and a subject,
    /// say). Sessions, listen streams and input-required states are bound to it: a token
    /// for another principal gets `404` for them; a fresh token for the same one keeps them.
    pub principal: String,
    /// The scopes the token carries.
    pub scopes: Vec<String>,
    /// How much longer the token is valid (its expiry, less the time now). `None` when it
    /// does not expire: the grant is then kept for `Timeouts::grant_cache` only.
    pub valid_for: Option<Duration>,
}

impl Grant {
    /// A grant to `principal` with `scopes`, valid for `valid_for`.
    #[must_use]
    pub fn new(
        principal: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
        valid_for: Option<Duration>,
    ) -> Grant {
        Grant {
            principal: principal.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            valid_for,
        }
    }
}

/// A grant as exchanges carry it: shared, with the moment it stops being valid.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Granted {
    pub(crate) principal: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires: Instant,
}

impl Granted {
    /// Bytes it holds, charged while it is cached.
    pub(crate) fn bytes(&self) -> usize {
        GRANT_BYTES + self.principal.len() + self.scopes.iter().map(|s| s.len() + 24).sum::<usize>()
    }

    /// Whether it carries every one of `scopes`; those it lacks otherwise.
    pub(crate) fn missing<'a>(&self, scopes: &[&'a str]) -> Vec<&'a str> {
        scopes
            .iter()
            .copied()
            .filter(|needed| !self.scopes.iter().any(|s| s == needed))
            .collect()
    }
}

/// A cached grant's fixed cost: its record, and its place in two indexes.
pub(crate) const GRANT_BYTES: usize = 192;

/// A pending verification's fixed cost: its record and indexes, and the token the application
/// holds while it verifies.
pub(crate) const PENDING_BYTES: usize = 160;

/// One token being verified.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) digest: TokenDigest,
    /// Exchanges waiting for the verdict, in arrival order. An exchange that ends first is
    /// taken out; when the last one is, the verification ends (the engine tells the
    /// application to stop).
    pub(crate) waiters: Vec<ExchangeId>,
    /// Bytes charged for it (`PENDING_BYTES` and the token).
    pub(crate) held: usize,
    pub(crate) timers: TimerTable<VerificationTimer, 1>,
}

/// Pending verifications and cached grants.
#[derive(Default)]
pub(crate) struct Verifications {
    pub(crate) pending: Slab<VerificationId, Pending>,
    by_digest: BTreeMap<TokenDigest, VerificationId>,
    pub(crate) timers: TimerQueue<VerificationId, VerificationTimer>,
    grants: BTreeMap<TokenDigest, Arc<Granted>>,
    /// The grants by expiry, soonest first.
    expiry: BTreeSet<(Instant, TokenDigest)>,
    /// What the cached grants hold.
    grant_bytes: usize,
}

impl Verifications {
    // ---- Grants ----

    /// The grant cached for `digest`, if it is still valid at `now`.
    pub(crate) fn grant(&self, digest: &TokenDigest, now: Instant) -> Option<Arc<Granted>> {
        self.grants.get(digest).filter(|g| g.expires > now).cloned()
    }

    /// Caches `granted` for `digest`, within `max` grants: the one that expires soonest makes
    /// room. Returns the bytes released and charged.
    pub(crate) fn cache(
        &mut self,
        digest: TokenDigest,
        granted: Arc<Granted>,
        max: usize,
    ) -> (usize, usize) {
        if max == 0 {
            return (0, 0);
        }
        let mut released = self.forget_grant(&digest);
        while self.grants.len() >= max {
            let Some(&(_, soonest)) = self.expiry.first() else {
                break;
            };
            released += self.forget_grant(&soonest);
        }
        let charged = granted.bytes();
        self.expiry.insert((granted.expires, digest));
        self.grants.insert(digest, granted);
        self.grant_bytes += charged;
        (released, charged)
    }

    /// Drops the grants expired at `now`; returns the bytes released.
    pub(crate) fn expire_grants(&mut self, now: Instant) -> usize {
        let mut released = 0;
        while let Some(&(expires, digest)) = self.expiry.first() {
            if expires > now {
                break;
            }
            released += self.forget_grant(&digest);
        }
        released
    }

    /// When the next grant expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|&(at, _)| at)
    }

    fn forget_grant(&mut self, digest: &TokenDigest) -> usize {
        let Some(granted) = self.grants.remove(digest) else {
            return 0;
        };
        self.expiry.remove(&(granted.expires, *digest));
        let bytes = granted.bytes();
        self.grant_bytes -= bytes;
        bytes
    }

    /// Drops every grant; returns the bytes released.
    pub(crate) fn forget_grants(&mut self) -> usize {
        self.grants.clear();
        self.expiry.clear();
        core::mem::take(&mut self.grant_bytes)
    }

    pub(crate) fn grants(&self) -> usize {
        self.grants.len()
    }

    pub(crate) fn grant_bytes(&self) -> usize {
        self.grant_bytes
    }

    // ---- Pending verifications ----

    /// The verification under way for `digest`, if there is one.
    pub(crate) fn pending_for(&self, digest: &TokenDigest) -> Option<VerificationId> {
        self.by_digest.get(digest).copied()
    }

    /// Starts verifying the token of `digest` for `waiter`, until `deadline`.
    pub(crate) fn start(
        &mut self,
        digest: TokenDigest,
        waiter: ExchangeId,
        held: usize,
        deadline: Instant,
    ) -> VerificationId {
        let id = self.pending.vacant_key();
        let mut timers = TimerTable::new();
        self.timers
            .set(&mut timers, id, VerificationTimer::Timeout, deadline);
        self.pending.insert_at(
            id,
            Pending {
                digest,
                waiters: alloc::vec![waiter],
                held,
                timers,
            },
        );
        self.by_digest.insert(digest, id);
        id
    }

    /// Ends a verification: its timer and its index entry go with it.
    pub(crate) fn finish(&mut self, id: VerificationId) -> Option<Pending> {
        let mut pending = self.pending.remove(id)?;
        self.timers.stop_all(&mut pending.timers, id);
        self.by_digest.remove(&pending.digest);
        Some(pending)
    }

    /// Takes `exchange` off `id`'s waiters.
    /// Whether nobody waits for the verification any more.
    pub(crate) fn leave(&mut self, id: VerificationId, exchange: ExchangeId) -> bool {
        let Some(pending) = self.pending.get_mut(id) else {
            return false;
        };
        pending.waiters.retain(|&w| w != exchange);
        pending.waiters.is_empty()
    }

    /// Waiting exchanges, over every verification.
    pub(crate) fn waiting(&self) -> usize {
        self.pending.values().map(|p| p.waiters.len()).sum()
    }

    /// Checks every index against the tables.
    pub(crate) fn check(&self) -> Result<usize, InvariantViolation> {
        if let Err(why) = self.pending.check() {
            return Err(InvariantViolation::new(alloc::format!(
                "verifications: {why}"
            )));
        }
        let mut timers = 0;
        for (id, pending) in self.pending.iter() {
            ensure!(
                self.by_digest.get(&pending.digest) == Some(&id),
                "{id} is missing from the index by token"
            );
            let armed = self.timers.check_table(id, &pending.timers)?;
            ensure!(armed == 1, "{id} has no deadline");
            timers += armed;
        }
        ensure!(
            self.by_digest.len() == self.pending.len(),
            "the index by token lists {} verifications but {} are pending",
            self.by_digest.len(),
            self.pending.len()
        );
        ensure!(
            self.expiry.len() == self.grants.len()
                && self
                    .expiry
                    .iter()
                    .all(|(at, d)| self.grants.get(d).is_some_and(|g| g.expires == *at)),
            "the grants' expiry index disagrees with the grants"
        );
        let bytes: usize = self.grants.values().map(|g| g.bytes()).sum();
        ensure!(
            bytes == self.grant_bytes,
            "the grants are counted {} bytes but hold {bytes}",
            self.grant_bytes
        );
        Ok(timers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(expires: u64) -> Arc<Granted> {
        Arc::new(Granted {
            principal: "ada".into(),
            scopes: alloc::vec!["mcp".into()],
            expires: Instant::from_millis(expires),
        })
    }

    #[test]
    fn grants_expire_and_the_soonest_makes_room() {
        let mut v = Verifications::default();
        let (a, b, c) = (digest("a"), digest("b"), digest("c"));
        v.cache(a, granted(300), 2);
        v.cache(b, granted(100), 2);
        assert!(v.grant(&b, Instant::from_millis(99)).is_some());
        assert!(v.grant(&b, Instant::from_millis(100)).is_none(), "expired");
        let (released, charged) = v.cache(c, granted(200), 2);
        assert_eq!(released, charged, "b, the soonest, made room");
        assert!(v.grant(&b, Instant::ZERO).is_none());
        assert_eq!(v.next_expiry(), Some(Instant::from_millis(200)));
        v.check().unwrap();
        v.expire_grants(Instant::from_millis(250));
        assert_eq!(v.grants(), 1);
        assert!(v.grant(&a, Instant::ZERO).is_some());
        v.check().unwrap();
        assert_eq!(v.forget_grants(), granted(0).bytes());
        assert_eq!(v.grant_bytes(), 0);
        v.check().unwrap();
    }

    #[test]
    fn a_cache_of_none_keeps_nothing() {
        let mut v = Verifications::default();
        assert_eq!(v.cache(digest("a"), granted(9), 0), (0, 0));
        assert_eq!(v.grants(), 0);
    }

    #[test]
    fn a_verification_ends_with_its_timer_and_index() {
        let mut v = Verifications::default();
        let token = digest("t");
        let id = v.start(token, ExchangeId(1), 200, Instant::from_millis(10));
        assert_eq!(v.pending_for(&token), Some(id));
        v.pending.get_mut(id).unwrap().waiters.push(ExchangeId(2));
        v.leave(id, ExchangeId(1));
        assert_eq!(v.waiting(), 1);
        assert_eq!(v.check().unwrap(), 1);
        let pending = v.finish(id).unwrap();
        assert_eq!(pending.waiters, [ExchangeId(2)]);
        assert_eq!(v.pending_for(&token), None);
        assert!(v.timers.is_empty());
        v.check().unwrap();
    }
}
