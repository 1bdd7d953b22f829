//! Fenced writing: one transactional producer per written target partition.
//!
//! [`crate::TargetCluster`] implements [`TargetWriter`] in one of two ways,
//! chosen by [`Fencing`]:
//!
//! * [`Fencing::Transactions`] (the mirror's default): every target partition `t-p` is written
//!   by its own producer with the stable `transactional.id` `<prefix><t>-<p>`. The first write
//!   to a partition in a process calls `init_transactions`, which bumps the id's producer epoch
//!   at the transaction coordinator: every older producer with that id (an overlapping
//!   invocation in another sandbox, a zombie whose requests are still on the wire) is fenced.
//!   Its open transaction is aborted before `init_transactions` returns, and the brokers reject
//!   its later produce and commit requests (`PRODUCER_FENCED` / `INVALID_PRODUCER_EPOCH`; with
//!   Kafka ≥ 3.6 partition verification (KIP-890) a late produce request of an already ended
//!   transaction is rejected too). This is MirrorMaker 2's exactly-once source design
//!   (KIP-618) and Flink's `KafkaSink`, with the id scoped to the written partition because
//!   Lambda invocations, not tasks, own partitions. Each batch of a partition is one
//!   transaction; its records become visible to `read_committed` consumers only when it
//!   commits, and every commit leaves one control-marker offset on the partition.
//!
//!   A hand-over (the first write of a partition in a process, or after another sandbox wrote
//!   it) builds a producer and initialises it. Its connections are eager
//!   (`enable.sparse.connections=false`: one connection to each broker of the target, opened
//!   when the bootstrap metadata arrives), which makes `init_transactions` take milliseconds
//!   instead of waiting for librdkafka's 500 ms coordinator timer about a third of the time.
//!   Each held producer thus keeps a connection to every broker (plus one to its transaction
//!   coordinator); the idle timeout below bounds how many are held. With IAM, MSK allows 3,000
//!   connections and 100 new ones per second per broker (M5/M7g; fewer on t3).
//!
//!   Producers are kept per process (warm sandbox) up to [`Fencing::Transactions::max_producers`];
//!   the least recently used is closed beyond that, and any unused for
//!   [`Fencing::Transactions::idle_timeout`] is closed at the next write. A fenced or fatally
//!   failed producer is dropped, so the next [`TargetWriter::fence`] builds a fresh one (and
//!   fences in turn).
//! * [`Fencing::None`]: the shared idempotent producer; `fence`, `commit` and `abort` do
//!   nothing. Exactly once only while a single invocation at a time writes a partition.

use crate::config::KafkaConnection;
use crate::target::TargetCluster;
use crate::target::{BatchContext, MirrorProducer};
use ferry_core::ports::{TargetError, TargetWriter};
use ferry_core::record::MirrorRecord;
use ferry_core::topics::TopicPartition;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How the mirror's writes to a target partition are fenced against older writers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fencing {
    /// No fencing: one idempotent producer for everything.
    #[default]
    None,
    /// One transactional producer per written partition (see the module docs).
    Transactions {
        /// `transactional.id` prefix; the id is `<prefix><topic>-<partition>`. It must be the
        /// same for every writer of the migration and differ between migrations.
        id_prefix: String,
        /// `transaction.timeout.ms`: how long the coordinator keeps a transaction of a writer
        /// that vanished open before aborting it (a newer writer aborts it at once).
        transaction_timeout: Duration,
        /// Producers kept open per process.
        max_producers: usize,
        /// A producer not used for this long is closed (at the next write of another
        /// partition): it only helps while this sandbox keeps getting its partition's batches,
        /// and until then it holds connections to the target's brokers.
        idle_timeout: Duration,
    },
}

