//! `ferry storage`: size a Provisioned MSK target's broker volumes before the backfill starts,
//! and grow them only after asking.
//!
//! Stitch Fix's migration found that MSK storage auto-scaling reacts too slowly for a
//! backfill and then waits out a cool-down before it scales again. So Ferry sizes the target
//! up front:
//!
//! 1. reads `ferry plan`'s measurements (`--plan`, default `infra/ferry-plan.json`): each
//!    topic's retained bytes and write rate;
//! 2. reads each topic's `retention.ms` from the source (Kafka admin client);
//! 3. projects each topic's size on the target
//!    ([`ferry_core::msk::projected_topic_bytes`]: the retention window filled at the
//!    measured rate, or, without time retention, what is there plus `--horizon-days` of
//!    growth), times the replication factor;
//! 4. describes the target (`DescribeClusterV2`) and sizes the volumes
//!    ([`ferry_core::msk::size_volumes`]: 30 % headroom, whole GiB, never shrinking, at most
//!    16,384 GiB per broker);
//! 5. prints the sizing; with `--grow`, asks `[y/N]` on the terminal (or stdin) before
//!    `UpdateBrokerStorage`, unless `--yes`. MSK accepts the next storage increase only six
//!    hours after one, and storage never shrinks: the prompt says so.
//!
//! MSK Serverless has no broker storage: the command says so and changes nothing (the
//! cutover's preflight checks Serverless limits instead).

use crate::args::StorageArgs;
use crate::plan::read_plan;
use crate::report::{Align, Table};
use anyhow::Context as _;
use ferry_aws::msk::MskCluster;
use ferry_core::msk::{
    projected_topic_bytes, size_volumes, VolumeSizing, MAX_VOLUME_GIB, STORAGE_COOL_DOWN_HOURS,
};
use ferry_core::ports::{ClusterDescriber, SourceTopicDescriber};
use ferry_core::tiering::TopicMeasurement;
use ferry_kafka::KafkaTopicAdmin;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Default replication factor of target topics (MSK's default for three AZs).
pub const DEFAULT_REPLICATION_FACTOR: u32 = 3;

/// One topic's projected size on the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicSize {
    /// Source topic.
    pub topic: String,
    /// Bytes retained on the source now (estimate from the plan).
    pub retained_bytes: u64,
    /// Measured write rate.
    pub bytes_per_sec: f64,
    /// `retention.ms` on the source (`None`: unlimited).
    pub retention_ms: Option<i64>,
    /// Bytes one replica will hold ([`projected_topic_bytes`]).
    pub projected_bytes: u64,
}

/// What `ferry storage` found (printed, or JSON with `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageSizing {
    /// Target cluster ARN.
    pub cluster: String,
    /// Broker count.
    pub brokers: u32,
    /// Replicas per target topic.
    pub replication_factor: u32,
    /// Per topic.
    pub topics: Vec<TopicSize>,
    /// Bytes all replicas will take.
    pub needed_bytes: u64,
    /// The volume sizing.
    pub volumes: VolumeSizing,
    /// The `UpdateBrokerStorage` operation started, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_arn: Option<String>,
}

/// Projects every measured topic (see the module doc). `retention` maps topic names to their
/// `retention.ms` on the source (`None`: unlimited, or compacted).
pub fn project(
    measured: &[TopicMeasurement],
    retention: &BTreeMap<String, Option<i64>>,
    horizon_secs: u64,
) -> Vec<TopicSize> {
    measured
        .iter()
        .map(|m| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let retained_bytes = if m.retained_bytes.is_finite() && m.retained_bytes > 0.0 {
                m.retained_bytes.ceil() as u64
            } else {
                0
            };
            let retention_ms = retention.get(&m.topic).copied().flatten();
            TopicSize {
                topic: m.topic.clone(),
                retained_bytes,
                bytes_per_sec: m.bytes_per_sec,
                retention_ms,
                projected_bytes: projected_topic_bytes(
                    retained_bytes,
                    m.bytes_per_sec,
                    retention_ms,
                    horizon_secs,
                ),
            }
        })
        .collect()
}

