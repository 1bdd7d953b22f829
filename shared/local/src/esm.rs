//! Kafka event source mapping (ESM) emulator.
//!
//! No local tool emulates Lambda's Kafka ESM, so Ferry brings its own. One
//! [`EventSourceMapping`] consumes exactly one topic (as in AWS) with its own consumer group
//! and invokes a function through an [`Invoker`] with AWS-shaped payloads
//! (see [`payload`]). The behaviour follows what AWS documents:
//!
//! * **Ordering.** Partitions are spread over [`EsmConfig::pollers`] concurrent workers
//!   (partition `p` goes to worker `p % pollers`); each worker owns its partitions exclusively
//!   and has at most one batch in flight, so every partition is processed strictly in order
//!   with at most one batch in flight, while different partitions run in parallel. A batch may
//!   mix the partitions of one worker, as AWS batches may. This is the default
//!   [`PollerMode::Static`]; AWS itself gives weaker guarantees, see *Rebalances and
//!   overlapping invocations* below.
//! * **Batching.** A batch is sent when it holds `batch_size` records, when the next record
//!   would push the JSON payload over `max_payload_bytes` (6 MB by default, base64 included),
//!   or when `batching_window` has passed since its first record.
//! * **Commit after success.** Offsets (`last offset + 1` per partition in the batch) are
//!   committed to the source group only after the function returned successfully
//!   (`enable.auto.commit=false`). The group is used as a *simple* consumer group (manual
//!   assignment, no Kafka group membership), so commits succeed while no other member is
//!   active; in [`PollerMode::ConsumerGroup`] the emulator checks membership itself.
//! * **Whole-batch retry.** A failed invocation (function error, crash, timeout, transport)
//!   retries the *whole* batch with exponential backoff (`retry_initial_backoff` doubling up
//!   to `retry_max_backoff`), forever unless `max_retries` is set; then the batch is discarded
//!   (committed past) like AWS does with an on-failure destination. Without fault knobs the
//!   retry re-sends the identical payload.
//! * **Starting position.** Committed group offsets win; without them `TrimHorizon` starts at
//!   the log start and `Latest` at the end offset observed when the partition is assigned.
//! * **New partitions** are picked up by a periodic metadata refresh.
//!
//! * **Enable / disable.** Every mapping has a UUID and a [`MappingControl`] (what
//!   `UpdateEventSourceMapping` changes, see [`crate::lambda_api`]). Disabling lets each
//!   poller finish its in-flight batch (delivery, retries and the commit run to the end; a
//!   batch still being gathered is sent as it is), then polling stops; the consumer group
//!   keeps its position and re-enabling resumes from there. The state goes
//!   `Disabling` → `Disabled` once every running poller is idle, and `Enabling` → `Enabled`
//!   once all resumed. `BatchSize` and the batching window can be changed the same way; they
//!   apply from the next batch on.
//!
//! Fault knobs ([`FaultConfig`]) make at-least-once delivery visible in tests:
//! `redeliver_probability` rewinds to a successful batch's first offsets *without committing*
//! (a lost commit), so the same records come again once, re-fetched and possibly combined with
//! later records; `resplit_on_retry` rewinds on every retry (and redelivery) and draws a random
//! record limit in `1..=batch_size`, so retried batches are split differently. Both are
//! deterministic for a given `seed` (modulo timing).
//!
//! # Rebalances and overlapping invocations
//!
//! AWS's Kafka ESM is at least once and does **not** guarantee that one partition has only
//! one invocation in flight. Its pollers are members of the mapping's consumer group (Java
//! clients, as far as public material shows); when AWS scales pollers up or down, or replaces
//! one, the group rebalances. An invocation of a partition that was just revoked is not
//! cancelled: it runs to its end, and its offset commit then fails (the Java client's
//! `commitSync` after revocation throws `CommitFailedException`; the group coordinator
//! rejects commits of an old generation). The partition's new owner starts from the group's
//! last committed offset right away, possibly while the old invocation is still running, so
//! two invocations of one partition overlap and the same records are delivered twice, at the
//! same time, to two sandboxes. Separately, an invocation that exceeds the function timeout
//! counts as failed and its batch is retried, while what the timed-out sandbox already sent
//! (produce requests, transaction markers, DynamoDB writes) may still land afterwards.
//!
//! Opt-in knobs reproduce both; the default ([`PollerMode::Static`], knobs off) keeps the
//! exclusive, strictly sequential behaviour above with identical payloads.
//!
//! * [`PollerMode::ConsumerGroup`]: the pollers are the members of the mapping's consumer
//!   group, with the emulator as the group coordinator (faster and more controllable than
//!   librdkafka's group protocol, whose joins take seconds, and with the same observable
//!   effects). On every rebalance the partitions are spread round-robin over the members,
//!   rotated by the generation, so most partitions change owner; each move bumps the
//!   partition's epoch. The old owner is told to drop the partition but its in-flight
//!   invocation runs to its end; the new owner reads the committed offset, seeks there and
//!   delivers immediately. When an invocation ends after one of its partitions was revoked
//!   (counted in `revoked_batches`), a success is committed only if every partition in the
//!   commit is still owned with the same epoch; otherwise the whole commit is rejected
//!   (`rejected_commits`, like `CommitFailedException`): the revoked partitions' offsets are
//!   dropped (the new owner delivers those records again) and those of partitions still owned
//!   stay pending for the next commit; a failure is not retried (the new owner redelivers).
//!   Commits and rebalances are serialized on the coordinator's owner table, so a revoked
//!   member's commit can never land after the new owner read the committed offset: committed
//!   offsets never move backwards. A member that leaves the group (scale-down, replacement)
//!   finishes its in-flight invocation, has its commit rejected and stops. Batches being
//!   gathered when a partition is revoked are dropped and re-fetched.
//! * [`MappingControl::set_pollers`] scales the group at runtime (one rebalance per call);
//!   [`FaultConfig::rebalance_every`] rebalances periodically: each period the group size is
//!   redrawn from `1..=pollers` and one member is replaced unless the group shrank (a poller
//!   restart), so that at least one member changes every time. New partitions found by the
//!   metadata refresh also rebalance the group.
//! * [`FaultConfig::abandon_after`] (any mode): the poller stops waiting for an invocation
//!   after that long, counts it as timed out (`failures`, `abandoned_invocations`, error
//!   [`InvokeError::Timeout`]) and retries the whole batch after the usual backoff, while the
//!   first invocation keeps running in the background to its own end (it is spawned, never
//!   cancelled; its result is ignored; [`EventSourceMapping::run`] waits for it before
//!   returning). With a [`crate::FunctionHost`] the abandoned sandbox is killed at the
//!   function timeout at the latest, as in AWS; set `abandon_after` below that timeout to
//!   model the ESM giving up while the sandbox still writes.
//!
//! [`EsmStatsSnapshot`] counts `rebalances`, the current `pollers`, `overlapping_invocations`
//! (an invocation started while another invocation of one of its partitions was in flight,
//! from a rebalance or an abandoned invocation), `revoked_batches`, `rejected_commits`,
//! `abandoned_invocations` and `in_flight_invocations`.
//!
//! # Transactional topics
//!
//! The consumer's `isolation.level` is configurable ([`IsolationLevel`], default
//! `read_committed`). What AWS does is **not documented**: the AWS Lambda docs for MSK and
//! self-managed Kafka ESMs say nothing about isolation level, transactions or control records,
//! and the ESM's poller (a Java Kafka client, as far as public material shows) would default to
//! `read_uncommitted` unless AWS overrides it. Observable consequences either way: control
//! records (transaction markers) are never delivered and leave gaps in the offsets a function
//! sees; under `read_uncommitted` records of aborted transactions *are* delivered and records
//! of open transactions are visible before the commit, under `read_committed` delivery stops
//! at the last stable offset. Because AWS commits the offsets of the messages in the batch,
//! the committed offset after a transaction's last record points at its commit marker, one
//! below the partition's end offset, until more records arrive; the emulator does the same.
//! Ferry's exactly-once logic must therefore tolerate gaps and must not assume which isolation
//! level the real ESM uses; run the local stack with both levels when transactional source
//! topics matter.

