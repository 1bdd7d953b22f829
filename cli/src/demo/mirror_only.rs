//! `ferry demo --mirror-only`: the mirror alone on the running stack, then a per-partition
//! source/target comparison (no applications, no cutover state machine).
//!
//! 1. Fresh demo topics (`demo-orders-<suffix>`, `demo-payments-<suffix>`, ...) on source and
//!    target with the same partition count, and a fresh DynamoDB table.
//! 2. Sample traffic ([`ferry_local::workload`]: keys, null keys, tombstones, headers, explicit
//!    timestamps) produced to the source.
//! 3. The real `mirror` binary behind the local Lambda Runtime API, fed by one event source
//!    mapping per topic; live progress once per second on stderr (mirrored records from the
//!    DynamoDB progress items, records/s, lag per topic).
//! 4. Once everything is mirrored: the mappings stop and every partition is compared on both
//!    clusters by count and ordered content checksum, with the number of translation
//!    segments DynamoDB holds for it.
//!
//! The whole run is bounded by `--timeout`.

use super::{check_stack, suffix, topic_names};
use crate::args::DemoArgs;
use crate::progress::LiveLine;
use crate::report::{stdout_colors, thousands, DemoReport, PartitionCheck};
use crate::runtime::{failure_note, log_file, mirror_bin, LocalRuntime, RuntimeOptions};
use crate::state::{self, TopicInfo};
use anyhow::Context as _;
use ferry_aws::DynamoStateStore;
use ferry_core::TopicPartition;
use ferry_kafka::reader::partition_checksum;
use ferry_kafka::KafkaConnection;
use ferry_local::workload::{self, Workload};
use ferry_local::LogTarget;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the live progress line is refreshed.
const TICK: Duration = Duration::from_secs(1);
/// How often mirrored progress is read from DynamoDB (finer than [`TICK`] so the measured
/// mirroring time is accurate).
const POLL: Duration = Duration::from_millis(250);
/// Extra time the hard timeout allows, so the mirroring phase can report its own timeout
/// with details first.
const TIMEOUT_GRACE: Duration = Duration::from_secs(3);
/// Shortest interval between two "producing" progress lines.
const PRODUCE_TICK: Duration = Duration::from_millis(500);
/// Partitions compared at once.
const PARALLEL_CHECKSUMS: usize = 4;

/// Runs the demo; `Ok(true)` if every partition matches.
pub async fn run(args: &DemoArgs) -> anyhow::Result<bool> {
    let limit = Duration::from_secs(args.timeout);
    let phase = Phase::default();
    let inner = run_inner(args, Instant::now() + limit, &phase);
    match tokio::time::timeout(limit + TIMEOUT_GRACE, inner).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!(
            "the demo did not finish within {} s (--timeout) while {}; \
             check the local stack with `scripts/stack status`",
            args.timeout,
            phase.get()
        ),
    }
}

/// What the demo is doing, for the timeout message.
#[derive(Debug, Default)]
struct Phase(Mutex<&'static str>);

impl Phase {
    fn set(&self, what: &'static str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = what;
    }

    fn get(&self) -> &'static str {
        let what = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if what.is_empty() {
            "starting"
        } else {
            what
        }
    }
}

