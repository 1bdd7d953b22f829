//! `ferry plan`: measure the source topics and generate the volume-tiered Kafka event source
//! mappings that `infra/template.yaml` deploys.
//!
//! A Kafka event source mapping (ESM) takes exactly one topic, so a migration needs one mapping
//! per topic, and one size does not fit all: Stitch Fix's lesson from MirrorMaker 2 was that
//! high-volume topics need their own connectors and more tasks. `ferry plan`
//!
//! 1. lists the source topics (`--topics`, or every topic matching `--include`/`--exclude`,
//!    internal topics never), reads each partition's end offsets twice, `--interval` seconds
//!    apart, and derives the write rate in records/s;
//! 2. reads up to `--sample-records` of the newest records of each topic's largest partition for
//!    the mean record size (key + value + headers), giving bytes/s and the retained size
//!    (retained records × mean size: an estimate, rdkafka has no DescribeLogDirs);
//! 3. assigns each topic a [`Tier`] ([`Thresholds`]: the highest tier that its bytes/s,
//!    records/s or retained bytes reach) and the tier's mapping settings ([`MappingSettings`]);
//! 4. writes `<out-dir>/ferry-plan.json` (the measurements and thresholds: the plan's input) and
//!    `<out-dir>/mappings.yaml`, a CloudFormation template with one
//!    `AWS::Lambda::EventSourceMapping` per topic, which `infra/template.yaml` deploys as a
//!    nested application (`TopicMappings`). The mappings work for an MSK source
//!    (`SourceMskClusterArn`; IAM, SCRAM or mTLS) and for a self-managed source (bootstrap
//!    servers; SCRAM or mTLS from Secrets Manager, optional private root CA, VPC subnets and
//!    security group), chosen by the nested stack's parameters at deploy time.
//!
//! `mappings.yaml` is a pure function of `ferry-plan.json` ([`render_mappings`]: sorted topics,
//! no timestamps): `ferry plan --from infra/ferry-plan.json --check` re-renders it and fails if the
//! checked-in file differs, and a unit test does the same in CI.
//!
//! The tiering policy (thresholds → tier → `BatchSize`, batching window, pollers, consumer
//! group) is pure and lives in [`ferry_core::tiering`]; this module measures and renders.
//!
//! Every mapping starts at `TRIM_HORIZON` (the whole retained log is mirrored) with consumer
//! group `ferry-<topic>` (excluded from checkpoints; `ferry-<prefix>-<hash>` if too long).
//!
//! The plan is a snapshot: topics created later are mapped by the deployed `discover` function
//! (same tiering, same source settings; see its crate docs), and [`NEXT_STEPS`] says so, and how
//! the mappings authenticate, after every written plan.

use crate::args::{PlanArgs, ThresholdArgs};
use crate::state;
use anyhow::Context as _;
use ferry_core::policy::TopicFilter;
pub use ferry_core::tiering::{
    consumer_group, logical_id, settings, tier, MappingSettings, Plan, Thresholds, Tier,
    TopicMeasurement, PLAN_VERSION,
};
use ferry_core::TopicPartition;
use ferry_kafka::reader::{read_partition, Isolation};
use ferry_kafka::KafkaConnection;
use futures::stream::{self, StreamExt};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// File name of the plan (measurements and thresholds) in the output directory.
pub const PLAN_FILE: &str = "ferry-plan.json";
/// File name of the generated mappings template in the output directory.
pub const MAPPINGS_FILE: &str = "mappings.yaml";
impl From<ThresholdArgs> for Thresholds {
    fn from(t: ThresholdArgs) -> Self {
        Self {
            high_bytes_per_sec: t.high_bytes_per_sec,
            high_records_per_sec: t.high_records_per_sec,
            high_retained_bytes: t.high_retained_bytes,
            medium_bytes_per_sec: t.medium_bytes_per_sec,
            medium_records_per_sec: t.medium_records_per_sec,
            medium_retained_bytes: t.medium_retained_bytes,
        }
    }
}

