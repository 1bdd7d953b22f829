//! Exact source → target offset translation.
//!
//! Consumer groups commit "the next offset to read". For a committed source offset `c`:
//! * `c` inside a segment → `target_start + (c - source_start)`;
//! * `c` in a gap (compacted away, transaction marker, aborted record, or before the mirror's
//!   first record) → the next segment's `target_start`, i.e. the next record that was mirrored
//!   (never a target commit marker or aborted record: segment lengths exclude them, see
//!   [`Segment::target_gap_before`]);
//! * `c == progress.next_source` → `progress.next_target`;
//! * `c > progress.next_source` → [`Translation::NotYetMirrored`]: the group is ahead of the
//!   mirror; nothing may be written.
//!
//! ## Invariants (proptested)
//! * Monotonic: `c1 <= c2` ⇒ `translate(c1) <= translate(c2)` where both are exact.
//! * Never past mirrored progress: an exact result is `<= progress.next_target`.
//! * Exact inside segments, and a gap maps to the next mirrored record.
//! * Local: translating `c` needs only the segments around it ([`around`]: the last one
//!   starting at or before `c` and the first one starting after it). Translating over any
//!   sorted subset of a partition's segments that contains the pair around `c` gives exactly
//!   the result over all of them, so a store answers one translation with two single-item
//!   reads ([`crate::ports::SegmentStore::segments_around`]) whatever the number of segments,
//!   and several translations with the union of their pairs.
//!
//! The pair, not one segment: a segment's run ends where the next one begins (its length is
//! not stored, so a segment never has to be rewritten), so whether `c` falls inside the run
//! of the segment at or before it, or in the gap after that run, is known only from the next
//! segment.

use crate::progress::{Progress, Segment};
use serde::{Deserialize, Serialize};

/// Result of translating a committed source offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Translation {
    /// The target offset a consumer must commit to resume at exactly the next record.
    Exact(i64),
    /// The group is ahead of the mirror by `lag` source offsets; try again later.
    NotYetMirrored {
        /// `committed - progress.next_source`.
        lag: i64,
    },
}

/// Translates committed source offset `committed` (see the module docs). `segments` must be
/// sorted by `source_start` and belong to the partition whose progress is `progress`.
pub fn translate(segments: &[Segment], progress: Progress, committed: i64) -> Translation {
    if committed > progress.next_source {
        return Translation::NotYetMirrored {
            lag: committed - progress.next_source,
        };
    }
    if committed == progress.next_source {
        return Translation::Exact(progress.next_target);
    }
    // Index of the first segment starting after `committed`.
    let after = segments.partition_point(|s| s.source_start <= committed);
    let next_target_start = segments
        .get(after)
        .map_or(progress.next_target, |s| s.target_start);
    let Some(i) = after.checked_sub(1) else {
        // Before the first mirrored record.
        return Translation::Exact(next_target_start);
    };
    let seg = segments[i];
    let len = crate::progress::segment_len(segments, progress, i);
    let delta = committed - seg.source_start;
    if delta < len {
        Translation::Exact(seg.target_start + delta)
    } else {
        Translation::Exact(next_target_start)
    }
}

/// The segments of `segments` (sorted by `source_start`) that translating `offset` needs: the
/// last one starting at or before `offset` and the first one starting after it, when they
/// exist (at most two, adjacent in `segments`). See the module docs ("Local").
pub fn around(segments: &[Segment], offset: i64) -> &[Segment] {
    let after = segments.partition_point(|s| s.source_start <= offset);
    let from = after.saturating_sub(1);
    let to = (after + 1).min(segments.len());
    &segments[from..to]
}

