//! Replication policy (source topic → target topic) and topic filters.
//!
//! Ferry's default is the identity policy (same names on both sides), as in the Stitch Fix
//! migration: consumers and producers switch clusters without renaming anything. A prefix
//! policy (`<alias>.<topic>`, MirrorMaker 2's default) is available for fan-in setups.

use regex::Regex;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Maps source topic names to target topic names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplicationPolicy {
    /// Same name on the target.
    #[default]
    Identity,
    /// `<alias><separator><topic>` on the target.
    Prefix {
        /// Source cluster alias, e.g. `onprem`.
        alias: String,
        /// Separator, `.` by default in MirrorMaker 2.
        separator: String,
    },
}

impl ReplicationPolicy {
    /// Parses `identity` or `prefix:<alias>` (separator `.`).
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        match s.trim() {
            "" | "identity" => Ok(Self::Identity),
            other => match other.strip_prefix("prefix:") {
                Some(alias) if !alias.is_empty() && !alias.contains(char::is_whitespace) => {
                    Ok(Self::Prefix {
                        alias: alias.to_string(),
                        separator: ".".to_string(),
                    })
                }
                _ => Err(PolicyError::BadPolicy(other.to_string())),
            },
        }
    }

    /// Target topic for a source topic.
    pub fn target_topic(&self, source: &str) -> String {
        match self {
            Self::Identity => source.to_string(),
            Self::Prefix { alias, separator } => format!("{alias}{separator}{source}"),
        }
    }
}

/// Policy or filter configuration errors.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// Unknown replication policy spelling.
    #[error("unknown replication policy {0:?}: expected `identity` or `prefix:<alias>`")]
    BadPolicy(String),
    /// A filter pattern is not a valid regular expression.
    #[error("invalid topic pattern {pattern:?}: {source}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        #[source]
        source: regex::Error,
    },
}

/// Topics never mirrored: Kafka's internal topics and other replication tools' bookkeeping.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    r"__.*",
    r".*[-.]internal",
    r".*\.replica",
    r"mm2-.*",
    r".*\.checkpoints\.internal",
    r"heartbeats",
    r"_schemas",
    r"connect-.*",
];

/// Include/exclude filter over topic names (full-match regular expressions, comma separated).
#[derive(Debug, Clone)]
pub struct TopicFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl TopicFilter {
    /// Builds a filter. Empty `include` means "everything"; [`DEFAULT_EXCLUDES`] always apply.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, PolicyError> {
        let compile = |p: &str| {
            Regex::new(&format!("^(?:{p})$")).map_err(|source| PolicyError::BadPattern {
                pattern: p.to_string(),
                source,
            })
        };
        let include = include
            .iter()
            .map(|p| compile(p))
            .collect::<Result<_, _>>()?;
        let exclude = exclude
            .iter()
            .map(String::as_str)
            .chain(DEFAULT_EXCLUDES.iter().copied())
            .map(compile)
            .collect::<Result<_, _>>()?;
        Ok(Self { include, exclude })
    }

    /// Parses comma-separated pattern lists.
    pub fn from_lists(include: &str, exclude: &str) -> Result<Self, PolicyError> {
        let split = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        };
        Self::new(&split(include), &split(exclude))
    }

    /// Whether `topic` is mirrored.
    pub fn matches(&self, topic: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(topic)))
            && !self.exclude.iter().any(|r| r.is_match(topic))
    }
}

impl Default for TopicFilter {
    fn default() -> Self {
        Self::new(&[], &[]).expect("default excludes are valid")
    }
}

/// Consumer groups never checkpointed: Ferry's own event source mapping groups (`ferry-…`) and
/// other replication tools' groups.
pub const DEFAULT_GROUP_EXCLUDES: &[&str] = &[r"ferry-.*", r"__.*", r"connect-.*", r"mm2-.*"];

/// Include/exclude filter over consumer-group names (full-match regexes, comma separated);
/// [`DEFAULT_GROUP_EXCLUDES`] always apply.
#[derive(Debug, Clone)]
pub struct GroupFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl GroupFilter {
    /// Parses comma-separated pattern lists. Empty `include` means every group.
    pub fn from_lists(include: &str, exclude: &str) -> Result<Self, PolicyError> {
        let compile = |p: &str| {
            Regex::new(&format!("^(?:{p})$")).map_err(|source| PolicyError::BadPattern {
                pattern: p.to_string(),
                source,
            })
        };
        let split = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let include = split(include)
            .iter()
            .map(|p| compile(p))
            .collect::<Result<_, _>>()?;
        let exclude = split(exclude)
            .iter()
            .map(String::as_str)
            .chain(DEFAULT_GROUP_EXCLUDES.iter().copied())
            .map(compile)
            .collect::<Result<_, _>>()?;
        Ok(Self { include, exclude })
    }

    /// Whether `group` is checkpointed.
    pub fn matches(&self, group: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(group)))
            && !self.exclude.iter().any(|r| r.is_match(group))
    }
}

impl Default for GroupFilter {
    fn default() -> Self {
        Self::from_lists("", "").expect("default group excludes are valid")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_filters() {
        let f = super::GroupFilter::from_lists("", "batch-.*").unwrap();
        assert!(f.matches("orders-service"));
        assert!(!f.matches("ferry-esm-orders"));
        assert!(!f.matches("batch-nightly"));
        let only = super::GroupFilter::from_lists("a.*", "").unwrap();
        assert!(only.matches("abc") && !only.matches("b"));
        assert!(super::GroupFilter::from_lists("(", "").is_err());
    }

    use super::*;

    #[test]
    fn policies() {
        assert_eq!(
            ReplicationPolicy::parse("identity")
                .unwrap()
                .target_topic("a"),
            "a"
        );
        assert_eq!(
            ReplicationPolicy::parse("prefix:onprem")
                .unwrap()
                .target_topic("a"),
            "onprem.a"
        );
        assert!(ReplicationPolicy::parse("prefix:").is_err());
        assert!(ReplicationPolicy::parse("mirror").is_err());
    }

    #[test]
    fn filters() {
        let f = TopicFilter::from_lists("orders.*, payments", "orders-dlq").unwrap();
        assert!(f.matches("orders-eu"));
        assert!(f.matches("payments"));
        assert!(!f.matches("payments-x"));
        assert!(!f.matches("orders-dlq"));
        assert!(!f.matches("__consumer_offsets"));
        let all = TopicFilter::default();
        assert!(all.matches("anything"));
        assert!(!all.matches("__transaction_state"));
        assert!(!all.matches("connect-offsets"));
        assert!(TopicFilter::from_lists("(", "").is_err());
    }
}
