//! State store conformance: one suite, run against the in-memory fake
//! ([`ferry_testkit::InMemoryStateStore`]) and against [`DynamoStateStore`] on the local
//! DynamoDB endpoint (moto), so the fake handlers are unit-tested with behaves like DynamoDB.
//!
//! DynamoDB cases use a fresh, uniquely named table each and are skipped (with a message) when
//! nothing answers at `FERRY_TEST_DYNAMODB_ENDPOINT` (default `http://127.0.0.1:4566`, the
//! `scripts/stack up` moto).

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ferry_aws::dynamo::{ensure_table, ClientTimeouts, DynamoStateStore};
use ferry_core::checkpoint::Checkpoint;
use ferry_core::ports::{
    CheckpointStore, MigrationStore, ProgressCommit, ProgressStore, RunLease, SegmentStore,
    StoreError,
};
use ferry_core::{Progress, Segment, TopicPartition};
use ferry_testkit::InMemoryStateStore;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn p(next_source: i64, next_target: i64) -> Progress {
    Progress {
        next_source,
        next_target,
    }
}

fn seg(source_start: i64, target_start: i64) -> Segment {
    Segment {
        target_gap_before: 0,
        source_start,
        target_start,
    }
}

fn commit(
    tp: &TopicPartition,
    expected: Progress,
    new: Progress,
    segments: Vec<Segment>,
) -> ProgressCommit {
    ProgressCommit {
        tp: tp.clone(),
        expected,
        new,
        segments,
    }
}

/// `n` segments after `from`, each a run of 2 records followed by a gap of 1, as
/// `ferry_core::progress::advance` would produce, and the progress after them.
fn gappy(from: Progress, n: usize) -> (Vec<Segment>, Progress) {
    let mut segments = Vec::with_capacity(n);
    let mut at = from;
    for _ in 0..n {
        // Skip one offset (gap), then mirror two records.
        let s = seg(at.next_source + 1, at.next_target);
        segments.push(s);
        at = p(s.source_start + 2, s.target_start + 2);
    }
    (segments, at)
}

// ---------------------------------------------------------------------------------------------
// The suite. Each case takes a fresh, empty store.
// ---------------------------------------------------------------------------------------------

async fn init_twice_returns_the_first<S: ProgressStore + SegmentStore>(store: &S) {
    let tp = TopicPartition::new("orders", 0);
    assert_eq!(
        store.init_progress(&tp, p(100, 7)).await.unwrap(),
        p(100, 7)
    );
    assert_eq!(store.init_progress(&tp, p(5, 5)).await.unwrap(), p(100, 7));
    assert_eq!(store.segments(&tp).await.unwrap(), vec![seg(100, 7)]);
    let loaded = store
        .load_progress(std::slice::from_ref(&tp))
        .await
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[&tp], p(100, 7));
}

