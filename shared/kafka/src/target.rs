//! [`TargetCluster`]: the target-cluster adapter behind Ferry's ports
//! ([`TargetProducer`], [`TargetOffsets`], [`TargetMetadata`]).
//!
//! It owns three librdkafka clients, built once and reused for the life of the process (a
//! Lambda container):
//!
//! * an idempotent [`FutureProducer`] (`acks=all`, `enable.idempotence=true`, at most 5 requests
//!   in flight) that writes every record to an explicit partition, tuned by [`ProducerTuning`];
//! * a group-less [`FerryConsumer`] used only for metadata and watermark queries, which are
//!   blocking librdkafka calls and therefore run on tokio's blocking pool with a timeout;
//! * a [`FerryAdmin`] for `DescribeConfigs` (the topic's effective `max.message.bytes`), which
//!   serves its own OAUTHBEARER tokens (see [`crate::admin_token`]). If the cluster does not
//!   allow it (MSK IAM without `kafka-cluster:DescribeTopicDynamicConfiguration`), the
//!   producer's `message.max.bytes` stands in for the topic's limit, with one warning.
//!
//! All three use [`FerryContext`] (OAUTHBEARER tokens for MSK IAM).
//!
//! [`TargetMetadata::topic_info`] is called once per batch, so its answers are cached per topic
//! for [`TargetOptions::topic_info_ttl`].

