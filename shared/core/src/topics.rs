//! Topic provisioning, config sync and preflight checks: pure decisions over topic
//! descriptions of the source and the target cluster.
//!
//! * [`plan_topics`] compares source and target topics (through the replication policy and the
//!   topic filter) and decides what to change on the target: create missing topics, add
//!   partitions where the source grew, update drifted configs. Drift it must not fix is
//!   reported ([`Drift`]).
//! * [`check_topic`] and [`check_storage`] are the preflight checks: typed [`Finding`]s with a
//!   [`Severity`], each naming the topic and the setting.
//!
//! ## Which configs are copied
//! Only configs **explicitly set on the source topic** ([`ConfigSource::Topic`]) are copied;
//! broker defaults of the source are not (the target's own defaults apply, like MirrorMaker 2
//! with `use.defaults.from=target`). Read-only and sensitive entries are never copied. Of the
//! explicit ones, [`DEFAULT_CONFIG_EXCLUDES`] (full-match regexes, extendable with
//! [`ConfigFilter::new`]) are never copied. The list follows MirrorMaker 2's
//! `DefaultConfigPropertyFilter` (`config.properties.exclude`) and adds the newer timestamp
//! limits:
//!
//! | config | why it is not copied |
//! |---|---|
//! | `follower.replication.throttled.replicas`, `leader.replication.throttled.replicas` | replica ids of the source cluster's brokers |
//! | `message.timestamp.type` | the target must keep `CreateTime` so mirrored records keep the source timestamps (checked) |
//! | `message.timestamp.difference.max.ms`, `message.timestamp.before.max.ms`, `message.timestamp.after.max.ms` | mirrored records carry old timestamps; limits meant for live producers would reject them (checked) |
//! | `unclean.leader.election.enable`, `min.insync.replicas` | durability settings of the target cluster (MSK sets its own), not of the data |
//!
//! ## Planner invariants (proptested)
//! * Partitions are never removed: a target topic with more partitions than its source is
//!   reported as drift, never "fixed".
//! * A created topic has exactly the source's partition count and replication factor
//!   `min(source RF, target brokers)`.
//! * Excluded, read-only and sensitive configs are never copied (neither on create nor update).
//! * Only topics the filter accepts are planned.
//!
//! ## Estimates
//! Kafka's client protocol as exposed by librdkafka has no `DescribeLogDirs`, so a source
//! topic's size ([`SourceTopicStats::estimated_bytes`]) is an estimate: records (from
//! watermarks) × sampled average record size. Findings based on it say so.

use crate::policy::{ReplicationPolicy, TopicFilter};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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

/// Storage use above this share of capacity is a warning.
pub const STORAGE_WARN_RATIO: f64 = 0.70;

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

    fn int(&self, name: &str) -> Option<i64> {
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

/// Planner inputs besides the descriptions.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which source topics are mirrored.
    pub filter: TopicFilter,
    /// Which configs are copied.
    pub configs: ConfigFilter,
    /// Number of brokers of the target cluster (caps the replication factor; `<= 0`: unknown,
    /// the source's replication factor is used).
    pub target_brokers: i32,
}

/// A topic to create on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTopic {
    /// Partition count (the source's).
    pub partitions: i32,
    /// `min(source RF, target brokers)`.
    pub replication_factor: i32,
    /// Configs copied from the source.
    pub configs: BTreeMap<String, String>,
}

/// Partitions to add to a target topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionIncrease {
    /// Current count on the target.
    pub from: i32,
    /// New total (the source's count).
    pub to: i32,
}

/// A difference between source and target the planner does not fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// The setting (`partitions`, `replication.factor` or a config name).
    pub setting: String,
    /// Source value.
    pub source: Option<String>,
    /// Target value.
    pub target: Option<String>,
    /// Why it is left alone.
    pub message: String,
}

