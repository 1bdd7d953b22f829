//! Typed telemetry events: each emits one structured log line and its metrics (CloudWatch EMF
//! in Lambda through the recorder `main.rs` installs). Labels stay low-cardinality: task name
//! ([`Task::as_str`](crate::Task::as_str)), failure kind, topic action and change kind; groups,
//! topics and migration ids go to the log line only.
//!
//! | event | metrics |
//! |---|---|
//! | [`CutoverEvent::TaskDone`] | `cutover-tasks` (count, label `task`) |
//! | [`CutoverEvent::TaskFailed`] | `cutover-task-failures` (count, label `kind`) |
//! | [`CutoverEvent::MigrationStarted`] | `cutover-migrations-started` (count) |
//! | [`CutoverEvent::GroupMoved`] | `cutover-groups-moved` (count) |
//! | [`CutoverEvent::GroupNotStopped`] | `cutover-groups-not-stopped` (count) |
//! | [`CutoverEvent::AwaitingApproval`] | `cutover-approvals-awaited` (count) |
//! | [`CutoverEvent::AwaitingGroupApproval`] | `cutover-group-approvals-awaited` (count) |
//! | [`CutoverEvent::RollbackBegun`] | `cutover-rollbacks` (count) |
//! | [`CutoverEvent::Held`] | `cutover-holds` (count, label `step`) |
//! | [`CutoverEvent::EventsPublished`] | `migration-events-published` (count) |
//! | [`CutoverEvent::EventsUnpublished`] | `migration-events-unpublished` (count) |
//! | [`CutoverEvent::TargetTopicChange`] | `target-topic-changes` (count, label `change`) |
//! | [`CutoverEvent::PreflightFinished`] | `preflight-errors`, `preflight-warnings` (gauges), `preflight-topics` (count per topic, label `action`) |

use crate::preflight::TopicReport;
use ferry_core::failure::FailureKind;
use ferry_core::topics::TopicAction;
use metrics::{counter, gauge};
use serde_json::Value;

pub use ferry_core::topics::TopicChange;

/// A preflight topic action as the `action` label of `preflight-topics`.
pub fn topic_action_label(action: TopicAction) -> &'static str {
    match action {
        TopicAction::Created => "created",
        TopicAction::PartitionsAdded => "partitions_added",
        TopicAction::ConfigUpdated => "config_updated",
        TopicAction::InSync => "in_sync",
    }
}

/// Something worth a log line and a metric.
#[derive(Debug)]
pub enum CutoverEvent<'a> {
    /// A task succeeded.
    TaskDone {
        /// [`Task::as_str`](crate::Task::as_str).
        task: &'static str,
        /// Its output.
        output: &'a Value,
    },
    /// A task failed.
    TaskFailed {
        /// [`Task::as_str`](crate::Task::as_str).
        task: &'static str,
        /// Failure kind.
        kind: FailureKind,
        /// Full message.
        message: &'a str,
    },
    /// A migration was created.
    MigrationStarted {
        /// Migration id.
        migration_id: &'a str,
        /// Groups to move.
        groups: &'a [String],
        /// Mirrored topics.
        topics: usize,
    },
    /// A group was moved to the target (offsets committed and verified).
    GroupMoved {
        /// Group.
        group: &'a str,
        /// Partitions committed.
        partitions: usize,
    },
    /// A group did not stop in time; it stays on the source.
    GroupNotStopped {
        /// Group.
        group: &'a str,
        /// Why (its state on the source).
        note: &'a str,
    },
    /// The producer-approval task token was stored.
    AwaitingApproval {
        /// Migration id.
        migration_id: &'a str,
    },
    /// A step failed after producers were paused: the migration waits for the operator.
    Held {
        /// Migration id.
        migration_id: &'a str,
        /// The failed step.
        step: &'a str,
        /// What went wrong.
        cause: &'a str,
    },
    /// Migration events were published to the applications.
    EventsPublished {
        /// Migration id.
        migration_id: &'a str,
        /// Events published.
        events: usize,
    },
    /// Publishing migration events failed; they stay in the outbox for the next task.
    EventsUnpublished {
        /// Migration id.
        migration_id: &'a str,
        /// Events waiting.
        events: usize,
        /// Why.
        error: &'a str,
    },
    /// A rollback began.
    RollbackBegun {
        /// Migration id.
        migration_id: &'a str,
        /// What went wrong.
        cause: &'a str,
    },
    /// A gated group waits for the operator's approval before its consumers are asked to stop.
    AwaitingGroupApproval {
        /// Migration id.
        migration_id: &'a str,
        /// Group.
        group: &'a str,
    },
    /// Preflight changes a target topic.
    TargetTopicChange {
        /// Target topic.
        topic: &'a str,
        /// What changes.
        change: TopicChange,
        /// Details: partitions and replication factor, the partition increase or the configs.
        detail: String,
    },
    /// Preflight finished.
    PreflightFinished {
        /// The mirrored topics.
        topics: &'a [TopicReport],
        /// Error findings.
        errors: usize,
        /// Other findings.
        warnings: usize,
        /// Planned only.
        dry_run: bool,
    },
}

