//! Consumer groups over rdkafka: the [`SourceGroups`] and [`TargetGroups`] ports.
//!
//! rdkafka 0.39's `AdminClient` has no group-offset APIs (ListConsumerGroupOffsets,
//! AlterConsumerGroupOffsets), so, as MirrorMaker 2's checkpoint connector does on the JVM,
//! Ferry uses plain consumers:
//!
//! * **list groups**: `fetch_group_list(None)` (ListGroups + DescribeGroups) on a consumer
//!   without `group.id`; only consumer groups (protocol type `consumer`, or empty for groups
//!   that only ever committed offsets) are returned.
//! * **committed offsets**: a consumer with `group.id = <group>` asks `committed_offsets` for
//!   every partition of the topics (from fresh metadata). It never subscribes, so it never joins
//!   the group and never triggers a rebalance of the group's real members.
//! * **group state**: `fetch_group_list(Some(group))`: `Empty` → [`GroupState::Empty`], `Dead`
//!   or unknown → [`GroupState::NotFound`], anything else (`Stable`, `PreparingRebalance`,
//!   `CompletingRebalance`, …) → [`GroupState::Active`].
//! * **commit**: a consumer with `group.id = <group>` commits explicit offsets with
//!   `commit(&tpl, CommitMode::Sync)` without joining. The broker accepts such commits only while
//!   the group has no members; should members join between the state check and the commit, the
//!   broker refuses it (`UNKNOWN_MEMBER_ID` / `ILLEGAL_GENERATION` / `REBALANCE_IN_PROGRESS`),
//!   reported as [`GroupError::Active`].
//!
//! Every call builds a short-lived client (these run once per scheduled checkpoint run, not on
//! a hot path) and runs the blocking librdkafka calls on tokio's blocking pool.

use crate::auth::{serve_events, FerryConsumer};
use crate::config::{BuildError, KafkaConnection};
use crate::topics::KafkaTopicAdmin;
use ferry_core::ports::{
    GroupError, GroupState, SourceEndOffsets, SourceGroups, SourceTopics, TargetGroups,
    TopicAdminError,
};
use ferry_core::topics::TopicPartition;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::Duration;

/// Timeout of every blocking group call.
pub const GROUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Consumer groups of one cluster (see the module docs).
#[derive(Debug, Clone)]
pub struct KafkaGroups {
    conn: KafkaConnection,
    cluster: &'static str,
}

impl KafkaGroups {
    /// Groups of the source cluster.
    pub fn source(conn: KafkaConnection) -> Self {
        Self {
            conn,
            cluster: "source",
        }
    }

    /// Groups of the target cluster.
    pub fn target(conn: KafkaConnection) -> Self {
        Self {
            conn,
            cluster: "target",
        }
    }

    fn unavailable(&self, source: impl Into<ferry_core::ports::BoxError>) -> GroupError {
        GroupError::Unavailable {
            cluster: self.cluster,
            source: source.into(),
        }
    }

    /// A consumer (never subscribed) with [`crate::auth::FerryContext`]; [`serve_events`] runs in
    /// [`KafkaGroups::blocking`] before the request.
    fn consumer(&self, group: Option<&str>) -> Result<FerryConsumer, GroupError> {
        let mut config = self.conn.client_config().map_err(|e| self.unavailable(e))?;
        config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("allow.auto.create.topics", "false");
        if let Some(g) = group {
            config.set("group.id", g);
        }
        config
            .create_with_context(self.conn.context())
            .map_err(|e| self.unavailable(BuildError::Client(e)))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, GroupError> + Send + 'static,
    ) -> Result<T, GroupError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| self.unavailable(e))?
    }
}

/// Maps a broker group state string (DescribeGroups) to a [`GroupState`].
pub fn parse_group_state(state: &str, members: usize) -> GroupState {
    match state {
        "Empty" => GroupState::Empty,
        "Dead" | "" => GroupState::NotFound,
        other => GroupState::Active {
            members,
            state: other.to_string(),
        },
    }
}

/// How often a commit is retried while the group coordinator is unavailable.
const COORDINATOR_RETRIES: u32 = 10;

fn is_coordinator_error(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::CoordinatorLoadInProgress
    )
}

fn is_member_error(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::FencedInstanceId
            | RDKafkaErrorCode::StaleMemberEpoch
    )
}

impl SourceGroups for KafkaGroups {
    async fn list_groups(&self) -> Result<Vec<String>, GroupError> {
        let consumer = self.consumer(None)?;
        let this = self.clone();
        self.blocking(move || {
            serve_events(&consumer);
            let list = consumer
                .fetch_group_list(None, GROUP_TIMEOUT)
                .map_err(|e| this.unavailable(e))?;
            let mut names: Vec<String> = list
                .groups()
                .iter()
                .filter(|g| matches!(g.protocol_type(), "consumer" | ""))
                .map(|g| g.name().to_string())
                .collect();
            names.sort();
            names.dedup();
            Ok(names)
        })
        .await
    }

