//! The discovery function's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, `FERRY_SOURCE_SECRET_ARN`, `FERRY_SOURCE_CA_SECRET_ARN`, ...) | source cluster (see `ferry_kafka::KafkaConnection::from_env`); also the new mappings' self-managed endpoints and credentials | required |
//! | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_*`) | target cluster, where topics are created and grown | required |
//! | `FERRY_REPLICATION_POLICY`, `FERRY_TOPICS_INCLUDE`, `FERRY_TOPICS_EXCLUDE` | which source topics are mirrored and their target names (as for every function) | identity, everything but internal topics |
//! | `FERRY_HEARTBEAT_TOPIC` | heartbeat topic, mirrored whatever the filter says (once it exists on the source) | `ferry-heartbeats` |
//! | `FERRY_MIRROR_FUNCTION` | the function the new mappings invoke (name or ARN); its mappings are the ones compared | `mirror` |
//! | `FERRY_SOURCE_MSK_CLUSTER_ARN` | MSK source: new mappings use this cluster ARN instead of the bootstrap servers | empty (self-managed) |
//! | `FERRY_TARGET_MSK_CLUSTER_ARN` | MSK target: its bootstrap brokers when `FERRY_TARGET_BOOTSTRAP` is empty, and its topics through the MSK topic API when the cluster serves it (Provisioned, Kafka ≥ 3.6.0) | empty (Kafka admin client) |
//! | `FERRY_SOURCE_SUBNETS`, `FERRY_SOURCE_SECURITY_GROUPS` | self-managed source in a VPC: the pollers' subnets and security groups (comma-separated ids) | empty |
//! | `FERRY_DISCOVERY_SAMPLE_SECS` | seconds between the two end-offset samples that measure a new topic's write rate (its tier); 0: tier by retained size only | `10` |
//! | `FERRY_DISCOVERY_APPLY` | `false`: report what would change, change nothing | `true` |
//! | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
//!
//! The tier thresholds are `ferry plan`'s defaults ([`ferry_core::tiering::Thresholds`]).
//! Bad values fail the cold start with an error that names the variable
//! ([`ConfigError`], reported as `Ferry.Config`).

use ferry_core::discovery::{EventSourceSpec, SourceAuth};
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::settings::{SettingError, Settings};
use ferry_core::tiering::Thresholds;
use ferry_core::topics::ConfigFilter;
use ferry_kafka::{KafkaConnection, Security};
pub use ferry_lambda::ConfigError;
use std::time::Duration;

/// The discovery function's configuration.
#[derive(Debug, Clone)]
pub struct DiscoverConfig {
    /// Source cluster connection (secrets redacted in Debug).
    pub source: KafkaConnection,
    /// Target cluster connection (secrets redacted in Debug).
    pub target: KafkaConnection,
    /// What the new mappings read: cluster, authentication, VPC (taken from the source settings
    /// before their secrets are resolved).
    pub event_source: EventSourceSpec,
    /// The target MSK cluster (`None`: topics through the Kafka admin client).
    pub target_msk_cluster_arn: Option<String>,
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which topics are mirrored.
    pub topics: TopicFilter,
    /// Heartbeat topic (always set here; `None` only in handlers built in code).
    pub heartbeat_topic: Option<String>,
    /// The mirror function.
    pub mirror_function: String,
    /// Rate sampling interval.
    pub sample: Duration,
    /// Change things (`false`: report only).
    pub apply: bool,
    /// Tier thresholds.
    pub thresholds: Thresholds,
    /// Which topic configs are copied to the target.
    pub configs: ConfigFilter,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
}