use crate::admin_token::FerryAdmin;
use crate::auth::{serve_events, FerryConsumer, FerryContext};
use crate::cluster_reader::KafkaClusterReader;
use crate::config::{BuildError, KafkaConnection};
use crate::transactions::{Fencing, TxnPool};
use ferry_core::ports::{
    BoxError, ClusterError, RangeReader, ReadIsolation, TargetError, TargetMetadata, TargetOffsets,
    TargetProducer, TopicInfo,
};
use ferry_core::record::{MirrorRecord, TimestampType};
use ferry_core::topics::TopicPartition;
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Compression codec for produced batches (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 (default: cheap on CPU, good ratio for typical payloads).
    #[default]
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The `compression.type` value.
    pub fn as_rdkafka(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Producer settings that are safe to tune. Idempotence, `acks=all` and
/// `max.in.flight.requests.per.connection=5` are fixed: exactly-once mirroring depends on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerTuning {
    /// `linger.ms`: how long to wait for more records before sending a batch. Default 5.
    pub linger_ms: u32,
    /// `batch.size`: maximum bytes per partition batch. Default 1 000 000.
    ///
    /// librdkafka does not split a batch the broker rejects as too large, so this must stay
    /// at or below the smallest target topic `max.message.bytes` (Kafka's default is
    /// 1 048 588) or batches of individually small records can fail with `MESSAGE_TOO_LARGE`.
    pub batch_size: u32,
    /// `batch.num.messages`: maximum records per batch. Default 10 000.
    pub batch_num_messages: u32,
    /// `compression.type`. Default [`Compression::Lz4`].
    pub compression: Compression,
    /// `message.timeout.ms`: how long librdkafka retries a record before failing its delivery.
    /// Default 60 000.
    pub message_timeout_ms: u32,
    /// `queue.buffering.max.messages`: records librdkafka may hold before `QueueFull`.
    /// Default 500 000 (more than any single Lambda batch).
    pub queue_buffering_max_messages: u32,
    /// `message.max.bytes`: client-side limit for one record / request. Default 10 MiB, so the
    /// broker's topic `max.message.bytes` is what decides (librdkafka's own default of
    /// 1 000 000 is below Kafka's default topic limit).
    pub message_max_bytes: u32,
}

impl Default for ProducerTuning {
    fn default() -> Self {
        Self {
            linger_ms: 5,
            batch_size: 1_000_000,
            batch_num_messages: 10_000,
            compression: Compression::Lz4,
            message_timeout_ms: 60_000,
            queue_buffering_max_messages: 500_000,
            message_max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Options for [`TargetCluster`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOptions {
    /// Producer tuning.
    pub tuning: ProducerTuning,
    /// Timeout for metadata, watermark and describe-configs requests, and how long the
    /// producer waits for an unknown topic to appear before failing its records. Default 10 s.
    pub request_timeout: Duration,
    /// How long [`TargetMetadata::topic_info`] answers are cached per topic. Default 60 s.
    pub topic_info_ttl: Duration,
    /// How [`TargetWriter`](ferry_core::ports::TargetWriter) fences older writers. Default
    /// [`Fencing::None`]; the mirror turns transactions on.
    pub fencing: Fencing,
}

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            tuning: ProducerTuning::default(),
            request_timeout: Duration::from_secs(10),
            topic_info_ttl: Duration::from_secs(60),
            fencing: Fencing::None,
        }
    }
}

impl From<ProducerTuning> for TargetOptions {
    fn from(tuning: ProducerTuning) -> Self {
        Self {
            tuning,
            ..Self::default()
        }
    }
}

/// A blocking request did not finish in time.
#[derive(Debug, Error)]
#[error("{what} did not complete within {timeout:?}")]
pub struct RequestTimeout {
    /// The request.
    pub what: &'static str,
    /// The timeout.
    pub timeout: Duration,
}

/// A metadata answer Ferry cannot use.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct UnexpectedResponse(pub String);

/// The idempotent producer hit a fatal error (e.g. a sequence gap the broker will not accept)
/// and rejects every further record: rebuild the [`TargetCluster`] (or restart the process).
#[derive(Debug, Error)]
#[error("target producer failed fatally ({code}): {reason}")]
pub struct ProducerFatal {
    /// librdkafka's error code.
    pub code: RDKafkaErrorCode,
    /// librdkafka's explanation.
    pub reason: String,
}

/// The producer was dropped before a delivery report arrived.
#[derive(Debug, Error)]
#[error("producer shut down before the delivery report arrived")]
pub struct DeliveryCanceled;

/// A batch of records was rejected as too large although no single record exceeds the
/// topic limit: `batch.size` is above the topic's `max.message.bytes`.
#[derive(Debug, Error)]
#[error("a record batch exceeded the target topic max.message.bytes = {max} (producer batch.size = {batch_size}; lower it): {source}")]
pub struct BatchTooLarge {
    /// The topic limit.
    pub max: usize,
    /// The producer's `batch.size`.
    pub batch_size: u32,
    /// The broker's answer.
    #[source]
    pub source: KafkaError,
}

#[derive(Debug, Clone, Copy)]
struct CachedInfo {
    at: Instant,
    info: TopicInfo,
}

/// The target cluster: produces mirrored records and answers offset and metadata queries.
/// Build it once per process and share it (`&TargetCluster` is all the ports need).
pub struct TargetCluster {
    conn: KafkaConnection,
    producer: FutureProducer<FerryContext>,
    meta: Arc<FerryConsumer>,
    admin: FerryAdmin,
    options: TargetOptions,
    cache: Mutex<HashMap<String, CachedInfo>>,
    /// Whether the "not allowed to describe configs" warning was logged.
    describe_configs_denied: AtomicBool,
    /// Per-partition transactional producers ([`Fencing::Transactions`]).
    txn: Option<TxnPool>,
}

impl fmt::Debug for TargetCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetCluster")
            .field("conn", &self.conn)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Outcome bookkeeping of one `produce` call.
struct ProduceState {
    offsets: Vec<i64>,
    /// Index and error of the first failed record (lowest index).
    first_error: Option<(usize, KafkaError)>,
    /// Largest record that failed with `MSG_SIZE_TOO_LARGE`: (index, estimated size, local?).
    largest_too_large: Option<(usize, usize, bool)>,
}

impl ProduceState {
    fn fail(&mut self, index: usize, error: KafkaError, local: bool, records: &[MirrorRecord]) {
        if is_too_large(&error) {
            let size = records
                .get(index)
                .map_or(0, MirrorRecord::estimated_batch_bytes);
            if self
                .largest_too_large
                .is_none_or(|(_, largest, _)| size > largest)
            {
                self.largest_too_large = Some((index, size, local));
            }
        }
        if self.first_error.as_ref().is_none_or(|(i, _)| index < *i) {
            self.first_error = Some((index, error));
        }
    }

    fn settle(
        &mut self,
        index: usize,
        outcome: Result<
            rdkafka::producer::future_producer::OwnedDeliveryResult,
            futures::channel::oneshot::Canceled,
        >,
        records: &[MirrorRecord],
    ) -> Result<(), BoxError> {
        match outcome {
            Ok(Ok(delivery)) => {
                self.offsets.push(delivery.offset);
                Ok(())
            }
            Ok(Err((error, _message))) => {
                self.fail(index, error, false, records);
                Ok(())
            }
            Err(_canceled) => Err(Box::new(DeliveryCanceled)),
        }
    }
}

/// The cluster refused a request for lack of permission.
fn is_authorization_failure(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
    )
}

fn is_too_large(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge)
}