/// What to do for one mirrored topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPlan {
    /// Source topic.
    pub source: String,
    /// Target topic.
    pub target: String,
    /// Source partition count.
    pub partitions: i32,
    /// Create the target topic (it does not exist).
    pub create: Option<CreateTopic>,
    /// Add partitions (the source grew).
    pub add_partitions: Option<PartitionIncrease>,
    /// Configs to set on an existing target topic (name → source value).
    pub config_updates: BTreeMap<String, String>,
    /// Differences left alone.
    pub drift: Vec<Drift>,
}

impl TopicPlan {
    /// Whether applying the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        self.create.is_none() && self.add_partitions.is_none() && self.config_updates.is_empty()
    }

    /// The main action, for reports.
    pub fn action(&self) -> TopicAction {
        if self.create.is_some() {
            TopicAction::Created
        } else if self.add_partitions.is_some() {
            TopicAction::PartitionsAdded
        } else if !self.config_updates.is_empty() {
            TopicAction::ConfigUpdated
        } else {
            TopicAction::InSync
        }
    }
}

/// The main action taken (or planned) for a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicAction {
    /// The target topic was created.
    Created,
    /// Partitions were added (configs may also have been updated).
    PartitionsAdded,
    /// Configs were updated.
    ConfigUpdated,
    /// Nothing to do.
    InSync,
}

/// Replication factor for a new target topic: `min(source RF, target brokers)`, at least 1.
pub fn target_replication_factor(source_rf: i32, target_brokers: i32) -> i32 {
    let rf = if target_brokers > 0 {
        source_rf.min(target_brokers)
    } else {
        source_rf
    };
    rf.max(1)
}

/// Plans one source topic against its target description (`None`: missing).
pub fn plan_topic(
    source: &TopicDescription,
    target_name: &str,
    target: Option<&TopicDescription>,
    options: &PlanOptions,
) -> TopicPlan {
    let copied = options.configs.copied(source);
    let mut plan = TopicPlan {
        source: source.name.clone(),
        target: target_name.to_string(),
        partitions: source.partitions,
        create: None,
        add_partitions: None,
        config_updates: BTreeMap::new(),
        drift: Vec::new(),
    };
    let Some(target) = target else {
        plan.create = Some(CreateTopic {
            partitions: source.partitions,
            replication_factor: target_replication_factor(
                source.replication_factor,
                options.target_brokers,
            ),
            configs: copied,
        });
        return plan;
    };
    if target.partitions < source.partitions {
        plan.add_partitions = Some(PartitionIncrease {
            from: target.partitions,
            to: source.partitions,
        });
    } else if target.partitions > source.partitions {
        plan.drift.push(Drift {
            setting: "partitions".into(),
            source: Some(source.partitions.to_string()),
            target: Some(target.partitions.to_string()),
            message: format!(
                "target topic {target_name:?} has more partitions ({}) than source {:?} ({}); partitions are never removed",
                target.partitions, source.name, source.partitions
            ),
        });
    }
    let wanted_rf = target_replication_factor(source.replication_factor, options.target_brokers);
    if target.replication_factor < wanted_rf {
        plan.drift.push(Drift {
            setting: "replication.factor".into(),
            source: Some(source.replication_factor.to_string()),
            target: Some(target.replication_factor.to_string()),
            message: format!(
                "target topic {target_name:?} has replication factor {} (expected {wanted_rf}); reassign its replicas to change it",
                target.replication_factor
            ),
        });
    }
    for (name, value) in &copied {
        let current = target.config(name);
        if current == Some(value.as_str()) {
            continue;
        }
        if target.configs.get(name).is_some_and(|c| c.read_only) {
            plan.drift.push(Drift {
                setting: name.clone(),
                source: Some(value.clone()),
                target: current.map(str::to_string),
                message: format!("{name} is read-only on target topic {target_name:?}"),
            });
            continue;
        }
        plan.config_updates.insert(name.clone(), value.clone());
    }
    // Target overrides the source does not have: left alone (operators may have set them on
    // purpose), reported when the effective values differ.
    for (name, c) in &target.configs {
        if c.source != ConfigSource::Topic
            || c.sensitive
            || copied.contains_key(name)
            || !options.configs.copies(name)
        {
            continue;
        }
        let source_value = source.config(name);
        if source_value != c.value.as_deref() {
            plan.drift.push(Drift {
                setting: name.clone(),
                source: source_value.map(str::to_string),
                target: c.value.clone(),
                message: format!(
                    "target topic {target_name:?} overrides {name} = {}; the source uses {} (left as is)",
                    c.value.as_deref().unwrap_or("?"),
                    source_value.unwrap_or("its default")
                ),
            });
        }
    }
    plan
}

