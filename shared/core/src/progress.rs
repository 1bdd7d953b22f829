//! Mirror progress and the exactly-once dedup decision.
//!
//! Per source partition Ferry keeps [`Progress`]: the next source offset to mirror and the
//! target offset that record will get. The target partition is written only by Ferry and is
//! gapless, so everything in `[0, next_target)` on the target is accounted for, and every target
//! record at or past `next_target` was written by an attempt that died before recording it.
//!
//! ## Protocol (per partition, per delivered batch)
//! 1. Read progress `P` and the target end offset `E`.
//! 2. [`plan_partition`] splits the batch's records (ascending source offsets) into
//!    * `skip`: offsets `< P.next_source`, mirrored and recorded already (redelivery);
//!    * `reconcile`: the first `E - P.next_target` remaining records, written by an earlier
//!      attempt that never recorded them: recorded now, not produced again;
//!    * `produce`: the rest, produced to the target starting at offset `E`.
//!
//!    Reconciled records are first compared with what the target holds ([`verify_reconcile`]):
//!    a record Ferry did not write there is reported as a foreign writer, never recorded.
//! 3. After every delivery report, [`advance`] computes the new progress and the new
//!    translation [`Segment`]s for everything appended (reconciled + produced), which are
//!    stored in one conditional transaction on `P`.
//!
//! ## Invariants (proptested)
//! * A record is produced at most once over any sequence of deliveries, crashes and redeliveries
//!   as long as the target is written only by Ferry.
//! * `next_source` and `next_target` never decrease.
//! * Segments are strictly increasing in both source and target start, and each appended record
//!   with source offset `s` lands at the target offset that [`crate::translate::translate`] gives for `s`.

use crate::record::MirrorRecord;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use thiserror::Error;

/// Per-partition mirror progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Next source offset to mirror (last mirrored source offset + 1).
    pub next_source: i64,
    /// Target offset the next mirrored record will get (= records mirrored so far + target base).
    pub next_target: i64,
}

impl Progress {
    /// Initial progress for a partition seen for the first time: the first delivered source
    /// offset maps to the target's current end offset.
    pub fn initial(first_source_offset: i64, target_end: i64) -> Self {
        Self {
            next_source: first_source_offset,
            next_target: target_end,
        }
    }

    /// The segment that starts at this progress point.
    pub fn segment_here(&self) -> Segment {
        Segment {
            source_start: self.next_source,
            target_start: self.next_target,
        }
    }
}

/// A maximal run of mirrored records with consecutive source offsets. Its length is implied by
/// the next segment's `target_start` (or by `Progress::next_target` for the last segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// First source offset of the run.
    pub source_start: i64,
    /// Target offset of that first record.
    pub target_start: i64,
}

/// What to do with one partition's records in a delivered batch. Index ranges refer to the
/// batch's records for this partition, in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    /// Records already mirrored and recorded: ignore.
    pub skip: Range<usize>,
    /// Records an earlier attempt wrote to the target without recording them: record, do not produce.
    pub reconcile: Range<usize>,
    /// Records to produce, in order.
    pub produce: Range<usize>,
    /// Target offset the first produced record must get (the target end offset `E`).
    pub produce_target_start: i64,
    /// Target records past `P.next_target` still unexplained after this batch (the earlier attempt
    /// wrote more than this batch carries; a later batch reconciles them). Zero in the usual case.
    pub unreconciled_after: i64,
}

impl PartitionPlan {
    /// Records appended to the target by this batch (reconciled + produced), as one index range.
    pub fn appended(&self) -> Range<usize> {
        self.reconcile.start..self.produce.end
    }
}

