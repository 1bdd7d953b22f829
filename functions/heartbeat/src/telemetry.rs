//! Typed telemetry events: each emits one structured log line and its metric (CloudWatch EMF in
//! Lambda through the recorder `main.rs` installs). Labels stay low-cardinality: failure kind
//! only, never the seq or offset.
//!
//! | event | metric |
//! |---|---|
//! | [`HeartbeatEvent::TopicCreated`] | `heartbeat-topics-created` (count) |
//! | [`HeartbeatEvent::Emitted`] | `heartbeat-emitted` (count) |
//! | [`HeartbeatEvent::Failed`] | `heartbeat-failures` (count, label `kind`) |

use ferry_core::failure::FailureKind;
use metrics::counter;

/// Something worth a log line and a metric.
#[derive(Debug)]
pub enum HeartbeatEvent<'a> {
    /// The heartbeat topic was missing on the source and is being created (1 partition).
    TopicCreated {
        /// Heartbeat topic.
        topic: &'a str,
    },
    /// A heartbeat was written.
    Emitted {
        /// Heartbeat topic.
        topic: &'a str,
        /// Offset of the heartbeat record.
        offset: i64,
        /// Its seq.
        seq: u64,
    },
    /// Writing the heartbeat failed.
    Failed {
        /// Failure kind.
        kind: FailureKind,
        /// Full message.
        message: &'a str,
    },
}

impl HeartbeatEvent<'_> {
    /// Logs the event and records its metric.
    pub fn emit(&self) {
        match self {
            Self::TopicCreated { topic } => {
                tracing::info!(topic, "creating the heartbeat topic (1 partition)");
                counter!("heartbeat-topics-created").increment(1);
            }
            Self::Emitted { topic, offset, seq } => {
                tracing::info!(topic, offset, seq, "heartbeat emitted");
                counter!("heartbeat-emitted").increment(1);
            }
            Self::Failed { kind, message } => {
                tracing::error!(
                    error_type = kind.error_type(),
                    error = message,
                    "heartbeat failed"
                );
                counter!("heartbeat-failures", "kind" => kind.error_type()).increment(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_testkit::capture_metric_strings;

    fn metrics_of(event: HeartbeatEvent<'_>) -> Vec<String> {
        capture_metric_strings(|| event.emit())
    }

    #[test]
    fn every_event_emits_its_metric() {
        assert_eq!(
            metrics_of(HeartbeatEvent::TopicCreated { topic: "hb" }),
            ["counter heartbeat-topics-created"]
        );
        assert_eq!(
            metrics_of(HeartbeatEvent::Emitted {
                topic: "hb",
                offset: 41,
                seq: 42
            }),
            ["counter heartbeat-emitted"]
        );
        assert_eq!(
            metrics_of(HeartbeatEvent::Failed {
                kind: FailureKind::Transient,
                message: "down"
            }),
            ["counter heartbeat-failures{kind=Ferry.Transient}"]
        );
    }
}