/// Runs `ferry storage`. `Ok(false)` when the data does not fit even MSK's largest volumes.
pub async fn run(args: &StorageArgs) -> anyhow::Result<bool> {
    let plan = read_plan(&args.plan)?;
    let cluster = MskCluster::from_env(args.target_msk_cluster_arn.clone()).await;
    let facts = cluster
        .describe_cluster()
        .await
        .with_context(|| format!("describing {}", args.target_msk_cluster_arn))?;
    if facts.is_serverless() {
        println!(
            "{} is MSK Serverless: it has no broker storage to size or grow (its limits, such as retention.bytes of 250 GiB per partition by default, are checked by the cutover's preflight)",
            facts.arn
        );
        return Ok(true);
    }
    let (Some(brokers), Some(current_gib)) = (facts.broker_count, facts.volume_gib) else {
        anyhow::bail!(
            "{} reports no broker count or EBS volume size (tiered storage only?): nothing to size",
            facts.arn
        );
    };

    let source = KafkaTopicAdmin::new(args.clusters.source().await?, "source");
    let names: Vec<String> = plan.topics.iter().map(|t| t.topic.clone()).collect();
    let described = source
        .describe_topics(&names)
        .await
        .context("describing the plan's topics on the source")?;
    let mut retention: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for d in &described {
        // Compacted topics keep their latest value per key: no time bound on their size.
        let timed = d.deletes().then(|| d.retention_ms()).flatten();
        retention.insert(d.name.clone(), timed);
    }
    let missing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !retention.contains_key(*n))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "topics of {} are not on the source: {} (re-run ferry plan)",
        args.plan.display(),
        missing.join(", ")
    );

    let rf = args
        .replication_factor
        .unwrap_or_else(|| DEFAULT_REPLICATION_FACTOR.min(brokers.max(1)));
    let topics = project(&plan.topics, &retention, args.horizon_days * 86_400);
    let needed_bytes = topics
        .iter()
        .map(|t| t.projected_bytes.saturating_mul(u64::from(rf)))
        .fold(0u64, u64::saturating_add);
    let volumes = size_volumes(needed_bytes, brokers, current_gib);
    let mut sizing = StorageSizing {
        cluster: facts.arn.clone(),
        brokers,
        replication_factor: rf,
        topics,
        needed_bytes,
        volumes,
        operation_arn: None,
    };
    if !args.json {
        print!("{}", render(&sizing));
    }
    let fits = !volumes.exceeds_maximum();
    if volumes.grows() && args.grow {
        let question = format!(
            "Grow the {brokers} brokers' EBS volumes of {} from {current_gib} GiB to {} GiB? Storage never shrinks, and MSK accepts the next increase only {STORAGE_COOL_DOWN_HOURS} hours after this one. [y/N] ",
            facts.arn, volumes.request_gib
        );
        if args.yes || confirm(&question)? {
            let operation = cluster
                .grow_storage(volumes.request_gib)
                .await
                .context("UpdateBrokerStorage")?;
            if !args.json {
                println!("storage update started: {operation}");
            }
            sizing.operation_arn = Some(operation);
        } else if !args.json {
            println!("left as it is");
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&sizing)?);
    }
    Ok(fits)
}

