//! One heartbeat per invocation.
//!
//! 1. create the heartbeat topic with one partition if the source does not have it;
//! 2. read the newest heartbeats of partition 0 (the last 10 offsets): `seq` = newest seq + 1;
//!    on an empty topic (or one without parseable heartbeats) `seq` = the partition's high
//!    watermark + 1 (1 on a new topic), so seqs keep increasing;
//! 3. produce `{"seq","emitted_at_ms","source"}` with key = the cluster alias and record
//!    timestamp = `emitted_at_ms`.
//!
//! Two overlapping invocations may write the same seq (the schedule runs one per minute, so
//! this is rare); validation compares seqs, so a duplicate only hides one heartbeat of lag.

use crate::error::HeartbeatError;
use crate::telemetry::HeartbeatEvent;
use ferry_core::ports::{ClusterReader, ReadIsolation, TargetProducer, TopicCreator};
use ferry_core::validation::Heartbeat;
use ferry_core::{MirrorRecord, TimestampType, TopicPartition};
use ferry_lambda::{now_ms, FailureError};
use serde::{Deserialize, Serialize};

/// Offsets read back to find the newest heartbeat.
const LOOKBACK: i64 = 10;

/// The Lambda response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatEmitted {
    /// Heartbeat topic.
    pub topic: String,
    /// Partition written (always 0).
    pub partition: i32,
    /// Offset of the heartbeat record.
    pub offset: i64,
    /// Its seq.
    pub seq: u64,
    /// Its timestamp.
    pub emitted_at_ms: i64,
}

/// Writes heartbeats. Generic over the ports so unit tests use in-memory fakes.
#[derive(Debug)]
pub struct HeartbeatHandler<C, P> {
    cluster: C,
    producer: P,
    topic: String,
    alias: String,
    now_ms: fn() -> i64,
}

impl<C, P> HeartbeatHandler<C, P>
where
    C: ClusterReader + TopicCreator,
    P: TargetProducer,
{
    /// A handler writing to `topic` on the cluster behind `cluster` / `producer`.
    pub fn new(
        cluster: C,
        producer: P,
        topic: impl Into<String>,
        alias: impl Into<String>,
    ) -> Self {
        Self {
            cluster,
            producer,
            topic: topic.into(),
            alias: alias.into(),
            now_ms,
        }
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, now_ms: fn() -> i64) -> Self {
        self.now_ms = now_ms;
        self
    }

    /// Writes one heartbeat (see the module docs).
    pub async fn run(&self) -> Result<HeartbeatEmitted, HeartbeatError> {
        let result = self.emit().await;
        match &result {
            Ok(e) => HeartbeatEvent::Emitted {
                topic: &e.topic,
                offset: e.offset,
                seq: e.seq,
            }
            .emit(),
            Err(e) => HeartbeatEvent::Failed {
                kind: e.kind(),
                message: &e.message(),
            }
            .emit(),
        }
        result
    }

    async fn emit(&self) -> Result<HeartbeatEmitted, HeartbeatError> {
        if self.cluster.partitions(&self.topic).await?.is_none() {
            HeartbeatEvent::TopicCreated { topic: &self.topic }.emit();
            self.cluster.ensure_topic(&self.topic, 1).await?;
        }
        let tp = TopicPartition::new(&self.topic, 0);
        let (low, high) = self.cluster.watermarks(&tp).await?;
        let newest = if high > low {
            self.cluster
                .read_range(
                    &tp,
                    (high - LOOKBACK).max(low),
                    high,
                    ReadIsolation::Committed,
                )
                .await?
                .iter()
                .filter_map(|r| r.value.as_deref())
                .filter_map(|v| serde_json::from_slice::<Heartbeat>(v).ok())
                .map(|h| h.seq)
                .max()
        } else {
            None
        };
        let seq = newest.map_or(high.max(0) as u64 + 1, |s| s + 1);
        let emitted_at_ms = (self.now_ms)();
        let heartbeat = Heartbeat {
            seq,
            emitted_at_ms,
            source: self.alias.clone(),
        };
        let record = MirrorRecord {
            offset: 0,
            timestamp: emitted_at_ms,
            timestamp_type: TimestampType::CreateTime,
            key: Some(self.alias.as_bytes().to_vec()),
            value: Some(serde_json::to_vec(&heartbeat).expect("a heartbeat serializes")),
            headers: Vec::new(),
        };
        let offsets = self.producer.produce(&tp, &[record]).await?;
        Ok(HeartbeatEmitted {
            topic: self.topic.clone(),
            partition: 0,
            offset: offsets.first().copied().unwrap_or(-1),
            seq,
            emitted_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_testkit::InMemoryCluster;

    #[tokio::test]
    async fn creates_the_topic_and_counts_seqs_up() {
        let c = InMemoryCluster::new("source");
        let h = HeartbeatHandler::new(c.clone(), c.clone(), "hb", "src").clock(|| 1234);
        let first = h.run().await.unwrap();
        assert_eq!(
            first,
            HeartbeatEmitted {
                topic: "hb".into(),
                partition: 0,
                offset: 0,
                seq: 1,
                emitted_at_ms: 1234
            }
        );
        let second = h.run().await.unwrap();
        assert_eq!((second.offset, second.seq), (1, 2));
        let tp = TopicPartition::new("hb", 0);
        let r = &c.records(&tp)[1];
        assert_eq!(r.key.as_deref(), Some(&b"src"[..]));
        assert_eq!(r.timestamp, 1234);
        let hb: Heartbeat = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        assert_eq!(
            hb,
            Heartbeat {
                seq: 2,
                emitted_at_ms: 1234,
                source: "src".into()
            }
        );
    }

    #[tokio::test]
    async fn foreign_records_do_not_reset_the_seq() {
        let c = InMemoryCluster::new("source");
        c.create_topic("hb", 1);
        let tp = TopicPartition::new("hb", 0);
        for _ in 0..3 {
            c.append(
                &tp,
                MirrorRecord {
                    offset: 0,
                    timestamp: 1,
                    timestamp_type: TimestampType::CreateTime,
                    key: None,
                    value: Some(b"not json".to_vec()),
                    headers: vec![],
                },
            );
        }
        let h = HeartbeatHandler::new(c.clone(), c.clone(), "hb", "src");
        assert_eq!(h.run().await.unwrap().seq, 4);
        assert_eq!(h.run().await.unwrap().seq, 5);
        c.set_unavailable(true);
        assert_eq!(
            h.run().await.unwrap_err().kind().error_type(),
            "Ferry.Transient"
        );
    }
}
