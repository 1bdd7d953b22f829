//! Consumer-group checkpoints on the real local stack: records are mirrored by the real
//! `mirror` binary (ESM emulator), a consumer group reads part of each source partition and
//! commits, the real `checkpoint` binary translates and syncs, and a consumer of the same group
//! on the target must resume at exactly the next record (same key, value, headers, timestamp).

use ferry_core::checkpoint::Checkpoint;
use ferry_core::ports::{CheckpointStore, SegmentStore};
use ferry_core::{MirrorRecord, TopicPartition};
use ferry_kafka::reader::{read_partition, to_mirror_record, Isolation};
use ferry_local::workload::{produce, producer, Workload};
use ferry_tests::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn produce_workload(topic: &str, partitions: i32, records: u64, seed: u64) {
    let p = producer(SOURCE).expect("producer");
    let w = Workload {
        topic: topic.to_string(),
        partitions,
        records,
        value_bytes: 60,
        seed,
    };
    produce(&p, &w, |_| {}).await.expect("produce workload");
}

fn consumer(bootstrap: &str, group: &str, isolation: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer")
}

/// A consumer of `group` on the source reads the first `counts[p]` visible records of each
/// partition, commits `last read offset + 1` and stops. Returns, per partition, the committed
/// offset and the record it would have read next.
async fn consume_part_and_commit(
    topic: &str,
    group: &str,
    counts: &[usize],
    isolation: Isolation,
) -> HashMap<i32, (i64, MirrorRecord)> {
    let mut out = HashMap::new();
    let level = match isolation {
        Isolation::ReadCommitted => "read_committed",
        Isolation::ReadUncommitted => "read_uncommitted",
    };
    let (topic_s, group_s, counts_v) = (topic.to_string(), group.to_string(), counts.to_vec());
    let read: HashMap<i32, MirrorRecord> = tokio::task::spawn_blocking(move || {
        let c = consumer(SOURCE, &group_s, level);
        let mut tpl = TopicPartitionList::new();
        for p in 0..counts_v.len() as i32 {
            tpl.add_partition_offset(&topic_s, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut seen = vec![0usize; counts_v.len()];
        let mut last: HashMap<i32, MirrorRecord> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.iter().zip(&counts_v).any(|(s, c)| s < c) {
            assert!(
                Instant::now() < deadline,
                "source group read stalled: {seen:?}"
            );
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.expect("source poll");
                let p = m.partition() as usize;
                if seen[p] < counts_v[p] {
                    seen[p] += 1;
                    last.insert(m.partition(), to_mirror_record(&m));
                }
            }
        }
        let mut commit = TopicPartitionList::new();
        for (p, r) in &last {
            commit
                .add_partition_offset(&topic_s, *p, Offset::Offset(r.offset + 1))
                .unwrap();
        }
        c.commit(&commit, CommitMode::Sync).expect("source commit");
        last
    })
    .await
    .unwrap();
    for (p, last) in read {
        let tp = TopicPartition::new(topic, p);
        let rest = read_partition(&source(), &tp, last.offset + 1, None, isolation)
            .await
            .expect("read source");
        let next = rest
            .into_iter()
            .next()
            .expect("a record after the group's position");
        out.insert(p, (last.offset + 1, next));
    }
    out
}

/// A consumer of `group` on the target, resuming from its committed offsets: its first record
/// per partition.
async fn first_records_on_target(
    topic: &str,
    group: &str,
    partitions: i32,
) -> HashMap<i32, MirrorRecord> {
    let (topic, group) = (topic.to_string(), group.to_string());
    tokio::task::spawn_blocking(move || {
        let c = consumer(TARGET, &group, "read_committed");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(&topic, p, Offset::Stored).unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut first = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while first.len() < partitions as usize {
            assert!(
                Instant::now() < deadline,
                "target group got first records of only {:?}",
                first.keys()
            );
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.expect("target poll");
                first
                    .entry(m.partition())
                    .or_insert_with(|| to_mirror_record(&m));
            }
        }
        first
    })
    .await
    .unwrap()
}

fn same_content(a: &MirrorRecord, b: &MirrorRecord) -> bool {
    a.key == b.key && a.value == b.value && a.headers == b.headers && a.timestamp == b.timestamp
}

