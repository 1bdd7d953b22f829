//! The cutover tasks over the ports. Each task loads the migration's state document, checks the
//! rules of [`ferry_core::migration`], does its I/O, and saves the document with optimistic
//! concurrency (a conflicting save is retried on the fresh document).
//!
//! | task (`action`) | what it does | typed failures |
//! |---|---|---|
//! | `start` | preflight (topic sync + checks), creates the migration with the groups to move | `Ferry.TargetNotReady` (preflight errors) |
//! | `enter_phase` | records the phase the state machine entered | |
//! | `request_stop` | asks a group's consumers to stop on the source | |
//! | `check_stopped` | is the group empty on the source? (`stopped`, `waited_ms`) | |
//! | `move_group` | final exact translation, commit on the target, read back and verify | `Ferry.NotReady` (mirror behind the group), `Ferry.TargetNotReady` (group active on the target), `Ferry.TargetIntegrity` (read-back differs) |
//! | `group_not_stopped` | reports a group that did not stop in time; it stays on the source | |
//! | `await_approval` | stores the producer-approval task token (`ferry cutover approve`) | |
//! | `pause_producers` | producers stop writing to the source | `Ferry.NotReady` (groups not moved) |
//! | `check_source_quiet` | samples source end offsets; quiet when unchanged for `FERRY_SOURCE_QUIET_MS` | |
//! | `disable_mirror` | disables the mirror function's event source mappings | `Ferry.Transient` |
//! | `release_producers` | producers write to the target | |
//! | `complete` | final report (stored as report `final`) | |
//! | `begin_rollback` / `finish_rollback` | moved groups stop on the target, exact reverse translation committed on the source | `Ferry.NotReady` (group still active on the target) |
//! | `fail` | records a failure after which rollback is impossible | |

