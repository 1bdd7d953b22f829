//! Reading a partition range back: used by validation (compare source and target), by the
//! mirror (records past recorded progress, e.g. the previous writer's commit marker at a
//! hand-over) and by the integration tests.
//!
//! A reader is an assigned consumer (a throw-away `group.id` that is never joined and never
//! commits) running on tokio's blocking pool. [`scan_partition`] builds one per read;
//! [`RangeConsumers`] keeps them between reads (the mirror's and validation's readers, through
//! [`crate::KafkaClusterReader`]). Ranges may contain offset gaps (compaction,
//! transaction markers, aborted records under `read_committed`): the reader finishes when it has
//! seen a record at or past the end of the range, or when it reaches the end of the partition
//! and the end offset it measured *before* starting already covered the range.

use crate::auth::{serve_events, FerryConsumer};
use crate::config::{BuildError, KafkaConnection};
use ferry_core::checksum::RangeChecksum;
use ferry_core::record::{Header, MirrorRecord, TimestampType};
use ferry_core::topics::TopicPartition;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Default for [`ReadOptions::timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Which records a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Only records of committed transactions (and non-transactional ones), up to the last
    /// stable offset: what a normal consumer sees.
    #[default]
    ReadCommitted,
    /// Every record, up to the high watermark, including aborted transactional records.
    ReadUncommitted,
}

impl From<ferry_core::ports::ReadIsolation> for Isolation {
    fn from(isolation: ferry_core::ports::ReadIsolation) -> Self {
        match isolation {
            ferry_core::ports::ReadIsolation::Committed => Self::ReadCommitted,
            ferry_core::ports::ReadIsolation::Uncommitted => Self::ReadUncommitted,
        }
    }
}

impl Isolation {
    fn as_rdkafka(self) -> &'static str {
        match self {
            Self::ReadCommitted => "read_committed",
            Self::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// How to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Isolation level.
    pub isolation: Isolation,
    /// Longest time without progress (no record, or the range end not yet written) before
    /// giving up with [`ReadError::Timeout`]. Default [`DEFAULT_READ_TIMEOUT`].
    pub timeout: Duration,
    /// When the requested end lies beyond the partition's current end: `false` (default)
    /// waits for the records to be written, `true` reads only what exists.
    pub stop_at_end: bool,
    /// Connect to every broker at once (`enable.sparse.connections=false`) instead of only to
    /// the ones needed. A fresh sparse client sometimes loses its bootstrap connection before
    /// another one is up and waits for a 500 ms timer on its first request; eager connections
    /// avoid that at the price of a connection per broker per read. `false` by default
    /// (validation reads thousands of ranges); the mirror's single read at a hand-over sets it.
    pub eager_connections: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            isolation: Isolation::default(),
            timeout: DEFAULT_READ_TIMEOUT,
            stop_at_end: false,
            eager_connections: false,
        }
    }
}

/// Reading failed.
#[derive(Debug, Error)]
pub enum ReadError {
    /// A client could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The cluster returned an error.
    #[error("reading {tp} failed: {source}")]
    Kafka {
        /// Partition.
        tp: TopicPartition,
        /// Cause.
        #[source]
        source: Box<KafkaError>,
    },
    /// The range starts below the partition's low watermark (records were deleted).
    #[error("cannot read {tp} from offset {from}: the partition starts at {low}")]
    OffsetOutOfRange {
        /// Partition.
        tp: TopicPartition,
        /// Requested start.
        from: i64,
        /// Low watermark.
        low: i64,
    },
    /// No progress within the timeout.
    #[error("reading {tp} up to offset {to} stalled at offset {next} for {timeout:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    Timeout {
        /// Partition.
        tp: TopicPartition,
        /// Next offset that was expected.
        next: i64,
        /// Exclusive end of the range.
        to: i64,
        /// The timeout.
        timeout: Duration,
        /// Last transient error the consumer reported, if any.
        last_error: Option<Box<KafkaError>>,
    },
    /// The blocking reader task panicked or was cancelled.
    #[error("reader task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Low and high watermark of `tp` (`high` is the offset the next record will get).
pub async fn watermarks(
    conn: &KafkaConnection,
    tp: &TopicPartition,
) -> Result<(i64, i64), ReadError> {
    fetch_watermarks(Arc::new(watermark_consumer(conn)?), tp).await
}

/// A consumer for [`fetch_watermarks`] (never joins a group, never reads records).
pub fn watermark_consumer(conn: &KafkaConnection) -> Result<FerryConsumer, ReadError> {
    let mut config = conn.client_config()?;
    config
        .set("isolation.level", "read_uncommitted")
        .set("allow.auto.create.topics", "false");
    Ok(config
        .create_with_context(conn.context())
        .map_err(BuildError::Client)?)
}

/// The low and high watermarks of `tp`, asked with `consumer` (which may be shared: the
/// blocking call runs on the blocking pool).
pub async fn fetch_watermarks(
    consumer: Arc<FerryConsumer>,
    tp: &TopicPartition,
) -> Result<(i64, i64), ReadError> {
    let tp = tp.clone();
    tokio::task::spawn_blocking(move || {
        serve_events(&consumer);
        consumer
            .fetch_watermarks(&tp.topic, tp.partition, DEFAULT_READ_TIMEOUT)
            .map_err(|source| ReadError::Kafka {
                tp,
                source: Box::new(source),
            })
    })
    .await
    .map_err(ReadError::Task)?
}

/// Reads the records of `tp` with offsets in `from..to` (`to = None`: up to the partition's end
/// when the call starts; the last stable offset under [`Isolation::ReadCommitted`]).
/// Offsets may have gaps. Fails with [`ReadError::Timeout`] after [`DEFAULT_READ_TIMEOUT`]
/// without progress.
pub async fn read_partition(
    conn: &KafkaConnection,
    tp: &TopicPartition,
    from: i64,
    to: Option<i64>,
    isolation: Isolation,
) -> Result<Vec<MirrorRecord>, ReadError> {
    let options = ReadOptions {
        isolation,
        ..ReadOptions::default()
    };
    scan_partition(conn, tp, from, to, &options, Vec::new(), |records, r| {
        records.push(r)
    })
    .await
}

/// Ordered content checksum of the records of `tp` in `from..to` (see [`read_partition`]),
/// read with [`Isolation::ReadCommitted`]. Compares source and target ranges: offsets are not
/// part of it.
pub async fn partition_checksum(
    conn: &KafkaConnection,
    tp: &TopicPartition,
    from: i64,
    to: Option<i64>,
) -> Result<RangeChecksum, ReadError> {
    scan_partition(
        conn,
        tp,
        from,
        to,
        &ReadOptions::default(),
        RangeChecksum::default(),
        |sum, r| sum.push(&r),
    )
    .await
}

/// Folds every record of `tp` in `from..to` into `acc` with `f`, in offset order, without
/// holding the range in memory. The general form of [`read_partition`] and
/// [`partition_checksum`].
pub async fn scan_partition<A, F>(
    conn: &KafkaConnection,
    tp: &TopicPartition,
    from: i64,
    to: Option<i64>,
    options: &ReadOptions,
    acc: A,
    f: F,
) -> Result<A, ReadError>
where
    A: Send + 'static,
    F: FnMut(&mut A, MirrorRecord) + Send + 'static,
{
    let consumer = range_consumer(conn, options)?;
    let tp = tp.clone();
    let options = *options;
    tokio::task::spawn_blocking(move || scan_blocking(&consumer, tp, from, to, options, acc, f))
        .await
        .map_err(ReadError::Task)?
}

/// Range consumers kept between reads of one cluster, so that a read does not pay for a new
/// client (connections, metadata, a broker thread each): at every hand-over of a partition the
/// mirror reads the previous writer's commit marker, which cost p50 135 ms with a fresh
/// consumer under the W1 benchmark.
///
/// A consumer goes back to the pool only after a read that succeeded and an `unassign` that
/// succeeded; a failed read drops it (with whatever connection state made it fail). Reusing an
/// assigned consumer is safe because librdkafka versions each assignment: messages and
/// end-of-partition events fetched for an earlier assignment are discarded, never delivered to
/// a later read. At most [`RangeConsumers::MAX_IDLE`] idle consumers are kept per kind
/// (isolation level and connection mode), and none longer than the idle timeout (default
/// [`RangeConsumers::DEFAULT_IDLE_TIMEOUT`]): an idle consumer with eager connections keeps one
/// to every broker, and MSK limits connections per broker.
pub struct RangeConsumers {
    idle: Mutex<Vec<Idle>>,
    idle_timeout: Duration,
}

struct Idle {
    kind: ConsumerKind,
    since: Instant,
    consumer: FerryConsumer,
}

/// What a pooled range consumer was configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConsumerKind {
    isolation: Isolation,
    eager_connections: bool,
}

impl From<&ReadOptions> for ConsumerKind {
    fn from(options: &ReadOptions) -> Self {
        Self {
            isolation: options.isolation,
            eager_connections: options.eager_connections,
        }
    }
}

impl std::fmt::Debug for RangeConsumers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeConsumers")
            .field("idle", &self.idle_count())
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Closes the idle consumers on tokio's blocking pool when dropped inside a runtime (closing a
/// client blocks), in place otherwise.
impl Drop for RangeConsumers {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner));
        if idle.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(move || drop(idle));
        }
    }
}

impl Default for RangeConsumers {
    fn default() -> Self {
        Self::with_idle_timeout(Self::DEFAULT_IDLE_TIMEOUT)
    }
}

impl RangeConsumers {
    /// Idle consumers kept per kind.
    pub const MAX_IDLE: usize = 8;
    /// How long an unused consumer is kept by default.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

    /// An empty pool that closes consumers unused for `idle_timeout` (when the next read
    /// ends).
    pub fn with_idle_timeout(idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::default(),
            idle_timeout,
        }
    }

    /// Idle consumers now in the pool.
    pub fn idle_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle consumer of `kind`, if any.
    fn take(&self, kind: ConsumerKind) -> Option<FerryConsumer> {
        let mut idle = self.lock();
        let at = idle.iter().rposition(|i| i.kind == kind)?;
        Some(idle.swap_remove(at).consumer)
    }

    /// Keeps `consumer` unless the pool already holds enough of its kind, and removes the
    /// consumers idle for the timeout; returns what is to be closed (off the async threads:
    /// closing a client blocks).
    fn put(&self, kind: ConsumerKind, consumer: FerryConsumer) -> Vec<FerryConsumer> {
        let now = Instant::now();
        let mut idle = self.lock();
        let mut close: Vec<FerryConsumer> = idle
            .extract_if(.., |i| now.duration_since(i.since) >= self.idle_timeout)
            .map(|i| i.consumer)
            .collect();
        if idle.iter().filter(|i| i.kind == kind).count() >= Self::MAX_IDLE {
            close.push(consumer);
        } else {
            idle.push(Idle {
                kind,
                since: Instant::now(),
                consumer,
            });
        }
        close
    }

    fn close(consumers: Vec<FerryConsumer>) {
        if !consumers.is_empty() {
            tokio::task::spawn_blocking(move || drop(consumers));
        }
    }

    /// [`scan_partition`] with a consumer from the pool (or a new one), returned to the pool
    /// when the read succeeds.
    #[allow(clippy::too_many_arguments)]
    pub async fn scan<A, F>(
        &self,
        conn: &KafkaConnection,
        tp: &TopicPartition,
        from: i64,
        to: Option<i64>,
        options: &ReadOptions,
        acc: A,
        f: F,
    ) -> Result<A, ReadError>
    where
        A: Send + 'static,
        F: FnMut(&mut A, MirrorRecord) + Send + 'static,
    {
        let kind = ConsumerKind::from(options);
        let consumer = match self.take(kind) {
            Some(c) => c,
            None => range_consumer(conn, options)?,
        };
        let tp = tp.clone();
        let options = *options;
        let (reusable, result) = tokio::task::spawn_blocking(move || {
            let result = scan_blocking(&consumer, tp, from, to, options, acc, f);
            // A consumer that failed, or cannot be unassigned, is closed here (blocking).
            let reusable = (result.is_ok() && release(&consumer)).then_some(consumer);
            (reusable, result)
        })
        .await
        .map_err(ReadError::Task)?;
        if let Some(consumer) = reusable {
            Self::close(self.put(kind, consumer));
        }
        result
    }
}

/// Ends a range consumer's assignment and drains its queue (librdkafka already discards what
/// was fetched for the old assignment; this keeps the queue empty regardless). `false` if it
/// cannot be reused.
fn release(consumer: &FerryConsumer) -> bool {
    if consumer.unassign().is_err() {
        return false;
    }
    (0..1_000).any(|_| consumer.poll(Duration::ZERO).is_none())
}

fn range_consumer(
    conn: &KafkaConnection,
    options: &ReadOptions,
) -> Result<FerryConsumer, ReadError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // librdkafka only assigns partitions in a consumer that has a group.id; this group is never
    // joined (no subscribe) and never committed to.
    let group = format!(
        "ferry-reader-{}-{nanos}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let mut config = conn.client_config()?;
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        // A bounded read whose range ends in a transaction marker (every partition the mirror
        // wrote) only learns it is done from the end-of-partition event, which the broker sends
        // when a fetch at the end times out: wait 1 ms, not the default 500 ms (10 ms made the
        // hand-over read take p50 18-20 ms under the benchmark with a pooled consumer).
        // Validating 1,000 partitions reads 2,000 such ranges, and the mirror reads one (the
        // previous writer's commit marker) at every hand-over of a partition between
        // sandboxes. The wait only happens at the partition end: a consumer is assigned once
        // the range is written, and unassigned when the read ends.
        .set("fetch.wait.max.ms", "1")
        .set("auto.offset.reset", "error")
        .set("allow.auto.create.topics", "false")
        .set("isolation.level", options.isolation.as_rdkafka());
    if options.eager_connections {
        config.set("enable.sparse.connections", "false");
    }
    Ok(config
        .create_with_context(conn.context())
        .map_err(BuildError::Client)?)
}

/// Converts a consumed message. A null header value becomes an empty one (Ferry's record model
/// has no null header values).
pub fn to_mirror_record(m: &BorrowedMessage<'_>) -> MirrorRecord {
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::NotAvailable => (-1, TimestampType::NoTimestamp),
        Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
        Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
    };
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| Header {
                    key: h.key.to_owned(),
                    value: h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    MirrorRecord {
        offset: m.offset(),
        timestamp,
        timestamp_type,
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// Errors after which waiting longer cannot help.
fn is_terminal(e: &KafkaError) -> bool {
    matches!(e, KafkaError::MessageConsumptionFatal(_))
        || matches!(
            e.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::AutoOffsetReset
                    | RDKafkaErrorCode::OffsetOutOfRange
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::Fatal
            )
        )
}

fn scan_blocking<A, F>(
    consumer: &FerryConsumer,
    tp: TopicPartition,
    from: i64,
    to: Option<i64>,
    options: ReadOptions,
    mut acc: A,
    mut f: F,
) -> Result<A, ReadError>
where
    F: FnMut(&mut A, MirrorRecord),
{
    let kafka = |tp: &TopicPartition| {
        let tp = tp.clone();
        move |source| ReadError::Kafka {
            tp,
            source: Box::new(source),
        }
    };
    let request_timeout = options.timeout.min(DEFAULT_READ_TIMEOUT);
    serve_events(consumer);
    // End measured before assigning: any end-of-partition event seen later is at or past it.
    let (low, mut end) = consumer
        .fetch_watermarks(&tp.topic, tp.partition, request_timeout)
        .map_err(kafka(&tp))?;
    let to = match to {
        None => end,
        Some(to) if options.stop_at_end => to.min(end),
        Some(to) => to,
    };
    if from >= to {
        return Ok(acc);
    }
    if from < low {
        return Err(ReadError::OffsetOutOfRange { tp, from, low });
    }
    let mut deadline = Instant::now() + options.timeout;
    while end < to {
        if Instant::now() > deadline {
            return Err(ReadError::Timeout {
                tp,
                next: end,
                to,
                timeout: options.timeout,
                last_error: None,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
        end = consumer
            .fetch_watermarks(&tp.topic, tp.partition, request_timeout)
            .map_err(kafka(&tp))?
            .1;
    }

    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&tp.topic, tp.partition, Offset::Offset(from))
        .map_err(kafka(&tp))?;
    consumer.assign(&assignment).map_err(kafka(&tp))?;

    let mut next = from;
    let mut last_error = None;
    deadline = Instant::now() + options.timeout;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if m.topic() != tp.topic || m.partition() != tp.partition {
                    continue;
                }
                let offset = m.offset();
                if offset >= to {
                    break;
                }
                if offset >= next {
                    f(&mut acc, to_mirror_record(&m));
                    next = offset + 1;
                    deadline = Instant::now() + options.timeout;
                }
                if next >= to {
                    break;
                }
            }
            // The fetch position reached the partition end, which is at least `end >= to`:
            // everything below `to` has been delivered (gaps were control or aborted records).
            Some(Err(KafkaError::PartitionEOF(p))) if p == tp.partition => break,
            Some(Err(e)) if is_terminal(&e) => {
                return Err(ReadError::Kafka {
                    tp,
                    source: Box::new(e),
                })
            }
            Some(Err(e)) => {
                tracing::debug!(%tp, error = %e, "transient consumer error while reading range");
                last_error = Some(Box::new(e));
            }
            None => {}
        }
        if Instant::now() > deadline {
            return Err(ReadError::Timeout {
                tp,
                next,
                to,
                timeout: options.timeout,
                last_error,
            });
        }
    }
    Ok(acc)
}
