//! The mirror handler under overlapping deliveries, against an in-memory target with Kafka's
//! transactional fencing semantics: sandboxes of one partition run concurrently (a rebalance
//! left the revoked owner running; a timed-out invocation is still writing while its retry
//! runs) and interleave at every await. Property: the committed target records are the source
//! log, each exactly once, in order, and the translation points at each of them.

use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    ClusterError, ProgressStore, RangeReader, ReadIsolation, SegmentStore, TargetError,
    TargetMetadata, TargetOffsets, TargetWriter, TopicInfo,
};
use ferry_core::translate::{translate, Translation};
use ferry_core::{MirrorRecord, TimestampType, TopicPartition};
use ferry_testkit::InMemoryStateStore;
use mirror::event::PartitionBatch;
use mirror::MirrorHandler;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One offset of the target partition.
#[derive(Debug, Clone)]
enum Slot {
    /// A committed data record.
    Data(MirrorRecord),
    /// A record of the open transaction of producer epoch `.0`.
    Open(u64, MirrorRecord),
    /// A commit/abort marker, or a record of an aborted transaction.
    Control,
}

#[derive(Debug, Default)]
struct Partition {
    slots: Vec<Slot>,
    /// The transactional id's current producer epoch.
    epoch: u64,
}

/// The cluster, shared by every sandbox.
#[derive(Debug, Default)]
struct Cluster {
    partitions: HashMap<TopicPartition, Partition>,
}

impl Partition {
    /// Ends every open transaction (of epochs other than `keep`) as aborted.
    fn abort_open(&mut self, keep: Option<u64>) {
        let mut any = false;
        for s in &mut self.slots {
            if let Slot::Open(e, _) = s {
                if Some(*e) != keep {
                    *s = Slot::Control;
                    any = true;
                }
            }
        }
        if any {
            self.slots.push(Slot::Control);
        }
    }
}

/// One sandbox's view: its own producer epochs over the shared cluster. Every operation
/// yields first (and sometimes sleeps), so concurrent sandboxes interleave.
#[derive(Debug, Clone)]
struct TxnTarget {
    cluster: Arc<Mutex<Cluster>>,
    mine: Arc<Mutex<HashMap<TopicPartition, u64>>>,
    rng: Arc<AtomicU64>,
}

impl TxnTarget {
    fn sandbox(cluster: &Arc<Mutex<Cluster>>, seed: u64) -> Self {
        Self {
            cluster: Arc::clone(cluster),
            mine: Arc::default(),
            rng: Arc::new(AtomicU64::new(seed | 1)),
        }
    }

    async fn jitter(&self) {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        if x.is_multiple_of(3) {
            tokio::time::sleep(Duration::from_micros(x % 300)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }

    fn my_epoch(&self, tp: &TopicPartition) -> Option<u64> {
        self.mine.lock().unwrap().get(tp).copied()
    }

    /// Checks that this sandbox still holds `tp`; a fenced producer is dropped.
    fn current(&self, c: &mut Cluster, tp: &TopicPartition) -> Result<u64, TargetError> {
        let p = c.partitions.entry(tp.clone()).or_default();
        match self.my_epoch(tp) {
            Some(e) if e == p.epoch => Ok(e),
            _ => {
                self.mine.lock().unwrap().remove(tp);
                Err(TargetError::Fenced { tp: tp.clone() })
            }
        }
    }
}

impl TargetMetadata for TxnTarget {
    async fn topic_info(&self, _topic: &str) -> Result<Option<TopicInfo>, TargetError> {
        Ok(Some(TopicInfo {
            partitions: 1,
            max_message_bytes: 1_048_588,
        }))
    }
}

impl TargetOffsets for TxnTarget {
    async fn end_offset(&self, tp: &TopicPartition) -> Result<i64, TargetError> {
        self.jitter().await;
        let c = self.cluster.lock().unwrap();
        Ok(c.partitions.get(tp).map_or(0, |p| p.slots.len() as i64))
    }
}

impl RangeReader for TxnTarget {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        isolation: ReadIsolation,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        self.jitter().await;
        let c = self.cluster.lock().unwrap();
        let uncommitted = isolation == ReadIsolation::Uncommitted;
        Ok(read(c.partitions.get(tp), from, to, uncommitted))
    }
}

fn read(p: Option<&Partition>, from: i64, to: i64, uncommitted: bool) -> Vec<MirrorRecord> {
    let Some(p) = p else { return Vec::new() };
    p.slots
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as i64) >= from && (*i as i64) < to)
        .filter_map(|(i, s)| {
            let r = match s {
                Slot::Data(r) => r,
                Slot::Open(_, r) if uncommitted => r,
                _ => return None,
            };
            Some(MirrorRecord {
                offset: i as i64,
                ..r.clone()
            })
        })
        .collect()
}

