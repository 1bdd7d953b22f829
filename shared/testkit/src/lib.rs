//! # ferry-testkit
//!
//! In-memory fakes of the ports in [`ferry_core::ports`], for unit tests of the handlers and
//! of anything else written against the ports. Each fake keeps the semantics of the real
//! adapter it stands in for (the DynamoDB state store, the rdkafka cluster, group and admin
//! adapters, the Lambda event source mappings), so a handler tested against a fake behaves
//! the same on AWS; `ferry-aws`'s `tests/store_conformance.rs` runs one suite against both
//! state stores. On top of that the fakes have hooks the real systems lack: injected faults,
//! call counts, state changed behind a handler's back.
//!
//! **A dev-dependency only.** Production crates (the function binaries, `ferry-cli`, the
//! shared adapter crates) must never list it under `[dependencies]`: no production binary
//! links a fake. Ports that production needs without a real backend have real adapters in
//! the production crates (e.g. [`ferry_core::storage::UnknownStorage`]).
//!
//! * [`store`]: [`InMemoryStateStore`], the progress, segment, checkpoint and migration store,
//!   with fault hooks ([`StoreOp`], [`InjectedFault`], [`Snapshot`]).
//! * [`groups`]: [`InMemoryGroups`], source and target consumer groups, source topics and end
//!   offsets.
//! * [`mappings`]: [`InMemoryMappings`], the event source mappings of the functions.
//! * [`cluster`]: [`InMemoryCluster`], a Kafka cluster's partition logs (read, create, produce).
//! * [`topic_admin`]: [`InMemoryTopicAdmin`], topic metadata and administration for preflight,
//!   and [`StaticStorage`] / [`StaticMsk`], fixed target storage answers (the latter an MSK
//!   cluster's facts).
//! * [`metrics`]: [`capture_metrics`], the metrics a closure records (tests of the functions'
//!   telemetry events).

pub mod cluster;
pub mod groups;
pub mod mappings;
pub mod metrics;
pub mod store;
pub mod topic_admin;

pub use cluster::InMemoryCluster;
pub use groups::InMemoryGroups;
pub use mappings::InMemoryMappings;
pub use metrics::{capture_metric_strings, capture_metrics, MetricKind, RecordedMetric};
pub use store::{InMemoryStateStore, InjectedFault, Snapshot, StoreOp};
pub use topic_admin::{InMemoryTopicAdmin, StaticMsk, StaticStorage};
