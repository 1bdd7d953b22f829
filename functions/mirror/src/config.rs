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

use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::settings::{SettingError, Settings};
use ferry_kafka::KafkaConnection;
use thiserror::Error;

/// Invalid or missing configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A setting is missing or invalid (the message names it).
    #[error(transparent)]
    Setting(#[from] SettingError),
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
        let settings = Settings::new(&get);
        Ok(Self {
            table: settings.table()?,
            target: KafkaConnection::from_lookup("FERRY_TARGET", &get)?,
            policy: settings.replication_policy()?,
            filter: settings.topic_filter()?,
            allow_non_empty_target: settings.flag("FERRY_ALLOW_NON_EMPTY_TARGET", false)?,
            metrics_namespace: settings.metrics_namespace(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::settings::lookup_from_pairs as lookup;

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