impl Fencing {
    /// Transactions with the id prefix `ferry-<scope>-` and defaults (60 s timeout, 256
    /// producers, closed after 60 s unused).
    pub fn transactions(scope: &str) -> Self {
        Self::Transactions {
            id_prefix: format!("ferry-{scope}-"),
            transaction_timeout: Duration::from_secs(60),
            max_producers: 256,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// A transaction call failed.
#[derive(Debug, Error)]
#[error("{operation} of transactional.id {id:?} failed: {source}")]
pub struct TransactionFailed {
    /// What was called.
    pub operation: &'static str,
    /// The transactional id.
    pub id: String,
    /// librdkafka's error.
    #[source]
    pub source: KafkaError,
}

/// Whether librdkafka's error code means a newer producer with the same id fenced this one.
pub fn is_fenced_code(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
    )
}

fn is_fenced(e: &KafkaError) -> bool {
    e.rdkafka_error_code().is_some_and(is_fenced_code)
}

fn is_fatal(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(t) => t.is_fatal(),
        _ => false,
    }
}

fn is_retriable(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(t) => t.is_retriable(),
        _ => false,
    }
}

/// One partition's transactional producer.
pub(crate) struct TxnProducer {
    id: String,
    producer: MirrorProducer,
    last_used: Mutex<Instant>,
}

/// The per-partition transactional producers of one [`TargetCluster`].
pub(crate) struct TxnPool {
    base: ClientConfig,
    conn: KafkaConnection,
    id_prefix: String,
    timeout: Duration,
    max_producers: usize,
    idle_timeout: Duration,
    producers: Mutex<HashMap<TopicPartition, Arc<TxnProducer>>>,
    /// No producer can be idle long enough to close before this instant (the earliest
    /// `last_used + idle_timeout` at the last scan; uses only move it later), so most writes
    /// skip the scan.
    next_eviction: Mutex<Instant>,
}

