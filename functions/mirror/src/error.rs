//! The mirror's typed errors and their mapping to Ferry's fixed Lambda error types
//! ([`FailureError`], reported through `ferry_lambda::diagnostic`).

use crate::event::DecodeError;
use ferry_core::failure::FailureKind;
use ferry_core::ports::{ClusterError, StoreError, TargetError};
use ferry_core::progress::{PlanError, SourceLoss};
use ferry_core::TopicPartition;
use ferry_lambda::FailureError;
use thiserror::Error;

/// Why a batch was not mirrored. Any error means the batch is not acknowledged: the event source
/// mapping delivers it again.
#[derive(Debug, Error)]
pub enum MirrorError {
    /// The payload is not a valid Kafka event.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A record's topic is excluded by the topic filter: the mapping should not exist.
    #[error("topic {topic:?} is excluded by FERRY_TOPICS_INCLUDE/FERRY_TOPICS_EXCLUDE but an event source mapping delivered it")]
    TopicNotMirrored {
        /// Source topic.
        topic: String,
    },
    /// A target partition already has records Ferry did not write.
    #[error("target partition {target} already holds {end_offset} records that Ferry did not write; mirror into empty topics (or set FERRY_ALLOW_NON_EMPTY_TARGET=true to start after them)")]
    TargetNotEmpty {
        /// Target partition.
        target: TopicPartition,
        /// Its end offset.
        end_offset: i64,
    },
    /// The dedup decision or contiguity check failed for a partition.
    #[error("{source_tp} -> {target}: {source}")]
    Integrity {
        /// Source partition.
        source_tp: TopicPartition,
        /// Target partition.
        target: TopicPartition,
        /// What was found.
        #[source]
        source: PlanError,
    },
    /// Source records vanished before they were mirrored (not retryable; alarmed).
    #[error("{source_tp}: {loss}")]
    DataLoss {
        /// Source partition.
        source_tp: TopicPartition,
        /// What was lost.
        #[source]
        loss: SourceLoss,
    },
    /// The source's log bounds could not be read for the data-loss check.
    #[error("checking the source for lost records failed: {0}")]
    Source(#[source] ClusterError),
    /// The target cluster failed or is not ready.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FailureError for MirrorError {
    fn kind(&self) -> FailureKind {
        match self {
            Self::Decode(_) | Self::TopicNotMirrored { .. } => FailureKind::BadInput,
            Self::TargetNotEmpty { .. } => FailureKind::TargetNotReady,
            Self::DataLoss { .. } => FailureKind::DataLoss,
            Self::Source(_) => FailureKind::Transient,
            Self::Integrity { source, .. } => match source {
                PlanError::OffsetsNotAscending { .. } => FailureKind::BadInput,
                PlanError::TargetBehind { .. }
                | PlanError::NotContiguous { .. }
                | PlanError::ForeignRecord { .. }
                | PlanError::FoundOutOfOrder { .. } => FailureKind::TargetIntegrity,
            },
            Self::Target(e) => match e {
                TargetError::TopicMissing { .. } | TargetError::TooFewPartitions { .. } => {
                    FailureKind::TargetNotReady
                }
                TargetError::RecordTooLarge { .. } => FailureKind::BadInput,
                TargetError::Unavailable(_)
                | TargetError::Produce { .. }
                | TargetError::Fenced { .. } => FailureKind::Transient,
            },
            Self::Store(e) => match e {
                StoreError::Unavailable(_)
                | StoreError::Conflict { .. }
                | StoreError::VersionConflict { .. } => FailureKind::Transient,
                StoreError::Corrupt { .. } => FailureKind::TargetIntegrity,
            },
        }
    }
}

impl MirrorError {
    /// The target cluster could not be reached (metadata, offsets or produce).
    pub fn is_target_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Target(TargetError::Unavailable(_) | TargetError::Produce { .. })
        )
    }
}
