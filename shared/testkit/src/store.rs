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

use ferry_core::checkpoint::{next_checkpoint, Checkpoint};
use ferry_core::ports::{
    CheckpointStore, MigrationStore, ProgressCommit, ProgressStore, RunLease, SegmentStore,
    StoreError, Versioned,
};
use ferry_core::progress::{Progress, Segment};
use ferry_core::topics::TopicPartition;
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
    /// Leases: name → (owner, until_ms).
    leases: HashMap<String, (String, i64)>,
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
                return Err(StoreError::duplicate_commit(&c.tp));
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

    async fn segments_around(
        &self,
        tp: &TopicPartition,
        offset: i64,
    ) -> Result<Vec<Segment>, StoreError> {
        let all = self.segments_now(tp)?;
        Ok(ferry_core::translate::around(&all, offset).to_vec())
    }
}

/// Leases follow the DynamoDB adapter's conditions (free, expired before `now_ms`, or ours).
impl RunLease for InMemoryStateStore {
    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let free = s
            .leases
            .get(name)
            .is_none_or(|(holder, until)| *until < now_ms || holder == owner);
        if free {
            s.leases
                .insert(name.to_string(), (owner.to_string(), until_ms));
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.leases
            .get(name)
            .is_some_and(|(holder, _)| holder == owner)
        {
            s.leases.remove(name);
        }
        Ok(())
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
