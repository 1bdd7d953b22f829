//! One poller: gathers batches, invokes the function, retries and commits.

use super::group::{Assignment, Group, Owner};
use super::{
    blocking, sleep_until_opt, Batch, BatchBuilder, BatchLimits, EsmConfig, EsmError, EsmStats,
    EventSourceMapping, MappingHandle, PayloadError, StartingPosition, KAFKA_CALL_TIMEOUT,
};
use crate::invoke::{InvokeError, Invoker};
use ferry_core::MirrorRecord;
use ferry_kafka::{FerryContext, FerryStreamConsumer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Failed attempts to resolve a poller's start offsets that are logged at debug level before
/// warnings start (with the default back-off, about 3 s: the coordinator loading after a
/// start-up).
const START_OFFSET_QUIET_ATTEMPTS: u32 = 5;

/// How often a failed offset commit is retried while no batch is delivered.
const COMMIT_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Converts a consumed message into the ESM's view of it (partition, record).
fn record_from(message: &BorrowedMessage<'_>) -> (i32, MirrorRecord) {
    (
        message.partition(),
        ferry_kafka::reader::to_mirror_record(message),
    )
}

/// Abandoned invocations still running ([`FaultConfig::abandon_after`](super::FaultConfig::abandon_after)); awaited at the end
/// of [`EventSourceMapping::run`].
#[derive(Debug, Default, Clone)]
pub(super) struct Background(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Background {
    fn push(&self, handle: tokio::task::JoinHandle<()>) {
        let mut handles = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
    }

    pub(super) async fn wait(&self) {
        loop {
            let handles =
                std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
            if handles.is_empty() {
                return;
            }
            for handle in handles {
                if let Err(err) = handle.await {
                    tracing::error!(error = %err, "abandoned invocation task failed");
                }
            }
        }
    }
}

/// Retry bookkeeping for the batch currently failing.
#[derive(Debug)]
struct RetryState {
    attempts: u32,
    backoff: Duration,
}

/// One poller: owns a set of partitions and a consumer; one batch in flight.
pub(super) struct Worker {
    index: usize,
    label: String,
    config: Arc<EsmConfig>,
    invoker: Arc<dyn Invoker>,
    stats: Arc<EsmStats>,
    control: MappingHandle,
    consumer: Arc<FerryStreamConsumer>,
    /// The next offset to take from the consumer per owned partition.
    fetch_next: BTreeMap<i32, i64>,
    /// A fetched record that did not fit into the previous batch.
    carry: Option<(i32, MirrorRecord)>,
    partitions: mpsc::UnboundedReceiver<Assignment>,
    /// Consumer-group mode: the coordinator, and the epoch each owned partition was
    /// assigned with (a commit is accepted only while that is still the group's owner).
    group: Option<Arc<Group>>,
    epochs: BTreeMap<i32, u64>,
    background: Background,
    rng: StdRng,
    retry: RetryState,
    next_limit: Option<usize>,
    redelivering: bool,
    /// Offsets acknowledged by the function but not yet committed (a commit failed).
    uncommitted: BTreeMap<i32, i64>,
}

enum Delivered {
    /// Go on with the next batch.
    Continue,
    /// Shutdown was requested while waiting to retry.
    Stopped,
}

impl Worker {
    pub(super) fn new(
        index: usize,
        mapping: &EventSourceMapping,
        group: Option<Arc<Group>>,
        background: Background,
        partitions: mpsc::UnboundedReceiver<Assignment>,
    ) -> Result<Self, EsmError> {
        let config = Arc::clone(&mapping.config);
        let invoker = Arc::clone(&mapping.invoker);
        let stats = Arc::clone(&mapping.stats);
        let control = mapping.control.clone();
        let label = config.label();
        let mut cfg = config.client_config();
        cfg.set("client.id", format!("ferry-esm-{label}-{index}"));
        let consumer: FerryStreamConsumer = cfg
            .create_with_context(FerryContext::default())
            .map_err(|source| EsmError::Kafka {
                mapping: label.clone(),
                context: format!("cannot create consumer for poller {index}"),
                source: Box::new(source),
            })?;
        let seed = config
            .faults
            .seed
            .wrapping_add(u64::try_from(index).unwrap_or(0));
        Ok(Self {
            index,
            label,
            retry: RetryState {
                attempts: 0,
                backoff: config.retry_initial_backoff,
            },
            config,
            invoker,
            stats,
            control,
            consumer: Arc::new(consumer),
            fetch_next: BTreeMap::new(),
            carry: None,
            partitions,
            group,
            epochs: BTreeMap::new(),
            background,
            rng: StdRng::seed_from_u64(seed),
            next_limit: None,
            redelivering: false,
            uncommitted: BTreeMap::new(),
        })
    }

    fn kafka_error(&self, context: impl Into<String>, source: KafkaError) -> EsmError {
        EsmError::Kafka {
            mapping: self.label.clone(),
            context: context.into(),
            source: Box::new(source),
        }
    }

    fn payload_error(&self, source: PayloadError) -> EsmError {
        EsmError::Payload {
            mapping: self.label.clone(),
            source,
        }
    }

    pub(super) async fn run(mut self, shutdown: CancellationToken) -> Result<(), EsmError> {
        let _running = self.control.running_guard();
        loop {
            if !self.control.is_enabled() {
                // Disabled: whatever is acknowledged gets committed, then the poller parks.
                self.flush_commits().await;
                tracing::info!(mapping = %self.label, poller = self.index, "mapping disabled; poller paused");
                if !self.control.wait_enabled(&shutdown).await {
                    break;
                }
                tracing::info!(mapping = %self.label, poller = self.index, "mapping enabled; poller resumed");
            }
            let Some(batch) = self.collect(&shutdown).await? else {
                if shutdown.is_cancelled() {
                    break;
                }
                // Disabled while gathering nothing: park at the top of the loop.
                continue;
            };
            match self.deliver(batch, &shutdown).await? {
                Delivered::Continue => {}
                Delivered::Stopped => break,
            }
        }
        // Last chance for offsets whose commit failed earlier.
        self.flush_commits().await;
        Ok(())
    }

    /// Gathers the next batch; `None` on shutdown.
    async fn collect(&mut self, shutdown: &CancellationToken) -> Result<Option<Batch>, EsmError> {
        let limits = BatchLimits {
            max_records: self.next_limit.take().unwrap_or(self.control.batch_size()),
            max_payload_bytes: self.config.max_payload_bytes,
        };
        let mut builder = BatchBuilder::new(
            &self.config.event_source,
            &self.config.source_bootstrap,
            self.config.topic.clone(),
            limits,
        )
        .map_err(|e| self.payload_error(e))?;
        let mut window_end = None;
        let mut commit_retry_at =
            (!self.uncommitted.is_empty()).then(|| Instant::now() + COMMIT_RETRY_INTERVAL);
        if let Some((partition, record)) = self.carry.take() {
            if let Some(record) = builder
                .try_push(&self.config.topic, partition, record)
                .map_err(|e| self.payload_error(e))?
            {
                // Unreachable (an empty batch takes any record); keep it for the next round.
                self.carry = Some((partition, record));
            }
            window_end = Some(Instant::now() + self.control.batching_window());
        }
        loop {
            if builder.is_full() || (self.carry.is_some() && !builder.is_empty()) {
                break;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(None),
                // Disabled: send what was gathered (if anything) as the last batch.
                () = self.control.disabled() => break,
                Some(change) = self.partitions.recv() => match change {
                    Assignment::Add(parts) => {
                        if !self.add_partitions(parts, shutdown).await? {
                            return Ok(None);
                        }
                    }
                    Assignment::Revoke(parts) => {
                        // What was gathered is dropped (the owned rest fetched again), so a
                        // batch never starts with records of a partition already revoked.
                        let gathered = (!builder.is_empty()).then(|| builder.finish());
                        self.revoke(&parts)?;
                        if let Some(gathered) = gathered {
                            self.rewind(&gathered)?;
                        }
                        return Ok(None);
                    }
                },
                received = self.consumer.recv() => {
                    let received = received.map(|m| record_from(&m));
                    match received {
                        Ok((partition, record)) => {
                            if !self.accept(partition, &record) {
                                continue;
                            }
                            if let Some(rejected) = builder
                                .try_push(&self.config.topic, partition, record)
                                .map_err(|e| self.payload_error(e))?
                            {
                                self.carry = Some((partition, rejected));
                                break;
                            }
                            if window_end.is_none() {
                                window_end = Some(Instant::now() + self.control.batching_window());
                            }
                        }
                        Err(err) => {
                            tracing::warn!(mapping = %self.label, poller = self.index, error = %err, "consume error");
                            tokio::select! {
                                () = shutdown.cancelled() => return Ok(None),
                                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                            }
                        }
                    }
                }
                () = sleep_until_opt(window_end) => break,
                () = sleep_until_opt(commit_retry_at) => {
                    self.flush_commits().await;
                    commit_retry_at = (!self.uncommitted.is_empty())
                        .then(|| Instant::now() + COMMIT_RETRY_INTERVAL);
                }
            }
        }
        if builder.is_empty() {
            return Ok(None);
        }
        Ok(Some(builder.finish()))
    }

    /// Advances the fetch position; `false` for a stale record (below the position, e.g.
    /// left over from before a rewind) or a partition this worker does not own.
    fn accept(&mut self, partition: i32, record: &MirrorRecord) -> bool {
        match self.fetch_next.get_mut(&partition) {
            Some(next) if record.offset >= *next => {
                *next = record.offset + 1;
                true
            }
            Some(next) => {
                tracing::trace!(mapping = %self.label, partition, offset = record.offset, expected = *next, "dropping stale record");
                false
            }
            None if self.group.is_some() => {
                tracing::trace!(mapping = %self.label, partition, "dropping a record of a revoked partition");
                false
            }
            None => {
                tracing::warn!(mapping = %self.label, partition, "record from an unowned partition");
                false
            }
        }
    }

    /// Takes ownership of `parts`: resolves their start offsets and (re)assigns. Transient
    /// errors (e.g. the group coordinator still loading on a fresh cluster) are retried with
    /// backoff; returns `false` if shutdown came first.
    async fn add_partitions(
        &mut self,
        parts: Vec<(i32, u64)>,
        shutdown: &CancellationToken,
    ) -> Result<bool, EsmError> {
        let parts: Vec<i32> = parts
            .into_iter()
            .filter(|(p, _)| !self.fetch_next.contains_key(p))
            .map(|(p, epoch)| {
                if self.group.is_some() {
                    self.epochs.insert(p, epoch);
                }
                p
            })
            .collect();
        if parts.is_empty() {
            return Ok(true);
        }
        let mut delay = self.config.retry_initial_backoff;
        let mut attempt = 0u32;
        let starts = loop {
            match self.resolve_starts(parts.clone()).await {
                Ok(starts) => break starts,
                Err(err) => {
                    attempt += 1;
                    // The first few failures are the group coordinator loading right after the
                    // cluster or the group starts: expected, debug level. Persisting ones warn.
                    if attempt <= START_OFFSET_QUIET_ATTEMPTS {
                        tracing::debug!(mapping = %self.label, poller = self.index, partitions = ?parts, error = %err, ?delay, attempt, "cannot resolve start offsets yet; retrying");
                    } else {
                        tracing::warn!(mapping = %self.label, poller = self.index, partitions = ?parts, error = %err, ?delay, attempt, "cannot resolve start offsets; retrying");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(false),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(self.config.retry_max_backoff);
                }
            }
        };
        for (p, start) in starts {
            tracing::info!(mapping = %self.label, poller = self.index, partition = p, start, "partition assigned");
            self.fetch_next.insert(p, start);
        }
        self.reassign()?;
        Ok(true)
    }

    /// Committed offset of each partition, or the starting position when there is none.
    async fn resolve_starts(&self, parts: Vec<i32>) -> Result<Vec<(i32, i64)>, KafkaError> {
        let consumer = Arc::clone(&self.consumer);
        let topic = self.config.topic.clone();
        let starting = self.config.starting_position;
        blocking(move || {
            let mut tpl = TopicPartitionList::new();
            for p in &parts {
                tpl.add_partition(&topic, *p);
            }
            let committed = consumer.committed_offsets(tpl, KAFKA_CALL_TIMEOUT)?;
            let mut starts = Vec::with_capacity(parts.len());
            for p in parts {
                let committed = committed
                    .find_partition(&topic, p)
                    .map(|e| e.offset())
                    .and_then(|o| match o {
                        Offset::Offset(n) if n >= 0 => Some(n),
                        _ => None,
                    });
                let start = match committed {
                    Some(n) => n,
                    None => {
                        let (low, high) =
                            consumer.fetch_watermarks(&topic, p, KAFKA_CALL_TIMEOUT)?;
                        match starting {
                            StartingPosition::TrimHorizon => low,
                            StartingPosition::Latest => high,
                        }
                    }
                };
                starts.push((p, start));
            }
            Ok(starts)
        })
        .await
    }

    /// Assigns all owned partitions at their fetch positions, discarding anything prefetched.
    fn reassign(&self) -> Result<(), EsmError> {
        let mut tpl = TopicPartitionList::new();
        for (p, next) in &self.fetch_next {
            tpl.add_partition_offset(&self.config.topic, *p, Offset::Offset(*next))
                .map_err(|e| self.kafka_error("cannot build the assignment", e))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| self.kafka_error("cannot assign partitions", e))
    }

    /// Rewinds the batch's partitions (and the carried record's) so they are fetched again;
    /// partitions no longer owned (revoked) are left alone.
    fn rewind(&mut self, batch: &Batch) -> Result<(), EsmError> {
        for range in &batch.partitions {
            if let Some(next) = self.fetch_next.get_mut(&range.partition) {
                *next = range.first_offset;
            }
        }
        if let Some((p, record)) = self.carry.take() {
            if let Some(next) = self.fetch_next.get_mut(&p) {
                *next = (*next).min(record.offset);
            }
        }
        self.reassign()
    }

    /// Gives up `parts` (consumer-group mode): no more fetching, a carried record and
    /// offsets not yet committed are dropped (the new owner starts from the committed offset).
    fn revoke(&mut self, parts: &[i32]) -> Result<(), EsmError> {
        for p in parts {
            self.fetch_next.remove(p);
            self.epochs.remove(p);
            self.uncommitted.remove(p);
        }
        if self.carry.as_ref().is_some_and(|(p, _)| parts.contains(p)) {
            self.carry = None;
        }
        tracing::info!(mapping = %self.label, poller = self.index, partitions = ?parts, "partitions revoked");
        self.reassign()
    }

    /// Whether the group still assigns `p` to this worker with the epoch it holds.
    fn owns(&self, owners: &BTreeMap<i32, Owner>, p: i32) -> bool {
        self.epochs.get(&p).is_some_and(|&epoch| {
            owners.get(&p)
                == Some(&Owner {
                    member: self.index,
                    epoch,
                })
        })
    }

    /// Consumer-group mode: whether any of the batch's partitions was revoked meanwhile.
    async fn lost_any(&self, batch: &Batch) -> bool {
        let Some(group) = &self.group else {
            return false;
        };
        let owners = group.owners.lock().await;
        batch
            .partitions
            .iter()
            .any(|r| !self.owns(&owners, r.partition))
    }

    /// Invokes the function; with [`FaultConfig::abandon_after`](super::FaultConfig::abandon_after), gives up waiting after that
    /// long (the invocation keeps running in the background) and reports a timeout.
    async fn invoke(&self, batch: &Batch) -> Result<Vec<u8>, InvokeError> {
        let flight = self.stats.enter_flight(batch);
        let Some(after) = self.config.faults.abandon_after else {
            let outcome = self
                .invoker
                .invoke(&self.config.function_name, batch.payload.clone())
                .await;
            drop(flight);
            return outcome;
        };
        let invoker = Arc::clone(&self.invoker);
        let function = self.config.function_name.clone();
        let payload = batch.payload.clone();
        let mut task = tokio::spawn(async move {
            let outcome = invoker.invoke(&function, payload).await;
            drop(flight);
            outcome
        });
        match tokio::time::timeout(after, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => Err(InvokeError::transport(format!(
                "invocation task failed: {join}"
            ))),
            Err(_) => {
                self.stats
                    .abandoned_invocations
                    .fetch_add(1, Ordering::Relaxed);
                let ranges = describe_ranges(batch);
                tracing::warn!(mapping = %self.label, poller = self.index, batch = %ranges, ?after, "fault: invocation abandoned (treated as timed out); it keeps running");
                let label = self.label.clone();
                self.background.push(tokio::spawn(async move {
                    let outcome = task.await;
                    tracing::debug!(mapping = %label, batch = %ranges, ok = matches!(outcome, Ok(Ok(_))), "abandoned invocation finished");
                }));
                Err(InvokeError::Timeout)
            }
        }
    }

    fn random_limit(&mut self) -> usize {
        self.rng.random_range(1..=self.config.batch_size)
    }

    async fn deliver(
        &mut self,
        batch: Batch,
        shutdown: &CancellationToken,
    ) -> Result<Delivered, EsmError> {
        loop {
            self.stats.invocations.fetch_add(1, Ordering::Relaxed);
            let outcome = self.invoke(&batch).await;
            if self.lost_any(&batch).await {
                // Rebalanced meanwhile: a success only counts for the partitions still owned
                // (the commit of the revoked ones is rejected), a failure is not retried; the
                // new owners start again from the committed offsets.
                self.stats.revoked_batches.fetch_add(1, Ordering::Relaxed);
                self.retry = RetryState {
                    attempts: 0,
                    backoff: self.config.retry_initial_backoff,
                };
                self.redelivering = false;
                let ranges = describe_ranges(&batch);
                match outcome {
                    Ok(_) => {
                        self.stats.batches.fetch_add(1, Ordering::Relaxed);
                        EsmStats::add(&self.stats.records, batch.records);
                        tracing::info!(mapping = %self.label, poller = self.index, batch = %ranges, "invocation ended after a rebalance revoked some of its partitions");
                        self.commit(&batch).await;
                    }
                    Err(err) => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        self.stats.set_last_error(&err);
                        tracing::info!(mapping = %self.label, poller = self.index, batch = %ranges, error = %err, "invocation failed after a rebalance revoked some of its partitions; not retried");
                        self.rewind(&batch)?;
                    }
                }
                return Ok(Delivered::Continue);
            }
            match outcome {
                Ok(_) => {
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    EsmStats::add(&self.stats.records, batch.records);
                    self.retry = RetryState {
                        attempts: 0,
                        backoff: self.config.retry_initial_backoff,
                    };
                    let p = self.config.faults.redeliver_probability;
                    if !self.redelivering && p > 0.0 && self.rng.random_bool(p) {
                        self.redelivering = true;
                        self.stats.redeliveries.fetch_add(1, Ordering::Relaxed);
                        EsmStats::add(&self.stats.redelivered_records, batch.records);
                        tracing::debug!(mapping = %self.label, records = batch.records, "fault: redelivering a successful batch (commit skipped)");
                        if self.config.faults.resplit_on_retry {
                            self.next_limit = Some(self.random_limit());
                        }
                        self.rewind(&batch)?;
                        return Ok(Delivered::Continue);
                    }
                    self.redelivering = false;
                    self.commit(&batch).await;
                    return Ok(Delivered::Continue);
                }
                Err(err) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    self.stats.set_last_error(&err);
                    let ranges = describe_ranges(&batch);
                    if self
                        .config
                        .max_retries
                        .is_some_and(|max| self.retry.attempts >= max)
                    {
                        tracing::error!(mapping = %self.label, error = %err, batch = %ranges, "retries exhausted; discarding the batch");
                        self.stats.discarded_batches.fetch_add(1, Ordering::Relaxed);
                        EsmStats::add(&self.stats.discarded_records, batch.records);
                        self.retry = RetryState {
                            attempts: 0,
                            backoff: self.config.retry_initial_backoff,
                        };
                        self.commit(&batch).await;
                        return Ok(Delivered::Continue);
                    }
                    let delay = self.retry.backoff;
                    self.retry.attempts += 1;
                    self.retry.backoff = (delay * 2).min(self.config.retry_max_backoff);
                    tracing::warn!(mapping = %self.label, error = %err, batch = %ranges, attempt = self.retry.attempts, ?delay, "invocation failed; retrying the whole batch");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(Delivered::Stopped),
                        () = tokio::time::sleep(delay) => {}
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    if self.config.faults.resplit_on_retry {
                        self.next_limit = Some(self.random_limit());
                        self.rewind(&batch)?;
                        return Ok(Delivered::Continue);
                    }
                }
            }
        }
    }

    /// Commits `last + 1` for every partition of `batch` (plus anything an earlier failed
    /// commit left behind). A failure is logged and counted; the offsets stay pending and are
    /// retried with the next batch or after [`COMMIT_RETRY_INTERVAL`] while idle.
    async fn commit(&mut self, batch: &Batch) {
        for range in &batch.partitions {
            let next = self.uncommitted.entry(range.partition).or_insert(0);
            *next = (*next).max(range.next_offset());
        }
        self.flush_commits().await;
    }

    async fn flush_commits(&mut self) {
        if self.uncommitted.is_empty() {
            return;
        }
        // Consumer-group mode: the owner table is held until the commit is done, so no
        // rebalance can hand a partition over in between.
        let group = self.group.clone();
        let _owners = match &group {
            Some(group) => {
                let owners = group.owners.lock().await;
                let revoked: Vec<i32> = self
                    .uncommitted
                    .keys()
                    .copied()
                    .filter(|p| !self.owns(&owners, *p))
                    .collect();
                if !revoked.is_empty() {
                    // Kafka's CommitFailedException: the whole commit fails. Offsets of
                    // revoked partitions are dropped (the new owner redelivers); the rest
                    // stays pending for the next commit.
                    for p in &revoked {
                        self.uncommitted.remove(p);
                    }
                    self.stats.rejected_commits.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(mapping = %self.label, poller = self.index, revoked = ?revoked, "offset commit rejected: partitions were revoked by a rebalance");
                    return;
                }
                Some(owners)
            }
            None => None,
        };
        let mut tpl = TopicPartitionList::new();
        for (p, next) in &self.uncommitted {
            if let Err(err) =
                tpl.add_partition_offset(&self.config.topic, *p, Offset::Offset(*next))
            {
                tracing::error!(mapping = %self.label, error = %err, "cannot build the commit");
                self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let consumer = Arc::clone(&self.consumer);
        match blocking(move || consumer.commit(&tpl, CommitMode::Sync)).await {
            Ok(()) => {
                self.uncommitted.clear();
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::warn!(mapping = %self.label, error = %err, offsets = ?self.uncommitted, "offset commit failed; will retry");
                self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn describe_ranges(batch: &Batch) -> String {
    batch
        .partitions
        .iter()
        .map(|r| format!("p{}:{}..={}", r.partition, r.first_offset, r.last_offset))
        .collect::<Vec<_>>()
        .join(",")
}
