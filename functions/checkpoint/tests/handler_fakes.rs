//! The checkpoint handler against in-memory fakes: translation over gaps, lag, never backwards,
//! sync only to empty target groups and never rewinding them, filters.

use checkpoint::{CheckpointHandler, SyncOutcome};
use ferry_core::checkpoint::Checkpoint;
use ferry_core::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use ferry_core::ports::{GroupState, ProgressCommit, ProgressStore};
use ferry_core::progress::{advance, Progress};
use ferry_core::TopicPartition;
use ferry_lambda::FailureError;
use ferry_testkit::{InMemoryGroups, InMemoryStateStore};

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("orders", p)
}

/// Mirrors source offsets `offsets` of `tp` into the store as the mirror would.
async fn mirror(store: &InMemoryStateStore, tp: &TopicPartition, offsets: &[i64]) {
    let init = store
        .init_progress(tp, Progress::initial(offsets[0], 0))
        .await
        .unwrap();
    let (new, segments) = advance(init, offsets);
    store
        .commit_progress(&[ProgressCommit {
            tp: tp.clone(),
            expected: init,
            new,
            segments,
        }])
        .await
        .unwrap();
}

fn handler(
    store: &InMemoryStateStore,
    source: &InMemoryGroups,
    target: &InMemoryGroups,
    policy: ReplicationPolicy,
) -> CheckpointHandler<InMemoryStateStore, InMemoryGroups, InMemoryGroups> {
    CheckpointHandler::new(
        store.clone(),
        source.clone(),
        target.clone(),
        policy,
        TopicFilter::default(),
        GroupFilter::default(),
    )
}

#[tokio::test]
async fn translates_saves_and_syncs_exactly() {
    let store = InMemoryStateStore::new();
    let (source, target) = (InMemoryGroups::new(), InMemoryGroups::new());
    // Partition 0 plain 0..100; partition 1 with transaction markers at 3 and 7.
    mirror(&store, &tp(0), &(0..100).collect::<Vec<_>>()).await;
    mirror(&store, &tp(1), &[0, 1, 2, 4, 5, 6, 8, 9]).await;
    source.commit_source("app", &tp(0), 40);
    source.commit_source("app", &tp(1), 7); // marker: next mirrored is source 8 = target 6
    source.commit_source("ferry-esm-orders", &tp(0), 100); // excluded by default
    let h = handler(
        &store,
        &source,
        &target,
        ReplicationPolicy::parse("prefix:src").unwrap(),
    );
    let summary = h.run().await.unwrap();
    assert_eq!(summary.groups.len(), 1);
    let g = &summary.groups[0];
    assert_eq!(g.partitions_checkpointed, 2);
    assert_eq!(g.sync, SyncOutcome::Synced { partitions: 2 });
    let cps = store.checkpoints_of("app");
    assert_eq!(
        cps[&tp(1)],
        Checkpoint {
            source_offset: 7,
            target_offset: 6
        }
    );
    let committed = target.target_offsets("app");
    assert_eq!(committed[&TopicPartition::new("src.orders", 0)], 40);
    assert_eq!(committed[&TopicPartition::new("src.orders", 1)], 6);
    assert!(store.checkpoints_of("ferry-esm-orders").is_empty());

    // Second run: nothing new.
    let again = h.run().await.unwrap();
    assert_eq!(again.checkpoints_saved, 0);
    assert_eq!(again.groups[0].partitions_unchanged, 2);
    assert_eq!(again.groups[0].sync, SyncOutcome::UpToDate);
}

#[tokio::test]
async fn group_ahead_of_the_mirror_is_reported_as_lag() {
    let store = InMemoryStateStore::new();
    let (source, target) = (InMemoryGroups::new(), InMemoryGroups::new());
    mirror(&store, &tp(0), &(0..50).collect::<Vec<_>>()).await;
    source.commit_source("app", &tp(0), 80);
    source.commit_source("app", &tp(2), 5); // partition never mirrored
    let h = handler(&store, &source, &target, ReplicationPolicy::Identity);
    let s = h.run().await.unwrap();
    let g = &s.groups[0];
    assert_eq!(g.partitions_checkpointed, 0);
    assert_eq!(g.max_lag, 30);
    assert_eq!(g.not_yet_translatable.len(), 2);
    assert!(store.checkpoints_of("app").is_empty());
    assert!(matches!(g.sync, SyncOutcome::Skipped { .. }));
    assert!(target.target_offsets("app").is_empty());
}

#[tokio::test]
async fn active_target_groups_are_left_alone_and_target_groups_never_rewound() {
    let store = InMemoryStateStore::new();
    let (source, target) = (InMemoryGroups::new(), InMemoryGroups::new());
    mirror(&store, &tp(0), &(0..100).collect::<Vec<_>>()).await;
    source.commit_source("busy", &tp(0), 10);
    source.commit_source("moved", &tp(0), 20);
    target.set_target_state(
        "busy",
        GroupState::Active {
            members: 1,
            state: "Stable".into(),
        },
    );
    // "moved" already consumed further on the target.
    target.set_target_state("moved", GroupState::Empty);
    ferry_core::ports::TargetGroups::commit_offsets(&target, "moved", &[(tp(0), 60)])
        .await
        .unwrap();
    let h = handler(&store, &source, &target, ReplicationPolicy::Identity);
    let s = h.run().await.unwrap();
    let by = |g: &str| s.groups.iter().find(|r| r.group == g).unwrap().clone();
    assert!(
        matches!(&by("busy").sync, SyncOutcome::Skipped { reason } if reason.contains("active")),
        "{:?}",
        by("busy")
    );
    assert!(target.target_offsets("busy").is_empty());
    assert_eq!(by("moved").sync, SyncOutcome::UpToDate);
    assert_eq!(target.target_offsets("moved")[&tp(0)], 60);
    // Checkpoints are stored either way.
    assert_eq!(store.checkpoints_of("busy")[&tp(0)].target_offset, 10);
}

