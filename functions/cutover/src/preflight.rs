//! Topic provisioning, config sync and preflight checks: the `preflight` task of the cutover
//! state machine (and, as a dry run, `ferry plan`).
//!
//! [`run_preflight`] is generic over the topic-administration ports:
//!
//! 1. lists and describes the source topics the filter accepts, and their targets (through the
//!    replication policy);
//! 2. plans the target side with [`ferry_core::topics::plan_topics`] (create missing topics with
//!    the source's partition count, add partitions where the source grew, copy explicitly set,
//!    non-excluded configs);
//! 3. applies the plan unless [`PreflightConfig::dry_run`] (a change the target refuses becomes
//!    an error finding, [`Check::Provisioning`], so one bad topic does not hide the others);
//! 4. re-describes the target and runs the checks ([`ferry_core::topics::check_topic`],
//!    [`ferry_core::topics::check_storage`]) against the source's (estimated) data;
//! 5. on an MSK target given by ARN (the storage port's [`TargetStorage::facts`],
//!    `DescribeClusterV2`): for MSK Serverless, its limits ([`ferry_core::msk::check_serverless`]:
//!    IAM only, partition quotas counting the target's other topics, message size, settable
//!    configs, default `retention.bytes`); for Provisioned, the broker volume size the data
//!    needs ([`ferry_core::msk::size_volumes`], in the report as `volume_sizing`) and, if the
//!    volumes must grow, a finding naming the size, the six-hour cool-down and
//!    `ferry storage --grow`, which asks before it grows anything. Ferry never grows storage
//!    on its own;
//! 6. returns a serializable [`PreflightReport`]; `ok` is `false` if any finding is an error.
//!
//! A dry run checks the target as it is (missing topics are error findings) and reports the
//! planned actions without applying them.
//!
//! Only unreachable clusters are errors ([`PreflightError`], mapped to `Ferry.Transient`);
//! everything the operator must fix is a finding.

use crate::telemetry::CutoverEvent;
use ferry_core::failure::FailureKind;
use ferry_core::msk::{
    check_serverless, size_volumes, volume_finding, ClusterFacts, ClusterKind, MskAuth,
    PlannedTopic, ServerlessLimits, VolumeSizing,
};
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    SourceTopicDescriber, SourceTopics, TargetStorage, TargetTopicAdmin, TopicAdminError,
};
use ferry_core::topics::{
    apply_plan, apply_to_description, check_storage, check_topic, plan_topics, storage_needed,
    Check, CheckContext, ConfigFilter, Drift, Finding, PlanOptions, Severity, SourceTopicStats,
    StorageInfo, TopicAction, TopicDescription, TopicPlan,
};
use ferry_lambda::now_ms;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// The mirror's target producer `batch.size` (see `ferry_kafka::ProducerTuning`).
pub const DEFAULT_PRODUCER_BATCH_BYTES: u64 = 1_000_000;

/// What preflight does.
#[derive(Debug, Clone)]
pub struct PreflightConfig {
    /// Source → target topic names.
    pub policy: ReplicationPolicy,
    /// Which source topics are mirrored.
    pub filter: TopicFilter,
    /// Which configs are copied.
    pub configs: ConfigFilter,
    /// Plan and check only; change nothing.
    pub dry_run: bool,
    /// The mirror producer's `batch.size` (checked against target `max.message.bytes`).
    pub producer_batch_bytes: u64,
    /// "Now" in epoch ms for aging the source's oldest records (`None`: the system clock).
    pub now_ms: Option<i64>,
    /// The MSK listener Ferry connects to the target with (from its security mode,
    /// [`MskAuth::for_connection`]; `None`: a mode MSK has no listener for). Checked against
    /// an MSK Serverless target, which accepts IAM only.
    pub target_auth: Option<MskAuth>,
    /// The MSK Serverless quotas to check against (AWS's defaults unless raised).
    pub serverless_limits: ServerlessLimits,
}

impl PreflightConfig {
    /// Applying preflight with the given policy and filter, default config excludes and batch size.
    pub fn new(policy: ReplicationPolicy, filter: TopicFilter) -> Self {
        Self {
            policy,
            filter,
            configs: ConfigFilter::default(),
            dry_run: false,
            producer_batch_bytes: DEFAULT_PRODUCER_BATCH_BYTES,
            now_ms: None,
            target_auth: None,
            serverless_limits: ServerlessLimits::default(),
        }
    }
}

