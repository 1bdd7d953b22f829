//! The checkpoint function's typed errors and their mapping to Ferry's fixed Lambda error types.

use ferry_core::failure::FailureKind;
use ferry_core::ports::{GroupError, StoreError, TopicAdminError};
use ferry_lambda::FailureError;
use thiserror::Error;

/// Why a checkpoint run failed. Checkpoints saved before the failure stay saved (they are
/// correct on their own); the next scheduled run continues.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Listing groups or reading/committing offsets failed.
    #[error(transparent)]
    Groups(#[from] GroupError),
    /// Listing the source's topics failed.
    #[error(transparent)]
    Topics(#[from] TopicAdminError),
    /// Committing to some target groups failed (their checkpoints were saved).
    #[error("offset sync failed for {failed} group(s): {first}")]
    Sync {
        /// How many groups failed.
        failed: usize,
        /// The first failure.
        first: String,
    },
}

impl FailureError for CheckpointError {
    fn kind(&self) -> FailureKind {
        match self {
            Self::Store(StoreError::Corrupt { .. }) => FailureKind::TargetIntegrity,
            Self::Store(_) | Self::Groups(_) | Self::Topics(_) | Self::Sync { .. } => {
                FailureKind::Transient
            }
        }
    }
}
