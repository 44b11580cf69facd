//! [`OutQueue`]: bytes waiting to be written, as owned runs, small inline runs, constants and
//! shared [`Payload`]s.
//!
//! A broadcast encodes its message once into an `Arc<[u8]>` and every recipient's queue holds a
//! reference to it, next to a few bytes of its own (chunk size, event id) stored inline, and a
//! constant chunk trailer: queueing an event for one more recipient allocates nothing. Small
//! owned writes coalesce into the tail, so a response head and its body usually sit in one
//! allocation.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Owned bytes merge into the tail segment while it stays under this size; larger writes start
/// a segment of their own, so coalescing never copies a big buffer twice.
const COALESCE_LIMIT: usize = 16 * 1024;

/// Writes up to this size that cannot join an owned tail are kept inline in the segment.
const INLINE_CAPACITY: usize = 38;

/// Segment slots an emptied queue keeps, so a connection that receives one event at a time does
/// not allocate its queue again for each.
const RETAINED_SEGMENTS: usize = 4;

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

#[derive(Debug, Clone)]
enum Segment {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
    Static(&'static [u8]),
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
}

impl Segment {
    fn as_slice(&self) -> &[u8] {
        match self {
            Segment::Owned(bytes) => bytes,
            Segment::Shared(bytes) => bytes,
            Segment::Static(bytes) => bytes,
            Segment::Inline { len, bytes } => &bytes[..usize::from(*len)],
        }
    }
}

/// A FIFO of output bytes with a running length.
#[derive(Debug, Default, Clone)]
pub struct OutQueue {
    segments: VecDeque<Segment>,
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

    /// Appends a copy of `bytes`: into the owned tail if it fits, inline if small, else into a
    /// new owned segment.
    pub fn push_slice(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        match self.segments.back_mut() {
            Some(Segment::Owned(tail)) if tail.len() + bytes.len() <= COALESCE_LIMIT => {
                tail.extend_from_slice(bytes);
                return;
            }
            Some(Segment::Inline { len, bytes: inline })
                if usize::from(*len) + bytes.len() <= INLINE_CAPACITY =>
            {
                let at = usize::from(*len);
                inline[at..at + bytes.len()].copy_from_slice(bytes);
                *len += bytes.len() as u8;
                return;
            }
            _ => {}
        }
        if bytes.len() <= INLINE_CAPACITY {
            let mut inline = [0u8; INLINE_CAPACITY];
            inline[..bytes.len()].copy_from_slice(bytes);
            self.segments.push_back(Segment::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            });
        } else {
            self.segments.push_back(Segment::Owned(bytes.to_vec()));
        }
    }

    /// Appends constant bytes without copying them.
    pub fn push_static(&mut self, bytes: &'static [u8]) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.segments.push_back(Segment::Static(bytes));
        }
    }

    /// Appends a shared payload without copying it.
    pub fn push_shared(&mut self, bytes: Arc<[u8]>) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.segments.push_back(Segment::Shared(bytes));
        }
    }

    /// Lets `write` append about `expected` bytes to an owned tail segment, which it must only
    /// extend, never shrink.
    pub(crate) fn write_with(&mut self, expected: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let mut tail = match self.segments.pop_back() {
            Some(Segment::Owned(tail)) if tail.len() + expected <= COALESCE_LIMIT => tail,
            other => {
                self.segments.extend(other);
                Vec::with_capacity(expected.max(64))
            }
        };
        let before = tail.len();
        write(&mut tail);
        self.len += tail.len().saturating_sub(before);
        if !tail.is_empty() {
            self.segments.push_back(Segment::Owned(tail));
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
        if self.segments.is_empty() && self.segments.capacity() > RETAINED_SEGMENTS {
            // An idle connection keeps only a few slots.
            self.segments = VecDeque::new();
        }
        moved
    }

    /// Drops everything queued and releases the queue's memory, returning how many bytes were
    /// dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.len;
        self.segments = VecDeque::new();
        self.front_taken = 0;
        self.len = 0;
        dropped
    }

    /// Heap bytes of the queue's slots while it holds anything (an emptied queue's few
    /// retained slots are the connection's own).
    #[must_use]
    pub fn slot_bytes(&self) -> usize {
        if self.segments.is_empty() {
            0
        } else {
            self.segments.capacity() * size_of::<Segment>()
        }
    }

    /// Bytes of the front segment already taken, which stay allocated until the rest of it is.
    #[must_use]
    pub fn taken_bytes(&self) -> usize {
        match self.segments.front() {
            Some(Segment::Owned(_) | Segment::Shared(_)) => self.front_taken,
            _ => 0,
        }
    }

    /// Bytes this queue holds on the heap (shared payloads counted once per holder).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.segments.capacity() * size_of::<Segment>()
            + self
                .segments
                .iter()
                .map(|s| match s {
                    Segment::Owned(bytes) => bytes.capacity(),
                    _ => 0,
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
    fn coalesces_small_writes_and_shares_payloads() {
        let mut q = OutQueue::new();
        let shared: Arc<[u8]> = Arc::from(&b"SHARED"[..]);
        q.push_slice(b"ab");
        q.push_slice(b"cd");
        q.push_shared(shared.clone());
        q.push_static(b"\r\n");
        q.push_slice(b"ef");
        q.push_shared(Arc::from(&b""[..]));
        assert_eq!(q.len(), 14);
        assert_eq!(
            q.segments.len(),
            4,
            "ab+cd inline, shared, static, ef inline"
        );
        assert_eq!(Arc::strong_count(&shared), 2);
        let mut out = Vec::new();
        assert_eq!(q.pop_into(&mut out, 3), 3);
        assert_eq!(q.pop_into(&mut out, 100), 11);
        assert_eq!(out, b"abcdSHARED\r\nef");
        assert!(q.is_empty());
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn partial_pops_track_the_front_and_recount_agrees() {
        let mut q = OutQueue::new();
        q.push_shared(Arc::from(&b"0123456789"[..]));
        q.push_slice(b"xyz");
        q.write_with(3, |tail| tail.extend_from_slice(b"123"));
        let mut out = Vec::new();
        for _ in 0..16 {
            assert_eq!(q.pop_into(&mut out, 1), 1);
            assert_eq!(q.recount(), q.len());
        }
        assert_eq!(q.pop_into(&mut out, 1), 0);
        assert_eq!(out, b"0123456789xyz123");
    }

    #[test]
    fn inline_runs_fill_then_spill() {
        let mut q = OutQueue::new();
        q.push_static(b"-");
        q.push_slice(&[b'a'; INLINE_CAPACITY]);
        q.push_slice(b"b");
        assert_eq!(q.segments.len(), 3);
        q.push_slice(&[b'c'; INLINE_CAPACITY + 1]);
        assert!(matches!(q.segments.back(), Some(Segment::Owned(_))));
        let mut out = Vec::new();
        assert_eq!(q.pop_into(&mut out, usize::MAX), 2 * INLINE_CAPACITY + 3);
    }

    #[test]
    fn large_writes_start_their_own_segment_and_clear_releases_everything() {
        let mut q = OutQueue::new();
        q.write_with(4, |t| t.extend_from_slice(b"head"));
        q.push_slice(&[7u8; COALESCE_LIMIT]);
        assert_eq!(q.segments.len(), 2);
        assert_eq!(q.clear(), 4 + COALESCE_LIMIT);
        assert_eq!(q.heap_bytes(), 0);
    }
}
