//! # heartbeat
//!
//! Ferry's heartbeat Lambda, run on a schedule (EventBridge, e.g. every minute): writes one
//! heartbeat record to the source heartbeat topic (`FERRY_HEARTBEAT_TOPIC`, default
//! `ferry-heartbeats`, created with 1 partition if missing). The mirror carries it to the target
//! like any other record, and the `validate` function compares the newest heartbeat on both
//! sides: heartbeats behind and end-to-end latency.
//!
//! Record: key = the cluster alias (`FERRY_SOURCE_ALIAS`, default the source bootstrap
//! servers), value = `{"seq":42,"emitted_at_ms":1764110000000,"source":"<alias>"}`, timestamp
//! = `emitted_at_ms`. `seq` = the newest heartbeat's seq + 1 (see [`handler`]).
//!
//! Input: ignored (a scheduled event or `{}`). Output:
//! `{"topic":"ferry-heartbeats","partition":0,"offset":41,"seq":42,"emitted_at_ms":1764110000000}`.
//! Errors: `Ferry.Transient` (cluster unavailable), `Ferry.Config` at cold start.
//! Metrics: `heartbeat-emitted` (count), `heartbeat-failures` (count, by kind),
//! `heartbeat-topics-created` (count); see [`telemetry`].
//!
//! Cold start and the Lambda boundary (tracing, metrics, `ConfigError`, error → `Diagnostic`)
//! are `ferry_lambda`'s; `main.rs` only wires config, clients and the runtime.

pub mod config;
pub mod error;
pub mod handler;
pub mod telemetry;

pub use config::HeartbeatConfig;
pub use error::HeartbeatError;
pub use handler::{HeartbeatEmitted, HeartbeatHandler};
