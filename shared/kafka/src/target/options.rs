//! Producer tuning and the options of a [`TargetCluster`](super::TargetCluster).

use crate::transactions::Fencing;
use std::time::Duration;

/// Compression codec for produced batches (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 (default: cheap on CPU, good ratio for typical payloads).
    #[default]
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The `compression.type` value.
    pub fn as_rdkafka(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Producer settings that are safe to tune. Idempotence, `acks=all` and
/// `max.in.flight.requests.per.connection=5` are fixed: exactly-once mirroring depends on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerTuning {
    /// `linger.ms`: how long to wait for more records before sending a batch. Default 5.
    pub linger_ms: u32,
    /// `batch.size`: maximum bytes per partition batch. Default 1 000 000.
    ///
    /// librdkafka does not split a batch the broker rejects as too large, so this must stay
    /// at or below the smallest target topic `max.message.bytes` (Kafka's default is
    /// 1 048 588) or batches of individually small records can fail with `MESSAGE_TOO_LARGE`.
    pub batch_size: u32,
    /// `batch.num.messages`: maximum records per batch. Default 10 000.
    pub batch_num_messages: u32,
    /// `compression.type`. Default [`Compression::Lz4`].
    pub compression: Compression,
    /// `message.timeout.ms`: how long librdkafka retries a record before failing its delivery.
    /// Default 60 000.
    pub message_timeout_ms: u32,
    /// `queue.buffering.max.messages`: records librdkafka may hold before `QueueFull`.
    /// Default 500 000 (more than any single Lambda batch).
    pub queue_buffering_max_messages: u32,
    /// `message.max.bytes`: client-side limit for one record / request. Default 10 MiB, so the
    /// broker's topic `max.message.bytes` is what decides (librdkafka's own default of
    /// 1 000 000 is below Kafka's default topic limit).
    pub message_max_bytes: u32,
}

impl Default for ProducerTuning {
    fn default() -> Self {
        Self {
            linger_ms: 5,
            batch_size: 1_000_000,
            batch_num_messages: 10_000,
            compression: Compression::Lz4,
            message_timeout_ms: 60_000,
            queue_buffering_max_messages: 500_000,
            message_max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Options for [`TargetCluster`](super::TargetCluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOptions {
    /// Producer tuning.
    pub tuning: ProducerTuning,
    /// Timeout for metadata, watermark and describe-configs requests, and how long the
    /// producer waits for an unknown topic to appear before failing its records. Default 10 s.
    pub request_timeout: Duration,
    /// How long [`TargetMetadata::topic_info`](ferry_core::ports::TargetMetadata::topic_info) answers are cached per topic. Default 60 s.
    pub topic_info_ttl: Duration,
    /// How [`TargetWriter`](ferry_core::ports::TargetWriter) fences older writers. Default
    /// [`Fencing::None`]; the mirror turns transactions on.
    pub fencing: Fencing,
}

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            tuning: ProducerTuning::default(),
            request_timeout: Duration::from_secs(10),
            topic_info_ttl: Duration::from_secs(60),
            fencing: Fencing::None,
        }
    }
}

impl From<ProducerTuning> for TargetOptions {
    fn from(tuning: ProducerTuning) -> Self {
        Self {
            tuning,
            ..Self::default()
        }
    }
}
