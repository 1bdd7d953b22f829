//! The state store: per-partition progress and translation segments, checkpoints, the migration document.

use super::BoxError;
use crate::checkpoint::Checkpoint;
use crate::progress::Progress;
use crate::progress::Segment;
use crate::topics::TopicPartition;
use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;

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

/// Mutual exclusion of runs that must not overlap (the scheduled checkpoint function: an older,
/// slow run finishing after a newer one could otherwise commit older offsets to a target
/// group). A lease is held by one owner until a wall-clock time; an expired lease may be taken
/// by anyone, so a run that died never blocks the next one for longer than its own deadline.
pub trait RunLease: Send + Sync {
    /// Takes lease `name` for `owner` until `until_ms` (Unix ms) if nobody holds it, its holder's
    /// time ended before `now_ms`, or `owner` already holds it. `Ok(false)` when another owner
    /// holds it.
    fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives lease `name` back if `owner` still holds it; does nothing otherwise.
    fn release_lease(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
