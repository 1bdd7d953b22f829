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
        Segment::new(self.next_source, self.next_target)
    }
}

/// A maximal run of mirrored records with consecutive source offsets *and* consecutive target
/// offsets. Its length is implied by the next segment: the run ends at the next segment's
/// `target_start - target_gap_before` (or at `Progress::next_target` for the last segment).
///
/// With transactional fencing every transaction ends with a commit marker on the target, so
/// every batch starts a new segment whose `target_gap_before` counts the target offsets in
/// between that hold no mirrored record (the marker, and records of aborted attempts). A
/// `read_committed` consumer never sees those offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// First source offset of the run.
    pub source_start: i64,
    /// Target offset of that first record.
    pub target_start: i64,
    /// Target offsets right before `target_start` that hold no mirrored record (transaction
    /// markers, aborted records): the previous run ends at `target_start - target_gap_before`.
    /// Zero for the first segment and for segments written before fencing existed.
    #[serde(default)]
    pub target_gap_before: i64,
}

impl Segment {
    /// A segment with no target gap before it.
    pub const fn new(source_start: i64, target_start: i64) -> Self {
        Self {
            source_start,
            target_start,
            target_gap_before: 0,
        }
    }

    /// Target offset right after the previous segment's last record.
    pub const fn previous_run_end(&self) -> i64 {
        self.target_start - self.target_gap_before
    }
}

/// Number of records in segment `i` of `segments` (sorted) as of `progress`: the last one ends
/// at `progress.next_target`. Segments read after `progress` (a mirror running concurrently
/// may have added some) count only up to `progress`, so a later segment has length 0.
pub fn segment_len(segments: &[Segment], progress: Progress, i: usize) -> i64 {
    let end = segments.get(i + 1).map_or(progress.next_target, |next| {
        next.previous_run_end().min(progress.next_target)
    });
    (end - segments[i].target_start).max(0)
}

