//! The cutover function's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_TABLE` | DynamoDB state table | required |
//! | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, `FERRY_SOURCE_SECRET_ARN`, `FERRY_SOURCE_CA_SECRET_ARN`, ...) | source cluster, see `ferry_kafka::KafkaConnection::from_env`; the secrets the ARNs name are read from Secrets Manager at cold start (`ferry_kafka::secrets`, fetched by `ferry_aws::SecretsManagerSource`) | required |
//! | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_SECURITY`, `FERRY_TARGET_SECRET_ARN`, ...) | target cluster (`msk-iam`: tokens signed with the function role) | required |
//! | `FERRY_REPLICATION_POLICY` | `identity` or `prefix:<alias>` | `identity` |
//! | `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE` | comma-separated full-match regexes over mirrored topics | all / none |
//! | `FERRY_GROUPS_INCLUDE` / `FERRY_GROUPS_EXCLUDE` | groups moved when the state machine input names none | all / none (Ferry's own and internal groups always excluded) |
//! | `FERRY_MIRROR_FUNCTION` | function whose event source mappings are disabled at the end | `mirror` |
//! | `FERRY_SOURCE_QUIET_MS` | how long source end offsets must stay unchanged before the drain completes | `10000` |
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
        let settings = Settings::new(&get);
        Ok(Self {
            table: settings.table()?,
            source: KafkaConnection::from_lookup("FERRY_SOURCE", &get)?,
            target: KafkaConnection::from_lookup("FERRY_TARGET", &get)?,
            policy: settings.replication_policy()?,
            topics: settings.topic_filter()?,
            groups: settings.group_filter()?,
            mirror_function: settings.string_or("FERRY_MIRROR_FUNCTION", "mirror"),
            quiet_ms: settings.number("FERRY_SOURCE_QUIET_MS", 10_000i64, 0)?,
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
