//! [`ResumeLog`]: the events a stream keeps so that a client can resume it with
//! `Last-Event-ID`, bounded by count and bytes (oldest dropped first).

use alloc::collections::VecDeque;
use alloc::sync::Arc;

/// What an entry costs beyond its body: its slot in the log and the shared body's header.
pub(crate) const ENTRY_BYTES: usize = 40;

/// What keeping `body` costs a log.
fn cost(body: &[u8]) -> usize {
    body.len() + ENTRY_BYTES
}

/// A bounded log of `(sequence number, encoded event body)`.
///
/// Bodies are shared: a broadcast logged in 10,000 streams is stored once. The byte bound
/// counts each body in full anyway (and each entry's slot), so a log's bound holds whatever
/// else shares its events.
#[derive(Debug, Default)]
pub(crate) struct ResumeLog {
    events: VecDeque<(u64, Arc<[u8]>)>,
    bytes: usize,
    dropped: u64,
}

impl ResumeLog {
    /// Appends event `seq`, dropping the oldest events while over `max_events` or `max_bytes`.
    /// Returns the bytes dropped (the new event's own, when it alone is over `max_bytes`).
    #[must_use]
    pub(crate) fn push(
        &mut self,
        seq: u64,
        body: Arc<[u8]>,
        max_events: usize,
        max_bytes: usize,
    ) -> usize {
        self.bytes += cost(&body);
        self.events.push_back((seq, body));
        let mut dropped = 0;
        while self.events.len() > max_events || (self.bytes > max_bytes && self.events.len() > 1) {
            dropped += self.drop_oldest().unwrap_or(0);
        }
        if self.bytes > max_bytes {
            dropped += self.drop_oldest().unwrap_or(0);
        }
        dropped
    }

    /// Drops the oldest event; returns its bytes, or `None` when the log is empty.
    pub(crate) fn drop_oldest(&mut self) -> Option<usize> {
        let (_, body) = self.events.pop_front()?;
        self.bytes -= cost(&body);
        self.dropped += 1;
        Some(cost(&body))
    }

    /// An event that is not kept: what came before it can no longer be replayed without a
    /// gap, so it goes too. Returns the bytes dropped.
    #[must_use]
    pub(crate) fn skip(&mut self) -> usize {
        let bytes = self.bytes;
        self.dropped += self.events.len() as u64 + 1;
        self.events.clear();
        self.bytes = 0;
        bytes
    }

    /// The events after `seq`, oldest first, and whether any of them was already dropped (the
    /// replay has a gap).
    pub(crate) fn after(&self, seq: u64) -> (impl Iterator<Item = &(u64, Arc<[u8]>)>, bool) {
        let gap = match self.events.front() {
            Some(&(first, _)) => first > seq.saturating_add(1),
            None => self.dropped > 0,
        };
        (self.events.iter().filter(move |(s, _)| *s > seq), gap)
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Recounts the bytes, for `check_invariants`.
    pub(crate) fn recount(&self) -> usize {
        self.events.iter().map(|(_, b)| cost(b)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn body(n: usize) -> Arc<[u8]> {
        Arc::from(alloc::vec![b'x'; n])
    }

    #[test]
    fn bounds_by_count_and_bytes_dropping_oldest() {
        let mut log = ResumeLog::default();
        for seq in 1..=5 {
            let _ = log.push(seq, body(10), 3, 1000);
        }
        assert_eq!(log.len(), 3);
        let (events, gap) = log.after(0);
        assert_eq!(events.map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(gap);
        let e = ENTRY_BYTES;
        assert_eq!(log.bytes(), 3 * (10 + e));
        let bound = 30 + 3 * e;
        assert_eq!(
            log.push(6, body(25), 10, bound),
            2 * (10 + e),
            "the two oldest events went"
        );
        assert_eq!(log.len(), 2);
        assert_eq!(log.bytes(), 10 + 25 + 2 * e);
        assert_eq!(log.recount(), log.bytes());
        assert_eq!(log.push(7, body(200), 10, bound), 10 + 25 + 200 + 3 * e);
        assert_eq!(
            (log.len(), log.bytes()),
            (0, 0),
            "an event larger than the bound is not kept"
        );
    }

    #[test]
    fn replay_after_a_known_event_has_no_gap() {
        let mut log = ResumeLog::default();
        for seq in 1..=4 {
            let _ = log.push(seq, body(1), 10, 100);
        }
        let (events, gap) = log.after(2);
        assert_eq!(events.map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4]);
        assert!(!gap);
        let (events, gap) = log.after(4);
        assert_eq!(events.count(), 0);
        assert!(!gap);
    }

    #[test]
    fn a_skipped_event_leaves_a_gap_and_nothing_before_it() {
        let mut log = ResumeLog::default();
        for seq in 1..=3 {
            let _ = log.push(seq, body(4), 10, 1000);
        }
        assert_eq!(log.skip(), 12 + 3 * ENTRY_BYTES);
        assert_eq!((log.len(), log.bytes()), (0, 0));
        let _ = log.push(5, body(4), 10, 1000);
        let (events, gap) = log.after(3);
        assert_eq!(events.count(), 1);
        assert!(gap, "event 4 was not kept");
        assert_eq!(log.drop_oldest(), Some(4 + ENTRY_BYTES));
        assert_eq!(log.drop_oldest(), None);
    }
}