#[tokio::test]
async fn checkpoints_never_move_backwards_and_sync_can_be_off() {
    let store = InMemoryStateStore::new();
    let (source, target) = (InMemoryGroups::new(), InMemoryGroups::new());
    mirror(&store, &tp(0), &(0..100).collect::<Vec<_>>()).await;
    source.commit_source("app", &tp(0), 70);
    let h =
        handler(&store, &source, &target, ReplicationPolicy::Identity).sync_group_offsets(false);
    h.run().await.unwrap();
    source.commit_source("app", &tp(0), 30); // reset on the source
    let s = h.run().await.unwrap();
    assert_eq!(s.groups[0].rewound, vec![tp(0)]);
    assert_eq!(s.groups[0].sync, SyncOutcome::Disabled);
    assert_eq!(store.checkpoints_of("app")[&tp(0)].source_offset, 70);
    assert!(target.target_offsets("app").is_empty());
}

#[tokio::test]
async fn unavailable_source_is_transient() {
    let store = InMemoryStateStore::new();
    let (source, target) = (InMemoryGroups::new(), InMemoryGroups::new());
    source.add_topic("orders");
    source.set_unavailable(true);
    let err = handler(&store, &source, &target, ReplicationPolicy::Identity)
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind().error_type(), "Ferry.Transient");
}

/// Source groups whose `list_groups` waits until the test lets it go: a run held in the middle
/// of its pass, after it took the lease.
#[derive(Clone)]
struct HeldSource {
    inner: InMemoryGroups,
    entered: std::sync::Arc<tokio::sync::Notify>,
    release: std::sync::Arc<tokio::sync::Semaphore>,
}

impl ferry_core::ports::SourceGroups for HeldSource {
    async fn list_groups(&self) -> Result<Vec<String>, ferry_core::ports::GroupError> {
        self.entered.notify_one();
        let _permit = self.release.acquire().await.expect("semaphore open");
        self.inner.list_groups().await
    }

    async fn committed_offsets(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<std::collections::HashMap<TopicPartition, i64>, ferry_core::ports::GroupError> {
        self.inner.committed_offsets(group, topics).await
    }
}

impl ferry_core::ports::SourceTopics for HeldSource {
    async fn list_topics(&self) -> Result<Vec<String>, ferry_core::ports::TopicAdminError> {
        self.inner.list_topics().await
    }
}

/// Issue 13: two checkpoint runs never overlap. While an older run is held mid-pass, a newer
/// run does nothing (and says so); once the older run ends, the next run works normally. A
/// lease left by a run that died is taken over once its deadline passed.
#[tokio::test]
async fn concurrent_runs_never_overlap() {
    use ferry_core::ports::RunLease;
    let store = InMemoryStateStore::new();
    let (source, target) = (InMemoryGroups::new(), InMemoryGroups::new());
    mirror(&store, &tp(0), &(0..100).collect::<Vec<_>>()).await;
    source.commit_source("app", &tp(0), 40);
    let held = HeldSource {
        inner: source.clone(),
        entered: Default::default(),
        release: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let slow = std::sync::Arc::new(CheckpointHandler::new(
        store.clone(),
        held.clone(),
        target.clone(),
        ReplicationPolicy::Identity,
        TopicFilter::default(),
        GroupFilter::default(),
    ));
    let older = tokio::spawn({
        let slow = slow.clone();
        async move { slow.run_within("older", 1_000, 900_000).await }
    });
    held.entered.notified().await;

    // The group moves on; a newer run while the older one still runs does nothing.
    source.commit_source("app", &tp(0), 60);
    let fast = handler(&store, &source, &target, ReplicationPolicy::Identity);
    let skipped = fast.run_within("newer", 2_000, 900_000).await.unwrap();
    assert!(skipped.skipped.is_some(), "{skipped:?}");
    assert!(skipped.groups.is_empty());
    assert!(store.checkpoints_of("app").is_empty());
    assert!(target.target_offsets("app").is_empty());

    // The older run finishes with what it read (60: it lists groups after the commit) and
    // gives the lease back; the next run finds nothing new.
    held.release.add_permits(1);
    let done = older.await.unwrap().unwrap();
    assert!(done.skipped.is_none());
    assert_eq!(done.checkpoints_saved, 1);
    let next = fast.run_within("next", 3_000, 900_000).await.unwrap();
    assert!(next.skipped.is_none(), "the lease was given back: {next:?}");
    assert_eq!(next.groups[0].partitions_unchanged, 1);
    assert_eq!(target.target_offsets("app")[&tp(0)], 60);

    // A run that died holding the lease blocks others only until its deadline.
    assert!(store
        .acquire_lease(checkpoint::CHECKPOINT_LEASE, "died", 4_000, 10_000)
        .await
        .unwrap());
    let blocked = fast.run_within("while-dead", 9_000, 900_000).await.unwrap();
    assert!(blocked.skipped.is_some());
    let after = fast
        .run_within("after-deadline", 10_001, 900_000)
        .await
        .unwrap();
    assert!(after.skipped.is_none(), "{after:?}");
}