/// What to do with one partition's records in a delivered batch. Index ranges refer to the
/// batch's records for this partition, in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    /// Records already mirrored and recorded: ignore.
    pub skip: Range<usize>,
    /// Records an earlier attempt wrote (and committed) to the target without recording them:
    /// record, do not produce. The `i`-th of them sits at the `i`-th offset of the `found` list
    /// given to [`plan_partition`].
    pub reconcile: Range<usize>,
    /// Records to produce, in order.
    pub produce: Range<usize>,
    /// Target offset at or after which the first produced record lands (the target end offset
    /// `E` read before producing); see [`check_produced`].
    pub produce_target_start: i64,
    /// Committed target records past `P.next_target` still unexplained after this batch (the
    /// earlier attempt wrote more than this batch carries; a later batch reconciles them). Zero
    /// in the usual case.
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
    /// Delivery reports are not contiguous, or start before the end offset read before
    /// producing.
    #[error("target offsets are not contiguous: expected {expected}, delivery report says {actual} (another writer on the target partition?)")]
    NotContiguous {
        /// Expected target offset.
        expected: i64,
        /// Offset the target assigned.
        actual: i64,
    },
    /// Committed records found past recorded progress are not in ascending offset order, or
    /// not at or past `next_target` (a reader bug or a corrupted target).
    #[error("records found past recorded progress are out of order at target offset {offset}")]
    FoundOutOfOrder {
        /// Offending target offset.
        offset: i64,
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
/// `target_end` is the target partition's end offset read after `progress` (and, with fencing,
/// after fencing every older writer); `found` are the target offsets of the *committed* data
/// records in `[progress.next_target, target_end)` (ascending; transaction markers and aborted
/// records are not in it). Without fencing the target is gapless and `found` is simply
/// `progress.next_target..target_end`.
pub fn plan_partition(
    progress: Progress,
    target_end: i64,
    found: &[i64],
    offsets: &[i64],
) -> Result<PartitionPlan, PlanError> {
    check_ascending(offsets)?;
    if target_end < progress.next_target {
        return Err(PlanError::TargetBehind {
            target_end,
            next_target: progress.next_target,
        });
    }
    let mut floor = progress.next_target;
    for &t in found {
        if t < floor || t >= target_end {
            return Err(PlanError::FoundOutOfOrder { offset: t });
        }
        floor = t + 1;
    }
    let skip_end = offsets.partition_point(|&o| o < progress.next_source);
    let remaining = offsets.len() - skip_end;
    let reconcile_len = found.len().min(remaining);
    let reconcile_end = skip_end + reconcile_len;
    let unreconciled_after = (found.len() - reconcile_len) as i64;
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

/// Checks that the target offsets reported for produced records are contiguous from `start`
/// (the non-transactional rule: nothing but Ferry's own records may sit in between).
pub fn check_contiguous(start: i64, assigned: &[i64]) -> Result<(), PlanError> {
    for (i, &actual) in assigned.iter().enumerate() {
        let expected = start + i as i64;
        if actual != expected {
            return Err(PlanError::NotContiguous { expected, actual });
        }
    }
    Ok(())
}

/// What [`check_produced`] concluded about the target offsets before the produced records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProducedCheck {
    /// The records follow what was read before producing, or only this writer's own previous
    /// commit marker lies in between: nothing else to check.
    Clean,
    /// Offsets in this range lie between what was read and the produced records: they must hold
    /// no data record (read them `read_uncommitted`; anything found is a foreign writer's).
    Scan(Range<i64>),
}

/// Checks the delivery reports of one transaction (or one idempotent produce call):
///
/// * the produced records got consecutive offsets (a foreign record inside the run is
///   [`PlanError::NotContiguous`]);
/// * the first one is not before `end`, the end offset read before producing;
/// * whatever lies in `[end, first)` is explained: nothing, or exactly one offset at
///   `own_marker_at`, which the caller knows holds the commit marker of its own previous
///   transaction on this partition (its last record was at `own_marker_at - 1`, and a
///   transactional producer's next records always land after that marker). Otherwise the
///   range must be scanned ([`ProducedCheck::Scan`]).
pub fn check_produced(
    end: i64,
    own_marker_at: Option<i64>,
    assigned: &[i64],
) -> Result<ProducedCheck, PlanError> {
    let Some(&first) = assigned.first() else {
        return Ok(ProducedCheck::Clean);
    };
    check_contiguous(first, assigned)?;
    if first < end {
        return Err(PlanError::NotContiguous {
            expected: end,
            actual: first,
        });
    }
    if first == end || (first == end + 1 && own_marker_at == Some(end)) {
        Ok(ProducedCheck::Clean)
    } else {
        Ok(ProducedCheck::Scan(end..first))
    }
}

/// Checks that records found on the target past recorded progress (`found`, each carrying its
/// target offset) are exactly the batch records planned for reconciliation (`expected`): same
/// key, value, headers and timestamp, in order. Anything else is a foreign writer.
pub fn verify_reconcile(
    expected: &[MirrorRecord],
    found: &[MirrorRecord],
) -> Result<(), PlanError> {
    for (i, e) in expected.iter().enumerate() {
        let f = found.get(i);
        let same = f.is_some_and(|f| {
            f.key == e.key
                && f.value == e.value
                && f.headers == e.headers
                && f.timestamp == e.timestamp
        });
        if !same {
            return Err(PlanError::ForeignRecord {
                target_offset: f.map_or(-1, |f| f.offset),
                source_offset: e.offset,
            });
        }
    }
    Ok(())
}

/// Source records that vanished before Ferry mirrored them. Never recorded as an ordinary
/// segment boundary: the partition stops with `Ferry.DataLoss` until an operator acts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SourceLoss {
    /// The source's log start moved past records Ferry had not mirrored yet.
    #[error("source offsets [{from}, {to}) were removed from the source (its log now starts at {log_start}) before Ferry mirrored them: records lost (retention shorter than the mirror's lag, or records deleted)")]
    RemovedBeforeMirrored {
        /// First lost offset (the recorded `next_source`).
        from: i64,
        /// End of the lost range (the first offset still available, or the next delivered).
        to: i64,
        /// The source partition's log start offset.
        log_start: i64,
    },
    /// The source partition ends before what Ferry already mirrored.
    #[error("the source partition ends at offset {source_end} but Ferry already mirrored up to {next_source}: the source topic was re-created or truncated, and its new records would be skipped as redeliveries")]
    SourceReset {
        /// The source partition's end offset.
        source_end: i64,
        /// The recorded `next_source`.
        next_source: i64,
    },
}