pub mod payload;

pub use payload::{Batch, BatchBuilder, BatchLimits, EventSource, PartitionRange, PayloadError};

use crate::invoke::{InvokeError, Invoker, MAX_SYNC_PAYLOAD_BYTES};
use ferry_core::MirrorRecord;
use ferry_kafka::{FerryConsumer, FerryContext, FerryStreamConsumer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Failed attempts to resolve a poller's start offsets that are logged at debug level before
/// warnings start (with the default back-off, about 3 s: the coordinator loading after a
/// start-up).
const START_OFFSET_QUIET_ATTEMPTS: u32 = 5;
/// AWS's maximum `BatchSize` for Kafka event sources.
pub const MAX_BATCH_SIZE: usize = 10_000;

/// Timeout for blocking metadata, offset and commit calls against the source cluster.
const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a failed offset commit is retried while no batch is delivered.
const COMMIT_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Where to start when the group has no committed offset for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingPosition {
    /// The oldest available record (`TRIM_HORIZON`).
    #[default]
    TrimHorizon,
    /// The end of the partition at assignment time (`LATEST`).
    Latest,
}

/// The consumer's `isolation.level`; see the module docs on transactional topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Only committed transactional records, up to the last stable offset.
    #[default]
    ReadCommitted,
    /// Everything, including records of aborted and open transactions.
    ReadUncommitted,
}

impl IsolationLevel {
    fn as_kafka(self) -> &'static str {
        match self {
            Self::ReadCommitted => "read_committed",
            Self::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// Fault injection for tests; all off by default.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// After a successful batch, with this probability, skip the commit and rewind to the
    /// batch's first offsets, so its records are delivered once more. `0.0..=1.0`.
    pub redeliver_probability: f64,
    /// On a retry (and a redelivery), rewind and re-fetch with a random record limit in
    /// `1..=batch_size`, so redelivered records are batched differently.
    pub resplit_on_retry: bool,
    /// Seed of the per-worker random generators (worker `i` uses `seed + i`; the group
    /// coordinator of [`PollerMode::ConsumerGroup`] uses `seed` itself).
    pub seed: u64,
    /// [`PollerMode::ConsumerGroup`] only: every period the group is rebalanced: its size is
    /// redrawn uniformly from `1..=`[`MappingControl::pollers`] and, unless it shrank, one
    /// random poller is replaced by a fresh one (a poller restart), so partitions change
    /// owner every period. `None`: the group only rebalances on new partitions and
    /// [`MappingControl::set_pollers`].
    pub rebalance_every: Option<Duration>,
    /// The poller stops waiting for an invocation after this long, counts it as timed out
    /// ([`InvokeError::Timeout`]) and retries the whole batch (normal backoff) while the first
    /// invocation keeps running in the background to its own end (never cancelled; its
    /// result is ignored). `None`: wait for every invocation (default).
    pub abandon_after: Option<Duration>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            redeliver_probability: 0.0,
            resplit_on_retry: false,
            seed: 0x5eed,
            rebalance_every: None,
            abandon_after: None,
        }
    }
}

/// How a mapping's pollers share the topic's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PollerMode {
    /// Fixed, exclusive ownership: partition `p` belongs to poller `p % pollers` for the
    /// mapping's lifetime; no rebalances, never two invocations of one partition at once
    /// (unless [`FaultConfig::abandon_after`] fires). The default.
    #[default]
    Static,
    /// The pollers are members of the mapping's consumer group, coordinated by the emulator:
    /// scaling ([`MappingControl::set_pollers`], [`FaultConfig::rebalance_every`]) rebalances
    /// the group, revoked partitions' in-flight invocations run to their end, the new owner
    /// restarts from the committed offset right away, and commits of revoked members are
    /// rejected. See the module docs.
    ConsumerGroup,
}