/// Plans every source topic the filter accepts, sorted by source name. `targets` maps target
/// topic names to their descriptions (missing topics absent).
pub fn plan_topics(
    sources: &[TopicDescription],
    targets: &BTreeMap<String, TopicDescription>,
    options: &PlanOptions,
) -> Vec<TopicPlan> {
    let mut plans: Vec<TopicPlan> = sources
        .iter()
        .filter(|s| options.filter.matches(&s.name))
        .map(|s| {
            let target_name = options.policy.target_topic(&s.name);
            let target = targets.get(&target_name);
            plan_topic(s, &target_name, target, options)
        })
        .collect();
    plans.sort_by(|a, b| a.source.cmp(&b.source));
    plans
}

/// The description the target topic has after `plan` is applied (for re-checks and dry runs).
pub fn apply_to_description(
    plan: &TopicPlan,
    target: Option<&TopicDescription>,
) -> Option<TopicDescription> {
    let mut desc = match (&plan.create, target) {
        (Some(c), _) => TopicDescription {
            name: plan.target.clone(),
            partitions: c.partitions,
            replication_factor: c.replication_factor,
            configs: c
                .configs
                .iter()
                .map(|(k, v)| (k.clone(), ConfigValue::topic(v.clone())))
                .collect(),
        },
        (None, Some(t)) => t.clone(),
        (None, None) => return None,
    };
    if let Some(inc) = plan.add_partitions {
        desc.partitions = desc.partitions.max(inc.to);
    }
    for (k, v) in &plan.config_updates {
        desc.configs
            .insert(k.clone(), ConfigValue::topic(v.clone()));
    }
    Some(desc)
}

// ---------------------------------------------------------------------------------------------
// Preflight checks
// ---------------------------------------------------------------------------------------------

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Mirroring or cutover would lose or reject data: fix before migrating.
    Error,
    /// Works, but something may go wrong or cost more.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// Which check produced a finding (stable, for tests and dashboards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The target topic does not exist.
    TargetTopicMissing,
    /// Partition counts differ.
    PartitionCount,
    /// Target `max.message.bytes` below the source's.
    MaxMessageBytes,
    /// Target `max.message.bytes` below the producer's `batch.size`.
    ProducerBatchSize,
    /// Target `message.timestamp.type` is `LogAppendTime`.
    TimestampType,
    /// A target timestamp limit would reject old records.
    TimestampLimit,
    /// Target retention would delete mirrored records.
    Retention,
    /// `cleanup.policy` differs.
    CleanupPolicy,
    /// Target replication factor below the planned one.
    ReplicationFactor,
    /// Target storage headroom.
    Storage,
    /// The target refused a planned change (create topic, add partitions, set configs).
    Provisioning,
}

/// One preflight finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Which check.
    pub check: Check,
    /// Target topic (empty for cluster-wide findings).
    pub topic: String,
    /// The setting concerned (`partitions`, a config name, `storage`).
    pub setting: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Context of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckContext {
    /// Now (epoch ms), to age the source's oldest record.
    pub now_ms: i64,
    /// The target producer's `batch.size`.
    pub producer_batch_bytes: u64,
}

