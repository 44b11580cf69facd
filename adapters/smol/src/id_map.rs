//! Maps keyed by the engine's ids, hashed by multiplying rather than with SipHash. The ids are
//! the engine's own (slot and generation), not chosen by a peer, so there is no flooding to
//! defend against, and SipHash cost more per call than most of the driver's own work.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from an engine id (or a pair of them) to `V`.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Folds each word in with a multiply (the Fx hash of rustc).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