fn is_queue_full(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
}

/// Kafka's "no timestamp" (`RecordBatch.NO_TIMESTAMP`).
const NO_TIMESTAMP: i64 = -1;

/// Builds the librdkafka record for `r` without copying its bytes (librdkafka copies them once
/// into its own buffer on enqueue).
fn future_record<'a>(tp: &'a TopicPartition, r: &'a MirrorRecord) -> FutureRecord<'a, [u8], [u8]> {
    let mut fr = FutureRecord::to(&tp.topic).partition(tp.partition);
    if let Some(key) = r.key.as_deref() {
        fr = fr.key(key);
    }
    if let Some(value) = r.value.as_deref() {
        fr = fr.payload(value);
    }
    // A source record without a timestamp (`NO_TIMESTAMP_TYPE`, or `-1` from a pre-0.10 message
    // format) stays without one: librdkafka stamps "now" only for 0/absent and passes `-1`
    // through, and the broker accepts `-1` on a `CreateTime` topic. Stamping it would make the
    // target record differ from the source (reconcile and validation compare timestamps).
    let timestamp = if r.timestamp_type == TimestampType::NoTimestamp || r.timestamp < 0 {
        NO_TIMESTAMP
    } else {
        r.timestamp
    };
    fr = fr.timestamp(timestamp);
    if !r.headers.is_empty() {
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
        for h in &r.headers {
            headers = headers.insert(Header {
                key: &h.key,
                value: Some(h.value.as_slice()),
            });
        }
        fr = fr.headers(headers);
    }
    fr
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
        let producer: FutureProducer<FerryContext> = producer_config
            .create_with_context(conn.context())
            .map_err(BuildError::Client)?;
        let txn = match &options.fencing {
            Fencing::None => None,
            Fencing::Transactions {
                id_prefix,
                transaction_timeout,
                max_producers,
            } => Some(TxnPool::new(
                producer_config.clone(),
                conn.clone(),
                id_prefix.clone(),
                *transaction_timeout,
                *max_producers,
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

        Ok(Self {
            conn: conn.clone(),
            producer,
            meta: Arc::new(meta),
            admin,
            options,
            cache: Mutex::new(HashMap::new()),
            describe_configs_denied: AtomicBool::new(false),
            txn,
        })
    }

    /// The transactional producers, with [`Fencing::Transactions`].
    pub(crate) fn txn_pool(&self) -> Option<&TxnPool> {
        self.txn.as_ref()
    }

    /// The shared idempotent producer.
    pub(crate) fn idempotent_producer(&self) -> &FutureProducer<FerryContext> {
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

    /// Partition count of `topic` from metadata; `None` if it does not exist.
    async fn partition_count(&self, topic: &str) -> Result<Option<i32>, TargetError> {
        let name = topic.to_owned();
        let found = self
            .blocking("metadata request", move |c, timeout| {
                let md = c.fetch_metadata(Some(&name), timeout)?;
                Ok(md
                    .topics()
                    .iter()
                    .find(|t| t.name() == name)
                    .map(|t| (t.error(), t.partitions().len())))
            })
            .await?;
        match found {
            None => Ok(None),
            Some((Some(err), n)) => {
                let code = RDKafkaErrorCode::from(err);
                if code == RDKafkaErrorCode::UnknownTopicOrPartition
                    || code == RDKafkaErrorCode::UnknownTopic
                {
                    Ok(None)
                } else if n == 0 {
                    Err(TargetError::Unavailable(Box::new(
                        KafkaError::MetadataFetch(code),
                    )))
                } else {
                    Ok(Some(count_i32(n)))
                }
            }
            Some((None, 0)) => Ok(None),
            Some((None, n)) => Ok(Some(count_i32(n))),
        }
    }

    /// The producer's `message.max.bytes`, standing in for the limit of `topic` whose configs
    /// the cluster does not let this client describe (warns once per cluster).
    fn configs_denied(&self, topic: &str, code: RDKafkaErrorCode) -> usize {
        if !self.describe_configs_denied.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                topic,
                %code,
                message_max_bytes = self.options.tuning.message_max_bytes,
                "not allowed to describe target topic configs (with MSK IAM: grant kafka-cluster:DescribeTopicDynamicConfiguration); the producer's message.max.bytes stands in for each topic's max.message.bytes"
            );
        }
        self.options.tuning.message_max_bytes as usize
    }

    /// The topic's effective `max.message.bytes`; `None` if the topic does not exist.
    async fn max_message_bytes(&self, topic: &str) -> Result<Option<usize>, TargetError> {
        let admin = &self.admin;
        let timeout = self.options.request_timeout;
        let opts = AdminOptions::new().request_timeout(Some(timeout));
        let resources = [ResourceSpecifier::Topic(topic)];
        let request = admin.describe_configs(&resources, &opts);
        let results = match tokio::time::timeout(timeout + Duration::from_secs(1), request).await {
            Err(_elapsed) => {
                return Err(TargetError::Unavailable(Box::new(RequestTimeout {
                    what: "describe configs request",
                    timeout,
                })))
            }
            Ok(Err(KafkaError::AdminOp(code))) if is_authorization_failure(code) => {
                return Ok(Some(self.configs_denied(topic, code)));
            }
            Ok(Err(e)) => return Err(TargetError::Unavailable(Box::new(e))),
            Ok(Ok(results)) => results,
        };
        let resource = match results.into_iter().next() {
            None => {
                return Err(TargetError::Unavailable(Box::new(UnexpectedResponse(
                    format!("describe configs of topic {topic:?} returned no result"),
                ))))
            }
            Some(Err(RDKafkaErrorCode::UnknownTopicOrPartition)) => return Ok(None),
            Some(Err(code)) if is_authorization_failure(code) => {
                return Ok(Some(self.configs_denied(topic, code)));
            }
            Some(Err(code)) => {
                return Err(TargetError::Unavailable(Box::new(KafkaError::AdminOp(
                    code,
                ))))
            }
            Some(Ok(resource)) => resource,
        };
        let value = resource
            .get("max.message.bytes")
            .and_then(|e| e.value.as_deref())
            .ok_or_else(|| {
                TargetError::Unavailable(Box::new(UnexpectedResponse(format!(
                    "topic {topic:?} reports no max.message.bytes"
                ))))
            })?;
        let max = value.trim().parse::<usize>().map_err(|_| {
            TargetError::Unavailable(Box::new(UnexpectedResponse(format!(
                "topic {topic:?} reports max.message.bytes = {value:?}, not a number"
            ))))
        })?;
        Ok(Some(max))
    }

    /// Turns the first failure of a `produce` call into a [`TargetError`].
    async fn produce_error(
        &self,
        producer: &FutureProducer<FerryContext>,
        tp: &TopicPartition,
        records: &[MirrorRecord],
        state: ProduceState,
    ) -> TargetError {
        if let Some((code, reason)) = producer.client().fatal_error() {
            if crate::transactions::is_fenced_code(code) {
                return TargetError::Fenced { tp: tp.clone() };
            }
            tracing::error!(%code, %reason, "target producer hit a fatal error; it cannot produce any more");
            return TargetError::Produce {
                tp: tp.clone(),
                source: Box::new(ProducerFatal { code, reason }),
            };
        }
        let Some((_, first)) = state.first_error else {
            return TargetError::Produce {
                tp: tp.clone(),
                source: Box::new(UnexpectedResponse("produce failed without an error".into())),
            };
        };
        if first
            .rdkafka_error_code()
            .is_some_and(crate::transactions::is_fenced_code)
        {
            return TargetError::Fenced { tp: tp.clone() };
        }
        if matches!(
            first.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::UnknownPartition
            )
        ) {
            self.invalidate_topic_info(&tp.topic);
            match self.topic_info(&tp.topic).await {
                Ok(None) => {
                    return TargetError::TopicMissing {
                        topic: tp.topic.clone(),
                    }
                }
                Ok(Some(info)) if info.partitions <= tp.partition => {
                    return TargetError::TooFewPartitions {
                        topic: tp.topic.clone(),
                        partitions: info.partitions,
                        partition: tp.partition,
                    }
                }
                Ok(Some(_)) | Err(_) => {}
            }
        }
        if let (true, Some((index, size, local))) = (is_too_large(&first), state.largest_too_large)
        {
            let client_limit = self.options.tuning.message_max_bytes as usize;
            let max = if local {
                Some(client_limit)
            } else {
                self.invalidate_topic_info(&tp.topic);
                match self.topic_info(&tp.topic).await {
                    Ok(Some(info)) => Some(info.max_message_bytes),
                    Ok(None) | Err(_) => None,
                }
            };
            // A record at or below the limit only failed because it shared a batch with others.
            if max.is_none_or(|max| size > max) {
                let offset = records.get(index).map_or(-1, |r| r.offset);
                return TargetError::RecordTooLarge {
                    tp: tp.clone(),
                    offset,
                    size,
                    max: max.unwrap_or(client_limit),
                };
            }
            if let Some(max) = max {
                return TargetError::Produce {
                    tp: tp.clone(),
                    source: Box::new(BatchTooLarge {
                        max,
                        batch_size: self.options.tuning.batch_size,
                        source: first,
                    }),
                };
            }
        }
        TargetError::Produce {
            tp: tp.clone(),
            source: Box::new(first),
        }
    }
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl TargetProducer for TargetCluster {
    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        self.produce_on(&self.producer, tp, records).await
    }
}

