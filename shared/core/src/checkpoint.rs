//! Consumer-group checkpoints: a group's committed source offset and its exact translation.
//!
//! Invariant: a stored checkpoint never moves backwards ([`next_checkpoint`]).

use serde::{Deserialize, Serialize};

/// A translated committed offset for one group and partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Committed offset on the source (next record to read).
    pub source_offset: i64,
    /// Exact translation on the target.
    pub target_offset: i64,
}

/// What to store given the previous checkpoint and a freshly translated one: the new one when it
/// moves forward, nothing when it equals or would move backwards (a group reset to an earlier
/// offset on the source is reported, not followed, until an operator clears the checkpoint).
pub fn next_checkpoint(previous: Option<Checkpoint>, fresh: Checkpoint) -> Option<Checkpoint> {
    match previous {
        None => Some(fresh),
        Some(prev)
            if fresh.source_offset > prev.source_offset
                && fresh.target_offset >= prev.target_offset =>
        {
            Some(fresh)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_backwards(seq in prop::collection::vec((0i64..1000, 0i64..1000), 1..50)) {
            let mut stored: Option<Checkpoint> = None;
            for (s, t) in seq {
                let fresh = Checkpoint { source_offset: s, target_offset: t };
                if let Some(next) = next_checkpoint(stored, fresh) {
                    if let Some(prev) = stored {
                        prop_assert!(next.source_offset > prev.source_offset);
                        prop_assert!(next.target_offset >= prev.target_offset);
                    }
                    stored = Some(next);
                }
            }
        }
    }
}
