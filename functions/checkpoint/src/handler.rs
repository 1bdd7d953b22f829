//! One checkpoint run over the ports.
//!
//! 0. take the run lease ([`CHECKPOINT_LEASE`], until the invocation's deadline): runs never
//!    overlap, so a slow older run can never commit older offsets to a target group after a
//!    newer run committed newer ones. A run that finds the lease held by another, unexpired run
//!    does nothing and says so (`skipped`); the lease is given back at the end of the run, and a
//!    run that died leaves it only until its own deadline;
//! 1. list source topics matching the topic filter and source groups matching the group filter;
//! 2. read each group's committed offsets on those topics (without joining the group);
//! 3. load progress (one call) for every partition any group committed to, and per distinct
//!    committed offset only the segments around it (translation is local, see
//!    [`ferry_core::translate`]);
//! 4. per group: plan ([`plan_group`]), save the new checkpoints (never backwards), and, with
//!    sync on, commit the effective checkpoints to the same group on the target if it is
//!    `Empty` or unknown there, and only for partitions where that moves the target group
//!    forward (a target group that already consumed further is never rewound). A group with
//!    members on the target is left alone and reported, not an error.

use crate::error::CheckpointError;
use crate::telemetry::CheckpointEvent;
use ferry_core::checkpoint::{plan_group, Lagging, Mirrored};
use ferry_core::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    CheckpointStore, GroupError, GroupState, ProgressStore, RunLease, SegmentStore, SourceGroups,
    SourceTopics, TargetGroups,
};
use ferry_core::TopicPartition;
use ferry_lambda::FailureError;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// What happened to a group's offsets on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SyncOutcome {
    /// Offsets were committed to the target group.
    Synced {
        /// Partitions committed.
        partitions: usize,
    },
    /// Nothing to commit: the target group is at or past every checkpoint.
    UpToDate,
    /// Not committed.
    Skipped {
        /// Why (e.g. the group is active on the target).
        reason: String,
    },
    /// `FERRY_SYNC_GROUP_OFFSETS=false`.
    Disabled,
}

impl SyncOutcome {
    /// The `outcome` label of the `group-syncs` metric.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Synced { .. } => "synced",
            Self::UpToDate => "up_to_date",
            Self::Skipped { .. } => "skipped",
            Self::Disabled => "disabled",
        }
    }
}

/// One group's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    /// Group name.
    pub group: String,
    /// Partitions whose checkpoint moved forward in this run.
    pub partitions_checkpointed: usize,
    /// Partitions whose checkpoint was already current.
    pub partitions_unchanged: usize,
    /// Partitions the group committed past mirrored progress (or not mirrored yet).
    pub not_yet_translatable: Vec<Lagging>,
    /// Partitions where the group was rewound on the source below its checkpoint.
    pub rewound: Vec<TopicPartition>,
    /// Largest lag (source offsets) of a partition ahead of the mirror.
    pub max_lag: i64,
    /// Target offset sync.
    pub sync: SyncOutcome,
}

/// The Lambda response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Mirrored topics considered.
    pub topics: usize,
    /// Groups that matched the filter and had offsets on mirrored topics.
    pub groups: Vec<GroupReport>,
    /// Checkpoints written in this run.
    pub checkpoints_saved: usize,
    /// Run duration.
    pub duration_ms: u64,
    /// Why the run did nothing (another run holds the lease); absent when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Name of the checkpoint runs' lease ([`RunLease`]).
pub const CHECKPOINT_LEASE: &str = "checkpoint";

/// Lease time of [`CheckpointHandler::run`] when the caller gives no deadline: the longest a
/// Lambda invocation can run.
pub const DEFAULT_RUN_LEASE_MS: i64 = 15 * 60 * 1000;

/// Runs checkpoint passes. Generic over the ports so unit tests use in-memory fakes.
#[derive(Debug)]
pub struct CheckpointHandler<S, G, T> {
    store: S,
    source: G,
    target: T,
    policy: ReplicationPolicy,
    topics: TopicFilter,
    groups: GroupFilter,
    sync: bool,
}

