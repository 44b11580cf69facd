//! Latency samples and the figures taken from them.

use std::time::Duration;

/// Round-trip latencies in microseconds, kept whole: a run is bounded in time, so the count
/// is too, and exact percentiles need no bucketing.
#[derive(Default)]
pub struct Latencies {
    micros: Vec<u32>,
}

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        self.micros
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    pub fn count(&self) -> usize {
        self.micros.len()
    }

    /// The `q` quantile (0..=1) in microseconds, nearest rank.
    pub fn quantile(&mut self, q: f64) -> Option<u32> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        let rank = ((q * self.micros.len() as f64).ceil() as usize).clamp(1, self.micros.len());
        Some(self.micros[rank - 1])
    }
}