/// Printed after a plan is written: what the plan does not cover and how the mappings
/// authenticate.
pub const NEXT_STEPS: &str = "\
next: deploy with `sam build && sam deploy` (README, Deploy to AWS).
  auth: the mappings read the source as the stack's parameters say: SourceMskClusterArn (MSK: IAM,
        or SCRAM/mTLS from SourceSecretArn) or the bootstrap servers (SourceSecurity scram-sha-512|
        scram-sha-256|tls with SourceSecretArn, a private CA in SourceCaSecretArn, the first two
        SubnetIds and first SecurityGroupIds); secrets in the mappings' JSON formats (README, Secrets).
  new topics: DiscoverFunction maps topics created after this plan and adds target partitions
        every 5 minutes, with the same tiers (DiscoveryApply=false: report only); re-run
        `ferry plan` to bring its mappings into mappings.yaml.
";

/// Renders the mappings template (CloudFormation YAML, short-form intrinsics) for `plan`.
/// Deterministic: topics sorted by name, no timestamps.
pub fn render_mappings(plan: &Plan) -> String {
    let mut topics: Vec<&TopicMeasurement> = plan.topics.iter().collect();
    topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    let mut y = String::new();
    let counts = |tier: Tier| {
        topics
            .iter()
            .filter(|m| settings(m, &plan.thresholds).tier == tier)
            .count()
    };
    let _ = writeln!(
        y,
        "# GENERATED by `ferry plan` from ferry-plan.json: do not edit. Re-run `ferry plan` to\n\
         # measure again, or `ferry plan --from infra/ferry-plan.json` to re-render; CI checks\n\
         # that this file matches the plan (`ferry plan --from infra/ferry-plan.json --check`).\n\
         # {} topics: {} high, {} medium, {} low.",
        topics.len(),
        counts(Tier::High),
        counts(Tier::Medium),
        counts(Tier::Low)
    );
    y.push_str(MAPPINGS_HEADER);
    if topics.is_empty() {
        y.push_str(
            "  # No topics planned: CloudFormation needs one resource.\n  \
             NoMappings:\n    Type: AWS::CloudFormation::WaitConditionHandle\n",
        );
    }
    for m in &topics {
        let s = settings(m, &plan.thresholds);
        let topic = yaml_quote(&m.topic);
        let group = yaml_quote(&s.consumer_group);
        let _ = writeln!(
            y,
            "\n  # {topic}: {} tier; {} partitions, {:.1} records/s, {:.0} bytes/s, {} retained records (~{:.0} bytes)",
            s.tier.name(),
            m.partitions,
            m.records_per_sec,
            m.bytes_per_sec,
            m.retained_records,
            m.retained_bytes
        );
        let _ = writeln!(y, "  {}:", logical_id(&m.topic));
        y.push_str("    Type: AWS::Lambda::EventSourceMapping\n    Properties:\n");
        y.push_str("      FunctionName: !Ref MirrorFunctionArn\n");
        let _ = writeln!(y, "      Topics: [{topic}]");
        let _ = writeln!(y, "      StartingPosition: {}", s.starting_position);
        let _ = writeln!(y, "      BatchSize: {}", s.batch_size);
        let _ = writeln!(
            y,
            "      MaximumBatchingWindowInSeconds: {}",
            s.batching_window_secs
        );
        if let Some((min, max)) = s.pollers {
            let _ = writeln!(
                y,
                "      ProvisionedPollerConfig: {{ MinimumPollers: {min}, MaximumPollers: {max} }}"
            );
        }
        y.push_str("      EventSourceArn: !If [SourceIsMsk, !Ref SourceMskClusterArn, !Ref AWS::NoValue]\n");
        let _ = writeln!(
            y,
            "      AmazonManagedKafkaEventSourceConfig: !If [SourceIsMsk, {{ ConsumerGroupId: {group} }}, !Ref AWS::NoValue]"
        );
        y.push_str(
            "      SelfManagedEventSource: !If\n        - SourceIsMsk\n        - !Ref AWS::NoValue\n        \
             - Endpoints: { KafkaBootstrapServers: !Split [\",\", !Ref SourceBootstrapServers] }\n",
        );
        let _ = writeln!(
            y,
            "      SelfManagedKafkaEventSourceConfig: !If [SourceIsMsk, !Ref AWS::NoValue, {{ ConsumerGroupId: {group} }}]"
        );
        y.push_str(SOURCE_ACCESS);
    }
    let _ = write!(
        y,
        "\nOutputs:\n  MappingCount:\n    Value: \"{}\"\n",
        topics.len()
    );
    y
}

/// Parameters and conditions of the mappings template.
const MAPPINGS_HEADER: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Description: Ferry Kafka event source mappings (one per topic, volume-tiered), generated by ferry plan.

