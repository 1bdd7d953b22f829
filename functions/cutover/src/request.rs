//! The cutover tasks' input: the state-machine task ([`Task`], `{"action": ..., "migration_id":
//! ..., ...}`) and the cause of a failure the state machine caught (`describe`).

use ferry_core::migration::Phase;
use serde::Deserialize;
use serde_json::Value;

/// A state-machine task input (`{"action": ..., "migration_id": ..., ...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Task {
    /// Preflight and create the migration.
    Start {
        /// Migration id.
        migration_id: String,
        /// Groups to move (default: every source group matching the group filter that has
        /// committed offsets on mirrored topics).
        #[serde(default)]
        groups: Option<Vec<String>>,
        /// The source topics this migration moves (a wave; default: every mirrored topic).
        /// Only their mappings are disabled at the end, so later waves keep mirroring.
        #[serde(default)]
        topics: Option<Vec<String>>,
        /// Groups that move only after the operator approved each
        /// (`ferry cutover approve <id> --group <g>`); they must be among the groups moved.
        #[serde(default)]
        gated_groups: Option<Vec<String>>,
    },
    /// Does the group wait for the operator's approval before it is asked to stop?
    GroupGate {
        /// Migration id.
        migration_id: String,
        /// Group.
        group: String,
    },
    /// Store the task token of a gated group's approval.
    AwaitGroupApproval {
        /// Migration id.
        migration_id: String,
        /// Group.
        group: String,
        /// `$$.Task.Token`.
        task_token: String,
    },
    /// Record the phase the state machine entered.
    EnterPhase {
        /// Migration id.
        migration_id: String,
        /// Phase.
        phase: Phase,
    },
    /// Ask a group to stop on the source.
    RequestStop {
        /// Migration id.
        migration_id: String,
        /// Group.
        group: String,
    },
    /// Is the group stopped on the source?
    CheckStopped {
        /// Migration id.
        migration_id: String,
        /// Group.
        group: String,
    },
    /// Move a stopped group to the target.
    MoveGroup {
        /// Migration id.
        migration_id: String,
        /// Group.
        group: String,
    },
    /// Report a group that did not stop in time.
    GroupNotStopped {
        /// Migration id.
        migration_id: String,
        /// Group.
        group: String,
    },
    /// Store the approval task token.
    AwaitApproval {
        /// Migration id.
        migration_id: String,
        /// `$$.Task.Token`.
        task_token: String,
    },
    /// Producers stop writing to the source.
    PauseProducers {
        /// Migration id.
        migration_id: String,
    },
    /// Sample the source end offsets.
    CheckSourceQuiet {
        /// Migration id.
        migration_id: String,
    },
    /// Disable the mirror's mappings.
    DisableMirror {
        /// Migration id.
        migration_id: String,
    },
    /// Producers write to the target.
    ReleaseProducers {
        /// Migration id.
        migration_id: String,
    },
    /// Final report.
    Complete {
        /// Migration id.
        migration_id: String,
    },
    /// Start a rollback (`error` is the Catch's `{Error, Cause}`).
    BeginRollback {
        /// Migration id.
        migration_id: String,
        /// What went wrong.
        #[serde(default)]
        error: Option<Value>,
    },
    /// Return moved groups to the source and end the rollback.
    FinishRollback {
        /// Migration id.
        migration_id: String,
    },
    /// A step failed after producers were paused (or while rolling back): hold the migration
    /// and wait for the operator (`$$.Task.Token`; `ferry cutover resume|abort`).
    Hold {
        /// Migration id.
        migration_id: String,
        /// The failed step (`disable_mirror`, `release_producers`, `rollback`).
        step: String,
        /// What went wrong (the Catch's `{Error, Cause}`).
        #[serde(default)]
        error: Option<Value>,
        /// `$$.Task.Token`.
        task_token: String,
    },
    /// Record a failure.
    Fail {
        /// Migration id.
        migration_id: String,
        /// What went wrong.
        #[serde(default)]
        error: Option<Value>,
    },
}

impl Task {
    /// The task's `action` (its log field and metric label).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::EnterPhase { .. } => "enter_phase",
            Self::GroupGate { .. } => "group_gate",
            Self::AwaitGroupApproval { .. } => "await_group_approval",
            Self::RequestStop { .. } => "request_stop",
            Self::CheckStopped { .. } => "check_stopped",
            Self::MoveGroup { .. } => "move_group",
            Self::GroupNotStopped { .. } => "group_not_stopped",
            Self::AwaitApproval { .. } => "await_approval",
            Self::PauseProducers { .. } => "pause_producers",
            Self::CheckSourceQuiet { .. } => "check_source_quiet",
            Self::DisableMirror { .. } => "disable_mirror",
            Self::ReleaseProducers { .. } => "release_producers",
            Self::Complete { .. } => "complete",
            Self::BeginRollback { .. } => "begin_rollback",
            Self::FinishRollback { .. } => "finish_rollback",
            Self::Hold { .. } => "hold",
            Self::Fail { .. } => "fail",
        }
    }
}

/// The message of a Catch's `{Error, Cause}` (the Lambda error JSON's `errorMessage` if the
/// cause is one).
pub(crate) fn describe(error: &Option<Value>) -> String {
    match error {
        None => "no cause given".into(),
        Some(v) => {
            let e = v.get("Error").and_then(Value::as_str).unwrap_or("");
            let c = v.get("Cause").and_then(Value::as_str).unwrap_or("");
            // Lambda task causes are the function's error JSON; keep its message.
            let c = serde_json::from_str::<Value>(c)
                .ok()
                .and_then(|j| {
                    j.get("errorMessage")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| c.to_string());
            match (e.is_empty(), c.is_empty()) {
                (true, true) => v.to_string(),
                (false, true) => e.to_string(),
                (true, false) => c,
                (false, false) => format!("{e}: {c}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_actions_do_not_parse() {
        assert!(
            serde_json::from_value::<Task>(json!({"action": "explode", "migration_id": "m"}))
                .is_err()
        );
    }
}
