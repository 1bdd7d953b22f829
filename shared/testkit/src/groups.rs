//! In-memory source and target consumer groups (and the source's topic list and end offsets).

use ferry_core::ports::{
    GroupError, GroupState, SourceEndOffsets, SourceGroups, SourceTopics, TargetGroups,
    TopicAdminError,
};
use ferry_core::topics::TopicPartition;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    async fn list_topics(&self) -> Result<Vec<String>, TopicAdminError> {
        let s = self.lock();
        if s.unavailable {
            return Err(TopicAdminError::Unavailable {
                cluster: "source",
                source: "injected: groups unavailable".into(),
            });
        }
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
