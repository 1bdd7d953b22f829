//! # cutover
//!
//! The cutover Lambda: every task of the cutover state machine
//! (`infra/statemachine/cutover.asl.json`) that is not validation. The state machine passes
//! `{"action": "<task>", "migration_id": "<execution name>", ...}`; see [`handler`] for the
//! tasks and [`ferry_core::migration`] for the rules they enforce (consumers move before
//! producers, exact offsets both ways, rollback until producers move).
//!
//! * [`handler`]: the tasks, generic over the ports.
//! * [`request`]: the task input ([`Task`]).
//! * [`report`]: the `final` reports.
//! * [`telemetry`]: the typed events (one log line + its metrics each).
//! * [`preflight`]: topic provisioning and config sync on the target, and the preflight checks.
//! * [`config`]: typed configuration read at cold start.
//! * [`error`]: typed errors and their fixed Lambda error types.
//!
//! Cold start and the Lambda boundary (tracing, metrics, `ConfigError`, error → `Diagnostic`)
//! are `ferry_lambda`'s; `main.rs` only wires config, clients and the runtime.

pub mod config;
mod document;
pub mod error;
pub mod handler;
pub mod preflight;
pub mod report;
pub mod request;
pub mod telemetry;

pub use config::CutoverConfig;
pub use error::CutoverError;
pub use handler::{CutoverHandler, CutoverSettings, NoPreflight, Preflight};
pub use request::Task;
