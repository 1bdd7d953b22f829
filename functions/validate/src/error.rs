//! The validate function's typed errors and their mapping to Ferry's fixed Lambda error types.

use ferry_core::failure::FailureKind;
use ferry_core::ports::{ClusterError, GroupError, StoreError, TopicAdminError};
use ferry_core::validation::Mismatch;
use ferry_lambda::FailureError;
use thiserror::Error;

/// Why a validation run failed.
#[derive(Debug, Error)]
pub enum ValidateError {
    /// The invocation input is not a schedule event nor a valid task input.
    #[error("invalid validate input: {0}")]
    BadInput(String),
    /// The state store failed (reading progress/segments or storing the report).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A cluster could not be read.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Source consumer groups could not be listed/read.
    #[error(transparent)]
    Groups(#[from] GroupError),
    /// Listing the source's topics failed.
    #[error(transparent)]
    Topics(#[from] TopicAdminError),
    /// A cutover step was not run: the operator asked to pause (`Ferry.Paused`) or abort
    /// (`Ferry.Aborted`) the migration.
    #[error("{} by {by}: validation not run", if *abort { "aborted" } else { "paused" })]
    Interrupted {
        /// Who asked, and why.
        by: String,
        /// Abort rather than pause.
        abort: bool,
    },
    /// `mode=full`, `fail_on_mismatch=true` and validation found mismatches (the report was
    /// stored before failing).
    #[error("validation failed with {count} mismatch(es); first: {first}")]
    Failed {
        /// First mismatch of the report.
        first: Box<Mismatch>,
        /// Number of mismatches.
        count: usize,
    },
}

impl ValidateError {
    /// The operator's pause or abort request, as the error the state machine expects.
    pub fn pause(request: &ferry_core::migration::PauseRequest) -> Self {
        Self::Interrupted {
            by: request.by.clone(),
            abort: request.abort,
        }
    }
}

impl FailureError for ValidateError {
    fn kind(&self) -> FailureKind {
        match self {
            Self::BadInput(_) => FailureKind::BadInput,
            Self::Store(StoreError::Corrupt { .. }) => FailureKind::TargetIntegrity,
            Self::Store(_) | Self::Cluster(_) | Self::Groups(_) | Self::Topics(_) => {
                FailureKind::Transient
            }
            Self::Failed { .. } => FailureKind::ValidationFailed,
            Self::Interrupted { abort: true, .. } => FailureKind::Aborted,
            Self::Interrupted { abort: false, .. } => FailureKind::Paused,
        }
    }
}
