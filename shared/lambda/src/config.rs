//! Configuration at cold start: the one [`ConfigError`] every function's configuration reader
//! returns, the settings the functions working on both clusters share ([`MigrationSettings`])
//! and reading the secrets the connection settings name ([`resolve_secrets`]), followed by a
//! bounded handshake with every `scram-*` or `tls` cluster (`ferry_kafka::handshake`): a
//! refused password or certificate fails the cold start naming the setting, e.g.
//! `FERRY_SOURCE_SECRET_ARN: the cluster at b-1:9096 refused the SCRAM credentials ...`.
//!
//! Every message names the setting (`missing required setting FERRY_TABLE`,
//! `invalid setting FERRY_TARGET_COMPRESSION: "brotli" is not one of ...`, `environment variable
//! FERRY_TARGET_BOOTSTRAP is required but not set`), and `main` fails the cold start with it as
//! `Ferry.Config` ([`crate::config_error`]).
//!
//! Neither the messages nor `Debug` carry a secret: values are quoted only for settings that are
//! not secrets, and secrets are named by the setting and ARN that point at them.

use crate::failure::FailureError;
use ferry_aws::SecretsManagerSource;
use ferry_core::failure::FailureKind;
use ferry_core::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use ferry_core::settings::{SettingError, Settings};
use ferry_kafka::{AuthSettings, BuildError, HandshakeError, KafkaConnection, SecretError};
use thiserror::Error;

/// A missing or invalid setting; fails the cold start as `Ferry.Config`.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A required setting is unset or empty.
    #[error("missing required setting {name}")]
    Missing {
        /// Variable name.
        name: String,
    },
    /// A setting has a value that cannot be used.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// Variable name (or names, for settings read together).
        name: String,
        /// Why, including the offending value where it is not a secret.
        reason: String,
    },
    /// A cluster connection's settings are missing, invalid or conflicting (the message names
    /// the variable).
    #[error(transparent)]
    Kafka(#[from] ferry_kafka::ConfigError),
    /// A secret a connection setting names could not be read, or does not fit the connection.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A Kafka client could not be built from the connection settings.
    #[error(transparent)]
    Client(#[from] BuildError),
    /// A cluster refused the credentials, the client certificate or the CA at cold start.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

impl ConfigError {
    /// An invalid-value error for `name`.
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        match e {
            SettingError::Missing { name } => Self::Missing { name },
            SettingError::Invalid { name, reason } => Self::Invalid { name, reason },
        }
    }
}

impl FailureError for ConfigError {
    fn kind(&self) -> FailureKind {
        FailureKind::Config
    }
}

/// The settings of the functions that work on a migration's two clusters (checkpoint, validate,
/// cutover), read the same way by each:
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `FERRY_TABLE` | DynamoDB state table | required |
/// | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, `FERRY_SOURCE_SECRET_ARN`, `FERRY_SOURCE_CA_SECRET_ARN`, ...) | source cluster, see `ferry_kafka::KafkaConnection::from_env`; the secrets the ARNs name are read from Secrets Manager at cold start ([`MigrationSettings::resolve_secrets`]) | required |
/// | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_SECURITY`, `FERRY_TARGET_SECRET_ARN`, ...) | target cluster (`msk-iam`: tokens signed with the function role) | required |
/// | `FERRY_REPLICATION_POLICY` | `identity` or `prefix:<alias>` | `identity` |
/// | `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE` | comma-separated full-match regexes over mirrored topics | all / none (internal topics always excluded) |
/// | `FERRY_GROUPS_INCLUDE` / `FERRY_GROUPS_EXCLUDE` | comma-separated full-match regexes over group names | all / none (`ferry-.*`, the event source mappings' own groups, and `__.*`, `connect-.*`, `mm2-.*` always excluded) |
/// | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
#[derive(Debug, Clone)]
pub struct MigrationSettings {
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
    /// Which consumer groups the function works on.
    pub groups: GroupFilter,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
}

impl MigrationSettings {
    /// Reads the settings through `get` (the process environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(&get);
        Ok(Self {
            table: settings.table()?,
            source: KafkaConnection::from_lookup("FERRY_SOURCE", &get)?,
            target: KafkaConnection::from_lookup("FERRY_TARGET", &get)?,
            policy: settings.replication_policy()?,
            topics: settings.topic_filter()?,
            groups: settings.group_filter()?,
            metrics_namespace: settings.metrics_namespace(),
        })
    }

    /// Reads the secrets both connections name (once, at cold start).
    pub async fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        resolve_secrets(&mut [&mut self.source, &mut self.target]).await
    }
}

