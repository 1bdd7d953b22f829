//! Ports: the capabilities Ferry's handlers need from the outside world, one trait per
//! capability. Adapters implement them (`ferry-aws` for DynamoDB, `ferry-kafka` for rdkafka);
//! unit tests use the in-memory fakes of the `ferry-testkit` crate (a dev-dependency only).
//! [`crate::storage::UnknownStorage`] is the production [`TargetStorage`] where the platform
//! cannot tell the target's storage. Methods return `Send` futures so handlers can run them on a
//! multi-threaded runtime.

use crate::checkpoint::Checkpoint;
use crate::progress::{Progress, Segment};
use crate::record::MirrorRecord;
use crate::topics::TopicPartition;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// State store failures.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store could not be reached or throttled us; retrying later may succeed.
    #[error("state store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A conditional write failed: the stored progress is not what this attempt read, so another
    /// attempt (or operator) changed it. The batch is retried and re-reads progress.
    #[error("progress of {tp} changed since it was read (conditional write failed)")]
    Conflict {
        /// First partition whose condition failed (if the store can tell).
        tp: TopicPartition,
    },
    /// A versioned document was saved by somebody else since it was read.
    #[error("{key} changed since it was read (version conflict)")]
    VersionConflict {
        /// Item key.
        key: String,
    },
    /// A stored item does not have the expected shape.
    #[error("state item {key} is malformed: {reason}")]
    Corrupt {
        /// Item key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    /// The error every state store returns when one [`ProgressStore::commit_progress`] call has
    /// two commits for the same partition (DynamoDB refuses two operations on one item in a
    /// transaction, so no store accepts it): [`StoreError::Corrupt`] keyed by the partition.
    pub fn duplicate_commit(tp: &TopicPartition) -> Self {
        StoreError::Corrupt {
            key: tp.to_string(),
            reason: "commit_progress got more than one commit for this partition in one call"
                .to_string(),
        }
    }
}

/// One partition's progress update, written only if the stored progress still equals `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressCommit {
    /// Partition.
    pub tp: TopicPartition,
    /// Progress read before producing.
    pub expected: Progress,
    /// Progress after this batch.
    pub new: Progress,
    /// Segments started by this batch.
    pub segments: Vec<Segment>,
}

/// Reads and writes per-partition mirror progress.
pub trait ProgressStore: Send + Sync {
    /// Progress of each partition that has any (strongly consistent read).
    fn load_progress(
        &self,
        tps: &[TopicPartition],
    ) -> impl Future<Output = Result<HashMap<TopicPartition, Progress>, StoreError>> + Send;

    /// Creates a partition's progress and its first segment if the partition has none yet, and
    /// returns the progress now stored (somebody else's, if they were first).
    fn init_progress(
        &self,
        tp: &TopicPartition,
        initial: Progress,
    ) -> impl Future<Output = Result<Progress, StoreError>> + Send;