impl CutoverEvent<'_> {
    /// Logs the event and records its metrics.
    pub fn emit(&self) {
        match self {
            Self::TaskDone { task, output } => {
                tracing::info!(task, output = %output, "cutover task done");
                counter!("cutover-tasks", "task" => *task).increment(1);
            }
            Self::TaskFailed {
                task,
                kind,
                message,
            } => {
                tracing::warn!(
                    task,
                    error_type = kind.error_type(),
                    error = message,
                    "cutover task failed"
                );
                counter!("cutover-task-failures", "kind" => kind.error_type()).increment(1);
            }
            Self::MigrationStarted {
                migration_id,
                groups,
                topics,
            } => {
                tracing::info!(migration_id, groups = ?groups, topics, "migration started");
                counter!("cutover-migrations-started").increment(1);
            }
            Self::GroupMoved { group, partitions } => {
                tracing::info!(group, partitions, "group moved to the target");
                counter!("cutover-groups-moved").increment(1);
            }
            Self::GroupNotStopped { group, note } => {
                tracing::warn!(
                    group,
                    note,
                    "group did not stop in time; it stays on the source"
                );
                counter!("cutover-groups-not-stopped").increment(1);
            }
            Self::AwaitingApproval { migration_id } => {
                tracing::info!(
                    migration_id,
                    "waiting for producer approval: `ferry cutover approve {migration_id}`"
                );
                counter!("cutover-approvals-awaited").increment(1);
            }
            Self::AwaitingGroupApproval {
                migration_id,
                group,
            } => {
                tracing::info!(
                    migration_id,
                    group,
                    "gated group waits for approval: `ferry cutover approve {migration_id} --group {group}`"
                );
                counter!("cutover-group-approvals-awaited").increment(1);
            }
            Self::Held {
                migration_id,
                step,
                cause,
            } => {
                tracing::error!(
                    migration_id,
                    step,
                    cause,
                    "migration held after a failed step; producers stay paused on the source until the operator runs `ferry cutover resume` or `ferry cutover abort`"
                );
                counter!("cutover-holds", "step" => step.to_string()).increment(1);
            }
            Self::EventsPublished {
                migration_id,
                events,
            } => {
                tracing::info!(migration_id, events, "migration events published");
                counter!("migration-events-published").increment(*events as u64);
            }
            Self::EventsUnpublished {
                migration_id,
                events,
                error,
            } => {
                tracing::warn!(
                    migration_id,
                    events,
                    error,
                    "migration events not published yet; the next task retries"
                );
                counter!("migration-events-unpublished").increment(*events as u64);
            }
            Self::RollbackBegun {
                migration_id,
                cause,
            } => {
                tracing::warn!(migration_id, cause, "rollback begun");
                counter!("cutover-rollbacks").increment(1);
            }
            Self::TargetTopicChange {
                topic,
                change,
                detail,
            } => {
                tracing::info!(
                    topic,
                    change = change.as_str(),
                    detail,
                    "changing target topic"
                );
                counter!("target-topic-changes", "change" => change.as_str()).increment(1);
            }
            Self::PreflightFinished {
                topics,
                errors,
                warnings,
                dry_run,
            } => {
                tracing::info!(
                    topics = topics.len(),
                    errors,
                    warnings,
                    dry_run,
                    "preflight finished"
                );
                gauge!("preflight-errors").set(*errors as f64);
                gauge!("preflight-warnings").set(*warnings as f64);
                for t in topics.iter() {
                    counter!("preflight-topics", "action" => topic_action_label(t.action))
                        .increment(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Task;
    use ferry_testkit::capture_metric_strings;
    use serde_json::json;

    fn metrics_of(event: CutoverEvent<'_>) -> Vec<String> {
        capture_metric_strings(|| event.emit())
    }

    #[test]
    fn every_event_emits_its_metrics() {
        let out = json!({"ok": true});
        let groups = vec!["g".to_string()];
        let topics = vec![TopicReport {
            source: "t".into(),
            target: "t".into(),
            partitions: 3,
            action: TopicAction::Created,
            partitions_added: None,
            configs_set: Default::default(),
            drift: vec![],
            estimated_source_bytes: 0,
        }];
        let cases: Vec<(CutoverEvent<'_>, Vec<&str>)> = vec![
            (
                CutoverEvent::TaskDone {
                    task: "move_group",
                    output: &out,
                },
                vec!["counter cutover-tasks{task=move_group}"],
            ),
            (
                CutoverEvent::TaskFailed {
                    task: "move_group",
                    kind: FailureKind::NotReady,
                    message: "behind",
                },
                vec!["counter cutover-task-failures{kind=Ferry.NotReady}"],
            ),
            (
                CutoverEvent::MigrationStarted {
                    migration_id: "m1",
                    groups: &groups,
                    topics: 1,
                },
                vec!["counter cutover-migrations-started"],
            ),
            (
                CutoverEvent::GroupMoved {
                    group: "g",
                    partitions: 3,
                },
                vec!["counter cutover-groups-moved"],
            ),
            (
                CutoverEvent::AwaitingGroupApproval {
                    migration_id: "m1",
                    group: "g",
                },
                vec!["counter cutover-group-approvals-awaited"],
            ),
            (
                CutoverEvent::GroupNotStopped {
                    group: "g",
                    note: "still active",
                },
                vec!["counter cutover-groups-not-stopped"],
            ),
            (
                CutoverEvent::AwaitingApproval { migration_id: "m1" },
                vec!["counter cutover-approvals-awaited"],
            ),
            (
                CutoverEvent::Held {
                    migration_id: "m1",
                    step: "disable_mirror",
                    cause: "AccessDenied",
                },
                vec!["counter cutover-holds{step=disable_mirror}"],
            ),
            (
                CutoverEvent::EventsPublished {
                    migration_id: "m1",
                    events: 3,
                },
                vec!["counter migration-events-published"],
            ),
            (
                CutoverEvent::EventsUnpublished {
                    migration_id: "m1",
                    events: 2,
                    error: "throttled",
                },
                vec!["counter migration-events-unpublished"],
            ),
            (
                CutoverEvent::RollbackBegun {
                    migration_id: "m1",
                    cause: "validation failed",
                },
                vec!["counter cutover-rollbacks"],
            ),
            (
                CutoverEvent::TargetTopicChange {
                    topic: "t",
                    change: TopicChange::Create,
                    detail: "3 partitions".into(),
                },
                vec!["counter target-topic-changes{change=create}"],
            ),
            (
                CutoverEvent::PreflightFinished {
                    topics: &topics,
                    errors: 0,
                    warnings: 1,
                    dry_run: false,
                },
                vec![
                    "gauge preflight-errors",
                    "gauge preflight-warnings",
                    "counter preflight-topics{action=created}",
                ],
            ),
        ];
        for (event, want) in cases {
            let name = format!("{event:?}");
            assert_eq!(metrics_of(event), want, "{name}");
        }
    }

    #[test]
    fn task_labels_are_the_action_names() {
        for action in [
            "start",
            "enter_phase",
            "request_stop",
            "check_stopped",
            "move_group",
            "group_not_stopped",
            "await_approval",
            "pause_producers",
            "check_source_quiet",
            "disable_mirror",
            "release_producers",
            "complete",
            "begin_rollback",
            "finish_rollback",
            "fail",
        ] {
            // Every field any task takes; serde ignores the ones a task does not.
            let input = json!({"action": action, "migration_id": "m", "group": "g",
                "task_token": "tok", "phase": "catching_up"});
            let task: Task = serde_json::from_value(input).unwrap();
            assert_eq!(task.as_str(), action);
        }
    }

    #[test]
    fn other_labels() {
        assert_eq!(
            [
                TopicChange::Create,
                TopicChange::AddPartitions,
                TopicChange::SetConfigs
            ]
            .map(|c| c.as_str()),
            ["create", "add_partitions", "set_configs"]
        );
        assert_eq!(
            [
                TopicAction::Created,
                TopicAction::PartitionsAdded,
                TopicAction::ConfigUpdated,
                TopicAction::InSync
            ]
            .map(topic_action_label),
            ["created", "partitions_added", "config_updated", "in_sync"]
        );
    }
}
