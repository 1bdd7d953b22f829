//! In-memory state store: a fake of the DynamoDB adapter for unit tests of handlers.
//!
//! [`InMemoryStateStore`] implements [`ProgressStore`] and [`SegmentStore`] with the semantics
//! the DynamoDB adapter (`ferry_aws::dynamo::DynamoStateStore`) has, so a handler tested against
//! it behaves the same on AWS:
//!
//! * [`ProgressStore::load_progress`] returns only partitions that have progress.
//! * [`ProgressStore::init_progress`] stores the initial progress *and* its first segment
//!   ([`Progress::segment_here`]) only if the partition has no progress yet, and returns the
//!   progress now stored.
//! * [`ProgressStore::commit_progress`] is all-or-nothing across every commit of the call: if any
//!   partition's stored progress is missing or differs from its `expected`, nothing is written
//!   and the call fails with [`StoreError::Conflict`] naming the first such partition (in call
//!   order). Segments are upserted by `source_start`. Two commits for the same partition in one
//!   call are rejected with [`StoreError::Corrupt`] (DynamoDB refuses two operations on one item
//!   in a transaction) and nothing is written.
//! * [`SegmentStore::segments`] returns a partition's segments sorted by `source_start`.
//!
//! The DynamoDB adapter is atomic across the whole call only while the call fits in one
//! transaction (100 items); this fake is always atomic.
//!
//! ## Fault hooks
//! Tests can make the next `n` calls of an operation fail with [`StoreError::Unavailable`]
//! ([`InMemoryStateStore::fail_next`], [`InMemoryStateStore::fail_next_commits`]), make the next
//! commits *apply and then* report `Unavailable` (a response lost after DynamoDB committed:
//! [`InMemoryStateStore::lose_next_commit_responses`]), change stored progress behind a handler's
//! back ([`InMemoryStateStore::set_progress`]), and count calls per operation
//! ([`InMemoryStateStore::calls`]). Injected failures carry an [`InjectedFault`] cause.

use crate::checkpoint::{next_checkpoint, Checkpoint};
use crate::ports::{
    CheckpointStore, ClusterError, ClusterReader, GroupError, GroupState, MigrationStore,
    ProgressCommit, ProgressStore, SegmentStore, SourceGroups, SourceTopics, StoreError,
    TargetError, TargetGroups, TargetProducer, TopicCreator, Versioned,
};
use crate::ports::{MappingControl, MappingError, MappingInfo, SourceEndOffsets};
use crate::ports::{SourceTopicDescriber, TargetStorage, TargetTopicAdmin, TopicAdminError};
use crate::progress::{Progress, Segment};
use crate::record::MirrorRecord;
use crate::topic::TopicPartition;
use crate::topics::{ConfigValue, SourceTopicStats, StorageInfo, TopicDescription};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use thiserror::Error;

/// A store operation, for fault injection and call counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StoreOp {
    /// [`ProgressStore::load_progress`].
    LoadProgress,
    /// [`ProgressStore::init_progress`].
    InitProgress,
    /// [`ProgressStore::commit_progress`].
    CommitProgress,
    /// [`SegmentStore::segments`].
    Segments,
}

impl StoreOp {
    const ALL: [StoreOp; 4] = [
        StoreOp::LoadProgress,
        StoreOp::InitProgress,
        StoreOp::CommitProgress,
        StoreOp::Segments,
    ];

    fn index(self) -> usize {
        match self {
            StoreOp::LoadProgress => 0,
            StoreOp::InitProgress => 1,
            StoreOp::CommitProgress => 2,
            StoreOp::Segments => 3,
        }
    }
}

impl fmt::Display for StoreOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            StoreOp::LoadProgress => "load_progress",
            StoreOp::InitProgress => "init_progress",
            StoreOp::CommitProgress => "commit_progress",
            StoreOp::Segments => "segments",
        };
        f.write_str(name)
    }
}

/// The cause of a failure injected by a fault hook.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InjectedFault {
    /// The call failed before touching the state.
    #[error("injected failure of {0} (nothing was written)")]
    Failed(StoreOp),
    /// The commit was applied, then its response was "lost".
    #[error("injected lost response of commit_progress (the commit was applied)")]
    ResponseLost,
}

/// Everything the store holds, for assertions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Progress per partition.
    pub progress: HashMap<TopicPartition, Progress>,
    /// Segments per partition, sorted by `source_start`.
    pub segments: HashMap<TopicPartition, Vec<Segment>>,
}

