//! Typed telemetry events: each emits one structured log line and its metrics (CloudWatch EMF
//! in Lambda through the recorder `main.rs` installs). Labels stay low-cardinality: topic and
//! failure kind, never partition or offset. Names follow MirrorMaker 2's (`record-count`,
//! `byte-count`, `replication-latency-ms`, `record-age-ms`) so existing dashboards carry over.

use ferry_core::failure::FailureKind;
use metrics::{counter, histogram};

/// Where a batch's time went (milliseconds), reported with [`MirrorEvent::BatchCompleted`].
#[derive(Debug, Default, Clone, Copy)]
pub struct PhaseTimes {
    /// Cached progress checked against target end offsets, progress read, partitions initialised.
    pub progress_ms: f64,
    /// Partitions mirrored concurrently: end offsets, reconcile reads, produce and delivery.
    pub produce_ms: f64,
    /// The conditional progress commit.
    pub commit_ms: f64,
}

/// Something worth a log line and a metric.
#[derive(Debug)]
pub enum MirrorEvent<'a> {
    /// A partition's records in a batch were mirrored and recorded.
    PartitionMirrored {
        /// Source topic.
        topic: &'a str,
        /// Partition.
        partition: i32,
        /// Records produced to the target.
        produced: u64,
        /// Records found already written by a failed attempt and recorded now.
        reconciled: u64,
        /// Redelivered records already recorded.
        skipped: u64,
        /// Payload bytes produced.
        bytes: u64,
        /// Now minus the newest produced record's timestamp: source write → durable on target.
        replication_latency_ms: Option<f64>,
        /// Now minus the oldest produced record's timestamp: how far behind the mirror runs.
        record_age_ms: Option<f64>,
    },
    /// A whole batch completed.
    BatchCompleted {
        /// Partitions in the batch.
        partitions: usize,
        /// Records in the batch.
        records: usize,
        /// Handler duration.
        duration_ms: f64,
        /// Of which, per phase.
        phases: PhaseTimes,
    },
    /// A batch failed and will be redelivered.
    BatchFailed {
        /// Failure kind.
        kind: FailureKind,
        /// Full message.
        message: &'a str,
    },
}

impl MirrorEvent<'_> {
    /// Logs the event and records its metrics.
    pub fn emit(&self) {
        match self {
            Self::PartitionMirrored {
                topic,
                partition,
                produced,
                reconciled,
                skipped,
                bytes,
                replication_latency_ms,
                record_age_ms,
            } => {
                tracing::debug!(
                    topic,
                    partition,
                    produced,
                    reconciled,
                    skipped,
                    bytes,
                    "partition mirrored"
                );
                if *reconciled > 0 {
                    tracing::warn!(
                        topic,
                        partition,
                        reconciled,
                        "recorded records an earlier failed attempt had written"
                    );
                }
                let topic = topic.to_string();
                counter!("record-count", "topic" => topic.clone()).increment(*produced);
                counter!("byte-count", "topic" => topic.clone()).increment(*bytes);
                counter!("records-reconciled", "topic" => topic.clone()).increment(*reconciled);
                counter!("records-redelivered", "topic" => topic.clone()).increment(*skipped);
                if let Some(v) = replication_latency_ms {
                    histogram!("replication-latency-ms", "topic" => topic.clone()).record(*v);
                }
                if let Some(v) = record_age_ms {
                    histogram!("record-age-ms", "topic" => topic).record(*v);
                }
            }
            Self::BatchCompleted {
                partitions,
                records,
                duration_ms,
                phases,
            } => {
                tracing::info!(
                    partitions,
                    records,
                    duration_ms,
                    progress_ms = phases.progress_ms,
                    produce_ms = phases.produce_ms,
                    commit_ms = phases.commit_ms,
                    "batch mirrored"
                );
                histogram!("batch-duration-ms").record(*duration_ms);
                for (phase, ms) in [
                    ("progress", phases.progress_ms),
                    ("produce", phases.produce_ms),
                    ("commit", phases.commit_ms),
                ] {
                    histogram!("batch-phase-ms", "phase" => phase).record(ms);
                }
                counter!("batch-count").increment(1);
            }
            Self::BatchFailed { kind, message } => {
                tracing::error!(
                    error_type = kind.error_type(),
                    error = message,
                    "batch failed; it will be redelivered"
                );
                counter!("batch-failures", "kind" => kind.error_type()).increment(1);
            }
        }
    }
}