impl TargetWriter for TxnTarget {
    fn release(&self, tp: &TopicPartition) {
        self.mine.lock().unwrap().remove(tp);
    }

    async fn fence(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        if self.my_epoch(tp).is_some() {
            return Ok(());
        }
        self.jitter().await;
        let mut c = self.cluster.lock().unwrap();
        let p = c.partitions.entry(tp.clone()).or_default();
        p.epoch += 1;
        p.abort_open(None);
        self.mine.lock().unwrap().insert(tp.clone(), p.epoch);
        Ok(())
    }

    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        self.fence(tp).await?;
        let mut offsets = Vec::new();
        // Records go out in two requests with an await in between, like a real producer.
        for chunk in records.chunks(records.len().div_ceil(2).max(1)) {
            self.jitter().await;
            let mut c = self.cluster.lock().unwrap();
            let epoch = self.current(&mut c, tp)?;
            let p = c.partitions.get_mut(tp).unwrap();
            for r in chunk {
                offsets.push(p.slots.len() as i64);
                p.slots.push(Slot::Open(epoch, r.clone()));
            }
        }
        Ok(offsets)
    }

    async fn commit(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        self.jitter().await;
        let mut c = self.cluster.lock().unwrap();
        let epoch = self.current(&mut c, tp)?;
        let p = c.partitions.get_mut(tp).unwrap();
        for s in &mut p.slots {
            if let Slot::Open(e, r) = s {
                if *e == epoch {
                    *s = Slot::Data(r.clone());
                }
            }
        }
        p.slots.push(Slot::Control);
        Ok(())
    }

    async fn abort(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        let mut c = self.cluster.lock().unwrap();
        if let Ok(epoch) = self.current(&mut c, tp) {
            let p = c.partitions.get_mut(tp).unwrap();
            let mut any = false;
            for s in &mut p.slots {
                if matches!(s, Slot::Open(e, _) if *e == epoch) {
                    *s = Slot::Control;
                    any = true;
                }
            }
            if any {
                p.slots.push(Slot::Control);
            }
        }
        Ok(())
    }

    fn transactional(&self) -> bool {
        true
    }
}

fn rec(offset: i64) -> MirrorRecord {
    MirrorRecord {
        offset,
        timestamp: 1_700_000_000_000 + offset,
        timestamp_type: TimestampType::CreateTime,
        key: Some(format!("k{offset}").into_bytes()),
        value: Some(format!("v{offset}").into_bytes()),
        headers: Vec::new(),
    }
}

type Sandbox = MirrorHandler<InMemoryStateStore, TxnTarget>;

fn sandbox(
    store: &InMemoryStateStore,
    cluster: &Arc<Mutex<Cluster>>,
    seed: u64,
    cache: bool,
) -> Sandbox {
    MirrorHandler::new(
        store.clone(),
        TxnTarget::sandbox(cluster, seed),
        ReplicationPolicy::Identity,
        TopicFilter::default(),
    )
    .cache_progress(cache)
}

/// A delivery: which sandbox, where it starts relative to the acknowledged position (a
/// rewind re-delivers acknowledged records), how many records.
#[derive(Debug, Clone)]
struct Delivery {
    sandbox: usize,
    rewind: usize,
    size: usize,
}

