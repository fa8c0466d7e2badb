//! Per-aggregate positions: what a projection does with an incoming event.

/// What to do with an event of sequence `incoming` when the projection has applied its
/// aggregate up to `last_applied` (0: nothing yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The next event: apply it and record its sequence in the same transaction.
    Apply,
    /// Applied before (a redelivery or a replay): acknowledge and do nothing.
    AlreadyApplied,
    /// Events in between are missing (reordered delivery or a lost message): do not apply;
    /// wait for them or fetch them from the event store.
    Gap {
        /// The sequence that must come next.
        expected: u64,
    },
}

/// Decides what to do with event `incoming` after `last_applied`.
pub fn decide(last_applied: u64, incoming: u64) -> Decision {
    let expected = last_applied.saturating_add(1);
    if incoming <= last_applied {
        Decision::AlreadyApplied
    } else if incoming == expected {
        Decision::Apply
    } else {
        Decision::Gap { expected }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_event_applies_and_earlier_ones_are_skipped() {
        assert_eq!(decide(0, 1), Decision::Apply);
        assert_eq!(decide(4, 5), Decision::Apply);
        assert_eq!(decide(4, 4), Decision::AlreadyApplied);
        assert_eq!(decide(4, 1), Decision::AlreadyApplied);
    }

    #[test]
    fn a_view_never_jumps_over_a_missing_event() {
        assert_eq!(decide(4, 6), Decision::Gap { expected: 5 });
        assert_eq!(decide(0, 2), Decision::Gap { expected: 1 });
    }
}
