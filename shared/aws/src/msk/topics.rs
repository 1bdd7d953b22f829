//! Topic administration through MSK's topic API ([`MskTopics`]): the
//! [`TargetTopicAdmin`] and [`SourceTopics`] ports without a Kafka admin client.
//!
//! | port method | MSK calls |
//! |---|---|
//! | [`SourceTopics::list_topics`] | `ListTopics` (every page) |
//! | [`TargetTopicAdmin::broker_count`] | `DescribeClusterV2` (`NumberOfBrokerNodes`) |
//! | [`TargetTopicAdmin::describe_topics`] | `DescribeTopic` per name (a few at a time); `NotFoundException` leaves the topic out |
//! | [`TargetTopicAdmin::create_topic`] | `CreateTopic`, then `DescribeTopic` until `ACTIVE` with the partition count and `DescribeTopicPartitions` until every partition has a leader; `ConflictException`/`TopicExistsException` is fine when the existing topic has the same partition count |
//! | [`TargetTopicAdmin::create_partitions`] | `DescribeTopic` (a lower count is refused without a call; the same count is a no-op), `UpdateTopic` with `partitionCount`, then waits as above |
//! | [`TargetTopicAdmin::set_configs`] | `UpdateTopic` with `configs` (only the given keys: MSK takes partition count or configs per call, never both), then `DescribeTopic` until the values show |
//!
//! **Configs.** `DescribeTopic` returns config values without their source, so described
//! configs are [`ConfigSource::Default`] ("default or unknown"): the preflight compares
//! effective values, and target-only overrides are not reported as drift.
//!
//! **Propagation.** The topic API reflects cluster state with a lag (AWS documents about a
//! minute), so every change is followed by polling ([`PollSettings`]: every 5 s for up to
//! 3 minutes by default); a change not visible in time is [`TopicAdminError::Unavailable`].

use super::configs::{decode_configs, encode_configs};
use super::errors::{chain, msk_to_topic, Failure};
use super::MskCluster;
use aws_sdk_kafka::types::TopicState;
use ferry_core::ports::{ClusterDescriber, SourceTopics, TargetTopicAdmin, TopicAdminError};
use ferry_core::topics::{ConfigSource, ConfigValue, TopicDescription};
use futures::{StreamExt as _, TryStreamExt as _};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// `DescribeTopic` requests in flight at once.
const DESCRIBE_CONCURRENCY: usize = 4;

/// How changes are awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    /// Pause between two looks.
    pub interval: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(180),
        }
    }
}

/// The topic API of one MSK cluster (see the module doc). Cheap to clone.
#[derive(Debug, Clone)]
pub struct MskTopics {
    cluster: MskCluster,
    label: &'static str,
    poll: PollSettings,
}

/// A described topic and its state.
struct Described {
    description: TopicDescription,
    active: bool,
}

impl MskTopics {
    /// The topic API of `cluster`; failures name the `label` cluster (`source` or `target`).
    pub fn new(cluster: MskCluster, label: &'static str) -> Self {
        Self {
            cluster,
            label,
            poll: PollSettings::default(),
        }
    }

    /// Waits for changes with `poll` instead of the default.
    pub fn with_poll(mut self, poll: PollSettings) -> Self {
        self.poll = poll;
        self
    }

    fn arn(&self) -> &str {
        self.cluster.arn()
    }

    fn rejected(&self, topic: &str, what: &str, reason: impl Into<String>) -> TopicAdminError {
        TopicAdminError::Rejected {
            cluster: self.label,
            topic: topic.to_string(),
            what: what.to_string(),
            reason: reason.into(),
        }
    }

    /// `DescribeTopic`; `None` if the topic does not exist.
    async fn describe_one(&self, topic: &str) -> Result<Option<Described>, TopicAdminError> {
        let out = match self
            .cluster
            .client()
            .describe_topic()
            .cluster_arn(self.arn())
            .topic_name(topic)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                return match Failure::from_sdk(e) {
                    Failure::NotFound(_) => Ok(None),
                    f => Err(f.into_topic(self.label, topic, "describe topic")),
                }
            }
        };
        let configs = decode_configs(out.configs().unwrap_or_default()).map_err(|e| {
            self.rejected(
                topic,
                "describe topic",
                format!("unreadable configs: {}", chain(&e)),
            )
        })?;
        let configs = configs
            .into_iter()
            .map(|(k, v)| {
                let value = ConfigValue {
                    value: Some(v),
                    source: ConfigSource::Default,
                    read_only: false,
                    sensitive: false,
                };
                (k, value)
            })
            .collect();
        Ok(Some(Described {
            description: TopicDescription {
                name: out.topic_name().unwrap_or(topic).to_string(),
                partitions: out.partition_count().unwrap_or(0),
                replication_factor: out.replication_factor().unwrap_or(0),
                configs,
            },
            active: out.status() == Some(&TopicState::Active),
        }))
    }

    /// Tells a missing topic from a missing cluster (`DescribeTopic` answers
    /// `NotFoundException` for both): `Ok` if the cluster exists.
    async fn cluster_exists(&self, what: &str) -> Result<(), TopicAdminError> {
        self.cluster
            .describe_cluster()
            .await
            .map(drop)
            .map_err(|e| msk_to_topic(e, self.label, what))
    }

    /// Whether `DescribeTopicPartitions` shows `partitions` partitions, each with a leader.
    async fn partitions_led(&self, topic: &str, partitions: i32) -> Result<bool, TopicAdminError> {
        let mut token: Option<String> = None;
        let mut seen = 0i32;
        loop {
            let page = self
                .cluster
                .client()
                .describe_topic_partitions()
                .cluster_arn(self.arn())
                .topic_name(topic)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    Failure::from_sdk(e).into_topic(self.label, topic, "describe topic partitions")
                })?;
            for p in page.partitions() {
                if p.leader().is_none_or(|l| l < 0) {
                    return Ok(false);
                }
                seen += 1;
            }
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(seen >= partitions)
    }

    /// Polls until `topic` is `ACTIVE`, `ready` holds for its description and its partitions
    /// have leaders; returns the description.
    async fn wait_usable(
        &self,
        topic: &str,
        what: &str,
        ready: impl Fn(&TopicDescription) -> bool,
    ) -> Result<TopicDescription, TopicAdminError> {
        let deadline = Instant::now() + self.poll.timeout;
        loop {
            if let Some(d) = self.describe_one(topic).await? {
                if d.active
                    && ready(&d.description)
                    && self.partitions_led(topic, d.description.partitions).await?
                {
                    return Ok(d.description);
                }
            }
            if Instant::now() >= deadline {
                return Err(TopicAdminError::Unavailable {
                    cluster: self.label,
                    source: format!(
                        "{what} of topic {topic:?} on {} not visible through the MSK topic API within {:?}",
                        self.arn(),
                        self.poll.timeout
                    )
                    .into(),
                });
            }
            tokio::time::sleep(self.poll.interval).await;
        }
    }
}