Parameters:
  MirrorFunctionArn:
    Type: String
  SourceMskClusterArn:
    Type: String
    Default: ""
  SourceBootstrapServers:
    Type: String
  SourceSecurity:
    Type: String
    AllowedValues: [plaintext, tls, scram-sha-512, scram-sha-256, msk-iam]
  SourceSecretArn:
    Type: String
    Default: ""
  SourceCaSecretArn:
    Type: String
    Default: ""
  SubnetA:
    Type: String
  SubnetB:
    Type: String
  SecurityGroup:
    Type: String

Conditions:
  SourceIsMsk: !Not [!Equals [!Ref SourceMskClusterArn, ""]]
  SourceIsSelfManaged: !Equals [!Ref SourceMskClusterArn, ""]
  HasSourceSecret: !Not [!Equals [!Ref SourceSecretArn, ""]]
  Scram512: !And [!Equals [!Ref SourceSecurity, scram-sha-512], !Condition HasSourceSecret]
  Scram256: !And [!Equals [!Ref SourceSecurity, scram-sha-256], !Condition HasSourceSecret]
  MutualTls: !And [!Equals [!Ref SourceSecurity, tls], !Condition HasSourceSecret]
  PrivateCa: !And [!Condition SourceIsSelfManaged, !Not [!Equals [!Ref SourceCaSecretArn, ""]]]
  NeedsAccessConfig: !Or [!Condition SourceIsSelfManaged, !Condition Scram512, !Condition Scram256, !Condition MutualTls]

Resources:
"#;

/// `SourceAccessConfigurations` of every mapping: credentials from Secrets Manager, the private
/// root CA and the VPC for self-managed sources; none for MSK IAM.
const SOURCE_ACCESS: &str = r#"      SourceAccessConfigurations: !If
        - NeedsAccessConfig
        - - !If [Scram512, { Type: SASL_SCRAM_512_AUTH, URI: !Ref SourceSecretArn }, !Ref AWS::NoValue]
          - !If [Scram256, { Type: SASL_SCRAM_256_AUTH, URI: !Ref SourceSecretArn }, !Ref AWS::NoValue]
          - !If [MutualTls, { Type: CLIENT_CERTIFICATE_TLS_AUTH, URI: !Ref SourceSecretArn }, !Ref AWS::NoValue]
          - !If [PrivateCa, { Type: SERVER_ROOT_CA_CERTIFICATE, URI: !Ref SourceCaSecretArn }, !Ref AWS::NoValue]
          - !If [SourceIsSelfManaged, { Type: VPC_SUBNET, URI: !Sub "subnet:${SubnetA}" }, !Ref AWS::NoValue]
          - !If [SourceIsSelfManaged, { Type: VPC_SUBNET, URI: !Sub "subnet:${SubnetB}" }, !Ref AWS::NoValue]
          - !If [SourceIsSelfManaged, { Type: VPC_SECURITY_GROUP, URI: !Sub "security_group:${SecurityGroup}" }, !Ref AWS::NoValue]
        - !Ref AWS::NoValue
"#;

/// A double-quoted YAML scalar (topic names are `[a-zA-Z0-9._-]`; anything else is escaped).
fn yaml_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Runs `ferry plan`. `Ok(false)`: `--check` found a difference.
pub async fn run(args: &PlanArgs) -> anyhow::Result<bool> {
    let mappings_path = args.out_dir.join(MAPPINGS_FILE);
    let plan = match &args.from {
        Some(path) => read_plan(path)?,
        None => measure(args).await?,
    };
    let rendered = render_mappings(&plan);
    eprint!("{}", plan_table(&plan));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    }
    if args.check {
        let current = std::fs::read_to_string(&mappings_path)
            .with_context(|| format!("cannot read {}", mappings_path.display()))?;
        if current != rendered {
            eprintln!(
                "{} does not match the plan {}: re-render it with `ferry plan --from {} --out-dir {}`",
                mappings_path.display(),
                args.from.as_deref().unwrap_or(Path::new("?")).display(),
                args.from.as_deref().unwrap_or(Path::new("?")).display(),
                args.out_dir.display()
            );
            return Ok(false);
        }
        eprintln!("{} matches the plan", mappings_path.display());
        return Ok(true);
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    if args.from.is_none() {
        let plan_path = args.out_dir.join(PLAN_FILE);
        std::fs::write(&plan_path, plan_json(&plan)?)
            .with_context(|| format!("cannot write {}", plan_path.display()))?;
        eprintln!("wrote {}", plan_path.display());
    }
    std::fs::write(&mappings_path, rendered)
        .with_context(|| format!("cannot write {}", mappings_path.display()))?;
    eprintln!("wrote {}", mappings_path.display());
    eprint!("{NEXT_STEPS}");
    Ok(true)
}