/// Fills in the bootstrap servers of the connections given as an MSK cluster ARN
/// (`FERRY_<SIDE>_MSK_CLUSTER_ARN` without `FERRY_<SIDE>_BOOTSTRAP`): the cluster's listener for
/// the connection's security mode, from `GetBootstrapBrokers` (`kafka:GetBootstrapBrokers` on
/// the cluster). `oauthbearer-unsecured-jwt`, the local stand-in for `msk-iam`, asks for the IAM
/// listener. An unknown cluster, a refused call or a cluster without that listener fails the
/// cold start naming the setting.
pub async fn resolve_msk_bootstrap(
    connections: &mut [&mut KafkaConnection],
) -> Result<(), ConfigError> {
    use ferry_core::ports::ClusterBootstrap;
    for conn in connections.iter_mut() {
        let Some(cluster) = conn.secrets.msk_cluster.clone() else {
            continue;
        };
        let security = conn.security.name();
        let auth = ferry_core::msk::MskAuth::for_connection(security).ok_or_else(|| {
            ConfigError::invalid(
                &cluster.var,
                format!("MSK has no listener for security mode {security}"),
            )
        })?;
        let brokers = ferry_aws::msk::MskCluster::from_env(cluster.arn.clone())
            .await
            .bootstrap_brokers(auth)
            .await
            .map_err(|e| {
                ConfigError::invalid(
                    &cluster.var,
                    format!(
                        "could not read the bootstrap brokers of {}: {e}",
                        cluster.arn
                    ),
                )
            })?;
        tracing::info!(cluster = %cluster.arn, %brokers, setting = %cluster.var, "bootstrap brokers read from the MSK API");
        conn.bootstrap_servers = brokers;
        conn.secrets.msk_cluster = None;
    }
    Ok(())
}

/// Reads the secrets the connections name (`FERRY_<SIDE>_SECRET_ARN`,
/// `FERRY_<SIDE>_CA_SECRET_ARN`) from Secrets Manager and fills them in, once at cold start; a
/// Secrets Manager client is built only when some connection names a secret. Then every
/// `scram-*` or `tls` connection makes one metadata request (all at once, at most
/// `ferry_kafka::handshake::DEFAULT_TIMEOUT`): an authentication or TLS handshake failure is a
/// [`ConfigError::Handshake`] naming the setting; an unreachable cluster only logs a warning.
pub async fn resolve_secrets(connections: &mut [&mut KafkaConnection]) -> Result<(), ConfigError> {
    resolve_msk_bootstrap(connections).await?;
    let settings: Vec<Option<AuthSettings>> =
        connections.iter().map(|c| AuthSettings::of(c)).collect();
    ferry_kafka::resolve_connections(connections, SecretsManagerSource::from_env).await?;
    let checks = connections.iter().zip(&settings).map(|(conn, settings)| {
        ferry_kafka::check_handshake(
            conn,
            settings.as_ref(),
            ferry_kafka::handshake::DEFAULT_TIMEOUT,
        )
    });
    for result in futures::future::join_all(checks).await {
        result?;
    }
    Ok(())
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
    fn setting_errors_keep_their_messages() {
        let missing = ConfigError::from(SettingError::Missing {
            name: "FERRY_TABLE".into(),
        });
        assert_eq!(missing.to_string(), "missing required setting FERRY_TABLE");
        let invalid = ConfigError::from(SettingError::invalid("FERRY_X", "\"y\" is not z"));
        assert_eq!(
            invalid.to_string(),
            "invalid setting FERRY_X: \"y\" is not z"
        );
        assert_eq!(invalid.kind(), FailureKind::Config);
        assert_eq!(
            crate::diagnostic(&missing).error_type,
            FailureKind::Config.error_type()
        );
    }

    #[test]
    fn missing_and_bad_settings_are_named() {
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
            let err = MigrationSettings::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
        for (k, v) in [
            ("FERRY_REPLICATION_POLICY", "weird"),
            ("FERRY_TOPICS_INCLUDE", "("),
            ("FERRY_GROUPS_EXCLUDE", "("),
            ("FERRY_SOURCE_SECURITY", "magic"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((k, v));
            let err = MigrationSettings::from_lookup(lookup(&pairs)).unwrap_err();
            let name = k.trim_end_matches("_INCLUDE").trim_end_matches("_EXCLUDE");
            assert!(err.to_string().contains(name), "{k}: {err}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut pairs = BASE.to_vec();
        pairs.push(("FERRY_SOURCE_SECURITY", "scram-sha-512"));
        pairs.push(("FERRY_SOURCE_SASL_USERNAME", "u"));
        pairs.push(("FERRY_SOURCE_SASL_PASSWORD", "hunter2-secret"));
        let settings = MigrationSettings::from_lookup(lookup(&pairs)).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2-secret"));
        // A conflicting secret is named by its settings, never by value.
        pairs.push(("FERRY_SOURCE_SECRET_ARN", "arn:aws:secretsmanager:x"));
        let err = MigrationSettings::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(
            !format!("{err:?} {err}").contains("hunter2-secret"),
            "{err:?}"
        );
        assert!(err.to_string().contains("FERRY_SOURCE_SASL_"), "{err}");
    }

    #[test]
    fn defaults() {
        let s = MigrationSettings::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(s.table, "t");
        assert_eq!(s.policy, ReplicationPolicy::Identity);
        assert!(s.topics.matches("orders"));
        assert!(s.groups.matches("orders-service"));
        assert!(!s.groups.matches("ferry-esm-orders"));
        assert_eq!(s.metrics_namespace, "Ferry");
    }
}
