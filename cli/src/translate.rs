//! `ferry translate`: the exact target position of a source position, for consumers that keep
//! their own offsets instead of a consumer group (Flink and Spark checkpoints, `assign()`
//! consumers, offsets stored in a database).
//!
//! * `--topic t --partition p --offset o`: one source position (the "next offset to read", as a
//!   consumer commits it);
//! * `--topic t --group g`: every partition of `t` the group has committed on the source.
//!
//! Each offset costs one progress read and the two single-item segment reads around it
//! ([`ferry_core::ports::SegmentStore::segments_around`]); the answer is the one the checkpoint
//! function and the cutover compute ([`ferry_core::translate`]). An offset the mirror has not
//! reached yet is reported with its lag, never guessed.

use crate::args::TranslateArgs;
use anyhow::Context as _;
use ferry_core::policy::ReplicationPolicy;
use ferry_core::ports::{ProgressStore, SegmentStore, SourceGroups};
use ferry_core::translate::{translate, Translation};
use ferry_core::TopicPartition;
use serde::Serialize;
use std::fmt::Write as _;

/// One translated position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translated {
    /// Source topic.
    pub topic: String,
    /// Partition (the same number on the target).
    pub partition: i32,
    /// Source offset (next offset to read).
    pub source_offset: i64,
    /// Target topic (replication policy).
    pub target_topic: String,
    /// Target offset to resume at; `None` when not translatable yet.
    pub target_offset: Option<i64>,
    /// `exact`, `not_yet_mirrored` (the mirror is `lag` offsets behind) or `not_mirrored`
    /// (nothing of the partition is mirrored yet).
    pub status: &'static str,
    /// Source offsets the position is ahead of the mirror.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
}

/// Translates `positions` (source partition, next offset to read) over `store`.
pub async fn translate_positions<S: ProgressStore + SegmentStore>(
    store: &S,
    policy: &ReplicationPolicy,
    positions: &[(TopicPartition, i64)],
) -> anyhow::Result<Vec<Translated>> {
    let tps: Vec<TopicPartition> = positions.iter().map(|(tp, _)| tp.clone()).collect();
    let progress = store
        .load_progress(&tps)
        .await
        .context("cannot read mirror progress")?;
    let mut out = Vec::with_capacity(positions.len());
    for (tp, offset) in positions {
        let mut t = Translated {
            topic: tp.topic.clone(),
            partition: tp.partition,
            source_offset: *offset,
            target_topic: policy.target_topic(&tp.topic),
            target_offset: None,
            status: "not_mirrored",
            lag: None,
        };
        if let Some(p) = progress.get(tp).copied() {
            let segments = store
                .segments_around(tp, *offset)
                .await
                .with_context(|| format!("cannot read the segments of {tp}"))?;
            match translate(&segments, p, *offset) {
                Translation::Exact(target) => {
                    t.target_offset = Some(target);
                    t.status = "exact";
                }
                Translation::NotYetMirrored { lag } => {
                    t.status = "not_yet_mirrored";
                    t.lag = Some(lag);
                }
            }
        }
        out.push(t);
    }
    Ok(out)
}

/// The human-readable lines.
pub fn render(translated: &[Translated]) -> String {
    let mut s = String::new();
    for t in translated {
        let _ = match (t.target_offset, t.lag) {
            (Some(target), _) => writeln!(
                s,
                "{}-{} @ {}  ->  {}-{} @ {}",
                t.topic, t.partition, t.source_offset, t.target_topic, t.partition, target
            ),
            (None, Some(lag)) => writeln!(
                s,
                "{}-{} @ {}  ->  not mirrored yet: the mirror is {lag} offsets behind; try again later",
                t.topic, t.partition, t.source_offset
            ),
            (None, None) => writeln!(
                s,
                "{}-{} @ {}  ->  nothing of this partition is mirrored yet",
                t.topic, t.partition, t.source_offset
            ),
        };
    }
    s
}

/// Runs `ferry translate`. `Ok(false)` when some position is not translatable yet.
pub async fn run(args: &TranslateArgs) -> anyhow::Result<bool> {
    let policy = ReplicationPolicy::parse(&args.replication_policy)
        .context("invalid --replication-policy / FERRY_REPLICATION_POLICY")?;
    let positions: Vec<(TopicPartition, i64)> = match (&args.group, args.partition, args.offset) {
        (None, Some(partition), Some(offset)) => {
            vec![(TopicPartition::new(&args.topic, partition), offset)]
        }
        (Some(group), None, None) => {
            let groups = ferry_kafka::KafkaGroups::source(args.clusters.source().await?);
            let mut committed: Vec<(TopicPartition, i64)> = groups
                .committed_offsets(group, std::slice::from_ref(&args.topic))
                .await
                .with_context(|| format!("cannot read the offsets of group {group:?}"))?
                .into_iter()
                .collect();
            if committed.is_empty() {
                anyhow::bail!(
                    "group {group:?} has no committed offsets on topic {:?} on the source",
                    args.topic
                );
            }
            committed.sort();
            committed
        }
        _ => anyhow::bail!("give either --partition and --offset, or --group"),
    };
    let store =
        ferry_aws::DynamoStateStore::new(ferry_aws::client_from_env().await, args.table.clone());
    let translated = translate_positions(&store, &policy, &positions).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&translated)?);
    } else {
        print!("{}", render(&translated));
    }
    Ok(translated.iter().all(|t| t.target_offset.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ports::ProgressCommit;
    use ferry_core::{Progress, Segment};
    use ferry_testkit::InMemoryStateStore;

    #[tokio::test]
    async fn translates_exactly_and_never_guesses() {
        let store = InMemoryStateStore::new();
        let tp = TopicPartition::new("orders", 3);
        let start = store
            .init_progress(
                &tp,
                Progress {
                    next_source: 10,
                    next_target: 0,
                },
            )
            .await
            .unwrap();
        // 10..20 mirrored to 0..10; 20..25 compacted away; 25..30 mirrored to 10..15.
        store
            .commit_progress(&[ProgressCommit {
                tp: tp.clone(),
                expected: start,
                new: Progress {
                    next_source: 30,
                    next_target: 15,
                },
                segments: vec![Segment::new(25, 10)],
            }])
            .await
            .unwrap();
        let policy = ReplicationPolicy::parse("prefix:dr").unwrap();
        let other = TopicPartition::new("orders", 4);
        let positions = [
            (tp.clone(), 12),
            (tp.clone(), 22),
            (tp.clone(), 30),
            (tp.clone(), 35),
            (other, 1),
        ];
        let out = translate_positions(&store, &policy, &positions)
            .await
            .unwrap();
        let targets: Vec<(Option<i64>, &str, Option<i64>)> = out
            .iter()
            .map(|t| (t.target_offset, t.status, t.lag))
            .collect();
        assert_eq!(
            targets,
            vec![
                (Some(2), "exact", None),
                (Some(10), "exact", None),
                (Some(15), "exact", None),
                (None, "not_yet_mirrored", Some(5)),
                (None, "not_mirrored", None),
            ]
        );
        assert_eq!(out[0].target_topic, "dr.orders");
        let text = render(&out);
        assert!(
            text.contains("orders-3 @ 12  ->  dr.orders-3 @ 2"),
            "{text}"
        );
        assert!(text.contains("5 offsets behind"), "{text}");
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json[0]["target_offset"], 2);
        assert!(json[0].get("lag").is_none());
        assert_eq!(json[3]["status"], "not_yet_mirrored");
    }
}
