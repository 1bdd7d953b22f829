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
    if args.json {
        let report = StatusReport {
            table: &args.table,
            total_lag: all.lag,
            partitions: &states,
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
    }
    Ok(())
}