async fn commit_with_right_expected_is_visible<S: ProgressStore + SegmentStore>(store: &S) {
    let a = TopicPartition::new("orders", 0);
    let b = TopicPartition::new("orders.v2-eu", 1);
    store.init_progress(&a, p(0, 0)).await.unwrap();
    store.init_progress(&b, p(50, 10)).await.unwrap();
    store
        .commit_progress(&[
            commit(&a, p(0, 0), p(10, 8), vec![seg(4, 3), seg(7, 5)]),
            commit(&b, p(50, 10), p(60, 20), vec![]),
        ])
        .await
        .unwrap();
    let loaded = store.load_progress(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(loaded[&a], p(10, 8));
    assert_eq!(loaded[&b], p(60, 20));
    assert_eq!(
        store.segments(&a).await.unwrap(),
        vec![seg(0, 0), seg(4, 3), seg(7, 5)]
    );
    assert_eq!(store.segments(&b).await.unwrap(), vec![seg(50, 10)]);
    // Empty commit lists are a no-op.
    store.commit_progress(&[]).await.unwrap();
}

async fn stale_commit_conflicts_and_changes_nothing<S: ProgressStore + SegmentStore>(store: &S) {
    let a = TopicPartition::new("orders", 0);
    let b = TopicPartition::new("orders", 1);
    store.init_progress(&a, p(0, 0)).await.unwrap();
    store.init_progress(&b, p(0, 0)).await.unwrap();
    store
        .commit_progress(&[commit(&b, p(0, 0), p(5, 5), vec![])])
        .await
        .unwrap();
    // `a` is current, `b` is stale: nothing of either may be written.
    let err = store
        .commit_progress(&[
            commit(&a, p(0, 0), p(10, 9), vec![seg(3, 2)]),
            commit(&b, p(0, 0), p(9, 9), vec![seg(4, 4)]),
        ])
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict { tp } => assert_eq!(tp, b),
        other => panic!("expected Conflict on {b}, got {other:?}"),
    }
    let loaded = store.load_progress(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(loaded[&a], p(0, 0));
    assert_eq!(loaded[&b], p(5, 5));
    assert_eq!(store.segments(&a).await.unwrap(), vec![seg(0, 0)]);
    assert_eq!(store.segments(&b).await.unwrap(), vec![seg(0, 0)]);

    // Stale on the first partition is named too.
    let err = store
        .commit_progress(&[
            commit(&a, p(1, 1), p(10, 9), vec![]),
            commit(&b, p(5, 5), p(9, 9), vec![]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { tp } if tp == a));
    assert_eq!(
        store.load_progress(std::slice::from_ref(&b)).await.unwrap()[&b],
        p(5, 5)
    );
}

async fn commit_without_progress_conflicts<S: ProgressStore + SegmentStore>(store: &S) {
    let tp = TopicPartition::new("never-initialised", 3);
    let err = store
        .commit_progress(&[commit(&tp, p(0, 0), p(1, 1), vec![seg(0, 0)])])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { tp: t } if t == tp));
    assert!(store
        .load_progress(std::slice::from_ref(&tp))
        .await
        .unwrap()
        .is_empty());
    assert!(store.segments(&tp).await.unwrap().is_empty());
}

/// One partition without new segments: DynamoDB commits it with a conditional `UpdateItem`
/// instead of a transaction; the semantics are the same.
async fn single_partition_commit_without_segments<S: ProgressStore + SegmentStore>(store: &S) {
    let tp = TopicPartition::new("single", 0);
    store.init_progress(&tp, p(0, 0)).await.unwrap();
    store
        .commit_progress(&[commit(&tp, p(0, 0), p(10, 10), vec![])])
        .await
        .unwrap();
    store
        .commit_progress(&[commit(&tp, p(10, 10), p(20, 20), vec![])])
        .await
        .unwrap();
    // Stale expected progress (a redelivered batch racing the commit above).
    let err = store
        .commit_progress(&[commit(&tp, p(10, 10), p(30, 30), vec![])])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { tp: t } if t == tp));
    assert_eq!(
        store
            .load_progress(std::slice::from_ref(&tp))
            .await
            .unwrap()[&tp],
        p(20, 20)
    );
    assert_eq!(store.segments(&tp).await.unwrap(), vec![seg(0, 0)]);
    // Never initialised: a conflict, and no progress item is created.
    let never = TopicPartition::new("single-never-initialised", 1);
    let err = store
        .commit_progress(&[commit(&never, p(0, 0), p(5, 5), vec![])])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { tp: t } if t == never));
    assert!(store
        .load_progress(std::slice::from_ref(&never))
        .await
        .unwrap()
        .is_empty());
}

