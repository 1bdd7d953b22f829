//! The cutover function's typed configuration, read once at cold start from the environment.
//!
//! The settings every two-cluster function reads (`FERRY_TABLE`, `FERRY_SOURCE_*`,
//! `FERRY_TARGET_*`, `FERRY_REPLICATION_POLICY`, `FERRY_TOPICS_*`, `FERRY_GROUPS_*` for the
//! groups moved when the state machine input names none, `FERRY_METRICS_NAMESPACE`) are
//! [`MigrationSettings`]; the function's own:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_MIRROR_FUNCTION` | function whose event source mappings are disabled at the end | `mirror` |
//! | `FERRY_SOURCE_QUIET_MS` | how long source end offsets must stay unchanged before the drain completes | `10000` |
//! | `FERRY_EVENT_BUS` | EventBridge bus the migration's events go to ([`ferry_core::events`]); empty: none | empty |
//! | `FERRY_TARGET_MSK_CLUSTER_ARN` | the target MSK cluster: the preflight reads its broker storage (`DescribeClusterV2`: brokers × EBS volume) and checks the migration's estimated size against it; empty: storage not checked | empty |
//!
//! Bad values fail the cold start with an error that names the variable
//! ([`ConfigError`], reported as `Ferry.Config`).

use ferry_core::settings::Settings;
pub use ferry_lambda::{ConfigError, MigrationSettings};

/// The cutover function's configuration.
#[derive(Debug, Clone)]
pub struct CutoverConfig {
    /// Table, clusters (secrets redacted in Debug), replication policy, topic filter, the groups
    /// moved by default and the metrics namespace.
    pub migration: MigrationSettings,
    /// The mirror function's name.
    pub mirror_function: String,
    /// Quiet period of the drain check.
    pub quiet_ms: i64,
    /// EventBridge bus of the migration events (`None`: not published).
    pub event_bus: Option<String>,
    /// The target MSK cluster (`None`: its storage is not checked).
    pub target_msk_cluster_arn: Option<String>,
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
            migration: MigrationSettings::from_lookup(&get)?,
            mirror_function: settings.string_or("FERRY_MIRROR_FUNCTION", "mirror"),
            quiet_ms: settings.number("FERRY_SOURCE_QUIET_MS", 10_000i64, 0)?,
            event_bus: settings.optional("FERRY_EVENT_BUS"),
            target_msk_cluster_arn: settings.optional("FERRY_TARGET_MSK_CLUSTER_ARN"),
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