impl TargetCluster {
    /// Produces `records` to `tp` on `producer` and awaits every delivery report (see
    /// [`TargetProducer::produce`]).
    pub(crate) async fn produce_on(
        &self,
        producer: &FutureProducer<FerryContext>,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        let mut state = ProduceState {
            offsets: Vec::with_capacity(records.len()),
            first_error: None,
            largest_too_large: None,
        };
        // Deliveries complete in enqueue order (one partition, idempotent producer), so they are
        // awaited front to back and `state.offsets` stays in record order.
        let mut pending: VecDeque<(usize, DeliveryFuture)> = VecDeque::with_capacity(
            records
                .len()
                .min(self.options.tuning.queue_buffering_max_messages as usize),
        );
        let mut canceled: Option<BoxError> = None;

        'records: for (index, record) in records.iter().enumerate() {
            let mut fr = future_record(tp, record);
            loop {
                match producer.send_result(fr) {
                    Ok(delivery) => {
                        pending.push_back((index, delivery));
                        break;
                    }
                    Err((error, back)) if is_queue_full(&error) => {
                        fr = back;
                        match pending.pop_front() {
                            Some((i, delivery)) => {
                                if let Err(e) = state.settle(i, delivery.await, records) {
                                    canceled.get_or_insert(e);
                                }
                                // Something failed: enqueue nothing more, so this call adds no
                                // record behind the failed one (those already queued still go).
                                if state.first_error.is_some() || canceled.is_some() {
                                    break 'records;
                                }
                            }
                            // Queue filled by concurrent callers: give librdkafka a moment.
                            None => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                    Err((error, _)) => {
                        // Not enqueued; later records are not sent so the target gets no record
                        // after a gap that this call itself created.
                        state.fail(index, error, true, records);
                        break 'records;
                    }
                }
            }
        }
        while let Some((i, delivery)) = pending.pop_front() {
            if let Err(e) = state.settle(i, delivery.await, records) {
                canceled.get_or_insert(e);
            }
        }

        if let Some(source) = canceled {
            return Err(TargetError::Produce {
                tp: tp.clone(),
                source,
            });
        }
        if state.first_error.is_some() {
            return Err(self.produce_error(producer, tp, records, state).await);
        }
        Ok(state.offsets)
    }
}

/// A retriable "leader not known (yet)" answer.
fn is_leadership_error(e: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::NotLeaderForPartition
                | C::LeaderNotAvailable
                | C::NotCoordinator
                | C::FencedLeaderEpoch
                | C::UnknownLeaderEpoch
        )
    )
}

