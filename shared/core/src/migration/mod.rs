//! The migration's state document and the cutover rules.
//!
//! One migration is one run of the cutover state machine (`infra/statemachine/cutover.asl.json`).
//! Its state lives in the state table as a JSON document (`MIGRATION#<id>` / `STATE`, see
//! [`crate::ports::MigrationStore`]) so that the operator (`ferry cutover status`), the
//! state machine's tasks and the applications being migrated all read the same truth:
//!
//! * [`GroupCutover::phase`] says where each consumer group must consume: `on_source` until
//!   the state machine asks it to stop (`stop_requested`), `moved` once its exact offsets are
//!   committed on the target (consumers start there), `rolled_back` if the migration was rolled
//!   back after it moved (consumers return to the source at the exact reverse translation).
//! * [`MigrationState::producers`] says where producers write: `source`, `paused` (stop writing
//!   to the source and buffer while the mirror drains) and `target` (write to the target only).
//!
//! ## Rules (checked here, unit- and property-tested)
//! * Consumers move before producers: producers are released only when every group is moved
//!   or reported as not stopped, and only after the approval gate.
//! * A group is moved only after it stopped on the source, and only once its committed offsets
//!   are all translatable ([`crate::translate`]); its target offsets are then exact.
//! * Rollback is possible until producers are released to the target; after that, the source
//!   no longer receives writes and there is nothing to roll back to.
//! * Reverse translation ([`translate_back`]) of a target offset committed by a moved group is
//!   exact: `translate_back(translate(c)) == c` for every mirrored source offset `c`.
//! * Terminal phases (`completed`, `rolled_back`, `failed`) never change.

use crate::progress::{Progress, Segment};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

pub mod gate;
mod hold;

pub use hold::{Hold, PauseRequest};

/// The migration's overall phase, in the order the state machine goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Topic sync and preflight checks.
    Preflight,
    /// Waiting until the mirror's lag is under the threshold.
    CatchingUp,
    /// Consumer groups are being moved to the target.
    MovingConsumers,
    /// Waiting for the operator to approve the producer cutover.
    AwaitingApproval,
    /// Producers paused; waiting for the source to go quiet and the mirror to drain.
    Draining,
    /// Mirror mappings disabled, producers released to the target.
    ProducersMoved,
    /// Done; the final report is stored.
    Completed,
    /// Rolled back before producer cutover.
    RolledBack,
    /// Failed after producer cutover (no rollback possible) or aborted.
    Failed,
}

impl Phase {
    /// Whether the phase is final.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::RolledBack | Self::Failed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Preflight => "preflight",
            Self::CatchingUp => "catching_up",
            Self::MovingConsumers => "moving_consumers",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Draining => "draining",
            Self::ProducersMoved => "producers_moved",
            Self::Completed => "completed",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
        })
    }
}

/// Where a consumer group must consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupPhase {
    /// Consume from the source (not yet asked to move).
    OnSource,
    /// Stop consuming from the source (commit, then leave the group).
    StopRequested,
    /// Stopped on the source; the final translation is being committed on the target.
    Stopped,
    /// Exact offsets are committed on the target: consume from the target.
    Moved,
    /// The group did not stop in time; it stays on the source (reported).
    NotStopped,
    /// Rollback in progress: consumers stop on the target; their offsets are then translated
    /// back and committed on the source.
    Returning,
    /// Moved back to the source at the exact reverse translation: consume from the source.
    RolledBack,
}

impl GroupPhase {
    /// Which cluster the group's consumers must use in this phase (`None`: stopped, wait).
    pub fn cluster(self) -> Option<Cluster> {
        match self {
            Self::OnSource | Self::NotStopped | Self::RolledBack => Some(Cluster::Source),
            Self::StopRequested | Self::Stopped | Self::Returning => None,
            Self::Moved => Some(Cluster::Target),
        }
    }
}

/// A cluster of the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cluster {
    /// The cluster being migrated from.
    Source,
    /// The MSK cluster being migrated to.
    Target,
}

/// Where producers must write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProducerPhase {
    /// Write to the source.
    #[default]
    Source,
    /// Do not write (buffer); the mirror drains the source.
    Paused,
    /// Write to the target only.
    Target,
}

