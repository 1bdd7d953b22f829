//! The discovery function's typed errors and their mapping to Ferry's fixed Lambda error types.

use ferry_core::failure::FailureKind;
use ferry_core::ports::{GroupError, MappingError, TopicAdminError};
use ferry_lambda::FailureError;
use thiserror::Error;

/// Why a discovery pass failed. What it did before the failure stays done; the next scheduled
/// pass starts over from what the clusters and the Lambda API then hold.
#[derive(Debug, Error)]
pub enum DiscoverError {
    /// Listing, describing or measuring source topics failed.
    #[error("source topics: {0}")]
    Source(#[source] TopicAdminError),
    /// Reading the source's end offsets (the rate sample) failed.
    #[error("source end offsets: {0}")]
    Offsets(#[source] GroupError),
    /// Describing or changing target topics failed.
    #[error("target topics: {0}")]
    Target(#[source] TopicAdminError),
    /// Listing or creating event source mappings failed.
    #[error(transparent)]
    Mappings(#[from] MappingError),
    /// The pass finished, but some topics could not be provisioned or mapped (each is in the
    /// report and in the log); the first is quoted.
    #[error("{failed} topic(s) not provisioned or mapped, e.g. {first}")]
    Incomplete {
        /// How many topics failed.
        failed: usize,
        /// The first failure.
        first: String,
        /// Whether a person must act (a refusal) rather than wait for the next pass.
        refused: bool,
    },
}

impl FailureError for DiscoverError {
    fn kind(&self) -> FailureKind {
        match self {
            Self::Mappings(MappingError::Refused { .. })
            | Self::Incomplete { refused: true, .. } => FailureKind::Config,
            _ => FailureKind::Transient,
        }
    }
}
