//! Validation on the real local stack, through the real `validate` and `heartbeat` binaries
//! behind the local Lambda Runtime API:
//!
//! * a topic mirrored by the real mirror validates `ok` with an exact lag of 0;
//! * a target written by hand with one altered value, and one with a lost record, with progress
//!   and segments recorded in a fresh table as if mirrored: the mismatch names the partition and
//!   the first differing source and target offsets; with `fail_on_mismatch` the invocation fails
//!   with `Ferry.ValidationFailed`;
//! * heartbeats written to the source, mirrored, and compared by validate.

use ferry_core::ports::{MigrationStore, ProgressCommit, ProgressStore};
use ferry_core::{MirrorRecord, Progress, TopicPartition};
use ferry_kafka::reader::{read_partition, Isolation};
use ferry_kafka::{ProducerTuning, TargetCluster};
use ferry_local::workload::{produce, producer, Workload};
use ferry_local::Invoker;
use ferry_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const VALIDATE: &str = "validate";
const HEARTBEAT: &str = "heartbeat";

fn host(name: &str, table: &str, extra_env: &[(&str, &str)]) -> ferry_local::FunctionHost {
    let mut config = ferry_local::FunctionConfig::new(name, bin_path(name));
    config.env = [
        ("FERRY_TABLE", table),
        ("FERRY_SOURCE_BOOTSTRAP", SOURCE),
        ("FERRY_TARGET_BOOTSTRAP", TARGET),
        ("RUST_LOG", "info"),
    ]
    .iter()
    .chain(extra_env.iter())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    config.timeout = Duration::from_secs(120);
    config.sandboxes = 1;
    config.log =
        ferry_local::LogTarget::File(std::env::temp_dir().join(format!("{table}-{name}.log")));
    ferry_local::FunctionHost::new(config).expect("function host")
}

async fn invoke(
    host: &ferry_local::FunctionHost,
    name: &str,
    input: Value,
) -> Result<Value, ferry_local::InvokeError> {
    let out = host
        .invoke(name, bytes::Bytes::from(input.to_string()))
        .await?;
    Ok(serde_json::from_slice(&out).expect("JSON response"))
}

async fn fresh_store() -> (String, ferry_aws::DynamoStateStore) {
    require_stack();
    let table = unique("ferry-validate");
    let client = ferry_aws::dynamo::client_from_env().await;
    ferry_aws::dynamo::ensure_table(&client, &table)
        .await
        .expect("create table on moto");
    (
        table.clone(),
        ferry_aws::DynamoStateStore::new(client, table),
    )
}

fn record(i: usize) -> MirrorRecord {
    MirrorRecord {
        offset: 0,
        timestamp: 1_700_000_000_000 + i as i64,
        timestamp_type: ferry_core::TimestampType::CreateTime,
        key: Some(format!("key-{i}").into_bytes()),
        value: Some(format!("value-{i}").into_bytes()),
        headers: vec![ferry_core::Header {
            key: "h".into(),
            value: format!("{i}").into_bytes(),
        }],
    }
}

/// A 2-partition topic with `n` records per partition on the source; the target gets partition
/// 0 faithfully and partition 1 through `damage`; progress and one segment per partition are
/// recorded as if the mirror had written `n` records of each. Returns the table and topic.
async fn hand_mirrored(
    n: usize,
    damage: impl Fn(&mut Vec<MirrorRecord>),
) -> (String, ferry_aws::DynamoStateStore, String) {
    let (table, store) = fresh_store().await;
    let topic = unique("validate-hand");
    create_mirrored_topic(&topic, 2, &[]).await;
    let src = TargetCluster::new(&source(), ProducerTuning::default()).expect("source producer");
    let dst = TargetCluster::new(&target(), ProducerTuning::default()).expect("target producer");
    use ferry_core::ports::TargetProducer;
    for p in 0..2 {
        let tp = TopicPartition::new(&topic, p);
        let records: Vec<MirrorRecord> = (0..n).map(|i| record(i + 1000 * p as usize)).collect();
        src.produce(&tp, &records).await.expect("produce source");
        let mut on_target = read_partition(&source(), &tp, 0, None, Isolation::ReadCommitted)
            .await
            .expect("read source back");
        assert_eq!(on_target.len(), n);
        if p == 1 {
            damage(&mut on_target);
        }
        dst.produce(&tp, &on_target).await.expect("produce target");
        let initial = Progress::initial(0, 0);
        store
            .init_progress(&tp, initial)
            .await
            .expect("init progress");
        store
            .commit_progress(&[ProgressCommit {
                tp: tp.clone(),
                expected: initial,
                new: Progress {
                    next_source: n as i64,
                    next_target: n as i64,
                },
                segments: vec![],
            }])
            .await
            .expect("commit progress");
    }
    (table, store, topic)
}

