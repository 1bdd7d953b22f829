//! The mirror's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_TABLE` | DynamoDB state table | required |
//! | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_SECURITY`, ...) | target cluster, see `ferry_kafka::KafkaConnection::from_env` | required |
//! | `FERRY_REPLICATION_POLICY` | `identity` or `prefix:<alias>` | `identity` |
//! | `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE` | comma-separated full-match regexes | all / none (internal topics always excluded) |
//! | `FERRY_ALLOW_NON_EMPTY_TARGET` | start mirroring after records already in a target partition | `false` |
//! | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
//!
//! Bad values fail the cold start with an error that names the variable.

use ferry_core::policy::{PolicyError, ReplicationPolicy, TopicFilter};
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
    /// The target connection settings are invalid.
    #[error(transparent)]
    Kafka(#[from] ferry_kafka::ConfigError),
}

/// The mirror function's configuration.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// DynamoDB table.
    pub table: String,
    /// Target cluster connection (secrets redacted in Debug).
    pub target: KafkaConnection,
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which topics may be mirrored.
    pub filter: TopicFilter,
    /// Start after records already present in a target partition.
    pub allow_non_empty_target: bool,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
}

impl MirrorConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |k: &'static str| get(k).filter(|v| !v.trim().is_empty());
        let table = non_empty("FERRY_TABLE").ok_or(ConfigError::Missing("FERRY_TABLE"))?;
        let target = KafkaConnection::from_lookup("FERRY_TARGET", &get)?;
        let policy = ReplicationPolicy::parse(&get("FERRY_REPLICATION_POLICY").unwrap_or_default())
            .map_err(|e| invalid("FERRY_REPLICATION_POLICY", e))?;
        let filter = TopicFilter::from_lists(
            &get("FERRY_TOPICS_INCLUDE").unwrap_or_default(),
            &get("FERRY_TOPICS_EXCLUDE").unwrap_or_default(),
        )
        .map_err(|e| invalid("FERRY_TOPICS_INCLUDE/FERRY_TOPICS_EXCLUDE", e))?;
        let allow_non_empty_target = match non_empty("FERRY_ALLOW_NON_EMPTY_TARGET").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "FERRY_ALLOW_NON_EMPTY_TARGET",
                    reason: format!("{other:?} is not true/false"),
                })
            }
        };
        Ok(Self {
            table,
            target,
            policy,
            filter,
            allow_non_empty_target,
            metrics_namespace: non_empty("FERRY_METRICS_NAMESPACE")
                .unwrap_or_else(|| "Ferry".into()),
        })
    }
}

fn invalid(name: &'static str, e: PolicyError) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: e.to_string(),
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

    #[test]
    fn missing_table_names_the_setting() {
        let err =
            MirrorConfig::from_lookup(lookup(&[("FERRY_TARGET_BOOTSTRAP", "b:9092")])).unwrap_err();
        assert!(err.to_string().contains("FERRY_TABLE"), "{err}");
    }

    #[test]
    fn missing_target_names_the_setting() {
        let err = MirrorConfig::from_lookup(lookup(&[("FERRY_TABLE", "t")])).unwrap_err();
        assert!(err.to_string().contains("FERRY_TARGET_BOOTSTRAP"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let base = [("FERRY_TABLE", "t"), ("FERRY_TARGET_BOOTSTRAP", "b:9092")];
        for (k, v) in [
            ("FERRY_REPLICATION_POLICY", "weird"),
            ("FERRY_TOPICS_INCLUDE", "("),
            ("FERRY_ALLOW_NON_EMPTY_TARGET", "maybe"),
        ] {
            let mut pairs = base.to_vec();
            pairs.push((k, v));
            let err = MirrorConfig::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(
                err.to_string().contains(k.trim_end_matches("_INCLUDE")),
                "{k}: {err}"
            );
        }
    }

    #[test]
    fn defaults() {
        let c = MirrorConfig::from_lookup(lookup(&[
            ("FERRY_TABLE", "t"),
            ("FERRY_TARGET_BOOTSTRAP", "b:9092"),
        ]))
        .unwrap();
        assert_eq!(c.policy, ReplicationPolicy::Identity);
        assert!(!c.allow_non_empty_target);
        assert!(c.filter.matches("orders"));
    }
}
