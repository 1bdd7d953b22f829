//! Validation math: how far the mirror is behind, which source ranges to compare with the target,
//! and where a source range and its mirrored target range first differ.
//!
//! Everything here is pure; the `validate` function reads watermarks, progress, segments and
//! records through ports and feeds them in.
//!
//! * [`pending_range`]: source offsets not yet mirrored (lag).
//! * [`mirrored_range`], [`target_of`], [`source_of`]: the mirrored source and target ranges of a
//!   partition and the exact offset mapping between them (over translation segments; sources
//!   with gaps — compaction, transaction markers, aborted records — map only mirrored offsets).
//! * [`plan_windows`]: which source windows a `full` validation compares (the whole range when
//!   small, otherwise evenly spread windows including the first and the last).
//! * [`compare_records`]: the first difference between a source window and its target window.
//! * [`heartbeat_status`]: heartbeat seqs and latency between the clusters.
//! * [`group_coverage`]: how much of a consumer group's committed position is translatable.
//!
//! ## Invariants (proptested)
//! * Windows lie inside the range, are sorted and non-overlapping, and the first window starts
//!   at the range start and the last ends at the range end; small ranges are one window.
//! * [`compare_records`] reports the *first* differing source offset, and nothing when the
//!   target holds exactly the source records at their translated offsets.
//! * [`target_of`] and [`source_of`] are inverse on mirrored offsets.

use crate::progress::{segment_len, Progress, Segment};
use crate::record::MirrorRecord;
use crate::topics::TopicPartition;
use crate::translate::{translate, Translation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;

/// Source offsets of a partition not yet mirrored: `[max(next_source, low), high)`, or
/// `[low, high)` without progress (everything pending). Empty when the mirror is at or past the
/// source's high watermark.
pub fn pending_range(progress: Option<Progress>, low: i64, high: i64) -> Range<i64> {
    let from = progress.map_or(low, |p| p.next_source.max(low));
    from..high.max(from)
}

/// A partition's mirrored ranges: source offsets `[first mirrored, next_source)` and target
/// offsets `[first target, next_target)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirroredRange {
    /// Source offsets covered (gaps inside are not mirrored records).
    pub source: Range<i64>,
    /// Target offsets covered (transaction markers and aborted records between segments
    /// are inside but are not mirrored records).
    pub target: Range<i64>,
    /// Records mirrored (sum of the segments' lengths).
    #[serde(default)]
    pub mirrored: i64,
}

impl MirroredRange {
    /// Records mirrored.
    pub fn records(&self) -> i64 {
        self.mirrored
    }
}

/// The mirrored ranges of a partition with `segments` (sorted) and `progress`; `None` when
/// nothing was mirrored yet.
pub fn mirrored_range(segments: &[Segment], progress: Progress) -> Option<MirroredRange> {
    let first = segments.first()?;
    (progress.next_source > first.source_start).then(|| MirroredRange {
        source: first.source_start..progress.next_source,
        target: first.target_start..progress.next_target,
        mirrored: (0..segments.len())
            .map(|i| segment_len(segments, progress, i))
            .sum(),
    })
}

/// Target offset of mirrored source offset `s`, `None` if `s` was not mirrored (a gap, before
/// the mirror's start, or not yet mirrored).
pub fn target_of(segments: &[Segment], progress: Progress, s: i64) -> Option<i64> {
    if s >= progress.next_source {
        return None;
    }
    let i = segments
        .partition_point(|g| g.source_start <= s)
        .checked_sub(1)?;
    let delta = s - segments[i].source_start;
    (delta < segment_len(segments, progress, i)).then(|| segments[i].target_start + delta)
}

/// Mirrored records whose source offset is `>= s` (transaction markers and aborted records
/// on the target are not counted).
pub fn mirrored_records_from(segments: &[Segment], progress: Progress, s: i64) -> i64 {
    (0..segments.len())
        .map(|i| {
            let seg = segments[i];
            let len = segment_len(segments, progress, i);
            let skipped = (s - seg.source_start).clamp(0, len.max(0));
            (len - skipped).max(0)
        })
        .sum()
}

