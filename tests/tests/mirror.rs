//! The mirror on the real local stack: the `mirror` binary behind the local Lambda Runtime API,
//! fed by the ESM emulator from the source cluster, writing to the target cluster and DynamoDB
//! (moto). Every test uses fresh topics, groups and a fresh table.

use ferry_local::workload::{produce, producer, Workload};
use ferry_tests::*;
use std::time::Duration;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_200k_records_over_3_topics_exactly() {
    init_tracing();
    let rig = MirrorRig::new(&[], 4).await;
    let topics: Vec<String> = (0..3).map(|i| unique(&format!("bulk{i}"))).collect();
    let per_topic = [80_000u64, 70_000, 50_000];
    for (t, n) in topics.iter().zip(per_topic) {
        create_mirrored_topic(t, 6, &[]).await;
        produce_workload(t, 6, n, n).await;
    }
    let mappings = topics.iter().map(|t| rig.mapping(t)).collect();
    let expected: Vec<_> = topics
        .iter()
        .zip(per_topic)
        .map(|(t, n)| (t.clone(), 6, n as i64))
        .collect();
    let stats = rig
        .run_until_mirrored(mappings, &expected, Duration::from_secs(600), async {})
        .await;
    for (t, n) in topics.iter().zip(per_topic) {
        assert_mirrored(t, 6, n).await;
    }
    let records: u64 = stats.iter().map(|s| s.records).sum();
    assert!(records >= 200_000, "{stats:?}");
    rig.host.shutdown().await;
    // The function flushed CloudWatch EMF documents with the MirrorMaker 2-style metrics.
    let log = std::fs::read_to_string(rig.log_path()).expect("function log");
    let emf: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    for metric in [
        "record-count",
        "byte-count",
        "replication-latency-ms",
        "record-age-ms",
        "batch-duration-ms",
    ] {
        assert!(
            emf.iter().any(|d| d.get(metric).is_some()),
            "no EMF document carries {metric}"
        );
    }
    assert!(emf
        .iter()
        .any(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Ferry"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_and_differently_split_batches_never_duplicate() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = unique("redeliver");
    create_mirrored_topic(&topic, 4, &[]).await;
    produce_workload(&topic, 4, 20_000, 7).await;
    let mut m = rig.mapping(&topic);
    m.batch_size = 300;
    m.faults.redeliver_probability = 0.4;
    m.faults.resplit_on_retry = true;
    m.faults.seed = 42;
    let stats = rig
        .run_until_mirrored(
            vec![m],
            &[(topic.clone(), 4, 20_000)],
            Duration::from_secs(300),
            async {},
        )
        .await;
    assert!(
        stats[0].redeliveries >= 10,
        "expected redeliveries: {stats:?}"
    );
    // Let any late redelivery finish, then compare: exactly the source, nothing twice.
    assert_mirrored(&topic, 4, 20_000).await;
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_invocations_never_duplicate_or_lose() {
    init_tracing();
    // The binary aborts after producing (before the state commit) or mid-produce; on top, the
    // sandbox is SIGKILLed from outside at random moments.
    let rig = MirrorRig::new(
        &[("FERRY_FAULTS", "after_produce=0.12,mid_produce=0.12,seed=3")],
        2,
    )
    .await;
    let topic = unique("crash");
    create_mirrored_topic(&topic, 3, &[]).await;
    produce_workload(&topic, 3, 30_000, 11).await;
    let mut m = rig.mapping(&topic);
    m.batch_size = 200;
    let host = rig.host.clone();
    let killer = async move {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(150 + rand::random::<u64>() % 400)).await;
            host.kill_current();
        }
    };
    rig.run_until_mirrored(
        vec![m],
        &[(topic.clone(), 3, 30_000)],
        Duration::from_secs(400),
        killer,
    )
    .await;
    let crashes = rig.host.cold_starts().saturating_sub(1);
    assert!(crashes >= 20, "only {crashes} crashes were injected");
    assert_mirrored(&topic, 3, 30_000).await;
    eprintln!("killed_invocations_never_duplicate_or_lose: {crashes} sandbox deaths, 0 duplicates, 0 losses");
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_record_on_the_target_is_detected_and_reported() {
    init_tracing();
    let rig = MirrorRig::new(&[], 1).await;
    let topic = unique("foreign");
    create_mirrored_topic(&topic, 2, &[]).await;
    produce_workload(&topic, 2, 1_000, 5).await;
    rig.run_until_mirrored(
        vec![rig.mapping(&topic)],
        &[(topic.clone(), 2, 1_000)],
        Duration::from_secs(120),
        async {},
    )
    .await;
    // Somebody writes to the mirrored target partition 0.
    let intruder = producer(TARGET).expect("producer");
    intruder
        .send(
            rdkafka::producer::FutureRecord::<str, str>::to(&topic)
                .partition(0)
                .payload("intruder"),
            Duration::from_secs(10),
        )
        .await
        .expect("foreign write");
    produce_workload(&topic, 2, 1_000, 6).await;
    let mut m = rig.mapping(&topic);
    m.max_retries = Some(2);
    // Partition 1 completes; partition 0 must stop at the foreign record.
    let esm =
        ferry_local::EventSourceMapping::new(m, std::sync::Arc::new(rig.host.clone())).unwrap();
    let stats = esm.stats();
    let token = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn({
        let token = token.clone();
        async move { esm.run(token).await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while stats.snapshot().failures < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    token.cancel();
    run.await.unwrap().unwrap();
    let snap = stats.snapshot();
    let err = snap.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("Ferry.TargetIntegrity") && err.contains("another writer"),
        "{snap:?}"
    );
    // Committed records of partition 0 (read_committed, as target consumers must read):
    // the 500 mirrored ones and the intruder, nothing of Ferry's after it (an attempt that got
    // as far as producing would have aborted its transaction).
    let tp0 = ferry_core::TopicPartition::new(&topic, 0);
    let (_, end0) = ferry_kafka::reader::watermarks(&target(), &tp0)
        .await
        .unwrap();
    let committed = ferry_kafka::read_partition(
        &target(),
        &tp0,
        0,
        Some(end0),
        ferry_kafka::Isolation::ReadCommitted,
    )
    .await
    .unwrap();
    assert_eq!(
        committed.len(),
        501,
        "nothing mirrored after the foreign record on partition 0"
    );
    assert_eq!(
        committed.last().and_then(|r| r.value.as_deref()),
        Some(&b"intruder"[..])
    );
    rig.host.shutdown().await;
}