/// One event source mapping: one topic, one consumer group, one function.
#[derive(Debug, Clone)]
pub struct EsmConfig {
    /// Source cluster bootstrap servers (also sent as `bootstrapServers`).
    pub source_bootstrap: String,
    /// The single topic of this mapping.
    pub topic: String,
    /// The consumer group whose offsets the mapping commits.
    pub consumer_group_id: String,
    /// The function to invoke.
    pub function_name: String,
    /// Maximum records per batch (AWS `BatchSize`, default 100, at most 10,000).
    pub batch_size: usize,
    /// Maximum time to gather a batch after its first record (AWS
    /// `MaximumBatchingWindowInSeconds`; Kafka default 500 ms).
    pub batching_window: Duration,
    /// Maximum payload size in bytes, JSON and base64 included (default and maximum 6 MB).
    pub max_payload_bytes: usize,
    /// Where to start without committed offsets.
    pub starting_position: StartingPosition,
    /// MSK or self-managed; decides the payload's `eventSource` / `eventSourceArn`.
    pub event_source: EventSource,
    /// Number of concurrent pollers (AWS provisioned pollers; useful up to the partition count).
    /// In [`PollerMode::ConsumerGroup`] the initial group size (see [`MappingControl::set_pollers`]).
    pub pollers: usize,
    /// Static partition ownership (default) or a rebalancing consumer group.
    pub poller_mode: PollerMode,
    /// First retry delay after a failed invocation.
    pub retry_initial_backoff: Duration,
    /// Cap of the exponential retry delay.
    pub retry_max_backoff: Duration,
    /// Retries before a failing batch is discarded; `None` retries forever (AWS default).
    pub max_retries: Option<u32>,
    /// The consumer's isolation level (default `read_committed`).
    pub isolation_level: IsolationLevel,
    /// How often to look for new partitions.
    pub metadata_refresh: Duration,
    /// Extra librdkafka settings for the source consumer (security, timeouts, ...); they
    /// override the emulator's defaults, e.g. its prefetch bound
    /// `queued.max.messages.kbytes` = [`DEFAULT_PREFETCH_KBYTES`].
    pub consumer_config: Vec<(String, String)>,
    /// Fault injection.
    pub faults: FaultConfig,
}

impl EsmConfig {
    /// A mapping with AWS defaults: batch size 100, 500 ms window, 6 MB payloads,
    /// `TrimHorizon`, self-managed event source, one poller, retries forever with
    /// 100 ms..5 s backoff, `read_committed`, metadata refresh every 30 s, no faults.
    pub fn new(
        source_bootstrap: impl Into<String>,
        topic: impl Into<String>,
        consumer_group_id: impl Into<String>,
        function_name: impl Into<String>,
    ) -> Self {
        Self {
            source_bootstrap: source_bootstrap.into(),
            topic: topic.into(),
            consumer_group_id: consumer_group_id.into(),
            function_name: function_name.into(),
            batch_size: 100,
            batching_window: Duration::from_millis(500),
            max_payload_bytes: MAX_SYNC_PAYLOAD_BYTES,
            starting_position: StartingPosition::TrimHorizon,
            event_source: EventSource::SelfManaged,
            pollers: 1,
            poller_mode: PollerMode::Static,
            retry_initial_backoff: Duration::from_millis(100),
            retry_max_backoff: Duration::from_secs(5),
            max_retries: None,
            isolation_level: IsolationLevel::ReadCommitted,
            metadata_refresh: Duration::from_secs(30),
            consumer_config: Vec::new(),
            faults: FaultConfig::default(),
        }
    }

    /// A short name for logs: `<function>:<topic>`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.function_name, self.topic)
    }

    /// Checks the limits AWS enforces (and the emulator's own).
    pub fn validate(&self) -> Result<(), EsmError> {
        let fail = |reason: String| {
            Err(EsmError::InvalidConfig {
                mapping: self.label(),
                reason,
            })
        };
        if self.topic.is_empty() || self.topic.contains(',') {
            return fail("exactly one topic is required".to_owned());
        }
        if self.consumer_group_id.is_empty() || self.function_name.is_empty() {
            return fail("consumer group id and function name are required".to_owned());
        }
        if self.source_bootstrap.is_empty() {
            return fail("source bootstrap servers are required".to_owned());
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return fail(format!(
                "batch size {} not in 1..={MAX_BATCH_SIZE}",
                self.batch_size
            ));
        }
        if self.max_payload_bytes == 0 || self.max_payload_bytes > MAX_SYNC_PAYLOAD_BYTES {
            return fail(format!(
                "max payload bytes {} not in 1..={MAX_SYNC_PAYLOAD_BYTES}",
                self.max_payload_bytes
            ));
        }
        if self.pollers == 0 {
            return fail("at least one poller is required".to_owned());
        }
        if self.retry_initial_backoff.is_zero()
            || self.retry_max_backoff < self.retry_initial_backoff
        {
            return fail("retry backoff must be positive and max >= initial".to_owned());
        }
        if !(0.0..=1.0).contains(&self.faults.redeliver_probability) {
            return fail("redeliver probability must be within 0..=1".to_owned());
        }
        if self.metadata_refresh.is_zero() {
            return fail("metadata refresh interval must be positive".to_owned());
        }
        if let Some(every) = self.faults.rebalance_every {
            if self.poller_mode != PollerMode::ConsumerGroup {
                return fail("rebalance_every requires PollerMode::ConsumerGroup".to_owned());
            }
            if every.is_zero() {
                return fail("rebalance_every must be positive".to_owned());
            }
        }
        if self.faults.abandon_after.is_some_and(|d| d.is_zero()) {
            return fail("abandon_after must be positive".to_owned());
        }
        Ok(())
    }

    fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.source_bootstrap)
            .set("group.id", &self.consumer_group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("isolation.level", self.isolation_level.as_kafka())
            .set(
                "queued.max.messages.kbytes",
                DEFAULT_PREFETCH_KBYTES.to_string(),
            )
            .set(
                "auto.offset.reset",
                match self.starting_position {
                    StartingPosition::TrimHorizon => "earliest",
                    StartingPosition::Latest => "latest",
                },
            );
        for (k, v) in &self.consumer_config {
            cfg.set(k, v);
        }
        cfg
    }
}

/// Prefetch bound per poller (librdkafka `queued.max.messages.kbytes`; its default is 64 MiB):
/// 8 MiB holds the records of the next full 6 MB payload (~4.4 MB of raw data) while the
/// current one is in flight, so a poller does not wait for the broker between batches, while
/// one poller per partition (12 in the benchmark's backfill) or 100 mappings do not reserve
/// hundreds of MiB of consumer buffers on the host (measured: 16 MiB → 8 MiB took a 12-poller
/// host from 476 to 321 MB peak RSS, with no loss of throughput). It does not change what a
/// batch contains.
pub const DEFAULT_PREFETCH_KBYTES: u32 = 8 * 1024;

