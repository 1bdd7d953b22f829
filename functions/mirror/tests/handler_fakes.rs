//! The mirror handler against in-memory fakes of the state store and target cluster: redelivery,
//! overlapping and re-split batches, partial writes by a dying attempt, foreign writers, bad targets.

use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    ClusterError, ProgressStore, RangeReader, ReadIsolation, SegmentStore, TargetError,
    TargetMetadata, TargetOffsets, TargetWriter, TopicInfo,
};
use ferry_core::translate::{translate, Translation};
use ferry_core::{Header, MirrorRecord, TimestampType, TopicPartition};
use ferry_lambda::FailureError;
use ferry_testkit::{InMemoryStateStore, StoreOp};
use mirror::event::PartitionBatch;
use mirror::{MirrorError, MirrorHandler};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An in-memory target cluster. `die_after` makes the next produce write only that many records
/// and then fail, like an attempt that dies mid-produce. Clones share the logs (two sandboxes
/// writing to one cluster); `before_produce` runs once, synchronously, at the next produce call
/// (another sandbox's batch, a change behind the handler's back).
#[derive(Debug, Default, Clone)]
struct FakeTarget {
    topics: HashMap<String, TopicInfo>,
    logs: Arc<Mutex<HashMap<TopicPartition, Vec<MirrorRecord>>>>,
    die_after: Arc<Mutex<Option<usize>>>,
    before_produce: Arc<Mutex<Option<Hook>>>,
}

struct Hook(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl FakeTarget {
    fn with_topic(mut self, topic: &str, partitions: i32) -> Self {
        self.topics.insert(
            topic.into(),
            TopicInfo {
                partitions,
                max_message_bytes: 1_048_588,
            },
        );
        self
    }
    fn log(&self, tp: &TopicPartition) -> Vec<MirrorRecord> {
        self.logs
            .lock()
            .unwrap()
            .get(tp)
            .cloned()
            .unwrap_or_default()
    }
    fn foreign_write(&self, tp: &TopicPartition) {
        self.logs
            .lock()
            .unwrap()
            .entry(tp.clone())
            .or_default()
            .push(rec(-1));
    }
}

impl TargetMetadata for FakeTarget {
    async fn topic_info(&self, topic: &str) -> Result<Option<TopicInfo>, TargetError> {
        Ok(self.topics.get(topic).copied())
    }
}
impl TargetOffsets for FakeTarget {
    async fn end_offset(&self, tp: &TopicPartition) -> Result<i64, TargetError> {
        Ok(self.log(tp).len() as i64)
    }
}
/// Not transactional: everything written is committed, both isolations read the same.
impl RangeReader for FakeTarget {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        _isolation: ReadIsolation,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        let log = self.log(tp);
        let from = (from as usize).min(log.len());
        let to = (to as usize).min(log.len());
        // Records carry their target offset, as the port says.
        Ok(log[from..to]
            .iter()
            .zip(from..)
            .map(|(r, t)| MirrorRecord {
                offset: t as i64,
                ..r.clone()
            })
            .collect())
    }
}
impl TargetWriter for FakeTarget {
    async fn fence(&self, _tp: &TopicPartition) -> Result<(), TargetError> {
        Ok(())
    }
    async fn commit(&self, _tp: &TopicPartition) -> Result<(), TargetError> {
        Ok(())
    }
    async fn abort(&self, _tp: &TopicPartition) -> Result<(), TargetError> {
        Ok(())
    }
    fn transactional(&self) -> bool {
        false
    }
    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        let hook = self.before_produce.lock().unwrap().take();
        if let Some(Hook(hook)) = hook {
            hook();
        }
        let die = self.die_after.lock().unwrap().take();
        let mut logs = self.logs.lock().unwrap();
        let log = logs.entry(tp.clone()).or_default();
        let mut offsets = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if die == Some(i) {
                return Err(TargetError::Produce {
                    tp: tp.clone(),
                    source: "attempt died".into(),
                });
            }
            offsets.push(log.len() as i64);
            log.push(r.clone());
        }
        if die.is_some() {
            return Err(TargetError::Produce {
                tp: tp.clone(),
                source: "attempt died after producing".into(),
            });
        }
        Ok(offsets)
    }
}

