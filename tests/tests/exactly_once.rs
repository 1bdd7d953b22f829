//! Exactly once on the real local stack under what AWS's Kafka ESM really does (issue 12,
//! item 7): overlapping deliveries from consumer-group rebalances, zombie invocations that
//! write after the ESM gave up on them and retried, source records removed by retention
//! before they were mirrored, and a record too large for the target topic in the middle of a
//! partition.
//!
//! Every test uses fresh topics, groups and a fresh table. "Caught up" is judged by the
//! mirror's recorded progress (`next_source` == the source partition's end offset), not by
//! target high watermarks: with transactional fencing the target's end offsets also count
//! commit markers and aborted records. The target is always read `read_committed`
//! ([`compare_topic`] and [`ferry_kafka::reader`]'s default isolation).

use ferry_core::ports::ProgressStore;
use ferry_core::progress::Progress;
use ferry_core::TopicPartition;
use ferry_kafka::reader::{partition_checksum, read_partition, watermarks, Isolation};
use ferry_local::workload::{produce, producer, Workload};
use ferry_local::{EsmConfig, EsmStats, EsmStatsSnapshot, EventSourceMapping, PollerMode};
use ferry_tests::*;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureRecord;
use rdkafka::TopicPartitionList;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Mirror env that turns the source data-loss checks on.
const SOURCE_CHECKS: (&str, &str) = ("FERRY_SOURCE_BOOTSTRAP", SOURCE);

async fn produce_workload(topic: &str, partitions: i32, records: u64, seed: u64) {
    let p = producer(SOURCE).expect("producer");
    let w = Workload {
        topic: topic.to_string(),
        partitions,
        records,
        value_bytes: 100,
        seed,
    };
    produce(&p, &w, |_| {}).await.expect("produce workload");
}

/// A mapping running in the background.
struct Running {
    token: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ferry_local::EsmError>>,
    stats: Arc<EsmStats>,
    started: Instant,
}

impl Running {
    fn start(rig: &MirrorRig, config: EsmConfig) -> Self {
        let esm = EventSourceMapping::new(config, Arc::new(rig.host.clone())).expect("mapping");
        let stats = esm.stats();
        let token = CancellationToken::new();
        let task = tokio::spawn({
            let token = token.clone();
            async move { esm.run(token).await }
        });
        Self {
            token,
            task,
            stats,
            started: Instant::now(),
        }
    }

    fn snapshot(&self) -> EsmStatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops gracefully (in-flight and abandoned invocations run to their end) and returns
    /// the final stats.
    async fn stop(self) -> EsmStatsSnapshot {
        self.token.cancel();
        self.task
            .await
            .expect("mapping task")
            .expect("mapping ran without error");
        self.stats.snapshot()
    }

