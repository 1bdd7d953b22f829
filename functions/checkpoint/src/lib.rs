//! # checkpoint
//!
//! The checkpoint Lambda (scheduled): for every source consumer group that matches the group
//! filter, it reads the group's committed offsets on the mirrored topics, translates each one
//! **exactly** to the target over the mirror's progress and segments
//! ([`ferry_core::checkpoint::plan_group`], [`ferry_core::translate`]), stores the checkpoints
//! (never backwards) and, with `FERRY_SYNC_GROUP_OFFSETS=true`, commits the translated offsets
//! to the same group on the target while that group has no members there, so consumers moved
//! to the target resume at exactly the next record. See `../../shared/design.md` → "Exact
//! offset translation".
//!
//! * [`handler`] runs one pass, generic over the ports it needs.
//! * [`config`] is the typed configuration read at cold start.
//! * [`error`] the typed errors and their fixed Lambda error types.
//! * [`telemetry`] the typed events (one log line + its metrics each).
//!
//! Cold start and the Lambda boundary (tracing, metrics, `ConfigError`, error → `Diagnostic`)
//! are `ferry_lambda`'s; `main.rs` only wires config, clients and the runtime.
//!
//! ## Transactional source topics
//! What the Kafka event source mapping delivers for a transactional topic: transaction markers
//! (control records) are never delivered, so they leave one-offset gaps; records of aborted
//! transactions are delivered only if the ESM consumer reads `read_uncommitted` (AWS does not
//! document its isolation level; the local emulator defaults to `read_committed`, where they are
//! gaps too). The mirror records every gap as a new segment, and a committed offset that points
//! at a marker or an aborted record translates to the next record that was mirrored, so the
//! translation is exact either way: a consumer of the group on the target resumes at exactly
//! the record it would have read next on the source. (Under `read_uncommitted` the aborted
//! records themselves reach the target as ordinary records, which `read_committed` consumers
//! there then see; prefer `read_committed` mappings for transactional topics.) Covered by
//! `tests/tests/checkpoint.rs` (`transactional_topic_with_gaps_resumes_exactly`).

pub mod config;
pub mod error;
pub mod handler;
pub mod telemetry;

pub use config::CheckpointConfig;
pub use error::CheckpointError;
pub use handler::{
    CheckpointHandler, GroupReport, RunSummary, SyncOutcome, CHECKPOINT_LEASE, DEFAULT_RUN_LEASE_MS,
};