/// One committed offset moved between clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedOffset {
    /// Committed offset on the source (next record to read).
    pub source: i64,
    /// Exact translation committed on the target.
    pub target: i64,
}

/// A consumer group's cutover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCutover {
    /// Where the group stands.
    pub phase: GroupPhase,
    /// When the group was asked to stop (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_requested_at_ms: Option<i64>,
    /// When the group moved (or was rolled back), epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_at_ms: Option<i64>,
    /// Offsets committed on the target, keyed `topic-partition` (source names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offsets: BTreeMap<String, MovedOffset>,
    /// Operator-facing note (why it did not stop, what the rollback did, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The group moves only after the operator approved it ([`gate`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gated: bool,
    /// Who approved the move of a gated group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

impl GroupCutover {
    fn new() -> Self {
        Self {
            phase: GroupPhase::OnSource,
            stop_requested_at_ms: None,
            moved_at_ms: None,
            offsets: BTreeMap::new(),
            note: None,
            gated: false,
            approved_by: None,
        }
    }
}

/// End offsets of the source's mirrored partitions at one moment (drain detection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSample {
    /// When sampled (epoch ms).
    pub at_ms: i64,
    /// End offset per `topic-partition`.
    pub ends: BTreeMap<String, i64>,
}

/// History entries a migration document keeps (see [`MigrationState::log`]): with hundreds of
/// groups the history would otherwise grow past DynamoDB's 400 KB item limit.
pub const MAX_HISTORY: usize = 300;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One line of the migration's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Epoch ms.
    pub at_ms: i64,
    /// What happened.
    pub what: String,
}

/// The migration's state document.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationState {
    /// Migration id (the state machine execution name).
    pub id: String,
    /// Overall phase.
    pub phase: Phase,
    /// Started (epoch ms).
    pub started_at_ms: i64,
    /// Last change (epoch ms).
    pub updated_at_ms: i64,
    /// Consumer groups being moved, by name.
    pub groups: BTreeMap<String, GroupCutover>,
    /// The source topics this migration moves (a *wave*): only their lag, content, drain and
    /// mappings count, so later waves keep mirroring. `None`: every mirrored topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
    /// Where producers write.
    pub producers: ProducerPhase,
    /// Task token of the pending producer approval (the state machine waits on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_token: Option<String>,
    /// Who/what approved the producer cutover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<String>,
    /// Last source end-offset sample (drain detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_source_sample: Option<SourceSample>,
    /// Why the migration failed or was rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The operator's decision the migration waits for after a failed step ([`Hold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// Task tokens of gated groups waiting for the operator's approval, by group ([`gate`];
    /// bearer credentials: never logged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_tokens: BTreeMap<String, String>,
    /// The operator asked to pause (or abort) at the next step ([`PauseRequest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_request: Option<PauseRequest>,
    /// Sequence number of the newest event recorded ([`crate::events`]).
    #[serde(default)]
    pub event_seq: u64,
    /// Events stored with the changes they describe and not yet published
    /// ([`crate::events::record`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<crate::events::MigrationEvent>,
    /// What happened, oldest first: the first entry and the newest [`MAX_HISTORY`] − 1.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// History entries dropped to keep the document small.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_dropped: u64,
}

impl fmt::Debug for MigrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The task token is a bearer credential for the execution: never logged.
        f.debug_struct("MigrationState")
            .field("id", &self.id)
            .field("phase", &self.phase)
            .field("groups", &self.groups)
            .field("producers", &self.producers)
            .field(
                "approval_token",
                &self.approval_token.as_ref().map(|_| "<redacted>"),
            )
            .field("cause", &self.cause)
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

/// A transition the rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CutoverRuleError {
    /// The migration already ended.
    #[error("migration {id} is {phase}: no further changes")]
    Terminal {
        /// Migration.
        id: String,
        /// Its final phase.
        phase: Phase,
    },
    /// The group is not part of the migration.
    #[error("group {0:?} is not part of this migration")]
    UnknownGroup(String),
    /// The transition does not apply to the group's phase.
    #[error("group {group:?} is {phase:?}: cannot {action}")]
    GroupPhase {
        /// Group.
        group: String,
        /// Its phase.
        phase: GroupPhase,
        /// What was attempted.
        action: &'static str,
    },
    /// Producers cannot be released yet.
    #[error("producers cannot move to the target: {0}")]
    ProducersNotReady(String),
    /// Rollback is no longer possible.
    #[error("rollback is not possible: producers already write to the target")]
    TooLateToRollBack,
    /// Producers already write to the target: nothing left to pause.
    #[error("too late to pause: producers already write to the target")]
    TooLateToPause,
}

