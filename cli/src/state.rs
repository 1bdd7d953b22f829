//! Reading a mirror's state: source offsets (Kafka watermarks), mirrored progress and
//! translation segments (the DynamoDB table), and the lag derived from them. Shared by
//! `ferry demo`, `ferry local` and `ferry status`.

use anyhow::Context as _;
use ferry_aws::DynamoStateStore;
use ferry_core::ports::{ProgressStore as _, SegmentStore as _};
use ferry_core::{Progress, TopicPartition};
use ferry_kafka::reader::watermarks;
use ferry_kafka::KafkaConnection;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::HashMap;

/// How many Kafka offset or DynamoDB queries run at once.
const PARALLEL_QUERIES: usize = 8;

/// A source topic and its partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Partition count on the source.
    pub partitions: i32,
}

impl TopicInfo {
    /// Every partition of the topic.
    pub fn tps(&self) -> impl Iterator<Item = TopicPartition> + '_ {
        (0..self.partitions).map(|p| TopicPartition::new(self.name.clone(), p))
    }
}

/// All partitions of `topics`, in topic then partition order.
pub fn all_tps(topics: &[TopicInfo]) -> Vec<TopicPartition> {
    topics.iter().flat_map(TopicInfo::tps).collect()
}

/// Looks up the partition counts of `names` on the source; a missing topic is an error.
pub async fn describe_topics(
    source: &KafkaConnection,
    names: &[String],
) -> anyhow::Result<Vec<TopicInfo>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let partitions = ferry_kafka::partition_count(source, name)
            .await
            .with_context(|| format!("cannot read the metadata of topic {name:?}"))?
            .ok_or_else(|| anyhow::anyhow!("topic {name:?} does not exist on the source"))?;
        out.push(TopicInfo {
            name: name.clone(),
            partitions,
        });
    }
    Ok(out)
}

/// Low and high watermark of every partition, in `tps` order.
pub async fn offsets(
    conn: &KafkaConnection,
    tps: &[TopicPartition],
) -> anyhow::Result<Vec<(i64, i64)>> {
    stream::iter(tps.iter().map(|tp| async move {
        watermarks(conn, tp)
            .await
            .with_context(|| format!("cannot read the offsets of {tp}"))
    }))
    .buffered(PARALLEL_QUERIES)
    .try_collect()
    .await
}

/// Mirrored progress of `tps` from the DynamoDB table (partitions without progress are absent).
pub async fn progress(
    store: &DynamoStateStore,
    tps: &[TopicPartition],
) -> anyhow::Result<HashMap<TopicPartition, Progress>> {
    store
        .load_progress(tps)
        .await
        .with_context(|| format!("cannot read progress from DynamoDB table {}", store.table()))
}

/// Number of translation segments of every partition, in `tps` order.
pub async fn segment_counts(
    store: &DynamoStateStore,
    tps: &[TopicPartition],
) -> anyhow::Result<Vec<usize>> {
    stream::iter(tps.iter().map(|tp| async move {
        store
            .segments(tp)
            .await
            .map(|s| s.len())
            .with_context(|| format!("cannot read the segments of {tp}"))
    }))
    .buffered(PARALLEL_QUERIES)
    .try_collect()
    .await
}

/// One partition's mirror state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionState {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset on the source (low watermark).
    pub source_start: i64,
    /// Offset the next source record will get (high watermark).
    pub source_end: i64,
    /// Next source offset to mirror, from DynamoDB (`None`: nothing mirrored yet).
    pub next_source: Option<i64>,
    /// Target offset of the next mirrored record, from DynamoDB.
    pub next_target: Option<i64>,
    /// End offset of the target partition, if it was read.
    pub target_end: Option<i64>,
    /// Translation segments in DynamoDB, if they were read.
    pub segments: Option<usize>,
}

impl PartitionState {
    /// Source records that still wait to be mirrored (offsets, so transaction markers and
    /// compaction gaps count too).
    pub fn lag(&self) -> i64 {
        let done = self.next_source.unwrap_or(0).max(self.source_start);
        (self.source_end - done).max(0)
    }

    /// Source records available in total (`end - start`).
    pub fn total(&self) -> i64 {
        (self.source_end - self.source_start).max(0)
    }

