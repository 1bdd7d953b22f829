//! The topic backend of a local MSK cluster: any [`TargetTopicAdmin`] + [`SourceTopics`]
//! (the real `ferry_kafka::KafkaTopicAdmin` in `ferry local`, an in-memory one in tests),
//! behind a trait object the server can hold.

use ferry_core::ports::{SourceTopics, TargetTopicAdmin, TopicAdminError};
use ferry_core::topics::TopicDescription;
use futures::future::BoxFuture;
use std::collections::BTreeMap;

/// What the local MSK topic API does with a cluster's topics. Implemented for every
/// [`TargetTopicAdmin`] + [`SourceTopics`]; the server answers `CREATING` / `UPDATING` and the
/// change is done when the backend returns (the ports wait until topics are usable), so later
/// reads show `ACTIVE`.
pub trait TopicBackend: Send + Sync + 'static {
    /// All topic names.
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, TopicAdminError>>;
    /// Descriptions of `names` (missing ones left out).
    fn describe<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<TopicDescription>, TopicAdminError>>;
    /// Creates a topic.
    fn create<'a>(
        &'a self,
        topic: &'a str,
        partitions: i32,
        replication_factor: i32,
        configs: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), TopicAdminError>>;
    /// Raises the partition count to `total`.
    fn grow<'a>(&'a self, topic: &'a str, total: i32)
        -> BoxFuture<'a, Result<(), TopicAdminError>>;
    /// Sets configs, leaving the others.
    fn set_configs<'a>(
        &'a self,
        topic: &'a str,
        configs: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), TopicAdminError>>;
}

impl<T: TargetTopicAdmin + SourceTopics + 'static> TopicBackend for T {
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, TopicAdminError>> {
        Box::pin(SourceTopics::list_topics(self))
    }

    fn describe<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<TopicDescription>, TopicAdminError>> {
        Box::pin(TargetTopicAdmin::describe_topics(self, names))
    }

    fn create<'a>(
        &'a self,
        topic: &'a str,
        partitions: i32,
        replication_factor: i32,
        configs: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), TopicAdminError>> {
        Box::pin(TargetTopicAdmin::create_topic(
            self,
            topic,
            partitions,
            replication_factor,
            configs,
        ))
    }

    fn grow<'a>(
        &'a self,
        topic: &'a str,
        total: i32,
    ) -> BoxFuture<'a, Result<(), TopicAdminError>> {
        Box::pin(TargetTopicAdmin::create_partitions(self, topic, total))
    }

    fn set_configs<'a>(
        &'a self,
        topic: &'a str,
        configs: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), TopicAdminError>> {
        Box::pin(TargetTopicAdmin::set_configs(self, topic, configs))
    }
}
