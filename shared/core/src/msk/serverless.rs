//! A planned migration checked against an MSK Serverless target's limits
//! ([`check_serverless`]), as preflight [`Finding`]s.
//!
//! ## The limits and where they come from
//! [`ServerlessLimits::default`] holds AWS's documented values (Amazon MSK Developer Guide);
//! the quotas can be raised by AWS Support, so callers may pass other values.
//!
//! | limit | value | source |
//! |---|---|---|
//! | client authentication | IAM only | "What is MSK Serverless?" (`serverless.html`: IAM access control for authentication and authorization); the API model agrees: `ServerlessClientAuthentication` has `Sasl.Iam` and nothing else |
//! | `max.message.bytes` | ≤ 8,388,608 (8 MiB), default 1,048,588 | "Configuration properties for MSK Serverless clusters" (`serverless-config.html`); "MSK Serverless quota": maximum message size 8 MiB |
//! | `retention.ms` | default 7 days, unlimited (`-1`) allowed | `serverless-config.html` |
//! | `retention.bytes` | default 250 GiB per partition, unlimited (`-1`) allowed | `serverless-config.html` |
//! | topic configs | only `cleanup.policy` (at creation only), `compression.type`, `max.message.bytes`, `message.timestamp.difference.max.ms`, `message.timestamp.type`, `retention.bytes`, `retention.ms` are settable; "all other topic-level configuration properties are not configurable" | `serverless-config.html` |
//! | partitions per cluster | 2,400 leader partitions of non-compacted topics, 120 of compacted topics | "MSK Serverless quota" (`limits.html#serverless-quota`; MSK Replicator's Serverless page also counts "compacted partitions" separately). The 2022 edition of the guide listed 120 partitions in total: pass lower values if your account's quota is lower |
//!
//! Not checked (no input for them here): ingress 200 MiB/s per cluster and 5 MiB/s per
//! partition, egress 400 / 10 MiB/s, client connections, consumer groups (500) and the rate of
//! partition creation.

use super::facts::MskAuth;
use crate::topics::{Check, ConfigFilter, Finding, Severity, SourceTopicStats, TopicDescription};

/// Topic configs MSK Serverless lets clients set (`serverless-config.html`).
pub const SERVERLESS_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "max.message.bytes",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "retention.bytes",
    "retention.ms",
];

/// The MSK Serverless limits [`check_serverless`] applies (see the module doc for sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerlessLimits {
    /// Leader partitions of non-compacted topics per cluster.
    pub max_partitions: u64,
    /// Leader partitions of compacted topics per cluster.
    pub max_compacted_partitions: u64,
    /// Largest `max.message.bytes` a topic may have.
    pub max_message_bytes: u64,
    /// `retention.bytes` of a topic that does not set it (per partition).
    pub default_retention_bytes: u64,
}

impl Default for ServerlessLimits {
    fn default() -> Self {
        Self {
            max_partitions: 2_400,
            max_compacted_partitions: 120,
            max_message_bytes: 8 * 1024 * 1024,
            default_retention_bytes: 250 * super::GIB,
        }
    }
}

/// One source topic the migration mirrors, as [`check_serverless`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct PlannedTopic<'a> {
    /// Target topic name.
    pub target_name: &'a str,
    /// The source topic.
    pub source: &'a TopicDescription,
    /// The source's data, if measured.
    pub stats: Option<&'a SourceTopicStats>,
    /// The target topic, if it exists already.
    pub target: Option<&'a TopicDescription>,
}