impl MigrationState {
    /// A new migration of `groups`.
    pub fn new(
        id: impl Into<String>,
        groups: impl IntoIterator<Item = String>,
        now_ms: i64,
    ) -> Self {
        let mut s = Self {
            id: id.into(),
            phase: Phase::Preflight,
            started_at_ms: now_ms,
            updated_at_ms: now_ms,
            groups: groups
                .into_iter()
                .map(|g| (g, GroupCutover::new()))
                .collect(),
            topics: None,
            producers: ProducerPhase::Source,
            approval_token: None,
            approved: None,
            last_source_sample: None,
            cause: None,
            hold: None,
            group_tokens: BTreeMap::new(),
            pause_request: None,
            event_seq: 0,
            outbox: Vec::new(),
            history: Vec::new(),
            history_dropped: 0,
        };
        s.log(now_ms, "migration started");
        s
    }

    /// Appends a history line.
    pub fn log(&mut self, now_ms: i64, what: impl Into<String>) {
        self.updated_at_ms = now_ms;
        self.history.push(HistoryEntry {
            at_ms: now_ms,
            what: what.into(),
        });
        // The document is one DynamoDB item (400 KB): the history keeps its first entry and
        // the newest ones, and counts what it dropped.
        if self.history.len() > MAX_HISTORY {
            let excess = self.history.len() - MAX_HISTORY;
            self.history.drain(1..=excess);
            self.history_dropped += excess as u64;
        }
    }

    fn live(&self) -> Result<(), CutoverRuleError> {
        if self.phase.is_terminal() {
            return Err(CutoverRuleError::Terminal {
                id: self.id.clone(),
                phase: self.phase,
            });
        }
        Ok(())
    }

    /// Moves to `phase` (not backwards, not out of a terminal phase).
    pub fn enter(&mut self, phase: Phase, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.live()?;
        if phase > self.phase {
            self.phase = phase;
            self.log(now_ms, format!("phase {phase}"));
        }
        Ok(())
    }

    fn group_mut(&mut self, group: &str) -> Result<&mut GroupCutover, CutoverRuleError> {
        self.groups
            .get_mut(group)
            .ok_or_else(|| CutoverRuleError::UnknownGroup(group.to_string()))
    }

    /// Asks a group to stop on the source. Idempotent.
    pub fn request_stop(&mut self, group: &str, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.live()?;
        let g = self.group_mut(group)?;
        match g.phase {
            GroupPhase::OnSource | GroupPhase::RolledBack => {
                g.phase = GroupPhase::StopRequested;
                g.stop_requested_at_ms = Some(now_ms);
                self.log(now_ms, format!("group {group}: stop requested"));
                Ok(())
            }
            // A group reported as not stopped is asked again when the moves run again (the
            // operator resumed after a pause).
            GroupPhase::NotStopped => {
                g.phase = GroupPhase::StopRequested;
                g.stop_requested_at_ms = Some(now_ms);
                g.note = None;
                self.log(now_ms, format!("group {group}: stop requested again"));
                Ok(())
            }
            GroupPhase::StopRequested | GroupPhase::Stopped | GroupPhase::Moved => Ok(()),
            phase @ GroupPhase::Returning => Err(CutoverRuleError::GroupPhase {
                group: group.into(),
                phase,
                action: "request a stop",
            }),
        }
    }

    /// Records that the group has no members on the source any more. Idempotent.
    pub fn mark_stopped(&mut self, group: &str, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.live()?;
        let g = self.group_mut(group)?;
        match g.phase {
            GroupPhase::StopRequested => {
                g.phase = GroupPhase::Stopped;
                self.log(now_ms, format!("group {group}: stopped on the source"));
                Ok(())
            }
            GroupPhase::Stopped | GroupPhase::Moved => Ok(()),
            phase => Err(CutoverRuleError::GroupPhase {
                group: group.into(),
                phase,
                action: "mark it stopped",
            }),
        }
    }