/// Merges pairs from [`around`] (or a store's `segments_around`) for several offsets of one
/// partition into one sorted, de-duplicated list over which [`translate`] answers each of
/// those offsets exactly.
pub fn merge_around(pairs: impl IntoIterator<Item = Segment>) -> Vec<Segment> {
    let mut merged: Vec<Segment> = pairs.into_iter().collect();
    merged.sort_by_key(|s| s.source_start);
    merged.dedup_by_key(|s| s.source_start);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::advance;
    use proptest::prelude::*;

    fn seg(s: i64, t: i64) -> Segment {
        Segment::new(s, t)
    }

    #[test]
    fn plain_topic_one_segment() {
        let segs = [seg(0, 0)];
        let p = Progress {
            next_source: 1_000_000,
            next_target: 1_000_000,
        };
        assert_eq!(translate(&segs, p, 0), Translation::Exact(0));
        assert_eq!(translate(&segs, p, 777), Translation::Exact(777));
        assert_eq!(
            translate(&segs, p, 1_000_000),
            Translation::Exact(1_000_000)
        );
        assert_eq!(
            translate(&segs, p, 1_000_005),
            Translation::NotYetMirrored { lag: 5 }
        );
    }

    #[test]
    fn gaps_map_to_next_mirrored_record() {
        // Source offsets 5,6 | gap 7,8 | 9 | gap 10 | 11,12 ; mirror started at 5.
        let segs = [seg(5, 0), seg(9, 2), seg(11, 3)];
        let p = Progress {
            next_source: 13,
            next_target: 5,
        };
        let t = |c| translate(&segs, p, c);
        assert_eq!(t(0), Translation::Exact(0), "before the mirror start");
        assert_eq!(t(6), Translation::Exact(1));
        assert_eq!(t(7), Translation::Exact(2));
        assert_eq!(t(8), Translation::Exact(2));
        assert_eq!(t(9), Translation::Exact(2));
        assert_eq!(t(10), Translation::Exact(3));
        assert_eq!(t(12), Translation::Exact(4));
        assert_eq!(t(13), Translation::Exact(5));
    }

    proptest! {
        #[test]
        fn invariants(steps in prop::collection::vec(1i64..5, 1..200), start in 0i64..50, probes in prop::collection::vec(0i64..1200, 1..50)) {
            let mut offsets = Vec::new();
            let mut o = start;
            for s in steps { offsets.push(o); o += s; }
            let init = Progress::initial(offsets[0], 0);
            let (p, mut rest) = advance(init, &offsets);
            let mut segs = vec![init.segment_here()];
            segs.append(&mut rest);
            // Exact inside segments.
            for (t, &s) in offsets.iter().enumerate() {
                prop_assert_eq!(translate(&segs, p, s), Translation::Exact(t as i64));
            }
            let mut probes = probes;
            probes.sort_unstable();
            let mut last = i64::MIN;
            for c in probes {
                match translate(&segs, p, c) {
                    Translation::Exact(t) => {
                        prop_assert!(t <= p.next_target, "never past progress");
                        prop_assert!(t >= last, "monotonic");
                        // Gaps map to the next mirrored record.
                        let next_idx = offsets.partition_point(|&s| s < c) as i64;
                        prop_assert_eq!(t, next_idx);
                        last = t;
                    }
                    Translation::NotYetMirrored { lag } => {
                        prop_assert!(c > p.next_source);
                        prop_assert_eq!(lag, c - p.next_source);
                    }
                }
            }
        }

        /// Translating over the pair around `c` (alone, or merged with other offsets' pairs)
        /// equals translating over every segment.
        #[test]
        fn translation_is_local(steps in prop::collection::vec(1i64..6, 1..300), gaps in prop::collection::vec(0i64..4, 300), start in 0i64..50, probes in prop::collection::vec(0i64..2000, 1..20)) {
            let mut offsets = Vec::new();
            let mut o = start;
            for s in steps { offsets.push(o); o += s; }
            let init = Progress::initial(offsets[0], 0);
            let (p, mut rest) = advance(init, &offsets);
            let mut segs = vec![init.segment_here()];
            segs.append(&mut rest);
            // Target gaps (markers) before some segments, as fencing writes them.
            let mut shift = 0;
            for (i, s) in segs.iter_mut().enumerate().skip(1) {
                shift += gaps[i % gaps.len()];
                s.target_gap_before = gaps[i % gaps.len()];
                s.target_start += shift;
            }
            let p = Progress { next_target: p.next_target + shift, ..p };
            let mut union = Vec::new();
            for &c in &probes {
                let pair = around(&segs, c);
                prop_assert!(pair.len() <= 2);
                prop_assert_eq!(translate(pair, p, c), translate(&segs, p, c));
                union.extend_from_slice(pair);
            }
            let merged = merge_around(union);
            for &c in &probes {
                prop_assert_eq!(translate(&merged, p, c), translate(&segs, p, c));
            }
        }
    }
}
