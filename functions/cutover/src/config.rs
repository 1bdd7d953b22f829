//! The cutover function's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_TABLE` | DynamoDB state table | required |
//! | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, ...) | source cluster, see `ferry_kafka::KafkaConnection::from_env` | required |
//! | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_SECURITY`, ...) | target cluster | required |
//! | `FERRY_REPLICATION_POLICY` | `identity` or `prefix:<alias>` | `identity` |
//! | `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE` | comma-separated full-match regexes over mirrored topics | all / none |
//! | `FERRY_GROUPS_INCLUDE` / `FERRY_GROUPS_EXCLUDE` | groups moved when the state machine input names none | all / none (Ferry's own and internal groups always excluded) |
//! | `FERRY_MIRROR_FUNCTION` | function whose event source mappings are disabled at the end | `mirror` |
//! | `FERRY_SOURCE_QUIET_MS` | how long source end offsets must stay unchanged before the drain completes | `10000` |
//! | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
//!
//! Bad values fail the cold start with an error that names the variable.

use ferry_core::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use ferry_kafka::KafkaConnection;
use thiserror::Error;

/// Invalid or missing configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A required variable is missing.
    #[error("missing required setting {0}")]
    Missing(&'static str),
    /// A variable has an invalid value.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// A connection's settings are invalid.
    #[error(transparent)]
    Kafka(#[from] ferry_kafka::ConfigError),
}

/// The cutover function's configuration.
#[derive(Debug, Clone)]
pub struct CutoverConfig {
    /// DynamoDB table.
    pub table: String,
    /// Source cluster connection (secrets redacted in Debug).
    pub source: KafkaConnection,
    /// Target cluster connection (secrets redacted in Debug).
    pub target: KafkaConnection,
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which topics are mirrored.
    pub topics: TopicFilter,
    /// Which groups are moved by default.
    pub groups: GroupFilter,
    /// The mirror function's name.
    pub mirror_function: String,
    /// Quiet period of the drain check.
    pub quiet_ms: i64,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
}

impl CutoverConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |k: &'static str| get(k).filter(|v| !v.trim().is_empty());
        let invalid = |name: &'static str, reason: String| ConfigError::Invalid { name, reason };
        let table = non_empty("FERRY_TABLE").ok_or(ConfigError::Missing("FERRY_TABLE"))?;
        let source = KafkaConnection::from_lookup("FERRY_SOURCE", &get)?;
        let target = KafkaConnection::from_lookup("FERRY_TARGET", &get)?;
        let policy = ReplicationPolicy::parse(&get("FERRY_REPLICATION_POLICY").unwrap_or_default())
            .map_err(|e| invalid("FERRY_REPLICATION_POLICY", e.to_string()))?;
        let topics = TopicFilter::from_lists(
            &get("FERRY_TOPICS_INCLUDE").unwrap_or_default(),
            &get("FERRY_TOPICS_EXCLUDE").unwrap_or_default(),
        )
        .map_err(|e| invalid("FERRY_TOPICS_INCLUDE/FERRY_TOPICS_EXCLUDE", e.to_string()))?;
        let groups = GroupFilter::from_lists(
            &get("FERRY_GROUPS_INCLUDE").unwrap_or_default(),
            &get("FERRY_GROUPS_EXCLUDE").unwrap_or_default(),
        )
        .map_err(|e| invalid("FERRY_GROUPS_INCLUDE/FERRY_GROUPS_EXCLUDE", e.to_string()))?;
        let quiet_ms = match non_empty("FERRY_SOURCE_QUIET_MS") {
            None => 10_000,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    invalid(
                        "FERRY_SOURCE_QUIET_MS",
                        format!("{v:?} is not a number of milliseconds"),
                    )
                })?,
        };
        Ok(Self {
            table,
            source,
            target,
            policy,
            topics,
            groups,
            mirror_function: non_empty("FERRY_MIRROR_FUNCTION").unwrap_or_else(|| "mirror".into()),
            quiet_ms,
            metrics_namespace: non_empty("FERRY_METRICS_NAMESPACE")
                .unwrap_or_else(|| "Ferry".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("FERRY_TABLE", "t"),
        ("FERRY_SOURCE_BOOTSTRAP", "s:9092"),
        ("FERRY_TARGET_BOOTSTRAP", "b:9092"),
    ];

    #[test]
    fn defaults_and_named_errors() {
        let c = CutoverConfig::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.mirror_function, "mirror");
        assert_eq!(c.quiet_ms, 10_000);
        let mut bad = BASE.to_vec();
        bad.push(("FERRY_SOURCE_QUIET_MS", "soon"));
        let err = CutoverConfig::from_lookup(lookup(&bad)).unwrap_err();
        assert!(err.to_string().contains("FERRY_SOURCE_QUIET_MS"), "{err}");
        let err = CutoverConfig::from_lookup(lookup(&BASE[1..])).unwrap_err();
        assert!(err.to_string().contains("FERRY_TABLE"), "{err}");
    }
}
