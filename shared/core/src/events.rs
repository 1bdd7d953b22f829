//! Migration events: what applications learn without polling the state table.
//!
//! Every change of a migration's state document that an application may act on becomes one
//! [`MigrationEvent`]: the migration's phase, where producers write, each consumer group's
//! phase, a hold and its end ([`changes`], a pure diff of two documents). The cutover function
//! appends them to the document's outbox in the same conditional write as the change itself,
//! then publishes them (EventBridge on AWS) and removes what was published, so an event is
//! published **at least once** even when publishing fails (the next task retries) and never
//! for a change that was not stored. Consumers deduplicate on `event_id`
//! (`<migration id>/<seq>`, `seq` increasing per migration).
//!
//! EventBridge shape: `source` = [`EVENT_SOURCE`], `detail-type` = [`MigrationEvent::detail_type`],
//! `detail` = the event as JSON:
//!
//! ```json
//! {"event_id":"m7/12","migration_id":"m7","seq":12,"at_ms":1764110000000,
//!  "phase":"moving_consumers","producers":"source",
//!  "change":"group_changed","group":"billing","from":"stop_requested","to":"moved"}
//! ```
//!
//! | `change` | `detail-type` | fields |
//! |---|---|---|
//! | `started` | `Ferry Migration Started` | `groups` |
//! | `phase_changed` | `Ferry Migration Phase Changed` | `from`, `to` |
//! | `producers_changed` | `Ferry Producers Changed` | `from`, `to` (`source` · `paused` · `target`) |
//! | `group_changed` | `Ferry Consumer Group Changed` | `group`, `from` (absent for a new group), `to` |
//! | `held` | `Ferry Migration Held` | `step`, `cause` |
//! | `resumed` | `Ferry Migration Resumed` | `step` |

use crate::migration::{GroupPhase, MigrationState, Phase, ProducerPhase};
use serde::{Deserialize, Serialize};

/// EventBridge `source` of every Ferry migration event.
pub const EVENT_SOURCE: &str = "ferry.migration";

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The migration was created.
    Started {
        /// Groups it moves.
        groups: Vec<String>,
    },
    /// The migration entered a phase.
    PhaseChanged {
        /// Previous phase.
        from: Phase,
        /// New phase.
        to: Phase,
    },
    /// Producers must write elsewhere (or pause).
    ProducersChanged {
        /// Before.
        from: ProducerPhase,
        /// Now.
        to: ProducerPhase,
    },
    /// A consumer group must consume elsewhere (or stop).
    GroupChanged {
        /// Group.
        group: String,
        /// Before (`None`: the group was not part of the migration before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<GroupPhase>,
        /// Now.
        to: GroupPhase,
    },
    /// A step failed and the migration waits for the operator.
    Held {
        /// The failed step.
        step: String,
        /// What went wrong.
        cause: String,
    },
    /// The operator resumed (or rolled back) after a hold.
    Resumed {
        /// The step that had failed.
        step: String,
    },
}

/// One published event (see the module docs for the JSON shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationEvent {
    /// `<migration id>/<seq>`: the deduplication key.
    pub event_id: String,
    /// Migration id.
    pub migration_id: String,
    /// Increasing per migration.
    pub seq: u64,
    /// When the change was stored (epoch ms).
    pub at_ms: i64,
    /// The migration's phase after the change.
    pub phase: Phase,
    /// Where producers write after the change.
    pub producers: ProducerPhase,
    /// The change.
    #[serde(flatten)]
    pub change: Change,
}

impl MigrationEvent {
    /// The EventBridge `detail-type` (what rules match on).
    pub fn detail_type(&self) -> &'static str {
        match self.change {
            Change::Started { .. } => "Ferry Migration Started",
            Change::PhaseChanged { .. } => "Ferry Migration Phase Changed",
            Change::ProducersChanged { .. } => "Ferry Producers Changed",
            Change::GroupChanged { .. } => "Ferry Consumer Group Changed",
            Change::Held { .. } => "Ferry Migration Held",
            Change::Resumed { .. } => "Ferry Migration Resumed",
        }
    }
}

