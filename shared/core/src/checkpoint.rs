//! Consumer-group checkpoints: a group's committed source offset and its exact translation.
//!
//! [`plan_group`] decides, for one consumer group, what to store: each committed source offset
//! is translated exactly ([`crate::translate`]) over the partition's segments and progress, and
//! a checkpoint is saved only when it moves forward.
//!
//! ## Invariants (proptested)
//! * A stored checkpoint never moves backwards ([`next_checkpoint`]).
//! * A checkpoint never points past mirrored progress: `target_offset <= progress.next_target`
//!   and `source_offset <= progress.next_source`. A group ahead of the mirror gets nothing new
//!   (reported with its lag).
//! * Every partition of the input lands in exactly one of the plan's lists.
//!
//! ## Transactional source topics
//! Transaction markers occupy source offsets and are never delivered to the mirror, and records
//! of aborted transactions are delivered only if the event source mapping reads
//! `read_uncommitted`. Either way they leave gaps in the source offsets the mirror sees, and the
//! segments record every gap, so a committed offset that points at a marker or at an aborted
//! record translates to the next record that was mirrored: exact under both isolation levels.

use crate::progress::{Progress, Segment};
use crate::topics::TopicPartition;
use crate::translate::{translate, Translation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// What the mirror has recorded for one source partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mirrored {
    /// Progress, `None` if nothing of the partition was mirrored yet.
    pub progress: Option<Progress>,
    /// Segments, sorted by `source_start`: all of the partition's, or any subset that holds the
    /// pair around each committed offset planned with it ([`crate::translate::around`]; the
    /// checkpoint function reads only those).
    pub segments: Vec<Segment>,
}

/// A partition whose committed offset cannot be translated yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lagging {
    /// Source partition.
    pub tp: TopicPartition,
    /// The group's committed source offset.
    pub committed: i64,
    /// Source offsets the group is ahead of the mirror; `None` when the mirror has not recorded
    /// anything for the partition yet.
    pub lag: Option<i64>,
}

/// The checkpoint decision for one group ([`plan_group`]). Lists are sorted by partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPlan {
    /// New checkpoints to store (each moves the stored one forward).
    pub to_save: Vec<(TopicPartition, Checkpoint)>,
    /// Committed offsets past mirrored progress (or on partitions not mirrored yet).
    pub not_yet_translatable: Vec<Lagging>,
    /// Partitions whose stored checkpoint already is the translation.
    pub unchanged: Vec<TopicPartition>,
    /// Partitions whose group was rewound on the source below its stored checkpoint: the stored
    /// checkpoint is kept (checkpoints never move backwards) until an operator clears it.
    pub rewound: Vec<TopicPartition>,
    /// The checkpoint each partition has once `to_save` is stored (new or previous): what a
    /// consumer of the group on the target should resume from.
    pub effective: Vec<(TopicPartition, Checkpoint)>,
}