/// Source offset of the record at target offset `t`, `None` outside the mirrored target range.
pub fn source_of(segments: &[Segment], progress: Progress, t: i64) -> Option<i64> {
    if t >= progress.next_target {
        return None;
    }
    let i = segments
        .partition_point(|g| g.target_start <= t)
        .checked_sub(1)?;
    let delta = t - segments[i].target_start;
    (delta < segment_len(segments, progress, i)).then(|| segments[i].source_start + delta)
}

/// Target offset where the mirrored records of source offsets `>= s` start (a gap maps to the
/// next mirrored record; `s >= next_source` maps to `next_target`).
pub fn target_start_of(segments: &[Segment], progress: Progress, s: i64) -> i64 {
    match translate(segments, progress, s.min(progress.next_source)) {
        Translation::Exact(t) => t,
        Translation::NotYetMirrored { .. } => progress.next_target,
    }
}

/// Source windows a `full` validation compares within `range`: the whole range if it holds at
/// most `full_max` offsets (or the windows would cover it anyway), else `windows` windows of
/// `window_len` offsets spread evenly, the first starting at `range.start` and the last ending
/// at `range.end`. Deterministic; sorted; non-overlapping; all inside `range`.
pub fn plan_windows(
    range: Range<i64>,
    full_max: i64,
    windows: u32,
    window_len: i64,
) -> Vec<Range<i64>> {
    let len = range.end - range.start;
    if len <= 0 {
        return Vec::new();
    }
    let n = i64::from(windows.max(1));
    let w = window_len.max(1);
    if len <= full_max || n.saturating_mul(w) >= len {
        return vec![range];
    }
    if n == 1 {
        return std::iter::once(range.start..range.start + w).collect();
    }
    // Starts spread evenly over [range.start, range.end - w]; gaps between windows are >= 0
    // because n * w < len.
    let span = len - w;
    (0..n)
        .map(|i| {
            let start = range.start + (i128::from(span) * i128::from(i) / i128::from(n - 1)) as i64;
            start..start + w
        })
        .collect()
}

/// What kind of difference validation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// A source record in the mirrored range is not on the target.
    MissingOnTarget,
    /// The target record at the translated offset has different content.
    ContentDiffers,
    /// The target holds a record the source does not (in the mirrored range).
    ExtraOnTarget,
    /// Record counts of the mirrored range differ.
    CountDiffers,
}

impl MismatchKind {
    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingOnTarget => "missing_on_target",
            Self::ContentDiffers => "content_differs",
            Self::ExtraOnTarget => "extra_on_target",
            Self::CountDiffers => "count_differs",
        }
    }
}

/// One difference between a source partition and its mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Source topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Source offset (for `extra_on_target`: the source offset the target record is recorded
    /// for; for `count_differs`: start of the compared source range).
    pub source_offset: i64,
    /// Target offset (for `missing_on_target`: where the record should be).
    pub target_offset: i64,
    /// Kind.
    pub kind: MismatchKind,
    /// Human-readable detail (which field differs, counts).
    pub detail: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} in {}/{} at source offset {} / target offset {}: {}",
            self.kind.as_str(),
            self.topic,
            self.partition,
            self.source_offset,
            self.target_offset,
            self.detail
        )
    }
}

/// The first field in which two records' content differs (`key`, `value`, `headers`,
/// `timestamp`), `None` if equal. Offsets and timestamp type are not content (a source
/// `LogAppendTime` is written to the target as the producer timestamp).
pub fn differing_field(a: &MirrorRecord, b: &MirrorRecord) -> Option<&'static str> {
    if a.key != b.key {
        Some("key")
    } else if a.value != b.value {
        Some("value")
    } else if a.headers != b.headers {
        Some("headers")
    } else if a.timestamp != b.timestamp {
        Some("timestamp")
    } else {
        None
    }
}