/// The changes from `before` to `after` (`before = None`: `after` was just created), in a
/// fixed order: start, phase, groups (by name), producers, hold.
pub fn changes(before: Option<&MigrationState>, after: &MigrationState) -> Vec<Change> {
    let mut out = Vec::new();
    let Some(before) = before else {
        out.push(Change::Started {
            groups: after.groups.keys().cloned().collect(),
        });
        return out;
    };
    if before.phase != after.phase {
        out.push(Change::PhaseChanged {
            from: before.phase,
            to: after.phase,
        });
    }
    for (name, g) in &after.groups {
        let from = before.groups.get(name).map(|b| b.phase);
        if from != Some(g.phase) {
            out.push(Change::GroupChanged {
                group: name.clone(),
                from,
                to: g.phase,
            });
        }
    }
    if before.producers != after.producers {
        out.push(Change::ProducersChanged {
            from: before.producers,
            to: after.producers,
        });
    }
    match (&before.hold, &after.hold) {
        (None, Some(h)) => out.push(Change::Held {
            step: h.step.clone(),
            cause: h.cause.clone(),
        }),
        (Some(h), None) => out.push(Change::Resumed {
            step: h.step.clone(),
        }),
        (Some(a), Some(b)) if a.step != b.step => {
            out.push(Change::Resumed {
                step: a.step.clone(),
            });
            out.push(Change::Held {
                step: b.step.clone(),
                cause: b.cause.clone(),
            });
        }
        _ => {}
    }
    out
}

/// Appends the changes from `before` to `after` to `after`'s outbox as events, numbered after
/// `after.event_seq`. Call it right before storing `after`.
pub fn record(before: Option<&MigrationState>, after: &mut MigrationState, now_ms: i64) {
    for change in changes(before, after) {
        after.event_seq += 1;
        let seq = after.event_seq;
        after.outbox.push(MigrationEvent {
            event_id: format!("{}/{seq}", after.id),
            migration_id: after.id.clone(),
            seq,
            at_ms: now_ms,
            phase: after.phase,
            producers: after.producers,
            change,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> MigrationState {
        MigrationState::new("m1", ["a".to_string(), "b".to_string()], 1)
    }

    #[test]
    fn every_transition_an_application_acts_on_is_an_event() {
        let a = state();
        let mut outbox = a.clone();
        record(None, &mut outbox, 1);
        assert_eq!(
            outbox.outbox[0].change,
            Change::Started {
                groups: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(outbox.outbox[0].detail_type(), "Ferry Migration Started");

        let mut b = a.clone();
        b.enter(Phase::MovingConsumers, 2).unwrap();
        b.request_stop("a", 2).unwrap();
        b.producers = ProducerPhase::Paused;
        let c = changes(Some(&a), &b);
        assert_eq!(
            c,
            vec![
                Change::PhaseChanged {
                    from: Phase::Preflight,
                    to: Phase::MovingConsumers
                },
                Change::GroupChanged {
                    group: "a".into(),
                    from: Some(GroupPhase::OnSource),
                    to: GroupPhase::StopRequested
                },
                Change::ProducersChanged {
                    from: ProducerPhase::Source,
                    to: ProducerPhase::Paused
                },
            ]
        );
        let mut held = b.clone();
        held.hold("disable_mirror", "denied", "tok".into(), 3)
            .unwrap();
        assert_eq!(
            changes(Some(&b), &held),
            vec![Change::Held {
                step: "disable_mirror".into(),
                cause: "denied".into()
            }]
        );
        let mut resumed = held.clone();
        resumed.clear_hold(4);
        assert_eq!(
            changes(Some(&held), &resumed),
            vec![Change::Resumed {
                step: "disable_mirror".into()
            }]
        );
        assert!(
            changes(Some(&resumed), &resumed).is_empty(),
            "no change, no event"
        );
    }

    #[test]
    fn events_are_numbered_and_serialize_flat_without_the_token() {
        let a = state();
        let mut b = a.clone();
        b.hold("release_producers", "boom", "secret-token".into(), 5)
            .unwrap();
        b.event_seq = 7;
        record(Some(&a), &mut b, 5);
        let e = &b.outbox[0];
        assert_eq!(e.seq, 8);
        assert_eq!(e.event_id, "m1/8");
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["change"], "held");
        assert_eq!(json["step"], "release_producers");
        assert_eq!(json["phase"], "preflight");
        assert!(!json.to_string().contains("secret-token"));
        let back: MigrationEvent = serde_json::from_value(json).unwrap();
        assert_eq!(&back, e);
    }
}
