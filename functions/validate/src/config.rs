//! The validate function's typed configuration, read once at cold start from the environment.
//!
//! The settings every two-cluster function reads (`FERRY_TABLE` for progress, segments and
//! reports, `FERRY_SOURCE_*`, `FERRY_TARGET_*`, `FERRY_REPLICATION_POLICY`, `FERRY_TOPICS_*`,
//! `FERRY_GROUPS_*` for the groups whose translation coverage is reported,
//! `FERRY_METRICS_NAMESPACE`) are [`MigrationSettings`]; the function's own:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_MIGRATION_ID` | migration whose `validation` report is written when the input names none | `default` |
//! | `FERRY_HEARTBEAT_TOPIC` | heartbeat topic (source name; the target name follows the replication policy) | `ferry-heartbeats` |
//! | `FERRY_VALIDATE_MODE` | mode of scheduled runs: `lag` or `full` | `lag` |
//! | `FERRY_VALIDATE_FAIL_ON_MISMATCH` | scheduled runs fail with `Ferry.ValidationFailed` on a mismatch (`full` mode only) | `false` |
//! | `FERRY_VALIDATE_EXACT_LAG_MAX` | a partition's pending offsets up to which lag is counted exactly (readable records only) | `10000` |
//! | `FERRY_VALIDATE_FULL_MAX_RECORDS` | mirrored ranges up to this many offsets are compared completely in `full` mode | `100000` |
//! | `FERRY_VALIDATE_SAMPLE_WINDOWS` | windows compared in larger ranges | `8` |
//! | `FERRY_VALIDATE_WINDOW_RECORDS` | offsets per window | `1000` |
//! | `FERRY_VALIDATE_CONCURRENCY` | partitions validated at a time (each: watermarks of both clusters, one segment `Query`, reads in `full` mode) | `16` |
//!
//! Bad values fail the cold start with an error that names the variable
//! ([`ConfigError`], reported as `Ferry.Config`).

use crate::handler::Limits;
use crate::request::{Mode, RequestDefaults};
use ferry_core::settings::Settings;
pub use ferry_lambda::{ConfigError, MigrationSettings};

/// The validate function's configuration.
#[derive(Debug, Clone)]
pub struct ValidateConfig {
    /// Table, clusters (secrets redacted in Debug), replication policy, topic filter, the groups
    /// whose coverage is reported and the metrics namespace.
    pub migration: MigrationSettings,
    /// Heartbeat topic on the source.
    pub heartbeat_topic: String,
    /// Defaults for scheduled runs and missing input fields.
    pub defaults: RequestDefaults,
    /// Comparison limits.
    pub limits: Limits,
}

impl ValidateConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(&get);
        let limits = Limits {
            exact_lag_max: settings.number("FERRY_VALIDATE_EXACT_LAG_MAX", 10_000i64, 0)?,
            full_max_records: settings.number("FERRY_VALIDATE_FULL_MAX_RECORDS", 100_000i64, 1)?,
            sample_windows: settings.number("FERRY_VALIDATE_SAMPLE_WINDOWS", 8u32, 1)?,
            window_records: settings.number("FERRY_VALIDATE_WINDOW_RECORDS", 1000i64, 1)?,
            concurrency: settings.number("FERRY_VALIDATE_CONCURRENCY", 16usize, 1)?,
        };
        Ok(Self {
            migration: MigrationSettings::from_lookup(&get)?,
            heartbeat_topic: settings.string_or("FERRY_HEARTBEAT_TOPIC", "ferry-heartbeats"),
            defaults: RequestDefaults {
                migration_id: settings.string_or("FERRY_MIGRATION_ID", "default"),
                mode: settings.parsed("FERRY_VALIDATE_MODE", Mode::Lag, "lag/full", Mode::parse)?,
                fail_on_mismatch: settings.flag("FERRY_VALIDATE_FAIL_ON_MISMATCH", false)?,
            },
            limits,
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
                window_records: 1000,
                concurrency: 16,
            }
        );
    }
}