/// The plan file's text (pretty JSON, trailing newline).
pub fn plan_json(plan: &Plan) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(plan)? + "\n")
}

/// Reads a plan file.
pub fn read_plan(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan {}", path.display()))?;
    let plan: Plan =
        serde_json::from_str(&text).with_context(|| format!("invalid plan {}", path.display()))?;
    anyhow::ensure!(
        plan.version == PLAN_VERSION,
        "plan {} has version {}, this ferry reads version {PLAN_VERSION}",
        path.display(),
        plan.version
    );
    Ok(plan)
}

/// Measures the source topics (see the module docs).
pub async fn measure(args: &PlanArgs) -> anyhow::Result<Plan> {
    let source = args.clusters.source().await?;
    let names = if args.topics.is_empty() {
        let filter = TopicFilter::from_lists(&args.include, &args.exclude)
            .context("invalid --include/--exclude")?;
        ferry_kafka::list_topics(&source)
            .await
            .context("cannot list the source topics")?
            .into_iter()
            .filter(|t| filter.matches(t))
            .collect()
    } else {
        let mut names = args.topics.clone();
        names.sort();
        names.dedup();
        names
    };
    let topics = state::describe_topics(&source, &names).await?;
    let tps = state::all_tps(&topics);
    eprintln!(
        "plan: {} topics, {} partitions; sampling end offsets {} s apart",
        topics.len(),
        tps.len(),
        args.interval
    );
    let first = state::offsets(&source, &tps).await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.interval)).await;
    let second = state::offsets(&source, &tps).await?;
    let elapsed = started.elapsed().as_secs_f64().max(0.001);

    let mut out = Vec::with_capacity(topics.len());
    let mut index = 0;
    let mut per_topic = Vec::with_capacity(topics.len());
    for t in &topics {
        let n = usize::try_from(t.partitions).unwrap_or(0);
        let range = index..index + n;
        index += n;
        per_topic.push((t, range));
    }
    let sizes: Vec<Option<f64>> = stream::iter(per_topic.iter().map(|(t, range)| {
        let source = &source;
        let second = &second;
        async move {
            // The partition holding the most records gives the largest sample.
            let (p, (low, high)) = second[range.clone()]
                .iter()
                .enumerate()
                .max_by_key(|(_, (low, high))| high - low)?;
            let tp = TopicPartition::new(t.name.clone(), i32::try_from(p).ok()?);
            mean_record_bytes(source, &tp, *low, *high, args.sample_records).await
        }
    }))
    .buffered(4)
    .collect()
    .await;

    for ((t, range), mean) in per_topic.iter().zip(sizes) {
        let written: i64 = range
            .clone()
            .map(|i| (second[i].1 - first[i].1).max(0))
            .sum();
        let retained: i64 = range
            .clone()
            .map(|i| (second[i].1 - second[i].0).max(0))
            .sum();
        let records_per_sec = round2(written as f64 / elapsed);
        let mean_bytes = mean.map(round2);
        let retained_records = u64::try_from(retained).unwrap_or(0);
        out.push(TopicMeasurement {
            topic: t.name.clone(),
            partitions: t.partitions,
            records_per_sec,
            bytes_per_sec: round2(records_per_sec * mean_bytes.unwrap_or(0.0)),
            mean_record_bytes: mean_bytes,
            retained_records,
            retained_bytes: (retained_records as f64 * mean_bytes.unwrap_or(0.0)).round(),
        });
    }
    out.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(Plan {
        version: PLAN_VERSION,
        measured_at: ferry_local::schedule::rfc3339(SystemTime::now()),
        interval_secs: round2(elapsed),
        thresholds: args.thresholds.into(),
        topics: out,
    })
}

