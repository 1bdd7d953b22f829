//! Transactional fencing against the real local target cluster (127.0.0.1:29092,
//! `scripts/stack up`): a newer writer of a partition fences an older one at the broker, so
//! nothing the older writer still sends becomes visible to `read_committed` readers.

use ferry_core::ports::{RangeReader, ReadIsolation, TargetError, TargetOffsets, TargetWriter};
use ferry_core::{MirrorRecord, TimestampType, TopicPartition};
use ferry_kafka::{create_topic, Fencing, KafkaConnection, TargetCluster, TargetOptions};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TARGET: &str = "127.0.0.1:29092";

fn conn() -> KafkaConnection {
    KafkaConnection::plaintext(TARGET).with_client_id("ferry-fencing-tests")
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("ferry-fencing-{label}-{}-{nanos}", std::process::id())
}

fn records(from: i64, n: i64) -> Vec<MirrorRecord> {
    (from..from + n)
        .map(|o| MirrorRecord {
            offset: o,
            timestamp: 1_700_000_000_000 + o,
            timestamp_type: TimestampType::CreateTime,
            key: Some(format!("k{o}").into_bytes()),
            value: Some(format!("v{o}").into_bytes()),
            headers: Vec::new(),
        })
        .collect()
}

fn writer(prefix: &str) -> TargetCluster {
    writer_with_idle_timeout(prefix, Duration::from_secs(60))
}

fn writer_with_idle_timeout(prefix: &str, idle_timeout: Duration) -> TargetCluster {
    TargetCluster::new(
        &conn(),
        TargetOptions {
            fencing: Fencing::Transactions {
                id_prefix: prefix.to_string(),
                transaction_timeout: Duration::from_secs(30),
                max_producers: 4,
                idle_timeout,
            },
            ..TargetOptions::default()
        },
    )
    .expect("target cluster")
}

async fn committed_values(c: &TargetCluster, tp: &TopicPartition) -> Vec<(i64, Vec<u8>)> {
    let end = c.end_offset(tp).await.expect("end");
    c.read_range(tp, 0, end, ReadIsolation::Committed)
        .await
        .expect("read")
        .into_iter()
        .map(|r| (r.offset, r.value.unwrap_or_default()))
        .collect()
}

/// [`committed_values`] once at least `n` are visible (or after 30 s): `commit` returns before
/// the coordinator has written the commit marker, and until then `read_committed` sees nothing
/// of the transaction.
async fn committed_values_after_commit(
    c: &TargetCluster,
    tp: &TopicPartition,
    n: usize,
) -> Vec<(i64, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = committed_values(c, tp).await;
        if seen.len() >= n || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_writer_fences_the_older_one_and_its_open_transaction_never_shows() {
    let topic = unique("overlap");
    create_topic(&conn(), &topic, 1, &[]).await.expect("create");
    let tp = TopicPartition::new(&topic, 0);
    let prefix = unique("ids");
    let (a, b) = (writer(&prefix), writer(&prefix));

    // A writes and commits one batch: visible, followed by its commit marker.
    a.fence(&tp).await.expect("fence a");
    let first = a.produce(&tp, &records(0, 3)).await.expect("produce a");
    assert_eq!(first, vec![0, 1, 2]);
    a.commit(&tp).await.expect("commit a");

    // A opens a second transaction; B (same transactional.id) takes the partition over.
    let open = a.produce(&tp, &records(3, 2)).await.expect("produce a2");
    b.fence(&tp).await.expect("fence b");
    match a.commit(&tp).await {
        Err(TargetError::Fenced { tp: fenced }) => assert_eq!(fenced, tp),
        other => panic!("the older writer's commit must be fenced, got {other:?}"),
    }
    // Anything the zombie still sends is rejected: its producer was dropped, and a new one
    // would fence B in turn, so only check B's records below.

    let end = b.end_offset(&tp).await.expect("end");
    let after = b.produce(&tp, &records(3, 2)).await.expect("produce b");
    assert!(after[0] > *open.last().unwrap(), "{after:?} after {open:?}");
    b.commit(&tp).await.expect("commit b");
    assert!(end > 3, "marker and aborted records occupy offsets");

    let seen = committed_values_after_commit(&b, &tp, 5).await;
    let values: Vec<Vec<u8>> = seen.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(
        values,
        ["v0", "v1", "v2", "v3", "v4"].map(|v| v.as_bytes().to_vec()),
        "committed records: {seen:?}"
    );
    // The older writer's aborted records are still there for read_uncommitted readers.
    let raw = b
        .read_range(
            &tp,
            0,
            b.end_offset(&tp).await.unwrap(),
            ReadIsolation::Uncommitted,
        )
        .await
        .unwrap();
    assert!(
        raw.len() > values.len(),
        "aborted records remain in the log: {raw:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_writer_after_a_crash_aborts_what_the_dead_one_left_open() {
    let topic = unique("crash");
    create_topic(&conn(), &topic, 1, &[]).await.expect("create");
    let tp = TopicPartition::new(&topic, 0);
    let prefix = unique("ids");
    {
        let dead = writer(&prefix);
        dead.fence(&tp).await.expect("fence");
        dead.produce(&tp, &records(0, 4)).await.expect("produce");
        // Dropped with the transaction open, like a sandbox killed at its timeout.
    }
    let next = writer(&prefix);
    let started = Instant::now();
    next.fence(&tp).await.expect("fence");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fencing must not wait for the transaction timeout"
    );
    assert!(committed_values(&next, &tp).await.is_empty());
    next.produce(&tp, &records(0, 4)).await.expect("produce");
    next.commit(&tp).await.expect("commit");
    assert_eq!(committed_values_after_commit(&next, &tp, 4).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_unused_for_the_idle_timeout_are_closed_at_the_next_write() {
    let topic = unique("idle");
    create_topic(&conn(), &topic, 2, &[]).await.expect("create");
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    let w = writer_with_idle_timeout(&unique("ids"), Duration::from_millis(300));
    w.fence(&p0).await.expect("fence p0");
    w.fence(&p1).await.expect("fence p1");
    assert_eq!(w.transactional_producers(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Writing p1 again closes p0's idle producer; p1's own is kept (no new fencing).
    w.produce(&p1, &records(0, 2)).await.expect("produce p1");
    w.commit(&p1).await.expect("commit p1");
    assert_eq!(w.transactional_producers(), 1);
    // p0 is fenced anew on its next write.
    w.produce(&p0, &records(0, 1)).await.expect("produce p0");
    w.commit(&p0).await.expect("commit p0");
    assert_eq!(w.transactional_producers(), 2);
}