async fn duplicate_partition_in_one_call_is_rejected<S: ProgressStore + SegmentStore>(store: &S) {
    let tp = TopicPartition::new("orders", 0);
    store.init_progress(&tp, p(0, 0)).await.unwrap();
    let c = commit(&tp, p(0, 0), p(1, 1), vec![]);
    let err = store.commit_progress(&[c.clone(), c]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(
        store
            .load_progress(std::slice::from_ref(&tp))
            .await
            .unwrap()[&tp],
        p(0, 0)
    );
}

/// 1000 segments over several commits (one of them five DynamoDB transactions long), read back
/// sorted across several query pages (the DynamoDB store queries 300 items per page here).
async fn many_segments_sorted_across_pages<S: ProgressStore + SegmentStore>(store: &S) {
    let tp = TopicPartition::new("compacted", 2);
    let start = store.init_progress(&tp, p(7, 0)).await.unwrap();
    let mut expected = vec![start.segment_here()];
    let mut at = start;
    for n in [90, 500, 409] {
        let (mut segments, next) = gappy(at, n);
        // Order of segments within a commit does not matter.
        segments.reverse();
        store
            .commit_progress(&[commit(&tp, at, next, segments.clone())])
            .await
            .unwrap();
        segments.reverse();
        expected.extend(segments);
        at = next;
    }
    assert_eq!(expected.len(), 1000);
    assert_eq!(
        store
            .load_progress(std::slice::from_ref(&tp))
            .await
            .unwrap()[&tp],
        at
    );
    let stored = store.segments(&tp).await.unwrap();
    assert_eq!(stored.len(), expected.len());
    assert_eq!(stored, expected);
    assert!(stored
        .windows(2)
        .all(|w| w[0].source_start < w[1].source_start));
    // The pair around an offset is what `ferry_core::translate::around` takes from the whole
    // list: before the first segment, at a segment's start, inside a run, in a gap, at and past
    // the end.
    let last = stored[stored.len() - 1].source_start;
    for probe in [
        0,
        6,
        7,
        8,
        9,
        10,
        500,
        1001,
        1502,
        last - 1,
        last,
        last + 1,
        at.next_source,
        at.next_source + 9,
    ] {
        assert_eq!(
            store.segments_around(&tp, probe).await.unwrap(),
            ferry_core::translate::around(&stored, probe),
            "segments around {probe}"
        );
    }
    assert_eq!(
        store.segments_for(&tp, &[10, 8, 10, 1502]).await.unwrap(),
        ferry_core::translate::merge_around(
            [10, 8, 1502]
                .iter()
                .flat_map(|&c| ferry_core::translate::around(&stored, c).to_vec())
        )
    );
    let empty = TopicPartition::new("compacted", 3);
    assert!(store.segments_around(&empty, 5).await.unwrap().is_empty());
}

/// A call with more than 100 items over several partitions still applies every commit.
async fn large_multi_partition_commit<S: ProgressStore + SegmentStore>(store: &S) {
    let tps: Vec<TopicPartition> = (0..6).map(|i| TopicPartition::new("wide", i)).collect();
    for tp in &tps {
        store.init_progress(tp, p(0, 0)).await.unwrap();
    }
    let commits: Vec<ProgressCommit> = tps
        .iter()
        .map(|tp| {
            let (segments, next) = gappy(p(0, 0), 40);
            commit(tp, p(0, 0), next, segments)
        })
        .collect();
    store.commit_progress(&commits).await.unwrap();
    let loaded = store.load_progress(&tps).await.unwrap();
    for c in &commits {
        assert_eq!(loaded[&c.tp], c.new);
        assert_eq!(store.segments(&c.tp).await.unwrap().len(), 41);
    }
}

async fn load_progress_for_250_partitions<S: ProgressStore + SegmentStore>(store: &S) {
    let tps: Vec<TopicPartition> = (0..250)
        .map(|i| TopicPartition::new(format!("topic-{}", i % 3), i))
        .collect();
    // Every other partition has progress. (Sequential: moto corrupts state under concurrent
    // transactions on one table, see `moto_safe_timeouts`.)
    for tp in tps.iter().step_by(2) {
        store
            .init_progress(tp, p(i64::from(tp.partition), 1))
            .await
            .unwrap();
    }
    let mut asked = tps.clone();
    asked.push(tps[0].clone()); // duplicates are fine
    let started = Instant::now();
    let loaded = store.load_progress(&asked).await.unwrap();
    eprintln!(
        "load_progress(251 keys, 125 found): {:?}",
        started.elapsed()
    );
    assert_eq!(loaded.len(), 125);
    for tp in tps.iter().step_by(2) {
        assert_eq!(loaded[tp], p(i64::from(tp.partition), 1));
    }
    assert!(store.load_progress(&[]).await.unwrap().is_empty());
}

/// Checkpoints never move backwards; groups are separate; loads return every partition.
async fn checkpoints_never_move_backwards<S: ProgressStore + SegmentStore + CheckpointStore>(
    store: &S,
) {
    let cp = |s, t| Checkpoint {
        source_offset: s,
        target_offset: t,
    };
    let a = TopicPartition::new("orders.v2-eu", 0);
    let b = TopicPartition::new("orders.v2-eu", 11);
    assert!(store.load_checkpoints("g1").await.unwrap().is_empty());
    let written = store
        .save_checkpoints("g1", &[(a.clone(), cp(10, 8)), (b.clone(), cp(5, 5))])
        .await
        .unwrap();
    assert_eq!(written, 2);
    // Backwards, equal and forward.
    let written = store
        .save_checkpoints("g1", &[(a.clone(), cp(9, 7)), (b.clone(), cp(5, 5))])
        .await
        .unwrap();
    assert_eq!(written, 0);
    let written = store
        .save_checkpoints("g1", &[(a.clone(), cp(12, 10))])
        .await
        .unwrap();
    assert_eq!(written, 1);
    store
        .save_checkpoints("g2", &[(a.clone(), cp(1, 1))])
        .await
        .unwrap();
    let g1 = store.load_checkpoints("g1").await.unwrap();
    assert_eq!(g1.len(), 2);
    assert_eq!(g1[&a], cp(12, 10));
    assert_eq!(g1[&b], cp(5, 5));
    assert_eq!(store.load_checkpoints("g2").await.unwrap()[&a], cp(1, 1));
}

/// A lease excludes other owners until it expires or is given back; its owner may renew it.
async fn leases_exclude_other_owners_until_expiry<S: RunLease>(store: &S) {
    let (a, b) = ("run-a", "run-b");
    assert!(store
        .acquire_lease("checkpoint", a, 1_000, 61_000)
        .await
        .unwrap());
    assert!(
        !store
            .acquire_lease("checkpoint", b, 2_000, 62_000)
            .await
            .unwrap(),
        "held by a"
    );
    assert!(
        store
            .acquire_lease("other", b, 2_000, 62_000)
            .await
            .unwrap(),
        "leases are independent"
    );
    assert!(
        store
            .acquire_lease("checkpoint", a, 3_000, 63_000)
            .await
            .unwrap(),
        "the owner renews"
    );
    // Releasing somebody else's lease does nothing.
    store.release_lease("checkpoint", b).await.unwrap();
    assert!(!store
        .acquire_lease("checkpoint", b, 4_000, 64_000)
        .await
        .unwrap());
    // Expired: anyone may take it.
    assert!(store
        .acquire_lease("checkpoint", b, 63_001, 120_000)
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("checkpoint", a, 63_002, 120_000)
        .await
        .unwrap());
    // Given back: free at once.
    store.release_lease("checkpoint", b).await.unwrap();
    assert!(store
        .acquire_lease("checkpoint", a, 63_003, 120_000)
        .await
        .unwrap());
    store.release_lease("never-taken", a).await.unwrap();
}

/// A document of about `kib` KiB with multi-byte characters (so parts are cut between
/// characters) and a marker that tells documents apart.
fn document(kib: usize, marker: &str) -> String {
    let unit = format!("{{\"partition\":\"é-{marker}\",\"lag\":0}},");
    let mut doc = String::from("[");
    while doc.len() < kib * 1024 {
        doc.push_str(&unit);
    }
    doc.push(']');
    doc
}

/// Issue 13: migration documents and reports larger than a DynamoDB item (400 KB) round-trip
/// unchanged, conditional saves still conflict, and large and small versions replace each
/// other.
async fn documents_larger_than_an_item<S: MigrationStore>(store: &S) {
    let big = document(1_100, "one");
    let small = document(2, "two");
    let bigger = document(1_500, "three");
    assert_eq!(store.save_migration("m", &big, None).await.unwrap(), 1);
    let loaded = store.load_migration("m").await.unwrap().unwrap();
    assert_eq!((loaded.value == big, loaded.version), (true, 1));
    assert!(matches!(
        store.save_migration("m", &small, None).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert!(matches!(
        store.save_migration("m", &bigger, Some(7)).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert!(store.load_migration("m").await.unwrap().unwrap().value == big);
    assert_eq!(store.save_migration("m", &small, Some(1)).await.unwrap(), 2);
    assert!(store.load_migration("m").await.unwrap().unwrap().value == small);
    assert_eq!(
        store.save_migration("m", &bigger, Some(2)).await.unwrap(),
        3
    );
    let loaded = store.load_migration("m").await.unwrap().unwrap();
    assert_eq!((loaded.value == bigger, loaded.version), (true, 3));

    assert!(store.get_report("m", "validation").await.unwrap().is_none());
    store.put_report("m", "validation", &bigger).await.unwrap();
    assert!(store.get_report("m", "validation").await.unwrap().unwrap() == bigger);
    store.put_report("m", "validation", &big).await.unwrap();
    assert!(store.get_report("m", "validation").await.unwrap().unwrap() == big);
    store.put_report("m", "validation", &small).await.unwrap();
    assert!(store.get_report("m", "validation").await.unwrap().unwrap() == small);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&ferry_testkit::InMemoryStateStore::new()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = super::dynamo_store(stringify!($case)).await else { return };
                    let started = std::time::Instant::now();
                    super::$case(&store).await;
                    eprintln!("{}: {:?} against {}", stringify!($case), started.elapsed(), super::endpoint());
                    super::drop_table(&store).await;
                }
            )*
        }
    };
}

conformance!(
    init_twice_returns_the_first,
    commit_with_right_expected_is_visible,
    stale_commit_conflicts_and_changes_nothing,
    commit_without_progress_conflicts,
    single_partition_commit_without_segments,
    duplicate_partition_in_one_call_is_rejected,
    many_segments_sorted_across_pages,
    large_multi_partition_commit,
    load_progress_for_250_partitions,
    checkpoints_never_move_backwards,
    leases_exclude_other_owners_until_expiry,
    documents_larger_than_an_item,
);

// ---------------------------------------------------------------------------------------------
// DynamoDB plumbing
// ---------------------------------------------------------------------------------------------

fn endpoint() -> String {
    std::env::var("FERRY_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// Timeouts for the conformance cases: generous, so that a slow moto (puts into a large item
/// collection cost O(collection) there) is never retried after an attempt timeout. moto 5.2.5
/// serves requests on threads without locking, snapshots a table at the start of each
/// `TransactWriteItems` and restores that snapshot when one of its conditions fails, so a retried
/// (still running) transaction can undo writes that were already acknowledged. The suite never
/// issues concurrent writes to one table for the same reason.
fn moto_safe_timeouts() -> ClientTimeouts {
    ClientTimeouts {
        attempt: Duration::from_secs(60),
        operation: Duration::from_secs(120),
        ..ClientTimeouts::default()
    }
}

async fn client_for(endpoint: &str, timeouts: ClientTimeouts) -> Client {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "ferry-tests",
        ))
        .endpoint_url(endpoint);
    Client::new(&timeouts.apply(loader).load().await)
}

/// Whether something accepts TCP connections at the endpoint's host:port.
async fn reachable(endpoint: &str) -> bool {
    let authority = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(authority)
        )
        .await,
        Ok(Ok(_))
    )
}

