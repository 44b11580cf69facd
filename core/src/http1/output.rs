//! [`OutQueue`]: bytes waiting to be written, as owned runs and shared [`Payload`]s.
//!
//! A broadcast encodes its message once into an `Arc<[u8]>` and every recipient's queue holds a
//! reference to it, next to a few owned bytes of its own (chunk size, event id). Small owned
//! writes coalesce into the tail segment, so a response head and its body usually sit in one
//! allocation.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Owned bytes merge into the tail segment while it stays under this size; larger writes start
/// a segment of their own, so coalescing never copies a big buffer twice.
const COALESCE_LIMIT: usize = 16 * 1024;

/// A run of output bytes: owned by one connection, or shared by many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Bytes for one connection only.
    Owned(Vec<u8>),
    /// Bytes encoded once and shared by every queue that holds them.
    Shared(Arc<[u8]>),
}

impl Payload {
    /// The bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Owned(bytes) => bytes,
            Payload::Shared(bytes) => bytes,
        }
    }
}

/// A FIFO of output bytes with a running length.
#[derive(Debug, Default, Clone)]
pub struct OutQueue {
    segments: VecDeque<Payload>,
    /// Bytes of the front segment already taken.
    front_taken: usize,
    len: usize,
}

impl OutQueue {
    /// An empty queue; allocates nothing until written to.
    #[must_use]
    pub const fn new() -> Self {
        OutQueue {
            segments: VecDeque::new(),
            front_taken: 0,
            len: 0,
        }
    }

    /// Bytes queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `bytes`.
    pub fn push_slice(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.write_with(bytes.len(), |tail| tail.extend_from_slice(bytes));
        }
    }

    /// Appends a shared payload without copying it.
    pub fn push_shared(&mut self, bytes: Arc<[u8]>) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.segments.push_back(Payload::Shared(bytes));
        }
    }

    /// Lets `write` append about `expected` bytes to the owned tail segment, which it must only
    /// extend, never shrink.
    pub(crate) fn write_with(&mut self, expected: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let mut tail = match self.segments.pop_back() {
            Some(Payload::Owned(tail)) if tail.len() + expected <= COALESCE_LIMIT => tail,
            other => {
                self.segments.extend(other);
                Vec::with_capacity(expected.max(256))
            }
        };
        let before = tail.len();
        write(&mut tail);
        self.len += tail.len().saturating_sub(before);
        if !tail.is_empty() {
            self.segments.push_back(Payload::Owned(tail));
        }
    }

    /// Moves up to `max` bytes from the front of the queue to the end of `buf`, returning how
    /// many moved.
    pub fn pop_into(&mut self, buf: &mut Vec<u8>, max: usize) -> usize {
        let mut moved = 0;
        while moved < max {
            let Some(front) = self.segments.front() else {
                break;
            };
            let rest = front.as_slice().get(self.front_taken..).unwrap_or_default();
            let take = rest.len().min(max - moved);
            buf.extend_from_slice(&rest[..take]);
            moved += take;
            self.front_taken += take;
            if self.front_taken >= front.as_slice().len() {
                self.segments.pop_front();
                self.front_taken = 0;
            }
        }
        self.len -= moved;
        if self.segments.is_empty() {
            // An idle connection should hold no output memory at all.
            self.segments = VecDeque::new();
        }
        moved
    }

    /// Drops everything queued, returning how many bytes were dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.len;
        self.segments = VecDeque::new();
        self.front_taken = 0;
        self.len = 0;
        dropped
    }

    /// Bytes this queue holds on the heap (shared payloads counted once per holder).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.segments.capacity() * size_of::<Payload>()
            + self
                .segments
                .iter()
                .map(|s| match s {
                    Payload::Owned(bytes) => bytes.capacity(),
                    Payload::Shared(_) => 0,
                })
                .sum::<usize>()
    }

    /// Recounts the queued bytes: `check_invariants` compares this with [`OutQueue::len`].
    #[must_use]
    pub fn recount(&self) -> usize {
        self.segments
            .iter()
            .map(|s| s.as_slice().len())
            .sum::<usize>()
            .saturating_sub(self.front_taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_small_owned_writes_and_shares_payloads() {
        let mut q = OutQueue::new();
        let shared: Arc<[u8]> = Arc::from(&b"SHARED"[..]);
        q.push_slice(b"ab");
        q.push_slice(b"cd");
        q.push_shared(shared.clone());
        q.push_slice(b"ef");
        q.push_shared(Arc::from(&b""[..]));
        assert_eq!(q.len(), 12);
        assert_eq!(q.segments.len(), 3);
        assert_eq!(Arc::strong_count(&shared), 2);
        let mut out = Vec::new();
        assert_eq!(q.pop_into(&mut out, 3), 3);
        assert_eq!(q.pop_into(&mut out, 100), 9);
        assert_eq!(out, b"abcdSHAREDef");
        assert!(q.is_empty());
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn partial_pops_track_the_front_and_recount_agrees() {
        let mut q = OutQueue::new();
        q.push_shared(Arc::from(&b"0123456789"[..]));
        q.push_slice(b"xyz");
        let mut out = Vec::new();
        for _ in 0..13 {
            assert_eq!(q.pop_into(&mut out, 1), 1);
            assert_eq!(q.recount(), q.len());
        }
        assert_eq!(q.pop_into(&mut out, 1), 0);
        assert_eq!(out, b"0123456789xyz");
    }

    #[test]
    fn large_writes_start_their_own_segment() {
        let mut q = OutQueue::new();
        q.push_slice(b"head");
        q.push_slice(&[7u8; COALESCE_LIMIT]);
        assert_eq!(q.segments.len(), 2);
        assert_eq!(q.clear(), 4 + COALESCE_LIMIT);
        assert_eq!(q.heap_bytes(), 0);
    }
}
