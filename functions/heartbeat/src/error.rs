//! The heartbeat function's typed errors and their mapping to Ferry's fixed Lambda error types.

use ferry_core::failure::FailureKind;
use ferry_core::ports::{ClusterError, TargetError};
use ferry_lambda::FailureError;
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

impl FailureError for HeartbeatError {
    fn kind(&self) -> FailureKind {
        FailureKind::Transient
    }
}