    /// Waits until `done` holds for the stats, or `deadline` passes.
    async fn wait_stats(&self, deadline: Duration, done: impl Fn(&EsmStatsSnapshot) -> bool) {
        let start = Instant::now();
        while !done(&self.snapshot()) && start.elapsed() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn tps(topic: &str, partitions: i32) -> Vec<TopicPartition> {
    (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect()
}

async fn progress(rig: &MirrorRig, topic: &str, partitions: i32) -> HashMap<i32, Progress> {
    rig.store
        .load_progress(&tps(topic, partitions))
        .await
        .expect("load progress")
        .into_iter()
        .map(|(tp, p)| (tp.partition, p))
        .collect()
}

/// Waits until the mirror's recorded progress of each of `parts` reaches the source
/// partition's end offset (nothing left to mirror, no partition stuck); returns the
/// partitions still behind (`partition, recorded next_source, source end`) at the deadline.
async fn wait_caught_up(
    rig: &MirrorRig,
    topic: &str,
    parts: &[i32],
    deadline: Duration,
) -> Vec<(i32, Option<i64>, i64)> {
    let start = Instant::now();
    let tps: Vec<TopicPartition> = parts
        .iter()
        .map(|p| TopicPartition::new(topic, *p))
        .collect();
    loop {
        let done = rig.store.load_progress(&tps).await.expect("load progress");
        let mut behind = Vec::new();
        for tp in &tps {
            let end = watermarks(&source(), tp)
                .await
                .expect("source watermarks")
                .1;
            let next = done.get(tp).map(|x| x.next_source);
            if next.unwrap_or(0) < end {
                behind.push((tp.partition, next, end));
            }
        }
        if behind.is_empty() || start.elapsed() > deadline {
            return behind;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn all(partitions: i32) -> Vec<i32> {
    (0..partitions).collect()
}

/// A record's identity for the duplicate / loss count (the offset is not part of it).
type Identity = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    i64,
    Vec<(String, Vec<u8>)>,
);

fn identity(r: &ferry_core::MirrorRecord) -> Identity {
    (
        r.key.clone(),
        r.value.clone(),
        r.timestamp,
        r.headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect(),
    )
}

/// Duplicates and losses of one partition: target records beyond their count on the source,
/// and source records missing on the target (multiset difference), plus whether the order
/// differs. Reads both sides fully (used when the checksums differ, for the failure message).
async fn diff_partition(tp: &TopicPartition) -> (u64, u64, bool) {
    let s = read_partition(&source(), tp, 0, None, Isolation::ReadCommitted)
        .await
        .expect("read source");
    let t = read_partition(&target(), tp, 0, None, Isolation::ReadCommitted)
        .await
        .expect("read target");
    let mut counts: HashMap<Identity, i64> = HashMap::new();
    for r in &s {
        *counts.entry(identity(r)).or_default() += 1;
    }
    for r in &t {
        *counts.entry(identity(r)).or_default() -= 1;
    }
    let duplicates = counts.values().filter(|c| **c < 0).map(|c| -c).sum::<i64>() as u64;
    let losses = counts.values().filter(|c| **c > 0).sum::<i64>() as u64;
    let reordered =
        duplicates == 0 && losses == 0 && s.iter().zip(&t).any(|(a, b)| identity(a) != identity(b));
    (duplicates, losses, reordered)
}

/// Asserts every partition of `topic` holds exactly the source's records, in order, on the
/// target (read_committed): 0 duplicates, 0 losses. Returns the total record count.
async fn assert_exactly_once(topic: &str, partitions: i32) -> u64 {
    let cmp = compare_topic(topic, partitions).await;
    let mut problems = Vec::new();
    for c in &cmp {
        if !c.equal() {
            let (dups, lost, reordered) = diff_partition(&c.tp).await;
            problems.push(format!(
                "{}: source {} records, target {} records: {dups} duplicates, {lost} lost{}",
                c.tp,
                c.source.count,
                c.target.count,
                if reordered { ", order differs" } else { "" }
            ));
        }
    }
    assert!(problems.is_empty(), "not exactly once: {problems:#?}");
    cmp.iter().map(|c| c.source.count).sum()
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client")
}

fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .operation_timeout(Some(Duration::from_secs(30)))
}

/// Lines of the mirror's function log that contain `needle`.
fn log_lines(rig: &MirrorRig, needle: &str) -> Vec<String> {
    std::fs::read_to_string(rig.log_path())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_deliveries_with_rebalances_never_duplicate_or_lose() {
    init_tracing();
    const PARTITIONS: i32 = 6;
    const UPFRONT: u64 = 50_000;
    const CHUNK: u64 = 5_000;
    const CHUNKS: u64 = 32;
    const CHUNK_EVERY: Duration = Duration::from_secs(2);
    const POLLERS: usize = 3;
    // A quarter of the invocations take 1.5 s longer (before their transaction commit), so a
    // revoked invocation is often still running when the partition's new owner starts. With
    // ~20 revoked batches per run, 5 % of 1 s (the first setting) gave no overlap at all in
    // about one run in three.
    let rig = MirrorRig::new(
        &[
            ("FERRY_FAULTS", "late_commit=0.25,late_ms=1500,seed=12"),
            SOURCE_CHECKS,
        ],
        POLLERS + 3,
    )
    .await;
    let topic = unique("rebalance");
    create_mirrored_topic(&topic, PARTITIONS, &[]).await;
    produce_workload(&topic, PARTITIONS, UPFRONT, 1).await;

    let mut m = rig.mapping(&topic);
    m.poller_mode = PollerMode::ConsumerGroup;
    m.pollers = POLLERS;
    m.batch_size = 500;
    m.faults.rebalance_every = Some(Duration::from_secs(4));
    m.faults.seed = 12;
    let run = Running::start(&rig, m);

    // Keep producing while the group rebalances: 32 chunks of 5,000 records, one every 2 s.
    let background = tokio::spawn({
        let topic = topic.clone();
        async move {
            let p = producer(SOURCE).expect("producer");
            let mut tick = tokio::time::interval(CHUNK_EVERY);
            for i in 0..CHUNKS {
                tick.tick().await;
                let w = Workload {
                    topic: topic.clone(),
                    partitions: PARTITIONS,
                    records: CHUNK,
                    value_bytes: 100,
                    seed: 1000 + i,
                };
                produce(&p, &w, |_| {}).await.expect("produce chunk");
            }
        }
    });
    background.await.expect("background producer");
    let behind = wait_caught_up(&rig, &topic, &all(PARTITIONS), Duration::from_secs(180)).await;
    let duration = run.started.elapsed();
    let stats = run.stop().await;
    assert!(
        behind.is_empty(),
        "partitions not caught up (partition, recorded next_source, source end): {behind:?}; {stats:?}"
    );
    let total = assert_exactly_once(&topic, PARTITIONS).await;
    assert_eq!(total, UPFRONT + CHUNK * CHUNKS);
    assert!(
        total >= 200_000,
        "only {total} records were mirrored: {stats:?}"
    );
    assert!(
        stats.rebalances >= 10,
        "only {} rebalances: {stats:?}",
        stats.rebalances
    );
    assert!(
        stats.overlapping_invocations > 0,
        "no overlapping invocations: {stats:?}"
    );
    assert!(
        duration >= Duration::from_secs(60),
        "mirroring lasted only {duration:?}"
    );
    let delayed = log_lines(&rig, "FERRY_FAULTS: delaying").len();
    eprintln!(
        "overlapping_deliveries_with_rebalances_never_duplicate_or_lose: {total} records over {PARTITIONS} partitions in {:.1} s, {} rebalances, {} overlapping invocations, {} revoked batches, {} rejected commits, {} invocations ({} failed), {delayed} delayed commits, {} cold starts; 0 duplicates, 0 losses",
        duration.as_secs_f64(),
        stats.rebalances,
        stats.overlapping_invocations,
        stats.revoked_batches,
        stats.rejected_commits,
        stats.invocations,
        stats.failures,
        rig.host.cold_starts(),
    );
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_produce_landing_after_its_retry_never_duplicates() {
    init_tracing();
    const PARTITIONS: i32 = 2;
    const RECORDS: u64 = 6_000;
    // 20 % of partition writes sleep 4 s before producing, 40 % before committing their
    // transaction; the ESM gives up after 2 s and retries while the first invocation is still
    // about to write. (A plain batch of 400 records that switches writers between sandboxes
    // takes ~0.6-1.1 s on the 2-core debug stack, so `abandon_after` must stay well above
    // that: at 500 ms every retry was abandoned in turn and fenced by the next one, and one
    // partition never got past its first batch.)
    let rig = MirrorRig::new(
        &[(
            "FERRY_FAULTS",
            "late_produce=0.2,late_commit=0.4,late_ms=4000,seed=5",
        )],
        8,
    )
    .await;
    let topic = unique("zombie");
    create_mirrored_topic(&topic, PARTITIONS, &[]).await;
    produce_workload(&topic, PARTITIONS, RECORDS, 21).await;
    let mut m = rig.mapping(&topic);
    m.batch_size = 300;
    m.faults.abandon_after = Some(Duration::from_secs(2));
    let run = Running::start(&rig, m);
    let behind = wait_caught_up(&rig, &topic, &all(PARTITIONS), Duration::from_secs(150)).await;
    let duration = run.started.elapsed();
    // Stopping waits for the abandoned invocations still running: every zombie has written
    // (or failed to) before the comparison.
    let stats = run.stop().await;
    assert!(
        behind.is_empty(),
        "partitions not caught up (partition, recorded next_source, source end): {behind:?}; {stats:?}"
    );
    let total = assert_exactly_once(&topic, PARTITIONS).await;
    assert_eq!(total, RECORDS);
    assert!(
        stats.abandoned_invocations > 0,
        "no invocation was abandoned: {stats:?}"
    );
    assert!(
        stats.overlapping_invocations > 0,
        "no retry overlapped its abandoned invocation: {stats:?}"
    );
    let late_produce = log_lines(&rig, "delaying BeforeProduce").len();
    let late_commit = log_lines(&rig, "delaying BeforeTransactionCommit").len();
    assert!(
        late_produce > 0 && late_commit > 0,
        "late writers: {late_produce} before producing, {late_commit} before committing (see {})",
        rig.log_path().display()
    );
    eprintln!(
        "a_zombie_produce_landing_after_its_retry_never_duplicates: {total} records in {:.1} s, {} abandoned invocations, {} overlapping, {late_produce} late produces, {late_commit} late commits, {} invocations, {} cold starts; 0 duplicates, 0 losses",
        duration.as_secs_f64(),
        stats.abandoned_invocations,
        stats.overlapping_invocations,
        stats.invocations,
        rig.host.cold_starts(),
    );
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_removed_by_retention_before_mirroring_are_reported_as_loss() {
    init_tracing();
    const PARTITIONS: i32 = 2;
    let rig = MirrorRig::new(&[SOURCE_CHECKS], 2).await;
    let topic = unique("retention");
    create_mirrored_topic(&topic, PARTITIONS, &[]).await;
    let tp0 = TopicPartition::new(&topic, 0);
    let tp1 = TopicPartition::new(&topic, 1);

    // 1. Mirror 500 records per partition, then stop the mapping (its group keeps offset 500).
    produce_workload(&topic, PARTITIONS, 1_000, 31).await;
    let mut m = rig.mapping(&topic);
    m.batch_size = 100;
    let run = Running::start(&rig, m.clone());
    let behind = wait_caught_up(&rig, &topic, &all(PARTITIONS), Duration::from_secs(60)).await;
    let first = run.stop().await;
    assert!(
        behind.is_empty(),
        "first 1,000 not mirrored: {behind:?}; {first:?}"
    );
    let mirrored0 = partition_checksum(&source(), &tp0, 0, Some(500))
        .await
        .expect("source checksum");
    assert_eq!(
        progress(&rig, &topic, PARTITIONS).await[&0].next_source,
        500
    );

    // 2. While it is stopped: 500 more per partition, and partition 0 loses [0, 700) on the
    // source (retention or DeleteRecords), 200 of them never mirrored.
    produce_workload(&topic, PARTITIONS, 1_000, 32).await;
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, rdkafka::Offset::Offset(700))
        .expect("offset");
    let deleted = admin(SOURCE)
        .delete_records(&offsets, &admin_options())
        .await
        .expect("delete records");
    let low = deleted
        .find_partition(&topic, 0)
        .expect("partition 0 in the result");
    low.error().expect("records deleted on partition 0");
    assert_eq!(
        watermarks(&source(), &tp0).await.expect("watermarks"),
        (700, 1000)
    );

    // 3. Resume with the same consumer group: its committed offset 500 is out of range; the
    // poller resets to the log start (700) and delivers a batch that jumps over the gap.
    let run = Running::start(&rig, m);
    run.wait_stats(Duration::from_secs(60), |s| {
        s.failures >= 3
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("Ferry.DataLoss"))
    })
    .await;
    let behind1 = wait_caught_up(&rig, &topic, &[1], Duration::from_secs(30)).await;
    let stats = run.stop().await;
    let err = stats.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("Ferry.DataLoss")
            && err.contains("removed from the source")
            && err.contains("[500, 700)"),
        "expected Ferry.DataLoss for [500, 700): {stats:?}"
    );
    // The function logged it too (error level passes RUST_LOG=warn).
    let logged = log_lines(&rig, "Ferry.DataLoss").len();
    assert!(
        logged > 0,
        "the function log does not mention the data loss ({})",
        rig.log_path().display()
    );
    // Partition 0: nothing recorded or written past the gap; partition 1 is unaffected.
    let done = progress(&rig, &topic, PARTITIONS).await;
    assert_eq!(
        done[&0].next_source, 500,
        "progress moved past the gap: {done:?}"
    );
    let target0 = partition_checksum(&target(), &tp0, 0, None)
        .await
        .expect("target checksum");
    assert_eq!(
        target0, mirrored0,
        "partition 0 on the target is exactly the 500 records mirrored before the gap"
    );
    assert!(behind1.is_empty(), "partition 1 is stuck: {behind1:?}");
    let s1 = partition_checksum(&source(), &tp1, 0, None).await.unwrap();
    let t1 = partition_checksum(&target(), &tp1, 0, None).await.unwrap();
    assert_eq!((s1.count, &s1), (1000, &t1), "partition 1 mirrored exactly");
    eprintln!(
        "records_removed_by_retention_before_mirroring_are_reported_as_loss: {} failed invocations, last error: {err}",
        stats.failures
    );
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_record_mid_batch_leaves_no_hole_and_resumes_after_the_limit_is_raised() {
    init_tracing();
    const BIG_AT: i64 = 100;
    const PER_PARTITION: i64 = 201;
    let rig = MirrorRig::new(&[SOURCE_CHECKS], 2).await;
    let topic = unique("oversized");
    ferry_kafka::admin::create_topic(&source(), &topic, 2, &[])
        .await
        .expect("source topic");
    ferry_kafka::admin::create_topic(&target(), &topic, 2, &[("max.message.bytes", "20000")])
        .await
        .expect("target topic");
    let tp0 = TopicPartition::new(&topic, 0);

    // Partition 0: 100 small records, one of 50 KB (random, incompressible), 100 small ones;
    // partition 1: 201 small ones.
    let p = producer(SOURCE).expect("producer");
    let big: Vec<u8> = (0..50_000).map(|_| rand::random::<u8>()).collect();
    for partition in 0..2 {
        for i in 0..PER_PARTITION {
            let key = format!("k{partition}-{i}");
            let small = format!("small-{partition}-{i}");
            let value: &[u8] = if partition == 0 && i == BIG_AT {
                &big
            } else {
                small.as_bytes()
            };
            p.send(
                FutureRecord::to(&topic)
                    .partition(partition)
                    .key(&key)
                    .payload(value),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
        }
    }

    let mut m = rig.mapping(&topic);
    m.batch_size = 20;
    let run = Running::start(&rig, m);
    run.wait_stats(Duration::from_secs(60), |s| {
        s.failures >= 3
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("Ferry.BadInput"))
    })
    .await;
    // Partition 1 completes while partition 0 is stopped at the big record.
    let behind = wait_caught_up(&rig, &topic, &[1], Duration::from_secs(30)).await;
    assert!(behind.is_empty(), "partition 1 is stuck: {behind:?}");
    assert_eq!(
        wait_caught_up(&rig, &topic, &[0], Duration::ZERO)
            .await
            .len(),
        1,
        "partition 0 stopped at the big record"
    );
    let snap = run.snapshot();
    let err = snap.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("Ferry.BadInput")
            && err.contains("max.message.bytes")
            && err.contains(&format!("{topic}-0@{BIG_AT}")),
        "expected Ferry.BadInput naming max.message.bytes and {topic}-0@{BIG_AT}: {snap:?}"
    );
    // No hole: the target holds a prefix of partition 0 that ends before the big record,
    // identical to the source's, and progress agrees.
    let next0 = progress(&rig, &topic, 2).await[&0].next_source;
    assert!(next0 <= BIG_AT, "progress passed the big record: {next0}");
    let on_target = read_partition(&target(), &tp0, 0, None, Isolation::ReadCommitted)
        .await
        .expect("read target");
    assert_eq!(on_target.len() as i64, next0, "target vs progress");
    let prefix = partition_checksum(&source(), &tp0, 0, Some(next0))
        .await
        .unwrap();
    let target0 = partition_checksum(&target(), &tp0, 0, None).await.unwrap();
    assert_eq!(target0, prefix, "target partition 0 is the source's prefix");

    // Raise the limit; the mirror's cached topic info (60 s TTL) expires and it continues.
    let raised_at = Instant::now();
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("max.message.bytes", "1048588");
    let results = admin(TARGET)
        .alter_configs([&alter], &admin_options())
        .await
        .expect("alter configs");
    for r in results {
        r.expect("max.message.bytes raised");
    }
    let behind = wait_caught_up(&rig, &topic, &all(2), Duration::from_secs(100)).await;
    let resumed_after = raised_at.elapsed();
    let stats = run.stop().await;
    assert!(
        behind.is_empty(),
        "not resumed {resumed_after:?} after raising the limit: {behind:?}; {stats:?}"
    );
    let total = assert_exactly_once(&topic, 2).await;
    assert_eq!(total, 2 * PER_PARTITION as u64);
    eprintln!(
        "an_oversized_record_mid_batch_leaves_no_hole_and_resumes_after_the_limit_is_raised: stopped at {topic}-0@{next0} with {} failed invocations; caught up {:.1} s after raising max.message.bytes; {total} records exactly once",
        snap.failures,
        resumed_after.as_secs_f64()
    );
    rig.host.shutdown().await;
}