/// Errors that stop a mapping.
#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    /// The configuration violates a limit.
    #[error("invalid event source mapping {mapping}: {reason}")]
    InvalidConfig {
        /// `<function>:<topic>`.
        mapping: String,
        /// What is wrong.
        reason: String,
    },
    /// A Kafka call failed in a way the mapping cannot ride out.
    #[error("event source mapping {mapping}: {context}")]
    Kafka {
        /// `<function>:<topic>`.
        mapping: String,
        /// What was being done.
        context: String,
        /// Cause (boxed: `KafkaError` is large).
        #[source]
        source: Box<KafkaError>,
    },
    /// Building a payload failed.
    #[error("event source mapping {mapping}: cannot build a payload")]
    Payload {
        /// `<function>:<topic>`.
        mapping: String,
        /// Cause.
        #[source]
        source: PayloadError,
    },
    /// A worker task panicked or was aborted.
    #[error("event source mapping worker failed")]
    Worker(#[source] tokio::task::JoinError),
}

/// Live counters of one mapping (cheap to share; read with [`EsmStats::snapshot`]).
#[derive(Debug, Default)]
pub struct EsmStats {
    invocations: AtomicU64,
    batches: AtomicU64,
    records: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    redeliveries: AtomicU64,
    redelivered_records: AtomicU64,
    discarded_batches: AtomicU64,
    discarded_records: AtomicU64,
    commits: AtomicU64,
    commit_failures: AtomicU64,
    rejected_commits: AtomicU64,
    revoked_batches: AtomicU64,
    rebalances: AtomicU64,
    pollers: AtomicU64,
    overlapping_invocations: AtomicU64,
    abandoned_invocations: AtomicU64,
    in_flight_invocations: AtomicU64,
    /// Invocations in flight per partition (an abandoned invocation counts until it ends).
    in_flight: Mutex<BTreeMap<i32, u32>>,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy of [`EsmStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EsmStatsSnapshot {
    /// Invocations attempted.
    pub invocations: u64,
    /// Batches the function accepted (including redelivered ones).
    pub batches: u64,
    /// Records in accepted batches (duplicates from redelivery counted again).
    pub records: u64,
    /// Failed invocations.
    pub failures: u64,
    /// Invocations that retried a failed batch.
    pub retries: u64,
    /// Successful batches deliberately delivered again (fault knob).
    pub redeliveries: u64,
    /// Records in those batches.
    pub redelivered_records: u64,
    /// Batches given up after `max_retries`.
    pub discarded_batches: u64,
    /// Records in those batches.
    pub discarded_records: u64,
    /// Successful offset commits.
    pub commits: u64,
    /// Failed offset commits (after local retries).
    pub commit_failures: u64,
    /// Commits refused because a partition in them was revoked from the committing poller
    /// ([`PollerMode::ConsumerGroup`]; Kafka's `CommitFailedException`); their offsets of
    /// revoked partitions are dropped, the new owner delivers those records again.
    pub rejected_commits: u64,
    /// Invocations that ended after one of their partitions had been revoked (their result
    /// counts only for the partitions still owned; a failed one is not retried).
    pub revoked_batches: u64,
    /// Group rebalances (the first assignment and new partitions included); always 0 in
    /// [`PollerMode::Static`].
    pub rebalances: u64,
    /// Current group size ([`PollerMode::ConsumerGroup`]) or the static poller count.
    pub pollers: u64,
    /// Invocations that started while another invocation of one of their partitions was
    /// still in flight (after a rebalance or an abandoned invocation).
    pub overlapping_invocations: u64,
    /// Invocations the poller stopped waiting for ([`FaultConfig::abandon_after`]); each is
    /// also counted in `failures` and its batch retried while it keeps running.
    pub abandoned_invocations: u64,
    /// Invocations currently in flight, abandoned ones included.
    pub in_flight_invocations: u64,
    /// The most recent invocation error, if any.
    pub last_error: Option<String>,
}

impl EsmStats {
    /// Reads all counters.
    pub fn snapshot(&self) -> EsmStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EsmStatsSnapshot {
            invocations: get(&self.invocations),
            batches: get(&self.batches),
            records: get(&self.records),
            failures: get(&self.failures),
            retries: get(&self.retries),
            redeliveries: get(&self.redeliveries),
            redelivered_records: get(&self.redelivered_records),
            discarded_batches: get(&self.discarded_batches),
            discarded_records: get(&self.discarded_records),
            commits: get(&self.commits),
            commit_failures: get(&self.commit_failures),
            rejected_commits: get(&self.rejected_commits),
            revoked_batches: get(&self.revoked_batches),
            rebalances: get(&self.rebalances),
            pollers: get(&self.pollers),
            overlapping_invocations: get(&self.overlapping_invocations),
            abandoned_invocations: get(&self.abandoned_invocations),
            in_flight_invocations: get(&self.in_flight_invocations),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Marks `batch`'s partitions in flight until the guard drops; counts an overlap when one
    /// of them already was.
    fn enter_flight(self: &Arc<Self>, batch: &Batch) -> InFlight {
        let partitions: Vec<i32> = batch.partitions.iter().map(|r| r.partition).collect();
        let mut overlap = false;
        {
            let mut map = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for p in &partitions {
                let n = map.entry(*p).or_insert(0);
                overlap |= *n > 0;
                *n += 1;
            }
        }
        if overlap {
            self.overlapping_invocations.fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight_invocations.fetch_add(1, Ordering::Relaxed);
        InFlight {
            stats: Arc::clone(self),
            partitions,
        }
    }

    fn set_last_error(&self, err: &InvokeError) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(err.to_string());
    }
}

/// One invocation in flight (see [`EsmStats::enter_flight`]).
struct InFlight {
    stats: Arc<EsmStats>,
    partitions: Vec<i32>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self
            .stats
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for p in &self.partitions {
            if let Some(n) = map.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    map.remove(p);
                }
            }
        }
        drop(map);
        self.stats
            .in_flight_invocations
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The observable state of a mapping (AWS `State`, the subset a Kafka ESM goes through
/// after creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingState {
    /// Polling.
    Enabled,
    /// Enabled again; some pollers have not resumed yet.
    Enabling,
    /// Disabled; some pollers are still finishing their in-flight batch.
    Disabling,
    /// Not polling; the consumer group keeps its position.
    Disabled,
}

impl MappingState {
    /// The AWS spelling (`Enabled`, `Enabling`, `Disabling`, `Disabled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Enabling => "Enabling",
            Self::Disabling => "Disabling",
            Self::Disabled => "Disabled",
        }
    }
}