use crate::error::CutoverError;
use crate::report::{
    final_report, final_summary, first, first_error, preflight_summary, rollback_report,
};
use crate::request::{describe, Task};
use crate::telemetry::CutoverEvent;
use ferry_core::checkpoint::Checkpoint;
use ferry_core::events;
use ferry_core::migration::{
    changed_partitions, source_quiet, translate_back, GroupPhase, MigrationState, MovedOffset,
    Phase, SourceSample,
};
use ferry_core::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    CheckpointStore, MappingControl, MigrationEvents, MigrationStore, NoEvents, ProgressStore,
    SegmentStore, SourceEndOffsets, SourceGroups, SourceTopics, TargetGroups,
};
use ferry_core::translate::{translate, Translation};
use ferry_core::TopicPartition;
use ferry_lambda::{now_ms, FailureError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

/// Runs a preflight (topic sync and checks) and returns its JSON report and whether it passed.
pub trait Preflight: Send + Sync {
    /// Runs it over `topics` (a wave's source topics), or every mirrored topic (`None`).
    fn preflight(
        &self,
        topics: Option<&[String]>,
    ) -> impl Future<Output = Result<(Value, bool), CutoverError>> + Send;
}

/// A preflight that does nothing (unit tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPreflight;

impl Preflight for NoPreflight {
    async fn preflight(&self, _topics: Option<&[String]>) -> Result<(Value, bool), CutoverError> {
        Ok((json!({"ok": true, "skipped": true}), true))
    }
}

/// Settings of the cutover tasks.
#[derive(Debug, Clone)]
pub struct CutoverSettings {
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Mirrored topics.
    pub topics: TopicFilter,
    /// Groups moved by default.
    pub groups: GroupFilter,
    /// Function whose event source mappings are disabled at the end.
    pub mirror_function: String,
    /// How long source end offsets must stay unchanged to count as quiet.
    pub quiet_ms: i64,
}

/// The cutover tasks, generic over the ports.
#[derive(Debug)]
pub struct CutoverHandler<S, SG, TG, M, P, E = NoEvents> {
    pub(crate) store: S,
    source: SG,
    target: TG,
    mappings: M,
    preflight: P,
    settings: CutoverSettings,
    pub(crate) events: E,
}

fn tp_key(tp: &TopicPartition) -> String {
    format!("{}-{}", tp.topic, tp.partition)
}

impl<S, SG, TG, M, P> CutoverHandler<S, SG, TG, M, P, NoEvents> {
    /// Builds the handler (publishing no events; see [`CutoverHandler::with_events`]).
    /// `source` also commits offsets on the source (rollback only).
    pub fn new(
        store: S,
        source: SG,
        target: TG,
        mappings: M,
        preflight: P,
        settings: CutoverSettings,
    ) -> Self {
        Self {
            store,
            source,
            target,
            mappings,
            preflight,
            settings,
            events: NoEvents,
        }
    }

    /// Publishes the migration's events ([`ferry_core::events`]) through `events`.
    pub fn with_events<E2: MigrationEvents>(
        self,
        events: E2,
    ) -> CutoverHandler<S, SG, TG, M, P, E2> {
        CutoverHandler {
            store: self.store,
            source: self.source,
            target: self.target,
            mappings: self.mappings,
            preflight: self.preflight,
            settings: self.settings,
            events,
        }
    }
}

impl<S, SG, TG, M, P, E> CutoverHandler<S, SG, TG, M, P, E>
where
    S: MigrationStore + ProgressStore + SegmentStore + CheckpointStore,
    SG: SourceGroups + SourceTopics + TargetGroups + SourceEndOffsets,
    TG: TargetGroups,
    M: MappingControl,
    P: Preflight,
    E: MigrationEvents,
{
    /// The state store (tests inspect it).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs one task.
    pub async fn run(&self, task: Task) -> Result<Value, CutoverError> {
        let label = task.as_str();
        let result = self.dispatch(task).await;
        match &result {
            Ok(output) => CutoverEvent::TaskDone {
                task: label,
                output,
            }
            .emit(),
            Err(e) => CutoverEvent::TaskFailed {
                task: label,
                kind: e.kind(),
                message: &e.message(),
            }
            .emit(),
        }
        result
    }

    async fn dispatch(&self, task: Task) -> Result<Value, CutoverError> {
        match task {
            Task::Start {
                migration_id,
                groups,
                topics,
                gated_groups,
            } => {
                self.start(
                    &migration_id,
                    groups,
                    topics,
                    gated_groups.unwrap_or_default(),
                )
                .await
            }
            Task::GroupGate {
                migration_id,
                group,
            } => {
                let (s, _) = self.load(&migration_id).await?;
                let needs_approval = s.group_needs_approval(&group)?;
                Ok(json!({"group": group, "needs_approval": needs_approval}))
            }
            Task::AwaitGroupApproval {
                migration_id,
                group,
                task_token,
            } => {
                self.update(&migration_id, |s| {
                    Ok(s.await_group_approval(&group, task_token.clone(), now_ms())?)
                })
                .await?;
                CutoverEvent::AwaitingGroupApproval {
                    migration_id: &migration_id,
                    group: &group,
                }
                .emit();
                Ok(json!({"group": group, "awaiting_approval": true}))
            }
            Task::EnterPhase {
                migration_id,
                phase,
            } => {
                let s = self
                    .update(&migration_id, |s| Ok(s.enter(phase, now_ms())?))
                    .await?;
                Ok(json!({"phase": s.phase}))
            }
            Task::RequestStop {
                migration_id,
                group,
            } => {
                self.honour_pause(&migration_id, "request_stop").await?;
                self.update(&migration_id, |s| {
                    s.enter(Phase::MovingConsumers, now_ms())?;
                    Ok(s.request_stop(&group, now_ms())?)
                })
                .await?;
                Ok(json!({"group": group, "phase": "stop_requested"}))
            }
            Task::CheckStopped {
                migration_id,
                group,
            } => self.check_stopped(&migration_id, &group).await,
            Task::MoveGroup {
                migration_id,
                group,
            } => self.move_group(&migration_id, &group).await,
            Task::GroupNotStopped {
                migration_id,
                group,
            } => {
                let state = self.source.group_state(&group).await?;
                let note = format!("still active on the source ({state:?})");
                self.update(&migration_id, |s| {
                    Ok(s.mark_not_stopped(&group, note.clone(), now_ms())?)
                })
                .await?;
                CutoverEvent::GroupNotStopped {
                    group: &group,
                    note: &note,
                }
                .emit();
                Ok(json!({"group": group, "phase": "not_stopped", "note": note}))
            }
            Task::AwaitApproval {
                migration_id,
                task_token,
            } => {
                self.update(&migration_id, |s| {
                    Ok(s.await_approval(task_token.clone(), now_ms())?)
                })
                .await?;
                CutoverEvent::AwaitingApproval {
                    migration_id: &migration_id,
                }
                .emit();
                Ok(json!({"awaiting_approval": true}))
            }
            Task::PauseProducers { migration_id } => {
                self.honour_pause(&migration_id, "pause_producers").await?;
                self.update(&migration_id, |s| Ok(s.pause_producers(now_ms())?))
                    .await?;
                Ok(json!({"producers": "paused"}))
            }
            Task::CheckSourceQuiet { migration_id } => {
                self.honour_pause(&migration_id, "check_source_quiet")
                    .await?;
                self.check_quiet(&migration_id).await
            }
            Task::DisableMirror { migration_id } => self.disable_mirror(&migration_id).await,
            Task::ReleaseProducers { migration_id } => {
                self.update(&migration_id, |s| Ok(s.release_producers(now_ms())?))
                    .await?;
                Ok(json!({"producers": "target"}))
            }
            Task::Complete { migration_id } => self.complete(&migration_id).await,
            Task::BeginRollback {
                migration_id,
                error,
            } => {
                let cause = describe(&error);
                let s = self
                    .update(&migration_id, |s| {
                        Ok(s.begin_roll_back(cause.clone(), now_ms())?)
                    })
                    .await?;
                CutoverEvent::RollbackBegun {
                    migration_id: &migration_id,
                    cause: &cause,
                }
                .emit();
                Ok(json!({"cause": cause, "returning": s.groups_returning()}))
            }
            Task::FinishRollback { migration_id } => self.finish_rollback(&migration_id).await,
            Task::Hold {
                migration_id,
                step,
                error,
                task_token,
            } => {
                let cause = describe(&error);
                let s = self
                    .update(&migration_id, |s| {
                        Ok(s.hold(step.clone(), cause.clone(), task_token.clone(), now_ms())?)
                    })
                    .await?;
                let next = s
                    .hold
                    .as_ref()
                    .map(|h| h.next_steps(&migration_id))
                    .unwrap_or_default();
                CutoverEvent::Held {
                    migration_id: &migration_id,
                    step: &step,
                    cause: &cause,
                }
                .emit();
                Ok(json!({"held": step, "cause": cause, "next": next}))
            }
            Task::Fail {
                migration_id,
                error,
            } => {
                let cause = describe(&error);
                let s = self
                    .update(&migration_id, |s| {
                        s.fail(cause.clone(), now_ms());
                        Ok(())
                    })
                    .await?;
                self.store
                    .put_report(&migration_id, "final", &serde_json::to_string(&s)?)
                    .await?;
                Ok(json!({"phase": "failed", "cause": cause}))
            }
        }
    }

    async fn mirrored_topics(&self) -> Result<Vec<String>, CutoverError> {
        Ok(self
            .source
            .list_topics()
            .await?
            .into_iter()
            .filter(|t| self.settings.topics.matches(t))
            .collect())
    }

    /// Fails with `Ferry.Paused` / `Ferry.Aborted` when the operator asked to pause or abort
    /// before `step` ([`ferry_core::migration::PauseRequest`]).
    async fn honour_pause(&self, id: &str, step: &'static str) -> Result<(), CutoverError> {
        let (state, _) = self.load(id).await?;
        match state.pause_request {
            Some(p) if p.abort => Err(CutoverError::Aborted { by: p.by, step }),
            Some(p) => Err(CutoverError::Paused { by: p.by, step }),
            None => Ok(()),
        }
    }

    /// The source topics migration `id` moves: its wave's, or every mirrored topic.
    async fn migration_topics(&self, id: &str) -> Result<Vec<String>, CutoverError> {
        let (state, _) = self.load(id).await?;
        match state.topics {
            Some(topics) => Ok(topics),
            None => self.mirrored_topics().await,
        }
    }

    async fn start(
        &self,
        id: &str,
        groups: Option<Vec<String>>,
        wave: Option<Vec<String>>,
        gated: Vec<String>,
    ) -> Result<Value, CutoverError> {
        if let Some(existing) = self.store.load_migration(id).await? {
            // A redelivered start (state machine retry): report what exists.
            let state: MigrationState = serde_json::from_str(&existing.value)?;
            return Ok(json!({
                "migration_id": id,
                "groups": state.groups.keys().collect::<Vec<_>>(),
                "resumed": true,
            }));
        }
        let mirrored = self.mirrored_topics().await?;
        let wave = match wave {
            Some(mut names) => {
                names.sort();
                names.dedup();
                let unknown: Vec<&String> =
                    names.iter().filter(|t| !mirrored.contains(t)).collect();
                if names.is_empty() || !unknown.is_empty() {
                    return Err(CutoverError::BadInput(format!(
                        "topics {unknown:?} of the wave are not mirrored topics of this stack (they must exist on the source and match FERRY_TOPICS_INCLUDE/EXCLUDE); an empty list is not a wave"
                    )));
                }
                Some(names)
            }
            None => None,
        };
        let (preflight, ok) = self.preflight.preflight(wave.as_deref()).await?;
        self.store
            .put_report(id, "preflight", &preflight.to_string())
            .await?;
        if !ok {
            return Err(CutoverError::PreflightFailed(first_error(&preflight)));
        }
        let topics = wave.clone().unwrap_or(mirrored);
        let groups = match groups {
            Some(g) => g,
            None => {
                let mut out = Vec::new();
                for g in self.source.list_groups().await? {
                    if self.settings.groups.matches(&g)
                        && !self.source.committed_offsets(&g, &topics).await?.is_empty()
                    {
                        out.push(g);
                    }
                }
                out.sort();
                out
            }
        };
        let mut state = MigrationState::new(id, groups.clone(), now_ms());
        state.topics = wave;
        state.gate_groups(&gated).map_err(|e| {
            CutoverError::BadInput(format!(
                "gated_groups: {e} (a gated group must be one of the groups moved: {groups:?})"
            ))
        })?;
        state.enter(Phase::CatchingUp, now_ms())?;
        events::record(None, &mut state, now_ms());
        self.store
            .save_migration(id, &serde_json::to_string(&state)?, None)
            .await?;
        self.publish_events(id).await;
        CutoverEvent::MigrationStarted {
            migration_id: id,
            groups: &groups,
            topics: topics.len(),
        }
        .emit();
        // The preflight report is stored (report `preflight`); the result carries its summary.
        Ok(json!({
            "migration_id": id,
            "groups": groups,
            "topics": topics,
            "preflight": preflight_summary(&preflight),
        }))
    }

    async fn check_stopped(&self, id: &str, group: &str) -> Result<Value, CutoverError> {
        let state = self.source.group_state(group).await?;
        let stopped = state.accepts_commits();
        let s = if stopped {
            self.update(id, |s| Ok(s.mark_stopped(group, now_ms())?))
                .await?
        } else {
            self.load(id).await?.0
        };
        let waited_ms = s
            .groups
            .get(group)
            .and_then(|g| g.stop_requested_at_ms)
            .map_or(0, |t| now_ms() - t);
        Ok(json!({"group": group, "stopped": stopped, "state": state, "waited_ms": waited_ms}))
    }

    /// Exact translation of the group's committed source offsets; `NotReady` while the mirror
    /// has not reached one of them.
    async fn translate_group(
        &self,
        id: &str,
        group: &str,
    ) -> Result<Vec<(TopicPartition, Checkpoint)>, CutoverError> {
        let topics = self.migration_topics(id).await?;
        let committed = self.source.committed_offsets(group, &topics).await?;
        let tps: Vec<TopicPartition> = committed.keys().cloned().collect();
        let progress = self.store.load_progress(&tps).await?;
        let mut out = Vec::with_capacity(tps.len());
        let mut behind = Vec::new();
        for tp in tps {
            let c = committed[&tp];
            let Some(p) = progress.get(&tp).copied() else {
                behind.push(format!("{tp} (nothing mirrored yet)"));
                continue;
            };
            let segments = self.store.segments_around(&tp, c).await?;
            match translate(&segments, p, c) {
                Translation::Exact(t) => out.push((
                    tp,
                    Checkpoint {
                        source_offset: c,
                        target_offset: t,
                    },
                )),
                Translation::NotYetMirrored { lag } => {
                    behind.push(format!("{tp} ({lag} offsets)"));
                }
            }
        }
        if !behind.is_empty() {
            behind.sort();
            return Err(CutoverError::MirrorBehindGroup {
                group: group.to_string(),
                partitions: behind,
            });
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn move_group(&self, id: &str, group: &str) -> Result<Value, CutoverError> {
        let (state, _) = self.load(id).await?;
        let g = state.groups.get(group).ok_or_else(|| {
            CutoverError::Rule(ferry_core::migration::CutoverRuleError::UnknownGroup(
                group.into(),
            ))
        })?;
        if g.phase == GroupPhase::Moved {
            return Ok(
                json!({"group": group, "moved": true, "partitions": g.offsets.len(), "repeated": true}),
            );
        }
        if !self.source.group_state(group).await?.accepts_commits() {
            return Err(CutoverError::GroupRestarted(group.to_string()));
        }
        let plan = self.translate_group(id, group).await?;
        let target_state = self.target.group_state(group).await?;
        if !target_state.accepts_commits() {
            return Err(CutoverError::TargetGroupActive {
                group: group.to_string(),
                state: format!("{target_state:?}"),
            });
        }
        let wanted: Vec<(TopicPartition, i64)> = plan
            .iter()
            .map(|(tp, cp)| {
                (
                    TopicPartition::new(self.settings.policy.target_topic(&tp.topic), tp.partition),
                    cp.target_offset,
                )
            })
            .collect();
        let target_topics: Vec<String> = wanted
            .iter()
            .map(|(tp, _)| tp.topic.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.target.commit_offsets(group, &wanted).await?;
        // Read back: the target group must now resume exactly at the translation.
        let committed = self.target.committed(group, &target_topics).await?;
        let wrong: Vec<String> = wanted
            .iter()
            .filter(|(tp, o)| committed.get(tp) != Some(o))
            .map(|(tp, o)| format!("{tp}: wanted {o}, found {:?}", committed.get(tp)))
            .collect();
        if !wrong.is_empty() {
            return Err(CutoverError::VerifyFailed {
                group: group.to_string(),
                detail: wrong.join("; "),
            });
        }
        self.store.save_checkpoints(group, &plan).await?;
        let offsets: BTreeMap<String, MovedOffset> = plan
            .iter()
            .map(|(tp, cp)| {
                (
                    tp_key(tp),
                    MovedOffset {
                        source: cp.source_offset,
                        target: cp.target_offset,
                    },
                )
            })
            .collect();
        self.update(id, |s| {
            Ok(s.mark_moved(group, offsets.clone(), now_ms())?)
        })
        .await?;
        CutoverEvent::GroupMoved {
            group,
            partitions: offsets.len(),
        }
        .emit();
        // The offsets are in the state document; the result stays small (Map results).
        Ok(json!({"group": group, "moved": true, "partitions": offsets.len()}))
    }

    async fn check_quiet(&self, id: &str) -> Result<Value, CutoverError> {
        let topics = self.migration_topics(id).await?;
        let ends = self.source.end_offsets(&topics).await?;
        let sample = SourceSample {
            at_ms: now_ms(),
            ends: ends.iter().map(|(tp, o)| (tp_key(tp), *o)).collect(),
        };
        let quiet_ms = self.settings.quiet_ms;
        let mut verdict = (false, Vec::new());
        self.update(id, |s| {
            match &s.last_source_sample {
                Some(prev) if prev.ends == sample.ends => {
                    // Unchanged: keep the older sample so the quiet period accumulates.
                    verdict = (source_quiet(prev, &sample, quiet_ms), Vec::new());
                }
                prev => {
                    verdict = (
                        false,
                        prev.as_ref()
                            .map(|p| changed_partitions(p, &sample))
                            .unwrap_or_default(),
                    );
                    s.last_source_sample = Some(sample.clone());
                }
            }
            Ok(())
        })
        .await?;
        let (quiet, mut changed) = verdict;
        changed.truncate(20);
        Ok(
            json!({"quiet": quiet, "partitions": sample.ends.len(), "changed": changed, "quiet_ms": quiet_ms}),
        )
    }

    async fn disable_mirror(&self, id: &str) -> Result<Value, CutoverError> {
        let function = &self.settings.mirror_function;
        let (state, _) = self.load(id).await?;
        let mappings = self.mappings.list_mappings(function).await?;
        let mut disabled = Vec::new();
        let mut left_enabled = Vec::new();
        for m in mappings {
            // A wave disables only its own topics' mappings: later waves keep mirroring.
            if let Some(wave) = &state.topics {
                if !m.topics.iter().all(|t| wave.contains(t)) {
                    left_enabled.push(json!({"uuid": m.uuid, "topics": m.topics}));
                    continue;
                }
            }
            let state = if m.state.starts_with("Disabl") {
                m.state.clone()
            } else {
                self.mappings
                    .set_enabled(function, &m.uuid, false)
                    .await?
                    .state
            };
            disabled.push(json!({"uuid": m.uuid, "topics": m.topics, "state": state}));
        }
        self.update(id, |s| {
            s.clear_hold(now_ms());
            s.log(
                now_ms(),
                format!("mirror mappings disabled ({})", disabled.len()),
            );
            Ok(())
        })
        .await?;
        Ok(json!({
            "function": function,
            "mappings_total": disabled.len(),
            "left_enabled_total": left_enabled.len(),
            "mappings": first(disabled),
            "left_enabled": first(left_enabled),
        }))
    }

    async fn complete(&self, id: &str) -> Result<Value, CutoverError> {
        let s = self.update(id, |s| Ok(s.complete(now_ms())?)).await?;
        let validation = self
            .store
            .get_report(id, "validation")
            .await?
            .and_then(|v| serde_json::from_str::<Value>(&v).ok());
        let preflight = self
            .store
            .get_report(id, "preflight")
            .await?
            .and_then(|v| serde_json::from_str::<Value>(&v).ok());
        let report = final_report(id, &s, validation, preflight);
        self.store
            .put_report(id, "final", &report.to_string())
            .await?;
        Ok(final_summary(&report))
    }

    async fn finish_rollback(&self, id: &str) -> Result<Value, CutoverError> {
        let (state, _) = self.load(id).await?;
        let mut returned = BTreeMap::new();
        for group in state.groups_returning() {
            let target_state = self.target.group_state(group).await?;
            if !target_state.accepts_commits() {
                return Err(CutoverError::TargetGroupActive {
                    group: group.to_string(),
                    state: format!(
                        "{target_state:?} (waiting for its consumers to stop on the target)"
                    ),
                });
            }
            let source_state = self.source.group_state(group).await?;
            if !source_state.accepts_commits() {
                return Err(CutoverError::GroupRestarted(group.to_string()));
            }
            let moved = &state.groups[group].offsets;
            let mut topics: Vec<String> = Vec::new();
            let mut source_tps = HashMap::new();
            for key in moved.keys() {
                let (topic, partition) = key
                    .rsplit_once('-')
                    .and_then(|(t, p)| p.parse::<i32>().ok().map(|p| (t.to_string(), p)))
                    .ok_or_else(|| CutoverError::Corrupt(format!("offset key {key:?}")))?;
                let target_topic = self.settings.policy.target_topic(&topic);
                topics.push(target_topic.clone());
                source_tps.insert(
                    TopicPartition::new(target_topic, partition),
                    TopicPartition::new(topic, partition),
                );
            }
            topics.sort();
            topics.dedup();
            let committed = self.target.committed(group, &topics).await?;
            let tps: Vec<TopicPartition> = source_tps.values().cloned().collect();
            let progress = self.store.load_progress(&tps).await?;
            let mut back = Vec::new();
            let mut offsets = BTreeMap::new();
            for (target_tp, source_tp) in &source_tps {
                let Some(p) = progress.get(source_tp).copied() else {
                    continue;
                };
                let t = committed
                    .get(target_tp)
                    .copied()
                    .unwrap_or(moved[&tp_key(source_tp)].target);
                let segments = self.store.segments(source_tp).await?;
                let s = translate_back(&segments, p, t);
                back.push((source_tp.clone(), s));
                offsets.insert(
                    tp_key(source_tp),
                    MovedOffset {
                        source: s,
                        target: t,
                    },
                );
            }
            back.sort();
            self.source.commit_offsets(group, &back).await?;
            returned.insert(group.to_string(), offsets);
        }
        let s = self
            .update(id, |s| {
                for (g, o) in &returned {
                    if s.groups
                        .get(g)
                        .is_some_and(|x| x.phase == GroupPhase::Returning)
                    {
                        s.mark_returned(g, o.clone(), now_ms())?;
                    }
                }
                Ok(s.finish_roll_back(now_ms())?)
            })
            .await?;
        let report = rollback_report(id, &s);
        self.store
            .put_report(id, "final", &report.to_string())
            .await?;
        Ok(final_summary(&report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::migration::ProducerPhase;
    use ferry_core::{Progress, Segment};
    use ferry_testkit::{InMemoryGroups, InMemoryMappings, InMemoryStateStore};

    type Handler = CutoverHandler<
        InMemoryStateStore,
        InMemoryGroups,
        InMemoryGroups,
        InMemoryMappings,
        NoPreflight,
    >;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    /// Partition t-0 mirrored up to source 100 / target 100 (one plain segment); group `g`
    /// committed `committed` on the source; one mirror mapping.
    fn setup(committed: i64) -> (Handler, InMemoryGroups, InMemoryGroups, InMemoryMappings) {
        let store = InMemoryStateStore::new();
        store.set_progress(
            &tp(),
            Some(Progress {
                next_source: 100,
                next_target: 100,
            }),
        );
        store.put_segments(
            &tp(),
            &[Segment {
                target_gap_before: 0,
                source_start: 0,
                target_start: 0,
            }],
        );
        let source = InMemoryGroups::new();
        source.add_topic("t");
        source.commit_source("g", &tp(), committed);
        source.set_end_offset(&tp(), 100);
        let target = InMemoryGroups::new();
        let mappings = InMemoryMappings::default();
        mappings.add("mirror", "t");
        let handler = CutoverHandler::new(
            store,
            source.clone(),
            target.clone(),
            mappings.clone(),
            NoPreflight,
            CutoverSettings {
                policy: ReplicationPolicy::Identity,
                topics: TopicFilter::from_lists("", "").unwrap(),
                groups: GroupFilter::from_lists("", "").unwrap(),
                mirror_function: "mirror".into(),
                quiet_ms: 0,
            },
        );
        (handler, source, target, mappings)
    }

    fn task(v: Value) -> Task {
        serde_json::from_value(v).unwrap()
    }

    async fn run(h: &Handler, v: Value) -> Result<Value, CutoverError> {
        h.run(task(v)).await
    }

    /// Issue 13, operator control: a pause request fails the next step that starts new work
    /// with `Ferry.Paused` (the state machine holds there), an abort request with
    /// `Ferry.Aborted` (it rolls back, which answers the request).
    #[tokio::test]
    async fn pause_and_abort_requests_stop_the_next_step() {
        let (h, _source, _target, _mappings) = setup(60);
        run(&h, json!({"action": "start", "migration_id": "p"}))
            .await
            .unwrap();
        let h = &h;
        let request = |abort: bool| async move {
            h.update("p", |s| Ok(s.request_pause("ops", abort, now_ms())?))
                .await
                .unwrap();
        };
        request(false).await;
        let stop = json!({"action": "request_stop", "migration_id": "p", "group": "g"});
        let err = run(h, stop.clone()).await.unwrap_err();
        assert_eq!(err.kind().error_type(), "Ferry.Paused", "{err}");
        let quiet = json!({"action": "check_source_quiet", "migration_id": "p"});
        assert_eq!(
            run(h, quiet).await.unwrap_err().kind().error_type(),
            "Ferry.Paused"
        );
        run(
            h,
            json!({"action": "hold", "migration_id": "p", "step": "move_groups",
                   "error": {"Error": "Ferry.Paused", "Cause": "paused by ops"}, "task_token": "t"}),
        )
        .await
        .unwrap();
        let (s, _) = h.load("p").await.unwrap();
        assert!(s.pause_request.is_none() && s.hold.as_ref().unwrap().is_pause());
        request(true).await;
        let err = run(h, stop).await.unwrap_err();
        assert_eq!(err.kind().error_type(), "Ferry.Aborted", "{err}");
        run(
            h,
            json!({"action": "begin_rollback", "migration_id": "p",
                   "error": {"Error": "Ferry.Aborted", "Cause": "aborted by ops"}}),
        )
        .await
        .unwrap();
        let (s, _) = h.load("p").await.unwrap();
        assert!(s.pause_request.is_none(), "the rollback answered the abort");
    }

    /// Issue 13, waves: a migration that names its topics drains, checks and disables only
    /// those; the other topics' mappings stay enabled for a later wave.
    #[tokio::test]
    async fn a_wave_disables_only_its_own_mappings() {
        let (h, source, _target, mappings) = setup(60);
        source.add_topic("later");
        let later = mappings.add("mirror", "later");
        let bad = run(
            &h,
            json!({"action": "start", "migration_id": "w0", "topics": ["t", "nope"]}),
        )
        .await
        .unwrap_err();
        assert_eq!(bad.kind().error_type(), "Ferry.BadInput", "{bad}");
        let out = run(
            &h,
            json!({"action": "start", "migration_id": "w1", "topics": ["t"]}),
        )
        .await
        .unwrap();
        assert_eq!(out["topics"], json!(["t"]));
        let (state, _) = h.load("w1").await.unwrap();
        assert_eq!(state.topics, Some(vec!["t".to_owned()]));
        let quiet = run(
            &h,
            json!({"action": "check_source_quiet", "migration_id": "w1"}),
        )
        .await
        .unwrap();
        assert_eq!(
            quiet["partitions"], 1,
            "only the wave's partitions: {quiet}"
        );
        let out = run(
            &h,
            json!({"action": "disable_mirror", "migration_id": "w1"}),
        )
        .await
        .unwrap();
        assert_eq!(out["mappings"].as_array().unwrap().len(), 1, "{out}");
        assert_eq!(out["left_enabled"][0]["uuid"], json!(later), "{out}");
        assert_eq!(mappings.states("mirror"), ["Disabled", "Enabled"]);
    }

    #[tokio::test]
    async fn whole_cutover_moves_the_group_exactly_and_producers_last() {
        let (h, _source, target, mappings) = setup(60);
        let id = json!("m1");
        let out = run(&h, json!({"action": "start", "migration_id": id}))
            .await
            .unwrap();
        assert_eq!(
            out["groups"],
            json!(["g"]),
            "groups with offsets on mirrored topics"
        );
        let early = run(&h, json!({"action": "pause_producers", "migration_id": id})).await;
        assert_eq!(early.unwrap_err().kind().error_type(), "Ferry.NotReady");
        run(
            &h,
            json!({"action": "request_stop", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        let st = run(
            &h,
            json!({"action": "check_stopped", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        assert_eq!(st["stopped"], true);
        run(
            &h,
            json!({"action": "move_group", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        assert_eq!(target.target_offsets("g"), HashMap::from([(tp(), 60)]));
        // Idempotent: a retried move changes nothing.
        let again = run(
            &h,
            json!({"action": "move_group", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        assert_eq!(again["repeated"], true);
        run(
            &h,
            json!({"action": "await_approval", "migration_id": id, "task_token": "tok"}),
        )
        .await
        .unwrap();
        run(&h, json!({"action": "pause_producers", "migration_id": id}))
            .await
            .unwrap();
        let q1 = run(
            &h,
            json!({"action": "check_source_quiet", "migration_id": id}),
        )
        .await
        .unwrap();
        assert_eq!(
            q1["quiet"], false,
            "first sample has nothing to compare with"
        );
        let q2 = run(
            &h,
            json!({"action": "check_source_quiet", "migration_id": id}),
        )
        .await
        .unwrap();
        assert_eq!(q2["quiet"], true);
        run(&h, json!({"action": "disable_mirror", "migration_id": id}))
            .await
            .unwrap();
        assert_eq!(mappings.states("mirror"), ["Disabled"]);
        run(
            &h,
            json!({"action": "release_producers", "migration_id": id}),
        )
        .await
        .unwrap();
        let report = run(&h, json!({"action": "complete", "migration_id": id}))
            .await
            .unwrap();
        assert_eq!(report["phase"], "completed");
        assert_eq!(report["producers"], json!(ProducerPhase::Target));
        assert!(h.store().get_report("m1", "final").await.unwrap().is_some());
    }

    /// Records published events; fails while `down` is set.
    #[derive(Clone, Default)]
    struct Recorder {
        seen: std::sync::Arc<std::sync::Mutex<Vec<ferry_core::events::MigrationEvent>>>,
        down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl MigrationEvents for Recorder {
        async fn publish(
            &self,
            events: &[ferry_core::events::MigrationEvent],
        ) -> Result<(), ferry_core::ports::EventsError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ferry_core::ports::EventsError {
                    events: events.len(),
                    source: "bus unavailable".into(),
                });
            }
            self.seen.lock().unwrap().extend_from_slice(events);
            Ok(())
        }
    }

    /// Issue 13: every phase and group change reaches the applications as an event, at least
    /// once even when the bus is down for a while, in order, and the outbox empties.
    #[tokio::test]
    async fn phase_and_group_changes_are_published_at_least_once() {
        let (h, _source, _target, _) = setup(60);
        let events = Recorder::default();
        let h = h.with_events(events.clone());
        let id = json!("ev1");
        for t in [
            json!({"action": "start", "migration_id": id}),
            json!({"action": "request_stop", "migration_id": id, "group": "g"}),
        ] {
            h.run(task(t)).await.unwrap();
        }
        // The bus goes down: the change is stored, its event waits in the outbox.
        events.down.store(true, std::sync::atomic::Ordering::SeqCst);
        h.run(task(
            json!({"action": "check_stopped", "migration_id": id, "group": "g"}),
        ))
        .await
        .unwrap();
        let stored = h.store().load_migration("ev1").await.unwrap().unwrap();
        let s: MigrationState = serde_json::from_str(&stored.value).unwrap();
        assert!(!s.outbox.is_empty(), "kept for later");
        events
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
        h.run(task(
            json!({"action": "move_group", "migration_id": id, "group": "g"}),
        ))
        .await
        .unwrap();
        let seen = events.seen.lock().unwrap().clone();
        let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "in order, none lost"
        );
        let kinds: Vec<&str> = seen.iter().map(|e| e.detail_type()).collect();
        assert_eq!(kinds[0], "Ferry Migration Started");
        let groups: Vec<String> = seen
            .iter()
            .filter_map(|e| match &e.change {
                ferry_core::events::Change::GroupChanged { to, .. } => Some(format!("{to:?}")),
                _ => None,
            })
            .collect();
        assert_eq!(groups, ["StopRequested", "Stopped", "Moved"]);
        assert!(seen.iter().any(|e| matches!(
            e.change,
            ferry_core::events::Change::PhaseChanged {
                to: Phase::MovingConsumers,
                ..
            }
        )));
        let stored = h.store().load_migration("ev1").await.unwrap().unwrap();
        let s: MigrationState = serde_json::from_str(&stored.value).unwrap();
        assert!(s.outbox.is_empty(), "published events leave the outbox");
    }

    #[tokio::test]
    async fn a_group_ahead_of_the_mirror_is_not_ready_and_an_active_target_group_is_left_alone() {
        let (h, _source, target, _) = setup(150);
        let id = json!("m2");
        run(
            &h,
            json!({"action": "start", "migration_id": id, "groups": ["g"]}),
        )
        .await
        .unwrap();
        run(
            &h,
            json!({"action": "request_stop", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        run(
            &h,
            json!({"action": "check_stopped", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        let err = run(
            &h,
            json!({"action": "move_group", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind().error_type(), "Ferry.NotReady");
        assert!(
            err.message().contains("t-0 (50 offsets)"),
            "{}",
            err.message()
        );
        assert!(target.target_offsets("g").is_empty());

        let (h, _source, target, _) = setup(60);
        target.set_target_state(
            "g",
            ferry_core::ports::GroupState::Active {
                members: 1,
                state: "Stable".into(),
            },
        );
        run(
            &h,
            json!({"action": "start", "migration_id": id, "groups": ["g"]}),
        )
        .await
        .unwrap();
        run(
            &h,
            json!({"action": "request_stop", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        run(
            &h,
            json!({"action": "check_stopped", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        let err = run(
            &h,
            json!({"action": "move_group", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind().error_type(), "Ferry.NotReady");
    }

    #[tokio::test]
    async fn rollback_commits_the_exact_reverse_translation_on_the_source() {
        let (h, source, target, _) = setup(60);
        let id = json!("m3");
        run(&h, json!({"action": "start", "migration_id": id}))
            .await
            .unwrap();
        run(
            &h,
            json!({"action": "request_stop", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        run(
            &h,
            json!({"action": "check_stopped", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        run(
            &h,
            json!({"action": "move_group", "migration_id": id, "group": "g"}),
        )
        .await
        .unwrap();
        // The group consumed 20 more records on the target before the rollback.
        target.commit_offsets("g", &[(tp(), 80)]).await.unwrap();
        let begin = run(
            &h,
            json!({"action": "begin_rollback", "migration_id": id, "error": {"Error": "Ferry.ValidationFailed", "Cause": "{\"errorType\":\"Ferry.ValidationFailed\",\"errorMessage\":\"value differs at t/0 offset 7\"}"}}),
        )
        .await
        .unwrap();
        assert_eq!(begin["returning"], json!(["g"]));
        assert_eq!(
            begin["cause"],
            "Ferry.ValidationFailed: value differs at t/0 offset 7"
        );
        let done = run(&h, json!({"action": "finish_rollback", "migration_id": id}))
            .await
            .unwrap();
        assert_eq!(done["phase"], "rolled_back");
        // The source fake records commits made through the commit port.
        assert_eq!(source.target_offsets("g"), HashMap::from([(tp(), 80)]));
        let bad = run(
            &h,
            json!({"action": "release_producers", "migration_id": id}),
        )
        .await;
        assert_eq!(bad.unwrap_err().kind().error_type(), "Ferry.BadInput");
    }
}
