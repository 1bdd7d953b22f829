//! [`KafkaClusterReader`]: the validation ports ([`ClusterReader`], [`TopicCreator`]) for one
//! cluster (source or target), on top of [`crate::reader`] (assigned, never-joined consumers)
//! and [`crate::admin`].
//!
//! Reads use `read_committed` by default (what a normal consumer sees: aborted records and
//! transaction markers are gaps) and stop at the partition's current end instead of waiting.

use crate::admin::{create_topic, partition_count, AdminError};
use crate::config::KafkaConnection;
use crate::reader::{scan_partition, Isolation, ReadError, ReadOptions, DEFAULT_READ_TIMEOUT};
use ferry_core::ports::{ClusterError, ClusterReader, TopicCreator};
use ferry_core::record::MirrorRecord;
use ferry_core::topic::TopicPartition;
use rdkafka::error::RDKafkaErrorCode;
use std::time::Duration;

/// Validation reads of one cluster.
#[derive(Debug, Clone)]
pub struct KafkaClusterReader {
    conn: KafkaConnection,
    cluster: &'static str,
    isolation: Isolation,
    timeout: Duration,
}

impl KafkaClusterReader {
    /// A reader of the cluster at `conn`; `cluster` (`source`/`target`) names it in errors.
    pub fn new(conn: KafkaConnection, cluster: &'static str) -> Self {
        Self {
            conn,
            cluster,
            isolation: Isolation::ReadCommitted,
            timeout: DEFAULT_READ_TIMEOUT,
        }
    }

    /// Reads with `isolation` instead of `read_committed`.
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Longest time a read may go without progress (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn read_error(&self, tp: &TopicPartition, e: ReadError) -> ClusterError {
        let missing = matches!(
            &e,
            ReadError::Kafka { source, .. } if matches!(
                source.rdkafka_error_code(),
                Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic | RDKafkaErrorCode::UnknownPartition)
            )
        );
        if missing {
            ClusterError::TopicMissing {
                cluster: self.cluster,
                topic: tp.topic.clone(),
            }
        } else {
            ClusterError::Unavailable {
                cluster: self.cluster,
                source: Box::new(e),
            }
        }
    }

    fn admin_error(&self, e: AdminError) -> ClusterError {
        ClusterError::Unavailable {
            cluster: self.cluster,
            source: Box::new(e),
        }
    }

    fn options(&self) -> ReadOptions {
        ReadOptions {
            isolation: self.isolation,
            timeout: self.timeout,
            stop_at_end: true,
        }
    }
}

impl ClusterReader for KafkaClusterReader {
    async fn partitions(&self, topic: &str) -> Result<Option<i32>, ClusterError> {
        partition_count(&self.conn, topic)
            .await
            .map_err(|e| self.admin_error(e))
    }

    async fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64), ClusterError> {
        crate::reader::watermarks(&self.conn, tp)
            .await
            .map_err(|e| self.read_error(tp, e))
    }

    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        let capacity = usize::try_from(to.saturating_sub(from))
            .unwrap_or(0)
            .min(100_000);
        scan_partition(
            &self.conn,
            tp,
            from,
            Some(to),
            &self.options(),
            Vec::with_capacity(capacity),
            |records, r| records.push(r),
        )
        .await
        .map_err(|e| self.read_error(tp, e))
    }

    async fn count_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> Result<u64, ClusterError> {
        scan_partition(
            &self.conn,
            tp,
            from,
            Some(to),
            &self.options(),
            0u64,
            |n, _| *n += 1,
        )
        .await
        .map_err(|e| self.read_error(tp, e))
    }
}

impl TopicCreator for KafkaClusterReader {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), ClusterError> {
        create_topic(&self.conn, topic, partitions, &[])
            .await
            .map_err(|e| self.admin_error(e))
    }
}

impl ferry_core::ports::SourceLogBounds for KafkaClusterReader {
    async fn log_bounds(&self, tp: &TopicPartition) -> Result<Option<(i64, i64)>, ClusterError> {
        ClusterReader::watermarks(self, tp).await.map(Some)
    }
}
