//! Timers: a small fixed [`TimerTable`] inside every entity, and one [`TimerQueue`] per family
//! of entities that answers "what fires next?" in O(log n).
//!
//! The two are kept in step by construction: a table can only be changed through the queue
//! ([`TimerQueue::set`], [`TimerQueue::stop`], [`TimerQueue::stop_all`],
//! [`TimerQueue::pop_expired`]), so an entity's own view of its deadlines and the global index
//! never disagree. Ending an entity calls [`TimerQueue::stop_all`] with its table, which leaves
//! nothing behind; [`TimerQueue::check_table`] lets `check_invariants` prove it.
//!
//! Ties are broken by owner, then kind, so expiry order is deterministic.
//!
//! # Examples
//!
//! ```
//! use mcpwire_core::time::{Duration, Instant};
//! use mcpwire_core::timer::{TimerKind, TimerQueue, TimerTable};
//!
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
//! enum SessionTimer { Idle, Heartbeat }
//!
//! impl TimerKind for SessionTimer {
//!     const ALL: &'static [Self] = &[SessionTimer::Idle, SessionTimer::Heartbeat];
//!     fn slot(self) -> usize { self as usize }
//! }
//!
//! let mut queue: TimerQueue<u64, SessionTimer> = TimerQueue::new();
//! let mut session_7: TimerTable<SessionTimer, 2> = TimerTable::new();
//! let t0 = Instant::from_millis(0);
//!
//! queue.set(&mut session_7, 7, SessionTimer::Idle, t0 + Duration::from_secs(300));
//! queue.set(&mut session_7, 7, SessionTimer::Heartbeat, t0 + Duration::from_secs(30));
//! assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_secs(30)));
//!
//! // Time passes; the heartbeat fires and is disarmed in the same step.
//! let now = t0 + Duration::from_secs(31);
//! let fired = queue.pop_expired(now, &mut session_7, |table, id| (id == 7).then_some(table));
//! assert_eq!(fired, Some((7, SessionTimer::Heartbeat)));
//!
//! // The session ends: every timer goes with it.
//! assert_eq!(queue.stop_all(&mut session_7, 7), 1);
//! assert!(queue.is_empty());
//! ```

use alloc::collections::BTreeSet;
use core::fmt;
use core::marker::PhantomData;

use crate::invariant::InvariantViolation;
use crate::time::Instant;

/// The timers one kind of entity can hold, each with its own slot in a [`TimerTable`].
pub trait TimerKind: Copy + Ord + fmt::Debug + 'static {
    /// Every kind, listed in slot order: `ALL[k.slot()] == k`.
    const ALL: &'static [Self];

    /// This kind's index in a [`TimerTable`], below `ALL.len()`.
    fn slot(self) -> usize;
}

/// One entity's deadlines: a fixed array with a slot per [`TimerKind`], no allocation.
///
/// `N` must equal `T::ALL.len()`; a mismatch fails to compile when the table is created.
/// The table is read-only from outside this module: change it through its [`TimerQueue`].
pub struct TimerTable<T: TimerKind, const N: usize> {
    deadlines: [Option<Instant>; N],
    kind: PhantomData<T>,
}

impl<T: TimerKind, const N: usize> TimerTable<T, N> {
    /// A table with nothing armed.
    #[must_use]
    pub const fn new() -> Self {
        const {
            assert!(
                T::ALL.len() == N,
                "TimerTable size must equal TimerKind::ALL.len()"
            )
        };
        TimerTable {
            deadlines: [None; N],
            kind: PhantomData,
        }
    }

    /// The deadline of `kind`, if armed.
    #[must_use]
    pub fn get(&self, kind: T) -> Option<Instant> {
        self.deadlines[kind.slot()]
    }

    /// Every armed timer with its deadline, in slot order.
    pub fn armed(&self) -> impl Iterator<Item = (T, Instant)> + '_ {
        T::ALL
            .iter()
            .zip(self.deadlines.iter())
            .filter_map(|(&kind, deadline)| deadline.map(|at| (kind, at)))
    }

    /// How many timers are armed.
    #[must_use]
    pub fn armed_count(&self) -> usize {
        self.deadlines.iter().filter(|d| d.is_some()).count()
    }

    /// The earliest armed deadline.
    #[must_use]
    pub fn earliest(&self) -> Option<(T, Instant)> {
        self.armed().min_by_key(|&(kind, at)| (at, kind))
    }

    fn replace(&mut self, kind: T, deadline: Option<Instant>) -> Option<Instant> {
        core::mem::replace(&mut self.deadlines[kind.slot()], deadline)
    }
}

impl<T: TimerKind, const N: usize> Default for TimerTable<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: TimerKind, const N: usize> fmt::Debug for TimerTable<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.armed()).finish()
    }
}

