//! The cutover's hands on the outside: event source mapping control (find and disable the
//! mirror's mappings) and publishing migration events to applications.

use super::BoxError;
use serde::Deserialize;
use serde::Serialize;
use std::future::Future;
use thiserror::Error;

/// One event source mapping of a function (AWS Lambda's, or the local emulator's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingInfo {
    /// Mapping UUID.
    pub uuid: String,
    /// Topics it reads.
    pub topics: Vec<String>,
    /// `Enabled`, `Disabled`, `Enabling`, `Disabling`, `Creating`, ...
    pub state: String,
}

/// Mapping control failures.
#[derive(Debug, Error)]
pub enum MappingError {
    /// The Lambda API refused the request for good (access denied, unknown mapping or
    /// function, invalid parameter): retrying does not help, a person must fix IAM or the
    /// configuration.
    #[error("event source mappings of {function:?}: refused with {code}: {source}")]
    Refused {
        /// Function.
        function: String,
        /// The service's error code (e.g. `AccessDeniedException`).
        code: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The Lambda API did not answer or failed; retrying later may succeed.
    #[error("event source mappings of {function:?}: {source}")]
    Api {
        /// Function.
        function: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
}

/// Lists and enables/disables the event source mappings that feed a function.
pub trait MappingControl: Send + Sync {
    /// The function's mappings.
    fn list_mappings(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Vec<MappingInfo>, MappingError>> + Send;

    /// Enables or disables one mapping; returns its new state.
    fn set_enabled(
        &self,
        function: &str,
        uuid: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<MappingInfo, MappingError>> + Send;
}

/// Publishing a migration's events failed; they stay in the outbox and are published later.
#[derive(Debug, Error)]
#[error("publishing {events} migration event(s) failed: {source}")]
pub struct EventsError {
    /// Events in the failed call.
    pub events: usize,
    /// Cause.
    #[source]
    pub source: BoxError,
}

/// Publishes migration events to the applications (EventBridge on AWS).
pub trait MigrationEvents: Send + Sync {
    /// Publishes `events`, all or reporting failure (the caller keeps them and retries).
    fn publish(
        &self,
        events: &[crate::events::MigrationEvent],
    ) -> impl Future<Output = Result<(), EventsError>> + Send;
}

/// Publishes nothing: where no event bus is configured (and in tests that do not look).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl MigrationEvents for NoEvents {
    async fn publish(&self, _events: &[crate::events::MigrationEvent]) -> Result<(), EventsError> {
        Ok(())
    }
}
