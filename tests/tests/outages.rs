//! Outages on the shared stack while the mirror runs: the target broker stopped and restarted,
//! then the local DynamoDB (minidyn, or moto) frozen for 30 s with SIGSTOP (its data kept) and thawed. The run must
//! recover by itself with 0 duplicates and 0 losses.
//!
//! This binary disrupts the shared stack, so it holds a single test; cargo runs test binaries
//! one after another, so no other test sees the outage.

use ferry_local::workload::{produce, producer, Workload};
use ferry_tests::*;
use std::time::Duration;

async fn stack_async(args: &'static [&'static str]) {
    tokio::task::spawn_blocking(move || stack(args))
        .await
        .expect("stack command");
}

/// Restores the stack even if the test fails half-way, so later test binaries find it healthy.
struct RestoreStack;

impl Drop for RestoreStack {
    fn drop(&mut self) {
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack");
        for args in [&["resume-dynamodb"][..], &["start-broker", "target"][..]] {
            let _ = std::process::Command::new(&script).args(args).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_restart_and_frozen_state_store_recover_exactly() {
    init_tracing();
    let _restore = RestoreStack;
    let rig = MirrorRig::new(&[], 2).await;
    let topic = unique("outage");
    create_mirrored_topic(&topic, 3, &[]).await;
    let p = producer(SOURCE).expect("producer");
    let chunk = |seed: u64| Workload {
        topic: topic.clone(),
        partitions: 3,
        records: 10_000,
        value_bytes: 100,
        seed,
    };
    produce(&p, &chunk(1), |_| {}).await.unwrap();
    let mut m = rig.mapping(&topic);
    m.batch_size = 250;
    let during = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        eprintln!("outage: stopping the target broker");
        stack_async(&["stop-broker", "target"]).await;
        produce(&p, &chunk(2), |_| {}).await.unwrap();
        tokio::time::sleep(Duration::from_secs(8)).await;
        eprintln!("outage: starting the target broker");
        stack_async(&["start-broker", "target"]).await;
        produce(&p, &chunk(3), |_| {}).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!("outage: freezing DynamoDB for 30 s");
        stack_async(&["pause-dynamodb"]).await;
        produce(&p, &chunk(4), |_| {}).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        stack_async(&["resume-dynamodb"]).await;
        eprintln!("outage: DynamoDB thawed");
        produce(&p, &chunk(5), |_| {}).await.unwrap();
    };
    let stats = rig
        .run_until_mirrored(
            vec![m],
            &[(topic.clone(), 3, 50_000)],
            Duration::from_secs(600),
            during,
        )
        .await;
    eprintln!("outage stats: {stats:?}");
    assert!(
        stats[0].failures > 0,
        "the outages must have failed some batches: {stats:?}"
    );
    assert_mirrored(&topic, 3, 50_000).await;
    rig.host.shutdown().await;
}