/// Shared control handle of one mapping: its UUID, the `Enabled` switch and the settings that
/// `UpdateEventSourceMapping` may change. Cheap to clone; every clone controls the same mapping.
#[derive(Debug, Clone)]
pub struct MappingControl {
    inner: Arc<ControlInner>,
}

#[derive(Debug)]
struct ControlInner {
    uuid: String,
    enabled: watch::Sender<bool>,
    /// Pollers currently inside `run`.
    running: AtomicUsize,
    /// Running pollers currently parked because the mapping is disabled.
    paused: AtomicUsize,
    batch_size: AtomicUsize,
    batching_window_ms: AtomicU64,
    /// Target group size ([`PollerMode::ConsumerGroup`]); the static poller count otherwise.
    pollers: watch::Sender<usize>,
    poller_mode: PollerMode,
    last_modified: Mutex<SystemTime>,
}

impl MappingControl {
    fn new(config: &EsmConfig) -> Self {
        let (enabled, _) = watch::channel(true);
        Self {
            inner: Arc::new(ControlInner {
                uuid: uuid::Uuid::new_v4().to_string(),
                enabled,
                running: AtomicUsize::new(0),
                paused: AtomicUsize::new(0),
                batch_size: AtomicUsize::new(config.batch_size),
                batching_window_ms: AtomicU64::new(
                    u64::try_from(config.batching_window.as_millis()).unwrap_or(u64::MAX),
                ),
                pollers: watch::channel(config.pollers).0,
                poller_mode: config.poller_mode,
                last_modified: Mutex::new(SystemTime::now()),
            }),
        }
    }

    /// The number of pollers: the static count, or the consumer group's target size.
    pub fn pollers(&self) -> usize {
        *self.inner.pollers.borrow()
    }

    /// Scales the consumer group to `pollers` members ([`PollerMode::ConsumerGroup`] only):
    /// the group rebalances at once, revoked partitions' in-flight invocations run to their
    /// end while the new owners start from the committed offsets. With
    /// [`FaultConfig::rebalance_every`] this is the upper bound of the random group size.
    pub fn set_pollers(&self, pollers: usize) -> Result<(), String> {
        if self.inner.poller_mode != PollerMode::ConsumerGroup {
            return Err("scaling pollers requires PollerMode::ConsumerGroup".to_owned());
        }
        if pollers == 0 {
            return Err("at least one poller is required".to_owned());
        }
        self.inner.pollers.send_replace(pollers);
        self.touch();
        Ok(())
    }

    /// The mapping's UUID (random, fixed for the mapping's lifetime).
    pub fn uuid(&self) -> &str {
        &self.inner.uuid
    }

    /// Whether the mapping is meant to poll (the `Enabled` setting).
    pub fn is_enabled(&self) -> bool {
        *self.inner.enabled.borrow()
    }

    /// Enables or disables the mapping; see the module docs. Returns whether this changed it.
    pub fn set_enabled(&self, enabled: bool) -> bool {
        let changed = self.inner.enabled.send_if_modified(|current| {
            let changed = *current != enabled;
            *current = enabled;
            changed
        });
        if changed {
            self.touch();
        }
        changed
    }

    /// The current state: `Disabling` / `Enabling` while pollers still catch up.
    pub fn state(&self) -> MappingState {
        let running = self.inner.running.load(Ordering::SeqCst);
        let paused = self.inner.paused.load(Ordering::SeqCst);
        match (self.is_enabled(), paused) {
            (true, 0) => MappingState::Enabled,
            (true, _) => MappingState::Enabling,
            (false, p) if p >= running => MappingState::Disabled,
            (false, _) => MappingState::Disabling,
        }
    }

