//! # ferry-lambda
//!
//! Cold start and the Lambda boundary of every Ferry function, in one place, so that a
//! function's `main.rs` reads like the `aws-lambda-rust-runtime` examples (tracing, config,
//! clients, `run(service_fn(...))`) and its library holds only its own logic:
//!
//! ```ignore
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     ferry_lambda::init_tracing();
//!     let mut config = CheckpointConfig::from_env().inspect_err(config_error)?;
//!     config.migration.resolve_secrets().await.inspect_err(config_error)?;
//!     let metrics = ferry_lambda::init_metrics(&config.migration.metrics_namespace, "checkpoint")?;
//!     let handler = /* clients, built once */;
//!     ferry_lambda::run_with_metrics(metrics, service_fn(|_event| async {
//!         handler.run().await.map_err(|e| ferry_lambda::diagnostic(&e))
//!     }))
//!     .await
//! }
//! ```
//!
//! * [`cold_start`]: JSON logs ([`init_tracing`]); a configuration error fails the cold start as
//!   `Ferry.Config`, reported to the Runtime API with the message naming the setting
//!   ([`config_error`], [`report_init_error`]).
//! * [`metrics`]: the CloudWatch EMF recorder ([`init_metrics`]) and the runtime wiring that
//!   flushes it after every invocation ([`run_with_metrics`]).
//! * [`config`]: the one [`ConfigError`] of every function's configuration reader (settings,
//!   Kafka connections, secrets, client construction), the settings the two-cluster functions
//!   share ([`MigrationSettings`]) and reading the secrets connections name ([`resolve_secrets`]).
//!   Parsing the individual settings is `ferry_core::settings`' and `ferry_kafka`'s job.
//! * [`failure`]: [`FailureError`] (an error's `Ferry.*` kind and message) and [`diagnostic`],
//!   the one error → `lambda_runtime::Diagnostic` conversion.
//! * [`time`]: [`now_ms`], the wall clock of the functions.
//! * [`topics`]: [`TargetTopics`], the target's topic administration: MSK's topic API for an
//!   MSK target given by ARN that serves it, the Kafka admin client otherwise.
//!
//! Layering: `ferry-core` ← `ferry-kafka`, `ferry-aws` ← `ferry-lambda` ← `functions/*`. Nothing
//! below depends on this crate; the local runtime (`ferry-local`) emulates Lambda and does not
//! use it.

pub mod cold_start;
pub mod config;
pub mod failure;
pub mod metrics;
pub mod time;
pub mod topics;

pub use cold_start::{config_error, init_tracing, report_init_error};
pub use config::{resolve_msk_bootstrap, resolve_secrets, ConfigError, MigrationSettings};
pub use failure::{diagnostic, FailureError};
pub use metrics::{init_metrics, run_with_metrics, MetricsError};
pub use time::now_ms;
pub use topics::TargetTopics;