impl DiscoverConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(&get);
        let source = KafkaConnection::from_lookup("FERRY_SOURCE", &get)?;
        let target = KafkaConnection::from_lookup("FERRY_TARGET", &get)?;
        let msk_cluster_arn = settings.optional("FERRY_SOURCE_MSK_CLUSTER_ARN");
        if let Some(arn) = &msk_cluster_arn {
            if !arn.starts_with("arn:") || !arn.contains(":kafka:") {
                return Err(SettingError::invalid(
                    "FERRY_SOURCE_MSK_CLUSTER_ARN",
                    format!("{arn:?} is not an MSK cluster ARN (arn:aws:kafka:...)"),
                )
                .into());
            }
        }
        let list = |name: &str| -> Vec<String> {
            settings
                .optional(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let event_source = EventSourceSpec {
            bootstrap_servers: source
                .bootstrap_servers
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            auth: source_auth(&source),
            secret_arn: source.secrets.credentials.as_ref().map(|s| s.arn.clone()),
            ca_secret_arn: source.secrets.ca.as_ref().map(|s| s.arn.clone()),
            subnets: list("FERRY_SOURCE_SUBNETS"),
            security_groups: list("FERRY_SOURCE_SECURITY_GROUPS"),
            msk_cluster_arn,
        };
        if event_source.auth == SourceAuth::Iam && event_source.msk_cluster_arn.is_none() {
            return Err(SettingError::invalid(
                "FERRY_SOURCE_MSK_CLUSTER_ARN",
                "FERRY_SOURCE_SECURITY=msk-iam needs the source's MSK cluster ARN: event source mappings of self-managed clusters cannot use IAM",
            )
            .into());
        }
        let sample_secs: u64 = settings.number("FERRY_DISCOVERY_SAMPLE_SECS", 10, 0)?;
        if sample_secs > 300 {
            return Err(SettingError::invalid(
                "FERRY_DISCOVERY_SAMPLE_SECS",
                format!("{sample_secs} is above 300 (the function would time out)"),
            )
            .into());
        }
        Ok(Self {
            source,
            target,
            event_source,
            target_msk_cluster_arn: settings.optional("FERRY_TARGET_MSK_CLUSTER_ARN"),
            policy: settings.replication_policy()?,
            topics: settings.topic_filter()?,
            heartbeat_topic: Some(settings.string_or("FERRY_HEARTBEAT_TOPIC", "ferry-heartbeats")),
            mirror_function: settings.string_or("FERRY_MIRROR_FUNCTION", "mirror"),
            sample: Duration::from_secs(sample_secs),
            apply: settings.flag("FERRY_DISCOVERY_APPLY", true)?,
            thresholds: Thresholds::default(),
            configs: ConfigFilter::new(&[])
                .map_err(|e| SettingError::invalid("FERRY_TOPICS_EXCLUDE", e.to_string()))?,
            metrics_namespace: settings.metrics_namespace(),
        })
    }
}

/// How the event source mapping authenticates, from the source connection's security mode.
fn source_auth(source: &KafkaConnection) -> SourceAuth {
    match &source.security {
        Security::SaslScram { .. } if source.security.name() == "scram-sha-256" => {
            SourceAuth::ScramSha256
        }
        Security::SaslScram { .. } => SourceAuth::ScramSha512,
        Security::Tls { .. } if source.secrets.credentials.is_some() => SourceAuth::MutualTls,
        Security::MskIam { .. } => SourceAuth::Iam,
        Security::Tls { .. } | Security::Plaintext | Security::OauthbearerUnsecuredJwt { .. } => {
            SourceAuth::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::settings::lookup_from_pairs as lookup;

    const BASE: [(&str, &str); 2] = [
        ("FERRY_SOURCE_BOOTSTRAP", "s1:9096, s2:9096"),
        ("FERRY_TARGET_BOOTSTRAP", "t:9092"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<DiscoverConfig, ConfigError> {
        let pairs: Vec<(&str, &str)> = BASE.iter().chain(extra).copied().collect();
        DiscoverConfig::from_lookup(lookup(&pairs))
    }

    #[test]
    fn defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.heartbeat_topic.as_deref(), Some("ferry-heartbeats"));
        assert_eq!(c.mirror_function, "mirror");
        assert_eq!(c.sample, Duration::from_secs(10));
        assert!(c.apply);
        assert_eq!(c.event_source.bootstrap_servers, ["s1:9096", "s2:9096"]);
        assert_eq!(c.event_source.auth, SourceAuth::None);
        assert!(c.event_source.msk_cluster_arn.is_none());
    }

    #[test]
    fn scram_source_with_vpc() {
        let c = with(&[
            ("FERRY_SOURCE_SECURITY", "scram-sha-512"),
            (
                "FERRY_SOURCE_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:AmazonMSK_ferry",
            ),
            ("FERRY_SOURCE_SUBNETS", "subnet-a, subnet-b"),
            ("FERRY_SOURCE_SECURITY_GROUPS", "sg-1"),
            ("FERRY_DISCOVERY_APPLY", "false"),
        ])
        .unwrap();
        assert_eq!(c.event_source.auth, SourceAuth::ScramSha512);
        assert!(c.event_source.secret_arn.is_some());
        assert_eq!(c.event_source.subnets, ["subnet-a", "subnet-b"]);
        assert!(!c.apply);
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (extra, name) in [
            (
                &[("FERRY_SOURCE_MSK_CLUSTER_ARN", "my-cluster")][..],
                "FERRY_SOURCE_MSK_CLUSTER_ARN",
            ),
            (
                &[
                    ("FERRY_SOURCE_SECURITY", "msk-iam"),
                    ("FERRY_SOURCE_REGION", "us-east-1"),
                ][..],
                "FERRY_SOURCE_MSK_CLUSTER_ARN",
            ),
            (
                &[("FERRY_DISCOVERY_SAMPLE_SECS", "900")][..],
                "FERRY_DISCOVERY_SAMPLE_SECS",
            ),
            (
                &[("FERRY_DISCOVERY_APPLY", "maybe")][..],
                "FERRY_DISCOVERY_APPLY",
            ),
        ] {
            let err = with(extra).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = DiscoverConfig::from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains("FERRY_SOURCE_BOOTSTRAP"), "{err}");
    }
}