    /// The current `BatchSize`.
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size.load(Ordering::Relaxed)
    }

    /// Changes `BatchSize` from the next batch on (`1..=`[`MAX_BATCH_SIZE`]).
    pub fn set_batch_size(&self, batch_size: usize) -> Result<(), String> {
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(format!(
                "BatchSize {batch_size} not in 1..={MAX_BATCH_SIZE}"
            ));
        }
        self.inner.batch_size.store(batch_size, Ordering::Relaxed);
        self.touch();
        Ok(())
    }

    /// The current batching window.
    pub fn batching_window(&self) -> Duration {
        Duration::from_millis(self.inner.batching_window_ms.load(Ordering::Relaxed))
    }

    /// Changes the batching window from the next batch on (AWS allows 0..=300 s).
    pub fn set_batching_window(&self, window: Duration) -> Result<(), String> {
        if window > Duration::from_secs(300) {
            return Err(format!(
                "MaximumBatchingWindowInSeconds {} not in 0..=300",
                window.as_secs()
            ));
        }
        self.inner.batching_window_ms.store(
            u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.touch();
        Ok(())
    }

    /// When the settings last changed (creation time at first).
    pub fn last_modified(&self) -> SystemTime {
        *self
            .inner
            .last_modified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self) {
        *self
            .inner
            .last_modified
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = SystemTime::now();
    }

    /// Counts a poller as running until the guard drops.
    fn running_guard(&self) -> CounterGuard {
        CounterGuard::enter(Arc::clone(&self.inner), |c| &c.running)
    }

    /// Parks until the mapping is enabled (counted as paused meanwhile); `false` on shutdown.
    async fn wait_enabled(&self, shutdown: &CancellationToken) -> bool {
        let mut rx = self.inner.enabled.subscribe();
        if *rx.borrow_and_update() {
            return true;
        }
        let _paused = CounterGuard::enter(Arc::clone(&self.inner), |c| &c.paused);
        tokio::select! {
            () = shutdown.cancelled() => false,
            // The sender lives in `inner`, which this function keeps alive.
            changed = rx.wait_for(|enabled| *enabled) => changed.is_ok(),
        }
    }

    /// Resolves once the mapping is disabled.
    async fn disabled(&self) {
        let mut rx = self.inner.enabled.subscribe();
        if rx.wait_for(|enabled| !*enabled).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Increments one of the control's counters for its lifetime.
struct CounterGuard {
    inner: Arc<ControlInner>,
    counter: fn(&ControlInner) -> &AtomicUsize,
}

impl CounterGuard {
    fn enter(inner: Arc<ControlInner>, counter: fn(&ControlInner) -> &AtomicUsize) -> Self {
        counter(&inner).fetch_add(1, Ordering::SeqCst);
        Self { inner, counter }
    }
}

impl Drop for CounterGuard {
    fn drop(&mut self) {
        (self.counter)(&self.inner).fetch_sub(1, Ordering::SeqCst);
    }
}

/// A configured mapping, ready to [`run`](EventSourceMapping::run).
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    config: Arc<EsmConfig>,
    invoker: Arc<dyn Invoker>,
    stats: Arc<EsmStats>,
    control: MappingControl,
}

impl EventSourceMapping {
    /// Validates `config` and binds it to `invoker`.
    pub fn new(config: EsmConfig, invoker: Arc<dyn Invoker>) -> Result<Self, EsmError> {
        config.validate()?;
        Ok(Self {
            control: MappingControl::new(&config),
            config: Arc::new(config),
            invoker,
            stats: Arc::new(EsmStats::default()),
        })
    }

    /// The mapping's UUID.
    pub fn uuid(&self) -> &str {
        self.control.uuid()
    }

    /// The mapping's control handle (enable/disable, batch settings, state).
    pub fn control(&self) -> MappingControl {
        self.control.clone()
    }

    /// The mapping's current state.
    pub fn state(&self) -> MappingState {
        self.control.state()
    }

    /// The mapping's configuration.
    pub fn config(&self) -> &EsmConfig {
        &self.config
    }

    /// The mapping's live counters.
    pub fn stats(&self) -> Arc<EsmStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `shutdown` is cancelled (an in-flight invocation is allowed to finish and
    /// is committed if it succeeded; abandoned invocations still running in the background
    /// are awaited too) or a worker fails.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), EsmError> {
        let background = Background::default();
        let result = match self.config.poller_mode {
            PollerMode::Static => self.run_static(shutdown, &background).await,
            PollerMode::ConsumerGroup => self.run_group(shutdown, &background).await,
        };
        background.wait().await;
        result
    }

    fn worker(
        &self,
        index: usize,
        group: Option<Arc<Group>>,
        background: &Background,
        rx: mpsc::UnboundedReceiver<Assignment>,
    ) -> Result<Worker, EsmError> {
        Worker::new(index, self, group, background.clone(), rx)
    }

    /// [`PollerMode::Static`]: partition `p` goes to worker `p % pollers` for good.
    async fn run_static(
        &self,
        shutdown: CancellationToken,
        background: &Background,
    ) -> Result<(), EsmError> {
        let label = self.config.label();
        let stop = shutdown.child_token();
        let mut workers = JoinSet::new();
        let mut senders = Vec::with_capacity(self.config.pollers);
        for index in 0..self.config.pollers {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            let worker = self.worker(index, None, background, rx)?;
            workers.spawn(worker.run(stop.clone()));
        }
        self.stats.pollers.store(
            u64::try_from(self.config.pollers).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let metadata = self.metadata_consumer()?;
        let mut known: BTreeSet<i32> = BTreeSet::new();
        let mut result = Ok(());
        let mut warned_missing = false;
        loop {
            match self.discover(&metadata).await {
                Ok(partitions) => {
                    if partitions.is_empty() && !warned_missing {
                        warned_missing = true;
                        tracing::warn!(mapping = %label, topic = %self.config.topic, "topic not found on the source cluster; waiting for it");
                    }
                    let mut fresh: Vec<Vec<(i32, u64)>> = vec![Vec::new(); senders.len()];
                    for p in partitions {
                        if known.insert(p) {
                            let worker = usize::try_from(p).unwrap_or(0) % senders.len();
                            fresh[worker].push((p, 0));
                        }
                    }
                    for (tx, parts) in senders.iter().zip(fresh) {
                        // A closed channel means the worker ended; the join below reports why.
                        if !parts.is_empty() && tx.send(Assignment::Add(parts)).is_err() {
                            tracing::debug!(mapping = %label, "worker channel closed");
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(mapping = %label, error = %err, "partition discovery failed; retrying");
                }
            }
            let wait = if known.is_empty() {
                Duration::from_secs(1)
            } else {
                self.config.metadata_refresh
            };
            tokio::select! {
                () = stop.cancelled() => break,
                joined = workers.join_next() => {
                    if let Some(outcome) = joined {
                        result = flatten(outcome);
                    }
                    break;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        stop.cancel();
        while let Some(outcome) = workers.join_next().await {
            let outcome = flatten(outcome);
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    /// [`PollerMode::ConsumerGroup`]: the emulator is the group coordinator; see the module
    /// docs.
    async fn run_group(
        &self,
        shutdown: CancellationToken,
        background: &Background,
    ) -> Result<(), EsmError> {
        let label = self.config.label();
        let stop = shutdown.child_token();
        let mut group = GroupRun {
            shared: Arc::new(Group::default()),
            members: BTreeMap::new(),
            next_id: 0,
            generation: 0,
            workers: JoinSet::new(),
            rng: StdRng::seed_from_u64(self.config.faults.seed),
        };
        let metadata = self.metadata_consumer()?;
        let mut pollers_rx = self.control.inner.pollers.subscribe();
        let mut target = (*pollers_rx.borrow_and_update()).max(1);
        let every = self.config.faults.rebalance_every;
        let mut next_tick = every.map(|d| Instant::now() + d);
        let mut next_refresh = Instant::now();
        let mut known: BTreeSet<i32> = BTreeSet::new();
        let mut warned_missing = false;
        let mut result = Ok(());
        loop {
            // (group size, replace one member)
            let mut rebalance: Option<(usize, bool)> = None;
            tokio::select! {
                () = stop.cancelled() => break,
                Some(joined) = group.workers.join_next() => {
                    // A retired poller finished its last invocation; anything else is fatal.
                    if let Err(err) = flatten(joined) {
                        result = Err(err);
                        break;
                    }
                }
                Ok(()) = pollers_rx.changed() => {
                    target = (*pollers_rx.borrow_and_update()).max(1);
                    rebalance = Some((target, false));
                }
                () = sleep_until_opt(next_tick) => {
                    next_tick = every.map(|d| Instant::now() + d);
                    if !known.is_empty() {
                        let size = group.rng.random_range(1..=target);
                        rebalance = Some((size, true));
                    }
                }
                () = tokio::time::sleep_until(next_refresh) => {
                    match self.discover(&metadata).await {
                        Ok(partitions) => {
                            if partitions.is_empty() && !warned_missing {
                                warned_missing = true;
                                tracing::warn!(mapping = %label, topic = %self.config.topic, "topic not found on the source cluster; waiting for it");
                            }
                            let before = known.len();
                            known.extend(partitions);
                            if known.len() > before {
                                let size = if group.members.is_empty() {
                                    target
                                } else {
                                    group.members.len()
                                };
                                rebalance = Some((size, false));
                            }
                        }
                        Err(err) => {
                            tracing::warn!(mapping = %label, error = %err, "partition discovery failed; retrying");
                        }
                    }
                    next_refresh = Instant::now()
                        + if known.is_empty() {
                            Duration::from_secs(1)
                        } else {
                            self.config.metadata_refresh
                        };
                }
            }
            if let Some((size, replace)) = rebalance {
                if let Err(err) = self
                    .rebalance(&mut group, size, replace, &known, &stop, background)
                    .await
                {
                    result = Err(err);
                    break;
                }
            }
        }
        stop.cancel();
        while let Some(outcome) = group.workers.join_next().await {
            let outcome = flatten(outcome);
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    /// One group rebalance: resizes the group to `size` members (retiring random ones, or
    /// replacing one if `replace` and none retired), then spreads `known` round-robin over the
    /// members, rotated by the generation so that partitions move. Revoked partitions are
    /// taken from their old owner (whose in-flight invocation runs on), the new owner gets
    /// them with a new epoch and starts from the committed offset.
    async fn rebalance(
        &self,
        group: &mut GroupRun,
        size: usize,
        replace: bool,
        known: &BTreeSet<i32>,
        stop: &CancellationToken,
        background: &Background,
    ) -> Result<(), EsmError> {
        let size = size.max(1);
        let mut retired = Vec::new();
        while group.members.len() > size
            || (replace && retired.is_empty() && group.members.len() == size && size > 0)
        {
            let ids: Vec<usize> = group.members.keys().copied().collect();
            let id = ids[group.rng.random_range(0..ids.len())];
            if let Some(member) = group.members.remove(&id) {
                member.retire.cancel();
            }
            retired.push(id);
        }
        let mut joined = Vec::new();
        while group.members.len() < size {
            let id = group.next_id;
            group.next_id += 1;
            let (tx, rx) = mpsc::unbounded_channel();
            let retire = stop.child_token();
            let worker = self.worker(id, Some(Arc::clone(&group.shared)), background, rx)?;
            group.workers.spawn(worker.run(retire.clone()));
            group.members.insert(id, Member { tx, retire });
            joined.push(id);
        }
        group.generation += 1;
        let ids: Vec<usize> = group.members.keys().copied().collect();
        let rotate = usize::try_from(group.generation).unwrap_or(0) % ids.len();
        let mut revokes: BTreeMap<usize, Vec<i32>> = BTreeMap::new();
        let mut adds: BTreeMap<usize, Vec<(i32, u64)>> = BTreeMap::new();
        let mut moved = 0usize;
        {
            // Holding the owner table orders this against commits (see `flush_commits`).
            let mut owners = group.shared.owners.lock().await;
            for (i, p) in known.iter().enumerate() {
                let member = ids[(i + rotate) % ids.len()];
                let old = owners.get(p).copied();
                if old.is_some_and(|o| o.member == member) {
                    continue;
                }
                let epoch = old.map_or(0, |o| o.epoch + 1);
                if let Some(o) = old {
                    moved += 1;
                    if group.members.contains_key(&o.member) {
                        revokes.entry(o.member).or_default().push(*p);
                    }
                }
                owners.insert(*p, Owner { member, epoch });
                adds.entry(member).or_default().push((*p, epoch));
            }
            for (id, parts) in revokes {
                if let Some(m) = group.members.get(&id) {
                    // A closed channel: the worker failed; the join reports why.
                    let _ = m.tx.send(Assignment::Revoke(parts));
                }
            }
            for (id, parts) in adds {
                if let Some(m) = group.members.get(&id) {
                    let _ = m.tx.send(Assignment::Add(parts));
                }
            }
        }
        self.stats.rebalances.fetch_add(1, Ordering::Relaxed);
        self.stats.pollers.store(
            u64::try_from(ids.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tracing::info!(mapping = %self.config.label(), generation = group.generation, members = ?ids, ?retired, ?joined, moved, "consumer group rebalanced");
        Ok(())
    }

    fn metadata_consumer(&self) -> Result<Arc<FerryConsumer>, EsmError> {
        let mut cfg = self.config.client_config();
        cfg.set(
            "client.id",
            format!("ferry-esm-{}-meta", self.config.label()),
        );
        cfg.create_with_context::<_, FerryConsumer>(FerryContext::default())
            .map(Arc::new)
            .map_err(|source| EsmError::Kafka {
                mapping: self.config.label(),
                context: "cannot create the metadata consumer".to_owned(),
                source: Box::new(source),
            })
    }

    /// The topic's partitions; empty while the topic does not exist.
    async fn discover(&self, consumer: &Arc<FerryConsumer>) -> Result<Vec<i32>, KafkaError> {
        let consumer = Arc::clone(consumer);
        let topic = self.config.topic.clone();
        blocking(move || {
            let metadata = consumer.fetch_metadata(Some(&topic), KAFKA_CALL_TIMEOUT)?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect())
        })
        .await
    }
}

fn flatten(joined: Result<Result<(), EsmError>, tokio::task::JoinError>) -> Result<(), EsmError> {
    joined.map_err(EsmError::Worker).and_then(|r| r)
}

/// Runs one mapping per config concurrently until `shutdown` or the first failure.
///
/// Rejects two mappings of the same topic and consumer group (they would split and double
/// process partitions).
pub async fn run_mappings(
    configs: Vec<EsmConfig>,
    invoker: Arc<dyn Invoker>,
    shutdown: CancellationToken,
) -> Result<(), EsmError> {
    let mut seen = HashSet::new();
    let mut mappings = Vec::with_capacity(configs.len());
    for config in configs {
        if !seen.insert((config.topic.clone(), config.consumer_group_id.clone())) {
            return Err(EsmError::InvalidConfig {
                mapping: config.label(),
                reason: format!(
                    "another mapping already consumes topic {} with group {}",
                    config.topic, config.consumer_group_id
                ),
            });
        }
        mappings.push(EventSourceMapping::new(config, Arc::clone(&invoker))?);
    }
    let stop = shutdown.child_token();
    let mut tasks = JoinSet::new();
    for mapping in mappings {
        let stop = stop.clone();
        tasks.spawn(async move { mapping.run(stop).await });
    }
    let mut result = Ok(());
    while let Some(outcome) = tasks.join_next().await {
        let outcome = flatten(outcome);
        if outcome.is_err() {
            stop.cancel();
            if result.is_ok() {
                result = outcome;
            }
        }
    }
    result
}

async fn blocking<T, F>(f: F) -> Result<T, KafkaError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, KafkaError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(join) => {
            tracing::error!(error = %join, "blocking Kafka call panicked or was cancelled");
            Err(KafkaError::Canceled)
        }
    }
}

/// Converts a consumed message into the ESM's view of it (partition, record).
fn record_from(message: &BorrowedMessage<'_>) -> (i32, MirrorRecord) {
    (
        message.partition(),
        ferry_kafka::reader::to_mirror_record(message),
    )
}

/// A change of a worker's partitions.
#[derive(Debug)]
enum Assignment {
    /// Take these partitions (with their ownership epoch; always 0 in static mode).
    Add(Vec<(i32, u64)>),
    /// Give these up (consumer-group mode): their in-flight invocation runs on, their pending
    /// commits are dropped.
    Revoke(Vec<i32>),
}

/// Owner of one partition in the emulated consumer group; the epoch grows with every move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    member: usize,
    epoch: u64,
}

/// The emulated group coordinator's state, shared with the workers.
#[derive(Debug, Default)]
struct Group {
    /// Held across commits and rebalances, so a commit of a revoked member can never land
    /// after the new owner read the committed offset.
    owners: tokio::sync::Mutex<BTreeMap<i32, Owner>>,
}

/// One live group member (its worker task runs in [`GroupRun::workers`]).
struct Member {
    tx: mpsc::UnboundedSender<Assignment>,
    /// Cancelled when the member leaves the group.
    retire: CancellationToken,
}

/// The coordinator side of [`EventSourceMapping::run_group`].
struct GroupRun {
    shared: Arc<Group>,
    members: BTreeMap<usize, Member>,
    next_id: usize,
    generation: u64,
    workers: JoinSet<Result<(), EsmError>>,
    rng: StdRng,
}

/// Abandoned invocations still running ([`FaultConfig::abandon_after`]); awaited at the end
/// of [`EventSourceMapping::run`].
#[derive(Debug, Default, Clone)]
struct Background(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Background {
    fn push(&self, handle: tokio::task::JoinHandle<()>) {
        let mut handles = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
    }

    async fn wait(&self) {
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
struct Worker {
    index: usize,
    label: String,
    config: Arc<EsmConfig>,
    invoker: Arc<dyn Invoker>,
    stats: Arc<EsmStats>,
    control: MappingControl,
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
    fn new(
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

    async fn run(mut self, shutdown: CancellationToken) -> Result<(), EsmError> {
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

    /// Invokes the function; with [`FaultConfig::abandon_after`], gives up waiting after that
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

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_aws() {
        let c = EsmConfig::new("b:9092", "orders", "g", "mirror");
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.batching_window, Duration::from_millis(500));
        assert_eq!(c.max_payload_bytes, 6 * 1024 * 1024);
        assert_eq!(c.max_retries, None);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validation_rejects_out_of_range_values() {
        let base = EsmConfig::new("b:9092", "orders", "g", "mirror");
        let mut c = base.clone();
        c.batch_size = 10_001;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.batch_size = 0;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.max_payload_bytes = MAX_SYNC_PAYLOAD_BYTES + 1;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.topic = "a,b".into();
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.pollers = 0;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.faults.redeliver_probability = 1.5;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.faults.rebalance_every = Some(Duration::from_secs(1));
        assert!(
            c.validate().is_err(),
            "rebalancing needs the consumer-group mode"
        );
        c.poller_mode = PollerMode::ConsumerGroup;
        assert!(c.validate().is_ok());
        c.faults.rebalance_every = Some(Duration::ZERO);
        assert!(c.validate().is_err());
        let mut c = base;
        c.faults.abandon_after = Some(Duration::ZERO);
        assert!(c.validate().is_err());
    }

    #[test]
    fn set_pollers_needs_the_consumer_group_mode() {
        let mut c = EsmConfig::new("b:9092", "orders", "g", "mirror");
        c.pollers = 2;
        let control = MappingControl::new(&c);
        assert!(control.set_pollers(3).is_err());
        assert_eq!(control.pollers(), 2);
        c.poller_mode = PollerMode::ConsumerGroup;
        let control = MappingControl::new(&c);
        assert!(control.set_pollers(0).is_err());
        control.set_pollers(5).unwrap();
        assert_eq!(control.pollers(), 5);
    }

    #[test]
    fn in_flight_tracking_counts_overlaps() {
        let stats = Arc::new(EsmStats::default());
        let batch = |parts: &[i32]| Batch {
            payload: bytes::Bytes::new(),
            records: parts.len(),
            partitions: parts
                .iter()
                .map(|&partition| PartitionRange {
                    partition,
                    first_offset: 0,
                    last_offset: 0,
                    records: 1,
                })
                .collect(),
        };
        let a = stats.enter_flight(&batch(&[0, 1]));
        let b = stats.enter_flight(&batch(&[2]));
        assert_eq!(stats.snapshot().overlapping_invocations, 0);
        let c = stats.enter_flight(&batch(&[1, 3]));
        assert_eq!(stats.snapshot().overlapping_invocations, 1);
        assert_eq!(stats.snapshot().in_flight_invocations, 3);
        drop((a, c));
        let d = stats.enter_flight(&batch(&[1]));
        assert_eq!(stats.snapshot().overlapping_invocations, 1);
        drop((b, d));
        assert_eq!(stats.snapshot().in_flight_invocations, 0);
        assert!(stats.in_flight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn run_mappings_rejects_duplicate_topic_and_group() {
        #[derive(Debug)]
        struct Never;
        #[async_trait::async_trait]
        impl Invoker for Never {
            async fn invoke(&self, _: &str, _: bytes::Bytes) -> Result<Vec<u8>, InvokeError> {
                Err(InvokeError::Timeout)
            }
        }
        let a = EsmConfig::new("127.0.0.1:1", "orders", "g", "f1");
        let b = EsmConfig::new("127.0.0.1:1", "orders", "g", "f2");
        let err = run_mappings(vec![a, b], Arc::new(Never), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(err, EsmError::InvalidConfig { .. }));
    }
}
