//! Money as whole Korean won: integers only, so totals never drift by a fraction.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An amount in KRW. The won has no minor unit in practice, so an `i64` of won is exact.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(transparent)]
pub struct Won(pub i64);

impl Won {
    /// Zero won, the neutral total.
    pub const ZERO: Won = Won(0);

    /// `self + other`, or `None` on overflow: totals are refused, never wrapped.
    pub fn checked_add(self, other: Won) -> Option<Won> {
        self.0.checked_add(other.0).map(Won)
    }

    /// `self * quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: u32) -> Option<Won> {
        self.0.checked_mul(i64::from(quantity)).map(Won)
    }

    /// Whether this is a chargeable amount.
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl std::fmt::Display for Won {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "₩{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_arithmetic_is_refused_not_wrapped() {
        assert_eq!(Won(i64::MAX).checked_add(Won(1)), None);
        assert_eq!(Won(i64::MAX / 2).checked_mul(3), None);
        assert_eq!(Won(12_000).checked_mul(3), Some(Won(36_000)));
    }
}
