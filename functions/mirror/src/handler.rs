//! The exactly-once mirror protocol over the ports (see `ferry_core::progress`).
//!
//! Per batch:
//! 1. check every partition's target topic (exists, enough partitions, record sizes fit);
//! 2. read progress, in one call, for the partitions this sandbox has no cached progress for
//!    (see below); initialise first-seen partitions;
//! 3. per partition, concurrently: read the target end offset, plan (skip / reconcile / produce),
//!    verify that reconciled records really are ours (content match), produce and await every
//!    delivery report, check contiguity;
//! 4. one conditional commit of progress + segments for every partition that succeeded;
//! 5. any failure → error → the event source mapping redelivers the whole batch.
//!
//! ## Progress cache (warm sandbox)
//! After a successful conditional commit the handler remembers each committed partition's new
//! progress `C`; the next batch for that partition skips the progress read. This is safe
//! because the target end offset `E` is still read for every partition and batch, and `C` is
//! used only if `E == C.next_target`:
//!
//! * `C` was the stored progress when it was committed, and the stored `next_target` never
//!   decreases (every commit appends at least one record; nothing else writes progress).
//! * Ferry writes target records before it records them, so the stored `next_target` is never
//!   above `E`. Hence `C.next_target <= stored next_target <= E`, and `E == C.next_target`
//!   means the stored progress still has `next_target == C.next_target`, which (one record per
//!   target offset, `next_source` strictly increasing with it) means it still *is* `C`: the
//!   plan is exactly what a fresh read would give.
//! * Otherwise (another sandbox advanced the partition, or an earlier attempt left unrecorded
//!   records) the partition takes the full path: its progress is read (in the one read call of
//!   the batch, with the uncached partitions), then `E` again.
//!
//! The commit stays conditioned on the progress the plan used, so a writer racing in between is
//! still caught by the condition; if a batch that used cached progress gets a condition failure,
//! the cache is dropped and the batch is mirrored once more on freshly read progress (what a
//! redelivery would do). Any failure drops the cached progress of the batch's partitions.

use crate::error::MirrorError;
use crate::event::{EsmEvent, PartitionBatch};
use crate::faults::{FaultPoint, Faults};
use crate::telemetry::{MirrorEvent, PhaseTimes};
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    NoSourceChecks, ProgressCommit, ProgressStore, RangeReader, ReadIsolation, SourceLogBounds,
    StoreError, TargetError, TargetMetadata, TargetOffsets, TargetWriter,
};
use ferry_core::progress::{
    advance_to, check_produced, check_source_loss, plan_partition, source_check_needed,
    verify_reconcile, PlanError, ProducedCheck, Progress,
};
use ferry_core::TopicPartition;
use ferry_lambda::{now_ms, FailureError};
use futures::future::join_all;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// What a batch did, returned as the Lambda response.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    /// Records delivered in the batch.
    pub records: u64,
    /// Records produced to the target.
    pub produced: u64,
    /// Records an earlier attempt had written, recorded now.
    pub reconciled: u64,
    /// Redelivered records already recorded.
    pub skipped: u64,
    /// Partitions in the batch.
    pub partitions: u64,
}

/// Runs the mirror protocol. Generic over the ports so unit tests use in-memory fakes. `W`
/// reads the source's log bounds for the data-loss checks ([`NoSourceChecks`] turns them off).
#[derive(Debug)]
pub struct MirrorHandler<S, T, W = NoSourceChecks> {
    store: S,
    target: T,
    source: W,
    policy: ReplicationPolicy,
    filter: TopicFilter,
    allow_non_empty_target: bool,
    faults: Arc<Faults>,
    /// Progress per source partition as of this sandbox's last successful commit; `None` when
    /// caching is off.
    cache: Option<Mutex<HashMap<TopicPartition, Cached>>>,
}

/// What a warm sandbox remembers of a partition after its last successful commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cached {
    /// The progress committed.
    progress: Progress,
    /// Where this sandbox's own last transaction on the partition puts its commit marker
    /// (`progress.next_target`, right after its last record), when that transaction was this
    /// sandbox's and committed.
    own_marker_at: Option<i64>,
}