impl TxnPool {
    /// A pool building producers from `base` (the idempotent producer's settings).
    pub(crate) fn new(
        base: ClientConfig,
        conn: KafkaConnection,
        id_prefix: String,
        transaction_timeout: Duration,
        max_producers: usize,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            base,
            conn,
            id_prefix,
            timeout: transaction_timeout,
            max_producers: max_producers.max(1),
            idle_timeout,
            producers: Mutex::new(HashMap::new()),
            next_eviction: Mutex::new(Instant::now() + idle_timeout),
        }
    }

    /// Closes (off the runtime) the producers of partitions other than `keep` that have not
    /// been used for [`Fencing::Transactions::idle_timeout`].
    fn evict_idle(&self, keep: &TopicPartition) {
        let now = Instant::now();
        let mut next_eviction = self
            .next_eviction
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now < *next_eviction {
            return;
        }
        let idle: Vec<Arc<TxnProducer>> = {
            let mut map = self
                .producers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut earliest = now + self.idle_timeout;
            let mut stale = Vec::new();
            for (k, p) in map.iter() {
                let closes_at =
                    *p.last_used.lock().unwrap_or_else(PoisonError::into_inner) + self.idle_timeout;
                if k != keep && closes_at <= now {
                    stale.push(k.clone());
                } else {
                    earliest = earliest.min(closes_at);
                }
            }
            *next_eviction = earliest;
            stale.iter().filter_map(|k| map.remove(k)).collect()
        };
        drop(next_eviction);
        if !idle.is_empty() {
            tracing::debug!(
                closed = idle.len(),
                "closing transactional producers unused for the idle timeout"
            );
            tokio::task::spawn_blocking(move || drop(idle));
        }
    }

    fn get(&self, tp: &TopicPartition) -> Option<Arc<TxnProducer>> {
        let p = self
            .producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tp)
            .cloned();
        if let Some(p) = &p {
            *p.last_used.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
        p
    }

    fn forget(&self, tp: &TopicPartition, which: &Arc<TxnProducer>) {
        let mut map = self
            .producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.get(tp).is_some_and(|p| Arc::ptr_eq(p, which)) {
            map.remove(tp);
        }
    }

    /// Drops the producer held for `tp`, if any (see [`TargetWriter::release`]).
    pub(crate) fn release(&self, tp: &TopicPartition) {
        let released = self
            .producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tp);
        if let Some(p) = released {
            tracing::debug!(transactional_id = %p.id, "transactional producer released (another writer took the partition)");
            // Closing a producer flushes; do it off the runtime.
            tokio::task::spawn_blocking(move || drop(p));
        }
    }

    /// The transactional id of `tp`.
    pub(crate) fn id_of(&self, tp: &TopicPartition) -> String {
        format!("{}{}-{}", self.id_prefix, tp.topic, tp.partition)
    }

    async fn blocking(
        &self,
        operation: &'static str,
        p: &Arc<TxnProducer>,
        f: impl FnOnce(&MirrorProducer, Duration) -> Result<(), KafkaError> + Send + 'static,
    ) -> Result<(), TransactionFailed> {
        let producer = Arc::clone(p);
        let timeout = self.timeout;
        let result = tokio::task::spawn_blocking(move || f(&producer.producer, timeout)).await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(TransactionFailed {
                operation,
                id: p.id.clone(),
                source,
            }),
            Err(join) => Err(TransactionFailed {
                operation,
                id: p.id.clone(),
                source: KafkaError::Canceled,
            })
            .inspect_err(|_| tracing::error!(error = %join, "transaction call panicked")),
        }
    }

    /// Builds and initialises the producer of `tp` unless one is held (see
    /// [`TargetWriter::fence`]).
    pub(crate) async fn fence(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        self.evict_idle(tp);
        if self.get(tp).is_some() {
            return Ok(());
        }
        let id = self.id_of(tp);
        let mut config = self.base.clone();
        let timeout_ms = self.timeout.as_millis();
        // librdkafka requires message.timeout.ms <= transaction.timeout.ms.
        let message_timeout_ms = self
            .base
            .get("message.timeout.ms")
            .and_then(|v| v.parse::<u128>().ok())
            .map_or(timeout_ms, |m| m.min(timeout_ms));
        config
            .set("transactional.id", &id)
            .set("transaction.timeout.ms", timeout_ms.to_string())
            .set("message.timeout.ms", message_timeout_ms.to_string())
            // Connect to every broker as soon as the bootstrap metadata names them. With sparse
            // connections (librdkafka's default) the bootstrap connection is closed once the
            // brokers are known, and `init_transactions`' coordinator lookup often finds no
            // connected broker and waits for librdkafka's fixed 500 ms coordinator timer: a
            // hand-over took 60 ms at best and 520 ms in about a third of the cases, against
            // 6-26 ms with eager connections (see the module docs).
            .set("enable.sparse.connections", "false");
        let producer = MirrorProducer::new(&config, BatchContext::new(self.conn.context()))
            .map_err(|e| TargetError::Unavailable(Box::new(e)))?;
        let p = Arc::new(TxnProducer {
            id: id.clone(),
            producer,
            last_used: Mutex::new(Instant::now()),
        });
        let started = Instant::now();
        self.blocking("init_transactions", &p, |producer, timeout| {
            producer.init_transactions(timeout)
        })
        .await
        .map_err(|e| TargetError::Unavailable(Box::new(e)))?;
        tracing::debug!(transactional_id = %id, ms = started.elapsed().as_millis() as u64, "transactional producer initialised (older writers fenced)");
        let evicted = {
            let mut map = self
                .producers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            map.insert(tp.clone(), p);
            let mut evicted = Vec::new();
            while map.len() > self.max_producers {
                let oldest = map
                    .iter()
                    .filter(|(k, _)| *k != tp)
                    .min_by_key(|(_, v)| {
                        *v.last_used.lock().unwrap_or_else(PoisonError::into_inner)
                    })
                    .map(|(k, _)| k.clone());
                match oldest.and_then(|k| map.remove(&k)) {
                    Some(p) => evicted.push(p),
                    None => break,
                }
            }
            evicted
        };
        if !evicted.is_empty() {
            // Closing a producer flushes; do it off the runtime.
            tokio::task::spawn_blocking(move || drop(evicted));
        }
        Ok(())
    }

    /// Begins a transaction on `tp`'s producer (fencing first if there is none).
    pub(crate) async fn begin(&self, tp: &TopicPartition) -> Result<Arc<TxnProducer>, TargetError> {
        self.fence(tp).await?;
        let p = self
            .get(tp)
            .ok_or_else(|| TargetError::Fenced { tp: tp.clone() })?;
        if let Err(e) = p.producer.begin_transaction() {
            self.forget(tp, &p);
            return Err(self.failure(tp, "begin_transaction", &p, e));
        }
        Ok(p)
    }

    fn failure(
        &self,
        tp: &TopicPartition,
        operation: &'static str,
        p: &TxnProducer,
        source: KafkaError,
    ) -> TargetError {
        if is_fenced(&source) {
            TargetError::Fenced { tp: tp.clone() }
        } else {
            TargetError::Produce {
                tp: tp.clone(),
                source: Box::new(TransactionFailed {
                    operation,
                    id: p.id.clone(),
                    source,
                }),
            }
        }
    }

    /// Commits `tp`'s open transaction; retries retriable failures, aborts abortable ones.
    pub(crate) async fn commit(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        let p = self
            .get(tp)
            .ok_or_else(|| TargetError::Fenced { tp: tp.clone() })?;
        let mut attempt = 0;
        loop {
            let result = self
                .blocking("commit_transaction", &p, |producer, timeout| {
                    producer.commit_transaction(timeout)
                })
                .await;
            let Err(e) = result else {
                return Ok(());
            };
            attempt += 1;
            if is_retriable(&e.source) && attempt < 3 {
                tracing::debug!(error = %e, attempt, "retrying the transaction commit");
                continue;
            }
            let requires_abort =
                matches!(&e.source, KafkaError::Transaction(t) if t.txn_requires_abort());
            if requires_abort {
                let _ = self.abort(tp).await;
            } else if is_fatal(&e.source) || is_fenced(&e.source) {
                self.forget(tp, &p);
            } else {
                // State unknown: start over with a fresh producer (its initialisation aborts
                // or completes whatever this one left).
                self.forget(tp, &p);
            }
            return Err(self.failure(tp, e.operation, &p, e.source));
        }
    }

    /// Aborts `tp`'s open transaction (drops the producer if that fails).
    pub(crate) async fn abort(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        let Some(p) = self.get(tp) else {
            return Ok(());
        };
        let result = self
            .blocking("abort_transaction", &p, |producer, timeout| {
                producer.abort_transaction(timeout)
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                // A fresh producer's initialisation aborts it instead.
                self.forget(tp, &p);
                Err(self.failure(tp, e.operation, &p, e.source))
            }
        }
    }

    /// Ends a failed produce: aborts the transaction; a fenced or fatally failed producer is
    /// dropped.
    pub(crate) async fn after_failed_produce(&self, tp: &TopicPartition, p: &Arc<TxnProducer>) {
        if p.producer.client().fatal_error().is_some() {
            self.forget(tp, p);
            return;
        }
        if let Err(e) = self.abort(tp).await {
            tracing::debug!(error = %e, "abort after a failed produce failed; producer dropped");
        }
    }

    /// Number of producers held (tests).
    pub(crate) fn len(&self) -> usize {
        self.producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl TxnProducer {
    pub(crate) fn producer(&self) -> &MirrorProducer {
        &self.producer
    }
}

impl TargetWriter for TargetCluster {
    async fn fence(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        match self.txn_pool() {
            Some(pool) => pool.fence(tp).await,
            None => Ok(()),
        }
    }

    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        let Some(pool) = self.txn_pool() else {
            return self
                .produce_on(self.idempotent_producer(), tp, records)
                .await;
        };
        let p = pool.begin(tp).await?;
        let result = self.produce_on(p.producer(), tp, records).await;
        if result.is_err() {
            pool.after_failed_produce(tp, &p).await;
        }
        result
    }

    async fn commit(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        match self.txn_pool() {
            Some(pool) => pool.commit(tp).await,
            None => Ok(()),
        }
    }

    async fn abort(&self, tp: &TopicPartition) -> Result<(), TargetError> {
        match self.txn_pool() {
            Some(pool) => pool.abort(tp).await,
            None => Ok(()),
        }
    }

    fn release(&self, tp: &TopicPartition) {
        if let Some(pool) = self.txn_pool() {
            pool.release(tp);
        }
    }

    fn transactional(&self) -> bool {
        self.txn_pool().is_some()
    }
}
