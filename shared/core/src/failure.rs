//! The fixed set of error types every Ferry function reports at the Lambda boundary.
//!
//! Each function keeps rich typed errors internally and maps each to one [`FailureKind`]
//! (`ferry_lambda::FailureError`); `ferry_lambda::diagnostic` reports it at the Lambda boundary. The Step Functions state machine's `Retry` and `Catch` clauses and the
//! CloudWatch alarms name exactly these strings, so they are part of Ferry's public contract.

use serde::{Deserialize, Serialize};

/// Lambda `errorType` values reported by Ferry functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    /// A dependency was unavailable or a conditional write raced; retrying the same input later
    /// is expected to succeed (`Ferry.Transient`).
    Transient,
    /// The input cannot be processed as delivered (malformed event, bad base64, record larger
    /// than the target accepts, topic not mirrored); retrying will not help until an operator
    /// acts (`Ferry.BadInput`).
    BadInput,
    /// The target cluster is not set up for mirroring (topic missing, too few partitions,
    /// non-empty target partition) (`Ferry.TargetNotReady`).
    TargetNotReady,
    /// The target's contents contradict Ferry's records: a foreign writer or lost data.
    /// Mirroring stops; alarmed (`Ferry.TargetIntegrity`).
    TargetIntegrity,
    /// Source records vanished before they were mirrored (retention shorter than the mirror's
    /// lag, deleted records, a re-created source topic). Mirroring of the partition stops;
    /// alarmed (`Ferry.DataLoss`).
    DataLoss,
    /// Configuration is missing or invalid (`Ferry.Config`).
    Config,
    /// Validation found a mismatch (`Ferry.ValidationFailed`).
    ValidationFailed,
    /// A cutover precondition is not met yet; poll again (`Ferry.NotReady`).
    NotReady,
    /// The operator asked to pause the migration: the state machine holds it at this step
    /// until `ferry cutover resume` (`Ferry.Paused`).
    Paused,
    /// The operator aborted the migration: the state machine rolls back (`Ferry.Aborted`, also
    /// what `ferry cutover abort` sends to a waiting task).
    Aborted,
}

impl FailureKind {
    /// All kinds, for documentation and template checks.
    pub const ALL: [FailureKind; 10] = [
        Self::Transient,
        Self::BadInput,
        Self::TargetNotReady,
        Self::TargetIntegrity,
        Self::DataLoss,
        Self::Config,
        Self::ValidationFailed,
        Self::NotReady,
        Self::Paused,
        Self::Aborted,
    ];

    /// The `errorType` string.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::Transient => "Ferry.Transient",
            Self::BadInput => "Ferry.BadInput",
            Self::TargetNotReady => "Ferry.TargetNotReady",
            Self::TargetIntegrity => "Ferry.TargetIntegrity",
            Self::DataLoss => "Ferry.DataLoss",
            Self::Config => "Ferry.Config",
            Self::ValidationFailed => "Ferry.ValidationFailed",
            Self::NotReady => "Ferry.NotReady",
            Self::Paused => "Ferry.Paused",
            Self::Aborted => "Ferry.Aborted",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.error_type())
    }
}

/// An error's message followed by its chain of causes (`a: b: c`), skipping a cause whose text
/// the message already contains. This is the `errorMessage` every function reports.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut msg = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        cause = c.source();
    }
    msg
}