    /// Records the exact offsets committed on the target: consumers may start there.
    pub fn mark_moved(
        &mut self,
        group: &str,
        offsets: BTreeMap<String, MovedOffset>,
        now_ms: i64,
    ) -> Result<(), CutoverRuleError> {
        self.live()?;
        let g = self.group_mut(group)?;
        match g.phase {
            GroupPhase::Stopped | GroupPhase::Moved => {
                let n = offsets.len();
                g.phase = GroupPhase::Moved;
                g.offsets = offsets;
                g.moved_at_ms = Some(now_ms);
                self.log(
                    now_ms,
                    format!("group {group}: moved to the target ({n} partitions)"),
                );
                Ok(())
            }
            phase => Err(CutoverRuleError::GroupPhase {
                group: group.into(),
                phase,
                action: "move it",
            }),
        }
    }

    /// Records that a group did not stop in time: it stays on the source.
    pub fn mark_not_stopped(
        &mut self,
        group: &str,
        note: String,
        now_ms: i64,
    ) -> Result<(), CutoverRuleError> {
        self.live()?;
        let g = self.group_mut(group)?;
        match g.phase {
            GroupPhase::OnSource | GroupPhase::StopRequested | GroupPhase::NotStopped => {
                g.phase = GroupPhase::NotStopped;
                g.note = Some(note.clone());
                self.log(now_ms, format!("group {group}: did not stop ({note})"));
                Ok(())
            }
            phase => Err(CutoverRuleError::GroupPhase {
                group: group.into(),
                phase,
                action: "report it as not stopped",
            }),
        }
    }

    /// Groups that still have to move before producers can: any group not moved and not
    /// reported as not stopped.
    pub fn groups_pending(&self) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|(_, g)| !matches!(g.phase, GroupPhase::Moved | GroupPhase::NotStopped))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Stores the approval task token and waits for the operator.
    pub fn await_approval(&mut self, token: String, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.enter(Phase::AwaitingApproval, now_ms)?;
        self.approval_token = Some(token);
        Ok(())
    }

    /// Pauses producers (after approval): the mirror drains the source.
    pub fn pause_producers(&mut self, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.live()?;
        let pending = self.groups_pending();
        if !pending.is_empty() {
            return Err(CutoverRuleError::ProducersNotReady(format!(
                "consumer groups not moved yet: {}",
                pending.join(", ")
            )));
        }
        self.enter(Phase::Draining, now_ms)?;
        self.approval_token = None;
        if self.producers == ProducerPhase::Source {
            self.producers = ProducerPhase::Paused;
            self.log(now_ms, "producers paused on the source");
        }
        Ok(())
    }

    /// Releases producers to the target (after the drain, the final validation and disabling
    /// the mirror).
    pub fn release_producers(&mut self, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.live()?;
        self.clear_hold(now_ms);
        if self.producers == ProducerPhase::Source {
            return Err(CutoverRuleError::ProducersNotReady(
                "producers were never paused on the source".into(),
            ));
        }
        self.enter(Phase::ProducersMoved, now_ms)?;
        if self.producers != ProducerPhase::Target {
            self.producers = ProducerPhase::Target;
            self.log(now_ms, "producers released to the target");
        }
        Ok(())
    }

    /// Whether a rollback is still possible.
    pub fn can_roll_back(&self) -> bool {
        !self.phase.is_terminal() && self.producers != ProducerPhase::Target
    }

    /// Starts a rollback: producers back to the source, groups asked to stop are released on
    /// the source, moved groups are asked to stop on the target (`returning`). Idempotent.
    pub fn begin_roll_back(&mut self, cause: String, now_ms: i64) -> Result<(), CutoverRuleError> {
        // The abort (or pause) request is answered by the rollback itself.
        self.pause_request = None;
        if !self.can_roll_back() {
            return Err(if self.phase.is_terminal() {
                CutoverRuleError::Terminal {
                    id: self.id.clone(),
                    phase: self.phase,
                }
            } else {
                CutoverRuleError::TooLateToRollBack
            });
        }
        for g in self.groups.values_mut() {
            match g.phase {
                GroupPhase::Moved => g.phase = GroupPhase::Returning,
                GroupPhase::StopRequested | GroupPhase::Stopped => g.phase = GroupPhase::OnSource,
                _ => {}
            }
        }
        self.producers = ProducerPhase::Source;
        self.approval_token = None;
        self.clear_hold(now_ms);
        if self.cause.is_none() {
            self.log(now_ms, format!("rolling back: {cause}"));
            self.cause = Some(cause);
        }
        Ok(())
    }

    /// Groups whose consumers must stop on the target before their offsets go back.
    pub fn groups_returning(&self) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|(_, g)| g.phase == GroupPhase::Returning)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Records that a returning group's exact source offsets are committed on the source.
    pub fn mark_returned(
        &mut self,
        group: &str,
        offsets: BTreeMap<String, MovedOffset>,
        now_ms: i64,
    ) -> Result<(), CutoverRuleError> {
        let g = self.group_mut(group)?;
        if g.phase != GroupPhase::Returning {
            return Err(CutoverRuleError::GroupPhase {
                group: group.into(),
                phase: g.phase,
                action: "return it to the source",
            });
        }
        g.phase = GroupPhase::RolledBack;
        g.offsets = offsets;
        g.moved_at_ms = Some(now_ms);
        self.log(now_ms, format!("group {group}: back on the source"));
        Ok(())
    }

    /// Ends a rollback once no group is returning any more.
    pub fn finish_roll_back(&mut self, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.live()?;
        let returning = self.groups_returning();
        if !returning.is_empty() {
            return Err(CutoverRuleError::GroupPhase {
                group: returning[0].to_string(),
                phase: GroupPhase::Returning,
                action: "finish the rollback",
            });
        }
        self.phase = Phase::RolledBack;
        self.log(now_ms, "rolled back");
        Ok(())
    }

    /// Ends the migration as failed (after producers moved, or when rollback itself failed).
    pub fn fail(&mut self, cause: String, now_ms: i64) {
        if self.phase.is_terminal() {
            return;
        }
        self.phase = Phase::Failed;
        self.approval_token = None;
        self.hold = None;
        self.log(now_ms, format!("failed: {cause}"));
        self.cause = Some(cause);
    }

    /// Completes the migration.
    pub fn complete(&mut self, now_ms: i64) -> Result<(), CutoverRuleError> {
        self.live()?;
        if self.producers != ProducerPhase::Target {
            return Err(CutoverRuleError::ProducersNotReady(
                "the migration completes only after producers moved".into(),
            ));
        }
        self.enter(Phase::Completed, now_ms)
    }
}

