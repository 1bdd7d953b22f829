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
//! Tier settings (AWS limits: BatchSize ≤ 10,000, MinimumPollers 1–200, MaximumPollers 1–2,000,
//! one poller reads up to ~5 MB/s, more pollers than partitions add nothing):
//!
//! | tier | BatchSize | MaximumBatchingWindowInSeconds | pollers |
//! |---|---|---|---|
//! | high | 10,000 | 1 | provisioned: min = max(⌈partitions/2⌉, ⌈2 × bytes/s ÷ 5 MiB/s⌉), max = partitions |
//! | medium | 2,000 | 2 | provisioned: min 1, max ⌈partitions/2⌉ |
//! | low | 500 | 5 | on demand |
//!
//! Every mapping starts at `TRIM_HORIZON` (the whole retained log is mirrored) with consumer
//! group `ferry-<topic>` (excluded from checkpoints; `ferry-<prefix>-<hash>` if too long).

use crate::args::{PlanArgs, ThresholdArgs};
use crate::state;
use anyhow::Context as _;
use ferry_core::policy::TopicFilter;
use ferry_core::TopicPartition;
use ferry_kafka::reader::{read_partition, Isolation};
use ferry_kafka::KafkaConnection;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// File name of the plan (measurements and thresholds) in the output directory.
pub const PLAN_FILE: &str = "ferry-plan.json";
/// File name of the generated mappings template in the output directory.
pub const MAPPINGS_FILE: &str = "mappings.yaml";
/// Format version of [`Plan`].
pub const PLAN_VERSION: u32 = 1;
/// Bytes per second one event poller handles (AWS: up to 5 MB/s).
pub const POLLER_BYTES_PER_SEC: f64 = 5.0 * 1024.0 * 1024.0;
/// AWS limit of `ConsumerGroupId`.
pub const MAX_GROUP_ID_LEN: usize = 200;

/// When a topic is high or medium volume (a topic is in the highest tier any of its measures
/// reaches). Stored in the plan so rendering is reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// High tier from this write rate (bytes/s).
    pub high_bytes_per_sec: f64,
    /// High tier from this write rate (records/s).
    pub high_records_per_sec: f64,
    /// High tier from this retained size (bytes; the initial copy).
    pub high_retained_bytes: f64,
    /// Medium tier from this write rate (bytes/s).
    pub medium_bytes_per_sec: f64,
    /// Medium tier from this write rate (records/s).
    pub medium_records_per_sec: f64,
    /// Medium tier from this retained size (bytes).
    pub medium_retained_bytes: f64,
}

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

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            high_bytes_per_sec: 1_048_576.0,
            high_records_per_sec: 5_000.0,
            high_retained_bytes: 107_374_182_400.0,
            medium_bytes_per_sec: 65_536.0,
            medium_records_per_sec: 100.0,
            medium_retained_bytes: 1_073_741_824.0,
        }
    }
}

/// Volume tier of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// On-demand pollers, small batches, longer window.
    Low,
    /// A few provisioned pollers.
    Medium,
    /// Provisioned pollers sized to the rate, largest batches.
    High,
}

impl Tier {
    /// `low`, `medium`, `high`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// What was measured for one topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMeasurement {
    /// Topic name.
    pub topic: String,
    /// Partition count.
    pub partitions: i32,
    /// Write rate, records per second (sum over partitions).
    pub records_per_sec: f64,
    /// Write rate, bytes per second (records/s × mean record size; 0 if sizes are unknown).
    pub bytes_per_sec: f64,
    /// Mean record size in bytes (key + value + headers) of the sampled records, if any.
    pub mean_record_bytes: Option<f64>,
    /// Records retained (sum of end − start offsets; compacted topics hold fewer).
    pub retained_records: u64,
    /// Retained size estimate (retained records × mean record size).
    pub retained_bytes: f64,
}

/// The plan file: measurements plus thresholds; [`render_mappings`] is a pure function of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// When the measurement ended (RFC 3339; informational, not rendered).
    pub measured_at: String,
    /// Seconds between the two offset samples.
    pub interval_secs: f64,
    /// Tier thresholds.
    pub thresholds: Thresholds,
    /// Topics, sorted by name.
    pub topics: Vec<TopicMeasurement>,
}

/// Settings of one event source mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingSettings {
    /// The tier.
    pub tier: Tier,
    /// `BatchSize`.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window_secs: u32,
    /// `ProvisionedPollerConfig` (minimum, maximum); `None`: on-demand pollers.
    pub pollers: Option<(u32, u32)>,
    /// Consumer group id of the mapping.
    pub consumer_group: String,
    /// `StartingPosition`.
    pub starting_position: &'static str,
}