impl TargetOffsets for TargetCluster {
    async fn end_offset(&self, tp: &TopicPartition) -> Result<i64, TargetError> {
        let topic = tp.topic.clone();
        let partition = tp.partition;
        let (_low, high) = self
            .blocking("watermark request", move |c, timeout| {
                // Leadership moves (elections, a just-created topic) answer with a retriable
                // error for a moment: retry briefly within the request timeout.
                let deadline = std::time::Instant::now() + timeout;
                let mut attempt = 0u32;
                loop {
                    match c.fetch_watermarks(&topic, partition, timeout) {
                        Err(e)
                            if is_leadership_error(&e)
                                && std::time::Instant::now() < deadline
                                && attempt < 20 =>
                        {
                            attempt += 1;
                            std::thread::sleep(Duration::from_millis(
                                50 * u64::from(attempt.min(10)),
                            ));
                        }
                        other => return other,
                    }
                }
            })
            .await?;
        Ok(high)
    }
}

/// Delegates to [`KafkaClusterReader`] (the one range-read body), with this cluster's request
/// timeout; reads use a short-lived assigned consumer and stop early at the partition end.
impl RangeReader for TargetCluster {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        isolation: ReadIsolation,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        KafkaClusterReader::new(self.conn.clone(), "target")
            .with_timeout(self.options.request_timeout)
            .read_range(tp, from, to, isolation)
            .await
    }
}