static TABLES: AtomicU32 = AtomicU32::new(0);

/// Skipping is for a developer's machine without the stack; under `CI=true` a missing stack
/// fails the test instead of passing it silently.
fn skip_or_fail(message: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (CI=true: integration tests must not skip)"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
}

/// A store on a fresh table, or `None` (after printing why) when the endpoint is down.
async fn dynamo_store(case: &str) -> Option<DynamoStateStore> {
    let endpoint = endpoint();
    if !reachable(&endpoint).await {
        skip_or_fail(&format!(
            "{case}: no DynamoDB endpoint at {endpoint} (run `scripts/stack up`)"
        ));
        return None;
    }
    let client = client_for(&endpoint, moto_safe_timeouts()).await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let table = format!(
        "ferry-test-{}-{}-{}-{}",
        case.replace('_', "-").chars().take(40).collect::<String>(),
        std::process::id(),
        nanos,
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    let started = Instant::now();
    let setup = ensure_table(&client, &table).await.unwrap();
    assert!(setup.created);
    assert!(
        !ensure_table(&client, &table).await.unwrap().created,
        "ensure_table is idempotent"
    );
    eprintln!(
        "{case}: table {table} ready in {:?} ({setup:?})",
        started.elapsed()
    );
    Some(DynamoStateStore::new(client, table).with_query_page_size(300))
}

async fn drop_table(store: &DynamoStateStore) {
    if let Err(e) = store
        .client()
        .delete_table()
        .table_name(store.table())
        .send()
        .await
    {
        eprintln!("could not delete test table {}: {e}", store.table());
    }
}

// ---------------------------------------------------------------------------------------------
// DynamoDB-only behaviour
// ---------------------------------------------------------------------------------------------

/// Items under a migration's partition key.
async fn migration_items(store: &DynamoStateStore, id: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("MIGRATION#{id}")))
            .projection_expression("SK")
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        keys.extend(
            out.items()
                .iter()
                .filter_map(|i| i.get("SK").and_then(|v| v.as_s().ok()).cloned()),
        );
        start = out.last_evaluated_key;
        if start.is_none() {
            return keys;
        }
    }
}

