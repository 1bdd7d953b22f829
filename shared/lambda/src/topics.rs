//! [`TargetTopics`]: the target's topic administration, through MSK's topic API when the
//! target is an MSK cluster given by ARN that serves it, and through the Kafka admin client
//! otherwise. Chosen once, at cold start ([`TargetTopics::choose`]).
//!
//! The MSK topic API (`CreateTopic`, `UpdateTopic`, `DescribeTopic`, `ListTopics`, signed with
//! SigV4) needs only IAM permissions, no SASL session with the brokers; it serves Provisioned
//! clusters on Kafka 3.6.0 or later. MSK Serverless and older clusters keep the Kafka admin
//! client, which authenticates with every security mode, MSK IAM included
//! (`ferry_kafka::admin`).

use crate::ConfigError;
use ferry_aws::msk::{MskCluster, MskTopics};
use ferry_core::ports::{MskError, SourceTopics, TargetTopicAdmin, TopicAdminError};
use ferry_core::topics::TopicDescription;
use ferry_kafka::{KafkaConnection, KafkaTopicAdmin};
use std::collections::BTreeMap;

/// The target's topic administration (see the module doc).
#[derive(Debug)]
pub enum TargetTopics {
    /// MSK's topic API.
    Msk(MskTopics),
    /// The Kafka admin client (boxed: it is much larger than the other variant).
    Kafka(Box<KafkaTopicAdmin>),
}

impl TargetTopics {
    /// MSK's topic API when `msk_cluster` (the setting `setting`, the target's ARN) is given
    /// and `DescribeClusterV2` shows that the cluster serves it; the Kafka admin client on
    /// `conn` otherwise. A cluster that cannot be described (unknown, access denied) fails
    /// the cold start naming `setting`; an unavailable control plane falls back to the
    /// Kafka admin client, so a throttled cold start still runs.
    pub async fn choose(
        conn: &KafkaConnection,
        msk_cluster: Option<&str>,
        setting: &str,
    ) -> Result<Self, ConfigError> {
        let kafka = || Self::Kafka(Box::new(KafkaTopicAdmin::new(conn.clone(), "target")));
        let Some(arn) = msk_cluster.filter(|a| !a.trim().is_empty()) else {
            return Ok(kafka());
        };
        match MskCluster::from_env(arn).await.topic_admin().await {
            Ok(topics) => {
                tracing::info!(cluster = %arn, "target topics through the MSK topic API");
                Ok(Self::Msk(topics))
            }
            Err(e @ (MskError::Unsupported { .. } | MskError::Unavailable { .. })) => {
                tracing::info!(cluster = %arn, reason = %e, "target topics through the Kafka admin client");
                Ok(kafka())
            }
            Err(e) => Err(ConfigError::invalid(
                setting,
                format!("could not describe the target MSK cluster {arn}: {e}"),
            )),
        }
    }

    /// Which path this is: `msk-topic-api` or `kafka-admin`.
    pub fn path(&self) -> &'static str {
        match self {
            Self::Msk(_) => "msk-topic-api",
            Self::Kafka(_) => "kafka-admin",
        }
    }
}

impl SourceTopics for TargetTopics {
    async fn list_topics(&self) -> Result<Vec<String>, TopicAdminError> {
        match self {
            Self::Msk(m) => m.list_topics().await,
            Self::Kafka(k) => k.list_topics().await,
        }
    }
}

impl TargetTopicAdmin for TargetTopics {
    async fn broker_count(&self) -> Result<i32, TopicAdminError> {
        match self {
            Self::Msk(m) => m.broker_count().await,
            Self::Kafka(k) => k.broker_count().await,
        }
    }

    async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<TopicDescription>, TopicAdminError> {
        match self {
            Self::Msk(m) => m.describe_topics(names).await,
            Self::Kafka(k) => k.describe_topics(names).await,
        }
    }

    async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        match self {
            Self::Msk(m) => {
                m.create_topic(topic, partitions, replication_factor, configs)
                    .await
            }
            Self::Kafka(k) => {
                k.create_topic(topic, partitions, replication_factor, configs)
                    .await
            }
        }
    }

    async fn create_partitions(&self, topic: &str, total: i32) -> Result<(), TopicAdminError> {
        match self {
            Self::Msk(m) => m.create_partitions(topic, total).await,
            Self::Kafka(k) => k.create_partitions(topic, total).await,
        }
    }

    async fn set_configs(
        &self,
        topic: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        match self {
            Self::Msk(m) => m.set_configs(topic, configs).await,
            Self::Kafka(k) => k.set_configs(topic, configs).await,
        }
    }
}
