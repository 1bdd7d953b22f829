//! Typed telemetry events: each emits one structured log line and its metrics (CloudWatch EMF
//! in Lambda through the recorder `main.rs` installs). Labels stay low-cardinality: topic and
//! failure kind, never partition or offset. The names are the ones `infra/` charts and alarms
//! on (`validation-mismatches`, `mirror-lag-records`, `heartbeat-latency-ms`).
//!
//! | event | metrics |
//! |---|---|
//! | [`ValidateEvent::TopicValidated`] | `mirror-lag-records` (gauge, label `topic`) |
//! | [`ValidateEvent::HeartbeatChecked`] | `heartbeat-latency-ms` (gauge; only with a latency) |
//! | [`ValidateEvent::Completed`] | `validation-duration-ms` (histogram), `validation-mismatches` (count) |
//! | [`ValidateEvent::Failed`] | `validation-failures` (count, label `kind`); `validation-duration-ms` unless [`ValidateEvent::Completed`] already recorded it |

use crate::report::ValidationReport;
use ferry_core::failure::FailureKind;
use ferry_core::validation::{HeartbeatStatus, Verdict};
use metrics::{counter, gauge, histogram};

/// Something worth a log line and a metric.
#[derive(Debug)]
pub enum ValidateEvent<'a> {
    /// Every partition of a topic was validated (progress of long runs).
    TopicValidated {
        /// Source topic.
        topic: &'a str,
        /// Partitions validated.
        partitions: usize,
        /// Source records not yet mirrored, over the topic's partitions.
        lag: i64,
        /// Mismatches found in the topic.
        mismatches: usize,
    },
    /// The newest heartbeats of source and target were compared.
    HeartbeatChecked {
        /// Source heartbeat topic.
        topic: &'a str,
        /// The comparison.
        status: &'a HeartbeatStatus,
    },
    /// The report was built and stored (the run may still fail on a mismatch).
    Completed(&'a ValidationReport),
    /// The run failed.
    Failed {
        /// Failure kind.
        kind: FailureKind,
        /// Full message.
        message: &'a str,
        /// Run duration, unless [`ValidateEvent::Completed`] already recorded it.
        duration_ms: Option<u64>,
    },
}

/// The report's verdict as a log field.
pub fn verdict_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "ok",
        Verdict::Lagging => "lagging",
        Verdict::Mismatch => "mismatch",
    }
}

impl ValidateEvent<'_> {
    /// Logs the event and records its metrics.
    pub fn emit(&self) {
        match self {
            Self::TopicValidated {
                topic,
                partitions,
                lag,
                mismatches,
            } => {
                tracing::info!(topic, partitions, lag, mismatches, "topic validated");
                gauge!("mirror-lag-records", "topic" => topic.to_string()).set(*lag as f64);
            }
            Self::HeartbeatChecked { topic, status } => {
                tracing::info!(
                    topic,
                    source_seq = status.source_seq,
                    target_seq = status.target_seq,
                    behind = status.behind,
                    latency_ms = status.latency_ms,
                    "heartbeat checked"
                );
                if let Some(ms) = status.latency_ms {
                    gauge!("heartbeat-latency-ms").set(ms as f64);
                }
            }
            Self::Completed(report) => {
                tracing::info!(
                    migration_id = %report.migration_id,
                    mode = report.mode.as_str(),
                    verdict = verdict_label(report.verdict),
                    lag_total = report.lag.total,
                    mismatches = report.mismatches.len(),
                    partitions = report.partitions.len(),
                    duration_ms = report.duration_ms,
                    "validation completed"
                );
                histogram!("validation-duration-ms").record(report.duration_ms as f64);
                counter!("validation-mismatches").increment(report.mismatches.len() as u64);
            }
            Self::Failed {
                kind,
                message,
                duration_ms,
            } => {
                tracing::error!(
                    error_type = kind.error_type(),
                    error = message,
                    duration_ms,
                    "validation failed"
                );
                if let Some(ms) = duration_ms {
                    histogram!("validation-duration-ms").record(*ms as f64);
                }
                counter!("validation-failures", "kind" => kind.error_type()).increment(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::LagSummary;
    use crate::request::Mode;
    use ferry_testkit::capture_metric_strings;

    fn metrics_of(event: ValidateEvent<'_>) -> Vec<String> {
        capture_metric_strings(|| event.emit())
    }

    #[test]
    fn every_event_emits_its_metrics() {
        assert_eq!(
            metrics_of(ValidateEvent::TopicValidated {
                topic: "orders",
                partitions: 3,
                lag: 5,
                mismatches: 0
            }),
            ["gauge mirror-lag-records{topic=orders}"]
        );
        let mut status = HeartbeatStatus {
            source_seq: Some(42),
            target_seq: Some(41),
            behind: 1,
            latency_ms: Some(950),
        };
        assert_eq!(
            metrics_of(ValidateEvent::HeartbeatChecked {
                topic: "ferry-heartbeats",
                status: &status
            }),
            ["gauge heartbeat-latency-ms"]
        );
        status.latency_ms = None;
        assert!(metrics_of(ValidateEvent::HeartbeatChecked {
            topic: "ferry-heartbeats",
            status: &status
        })
        .is_empty());
        let report = ValidationReport {
            migration_id: "m1".into(),
            mode: Mode::Full,
            generated_at_ms: 0,
            duration_ms: 12,
            verdict: Verdict::Ok,
            lag: LagSummary::default(),
            partitions: vec![],
            mismatches: vec![],
            heartbeat: None,
            groups: vec![],
            notes: vec![],
        };
        assert_eq!(
            metrics_of(ValidateEvent::Completed(&report)),
            [
                "histogram validation-duration-ms",
                "counter validation-mismatches"
            ]
        );
        assert_eq!(
            metrics_of(ValidateEvent::Failed {
                kind: FailureKind::Transient,
                message: "down",
                duration_ms: Some(12)
            }),
            [
                "histogram validation-duration-ms",
                "counter validation-failures{kind=Ferry.Transient}"
            ]
        );
        assert_eq!(
            metrics_of(ValidateEvent::Failed {
                kind: FailureKind::ValidationFailed,
                message: "value differs",
                duration_ms: None
            }),
            ["counter validation-failures{kind=Ferry.ValidationFailed}"]
        );
    }

    #[test]
    fn labels() {
        assert_eq!(
            [Verdict::Ok, Verdict::Lagging, Verdict::Mismatch].map(verdict_label),
            ["ok", "lagging", "mismatch"]
        );
        assert_eq!([Mode::Lag, Mode::Full].map(|m| m.as_str()), ["lag", "full"]);
    }
}
