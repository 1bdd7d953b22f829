//! The validation report: what [`crate::handler::ValidateHandler::run`] returns and stores as
//! the migration's `validation` report.

use crate::request::Mode;
use ferry_core::validation::{GroupCoverage, HeartbeatStatus, Mismatch, Verdict};
use serde::{Deserialize, Serialize};

/// Lag totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagSummary {
    /// Source records not yet mirrored, over all partitions.
    pub total: i64,
    /// Largest partition lag.
    pub max: i64,
    /// Partitions with lag > 0.
    pub partitions_behind: u32,
    /// Every partition's lag was counted exactly (readable records).
    pub exact: bool,
}

/// How a partition's content was compared (`full` mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compared {
    /// `full` (the whole mirrored range) or `sampled` (windows).
    pub how: String,
    /// Windows compared.
    pub windows: u32,
    /// Source records compared.
    pub source_records: u64,
    /// Target records compared.
    pub target_records: u64,
}

/// One partition's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionReport {
    /// Source topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Target topic.
    pub target_topic: String,
    /// Source low watermark.
    pub source_low: i64,
    /// Source high watermark.
    pub source_high: i64,
    /// Progress: next source offset to mirror (`null`: not mirrored yet).
    pub next_source: Option<i64>,
    /// Progress: next target offset.
    pub next_target: Option<i64>,
    /// Target high watermark (`null`: target topic/partition missing).
    pub target_end: Option<i64>,
    /// Source records not yet mirrored.
    pub lag: i64,
    /// `lag` counts readable records (else: offset difference).
    pub lag_exact: bool,
    /// Records mirrored (target offsets recorded).
    pub mirrored_records: i64,
    /// Content comparison (`full` mode, mirrored partitions).
    pub compared: Option<Compared>,
    /// `ok`, `lagging`, `mismatch` or `not_started` (no progress yet).
    pub status: String,
}

/// Heartbeat section of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReport {
    /// Source heartbeat topic.
    pub topic: String,
    /// Target heartbeat topic.
    pub target_topic: String,
    /// Seqs, heartbeats behind, latency.
    #[serde(flatten)]
    pub status: HeartbeatStatus,
}

/// The validation report: returned to the caller and stored as the migration's `validation`
/// report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Migration id.
    pub migration_id: String,
    /// Mode.
    pub mode: Mode,
    /// When the run started (epoch ms).
    pub generated_at_ms: i64,
    /// Run duration.
    pub duration_ms: u64,
    /// `ok`, `lagging` or `mismatch`.
    pub verdict: Verdict,
    /// Lag totals.
    pub lag: LagSummary,
    /// Per partition.
    pub partitions: Vec<PartitionReport>,
    /// Differences found (at most one content difference per partition: the first).
    pub mismatches: Vec<Mismatch>,
    /// Heartbeat comparison; `null` when the heartbeat topic does not exist on the source.
    pub heartbeat: Option<HeartbeatReport>,
    /// Translation coverage per source group with offsets on mirrored topics.
    pub groups: Vec<GroupCoverage>,
    /// Remarks (missing heartbeat topic, skipped topics, ...).
    pub notes: Vec<String>,
}
