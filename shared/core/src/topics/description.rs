//! What Ferry knows about a topic on either cluster: its description (partitions, replication
//! factor, configs with their source), the source topic's size statistics, and which configs
//! are copied to the target ([`ConfigFilter`], [`DEFAULT_CONFIG_EXCLUDES`]; see the
//! [`crate::topics`] docs).

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Configs never copied from source to target (full-match regexes). See the module doc.
pub const DEFAULT_CONFIG_EXCLUDES: &[&str] = &[
    r"follower\.replication\.throttled\.replicas",
    r"leader\.replication\.throttled\.replicas",
    r"message\.timestamp\.difference\.max\.ms",
    r"message\.timestamp\.before\.max\.ms",
    r"message\.timestamp\.after\.max\.ms",
    r"message\.timestamp\.type",
    r"unclean\.leader\.election\.enable",
    r"min\.insync\.replicas",
];

/// Kafka's default `max.message.bytes` (used when a description lacks the entry).
pub const KAFKA_DEFAULT_MAX_MESSAGE_BYTES: u64 = 1_048_588;
/// Kafka's default `retention.ms` (7 days).
pub const KAFKA_DEFAULT_RETENTION_MS: i64 = 604_800_000;

/// Where a config value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    /// Explicitly set on the topic (a dynamic topic config).
    Topic,
    /// A broker-level setting (static or dynamic) the topic inherits.
    Broker,
    /// Kafka's built-in default (or unknown).
    Default,
}

/// One config entry of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// Effective value (`None` for sensitive or unset values).
    pub value: Option<String>,
    /// Where it comes from.
    pub source: ConfigSource,
    /// The broker refuses to change it.
    #[serde(default)]
    pub read_only: bool,
    /// A secret; never copied or shown.
    #[serde(default)]
    pub sensitive: bool,
}

impl ConfigValue {
    /// An explicitly set topic config.
    pub fn topic(value: impl Into<String>) -> Self {
        Self {
            value: Some(value.into()),
            source: ConfigSource::Topic,
            read_only: false,
            sensitive: false,
        }
    }

    /// A default (inherited) value.
    pub fn default_value(value: impl Into<String>) -> Self {
        Self {
            value: Some(value.into()),
            source: ConfigSource::Default,
            read_only: false,
            sensitive: false,
        }
    }
}

/// A topic as an admin client describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor (replicas of partition 0).
    pub replication_factor: i32,
    /// Config entries (effective values with their source).
    pub configs: BTreeMap<String, ConfigValue>,
}

impl TopicDescription {
    /// A description as a stock broker would give it: `max.message.bytes` 1048588,
    /// `cleanup.policy` delete, `retention.ms` 7 days and `message.timestamp.type` CreateTime as
    /// broker defaults, plus `explicit` set on the topic. For fakes and tests.
    pub fn with_broker_defaults(
        name: &str,
        partitions: i32,
        replication_factor: i32,
        explicit: &[(&str, &str)],
    ) -> Self {
        let mut configs: BTreeMap<String, ConfigValue> = [
            ("max.message.bytes", "1048588"),
            ("cleanup.policy", "delete"),
            ("retention.ms", "604800000"),
            ("message.timestamp.type", "CreateTime"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), ConfigValue::default_value(*v)))
        .collect();
        for (k, v) in explicit {
            configs.insert(k.to_string(), ConfigValue::topic(*v));
        }
        Self {
            name: name.into(),
            partitions,
            replication_factor,
            configs,
        }
    }

    /// The effective value of `name`, if described.
    pub fn config(&self, name: &str) -> Option<&str> {
        self.configs.get(name).and_then(|c| c.value.as_deref())
    }

    /// Whether `name` is explicitly set on the topic.
    pub fn is_explicit(&self, name: &str) -> bool {
        self.configs
            .get(name)
            .is_some_and(|c| c.source == ConfigSource::Topic)
    }

    /// A config's value as an integer, if set and numeric.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        self.config(name).and_then(|v| v.trim().parse().ok())
    }

    /// Effective `max.message.bytes` (Kafka's default if not described).
    pub fn max_message_bytes(&self) -> u64 {
        self.int("max.message.bytes")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(KAFKA_DEFAULT_MAX_MESSAGE_BYTES)
    }

    /// Effective `cleanup.policy` as a sorted set (`delete` if not described).
    pub fn cleanup_policy(&self) -> Vec<String> {
        let mut set: Vec<String> = self
            .config("cleanup.policy")
            .unwrap_or("delete")
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        set.sort();
        set.dedup();
        set
    }

    /// Whether time/size retention deletes old segments (`cleanup.policy` contains `delete`).
    pub fn deletes(&self) -> bool {
        self.cleanup_policy().iter().any(|p| p == "delete")
    }

    /// Effective `retention.ms`; `None` means unlimited (`-1`).
    pub fn retention_ms(&self) -> Option<i64> {
        let v = self
            .int("retention.ms")
            .unwrap_or(KAFKA_DEFAULT_RETENTION_MS);
        (v >= 0).then_some(v)
    }

    /// Effective `retention.bytes` (per partition); `None` means unlimited (`-1`).
    pub fn retention_bytes(&self) -> Option<i64> {
        self.int("retention.bytes").filter(|v| *v >= 0)
    }
}

/// What the source's data looks like (for limits and storage). Sizes are estimates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTopicStats {
    /// Topic.
    pub topic: String,
    /// Records between the watermarks, summed over partitions (an upper bound for compacted or
    /// transactional topics).
    pub records: u64,
    /// Estimated size of one replica of the topic in bytes.
    pub estimated_bytes: u64,
    /// Estimated size of its largest partition in bytes (for `retention.bytes`).
    pub largest_partition_bytes: u64,
    /// Timestamp (epoch ms) of the oldest record sampled (the first record of each partition).
    pub oldest_timestamp_ms: Option<i64>,
    /// Largest record seen in the sample (estimated batch bytes).
    pub largest_record_bytes: Option<u64>,
}

/// Which configs are copied from source to target.
#[derive(Debug, Clone)]
pub struct ConfigFilter {
    exclude: Vec<Regex>,
}

impl ConfigFilter {
    /// [`DEFAULT_CONFIG_EXCLUDES`] plus `extra` (full-match regexes).
    pub fn new(extra: &[String]) -> Result<Self, crate::policy::PolicyError> {
        let exclude = DEFAULT_CONFIG_EXCLUDES
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .map(|p| {
                Regex::new(&format!("^(?:{p})$")).map_err(|source| {
                    crate::policy::PolicyError::BadPattern {
                        pattern: p.to_string(),
                        source,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { exclude })
    }

    /// Whether a config named `name` may be copied at all.
    pub fn copies(&self, name: &str) -> bool {
        !self.exclude.iter().any(|r| r.is_match(name))
    }

    /// The configs of `source` to copy: explicit, writable, not sensitive, not excluded.
    pub fn copied(&self, source: &TopicDescription) -> BTreeMap<String, String> {
        source
            .configs
            .iter()
            .filter(|(name, c)| {
                c.source == ConfigSource::Topic && !c.read_only && !c.sensitive && self.copies(name)
            })
            .filter_map(|(name, c)| Some((name.clone(), c.value.clone()?)))
            .collect()
    }
}

impl Default for ConfigFilter {
    fn default() -> Self {
        Self::new(&[]).expect("default config excludes are valid")
    }
}