    /// Source records mirrored so far (`total - lag`).
    pub fn mirrored(&self) -> i64 {
        self.total() - self.lag()
    }
}

/// Combines watermarks and progress into per-partition states (segments and target ends
/// unset).
pub fn combine(
    tps: &[TopicPartition],
    source: &[(i64, i64)],
    progress: &HashMap<TopicPartition, Progress>,
) -> Vec<PartitionState> {
    tps.iter()
        .zip(source)
        .map(|(tp, &(low, high))| {
            let p = progress.get(tp);
            PartitionState {
                topic: tp.topic.clone(),
                partition: tp.partition,
                source_start: low,
                source_end: high,
                next_source: p.map(|p| p.next_source),
                next_target: p.map(|p| p.next_target),
                target_end: None,
                segments: None,
            }
        })
        .collect()
}

/// Per-topic totals of partition states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TopicTotals {
    /// Source records.
    pub total: i64,
    /// Mirrored records.
    pub mirrored: i64,
    /// Lag.
    pub lag: i64,
}

/// Sums partition states per topic, in the order the topics first appear.
pub fn per_topic(states: &[PartitionState]) -> Vec<(String, TopicTotals)> {
    let mut out: Vec<(String, TopicTotals)> = Vec::new();
    for s in states {
        let i = match out.iter().position(|(topic, _)| *topic == s.topic) {
            Some(i) => i,
            None => {
                out.push((s.topic.clone(), TopicTotals::default()));
                out.len() - 1
            }
        };
        let t = &mut out[i].1;
        t.total += s.total();
        t.mirrored += s.mirrored();
        t.lag += s.lag();
    }
    out
}

/// Sums over all partitions.
pub fn overall(states: &[PartitionState]) -> TopicTotals {
    states.iter().fold(TopicTotals::default(), |mut t, s| {
        t.total += s.total();
        t.mirrored += s.mirrored();
        t.lag += s.lag();
        t
    })
}

/// Creates each demo topic on both clusters (`partitions` each, CreateTime timestamps) and the
/// DynamoDB state table, and returns the store over that table. Shared by both demos.
pub async fn create_topics_and_table(
    source: &KafkaConnection,
    target: &KafkaConnection,
    names: &[String],
    partitions: i32,
    table: &str,
) -> anyhow::Result<DynamoStateStore> {
    let configs = [("message.timestamp.type", "CreateTime")];
    for name in names {
        for (side, conn) in [("source", source), ("target", target)] {
            ferry_kafka::create_topic(conn, name, partitions, &configs)
                .await
                .with_context(|| format!("cannot create topic {name:?} on the {side}"))?;
        }
    }
    let client = ferry_aws::client_from_env().await;
    ferry_aws::ensure_table(&client, table)
        .await
        .with_context(|| format!("cannot create DynamoDB table {table}"))?;
    Ok(DynamoStateStore::new(client, table.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(start: i64, end: i64, next: Option<i64>) -> PartitionState {
        PartitionState {
            topic: "t".into(),
            partition: 0,
            source_start: start,
            source_end: end,
            next_source: next,
            next_target: next,
            target_end: None,
            segments: None,
        }
    }

    #[test]
    fn lag_and_mirrored() {
        assert_eq!(state(0, 100, None).lag(), 100);
        assert_eq!(state(0, 100, Some(40)).lag(), 60);
        assert_eq!(state(0, 100, Some(40)).mirrored(), 40);
        assert_eq!(state(50, 100, None).lag(), 50);
        assert_eq!(state(50, 100, Some(10)).mirrored(), 0);
        assert_eq!(state(0, 100, Some(120)).lag(), 0);
    }

    #[test]
    fn totals_sum_per_topic() {
        let mut a = state(0, 10, Some(5));
        a.topic = "a".into();
        let b = state(0, 10, Some(10));
        let by_topic = per_topic(&[a.clone(), b.clone(), a.clone()]);
        assert_eq!(by_topic.len(), 2);
        assert_eq!((by_topic[0].0.as_str(), by_topic[0].1.lag), ("a", 10));
        assert_eq!((by_topic[1].0.as_str(), by_topic[1].1.lag), ("t", 0));
        assert_eq!(
            overall(&[a, b]),
            TopicTotals {
                total: 20,
                mirrored: 15,
                lag: 5
            }
        );
    }
}