/// Why a partition cannot be mirrored safely.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The target partition has fewer records than Ferry recorded: data was lost on the target
    /// (truncation, topic re-created, unclean leader election). Not retryable.
    #[error("target partition has end offset {target_end} but Ferry recorded {next_target} mirrored records: data lost or topic re-created on the target")]
    TargetBehind {
        /// End offset read from the target.
        target_end: i64,
        /// Progress' next target offset.
        next_target: i64,
    },
    /// Batch offsets are not strictly ascending.
    #[error(
        "batch offsets are not strictly ascending at index {index} ({previous} then {offset})"
    )]
    OffsetsNotAscending {
        /// Index of the offending record.
        index: usize,
        /// Previous offset.
        previous: i64,
        /// Offending offset.
        offset: i64,
    },
    /// A target record past recorded progress is not the source record an earlier attempt would
    /// have written there: somebody else writes to the mirrored target partition.
    #[error("target offset {target_offset} holds a record that is not source offset {source_offset}: another writer on the mirrored target partition")]
    ForeignRecord {
        /// Target offset of the unexpected record.
        target_offset: i64,
        /// Source record expected there.
        source_offset: i64,
    },
    /// Delivery reports are not contiguous from the end offset read before producing.
    #[error("target offsets are not contiguous: expected {expected}, delivery report says {actual} (another writer on the target partition?)")]
    NotContiguous {
        /// Expected target offset.
        expected: i64,
        /// Offset the target assigned.
        actual: i64,
    },
}

/// Checks that offsets are strictly ascending.
pub fn check_ascending(offsets: &[i64]) -> Result<(), PlanError> {
    for (i, w) in offsets.windows(2).enumerate() {
        if w[1] <= w[0] {
            return Err(PlanError::OffsetsNotAscending {
                index: i + 1,
                previous: w[0],
                offset: w[1],
            });
        }
    }
    Ok(())
}

/// The dedup decision for one partition of a batch (see the module docs).
///
/// `offsets` are the batch's source offsets for the partition (strictly ascending);
/// `target_end` is the target partition's end offset read after `progress`.
pub fn plan_partition(
    progress: Progress,
    target_end: i64,
    offsets: &[i64],
) -> Result<PartitionPlan, PlanError> {
    check_ascending(offsets)?;
    if target_end < progress.next_target {
        return Err(PlanError::TargetBehind {
            target_end,
            next_target: progress.next_target,
        });
    }
    let skip_end = offsets.partition_point(|&o| o < progress.next_source);
    let unrecorded = target_end - progress.next_target;
    let remaining = offsets.len() - skip_end;
    let reconcile_len = usize::try_from(unrecorded)
        .unwrap_or(usize::MAX)
        .min(remaining);
    let reconcile_end = skip_end + reconcile_len;
    let unreconciled_after = unrecorded - reconcile_len as i64;
    // Only produce once every earlier write is accounted for; otherwise new records would land
    // behind unexplained ones.
    let produce = if unreconciled_after > 0 {
        reconcile_end..reconcile_end
    } else {
        reconcile_end..offsets.len()
    };
    Ok(PartitionPlan {
        skip: 0..skip_end,
        reconcile: skip_end..reconcile_end,
        produce,
        produce_target_start: target_end,
        unreconciled_after,
    })
}

/// Checks that the target offsets reported for produced records are contiguous from `start`.
pub fn check_contiguous(start: i64, assigned: &[i64]) -> Result<(), PlanError> {
    for (i, &actual) in assigned.iter().enumerate() {
        let expected = start + i as i64;
        if actual != expected {
            return Err(PlanError::NotContiguous { expected, actual });
        }
    }
    Ok(())
}

/// Checks that records found on the target past recorded progress (`found`, read from target
/// offset `first_target`) are exactly the batch records planned for reconciliation (`expected`):
/// same key, value, headers and timestamp, in order. Anything else is a foreign writer.
pub fn verify_reconcile(
    first_target: i64,
    expected: &[MirrorRecord],
    found: &[MirrorRecord],
) -> Result<(), PlanError> {
    for (i, e) in expected.iter().enumerate() {
        let same = found.get(i).is_some_and(|f| {
            f.key == e.key
                && f.value == e.value
                && f.headers == e.headers
                && f.timestamp == e.timestamp
        });
        if !same {
            return Err(PlanError::ForeignRecord {
                target_offset: first_target + i as i64,
                source_offset: e.offset,
            });
        }
    }
    Ok(())
}

