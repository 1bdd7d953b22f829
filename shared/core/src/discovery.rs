//! Discovery: which source topics still need an event source mapping, which mappings lost
//! their topic, and what a new mapping looks like. Pure: the `discover` function lists topics
//! and mappings, measures, and applies; this module decides.
//!
//! A Kafka event source mapping reads exactly one topic, so a topic created on the source after
//! `ferry plan` is never mirrored until something creates its mapping. MirrorMaker 2 and MSK
//! Replicator find new topics themselves; [`plan_discovery`] is Ferry's equivalent:
//!
//! * **mirrored topics**: every source topic the [`TopicFilter`] accepts, plus the heartbeat
//!   topic whatever the filter says (its latency is only measured if it is mirrored);
//! * **unmapped**: mirrored topics no mapping of the mirror function reads (a mapping counts in
//!   any state: a disabled one was disabled on purpose);
//! * **orphaned**: mappings whose topic was deleted from the source, is excluded by the filter
//!   now, or is read by an earlier mapping too. They are reported, never deleted: deleting a
//!   mapping loses its consumer group position, and only a person knows whether the topic is
//!   gone for good.
//! * **paused**: when the function has mappings and every one of them is disabled (the cutover
//!   disabled the mirror, or an operator did), discovery creates nothing: a new mapping would
//!   restart mirroring behind the operator's back.
//!
//! New mappings get the settings `ferry plan` would write ([`crate::tiering::settings`]) from a
//! measurement over one sampling interval ([`measurement`]), and the source's access
//! configuration ([`access_configurations`], the same rules as the generated `mappings.yaml`).

use crate::policy::TopicFilter;
use crate::ports::MappingInfo;
use crate::tiering::TopicMeasurement;
use crate::topics::SourceTopicStats;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why a mapping is reported instead of left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReason {
    /// Its topic no longer exists on the source.
    Deleted,
    /// Its topic exists but the topic filter excludes it now.
    Excluded,
    /// Another mapping (the first by UUID) reads the same topic.
    Duplicate,
}

impl OrphanReason {
    /// `deleted`, `excluded`, `duplicate` (metric label).
    pub fn name(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Excluded => "excluded",
            Self::Duplicate => "duplicate",
        }
    }
}

/// A mapping discovery reports and leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanedMapping {
    /// Mapping UUID.
    pub uuid: String,
    /// The topic it reads.
    pub topic: String,
    /// Its state (`Enabled`, `Disabled`, ...).
    pub state: String,
    /// Why it is reported.
    pub reason: OrphanReason,
}

/// What one discovery pass should do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryPlan {
    /// Every source topic that is mirrored (filter accepted, or the heartbeat topic), sorted.
    pub mirrored: Vec<String>,
    /// Mirrored topics without a mapping, sorted.
    pub unmapped: Vec<String>,
    /// Mappings to report, sorted by topic then UUID.
    pub orphaned: Vec<OrphanedMapping>,
    /// Every mapping of the function is disabled: create no mapping (see the module docs).
    pub paused: bool,
}

/// `true` for the states of a mapping that is off or going off.
fn is_disabled(state: &str) -> bool {
    matches!(state, "Disabled" | "Disabling")
}