/// Whether a partition's batch needs the source's log bounds to rule out loss: the first
/// record to append jumps past `progress.next_source` (a gap that compaction, transaction
/// markers or aborted records usually explain, retention or deletion sometimes), or records
/// were skipped as already mirrored (a redelivery, or a re-created source topic).
pub fn source_check_needed(
    progress: Progress,
    first_appended: Option<i64>,
    skipped: usize,
) -> bool {
    skipped > 0 || first_appended.is_some_and(|f| f > progress.next_source)
}

/// Rules out loss with the source partition's log bounds `[log_start, end)` (see
/// [`source_check_needed`]):
///
/// * a gap `[next_source, first_appended)` that starts below the log start lost the records
///   between (compaction never moves the log start; transaction markers and aborted records
///   below it are indistinguishable once deleted and are reported too, conservatively);
/// * skipped records with a source end below `next_source` mean the topic was re-created or
///   truncated.
pub fn check_source_loss(
    progress: Progress,
    first_appended: Option<i64>,
    skipped: usize,
    log_start: i64,
    end: i64,
) -> Result<(), SourceLoss> {
    if let Some(first) = first_appended {
        if first > progress.next_source && log_start > progress.next_source {
            return Err(SourceLoss::RemovedBeforeMirrored {
                from: progress.next_source,
                to: log_start.min(first),
                log_start,
            });
        }
    }
    if skipped > 0 && end < progress.next_source {
        return Err(SourceLoss::SourceReset {
            source_end: end,
            next_source: progress.next_source,
        });
    }
    Ok(())
}

/// New progress and new segments after appending records with these source offsets
/// (strictly ascending, all `>= progress.next_source`) to a gapless target at
/// `progress.next_target` (no transaction markers in between).
pub fn advance(progress: Progress, appended_offsets: &[i64]) -> (Progress, Vec<Segment>) {
    let pairs: Vec<(i64, i64)> = appended_offsets
        .iter()
        .zip(progress.next_target..)
        .map(|(&s, t)| (s, t))
        .collect();
    advance_to(progress, &pairs)
}

