//! Holding a migration after a failed step until the operator decides ([`Hold`]).

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

impl Hold {
    /// Whether the operator may still roll back from this hold (a failed rollback can only be
    /// resumed).
    pub fn can_roll_back(&self) -> bool {
        self.step != "rollback"
    }

    /// What the operator can do, as commands.
    pub fn next_steps(&self, id: &str) -> String {
        if self.can_roll_back() {
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
        Ok(())
    }

    /// Clears a hold when its step runs again (the operator resumed or rolled back).
    pub fn clear_hold(&mut self, now_ms: i64) {
        if let Some(h) = self.hold.take() {
            self.log(now_ms, format!("resumed after the hold at {}", h.step));
        }
    }
}