/// Preflight could not run (a cluster did not answer).
#[derive(Debug, Error)]
pub enum PreflightError {
    /// Describing the source failed.
    #[error("describing source topics: {0}")]
    Source(#[source] TopicAdminError),
    /// Describing the target failed, or it became unreachable while applying.
    #[error("target topics: {0}")]
    Target(#[source] TopicAdminError),
    /// Reading the target's storage failed.
    #[error("target storage: {0}")]
    Storage(#[source] TopicAdminError),
}

impl PreflightError {
    /// The Lambda error type.
    pub fn kind(&self) -> FailureKind {
        FailureKind::Transient
    }
}

/// One mirrored topic in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicReport {
    /// Source topic.
    pub source: String,
    /// Target topic.
    pub target: String,
    /// Source partition count.
    pub partitions: i32,
    /// What was done (planned, in a dry run).
    pub action: TopicAction,
    /// Partitions added (`from`..`to`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions_added: Option<[i32; 2]>,
    /// Configs set on the target (on create: the copied configs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub configs_set: BTreeMap<String, String>,
    /// Differences left alone.
    pub drift: Vec<Drift>,
    /// Estimated bytes of one replica of the source topic.
    pub estimated_source_bytes: u64,
}

/// The preflight report (stored as the migration's `preflight` report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    /// No error finding.
    pub ok: bool,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Mirrored topics, sorted by source name.
    pub topics: Vec<TopicReport>,
    /// Findings, errors first.
    pub findings: Vec<Finding>,
    /// Estimated size of all mirrored source topics (one replica), bytes.
    pub estimated_source_bytes: u64,
    /// Estimated bytes they take on the target (× target replication factor).
    pub estimated_target_bytes: u64,
    /// Target storage capacity, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_capacity_bytes: Option<u64>,
    /// Sizes are estimates (sampled average record size × records between watermarks).
    pub estimate_note: String,
    /// The target's kind, when it is an MSK cluster given by ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kind: Option<ClusterKind>,
    /// The broker volume size the mirrored data needs on a Provisioned MSK target (grow to
    /// `request_gib` with `ferry storage --grow` when it is above `current_gib`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_sizing: Option<VolumeSizing>,
}

impl PreflightReport {
    /// Error findings.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
}

/// Runs preflight: describe, plan, apply (unless dry run), re-check, report.
/// Topics whose statistics are read at a time (each reads its partitions concurrently too).
const TOPIC_STATS_CONCURRENCY: usize = 4;

pub async fn run_preflight<S, T, St>(
    source: &S,
    target: &T,
    storage: &St,
    config: &PreflightConfig,
) -> Result<PreflightReport, PreflightError>
where
    S: SourceTopicDescriber,
    T: TargetTopicAdmin + SourceTopics,
    St: TargetStorage,
{
    let names: Vec<String> = source
        .list_topics()
        .await
        .map_err(PreflightError::Source)?
        .into_iter()
        .filter(|n| config.filter.matches(n))
        .collect();
    let sources = source
        .describe_topics(&names)
        .await
        .map_err(PreflightError::Source)?;
    let target_names: Vec<String> = sources
        .iter()
        .map(|s| config.policy.target_topic(&s.name))
        .collect();
    let brokers = target
        .broker_count()
        .await
        .map_err(PreflightError::Target)?;
    let before = describe_map(target, &target_names).await?;
    let options = PlanOptions {
        policy: config.policy.clone(),
        filter: config.filter.clone(),
        configs: config.configs.clone(),
        target_brokers: brokers,
    };
    let plans = plan_topics(&sources, &before, &options);

    let mut findings = Vec::new();
    if !config.dry_run {
        for plan in &plans {
            if let Err(e) = apply(target, plan).await {
                match e {
                    TopicAdminError::Rejected { .. } => findings.push(Finding {
                        severity: Severity::Error,
                        check: Check::Provisioning,
                        topic: plan.target.clone(),
                        setting: "topic".into(),
                        message: e.to_string(),
                    }),
                    TopicAdminError::Unavailable { .. } => return Err(PreflightError::Target(e)),
                }
            }
        }
    }
    let after = if config.dry_run || plans.iter().all(TopicPlan::is_noop) {
        before.clone()
    } else {
        describe_map(target, &target_names).await?
    };

    let ctx = CheckContext {
        now_ms: config.now_ms.unwrap_or_else(now_ms),
        producer_batch_bytes: config.producer_batch_bytes,
    };
    let by_name: BTreeMap<&str, &TopicDescription> =
        sources.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut topics = Vec::with_capacity(plans.len());
    let mut sized: Vec<(SourceTopicStats, i32)> = Vec::with_capacity(plans.len());
    // Topic statistics read partitions of the source: a few topics at a time.
    let reads: Vec<_> = plans
        .iter()
        .map(|plan| source.topic_stats(by_name[plan.source.as_str()]))
        .collect();
    let mut stats_of = futures::stream::iter(reads).buffered(TOPIC_STATS_CONCURRENCY);
    for plan in &plans {
        let src = by_name[plan.source.as_str()];
        let stats = stats_of
            .next()
            .await
            .expect("one statistics result per plan")
            .map_err(PreflightError::Source)?;
        let tgt = after.get(&plan.target);
        findings.extend(check_topic(src, &plan.target, tgt, Some(&stats), &ctx));
        let rf = tgt
            .map(|t| t.replication_factor)
            .or_else(|| apply_to_description(plan, None).map(|d| d.replication_factor))
            .unwrap_or(1);
        topics.push(TopicReport {
            source: plan.source.clone(),
            target: plan.target.clone(),
            partitions: plan.partitions,
            action: plan.action(),
            partitions_added: plan.add_partitions.map(|p| [p.from, p.to]),
            configs_set: plan
                .create
                .as_ref()
                .map(|c| c.configs.clone())
                .unwrap_or_else(|| plan.config_updates.clone()),
            drift: plan.drift.clone(),
            estimated_source_bytes: stats.estimated_bytes,
        });
        sized.push((stats, rf));
    }
    let estimated_source_bytes = sized
        .iter()
        .map(|(s, _)| s.estimated_bytes)
        .fold(0, u64::saturating_add);
    let estimated_target_bytes = storage_needed(sized.iter().map(|(s, rf)| (s, *rf)));
    let facts = storage.facts().await.map_err(PreflightError::Storage)?;
    let info: Option<StorageInfo> = match &facts {
        Some(facts) => facts.storage(),
        None => storage.storage().await.map_err(PreflightError::Storage)?,
    };
    findings.extend(check_storage(estimated_target_bytes, info.as_ref()));
    let mut volume_sizing = None;
    if let Some(facts) = &facts {
        if facts.is_serverless() {
            let planned: Vec<PlannedTopic<'_>> = plans
                .iter()
                .zip(&sized)
                .map(|(plan, (stats, _))| PlannedTopic {
                    target_name: &plan.target,
                    source: by_name[plan.source.as_str()],
                    stats: Some(stats),
                    target: after.get(&plan.target),
                })
                .collect();
            let others = other_target_topics(target, &after).await?;
            findings.extend(serverless_findings(config, &planned, &others));
        } else if let (Some(brokers), Some(gib)) = (facts.broker_count, facts.volume_gib) {
            let sizing = size_volumes(estimated_target_bytes, brokers, gib);
            findings.extend(volume_finding(&facts.arn, brokers, &sizing));
            volume_sizing = Some(sizing);
        }
    }
    findings.sort_by(|a, b| {
        (a.severity, &a.topic, &a.setting).cmp(&(b.severity, &b.topic, &b.setting))
    });

    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    CutoverEvent::PreflightFinished {
        topics: &topics,
        errors,
        warnings: findings.len() - errors,
        dry_run: config.dry_run,
    }
    .emit();
    Ok(PreflightReport {
        ok: errors == 0,
        dry_run: config.dry_run,
        topics,
        findings,
        estimated_source_bytes,
        estimated_target_bytes,
        target_capacity_bytes: info.map(|i| i.capacity_bytes),
        estimate_note: "source sizes are estimates: records between the watermarks × sampled average record size (librdkafka has no DescribeLogDirs)".into(),
        target_kind: facts.as_ref().map(|f: &ClusterFacts| f.kind),
        volume_sizing,
    })
}

/// The MSK Serverless findings: [`check_serverless`], or a finding of its own when Ferry's
/// target security mode has no MSK listener at all.
fn serverless_findings(
    config: &PreflightConfig,
    planned: &[PlannedTopic<'_>],
    others: &[TopicDescription],
) -> Vec<Finding> {
    let auth = config.target_auth.unwrap_or(MskAuth::Iam);
    let mut out = check_serverless(
        auth,
        planned,
        others,
        &config.configs,
        &config.serverless_limits,
    );
    if config.target_auth.is_none() {
        out.push(Finding {
            severity: Severity::Error,
            check: Check::ServerlessAuth,
            topic: String::new(),
            setting: "security".into(),
            message: "the target is MSK Serverless, which accepts IAM authentication only, but Ferry's target security mode has no MSK listener; use msk-iam".into(),
        });
    }
    out
}

/// The target's topics outside the migration (they count against a Serverless quota).
async fn other_target_topics<T: TargetTopicAdmin + SourceTopics>(
    target: &T,
    mirrored: &BTreeMap<String, TopicDescription>,
) -> Result<Vec<TopicDescription>, PreflightError> {
    let names: Vec<String> = target
        .list_topics()
        .await
        .map_err(PreflightError::Target)?
        .into_iter()
        .filter(|n| !mirrored.contains_key(n))
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    target
        .describe_topics(&names)
        .await
        .map_err(PreflightError::Target)
}

async fn describe_map<T: TargetTopicAdmin>(
    target: &T,
    names: &[String],
) -> Result<BTreeMap<String, TopicDescription>, PreflightError> {
    Ok(target
        .describe_topics(names)
        .await
        .map_err(PreflightError::Target)?
        .into_iter()
        .map(|d| (d.name.clone(), d))
        .collect())
}

async fn apply<T: TargetTopicAdmin>(target: &T, plan: &TopicPlan) -> Result<(), TopicAdminError> {
    apply_plan(target, plan, |change, detail| {
        CutoverEvent::TargetTopicChange {
            topic: &plan.target,
            change,
            detail,
        }
        .emit();
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::msk::{ClientAuthMode, GIB};
    use ferry_core::topics::StorageInfo;
    use ferry_testkit::{InMemoryTopicAdmin, StaticMsk, StaticStorage};

    fn msk(kind: ClusterKind, brokers: Option<u32>, volume_gib: Option<u32>) -> StaticMsk {
        StaticMsk(ClusterFacts {
            arn: "arn:aws:kafka:eu-west-1:123456789012:cluster/target/1".into(),
            name: "target".into(),
            kind,
            state: "ACTIVE".into(),
            current_version: "K1".into(),
            kafka_version: (kind == ClusterKind::Provisioned).then(|| "3.6.0".into()),
            broker_count: brokers,
            volume_gib,
            provisioned_throughput: None,
            client_auth: vec![ClientAuthMode::Iam],
        })
    }

    fn sized_source(bytes: u64) -> InMemoryTopicAdmin {
        let src = InMemoryTopicAdmin::new("source", 3);
        src.put_topic(topic("orders", 2, &[]));
        src.put_stats(SourceTopicStats {
            topic: "orders".into(),
            records: 1000,
            estimated_bytes: bytes,
            largest_partition_bytes: bytes / 2,
            oldest_timestamp_ms: None,
            largest_record_bytes: Some(1000),
        });
        src
    }

    #[tokio::test]
    async fn a_provisioned_msk_target_is_sized_and_never_grown() {
        // 300 GiB on the source × RF 3 = 900 GiB on 3 brokers of 100 GiB: grow to 429 GiB.
        let src = sized_source(300 * GIB);
        let tgt = InMemoryTopicAdmin::new("target", 3);
        let target = msk(ClusterKind::Provisioned, Some(3), Some(100));
        let report = run_preflight(&src, &tgt, &target, &config(false))
            .await
            .unwrap();
        let sizing = report.volume_sizing.expect("sized");
        assert_eq!((sizing.current_gib, sizing.request_gib), (100, 429));
        assert_eq!(report.target_kind, Some(ClusterKind::Provisioned));
        assert_eq!(report.target_capacity_bytes, Some(300 * GIB));
        let f = report
            .findings
            .iter()
            .find(|f| f.check == Check::VolumeSizing)
            .expect("a sizing finding");
        assert!(
            f.message.contains("from 100 GiB to 429 GiB"),
            "{}",
            f.message
        );
        assert!(f.message.contains("ferry storage"), "{}", f.message);
        // Large enough volumes: sized, no finding.
        let roomy = msk(ClusterKind::Provisioned, Some(3), Some(1000));
        let report = run_preflight(&src, &tgt, &roomy, &config(false))
            .await
            .unwrap();
        assert!(report.ok, "{:#?}", report.findings);
        assert!(!report.volume_sizing.unwrap().grows());
        // The sizing is in the stored report.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["volume_sizing"]["request_gib"], 1000);
        assert_eq!(json["target_kind"], "provisioned");
    }

    #[tokio::test]
    async fn an_msk_serverless_target_is_checked_against_its_limits() {
        let src = sized_source(GIB);
        src.put_topic(topic("audit", 3, &[("segment.bytes", "1048576")]));
        let tgt = InMemoryTopicAdmin::new("target", 3);
        // Target topics outside the migration count against the partition quota.
        tgt.put_topic(topic("other", 2_399, &[]));
        let serverless = msk(ClusterKind::Serverless, None, None);
        let scram = PreflightConfig {
            target_auth: Some(MskAuth::Scram),
            ..config(true)
        };
        let report = run_preflight(&src, &tgt, &serverless, &scram)
            .await
            .unwrap();
        assert!(!report.ok);
        assert_eq!(report.target_kind, Some(ClusterKind::Serverless));
        assert_eq!(report.volume_sizing, None, "no storage to size");
        let checks: Vec<(Check, &str)> = report
            .findings
            .iter()
            .map(|f| (f.check, f.topic.as_str()))
            .collect();
        assert!(checks.contains(&(Check::ServerlessAuth, "")), "{checks:?}");
        assert!(
            checks.contains(&(Check::ServerlessPartitions, "")),
            "{checks:?}"
        );
        assert!(
            checks.contains(&(Check::ServerlessConfig, "audit")),
            "{checks:?}"
        );

        // IAM and room in the quota: only the unsettable config remains.
        let tgt = InMemoryTopicAdmin::new("target", 3);
        let iam = PreflightConfig {
            target_auth: Some(MskAuth::Iam),
            ..config(true)
        };
        let report = run_preflight(&src, &tgt, &serverless, &iam).await.unwrap();
        let serverless_checks: Vec<Check> = report
            .findings
            .iter()
            .map(|f| f.check)
            .filter(|c| {
                matches!(
                    c,
                    Check::ServerlessAuth | Check::ServerlessPartitions | Check::ServerlessConfig
                )
            })
            .collect();
        assert_eq!(serverless_checks, vec![Check::ServerlessConfig]);
    }

    fn topic(name: &str, partitions: i32, configs: &[(&str, &str)]) -> TopicDescription {
        TopicDescription::with_broker_defaults(name, partitions, 3, configs)
    }

    fn config(dry_run: bool) -> PreflightConfig {
        PreflightConfig {
            dry_run,
            now_ms: Some(1_000_000_000),
            ..PreflightConfig::new(ReplicationPolicy::Identity, TopicFilter::default())
        }
    }

    #[tokio::test]
    async fn creates_grows_and_syncs() {
        let src = InMemoryTopicAdmin::new("source", 3);
        let tgt = InMemoryTopicAdmin::new("target", 2);
        src.put_topic(topic(
            "compacted",
            3,
            &[("cleanup.policy", "compact"), ("min.insync.replicas", "2")],
        ));
        src.put_topic(topic("grown", 4, &[("retention.ms", "-1")]));
        src.put_topic(topic("__consumer_offsets", 50, &[]));
        let mut t = topic("grown", 2, &[]);
        t.replication_factor = 2;
        tgt.put_topic(t);

        let dry = run_preflight(&src, &tgt, &StaticStorage(None), &config(true))
            .await
            .unwrap();
        assert!(!dry.ok && dry.dry_run);
        assert!(tgt.changes().is_empty());
        assert!(dry
            .findings
            .iter()
            .any(|f| f.check == Check::TargetTopicMissing && f.topic == "compacted"));

        let report = run_preflight(&src, &tgt, &StaticStorage(None), &config(false))
            .await
            .unwrap();
        assert!(report.ok, "{:#?}", report.findings);
        assert_eq!(report.topics.len(), 2);
        assert_eq!(report.topics[0].action, TopicAction::Created);
        assert_eq!(report.topics[1].action, TopicAction::PartitionsAdded);
        let created = tgt.topic("compacted").unwrap();
        assert_eq!(created.partitions, 3);
        assert_eq!(created.replication_factor, 2);
        assert_eq!(created.config("cleanup.policy"), Some("compact"));
        assert_eq!(created.config("min.insync.replicas"), None);
        let grown = tgt.topic("grown").unwrap();
        assert_eq!(grown.partitions, 4);
        assert_eq!(grown.config("retention.ms"), Some("-1"));

        let again = run_preflight(&src, &tgt, &StaticStorage(None), &config(false))
            .await
            .unwrap();
        assert!(again.topics.iter().all(|t| t.action == TopicAction::InSync));
        let json = serde_json::to_value(&again).unwrap();
        assert_eq!(json["ok"], true);
        assert_eq!(json["topics"][0]["action"], "in_sync");
        assert!(json.get("target_capacity_bytes").is_none());
    }

    #[tokio::test]
    async fn findings_and_storage() {
        let src = InMemoryTopicAdmin::new("source", 1);
        let tgt = InMemoryTopicAdmin::new("target", 1);
        src.put_topic(topic("a", 1, &[]));
        src.put_stats(SourceTopicStats {
            topic: "a".into(),
            records: 10,
            estimated_bytes: 900,
            largest_partition_bytes: 900,
            oldest_timestamp_ms: Some(0),
            largest_record_bytes: Some(100),
        });
        let mut t = topic(
            "a",
            1,
            &[
                ("message.timestamp.type", "LogAppendTime"),
                ("max.message.bytes", "1000"),
            ],
        );
        t.replication_factor = 1;
        tgt.put_topic(t);
        let storage = StaticStorage(Some(StorageInfo {
            capacity_bytes: 1000,
            used_bytes: Some(0),
        }));
        let report = run_preflight(&src, &tgt, &storage, &config(false))
            .await
            .unwrap();
        assert!(!report.ok);
        let names: Vec<(&str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.topic.as_str(), f.setting.as_str()))
            .collect();
        assert!(names.contains(&("a", "message.timestamp.type")));
        assert!(names.contains(&("a", "max.message.bytes")));
        assert!(names.contains(&("", "storage")));
        assert_eq!(report.target_capacity_bytes, Some(1000));
        assert_eq!(report.findings[0].severity, Severity::Error);

        tgt.set_unavailable(true);
        let e = run_preflight(&src, &tgt, &storage, &config(false))
            .await
            .unwrap_err();
        assert!(matches!(e, PreflightError::Target(_)));
        assert_eq!(e.kind(), FailureKind::Transient);
    }
}

/// The cutover's `start` preflight over real ports: [`run_preflight`] with fixed settings.
#[derive(Debug)]
pub struct TopicPreflight<S, T, St> {
    source: S,
    target: T,
    storage: St,
    config: PreflightConfig,
}

impl<S, T, St> TopicPreflight<S, T, St> {
    /// Builds it.
    pub fn new(source: S, target: T, storage: St, config: PreflightConfig) -> Self {
        Self {
            source,
            target,
            storage,
            config,
        }
    }
}

impl<S, T, St> crate::handler::Preflight for TopicPreflight<S, T, St>
where
    S: SourceTopicDescriber,
    T: TargetTopicAdmin + SourceTopics,
    St: TargetStorage,
{
    async fn preflight(
        &self,
        topics: Option<&[String]>,
    ) -> Result<(serde_json::Value, bool), crate::CutoverError> {
        let wave;
        let config = match topics {
            // A wave: exactly its topics (names are `[a-zA-Z0-9._-]`: `.` is the only regex
            // metacharacter).
            Some(names) => {
                let exact: Vec<String> = names.iter().map(|t| t.replace('.', r"\.")).collect();
                wave = PreflightConfig {
                    filter: TopicFilter::new(&exact, &[])
                        .map_err(|e| crate::CutoverError::BadInput(e.to_string()))?,
                    ..self.config.clone()
                };
                &wave
            }
            None => &self.config,
        };
        let report = run_preflight(&self.source, &self.target, &self.storage, config)
            .await
            .map_err(|e| crate::CutoverError::PreflightUnavailable(e.to_string()))?;
        let ok = report.ok;
        Ok((serde_json::to_value(&report)?, ok))
    }
}
