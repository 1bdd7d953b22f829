//! [`KafkaClusterReader`]: the reading ports ([`RangeReader`], [`ClusterReader`]) and
//! [`TopicCreator`] for one cluster (source or target), on top of [`crate::reader`] (assigned,
//! never-joined consumers) and [`crate::admin`]. Its [`RangeReader::read_range`] is the one
//! range-read body of this crate ([`crate::TargetCluster`] delegates to it).
//!
//! Range reads use the isolation the caller asks for; counts use `read_committed` (what a
//! normal consumer sees: aborted records and transaction markers are gaps). Reads stop at the
//! partition's current end instead of waiting.

use crate::admin::{create_topic, partition_count, AdminError};
use crate::auth::FerryConsumer;
use crate::config::KafkaConnection;
use crate::reader::{
    fetch_watermarks, watermark_consumer, Isolation, RangeConsumers, ReadError, ReadOptions,
    DEFAULT_READ_TIMEOUT,
};
use ferry_core::ports::{ClusterError, ClusterReader, RangeReader, ReadIsolation, TopicCreator};
use ferry_core::record::MirrorRecord;
use ferry_core::topics::TopicPartition;
use rdkafka::error::RDKafkaErrorCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Validation reads of one cluster.
///
/// Watermarks come from one consumer per reader, created at the first call and kept (clones
/// share it): a validation of 1,000 partitions asks for 2,000 watermarks, and creating a
/// client for each (connect, metadata) cost about 70 ms apiece, most of a lag check. Range
/// reads take a consumer from a pool shared by clones ([`RangeConsumers`]) and give it back
/// after a successful read.
#[derive(Clone)]
pub struct KafkaClusterReader {
    conn: KafkaConnection,
    cluster: &'static str,
    timeout: Duration,
    eager_connections: bool,
    watermark_consumer: Arc<Mutex<Option<Arc<FerryConsumer>>>>,
    range_consumers: Arc<RangeConsumers>,
}

impl std::fmt::Debug for KafkaClusterReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaClusterReader")
            .field("conn", &self.conn)
            .field("cluster", &self.cluster)
            .field("timeout", &self.timeout)
            .field("range_consumers", &self.range_consumers)
            .finish_non_exhaustive()
    }
}

impl KafkaClusterReader {
    /// A reader of the cluster at `conn`; `cluster` (`source`/`target`) names it in errors.
    pub fn new(conn: KafkaConnection, cluster: &'static str) -> Self {
        Self {
            conn,
            cluster,
            timeout: DEFAULT_READ_TIMEOUT,
            eager_connections: false,
            watermark_consumer: Arc::default(),
            range_consumers: Arc::default(),
        }
    }

    /// The shared watermark consumer, created on first use.
    fn watermark_consumer(&self, tp: &TopicPartition) -> Result<Arc<FerryConsumer>, ClusterError> {
        let mut slot = self
            .watermark_consumer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(Arc::clone(c));
        }
        let consumer =
            Arc::new(watermark_consumer(&self.conn).map_err(|e| self.read_error(tp, e))?);
        *slot = Some(Arc::clone(&consumer));
        Ok(consumer)
    }

    /// The consumers range reads reuse (shared by clones).
    pub fn range_consumers(&self) -> &RangeConsumers {
        &self.range_consumers
    }

    /// Longest time a read may go without progress (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Range reads connect to every broker at once (see [`ReadOptions::eager_connections`]).
    pub fn with_eager_connections(mut self, eager: bool) -> Self {
        self.eager_connections = eager;
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

    /// Folds `range` of `tp` with a pooled consumer (see [`RangeConsumers::scan`]).
    async fn scan<A, F>(
        &self,
        tp: &TopicPartition,
        range: std::ops::Range<i64>,
        isolation: Isolation,
        acc: A,
        f: F,
    ) -> Result<A, ClusterError>
    where
        A: Send + 'static,
        F: FnMut(&mut A, MirrorRecord) + Send + 'static,
    {
        let options = self.options(isolation);
        self.range_consumers
            .scan(
                &self.conn,
                tp,
                range.start,
                Some(range.end),
                &options,
                acc,
                f,
            )
            .await
            .map_err(|e| self.read_error(tp, e))
    }

    fn options(&self, isolation: Isolation) -> ReadOptions {
        ReadOptions {
            isolation,
            timeout: self.timeout,
            stop_at_end: true,
            eager_connections: self.eager_connections,
        }
    }
}

impl RangeReader for KafkaClusterReader {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        isolation: ReadIsolation,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        let capacity = usize::try_from(to.saturating_sub(from))
            .unwrap_or(0)
            .min(100_000);
        let records = Vec::with_capacity(capacity);
        self.scan(tp, from..to, isolation.into(), records, |records, r| {
            records.push(r);
        })
        .await
    }
}

impl ClusterReader for KafkaClusterReader {
    async fn partitions(&self, topic: &str) -> Result<Option<i32>, ClusterError> {
        partition_count(&self.conn, topic)
            .await
            .map_err(|e| self.admin_error(e))
    }

    async fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64), ClusterError> {
        let consumer = self.watermark_consumer(tp)?;
        fetch_watermarks(consumer, tp)
            .await
            .map_err(|e| self.read_error(tp, e))
    }

    async fn count_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> Result<u64, ClusterError> {
        self.scan(tp, from..to, Isolation::ReadCommitted, 0u64, |n, _| *n += 1)
            .await
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
