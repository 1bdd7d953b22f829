//! # validate
//!
//! Ferry's validate Lambda: is the target a faithful, up-to-date mirror of the source?
//! Run on a schedule (EventBridge, `lag` mode by default) and by the cutover state machine
//! (`full` mode with `fail_on_mismatch`).
//!
//! ## Input
//! * an EventBridge scheduled event (`"source": "aws.events"` or a `detail-type` field): the
//!   defaults from the configuration (`FERRY_MIGRATION_ID`, `FERRY_VALIDATE_MODE`,
//!   `FERRY_VALIDATE_FAIL_ON_MISMATCH`);
//! * a task input `{"migration_id": "m1", "mode": "lag"|"full", "fail_on_mismatch": bool,
//!   "topics": ["orders", ...]}` — every field optional (defaults as above; `topics` defaults
//!   to every mirrored topic). Unknown fields or a bad mode fail with `Ferry.BadInput`.
//!
//! ## Output
//! The whole [`ValidationReport`] (JSON) is stored with
//! `MigrationStore::put_report(migration_id, "validation", json)` (split into parts when it is
//! larger than one item: about 400 KB at 1,000 partitions):
//! ```json
//! {"migration_id":"m1","mode":"full","generated_at_ms":1764110000000,"duration_ms":812,
//!  "verdict":"ok"|"lagging"|"mismatch",
//!  "lag":{"total":0,"max":0,"partitions_behind":0,"exact":true},
//!  "partitions":[{"topic":"orders","partition":0,"target_topic":"orders","source_low":0,
//!    "source_high":1000,"next_source":1000,"next_target":1000,"target_end":1000,"lag":0,
//!    "lag_exact":true,"mirrored_records":1000,
//!    "compared":{"how":"full"|"sampled","windows":1,"source_records":1000,"target_records":1000},
//!    "status":"ok"|"lagging"|"mismatch"|"not_started"}],
//!  "mismatches":[{"topic":"orders","partition":0,"source_offset":5,"target_offset":5,
//!    "kind":"missing_on_target"|"content_differs"|"extra_on_target"|"count_differs",
//!    "detail":"value differs"}],
//!  "heartbeat":{"topic":"ferry-heartbeats","target_topic":"ferry-heartbeats","source_seq":42,
//!    "target_seq":41,"behind":1,"latency_ms":950} | null,
//!  "groups":[{"group":"billing","partitions":3,"translatable":3,"max_records_behind":0}],
//!  "notes":["..."]}
//! ```
//! The invocation returns its [`ValidationSummary`], whose size does not grow with the
//! partitions (a Step Functions task result may not pass 256 KiB): the same verdict, lag and
//! heartbeat, counts, the first 10 mismatches, groups behind and notes, and the report's name:
//! ```json
//! {"migration_id":"m1","mode":"full","generated_at_ms":1764110000000,"duration_ms":812,
//!  "verdict":"ok","lag":{"total":0,"max":0,"partitions_behind":0,"exact":true},
//!  "partitions":{"total":1000,"ok":1000,"lagging":0,"mismatch":0,"not_started":0,
//!    "compared_source_records":81000,"compared_target_records":81000},
//!  "mismatches":[],"mismatches_total":0,"heartbeat":null,
//!  "groups_total":50,"groups_behind":[],"groups_behind_total":0,"notes":[],"notes_total":0,
//!  "report":{"migration_id":"m1","name":"validation"}}
//! ```
//! With `mode=full`, `fail_on_mismatch=true` and at least one mismatch, the report is stored and
//! the invocation fails with error type `Ferry.ValidationFailed` and a message naming the first
//! mismatch (kind, topic/partition, source offset, target offset, detail).
//!
//! Lag counts source records not yet mirrored; exactly (readable `read_committed` records, so
//! transaction markers and aborted records do not count) when at most
//! `FERRY_VALIDATE_EXACT_LAG_MAX` offsets are pending (`lag_exact: true`), else the offset
//! difference. Validation assumes the mappings read `read_committed` (a `read_uncommitted`
//! mapping mirrors aborted records, which then show as `extra_on_target`).
//!
//! Metrics: `validation-mismatches` (count), `mirror-lag-records` (gauge, label `topic`),
//! `heartbeat-latency-ms` (gauge), `validation-duration-ms` (histogram), `validation-failures`
//! (count, label `kind`); one typed event per log line and its metrics in [`telemetry`].
//!
//! Cold start and the Lambda boundary (tracing, metrics, `ConfigError`, error → `Diagnostic`)
//! are `ferry_lambda`'s; `main.rs` only wires config, clients and the runtime.

pub mod config;
pub mod error;
pub mod handler;
pub mod report;
pub mod request;
pub mod telemetry;

pub use config::ValidateConfig;
pub use error::ValidateError;
pub use handler::{Limits, ValidateHandler};
pub use report::{
    Compared, HeartbeatReport, LagSummary, PartitionCounts, PartitionReport, StoredReport,
    ValidationReport, ValidationSummary,
};
pub use request::{Mode, RequestDefaults, ValidateRequest};