/// Split documents: no item passes 400 KB (DynamoDB refuses it), the parts of a replaced
/// version and of a conflicting save are deleted, and a reader racing a writer gets one whole
/// version, never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_split_documents_leave_no_parts_behind() {
    let Some(store) = dynamo_store("split-documents").await else {
        return;
    };
    let big = document(1_100, "one");
    store.save_migration("m", &big, None).await.unwrap();
    let mut items = migration_items(&store, "m").await;
    assert_eq!(items.len(), 5, "head and 4 parts: {items:?}");
    assert!(matches!(
        store.save_migration("m", &big, None).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert_eq!(
        migration_items(&store, "m").await,
        items,
        "the conflicting parts are gone"
    );
    store
        .save_migration("m", &document(1, "small"), Some(1))
        .await
        .unwrap();
    assert_eq!(migration_items(&store, "m").await, ["STATE"]);
    store.put_report("m", "final", &big).await.unwrap();
    store.put_report("m", "final", &big).await.unwrap();
    items = migration_items(&store, "m").await;
    assert_eq!(
        items.len(),
        6,
        "the first report's parts are gone: {items:?}"
    );

    // A reader racing a writer that alternates two large versions sees whole versions only.
    let versions = [document(800, "a"), document(900, "b")];
    let writer = {
        let store = store.clone();
        let versions = versions.clone();
        tokio::spawn(async move {
            for i in 0..12 {
                store
                    .put_report("m", "race", &versions[i % 2])
                    .await
                    .unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        if let Some(doc) = store.get_report("m", "race").await.unwrap() {
            assert!(versions.contains(&doc), "a read mixed two versions");
            reads += 1;
        }
    }
    writer.await.unwrap();
    eprintln!("split documents: {reads} whole reads during 12 replacing writes");
    drop_table(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_malformed_items_are_corrupt() {
    let Some(store) = dynamo_store("malformed").await else {
        return;
    };
    let tp = TopicPartition::new("bad", 0);
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("PK", AttributeValue::S("TP#bad#0".into()))
        .item("SK", AttributeValue::S("PROGRESS".into()))
        .item("next_source", AttributeValue::S("twelve".into()))
        .item("next_target", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("PK", AttributeValue::S("TP#bad#0".into()))
        .item("SK", AttributeValue::S("SEG#00000000000000000000".into()))
        .item("source_start", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();
    let err = store
        .load_progress(std::slice::from_ref(&tp))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key, .. } if key == "TP#bad#0/PROGRESS"),
        "{err}"
    );
    let err = store.segments(&tp).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("target_start")),
        "{err}"
    );
    drop_table(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_missing_table_is_unavailable() {
    let endpoint = endpoint();
    if !reachable(&endpoint).await {
        skip_or_fail(&format!(
            "dynamodb_missing_table_is_unavailable: no DynamoDB endpoint at {endpoint}"
        ));
        return;
    }
    let store = DynamoStateStore::new(
        client_for(&endpoint, ClientTimeouts::default()).await,
        "ferry-test-no-such-table",
    );
    let err = store
        .load_progress(&[TopicPartition::new("t", 0)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    eprintln!("missing table: {err}");
}

/// Average latency of each call against the endpoint (printed, not asserted: speed belongs in
/// the benchmark), and the state the timed calls left behind (asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_call_timings() {
    let Some(store) = dynamo_store("timings").await else {
        return;
    };
    let tps: Vec<TopicPartition> = (0..10).map(|i| TopicPartition::new("timed", i)).collect();
    let mut t = Instant::now();
    for tp in &tps {
        store.init_progress(tp, p(0, 0)).await.unwrap();
    }
    let init = t.elapsed() / 10;
    t = Instant::now();
    for _ in 0..10 {
        store.load_progress(&tps).await.unwrap();
    }
    let load = t.elapsed() / 10;
    let mut at = p(0, 0);
    t = Instant::now();
    for i in 0..10 {
        let next = p(at.next_source + 100, at.next_target + 100);
        let commits: Vec<ProgressCommit> = tps
            .iter()
            .map(|tp| {
                commit(
                    tp,
                    at,
                    next,
                    if i % 2 == 0 {
                        vec![seg(at.next_source, at.next_target)]
                    } else {
                        vec![]
                    },
                )
            })
            .collect();
        store.commit_progress(&commits).await.unwrap();
        at = next;
    }
    let commit10 = t.elapsed() / 10;
    t = Instant::now();
    let mut segment_counts = Vec::new();
    for tp in &tps {
        segment_counts.push(store.segments(tp).await.unwrap().len());
    }
    let segments = t.elapsed() / 10;
    // The timed calls did what they claim: every partition advanced ten times, with a segment
    // on every other commit.
    let loaded = store.load_progress(&tps).await.unwrap();
    for tp in &tps {
        assert_eq!(loaded[tp], at, "{tp}");
    }
    assert_eq!(segment_counts, vec![5; tps.len()]);
    eprintln!(
        "TIMINGS against {}: init_progress {init:?}, load_progress(10 tps) {load:?}, commit_progress(10 tps) {commit10:?}, segments {segments:?}",
        endpoint()
    );
    drop_table(&store).await;
}

/// Counts the operations a client sends (retries of one operation count once).
#[derive(Debug, Default, Clone)]
struct CallCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl CallCounter {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Issue 13: translating one committed offset of a compacted partition with 100,000 segments
/// costs a constant number of reads (two single-item `Query`s), not a load of every segment;
/// and the answer is the one translating over all segments gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_translation_reads_are_constant_with_100k_segments() {
    use ferry_core::translate::{translate, Translation};
    const SEGMENTS: i64 = 100_000;
    let Some(store) = dynamo_store("translate-100k").await else {
        return;
    };
    let tp = TopicPartition::new("compacted-100k", 0);
    // Segment i: source offsets 3i, 3i+1 mirrored to target 2i, 2i+1; 3i+2 compacted away.
    let start = store.init_progress(&tp, p(0, 0)).await.unwrap();
    assert_eq!(start.segment_here(), seg(0, 0));
    let written = Instant::now();
    let pk = ferry_aws::dynamo::partition_key(&tp);
    let items: Vec<_> = (1..SEGMENTS)
        .map(|i| {
            aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(
                    aws_sdk_dynamodb::types::PutRequest::builder()
                        .item("PK", AttributeValue::S(pk.clone()))
                        .item(
                            "SK",
                            AttributeValue::S(ferry_aws::dynamo::segment_sort_key(3 * i)),
                        )
                        .item("source_start", AttributeValue::N((3 * i).to_string()))
                        .item("target_start", AttributeValue::N((2 * i).to_string()))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), pending)
                .send()
                .await
                .unwrap();
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(store.table()))
                .unwrap_or_default();
        }
    }
    let end = p(3 * (SEGMENTS - 1) + 2, 2 * SEGMENTS);
    store
        .commit_progress(&[commit(&tp, start, end, vec![])])
        .await
        .unwrap();
    eprintln!("{SEGMENTS} segments written in {:?}", written.elapsed());

    // The same table through a client that counts its calls.
    let counter = CallCounter::default();
    let config = client_for(&endpoint(), moto_safe_timeouts())
        .await
        .config()
        .clone();
    let counted = Client::from_conf(config.to_builder().interceptor(counter.clone()).build());
    let counted = DynamoStateStore::new(counted, store.table());

    // (No full load here to compare with: moto pages through a 100,000-item collection in
    // O(collection) per page. The expected values follow from the layout, and the pair
    // property itself is the conformance case `many_segments_sorted_across_pages` and a
    // proptest in `ferry_core::translate`.)
    let timer = Instant::now();
    let progress = counted
        .load_progress(std::slice::from_ref(&tp))
        .await
        .unwrap()[&tp];
    assert_eq!(progress, end);
    for c in [0, 1, 2, 3, 150_001, 150_002, 299_997, 299_998, 299_999] {
        let before = counter.get();
        let around = counted.segments_around(&tp, c).await.unwrap();
        assert_eq!(counter.get() - before, 2, "reads to translate {c}");
        assert!(around.len() <= 2, "{around:?}");
        let exact = translate(&around, progress, c);
        let expected = if c % 3 == 2 {
            2 * (c / 3 + 1)
        } else {
            2 * (c / 3) + c % 3
        };
        assert_eq!(exact, Translation::Exact(expected), "translation of {c}");
    }
    eprintln!(
        "9 translations over {SEGMENTS} segments: {} reads in {:?}",
        counter.get(),
        timer.elapsed()
    );
    drop_table(&store).await;
}

// ---------------------------------------------------------------------------------------------
// Unreachable and frozen endpoints (no moto needed)
// ---------------------------------------------------------------------------------------------

/// Accepts connections and never answers, like a SIGSTOPped DynamoDB endpoint.
async fn frozen_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_endpoint_gives_unavailable_within_the_timeout() {
    let store = DynamoStateStore::new(
        client_for(&frozen_endpoint().await, ClientTimeouts::default()).await,
        "ferry-frozen",
    );
    let tp = TopicPartition::new("t", 0);
    let commits = [commit(&tp, p(0, 0), p(1, 1), vec![])];
    let started = Instant::now();
    let (load, commit) = tokio::join!(
        store.load_progress(std::slice::from_ref(&tp)),
        store.commit_progress(&commits),
    );
    let elapsed = started.elapsed();
    eprintln!(
        "frozen endpoint: {elapsed:?}: {:?} / {:?}",
        load.as_ref().err(),
        commit.as_ref().err()
    );
    assert!(matches!(load, Err(StoreError::Unavailable(_))), "{load:?}");
    assert!(
        matches!(commit, Err(StoreError::Unavailable(_))),
        "{commit:?}"
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}

#[tokio::test]
async fn unreachable_endpoint_gives_unavailable_quickly() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = DynamoStateStore::new(
        client_for(
            &format!("http://127.0.0.1:{port}"),
            ClientTimeouts::default(),
        )
        .await,
        "ferry-unreachable",
    );
    let started = Instant::now();
    let err = store
        .segments(&TopicPartition::new("t", 0))
        .await
        .unwrap_err();
    eprintln!("unreachable endpoint: {:?}: {err}", started.elapsed());
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn in_memory_store_is_a_drop_in() {
    fn assert_ports<S: ProgressStore + SegmentStore + Clone>() {}
    assert_ports::<InMemoryStateStore>();
    assert_ports::<DynamoStateStore>();
}