/// The deadline index for one family of entities: every armed timer of every owner, ordered by
/// deadline.
///
/// `O` names the owner (a session id, a connection id); `T` is the family's [`TimerKind`].
#[derive(Clone)]
pub struct TimerQueue<O, T> {
    by_deadline: BTreeSet<(Instant, O, T)>,
}

impl<O: Ord + Copy + fmt::Debug, T: TimerKind> TimerQueue<O, T> {
    /// An empty index.
    #[must_use]
    pub const fn new() -> Self {
        TimerQueue {
            by_deadline: BTreeSet::new(),
        }
    }

    /// Arms `kind` of `owner` to fire at `deadline`, replacing any earlier setting.
    ///
    /// A deadline of [`Instant::MAX`] never fires, so it disarms instead: an index entry that
    /// can never be popped would only be a leak with a respectable name.
    pub fn set<const N: usize>(
        &mut self,
        table: &mut TimerTable<T, N>,
        owner: O,
        kind: T,
        deadline: Instant,
    ) {
        if deadline == Instant::MAX {
            self.stop(table, owner, kind);
            return;
        }
        if let Some(previous) = table.replace(kind, Some(deadline)) {
            self.by_deadline.remove(&(previous, owner, kind));
        }
        self.by_deadline.insert((deadline, owner, kind));
    }

    /// Disarms `kind` of `owner`, returning the deadline it had.
    pub fn stop<const N: usize>(
        &mut self,
        table: &mut TimerTable<T, N>,
        owner: O,
        kind: T,
    ) -> Option<Instant> {
        let previous = table.replace(kind, None)?;
        self.by_deadline.remove(&(previous, owner, kind));
        Some(previous)
    }

    /// Disarms every timer of `owner`, returning how many were armed. Call it whenever the
    /// owner ends.
    pub fn stop_all<const N: usize>(&mut self, table: &mut TimerTable<T, N>, owner: O) -> usize {
        let mut stopped = 0;
        for &kind in T::ALL {
            if self.stop(table, owner, kind).is_some() {
                stopped += 1;
            }
        }
        stopped
    }

    /// The earliest armed deadline of any owner.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|&(at, _, _)| at)
    }

    /// Removes and returns the earliest timer whose deadline is at or before `now`, clearing it
    /// from its owner's table in the same step. `table_of` finds an owner's table in `owners`
    /// (the family's primary map).
    ///
    /// An index entry whose owner `table_of` cannot find would be a timer that outlived its
    /// entity. It is dropped rather than returned, and `check_invariants` reports the bug
    /// before it ever gets here.
    pub fn pop_expired<M: ?Sized, const N: usize>(
        &mut self,
        now: Instant,
        owners: &mut M,
        table_of: impl Fn(&mut M, O) -> Option<&mut TimerTable<T, N>>,
    ) -> Option<(O, T)> {
        while let Some(&(at, owner, kind)) = self.by_deadline.first() {
            if at > now {
                return None;
            }
            self.by_deadline.pop_first();
            if let Some(table) = table_of(owners, owner) {
                if table.get(kind) == Some(at) {
                    table.replace(kind, None);
                    return Some((owner, kind));
                }
            }
        }
        None
    }

    /// How many timers are armed in this family.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_deadline.len()
    }

    /// Whether no timer is armed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_deadline.is_empty()
    }

    /// Every armed timer, earliest first.
    pub fn iter(&self) -> impl Iterator<Item = (Instant, O, T)> + '_ {
        self.by_deadline.iter().copied()
    }

    /// Checks that every timer armed in `owner`'s table is in the index at the same deadline,
    /// and returns how many there are. `check_invariants` sums these over every live owner and
    /// compares the sum with [`TimerQueue::len`]: equal sums mean no index entry belongs to a
    /// dead owner.
    pub fn check_table<const N: usize>(
        &self,
        owner: O,
        table: &TimerTable<T, N>,
    ) -> Result<usize, InvariantViolation> {
        let mut armed = 0;
        for (kind, at) in table.armed() {
            if !self.by_deadline.contains(&(at, owner, kind)) {
                return Err(InvariantViolation::new(alloc::format!(
                    "{owner:?} has {kind:?} armed for {at:?} but the deadline index lacks it"
                )));
            }
            armed += 1;
        }
        Ok(armed)
    }
}