impl<S, G, T> CheckpointHandler<S, G, T>
where
    S: ProgressStore + SegmentStore + CheckpointStore + RunLease,
    G: SourceGroups + SourceTopics,
    T: TargetGroups,
{
    /// Builds a handler (sync on).
    pub fn new(
        store: S,
        source: G,
        target: T,
        policy: ReplicationPolicy,
        topics: TopicFilter,
        groups: GroupFilter,
    ) -> Self {
        Self {
            store,
            source,
            target,
            policy,
            topics,
            groups,
            sync: true,
        }
    }

    /// Turns committing translated offsets to target groups on or off.
    pub fn sync_group_offsets(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// The state store (tests inspect it).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// One checkpoint run (see the module docs) with a fresh owner id and a lease of
    /// [`DEFAULT_RUN_LEASE_MS`].
    pub async fn run(&self) -> Result<RunSummary, CheckpointError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let now = ferry_lambda::now_ms();
        self.run_within(&owner, now, now + DEFAULT_RUN_LEASE_MS)
            .await
    }

    /// One checkpoint run by `owner` (the Lambda request id) that must end by `deadline_ms`
    /// (the invocation's deadline, Unix ms): the lease is held until then at most.
    pub async fn run_within(
        &self,
        owner: &str,
        now_ms: i64,
        deadline_ms: i64,
    ) -> Result<RunSummary, CheckpointError> {
        let started = Instant::now();
        if !self
            .store
            .acquire_lease(CHECKPOINT_LEASE, owner, now_ms, deadline_ms)
            .await?
        {
            let reason =
                "another checkpoint run holds the lease (runs never overlap); this run did nothing"
                    .to_string();
            CheckpointEvent::RunSkipped { reason: &reason }.emit();
            return Ok(RunSummary {
                skipped: Some(reason),
                duration_ms: started.elapsed().as_millis() as u64,
                ..RunSummary::default()
            });
        }
        let result = self.pass().await;
        if let Err(e) = self.store.release_lease(CHECKPOINT_LEASE, owner).await {
            // The lease ends at the deadline anyway; the next run waits at most until then.
            tracing::warn!(error = %e, "could not give the checkpoint lease back");
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(mut summary) => {
                summary.duration_ms = duration_ms;
                CheckpointEvent::RunCompleted {
                    topics: summary.topics,
                    groups: summary.groups.len(),
                    checkpoints_saved: summary.checkpoints_saved,
                    duration_ms,
                }
                .emit();
                Ok(summary)
            }
            Err(e) => {
                CheckpointEvent::RunFailed {
                    kind: e.kind(),
                    message: &e.message(),
                    duration_ms,
                }
                .emit();
                Err(e)
            }
        }
    }

    async fn pass(&self) -> Result<RunSummary, CheckpointError> {
        let topics: Vec<String> = self
            .source
            .list_topics()
            .await?
            .into_iter()
            .filter(|t| self.topics.matches(t))
            .collect();
        let mut summary = RunSummary {
            topics: topics.len(),
            ..RunSummary::default()
        };
        if topics.is_empty() {
            return Ok(summary);
        }
        let groups: Vec<String> = self
            .source
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| self.groups.matches(g))
            .collect();
        let mut committed: Vec<(String, HashMap<TopicPartition, i64>)> = Vec::new();
        for g in groups {
            let offsets = self.source.committed_offsets(&g, &topics).await?;
            if !offsets.is_empty() {
                committed.push((g, offsets));
            }
        }
        let tps: Vec<TopicPartition> = committed
            .iter()
            .flat_map(|(_, o)| o.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let progress = self.store.load_progress(&tps).await?;
        // Only the segments around each committed offset (two single-item reads per distinct
        // offset), never a partition's whole history: translation is local
        // (`ferry_core::translate`, "Local").
        let mut mirrored: HashMap<TopicPartition, Mirrored> = HashMap::with_capacity(tps.len());
        for tp in &tps {
            let m = match progress.get(tp) {
                Some(p) => {
                    let offsets: Vec<i64> = committed
                        .iter()
                        .filter_map(|(_, o)| o.get(tp).copied())
                        .filter(|&c| c < p.next_source)
                        .collect();
                    Mirrored {
                        progress: Some(*p),
                        segments: self.store.segments_for(tp, &offsets).await?,
                    }
                }
                None => Mirrored::default(),
            };
            mirrored.insert(tp.clone(), m);
        }
        let mut sync_failures = Vec::new();
        for (group, offsets) in committed {
            let previous = self.store.load_checkpoints(&group).await?;
            let plan = plan_group(&offsets, &mirrored, &previous);
            let saved = self.store.save_checkpoints(&group, &plan.to_save).await?;
            summary.checkpoints_saved += saved;
            let sync = if !self.sync {
                SyncOutcome::Disabled
            } else {
                match self.sync_group(&group, &plan.effective).await {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        let reason = format!("commit failed: {e}");
                        sync_failures.push(format!("{group}: {e}"));
                        SyncOutcome::Skipped { reason }
                    }
                }
            };
            let max_lag = plan
                .not_yet_translatable
                .iter()
                .filter_map(|l| l.lag)
                .max()
                .unwrap_or(0);
            let report = GroupReport {
                group,
                partitions_checkpointed: plan.to_save.len(),
                partitions_unchanged: plan.unchanged.len(),
                not_yet_translatable: plan.not_yet_translatable,
                rewound: plan.rewound,
                max_lag,
                sync,
            };
            CheckpointEvent::GroupCheckpointed(&report).emit();
            summary.groups.push(report);
        }
        CheckpointEvent::CheckpointsSaved {
            saved: summary.checkpoints_saved,
            groups: summary.groups.len(),
        }
        .emit();
        match sync_failures.first() {
            Some(first) => Err(CheckpointError::Sync {
                failed: sync_failures.len(),
                first: first.clone(),
            }),
            None => Ok(summary),
        }
    }

    async fn sync_group(
        &self,
        group: &str,
        effective: &[(TopicPartition, ferry_core::checkpoint::Checkpoint)],
    ) -> Result<SyncOutcome, GroupError> {
        if effective.is_empty() {
            return Ok(SyncOutcome::Skipped {
                reason: "no checkpoint yet".into(),
            });
        }
        let state = self.target.group_state(group).await?;
        if let GroupState::Active { members, state } = &state {
            CheckpointEvent::GroupActiveOnTarget {
                group,
                members: *members,
                state,
            }
            .emit();
            return Ok(SyncOutcome::Skipped {
                reason: format!("group is active on the target ({state}, {members} members)"),
            });
        }
        let wanted: Vec<(TopicPartition, i64)> = effective
            .iter()
            .map(|(tp, cp)| {
                (
                    TopicPartition::new(self.policy.target_topic(&tp.topic), tp.partition),
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
        let current = match state {
            GroupState::NotFound => HashMap::new(),
            _ => self.target.committed(group, &target_topics).await?,
        };
        let commits: Vec<(TopicPartition, i64)> = wanted
            .into_iter()
            .filter(|(tp, o)| current.get(tp).is_none_or(|c| c < o))
            .collect();
        if commits.is_empty() {
            return Ok(SyncOutcome::UpToDate);
        }
        match self.target.commit_offsets(group, &commits).await {
            Ok(()) => Ok(SyncOutcome::Synced {
                partitions: commits.len(),
            }),
            Err(GroupError::Active { .. }) => Ok(SyncOutcome::Skipped {
                reason: "group became active on the target during the sync".into(),
            }),
            Err(e) => Err(e),
        }
    }
}
