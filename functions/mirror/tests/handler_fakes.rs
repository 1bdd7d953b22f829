//! The mirror handler against in-memory fakes of the state store and target cluster: redelivery,
//! overlapping and re-split batches, partial writes by a dying attempt, foreign writers, bad targets.

use ferry_core::memory::InMemoryStateStore;
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    ProgressStore, SegmentStore, TargetError, TargetMetadata, TargetOffsets, TargetProducer,
    TargetReader, TopicInfo,
};
use ferry_core::translate::{translate, Translation};
use ferry_core::{Header, MirrorRecord, TimestampType, TopicPartition};
use mirror::event::PartitionBatch;
use mirror::{MirrorError, MirrorHandler};
use std::collections::HashMap;
use std::sync::Mutex;

/// An in-memory target cluster. `die_after` makes the next produce write only that many records
/// and then fail, like an attempt that dies mid-produce.
#[derive(Debug, Default)]
struct FakeTarget {
    topics: HashMap<String, TopicInfo>,
    logs: Mutex<HashMap<TopicPartition, Vec<MirrorRecord>>>,
    die_after: Mutex<Option<usize>>,
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
impl TargetReader for FakeTarget {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> Result<Vec<MirrorRecord>, TargetError> {
        let log = self.log(tp);
        Ok(log[(from as usize).min(log.len())..(to as usize).min(log.len())].to_vec())
    }
}
impl TargetProducer for FakeTarget {
    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
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
