//! The checkpoint function's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_TABLE` | DynamoDB state table | required |
//! | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, `FERRY_SOURCE_SECRET_ARN`, `FERRY_SOURCE_CA_SECRET_ARN`, ...) | source cluster, see `ferry_kafka::KafkaConnection::from_env`; the secrets the ARNs name are read from Secrets Manager at cold start (`ferry_kafka::secrets`, fetched by `ferry_aws::SecretsManagerSource`) | required |
//! | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_SECURITY`, `FERRY_TARGET_SECRET_ARN`, ...) | target cluster (`msk-iam`: tokens signed with the function role) | required |
//! | `FERRY_REPLICATION_POLICY` | `identity` or `prefix:<alias>` | `identity` |
//! | `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE` | comma-separated full-match regexes over mirrored topics | all / none (internal topics always excluded) |
//! | `FERRY_GROUPS_INCLUDE` / `FERRY_GROUPS_EXCLUDE` | comma-separated full-match regexes over group names | all / none (`ferry-.*`, the event source mappings' own groups, and `__.*`, `connect-.*`, `mm2-.*` always excluded) |
//! | `FERRY_SYNC_GROUP_OFFSETS` | commit translated offsets to the group on the target while it is empty there | `true` |
//! | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
//!
//! Bad values fail the cold start with an error that names the variable.

use ferry_core::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use ferry_core::settings::{SettingError, Settings};
use ferry_kafka::KafkaConnection;
use thiserror::Error;

/// Invalid or missing configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A setting is missing or invalid (the message names it).
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// A connection's settings are invalid.
    #[error(transparent)]
    Kafka(#[from] ferry_kafka::ConfigError),
}

/// The checkpoint function's configuration.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
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
    /// Which groups are checkpointed.
    pub groups: GroupFilter,
    /// Commit translated offsets to target groups.
    pub sync_group_offsets: bool,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
}

impl CheckpointConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(&get);
        let sync_group_offsets = settings.flag("FERRY_SYNC_GROUP_OFFSETS", true)?;
        Ok(Self {
            table: settings.table()?,
            source: KafkaConnection::from_lookup("FERRY_SOURCE", &get)?,
            target: KafkaConnection::from_lookup("FERRY_TARGET", &get)?,
            policy: settings.replication_policy()?,
            topics: settings.topic_filter()?,
            groups: settings.group_filter()?,
            sync_group_offsets,
            metrics_namespace: settings.metrics_namespace(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::settings::lookup_from_pairs as lookup;

    const BASE: [(&str, &str); 3] = [
        ("FERRY_TABLE", "t"),
        ("FERRY_SOURCE_BOOTSTRAP", "s:9092"),
        ("FERRY_TARGET_BOOTSTRAP", "b:9092"),
    ];

    #[test]
    fn missing_settings_are_named() {
        for missing in [
            "FERRY_TABLE",
            "FERRY_SOURCE_BOOTSTRAP",
            "FERRY_TARGET_BOOTSTRAP",
        ] {
            let pairs: Vec<_> = BASE
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = CheckpointConfig::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (k, v) in [
            ("FERRY_REPLICATION_POLICY", "weird"),
            ("FERRY_TOPICS_INCLUDE", "("),
            ("FERRY_GROUPS_EXCLUDE", "("),
            ("FERRY_SYNC_GROUP_OFFSETS", "maybe"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((k, v));
            let err = CheckpointConfig::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(
                err.to_string()
                    .contains(k.trim_end_matches("_INCLUDE").trim_end_matches("_EXCLUDE")),
                "{k}: {err}"
            );
        }
    }

    #[test]
    fn defaults() {
        let c = CheckpointConfig::from_lookup(lookup(&BASE)).unwrap();
        assert!(c.sync_group_offsets);
        assert_eq!(c.policy, ReplicationPolicy::Identity);
        assert!(c.groups.matches("orders-service"));
        assert!(!c.groups.matches("ferry-esm-orders"));
        assert_eq!(c.metrics_namespace, "Ferry");
    }
}
