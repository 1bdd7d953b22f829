//! Event source mappings (find, disable and create the mirror's mappings: the cutover and
//! discovery) and publishing migration events to applications.

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
    /// A mapping of the same function, topic and source exists already
    /// (`ResourceConflictException`): somebody else created it, nothing to do.
    #[error("event source mapping of {function:?} for topic {topic:?} exists already: {source}")]
    Conflict {
        /// Function.
        function: String,
        /// Topic.
        topic: String,
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

/// A new event source mapping of one topic, with the settings `ferry plan` would write
/// ([`crate::tiering::settings`]). Where it reads from (cluster, authentication, VPC) is the
/// adapter's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewMapping {
    /// The topic.
    pub topic: String,
    /// Batch size, window, pollers, consumer group, starting position.
    pub settings: crate::tiering::MappingSettings,
}

/// Creates event source mappings (`CreateEventSourceMapping`).
pub trait MappingCreator: Send + Sync {
    /// Creates `mapping` for `function`; returns it as the Lambda API reports it (state
    /// `Creating`). A mapping that exists already is [`MappingError::Conflict`].
    fn create_mapping(
        &self,
        function: &str,
        mapping: &NewMapping,
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
