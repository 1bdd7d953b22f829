//! Typed telemetry events: each emits one structured log line and its metric (CloudWatch EMF in
//! Lambda through the recorder `main.rs` installs). Labels stay low-cardinality (tier, change,
//! reason, step), never the topic.
//!
//! | event | metric |
//! |---|---|
//! | [`DiscoverEvent::TargetTopicChanged`] | `discovery-target-changes` (count, label `change`) |
//! | [`DiscoverEvent::MappingCreated`] | `discovery-mappings-created` (count, label `tier`) |
//! | [`DiscoverEvent::MappingOrphaned`] | `discovery-orphaned-mappings` (count, label `reason`) |
//! | [`DiscoverEvent::TopicFailed`] | `discovery-failures` (count, label `step`) |
//! | [`DiscoverEvent::Paused`] | `discovery-paused` (count) |
//! | [`DiscoverEvent::Finished`] | `discovery-mirrored-topics`, `discovery-unmapped-topics` (gauges) |

use ferry_core::discovery::OrphanReason;
use ferry_core::tiering::Tier;
use ferry_core::topics::TopicChange;
use metrics::{counter, gauge};

/// Something worth a log line and a metric.
#[derive(Debug)]
pub enum DiscoverEvent<'a> {
    /// A target topic is created, grown or has its configs synced.
    TargetTopicChanged {
        /// Target topic.
        topic: &'a str,
        /// What changes.
        change: TopicChange,
        /// Partitions, replication factor or configs.
        detail: &'a str,
    },
    /// An event source mapping was created for a topic.
    MappingCreated {
        /// Source topic.
        topic: &'a str,
        /// Its UUID.
        uuid: &'a str,
        /// The measured tier.
        tier: Tier,
    },
    /// A mapping whose topic is gone, excluded or mapped twice (reported, left alone).
    MappingOrphaned {
        /// Mapping UUID.
        uuid: &'a str,
        /// Its topic.
        topic: &'a str,
        /// Why.
        reason: OrphanReason,
    },
    /// A topic could not be provisioned or mapped this pass.
    TopicFailed {
        /// Source topic.
        topic: &'a str,
        /// `provision`, `measure` or `map`.
        step: &'static str,
        /// The error.
        message: &'a str,
    },
    /// Every mapping of the mirror is disabled: no mapping is created.
    Paused {
        /// Mappings of the function.
        mappings: usize,
    },
    /// A pass finished.
    Finished {
        /// Mirrored topics.
        mirrored: usize,
        /// Mirrored topics still without a mapping.
        unmapped: usize,
        /// Mappings created.
        created: usize,
        /// Report only.
        dry_run: bool,
    },
}

impl DiscoverEvent<'_> {
    /// Logs the event and records its metric.
    pub fn emit(&self) {
        match self {
            Self::TargetTopicChanged {
                topic,
                change,
                detail,
            } => {
                tracing::info!(
                    topic,
                    change = change.as_str(),
                    detail,
                    "target topic change"
                );
                counter!("discovery-target-changes", "change" => change.as_str()).increment(1);
            }
            Self::MappingCreated { topic, uuid, tier } => {
                tracing::info!(
                    topic,
                    uuid,
                    tier = tier.name(),
                    "event source mapping created"
                );
                counter!("discovery-mappings-created", "tier" => tier.name()).increment(1);
            }
            Self::MappingOrphaned {
                uuid,
                topic,
                reason,
            } => {
                tracing::warn!(
                    uuid,
                    topic,
                    reason = reason.name(),
                    "event source mapping left alone: its topic is not mirrored (delete it once the topic is gone for good)"
                );
                counter!("discovery-orphaned-mappings", "reason" => reason.name()).increment(1);
            }
            Self::TopicFailed {
                topic,
                step,
                message,
            } => {
                tracing::error!(topic, step, error = message, "topic not discovered");
                counter!("discovery-failures", "step" => *step).increment(1);
            }
            Self::Paused { mappings } => {
                tracing::info!(
                    mappings,
                    "every mapping of the mirror is disabled (cutover or operator): no mapping created"
                );
                counter!("discovery-paused").increment(1);
            }
            Self::Finished {
                mirrored,
                unmapped,
                created,
                dry_run,
            } => {
                tracing::info!(
                    mirrored,
                    unmapped,
                    created,
                    dry_run,
                    "discovery pass finished"
                );
                gauge!("discovery-mirrored-topics").set(*mirrored as f64);
                gauge!("discovery-unmapped-topics").set(*unmapped as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_testkit::capture_metric_strings;

    #[test]
    fn every_event_emits_its_metric() {
        let cases: Vec<(DiscoverEvent<'_>, &[&str])> = vec![
            (
                DiscoverEvent::TargetTopicChanged {
                    topic: "t",
                    change: TopicChange::AddPartitions,
                    detail: "2 -> 4",
                },
                &["counter discovery-target-changes{change=add_partitions}"],
            ),
            (
                DiscoverEvent::MappingCreated {
                    topic: "t",
                    uuid: "u",
                    tier: Tier::Low,
                },
                &["counter discovery-mappings-created{tier=low}"],
            ),
            (
                DiscoverEvent::MappingOrphaned {
                    uuid: "u",
                    topic: "t",
                    reason: OrphanReason::Deleted,
                },
                &["counter discovery-orphaned-mappings{reason=deleted}"],
            ),
            (
                DiscoverEvent::TopicFailed {
                    topic: "t",
                    step: "map",
                    message: "refused",
                },
                &["counter discovery-failures{step=map}"],
            ),
            (
                DiscoverEvent::Paused { mappings: 3 },
                &["counter discovery-paused"],
            ),
            (
                DiscoverEvent::Finished {
                    mirrored: 3,
                    unmapped: 0,
                    created: 1,
                    dry_run: false,
                },
                &[
                    "gauge discovery-mirrored-topics",
                    "gauge discovery-unmapped-topics",
                ],
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(
                capture_metric_strings(|| event.emit()),
                expected,
                "{event:?}"
            );
        }
    }
}