impl TargetMetadata for TargetCluster {
    fn forget_topic_info(&self, topic: &str) {
        self.invalidate_topic_info(topic);
    }

    async fn topic_info(&self, topic: &str) -> Result<Option<TopicInfo>, TargetError> {
        let now = Instant::now();
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
        {
            if now.duration_since(cached.at) < self.options.topic_info_ttl {
                return Ok(Some(cached.info));
            }
        }
        let Some(partitions) = self.partition_count(topic).await? else {
            return Ok(None);
        };
        let Some(max_message_bytes) = self.max_message_bytes(topic).await? else {
            return Ok(None);
        };
        let info = TopicInfo {
            partitions,
            max_message_bytes,
        };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_owned(), CachedInfo { at: now, info });
        Ok(Some(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Security;
    use ferry_core::record::Header as RecordHeader;

    #[test]
    fn msk_iam_builds_with_the_token_context_and_an_admin_client_serving_tokens() {
        // The same static credentials as `crate::auth`'s tests (the admin's token thread signs).
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDFERRYTEST");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "ferry-secret-access-key-test");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_PROFILE");
        let conn = KafkaConnection {
            security: Security::MskIam {
                region: "eu-west-1".into(),
            },
            ..KafkaConnection::plaintext("b-1.example:9098")
        };
        let cluster = TargetCluster::new(&conn, ProducerTuning::default()).unwrap();
        assert_eq!(cluster.meta.context().msk_iam_region(), Some("eu-west-1"));
        assert_eq!(
            cluster.admin().inner().context().msk_iam_region(),
            Some("eu-west-1")
        );
        assert!(cluster.admin().serves_oauth_tokens());
        let plain = TargetCluster::new(
            &KafkaConnection::plaintext("b:9092"),
            TargetOptions::default(),
        )
        .unwrap();
        assert!(!plain.admin().serves_oauth_tokens());
    }

    #[test]
    fn authorization_failures_are_told_apart() {
        assert!(is_authorization_failure(
            RDKafkaErrorCode::TopicAuthorizationFailed
        ));
        assert!(is_authorization_failure(
            RDKafkaErrorCode::ClusterAuthorizationFailed
        ));
        assert!(!is_authorization_failure(
            RDKafkaErrorCode::UnknownTopicOrPartition
        ));
        assert!(!is_authorization_failure(RDKafkaErrorCode::RequestTimedOut));
        let cluster = TargetCluster::new(
            &KafkaConnection::plaintext("127.0.0.1:1"),
            TargetOptions::default(),
        )
        .unwrap();
        let limit = ProducerTuning::default().message_max_bytes as usize;
        assert_eq!(
            cluster.configs_denied("t", RDKafkaErrorCode::TopicAuthorizationFailed),
            limit
        );
        assert_eq!(
            cluster.configs_denied("u", RDKafkaErrorCode::TopicAuthorizationFailed),
            limit
        );
        assert!(cluster.describe_configs_denied.load(Ordering::Relaxed));
    }

    #[test]
    fn builds_without_connecting_and_debug_hides_clients() {
        let cluster = TargetCluster::new(
            &KafkaConnection::plaintext("127.0.0.1:1"),
            TargetOptions::default(),
        )
        .unwrap();
        let dbg = format!("{cluster:?}");
        assert!(dbg.contains("TargetCluster"), "{dbg}");
        assert_eq!(cluster.options().topic_info_ttl, Duration::from_secs(60));
    }

    #[test]
    fn future_record_maps_nulls_headers_and_timestamps() {
        let tp = TopicPartition::new("t", 4);
        let mut r = MirrorRecord {
            offset: 9,
            timestamp: 1234,
            timestamp_type: TimestampType::LogAppendTime,
            key: None,
            value: Some(Vec::new()),
            headers: vec![
                RecordHeader {
                    key: "a".into(),
                    value: b"1".to_vec(),
                },
                RecordHeader {
                    key: "a".into(),
                    value: Vec::new(),
                },
            ],
        };
        let fr = future_record(&tp, &r);
        assert_eq!((fr.topic, fr.partition), ("t", Some(4)));
        assert!(fr.key.is_none());
        assert_eq!(fr.payload, Some(&[][..]));
        assert_eq!(fr.timestamp, Some(1234));
        let headers = fr.headers.as_ref().unwrap();
        use rdkafka::message::Headers;
        let got: Vec<(String, Option<Vec<u8>>)> = headers
            .iter()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".to_owned(), Some(b"1".to_vec())),
                ("a".to_owned(), Some(Vec::new()))
            ]
        );

        r.timestamp_type = TimestampType::NoTimestamp;
        r.headers.clear();
        r.value = None;
        let fr = future_record(&tp, &r);
        assert_eq!(fr.timestamp, Some(NO_TIMESTAMP));
        assert!(fr.payload.is_none());
        assert!(fr.headers.is_none());
    }
}