/// Asks `question` on stderr and reads one line from stdin: `y` or `yes` (any case) is yes;
/// anything else, or end of input, is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    err.write_all(question.as_bytes())?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The sizing as text: a table per topic and what to do.
pub fn render(s: &StorageSizing) -> String {
    let mut table = Table::new(&[
        ("topic", Align::Left),
        ("retained", Align::Right),
        ("write rate", Align::Right),
        ("retention", Align::Right),
        ("projected", Align::Right),
    ]);
    for t in &s.topics {
        table.row(
            vec![
                t.topic.clone(),
                bytes(t.retained_bytes),
                format!("{}/s", bytes(whole(t.bytes_per_sec))),
                t.retention_ms
                    .map_or_else(|| "unlimited".to_owned(), duration),
                bytes(t.projected_bytes),
            ],
            None,
        );
    }
    let v = &s.volumes;
    let mut out = format!(
        "target {}: {} brokers × {} GiB\n{}",
        s.cluster,
        s.brokers,
        v.current_gib,
        table.render(false)
    );
    out.push_str(&format!(
        "needed: {} ({} replicas of the projected sizes); with 30% headroom {} GiB per broker\n",
        bytes(s.needed_bytes),
        s.replication_factor,
        v.needed_gib
    ));
    if v.exceeds_maximum() {
        out.push_str(&format!(
            "too large: MSK allows at most {MAX_VOLUME_GIB} GiB per broker; add brokers or enable tiered storage before migrating\n"
        ));
    }
    if v.grows() {
        out.push_str(&format!(
            "grow the volumes from {} GiB to {} GiB before the backfill (`ferry storage --grow` asks first); MSK accepts the next increase only {STORAGE_COOL_DOWN_HOURS} hours after one\n",
            v.current_gib, v.request_gib
        ));
    } else {
        out.push_str("the volumes are large enough\n");
    }
    out
}

/// A non-negative rate as whole bytes (NaN and negatives: 0).
fn whole(rate: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = if rate.is_finite() && rate > 0.0 {
        rate as u64
    } else {
        0
    };
    n
}

/// Bytes in binary units with one decimal (`1.5 GiB`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A retention in the largest whole unit (`7 d`, `12 h`, `30 min`, `500 ms`).
fn duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1000, "s"),
    ];
    UNITS
        .iter()
        .find(|(unit, _)| ms >= *unit && ms % unit == 0)
        .map_or_else(
            || format!("{ms} ms"),
            |(unit, name)| format!("{} {name}", ms / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(topic: &str, retained: f64, rate: f64) -> TopicMeasurement {
        TopicMeasurement {
            topic: topic.into(),
            partitions: 3,
            records_per_sec: 0.0,
            bytes_per_sec: rate,
            mean_record_bytes: Some(100.0),
            retained_records: 0,
            retained_bytes: retained,
        }
    }

    #[test]
    fn projects_by_retention_and_renders() {
        let topics = project(
            &[
                measured("clicks", 1e6, 1000.0),
                measured("ledger", 5e6, 10.0),
            ],
            &BTreeMap::from([
                ("clicks".to_owned(), Some(86_400_000)),
                ("ledger".to_owned(), None),
            ]),
            100,
        );
        assert_eq!(topics[0].projected_bytes, 86_400_000);
        assert_eq!(topics[1].projected_bytes, 5_001_000);
        let needed = 3 * (86_400_000 + 5_001_000);
        let sizing = StorageSizing {
            cluster: "arn:c".into(),
            brokers: 3,
            replication_factor: 3,
            topics,
            needed_bytes: needed,
            volumes: size_volumes(needed, 3, 1),
            operation_arn: None,
        };
        let text = render(&sizing);
        for needle in ["clicks", "1 d", "unlimited", "82.4 MiB", "large enough"] {
            assert!(text.contains(needle), "{needle}:\n{text}");
        }
        let small = StorageSizing {
            needed_bytes: needed * 1000,
            volumes: size_volumes(needed * 1000, 3, 1),
            ..sizing
        };
        assert!(
            render(&small).contains("from 1 GiB to 122 GiB"),
            "{}",
            render(&small)
        );
    }

    #[test]
    fn units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(duration(604_800_000), "7 d");
        assert_eq!(duration(5_400_000), "90 min");
        assert_eq!(duration(1500), "1500 ms");
    }
}