/// Plans the checkpoints of one group: `committed` are its committed source offsets,
/// `mirrored` what the mirror recorded per partition, `previous` the stored checkpoints.
pub fn plan_group(
    committed: &HashMap<TopicPartition, i64>,
    mirrored: &HashMap<TopicPartition, Mirrored>,
    previous: &HashMap<TopicPartition, Checkpoint>,
) -> GroupPlan {
    let mut tps: Vec<&TopicPartition> = committed.keys().collect();
    tps.sort();
    let mut plan = GroupPlan::default();
    for tp in tps {
        let c = committed[tp];
        let prev = previous.get(tp).copied();
        let m = mirrored.get(tp);
        let fresh = match m.and_then(|m| m.progress.map(|p| (p, &m.segments))) {
            None => {
                plan.not_yet_translatable.push(Lagging {
                    tp: tp.clone(),
                    committed: c,
                    lag: None,
                });
                None
            }
            Some((p, segments)) => match translate(segments, p, c) {
                Translation::Exact(t) => Some(Checkpoint {
                    source_offset: c,
                    target_offset: t,
                }),
                Translation::NotYetMirrored { lag } => {
                    plan.not_yet_translatable.push(Lagging {
                        tp: tp.clone(),
                        committed: c,
                        lag: Some(lag),
                    });
                    None
                }
            },
        };
        let effective = match fresh {
            None => prev,
            Some(fresh) => match next_checkpoint(prev, fresh) {
                Some(next) => {
                    plan.to_save.push((tp.clone(), next));
                    Some(next)
                }
                None => {
                    if prev.is_some_and(|p| p.source_offset > fresh.source_offset) {
                        plan.rewound.push(tp.clone());
                    } else {
                        plan.unchanged.push(tp.clone());
                    }
                    prev
                }
            },
        };
        if let Some(e) = effective {
            plan.effective.push((tp.clone(), e));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::advance;
    use proptest::prelude::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn plans_save_lag_unchanged_and_rewound() {
        // Partition 0: plain, 100 mirrored. 1: gaps. 2: nothing mirrored. 3: ahead of the mirror.
        let plain = Mirrored {
            progress: Some(Progress {
                next_source: 100,
                next_target: 100,
            }),
            segments: vec![Segment {
                target_gap_before: 0,
                source_start: 0,
                target_start: 0,
            }],
        };
        let (p1, mut segs1) = advance(Progress::initial(0, 0), &[0, 1, 2, 5, 6, 9]);
        segs1.insert(0, Progress::initial(0, 0).segment_here());
        let gappy = Mirrored {
            progress: Some(p1),
            segments: segs1,
        };
        let mirrored = HashMap::from([
            (tp(0), plain.clone()),
            (tp(1), gappy),
            (tp(3), plain.clone()),
            (tp(4), plain.clone()),
            (tp(5), plain),
        ]);
        let committed = HashMap::from([
            (tp(0), 40),
            (tp(1), 3), // a transaction marker at 3: next mirrored record is source 5 = target 3
            (tp(2), 7),
            (tp(3), 130),
            (tp(4), 50),
            (tp(5), 20),
        ]);
        let cp = |s, t| Checkpoint {
            source_offset: s,
            target_offset: t,
        };
        let previous = HashMap::from([
            (tp(3), cp(90, 90)),
            (tp(4), cp(50, 50)),
            (tp(5), cp(30, 30)),
        ]);
        let plan = plan_group(&committed, &mirrored, &previous);
        assert_eq!(plan.to_save, vec![(tp(0), cp(40, 40)), (tp(1), cp(3, 3))]);
        assert_eq!(
            plan.not_yet_translatable,
            vec![
                Lagging {
                    tp: tp(2),
                    committed: 7,
                    lag: None
                },
                Lagging {
                    tp: tp(3),
                    committed: 130,
                    lag: Some(30)
                }
            ]
        );
        assert_eq!(plan.unchanged, vec![tp(4)]);
        assert_eq!(plan.rewound, vec![tp(5)]);
        assert_eq!(
            plan.effective,
            vec![
                (tp(0), cp(40, 40)),
                (tp(1), cp(3, 3)),
                (tp(3), cp(90, 90)),
                (tp(4), cp(50, 50)),
                (tp(5), cp(30, 30))
            ]
        );
    }

    /// One partition's mirrored log (source offsets with gaps) and its recorded state.
    fn mirrored_log() -> impl Strategy<Value = (Vec<i64>, Mirrored)> {
        (prop::collection::vec(1i64..4, 1..100), 0i64..20).prop_map(|(steps, start)| {
            let mut o = start;
            let offsets: Vec<i64> = steps
                .into_iter()
                .map(|s| {
                    let cur = o;
                    o += s;
                    cur
                })
                .collect();
            let init = Progress::initial(offsets[0], 0);
            let (p, mut rest) = advance(init, &offsets);
            let mut segments = vec![init.segment_here()];
            segments.append(&mut rest);
            (
                offsets,
                Mirrored {
                    progress: Some(p),
                    segments,
                },
            )
        })
    }

    proptest! {
        /// Over any sequence of committed offsets (forwards, backwards, ahead of the mirror),
        /// stored checkpoints never move backwards, never point past progress, and are exact.
        #[test]
        fn plan_never_past_progress_never_backwards(
            (offsets, m) in mirrored_log(),
            commits in prop::collection::vec(0i64..400, 1..40),
        ) {
            let p = m.progress.unwrap();
            let mirrored = HashMap::from([(tp(0), m.clone())]);
            let mut stored: HashMap<TopicPartition, Checkpoint> = HashMap::new();
            for c in commits {
                let committed = HashMap::from([(tp(0), c)]);
                let plan = plan_group(&committed, &mirrored, &stored);
                let lists = plan.to_save.len() + plan.not_yet_translatable.len() + plan.unchanged.len() + plan.rewound.len();
                prop_assert_eq!(lists, 1, "exactly one list per partition");
                for (t, cp) in &plan.to_save {
                    prop_assert!(cp.target_offset <= p.next_target, "past progress");
                    prop_assert!(cp.source_offset <= p.next_source);
                    prop_assert_eq!(cp.source_offset, c);
                    // Exact: the number of mirrored records before the committed offset.
                    prop_assert_eq!(cp.target_offset, offsets.partition_point(|&s| s < c) as i64);
                    if let Some(prev) = stored.get(t) {
                        prop_assert!(cp.source_offset > prev.source_offset);
                        prop_assert!(cp.target_offset >= prev.target_offset);
                    }
                }
                for l in &plan.not_yet_translatable {
                    prop_assert!(l.committed > p.next_source);
                    prop_assert_eq!(l.lag, Some(c - p.next_source));
                }
                stored.extend(plan.to_save.iter().cloned());
                for (t, e) in &plan.effective {
                    prop_assert_eq!(stored.get(t), Some(e));
                }
            }
        }

        /// A plain topic keeps one segment per partition however many records are mirrored, and
        /// every committed offset translates to itself.
        #[test]
        fn plain_topic_needs_one_segment(batches in prop::collection::vec(1i64..100_000, 1..50), c in 0i64..5_000_000) {
            let mut p = Progress::initial(0, 0);
            let mut segments = vec![p.segment_here()];
            for n in batches {
                let offsets: Vec<i64> = (p.next_source..p.next_source + n).collect();
                let (np, new) = advance(p, &offsets);
                segments.extend(new);
                p = np;
            }
            prop_assert_eq!(segments.len(), 1);
            let mirrored = HashMap::from([(tp(0), Mirrored { progress: Some(p), segments })]);
            let plan = plan_group(&HashMap::from([(tp(0), c)]), &mirrored, &HashMap::new());
            if c <= p.next_source {
                prop_assert_eq!(plan.to_save, vec![(tp(0), Checkpoint { source_offset: c, target_offset: c })]);
            } else {
                prop_assert_eq!(plan.not_yet_translatable.len(), 1);
            }
        }
    }

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
