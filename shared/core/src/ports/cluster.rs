//! Reading either cluster: log bounds, end offsets, record ranges at an isolation level, topic creation.

use super::BoxError;
use super::GroupError;
use crate::record::MirrorRecord;
use crate::topics::TopicPartition;
use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;

/// Reads the source's end offsets (drain detection during producer cutover).
pub trait SourceEndOffsets: Send + Sync {
    /// End offset (high watermark) of every partition of `topics` on the source.
    fn end_offsets(
        &self,
        topics: &[String],
    ) -> impl Future<Output = Result<HashMap<TopicPartition, i64>, GroupError>> + Send;
}

/// Reading a cluster's partitions failed (also the error of [`RangeReader`]).
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The topic does not exist on this cluster.
    #[error("topic {topic:?} does not exist on the {cluster} cluster")]
    TopicMissing {
        /// `source` or `target`.
        cluster: &'static str,
        /// Topic.
        topic: String,
    },
    /// The cluster did not answer or a request failed; retrying later may succeed.
    #[error("{cluster} cluster unavailable: {source}")]
    Unavailable {
        /// `source` or `target`.
        cluster: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
    },
}

/// Reads a source partition's log bounds, for the mirror's data-loss checks.
pub trait SourceLogBounds: Send + Sync {
    /// `(log start offset, end offset)` of `tp` on the source; `None` when this deployment has
    /// no source connection (checks off).
    fn log_bounds(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<Option<(i64, i64)>, ClusterError>> + Send;
}

impl<T: SourceLogBounds> SourceLogBounds for Option<T> {
    async fn log_bounds(&self, tp: &TopicPartition) -> Result<Option<(i64, i64)>, ClusterError> {
        match self {
            Some(source) => source.log_bounds(tp).await,
            None => Ok(None),
        }
    }
}

/// No source connection: [`SourceLogBounds`] always answers `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSourceChecks;

impl SourceLogBounds for NoSourceChecks {
    async fn log_bounds(&self, _tp: &TopicPartition) -> Result<Option<(i64, i64)>, ClusterError> {
        Ok(None)
    }
}

/// Which records of transactions a range read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadIsolation {
    /// What a `read_committed` consumer sees: no markers, no aborted records, nothing of open
    /// transactions (they are gaps).
    Committed,
    /// What a `read_uncommitted` consumer sees: exactly what occupies the offsets, records of
    /// open and aborted transactions included (control markers are never returned).
    Uncommitted,
}

/// Reads a range of one partition's records, on either cluster (the one range-reading
/// capability: the mirror reads the target back for reconciliation and foreign-writer checks,
/// validation and heartbeats read both clusters). Every returned record carries its offset in
/// [`MirrorRecord::offset`].
pub trait RangeReader: Send + Sync {
    /// The data records with offsets in `[from, to)`, ascending, as `isolation` sees them (gaps
    /// allowed); stops at the partition's current end (fewer records if it ends earlier).
    /// Callers reading [`ReadIsolation::Committed`] right after a write make sure no
    /// transaction of theirs is open on `tp`.
    fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        isolation: ReadIsolation,
    ) -> impl Future<Output = Result<Vec<MirrorRecord>, ClusterError>> + Send;
}

/// Reads partitions of one cluster (source or target) for validation and heartbeats (ranges
/// through its supertrait [`RangeReader`]). Counts see what a `read_committed` consumer sees
/// (aborted records and transaction markers are gaps).
pub trait ClusterReader: RangeReader {
    /// Partition count of `topic`, `None` if it does not exist.
    fn partitions(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<i32>, ClusterError>> + Send;

    /// Low and high watermark (`high`: the offset the next record will get).
    fn watermarks(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<(i64, i64), ClusterError>> + Send;

    /// How many readable records have offsets in `[from, to)` (without holding them).
    fn count_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<u64, ClusterError>> + Send;
}

/// Creates topics (the heartbeat topic) on a cluster.
pub trait TopicCreator: Send + Sync {
    /// Creates `topic` with `partitions` partitions unless it exists (existing is fine).
    fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
}
