//! The validate function's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_TABLE` | DynamoDB state table (progress, segments, reports) | required |
//! | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, ...) | source cluster, see `ferry_kafka::KafkaConnection::from_env` | required |
//! | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_SECURITY`, ...) | target cluster | required |
//! | `FERRY_REPLICATION_POLICY` | `identity` or `prefix:<alias>` | `identity` |
//! | `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE` | comma-separated full-match regexes over mirrored topics | all / none (internal topics always excluded) |
//! | `FERRY_GROUPS_INCLUDE` / `FERRY_GROUPS_EXCLUDE` | groups whose translation coverage is reported | all / none (`ferry-.*`, `__.*`, `connect-.*`, `mm2-.*` always excluded) |
//! | `FERRY_MIGRATION_ID` | migration whose `validation` report is written when the input names none | `default` |
//! | `FERRY_HEARTBEAT_TOPIC` | heartbeat topic (source name; the target name follows the replication policy) | `ferry-heartbeats` |
//! | `FERRY_VALIDATE_MODE` | mode of scheduled runs: `lag` or `full` | `lag` |
//! | `FERRY_VALIDATE_FAIL_ON_MISMATCH` | scheduled runs fail with `Ferry.ValidationFailed` on a mismatch (`full` mode only) | `false` |
//! | `FERRY_VALIDATE_EXACT_LAG_MAX` | a partition's pending offsets up to which lag is counted exactly (readable records only) | `10000` |
//! | `FERRY_VALIDATE_FULL_MAX_RECORDS` | mirrored ranges up to this many offsets are compared completely in `full` mode | `100000` |
//! | `FERRY_VALIDATE_SAMPLE_WINDOWS` | windows compared in larger ranges | `8` |
//! | `FERRY_VALIDATE_WINDOW_RECORDS` | offsets per window | `1000` |
//! | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
//!
//! Bad values fail the cold start with an error that names the variable.

use crate::handler::{Limits, Mode, RequestDefaults};
use ferry_core::policy::{GroupFilter, PolicyError, ReplicationPolicy, TopicFilter};
use ferry_kafka::KafkaConnection;
use std::str::FromStr;
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

/// The validate function's configuration.
#[derive(Debug, Clone)]
pub struct ValidateConfig {
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
    /// Which groups' coverage is reported.
    pub groups: GroupFilter,
    /// Heartbeat topic on the source.
    pub heartbeat_topic: String,
    /// Defaults for scheduled runs and missing input fields.
    pub defaults: RequestDefaults,
    /// Comparison limits.
    pub limits: Limits,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
}

impl ValidateConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |k: &'static str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        fn number<T: FromStr + PartialOrd + Copy>(
            name: &'static str,
            value: Option<String>,
            default: T,
            min: T,
        ) -> Result<T, ConfigError> {
            match value {
                None => Ok(default),
                Some(v) => match v.parse::<T>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(ConfigError::Invalid {
                        name,
                        reason: format!("{v:?} is not a whole number >= 1"),
                    }),
                },
            }
        }
        let table = non_empty("FERRY_TABLE").ok_or(ConfigError::Missing("FERRY_TABLE"))?;
        let source = KafkaConnection::from_lookup("FERRY_SOURCE", &get)?;
        let target = KafkaConnection::from_lookup("FERRY_TARGET", &get)?;
        let policy = ReplicationPolicy::parse(&get("FERRY_REPLICATION_POLICY").unwrap_or_default())
            .map_err(|e| invalid("FERRY_REPLICATION_POLICY", e))?;
        let topics = TopicFilter::from_lists(
            &get("FERRY_TOPICS_INCLUDE").unwrap_or_default(),
            &get("FERRY_TOPICS_EXCLUDE").unwrap_or_default(),
        )
        .map_err(|e| invalid("FERRY_TOPICS_INCLUDE/FERRY_TOPICS_EXCLUDE", e))?;
        let groups = GroupFilter::from_lists(
            &get("FERRY_GROUPS_INCLUDE").unwrap_or_default(),
            &get("FERRY_GROUPS_EXCLUDE").unwrap_or_default(),
        )
        .map_err(|e| invalid("FERRY_GROUPS_INCLUDE/FERRY_GROUPS_EXCLUDE", e))?;
        let mode = match non_empty("FERRY_VALIDATE_MODE") {
            None => Mode::Lag,
            Some(m) => Mode::parse(&m).ok_or_else(|| ConfigError::Invalid {
                name: "FERRY_VALIDATE_MODE",
                reason: format!("{m:?} is not lag/full"),
            })?,
        };
        let fail_on_mismatch = match non_empty("FERRY_VALIDATE_FAIL_ON_MISMATCH")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "FERRY_VALIDATE_FAIL_ON_MISMATCH",
                    reason: format!("{other:?} is not true/false"),
                })
            }
        };
        let limits = Limits {
            exact_lag_max: number(
                "FERRY_VALIDATE_EXACT_LAG_MAX",
                non_empty("FERRY_VALIDATE_EXACT_LAG_MAX"),
                10_000i64,
                0,
            )?,
            full_max_records: number(
                "FERRY_VALIDATE_FULL_MAX_RECORDS",
                non_empty("FERRY_VALIDATE_FULL_MAX_RECORDS"),
                100_000i64,
                1,
            )?,
            sample_windows: number(
                "FERRY_VALIDATE_SAMPLE_WINDOWS",
                non_empty("FERRY_VALIDATE_SAMPLE_WINDOWS"),
                8u32,
                1,
            )?,
            window_records: number(
                "FERRY_VALIDATE_WINDOW_RECORDS",
                non_empty("FERRY_VALIDATE_WINDOW_RECORDS"),
                1000i64,
                1,
            )?,
        };
        Ok(Self {
            table,
            source,
            target,
            policy,
            topics,
            groups,
            heartbeat_topic: non_empty("FERRY_HEARTBEAT_TOPIC")
                .unwrap_or_else(|| "ferry-heartbeats".into()),
            defaults: RequestDefaults {
                migration_id: non_empty("FERRY_MIGRATION_ID").unwrap_or_else(|| "default".into()),
                mode,
                fail_on_mismatch,
            },
            limits,
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

    const BASE: [(&str, &str); 3] = [
        ("FERRY_TABLE", "t"),
        ("FERRY_SOURCE_BOOTSTRAP", "s:9092"),
        ("FERRY_TARGET_BOOTSTRAP", "b:9092"),
    ];

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
            let err = ValidateConfig::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
        for (k, v) in [
            ("FERRY_VALIDATE_MODE", "deep"),
            ("FERRY_VALIDATE_FAIL_ON_MISMATCH", "maybe"),
            ("FERRY_VALIDATE_EXACT_LAG_MAX", "-1"),
            ("FERRY_VALIDATE_FULL_MAX_RECORDS", "0"),
            ("FERRY_VALIDATE_SAMPLE_WINDOWS", "x"),
            ("FERRY_VALIDATE_WINDOW_RECORDS", "1.5"),
            ("FERRY_REPLICATION_POLICY", "weird"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((k, v));
            let err = ValidateConfig::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().contains(k), "{k}: {err}");
        }
    }

    #[test]
    fn defaults() {
        let c = ValidateConfig::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.heartbeat_topic, "ferry-heartbeats");
        assert_eq!(c.defaults.migration_id, "default");
        assert_eq!(c.defaults.mode, Mode::Lag);
        assert!(!c.defaults.fail_on_mismatch);
        assert_eq!(
            c.limits,
            Limits {
                exact_lag_max: 10_000,
                full_max_records: 100_000,
                sample_windows: 8,
                window_records: 1000
            }
        );
    }
}
