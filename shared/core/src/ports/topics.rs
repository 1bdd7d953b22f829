//! Topic listing, description and administration, and the target's storage.

use super::BoxError;
use std::future::Future;
use thiserror::Error;

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

    /// The target's MSK facts (Provisioned or Serverless, brokers, volume size, auth modes),
    /// when the target is an MSK cluster given by ARN; `None` otherwise (the default). The
    /// preflight checks MSK Serverless limits and sizes broker volumes from them.
    fn facts(
        &self,
    ) -> impl Future<Output = Result<Option<crate::msk::ClusterFacts>, TopicAdminError>> + Send
    {
        async { Ok(None) }
    }
}

/// `None`: no storage information (the preflight skips its storage check), e.g. a target that
/// is not an MSK cluster given by ARN.
impl<T: TargetStorage> TargetStorage for Option<T> {
    async fn storage(&self) -> Result<Option<crate::topics::StorageInfo>, TopicAdminError> {
        match self {
            Some(storage) => storage.storage().await,
            None => Ok(None),
        }
    }

    async fn facts(&self) -> Result<Option<crate::msk::ClusterFacts>, TopicAdminError> {
        match self {
            Some(storage) => storage.facts().await,
            None => Ok(None),
        }
    }
}
