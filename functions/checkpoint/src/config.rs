//! The checkpoint function's typed configuration, read once at cold start from the environment.
//!
//! The settings every two-cluster function reads (`FERRY_TABLE`, `FERRY_SOURCE_*`,
//! `FERRY_TARGET_*`, `FERRY_REPLICATION_POLICY`, `FERRY_TOPICS_*`, `FERRY_GROUPS_*` for the
//! groups that are checkpointed, `FERRY_METRICS_NAMESPACE`) are [`MigrationSettings`]; the
//! function's own:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_SYNC_GROUP_OFFSETS` | commit translated offsets to the group on the target while it is empty there | `true` |
//!
//! Bad values fail the cold start with an error that names the variable
//! ([`ConfigError`], reported as `Ferry.Config`).

use ferry_core::settings::Settings;
pub use ferry_lambda::{ConfigError, MigrationSettings};

/// The checkpoint function's configuration.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// Table, clusters (secrets redacted in Debug), replication policy, topic filter, the groups
    /// that are checkpointed and the metrics namespace.
    pub migration: MigrationSettings,
    /// Commit translated offsets to target groups.
    pub sync_group_offsets: bool,
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
            migration: MigrationSettings::from_lookup(&get)?,
            sync_group_offsets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::policy::ReplicationPolicy;
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
        assert_eq!(c.migration.policy, ReplicationPolicy::Identity);
        assert!(c.migration.groups.matches("orders-service"));
        assert!(!c.migration.groups.matches("ferry-esm-orders"));
        assert_eq!(c.migration.metrics_namespace, "Ferry");
    }
}