fn group_report<'a>(resp: &'a serde_json::Value, group: &str) -> &'a serde_json::Value {
    resp["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["group"] == group))
        .unwrap_or_else(|| panic!("no report for {group} in {resp}"))
}

async fn assert_resumes_exactly(
    topic: &str,
    group: &str,
    expected: &HashMap<i32, (i64, MirrorRecord)>,
) {
    let first = first_records_on_target(topic, group, expected.len() as i32).await;
    for (p, (committed, next)) in expected {
        let got = &first[p];
        assert!(
            same_content(got, next),
            "{topic}-{p}: group committed source offset {committed}; expected next record (source offset {}) {:?}, target consumer got {:?}",
            next.offset, next, got
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_topic_group_resumes_at_exactly_the_next_record_on_the_target() {
    init_tracing();
    let started = Instant::now();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = unique("ckpt-plain");
    let (n, parts) = (30_000u64, 3);
    create_mirrored_topic(&topic, parts, &[]).await;
    produce_workload(&topic, parts, n, 21).await;
    rig.run_until_mirrored(
        vec![rig.mapping(&topic)],
        &[(topic.clone(), parts, n as i64)],
        Duration::from_secs(300),
        async {},
    )
    .await;
    let mirrored_at = started.elapsed();
    // Plain topic: segments start only after a transaction's commit marker (one per batch),
    // never at a source gap.
    for p in 0..parts {
        let segs = rig
            .store
            .segments(&TopicPartition::new(&topic, p))
            .await
            .unwrap();
        assert_plain_segments(&rig, &TopicPartition::new(&topic, p), &segs).await;
    }
    let group = unique("app-plain");
    // First 40 %, 25 % and 61 % of each partition.
    let per = (n / parts as u64) as usize;
    let expected = consume_part_and_commit(
        &topic,
        &group,
        &[per * 40 / 100, per / 4, per * 61 / 100],
        Isolation::ReadCommitted,
    )
    .await;
    let host = rig.checkpoint_host(&[
        ("FERRY_GROUPS_INCLUDE", &group),
        ("FERRY_TOPICS_INCLUDE", &topic),
    ]);
    let resp = run_checkpoint(&host).await;
    let report = group_report(&resp, &group);
    assert_eq!(report["partitions_checkpointed"], 3, "{resp}");
    assert_eq!(report["sync"]["status"], "synced", "{resp}");
    let cps = rig.store.load_checkpoints(&group).await.unwrap();
    for (p, (committed, _)) in &expected {
        // Plain topic: the translation skips one commit marker per mirrored batch before
        // the committed offset (assert_resumes_exactly below proves it lands on the next record).
        use ferry_core::ports::ProgressStore;
        let tp = TopicPartition::new(&topic, *p);
        let progress = rig
            .store
            .load_progress(std::slice::from_ref(&tp))
            .await
            .unwrap()[&tp];
        let segs = rig.store.segments(&tp).await.unwrap();
        let ferry_core::translate::Translation::Exact(t) =
            ferry_core::translate::translate(&segs, progress, *committed)
        else {
            panic!("{tp}: {committed} not translatable");
        };
        assert_eq!(
            cps[&tp],
            Checkpoint {
                source_offset: *committed,
                target_offset: t
            }
        );
        assert!(t >= *committed, "{tp}: markers only add offsets");
    }
    assert_resumes_exactly(&topic, &group, &expected).await;
    // A second run changes nothing.
    let again = run_checkpoint(&host).await;
    assert_eq!(
        group_report(&again, &group)["partitions_checkpointed"],
        0,
        "{again}"
    );
    eprintln!(
        "plain checkpoint test: {n} records mirrored in {mirrored_at:?}, total {:?}",
        started.elapsed()
    );
    host.shutdown().await;
    rig.host.shutdown().await;
}

/// Source partition `p` gets, per round: a committed transaction of 4 records, an aborted one of
/// 3, and 2 non-transactional records, so offsets have marker gaps and aborted-record gaps.
fn produce_transactions(topic: &str, partitions: i32, rounds: usize) -> u64 {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", SOURCE)
        .set("transactional.id", unique("ckpt-txn"))
        .set("enable.idempotence", "true")
        .create()
        .expect("transactional producer");
    let plain: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", SOURCE)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let t = Duration::from_secs(30);
    producer.init_transactions(t).expect("init transactions");
    let mut committed = 0u64;
    for round in 0..rounds {
        for (kind, count) in [("commit", 4), ("abort", 3)] {
            producer.begin_transaction().unwrap();
            for p in 0..partitions {
                for i in 0..count {
                    let key = format!("{kind}-{round}-{p}-{i}");
                    producer
                        .send(BaseRecord::to(topic).partition(p).key(&key).payload(&key))
                        .map_err(|(e, _)| e)
                        .unwrap();
                }
            }
            producer.flush(t).unwrap();
            if kind == "commit" {
                producer.commit_transaction(t).unwrap();
                committed += 4 * partitions as u64;
            } else {
                producer.abort_transaction(t).unwrap();
            }
        }
        for p in 0..partitions {
            for i in 0..2 {
                let key = format!("plain-{round}-{p}-{i}");
                plain
                    .send(BaseRecord::to(topic).partition(p).key(&key).payload(&key))
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
        }
        plain.flush(t).unwrap();
        committed += 2 * partitions as u64;
    }
    committed
}

/// Transactional source, mirrored through an ESM with `isolation`; a `read_committed` source
/// group stops right after a committed transaction (its committed offset is the commit marker)
/// on partition 0 and inside a transaction on partition 1.
async fn transactional_case(isolation: ferry_local::IsolationLevel) {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = unique("ckpt-txn");
    let parts = 2;
    let rounds = 40;
    create_mirrored_topic(&topic, parts, &[]).await;
    let t2 = topic.clone();
    let visible = tokio::task::spawn_blocking(move || produce_transactions(&t2, parts, rounds))
        .await
        .unwrap();
    let aborted = (3 * rounds * parts as usize) as i64;
    let delivered = match isolation {
        ferry_local::IsolationLevel::ReadCommitted => visible as i64,
        ferry_local::IsolationLevel::ReadUncommitted => visible as i64 + aborted,
    };
    let mut m = rig.mapping(&topic);
    m.isolation_level = isolation;
    rig.run_until_mirrored(
        vec![m],
        &[(topic.clone(), parts, delivered)],
        Duration::from_secs(300),
        async {},
    )
    .await;
    let segs = rig
        .store
        .segments(&TopicPartition::new(&topic, 0))
        .await
        .unwrap();
    assert!(
        segs.len() > rounds,
        "gaps must start segments: {}",
        segs.len()
    );
    let group = unique("app-txn");
    let per = (visible / parts as u64) as usize;
    // Per round and partition: 4 committed, marker, 3 aborted, marker, 2 plain (6 visible).
    let expected = consume_part_and_commit(
        &topic,
        &group,
        &[5 * 6 + 4, per / 2 + 1],
        Isolation::ReadCommitted,
    )
    .await;
    let host = rig.checkpoint_host(&[
        ("FERRY_GROUPS_INCLUDE", &group),
        ("FERRY_TOPICS_INCLUDE", &topic),
    ]);
    let resp = run_checkpoint(&host).await;
    let report = group_report(&resp, &group);
    assert_eq!(report["partitions_checkpointed"], parts, "{resp}");
    assert_eq!(report["sync"]["status"], "synced", "{resp}");
    match isolation {
        ferry_local::IsolationLevel::ReadCommitted => {
            assert_resumes_exactly(&topic, &group, &expected).await;
        }
        ferry_local::IsolationLevel::ReadUncommitted => {
            // The mirror also saw the aborted records: the committed offset (a marker) translates
            // to the next record the mirror delivered, which is the first aborted record after it.
            let mut next_delivered = HashMap::new();
            for (p, (committed, _)) in &expected {
                let tp = TopicPartition::new(&topic, *p);
                let rest =
                    read_partition(&source(), &tp, *committed, None, Isolation::ReadUncommitted)
                        .await
                        .unwrap();
                next_delivered.insert(*p, (*committed, rest.into_iter().next().unwrap()));
            }
            assert!(
                String::from_utf8_lossy(next_delivered[&0].1.key.as_deref().unwrap())
                    .starts_with("abort-"),
                "{:?}",
                next_delivered[&0]
            );
            assert_resumes_exactly(&topic, &group, &next_delivered).await;
        }
    }
    host.shutdown().await;
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_topic_with_gaps_resumes_exactly() {
    transactional_case(ferry_local::IsolationLevel::ReadCommitted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_topic_mirrored_read_uncommitted_translates_to_the_next_delivered_record() {
    transactional_case(ferry_local::IsolationLevel::ReadUncommitted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_source_bootstrap_fails_the_cold_start_with_ferry_config() {
    init_tracing();
    let rig = MirrorRig::new(&[], 1).await;
    let host = rig.checkpoint_host(&[("FERRY_SOURCE_BOOTSTRAP", "")]);
    let err = ferry_local::Invoker::invoke(&host, CHECKPOINT, bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Ferry.Config", "{err}");
    assert!(err.to_string().contains("FERRY_SOURCE_BOOTSTRAP"), "{err}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_ahead_of_the_mirror_and_group_active_on_the_target() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = unique("ckpt-ahead");
    let parts = 2;
    create_mirrored_topic(&topic, parts, &[]).await;
    produce_workload(&topic, parts, 2_000, 5).await;
    rig.run_until_mirrored(
        vec![rig.mapping(&topic)],
        &[(topic.clone(), parts, 2_000)],
        Duration::from_secs(120),
        async {},
    )
    .await;
    // 1,000 more records the mirror has not seen (no mapping runs now).
    produce_workload(&topic, parts, 1_000, 6).await;
    let ahead = unique("app-ahead");
    consume_part_and_commit(&topic, &ahead, &[1_200, 300], Isolation::ReadCommitted).await;
    // Another group is consuming on the target right now.
    let busy = unique("app-busy");
    consume_part_and_commit(&topic, &busy, &[100, 100], Isolation::ReadCommitted).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let member = std::thread::spawn({
        let (topic, busy, stop) = (topic.clone(), busy.clone(), stop.clone());
        move || {
            let c = consumer(TARGET, &busy, "read_committed");
            c.subscribe(&[&topic]).unwrap();
            let mut signalled = false;
            while !stop.load(Ordering::Relaxed) {
                let _ = c.poll(Duration::from_millis(100));
                if !signalled && c.assignment().map(|a| a.count() > 0).unwrap_or(false) {
                    joined_tx.send(()).unwrap();
                    signalled = true;
                }
            }
        }
    });
    joined_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("target member joined");
    let host = rig.checkpoint_host(&[
        ("FERRY_GROUPS_INCLUDE", &format!("{ahead}|{busy}")),
        ("FERRY_TOPICS_INCLUDE", &topic),
    ]);
    let resp = run_checkpoint(&host).await;
    stop.store(true, Ordering::Relaxed);
    member.join().unwrap();

    // (c) Partition 0 is ahead of the mirror (1,200 > 1,000 mirrored): lag, no checkpoint.
    let r = group_report(&resp, &ahead);
    assert_eq!(r["partitions_checkpointed"], 1, "{resp}");
    let lagging = r["not_yet_translatable"].as_array().unwrap();
    assert_eq!(lagging.len(), 1, "{resp}");
    assert_eq!(lagging[0]["tp"]["partition"], 0);
    assert_eq!(lagging[0]["lag"], 200);
    let cps = rig.store.load_checkpoints(&ahead).await.unwrap();
    assert!(
        !cps.contains_key(&TopicPartition::new(&topic, 0)),
        "{cps:?}"
    );
    assert_eq!(cps[&TopicPartition::new(&topic, 1)].target_offset, 300);

    // (d) The active target group is left alone and reported.
    let b = group_report(&resp, &busy);
    assert_eq!(b["sync"]["status"], "skipped", "{resp}");
    assert!(
        b["sync"]["reason"].as_str().unwrap().contains("active"),
        "{resp}"
    );
    assert_eq!(b["partitions_checkpointed"], 2, "{resp}");
    let committed = ferry_core::ports::TargetGroups::committed(
        &ferry_kafka::KafkaGroups::target(target()),
        &busy,
        std::slice::from_ref(&topic),
    )
    .await
    .unwrap();
    assert!(
        committed.is_empty(),
        "nothing committed for the active group: {committed:?}"
    );
    host.shutdown().await;
    rig.host.shutdown().await;
}

/// (e) A large plain topic keeps exactly one translation segment per partition in DynamoDB, and
/// checkpoints anywhere in it translate exactly. Size: `FERRY_CKPT_BIG_RECORDS` (default
/// 1,000,000 records of ~10-byte values; the run prints the measured mirror rate). Measured on
/// the 2-core dev machine with the debug binary: produced in 17 s, mirrored in 68 s
/// (~14,700 records/s), whole test 96 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_plain_topic_segments_only_at_commit_markers() {
    init_tracing();
    let n: u64 = std::env::var("FERRY_CKPT_BIG_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let parts = 3;
    let rig = MirrorRig::new(&[], 3).await;
    let topic = unique("ckpt-big");
    create_mirrored_topic(&topic, parts, &[]).await;
    let started = Instant::now();
    let p = producer(SOURCE).expect("producer");
    let w = Workload {
        topic: topic.clone(),
        partitions: parts,
        records: n,
        value_bytes: 10,
        seed: 77,
    };
    produce(&p, &w, |_| {}).await.expect("produce workload");
    let produced_in = started.elapsed();
    let mut m = rig.mapping(&topic);
    m.batch_size = 10_000;
    m.pollers = 3;
    let mirror_start = Instant::now();
    rig.run_until_mirrored(
        vec![m],
        &[(topic.clone(), parts, n as i64)],
        Duration::from_secs(900),
        async {},
    )
    .await;
    let mirrored_in = mirror_start.elapsed();
    for p in 0..parts {
        let segs = rig
            .store
            .segments(&TopicPartition::new(&topic, p))
            .await
            .unwrap();
        assert_plain_segments(&rig, &TopicPartition::new(&topic, p), &segs).await;
    }
    let group = unique("app-big");
    let per = (n / parts as u64) as usize;
    let expected = consume_part_and_commit(
        &topic,
        &group,
        &[per / 3, per / 2, per - 7],
        Isolation::ReadCommitted,
    )
    .await;
    let host = rig.checkpoint_host(&[
        ("FERRY_GROUPS_INCLUDE", &group),
        ("FERRY_TOPICS_INCLUDE", &topic),
    ]);
    let resp = run_checkpoint(&host).await;
    assert_eq!(
        group_report(&resp, &group)["partitions_checkpointed"],
        3,
        "{resp}"
    );
    assert_resumes_exactly(&topic, &group, &expected).await;
    eprintln!(
        "large plain topic: {n} records produced in {produced_in:?}, mirrored in {mirrored_in:?} ({:.0} records/s), 1 segment per partition",
        n as f64 / mirrored_in.as_secs_f64()
    );
    host.shutdown().await;
    rig.host.shutdown().await;
}

/// Records visible in `topic`-`p` on the source (compaction leaves offset gaps).
async fn visible_records(topic: &str, p: i32) -> Vec<MirrorRecord> {
    read_partition(
        &source(),
        &TopicPartition::new(topic, p),
        0,
        None,
        Isolation::ReadCommitted,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_topic_with_gaps_resumes_exactly() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = unique("ckpt-compact");
    let parts = 2;
    // The source compacts quickly; the target topic is a plain copy so its contents stay put.
    ferry_kafka::admin::create_topic(
        &source(),
        &topic,
        parts,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "100"),
            ("min.cleanable.dirty.ratio", "0.001"),
            ("delete.retention.ms", "100"),
        ],
    )
    .await
    .unwrap();
    ferry_kafka::admin::create_topic(&target(), &topic, parts, &[])
        .await
        .unwrap();
    let p = producer(SOURCE).expect("producer");
    let send = |i: u64| {
        // Every third record has a key of its own and survives compaction; the others share 40
        // keys and mostly get compacted away: interior offset gaps all along the log.
        let key = if i.is_multiple_of(3) {
            format!("u{i}")
        } else {
            format!("k{}", i % 40)
        };
        let value = format!("v{i}");
        let partition = (i % parts as u64) as i32;
        let p = p.clone();
        let topic = topic.clone();
        async move {
            p.send(
                rdkafka::producer::FutureRecord::to(&topic)
                    .partition(partition)
                    .key(&key)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
        }
    };
    for i in 0..2_000 {
        send(i).await;
    }
    // Roll the segments (segment.ms) so the cleaner may compact them, then wait until it did.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 2_000..2_010 {
        send(i).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut visible = [0usize; 2];
    loop {
        for (p, v) in visible.iter_mut().enumerate() {
            *v = visible_records(&topic, p as i32).await.len();
        }
        if visible.iter().all(|&v| v < 1_005 / 2) {
            // Compacted: let the count settle (a second cleaner pass may still run).
            tokio::time::sleep(Duration::from_secs(3)).await;
            let again: Vec<usize> = futures::future::join_all((0..parts).map(|p| {
                let topic = topic.clone();
                async move { visible_records(&topic, p).await.len() }
            }))
            .await;
            if again == visible {
                break;
            }
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "the source never compacted: visible {visible:?} of 1005 per partition"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let total: usize = visible.iter().sum();
    rig.run_until_mirrored(
        vec![rig.mapping(&topic)],
        &[(topic.clone(), parts, total as i64)],
        Duration::from_secs(300),
        async {},
    )
    .await;
    let segs = rig
        .store
        .segments(&TopicPartition::new(&topic, 0))
        .await
        .unwrap();
    assert!(
        segs.len() > 1,
        "compaction gaps must start segments: {segs:?}"
    );
    let group = unique("app-compact");
    let expected = consume_part_and_commit(
        &topic,
        &group,
        &[visible[0] / 2, visible[1] / 3],
        Isolation::ReadCommitted,
    )
    .await;
    let host = rig.checkpoint_host(&[
        ("FERRY_GROUPS_INCLUDE", &group),
        ("FERRY_TOPICS_INCLUDE", &topic),
    ]);
    let resp = run_checkpoint(&host).await;
    let report = group_report(&resp, &group);
    assert_eq!(report["partitions_checkpointed"], parts, "{resp}");
    assert_eq!(report["sync"]["status"], "synced", "{resp}");
    assert_resumes_exactly(&topic, &group, &expected).await;

    // `ferry translate --group` (consumers without a group would give --partition/--offset)
    // gives exactly the checkpoints the function stored.
    let out = std::process::Command::new(ferry_tests::bin_path("ferry"))
        .args(["translate", "--table", rig.store.table(), "--topic", &topic])
        .args(["--group", &group, "--json"])
        .args(["--source-bootstrap", SOURCE])
        .output()
        .expect("ferry translate runs");
    assert!(
        out.status.success(),
        "ferry translate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let translated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cps = rig.store.load_checkpoints(&group).await.unwrap();
    assert_eq!(translated.as_array().unwrap().len(), parts as usize);
    for t in translated.as_array().unwrap() {
        let tp = TopicPartition::new(&topic, t["partition"].as_i64().unwrap() as i32);
        assert_eq!(t["status"], "exact", "{t}");
        assert_eq!(t["source_offset"], cps[&tp].source_offset, "{t}");
        assert_eq!(t["target_offset"], cps[&tp].target_offset, "{t}");
    }
    eprintln!(
        "compacted checkpoint test: visible {visible:?} of 1005 per partition, {} segments on p0",
        segs.len()
    );
    host.shutdown().await;
    rig.host.shutdown().await;
}

/// A plain (gapless) source partition mirrored with fencing: every segment continues the
/// source exactly where the previous one ended and starts right after one commit marker.
async fn assert_plain_segments(rig: &MirrorRig, tp: &TopicPartition, segs: &[ferry_core::Segment]) {
    use ferry_core::ports::ProgressStore;
    let progress = rig
        .store
        .load_progress(std::slice::from_ref(tp))
        .await
        .unwrap()[tp];
    for (i, w) in segs.windows(2).enumerate() {
        let len = ferry_core::progress::segment_len(segs, progress, i);
        assert_eq!(
            w[1].source_start,
            w[0].source_start + len,
            "{tp}: source gap at segment {i}: {segs:?}"
        );
        assert_eq!(
            w[1].target_gap_before, 1,
            "{tp}: only a commit marker between segments: {segs:?}"
        );
    }
}