async fn run_inner(args: &DemoArgs, deadline: Instant, phase: &Phase) -> anyhow::Result<bool> {
    phase.set("checking the local stack");
    let mirror_bin = mirror_bin(args.mirror_bin.as_ref())?;
    let source = args.clusters.source().await?;
    let target = args.clusters.target().await?;
    check_stack(&source, &target).await?;

    let suffix = suffix();
    let names = topic_names(args.topics, &suffix);
    let table = format!("ferry-demo-{suffix}");
    let topics: Vec<TopicInfo> = names
        .iter()
        .map(|name| TopicInfo {
            name: name.clone(),
            partitions: args.partitions,
        })
        .collect();
    let tps = state::all_tps(&topics);
    let mirror_log = log_file(&format!("{table}-mirror"));

    eprintln!(
        "Ferry demo: {} topics x {} partitions, {} records of ~{} bytes",
        names.len(),
        args.partitions,
        thousands(i64::try_from(args.records).unwrap_or(i64::MAX)),
        args.value_bytes
    );
    eprintln!(
        "  source {} -> target {}, DynamoDB table {table} at {}",
        args.clusters.source_bootstrap,
        args.clusters.target_bootstrap,
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS".to_owned())
    );
    eprintln!(
        "  mirror {} (log: {})",
        mirror_bin.display(),
        mirror_log.display()
    );

    // 1. Topics and table.
    phase.set("creating topics and the DynamoDB table");
    let step = Instant::now();
    let store =
        state::create_topics_and_table(&source, &target, &names, args.partitions, &table).await?;
    eprintln!(
        "created {} topics on both clusters and table {table} ({:.1} s)",
        names.len(),
        step.elapsed().as_secs_f64()
    );

    // 2. Sample traffic.
    phase.set("producing sample traffic");
    let step = Instant::now();
    produce(&source, &names, args).await?;
    let produce_seconds = step.elapsed().as_secs_f64();
    let source_offsets = state::offsets(&source, &tps).await?;
    let total: i64 = source_offsets.iter().map(|(low, high)| high - low).sum();
    eprintln!(
        "produced {} records in {produce_seconds:.1} s",
        thousands(total)
    );

    // 3. Mirror.
    phase.set("mirroring");
    let options = RuntimeOptions {
        mirror_bin,
        table: table.clone(),
        source_bootstrap: args.clusters.source_bootstrap.clone(),
        target_bootstrap: args.clusters.target_bootstrap.clone(),
        topics: names.clone(),
        group_prefix: format!("ferry-demo-{suffix}"),
        pollers: args.pollers as usize,
        batch_size: args.batch_size as usize,
        batching_window: Duration::from_millis(50),
        log: LogTarget::File(mirror_log.clone()),
    };
    let step = Instant::now();
    let mut runtime = LocalRuntime::start(&options)?;
    let outcome = watch(
        &mut runtime,
        &store,
        &tps,
        &source_offsets,
        &suffix,
        deadline,
    )
    .await;
    let mirror_seconds = step.elapsed().as_secs_f64();
    phase.set("stopping the mappings");
    let stopped = runtime.stop().await;
    if outcome.is_err() || stopped.is_err() {
        eprintln!("mirror log: {}", mirror_log.display());
    }
    outcome?;
    let stopped = stopped?;
    let stats = stopped.stats;

    // 4. Compare.
    phase.set("comparing source and target");
    eprintln!(
        "comparing {} partitions on source and target ...",
        tps.len()
    );
    let checks = compare(&source, &target, &store, &tps).await?;
    let records = checks.iter().map(|c| c.source_count).sum::<u64>();
    let report = DemoReport {
        ok: checks.iter().all(|c| c.ok) && records == args.records,
        table,
        topics: names,
        partitions: args.partitions,
        expected_records: args.records,
        records,
        produce_seconds,
        mirror_seconds,
        records_per_second: records as f64 / mirror_seconds.max(f64::EPSILON),
        invocations: stats.iter().map(|(_, s)| s.invocations).sum(),
        failed_invocations: stats.iter().map(|(_, s)| s.failures).sum(),
        cold_starts: stopped.cold_starts,
        mirror_log: mirror_log.display().to_string(),
        checks,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render(stdout_colors()));
    }
    std::io::stdout().flush()?;
    eprintln!(
        "inspect later: ferry status --table {} --topics {}",
        report.table,
        report.topics.join(",")
    );
    Ok(report.ok)
}

/// Produces the sample traffic, all topics concurrently, printing progress.
async fn produce(
    source: &KafkaConnection,
    names: &[String],
    args: &DemoArgs,
) -> anyhow::Result<()> {
    let bootstrap = &source.bootstrap_servers;
    let producer = workload::producer(bootstrap).context("cannot create the workload producer")?;
    let counts = split_evenly(args.records, names.len());
    let progress = Arc::new(Mutex::new(ProduceProgress {
        done: vec![0; names.len()],
        shown: None,
    }));
    let total = args.records;
    let line = LiveLine::new();
    let jobs = names
        .iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (name, records))| {
            let w = Workload {
                topic: name.clone(),
                partitions: args.partitions,
                records,
                value_bytes: usize::try_from(args.value_bytes).unwrap_or(usize::MAX),
                seed: 0xfe44_0000 + i as u64,
            };
            let progress = Arc::clone(&progress);
            let producer = &producer;
            let line = &line;
            async move {
                workload::produce(producer, &w, |n| {
                    let mut p = progress.lock().unwrap_or_else(PoisonError::into_inner);
                    p.done[i] = n;
                    let sum: u64 = p.done.iter().sum();
                    let due = p.shown.is_none_or(|(at, shown)| {
                        shown != sum && (sum == total || at.elapsed() >= PRODUCE_TICK)
                    });
                    if due {
                        p.shown = Some((Instant::now(), sum));
                        line.set(format!(
                            "producing  {}/{} records",
                            thousands(sum as i64),
                            thousands(total as i64)
                        ));
                    }
                })
                .await
                .with_context(|| format!("producing to {} failed", w.topic))
            }
        });
    let produced = futures::future::try_join_all(jobs).await;
    line.finish();
    produced?;
    Ok(())
}

/// Records produced per topic and the last progress line shown (when, what).
#[derive(Debug)]
struct ProduceProgress {
    done: Vec<u64>,
    shown: Option<(Instant, u64)>,
}

/// The name shown for a demo topic in progress lines: `demo-orders-<suffix>` -> `orders`.
fn short_name<'a>(topic: &'a str, suffix: &str) -> &'a str {
    topic
        .strip_prefix("demo-")
        .and_then(|t| t.strip_suffix(suffix))
        .and_then(|t| t.strip_suffix('-'))
        .unwrap_or(topic)
}