/// The tier that `m` reaches under `t`.
pub fn tier(m: &TopicMeasurement, t: &Thresholds) -> Tier {
    if m.bytes_per_sec >= t.high_bytes_per_sec
        || m.records_per_sec >= t.high_records_per_sec
        || m.retained_bytes >= t.high_retained_bytes
    {
        Tier::High
    } else if m.bytes_per_sec >= t.medium_bytes_per_sec
        || m.records_per_sec >= t.medium_records_per_sec
        || m.retained_bytes >= t.medium_retained_bytes
    {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// The mapping settings for `m` (see the module docs' table).
pub fn settings(m: &TopicMeasurement, t: &Thresholds) -> MappingSettings {
    let tier = tier(m, t);
    let partitions = u32::try_from(m.partitions.max(1)).unwrap_or(1);
    let half = partitions.div_ceil(2);
    let (batch_size, batching_window_secs, pollers) = match tier {
        Tier::High => {
            let for_rate = (2.0 * m.bytes_per_sec / POLLER_BYTES_PER_SEC).ceil();
            let for_rate = if for_rate.is_finite() && for_rate > 0.0 {
                for_rate.min(f64::from(u32::MAX)) as u32
            } else {
                0
            };
            let max = partitions.clamp(1, 2000);
            let min = half.max(for_rate).clamp(1, 200).min(max);
            (10_000, 1, Some((min, max)))
        }
        Tier::Medium => (2_000, 2, Some((1, half.clamp(1, 2000)))),
        Tier::Low => (500, 5, None),
    };
    MappingSettings {
        tier,
        batch_size,
        batching_window_secs,
        pollers,
        consumer_group: consumer_group(&m.topic),
        starting_position: "TRIM_HORIZON",
    }
}

/// `ferry-<topic>`, shortened to `ferry-<prefix>-<hash>` when longer than AWS allows.
pub fn consumer_group(topic: &str) -> String {
    let group = format!("ferry-{topic}");
    if group.len() <= MAX_GROUP_ID_LEN {
        return group;
    }
    // Topic names are ASCII ([a-zA-Z0-9._-]), so byte slicing is safe.
    let keep = MAX_GROUP_ID_LEN - "ferry-".len() - 9;
    format!("ferry-{}-{:08x}", &topic[..keep], fnv1a(topic))
}

/// CloudFormation logical id of a topic's mapping: `Mapping<CamelTopic><hash>` (alphanumeric;
/// the hash keeps `a.b` and `a-b` apart).
pub fn logical_id(topic: &str) -> String {
    let mut camel = String::new();
    let mut upper = true;
    for c in topic.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                camel.extend(c.to_uppercase());
            } else {
                camel.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    camel.truncate(200);
    format!("Mapping{camel}{:08X}", fnv1a(topic))
}

/// 32-bit FNV-1a (stable across platforms and releases, unlike `std`'s hasher).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

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
    fn tiers_follow_the_highest_measure() {
        let t = Thresholds::default();
        assert_eq!(tier(&m("a", 6, 0.0, 0.0, 0.0), &t), Tier::Low);
        assert_eq!(tier(&m("a", 6, 99.0, 60_000.0, 1e9), &t), Tier::Low);
        assert_eq!(tier(&m("a", 6, 100.0, 0.0, 0.0), &t), Tier::Medium);
        assert_eq!(tier(&m("a", 6, 0.0, 65_536.0, 0.0), &t), Tier::Medium);
        assert_eq!(tier(&m("a", 6, 0.0, 0.0, 2e9), &t), Tier::Medium);
        assert_eq!(tier(&m("a", 6, 5_000.0, 0.0, 0.0), &t), Tier::High);
        assert_eq!(tier(&m("a", 6, 1.0, 2e6, 0.0), &t), Tier::High);
        assert_eq!(tier(&m("a", 6, 0.0, 0.0, 2e11), &t), Tier::High);
    }

    #[test]
    fn settings_respect_aws_limits() {
        let t = Thresholds::default();
        for partitions in [1, 2, 3, 12, 64, 500, 5000] {
            for bps in [0.0, 1e5, 2e6, 5e7, 1e10, f64::INFINITY] {
                let s = settings(&m("t", partitions, 10_000.0, bps, 0.0), &t);
                assert_eq!(s.tier, Tier::High);
                assert!(s.batch_size <= 10_000);
                let (min, max) = s.pollers.unwrap();
                assert!((1..=200).contains(&min), "{partitions} {bps}: {min}");
                assert!((1..=2000).contains(&max), "{partitions} {bps}: {max}");
                assert!(min <= max);
                assert!(max as i32 <= partitions.max(1));
            }
        }
        // 40 MB/s over 24 partitions: 16 pollers (2x headroom at 5 MiB/s each), up to 24.
        let s = settings(&m("t", 24, 50_000.0, 40.0 * 1024.0 * 1024.0, 0.0), &t);
        assert_eq!(s.pollers, Some((16, 24)));
        let s = settings(&m("t", 12, 150.0, 1000.0, 0.0), &t);
        assert_eq!(
            (s.tier, s.batch_size, s.pollers),
            (Tier::Medium, 2000, Some((1, 6)))
        );
        let s = settings(&m("t", 12, 1.0, 100.0, 0.0), &t);
        assert_eq!((s.tier, s.batch_size, s.pollers), (Tier::Low, 500, None));
        assert_eq!(s.starting_position, "TRIM_HORIZON");
        assert_eq!(s.consumer_group, "ferry-t");
    }

    #[test]
    fn names_are_valid_and_distinct() {
        assert_eq!(consumer_group("orders"), "ferry-orders");
        let long = "x".repeat(249);
        let g = consumer_group(&long);
        assert_eq!(g.len(), MAX_GROUP_ID_LEN);
        assert_ne!(g, consumer_group(&format!("{}y", "x".repeat(248))));
        let ids = ["a.b", "a-b", "a_b", "ab", "A.b"].map(logical_id);
        for (i, a) in ids.iter().enumerate() {
            assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
            assert!(
                a.starts_with("MappingAB") || a.starts_with("MappingAb"),
                "{a}"
            );
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(logical_id(&long).len() <= 255);
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
