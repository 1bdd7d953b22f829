//! The exactly-once mirror protocol over the ports (see `ferry_core::progress`).
//!
//! Per batch:
//! 1. check every partition's target topic (exists, enough partitions, record sizes fit);
//! 2. read progress for all partitions in one call; initialise first-seen partitions;
//! 3. per partition, concurrently: read the target end offset, plan (skip / reconcile / produce),
//!    verify that reconciled records really are ours (content match), produce and await every
//!    delivery report, check contiguity;
//! 4. one conditional commit of progress + segments for every partition that succeeded;
//! 5. any failure → error → the event source mapping redelivers the whole batch.

use crate::error::MirrorError;
use crate::event::PartitionBatch;
use crate::faults::{FaultPoint, Faults};
use crate::telemetry::MirrorEvent;
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    ProgressCommit, ProgressStore, TargetMetadata, TargetOffsets, TargetProducer, TargetReader,
};
use ferry_core::progress::{advance, check_contiguous, plan_partition, verify_reconcile, Progress};
use ferry_core::TopicPartition;
use futures::future::join_all;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

/// Runs the mirror protocol. Generic over the ports so unit tests use in-memory fakes.
#[derive(Debug)]
pub struct MirrorHandler<S, T> {
    store: S,
    target: T,
    policy: ReplicationPolicy,
    filter: TopicFilter,
    allow_non_empty_target: bool,
    faults: Arc<Faults>,
}

struct PartitionOutcome {
    commit: Option<ProgressCommit>,
    produced: u64,
    reconciled: u64,
    skipped: u64,
}

impl<S, T> MirrorHandler<S, T>
where
    S: ProgressStore,
    T: TargetMetadata + TargetOffsets + TargetProducer + TargetReader,
{
    /// Builds a handler.
    pub fn new(store: S, target: T, policy: ReplicationPolicy, filter: TopicFilter) -> Self {
        Self {
            store,
            target,
            policy,
            filter,
            allow_non_empty_target: false,
            faults: Arc::new(Faults::none()),
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

    /// Mirrors one delivered batch. On error nothing is acknowledged; the batch must be redelivered.
    pub async fn handle(&self, batches: Vec<PartitionBatch>) -> Result<BatchSummary, MirrorError> {
        let started = Instant::now();
        let result = self.mirror(&batches).await;
        match &result {
            Ok(summary) => MirrorEvent::BatchCompleted {
                partitions: batches.len(),
                records: summary.records as usize,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
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

    async fn mirror(&self, batches: &[PartitionBatch]) -> Result<BatchSummary, MirrorError> {
        let batches: Vec<&PartitionBatch> =
            batches.iter().filter(|b| !b.records.is_empty()).collect();
        // 1. Preconditions, before anything is written.
        for b in &batches {
            self.check_target(b).await?;
        }
        // 2. Progress, and initialisation of first-seen partitions.
        let tps: Vec<TopicPartition> = batches.iter().map(|b| b.tp.clone()).collect();
        let mut progress = self.store.load_progress(&tps).await?;
        for b in &batches {
            if !progress.contains_key(&b.tp) {
                let p = self.init_partition(b).await?;
                progress.insert(b.tp.clone(), p);
            }
        }
        // 3. Mirror partitions concurrently; every future runs to completion so nothing is left in flight.
        let outcomes = join_all(
            batches
                .iter()
                .map(|b| self.mirror_partition(b, progress[&b.tp])),
        )
        .await;
        let mut summary = BatchSummary {
            partitions: batches.len() as u64,
            ..BatchSummary::default()
        };
        let mut commits = Vec::new();
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(o) => {
                    summary.produced += o.produced;
                    summary.reconciled += o.reconciled;
                    summary.skipped += o.skipped;
                    commits.extend(o.commit);
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
            let committed = self.store.commit_progress(&commits).await;
            if let Some(e) = first_error {
                return Err(e);
            }
            committed?;
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
        p: Progress,
    ) -> Result<PartitionOutcome, MirrorError> {
        let target = self.target_tp(&b.tp);
        let integrity = |source| MirrorError::Integrity {
            source_tp: b.tp.clone(),
            target: target.clone(),
            source,
        };
        let offsets: Vec<i64> = b.records.iter().map(|r| r.offset).collect();
        let end = self.target.end_offset(&target).await?;
        let plan = plan_partition(p, end, &offsets).map_err(integrity)?;
        if !plan.reconcile.is_empty() {
            let expected = &b.records[plan.reconcile.clone()];
            let found = self
                .target
                .read_range(
                    &target,
                    p.next_target,
                    p.next_target + expected.len() as i64,
                )
                .await?;
            verify_reconcile(p.next_target, expected, &found).map_err(integrity)?;
        }
        let to_produce = &b.records[plan.produce.clone()];
        if !to_produce.is_empty() {
            self.faults.at(FaultPoint::ProduceStarted);
            let assigned = self.target.produce(&target, to_produce).await?;
            check_contiguous(plan.produce_target_start, &assigned).map_err(integrity)?;
        }
        let appended = &offsets[plan.appended()];
        let commit = (!appended.is_empty()).then(|| {
            let (new, segments) = advance(p, appended);
            ProgressCommit {
                tp: b.tp.clone(),
                expected: p,
                new,
                segments,
            }
        });
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
            produced,
            reconciled: plan.reconcile.len() as u64,
            skipped: plan.skip.len() as u64,
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