    /// Atomically applies all commits (progress conditioned on `expected`, plus new segments).
    fn commit_progress(
        &self,
        commits: &[ProgressCommit],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Reads translation segments.
pub trait SegmentStore: Send + Sync {
    /// All segments of a partition, sorted by source offset. Costs one read per page of
    /// segments: use it where the whole history is needed (validation's comparison, status);
    /// translation needs only [`SegmentStore::segments_around`].
    fn segments(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<Vec<Segment>, StoreError>> + Send;

    /// The segments that translating source offset `offset` needs
    /// ([`crate::translate::around`]): the last one starting at or before `offset` and the
    /// first one starting after it, when they exist, sorted. A constant cost whatever the
    /// number of segments (on DynamoDB: two single-item `Query`s).
    fn segments_around(
        &self,
        tp: &TopicPartition,
        offset: i64,
    ) -> impl Future<Output = Result<Vec<Segment>, StoreError>> + Send;

    /// The segments that translating each of `offsets` needs: the merged pairs of
    /// [`SegmentStore::segments_around`] ([`crate::translate::merge_around`]), one lookup per
    /// distinct offset.
    fn segments_for(
        &self,
        tp: &TopicPartition,
        offsets: &[i64],
    ) -> impl Future<Output = Result<Vec<Segment>, StoreError>> + Send {
        async move {
            let mut distinct = offsets.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            let mut pairs = Vec::with_capacity(distinct.len() * 2);
            for offset in distinct {
                pairs.extend(self.segments_around(tp, offset).await?);
            }
            Ok(crate::translate::merge_around(pairs))
        }
    }
}

/// Target-cluster failures.
#[derive(Debug, Error)]
pub enum TargetError {
    /// The target topic does not exist.
    #[error("target topic {topic:?} does not exist: create it with the source's partition count (see `ferry` preflight)")]
    TopicMissing {
        /// Target topic.
        topic: String,
    },
    /// The target topic has fewer partitions than the source partition needs.
    #[error("target topic {topic:?} has {partitions} partitions but source partition {partition} must be mirrored to the same partition number")]
    TooFewPartitions {
        /// Target topic.
        topic: String,
        /// Its partition count.
        partitions: i32,
        /// The source partition.
        partition: i32,
    },
    /// A record exceeds the target topic's `max.message.bytes`.
    #[error("record {tp}@{offset} is about {size} bytes, larger than target topic max.message.bytes = {max}")]
    RecordTooLarge {
        /// Source partition.
        tp: TopicPartition,
        /// Source offset.
        offset: i64,
        /// Estimated size.
        size: usize,
        /// Target limit.
        max: usize,
    },
    /// The target cluster did not answer.
    #[error("target cluster unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A newer writer (another invocation of the same partition) fenced this one: nothing this
    /// writer had in flight on the partition becomes visible. Retryable: the batch is
    /// redelivered and mirrored by whoever holds the partition.
    #[error("writer of target {tp} was fenced by a newer writer (an overlapping or later invocation): its transaction was aborted")]
    Fenced {
        /// Target partition.
        tp: TopicPartition,
    },
    /// A produce request failed.
    #[error("produce to target {tp} failed: {source}")]
    Produce {
        /// Target partition.
        tp: TopicPartition,
        /// Cause.
        #[source]
        source: BoxError,
    },
}

impl From<ClusterError> for TargetError {
    /// A failed read of the target ([`RangeReader`]) as a target failure.
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::TopicMissing { topic, .. } => TargetError::TopicMissing { topic },
            ClusterError::Unavailable { source, .. } => TargetError::Unavailable(source),
        }
    }
}

/// What Ferry needs to know about a target topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    /// Partition count.
    pub partitions: i32,
    /// The topic's effective `max.message.bytes`.
    pub max_message_bytes: usize,
}