/// Checks one mirrored topic: `source` against the target topic `target_name` (`None`:
/// missing), with the source's data `stats` if known.
pub fn check_topic(
    source: &TopicDescription,
    target_name: &str,
    target: Option<&TopicDescription>,
    stats: Option<&SourceTopicStats>,
    ctx: &CheckContext,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, check, setting: &str, message: String| {
        out.push(Finding {
            severity,
            check,
            topic: target_name.to_string(),
            setting: setting.to_string(),
            message,
        });
    };
    let Some(target) = target else {
        push(
            Severity::Error,
            Check::TargetTopicMissing,
            "topic",
            format!(
                "target topic {target_name:?} (for source {:?}) does not exist; preflight creates it with {} partitions",
                source.name, source.partitions
            ),
        );
        return out;
    };
    if target.partitions != source.partitions {
        let what = if target.partitions < source.partitions {
            "fewer"
        } else {
            "more"
        };
        push(
            Severity::Error,
            Check::PartitionCount,
            "partitions",
            format!(
                "target topic {target_name:?} has {what} partitions ({}) than source {:?} ({}); Ferry mirrors partition n to partition n and keyed producers need the same count",
                target.partitions, source.name, source.partitions
            ),
        );
    }
    let (src_max, tgt_max) = (source.max_message_bytes(), target.max_message_bytes());
    let largest = stats.and_then(|s| s.largest_record_bytes).unwrap_or(0);
    if tgt_max < src_max {
        push(
            Severity::Error,
            Check::MaxMessageBytes,
            "max.message.bytes",
            format!(
                "target topic {target_name:?} max.message.bytes = {tgt_max} is smaller than the source's {src_max}: records the source accepted can be rejected"
            ),
        );
    } else if largest > tgt_max {
        push(
            Severity::Error,
            Check::MaxMessageBytes,
            "max.message.bytes",
            format!(
                "target topic {target_name:?} max.message.bytes = {tgt_max} is smaller than a sampled source record (~{largest} bytes)"
            ),
        );
    }
    if tgt_max < ctx.producer_batch_bytes {
        push(
            Severity::Warning,
            Check::ProducerBatchSize,
            "max.message.bytes",
            format!(
                "target topic {target_name:?} max.message.bytes = {tgt_max} is below the mirror producer's batch.size = {}: librdkafka does not split rejected batches, so batches of records that each fit can fail with MESSAGE_TOO_LARGE; raise max.message.bytes or lower the producer batch size",
                ctx.producer_batch_bytes
            ),
        );
    }
    if target
        .config("message.timestamp.type")
        .is_some_and(|t| t.eq_ignore_ascii_case("LogAppendTime"))
    {
        push(
            Severity::Error,
            Check::TimestampType,
            "message.timestamp.type",
            format!(
                "target topic {target_name:?} has message.timestamp.type = LogAppendTime: the broker overwrites the source timestamps of mirrored records; set CreateTime"
            ),
        );
    }
    let oldest_age = stats
        .and_then(|s| s.oldest_timestamp_ms)
        .filter(|t| *t >= 0)
        .map(|t| ctx.now_ms.saturating_sub(t).max(0));
    if let Some(age) = oldest_age {
        for name in [
            "message.timestamp.before.max.ms",
            "message.timestamp.difference.max.ms",
        ] {
            if let Some(limit) = target.int(name) {
                if limit >= 0 && limit < age {
                    push(
                        Severity::Error,
                        Check::TimestampLimit,
                        name,
                        format!(
                            "target topic {target_name:?} {name} = {limit} but the source's oldest record is about {age} ms old: the target would reject it; raise {name} (e.g. to 9223372036854775807) for the migration"
                        ),
                    );
                }
            }
        }
        if target.deletes() {
            if let Some(retention) = target.retention_ms() {
                if retention < age {
                    push(
                        Severity::Error,
                        Check::Retention,
                        "retention.ms",
                        format!(
                            "target topic {target_name:?} retention.ms = {retention} but the source's oldest record is about {age} ms old: records older than the target retention are deleted right after they are mirrored"
                        ),
                    );
                }
            }
        }
    }
    if target.deletes() {
        if let (Some(limit), Some(stats)) = (target.retention_bytes(), stats) {
            let needed = i64::try_from(stats.largest_partition_bytes).unwrap_or(i64::MAX);
            if limit < needed {
                push(
                    Severity::Error,
                    Check::Retention,
                    "retention.bytes",
                    format!(
                        "target topic {target_name:?} retention.bytes = {limit} per partition but the source's largest partition holds about {needed} bytes (estimate): the oldest mirrored records would be deleted"
                    ),
                );
            }
        }
    }
    let (src_cp, tgt_cp) = (source.cleanup_policy(), target.cleanup_policy());
    if src_cp != tgt_cp {
        push(
            Severity::Error,
            Check::CleanupPolicy,
            "cleanup.policy",
            format!(
                "target topic {target_name:?} cleanup.policy = {} differs from the source's {}",
                tgt_cp.join(","),
                src_cp.join(",")
            ),
        );
    }
    out
}

