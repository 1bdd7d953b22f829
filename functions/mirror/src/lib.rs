//! # mirror
//!
//! The mirror Lambda: receives a batch from a Kafka event source mapping (MSK or self-managed)
//! and writes it to the target cluster **exactly once**, keeping partition, key, value, headers
//! and timestamp, and recording progress plus exact offset-translation segments in the state
//! store. See `../../shared/design.md` → "Mirror: exactly once" and [`ferry_core::progress`].
//!
//! * [`event`] decodes the ESM payload into plain [`ferry_core::MirrorRecord`]s.
//! * [`handler`] runs the protocol, generic over the ports it needs.
//! * [`config`] is the typed configuration read at cold start.
//! * [`error`] the typed errors and their fixed Lambda error types.
//! * [`sandbox`] the exit policy of a warm sandbox whose target clients are broken.
//! * [`telemetry`] the typed events (one log line + one metric each).
//! * [`faults`] test-only crash injection, off unless `FERRY_FAULTS` is set.
//!
//! Cold start and the Lambda boundary (tracing, metrics, `ConfigError`, error → `Diagnostic`)
//! are `ferry_lambda`'s; `main.rs` only wires config, clients and the runtime.

pub mod config;
pub mod error;
pub mod event;
pub mod faults;
pub mod handler;
pub mod sandbox;
pub mod telemetry;

pub use config::MirrorConfig;
pub use error::MirrorError;
pub use handler::{BatchSummary, MirrorHandler};
pub use sandbox::SandboxHealth;