/// Checks a migration onto an MSK Serverless target: `target_auth` (how Ferry will connect),
/// the mirrored `topics`, and `other_target_topics` (target topics outside the migration, which
/// count against the partition quota). Configs are copied through `configs` as the
/// provisioning does. Findings are cluster-wide (empty topic) or per target topic.
pub fn check_serverless(
    target_auth: MskAuth,
    topics: &[PlannedTopic<'_>],
    other_target_topics: &[TopicDescription],
    configs: &ConfigFilter,
    limits: &ServerlessLimits,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if target_auth != MskAuth::Iam {
        out.push(finding(
            Severity::Error,
            Check::ServerlessAuth,
            "",
            "security",
            format!(
                "the target is MSK Serverless, which accepts IAM authentication only, but Ferry is configured to connect with {target_auth}; use msk-iam"
            ),
        ));
    }
    out.extend(check_partitions(topics, other_target_topics, limits));
    for topic in topics {
        out.extend(check_topic_limits(topic, configs, limits));
    }
    out
}

fn finding(
    severity: Severity,
    check: Check,
    topic: &str,
    setting: &str,
    message: String,
) -> Finding {
    Finding {
        severity,
        check,
        topic: topic.to_string(),
        setting: setting.to_string(),
        message,
    }
}

fn compacted(topic: &TopicDescription) -> bool {
    topic.cleanup_policy().iter().any(|p| p == "compact")
}

fn partitions(topic: &TopicDescription) -> u64 {
    u64::try_from(topic.partitions.max(0)).unwrap_or(0)
}

/// Leader partitions after the migration: each mirrored topic with the larger of its source
/// and (existing) target partition count, compacted when the source is (the target is
/// created with the source's `cleanup.policy`), plus every other target topic.
fn check_partitions(
    topics: &[PlannedTopic<'_>],
    other_target_topics: &[TopicDescription],
    limits: &ServerlessLimits,
) -> Vec<Finding> {
    let (mut plain, mut compact) = (0u64, 0u64);
    for t in topics {
        let n = partitions(t.source).max(t.target.map_or(0, partitions));
        let is_compacted = t.target.map_or_else(|| compacted(t.source), compacted);
        *if is_compacted {
            &mut compact
        } else {
            &mut plain
        } += n;
    }
    let planned: std::collections::HashSet<&str> = topics.iter().map(|t| t.target_name).collect();
    for t in other_target_topics
        .iter()
        .filter(|t| !planned.contains(t.name.as_str()))
    {
        *if compacted(t) {
            &mut compact
        } else {
            &mut plain
        } += partitions(t);
    }
    let mut out = Vec::new();
    for (count, limit, what) in [
        (plain, limits.max_partitions, "non-compacted"),
        (compact, limits.max_compacted_partitions, "compacted"),
    ] {
        if count > limit {
            out.push(finding(
                Severity::Error,
                Check::ServerlessPartitions,
                "",
                "partitions",
                format!(
                    "the MSK Serverless target would hold {count} partitions of {what} topics, above its quota of {limit}; mirror fewer topics, or ask AWS for a higher quota"
                ),
            ));
        }
    }
    out
}

fn check_topic_limits(
    t: &PlannedTopic<'_>,
    configs: &ConfigFilter,
    limits: &ServerlessLimits,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = t.target_name;
    let max = limits.max_message_bytes;
    let src_max = t.source.max_message_bytes();
    if src_max > max {
        let largest = t.stats.and_then(|s| s.largest_record_bytes);
        let (severity, detail) = match largest {
            Some(l) if l > max => (
                Severity::Error,
                format!("a sampled source record has ~{l} bytes"),
            ),
            Some(l) => (
                Severity::Warning,
                format!("the largest sampled record has ~{l} bytes"),
            ),
            None => (Severity::Warning, "records were not sampled".to_string()),
        };
        out.push(finding(
            severity,
            Check::MaxMessageBytes,
            name,
            "max.message.bytes",
            format!(
                "source topic {:?} accepts records up to max.message.bytes = {src_max}, but MSK Serverless allows at most {max}; larger records cannot be mirrored ({detail})",
                t.source.name
            ),
        ));
    }
    let copied = configs.copied(t.source);
    let refused: Vec<&str> = copied
        .keys()
        .map(String::as_str)
        .filter(|k| !SERVERLESS_TOPIC_CONFIGS.contains(k))
        .collect();
    if !refused.is_empty() && t.target.is_none() {
        out.push(finding(
            Severity::Error,
            Check::ServerlessConfig,
            name,
            &refused.join(","),
            format!(
                "source topic {:?} sets {} which MSK Serverless does not let clients set; creating {name:?} with them would be refused: exclude them from the copied configs",
                t.source.name,
                refused.join(", ")
            ),
        ));
    }
    if let Some(v) = copied.get("max.message.bytes") {
        if v.trim().parse::<u64>().is_ok_and(|v| v > max) {
            out.push(finding(
                Severity::Error,
                Check::ServerlessConfig,
                name,
                "max.message.bytes",
                format!(
                    "the copied max.message.bytes = {v} is above MSK Serverless's maximum of {max}: the target would refuse it; exclude max.message.bytes from the copied configs or lower it on the source"
                ),
            ));
        }
    }
    if t.target.is_none() && t.source.deletes() {
        let retention = match copied.get("retention.bytes") {
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|v| u64::try_from(v).ok()),
            None => Some(limits.default_retention_bytes),
        };
        let needed = t.stats.map_or(0, |s| s.largest_partition_bytes);
        if let Some(limit) = retention.filter(|l| *l < needed) {
            out.push(finding(
                Severity::Error,
                Check::Retention,
                name,
                "retention.bytes",
                format!(
                    "target topic {name:?} would get retention.bytes = {limit} per partition (MSK Serverless's default unless the source sets it) but the source's largest partition holds about {needed} bytes (estimate): the oldest mirrored records would be deleted; set retention.bytes = -1 on the target topic"
                ),
            ));
        }
    }
    out
}
