//! Per-group gates: a group named in the execution input's `gated_groups` moves only after the
//! operator approved it (`ferry cutover approve <id> --group <g>`), for teams that want to be
//! at the keyboard when their consumers switch clusters. The state machine asks
//! ([`MigrationState::group_needs_approval`]) before each group's stop request and waits on a
//! task token ([`MigrationState::await_group_approval`]); the approval is recorded
//! ([`MigrationState::approve_group`]), so a re-run of the group moves (after a pause) does not
//! ask again.

use super::{CutoverRuleError, GroupPhase, MigrationState};

impl MigrationState {
    /// Marks `groups` as gated; every one must be part of the migration.
    pub fn gate_groups(&mut self, groups: &[String]) -> Result<(), CutoverRuleError> {
        for g in groups {
            self.groups
                .get_mut(g)
                .ok_or_else(|| CutoverRuleError::UnknownGroup(g.clone()))?
                .gated = true;
        }
        Ok(())
    }

    /// Whether `group` still waits for the operator before it may be asked to stop: gated, not
    /// approved yet, still on the source.
    pub fn group_needs_approval(&self, group: &str) -> Result<bool, CutoverRuleError> {
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| CutoverRuleError::UnknownGroup(group.to_string()))?;
        Ok(g.gated
            && g.approved_by.is_none()
            && matches!(g.phase, GroupPhase::OnSource | GroupPhase::NotStopped))
    }

    /// Stores the task token the state machine waits on for `group`'s approval.
    pub fn await_group_approval(
        &mut self,
        group: &str,
        token: String,
        now_ms: i64,
    ) -> Result<(), CutoverRuleError> {
        self.live()?;
        if !self.group_needs_approval(group)? {
            return Err(CutoverRuleError::GroupPhase {
                group: group.into(),
                phase: self.groups[group].phase,
                action: "wait for an approval (not gated, or approved already)",
            });
        }
        if self.group_tokens.insert(group.to_owned(), token).is_none() {
            self.log(
                now_ms,
                format!("group {group}: waiting for the operator's approval"),
            );
        }
        Ok(())
    }

    /// Records the operator's approval of `group`'s move and returns the task token to answer
    /// (`None` if the state machine is not waiting for it).
    pub fn approve_group(
        &mut self,
        group: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<String>, CutoverRuleError> {
        self.live()?;
        let g = self
            .groups
            .get_mut(group)
            .ok_or_else(|| CutoverRuleError::UnknownGroup(group.to_string()))?;
        if !g.gated {
            return Err(CutoverRuleError::GroupPhase {
                group: group.into(),
                phase: g.phase,
                action: "approve it (it is not gated)",
            });
        }
        g.approved_by = Some(by.to_owned());
        self.log(now_ms, format!("group {group}: move approved by {by}"));
        Ok(self.group_tokens.remove(group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gated_group_waits_once_and_remembers_its_approval() {
        let mut s = MigrationState::new("m", ["a".to_owned(), "b".to_owned()], 0);
        s.gate_groups(&["a".to_owned()]).unwrap();
        assert!(s.gate_groups(&["nope".to_owned()]).is_err());
        assert!(s.group_needs_approval("a").unwrap());
        assert!(!s.group_needs_approval("b").unwrap());
        assert!(s.await_group_approval("b", "t".into(), 1).is_err());
        s.await_group_approval("a", "t".into(), 1).unwrap();
        assert_eq!(
            s.approve_group("a", "alice", 2).unwrap().as_deref(),
            Some("t")
        );
        assert!(s.group_tokens.is_empty());
        assert!(!s.group_needs_approval("a").unwrap(), "approved once");
        assert!(s.approve_group("b", "alice", 3).is_err(), "not gated");
        let json = serde_json::to_string(&s).unwrap();
        let back: MigrationState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.groups["a"].approved_by.as_deref(), Some("alice"));
    }
}