/// Polls DynamoDB every [`POLL`] and refreshes the progress line once per [`TICK`] until DynamoDB records every source record as
/// mirrored, a mapping fails, or `deadline` passes.
async fn watch(
    runtime: &mut LocalRuntime,
    store: &DynamoStateStore,
    tps: &[TopicPartition],
    source_offsets: &[(i64, i64)],
    suffix: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    let line = LiveLine::new();
    let start = Instant::now();
    let mut shown = (start, 0i64);
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        ticker.tick().await;
        runtime.check().await?;
        let progress = state::progress(store, tps).await?;
        let states = state::combine(tps, source_offsets, &progress);
        let all = state::overall(&states);
        let now = Instant::now();
        let done = all.lag == 0;
        if first || done || now.duration_since(shown.0) >= TICK {
            first = false;
            let rate = (all.mirrored - shown.1) as f64
                / now.duration_since(shown.0).as_secs_f64().max(0.001);
            shown = (now, all.mirrored);
            line.set(progress_line(&states, rate, runtime, suffix));
        }
        if done {
            line.finish();
            return Ok(());
        }
        if now >= deadline {
            line.finish();
            let mut msg = format!(
                "timeout (--timeout) reached after {:.0} s of mirroring: {} of {} records mirrored",
                start.elapsed().as_secs_f64(),
                thousands(all.mirrored),
                thousands(all.total)
            );
            if let Some(note) = failure_note(&runtime.stats()) {
                msg.push_str(&format!("; {note}"));
            }
            anyhow::bail!(msg);
        }
    }
}

/// `mirroring  12,000/30,000 records (40%)  9,500 rec/s  lag: orders 6,000 | ...`
fn progress_line(
    states: &[state::PartitionState],
    rate: f64,
    runtime: &LocalRuntime,
    suffix: &str,
) -> String {
    let all = state::overall(states);
    let by_topic = state::per_topic(states);
    let lag = if by_topic.len() <= 5 {
        by_topic
            .iter()
            .map(|(t, totals)| format!("{} {}", short_name(t, suffix), thousands(totals.lag)))
            .collect::<Vec<_>>()
            .join(" | ")
    } else {
        format!("{} in {} topics", thousands(all.lag), by_topic.len())
    };
    let failures: u64 = runtime.stats().iter().map(|(_, s)| s.failures).sum();
    let mut line = format!(
        "mirroring  {}/{} records ({:.0}%)  {} rec/s  lag: {lag}",
        thousands(all.mirrored),
        thousands(all.total),
        100.0 * all.mirrored as f64 / (all.total.max(1) as f64),
        thousands(rate.round() as i64),
    );
    if failures > 0 {
        line.push_str(&format!("  ({failures} failed invocations, retried)"));
    }
    line
}

/// Splits `total` records over `parts` as evenly as possible (the first ones get the rest).
fn split_evenly(total: u64, parts: usize) -> Vec<u64> {
    let parts_u64 = parts.max(1) as u64;
    let (each, rest) = (total / parts_u64, total % parts_u64);
    (0..parts_u64).map(|i| each + u64::from(i < rest)).collect()
}

/// Checksums every partition on both clusters and reads its segments and progress.
async fn compare(
    source: &KafkaConnection,
    target: &KafkaConnection,
    store: &DynamoStateStore,
    tps: &[TopicPartition],
) -> anyhow::Result<Vec<PartitionCheck>> {
    let segments = state::segment_counts(store, tps).await?;
    let progress = state::progress(store, tps).await?;
    let sums: Vec<_> = stream::iter(tps.iter().map(|tp| async move {
        let s = partition_checksum(source, tp, 0, None)
            .await
            .with_context(|| format!("cannot read {tp} on the source"))?;
        let t = partition_checksum(target, tp, 0, None)
            .await
            .with_context(|| format!("cannot read {tp} on the target"))?;
        anyhow::Ok((s, t))
    }))
    .buffered(PARALLEL_CHECKSUMS)
    .try_collect()
    .await?;
    Ok(tps
        .iter()
        .zip(sums)
        .zip(segments)
        .map(|((tp, (s, t)), segments)| {
            let next = progress.get(tp).map(|p| (p.next_source, p.next_target));
            PartitionCheck::new(&tp.topic, tp.partition, s, t, segments, next)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_prefix_and_suffix() {
        assert_eq!(short_name("demo-orders-ab12", "ab12"), "orders");
        assert_eq!(short_name("other", "ab12"), "other");
    }

    #[test]
    fn records_are_split_evenly() {
        assert_eq!(split_evenly(10, 3), [4, 3, 3]);
        assert_eq!(split_evenly(60_000, 3), [20_000; 3]);
        assert_eq!(split_evenly(2, 3), [1, 1, 0]);
    }
}
