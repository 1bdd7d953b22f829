//! `ferry status`: per-partition mirror state of some topics: source end offset, mirrored
//! progress from DynamoDB (`next_source`, `next_target`), the target's end offset, lag and
//! the number of translation segments. Target topics have the source's names (identity
//! replication policy). `--watch` shows a live one-line summary on stderr until Ctrl-C.

use crate::args::StatusArgs;
use crate::progress::LiveLine;
use crate::report::{status_table, stdout_colors, thousands};
use crate::state::{self, PartitionState};
use ferry_aws::DynamoStateStore;
use ferry_core::TopicPartition;
use ferry_kafka::reader::watermarks;
use ferry_kafka::KafkaConnection;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::time::{Duration, Instant};

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

/// Prints the status table (or JSON); with `--watch`, a live summary first, refreshed until
/// Ctrl-C.
pub async fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let source = args.clusters.source().await?;
    let target = args.clusters.target().await?;
    let store = DynamoStateStore::new(ferry_aws::client_from_env().await, args.table.clone());
    let topics = state::describe_topics(&source, &args.topics).await?;
    let tps = state::all_tps(&topics);
    if args.watch {
        watch(args, &source, &target, &store, &tps).await?;
    }
    let states = partition_states(&source, &target, &store, &tps).await?;
    print(args, &target, &states).await
}

/// Refreshes a one-line summary every `--interval` seconds until Ctrl-C.
async fn watch(
    args: &StatusArgs,
    source: &KafkaConnection,
    target: &KafkaConnection,
    store: &DynamoStateStore,
    tps: &[TopicPartition],
) -> anyhow::Result<()> {
    let line = LiveLine::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ticker = tokio::time::interval(Duration::from_secs(args.interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(Instant, i64)> = None;
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = ticker.tick() => {}
        }
        let states = match partition_states(source, target, store, tps).await {
            Ok(states) => states,
            Err(err) => {
                line.finish();
                return Err(err);
            }
        };
        let all = state::overall(&states);
        let now = Instant::now();
        let rate = last.map(|(at, mirrored)| {
            (all.mirrored - mirrored) as f64 / now.duration_since(at).as_secs_f64().max(0.001)
        });
        last = Some((now, all.mirrored));
        line.set(summary(&states, rate, &args.table));
    }
    line.finish();
    Ok(())
}

/// `12,000 of 30,000 source records mirrored (40%), lag 18,000, 9,500 rec/s (table t; Ctrl-C stops)`
fn summary(states: &[PartitionState], rate: Option<f64>, table: &str) -> String {
    let all = state::overall(states);
    let mut line = format!(
        "{} of {} source records mirrored ({:.0}%), lag {}",
        thousands(all.mirrored),
        thousands(all.total),
        100.0 * all.mirrored as f64 / (all.total.max(1) as f64),
        thousands(all.lag)
    );
    if let Some(rate) = rate {
        line.push_str(&format!(", {} rec/s", thousands(rate.round() as i64)));
    }
    line.push_str(&format!(" (table {table}; Ctrl-C stops)"));
    line
}

/// Source and target offsets, progress and segments of every partition.
async fn partition_states(
    source: &KafkaConnection,
    target: &KafkaConnection,
    store: &DynamoStateStore,
    tps: &[TopicPartition],
) -> anyhow::Result<Vec<PartitionState>> {
    let offsets = state::offsets(source, tps).await?;
    let progress = state::progress(store, tps).await?;
    let segments = state::segment_counts(store, tps).await?;
    // A missing target topic or partition is a state to show, not an error.
    let target_ends: Vec<Option<i64>> = stream::iter(
        tps.iter()
            .map(|tp| async move { watermarks(target, tp).await.ok().map(|(_, high)| high) }),
    )
    .buffered(8)
    .collect()
    .await;
    let mut states = state::combine(tps, &offsets, &progress);
    for ((s, segments), target_end) in states.iter_mut().zip(segments).zip(target_ends) {
        s.segments = Some(segments);
        s.target_end = target_end;
    }
    Ok(states)
}

/// Prints the table (or JSON) of `states`, with the unrecorded records if asked for.
async fn print(
    args: &StatusArgs,
    target: &KafkaConnection,
    states: &[PartitionState],
) -> anyhow::Result<()> {
    let all = state::overall(states);
    let unrecorded = if args.unrecorded {
        unrecorded(target, states).await?
    } else {
        Vec::new()
    };
    if args.json {
        let report = StatusReport {
            table: &args.table,
            total_lag: all.lag,
            partitions: states,
            unrecorded,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", status_table(states).render(stdout_colors()));
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