fn rec(offset: i64) -> MirrorRecord {
    MirrorRecord {
        offset,
        timestamp: 1_700_000_000_000 + offset,
        timestamp_type: TimestampType::CreateTime,
        key: (offset % 3 != 0).then(|| format!("k{offset}").into_bytes()),
        value: (offset % 5 != 0).then(|| format!("v{offset}").into_bytes()),
        headers: vec![Header {
            key: "h".into(),
            value: vec![(offset % 256) as u8],
        }],
    }
}

fn batch(topic: &str, partition: i32, offsets: impl IntoIterator<Item = i64>) -> PartitionBatch {
    PartitionBatch {
        tp: TopicPartition::new(topic, partition),
        records: offsets.into_iter().map(rec).collect(),
    }
}

fn handler(target: FakeTarget) -> MirrorHandler<InMemoryStateStore, FakeTarget> {
    MirrorHandler::new(
        InMemoryStateStore::default(),
        target,
        ReplicationPolicy::Identity,
        TopicFilter::default(),
    )
}

fn source_offsets(log: &[MirrorRecord]) -> Vec<i64> {
    log.iter().map(|r| r.offset).collect()
}

#[tokio::test]
async fn redelivered_overlapping_and_resplit_batches_never_duplicate() {
    let h = handler(FakeTarget::default().with_topic("t", 2));
    let tp0 = TopicPartition::new("t", 0);
    h.handle(vec![batch("t", 0, 0..10), batch("t", 1, 0..5)])
        .await
        .unwrap();
    // Same batch again.
    let s = h
        .handle(vec![batch("t", 0, 0..10), batch("t", 1, 0..5)])
        .await
        .unwrap();
    assert_eq!((s.produced, s.skipped), (0, 15));
    // Overlapping and split differently.
    h.handle(vec![batch("t", 0, 5..13)]).await.unwrap();
    h.handle(vec![batch("t", 0, 12..14), batch("t", 1, 3..9)])
        .await
        .unwrap();
    h.handle(vec![batch("t", 0, 0..20)]).await.unwrap();
    assert_eq!(
        source_offsets(&h_target(&h).log(&tp0)),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(
        source_offsets(&h_target(&h).log(&TopicPartition::new("t", 1))),
        (0..9).collect::<Vec<_>>()
    );
    assert_eq!(
        h_target(&h).log(&tp0),
        (0..20).map(rec).collect::<Vec<_>>(),
        "content preserved"
    );
}

fn h_target(h: &MirrorHandler<InMemoryStateStore, FakeTarget>) -> &FakeTarget {
    h.target()
}

#[tokio::test]
async fn a_dying_attempt_is_reconciled_not_reproduced() {
    let h = handler(FakeTarget::default().with_topic("t", 1));
    let tp = TopicPartition::new("t", 0);
    h.handle(vec![batch("t", 0, 0..4)]).await.unwrap();
    // The next attempt writes 3 of 6 records, then dies.
    *h_target(&h).die_after.lock().unwrap() = Some(3);
    assert!(h.handle(vec![batch("t", 0, 4..10)]).await.is_err());
    // Redelivered, smaller: only reconciled.
    let s = h.handle(vec![batch("t", 0, 4..6)]).await.unwrap();
    assert_eq!((s.produced, s.reconciled), (0, 2));
    // Redelivered, larger: one reconciled, the rest produced.
    let s = h.handle(vec![batch("t", 0, 4..12)]).await.unwrap();
    assert_eq!((s.skipped, s.reconciled, s.produced), (2, 1, 5));
    assert_eq!(
        source_offsets(&h_target(&h).log(&tp)),
        (0..12).collect::<Vec<_>>()
    );
    // Died after producing everything, before the commit.
    *h_target(&h).die_after.lock().unwrap() = Some(usize::MAX);
    assert!(h.handle(vec![batch("t", 0, 12..15)]).await.is_err());
    let s = h.handle(vec![batch("t", 0, 12..15)]).await.unwrap();
    assert_eq!((s.reconciled, s.produced), (3, 0));
    assert_eq!(
        source_offsets(&h_target(&h).log(&tp)),
        (0..15).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn compaction_gaps_make_segments_and_translate_exactly() {
    let h = handler(FakeTarget::default().with_topic("c", 1));
    let tp = TopicPartition::new("c", 0);
    let offsets = [3, 4, 5, 9, 10, 20, 21, 22];
    h.handle(vec![batch("c", 0, offsets[..4].iter().copied())])
        .await
        .unwrap();
    h.handle(vec![batch("c", 0, offsets[2..].iter().copied())])
        .await
        .unwrap();
    let store = h.store();
    let p = store
        .load_progress(std::slice::from_ref(&tp))
        .await
        .unwrap()[&tp];
    let segs = store.segments(&tp).await.unwrap();
    assert_eq!(segs.len(), 3, "{segs:?}");
    for (t, s) in offsets.iter().enumerate() {
        assert_eq!(translate(&segs, p, *s), Translation::Exact(t as i64));
    }
    assert_eq!(
        translate(&segs, p, 15),
        Translation::Exact(5),
        "gap maps to the next mirrored record"
    );
}

#[tokio::test]
async fn foreign_writer_is_detected_and_nothing_is_recorded() {
    let h = handler(FakeTarget::default().with_topic("t", 1));
    let tp = TopicPartition::new("t", 0);
    h.handle(vec![batch("t", 0, 0..3)]).await.unwrap();
    h_target(&h).foreign_write(&tp);
    let err = h.handle(vec![batch("t", 0, 3..5)]).await.unwrap_err();
    assert!(err.to_string().contains("another writer"), "{err}");
    assert_eq!(err.kind().error_type(), "Ferry.TargetIntegrity");
    let p = h
        .store()
        .load_progress(std::slice::from_ref(&tp))
        .await
        .unwrap()[&tp];
    assert_eq!((p.next_source, p.next_target), (3, 3), "nothing recorded");
    assert_eq!(
        h_target(&h).log(&tp).len(),
        4,
        "nothing produced after the foreign record"
    );
    // A target that lost records is caught too.
    h_target(&h)
        .logs
        .lock()
        .unwrap()
        .get_mut(&tp)
        .unwrap()
        .truncate(2);
    let err = h.handle(vec![batch("t", 0, 3..6)]).await.unwrap_err();
    assert!(err.to_string().contains("data lost"), "{err}");
}

#[tokio::test]
async fn target_not_ready_and_bad_input_are_typed_and_write_nothing() {
    let h = handler(FakeTarget::default().with_topic("t", 2));
    let err = h.handle(vec![batch("missing", 0, 0..1)]).await.unwrap_err();
    assert_eq!(err.kind().error_type(), "Ferry.TargetNotReady");
    assert!(err.to_string().contains("\"missing\""), "{err}");
    let err = h.handle(vec![batch("t", 5, 0..1)]).await.unwrap_err();
    assert!(err.to_string().contains("2 partitions"), "{err}");
    let mut big = batch("t", 0, 0..2);
    big.records[1].value = Some(vec![0; 2_000_000]);
    let err = h.handle(vec![big]).await.unwrap_err();
    assert_eq!(err.kind().error_type(), "Ferry.BadInput");
    assert!(err.to_string().contains("t-0@1"), "{err}");
    assert!(
        h_target(&h).log(&TopicPartition::new("t", 0)).is_empty(),
        "nothing written"
    );
    let unordered = PartitionBatch {
        tp: TopicPartition::new("t", 0),
        records: vec![rec(2), rec(1)],
    };
    assert_eq!(
        h.handle(vec![unordered])
            .await
            .unwrap_err()
            .kind()
            .error_type(),
        "Ferry.BadInput"
    );
}

#[tokio::test]
async fn non_empty_target_partition_is_refused_by_default() {
    let target = FakeTarget::default().with_topic("t", 1);
    target.foreign_write(&TopicPartition::new("t", 0));
    let h = handler(target);
    let err = h.handle(vec![batch("t", 0, 0..2)]).await.unwrap_err();
    assert!(
        matches!(err, MirrorError::TargetNotEmpty { end_offset: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn prefix_policy_writes_to_the_renamed_topic() {
    let h = MirrorHandler::new(
        InMemoryStateStore::default(),
        FakeTarget::default().with_topic("onprem.t", 1),
        ReplicationPolicy::parse("prefix:onprem").unwrap(),
        TopicFilter::default(),
    );
    h.handle(vec![batch("t", 0, 0..3)]).await.unwrap();
    assert_eq!(h.target().log(&TopicPartition::new("onprem.t", 0)).len(), 3);
}

// ---- Warm-sandbox progress cache -------------------------------------------------------------

type Sandbox = MirrorHandler<InMemoryStateStore, FakeTarget>;

/// A sandbox (handler with its own cache) on a shared store and target.
fn sandbox(store: &InMemoryStateStore, target: &FakeTarget, cache: bool) -> Sandbox {
    MirrorHandler::new(
        store.clone(),
        target.clone(),
        ReplicationPolicy::Identity,
        TopicFilter::default(),
    )
    .cache_progress(cache)
}

fn loads(store: &InMemoryStateStore) -> u64 {
    store.calls(StoreOp::LoadProgress)
}

fn assert_exactly_once(target: &FakeTarget, tp: &TopicPartition, upto: i64) {
    assert_eq!(
        target.log(tp),
        (0..upto).map(rec).collect::<Vec<_>>(),
        "target holds every record exactly once, in order"
    );
}

#[tokio::test]
async fn warm_sandbox_skips_the_progress_read_but_not_the_end_offset_check() {
    let store = InMemoryStateStore::default();
    let target = FakeTarget::default().with_topic("t", 2);
    let h = sandbox(&store, &target, true);
    let tp = TopicPartition::new("t", 0);
    h.handle(vec![batch("t", 0, 0..10), batch("t", 1, 0..4)])
        .await
        .unwrap();
    assert_eq!(loads(&store), 1);
    assert_eq!(h.cached_progress(&tp).map(|p| p.next_target), Some(10));
    for n in 1..5 {
        h.handle(vec![batch("t", 0, n * 10..n * 10 + 10)])
            .await
            .unwrap();
    }
    assert_eq!(
        loads(&store),
        1,
        "no progress read while the cache is current"
    );
    assert_eq!(store.calls(StoreOp::CommitProgress), 5);
    // Redelivery of something already mirrored: skipped, still no read, no duplicate.
    let s = h.handle(vec![batch("t", 0, 25..50)]).await.unwrap();
    assert_eq!((s.skipped, s.produced), (25, 0));
    assert_eq!(loads(&store), 1);
    assert_exactly_once(&target, &tp, 50);
    // A record written behind the cache's back (a foreign writer) is still caught: the end
    // offset no longer matches, progress is read, and the protocol reports the writer.
    target.foreign_write(&tp);
    let err = h.handle(vec![batch("t", 0, 50..52)]).await.unwrap_err();
    assert_eq!(err.kind().error_type(), "Ferry.TargetIntegrity", "{err}");
    assert_eq!(loads(&store), 2);
    assert_eq!(
        h.cached_progress(&tp),
        None,
        "a failure drops the cached progress"
    );
    assert_eq!(
        store.progress(&tp).unwrap().next_target,
        50,
        "nothing recorded"
    );
}

#[tokio::test]
async fn crash_mid_batch_and_lost_commit_responses_with_a_warm_cache() {
    let store = InMemoryStateStore::default();
    let target = FakeTarget::default().with_topic("t", 1);
    let tp = TopicPartition::new("t", 0);
    let h = sandbox(&store, &target, true);
    h.handle(vec![batch("t", 0, 0..10)]).await.unwrap();
    // Dies after writing 4 of 10 records (same sandbox survives, e.g. produce error).
    *target.die_after.lock().unwrap() = Some(4);
    assert!(h.handle(vec![batch("t", 0, 10..20)]).await.is_err());
    assert_eq!(h.cached_progress(&tp), None);
    let s = h.handle(vec![batch("t", 0, 10..20)]).await.unwrap();
    assert_eq!((s.reconciled, s.produced), (4, 6));
    assert_exactly_once(&target, &tp, 20);
    // The sandbox dies after producing everything, before the commit; a fresh sandbox (empty
    // cache) gets the redelivery.
    *target.die_after.lock().unwrap() = Some(usize::MAX);
    assert!(h.handle(vec![batch("t", 0, 20..30)]).await.is_err());
    drop(h);
    let fresh = sandbox(&store, &target, true);
    let s = fresh.handle(vec![batch("t", 0, 20..35)]).await.unwrap();
    assert_eq!((s.reconciled, s.produced), (10, 5));
    assert_exactly_once(&target, &tp, 35);
    // DynamoDB applied the commit but the response was lost: the sandbox must not trust what it
    // believes; it reads progress on the next batch.
    store.lose_next_commit_responses(1);
    assert!(fresh.handle(vec![batch("t", 0, 35..40)]).await.is_err());
    assert_eq!(fresh.cached_progress(&tp), None);
    let before = loads(&store);
    let s = fresh.handle(vec![batch("t", 0, 35..45)]).await.unwrap();
    assert_eq!((s.skipped, s.produced), (5, 5));
    assert_eq!(loads(&store), before + 1);
    assert_exactly_once(&target, &tp, 45);
}

#[tokio::test]
async fn two_sandboxes_taking_turns_on_one_partition_use_fresh_progress() {
    // The ESM may hand a partition's next batch to any sandbox: each one's cache goes stale.
    let store = InMemoryStateStore::default();
    let target = FakeTarget::default().with_topic("t", 1);
    let tp = TopicPartition::new("t", 0);
    let a = sandbox(&store, &target, true);
    let b = sandbox(&store, &target, true);
    a.handle(vec![batch("t", 0, 0..10)]).await.unwrap();
    b.handle(vec![batch("t", 0, 10..25)]).await.unwrap();
    // A's cache says 10, the target says 25: A reads progress and continues correctly.
    let loads_before = loads(&store);
    let s = a.handle(vec![batch("t", 0, 25..30)]).await.unwrap();
    assert_eq!((s.skipped, s.reconciled, s.produced), (0, 0, 5));
    assert_eq!(loads(&store), loads_before + 1);
    b.handle(vec![batch("t", 0, 30..40)]).await.unwrap();
    // A redelivery that overlaps both sandboxes' work, to the sandbox with the stale cache.
    let s = a.handle(vec![batch("t", 0, 20..45)]).await.unwrap();
    assert_eq!((s.skipped, s.produced), (20, 5));
    // B's stale cache, and records A wrote but never recorded (A died before its commit).
    *target.die_after.lock().unwrap() = Some(usize::MAX);
    assert!(a.handle(vec![batch("t", 0, 45..50)]).await.is_err());
    let s = b.handle(vec![batch("t", 0, 45..55)]).await.unwrap();
    assert_eq!((s.reconciled, s.produced), (5, 5));
    assert_exactly_once(&target, &tp, 55);
    let p = store.progress(&tp).unwrap();
    assert_eq!((p.next_source, p.next_target), (55, 55));
}

#[tokio::test]
async fn a_batch_that_races_another_sandbox_ends_exactly_like_without_the_cache() {
    // Sandbox B mirrors the same batch while A is producing it (an invocation that outlived its
    // timeout, say). Both sandboxes write; the protocol detects the second writer. The cache must
    // not change any of that: run the interleaving with and without it and compare.
    async fn run(cache: bool) -> (Vec<i64>, ferry_core::progress::Progress, String) {
        let store = InMemoryStateStore::default();
        let target = FakeTarget::default().with_topic("t", 1);
        let tp = TopicPartition::new("t", 0);
        let a = sandbox(&store, &target, cache);
        a.handle(vec![batch("t", 0, 0..10)]).await.unwrap();
        let b = sandbox(&store, &target, cache);
        *target.before_produce.lock().unwrap() = Some(Hook(Box::new(move || {
            futures::executor::block_on(b.handle(vec![batch("t", 0, 10..20)])).unwrap();
        })));
        let err = a.handle(vec![batch("t", 0, 10..20)]).await.unwrap_err();
        (
            source_offsets(&target.log(&tp)),
            store.progress(&tp).unwrap(),
            err.kind().error_type().to_string(),
        )
    }
    let with = run(true).await;
    assert_eq!(with, run(false).await);
    assert_eq!(with.2, "Ferry.TargetIntegrity");
    assert_eq!(
        (with.1.next_source, with.1.next_target),
        (20, 20),
        "only B's write is recorded"
    );
}

#[tokio::test]
async fn a_condition_failure_on_cached_progress_mirrors_again_on_fresh_progress() {
    // Progress moved behind the sandbox's back while the target end offset still matched its
    // cache (here: an operator recorded records 10..15 as mirrored while A was producing).
    // A's conditional commit fails; A drops the cache and mirrors the batch again on fresh
    // progress, reconciling what it just wrote instead of writing it twice.
    let store = InMemoryStateStore::default();
    let target = FakeTarget::default().with_topic("t", 1);
    let tp = TopicPartition::new("t", 0);
    let a = sandbox(&store, &target, true);
    a.handle(vec![batch("t", 0, 0..10)]).await.unwrap();
    let s2 = store.clone();
    let tp2 = tp.clone();
    *target.before_produce.lock().unwrap() = Some(Hook(Box::new(move || {
        s2.set_progress(
            &tp2,
            Some(ferry_core::progress::Progress {
                next_source: 15,
                next_target: 15,
            }),
        );
    })));
    let s = a.handle(vec![batch("t", 0, 10..20)]).await.unwrap();
    assert_eq!((s.skipped, s.reconciled, s.produced), (5, 5, 0));
    assert_exactly_once(&target, &tp, 20);
    let p = store.progress(&tp).unwrap();
    assert_eq!((p.next_source, p.next_target), (20, 20));
    assert_eq!(a.cached_progress(&tp), Some(p));
}

mod cache_equivalence {
    //! Any sequence of deliveries (overlapping, re-split, redelivered) to two sandboxes, with
    //! attempts dying mid-produce or after producing and commit responses lost, ends with the
    //! same target log, progress and per-batch outcomes whether the sandboxes cache progress or
    //! not; and the target never holds a source record twice.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Deliver { sandbox: usize, from: i64, len: i64 },
        DieAfter(usize),
        LoseCommitResponse,
        Restart(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0..2usize, 0..60i64, 1..15i64).prop_map(|(sandbox, from, len)| Op::Deliver { sandbox, from, len }),
            1 => prop_oneof![Just(0usize), Just(2), Just(usize::MAX)].prop_map(Op::DieAfter),
            1 => Just(Op::LoseCommitResponse),
            1 => (0..2usize).prop_map(Op::Restart),
        ]
    }

    type Outcome = Result<(u64, u64, u64), String>;

    fn run(
        ops: &[Op],
        cache: bool,
    ) -> (
        Vec<i64>,
        Option<ferry_core::progress::Progress>,
        Vec<Outcome>,
    ) {
        let store = InMemoryStateStore::default();
        let target = FakeTarget::default().with_topic("t", 1);
        let tp = TopicPartition::new("t", 0);
        let mut sandboxes = [
            sandbox(&store, &target, cache),
            sandbox(&store, &target, cache),
        ];
        let mut outcomes = Vec::new();
        // The ESM's committed position: it advances only when a batch succeeds, and every batch
        // starts at or below it (redeliveries, re-split retries, rewinds).
        let mut committed = 0i64;
        for op in ops {
            match op {
                Op::Deliver {
                    sandbox: i,
                    from,
                    len,
                } => {
                    let from = (*from).min(committed);
                    let to = from + len;
                    let r = futures::executor::block_on(sandboxes[*i].handle(vec![batch(
                        "t",
                        0,
                        from..to,
                    )]));
                    if r.is_ok() {
                        committed = committed.max(to);
                    }
                    outcomes.push(
                        r.map(|s| (s.skipped, s.reconciled, s.produced))
                            .map_err(|e| e.kind().error_type().to_string()),
                    );
                }
                Op::DieAfter(n) => *target.die_after.lock().unwrap() = Some(*n),
                Op::LoseCommitResponse => store.lose_next_commit_responses(1),
                Op::Restart(i) => sandboxes[*i] = sandbox(&store, &target, cache),
            }
        }
        (
            source_offsets(&target.log(&tp)),
            store.progress(&tp),
            outcomes,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn cache_changes_nothing_but_the_reads(ops in proptest::collection::vec(op(), 1..40)) {
            let cached = run(&ops, true);
            let uncached = run(&ops, false);
            prop_assert_eq!(&cached, &uncached);
            let log = cached.0;
            prop_assert!(log.windows(2).all(|w| w[0] + 1 == w[1]), "no duplicate, no gap: {:?}", log);
            prop_assert!(log.first().is_none_or(|&f| f == 0));
            if let Some(p) = cached.1 {
                prop_assert!(p.next_target <= log.len() as i64);
            }
        }
    }
}
