//! The target cluster as the mirror uses it: writing, end offsets, topic metadata.

use super::BoxError;
use super::ClusterError;
use crate::record::MirrorRecord;
use crate::topics::TopicPartition;
use std::future::Future;
use thiserror::Error;

/// Target-cluster failures.
#[derive(Debug, Error)]
pub enum TargetError {
    /// The target topic does not exist.
    #[error("target topic {topic:?} does not exist: create it with the source's partition count (see `ferry` preflight)")]
    TopicMissing {
        /// Target topic.
        topic: String,
    },
    /// The target topic has fewer partitions than the source partition needs.
    #[error("target topic {topic:?} has {partitions} partitions but source partition {partition} must be mirrored to the same partition number")]
    TooFewPartitions {
        /// Target topic.
        topic: String,
        /// Its partition count.
        partitions: i32,
        /// The source partition.
        partition: i32,
    },
    /// A record exceeds the target topic's `max.message.bytes`.
    #[error("record {tp}@{offset} is about {size} bytes, larger than target topic max.message.bytes = {max}")]
    RecordTooLarge {
        /// Source partition.
        tp: TopicPartition,
        /// Source offset.
        offset: i64,
        /// Estimated size.
        size: usize,
        /// Target limit.
        max: usize,
    },
    /// The target cluster did not answer.
    #[error("target cluster unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A newer writer (another invocation of the same partition) fenced this one: nothing this
    /// writer had in flight on the partition becomes visible. Retryable: the batch is
    /// redelivered and mirrored by whoever holds the partition.
    #[error("writer of target {tp} was fenced by a newer writer (an overlapping or later invocation): its transaction was aborted")]
    Fenced {
        /// Target partition.
        tp: TopicPartition,
    },
    /// A produce request failed.
    #[error("produce to target {tp} failed: {source}")]
    Produce {
        /// Target partition.
        tp: TopicPartition,
        /// Cause.
        #[source]
        source: BoxError,
    },
}

impl From<ClusterError> for TargetError {
    /// A failed read of the target ([`RangeReader`](super::RangeReader)) as a target failure.
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::TopicMissing { topic, .. } => TargetError::TopicMissing { topic },
            ClusterError::Unavailable { source, .. } => TargetError::Unavailable(source),
        }
    }
}

/// What Ferry needs to know about a target topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    /// Partition count.
    pub partitions: i32,
    /// The topic's effective `max.message.bytes`.
    pub max_message_bytes: usize,
}

/// Reads target topic metadata.
pub trait TargetMetadata: Send + Sync {
    /// Topic info, `None` if the topic does not exist.
    fn topic_info(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<TopicInfo>, TargetError>> + Send;

    /// Forgets any cached answer for `topic`, so the next [`TargetMetadata::topic_info`] asks
    /// the cluster (after a record was refused as too large: the operator may raise the limit).
    fn forget_topic_info(&self, _topic: &str) {}
}

/// Reads target partition end offsets.
pub trait TargetOffsets: Send + Sync {
    /// The partition's end offset (high watermark): the offset the next record will get.
    fn end_offset(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<i64, TargetError>> + Send;
}

/// Writes mirrored records to a target partition with **fencing**: one transactional writer
/// per target partition (a stable `transactional.id`), so a newer writer makes every older
/// one (an overlapping invocation, a zombie whose requests are still in flight) unable to
/// leave any record on the partition. See `ferry_core::progress` for the protocol.
///
/// One writer serves one invocation at a time per partition (a Lambda sandbox runs one
/// invocation at a time): its transaction on a partition is not shared between callers.
///
/// Adapters may also run without fencing (an idempotent producer; `fence`, `commit` and
/// `abort` do nothing), which is only exactly-once while one invocation at a time writes a
/// partition.
pub trait TargetWriter: Send + Sync {
    /// Makes this writer the current one for `tp` if it is not already: any older writer's
    /// open transaction is aborted (or completed) and its later requests are rejected. Cheap
    /// when this writer already holds `tp`. Must be called before reading what is on the
    /// partition.
    fn fence(&self, tp: &TopicPartition) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Begins a transaction on `tp`, produces `records` in order (same key, value, headers,
    /// timestamp) and waits for every delivery report, also when one fails. Returns the target
    /// offsets assigned, in order. The transaction stays open: [`TargetWriter::commit`] or
    /// [`TargetWriter::abort`] ends it. On error the adapter aborts it itself.
    fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> impl Future<Output = Result<Vec<i64>, TargetError>> + Send;

    /// Commits the open transaction on `tp`. [`TargetError::Fenced`] if a newer writer took
    /// the partition over in the meantime (nothing of the transaction is visible then).
    fn commit(&self, tp: &TopicPartition) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Aborts the open transaction on `tp` (nothing of it becomes visible to `read_committed`
    /// consumers).
    fn abort(&self, tp: &TopicPartition) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Whether records produced on `tp` end with a commit marker (fencing on).
    fn transactional(&self) -> bool;

    /// Gives up this writer's hold on `tp` without touching the partition, so that the next
    /// [`TargetWriter::fence`] fences anew. Called when the target shows that another writer
    /// wrote `tp` since this one did: that writer's fencing has made this one's hold stale, and
    /// using it would only fail (a Lambda batch of a partition may go to any warm sandbox, so
    /// the writer of a partition moves between sandboxes all the time). No-op by default.
    fn release(&self, _tp: &TopicPartition) {}
}

/// Produces records to the target.
pub trait TargetProducer: Send + Sync {
    /// Produces `records` in order to partition `tp` (same key, value, headers, timestamp) and
    /// waits for every delivery report, also when one fails, so nothing is left in flight when it
    /// returns. Returns the target offsets assigned, in order.
    fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> impl Future<Output = Result<Vec<i64>, TargetError>> + Send;
}
