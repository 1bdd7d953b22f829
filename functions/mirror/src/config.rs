//! The mirror's typed configuration, read once at cold start from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `FERRY_TABLE` | DynamoDB state table | required |
//! | `FERRY_TARGET_BOOTSTRAP` (+ `FERRY_TARGET_SECURITY`, `FERRY_TARGET_SECRET_ARN`, ...) | target cluster, see `ferry_kafka::KafkaConnection::from_env`; the secret the ARN names is read from Secrets Manager at cold start (`ferry_lambda::resolve_secrets`), `msk-iam` signs tokens with the function role | required |
//! | `FERRY_SOURCE_BOOTSTRAP` (+ `FERRY_SOURCE_SECURITY`, `FERRY_SOURCE_SECRET_ARN`, ...) | source cluster, read only for the data-loss checks: a gap before the next record to mirror, or a redelivery, is checked against the source partition's log start and end (records removed by retention before they were mirrored, a re-created topic → `Ferry.DataLoss`). Unset: the checks are off (a warning at cold start) | unset |
//! | `FERRY_REPLICATION_POLICY` | `identity` or `prefix:<alias>` | `identity` |
//! | `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE` | comma-separated full-match regexes | all / none (internal topics always excluded) |
//! | `FERRY_ALLOW_NON_EMPTY_TARGET` | start mirroring after records already in a target partition | `false` |
//! | `FERRY_METRICS_NAMESPACE` | CloudWatch namespace for EMF metrics | `Ferry` |
//! | `FERRY_TARGET_COMPRESSION` | target producer `compression.type`: `none`, `gzip`, `snappy`, `lz4`, `zstd` | `lz4` |
//! | `FERRY_TARGET_FENCING` | `transactions`: every target partition is written in Kafka transactions by a producer with a stable `transactional.id`, so a newer invocation of the partition fences every older one (overlapping deliveries, zombies) at the broker; target consumers must read `read_committed`. `none`: one idempotent producer, exactly once only while one invocation at a time writes a partition (benchmarks, clusters that refuse transactions) | `transactions` |
//! | `FERRY_TRANSACTIONAL_ID_PREFIX` | prefix of the `transactional.id`s (`<prefix><target topic>-<partition>`); the same for every mirror function of one migration, different between migrations | `ferry-<FERRY_TABLE>-` |
//! | `FERRY_TRANSACTION_TIMEOUT_MS` | `transaction.timeout.ms`: how long a vanished writer's open transaction blocks `read_committed` readers of its partition if no newer writer fences it first; keep it above the function timeout | `60000` |
//! | `FERRY_PROGRESS_CACHE` | reuse a partition's progress from this sandbox's last commit instead of reading it every batch (see `handler`'s module doc; `false` reads it every batch) | `true` |
//!
//! Bad values fail the cold start with an error that names the variable
//! ([`ferry_lambda::ConfigError`], reported as `Ferry.Config`).
//!
//! **Compression default.** `lz4`: typical Kafka payloads (JSON, Avro, text) shrink 2–4× with it
//! at the lowest CPU cost of the codecs that compress, which cuts what the mirror sends to the
//! target (cross-AZ / VPN traffic, broker disk and replication) and usually saves time per
//! batch. Set `none` for payloads that do not compress (already compressed, encrypted, random):
//! there lz4 is pure CPU (profiled at ~3 % of the mirror's CPU on 1 KiB random values); `zstd`
//! for the best ratio when target bandwidth or storage is the constraint. The codec only changes
//! how batches travel and are stored: consumers on the target see identical records.

use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::settings::Settings;
use ferry_kafka::{Compression, Fencing, KafkaConnection};
pub use ferry_lambda::ConfigError;
use std::time::Duration;

