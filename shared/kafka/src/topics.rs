//! [`KafkaTopicAdmin`]: the topic-administration ports ([`SourceTopics`],
//! [`SourceTopicDescriber`], [`TargetTopicAdmin`]) for one cluster, on librdkafka's admin API
//! and metadata.
//!
//! * Descriptions: partition count and replication factor from metadata, configs from
//!   `DescribeConfigs` with their source (`DYNAMIC_TOPIC_CONFIG` → explicitly set on the topic;
//!   broker-level sources → inherited; `DEFAULT_CONFIG` → Kafka's default).
//! * Provisioning: `CreateTopics` (explicit replication factor and configs), `CreatePartitions`,
//!   and config updates. librdkafka (through `rdkafka`) only offers the legacy, non-incremental
//!   `AlterConfigs`, which resets every topic config not in the request; so
//!   [`TargetTopicAdmin::set_configs`] reads the topic's explicitly set configs first and
//!   sends them together with the new values. A concurrent change by someone else between the
//!   read and the write is lost; sensitive topic configs (no value returned) cannot be kept and
//!   make the update fail instead.
//! * Stats ([`SourceTopicDescriber::topic_stats`]): librdkafka has no `DescribeLogDirs`, so
//!   the size is **estimated**: records between the watermarks × the average size of up to
//!   [`KafkaTopicAdmin::with_sample`] records read from the start and the end of each
//!   partition. The oldest timestamp is the earliest among each partition's first records.
//!   Counts are upper bounds for compacted and transactional topics.
//!
//! Writes wait until the cluster's metadata shows the change (leaders for every partition).

