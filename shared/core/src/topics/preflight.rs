//! The preflight checks: [`check_topic`] and [`check_storage`] return typed [`Finding`]s with
//! a [`Severity`], each naming the topic and the setting.

use super::description::{SourceTopicStats, TopicDescription};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Storage use above this share of capacity is a warning.
pub const STORAGE_WARN_RATIO: f64 = 0.70;

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
    /// A Provisioned MSK target's broker volumes must grow (or cannot grow enough) to hold
    /// the mirrored data with headroom ([`crate::msk::size_volumes`]).
    VolumeSizing,
    /// The target refused a planned change (create topic, add partitions, set configs).
    Provisioning,
    /// An MSK Serverless target accepts IAM authentication only.
    ServerlessAuth,
    /// An MSK Serverless target's partition quota.
    ServerlessPartitions,
    /// A topic config an MSK Serverless target does not accept (not settable, or above its
    /// maximum).
    ServerlessConfig,
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
