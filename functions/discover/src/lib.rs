//! # discover
//!
//! Ferry's discovery Lambda, run on a schedule (EventBridge, every 5 minutes by default): finds
//! source topics that match the topic filters (and the heartbeat topic) but have no event source
//! mapping of the mirror function, creates their target topic with synced configs and their
//! mapping (`CreateEventSourceMapping`, `TRIM_HORIZON`, the tier `ferry plan` would pick from
//! the measured rate), and adds target partitions where the source grew. MirrorMaker 2 and MSK
//! Replicator find new topics themselves; this is Ferry's equivalent. See [`handler`] for the
//! steps and [`ferry_core::discovery`] for the rules (orphaned mappings are reported, never
//! deleted; nothing is created while every mapping is disabled, e.g. after the cutover).
//!
//! Input: ignored (a scheduled event or `{}`). Output: a [`DiscoveryReport`]
//! (`{"dry_run":false,"mirrored":12,"paused":false,"provisioned":[...],"mappings_created":[...],
//! "already_mapped":[],"orphaned":[...],"failures":[]}`).
//! Errors: `Ferry.Transient` (a cluster or the Lambda API unavailable), `Ferry.Config` (a
//! refused mapping or topic change: IAM or configuration; also at cold start).
//! Metrics: see [`telemetry`].
//!
//! Cold start and the Lambda boundary (tracing, metrics, `ConfigError`, error → `Diagnostic`)
//! are `ferry_lambda`'s; `main.rs` only wires config, clients and the runtime.

pub mod config;
pub mod error;
pub mod handler;
pub mod telemetry;

pub use config::DiscoverConfig;
pub use error::DiscoverError;
pub use handler::{DiscoverHandler, DiscoverSettings, DiscoveryReport};
