//! Typed telemetry events: each emits one structured log line and its metrics (CloudWatch EMF
//! in Lambda through the recorder `main.rs` installs). Labels stay low-cardinality: group, sync
//! outcome and failure kind, never partition or offset. The names are the ones the README and
//! `infra/` use (`checkpoint-latency-ms`, `checkpoints-saved`, `checkpoint-translation-lag`, …).
//!
//! | event | metrics |
//! |---|---|
//! | [`CheckpointEvent::GroupCheckpointed`] | `partitions-checkpointed` (count), `partitions-not-yet-translatable` (gauge), `checkpoint-translation-lag` (gauge), all label `group`; `group-syncs` (count, labels `group`, `outcome`) |
//! | [`CheckpointEvent::GroupActiveOnTarget`] | `groups-active-on-target` (count) |
//! | [`CheckpointEvent::CheckpointsSaved`] | `checkpoints-saved` (count) |
//! | [`CheckpointEvent::RunCompleted`] | `checkpoint-latency-ms` (histogram) |
//! | [`CheckpointEvent::RunSkipped`] | `checkpoint-runs-skipped` (count) |
//! | [`CheckpointEvent::RunFailed`] | `checkpoint-latency-ms` (histogram), `checkpoint-failures` (count, label `kind`) |

use crate::handler::GroupReport;
use ferry_core::failure::FailureKind;
use metrics::{counter, gauge, histogram};

/// Something worth a log line and a metric.
#[derive(Debug)]
pub enum CheckpointEvent<'a> {
    /// A group's checkpoints were planned, saved and (maybe) synced.
    GroupCheckpointed(&'a GroupReport),
    /// A group has members on the target: its offsets are not synced.
    GroupActiveOnTarget {
        /// Group.
        group: &'a str,
        /// Members on the target.
        members: usize,
        /// The group's state on the target.
        state: &'a str,
    },
    /// The checkpoints of every group were saved (also when a sync failed afterwards).
    CheckpointsSaved {
        /// Checkpoints written in this pass.
        saved: usize,
        /// Groups in the pass.
        groups: usize,
    },
    /// A run completed.
    RunCompleted {
        /// Mirrored topics considered.
        topics: usize,
        /// Groups reported.
        groups: usize,
        /// Checkpoints written.
        checkpoints_saved: usize,
        /// Run duration.
        duration_ms: u64,
    },
    /// A run found another run's lease and did nothing.
    RunSkipped {
        /// Why.
        reason: &'a str,
    },
    /// A run failed.
    RunFailed {
        /// Failure kind.
        kind: FailureKind,
        /// Full message.
        message: &'a str,
        /// Run duration.
        duration_ms: u64,
    },
}

impl CheckpointEvent<'_> {
    /// Logs the event and records its metrics.
    pub fn emit(&self) {
        match self {
            Self::GroupCheckpointed(r) => {
                tracing::info!(
                    group = %r.group,
                    checkpointed = r.partitions_checkpointed,
                    unchanged = r.partitions_unchanged,
                    lagging = r.not_yet_translatable.len(),
                    max_lag = r.max_lag,
                    sync = ?r.sync,
                    "group checkpointed"
                );
                if !r.rewound.is_empty() {
                    tracing::warn!(group = %r.group, partitions = ?r.rewound, "group was rewound on the source below its checkpoint; checkpoints keep their position");
                }
                let group = r.group.clone();
                counter!("partitions-checkpointed", "group" => group.clone())
                    .increment(r.partitions_checkpointed as u64);
                gauge!("partitions-not-yet-translatable", "group" => group.clone())
                    .set(r.not_yet_translatable.len() as f64);
                gauge!("checkpoint-translation-lag", "group" => group.clone())
                    .set(r.max_lag as f64);
                counter!("group-syncs", "group" => group, "outcome" => r.sync.as_str())
                    .increment(1);
            }
            Self::GroupActiveOnTarget {
                group,
                members,
                state,
            } => {
                tracing::warn!(
                    group,
                    members,
                    state,
                    "group is active on the target: offsets not synced"
                );
                counter!("groups-active-on-target").increment(1);
            }
            Self::CheckpointsSaved { saved, groups } => {
                tracing::debug!(saved, groups, "checkpoints saved");
                counter!("checkpoints-saved").increment(*saved as u64);
            }
            Self::RunCompleted {
                topics,
                groups,
                checkpoints_saved,
                duration_ms,
            } => {
                tracing::info!(
                    topics,
                    groups,
                    checkpoints_saved,
                    duration_ms,
                    "checkpoint run completed"
                );
                histogram!("checkpoint-latency-ms").record(*duration_ms as f64);
            }
            Self::RunSkipped { reason } => {
                tracing::warn!(reason, "checkpoint run skipped");
                counter!("checkpoint-runs-skipped").increment(1);
            }
            Self::RunFailed {
                kind,
                message,
                duration_ms,
            } => {
                tracing::error!(
                    error_type = kind.error_type(),
                    error = message,
                    duration_ms,
                    "checkpoint run failed"
                );
                histogram!("checkpoint-latency-ms").record(*duration_ms as f64);
                counter!("checkpoint-failures", "kind" => kind.error_type()).increment(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::SyncOutcome;
    use ferry_core::TopicPartition;
    use ferry_testkit::capture_metric_strings;

    fn metrics_of(event: CheckpointEvent<'_>) -> Vec<String> {
        capture_metric_strings(|| event.emit())
    }

    #[test]
    fn every_event_emits_its_metrics() {
        let report = GroupReport {
            group: "billing".into(),
            partitions_checkpointed: 2,
            partitions_unchanged: 1,
            not_yet_translatable: vec![],
            rewound: vec![TopicPartition::new("t", 0)],
            max_lag: 0,
            sync: SyncOutcome::UpToDate,
        };
        assert_eq!(
            metrics_of(CheckpointEvent::GroupCheckpointed(&report)),
            [
                "counter partitions-checkpointed{group=billing}",
                "gauge partitions-not-yet-translatable{group=billing}",
                "gauge checkpoint-translation-lag{group=billing}",
                "counter group-syncs{group=billing,outcome=up_to_date}",
            ]
        );
        assert_eq!(
            metrics_of(CheckpointEvent::GroupActiveOnTarget {
                group: "billing",
                members: 2,
                state: "Stable"
            }),
            ["counter groups-active-on-target"]
        );
        assert_eq!(
            metrics_of(CheckpointEvent::CheckpointsSaved {
                saved: 3,
                groups: 1
            }),
            ["counter checkpoints-saved"]
        );
        assert_eq!(
            metrics_of(CheckpointEvent::RunCompleted {
                topics: 1,
                groups: 1,
                checkpoints_saved: 3,
                duration_ms: 12
            }),
            ["histogram checkpoint-latency-ms"]
        );
        assert_eq!(
            metrics_of(CheckpointEvent::RunFailed {
                kind: FailureKind::Transient,
                message: "down",
                duration_ms: 12
            }),
            [
                "histogram checkpoint-latency-ms",
                "counter checkpoint-failures{kind=Ferry.Transient}"
            ]
        );
    }

    #[test]
    fn sync_outcome_labels() {
        let labels: Vec<&str> = [
            SyncOutcome::Synced { partitions: 1 },
            SyncOutcome::UpToDate,
            SyncOutcome::Skipped { reason: "x".into() },
            SyncOutcome::Disabled,
        ]
        .iter()
        .map(SyncOutcome::as_str)
        .collect();
        assert_eq!(labels, ["synced", "up_to_date", "skipped", "disabled"]);
    }
}
