//! [`ResumeLog`]: the events a stream keeps so that a client can resume it with
//! `Last-Event-ID`, bounded by count and bytes (oldest dropped first).

use alloc::collections::VecDeque;
use alloc::sync::Arc;

/// A bounded log of `(sequence number, encoded event body)`.
///
/// Bodies are shared: a broadcast logged in 10,000 streams is stored once. The byte bound
/// counts each body in full anyway, so a log's bound holds whatever else shares its events.
#[derive(Debug, Default)]
pub(crate) struct ResumeLog {
    events: VecDeque<(u64, Arc<[u8]>)>,
    bytes: usize,
    dropped: u64,
}

impl ResumeLog {
    /// Appends event `seq`, dropping the oldest events while over `max_events` or `max_bytes`.
    pub(crate) fn push(&mut self, seq: u64, body: Arc<[u8]>, max_events: usize, max_bytes: usize) {
        self.bytes += body.len();
        self.events.push_back((seq, body));
        while self.events.len() > max_events || (self.bytes > max_bytes && self.events.len() > 1) {
            self.drop_oldest();
        }
        if self.bytes > max_bytes {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((_, body)) = self.events.pop_front() {
            self.bytes -= body.len();
            self.dropped += 1;
        }
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
        self.events.iter().map(|(_, b)| b.len()).sum()
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
            log.push(seq, body(10), 3, 1000);
        }
        assert_eq!(log.len(), 3);
        let (events, gap) = log.after(0);
        assert_eq!(events.map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(gap);
        log.push(6, body(25), 10, 30);
        assert_eq!(log.len(), 1);
        assert_eq!(log.bytes(), 25);
        assert_eq!(log.recount(), 25);
        log.push(7, body(40), 10, 30);
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
            log.push(seq, body(1), 10, 100);
        }
        let (events, gap) = log.after(2);
        assert_eq!(events.map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4]);
        assert!(!gap);
        let (events, gap) = log.after(4);
        assert_eq!(events.count(), 0);
        assert!(!gap);
    }
}
