//! The engine's time, read from the monotonic clock: milliseconds since the server started.

use mcpwire_core::time::Instant;

/// Converts between `std::time::Instant` and the engine's millisecond instants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: std::time::Instant,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            start: std::time::Instant::now(),
        }
    }

    /// Now, rounded down to the millisecond: a deadline never looks due early.
    pub(crate) fn now(&self) -> Instant {
        let elapsed = self.start.elapsed().as_millis();
        Instant::from_millis(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// The moment an engine deadline falls due.
    pub(crate) fn to_std(self, at: Instant) -> std::time::Instant {
        self.start + std::time::Duration::from_millis(at.as_millis())
    }
}

/// A `std` duration as the engine's milliseconds (saturating).
pub(crate) fn to_core(duration: std::time::Duration) -> mcpwire_core::time::Duration {
    mcpwire_core::time::Duration::from_millis(
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
    )
}