/// Plans one discovery pass; see the module docs. `source_topics` are all topics of the source
/// (internal ones included: the filter's default excludes drop them).
pub fn plan_discovery(
    source_topics: &[String],
    filter: &TopicFilter,
    heartbeat_topic: Option<&str>,
    mappings: &[MappingInfo],
) -> DiscoveryPlan {
    let existing: BTreeSet<&str> = source_topics.iter().map(String::as_str).collect();
    let mirrored: BTreeSet<&str> = existing
        .iter()
        .copied()
        .filter(|t| filter.matches(t) || heartbeat_topic == Some(*t))
        .collect();

    let mut by_uuid: Vec<&MappingInfo> = mappings.iter().collect();
    by_uuid.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    let mut mapped: BTreeMap<&str, &str> = BTreeMap::new();
    let mut orphaned = Vec::new();
    for m in by_uuid {
        for topic in &m.topics {
            let reason = if !existing.contains(topic.as_str()) {
                Some(OrphanReason::Deleted)
            } else if !mirrored.contains(topic.as_str()) {
                Some(OrphanReason::Excluded)
            } else if mapped.contains_key(topic.as_str()) {
                Some(OrphanReason::Duplicate)
            } else {
                mapped.insert(topic, &m.uuid);
                None
            };
            if let Some(reason) = reason {
                orphaned.push(OrphanedMapping {
                    uuid: m.uuid.clone(),
                    topic: topic.clone(),
                    state: m.state.clone(),
                    reason,
                });
            }
        }
    }
    orphaned.sort_by(|a, b| (&a.topic, &a.uuid).cmp(&(&b.topic, &b.uuid)));
    let unmapped = mirrored
        .iter()
        .filter(|t| !mapped.contains_key(*t))
        .map(|t| (*t).to_owned())
        .collect();
    DiscoveryPlan {
        mirrored: mirrored.iter().map(|t| (*t).to_owned()).collect(),
        unmapped,
        orphaned,
        paused: !mappings.is_empty() && mappings.iter().all(|m| is_disabled(&m.state)),
    }
}

/// A topic's measurement for tiering, from two end-offset sums `interval_secs` apart and its
/// size estimate: records/s from the offsets, bytes/s and retained bytes from the mean record
/// size of the estimate (`estimated_bytes / records`). An interval of 0 measures no rate (the
/// tier then follows the retained size alone).
pub fn measurement(
    topic: &str,
    partitions: i32,
    end_offsets_before: i64,
    end_offsets_after: i64,
    interval_secs: f64,
    stats: &SourceTopicStats,
) -> TopicMeasurement {
    let records_per_sec = if interval_secs > 0.0 {
        (end_offsets_after - end_offsets_before).max(0) as f64 / interval_secs
    } else {
        0.0
    };
    let mean_record_bytes =
        (stats.records > 0).then(|| stats.estimated_bytes as f64 / stats.records as f64);
    TopicMeasurement {
        topic: topic.to_owned(),
        partitions,
        records_per_sec,
        bytes_per_sec: records_per_sec * mean_record_bytes.unwrap_or(0.0),
        mean_record_bytes,
        retained_records: stats.records,
        retained_bytes: stats.estimated_bytes as f64,
    }
}

/// How the event source mapping authenticates to the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceAuth {
    /// No client authentication (plaintext, or TLS with server authentication only).
    None,
    /// SASL/SCRAM-SHA-512 with a Secrets Manager secret.
    ScramSha512,
    /// SASL/SCRAM-SHA-256 with a Secrets Manager secret.
    ScramSha256,
    /// Mutual TLS with a client certificate secret.
    MutualTls,
    /// MSK IAM (the function's execution role; MSK sources only).
    Iam,
}

/// Where and how a new mapping reads the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSourceSpec {
    /// The MSK cluster ARN; `None`: a self-managed cluster at [`EventSourceSpec::bootstrap_servers`].
    pub msk_cluster_arn: Option<String>,
    /// Bootstrap servers of a self-managed source.
    pub bootstrap_servers: Vec<String>,
    /// Client authentication.
    pub auth: SourceAuth,
    /// Secret of SCRAM credentials or of the client certificate.
    pub secret_arn: Option<String>,
    /// Secret with a private root CA (self-managed sources).
    pub ca_secret_arn: Option<String>,
    /// VPC subnets the pollers use (self-managed sources in a VPC).
    pub subnets: Vec<String>,
    /// Security groups of the pollers (self-managed sources in a VPC).
    pub security_groups: Vec<String>,
}

/// One `SourceAccessConfigurations` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessConfiguration {
    /// `SASL_SCRAM_512_AUTH`, `CLIENT_CERTIFICATE_TLS_AUTH`, `VPC_SUBNET`, ...
    #[serde(rename = "Type")]
    pub kind: String,
    /// Secret ARN, `subnet:<id>` or `security_group:<id>`.
    #[serde(rename = "URI")]
    pub uri: String,
}