/// New progress and new segments after appending records with these source offsets
/// (strictly ascending, all `>= progress.next_source`) to the target at `progress.next_target`.
pub fn advance(progress: Progress, appended_offsets: &[i64]) -> (Progress, Vec<Segment>) {
    let mut p = progress;
    let mut segments = Vec::new();
    for &offset in appended_offsets {
        debug_assert!(
            offset >= p.next_source,
            "appended offsets must follow progress"
        );
        if offset != p.next_source {
            segments.push(Segment {
                source_start: offset,
                target_start: p.next_target,
            });
        }
        p = Progress {
            next_source: offset + 1,
            next_target: p.next_target + 1,
        };
    }
    (p, segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: i64, t: i64) -> Progress {
        Progress {
            next_source: s,
            next_target: t,
        }
    }

    #[test]
    fn fresh_batch_produces_everything() {
        let plan = plan_partition(p(0, 0), 0, &[0, 1, 2]).unwrap();
        assert_eq!(plan.skip, 0..0);
        assert_eq!(plan.reconcile, 0..0);
        assert_eq!(plan.produce, 0..3);
        assert_eq!(plan.produce_target_start, 0);
    }

    #[test]
    fn redelivered_batch_is_skipped() {
        let plan = plan_partition(p(3, 3), 3, &[0, 1, 2]).unwrap();
        assert_eq!(plan.skip, 0..3);
        assert!(plan.produce.is_empty());
    }

    #[test]
    fn crash_after_produce_is_reconciled() {
        // An attempt wrote offsets 3,4 to target 3,4 and died before recording.
        let plan = plan_partition(p(3, 3), 5, &[2, 3, 4, 5, 6]).unwrap();
        assert_eq!(plan.skip, 0..1);
        assert_eq!(plan.reconcile, 1..3);
        assert_eq!(plan.produce, 3..5);
        assert_eq!(plan.produce_target_start, 5);
        assert_eq!(plan.appended(), 1..5);
    }

    #[test]
    fn smaller_redelivery_reconciles_partially_and_produces_nothing() {
        let plan = plan_partition(p(10, 100), 105, &[10, 11]).unwrap();
        assert_eq!(plan.reconcile, 0..2);
        assert!(plan.produce.is_empty());
        assert_eq!(plan.unreconciled_after, 3);
    }

    #[test]
    fn target_behind_is_an_error() {
        assert_eq!(
            plan_partition(p(10, 100), 99, &[10]),
            Err(PlanError::TargetBehind {
                target_end: 99,
                next_target: 100
            })
        );
    }

    #[test]
    fn unordered_offsets_are_an_error() {
        assert!(matches!(
            plan_partition(p(0, 0), 0, &[1, 1]),
            Err(PlanError::OffsetsNotAscending { index: 1, .. })
        ));
    }

    #[test]
    fn advance_builds_segments_on_gaps_only() {
        let (np, segs) = advance(p(10, 0), &[10, 11, 13, 14, 20]);
        assert_eq!(np, p(21, 5));
        assert_eq!(
            segs,
            vec![
                Segment {
                    source_start: 13,
                    target_start: 2
                },
                Segment {
                    source_start: 20,
                    target_start: 4
                }
            ]
        );
    }

    #[test]
    fn contiguity_check() {
        assert!(check_contiguous(5, &[5, 6, 7]).is_ok());
        assert_eq!(
            check_contiguous(5, &[5, 7]),
            Err(PlanError::NotContiguous {
                expected: 6,
                actual: 7
            })
        );
    }

    /// A simulated source log with gaps (compaction / transaction markers).
    fn source_log() -> impl Strategy<Value = Vec<i64>> {
        prop::collection::vec(1i64..4, 1..120).prop_map(|steps| {
            let mut o = 0;
            steps
                .into_iter()
                .map(|s| {
                    o += s;
                    o
                })
                .collect()
        })
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Deliver a batch starting at the committed position with this many records;
        /// the attempt dies after producing `die_after` records (if Some) before recording.
        Deliver {
            size: usize,
            die_after: Option<usize>,
        },
        /// Redeliver an already-acknowledged window (duplicate delivery).
        Replay { back: usize, size: usize },
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            prop_oneof![
                3 => (1usize..20, prop::option::of(0usize..20)).prop_map(|(size, die_after)| Step::Deliver { size, die_after }),
                1 => (1usize..30, 1usize..20).prop_map(|(back, size)| Step::Replay { back, size }),
            ],
            1..80,
        )
    }

    /// State of the simulated pipeline: the target partition (source offsets in target order),
    /// recorded progress and segments.
    #[derive(Default)]
    struct Sim {
        target: Vec<i64>,
        progress: Option<Progress>,
        segments: Vec<Segment>,
    }

    impl Sim {
        /// Delivers `batch`; with `die_after = Some(d)` the attempt dies after producing `d`
        /// records (or after producing all, before recording). Returns whether it succeeded.
        fn deliver(&mut self, batch: &[i64], die_after: Option<usize>) -> bool {
            if batch.is_empty() {
                return true;
            }
            let pr = *self.progress.get_or_insert_with(|| {
                let init = Progress::initial(batch[0], self.target.len() as i64);
                self.segments.push(init.segment_here());
                init
            });
            let plan = plan_partition(pr, self.target.len() as i64, batch).unwrap();
            let to_produce = &batch[plan.produce.clone()];
            if let Some(d) = die_after {
                self.target.extend(&to_produce[..d.min(to_produce.len())]);
                return false;
            }
            let start = self.target.len() as i64;
            self.target.extend(to_produce);
            let assigned: Vec<i64> = (start..self.target.len() as i64).collect();
            check_contiguous(plan.produce_target_start, &assigned).unwrap();
            let (np, segs) = advance(pr, &batch[plan.appended()]);
            assert_eq!(
                np.next_target,
                self.target.len() as i64 - plan.unreconciled_after
            );
            self.progress = Some(np);
            self.segments.extend(segs);
            true
        }
    }

    proptest! {
        /// Whatever the sequence of deliveries, crashes and redeliveries, the target holds each
        /// source record at most once, in order, with no holes; once the whole log is delivered
        /// it holds each exactly once; and segments translate every mirrored offset to where it landed.
        #[test]
        fn exactly_once_under_crashes_and_redelivery(log in source_log(), steps in steps()) {
            let mut sim = Sim::default();
            let mut committed = 0usize; // ESM position (index into log)
            let window = |start: usize, size: usize| &log[start.min(log.len())..(start + size).min(log.len())];
            for step in steps {
                match step {
                    Step::Deliver { size, die_after } => {
                        if sim.deliver(window(committed, size), die_after) {
                            committed = (committed + size).min(log.len());
                        }
                    }
                    Step::Replay { back, size } => {
                        let start = committed.saturating_sub(back);
                        prop_assert!(sim.deliver(window(start, size), None));
                    }
                }
                prop_assert_eq!(&sim.target[..], &log[..sim.target.len()], "target must be a prefix of the source log");
                if let Some(pr) = sim.progress {
                    prop_assert!(pr.next_target <= sim.target.len() as i64);
                }
            }
            while committed < log.len() {
                prop_assert!(sim.deliver(window(committed, 7), None));
                committed = (committed + 7).min(log.len());
            }
            prop_assert_eq!(&sim.target, &log);
            let pr = sim.progress.unwrap();
            prop_assert_eq!(pr.next_target, log.len() as i64);
            prop_assert!(sim.segments.windows(2).all(|w| w[0].source_start < w[1].source_start && w[0].target_start <= w[1].target_start));
            for (t, &s) in log.iter().enumerate() {
                prop_assert_eq!(crate::translate::translate(&sim.segments, pr, s), crate::translate::Translation::Exact(t as i64));
            }
        }
    }
}