#[derive(Debug, Default)]
struct State {
    progress: HashMap<TopicPartition, Progress>,
    segments: HashMap<TopicPartition, BTreeMap<i64, Segment>>,
    checkpoints: HashMap<String, HashMap<TopicPartition, Checkpoint>>,
    /// Migration state documents and their versions.
    migrations: HashMap<String, (String, u64)>,
    /// Migration reports by (migration, name).
    reports: HashMap<(String, String), String>,
    /// Remaining injected failures per [`StoreOp::index`].
    fail_next: [u64; 4],
    /// Remaining commits to apply and then report as failed.
    lose_next_commit_responses: u64,
    /// Calls per [`StoreOp::index`] (including failed ones).
    calls: [u64; 4],
}

impl State {
    /// Counts a call and consumes one injected failure if any is armed.
    fn enter(&mut self, op: StoreOp) -> Result<(), StoreError> {
        let i = op.index();
        self.calls[i] += 1;
        if self.fail_next[i] > 0 {
            self.fail_next[i] -= 1;
            return Err(StoreError::Unavailable(Box::new(InjectedFault::Failed(op))));
        }
        Ok(())
    }
}

/// In-memory [`ProgressStore`] + [`SegmentStore`] with fault hooks (see the module docs).
///
/// Clones share the same state: keep one for assertions and fault hooks while a handler owns
/// another.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStateStore {
    state: Arc<Mutex<State>>,
}

