//! The cutover function's typed errors and their mapping to Ferry's fixed Lambda error types,
//! which the state machine's Retry/Catch rules name.

use ferry_core::failure::FailureKind;
use ferry_core::migration::CutoverRuleError as RuleError;
use ferry_core::ports::{GroupError, MappingError, StoreError, TopicAdminError};
use ferry_lambda::FailureError;
use thiserror::Error;

/// Why a cutover task failed.
#[derive(Debug, Error)]
pub enum CutoverError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or committing consumer-group offsets failed.
    #[error(transparent)]
    Groups(#[from] GroupError),
    /// Listing the source's topics failed.
    #[error(transparent)]
    Topics(#[from] TopicAdminError),
    /// Listing or disabling event source mappings failed.
    #[error(transparent)]
    Mappings(#[from] MappingError),
    /// The migration's rules refuse the step.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// No migration with this id.
    #[error("migration {0:?} does not exist (start it with `ferry cutover start`)")]
    UnknownMigration(String),
    /// A stored document does not parse.
    #[error("migration state is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value is malformed.
    #[error("migration state is malformed: {0}")]
    Corrupt(String),
    /// Preflight found errors (the report is stored as report `preflight`).
    #[error("preflight failed: {0}")]
    PreflightFailed(String),
    /// Preflight could not read a cluster.
    #[error("preflight could not run: {0}")]
    PreflightUnavailable(String),
    /// The mirror has not reached the group's committed offsets yet.
    #[error("group {group:?} committed past what is mirrored: {}", partitions.join(", "))]
    MirrorBehindGroup {
        /// Group.
        group: String,
        /// `topic-partition (lag)` entries.
        partitions: Vec<String>,
    },
    /// The group has members on the target: its offsets cannot be set.
    #[error("group {group:?} is active on the target ({state}): offsets not committed")]
    TargetGroupActive {
        /// Group.
        group: String,
        /// Its state.
        state: String,
    },
    /// The group has members on the source again after it stopped.
    #[error("group {0:?} has members on the source again: stop its consumers")]
    GroupRestarted(String),
    /// The offsets read back from the target are not the ones committed.
    #[error("group {group:?}: target offsets after commit differ: {detail}")]
    VerifyFailed {
        /// Group.
        group: String,
        /// What differs.
        detail: String,
    },
    /// The task input is not a known task.
    #[error("bad task input: {0}")]
    BadInput(String),
    /// The operator asked to pause: the state machine holds the migration at this step.
    #[error("paused by {by} before {step}")]
    Paused {
        /// Who asked, and why.
        by: String,
        /// The step that did not start.
        step: &'static str,
    },
    /// The operator aborted: the state machine rolls back.
    #[error("aborted by {by} before {step}")]
    Aborted {
        /// Who asked, and why.
        by: String,
        /// The step that did not start.
        step: &'static str,
    },
}

impl FailureError for CutoverError {
    fn kind(&self) -> FailureKind {
        match self {
            Self::Store(StoreError::Corrupt { .. }) | Self::Json(_) | Self::Corrupt(_) => {
                FailureKind::TargetIntegrity
            }
            Self::Mappings(MappingError::Refused { .. }) => FailureKind::Config,
            Self::Store(_)
            | Self::Groups(_)
            | Self::Topics(_)
            | Self::Mappings(_)
            | Self::PreflightUnavailable(_) => FailureKind::Transient,
            Self::Rule(RuleError::ProducersNotReady(_)) => FailureKind::NotReady,
            Self::Rule(_) | Self::UnknownMigration(_) | Self::BadInput(_) => FailureKind::BadInput,
            Self::PreflightFailed(_) => FailureKind::TargetNotReady,
            Self::MirrorBehindGroup { .. }
            | Self::TargetGroupActive { .. }
            | Self::GroupRestarted(_) => FailureKind::NotReady,
            Self::VerifyFailed { .. } => FailureKind::TargetIntegrity,
            Self::Paused { .. } => FailureKind::Paused,
            Self::Aborted { .. } => FailureKind::Aborted,
        }
    }
}