use crate::admin::{admin_client, kafka, metadata_consumer, options, AdminError, ADMIN_TIMEOUT};
use crate::config::KafkaConnection;
use crate::reader::{scan_partition, Isolation, ReadOptions};
use ferry_core::ports::{
    BoxError, SourceTopicDescriber, SourceTopics, TargetTopicAdmin, TopicAdminError,
};
use ferry_core::topics::TopicPartition;
use ferry_core::topics::{ConfigSource, ConfigValue, SourceTopicStats, TopicDescription};
use futures::stream::{self, StreamExt, TryStreamExt};
use rdkafka::admin::{
    AlterConfig, ConfigSource as RdConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long a change may take to show up in metadata / config descriptions.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Topic administration of one cluster.
#[derive(Debug, Clone)]
pub struct KafkaTopicAdmin {
    conn: KafkaConnection,
    cluster: &'static str,
    sample: i64,
    concurrency: usize,
    read_timeout: Duration,
}

/// Partition count, replication factor and leader readiness of a topic.
#[derive(Debug, Clone, Copy)]
struct TopicMeta {
    partitions: i32,
    replication_factor: i32,
    ready: bool,
}

impl KafkaTopicAdmin {
    /// Administration of the cluster at `conn`; `cluster` (`source`/`target`) names it in
    /// errors.
    pub fn new(conn: KafkaConnection, cluster: &'static str) -> Self {
        Self {
            conn,
            cluster,
            sample: 50,
            concurrency: 4,
            read_timeout: Duration::from_secs(15),
        }
    }

    /// Records sampled at each end of every partition for stats (default 50).
    pub fn with_sample(mut self, records: i64) -> Self {
        self.sample = records.max(1);
        self
    }

    /// Partitions sampled concurrently (default 4).
    pub fn with_concurrency(mut self, partitions: usize) -> Self {
        self.concurrency = partitions.max(1);
        self
    }

    fn unavailable(&self, e: impl Into<BoxError>) -> TopicAdminError {
        TopicAdminError::Unavailable {
            cluster: self.cluster,
            source: e.into(),
        }
    }

    fn rejected(&self, topic: &str, what: &str, reason: impl ToString) -> TopicAdminError {
        TopicAdminError::Rejected {
            cluster: self.cluster,
            topic: topic.to_string(),
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Brokers and per-topic metadata (`topic = None`: all topics).
    async fn metadata(
        &self,
        topic: Option<&str>,
    ) -> Result<(i32, HashMap<String, TopicMeta>), TopicAdminError> {
        let consumer = metadata_consumer(&self.conn).map_err(|e| self.unavailable(e))?;
        let topic = topic.map(str::to_owned);
        let result = tokio::task::spawn_blocking(move || {
            crate::auth::serve_events(&consumer);
            let md = consumer.fetch_metadata(topic.as_deref(), ADMIN_TIMEOUT)?;
            let brokers = i32::try_from(md.brokers().len()).unwrap_or(i32::MAX);
            let topics = md
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                .map(|t| {
                    let ps = t.partitions();
                    let meta = TopicMeta {
                        partitions: i32::try_from(ps.len()).unwrap_or(i32::MAX),
                        replication_factor: ps
                            .iter()
                            .find(|p| p.id() == 0)
                            .map_or(0, |p| i32::try_from(p.replicas().len()).unwrap_or(0)),
                        ready: ps.iter().all(|p| p.error().is_none() && p.leader() >= 0),
                    };
                    (t.name().to_owned(), meta)
                })
                .collect();
            Ok::<_, KafkaError>((brokers, topics))
        })
        .await
        .map_err(|e| self.unavailable(e))?;
        result.map_err(|e| self.unavailable(e))
    }

    /// Config entries of each of `names` (which must exist).
    async fn configs(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, ConfigValue>>, TopicAdminError> {
        if names.is_empty() {
            return Ok(HashMap::new());
        }
        let admin = admin_client(&self.conn).map_err(|e| self.unavailable(e))?;
        let specs: Vec<ResourceSpecifier<'_>> = names
            .iter()
            .map(|n| ResourceSpecifier::Topic(n.as_str()))
            .collect();
        let results = admin
            .describe_configs(&specs, &options())
            .await
            .map_err(|e| self.unavailable(e))?;
        let mut out = HashMap::new();
        for (name, result) in names.iter().zip(results) {
            let resource = match result {
                Ok(r) => r,
                Err(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                    continue
                }
                Err(code) => {
                    return Err(self.unavailable(AdminError::Kafka {
                        what: format!("describe configs of topic {name:?}"),
                        source: KafkaError::AdminOp(code),
                    }))
                }
            };
            let entries = resource
                .entries
                .into_iter()
                .map(|e| {
                    let source = match e.source {
                        RdConfigSource::DynamicTopic => ConfigSource::Topic,
                        RdConfigSource::DynamicBroker
                        | RdConfigSource::DynamicDefaultBroker
                        | RdConfigSource::StaticBroker => ConfigSource::Broker,
                        RdConfigSource::Default | RdConfigSource::Unknown => ConfigSource::Default,
                    };
                    let value = ConfigValue {
                        value: e.value,
                        source,
                        read_only: e.is_read_only,
                        sensitive: e.is_sensitive,
                    };
                    (e.name, value)
                })
                .collect();
            out.insert(name.clone(), entries);
        }
        Ok(out)
    }

    async fn describe(&self, names: &[String]) -> Result<Vec<TopicDescription>, TopicAdminError> {
        let (_, meta) = self.metadata(None).await?;
        let existing: Vec<String> = names
            .iter()
            .filter(|n| meta.contains_key(n.as_str()))
            .cloned()
            .collect();
        let mut configs = self.configs(&existing).await?;
        Ok(existing
            .into_iter()
            .filter_map(|name| {
                let m = meta[&name];
                let configs = configs.remove(&name)?;
                Some(TopicDescription {
                    name,
                    partitions: m.partitions,
                    replication_factor: m.replication_factor,
                    configs,
                })
            })
            .collect())
    }

    /// Waits until `topic` has at least `partitions` partitions, all with a leader.
    async fn wait_ready(&self, topic: &str, partitions: i32) -> Result<(), TopicAdminError> {
        let start = Instant::now();
        loop {
            let (_, meta) = self.metadata(Some(topic)).await?;
            if meta
                .get(topic)
                .is_some_and(|m| m.ready && m.partitions >= partitions)
            {
                return Ok(());
            }
            if start.elapsed() > PROPAGATION_TIMEOUT {
                return Err(self.unavailable(AdminError::Timeout {
                    what: format!("topic {topic:?} showing {partitions} partitions with leaders"),
                    timeout: PROPAGATION_TIMEOUT,
                }));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn partition_stats(&self, tp: TopicPartition) -> Result<PartitionStats, TopicAdminError> {
        let (low, high) = crate::reader::watermarks(&self.conn, &tp)
            .await
            .map_err(|e| self.unavailable(e))?;
        let mut stats = PartitionStats {
            records: u64::try_from(high - low).unwrap_or(0),
            ..PartitionStats::default()
        };
        if high <= low {
            return Ok(stats);
        }
        let head_end = (low + self.sample).min(high);
        let mut ranges = vec![(low, head_end)];
        if high - self.sample > head_end {
            ranges.push((high - self.sample, high));
        }
        let opts = ReadOptions {
            isolation: Isolation::ReadUncommitted,
            timeout: self.read_timeout,
            stop_at_end: true,
            eager_connections: false,
        };
        for (from, to) in ranges {
            stats = scan_partition(&self.conn, &tp, from, Some(to), &opts, stats, |s, r| {
                if r.timestamp >= 0 {
                    s.oldest = Some(s.oldest.map_or(r.timestamp, |o| o.min(r.timestamp)));
                }
                let size = u64::try_from(r.payload_bytes() + 21 + r.headers.len() * 10)
                    .unwrap_or(u64::MAX);
                s.sampled += 1;
                s.sampled_bytes += size;
                s.largest = s
                    .largest
                    .max(u64::try_from(r.estimated_batch_bytes()).unwrap_or(u64::MAX));
            })
            .await
            .map_err(|e| self.unavailable(e))?;
        }
        Ok(stats)
    }
}

#[derive(Debug, Default)]
struct PartitionStats {
    records: u64,
    sampled: u64,
    sampled_bytes: u64,
    largest: u64,
    oldest: Option<i64>,
}

impl PartitionStats {
    fn estimated_bytes(&self) -> u64 {
        if self.sampled == 0 {
            return 0;
        }
        let avg = self.sampled_bytes.div_ceil(self.sampled);
        self.records.saturating_mul(avg)
    }
}

/// The one body of [`SourceTopics::list_topics`] (`KafkaGroups` delegates here): every topic
/// with partitions in fresh metadata, sorted.
impl SourceTopics for KafkaTopicAdmin {
    async fn list_topics(&self) -> Result<Vec<String>, TopicAdminError> {
        let (_, meta) = self.metadata(None).await?;
        let mut names: Vec<String> = meta.into_keys().collect();
        names.sort();
        Ok(names)
    }
}

impl SourceTopicDescriber for KafkaTopicAdmin {
    async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<TopicDescription>, TopicAdminError> {
        self.describe(names).await
    }

    async fn topic_stats(
        &self,
        topic: &TopicDescription,
    ) -> Result<SourceTopicStats, TopicAdminError> {
        let parts: Vec<PartitionStats> = stream::iter(0..topic.partitions)
            .map(|p| self.partition_stats(TopicPartition::new(topic.name.clone(), p)))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        Ok(SourceTopicStats {
            topic: topic.name.clone(),
            records: parts.iter().map(|p| p.records).sum(),
            estimated_bytes: parts
                .iter()
                .map(PartitionStats::estimated_bytes)
                .fold(0, u64::saturating_add),
            largest_partition_bytes: parts
                .iter()
                .map(PartitionStats::estimated_bytes)
                .max()
                .unwrap_or(0),
            oldest_timestamp_ms: parts.iter().filter_map(|p| p.oldest).min(),
            largest_record_bytes: parts.iter().map(|p| p.largest).max().filter(|l| *l > 0),
        })
    }
}

impl TargetTopicAdmin for KafkaTopicAdmin {
    async fn broker_count(&self) -> Result<i32, TopicAdminError> {
        Ok(self.metadata(None).await?.0)
    }

    async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<TopicDescription>, TopicAdminError> {
        self.describe(names).await
    }

    async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        let admin = admin_client(&self.conn).map_err(|e| self.unavailable(e))?;
        let mut new = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(replication_factor),
        );
        for (k, v) in configs {
            new = new.set(k, v);
        }
        let results = admin
            .create_topics([&new], &options())
            .await
            .map_err(|e| self.unavailable(kafka(format!("create topic {topic:?}"))(e)))?;
        for result in results {
            match result {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    let (_, meta) = self.metadata(Some(topic)).await?;
                    if let Some(m) = meta.get(topic) {
                        if m.partitions != partitions {
                            return Err(self.rejected(
                                topic,
                                "create topic",
                                format!("it already exists with {} partitions", m.partitions),
                            ));
                        }
                    }
                }
                Err((_, code)) => return Err(self.rejected(topic, "create topic", code)),
            }
        }
        self.wait_ready(topic, partitions).await
    }

    async fn create_partitions(&self, topic: &str, total: i32) -> Result<(), TopicAdminError> {
        let admin = admin_client(&self.conn).map_err(|e| self.unavailable(e))?;
        let count = usize::try_from(total)
            .map_err(|_| self.rejected(topic, "create partitions", "negative partition count"))?;
        let new = NewPartitions::new(topic, count);
        let results = admin
            .create_partitions([&new], &options())
            .await
            .map_err(|e| self.unavailable(kafka(format!("create partitions of {topic:?}"))(e)))?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(self.rejected(topic, "create partitions", code));
            }
        }
        self.wait_ready(topic, total).await
    }

    async fn set_configs(
        &self,
        topic: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicAdminError> {
        let names = [topic.to_string()];
        let current = self
            .configs(&names)
            .await?
            .remove(topic)
            .ok_or_else(|| self.rejected(topic, "alter configs", "unknown topic"))?;
        // Non-incremental AlterConfigs: send every explicit config, old and new.
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for (k, c) in &current {
            if c.source != ConfigSource::Topic {
                continue;
            }
            match &c.value {
                Some(v) if !c.sensitive => {
                    wanted.insert(k.clone(), v.clone());
                }
                _ if configs.contains_key(k) => {}
                _ => {
                    return Err(self.rejected(
                        topic,
                        "alter configs",
                        format!("{k} is a sensitive topic config whose value cannot be read back, so a full AlterConfigs would reset it; set the configs manually"),
                    ))
                }
            }
        }
        wanted.extend(configs.iter().map(|(k, v)| (k.clone(), v.clone())));
        let admin = admin_client(&self.conn).map_err(|e| self.unavailable(e))?;
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
        for (k, v) in &wanted {
            alter = alter.set(k, v);
        }
        let results = admin
            .alter_configs([&alter], &options())
            .await
            .map_err(|e| self.unavailable(kafka(format!("alter configs of {topic:?}"))(e)))?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(self.rejected(topic, "alter configs", code));
            }
        }
        // Wait until the new values are visible.
        let start = Instant::now();
        loop {
            let now = self
                .configs(&names)
                .await?
                .remove(topic)
                .unwrap_or_default();
            if configs
                .iter()
                .all(|(k, v)| now.get(k).and_then(|c| c.value.as_ref()) == Some(v))
            {
                return Ok(());
            }
            if start.elapsed() > PROPAGATION_TIMEOUT {
                return Err(self.unavailable(AdminError::Timeout {
                    what: format!("configs of topic {topic:?} showing the new values"),
                    timeout: PROPAGATION_TIMEOUT,
                }));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