/// Compares a source window with its target window and returns the first difference in source
/// offset order.
///
/// `source` holds the source's readable records of a window (ascending offsets); `target` the
/// target records at target offsets `[target_start_of(window.start), target_start_of(window.end))`
/// (ascending, fewer if the target ends early). Each target record is matched to the source
/// offset it was mirrored from ([`source_of`]):
/// * matched and equal: fine; matched but different: `content_differs` naming the field —
///   unless the target record equals the *next* source record (the target lost this one:
///   `missing_on_target`) or the next target record equals this source record (the target has
///   an extra record here: `extra_on_target`);
/// * a source record without a target record: `missing_on_target` (target offset: where it
///   belongs);
/// * a target record without a source record: `extra_on_target`.
pub fn compare_records(
    tp: &TopicPartition,
    segments: &[Segment],
    progress: Progress,
    source: &[MirrorRecord],
    target: &[MirrorRecord],
) -> Option<Mismatch> {
    let mismatch = |s: i64, t: i64, kind, detail: String| Mismatch {
        topic: tp.topic.clone(),
        partition: tp.partition,
        source_offset: s,
        target_offset: t,
        kind,
        detail,
    };
    let missing =
        |s: &MirrorRecord| {
            let (at, why) = match target_of(segments, progress, s.offset) {
            Some(t) => (t, "the target does not hold the record recorded as mirrored here"),
            None => (
                target_start_of(segments, progress, s.offset),
                "the source record was never mirrored (not covered by the translation segments)",
            ),
        };
            mismatch(s.offset, at, MismatchKind::MissingOnTarget, why.to_string())
        };
    let extra = |t: &MirrorRecord, s: Option<i64>| {
        mismatch(
            s.unwrap_or(-1),
            t.offset,
            MismatchKind::ExtraOnTarget,
            "the target holds a record the source does not (compacted or deleted on the source \
             after mirroring, an aborted transaction mirrored read_uncommitted, or a foreign writer)"
                .to_string(),
        )
    };
    let (mut i, mut j) = (0, 0);
    loop {
        let (s, t) = match (source.get(i), target.get(j)) {
            (None, None) => return None,
            (Some(s), None) => return Some(missing(s)),
            (None, Some(t)) => return Some(extra(t, source_of(segments, progress, t.offset))),
            (Some(s), Some(t)) => (s, t),
        };
        match source_of(segments, progress, t.offset) {
            None => return Some(extra(t, None)),
            Some(o) if o > s.offset => return Some(missing(s)),
            Some(o) if o < s.offset => return Some(extra(t, Some(o))),
            Some(_) => {}
        }
        if let Some(field) = differing_field(s, t) {
            if let Some(next) = source
                .get(i + 1)
                .filter(|n| differing_field(n, t).is_none())
            {
                return Some(mismatch(
                    s.offset,
                    t.offset,
                    MismatchKind::MissingOnTarget,
                    format!(
                        "the target record at {} is source record {}: source record {} is missing",
                        t.offset, next.offset, s.offset
                    ),
                ));
            }
            if target
                .get(j + 1)
                .is_some_and(|n| differing_field(s, n).is_none())
            {
                return Some(mismatch(
                    s.offset,
                    t.offset,
                    MismatchKind::ExtraOnTarget,
                    format!(
                        "an extra record at target offset {} shifts the mirror by one",
                        t.offset
                    ),
                ));
            }
            return Some(mismatch(
                s.offset,
                t.offset,
                MismatchKind::ContentDiffers,
                format!("{field} differs"),
            ));
        }
        i += 1;
        j += 1;
    }
}

/// A heartbeat record's value (JSON, serde): `{"seq":..,"emitted_at_ms":..,"source":".."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Sequence number: the previous heartbeat's + 1, starting at 1.
    pub seq: u64,
    /// When it was emitted (epoch ms, also the record timestamp).
    pub emitted_at_ms: i64,
    /// Source cluster alias (or bootstrap servers).
    pub source: String,
}

/// Heartbeat comparison between the clusters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatStatus {
    /// Newest heartbeat seq on the source.
    pub source_seq: Option<u64>,
    /// Newest heartbeat seq on the target.
    pub target_seq: Option<u64>,
    /// Heartbeats on the source not yet on the target.
    pub behind: u64,
    /// Not behind: age of the newest heartbeat on the target (`now - emitted_at`). Behind:
    /// `now - emitted_at` of the oldest heartbeat not yet on the target (a lower bound if it is
    /// older than the heartbeats read). `None` without heartbeats.
    pub latency_ms: Option<i64>,
}

