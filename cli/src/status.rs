//! `ferry status`: per-partition mirror state of some topics: source end offset, mirrored
//! progress from DynamoDB (`next_source`, `next_target`), the target's end offset, lag and
//! the number of translation segments. Target topics have the source's names (identity
//! replication policy).

use crate::args::StatusArgs;
use crate::report::{status_table, stdout_colors, thousands};
use crate::state::{self, PartitionState};
use ferry_aws::DynamoStateStore;
use ferry_kafka::reader::watermarks;
use futures::stream::{self, StreamExt};
use serde::Serialize;

/// The JSON form of `ferry status`.
#[derive(Debug, Clone, Serialize)]
struct StatusReport<'a> {
    table: &'a str,
    total_lag: i64,
    partitions: &'a [PartitionState],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unrecorded: Vec<Unrecorded>,
}

/// A committed target record past a partition's recorded progress.
#[derive(Debug, Clone, Serialize)]
struct Unrecorded {
    topic: String,
    partition: i32,
    target_offset: i64,
    timestamp: i64,
    key: Option<String>,
    value_bytes: usize,
}

/// Committed target records in `[next_target, target_end)` of every partition (read
/// `read_committed`: commit markers and aborted records are not records).
async fn unrecorded(
    target: &ferry_kafka::KafkaConnection,
    states: &[PartitionState],
) -> anyhow::Result<Vec<Unrecorded>> {
    let mut out = Vec::new();
    for s in states {
        let (Some(next_target), Some(end)) = (s.next_target, s.target_end) else {
            continue;
        };
        if end <= next_target {
            continue;
        }
        let tp = ferry_core::TopicPartition::new(&s.topic, s.partition);
        let records = ferry_kafka::read_partition(
            target,
            &tp,
            next_target,
            Some(end),
            ferry_kafka::Isolation::ReadCommitted,
        )
        .await?;
        out.extend(records.into_iter().map(|r| {
            Unrecorded {
                topic: s.topic.clone(),
                partition: s.partition,
                target_offset: r.offset,
                timestamp: r.timestamp,
                key: r
                    .key
                    .as_deref()
                    .map(|k| String::from_utf8_lossy(k).chars().take(40).collect()),
                value_bytes: r.value.as_ref().map_or(0, Vec::len),
            }
        }));
    }
    Ok(out)
}

/// Prints the status table (or JSON).
pub async fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let source = args.clusters.source().await?;
    let target = args.clusters.target().await?;
    let store = DynamoStateStore::new(ferry_aws::client_from_env().await, args.table.clone());
    let topics = state::describe_topics(&source, &args.topics).await?;
    let tps = state::all_tps(&topics);
    let offsets = state::offsets(&source, &tps).await?;
    let progress = state::progress(&store, &tps).await?;
    let segments = state::segment_counts(&store, &tps).await?;
    // A missing target topic or partition is a state to show, not an error.
    let target_ends: Vec<Option<i64>> = stream::iter(tps.iter().map(|tp| {
        let target = &target;
        async move { watermarks(target, tp).await.ok().map(|(_, high)| high) }
    }))
    .buffered(8)
    .collect()
    .await;
    let mut states = state::combine(&tps, &offsets, &progress);
    for ((s, segments), target_end) in states.iter_mut().zip(segments).zip(target_ends) {
        s.segments = Some(segments);
        s.target_end = target_end;
    }
    let all = state::overall(&states);
    let unrecorded = if args.unrecorded {
        unrecorded(&target, &states).await?
    } else {
        Vec::new()
    };
    if args.json {
        let report = StatusReport {
            table: &args.table,
            total_lag: all.lag,
            partitions: &states,
            unrecorded,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", status_table(&states).render(stdout_colors()));
        println!(
            "\n{} of {} source records mirrored, lag {} (table {})",
            thousands(all.mirrored),
            thousands(all.total),
            thousands(all.lag),
            args.table
        );
        if args.unrecorded {
            if unrecorded.is_empty() {
                println!("no committed target record past recorded progress");
            }
            for u in &unrecorded {
                println!(
                    "{}/{}: target offset {} is not recorded by Ferry (timestamp {}, key {:?}, {} value bytes)",
                    u.topic, u.partition, u.target_offset, u.timestamp, u.key, u.value_bytes
                );
            }
        }
    }
    Ok(())
}