/// The mapping's `SourceAccessConfigurations`, by the rules of the generated `mappings.yaml`:
/// the secret for SCRAM or mTLS, a private root CA and the VPC (subnets, security groups) for
/// self-managed sources only; nothing for IAM or an unauthenticated MSK source.
pub fn access_configurations(spec: &EventSourceSpec) -> Vec<AccessConfiguration> {
    let entry = |kind: &str, uri: String| AccessConfiguration {
        kind: kind.to_owned(),
        uri,
    };
    let self_managed = spec.msk_cluster_arn.is_none();
    let mut out = Vec::new();
    if let Some(secret) = spec.secret_arn.as_ref().filter(|s| !s.is_empty()) {
        match spec.auth {
            SourceAuth::ScramSha512 => out.push(entry("SASL_SCRAM_512_AUTH", secret.clone())),
            SourceAuth::ScramSha256 => out.push(entry("SASL_SCRAM_256_AUTH", secret.clone())),
            SourceAuth::MutualTls => out.push(entry("CLIENT_CERTIFICATE_TLS_AUTH", secret.clone())),
            SourceAuth::None | SourceAuth::Iam => {}
        }
    }
    if self_managed {
        if let Some(ca) = spec.ca_secret_arn.as_ref().filter(|s| !s.is_empty()) {
            out.push(entry("SERVER_ROOT_CA_CERTIFICATE", ca.clone()));
        }
        out.extend(
            spec.subnets
                .iter()
                .map(|s| entry("VPC_SUBNET", format!("subnet:{s}"))),
        );
        out.extend(
            spec.security_groups
                .iter()
                .map(|g| entry("VPC_SECURITY_GROUP", format!("security_group:{g}"))),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mapping(uuid: &str, topic: &str, state: &str) -> MappingInfo {
        MappingInfo {
            uuid: uuid.into(),
            topics: vec![topic.into()],
            state: state.into(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn filter(include: &str) -> TopicFilter {
        TopicFilter::new(&[include.to_owned()], &[]).unwrap()
    }

    #[test]
    fn new_topics_heartbeat_and_orphans() {
        let source = names(&[
            "__consumer_offsets",
            "app.orders",
            "app.new",
            "other",
            "ferry-heartbeats",
        ]);
        let mappings = [
            mapping("u1", "app.orders", "Enabled"),
            mapping("u0", "app.orders", "Enabled"),
            mapping("u2", "app.gone", "Enabled"),
            mapping("u3", "other", "Disabled"),
        ];
        let plan = plan_discovery(
            &source,
            &filter(r"app\..*"),
            Some("ferry-heartbeats"),
            &mappings,
        );
        assert_eq!(
            plan.mirrored,
            names(&["app.new", "app.orders", "ferry-heartbeats"])
        );
        assert_eq!(plan.unmapped, names(&["app.new", "ferry-heartbeats"]));
        let orphans: Vec<(&str, &str, OrphanReason)> = plan
            .orphaned
            .iter()
            .map(|o| (o.uuid.as_str(), o.topic.as_str(), o.reason))
            .collect();
        assert_eq!(
            orphans,
            [
                ("u2", "app.gone", OrphanReason::Deleted),
                ("u1", "app.orders", OrphanReason::Duplicate),
                ("u3", "other", OrphanReason::Excluded),
            ]
        );
        assert!(!plan.paused);
    }

    #[test]
    fn all_disabled_pauses_and_no_mappings_does_not() {
        let source = names(&["a", "b"]);
        let all = filter(".*");
        let plan = plan_discovery(&source, &all, None, &[mapping("u", "a", "Disabled")]);
        assert!(plan.paused);
        assert_eq!(plan.unmapped, names(&["b"]));
        assert!(!plan_discovery(&source, &all, None, &[]).paused);
        let mixed = [mapping("u", "a", "Disabled"), mapping("v", "b", "Enabled")];
        assert!(!plan_discovery(&source, &all, None, &mixed).paused);
    }

    #[test]
    fn measurement_rates_and_sizes() {
        let stats = SourceTopicStats {
            topic: "t".into(),
            records: 1_000,
            estimated_bytes: 500_000,
            ..SourceTopicStats::default()
        };
        let m = measurement("t", 3, 100, 1_100, 10.0, &stats);
        assert_eq!(m.records_per_sec, 100.0);
        assert_eq!(m.mean_record_bytes, Some(500.0));
        assert_eq!(m.bytes_per_sec, 50_000.0);
        assert_eq!(m.retained_bytes, 500_000.0);
        let none = measurement("t", 3, 100, 50, 0.0, &SourceTopicStats::default());
        assert_eq!((none.records_per_sec, none.bytes_per_sec), (0.0, 0.0));
        assert_eq!(none.mean_record_bytes, None);
    }

    #[test]
    fn access_configurations_follow_the_generated_template() {
        let mut spec = EventSourceSpec {
            msk_cluster_arn: None,
            bootstrap_servers: names(&["b1:9096"]),
            auth: SourceAuth::ScramSha512,
            secret_arn: Some("arn:secret".into()),
            ca_secret_arn: Some("arn:ca".into()),
            subnets: names(&["subnet-a", "subnet-b"]),
            security_groups: names(&["sg-1"]),
        };
        let kinds = |spec: &EventSourceSpec| -> Vec<(String, String)> {
            access_configurations(spec)
                .into_iter()
                .map(|a| (a.kind, a.uri))
                .collect()
        };
        assert_eq!(
            kinds(&spec),
            [
                ("SASL_SCRAM_512_AUTH".into(), "arn:secret".into()),
                ("SERVER_ROOT_CA_CERTIFICATE".into(), "arn:ca".into()),
                ("VPC_SUBNET".into(), "subnet:subnet-a".into()),
                ("VPC_SUBNET".into(), "subnet:subnet-b".into()),
                ("VPC_SECURITY_GROUP".into(), "security_group:sg-1".into()),
            ]
        );
        spec.msk_cluster_arn = Some("arn:aws:kafka:us-east-1:1:cluster/c/u".into());
        spec.auth = SourceAuth::MutualTls;
        assert_eq!(
            kinds(&spec),
            [("CLIENT_CERTIFICATE_TLS_AUTH".into(), "arn:secret".into())]
        );
        spec.auth = SourceAuth::Iam;
        assert!(kinds(&spec).is_empty());
    }

    proptest! {
        /// Every mirrored topic is either unmapped or read by exactly one mapping that is not
        /// reported; every mapping topic is either that mapping or reported; nothing is lost.
        #[test]
        fn every_topic_and_mapping_is_accounted_for(
            source in proptest::collection::btree_set("[a-d]{1,2}", 0..8),
            mapped in proptest::collection::vec(("[a-d]{1,2}", 0u8..4, any::<bool>()), 0..8),
        ) {
            let source: Vec<String> = source.into_iter().collect();
            let mappings: Vec<MappingInfo> = mapped
                .iter()
                .enumerate()
                .map(|(i, (t, _, on))| mapping(&format!("u{i:02}"), t, if *on { "Enabled" } else { "Disabled" }))
                .collect();
            let plan = plan_discovery(&source, &filter("[ab].*"), Some("c"), &mappings);
            for t in &plan.mirrored {
                let readers = mappings
                    .iter()
                    .filter(|m| m.topics.contains(t))
                    .filter(|m| !plan.orphaned.iter().any(|o| o.uuid == m.uuid && &o.topic == t))
                    .count();
                prop_assert_eq!(readers, usize::from(!plan.unmapped.contains(t)));
            }
            let reported = plan.orphaned.len();
            let kept = mappings.len() - reported;
            prop_assert_eq!(kept + plan.unmapped.len(), plan.mirrored.len());
        }
    }
}
