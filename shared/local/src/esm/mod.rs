//! Kafka event source mapping (ESM) emulator.
//!
//! No local tool emulates Lambda's Kafka ESM, so Ferry brings its own. One
//! [`EventSourceMapping`] consumes exactly one topic (as in AWS) with its own consumer group
//! and invokes a function through an [`Invoker`](crate::invoke::Invoker) with AWS-shaped payloads
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
//! * **Enable / disable.** Every mapping has a UUID and a [`MappingHandle`] (what
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
//! * [`MappingHandle::set_pollers`] scales the group at runtime (one rebalance per call);
//!   [`FaultConfig::rebalance_every`] rebalances periodically: each period the group size is
//!   redrawn from `1..=pollers` and one member is replaced unless the group shrank (a poller
//!   restart), so that at least one member changes every time. New partitions found by the
//!   metadata refresh also rebalance the group.
//! * [`FaultConfig::abandon_after`] (any mode): the poller stops waiting for an invocation
//!   after that long, counts it as timed out (`failures`, `abandoned_invocations`, error
//!   [`InvokeError::Timeout`](crate::invoke::InvokeError::Timeout)) and retries the whole batch after the usual backoff, while the
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

mod config;
mod control;
mod error;
mod group;
mod mapping;
pub mod payload;
mod stats;
mod worker;

pub use config::{
    EsmConfig, FaultConfig, IsolationLevel, PollerMode, StartingPosition, DEFAULT_PREFETCH_KBYTES,
    MAX_BATCH_SIZE,
};
pub use control::{MappingHandle, MappingState};
pub use error::EsmError;
pub use mapping::{run_mappings, EventSourceMapping};
pub use payload::{Batch, BatchBuilder, BatchLimits, EventSource, PartitionRange, PayloadError};
pub use stats::{EsmStats, EsmStatsSnapshot};

use rdkafka::error::KafkaError;
use std::time::Duration;
use tokio::time::Instant;

/// Timeout for blocking metadata, offset and commit calls against the source cluster.
const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(10);

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

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