/// Whether the source went quiet between two samples: every partition's end offset is unchanged
/// (and no partition appeared or disappeared), and at least `min_quiet_ms` passed.
pub fn source_quiet(previous: &SourceSample, current: &SourceSample, min_quiet_ms: i64) -> bool {
    previous.ends == current.ends && current.at_ms - previous.at_ms >= min_quiet_ms
}

/// Partitions whose end offset changed between two samples (`topic-partition`).
pub fn changed_partitions(previous: &SourceSample, current: &SourceSample) -> Vec<String> {
    let mut out: Vec<String> = current
        .ends
        .iter()
        .filter(|(k, v)| previous.ends.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(
        previous
            .ends
            .keys()
            .filter(|k| !current.ends.contains_key(*k))
            .cloned(),
    );
    out
}

/// Reverse translation: the source offset a consumer must resume from on the source after it
/// committed `target_committed` on the target (next target record to read).
///
/// * inside a segment: `source_start + (t - target_start)`;
/// * at or past `progress.next_target`: `progress.next_source` (everything mirrored was read);
/// * before the first segment: the first segment's `source_start`.
///
/// For every mirrored source offset `c`, `translate_back(translate(c)) == c`; for a gap offset
/// it gives the next mirrored record (the same record the consumer would read next).
pub fn translate_back(segments: &[Segment], progress: Progress, target_committed: i64) -> i64 {
    if target_committed >= progress.next_target {
        return progress.next_source;
    }
    let after = segments.partition_point(|s| s.target_start <= target_committed);
    match after.checked_sub(1).map(|i| segments[i]) {
        None => segments
            .first()
            .map_or(progress.next_source, |s| s.source_start),
        Some(seg) => seg.source_start + (target_committed - seg.target_start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::advance;
    use crate::translate::{translate, Translation};
    use proptest::prelude::*;

    fn state() -> MigrationState {
        MigrationState::new("m1", ["a".to_string(), "b".to_string()], 1)
    }

    fn moved(s: &mut MigrationState, g: &str) {
        s.request_stop(g, 2).unwrap();
        s.mark_stopped(g, 3).unwrap();
        s.mark_moved(
            g,
            BTreeMap::from([(
                "t-0".into(),
                MovedOffset {
                    source: 5,
                    target: 5,
                },
            )]),
            4,
        )
        .unwrap();
    }

    #[test]
    fn consumers_move_before_producers() {
        let mut s = state();
        assert!(matches!(
            s.pause_producers(5),
            Err(CutoverRuleError::ProducersNotReady(_))
        ));
        moved(&mut s, "a");
        assert!(s.pause_producers(5).is_err(), "b not moved yet");
        s.mark_not_stopped("b", "still 2 members".into(), 5)
            .unwrap();
        s.await_approval("tok".into(), 6).unwrap();
        s.pause_producers(7).unwrap();
        assert_eq!(s.producers, ProducerPhase::Paused);
        assert_eq!(s.approval_token, None);
        s.release_producers(8).unwrap();
        assert!(!s.can_roll_back());
        s.complete(9).unwrap();
        assert!(s.phase.is_terminal());
        assert!(s.request_stop("a", 10).is_err());
    }

    #[test]
    fn group_transitions_are_idempotent_and_ordered() {
        let mut s = state();
        assert!(
            s.mark_moved("a", BTreeMap::new(), 2).is_err(),
            "not stopped"
        );
        assert!(s.mark_stopped("a", 2).is_err(), "not asked to stop");
        s.request_stop("a", 2).unwrap();
        s.request_stop("a", 3).unwrap();
        assert_eq!(s.groups["a"].stop_requested_at_ms, Some(2));
        s.mark_stopped("a", 3).unwrap();
        assert_eq!(s.groups["a"].phase.cluster(), None);
        s.mark_moved("a", BTreeMap::new(), 4).unwrap();
        assert_eq!(s.groups["a"].phase.cluster(), Some(Cluster::Target));
        assert!(matches!(
            s.request_stop("zzz", 1),
            Err(CutoverRuleError::UnknownGroup(_))
        ));
    }

    #[test]
    fn rollback_returns_everyone_to_the_source() {
        let mut s = state();
        moved(&mut s, "a");
        s.request_stop("b", 5).unwrap();
        s.begin_roll_back("lag never under threshold".into(), 6)
            .unwrap();
        assert_eq!(s.groups["a"].phase, GroupPhase::Returning);
        assert_eq!(s.groups["a"].phase.cluster(), None);
        assert_eq!(s.groups["b"].phase, GroupPhase::OnSource);
        assert_eq!(s.producers, ProducerPhase::Source);
        assert!(s.finish_roll_back(7).is_err(), "a still returning");
        let back = BTreeMap::from([(
            "t-0".to_string(),
            MovedOffset {
                source: 5,
                target: 5,
            },
        )]);
        s.mark_returned("a", back, 8).unwrap();
        s.finish_roll_back(9).unwrap();
        assert_eq!(s.phase, Phase::RolledBack);
        assert_eq!(s.groups["a"].phase.cluster(), Some(Cluster::Source));
        assert!(s.begin_roll_back("again".into(), 10).is_err());
    }

    #[test]
    fn no_rollback_after_producers_moved() {
        let mut s = state();
        moved(&mut s, "a");
        moved(&mut s, "b");
        s.pause_producers(5).unwrap();
        s.release_producers(6).unwrap();
        assert_eq!(
            s.begin_roll_back("x".into(), 7),
            Err(CutoverRuleError::TooLateToRollBack)
        );
    }

    #[test]
    fn debug_redacts_the_task_token() {
        let mut s = state();
        s.await_approval("secret-token-123".into(), 2).unwrap();
        assert!(!format!("{s:?}").contains("secret-token-123"));
        let json = serde_json::to_string(&s).unwrap();
        let back: MigrationState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_failed_step_after_the_pause_holds_until_the_operator_decides() {
        let mut s = state();
        s.phase = Phase::Draining;
        s.producers = ProducerPhase::Paused;
        s.hold("disable_mirror", "AccessDenied", "tok-1".into(), 10)
            .unwrap();
        let h = s.hold.clone().unwrap();
        assert_eq!(h.step, "disable_mirror");
        assert!(h.can_roll_back());
        assert!(h.next_steps(&s.id).contains("ferry cutover resume"));
        assert!(h.next_steps(&s.id).contains("ferry cutover abort"));
        assert!(!format!("{s:?}").contains("tok-1"), "{s:?}");
        assert_eq!(s.producers, ProducerPhase::Paused, "producers stay paused");
        // Redelivered: one history line, the newest token.
        s.hold("disable_mirror", "AccessDenied", "tok-2".into(), 11)
            .unwrap();
        assert_eq!(s.hold.as_ref().unwrap().token, "tok-2");
        assert_eq!(
            s.history
                .iter()
                .filter(|h| h.what.starts_with("held"))
                .count(),
            1
        );
        // Resumed: the retried step clears it.
        s.release_producers(12).unwrap();
        assert!(s.hold.is_none());
        assert_eq!(s.producers, ProducerPhase::Target);

        // Rolled back from a hold instead.
        let mut r = state();
        r.phase = Phase::Draining;
        r.producers = ProducerPhase::Paused;
        r.hold("release_producers", "boom", "t".into(), 1).unwrap();
        r.begin_roll_back("operator chose rollback".into(), 2)
            .unwrap();
        assert!(r.hold.is_none());
        assert_eq!(r.producers, ProducerPhase::Source);
        // A failed rollback can only be resumed.
        r.hold("rollback", "source down", "t2".into(), 3).unwrap();
        assert!(!r.hold.as_ref().unwrap().can_roll_back());
        assert!(!r.hold.as_ref().unwrap().next_steps("m").contains("abort"));
        // Terminal: no hold.
        r.fail("gave up".into(), 4);
        assert!(r.hold.is_none());
        assert!(r.hold("rollback", "x", "t3".into(), 5).is_err());
    }

    #[test]
    fn history_stays_bounded_and_keeps_the_start() {
        let mut s = state();
        for i in 0..1_000 {
            s.log(i, format!("entry {i}"));
        }
        assert_eq!(s.history.len(), MAX_HISTORY);
        assert_eq!(s.history[0].what, "migration started");
        assert_eq!(s.history.last().unwrap().what, "entry 999");
        assert_eq!(s.history_dropped, 1_001 - MAX_HISTORY as u64);
        assert!(serde_json::to_string(&s).unwrap().len() < 64 * 1024);
    }

    #[test]
    fn quiet_source() {
        let a = SourceSample {
            at_ms: 0,
            ends: BTreeMap::from([("t-0".into(), 5)]),
        };
        let mut b = a.clone();
        b.at_ms = 5000;
        assert!(source_quiet(&a, &b, 5000));
        assert!(!source_quiet(&a, &b, 6000));
        b.ends.insert("t-0".into(), 6);
        assert!(!source_quiet(&a, &b, 0));
        assert_eq!(changed_partitions(&a, &b), vec!["t-0".to_string()]);
    }

    proptest! {
        /// translate_back inverts translate on every mirrored offset, maps gaps to the next
        /// mirrored record, and never points past progress.
        #[test]
        fn reverse_translation_is_exact(steps in prop::collection::vec(1i64..5, 1..100), start in 0i64..50, target_base in 0i64..30) {
            let mut offsets = Vec::new();
            let mut o = start;
            for s in steps { offsets.push(o); o += s; }
            let init = Progress::initial(offsets[0], target_base);
            let (p, mut rest) = advance(init, &offsets);
            let mut segs = vec![init.segment_here()];
            segs.append(&mut rest);
            for c in offsets[0]..=p.next_source {
                let Translation::Exact(t) = translate(&segs, p, c) else { unreachable!() };
                let back = translate_back(&segs, p, t);
                let next_mirrored = offsets.iter().copied().find(|&s| s >= c).unwrap_or(p.next_source);
                prop_assert_eq!(back, next_mirrored);
                prop_assert!(back <= p.next_source);
            }
        }
    }
}
