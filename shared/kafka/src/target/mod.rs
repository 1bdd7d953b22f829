//! [`TargetCluster`]: the target-cluster adapter behind Ferry's ports
//! ([`TargetProducer`](ferry_core::ports::TargetProducer),
//! [`TargetOffsets`](ferry_core::ports::TargetOffsets),
//! [`TargetMetadata`](ferry_core::ports::TargetMetadata),
//! [`RangeReader`](ferry_core::ports::RangeReader)).
//!
//! It owns its librdkafka clients, built once and reused for the life of the process (a
//! Lambda container):
//!
//! * the writers: with fencing ([`Fencing::Transactions`], the default) a pool of
//!   transactional producers, one `transactional.id` per written target partition
//!   ([`crate::transactions`]); without, one idempotent producer (`acks=all`,
//!   `enable.idempotence=true`, at most 5 requests in flight). Each writes every record to an
//!   explicit partition, tuned by [`ProducerTuning`], and collects one produce call's delivery
//!   reports as one batch (`delivery.rs`: a polled `BaseProducer` with a per-batch
//!   `ProducerContext`, no future per record);
//! * a group-less [`FerryConsumer`] used only for metadata and watermark queries, which are
//!   blocking librdkafka calls and therefore run on tokio's blocking pool with a timeout;
//! * range readers ([`KafkaClusterReader`]): assigned, never-joined consumers with eager
//!   connections, pooled between reads (the mirror reads the previous writer's commit marker
//!   at every hand-over of a partition);
//! * a [`FerryAdmin`] for `DescribeConfigs` (the topic's effective `max.message.bytes`), which
//!   serves its own OAUTHBEARER tokens (see [`crate::admin_token`]). If the cluster does not
//!   allow it (MSK IAM without `kafka-cluster:DescribeTopicDynamicConfiguration`), the
//!   producer's `message.max.bytes` stands in for the topic's limit, with one warning.
//!
//! All use [`FerryContext`](crate::FerryContext) (OAUTHBEARER tokens for MSK IAM; the producers through
//! their `BatchContext`).
//!
//! [`TargetMetadata::topic_info`](ferry_core::ports::TargetMetadata::topic_info) is called once
//! per batch, so its answers are cached per topic for [`TargetOptions::topic_info_ttl`].
//!
//! Files: this one builds the cluster and its clients; `options.rs` holds the tuning,
//! `produce.rs` the produce path (records, delivery reports, failures), `metadata.rs`
//! partition counts, topic limits, end offsets and range reads, `errors.rs` the adapter's own
//! error causes.

use crate::admin_token::FerryAdmin;
use crate::auth::{serve_events, FerryConsumer};
use crate::cluster_reader::KafkaClusterReader;
use crate::config::{BuildError, KafkaConnection};
use crate::transactions::{Fencing, TxnPool};
pub(crate) use delivery::{BatchContext, MirrorProducer};
use ferry_core::ports::{TargetError, TopicInfo};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

mod delivery;
mod errors;
mod metadata;
mod options;
mod produce;

pub use errors::{
    BatchTooLarge, DeliveryCanceled, ProducerFatal, RequestTimeout, UnexpectedResponse,
};
pub use options::{Compression, ProducerTuning, TargetOptions};

#[derive(Debug, Clone, Copy)]
struct CachedInfo {
    at: Instant,
    info: TopicInfo,
}

/// The target cluster: produces mirrored records and answers offset and metadata queries.
/// Build it once per process and share it (`&TargetCluster` is all the ports need).
pub struct TargetCluster {
    conn: KafkaConnection,
    producer: MirrorProducer,
    meta: Arc<FerryConsumer>,
    admin: FerryAdmin,
    options: TargetOptions,
    cache: Mutex<HashMap<String, CachedInfo>>,
    /// Whether the "not allowed to describe configs" warning was logged.
    describe_configs_denied: AtomicBool,
    /// Per-partition transactional producers ([`Fencing::Transactions`]).
    txn: Option<TxnPool>,
    /// Range reads (the mirror's hand-over and check reads), with pooled consumers.
    reader: KafkaClusterReader,
}