impl SourceTopics for MskTopics {
    async fn list_topics(&self) -> Result<Vec<String>, TopicAdminError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .cluster
                .client()
                .list_topics()
                .cluster_arn(self.arn())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Failure::from_sdk(e).into_topic(self.label, "", "list topics"))?;
            names.extend(
                page.topics()
                    .iter()
                    .filter_map(|t| t.topic_name().map(str::to_string)),
            );
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

impl TargetTopicAdmin for MskTopics {
    async fn broker_count(&self) -> Result<i32, TopicAdminError> {
        let facts = self
            .cluster
            .describe_cluster()
            .await
            .map_err(|e| msk_to_topic(e, self.label, "count brokers"))?;
        facts
            .broker_count
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| {
                self.rejected(
                    "",
                    "count brokers",
                    format!(
                        "{} reports no broker count (MSK Serverless has none)",
                        self.arn()
                    ),
                )
            })
    }

    async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<TopicDescription>, TopicAdminError> {
        let described: Vec<Option<Described>> = futures::stream::iter(names.iter().cloned())
            .map(|n| {
                let this = self.clone();
                async move { this.describe_one(&n).await }
            })
            .buffered(DESCRIBE_CONCURRENCY)
            .try_collect()
            .await?;
        if described.iter().any(Option::is_none) {
            self.cluster_exists("describe topics").await?;
        }
        Ok(described
            .into_iter()
            .flatten()
            .map(|d| d.description)
            .collect())
    }

    async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        const WHAT: &str = "create topic";
        let sent = self
            .cluster
            .client()
            .create_topic()
            .cluster_arn(self.arn())
            .topic_name(topic)
            .partition_count(partitions)
            .replication_factor(replication_factor)
            .set_configs((!configs.is_empty()).then(|| encode_configs(configs)))
            .send()
            .await;
        if let Err(e) = sent {
            match Failure::from_sdk(e) {
                Failure::Rejected { code, .. }
                    if code == "ConflictException" || code == "TopicExistsException" => {}
                f => return Err(f.into_topic(self.label, topic, WHAT)),
            }
        }
        let d = self.wait_usable(topic, "creation", |_| true).await?;
        if d.partitions != partitions {
            return Err(self.rejected(
                topic,
                WHAT,
                format!("it already exists with {} partitions", d.partitions),
            ));
        }
        Ok(())
    }

    async fn create_partitions(&self, topic: &str, total: i32) -> Result<(), TopicAdminError> {
        const WHAT: &str = "create partitions";
        let Some(current) = self.describe_one(topic).await? else {
            self.cluster_exists(WHAT).await?;
            return Err(self.rejected(topic, WHAT, "unknown topic"));
        };
        let current = current.description.partitions;
        if total < current {
            return Err(self.rejected(
                topic,
                WHAT,
                format!("topic already has {current} partitions; partitions are never removed"),
            ));
        }
        if total == current {
            return Ok(());
        }
        self.cluster
            .client()
            .update_topic()
            .cluster_arn(self.arn())
            .topic_name(topic)
            .partition_count(total)
            .send()
            .await
            .map_err(|e| Failure::from_sdk(e).into_topic(self.label, topic, WHAT))?;
        self.wait_usable(topic, "partition increase", |d| d.partitions >= total)
            .await
            .map(drop)
    }

    async fn set_configs(
        &self,
        topic: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        const WHAT: &str = "alter configs";
        if configs.is_empty() {
            return Ok(());
        }
        self.cluster
            .client()
            .update_topic()
            .cluster_arn(self.arn())
            .topic_name(topic)
            .configs(encode_configs(configs))
            .send()
            .await
            .map_err(|e| Failure::from_sdk(e).into_topic(self.label, topic, WHAT))?;
        self.wait_usable(topic, "config change", |d| {
            configs.iter().all(|(k, v)| d.config(k) == Some(v.as_str()))
        })
        .await
        .map(drop)
    }
}