/// Compares the newest source heartbeats (`source`: the last ones read, any order) with the
/// newest heartbeat on the target.
pub fn heartbeat_status(
    source: &[Heartbeat],
    target_newest: Option<&Heartbeat>,
    now_ms: i64,
) -> HeartbeatStatus {
    let source_newest = source.iter().max_by_key(|h| h.seq);
    let target_seq = target_newest.map(|h| h.seq);
    let behind = match (source_newest, target_seq) {
        (Some(s), t) => s.seq.saturating_sub(t.unwrap_or(0)),
        (None, _) => 0,
    };
    let latency_ms = if behind == 0 {
        target_newest.map(|h| now_ms - h.emitted_at_ms)
    } else {
        let seen = target_seq.unwrap_or(0);
        source
            .iter()
            .filter(|h| h.seq > seen)
            .min_by_key(|h| h.seq)
            .map(|h| now_ms - h.emitted_at_ms)
    };
    HeartbeatStatus {
        source_seq: source_newest.map(|h| h.seq),
        target_seq,
        behind,
        latency_ms: latency_ms.map(|l| l.max(0)),
    }
}

/// How much of a consumer group's committed position the mirror covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCoverage {
    /// Group.
    pub group: String,
    /// Partitions (of mirrored topics) with a committed offset.
    pub partitions: u32,
    /// Partitions whose committed offset is translatable now (`committed <= next_source`).
    pub translatable: u32,
    /// Largest `committed - next_source` over the partitions (0 if all are translatable);
    /// partitions without progress count from the source's low watermark.
    pub max_records_behind: i64,
}

/// Coverage of `group` whose committed source offsets are `committed`; `progress` per mirrored
/// partition, `low` the source low watermark of partitions without progress.
pub fn group_coverage(
    group: &str,
    committed: &HashMap<TopicPartition, i64>,
    progress: &HashMap<TopicPartition, Progress>,
    low: &HashMap<TopicPartition, i64>,
) -> GroupCoverage {
    let mut out = GroupCoverage {
        group: group.to_string(),
        partitions: 0,
        translatable: 0,
        max_records_behind: 0,
    };
    for (tp, &c) in committed {
        out.partitions += 1;
        let behind = match progress.get(tp) {
            Some(p) if c <= p.next_source => {
                out.translatable += 1;
                0
            }
            Some(p) => c - p.next_source,
            None => c - low.get(tp).copied().unwrap_or(0),
        };
        out.max_records_behind = out.max_records_behind.max(behind);
    }
    out
}

/// The overall outcome of a validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing pending, nothing different.
    Ok,
    /// No difference found, but records are still pending.
    Lagging,
    /// At least one difference.
    Mismatch,
}

