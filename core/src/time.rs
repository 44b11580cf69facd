//! Core-owned time: a millisecond [`Instant`], a millisecond [`Duration`], and a
//! [`MonotonicClock`] that clamps time going backwards.
//!
//! The core never reads a clock. Adapters pass `now` in as an [`Instant`] counted in milliseconds
//! from any epoch they like (process start, `performance.now()`, a simulator's zero); only
//! differences between instants carry meaning. `std::time::Instant` is avoided on purpose: it
//! panics on `wasm32-unknown-unknown`, and a plain integer makes every run replayable.
//!
//! All arithmetic saturates, so a deadline computed near the end of time stays at the end of
//! time instead of wrapping into the past.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A point in time, in milliseconds since an epoch chosen by the adapter.
///
/// # Examples
///
/// ```
/// use mcpwire_core::time::{Duration, Instant};
///
/// let start = Instant::from_millis(1_000);
/// let deadline = start + Duration::from_secs(15);
/// assert_eq!(deadline.as_millis(), 16_000);
/// assert_eq!(deadline.saturating_duration_since(start), Duration::from_secs(15));
/// assert_eq!(start.saturating_duration_since(deadline), Duration::ZERO);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The end of time: a deadline that never fires.
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `millis` milliseconds after the epoch.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// `self + duration`, stopping at [`Instant::MAX`].
    #[must_use]
    pub const fn saturating_add(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_add(duration.0))
    }

    /// `self - duration`, stopping at [`Instant::ZERO`].
    #[must_use]
    pub const fn saturating_sub(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_sub(duration.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturating: see [`Instant::saturating_add`].
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturating: see [`Instant::saturating_duration_since`].
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Instant::MAX {
            f.write_str("never")
        } else {
            write!(f, "t+{}ms", self.0)
        }
    }
}

/// A span of time in milliseconds.
///
/// # Examples
///
/// ```
/// use mcpwire_core::time::Duration;
///
/// assert_eq!(Duration::from_secs(2).as_millis(), 2_000);
/// assert_eq!(Duration::from(core::time::Duration::from_micros(1_999)), Duration::from_millis(1));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// The longest representable span.
    pub const MAX: Duration = Duration(u64::MAX);

    /// A span of `millis` milliseconds.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Duration(millis)
    }

    /// A span of `secs` seconds, saturating.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs.saturating_mul(1_000))
    }

    /// The span in milliseconds.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The span in whole seconds, rounded down.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000
    }

    /// `self + rhs`, stopping at [`Duration::MAX`].
    #[must_use]
    pub const fn saturating_add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }

    /// `self * factor`, stopping at [`Duration::MAX`].
    #[must_use]
    pub const fn saturating_mul(self, factor: u64) -> Duration {
        Duration(self.0.saturating_mul(factor))
    }
}

impl From<core::time::Duration> for Duration {
    /// Truncates to whole milliseconds and saturates at [`Duration::MAX`].
    fn from(d: core::time::Duration) -> Self {
        Duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> Self {
        core::time::Duration::from_millis(d.0)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Turns the `now` values an adapter passes in into a time that never goes backwards.
///
/// Wall clocks step (NTP, suspend, a user changing the date) and some hosts hand out
/// coarse or reordered timestamps. A deadline computed from a `now` that later jumps back would
/// fire late by the size of the jump, or, worse, a timer table would see "now" before a
/// deadline it already fired. The engine therefore passes every `now` through
/// [`MonotonicClock::observe`]: an earlier value is clamped to the latest one seen, and the
/// clamp is counted so tests and metrics can see it happened.
///
/// # Examples
///
/// ```
/// use mcpwire_core::time::{Instant, MonotonicClock};
///
/// let mut clock = MonotonicClock::new(Instant::from_millis(100));
/// assert_eq!(clock.observe(Instant::from_millis(150)), Instant::from_millis(150));
/// // The adapter's clock stepped back: the core's time holds still.
/// assert_eq!(clock.observe(Instant::from_millis(120)), Instant::from_millis(150));
/// assert_eq!(clock.regressions(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    latest: Instant,
    regressions: u64,
}

impl MonotonicClock {
    /// A clock whose time starts at `start`.
    #[must_use]
    pub const fn new(start: Instant) -> Self {
        MonotonicClock {
            latest: start,
            regressions: 0,
        }
    }

    /// Records an input time and returns the time the core should use: `now`, or the latest
    /// time seen when `now` is earlier.
    pub fn observe(&mut self, now: Instant) -> Instant {
        if now < self.latest {
            self.regressions = self.regressions.saturating_add(1);
        } else {
            self.latest = now;
        }
        self.latest
    }

    /// The latest time observed.
    #[must_use]
    pub const fn now(&self) -> Instant {
        self.latest
    }

    /// How many inputs went back in time and were clamped.
    #[must_use]
    pub const fn regressions(&self) -> u64 {
        self.regressions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_at_both_ends() {
        assert_eq!(Instant::MAX + Duration::from_millis(1), Instant::MAX);
        assert_eq!(
            Instant::from_millis(5).saturating_sub(Duration::from_millis(10)),
            Instant::ZERO
        );
        assert_eq!(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(
            Duration::MAX.saturating_add(Duration::from_millis(1)),
            Duration::MAX
        );
        assert_eq!(
            Duration::from_millis(7).saturating_mul(u64::MAX),
            Duration::MAX
        );
        assert_eq!(Instant::ZERO - Instant::from_millis(3), Duration::ZERO);
        let mut t = Instant::from_millis(u64::MAX - 1);
        t += Duration::from_millis(5);
        assert_eq!(t, Instant::MAX);
    }

    #[test]
    fn conversions_truncate_and_saturate() {
        let huge = core::time::Duration::from_secs(u64::MAX);
        assert_eq!(Duration::from(huge), Duration::MAX);
        assert_eq!(
            Duration::from(core::time::Duration::from_nanos(999_999)),
            Duration::ZERO
        );
        let back: core::time::Duration = Duration::from_millis(1_500).into();
        assert_eq!(back, core::time::Duration::from_millis(1_500));
        assert_eq!(Duration::from_millis(2_999).as_secs(), 2);
    }

    #[test]
    fn clock_never_goes_backwards_and_counts_clamps() {
        let mut clock = MonotonicClock::new(Instant::from_millis(10));
        assert_eq!(
            clock.observe(Instant::from_millis(5)),
            Instant::from_millis(10)
        );
        assert_eq!(
            clock.observe(Instant::from_millis(10)),
            Instant::from_millis(10)
        );
        assert_eq!(
            clock.observe(Instant::from_millis(11)),
            Instant::from_millis(11)
        );
        assert_eq!(clock.observe(Instant::ZERO), Instant::from_millis(11));
        assert_eq!(clock.now(), Instant::from_millis(11));
        assert_eq!(clock.regressions(), 2);
    }

    #[test]
    fn debug_output_is_readable() {
        assert_eq!(alloc::format!("{:?}", Instant::from_millis(42)), "t+42ms");
        assert_eq!(alloc::format!("{:?}", Instant::MAX), "never");
        assert_eq!(alloc::format!("{:?}", Duration::from_secs(1)), "1000ms");
    }
}