/// The mirror function's configuration.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// DynamoDB table.
    pub table: String,
    /// Target cluster connection (secrets redacted in Debug).
    pub target: KafkaConnection,
    /// Source cluster connection for the data-loss checks, if configured.
    pub source: Option<KafkaConnection>,
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which topics may be mirrored.
    pub filter: TopicFilter,
    /// Start after records already present in a target partition.
    pub allow_non_empty_target: bool,
    /// CloudWatch namespace.
    pub metrics_namespace: String,
    /// Target producer compression (`FERRY_TARGET_COMPRESSION`).
    pub compression: Compression,
    /// Warm-sandbox progress cache (`FERRY_PROGRESS_CACHE`).
    pub progress_cache: bool,
    /// Fencing of older writers (`FERRY_TARGET_FENCING`, `FERRY_TRANSACTIONAL_ID_PREFIX`,
    /// `FERRY_TRANSACTION_TIMEOUT_MS`).
    pub fencing: Fencing,
}

impl MirrorConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(&get);
        let table = settings.table()?;
        let transactions = settings.parsed(
            "FERRY_TARGET_FENCING",
            true,
            "one of transactions, none",
            |v| match v.to_ascii_lowercase().as_str() {
                "transactions" => Some(true),
                "none" => Some(false),
                _ => None,
            },
        )?;
        let fencing = if transactions {
            let id_prefix =
                settings.string_or("FERRY_TRANSACTIONAL_ID_PREFIX", &format!("ferry-{table}-"));
            let timeout_ms: u64 = settings.number("FERRY_TRANSACTION_TIMEOUT_MS", 60_000, 1_000)?;
            match Fencing::transactions(&table) {
                Fencing::Transactions {
                    max_producers,
                    idle_timeout,
                    ..
                } => Fencing::Transactions {
                    id_prefix,
                    transaction_timeout: Duration::from_millis(timeout_ms),
                    max_producers,
                    idle_timeout,
                },
                Fencing::None => Fencing::None,
            }
        } else {
            Fencing::None
        };
        Ok(Self {
            table,
            fencing,
            target: KafkaConnection::from_lookup("FERRY_TARGET", &get)?,
            source: match get("FERRY_SOURCE_BOOTSTRAP") {
                Some(v) if !v.trim().is_empty() => {
                    Some(KafkaConnection::from_lookup("FERRY_SOURCE", &get)?)
                }
                _ => None,
            },
            policy: settings.replication_policy()?,
            filter: settings.topic_filter()?,
            allow_non_empty_target: settings.flag("FERRY_ALLOW_NON_EMPTY_TARGET", false)?,
            metrics_namespace: settings.metrics_namespace(),
            compression: settings.parsed(
                "FERRY_TARGET_COMPRESSION",
                Compression::Lz4,
                "one of none, gzip, snappy, lz4, zstd",
                |v| match v.to_ascii_lowercase().as_str() {
                    "none" => Some(Compression::None),
                    "gzip" => Some(Compression::Gzip),
                    "snappy" => Some(Compression::Snappy),
                    "lz4" => Some(Compression::Lz4),
                    "zstd" => Some(Compression::Zstd),
                    _ => None,
                },
            )?,
            progress_cache: settings.flag("FERRY_PROGRESS_CACHE", true)?,
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
            ("FERRY_TARGET_COMPRESSION", "brotli"),
            ("FERRY_PROGRESS_CACHE", "maybe"),
            ("FERRY_TARGET_FENCING", "locks"),
            ("FERRY_TRANSACTION_TIMEOUT_MS", "5"),
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
        assert_eq!(c.compression, Compression::Lz4);
        assert!(c.progress_cache);
        assert_eq!(
            c.fencing,
            Fencing::Transactions {
                id_prefix: "ferry-t-".into(),
                transaction_timeout: Duration::from_secs(60),
                max_producers: 256,
                idle_timeout: Duration::from_secs(60),
            }
        );
    }

    #[test]
    fn compression_codecs() {
        for (v, want) in [
            ("none", Compression::None),
            ("gzip", Compression::Gzip),
            ("snappy", Compression::Snappy),
            ("LZ4", Compression::Lz4),
            (" zstd ", Compression::Zstd),
            ("", Compression::Lz4),
        ] {
            let c = MirrorConfig::from_lookup(lookup(&[
                ("FERRY_TABLE", "t"),
                ("FERRY_TARGET_BOOTSTRAP", "b:9092"),
                ("FERRY_TARGET_COMPRESSION", v),
            ]))
            .unwrap();
            assert_eq!(c.compression, want, "{v:?}");
        }
    }
}