impl<O: Ord + Copy + fmt::Debug, T: TimerKind> Default for TimerQueue<O, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O: fmt::Debug, T: fmt::Debug> fmt::Debug for TimerQueue<O, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.by_deadline.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Kind {
        Idle,
        Write,
        Keepalive,
    }

    impl TimerKind for Kind {
        const ALL: &'static [Self] = &[Kind::Idle, Kind::Write, Kind::Keepalive];
        fn slot(self) -> usize {
            self as usize
        }
    }

    type Table = TimerTable<Kind, 3>;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn rearming_replaces_the_old_deadline() {
        let mut q = TimerQueue::new();
        let mut t = Table::new();
        q.set(&mut t, 1u32, Kind::Idle, at(100));
        q.set(&mut t, 1u32, Kind::Idle, at(50));
        assert_eq!(q.len(), 1);
        assert_eq!(t.get(Kind::Idle), Some(at(50)));
        assert_eq!(q.next_deadline(), Some(at(50)));
        assert_eq!(q.check_table(1, &t), Ok(1));
    }

    #[test]
    fn setting_the_end_of_time_disarms() {
        let mut q = TimerQueue::new();
        let mut t = Table::new();
        q.set(&mut t, 1u32, Kind::Write, at(10));
        q.set(&mut t, 1u32, Kind::Write, Instant::MAX);
        assert!(q.is_empty());
        assert_eq!(t.armed_count(), 0);
    }

    #[test]
    fn pops_in_deadline_then_owner_then_kind_order() {
        let mut q = TimerQueue::new();
        let mut tables: BTreeMap<u32, Table> = BTreeMap::new();
        for owner in [3u32, 1, 2] {
            let t = tables.entry(owner).or_default();
            q.set(t, owner, Kind::Keepalive, at(20));
            q.set(t, owner, Kind::Idle, at(20));
        }
        q.set(tables.get_mut(&2).unwrap(), 2, Kind::Write, at(5));
        let mut fired = Vec::new();
        while let Some(hit) = q.pop_expired(at(20), &mut tables, |m, o| m.get_mut(&o)) {
            fired.push(hit);
        }
        assert_eq!(
            fired,
            [
                (2, Kind::Write),
                (1, Kind::Idle),
                (1, Kind::Keepalive),
                (2, Kind::Idle),
                (2, Kind::Keepalive),
                (3, Kind::Idle),
                (3, Kind::Keepalive),
            ]
        );
        assert!(q.is_empty());
        assert!(tables.values().all(|t| t.armed_count() == 0));
    }

    #[test]
    fn nothing_fires_before_its_deadline() {
        let mut q = TimerQueue::new();
        let mut t = Table::new();
        q.set(&mut t, 9u32, Kind::Idle, at(1_000));
        assert_eq!(q.pop_expired(at(999), &mut t, |t, _| Some(t)), None);
        assert_eq!(q.len(), 1);
        assert_eq!(
            q.pop_expired(at(1_000), &mut t, |t, _| Some(t)),
            Some((9, Kind::Idle))
        );
    }

    #[test]
    fn stop_all_leaves_no_timer_behind() {
        let mut q = TimerQueue::new();
        let mut keep = Table::new();
        let mut end = Table::new();
        q.set(&mut keep, 1u32, Kind::Idle, at(7));
        for kind in Kind::ALL {
            q.set(&mut end, 2u32, *kind, at(3));
        }
        assert_eq!(q.stop_all(&mut end, 2), 3);
        assert_eq!(q.stop_all(&mut end, 2), 0);
        assert_eq!(q.len(), 1);
        assert_eq!(end.armed_count(), 0);
        assert_eq!(q.iter().collect::<Vec<_>>(), [(at(7), 1, Kind::Idle)]);
    }

    #[test]
    fn an_orphaned_entry_is_found_by_the_check_and_never_returned() {
        let mut q = TimerQueue::new();
        let mut live = Table::new();
        q.set(&mut live, 1u32, Kind::Idle, at(10));
        {
            // An entity that goes away without stop_all: the sum of live tables no longer
            // matches the index.
            let mut dead = Table::new();
            q.set(&mut dead, 2u32, Kind::Idle, at(5));
        }
        let live_sum = q.check_table(1, &live).unwrap();
        assert_ne!(live_sum, q.len());
        let popped = q.pop_expired(at(10), &mut live, |t, o| (o == 1).then_some(t));
        assert_eq!(popped, Some((1, Kind::Idle)));
        assert!(q.is_empty());
    }

    #[test]
    fn check_table_reports_a_table_the_index_lost() {
        let q: TimerQueue<u32, Kind> = TimerQueue::new();
        let mut other = TimerQueue::new();
        let mut t = Table::new();
        other.set(&mut t, 4u32, Kind::Keepalive, at(1));
        let err = q.check_table(4, &t).unwrap_err();
        assert!(err.message().contains("Keepalive"), "{err}");
    }

    #[test]
    fn earliest_and_debug_views() {
        let mut q = TimerQueue::new();
        let mut t = Table::new();
        q.set(
            &mut t,
            1u8,
            Kind::Keepalive,
            at(5) + Duration::from_millis(1),
        );
        q.set(&mut t, 1u8, Kind::Write, at(6));
        assert_eq!(t.earliest(), Some((Kind::Write, at(6))));
        assert_eq!(alloc::format!("{t:?}"), "{Write: t+6ms, Keepalive: t+6ms}");
    }
}
