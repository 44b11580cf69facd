//! [`Rng`]: a small, seeded, portable generator. One seed reproduces a run bit for bit on any
//! machine, so the simulator uses its own generator rather than one whose output may change
//! with a dependency's version.

/// SplitMix64: tiny, fast, and good enough to drive a simulation (not for secrets).
///
/// # Examples
///
/// ```
/// use mcpwire_sim::Rng;
///
/// let mut a = Rng::new(7);
/// let mut b = Rng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    /// Choices read from bytes instead ([`Rng::from_bytes`]), and how far they are read.
    script: Option<(Vec<u8>, usize)>,
}

impl Rng {
    /// A generator for `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Rng {
            state: seed,
            script: None,
        }
    }

    /// A generator whose every choice is read from `bytes`, as few bytes as the choice needs,
    /// then zeros once they run out: a coverage-guided fuzzer steers the whole run by mutating
    /// them, and the same bytes reproduce it.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_sim::Rng;
    ///
    /// let mut rng = Rng::from_bytes(&[3, 1, 0]);
    /// assert_eq!(rng.below(10), 3);
    /// assert_eq!(rng.below(2), 1);
    /// assert_eq!(rng.below(1000), 0);
    /// assert_eq!(rng.below(10), 0);
    /// ```
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Rng {
            state: 0,
            script: Some((bytes.to_vec(), 0)),
        }
    }

    /// The next `count` scripted bytes as a little-endian number, zeros past the end.
    fn read(bytes: &[u8], at: &mut usize, count: usize) -> u64 {
        let mut value = 0u64;
        for i in 0..count {
            let byte = bytes.get(*at).copied().unwrap_or(0);
            *at = (*at + 1).min(bytes.len());
            value |= u64::from(byte) << (8 * i);
        }
        value
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        if let Some((bytes, at)) = &mut self.script {
            return Self::read(bytes, at, 8);
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        if let Some((bytes, at)) = &mut self.script {
            // Only the bytes the range needs, so that each byte of a fuzz input is one choice.
            let needed = (64 - (n - 1).leading_zeros()).div_ceil(8).max(1) as usize;
            return Self::read(bytes, at, needed) % n;
        }
        self.next_u64() % n
    }

    /// An index into a collection of `len` items.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index chosen with the given weights (0 when every weight is 0).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut pick = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if pick < u64::from(w) {
                return i;
            }
            pick -= u64::from(w);
        }
        0
    }
}

/// FNV-1a over everything a run produced: two runs with one seed must hash the same.
#[derive(Debug, Clone, Copy)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    /// Folds `bytes` in.
    pub fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far.
    #[must_use]
    pub fn value(self) -> u64 {
        self.0
    }
}