impl fmt::Debug for TargetCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetCluster")
            .field("conn", &self.conn)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl TargetCluster {
    /// Builds the clients; pass [`TargetOptions`] or just a [`ProducerTuning`] (default
    /// timeouts). Nothing connects until the first request.
    pub fn new(
        conn: &KafkaConnection,
        options: impl Into<TargetOptions>,
    ) -> Result<Self, BuildError> {
        let options = options.into();
        let t = &options.tuning;
        let mut producer_config = conn.client_config()?;
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("linger.ms", t.linger_ms.to_string())
            .set("batch.size", t.batch_size.to_string())
            .set("batch.num.messages", t.batch_num_messages.to_string())
            .set("compression.type", t.compression.as_rdkafka())
            .set("message.timeout.ms", t.message_timeout_ms.to_string())
            .set(
                "queue.buffering.max.messages",
                t.queue_buffering_max_messages.to_string(),
            )
            .set("message.max.bytes", t.message_max_bytes.to_string())
            // Never create a missing target topic by producing to it, and fail records for a
            // topic the cluster does not know after the request timeout (librdkafka: 30 s).
            .set("allow.auto.create.topics", "false")
            .set(
                "topic.metadata.propagation.max.ms",
                options.request_timeout.as_millis().to_string(),
            );
        let producer = MirrorProducer::new(&producer_config, BatchContext::new(conn.context()))
            .map_err(BuildError::Client)?;
        let txn = match &options.fencing {
            Fencing::None => None,
            Fencing::Transactions {
                id_prefix,
                transaction_timeout,
                max_producers,
                idle_timeout,
            } => Some(TxnPool::new(
                producer_config.clone(),
                conn.clone(),
                id_prefix.clone(),
                *transaction_timeout,
                *max_producers,
                *idle_timeout,
            )),
        };

        let mut meta_config = conn.client_config()?;
        meta_config
            .set("enable.auto.commit", "false")
            .set("allow.auto.create.topics", "false")
            // The end offset Ferry needs is the high watermark, not the last stable offset.
            .set("isolation.level", "read_uncommitted");
        let meta: FerryConsumer = meta_config
            .create_with_context(conn.context())
            .map_err(BuildError::Client)?;

        let admin = FerryAdmin::new(conn)?;
        let reader = KafkaClusterReader::new(conn.clone(), "target")
            .with_timeout(options.request_timeout)
            .with_eager_connections(true);

        Ok(Self {
            conn: conn.clone(),
            producer,
            meta: Arc::new(meta),
            admin,
            options,
            cache: Mutex::new(HashMap::new()),
            describe_configs_denied: AtomicBool::new(false),
            txn,
            reader,
        })
    }

    /// The transactional producers, with [`Fencing::Transactions`].
    pub(crate) fn txn_pool(&self) -> Option<&TxnPool> {
        self.txn.as_ref()
    }

    /// The shared idempotent producer.
    pub(crate) fn idempotent_producer(&self) -> &MirrorProducer {
        &self.producer
    }

    /// Transactional producers currently held (one per partition written with fencing).
    pub fn transactional_producers(&self) -> usize {
        self.txn.as_ref().map_or(0, TxnPool::len)
    }

    /// The producer's fatal error, if it had one: once set, every produce fails and the
    /// cluster must be rebuilt (see [`ProducerFatal`]).
    pub fn fatal_error(&self) -> Option<ProducerFatal> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| ProducerFatal { code, reason })
    }

    /// The long-lived admin client (`DescribeConfigs`), e.g. to see how many OAUTHBEARER tokens
    /// it has been given ([`FerryAdmin::tokens_set`]).
    pub fn admin(&self) -> &FerryAdmin {
        &self.admin
    }

    /// The reader behind [`RangeReader`](ferry_core::ports::RangeReader) (its consumers are
    /// pooled between reads).
    pub fn range_reader(&self) -> &KafkaClusterReader {
        &self.reader
    }

    /// The options this cluster was built with.
    pub fn options(&self) -> &TargetOptions {
        &self.options
    }

    /// Forgets the cached [`TopicInfo`] of `topic` (e.g. after it was recreated).
    pub fn invalidate_topic_info(&self, topic: &str) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }

    /// Runs a blocking call on the metadata consumer with the request timeout (plus a grace
    /// period for the blocking pool), draining the consumer's event queue afterwards.
    async fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&FerryConsumer, Duration) -> Result<T, KafkaError> + Send + 'static,
    ) -> Result<T, TargetError> {
        let consumer = Arc::clone(&self.meta);
        let timeout = self.options.request_timeout;
        let task = tokio::task::spawn_blocking(move || {
            // Serves a pending MSK IAM token request first (see `crate::auth`).
            serve_events(&consumer);
            let result = f(&consumer, timeout);
            // Serve queued events (errors, logs) so they do not pile up; no messages can
            // arrive, nothing is assigned.
            let _ = consumer.poll(Duration::ZERO);
            result
        });
        match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
            Err(_elapsed) => Err(TargetError::Unavailable(Box::new(RequestTimeout {
                what,
                timeout,
            }))),
            Ok(Err(join)) => Err(TargetError::Unavailable(Box::new(join))),
            Ok(Ok(Err(kafka))) => Err(TargetError::Unavailable(Box::new(kafka))),
            Ok(Ok(Ok(value))) => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests;
