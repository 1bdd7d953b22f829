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

/// Items of each list a [`ValidationSummary`] carries at most (the first ones).
pub const SUMMARY_LIST_LIMIT: usize = 10;

/// Partition counts by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionCounts {
    /// Partitions validated.
    pub total: u32,
    /// `ok`.
    pub ok: u32,
    /// `lagging`.
    pub lagging: u32,
    /// `mismatch`.
    pub mismatch: u32,
    /// `not_started` (no progress yet).
    pub not_started: u32,
    /// Source records whose content was compared (`full` mode).
    pub compared_source_records: u64,
    /// Target records whose content was compared (`full` mode).
    pub compared_target_records: u64,
}

/// Where the whole report is stored: report `name` of migration `migration_id` in the state
/// table (`ferry_core::ports::MigrationStore::get_report`; on DynamoDB `PK = MIGRATION#<id>`,
/// `SK = REPORT#<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReport {
    /// Migration id.
    pub migration_id: String,
    /// Report name (`validation`).
    pub name: String,
}

/// What an invocation returns: the verdict, totals and the first few findings, with a
/// reference to the whole [`ValidationReport`] in the state table. Its size does not grow with
/// the number of partitions or groups (at most [`SUMMARY_LIST_LIMIT`] items per list), so a
/// Step Functions task result stays far under the 256 KiB limit at any scale; the whole
/// report of 1,000 partitions is about 400 KB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationSummary {
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
    /// Partition counts by status.
    pub partitions: PartitionCounts,
    /// The first differences found.
    pub mismatches: Vec<Mismatch>,
    /// All differences found.
    pub mismatches_total: usize,
    /// Heartbeat comparison; `null` when the heartbeat topic does not exist on the source.
    pub heartbeat: Option<HeartbeatReport>,
    /// Source groups with offsets on mirrored topics.
    pub groups_total: usize,
    /// The first groups with a committed offset that is not translatable yet.
    pub groups_behind: Vec<GroupCoverage>,
    /// All groups with a committed offset that is not translatable yet.
    pub groups_behind_total: usize,
    /// The first remarks.
    pub notes: Vec<String>,
    /// All remarks.
    pub notes_total: usize,
    /// The whole report.
    pub report: StoredReport,
}

impl ValidationReport {
    /// The invocation's result: totals, the first findings and where the report is stored.
    pub fn summary(&self) -> ValidationSummary {
        let mut partitions = PartitionCounts::default();
        for p in &self.partitions {
            partitions.total += 1;
            match p.status.as_str() {
                "ok" => partitions.ok += 1,
                "lagging" => partitions.lagging += 1,
                "mismatch" => partitions.mismatch += 1,
                _ => partitions.not_started += 1,
            }
            if let Some(c) = &p.compared {
                partitions.compared_source_records += c.source_records;
                partitions.compared_target_records += c.target_records;
            }
        }
        let behind: Vec<&GroupCoverage> = self
            .groups
            .iter()
            .filter(|g| g.translatable < g.partitions)
            .collect();
        ValidationSummary {
            migration_id: self.migration_id.clone(),
            mode: self.mode,
            generated_at_ms: self.generated_at_ms,
            duration_ms: self.duration_ms,
            verdict: self.verdict,
            lag: self.lag.clone(),
            partitions,
            mismatches: first(&self.mismatches),
            mismatches_total: self.mismatches.len(),
            heartbeat: self.heartbeat.clone(),
            groups_total: self.groups.len(),
            groups_behind: behind
                .iter()
                .take(SUMMARY_LIST_LIMIT)
                .map(|g| (*g).clone())
                .collect(),
            groups_behind_total: behind.len(),
            notes: first(&self.notes),
            notes_total: self.notes.len(),
            report: StoredReport {
                migration_id: self.migration_id.clone(),
                name: REPORT_NAME.to_owned(),
            },
        }
    }
}

/// Name of the stored report.
pub const REPORT_NAME: &str = "validation";

fn first<T: Clone>(items: &[T]) -> Vec<T> {
    items.iter().take(SUMMARY_LIST_LIMIT).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::validation::MismatchKind;

    fn partition(i: usize, status: &str) -> PartitionReport {
        PartitionReport {
            topic: format!("orders-{:03}", i / 10),
            partition: (i % 10) as i32,
            target_topic: format!("orders-{:03}", i / 10),
            source_low: 0,
            source_high: 1_000_000,
            next_source: Some(1_000_000),
            next_target: Some(1_000_000),
            target_end: Some(1_000_000),
            lag: 0,
            lag_exact: true,
            mirrored_records: 1_000_000,
            compared: Some(Compared {
                how: "sampled".into(),
                windows: 8,
                source_records: 800,
                target_records: 800,
            }),
            status: status.into(),
        }
    }

    /// Issue 13: at 1,000 partitions, 100 mismatches and 50 groups the report passes Step
    /// Functions' 256 KiB limit, and the summary an invocation returns stays a few KiB.
    #[test]
    fn the_summary_stays_small_when_the_report_does_not() {
        let report = ValidationReport {
            migration_id: "wave-1".into(),
            mode: Mode::Full,
            generated_at_ms: 1,
            duration_ms: 2,
            verdict: Verdict::Mismatch,
            lag: LagSummary::default(),
            partitions: (0..1_000)
                .map(|i| partition(i, if i % 10 == 0 { "mismatch" } else { "ok" }))
                .collect(),
            mismatches: (0..100)
                .map(|i| Mismatch {
                    topic: format!("orders-{i:03}"),
                    partition: 0,
                    source_offset: 5,
                    target_offset: 5,
                    kind: MismatchKind::ContentDiffers,
                    detail: "value differs".into(),
                })
                .collect(),
            heartbeat: None,
            groups: (0..50)
                .map(|i| GroupCoverage {
                    group: format!("team-{i:02}-consumer"),
                    partitions: 20,
                    translatable: if i < 3 { 19 } else { 20 },
                    max_records_behind: i64::from(i < 3),
                })
                .collect(),
            notes: vec!["a note".into(); 30],
        };
        let full = serde_json::to_vec(&report).unwrap().len();
        let summary = report.summary();
        let small = serde_json::to_vec(&summary).unwrap().len();
        assert!(full > 256 * 1024, "the report is {full} bytes");
        assert!(small < 8 * 1024, "the summary is {small} bytes");
        assert_eq!(
            (summary.partitions.total, summary.partitions.mismatch),
            (1_000, 100)
        );
        assert_eq!(summary.partitions.compared_source_records, 800_000);
        assert_eq!(
            (summary.mismatches.len(), summary.mismatches_total),
            (10, 100)
        );
        assert_eq!(
            (summary.groups_behind.len(), summary.groups_behind_total),
            (3, 3)
        );
        assert_eq!((summary.notes.len(), summary.notes_total), (10, 30));
        assert_eq!(summary.report.name, "validation");
    }
}
