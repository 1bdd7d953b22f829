//! The heartbeat function's typed errors and their mapping to Ferry's fixed Lambda error types.

use ferry_core::failure::FailureKind;
use ferry_core::ports::{ClusterError, TargetError};
use thiserror::Error;

/// Why a heartbeat was not written. Every failure is transient: the next scheduled run tries
/// again (a missed heartbeat shows up as latency in validation, not as data loss).
#[derive(Debug, Error)]
pub enum HeartbeatError {
    /// The heartbeat topic could not be read or created.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Producing the heartbeat failed.
    #[error(transparent)]
    Produce(#[from] TargetError),
}

impl HeartbeatError {
    /// The fixed Lambda error type this error is reported as.
    pub fn kind(&self) -> FailureKind {
        FailureKind::Transient
    }

    /// The full message with its chain of causes.
    pub fn message(&self) -> String {
        ferry_core::failure::error_chain(self)
    }
}