fn full_input(migration: &str, topic: &str, fail: bool) -> Value {
    json!({"migration_id": migration, "mode": "full", "fail_on_mismatch": fail, "topics": [topic]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_topic_validates_ok_with_zero_lag() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = unique("validate-ok");
    let (n, parts) = (3000u64, 3);
    create_mirrored_topic(&topic, parts, &[]).await;
    let p = producer(SOURCE).expect("producer");
    let w = Workload {
        topic: topic.clone(),
        partitions: parts,
        records: n,
        value_bytes: 50,
        seed: 7,
    };
    produce(&p, &w, |_| {}).await.expect("produce workload");
    rig.run_until_mirrored(
        vec![rig.mapping(&topic)],
        &[(topic.clone(), parts, n as i64)],
        Duration::from_secs(300),
        async {},
    )
    .await;
    let host = host(VALIDATE, &rig.table, &[("FERRY_TOPICS_INCLUDE", &topic)]);
    let migration = unique("m");
    let report = invoke(&host, VALIDATE, full_input(&migration, &topic, true))
        .await
        .expect("validate succeeds");
    assert_eq!(report["verdict"], "ok", "{report:#}");
    assert_eq!(
        report["lag"],
        json!({"total": 0, "max": 0, "partitions_behind": 0, "exact": true})
    );
    // The result is a summary; the whole report is stored.
    assert_eq!(report["partitions"]["total"], parts, "{report:#}");
    assert_eq!(report["partitions"]["ok"], parts, "{report:#}");
    assert_eq!(report["partitions"]["compared_source_records"], n);
    assert_eq!(
        report["report"],
        json!({"migration_id": migration, "name": "validation"})
    );
    let stored: Value = serde_json::from_str(
        &rig.store
            .get_report(&migration, "validation")
            .await
            .unwrap()
            .expect("report stored"),
    )
    .unwrap();
    assert_eq!(
        stored["partitions"].as_array().unwrap().len(),
        parts as usize
    );
    let compared: u64 = stored["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["compared"]["source_records"].as_u64().unwrap())
        .sum();
    assert_eq!(compared, n);
    // Scheduled event: defaults (lag mode) over the included topics.
    let scheduled = invoke(
        &host,
        VALIDATE,
        json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
    )
    .await
    .unwrap();
    assert_eq!(scheduled["mode"], "lag");
    assert_eq!(scheduled["migration_id"], "default");
    assert_eq!(scheduled["verdict"], "ok", "{scheduled:#}");
    let stored = rig
        .store
        .get_report(&migration, "validation")
        .await
        .unwrap()
        .expect("report stored");
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["verdict"], "ok");
    host.shutdown().await;
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_target_record_is_named_and_fails_the_invocation() {
    init_tracing();
    let (table, store, topic) = hand_mirrored(60, |rs| {
        rs[37].value = Some(b"corrupted".to_vec());
    })
    .await;
    let host = host(VALIDATE, &table, &[]);
    let migration = unique("m");
    let report = invoke(&host, VALIDATE, full_input(&migration, &topic, false))
        .await
        .expect("validate succeeds without fail_on_mismatch");
    assert_eq!(report["verdict"], "mismatch", "{report:#}");
    let mismatches = report["mismatches"].as_array().unwrap();
    assert_eq!(mismatches.len(), 1, "{report:#}");
    assert_eq!(
        mismatches[0],
        json!({"topic": topic, "partition": 1, "source_offset": 37, "target_offset": 37,
               "kind": "content_differs", "detail": "value differs"})
    );
    // Lag mode reads offsets only: the same mirror is `ok` there.
    let lag = invoke(
        &host,
        VALIDATE,
        json!({"migration_id": migration, "mode": "lag", "topics": [topic]}),
    )
    .await
    .unwrap();
    assert_eq!(lag["verdict"], "ok", "{lag:#}");
    // fail_on_mismatch: Ferry.ValidationFailed naming partition and offsets; report stored.
    let err = invoke(&host, VALIDATE, full_input(&migration, &topic, true))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Ferry.ValidationFailed", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{topic}/1"))
            && msg.contains("source offset 37")
            && msg.contains("target offset 37"),
        "{msg}"
    );
    let stored: Value = serde_json::from_str(
        &store
            .get_report(&migration, "validation")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["verdict"], "mismatch");
    assert_eq!(stored["mode"], "full");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_target_record_is_named() {
    init_tracing();
    let (table, store, topic) = hand_mirrored(60, |rs| {
        rs.remove(23);
    })
    .await;
    let host = host(VALIDATE, &table, &[]);
    let report = invoke(&host, VALIDATE, full_input(&unique("m"), &topic, false))
        .await
        .unwrap();
    assert_eq!(report["verdict"], "mismatch", "{report:#}");
    let m = &report["mismatches"][0];
    assert_eq!(m["partition"], 1, "{report:#}");
    assert_eq!(m["kind"], "missing_on_target", "{report:#}");
    assert_eq!(
        (m["source_offset"].as_i64(), m["target_offset"].as_i64()),
        (Some(23), Some(23))
    );
    // Sampled comparison (windows) still finds it, and lag mode sees the short target.
    let sampled = host_sampled(&table).await;
    let migration = unique("m");
    let report = invoke(&sampled, VALIDATE, full_input(&migration, &topic, false))
        .await
        .unwrap();
    assert_eq!(report["verdict"], "mismatch", "{report:#}");
    let stored: Value = serde_json::from_str(
        &store
            .get_report(&migration, "validation")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["partitions"][1]["compared"]["how"], "sampled");
    let lag = invoke(&host, VALIDATE, json!({"mode": "lag", "topics": [topic]}))
        .await
        .unwrap();
    assert_eq!(lag["mismatches"][0]["kind"], "missing_on_target", "{lag:#}");
    assert_eq!(lag["mismatches"][0]["target_offset"], 59, "{lag:#}");
    host.shutdown().await;
    sampled.shutdown().await;
}

async fn host_sampled(table: &str) -> ferry_local::FunctionHost {
    host(
        VALIDATE,
        table,
        &[
            ("FERRY_VALIDATE_FULL_MAX_RECORDS", "20"),
            ("FERRY_VALIDATE_SAMPLE_WINDOWS", "3"),
            ("FERRY_VALIDATE_WINDOW_RECORDS", "5"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_emitted_mirrored_and_compared() {
    init_tracing();
    let rig = MirrorRig::new(&[], 1).await;
    let hb_topic = unique("ferry-heartbeats");
    let env = [
        ("FERRY_HEARTBEAT_TOPIC", hb_topic.as_str()),
        ("FERRY_SOURCE_ALIAS", "local-source"),
        ("FERRY_TOPICS_INCLUDE", hb_topic.as_str()),
    ];
    let hb = host(HEARTBEAT, &rig.table, &env);
    let validate = host(VALIDATE, &rig.table, &env);
    // Before the first heartbeat: no topic → heartbeat null plus a note, not an error.
    let before = invoke(&validate, VALIDATE, json!({})).await.unwrap();
    assert_eq!(before["heartbeat"], Value::Null, "{before:#}");
    assert!(
        before["notes"].to_string().contains(&hb_topic),
        "{before:#}"
    );

    for seq in 1..=3u64 {
        let out = invoke(&hb, HEARTBEAT, json!({"source": "aws.events"}))
            .await
            .expect("heartbeat");
        assert_eq!(out["seq"], seq, "{out}");
        assert_eq!(out["offset"], seq - 1, "{out}");
        assert_eq!(out["topic"], hb_topic.as_str());
    }
    let tp = TopicPartition::new(&hb_topic, 0);
    let written = read_partition(&source(), &tp, 0, None, Isolation::ReadCommitted)
        .await
        .unwrap();
    assert_eq!(written[2].key.as_deref(), Some(&b"local-source"[..]));
    let value: Value = serde_json::from_slice(written[2].value.as_deref().unwrap()).unwrap();
    assert_eq!(value["seq"], 3);
    assert_eq!(value["source"], "local-source");
    assert_eq!(value["emitted_at_ms"].as_i64(), Some(written[2].timestamp));

    ferry_kafka::admin::create_topic(&target(), &hb_topic, 1, &[])
        .await
        .unwrap();
    rig.run_until_mirrored(
        vec![rig.mapping(&hb_topic)],
        &[(hb_topic.clone(), 1, 3)],
        Duration::from_secs(120),
        async {},
    )
    .await;
    let report = invoke(&validate, VALIDATE, json!({})).await.unwrap();
    let h = &report["heartbeat"];
    assert_eq!(
        (
            h["source_seq"].as_u64(),
            h["target_seq"].as_u64(),
            h["behind"].as_u64()
        ),
        (Some(3), Some(3), Some(0)),
        "{report:#}"
    );
    assert!(h["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(report["verdict"], "ok", "{report:#}");

    // One more heartbeat, not mirrored: one behind, latency measured from it.
    let fourth = invoke(&hb, HEARTBEAT, json!({})).await.unwrap();
    let report = invoke(&validate, VALIDATE, json!({})).await.unwrap();
    let h = &report["heartbeat"];
    assert_eq!(
        (
            h["source_seq"].as_u64(),
            h["target_seq"].as_u64(),
            h["behind"].as_u64()
        ),
        (Some(4), Some(3), Some(1)),
        "{report:#}"
    );
    let age =
        report["generated_at_ms"].as_i64().unwrap() - fourth["emitted_at_ms"].as_i64().unwrap();
    assert!(h["latency_ms"].as_i64().unwrap() >= age, "{report:#}");
    assert_eq!(report["verdict"], "lagging", "{report:#}");
    assert_eq!(report["lag"]["total"], 1, "{report:#}");
    hb.shutdown().await;
    validate.shutdown().await;
    rig.host.shutdown().await;
}