/// Target storage: capacity and current use, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInfo {
    /// Total broker storage of the cluster in bytes (all brokers).
    pub capacity_bytes: u64,
    /// Bytes in use now, if known.
    pub used_bytes: Option<u64>,
}

/// Bytes the mirrored data will take on the target: each topic's estimated size × the
/// replication factor it has (or will have) on the target.
pub fn storage_needed<'a>(topics: impl IntoIterator<Item = (&'a SourceTopicStats, i32)>) -> u64 {
    topics
        .into_iter()
        .map(|(s, rf)| {
            s.estimated_bytes
                .saturating_mul(u64::try_from(rf.max(1)).unwrap_or(1))
        })
        .fold(0, u64::saturating_add)
}

/// Storage headroom: `needed` (from [`storage_needed`]) plus current use against capacity.
/// Above [`STORAGE_WARN_RATIO`] a warning, above capacity an error. Unknown capacity: no finding.
pub fn check_storage(needed: u64, storage: Option<&StorageInfo>) -> Vec<Finding> {
    let Some(storage) = storage.filter(|s| s.capacity_bytes > 0) else {
        return Vec::new();
    };
    let projected = needed.saturating_add(storage.used_bytes.unwrap_or(0));
    #[allow(clippy::cast_precision_loss)]
    let ratio = projected as f64 / storage.capacity_bytes as f64;
    let severity = if ratio > 1.0 {
        Severity::Error
    } else if ratio > STORAGE_WARN_RATIO {
        Severity::Warning
    } else {
        return Vec::new();
    };
    vec![Finding {
        severity,
        check: Check::Storage,
        topic: String::new(),
        setting: "storage".into(),
        message: format!(
            "target storage would be {:.0}% full: about {projected} bytes (estimated source size × replication factor, plus {} bytes in use) of {} bytes capacity; scale storage before migrating (MSK storage scaling has a cool-down of several hours between increases, so scale early)",
            ratio * 100.0,
            storage.used_bytes.unwrap_or(0),
            storage.capacity_bytes
        ),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn desc(name: &str, partitions: i32, rf: i32, configs: &[(&str, &str)]) -> TopicDescription {
        TopicDescription::with_broker_defaults(name, partitions, rf, configs)
    }

    fn opts(brokers: i32) -> PlanOptions {
        PlanOptions {
            target_brokers: brokers,
            ..PlanOptions::default()
        }
    }

    const CTX: CheckContext = CheckContext {
        now_ms: 1_000_000_000_000,
        producer_batch_bytes: 1_000_000,
    };

    #[test]
    fn creates_missing_topics_with_copied_configs() {
        let s = desc(
            "orders",
            6,
            3,
            &[
                ("cleanup.policy", "compact"),
                ("min.insync.replicas", "2"),
                ("message.timestamp.type", "LogAppendTime"),
                ("retention.ms", "1000"),
            ],
        );
        let plans = plan_topics(&[s], &BTreeMap::new(), &opts(2));
        assert_eq!(plans.len(), 1);
        let c = plans[0].create.as_ref().unwrap();
        assert_eq!(c.partitions, 6);
        assert_eq!(c.replication_factor, 2);
        assert_eq!(
            c.configs.keys().collect::<Vec<_>>(),
            ["cleanup.policy", "retention.ms"]
        );
        assert_eq!(plans[0].action(), TopicAction::Created);
    }

    #[test]
    fn adds_partitions_updates_configs_reports_drift() {
        let s = desc("a", 4, 1, &[("retention.ms", "5000")]);
        let t = desc("a", 2, 1, &[("segment.ms", "100")]);
        let targets = BTreeMap::from([("a".to_string(), t)]);
        let p = &plan_topics(&[s], &targets, &opts(1))[0];
        assert_eq!(p.add_partitions, Some(PartitionIncrease { from: 2, to: 4 }));
        assert_eq!(p.config_updates["retention.ms"], "5000");
        assert_eq!(p.drift.len(), 1);
        assert_eq!(p.drift[0].setting, "segment.ms");
        assert_eq!(p.action(), TopicAction::PartitionsAdded);

        let s = desc("a", 2, 1, &[]);
        let t = desc("a", 3, 1, &[]);
        let targets = BTreeMap::from([("a".to_string(), t)]);
        let p = &plan_topics(&[s], &targets, &opts(1))[0];
        assert!(p.is_noop());
        assert_eq!(p.drift[0].setting, "partitions");
        assert_eq!(p.action(), TopicAction::InSync);
    }

    #[test]
    fn policy_and_filter_apply() {
        let options = PlanOptions {
            policy: ReplicationPolicy::parse("prefix:src").unwrap(),
            filter: TopicFilter::from_lists("keep.*", "").unwrap(),
            ..opts(3)
        };
        let plans = plan_topics(
            &[
                desc("keep-1", 1, 1, &[]),
                desc("drop", 1, 1, &[]),
                desc("__consumer_offsets", 50, 1, &[]),
            ],
            &BTreeMap::new(),
            &options,
        );
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].target, "src.keep-1");
    }

    fn checks(f: &[Finding]) -> Vec<(Severity, Check, &str)> {
        f.iter()
            .map(|f| (f.severity, f.check, f.setting.as_str()))
            .collect()
    }

    #[test]
    fn checks_find_dangerous_target_settings() {
        let s = desc("t", 3, 1, &[("max.message.bytes", "2000000")]);
        assert_eq!(
            checks(&check_topic(&s, "t", None, None, &CTX)),
            [(Severity::Error, Check::TargetTopicMissing, "topic")]
        );
        let t = desc(
            "t",
            2,
            1,
            &[
                ("max.message.bytes", "500000"),
                ("message.timestamp.type", "LogAppendTime"),
                ("message.timestamp.before.max.ms", "3600000"),
                ("retention.ms", "86400000"),
                ("retention.bytes", "1000"),
                ("cleanup.policy", "compact,delete"),
            ],
        );
        let stats = SourceTopicStats {
            topic: "t".into(),
            records: 10,
            estimated_bytes: 30_000,
            largest_partition_bytes: 10_000,
            oldest_timestamp_ms: Some(CTX.now_ms - 2 * 86_400_000),
            largest_record_bytes: Some(100),
        };
        let f = check_topic(&s, "t", Some(&t), Some(&stats), &CTX);
        let c = checks(&f);
        for expected in [
            (Severity::Error, Check::PartitionCount, "partitions"),
            (Severity::Error, Check::MaxMessageBytes, "max.message.bytes"),
            (
                Severity::Warning,
                Check::ProducerBatchSize,
                "max.message.bytes",
            ),
            (
                Severity::Error,
                Check::TimestampType,
                "message.timestamp.type",
            ),
            (
                Severity::Error,
                Check::TimestampLimit,
                "message.timestamp.before.max.ms",
            ),
            (Severity::Error, Check::Retention, "retention.ms"),
            (Severity::Error, Check::Retention, "retention.bytes"),
            (Severity::Error, Check::CleanupPolicy, "cleanup.policy"),
        ] {
            assert!(c.contains(&expected), "{expected:?} missing in {c:?}");
        }
        assert!(f.iter().all(|f| f.topic == "t"));

        // Same settings on both sides, young data: clean.
        let t = desc("t", 3, 1, &[("max.message.bytes", "2000000")]);
        let young = SourceTopicStats {
            oldest_timestamp_ms: Some(CTX.now_ms - 1000),
            ..stats
        };
        assert!(check_topic(&s, "t", Some(&t), Some(&young), &CTX).is_empty());
    }

    #[test]
    fn storage_thresholds() {
        let s = SourceTopicStats {
            estimated_bytes: 100,
            ..SourceTopicStats::default()
        };
        let needed = storage_needed([(&s, 3)]);
        assert_eq!(needed, 300);
        let cap = |c, u| StorageInfo {
            capacity_bytes: c,
            used_bytes: u,
        };
        assert!(check_storage(needed, None).is_empty());
        assert!(check_storage(needed, Some(&cap(1000, Some(100)))).is_empty());
        assert_eq!(
            check_storage(needed, Some(&cap(1000, Some(500))))[0].severity,
            Severity::Warning
        );
        let e = &check_storage(needed, Some(&cap(250, None)))[0];
        assert_eq!(e.severity, Severity::Error);
        assert!(e.message.contains("cool-down"));
    }

    #[test]
    fn applied_plan_has_no_partition_or_config_findings() {
        let s = desc("a", 5, 1, &[("retention.ms", "-1")]);
        let t = desc("a", 2, 1, &[("retention.ms", "10")]);
        let p = plan_topic(&s, "a", Some(&t), &opts(1));
        let after = apply_to_description(&p, Some(&t)).unwrap();
        assert!(plan_topic(&s, "a", Some(&after), &opts(1)).is_noop());
    }

    fn arb_configs() -> impl Strategy<Value = BTreeMap<String, ConfigValue>> {
        let names = prop::sample::select(vec![
            "retention.ms",
            "cleanup.policy",
            "max.message.bytes",
            "min.insync.replicas",
            "message.timestamp.type",
            "message.timestamp.difference.max.ms",
            "unclean.leader.election.enable",
            "leader.replication.throttled.replicas",
            "segment.bytes",
        ]);
        let source = prop::sample::select(vec![
            ConfigSource::Topic,
            ConfigSource::Broker,
            ConfigSource::Default,
        ]);
        prop::collection::btree_map(
            names.prop_map(String::from),
            (source, "[a-z0-9]{1,4}", any::<bool>()).prop_map(|(source, v, ro)| ConfigValue {
                value: Some(v),
                source,
                read_only: ro,
                sensitive: false,
            }),
            0..9,
        )
    }

    fn arb_topic() -> impl Strategy<Value = TopicDescription> {
        (1..20i32, 1..4i32, arb_configs()).prop_map(|(partitions, rf, configs)| TopicDescription {
            name: "t".into(),
            partitions,
            replication_factor: rf,
            configs,
        })
    }

    proptest! {
        #[test]
        fn planner_invariants(
            source in arb_topic(),
            target in prop::option::of(arb_topic()),
            brokers in 0..5i32,
        ) {
            let options = opts(brokers);
            let p = plan_topic(&source, "t", target.as_ref(), &options);
            let filter = ConfigFilter::default();
            let mut written: Vec<&String> = p.config_updates.keys().collect();
            if let Some(c) = &p.create {
                prop_assert!(target.is_none());
                prop_assert_eq!(c.partitions, source.partitions);
                prop_assert!(c.replication_factor >= 1 && c.replication_factor <= source.replication_factor);
                if brokers > 0 { prop_assert!(c.replication_factor <= brokers); }
                written.extend(c.configs.keys());
            }
            for name in written {
                prop_assert!(filter.copies(name), "excluded config {} copied", name);
                let c = &source.configs[name];
                prop_assert!(c.source == ConfigSource::Topic && !c.read_only);
            }
            if let Some(t) = &target {
                prop_assert!(p.create.is_none());
                if let Some(inc) = p.add_partitions {
                    prop_assert!(inc.to > inc.from && inc.from == t.partitions && inc.to == source.partitions);
                }
                let after = apply_to_description(&p, Some(t)).unwrap();
                prop_assert!(after.partitions >= t.partitions, "partitions removed");
                prop_assert_eq!(after.partitions, t.partitions.max(source.partitions));
                for (k, v) in &p.config_updates {
                    prop_assert!(!t.configs.get(k).is_some_and(|c| c.read_only));
                    prop_assert_eq!(Some(v.as_str()), source.config(k));
                }
            }
        }
    }
}
