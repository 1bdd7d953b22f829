//! The heartbeat function's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, `FERRY_SOURCE_SECRET_ARN`, `FERRY_SOURCE_CA_SECRET_ARN`, ...) | source cluster, see `ferry_kafka::KafkaConnection::from_env`; the secrets the ARNs name are read from Secrets Manager at cold start (`ferry_lambda::resolve_secrets`) | required |
//! | `FERRY_HEARTBEAT_TOPIC` | heartbeat topic on the source (created with 1 partition if missing) | `ferry-heartbeats` |
//! | `FERRY_SOURCE_ALIAS` | cluster alias: the record key and the `source` field | the source bootstrap servers |
//! | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
//!
//! Bad values fail the cold start with an error that names the variable
//! ([`ConfigError`], reported as `Ferry.Config`).

use ferry_core::settings::Settings;
use ferry_kafka::KafkaConnection;
pub use ferry_lambda::ConfigError;

/// The heartbeat function's configuration.
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    /// Source cluster connection (secrets redacted in Debug).
    pub source: KafkaConnection,
    /// Heartbeat topic.
    pub topic: String,
    /// Cluster alias.
    pub alias: String,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
}

impl HeartbeatConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(&get);
        let source = KafkaConnection::from_lookup("FERRY_SOURCE", &get)?;
        Ok(Self {
            topic: settings.string_or("FERRY_HEARTBEAT_TOPIC", "ferry-heartbeats"),
            alias: settings.string_or("FERRY_SOURCE_ALIAS", &source.bootstrap_servers),
            source,
            metrics_namespace: settings.metrics_namespace(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_missing_bootstrap() {
        let c = HeartbeatConfig::from_lookup(|k| {
            (k == "FERRY_SOURCE_BOOTSTRAP").then(|| "s:9092".to_string())
        })
        .unwrap();
        assert_eq!(
            (c.topic.as_str(), c.alias.as_str()),
            ("ferry-heartbeats", "s:9092")
        );
        let err = HeartbeatConfig::from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains("FERRY_SOURCE_BOOTSTRAP"), "{err}");
    }
}