/// New progress and new segments after appending records as `(source offset, target offset)`
/// pairs, both strictly ascending and at or past `progress`. A new segment starts wherever the
/// source or the target offset jumps (compaction gaps on the source; commit markers and aborted
/// records on the target, counted in [`Segment::target_gap_before`]).
pub fn advance_to(progress: Progress, appended: &[(i64, i64)]) -> (Progress, Vec<Segment>) {
    let mut p = progress;
    let mut segments = Vec::new();
    for &(source, target) in appended {
        debug_assert!(
            source >= p.next_source && target >= p.next_target,
            "appended offsets must follow progress"
        );
        if source != p.next_source || target != p.next_target {
            segments.push(Segment {
                source_start: source,
                target_start: target,
                target_gap_before: target - p.next_target,
            });
        }
        p = Progress {
            next_source: source + 1,
            next_target: target + 1,
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

    /// `found` for a gapless target: every offset in `[from, to)`.
    fn all(from: i64, to: i64) -> Vec<i64> {
        (from..to).collect()
    }

    #[test]
    fn fresh_batch_produces_everything() {
        let plan = plan_partition(p(0, 0), 0, &[], &[0, 1, 2]).unwrap();
        assert_eq!(plan.skip, 0..0);
        assert_eq!(plan.reconcile, 0..0);
        assert_eq!(plan.produce, 0..3);
        assert_eq!(plan.produce_target_start, 0);
    }

    #[test]
    fn redelivered_batch_is_skipped() {
        let plan = plan_partition(p(3, 3), 3, &[], &[0, 1, 2]).unwrap();
        assert_eq!(plan.skip, 0..3);
        assert!(plan.produce.is_empty());
    }

    #[test]
    fn crash_after_produce_is_reconciled() {
        // An attempt wrote offsets 3,4 to target 3,4 and died before recording.
        let plan = plan_partition(p(3, 3), 5, &all(3, 5), &[2, 3, 4, 5, 6]).unwrap();
        assert_eq!(plan.skip, 0..1);
        assert_eq!(plan.reconcile, 1..3);
        assert_eq!(plan.produce, 3..5);
        assert_eq!(plan.produce_target_start, 5);
        assert_eq!(plan.appended(), 1..5);
    }

    #[test]
    fn markers_and_aborted_records_are_not_reconciled() {
        // Target: 3 = marker of the recorded transaction, 4..6 aborted, 6 abort marker,
        // 7,8 committed by an attempt that died before recording, 9 its marker.
        let plan = plan_partition(p(3, 3), 10, &[7, 8], &[3, 4, 5]).unwrap();
        assert_eq!(plan.reconcile, 0..2);
        assert_eq!(plan.produce, 2..3);
        assert_eq!(plan.produce_target_start, 10);
        assert_eq!(
            plan_partition(p(3, 3), 10, &[2], &[3]),
            Err(PlanError::FoundOutOfOrder { offset: 2 })
        );
        assert_eq!(
            plan_partition(p(3, 3), 10, &[8, 7], &[3]),
            Err(PlanError::FoundOutOfOrder { offset: 7 })
        );
    }

    #[test]
    fn smaller_redelivery_reconciles_partially_and_produces_nothing() {
        let plan = plan_partition(p(10, 100), 105, &all(100, 105), &[10, 11]).unwrap();
        assert_eq!(plan.reconcile, 0..2);
        assert!(plan.produce.is_empty());
        assert_eq!(plan.unreconciled_after, 3);
    }

    #[test]
    fn target_behind_is_an_error() {
        assert_eq!(
            plan_partition(p(10, 100), 99, &[], &[10]),
            Err(PlanError::TargetBehind {
                target_end: 99,
                next_target: 100
            })
        );
    }

    #[test]
    fn unordered_offsets_are_an_error() {
        assert!(matches!(
            plan_partition(p(0, 0), 0, &[], &[1, 1]),
            Err(PlanError::OffsetsNotAscending { index: 1, .. })
        ));
    }

    #[test]
    fn advance_builds_segments_on_gaps_only() {
        let (np, segs) = advance(p(10, 0), &[10, 11, 13, 14, 20]);
        assert_eq!(np, p(21, 5));
        assert_eq!(segs, vec![Segment::new(13, 2), Segment::new(20, 4)]);
    }

    #[test]
    fn advance_to_counts_target_gaps() {
        // Records 10,11 at 0,1; marker at 2; records 12,13 at 3,4; source gap; 20 at 5.
        let (np, segs) = advance_to(p(10, 0), &[(10, 0), (11, 1), (12, 3), (13, 4), (20, 5)]);
        assert_eq!(np, p(21, 6));
        assert_eq!(
            segs,
            vec![
                Segment {
                    source_start: 12,
                    target_start: 3,
                    target_gap_before: 1
                },
                Segment::new(20, 5)
            ]
        );
        let all = [Segment::new(10, 0), segs[0], segs[1]];
        assert_eq!(segment_len(&all, np, 0), 2);
        assert_eq!(segment_len(&all, np, 1), 2);
        assert_eq!(segment_len(&all, np, 2), 1);
        // Read with an older progress (segments written since count only up to it).
        let older = p(12, 2);
        assert_eq!(segment_len(&all, older, 0), 2);
        assert_eq!(segment_len(&all, older, 1), 0);
        assert_eq!(segment_len(&all, older, 2), 0);
    }

    #[test]
    fn source_loss_is_told_apart_from_gaps() {
        let pr = p(100, 100);
        assert!(!source_check_needed(pr, Some(100), 0));
        assert!(source_check_needed(pr, Some(103), 0));
        assert!(source_check_needed(pr, None, 2));
        // A compaction / marker gap: the log still starts below it.
        assert_eq!(check_source_loss(pr, Some(103), 0, 0, 200), Ok(()));
        // Retention removed 100..150 before they were mirrored.
        assert_eq!(
            check_source_loss(pr, Some(150), 0, 150, 200),
            Err(SourceLoss::RemovedBeforeMirrored {
                from: 100,
                to: 150,
                log_start: 150
            })
        );
        // Redelivery of mirrored records: fine while the source still reaches next_source.
        assert_eq!(check_source_loss(pr, None, 5, 0, 100), Ok(()));
        assert_eq!(
            check_source_loss(pr, None, 5, 0, 7),
            Err(SourceLoss::SourceReset {
                source_end: 7,
                next_source: 100
            })
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

    #[test]
    fn produced_check_allows_only_the_own_marker_without_a_scan() {
        assert_eq!(check_produced(5, None, &[5, 6]), Ok(ProducedCheck::Clean));
        assert_eq!(
            check_produced(5, Some(5), &[6, 7]),
            Ok(ProducedCheck::Clean)
        );
        assert_eq!(
            check_produced(5, None, &[6, 7]),
            Ok(ProducedCheck::Scan(5..6))
        );
        assert_eq!(
            check_produced(5, Some(4), &[6]),
            Ok(ProducedCheck::Scan(5..6))
        );
        assert_eq!(
            check_produced(5, Some(5), &[9]),
            Ok(ProducedCheck::Scan(5..9))
        );
        assert!(check_produced(5, None, &[4]).is_err());
        assert!(check_produced(5, None, &[5, 7]).is_err());
        assert_eq!(check_produced(5, None, &[]), Ok(ProducedCheck::Clean));
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

    /// How an attempt ends.
    #[derive(Debug, Clone, Copy)]
    enum Death {
        /// Dies after producing this many records, before committing its transaction: a
        /// later writer's fencing aborts them (without fencing they stay, uncommitted-looking).
        BeforeCommit(usize),
        /// Its transaction commits, then it dies before recording.
        AfterCommit,
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Deliver a batch starting at the committed position with this many records.
        Deliver { size: usize, death: Option<Death> },
        /// Redeliver an already-acknowledged window (duplicate delivery).
        Replay { back: usize, size: usize },
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let death = prop_oneof![
            (0usize..20).prop_map(Death::BeforeCommit),
            Just(Death::AfterCommit),
        ];
        prop::collection::vec(
            prop_oneof![
                3 => (1usize..20, prop::option::of(death)).prop_map(|(size, death)| Step::Deliver { size, death }),
                1 => (1usize..30, 1usize..20).prop_map(|(back, size)| Step::Replay { back, size }),
            ],
            1..80,
        )
    }

    /// One target offset.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Slot {
        /// A committed data record: the source offset it mirrors.
        Data(i64),
        /// A record of an open transaction (aborted by the next writer's fencing).
        Open(i64),
        /// A control marker or an aborted record.
        Control,
    }

    /// State of the simulated pipeline with transactional fencing: the target partition,
    /// recorded progress and segments.
    #[derive(Default)]
    struct Sim {
        target: Vec<Slot>,
        progress: Option<Progress>,
        segments: Vec<Segment>,
    }

    impl Sim {
        fn end(&self) -> i64 {
            self.target.len() as i64
        }

        /// Fencing: every open record of an older writer is aborted (plus an abort marker).
        fn fence(&mut self) {
            let mut open = false;
            for s in &mut self.target {
                if let Slot::Open(_) = s {
                    *s = Slot::Control;
                    open = true;
                }
            }
            if open {
                self.target.push(Slot::Control);
            }
        }

        /// Delivers `batch`; returns whether the attempt succeeded (was recorded).
        fn deliver(&mut self, batch: &[i64], death: Option<Death>) -> bool {
            if batch.is_empty() {
                return true;
            }
            self.fence();
            let end = self.end();
            let pr = *self.progress.get_or_insert_with(|| {
                let init = Progress::initial(batch[0], end);
                self.segments.push(init.segment_here());
                init
            });
            let found: Vec<i64> = (pr.next_target..end)
                .filter(|&t| matches!(self.target[t as usize], Slot::Data(_)))
                .collect();
            let plan = plan_partition(pr, end, &found, batch).unwrap();
            // Reconciled records are the source records planned for them.
            for (i, &t) in found.iter().take(plan.reconcile.len()).enumerate() {
                assert_eq!(
                    self.target[t as usize],
                    Slot::Data(batch[plan.reconcile.start + i])
                );
            }
            let to_produce = &batch[plan.produce.clone()];
            let start = self.end();
            match death {
                Some(Death::BeforeCommit(d)) => {
                    self.target.extend(
                        to_produce[..d.min(to_produce.len())]
                            .iter()
                            .map(|&o| Slot::Open(o)),
                    );
                    return false;
                }
                _ => self
                    .target
                    .extend(to_produce.iter().map(|&o| Slot::Data(o))),
            }
            let assigned: Vec<i64> = (start..self.end()).collect();
            if !to_produce.is_empty() {
                self.target.push(Slot::Control); // commit marker
            }
            if matches!(death, Some(Death::AfterCommit)) {
                return false;
            }
            assert_eq!(
                check_produced(end, None, &assigned),
                Ok(ProducedCheck::Clean)
            );
            let mut pairs: Vec<(i64, i64)> = batch[plan.reconcile.clone()]
                .iter()
                .copied()
                .zip(found.iter().copied())
                .collect();
            pairs.extend(to_produce.iter().copied().zip(assigned));
            let (np, segs) = advance_to(pr, &pairs);
            // A segment replacing the initial one (same source start) overwrites it, as the
            // stores do.
            for s in segs {
                match self
                    .segments
                    .iter_mut()
                    .find(|x| x.source_start == s.source_start)
                {
                    Some(x) => *x = s,
                    None => self.segments.push(s),
                }
            }
            self.progress = Some(np);
            true
        }

        fn committed(&self) -> Vec<i64> {
            self.target
                .iter()
                .filter_map(|s| match s {
                    Slot::Data(o) => Some(*o),
                    _ => None,
                })
                .collect()
        }
    }

    proptest! {
        /// Whatever the sequence of deliveries, crashes (before or after the transaction
        /// commits) and redeliveries, the committed target records hold each source record at
        /// most once, in order, with no holes; once the whole log is delivered, exactly once;
        /// and segments translate every mirrored offset to where it landed.
        #[test]
        fn exactly_once_under_crashes_and_redelivery(log in source_log(), steps in steps()) {
            let mut sim = Sim::default();
            let mut committed = 0usize; // ESM position (index into log)
            let window = |start: usize, size: usize| &log[start.min(log.len())..(start + size).min(log.len())];
            for step in steps {
                match step {
                    Step::Deliver { size, death } => {
                        if sim.deliver(window(committed, size), death) {
                            committed = (committed + size).min(log.len());
                        }
                    }
                    Step::Replay { back, size } => {
                        let start = committed.saturating_sub(back);
                        prop_assert!(sim.deliver(window(start, size), None));
                    }
                }
                let c = sim.committed();
                prop_assert_eq!(&c[..], &log[..c.len()], "committed target must be a prefix of the source log");
                if let Some(pr) = sim.progress {
                    prop_assert!(pr.next_target <= sim.end());
                }
            }
            while committed < log.len() {
                prop_assert!(sim.deliver(window(committed, 7), None));
                committed = (committed + 7).min(log.len());
            }
            prop_assert_eq!(&sim.committed(), &log);
            let pr = sim.progress.unwrap();
            sim.segments.sort();
            prop_assert!(sim.segments.windows(2).all(|w| w[0].source_start < w[1].source_start && w[0].target_start < w[1].target_start));
            for (t, slot) in sim.target.iter().enumerate() {
                if let Slot::Data(s) = slot {
                    prop_assert_eq!(crate::translate::translate(&sim.segments, pr, *s), crate::translate::Translation::Exact(t as i64));
                }
            }
            // Lengths: the segments cover exactly the committed records.
            let total: i64 = (0..sim.segments.len()).map(|i| segment_len(&sim.segments, pr, i)).sum();
            prop_assert_eq!(total, log.len() as i64);
        }
    }
}
