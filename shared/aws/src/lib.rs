//! # ferry-aws
//!
//! Ferry's AWS adapters:
//!
//! * [`dynamo`]: [`DynamoStateStore`], the DynamoDB single-table implementation of the
//!   [`ferry_core::ports::ProgressStore`], [`ferry_core::ports::SegmentStore`] and
//!   [`ferry_core::ports::CheckpointStore`] ports, table
//!   bootstrap ([`ensure_table`]) and a DynamoDB client with bounded timeouts
//!   ([`client_from_env`], [`ClientTimeouts`]).
//! * [`esm`]: [`esm::LambdaMappings`], event source mapping control (disable the mirror's
//!   mappings at cutover) through the Lambda API.
//! * [`msk`]: the Amazon MSK control plane by cluster ARN: [`MskCluster`] (bootstrap brokers
//!   per auth mode, the cluster's facts, growing broker storage), [`MskTopics`] (topic
//!   administration through MSK's topic API, no Kafka admin client) and [`MskStorage`] (the
//!   target's storage capacity).
//! * [`events`]: [`EventBridgeEvents`], the migration events ([`ferry_core::events`]) on an
//!   EventBridge bus.
//! * [`secrets`]: [`SecretsManagerSource`], the Secrets Manager adapter of the one-capability
//!   [`ferry_core::ports::SecretSource`] port (fetch a secret string by ARN). Parsing cluster
//!   credentials and filling them into connections is `ferry_kafka::secrets`' job: this crate
//!   does not depend on the Kafka adapters (no rdkafka build).
//!
//! The Lambda side of the functions (tracing, CloudWatch EMF metrics, cold-start errors) is
//! `ferry-lambda`'s, which builds on this crate.
//!
//! The in-memory fake with the same semantics as [`DynamoStateStore`] is `InMemoryStateStore`
//! in the `ferry-testkit` crate (a dev-dependency only); `tests/store_conformance.rs` runs one
//! suite against both.

pub mod dynamo;
pub mod esm;
pub mod events;
pub mod msk;
pub mod secrets;

pub use dynamo::{
    client_from_env, client_from_env_with, ensure_table, ClientTimeouts, DynamoError,
    DynamoStateStore, TableSetup,
};
pub use events::EventBridgeEvents;
pub use msk::{MskCluster, MskStorage, MskTopics};
pub use secrets::SecretsManagerSource;
