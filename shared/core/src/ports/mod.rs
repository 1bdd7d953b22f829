//! Ports: the capabilities Ferry's handlers need from the outside world, one trait per
//! capability. Adapters implement them (`ferry-aws` for DynamoDB, Lambda and MSK,
//! `ferry-kafka` for rdkafka); unit tests use the in-memory fakes of the `ferry-testkit` crate
//! (a dev-dependency only).
//! [`crate::storage::UnknownStorage`] is the production [`TargetStorage`] where the platform
//! cannot tell the target's storage. Methods return `Send` futures so handlers can run them on a
//! multi-threaded runtime.

//!
//! Files: `store` (state store), `target` (the mirror's target), `groups`
//! (consumer groups), `mappings` (event source mappings), `cluster` (reading either cluster),
//! `topics` (topic admin and storage), `msk` (the MSK control plane: cluster facts and bootstrap
//! brokers by cluster ARN), `secrets`. Every port is re-exported here.

mod cluster;
mod groups;
mod mappings;
mod msk;
mod secrets;
mod store;
mod target;
mod topics;

pub use cluster::{
    ClusterError, ClusterReader, NoSourceChecks, RangeReader, ReadIsolation, SourceEndOffsets,
    SourceLogBounds, TopicCreator,
};
pub use groups::{GroupError, GroupState, SourceGroups, TargetGroups};
pub use mappings::{
    EventsError, MappingControl, MappingCreator, MappingError, MappingInfo, MigrationEvents,
    NewMapping, NoEvents,
};
pub use msk::{ClusterBootstrap, ClusterDescriber, MskError};
pub use secrets::SecretSource;
pub use store::{
    CheckpointStore, MigrationStore, ProgressCommit, ProgressStore, RunLease, SegmentStore,
    StoreError, Versioned,
};
pub use target::{
    TargetError, TargetMetadata, TargetOffsets, TargetProducer, TargetWriter, TopicInfo,
};
pub use topics::{
    SourceTopicDescriber, SourceTopics, TargetStorage, TargetTopicAdmin, TopicAdminError,
};

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
