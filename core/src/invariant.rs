//! [`InvariantViolation`]: what `check_invariants()` returns when an index and its primary table
//! disagree.
//!
//! A violation is always a bug in mcpwire, never a peer's fault, so it carries a sentence for a
//! human ("session 17 still holds its idle timer") rather than a code for a program.

use alloc::string::String;
use core::fmt;

/// A broken internal invariant, described in one sentence.
///
/// # Examples
///
/// ```
/// use mcpwire_core::InvariantViolation;
///
/// let v = InvariantViolation::new("connection 3 queued 12 bytes but the total says 0");
/// assert_eq!(v.to_string(), "invariant violated: connection 3 queued 12 bytes but the total says 0");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct InvariantViolation {
    message: String,
}

impl InvariantViolation {
    /// A violation described by `message`.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        InvariantViolation {
            message: message.into(),
        }
    }

    /// The description, without the "invariant violated" prefix.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant violated: {}", self.message)
    }
}

impl fmt::Debug for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::error::Error for InvariantViolation {}

/// Returns `Err(InvariantViolation)` built from the format arguments unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::invariant::InvariantViolation::new(alloc::format!($($fmt)+)));
        }
    };
}
pub(crate) use ensure;