fn rounds() -> impl Strategy<Value = Vec<Vec<Delivery>>> {
    let delivery = (
        0usize..3,
        prop_oneof![3 => Just(0usize), 1 => 1usize..15],
        1usize..20,
    )
        .prop_map(|(sandbox, rewind, size)| Delivery {
            sandbox,
            rewind,
            size,
        });
    // Each round runs its deliveries concurrently (overlapping invocations).
    prop::collection::vec(prop::collection::vec(delivery, 1..4), 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn overlapping_sandboxes_never_duplicate_or_lose(
        rounds in rounds(),
        log_len in 20i64..120,
        seed in any::<u64>(),
        cache in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let store = InMemoryStateStore::default();
            let cluster: Arc<Mutex<Cluster>> = Arc::default();
            let sandboxes: Vec<Sandbox> = (0..3).map(|i| sandbox(&store, &cluster, seed ^ ((i as u64 + 1) * 0x9E37_79B9), cache)).collect();
            let tp = TopicPartition::new("t", 0);
            let batch = |from: i64, size: usize| PartitionBatch {
                tp: tp.clone(),
                records: (from..(from + size as i64).min(log_len)).map(rec).collect(),
            };
            let mut acked = 0i64;
            for mut round in rounds {
                // A sandbox runs one invocation at a time (as in Lambda); overlap is between sandboxes.
                let mut seen = std::collections::HashSet::new();
                round.retain(|d| seen.insert(d.sandbox));
                let runs = round.iter().map(|d| {
                    let from = (acked - d.rewind as i64).max(0);
                    let b = batch(from, d.size);
                    let h = &sandboxes[d.sandbox];
                    async move {
                        let end = b.records.last().map(|r| r.offset + 1);
                        if b.records.is_empty() { return None; }
                        h.handle(vec![b]).await.ok().and(end)
                    }
                });
                let results = futures::future::join_all(runs).await;
                // The ESM acknowledges the furthest successful delivery of the round.
                if let Some(end) = results.into_iter().flatten().max() {
                    acked = acked.max(end);
                }
            }
            // Drain with one sandbox (the ESM retries until everything is acknowledged).
            let mut guard = 0;
            while acked < log_len {
                if sandboxes[0].handle(vec![batch(acked, 7)]).await.is_ok() {
                    acked = (acked + 7).min(log_len);
                }
                guard += 1;
                assert!(guard < 1000, "the partition must not stall");
            }
            let committed: Vec<i64> = {
                let c = cluster.lock().unwrap();
                read(c.partitions.get(&tp), 0, i64::MAX, false).into_iter().map(|r| r.value.unwrap()).map(|v| String::from_utf8(v).unwrap()[1..].parse().unwrap()).collect()
            };
            assert_eq!(committed, (0..log_len).collect::<Vec<_>>(), "each source record exactly once, in order");
            let progress = store.load_progress(std::slice::from_ref(&tp)).await.unwrap()[&tp];
            assert_eq!(progress.next_source, log_len);
            let segments = store.segments(&tp).await.unwrap();
            let c = cluster.lock().unwrap();
            for r in read(c.partitions.get(&tp), 0, i64::MAX, false) {
                let source: i64 = String::from_utf8(r.value.clone().unwrap()).unwrap()[1..].parse().unwrap();
                assert_eq!(translate(&segments, progress, source), Translation::Exact(r.offset), "translation of {source}");
            }
        });
    }
}

/// Lambda sends a partition's batches to whichever warm sandbox is free, so its writer moves
/// between sandboxes all the time without any overlap. A sandbox coming back to a partition
/// another sandbox wrote since must fence anew by itself (with the progress cache on: it sees
/// the target end moved; with it off: its first produce is fenced and it retries once inside
/// the invocation), never fail the batch back to the event source mapping.
#[tokio::test]
async fn sequential_batches_moving_between_sandboxes_never_fail() {
    for cache in [true, false] {
        let store = InMemoryStateStore::default();
        let cluster: Arc<Mutex<Cluster>> = Arc::default();
        let sandboxes: Vec<Sandbox> = (0..3)
            .map(|i| sandbox(&store, &cluster, i, cache))
            .collect();
        let tp = TopicPartition::new("t", 0);
        let order = [0usize, 1, 0, 2, 2, 1, 0, 1, 2, 0];
        for (i, s) in order.iter().enumerate() {
            let from = i as i64 * 5;
            let b = PartitionBatch {
                tp: tp.clone(),
                records: (from..from + 5).map(rec).collect(),
            };
            sandboxes[*s]
                .handle(vec![b])
                .await
                .unwrap_or_else(|e| panic!("batch {i} on sandbox {s} (cache {cache}): {e}"));
        }
        let c = cluster.lock().unwrap();
        let values: Vec<i64> = read(c.partitions.get(&tp), 0, i64::MAX, false)
            .into_iter()
            .map(|r| {
                String::from_utf8(r.value.unwrap()).unwrap()[1..]
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(values, (0..50).collect::<Vec<_>>(), "cache {cache}");
    }
}