impl InMemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread cannot leave the state half-updated: every mutation below is
        // computed first and applied without panicking, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the next `n` calls of `op` fail with [`StoreError::Unavailable`] without touching
    /// the state (adds to any failures still armed).
    pub fn fail_next(&self, op: StoreOp, n: u64) {
        self.lock().fail_next[op.index()] += n;
    }

    /// Makes the next `n` [`ProgressStore::commit_progress`] calls fail with
    /// [`StoreError::Unavailable`] without writing anything.
    pub fn fail_next_commits(&self, n: u64) {
        self.fail_next(StoreOp::CommitProgress, n);
    }

    /// Makes the next `n` [`ProgressStore::commit_progress`] calls that would succeed *apply*
    /// and then return [`StoreError::Unavailable`], like a DynamoDB transaction whose response
    /// timed out after it committed. Injected plain failures ([`Self::fail_next_commits`]) and
    /// conflicts take precedence and do not consume these.
    pub fn lose_next_commit_responses(&self, n: u64) {
        self.lock().lose_next_commit_responses += n;
    }

    /// Disarms every injected fault.
    pub fn clear_faults(&self) {
        let mut s = self.lock();
        s.fail_next = [0; 4];
        s.lose_next_commit_responses = 0;
    }

    /// Number of calls of `op` so far, including failed ones.
    pub fn calls(&self, op: StoreOp) -> u64 {
        self.lock().calls[op.index()]
    }

    /// Calls per operation so far.
    pub fn call_counts(&self) -> HashMap<StoreOp, u64> {
        let s = self.lock();
        StoreOp::ALL
            .iter()
            .map(|&op| (op, s.calls[op.index()]))
            .collect()
    }

    /// Sets (or with `None` removes) a partition's progress directly, e.g. to simulate another
    /// writer or an operator. Segments are left alone.
    pub fn set_progress(&self, tp: &TopicPartition, progress: Option<Progress>) {
        let mut s = self.lock();
        match progress {
            Some(p) => {
                s.progress.insert(tp.clone(), p);
            }
            None => {
                s.progress.remove(tp);
            }
        }
    }

    /// Upserts segments of a partition directly (no progress check).
    pub fn put_segments(&self, tp: &TopicPartition, segments: &[Segment]) {
        let mut s = self.lock();
        let stored = s.segments.entry(tp.clone()).or_default();
        for seg in segments {
            stored.insert(seg.source_start, *seg);
        }
    }

    /// A partition's stored progress.
    pub fn progress(&self, tp: &TopicPartition) -> Option<Progress> {
        self.lock().progress.get(tp).copied()
    }

    /// A partition's stored segments, sorted by `source_start`.
    pub fn segments_of(&self, tp: &TopicPartition) -> Vec<Segment> {
        self.lock()
            .segments
            .get(tp)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    /// The stored checkpoints of `group`.
    pub fn checkpoints_of(&self, group: &str) -> HashMap<TopicPartition, Checkpoint> {
        self.lock()
            .checkpoints
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// A copy of everything stored.
    pub fn snapshot(&self) -> Snapshot {
        let s = self.lock();
        Snapshot {
            progress: s.progress.clone(),
            segments: s
                .segments
                .iter()
                .map(|(tp, m)| (tp.clone(), m.values().copied().collect()))
                .collect(),
        }
    }

    fn load_progress_now(
        &self,
        tps: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Progress>, StoreError> {
        let mut s = self.lock();
        s.enter(StoreOp::LoadProgress)?;
        Ok(tps
            .iter()
            .filter_map(|tp| s.progress.get(tp).map(|p| (tp.clone(), *p)))
            .collect())
    }

    fn init_progress_now(
        &self,
        tp: &TopicPartition,
        initial: Progress,
    ) -> Result<Progress, StoreError> {
        let mut s = self.lock();
        s.enter(StoreOp::InitProgress)?;
        if let Some(existing) = s.progress.get(tp) {
            return Ok(*existing);
        }
        s.progress.insert(tp.clone(), initial);
        let seg = initial.segment_here();
        s.segments
            .entry(tp.clone())
            .or_default()
            .insert(seg.source_start, seg);
        Ok(initial)
    }

    fn commit_progress_now(&self, commits: &[ProgressCommit]) -> Result<(), StoreError> {
        let mut s = self.lock();
        s.enter(StoreOp::CommitProgress)?;
        // Validate everything first: nothing is written unless every condition holds.
        let mut seen = HashSet::with_capacity(commits.len());
        for c in commits {
            if !seen.insert(&c.tp) {
                return Err(duplicate_commit(&c.tp));
            }
        }
        if let Some(c) = commits
            .iter()
            .find(|c| s.progress.get(&c.tp) != Some(&c.expected))
        {
            return Err(StoreError::Conflict { tp: c.tp.clone() });
        }
        for c in commits {
            s.progress.insert(c.tp.clone(), c.new);
            let stored = s.segments.entry(c.tp.clone()).or_default();
            for seg in &c.segments {
                stored.insert(seg.source_start, *seg);
            }
        }
        if s.lose_next_commit_responses > 0 && !commits.is_empty() {
            s.lose_next_commit_responses -= 1;
            return Err(StoreError::Unavailable(Box::new(
                InjectedFault::ResponseLost,
            )));
        }
        Ok(())
    }

    fn segments_now(&self, tp: &TopicPartition) -> Result<Vec<Segment>, StoreError> {
        let mut s = self.lock();
        s.enter(StoreOp::Segments)?;
        Ok(s.segments
            .get(tp)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default())
    }
}

/// The error both state stores return for two commits of one partition in one call.
pub fn duplicate_commit(tp: &TopicPartition) -> StoreError {
    StoreError::Corrupt {
        key: tp.to_string(),
        reason: "commit_progress got more than one commit for this partition in one call"
            .to_string(),
    }
}

impl ProgressStore for InMemoryStateStore {
    async fn load_progress(
        &self,
        tps: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Progress>, StoreError> {
        self.load_progress_now(tps)
    }

    async fn init_progress(
        &self,
        tp: &TopicPartition,
        initial: Progress,
    ) -> Result<Progress, StoreError> {
        self.init_progress_now(tp, initial)
    }

    async fn commit_progress(&self, commits: &[ProgressCommit]) -> Result<(), StoreError> {
        self.commit_progress_now(commits)
    }
}

impl SegmentStore for InMemoryStateStore {
    async fn segments(&self, tp: &TopicPartition) -> Result<Vec<Segment>, StoreError> {
        self.segments_now(tp)
    }
}

/// Checkpoints follow the DynamoDB adapter: a save writes a partition only when
/// [`next_checkpoint`] moves it forward (the conditional put `source_offset < :new`).
impl MigrationStore for InMemoryStateStore {
    async fn load_migration(&self, id: &str) -> Result<Option<Versioned<String>>, StoreError> {
        Ok(self
            .lock()
            .migrations
            .get(id)
            .map(|(value, version)| Versioned {
                value: value.clone(),
                version: *version,
            }))
    }

    async fn save_migration(
        &self,
        id: &str,
        document: &str,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let current = state.migrations.get(id).map(|(_, v)| *v);
        if current != expected {
            return Err(StoreError::VersionConflict {
                key: format!("MIGRATION#{id}"),
            });
        }
        let version = current.unwrap_or(0) + 1;
        state
            .migrations
            .insert(id.to_string(), (document.to_string(), version));
        Ok(version)
    }

    async fn put_report(&self, id: &str, name: &str, document: &str) -> Result<(), StoreError> {
        self.lock()
            .reports
            .insert((id.to_string(), name.to_string()), document.to_string());
        Ok(())
    }

    async fn get_report(&self, id: &str, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .reports
            .get(&(id.to_string(), name.to_string()))
            .cloned())
    }
}

impl CheckpointStore for InMemoryStateStore {
    async fn load_checkpoints(
        &self,
        group: &str,
    ) -> Result<HashMap<TopicPartition, Checkpoint>, StoreError> {
        Ok(self.checkpoints_of(group))
    }

    async fn save_checkpoints(
        &self,
        group: &str,
        checkpoints: &[(TopicPartition, Checkpoint)],
    ) -> Result<usize, StoreError> {
        let mut s = self.lock();
        let stored = s.checkpoints.entry(group.to_string()).or_default();
        let mut written = 0;
        for (tp, cp) in checkpoints {
            if let Some(next) = next_checkpoint(stored.get(tp).copied(), *cp) {
                stored.insert(tp.clone(), next);
                written += 1;
            }
        }
        Ok(written)
    }
}

/// In-memory source and target consumer groups: a fake of the rdkafka group adapters.
///
/// Source groups hold committed offsets; target groups hold a [`GroupState`] and the offsets
/// committed to them. [`TargetGroups::commit_offsets`] on a group that does not accept commits
/// fails with [`GroupError::Active`], like the broker refusing a commit from a non-member.
#[derive(Debug, Clone, Default)]
pub struct InMemoryGroups {
    inner: Arc<Mutex<GroupsState>>,
}

#[derive(Debug, Default)]
struct GroupsState {
    source: BTreeMap<String, HashMap<TopicPartition, i64>>,
    target_state: HashMap<String, GroupState>,
    target_offsets: HashMap<String, HashMap<TopicPartition, i64>>,
    topics: Vec<String>,
    ends: HashMap<TopicPartition, i64>,
    unavailable: bool,
}

impl InMemoryGroups {
    /// No groups.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, GroupsState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a source group's committed offset for a partition.
    pub fn commit_source(&self, group: &str, tp: &TopicPartition, offset: i64) {
        self.lock()
            .source
            .entry(group.to_string())
            .or_default()
            .insert(tp.clone(), offset);
    }

    /// Adds a topic to [`SourceTopics::list_topics`].
    pub fn add_topic(&self, topic: &str) {
        self.lock().topics.push(topic.to_string());
    }

    /// Sets a target group's state.
    pub fn set_target_state(&self, group: &str, state: GroupState) {
        self.lock().target_state.insert(group.to_string(), state);
    }

    /// Offsets committed to a target group.
    pub fn target_offsets(&self, group: &str) -> HashMap<TopicPartition, i64> {
        self.lock()
            .target_offsets
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// Makes every call fail with [`GroupError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn check(&self, cluster: &'static str) -> Result<MutexGuard<'_, GroupsState>, GroupError> {
        let s = self.lock();
        if s.unavailable {
            return Err(GroupError::Unavailable {
                cluster,
                source: "injected: groups unavailable".into(),
            });
        }
        Ok(s)
    }
}

impl SourceGroups for InMemoryGroups {
    async fn list_groups(&self) -> Result<Vec<String>, GroupError> {
        Ok(self.check("source")?.source.keys().cloned().collect())
    }

    async fn committed_offsets(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<HashMap<TopicPartition, i64>, GroupError> {
        Ok(self
            .check("source")?
            .source
            .get(group)
            .map(|m| {
                m.iter()
                    .filter(|(tp, _)| topics.contains(&tp.topic))
                    .map(|(tp, o)| (tp.clone(), *o))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Topics: every topic some source group committed to, plus [`InMemoryGroups::add_topic`].
impl SourceTopics for InMemoryGroups {
    async fn list_topics(&self) -> Result<Vec<String>, GroupError> {
        let s = self.check("source")?;
        let mut topics: Vec<String> = s
            .source
            .values()
            .flat_map(|m| m.keys().map(|tp| tp.topic.clone()))
            .chain(s.topics.iter().cloned())
            .collect();
        topics.sort();
        topics.dedup();
        Ok(topics)
    }
}

impl InMemoryGroups {
    /// Sets a partition's end offset ([`SourceEndOffsets`]).
    pub fn set_end_offset(&self, tp: &TopicPartition, end: i64) {
        self.lock().ends.insert(tp.clone(), end);
    }
}

impl SourceEndOffsets for InMemoryGroups {
    async fn end_offsets(
        &self,
        topics: &[String],
    ) -> Result<HashMap<TopicPartition, i64>, GroupError> {
        Ok(self
            .check("source")?
            .ends
            .iter()
            .filter(|(tp, _)| topics.contains(&tp.topic))
            .map(|(tp, o)| (tp.clone(), *o))
            .collect())
    }
}

/// In-memory [`MappingControl`]: mappings of functions with their states.
#[derive(Debug, Default, Clone)]
pub struct InMemoryMappings {
    mappings: Arc<Mutex<Vec<(String, MappingInfo)>>>,
}

impl InMemoryMappings {
    /// Adds an enabled mapping of `function` for `topic`; returns its UUID.
    pub fn add(&self, function: &str, topic: &str) -> String {
        let mut m = self.mappings.lock().unwrap_or_else(PoisonError::into_inner);
        let uuid = format!("uuid-{}", m.len());
        m.push((
            function.to_string(),
            MappingInfo {
                uuid: uuid.clone(),
                topics: vec![topic.to_string()],
                state: "Enabled".into(),
            },
        ));
        uuid
    }

    /// States of every mapping of `function`.
    pub fn states(&self, function: &str) -> Vec<String> {
        self.mappings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, m)| m.state.clone())
            .collect()
    }
}

impl MappingControl for InMemoryMappings {
    async fn list_mappings(&self, function: &str) -> Result<Vec<MappingInfo>, MappingError> {
        Ok(self
            .mappings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn set_enabled(
        &self,
        function: &str,
        uuid: &str,
        enabled: bool,
    ) -> Result<MappingInfo, MappingError> {
        let mut all = self.mappings.lock().unwrap_or_else(PoisonError::into_inner);
        let m = all
            .iter_mut()
            .find(|(f, m)| f == function && m.uuid == uuid)
            .ok_or_else(|| MappingError::Api {
                function: function.to_string(),
                source: format!("no mapping {uuid}").into(),
            })?;
        m.1.state = if enabled { "Enabled" } else { "Disabled" }.into();
        Ok(m.1.clone())
    }
}

impl TargetGroups for InMemoryGroups {
    async fn committed(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<HashMap<TopicPartition, i64>, GroupError> {
        Ok(self
            .check("target")?
            .target_offsets
            .get(group)
            .map(|m| {
                m.iter()
                    .filter(|(tp, _)| topics.contains(&tp.topic))
                    .map(|(tp, o)| (tp.clone(), *o))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn group_state(&self, group: &str) -> Result<GroupState, GroupError> {
        let s = self.check("target")?;
        Ok(match s.target_state.get(group) {
            Some(state) => state.clone(),
            None if s.target_offsets.contains_key(group) => GroupState::Empty,
            None => GroupState::NotFound,
        })
    }

    async fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<(), GroupError> {
        let mut s = self.check("target")?;
        if s.target_state
            .get(group)
            .is_some_and(|st| !st.accepts_commits())
        {
            return Err(GroupError::Active {
                group: group.to_string(),
            });
        }
        let stored = s.target_offsets.entry(group.to_string()).or_default();
        for (tp, o) in offsets {
            stored.insert(tp.clone(), *o);
        }
        Ok(())
    }
}

/// An in-memory Kafka cluster for validation and heartbeat tests: topics of partitions holding
/// records at explicit offsets (gaps allowed, like compaction or transaction markers), with a
/// low and high watermark each. Implements [`ClusterReader`], [`TopicCreator`] and
/// [`TargetProducer`] (appends at the high watermark). Clones share the same state.
#[derive(Debug, Clone)]
pub struct InMemoryCluster {
    name: &'static str,
    inner: Arc<Mutex<ClusterState>>,
}

#[derive(Debug, Default)]
struct ClusterState {
    topics: BTreeMap<String, Vec<PartitionLog>>,
    unavailable: bool,
}

#[derive(Debug, Default, Clone)]
struct PartitionLog {
    low: i64,
    high: i64,
    records: Vec<MirrorRecord>,
}

impl InMemoryCluster {
    /// An empty cluster named `name` (`source` or `target`, used in errors).
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log_mut<'a>(
        state: &'a mut ClusterState,
        name: &'static str,
        tp: &TopicPartition,
    ) -> Result<&'a mut PartitionLog, ClusterError> {
        state
            .topics
            .get_mut(&tp.topic)
            .and_then(|ps| ps.get_mut(usize::try_from(tp.partition).ok()?))
            .ok_or_else(|| ClusterError::TopicMissing {
                cluster: name,
                topic: tp.topic.clone(),
            })
    }

    /// Creates `topic` with `partitions` empty partitions (no-op if it exists).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        self.lock()
            .topics
            .entry(topic.to_string())
            .or_insert_with(|| vec![PartitionLog::default(); partitions.max(0) as usize]);
    }

    /// Appends `record` at the partition's high watermark; returns its offset.
    /// Panics if the topic does not exist.
    pub fn append(&self, tp: &TopicPartition, mut record: MirrorRecord) -> i64 {
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).expect("topic exists");
        record.offset = log.high;
        log.high += 1;
        log.records.push(record);
        log.high - 1
    }

    /// Advances the high watermark by `n` offsets that hold no readable record (transaction
    /// markers, aborted records, compacted-away records).
    pub fn skip(&self, tp: &TopicPartition, n: i64) {
        let mut s = self.lock();
        Self::log_mut(&mut s, self.name, tp)
            .expect("topic exists")
            .high += n;
    }

    /// Deletes the records below `low` (retention).
    pub fn set_low(&self, tp: &TopicPartition, low: i64) {
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).expect("topic exists");
        log.low = low;
        log.records.retain(|r| r.offset >= low);
    }

    /// Replaces the record at `offset` (a corrupted target, a compacted source); `None` removes
    /// it (leaving a gap).
    pub fn replace(&self, tp: &TopicPartition, offset: i64, record: Option<MirrorRecord>) {
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).expect("topic exists");
        let i = log.records.partition_point(|r| r.offset < offset);
        let present = log.records.get(i).is_some_and(|r| r.offset == offset);
        match (record, present) {
            (Some(mut r), true) => {
                r.offset = offset;
                log.records[i] = r;
            }
            (Some(mut r), false) => {
                r.offset = offset;
                log.records.insert(i, r);
            }
            (None, true) => {
                log.records.remove(i);
            }
            (None, false) => {}
        }
    }

    /// Every readable record of a partition.
    pub fn records(&self, tp: &TopicPartition) -> Vec<MirrorRecord> {
        let mut s = self.lock();
        Self::log_mut(&mut s, self.name, tp)
            .map(|l| l.records.clone())
            .unwrap_or_default()
    }

    /// Makes every read fail with [`ClusterError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn check(&self) -> Result<MutexGuard<'_, ClusterState>, ClusterError> {
        let s = self.lock();
        if s.unavailable {
            return Err(ClusterError::Unavailable {
                cluster: self.name,
                source: "injected: cluster unavailable".into(),
            });
        }
        Ok(s)
    }
}

impl ClusterReader for InMemoryCluster {
    async fn partitions(&self, topic: &str) -> Result<Option<i32>, ClusterError> {
        Ok(self.check()?.topics.get(topic).map(|p| p.len() as i32))
    }

    async fn watermarks(&self, tp: &TopicPartition) -> Result<(i64, i64), ClusterError> {
        let mut s = self.check()?;
        let log = Self::log_mut(&mut s, self.name, tp)?;
        Ok((log.low, log.high))
    }

    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        let mut s = self.check()?;
        let log = Self::log_mut(&mut s, self.name, tp)?;
        Ok(log
            .records
            .iter()
            .filter(|r| r.offset >= from && r.offset < to)
            .cloned()
            .collect())
    }

    async fn count_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
    ) -> Result<u64, ClusterError> {
        Ok(self.read_range(tp, from, to).await?.len() as u64)
    }
}

impl TopicCreator for InMemoryCluster {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), ClusterError> {
        drop(self.check()?);
        self.create_topic(topic, partitions);
        Ok(())
    }
}

impl TargetProducer for InMemoryCluster {
    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        if self.lock().unavailable {
            return Err(TargetError::Unavailable(
                "injected: cluster unavailable".into(),
            ));
        }
        let mut s = self.lock();
        let log = Self::log_mut(&mut s, self.name, tp).map_err(|_| TargetError::TopicMissing {
            topic: tp.topic.clone(),
        })?;
        let mut offsets = Vec::with_capacity(records.len());
        for r in records {
            let mut r = r.clone();
            r.offset = log.high;
            offsets.push(log.high);
            log.high += 1;
            log.records.push(r);
        }
        Ok(offsets)
    }
}

// ---------------------------------------------------------------------------------------------
// Topic administration fakes (preflight and topic sync)
// ---------------------------------------------------------------------------------------------

/// An in-memory cluster's topic metadata for preflight tests: topic descriptions (partitions,
/// replication factor, configs), per-topic data stats, a broker count and optional storage
/// info. Implements [`SourceTopicDescriber`], [`TargetTopicAdmin`] and [`TargetStorage`] with
/// the adapters' semantics: creating an existing topic with the same partition count is fine,
/// partitions only grow, [`TargetTopicAdmin::set_configs`] sets explicit topic configs and
/// leaves the others alone. Every change is logged ([`InMemoryTopicAdmin::changes`]). Clones
/// share the same state.
#[derive(Debug, Clone)]
pub struct InMemoryTopicAdmin {
    name: &'static str,
    inner: Arc<Mutex<TopicAdminState>>,
}

#[derive(Debug, Default)]
struct TopicAdminState {
    topics: BTreeMap<String, TopicDescription>,
    stats: HashMap<String, SourceTopicStats>,
    brokers: i32,
    storage: Option<StorageInfo>,
    changes: Vec<String>,
    unavailable: bool,
}

impl InMemoryTopicAdmin {
    /// An empty cluster named `name` (`source` or `target`) with `brokers` brokers.
    pub fn new(name: &'static str, brokers: i32) -> Self {
        let admin = Self {
            name,
            inner: Arc::default(),
        };
        admin.lock().brokers = brokers;
        admin
    }

    fn lock(&self) -> MutexGuard<'_, TopicAdminState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self) -> Result<MutexGuard<'_, TopicAdminState>, TopicAdminError> {
        let s = self.lock();
        if s.unavailable {
            return Err(TopicAdminError::Unavailable {
                cluster: self.name,
                source: "injected: cluster unavailable".into(),
            });
        }
        Ok(s)
    }

    /// Adds or replaces a topic description.
    pub fn put_topic(&self, topic: TopicDescription) {
        self.lock().topics.insert(topic.name.clone(), topic);
    }

    /// Sets a topic's data stats (default: empty).
    pub fn put_stats(&self, stats: SourceTopicStats) {
        self.lock().stats.insert(stats.topic.clone(), stats);
    }

    /// Sets the storage info [`TargetStorage::storage`] reports.
    pub fn set_storage(&self, storage: Option<StorageInfo>) {
        self.lock().storage = storage;
    }

    /// Makes every call fail with [`TopicAdminError::Unavailable`] (or succeed again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// A topic's description.
    pub fn topic(&self, name: &str) -> Option<TopicDescription> {
        self.lock().topics.get(name).cloned()
    }

    /// Changes applied so far (`create <topic>`, `partitions <topic> <n>`, `config <topic> <k>=<v>`).
    pub fn changes(&self) -> Vec<String> {
        self.lock().changes.clone()
    }
}

impl SourceTopicDescriber for InMemoryTopicAdmin {
    async fn topic_names(&self) -> Result<Vec<String>, TopicAdminError> {
        Ok(self.check()?.topics.keys().cloned().collect())
    }

    async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<TopicDescription>, TopicAdminError> {
        let s = self.check()?;
        Ok(names
            .iter()
            .filter_map(|n| s.topics.get(n).cloned())
            .collect())
    }

    async fn topic_stats(
        &self,
        topic: &TopicDescription,
    ) -> Result<SourceTopicStats, TopicAdminError> {
        let s = self.check()?;
        Ok(s.stats
            .get(&topic.name)
            .cloned()
            .unwrap_or_else(|| SourceTopicStats {
                topic: topic.name.clone(),
                ..SourceTopicStats::default()
            }))
    }
}

impl TargetTopicAdmin for InMemoryTopicAdmin {
    async fn broker_count(&self) -> Result<i32, TopicAdminError> {
        Ok(self.check()?.brokers)
    }

    async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<TopicDescription>, TopicAdminError> {
        SourceTopicDescriber::describe_topics(self, names).await
    }

    async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        let mut s = self.check()?;
        let rejected = |reason: String| TopicAdminError::Rejected {
            cluster: self.name,
            topic: topic.to_string(),
            what: "create topic".into(),
            reason,
        };
        if let Some(existing) = s.topics.get(topic) {
            return if existing.partitions == partitions {
                Ok(())
            } else {
                Err(rejected(format!(
                    "exists with {} partitions",
                    existing.partitions
                )))
            };
        }
        if partitions < 1 || replication_factor < 1 || replication_factor > s.brokers.max(1) {
            return Err(rejected(format!(
                "invalid partitions {partitions} / replication factor {replication_factor}"
            )));
        }
        let configs = configs
            .iter()
            .map(|(k, v)| (k.clone(), ConfigValue::topic(v.clone())))
            .collect();
        s.topics.insert(
            topic.to_string(),
            TopicDescription {
                name: topic.to_string(),
                partitions,
                replication_factor,
                configs,
            },
        );
        s.changes.push(format!("create {topic}"));
        Ok(())
    }

    async fn create_partitions(&self, topic: &str, total: i32) -> Result<(), TopicAdminError> {
        let mut s = self.check()?;
        let name = self.name;
        let t = s
            .topics
            .get_mut(topic)
            .ok_or_else(|| TopicAdminError::Rejected {
                cluster: name,
                topic: topic.to_string(),
                what: "create partitions".into(),
                reason: "unknown topic".into(),
            })?;
        if total <= t.partitions {
            return Err(TopicAdminError::Rejected {
                cluster: name,
                topic: topic.to_string(),
                what: "create partitions".into(),
                reason: format!("topic already has {} partitions", t.partitions),
            });
        }
        t.partitions = total;
        s.changes.push(format!("partitions {topic} {total}"));
        Ok(())
    }

    async fn set_configs(
        &self,
        topic: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        let mut s = self.check()?;
        let name = self.name;
        let t = s
            .topics
            .get_mut(topic)
            .ok_or_else(|| TopicAdminError::Rejected {
                cluster: name,
                topic: topic.to_string(),
                what: "alter configs".into(),
                reason: "unknown topic".into(),
            })?;
        for (k, v) in configs {
            t.configs.insert(k.clone(), ConfigValue::topic(v.clone()));
        }
        for (k, v) in configs {
            s.changes.push(format!("config {topic} {k}={v}"));
        }
        Ok(())
    }
}

impl TargetStorage for InMemoryTopicAdmin {
    async fn storage(&self) -> Result<Option<StorageInfo>, TopicAdminError> {
        Ok(self.check()?.storage)
    }
}

/// A [`TargetStorage`] with fixed answers: `None` (unknown, e.g. a self-managed target) or a
/// configured capacity.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaticStorage(pub Option<StorageInfo>);

impl TargetStorage for StaticStorage {
    async fn storage(&self) -> Result<Option<StorageInfo>, TopicAdminError> {
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Drives a future that never waits (the store never does).
    fn now<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("in-memory store futures are always ready"),
        }
    }

    fn p(s: i64, t: i64) -> Progress {
        Progress {
            next_source: s,
            next_target: t,
        }
    }

    fn seg(s: i64, t: i64) -> Segment {
        Segment {
            target_gap_before: 0,
            source_start: s,
            target_start: t,
        }
    }

    #[test]
    fn init_is_first_writer_wins() {
        let store = InMemoryStateStore::new();
        let tp = TopicPartition::new("t", 0);
        assert_eq!(now(store.init_progress(&tp, p(5, 0))).unwrap(), p(5, 0));
        assert_eq!(now(store.init_progress(&tp, p(9, 9))).unwrap(), p(5, 0));
        assert_eq!(now(store.segments(&tp)).unwrap(), vec![seg(5, 0)]);
        assert_eq!(store.calls(StoreOp::InitProgress), 2);
    }

    #[test]
    fn commit_is_all_or_nothing() {
        let store = InMemoryStateStore::new();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        now(store.init_progress(&a, p(0, 0))).unwrap();
        now(store.init_progress(&b, p(0, 0))).unwrap();
        let commits = [
            ProgressCommit {
                tp: a.clone(),
                expected: p(0, 0),
                new: p(10, 8),
                segments: vec![seg(4, 2)],
            },
            ProgressCommit {
                tp: b.clone(),
                expected: p(1, 1),
                new: p(10, 10),
                segments: vec![],
            },
        ];
        let before = store.snapshot();
        match now(store.commit_progress(&commits)) {
            Err(StoreError::Conflict { tp }) => assert_eq!(tp, b),
            other => panic!("expected conflict, got {other:?}"),
        }
        assert_eq!(store.snapshot(), before);
    }

    #[test]
    fn commit_on_missing_progress_conflicts() {
        let store = InMemoryStateStore::new();
        let tp = TopicPartition::new("t", 0);
        let c = ProgressCommit {
            tp: tp.clone(),
            expected: p(0, 0),
            new: p(1, 1),
            segments: vec![],
        };
        assert!(matches!(
            now(store.commit_progress(&[c])),
            Err(StoreError::Conflict { tp: t }) if t == tp
        ));
        assert_eq!(store.progress(&tp), None);
    }

    #[test]
    fn duplicate_partition_is_rejected() {
        let store = InMemoryStateStore::new();
        let tp = TopicPartition::new("t", 0);
        now(store.init_progress(&tp, p(0, 0))).unwrap();
        let c = ProgressCommit {
            tp: tp.clone(),
            expected: p(0, 0),
            new: p(1, 1),
            segments: vec![],
        };
        assert!(matches!(
            now(store.commit_progress(&[c.clone(), c])),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(store.progress(&tp), Some(p(0, 0)));
    }

    #[test]
    fn fault_hooks() {
        let store = InMemoryStateStore::new();
        let handle = store.clone();
        let tp = TopicPartition::new("t", 0);
        now(handle.init_progress(&tp, p(0, 0))).unwrap();
        let c = ProgressCommit {
            tp: tp.clone(),
            expected: p(0, 0),
            new: p(3, 3),
            segments: vec![],
        };
        store.fail_next_commits(1);
        assert!(matches!(
            now(store.commit_progress(std::slice::from_ref(&c))),
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(store.progress(&tp), Some(p(0, 0)));

        store.lose_next_commit_responses(1);
        assert!(matches!(
            now(store.commit_progress(std::slice::from_ref(&c))),
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(store.progress(&tp), Some(p(3, 3)));
        // The retry of an applied commit now conflicts, as on DynamoDB.
        assert!(matches!(
            now(store.commit_progress(&[c])),
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(store.calls(StoreOp::CommitProgress), 3);

        store.fail_next(StoreOp::LoadProgress, 1);
        assert!(now(store.load_progress(std::slice::from_ref(&tp))).is_err());
        assert_eq!(
            now(store.load_progress(std::slice::from_ref(&tp))).unwrap()[&tp],
            p(3, 3)
        );
        store.fail_next(StoreOp::Segments, 2);
        store.clear_faults();
        assert!(now(store.segments(&tp)).is_ok());
        assert_eq!(store.call_counts()[&StoreOp::LoadProgress], 2);
    }
}