/// Reads target topic metadata.
pub trait TargetMetadata: Send + Sync {
    /// Topic info, `None` if the topic does not exist.
    fn topic_info(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<TopicInfo>, TargetError>> + Send;

    /// Forgets any cached answer for `topic`, so the next [`TargetMetadata::topic_info`] asks
    /// the cluster (after a record was refused as too large: the operator may raise the limit).
    fn forget_topic_info(&self, _topic: &str) {}
}

/// Reads target partition end offsets.
pub trait TargetOffsets: Send + Sync {
    /// The partition's end offset (high watermark): the offset the next record will get.
    fn end_offset(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<i64, TargetError>> + Send;
}

/// Writes mirrored records to a target partition with **fencing**: one transactional writer
/// per target partition (a stable `transactional.id`), so a newer writer makes every older
/// one (an overlapping invocation, a zombie whose requests are still in flight) unable to
/// leave any record on the partition. See `ferry_core::progress` for the protocol.
///
/// One writer serves one invocation at a time per partition (a Lambda sandbox runs one
/// invocation at a time): its transaction on a partition is not shared between callers.
///
/// Adapters may also run without fencing (an idempotent producer; `fence`, `commit` and
/// `abort` do nothing), which is only exactly-once while one invocation at a time writes a
/// partition.
pub trait TargetWriter: Send + Sync {
    /// Makes this writer the current one for `tp` if it is not already: any older writer's
    /// open transaction is aborted (or completed) and its later requests are rejected. Cheap
    /// when this writer already holds `tp`. Must be called before reading what is on the
    /// partition.
    fn fence(&self, tp: &TopicPartition) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Begins a transaction on `tp`, produces `records` in order (same key, value, headers,
    /// timestamp) and waits for every delivery report, also when one fails. Returns the target
    /// offsets assigned, in order. The transaction stays open: [`TargetWriter::commit`] or
    /// [`TargetWriter::abort`] ends it. On error the adapter aborts it itself.
    fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> impl Future<Output = Result<Vec<i64>, TargetError>> + Send;

    /// Commits the open transaction on `tp`. [`TargetError::Fenced`] if a newer writer took
    /// the partition over in the meantime (nothing of the transaction is visible then).
    fn commit(&self, tp: &TopicPartition) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Aborts the open transaction on `tp` (nothing of it becomes visible to `read_committed`
    /// consumers).
    fn abort(&self, tp: &TopicPartition) -> impl Future<Output = Result<(), TargetError>> + Send;

    /// Whether records produced on `tp` end with a commit marker (fencing on).
    fn transactional(&self) -> bool;

    /// Gives up this writer's hold on `tp` without touching the partition, so that the next
    /// [`TargetWriter::fence`] fences anew. Called when the target shows that another writer
    /// wrote `tp` since this one did: that writer's fencing has made this one's hold stale, and
    /// using it would only fail (a Lambda batch of a partition may go to any warm sandbox, so
    /// the writer of a partition moves between sandboxes all the time). No-op by default.
    fn release(&self, _tp: &TopicPartition) {}
}

/// Produces records to the target.
pub trait TargetProducer: Send + Sync {
    /// Produces `records` in order to partition `tp` (same key, value, headers, timestamp) and
    /// waits for every delivery report, also when one fails, so nothing is left in flight when it
    /// returns. Returns the target offsets assigned, in order.
    fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> impl Future<Output = Result<Vec<i64>, TargetError>> + Send;
}

/// Stores consumer-group checkpoints (a group's committed source offset and its exact target
/// translation, per partition).
pub trait CheckpointStore: Send + Sync {
    /// Every stored checkpoint of `group`.
    fn load_checkpoints(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<HashMap<TopicPartition, Checkpoint>, StoreError>> + Send;

    /// Stores checkpoints of `group`. A checkpoint is written only if it moves the stored one
    /// forward ([`crate::checkpoint::next_checkpoint`]); otherwise that partition is left alone
    /// (not an error). Returns how many checkpoints were written.
    fn save_checkpoints(
        &self,
        group: &str,
        checkpoints: &[(TopicPartition, Checkpoint)],
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Consumer-group failures (source or target cluster).
#[derive(Debug, Error)]
pub enum GroupError {
    /// The cluster did not answer or a request failed; retrying later may succeed.
    #[error("consumer groups on {cluster} unavailable: {source}")]
    Unavailable {
        /// `source` or `target`.
        cluster: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// A commit was refused because the group has active members on the target (it changed
    /// between the state check and the commit).
    #[error("group {group:?} is active on the target: offsets not committed")]
    Active {
        /// Group.
        group: String,
    },
    /// The group or one of its offsets was rejected by the broker.
    #[error("group {group:?}: {reason}")]
    Rejected {
        /// Group.
        group: String,
        /// Why.
        reason: String,
    },
}

/// A consumer group's state on a cluster, as far as offset commits are concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupState {
    /// The group exists but has no members: offsets may be committed.
    Empty,
    /// The cluster does not know the group: offsets may be committed (this creates it).
    NotFound,
    /// The group has members (or is rebalancing): never commit on its behalf.
    Active {
        /// Number of members.
        members: usize,
        /// The broker's state string (`Stable`, `PreparingRebalance`, ...).
        state: String,
    },
}

impl GroupState {
    /// Whether offsets may be committed for the group.
    pub fn accepts_commits(&self) -> bool {
        matches!(self, Self::Empty | Self::NotFound)
    }
}

/// Reads consumer groups and their committed offsets on the source cluster.
pub trait SourceGroups: Send + Sync {
    /// Names of all consumer groups.
    fn list_groups(&self) -> impl Future<Output = Result<Vec<String>, GroupError>> + Send;

    /// Offsets `group` committed for the partitions of `topics` (partitions without a committed
    /// offset are left out). Never joins the group.
    fn committed_offsets(
        &self,
        group: &str,
        topics: &[String],
    ) -> impl Future<Output = Result<HashMap<TopicPartition, i64>, GroupError>> + Send;
}

/// Reads group state and commits offsets on the target cluster.
pub trait TargetGroups: Send + Sync {
    /// Offsets `group` has committed on the target for the partitions of `topics` (partitions
    /// without a committed offset are left out).
    fn committed(
        &self,
        group: &str,
        topics: &[String],
    ) -> impl Future<Output = Result<HashMap<TopicPartition, i64>, GroupError>> + Send;

    /// The group's state on the target.
    fn group_state(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<GroupState, GroupError>> + Send;

    /// Commits `offsets` (target partitions, next offset to read) for `group`. Callers commit
    /// only while [`TargetGroups::group_state`] accepts commits.
    fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> impl Future<Output = Result<(), GroupError>> + Send;
}

/// A stored document and the version it was read at (optimistic concurrency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The document.
    pub value: T,
    /// Version; `save` with this version succeeds only if nobody saved in between.
    pub version: u64,
}

/// Stores a migration's state document (`MIGRATION#<id>` / `STATE`) and its named reports
/// (`MIGRATION#<id>` / `REPORT#<name>`, e.g. `validation`, `preflight`, `final`). Documents are
/// JSON text so the store stays agnostic of their schema ([`crate::migration`] owns it).
pub trait MigrationStore: Send + Sync {
    /// The migration's state document, `None` if the migration does not exist.
    fn load_migration(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<String>>, StoreError>> + Send;

    /// Saves the state document if the stored version is still `expected` (`None`: the migration
    /// must not exist yet). Returns the new version; [`StoreError::VersionConflict`] otherwise.
    fn save_migration(
        &self,
        id: &str,
        document: &str,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Stores (replaces) a named report of the migration.
    fn put_report(
        &self,
        id: &str,
        name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A named report, `None` if it was never stored.
    fn get_report(
        &self,
        id: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

// ---------------------------------------------------------------- cutover

/// Reads the source's end offsets (drain detection during producer cutover).
pub trait SourceEndOffsets: Send + Sync {
    /// End offset (high watermark) of every partition of `topics` on the source.
    fn end_offsets(
        &self,
        topics: &[String],
    ) -> impl Future<Output = Result<HashMap<TopicPartition, i64>, GroupError>> + Send;
}

/// One event source mapping of a function (AWS Lambda's, or the local emulator's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingInfo {
    /// Mapping UUID.
    pub uuid: String,
    /// Topics it reads.
    pub topics: Vec<String>,
    /// `Enabled`, `Disabled`, `Enabling`, `Disabling`, `Creating`, ...
    pub state: String,
}

/// Mapping control failures.
#[derive(Debug, Error)]
pub enum MappingError {
    /// The Lambda API did not answer or refused.
    #[error("event source mappings of {function:?}: {source}")]
    Api {
        /// Function.
        function: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
}

/// Lists and enables/disables the event source mappings that feed a function.
pub trait MappingControl: Send + Sync {
    /// The function's mappings.
    fn list_mappings(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Vec<MappingInfo>, MappingError>> + Send;

    /// Enables or disables one mapping; returns its new state.
    fn set_enabled(
        &self,
        function: &str,
        uuid: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<MappingInfo, MappingError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Validation: reading partitions of either cluster, creating the heartbeat topic.
// ---------------------------------------------------------------------------------------------

/// Reading a cluster's partitions failed (also the error of [`RangeReader`]).
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The topic does not exist on this cluster.
    #[error("topic {topic:?} does not exist on the {cluster} cluster")]
    TopicMissing {
        /// `source` or `target`.
        cluster: &'static str,
        /// Topic.
        topic: String,
    },
    /// The cluster did not answer or a request failed; retrying later may succeed.
    #[error("{cluster} cluster unavailable: {source}")]
    Unavailable {
        /// `source` or `target`.
        cluster: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
    },
}

/// Reads a source partition's log bounds, for the mirror's data-loss checks.
pub trait SourceLogBounds: Send + Sync {
    /// `(log start offset, end offset)` of `tp` on the source; `None` when this deployment has
    /// no source connection (checks off).
    fn log_bounds(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<Option<(i64, i64)>, ClusterError>> + Send;
}

/// No source connection: [`SourceLogBounds`] always answers `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSourceChecks;

impl<T: SourceLogBounds> SourceLogBounds for Option<T> {
    async fn log_bounds(&self, tp: &TopicPartition) -> Result<Option<(i64, i64)>, ClusterError> {
        match self {
            Some(source) => source.log_bounds(tp).await,
            None => Ok(None),
        }
    }
}

impl SourceLogBounds for NoSourceChecks {
    async fn log_bounds(&self, _tp: &TopicPartition) -> Result<Option<(i64, i64)>, ClusterError> {
        Ok(None)
    }
}

/// Which records of transactions a range read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadIsolation {
    /// What a `read_committed` consumer sees: no markers, no aborted records, nothing of open
    /// transactions (they are gaps).
    Committed,
    /// What a `read_uncommitted` consumer sees: exactly what occupies the offsets, records of
    /// open and aborted transactions included (control markers are never returned).
    Uncommitted,
}

/// Reads a range of one partition's records, on either cluster (the one range-reading
/// capability: the mirror reads the target back for reconciliation and foreign-writer checks,
/// validation and heartbeats read both clusters). Every returned record carries its offset in
/// [`MirrorRecord::offset`].
pub trait RangeReader: Send + Sync {
    /// The data records with offsets in `[from, to)`, ascending, as `isolation` sees them (gaps
    /// allowed); stops at the partition's current end (fewer records if it ends earlier).
    /// Callers reading [`ReadIsolation::Committed`] right after a write make sure no
    /// transaction of theirs is open on `tp`.
    fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        isolation: ReadIsolation,
    ) -> impl Future<Output = Result<Vec<MirrorRecord>, ClusterError>> + Send;
}

/// Reads partitions of one cluster (source or target) for validation and heartbeats (ranges
/// through its supertrait [`RangeReader`]). Counts see what a `read_committed` consumer sees
/// (aborted records and transaction markers are gaps).
pub trait ClusterReader: RangeReader {
    /// Partition count of `topic`, `None` if it does not exist.
    fn partitions(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<i32>, ClusterError>> + Send;

    /// Low and high watermark (`high`: the offset the next record will get).
    fn watermarks(
        &self,
        tp: &TopicPartition,
    ) -> impl Future<Output = Result<(i64, i64), ClusterError>> + Send;

    /// How many readable records have offsets in `[from, to)` (without holding them).
    fn count_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<u64, ClusterError>> + Send;
}

/// Creates topics (the heartbeat topic) on a cluster.
pub trait TopicCreator: Send + Sync {
    /// Creates `topic` with `partitions` partitions unless it exists (existing is fine).
    fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Topic administration: describing source topics, provisioning target topics, target storage
// (preflight and topic sync; see [`crate::topics`]).
// ---------------------------------------------------------------------------------------------

/// Topic administration failed.
#[derive(Debug, Error)]
pub enum TopicAdminError {
    /// The cluster did not answer or a request failed; retrying later may succeed.
    #[error("{cluster} cluster unavailable: {source}")]
    Unavailable {
        /// `source` or `target`.
        cluster: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The cluster refused a change (invalid config, policy violation, ...).
    #[error("{cluster} cluster refused {what} for topic {topic:?}: {reason}")]
    Rejected {
        /// `source` or `target`.
        cluster: &'static str,
        /// Topic.
        topic: String,
        /// The operation (`create topic`, `create partitions`, `alter configs`).
        what: String,
        /// Why.
        reason: String,
    },
}

/// Lists the topics of the source cluster (the one list-topics capability: checkpoint, validate,
/// cutover and preflight all use it).
pub trait SourceTopics: Send + Sync {
    /// Names of all topics (internal ones included; callers filter), sorted.
    fn list_topics(&self) -> impl Future<Output = Result<Vec<String>, TopicAdminError>> + Send;
}

/// Describes source topics for planning and preflight (their names come from [`SourceTopics`]).
pub trait SourceTopicDescriber: SourceTopics {
    /// Descriptions (partitions, replication factor, configs with their source) of `names`;
    /// topics that do not exist are left out.
    fn describe_topics(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<crate::topics::TopicDescription>, TopicAdminError>> + Send;

    /// What the topic's data looks like: record count, estimated size, oldest sampled
    /// timestamp (estimates; see [`crate::topics::SourceTopicStats`]).
    fn topic_stats(
        &self,
        topic: &crate::topics::TopicDescription,
    ) -> impl Future<Output = Result<crate::topics::SourceTopicStats, TopicAdminError>> + Send;
}

/// Describes and provisions target topics.
pub trait TargetTopicAdmin: Send + Sync {
    /// Number of brokers of the target cluster.
    fn broker_count(&self) -> impl Future<Output = Result<i32, TopicAdminError>> + Send;

    /// Descriptions of `names`; topics that do not exist are left out.
    fn describe_topics(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<crate::topics::TopicDescription>, TopicAdminError>> + Send;

    /// Creates `topic` with the configs set on it, and returns once every partition has a
    /// leader. An existing topic with the same partition count is not an error.
    fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &std::collections::BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), TopicAdminError>> + Send;

    /// Raises the partition count of `topic` to `total` (never lowers it).
    fn create_partitions(
        &self,
        topic: &str,
        total: i32,
    ) -> impl Future<Output = Result<(), TopicAdminError>> + Send;

    /// Sets `configs` on `topic`, leaving its other explicitly set configs as they are.
    fn set_configs(
        &self,
        topic: &str,
        configs: &std::collections::BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), TopicAdminError>> + Send;
}

/// Target cluster storage (capacity and use), when the platform can tell (MSK: broker EBS
/// volume size × brokers).
pub trait TargetStorage: Send + Sync {
    /// Capacity and use; `None` if unknown.
    fn storage(
        &self,
    ) -> impl Future<Output = Result<Option<crate::topics::StorageInfo>, TopicAdminError>> + Send;
}

/// Reads a secret's string value by ARN (one capability): AWS Secrets Manager in production
/// (`ferry_aws::secrets::SecretsManagerSource`), parsed by `ferry_kafka::secrets`.
pub trait SecretSource: Send + Sync {
    /// The secret's `SecretString`.
    fn secret_string(&self, arn: &str) -> impl Future<Output = Result<String, BoxError>> + Send;
}
