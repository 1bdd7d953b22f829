//! [`EsmError`]: what stops a mapping.

use super::PayloadError;
use rdkafka::error::KafkaError;

/// Errors that stop a mapping.
#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    /// The configuration violates a limit.
    #[error("invalid event source mapping {mapping}: {reason}")]
    InvalidConfig {
        /// `<function>:<topic>`.
        mapping: String,
        /// What is wrong.
        reason: String,
    },
    /// A Kafka call failed in a way the mapping cannot ride out.
    #[error("event source mapping {mapping}: {context}")]
    Kafka {
        /// `<function>:<topic>`.
        mapping: String,
        /// What was being done.
        context: String,
        /// Cause (boxed: `KafkaError` is large).
        #[source]
        source: Box<KafkaError>,
    },
    /// Building a payload failed.
    #[error("event source mapping {mapping}: cannot build a payload")]
    Payload {
        /// `<function>:<topic>`.
        mapping: String,
        /// Cause.
        #[source]
        source: PayloadError,
    },
    /// A worker task panicked or was aborted.
    #[error("event source mapping worker failed")]
    Worker(#[source] tokio::task::JoinError),
}
