//! Topic administration fakes for preflight and topic sync: topic metadata of a cluster and
//! the target's storage.

use ferry_core::ports::{
    SourceTopicDescriber, SourceTopics, TargetStorage, TargetTopicAdmin, TopicAdminError,
};
use ferry_core::topics::{ConfigValue, SourceTopicStats, StorageInfo, TopicDescription};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An in-memory cluster's topic metadata for preflight tests: topic descriptions (partitions,
/// replication factor, configs), per-topic data stats, a broker count and optional storage
/// info. Implements [`SourceTopics`], [`SourceTopicDescriber`], [`TargetTopicAdmin`] and
/// [`TargetStorage`] with the adapters' semantics: creating an existing topic with the same partition count is fine,
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

impl SourceTopics for InMemoryTopicAdmin {
    async fn list_topics(&self) -> Result<Vec<String>, TopicAdminError> {
        Ok(self.check()?.topics.keys().cloned().collect())
    }
}

impl SourceTopicDescriber for InMemoryTopicAdmin {
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

/// A [`TargetStorage`] for an MSK target with fixed [`ClusterFacts`](ferry_core::msk::ClusterFacts)
/// (Provisioned or Serverless): its storage is the facts' capacity.
#[derive(Debug, Clone)]
pub struct StaticMsk(pub ferry_core::msk::ClusterFacts);

impl TargetStorage for StaticMsk {
    async fn storage(&self) -> Result<Option<StorageInfo>, TopicAdminError> {
        Ok(self.0.storage())
    }

    async fn facts(&self) -> Result<Option<ferry_core::msk::ClusterFacts>, TopicAdminError> {
        Ok(Some(self.0.clone()))
    }
}
