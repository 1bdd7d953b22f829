//! The target adapter's own error causes (kept as the `source` of a `TargetError`).

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::Duration;
use thiserror::Error;

/// A blocking request did not finish in time.
#[derive(Debug, Error)]
#[error("{what} did not complete within {timeout:?}")]
pub struct RequestTimeout {
    /// The request.
    pub what: &'static str,
    /// The timeout.
    pub timeout: Duration,
}

/// A metadata answer Ferry cannot use.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct UnexpectedResponse(pub String);

/// The idempotent producer hit a fatal error (e.g. a sequence gap the broker will not accept)
/// and rejects every further record: rebuild the [`TargetCluster`](super::TargetCluster) (or restart the process).
#[derive(Debug, Error)]
#[error("target producer failed fatally ({code}): {reason}")]
pub struct ProducerFatal {
    /// librdkafka's error code.
    pub code: RDKafkaErrorCode,
    /// librdkafka's explanation.
    pub reason: String,
}

/// The producer was dropped before a delivery report arrived.
#[derive(Debug, Error)]
#[error("producer shut down before the delivery report arrived")]
pub struct DeliveryCanceled;

/// A batch of records was rejected as too large although no single record exceeds the
/// topic limit: `batch.size` is above the topic's `max.message.bytes`.
#[derive(Debug, Error)]
#[error("a record batch exceeded the target topic max.message.bytes = {max} (producer batch.size = {batch_size}; lower it): {source}")]
pub struct BatchTooLarge {
    /// The topic limit.
    pub max: usize,
    /// The producer's `batch.size`.
    pub batch_size: u32,
    /// The broker's answer.
    #[source]
    pub source: KafkaError,
}
