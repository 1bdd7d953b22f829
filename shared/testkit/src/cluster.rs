//! An in-memory Kafka cluster: partition logs with watermarks, readable and writable.

use ferry_core::ports::{
    ClusterError, ClusterReader, RangeReader, ReadIsolation, TargetError, TargetProducer,
    TopicCreator,
};
use ferry_core::record::MirrorRecord;
use ferry_core::topics::TopicPartition;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An in-memory Kafka cluster for validation and heartbeat tests: topics of partitions holding
/// records at explicit offsets (gaps allowed, like compaction or transaction markers), with a
/// low and high watermark each. Implements [`RangeReader`], [`ClusterReader`], [`TopicCreator`] and
/// [`TargetProducer`] (appends at the high watermark). Clones share the same state.
#[derive(Debug, Clone)]
pub struct InMemoryCluster {
    name: &'static str,
    inner: Arc<Mutex<ClusterState>>,
}

#[derive(Debug, Default)]
struct ClusterState {
    topics: BTreeMap<String, Vec<PartitionLog>>,
    unavailable: bool,
}

#[derive(Debug, Default, Clone)]
struct PartitionLog {
    low: i64,
    high: i64,
    records: Vec<MirrorRecord>,
}

impl InMemoryCluster {
    /// An empty cluster named `name` (`source` or `target`, used in errors).
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log_mut<'a>(
        state: &'a mut ClusterState,
        name: &'static str,
        tp: &TopicPartition,
    ) -> Result<&'a mut PartitionLog, ClusterError> {
        state
            .topics
            .get_mut(&tp.topic)
            .and_then(|ps| ps.get_mut(usize::try_from(tp.partition).ok()?))
            .ok_or_else(|| ClusterError::TopicMissing {
                cluster: name,
                topic: tp.topic.clone(),
            })
    }

    /// Creates `topic` with `partitions` empty partitions (no-op if it exists).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        self.lock()
            .topics
            .entry(topic.to_string())
            .or_insert_with(|| vec![PartitionLog::default(); partitions.max(0) as usize]);
    }

    /// Appends `record` at the partition's high watermark; returns its offset.
    /// Panics if the topic does not exist.
    pub fn append(&self, tp: &TopicPartition, mut record: MirrorRecord) -> i64 {
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).expect("topic exists");
        record.offset = log.high;
        log.high += 1;
        log.records.push(record);
        log.high - 1
    }

    /// Advances the high watermark by `n` offsets that hold no readable record (transaction
    /// markers, aborted records, compacted-away records).
    pub fn skip(&self, tp: &TopicPartition, n: i64) {
        let mut s = self.lock();
        Self::log_mut(&mut s, self.name, tp)
            .expect("topic exists")
            .high += n;
    }

    /// Deletes the records below `low` (retention).
    pub fn set_low(&self, tp: &TopicPartition, low: i64) {
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).expect("topic exists");
        log.low = low;
        log.records.retain(|r| r.offset >= low);
    }

    /// Replaces the record at `offset` (a corrupted target, a compacted source); `None` removes
    /// it (leaving a gap).
    pub fn replace(&self, tp: &TopicPartition, offset: i64, record: Option<MirrorRecord>) {
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).expect("topic exists");
        let i = log.records.partition_point(|r| r.offset < offset);
        let present = log.records.get(i).is_some_and(|r| r.offset == offset);
        match (record, present) {
            (Some(mut r), true) => {
                r.offset = offset;
                log.records[i] = r;
            }
            (Some(mut r), false) => {
                r.offset = offset;
                log.records.insert(i, r);
            }
            (None, true) => {
                log.records.remove(i);
            }
            (None, false) => {}
        }
    }

    /// Every readable record of a partition.
    pub fn records(&self, tp: &TopicPartition) -> Vec<MirrorRecord> {
        let mut s = self.lock();
        Self::log_mut(&mut s, self.name, tp)
            .map(|l| l.records.clone())
            .unwrap_or_default()
    }

    /// Makes every read fail with [`ClusterError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn check(&self) -> Result<MutexGuard<'_, ClusterState>, ClusterError> {
        let s = self.lock();
        if s.unavailable {
            return Err(ClusterError::Unavailable {
                cluster: self.name,
                source: "injected: cluster unavailable".into(),
            });
        }
        Ok(s)
    }
}

/// No transactions in memory: both isolations read the same records.
impl RangeReader for InMemoryCluster {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        _isolation: ReadIsolation,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        let mut s = self.check()?;
        let log = Self::log_mut(&mut s, self.name, tp)?;
        Ok(log
            .records
            .iter()
            .filter(|r| r.offset >= from && r.offset < to)
            .cloned()
            .collect())
    }
}

impl ClusterReader for InMemoryCluster {
    async fn partitions(&self, topic: &str) -> Result<Option<i32>, ClusterError> {
        Ok(self.check()?.topics.get(topic).map(|p| p.len() as i32))
    }

    async fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64), ClusterError> {
        let mut s = self.check()?;
        let log = Self::log_mut(&mut s, self.name, tp)?;
        Ok((log.low, log.high))
    }

    async fn count_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> Result<u64, ClusterError> {
        Ok(self
            .read_range(tp, from, to, ReadIsolation::Committed)
            .await?
            .len() as u64)
    }
}

impl TopicCreator for InMemoryCluster {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), ClusterError> {
        drop(self.check()?);
        self.create_topic(topic, partitions);
        Ok(())
    }
}

impl TargetProducer for InMemoryCluster {
    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        if self.lock().unavailable {
            return Err(TargetError::Unavailable(
                "injected: cluster unavailable".into(),
            ));
        }
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).map_err(|_| TargetError::TopicMissing {
            topic: tp.topic.clone(),
        })?;
        let mut offsets = Vec::with_capacity(records.len());
        for r in records {
            let mut r = r.clone();
            r.offset = log.high;
            offsets.push(log.high);
            log.high += 1;
            log.records.push(r);
        }
        Ok(offsets)
    }
}