impl Cached {
    /// Whether the target end offset `end` shows nothing but this sandbox's own records (and
    /// possibly its own commit marker) past the cached progress.
    fn current_at(&self, end: i64) -> bool {
        let t = self.progress.next_target;
        end == t || (end == t + 1 && self.own_marker_at == Some(t))
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

struct PartitionOutcome {
    commit: Option<ProgressCommit>,
    /// The progress the plan used (cached or read).
    used: Cached,
    /// Where the commit marker of this batch's transaction sits, if it produced in one.
    own_marker_at: Option<i64>,
    produced: u64,
    reconciled: u64,
    skipped: u64,
}

/// Where a partition's progress came from.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// Read from the store (or initialised) in this attempt.
    Read(Progress),
    /// From this sandbox's cache, with the target end offset just read, which shows nothing
    /// but this sandbox's own writes past it (checked before, [`Cached::current_at`]).
    Cached(Cached, i64),
}

impl<S, T> MirrorHandler<S, T, NoSourceChecks>
where
    S: ProgressStore,
    T: TargetMetadata + TargetOffsets + TargetWriter + RangeReader,
{
    /// Builds a handler (source data-loss checks off until [`MirrorHandler::with_source`]).
    pub fn new(store: S, target: T, policy: ReplicationPolicy, filter: TopicFilter) -> Self {
        Self {
            store,
            target,
            source: NoSourceChecks,
            policy,
            filter,
            allow_non_empty_target: false,
            faults: Arc::new(Faults::none()),
            cache: Some(Mutex::new(HashMap::new())),
        }
    }

    /// Checks gaps and redeliveries against the source's log bounds read through `source`
    /// (see [`ferry_core::progress::check_source_loss`]).
    pub fn with_source<W2: SourceLogBounds>(self, source: W2) -> MirrorHandler<S, T, W2> {
        MirrorHandler {
            store: self.store,
            target: self.target,
            source,
            policy: self.policy,
            filter: self.filter,
            allow_non_empty_target: self.allow_non_empty_target,
            faults: self.faults,
            cache: self.cache,
        }
    }
}

impl<S, T, W> MirrorHandler<S, T, W>
where
    S: ProgressStore,
    T: TargetMetadata + TargetOffsets + TargetWriter + RangeReader,
    W: SourceLogBounds,
{
    /// Turns the warm-sandbox progress cache on (default) or off (every batch reads progress).
    pub fn cache_progress(mut self, on: bool) -> Self {
        self.cache = on.then(|| Mutex::new(HashMap::new()));
        self
    }

    /// The progress this sandbox has cached for `tp` (tests inspect it).
    pub fn cached_progress(&self, tp: &TopicPartition) -> Option<Progress> {
        self.cache.as_ref().and_then(|c| {
            c.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(tp)
                .map(|c| c.progress)
        })
    }

    fn cache_update(&self, f: impl FnOnce(&mut HashMap<TopicPartition, Cached>)) {
        if let Some(c) = &self.cache {
            f(&mut c.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    /// Allows starting after records already present in a target partition.
    pub fn allow_non_empty_target(mut self, allow: bool) -> Self {
        self.allow_non_empty_target = allow;
        self
    }

    /// Arms crash injection (tests only).
    pub fn with_faults(mut self, faults: Arc<Faults>) -> Self {
        self.faults = faults;
        self
    }

    /// The state store (tests inspect it).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The target cluster port (tests inspect it).
    pub fn target(&self) -> &T {
        &self.target
    }

    /// Mirrors one event source mapping event: decodes it (a payload that does not decode is a
    /// failed batch, `Ferry.BadInput`) and [`handle`](Self::handle)s its batches.
    pub async fn handle_event(&self, event: EsmEvent) -> Result<BatchSummary, MirrorError> {
        match event.into_batches() {
            Ok(batches) => self.handle(batches).await,
            Err(e) => {
                let e = MirrorError::from(e);
                MirrorEvent::BatchFailed {
                    kind: e.kind(),
                    message: &e.message(),
                }
                .emit();
                Err(e)
            }
        }
    }

    /// Mirrors one delivered batch. On error nothing is acknowledged; the batch must be redelivered.
    pub async fn handle(&self, batches: Vec<PartitionBatch>) -> Result<BatchSummary, MirrorError> {
        let started = Instant::now();
        let mut times = PhaseTimes::default();
        let result = self.mirror(&batches, &mut times).await;
        match &result {
            Ok(summary) => MirrorEvent::BatchCompleted {
                partitions: batches.len(),
                records: summary.records as usize,
                duration_ms: ms_since(started),
                phases: times,
            }
            .emit(),
            Err(e) => MirrorEvent::BatchFailed {
                kind: e.kind(),
                message: &e.message(),
            }
            .emit(),
        }
        result
    }

    async fn mirror(
        &self,
        batches: &[PartitionBatch],
        times: &mut PhaseTimes,
    ) -> Result<BatchSummary, MirrorError> {
        let batches: Vec<&PartitionBatch> =
            batches.iter().filter(|b| !b.records.is_empty()).collect();
        // 1. Preconditions, before anything is written.
        for b in &batches {
            self.check_target(b).await?;
        }
        let used_cache = self.cache.as_ref().is_some_and(|c| {
            let c = c.lock().unwrap_or_else(PoisonError::into_inner);
            batches.iter().any(|b| c.contains_key(&b.tp))
        });
        // Boxed: keeps the handler future's type shallow (the runtime's layers nest it deeply).
        let result = Box::pin(self.mirror_checked(&batches, true, times)).await;
        match result {
            Err(MirrorError::Store(StoreError::Conflict { tp })) if used_cache => {
                // Cached progress was used and a racing writer changed it: mirror once more on
                // freshly read progress, exactly like a redelivery of this batch.
                tracing::info!(%tp, "progress changed since this sandbox cached it: mirroring the batch again on fresh progress");
                Box::pin(self.mirror_checked(&batches, false, times)).await
            }
            Err(MirrorError::Target(TargetError::Fenced { tp })) => {
                // Another writer took the partition after this sandbox last wrote it (nothing of
                // this attempt is visible; the fenced producer is gone). Mirror once more, like
                // a redelivery: fence anew, read fresh progress, skip what is recorded. Once
                // only: two overlapping invocations must not fence each other in a loop, and
                // the second failure goes back to the event source mapping as usual.
                tracing::info!(%tp, "this sandbox's writer was fenced by a newer one: mirroring the batch again with a fresh writer");
                Box::pin(self.mirror_checked(&batches, false, times)).await
            }
            other => other,
        }
    }

    async fn mirror_checked(
        &self,
        batches: &[&PartitionBatch],
        use_cache: bool,
        times: &mut PhaseTimes,
    ) -> Result<BatchSummary, MirrorError> {
        let result = self.mirror_once(batches, use_cache, times).await;
        if result.is_err() {
            // Whatever happened (a failed commit may even have been applied), read next time.
            self.cache_update(|c| {
                for b in batches {
                    c.remove(&b.tp);
                }
            });
        }
        result
    }

    async fn mirror_once(
        &self,
        batches: &[&PartitionBatch],
        use_cache: bool,
        times: &mut PhaseTimes,
    ) -> Result<BatchSummary, MirrorError> {
        let phase = Instant::now();
        // 2a. Cached progress is used only where the target end offset shows nothing but this
        // sandbox's own writes past it. Where it shows more, another writer (a batch of the
        // partition delivered to another sandbox, or an overlapping invocation) took the
        // partition since: its fencing made this sandbox's hold stale, so it is released here
        // and fenced anew below instead of failing on the first produce.
        let mut known: HashMap<TopicPartition, Known> = HashMap::with_capacity(batches.len());
        let mut cached: Vec<(TopicPartition, Cached)> = Vec::new();
        if use_cache {
            self.cache_update(|c| {
                for b in batches {
                    if let Some(p) = c.get(&b.tp) {
                        cached.push((b.tp.clone(), *p));
                    }
                }
            });
        }
        let ends = join_all(
            cached
                .iter()
                .map(|(tp, _)| async move { self.target.end_offset(&self.target_tp(tp)).await }),
        )
        .await;
        for ((tp, c), end) in cached.into_iter().zip(ends) {
            let end = end?;
            if c.current_at(end) {
                known.insert(tp, Known::Cached(c, end));
            } else {
                tracing::debug!(source = %tp, cached_next_target = c.progress.next_target, target_end = end, "another writer wrote the partition since this sandbox did: reading progress, fencing anew");
                self.target.release(&self.target_tp(&tp));
                self.cache_update(|c| {
                    c.remove(&tp);
                });
            }
        }
        // 2b. Fencing: this sandbox becomes the only writer of every partition of the batch
        // before anything on them is read (a no-op for partitions it already holds). A cached
        // end read before this is still safe: if another writer fenced this sandbox in between,
        // its produce or commit fails as fenced and nothing of it becomes visible.
        for (b, fenced) in batches.iter().zip(
            join_all(
                batches
                    .iter()
                    .map(|b| async move { self.target.fence(&self.target_tp(&b.tp)).await }),
            )
            .await,
        ) {
            fenced.inspect_err(|_| {
                self.cache_update(|c| {
                    c.remove(&b.tp);
                });
            })?;
        }
        // 2c. Progress of the others in one call, and initialisation of first-seen partitions.
        let to_read: Vec<TopicPartition> = batches
            .iter()
            .filter(|b| !known.contains_key(&b.tp))
            .map(|b| b.tp.clone())
            .collect();
        if !to_read.is_empty() {
            let read = self.store.load_progress(&to_read).await?;
            known.extend(read.into_iter().map(|(tp, p)| (tp, Known::Read(p))));
        }
        for b in batches {
            if !known.contains_key(&b.tp) {
                let p = self.init_partition(b).await?;
                known.insert(b.tp.clone(), Known::Read(p));
            }
        }
        times.progress_ms += ms_since(phase);
        // 3. Mirror partitions concurrently; every future runs to completion so nothing is left in flight.
        let phase = Instant::now();
        let outcomes = join_all(
            batches
                .iter()
                .map(|b| self.mirror_partition(b, known[&b.tp])),
        )
        .await;
        times.produce_ms += ms_since(phase);
        let mut summary = BatchSummary {
            partitions: batches.len() as u64,
            ..BatchSummary::default()
        };
        let mut commits = Vec::new();
        let mut unchanged = Vec::new();
        let mut first_error = None;
        for (b, outcome) in batches.iter().zip(outcomes) {
            match outcome {
                Ok(o) => {
                    summary.produced += o.produced;
                    summary.reconciled += o.reconciled;
                    summary.skipped += o.skipped;
                    match o.commit {
                        Some(c) => commits.push((c, o.own_marker_at)),
                        None => unchanged.push((b.tp.clone(), o.used)),
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        summary.records = batches.iter().map(|b| b.records.len() as u64).sum();
        self.faults.at(FaultPoint::AfterProduce);
        // 4. Record what succeeded, even if another partition failed (less to reconcile next time).
        if !commits.is_empty() {
            let phase = Instant::now();
            let (commits, markers): (Vec<ProgressCommit>, Vec<Option<i64>>) =
                commits.into_iter().unzip();
            let committed = self.store.commit_progress(&commits).await;
            times.commit_ms += ms_since(phase);
            if committed.is_ok() {
                self.cache_update(|c| {
                    for (commit, own_marker_at) in commits.iter().zip(markers) {
                        c.insert(
                            commit.tp.clone(),
                            Cached {
                                progress: commit.new,
                                own_marker_at,
                            },
                        );
                    }
                });
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            committed?;
        }
        if first_error.is_none() {
            // Nothing appended (all redelivered): the progress used is still the stored one.
            self.cache_update(|c| c.extend(unchanged));
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    fn target_tp(&self, tp: &TopicPartition) -> TopicPartition {
        TopicPartition::new(self.policy.target_topic(&tp.topic), tp.partition)
    }

    async fn check_target(&self, b: &PartitionBatch) -> Result<(), MirrorError> {
        use ferry_core::ports::TargetError;
        if !self.filter.matches(&b.tp.topic) {
            return Err(MirrorError::TopicNotMirrored {
                topic: b.tp.topic.clone(),
            });
        }
        let target = self.target_tp(&b.tp);
        let info = self
            .target
            .topic_info(&target.topic)
            .await?
            .ok_or_else(|| TargetError::TopicMissing {
                topic: target.topic.clone(),
            })?;
        if target.partition >= info.partitions {
            // Ask the cluster again on the retry: discovery (or the preflight) adds the
            // partition, and the retry must see it at once, not after the cache's TTL.
            self.target.forget_topic_info(&target.topic);
            return Err(TargetError::TooFewPartitions {
                topic: target.topic,
                partitions: info.partitions,
                partition: target.partition,
            }
            .into());
        }
        if let Some(r) = b
            .records
            .iter()
            .find(|r| r.estimated_batch_bytes() > info.max_message_bytes)
        {
            // Ask the cluster again next time: the operator may raise the limit.
            self.target.forget_topic_info(&target.topic);
            return Err(TargetError::RecordTooLarge {
                tp: b.tp.clone(),
                offset: r.offset,
                size: r.estimated_batch_bytes(),
                max: info.max_message_bytes,
            }
            .into());
        }
        Ok(())
    }

    async fn init_partition(&self, b: &PartitionBatch) -> Result<Progress, MirrorError> {
        let target = self.target_tp(&b.tp);
        let end = self.target.end_offset(&target).await?;
        if end > 0 && !self.allow_non_empty_target {
            return Err(MirrorError::TargetNotEmpty {
                target,
                end_offset: end,
            });
        }
        let first = b.records[0].offset;
        tracing::info!(source = %b.tp, %target, first_source_offset = first, target_end = end, "first batch for partition: recording its start");
        Ok(self
            .store
            .init_progress(&b.tp, Progress::initial(first, end))
            .await?)
    }

    async fn mirror_partition(
        &self,
        b: &PartitionBatch,
        known: Known,
    ) -> Result<PartitionOutcome, MirrorError> {
        let target = self.target_tp(&b.tp);
        let integrity = |source| MirrorError::Integrity {
            source_tp: b.tp.clone(),
            target: target.clone(),
            source,
        };
        let offsets: Vec<i64> = b.records.iter().map(|r| r.offset).collect();
        let started = Instant::now();
        // Progress first, then the end offset (for cached progress both were just checked).
        let (used, end) = match known {
            Known::Read(p) => (
                Cached {
                    progress: p,
                    own_marker_at: None,
                },
                self.target.end_offset(&target).await?,
            ),
            Known::Cached(c, end) => (c, end),
        };
        let p = used.progress;
        // Committed records past recorded progress: an earlier attempt's, never recorded. With
        // fencing done, no transaction of an older writer is still open, so `read_committed`
        // sees everything that will ever be visible there. A cached partition whose end shows
        // at most this sandbox's own marker has none (no read).
        let end_ms = ms_since(started);
        let found = if end > p.next_target && matches!(known, Known::Read(_)) {
            self.target
                .read_range(&target, p.next_target, end, ReadIsolation::Committed)
                .await
                .map_err(TargetError::from)?
        } else {
            Vec::new()
        };
        let read_ms = ms_since(started) - end_ms;
        let found_offsets: Vec<i64> = found.iter().map(|r| r.offset).collect();
        let plan = plan_partition(p, end, &found_offsets, &offsets).map_err(integrity)?;
        let first_new = offsets.get(plan.skip.end).copied();
        if source_check_needed(p, first_new, plan.skip.len()) {
            if let Some((log_start, source_end)) = self
                .source
                .log_bounds(&b.tp)
                .await
                .map_err(MirrorError::Source)?
            {
                check_source_loss(p, first_new, plan.skip.len(), log_start, source_end).map_err(
                    |loss| MirrorError::DataLoss {
                        source_tp: b.tp.clone(),
                        loss,
                    },
                )?;
            }
        }
        if !plan.reconcile.is_empty() {
            let expected = &b.records[plan.reconcile.clone()];
            verify_reconcile(expected, &found[..expected.len()]).map_err(integrity)?;
        }
        let to_produce = &b.records[plan.produce.clone()];
        let mut assigned = Vec::new();
        if !to_produce.is_empty() {
            self.faults.delay_at(FaultPoint::BeforeProduce).await;
            self.faults.at(FaultPoint::ProduceStarted);
            let produce_started = Instant::now();
            assigned = self.target.produce(&target, to_produce).await?;
            let produce_ms = ms_since(produce_started);
            if let Err(e) = self
                .check_produced(&target, end, used.own_marker_at, &assigned, to_produce)
                .await
            {
                // Nothing of this transaction may become visible.
                if let Err(abort) = self.target.abort(&target).await {
                    tracing::warn!(%target, error = %abort, "aborting the transaction after a failed check failed (the next writer's fencing aborts it)");
                }
                return Err(e.into_mirror(integrity));
            }
            self.faults
                .delay_at(FaultPoint::BeforeTransactionCommit)
                .await;
            let commit_started = Instant::now();
            self.target.commit(&target).await?;
            tracing::debug!(
                source = %b.tp,
                end_ms,
                read_ms,
                produce_ms,
                commit_ms = ms_since(commit_started),
                total_ms = ms_since(started),
                "partition written"
            );
        }
        let mut appended: Vec<(i64, i64)> = offsets[plan.reconcile.clone()]
            .iter()
            .copied()
            .zip(found_offsets.iter().copied())
            .collect();
        appended.extend(
            offsets[plan.produce.clone()]
                .iter()
                .copied()
                .zip(assigned.iter().copied()),
        );
        let commit = (!appended.is_empty()).then(|| {
            let (new, segments) = advance_to(p, &appended);
            ProgressCommit {
                tp: b.tp.clone(),
                expected: p,
                new,
                segments,
            }
        });
        let own_marker_at = match (assigned.last(), self.target.transactional()) {
            (Some(&last), true) => Some(last + 1),
            (Some(_), false) => None,
            // Nothing produced: the cached marker (if any) still sits where it was.
            (None, _) => used.own_marker_at,
        };
        let now = now_ms();
        let produced = to_produce.len() as u64;
        MirrorEvent::PartitionMirrored {
            topic: &b.tp.topic,
            partition: b.tp.partition,
            produced,
            reconciled: plan.reconcile.len() as u64,
            skipped: plan.skip.len() as u64,
            bytes: to_produce.iter().map(|r| r.payload_bytes() as u64).sum(),
            replication_latency_ms: to_produce.last().map(|r| (now - r.timestamp) as f64),
            record_age_ms: to_produce.first().map(|r| (now - r.timestamp) as f64),
        }
        .emit();
        Ok(PartitionOutcome {
            commit,
            used,
            own_marker_at,
            produced,
            reconciled: plan.reconcile.len() as u64,
            skipped: plan.skip.len() as u64,
        })
    }

    /// Checks where the produced records landed (see [`check_produced`]); scans the offsets
    /// between what was read and the records when they are not explained by this writer's own
    /// commit marker.
    async fn check_produced(
        &self,
        target: &TopicPartition,
        end: i64,
        own_marker_at: Option<i64>,
        assigned: &[i64],
        produced: &[ferry_core::MirrorRecord],
    ) -> Result<(), CheckFailure> {
        match check_produced(end, own_marker_at, assigned).map_err(CheckFailure::Plan)? {
            ProducedCheck::Clean => Ok(()),
            ProducedCheck::Scan(range) => {
                let between = self
                    .target
                    .read_range(target, range.start, range.end, ReadIsolation::Uncommitted)
                    .await
                    .map_err(|e| CheckFailure::Target(e.into()))?;
                match between.first() {
                    None => Ok(()),
                    Some(foreign) => Err(CheckFailure::Plan(PlanError::ForeignRecord {
                        target_offset: foreign.offset,
                        source_offset: produced.first().map_or(-1, |r| r.offset),
                    })),
                }
            }
        }
    }
}

/// Why the produced records' placement could not be confirmed.
enum CheckFailure {
    /// Placement is wrong (a foreign writer).
    Plan(PlanError),
    /// The scan could not be done.
    Target(TargetError),
}

impl CheckFailure {
    fn into_mirror(self, integrity: impl FnOnce(PlanError) -> MirrorError) -> MirrorError {
        match self {
            Self::Plan(e) => integrity(e),
            Self::Target(e) => MirrorError::Target(e),
        }
    }
}
