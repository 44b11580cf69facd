//! Maps keyed by the engine's ids, hashed by multiplying rather than with SipHash. The ids are
//! the engine's own (slot and generation), not chosen by a peer, so there is no flooding to
//! defend against, and SipHash cost more per call than most of the driver's own work.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from an engine id (or a pair of them) to `V`.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Folds each word in with a multiply (the Fx hash of rustc), and rotates the result as
/// rustc-hash 2 does.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    /// A multiply carries entropy only upwards, and hashbrown picks the bucket from the low
    /// bits. An engine id is `slot << 32 | generation` and nearly every generation is 1, so
    /// unrotated, every id fell into the same buckets: with 100,000 sessions each lookup walked
    /// a long probe sequence, and a call cost twice what it does with 100.
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::IdHasher;

    /// The bucket bits hashbrown takes of a table of 2^16 slots must tell apart ids that
    /// differ only in their slot, as the engine's ids of one kind mostly do.
    #[test]
    fn ids_that_differ_only_in_their_slot_spread_over_the_buckets() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let slots = 1u64 << 16;
        for generation in [1u64, 2, 7] {
            let buckets: HashSet<u64> = (0..slots)
                .map(|slot| build.hash_one((slot << 32) | generation) & (slots - 1))
                .collect();
            // A uniform hash fills about 63% of them; the unrotated one filled one.
            assert!(
                buckets.len() as u64 > slots / 2,
                "generation {generation}: {} of {slots} buckets",
                buckets.len()
            );
        }
    }
}