    async fn committed_offsets(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<HashMap<TopicPartition, i64>, GroupError> {
        if topics.is_empty() {
            return Ok(HashMap::new());
        }
        let consumer = self.consumer(Some(group))?;
        let this = self.clone();
        let topics = topics.to_vec();
        let group = group.to_string();
        self.blocking(move || {
            serve_events(&consumer);
            // One metadata request: for one topic ask for it, otherwise for all topics.
            let md = consumer
                .fetch_metadata(
                    (topics.len() == 1).then(|| topics[0].as_str()),
                    GROUP_TIMEOUT,
                )
                .map_err(|e| this.unavailable(e))?;
            let wanted: std::collections::HashSet<&str> =
                topics.iter().map(String::as_str).collect();
            let mut tpl = TopicPartitionList::new();
            for t in md
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && wanted.contains(t.name()))
            {
                for p in t.partitions() {
                    tpl.add_partition(t.name(), p.id());
                }
            }
            if tpl.count() == 0 {
                return Ok(HashMap::new());
            }
            let committed = consumer
                .committed_offsets(tpl, GROUP_TIMEOUT)
                .map_err(|e| this.unavailable(e))?;
            let mut out = HashMap::new();
            for e in committed.elements() {
                if let Err(err) = e.error() {
                    return Err(GroupError::Rejected {
                        group: group.clone(),
                        reason: format!(
                            "committed offset of {}-{}: {err}",
                            e.topic(),
                            e.partition()
                        ),
                    });
                }
                if let Offset::Offset(o) = e.offset() {
                    out.insert(TopicPartition::new(e.topic(), e.partition()), o);
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Delegates to [`KafkaTopicAdmin`]'s listing (one body for both adapters).
impl SourceTopics for KafkaGroups {
    async fn list_topics(&self) -> Result<Vec<String>, TopicAdminError> {
        KafkaTopicAdmin::new(self.conn.clone(), self.cluster)
            .list_topics()
            .await
    }
}

impl SourceEndOffsets for KafkaGroups {
    /// One metadata request, then the high watermark of every partition (read_uncommitted: the
    /// log end, so open transactions also count as "still receiving writes").
    async fn end_offsets(
        &self,
        topics: &[String],
    ) -> Result<HashMap<TopicPartition, i64>, GroupError> {
        let mut config = self.conn.client_config().map_err(|e| self.unavailable(e))?;
        config.set("isolation.level", "read_uncommitted");
        let consumer: FerryConsumer = config
            .create_with_context(self.conn.context())
            .map_err(|e| self.unavailable(BuildError::Client(e)))?;
        let this = self.clone();
        let topics = topics.to_vec();
        self.blocking(move || {
            serve_events(&consumer);
            let md = consumer
                .fetch_metadata(None, GROUP_TIMEOUT)
                .map_err(|e| this.unavailable(e))?;
            let mut out = HashMap::new();
            for t in md
                .topics()
                .iter()
                .filter(|t| topics.iter().any(|n| n == t.name()))
            {
                for p in t.partitions() {
                    let (_, high) = consumer
                        .fetch_watermarks(t.name(), p.id(), GROUP_TIMEOUT)
                        .map_err(|e| this.unavailable(e))?;
                    out.insert(TopicPartition::new(t.name(), p.id()), high);
                }
            }
            Ok(out)
        })
        .await
    }
}

impl TargetGroups for KafkaGroups {
    async fn committed(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<HashMap<TopicPartition, i64>, GroupError> {
        SourceGroups::committed_offsets(self, group, topics).await
    }

    async fn group_state(&self, group: &str) -> Result<GroupState, GroupError> {
        let consumer = self.consumer(None)?;
        let this = self.clone();
        let group = group.to_string();
        self.blocking(move || {
            serve_events(&consumer);
            let list = match consumer.fetch_group_list(Some(&group), GROUP_TIMEOUT) {
                Ok(list) => list,
                Err(KafkaError::GroupListFetch(RDKafkaErrorCode::GroupIdNotFound)) => {
                    return Ok(GroupState::NotFound)
                }
                Err(e) => return Err(this.unavailable(e)),
            };
            Ok(list
                .groups()
                .iter()
                .find(|g| g.name() == group)
                .map_or(GroupState::NotFound, |g| {
                    parse_group_state(g.state(), g.members().len())
                }))
        })
        .await
    }

    async fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let consumer = self.consumer(Some(group))?;
        let this = self.clone();
        let group = group.to_string();
        let mut tpl = TopicPartitionList::new();
        for (tp, o) in offsets {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*o))
                .map_err(|e| GroupError::Rejected {
                    group: group.clone(),
                    reason: format!("offset {o} for {tp}: {e}"),
                })?;
        }
        self.blocking(move || {
            serve_events(&consumer);
            let mut attempt = 0;
            loop {
                match consumer.commit(&tpl, CommitMode::Sync) {
                    Ok(()) => return Ok(()),
                    Err(KafkaError::ConsumerCommit(code)) if is_member_error(code) => {
                        return Err(GroupError::Active { group })
                    }
                    // The group coordinator moves or is still loading (e.g. the first commit on a
                    // fresh cluster creates __consumer_offsets): retry briefly.
                    Err(KafkaError::ConsumerCommit(code))
                        if is_coordinator_error(code) && attempt < COORDINATOR_RETRIES =>
                    {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                    }
                    Err(e) => return Err(this.unavailable(e)),
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_states() {
        assert_eq!(parse_group_state("Empty", 0), GroupState::Empty);
        assert_eq!(parse_group_state("Dead", 0), GroupState::NotFound);
        assert_eq!(
            parse_group_state("Stable", 2),
            GroupState::Active {
                members: 2,
                state: "Stable".into()
            }
        );
        assert!(!parse_group_state("PreparingRebalance", 1).accepts_commits());
    }
}
