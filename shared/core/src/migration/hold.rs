//! Holding a migration after a failed step, or at the operator's request, until the operator
//! decides ([`Hold`], [`PauseRequest`]).

use super::{CutoverRuleError, MigrationState};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A step that failed after producers were paused (or while rolling back), holding the
/// migration until the operator decides: producers stay paused on the source, nothing is lost,
/// and `ferry cutover status` says what failed and how to go on.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The state-machine step that failed and is retried on resume: `disable_mirror`,
    /// `release_producers` or `rollback`.
    pub step: String,
    /// What went wrong.
    pub cause: String,
    /// Since when (epoch ms).
    pub since_ms: i64,
    /// Task token the state machine waits on (a bearer credential: never logged).
    pub token: String,
}

impl fmt::Debug for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold")
            .field("step", &self.step)
            .field("cause", &self.cause)
            .field("since_ms", &self.since_ms)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The operator asked to pause (or abort) the migration at its next step, before producers are
/// released (`ferry cutover pause|abort`). A step that honours it fails with `Ferry.Paused`
/// (the state machine catches that into its hold) or `Ferry.Aborted`. Steps that start a new piece of work (a group's stop,
/// the producer pause, the drain, the lag and content checks) honour it: a pause holds the
/// migration there ([`Hold`], resumed with `ferry cutover resume`), an abort rolls back exactly.
/// Work already under way finishes first (a group whose consumers were asked to stop is moved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseRequest {
    /// Who asked, and why.
    pub by: String,
    /// Roll back instead of holding.
    #[serde(default)]
    pub abort: bool,
    /// When (epoch ms).
    pub at_ms: i64,
}

impl Hold {
    /// Whether the operator may still roll back from this hold (a failed rollback can only be
    /// resumed).
    pub fn can_roll_back(&self) -> bool {
        self.step != "rollback"
    }

    /// Whether the operator paused the migration here (rather than a step failing).
    pub fn is_pause(&self) -> bool {
        self.cause
            .starts_with(crate::failure::FailureKind::Paused.error_type())
    }

    /// What the operator can do, as commands.
    pub fn next_steps(&self, id: &str) -> String {
        if self.is_pause() {
            format!(
                "continue: `ferry cutover resume {id}`; or roll back (moved groups return to the source): `ferry cutover abort {id}`"
            )
        } else if self.can_roll_back() {
            format!(
                "retry the failed step: `ferry cutover resume {id}`; or roll back (producers and moved groups return to the source): `ferry cutover abort {id}`"
            )
        } else {
            format!("retry the rollback: `ferry cutover resume {id}`")
        }
    }
}

impl MigrationState {
    /// Holds the migration after `step` failed: the state machine waits on `token` for the
    /// operator ([`Hold`]). Producers stay where they are (paused on the source at the latest
    /// step a hold can follow). Holding again (a redelivered task) replaces the token.
    pub fn hold(
        &mut self,
        step: impl Into<String>,
        cause: impl Into<String>,
        token: String,
        now_ms: i64,
    ) -> Result<(), CutoverRuleError> {
        self.live()?;
        let (step, cause) = (step.into(), cause.into());
        if self.hold.as_ref().is_none_or(|h| h.step != step) {
            self.log(
                now_ms,
                format!("held after {step} failed: {cause} (waiting for the operator)"),
            );
        }
        self.hold = Some(Hold {
            step,
            cause,
            since_ms: now_ms,
            token,
        });
        // A pause request ends in this hold (or is overtaken by it).
        self.pause_request = None;
        Ok(())
    }

    /// Records the operator's request to pause (`abort`: roll back) at the next step. Only
    /// before producers write to the target; a second request replaces the first.
    pub fn request_pause(
        &mut self,
        by: impl Into<String>,
        abort: bool,
        now_ms: i64,
    ) -> Result<(), CutoverRuleError> {
        self.live()?;
        if self.producers == super::ProducerPhase::Target {
            return Err(if abort {
                CutoverRuleError::TooLateToRollBack
            } else {
                CutoverRuleError::TooLateToPause
            });
        }
        let by = by.into();
        self.log(
            now_ms,
            format!(
                "{} requested by {by}",
                if abort { "abort" } else { "pause" }
            ),
        );
        self.pause_request = Some(PauseRequest {
            by,
            abort,
            at_ms: now_ms,
        });
        Ok(())
    }

    /// Withdraws a pause request that no step honoured yet; `true` if there was one.
    pub fn cancel_pause(&mut self, now_ms: i64) -> bool {
        match self.pause_request.take() {
            Some(p) => {
                self.log(now_ms, format!("pause requested by {} withdrawn", p.by));
                true
            }
            None => false,
        }
    }

    /// Clears a hold when its step runs again (the operator resumed or rolled back).
    pub fn clear_hold(&mut self, now_ms: i64) {
        if let Some(h) = self.hold.take() {
            self.log(now_ms, format!("resumed after the hold at {}", h.step));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::ProducerPhase;

    #[test]
    fn a_pause_ends_in_its_hold_and_never_after_producers_moved() {
        let mut s = MigrationState::new("m", ["g".to_owned()], 0);
        s.request_pause("ops: change freeze", false, 1).unwrap();
        assert_eq!(s.pause_request.as_ref().map(|p| p.abort), Some(false));
        s.hold(
            "move_groups",
            "Ferry.Paused: paused by ops",
            "token".into(),
            2,
        )
        .unwrap();
        assert!(s.pause_request.is_none(), "the hold consumed the request");
        let hold = s.hold.clone().unwrap();
        assert!(hold.is_pause() && hold.can_roll_back());
        assert!(hold
            .next_steps("m")
            .starts_with("continue: `ferry cutover resume m`"));
        s.request_pause("ops", true, 3).unwrap();
        assert!(s.cancel_pause(4));
        assert!(!s.cancel_pause(5));
        s.producers = ProducerPhase::Target;
        assert!(matches!(
            s.request_pause("ops", false, 6),
            Err(CutoverRuleError::TooLateToPause)
        ));
        assert!(matches!(
            s.request_pause("ops", true, 6),
            Err(CutoverRuleError::TooLateToRollBack)
        ));
    }
}