/// Mean payload size of up to `sample` of the newest records of `tp`; `None` if it has none
/// or they cannot be read (logged).
async fn mean_record_bytes(
    source: &KafkaConnection,
    tp: &TopicPartition,
    low: i64,
    high: i64,
    sample: u64,
) -> Option<f64> {
    let sample = i64::try_from(sample).unwrap_or(i64::MAX);
    if sample == 0 || high <= low {
        return None;
    }
    let from = (high - sample).max(low);
    match read_partition(source, tp, from, Some(high), Isolation::ReadUncommitted).await {
        Ok(records) if !records.is_empty() => {
            let total: usize = records.iter().map(|r| r.payload_bytes()).sum();
            Some(total as f64 / records.len() as f64)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(%tp, error = %e, "cannot sample record sizes; byte rates of this topic are unknown");
            None
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The plan as a table (topic, partitions, rates, size, tier, batch, window, pollers).
pub fn plan_table(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<40} {:>5} {:>10} {:>12} {:>14} {:<6} {:>6} {:>6} {:>9}",
        "topic",
        "parts",
        "records/s",
        "bytes/s",
        "retained B",
        "tier",
        "batch",
        "window",
        "pollers"
    );
    for m in &plan.topics {
        let st = settings(m, &plan.thresholds);
        let pollers = st
            .pollers
            .map_or_else(|| "on-demand".to_owned(), |(a, b)| format!("{a}-{b}"));
        let _ = writeln!(
            s,
            "{:<40} {:>5} {:>10.1} {:>12.0} {:>14.0} {:<6} {:>6} {:>5}s {:>9}",
            m.topic,
            m.partitions,
            m.records_per_sec,
            m.bytes_per_sec,
            m.retained_bytes,
            st.tier.name(),
            st.batch_size,
            st.batching_window_secs,
            pollers
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(topic: &str, partitions: i32, rps: f64, bps: f64, retained: f64) -> TopicMeasurement {
        TopicMeasurement {
            topic: topic.to_owned(),
            partitions,
            records_per_sec: rps,
            bytes_per_sec: bps,
            mean_record_bytes: Some(100.0),
            retained_records: (retained / 100.0) as u64,
            retained_bytes: retained,
        }
    }

    #[test]
    fn command_line_defaults_are_the_default_thresholds() {
        use clap::Parser as _;
        let cli = crate::Cli::try_parse_from(["ferry", "plan"]).unwrap();
        let crate::Command::Plan(args) = cli.command else {
            panic!("not plan");
        };
        assert_eq!(Thresholds::from(args.thresholds), Thresholds::default());
    }

    #[test]
    fn rendering_is_deterministic_and_sorted() {
        let plan = Plan {
            version: PLAN_VERSION,
            measured_at: "2026-01-01T00:00:00Z".into(),
            interval_secs: 60.0,
            thresholds: Thresholds::default(),
            topics: vec![
                m("zeta", 3, 0.0, 0.0, 0.0),
                m("alpha", 12, 20_000.0, 4e6, 0.0),
            ],
        };
        let a = render_mappings(&plan);
        let mut reversed = plan.clone();
        reversed.topics.reverse();
        reversed.measured_at = "2027-01-01T00:00:00Z".into();
        assert_eq!(a, render_mappings(&reversed));
        assert!(a.find("\"alpha\"").unwrap() < a.find("\"zeta\"").unwrap());
        assert!(a.contains("ProvisionedPollerConfig: { MinimumPollers: 6, MaximumPollers: 12 }"));
        assert!(a.contains("# 2 topics: 1 high, 0 medium, 1 low."));
        assert!(a.contains("MappingCount:\n    Value: \"2\""));
        let empty = Plan {
            topics: vec![],
            ..plan
        };
        assert!(render_mappings(&empty).contains("AWS::CloudFormation::WaitConditionHandle"));
    }

    /// CI's reproducibility check: the checked-in mappings are exactly what the checked-in plan
    /// renders to.
    #[test]
    fn checked_in_mappings_match_the_checked_in_plan() {
        let infra = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra");
        let plan = read_plan(&infra.join(PLAN_FILE)).unwrap();
        let current = std::fs::read_to_string(infra.join(MAPPINGS_FILE)).unwrap();
        assert!(
            current == render_mappings(&plan),
            "infra/{MAPPINGS_FILE} is stale: run `ferry plan --from infra/{PLAN_FILE}`"
        );
        // The plan file itself is in canonical form.
        let text = std::fs::read_to_string(infra.join(PLAN_FILE)).unwrap();
        assert_eq!(text, plan_json(&plan).unwrap());
    }
}