/// `mismatch` if any, else `lagging` if records are pending, else `ok`.
pub fn verdict(mismatches: usize, pending_total: i64) -> Verdict {
    if mismatches > 0 {
        Verdict::Mismatch
    } else if pending_total > 0 {
        Verdict::Lagging
    } else {
        Verdict::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::advance;
    use crate::record::TimestampType;
    use proptest::prelude::*;

    fn rec(offset: i64, v: &str) -> MirrorRecord {
        MirrorRecord {
            offset,
            timestamp: 1000 + offset,
            timestamp_type: TimestampType::CreateTime,
            key: Some(b"k".to_vec()),
            value: Some(v.as_bytes().to_vec()),
            headers: vec![],
        }
    }

    /// Source records at `offsets` and their faithful mirror (segments, progress, target).
    fn mirror(offsets: &[i64]) -> (Vec<Segment>, Progress, Vec<MirrorRecord>, Vec<MirrorRecord>) {
        let init = Progress::initial(offsets[0], 0);
        let (p, mut rest) = advance(init, offsets);
        let mut segs = vec![init.segment_here()];
        segs.append(&mut rest);
        let source: Vec<_> = offsets.iter().map(|&o| rec(o, &format!("v{o}"))).collect();
        let target = source
            .iter()
            .enumerate()
            .map(|(t, r)| MirrorRecord {
                offset: t as i64,
                ..r.clone()
            })
            .collect();
        (segs, p, source, target)
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    #[test]
    fn pending() {
        let p = |s| {
            Some(Progress {
                next_source: s,
                next_target: 0,
            })
        };
        assert_eq!(pending_range(p(5), 0, 10), 5..10);
        assert_eq!(pending_range(None, 3, 10), 3..10);
        assert_eq!(pending_range(p(12), 0, 10), 12..12);
        assert_eq!(
            pending_range(p(1), 4, 10),
            4..10,
            "deleted before mirroring"
        );
    }

    #[test]
    fn identical_ranges_have_no_mismatch() {
        let (segs, p, s, t) = mirror(&[0, 1, 2, 5, 6, 9]);
        assert_eq!(compare_records(&tp(), &segs, p, &s, &t), None);
    }

    #[test]
    fn corrupted_value_names_the_offsets_and_field() {
        let (segs, p, s, mut t) = mirror(&[0, 1, 2, 5, 6, 9]);
        t[4].value = Some(b"bad".to_vec());
        let m = compare_records(&tp(), &segs, p, &s, &t).unwrap();
        assert_eq!((m.source_offset, m.target_offset), (6, 4));
        assert_eq!(m.kind, MismatchKind::ContentDiffers);
        assert_eq!(m.detail, "value differs");
        t[4].value = s[4].value.clone();
        t[1].headers.push(crate::record::Header {
            key: "x".into(),
            value: vec![],
        });
        let m = compare_records(&tp(), &segs, p, &s, &t).unwrap();
        assert_eq!(
            (m.source_offset, m.target_offset, m.detail.as_str()),
            (1, 1, "headers differs")
        );
    }

    #[test]
    fn lost_record_with_identity_segments_is_missing_on_target() {
        // Progress claims 0..10 mirrored 1:1, but target offset 5 onwards is shifted by one.
        let (segs, p, s, mut t) = mirror(&(0..10).collect::<Vec<_>>());
        t.remove(5);
        for (i, r) in t.iter_mut().enumerate() {
            r.offset = i as i64;
        }
        let m = compare_records(&tp(), &segs, p, &s, &t).unwrap();
        assert_eq!(m.kind, MismatchKind::MissingOnTarget);
        assert_eq!((m.source_offset, m.target_offset), (5, 5));
    }

    #[test]
    fn unmirrored_source_record_is_missing_on_target() {
        // Segments skip source offset 5 (as if it had been a gap), but the source has it.
        let (segs, p, _, t) = mirror(&[0, 1, 2, 3, 4, 6, 7]);
        let s: Vec<_> = (0..8).map(|o| rec(o, &format!("v{o}"))).collect();
        let m = compare_records(&tp(), &segs, p, &s, &t).unwrap();
        assert_eq!(m.kind, MismatchKind::MissingOnTarget);
        assert_eq!((m.source_offset, m.target_offset), (5, 5));
    }

    #[test]
    fn extra_and_short_target() {
        let (segs, p, s, t) = mirror(&[0, 1, 2, 3]);
        // Source compacted offset 2 away after mirroring.
        let s2: Vec<_> = s.iter().filter(|r| r.offset != 2).cloned().collect();
        let m = compare_records(&tp(), &segs, p, &s2, &t).unwrap();
        assert_eq!(
            (m.kind, m.source_offset, m.target_offset),
            (MismatchKind::ExtraOnTarget, 2, 2)
        );
        // Target ends early.
        let m = compare_records(&tp(), &segs, p, &s, &t[..3]).unwrap();
        assert_eq!(
            (m.kind, m.source_offset, m.target_offset),
            (MismatchKind::MissingOnTarget, 3, 3)
        );
    }

    #[test]
    fn windows_small_and_large() {
        let one = 10..20;
        assert_eq!(plan_windows(one.clone(), 100, 8, 1000), vec![one]);
        assert_eq!(plan_windows(5..5, 100, 8, 10), Vec::<Range<i64>>::new());
        let w = plan_windows(0..1_000_000, 100_000, 8, 1000);
        assert_eq!(w.len(), 8);
        assert_eq!(w[0], 0..1000);
        assert_eq!(w[7], 999_000..1_000_000);
    }

    #[test]
    fn heartbeat_latency() {
        let hb = |seq, at| Heartbeat {
            seq,
            emitted_at_ms: at,
            source: "s".into(),
        };
        let src = [hb(3, 300), hb(4, 400), hb(5, 500)];
        let st = heartbeat_status(&src, Some(&hb(5, 500)), 1000);
        assert_eq!((st.behind, st.latency_ms), (0, Some(500)));
        let st = heartbeat_status(&src, Some(&hb(3, 300)), 1000);
        assert_eq!((st.behind, st.latency_ms), (2, Some(600)));
        let st = heartbeat_status(&src, None, 1000);
        assert_eq!(
            (st.behind, st.latency_ms, st.target_seq),
            (5, Some(700), None)
        );
        let st = heartbeat_status(&[], None, 1000);
        assert_eq!((st.behind, st.latency_ms), (0, None));
    }

    #[test]
    fn coverage() {
        let a = TopicPartition::new("a", 0);
        let b = TopicPartition::new("a", 1);
        let c = TopicPartition::new("a", 2);
        let committed = HashMap::from([(a.clone(), 5), (b.clone(), 20), (c.clone(), 7)]);
        let progress = HashMap::from([
            (
                a,
                Progress {
                    next_source: 10,
                    next_target: 10,
                },
            ),
            (
                b,
                Progress {
                    next_source: 12,
                    next_target: 12,
                },
            ),
        ]);
        let low = HashMap::from([(c, 2)]);
        let g = group_coverage("g", &committed, &progress, &low);
        assert_eq!(
            (g.partitions, g.translatable, g.max_records_behind),
            (3, 1, 8)
        );
        assert_eq!(verdict(0, 0), Verdict::Ok);
        assert_eq!(verdict(0, 1), Verdict::Lagging);
        assert_eq!(verdict(1, 0), Verdict::Mismatch);
    }

    proptest! {
        #[test]
        fn window_plan_invariants(start in 0i64..1_000_000, len in 0i64..5_000_000, full_max in 0i64..200_000, n in 0u32..20, w in 0i64..5000) {
            let range = start..start + len;
            let ws = plan_windows(range.clone(), full_max, n, w);
            if len == 0 {
                prop_assert!(ws.is_empty());
                return Ok(());
            }
            prop_assert!(!ws.is_empty());
            prop_assert_eq!(ws[0].start, range.start, "first window at the start");
            if ws.len() > 1 || len <= full_max {
                prop_assert_eq!(ws.last().unwrap().end, range.end, "last window at the end");
            }
            if len <= full_max {
                prop_assert_eq!(&ws, &vec![range.clone()]);
            }
            for win in &ws {
                prop_assert!(win.start < win.end);
                prop_assert!(win.start >= range.start && win.end <= range.end);
            }
            for pair in ws.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start, "sorted, non-overlapping");
            }
            prop_assert_eq!(plan_windows(range, full_max, n, w), ws, "deterministic");
        }

        #[test]
        fn comparison_finds_the_first_difference(steps in prop::collection::vec(1i64..4, 1..80), start in 0i64..20, corrupt in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
            let mut offsets = Vec::new();
            let mut o = start;
            for s in steps { offsets.push(o); o += s; }
            let (segs, p, s, mut t) = mirror(&offsets);
            for (i, &o) in offsets.iter().enumerate() {
                prop_assert_eq!(target_of(&segs, p, o), Some(i as i64));
                prop_assert_eq!(source_of(&segs, p, i as i64), Some(o));
            }
            let mut bad: Vec<usize> = corrupt.iter().map(|ix| ix.index(t.len())).collect();
            for &b in &bad {
                t[b].timestamp += 1;
            }
            bad.sort_unstable();
            let found = compare_records(&tp(), &segs, p, &s, &t);
            match bad.first() {
                None => prop_assert_eq!(found, None),
                Some(&first) => {
                    let m = found.unwrap();
                    prop_assert_eq!(m.kind, MismatchKind::ContentDiffers);
                    prop_assert_eq!(m.source_offset, offsets[first]);
                    prop_assert_eq!(m.target_offset, first as i64);
                }
            }
        }
    }
}
