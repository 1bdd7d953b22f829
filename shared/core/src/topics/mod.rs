//! Topics: identities ([`partition`]), descriptions ([`description`]), target provisioning and
//! config sync ([`provision`]) and preflight checks ([`preflight`]): pure decisions over topic
//! descriptions of the source and the target cluster. Everything is re-exported here.
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

pub mod description;
pub mod partition;
pub mod preflight;
pub mod provision;

pub use description::*;
pub use partition::TopicPartition;
pub use preflight::*;
pub use provision::*;

#[cfg(test)]
mod tests;
