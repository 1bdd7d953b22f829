use super::*;
use crate::topics::{
    check_storage, Check, ConfigFilter, Severity, SourceTopicStats, StorageInfo, TopicDescription,
    STORAGE_WARN_RATIO,
};
use proptest::prelude::*;

fn facts(kind: ClusterKind, brokers: Option<u32>, volume: Option<u32>) -> ClusterFacts {
    ClusterFacts {
        arn: "arn:aws:kafka:us-east-1:123456789012:cluster/t/0000".into(),
        name: "t".into(),
        kind,
        state: "ACTIVE".into(),
        current_version: "K1".into(),
        kafka_version: Some("3.6.0".into()),
        broker_count: brokers,
        volume_gib: volume,
        provisioned_throughput: None,
        client_auth: vec![ClientAuthMode::Iam],
    }
}

#[test]
fn auth_modes_map_ferry_security_names_and_fields() {
    assert_eq!(MskAuth::from_security("msk-iam"), Some(MskAuth::Iam));
    assert_eq!(
        MskAuth::from_security("SCRAM-SHA-512"),
        Some(MskAuth::Scram)
    );
    assert_eq!(MskAuth::from_security("tls"), Some(MskAuth::Tls));
    assert_eq!(
        MskAuth::from_security("plaintext"),
        Some(MskAuth::Plaintext)
    );
    assert_eq!(MskAuth::from_security("oauthbearer-unsecured-jwt"), None);
    assert_eq!(
        MskAuth::Iam.bootstrap_field(),
        "BootstrapBrokerStringSaslIam"
    );
    assert_eq!(
        MskAuth::Plaintext.bootstrap_field(),
        "BootstrapBrokerString"
    );
    assert_eq!(serde_json::to_string(&MskAuth::Iam).unwrap(), "\"msk-iam\"");
    let b = BootstrapBrokers::default()
        .with(MskAuth::Iam, "b-1:9098")
        .with(MskAuth::Tls, " ");
    assert_eq!(b.get(MskAuth::Iam), Some("b-1:9098"));
    assert_eq!(b.get(MskAuth::Tls), None, "blank counts as off");
    assert_eq!(b.get(MskAuth::Scram), None);
}

#[test]
fn storage_is_brokers_times_volume_and_unknown_for_serverless() {
    let p = facts(ClusterKind::Provisioned, Some(3), Some(1000));
    assert_eq!(p.storage_capacity_bytes(), Some(3 * 1000 * GIB));
    assert_eq!(
        p.storage(),
        Some(StorageInfo {
            capacity_bytes: 3000 * GIB,
            used_bytes: None
        })
    );
    assert_eq!(
        facts(ClusterKind::Provisioned, None, Some(10)).storage(),
        None
    );
    assert_eq!(facts(ClusterKind::Serverless, None, None).storage(), None);
    assert!(facts(ClusterKind::Serverless, None, None).is_serverless());
}

#[test]
fn topic_api_needs_provisioned_kafka_3_6() {
    assert_eq!(kafka_major_minor("3.8.x.kraft"), Some((3, 8)));
    assert_eq!(kafka_major_minor("2.8.1"), Some((2, 8)));
    assert_eq!(kafka_major_minor("x"), None);
    let mut f = facts(ClusterKind::Provisioned, Some(3), Some(100));
    assert!(f.supports_topic_api());
    f.kafka_version = Some("3.5.1".into());
    assert!(!f.supports_topic_api());
    f.kafka_version = Some("4.0.x.kraft".into());
    assert!(f.supports_topic_api());
    assert!(!facts(ClusterKind::Serverless, None, None).supports_topic_api());
}

fn topic(name: &str, partitions: i32, explicit: &[(&str, &str)]) -> TopicDescription {
    TopicDescription::with_broker_defaults(name, partitions, 3, explicit)
}

fn planned<'a>(
    source: &'a TopicDescription,
    stats: Option<&'a SourceTopicStats>,
    target: Option<&'a TopicDescription>,
) -> PlannedTopic<'a> {
    PlannedTopic {
        target_name: &source.name,
        source,
        stats,
        target,
    }
}

fn checks(findings: &[crate::topics::Finding]) -> Vec<(Check, Severity, &str)> {
    findings
        .iter()
        .map(|f| (f.check, f.severity, f.setting.as_str()))
        .collect()
}

#[test]
fn a_plain_migration_fits_serverless() {
    let a = topic("a", 6, &[("retention.ms", "-1")]);
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&a, None, None)],
        &[],
        &ConfigFilter::default(),
        &ServerlessLimits::default(),
    );
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn serverless_accepts_iam_only() {
    let f = check_serverless(
        MskAuth::Scram,
        &[],
        &[],
        &ConfigFilter::default(),
        &ServerlessLimits::default(),
    );
    assert_eq!(
        checks(&f),
        vec![(Check::ServerlessAuth, Severity::Error, "security")]
    );
    assert!(f[0].message.contains("scram"), "{}", f[0].message);
}

#[test]
fn partitions_count_existing_and_other_target_topics_per_kind() {
    let limits = ServerlessLimits {
        max_partitions: 10,
        max_compacted_partitions: 2,
        ..ServerlessLimits::default()
    };
    let a = topic("a", 4, &[]);
    let a_target = topic("a", 6, &[]); // more partitions on the target: counts 6
    let c = topic("c", 2, &[("cleanup.policy", "compact")]);
    let other = topic("other", 5, &[]);
    let filter = ConfigFilter::default();
    let topics = [planned(&a, None, Some(&a_target)), planned(&c, None, None)];
    let f = check_serverless(
        MskAuth::Iam,
        &topics,
        std::slice::from_ref(&other),
        &filter,
        &limits,
    );
    assert_eq!(
        checks(&f),
        vec![(Check::ServerlessPartitions, Severity::Error, "partitions")]
    );
    assert!(
        f[0].message.contains("11 partitions of non-compacted"),
        "{}",
        f[0].message
    );
    // Exactly at the limit is fine; the mirrored topic's own target entry is not counted twice.
    let f = check_serverless(
        MskAuth::Iam,
        &topics,
        std::slice::from_ref(&a_target),
        &filter,
        &limits,
    );
    assert!(f.is_empty(), "{f:?}");
    let c3 = topic("c", 3, &[("cleanup.policy", "compact")]);
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&c3, None, None)],
        &[],
        &filter,
        &limits,
    );
    assert!(f[0].message.contains("compacted"), "{f:?}");
}

#[test]
fn message_size_above_eight_mib() {
    let big = topic("big", 1, &[("max.message.bytes", "10485760")]);
    let limits = ServerlessLimits::default();
    let sampled = |largest| SourceTopicStats {
        topic: "big".into(),
        largest_record_bytes: Some(largest),
        ..SourceTopicStats::default()
    };
    let small = sampled(1_000);
    let huge = sampled(9 * 1024 * 1024);
    // Only max.message.bytes excluded, so the copy itself is not flagged here.
    let filter = ConfigFilter::new(&["max\\.message\\.bytes".to_string()]).unwrap();
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&big, Some(&small), None)],
        &[],
        &filter,
        &limits,
    );
    assert_eq!(
        checks(&f),
        vec![(
            Check::MaxMessageBytes,
            Severity::Warning,
            "max.message.bytes"
        )]
    );
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&big, Some(&huge), None)],
        &[],
        &filter,
        &limits,
    );
    assert_eq!(
        checks(&f),
        vec![(Check::MaxMessageBytes, Severity::Error, "max.message.bytes")]
    );
    // Copied as is, the create itself would be refused.
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&big, Some(&small), None)],
        &[],
        &ConfigFilter::default(),
        &limits,
    );
    assert!(f
        .iter()
        .any(|f| f.check == Check::ServerlessConfig && f.setting == "max.message.bytes"));
}

#[test]
fn configs_serverless_does_not_accept() {
    let t = topic(
        "t",
        1,
        &[("segment.bytes", "1048576"), ("compression.type", "lz4")],
    );
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&t, None, None)],
        &[],
        &ConfigFilter::default(),
        &ServerlessLimits::default(),
    );
    assert_eq!(
        checks(&f),
        vec![(Check::ServerlessConfig, Severity::Error, "segment.bytes")]
    );
    // An existing target topic is not created, so nothing is refused.
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&t, None, Some(&t))],
        &[],
        &ConfigFilter::default(),
        &ServerlessLimits::default(),
    );
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn default_retention_bytes_would_delete_large_partitions() {
    let t = topic("t", 1, &[]);
    let stats = SourceTopicStats {
        topic: "t".into(),
        largest_partition_bytes: 300 * GIB,
        ..SourceTopicStats::default()
    };
    let limits = ServerlessLimits::default();
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&t, Some(&stats), None)],
        &[],
        &ConfigFilter::default(),
        &limits,
    );
    assert_eq!(
        checks(&f),
        vec![(Check::Retention, Severity::Error, "retention.bytes")]
    );
    let unlimited = topic("t", 1, &[("retention.bytes", "-1")]);
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&unlimited, Some(&stats), None)],
        &[],
        &ConfigFilter::default(),
        &limits,
    );
    assert!(f.is_empty(), "{f:?}");
    let compacted = topic("t", 1, &[("cleanup.policy", "compact")]);
    let f = check_serverless(
        MskAuth::Iam,
        &[planned(&compacted, Some(&stats), None)],
        &[],
        &ConfigFilter::default(),
        &limits,
    );
    assert!(
        f.iter().all(|f| f.check != Check::Retention),
        "compacted topics keep their keys: {f:?}"
    );
}

#[test]
fn headroom_matches_the_storage_warning_ratio() {
    #[allow(clippy::cast_precision_loss)]
    let ratio = HEADROOM_PERCENT as f64 / 100.0;
    assert!((ratio - STORAGE_WARN_RATIO).abs() < 1e-9);
}

#[test]
fn sizing_examples() {
    // 2.1 TiB on 3 brokers at 70 %: 1 TiB per broker.
    let s = size_volumes(3 * 700 * GIB, 3, 100);
    assert_eq!((s.needed_gib, s.request_gib), (1000, 1000));
    assert!(s.grows() && !s.exceeds_maximum());
    let info = StorageInfo {
        capacity_bytes: 3 * u64::from(s.request_gib) * GIB,
        used_bytes: None,
    };
    assert!(
        check_storage(3 * 700 * GIB, Some(&info)).is_empty(),
        "the preflight stays quiet"
    );
    // Already large enough: never shrinks.
    let s = size_volumes(GIB, 3, 5000);
    assert_eq!(s.request_gib, 5000);
    assert!(!s.grows());
    // Beyond the maximum: capped, and says so.
    let s = size_volumes(3 * 20_000 * GIB, 3, 100);
    assert_eq!(s.request_gib, MAX_VOLUME_GIB);
    assert!(s.exceeds_maximum());
    // Nothing to hold.
    assert_eq!(size_volumes(0, 0, 0).request_gib, MIN_VOLUME_GIB);
}

#[test]
fn volume_findings_say_what_to_grow_and_when_it_cannot() {
    let arn = "arn:aws:kafka:eu-west-1:1:cluster/t/x";
    let grow = size_volumes(3 * 700 * GIB, 3, 100);
    let f = volume_finding(arn, 3, &grow).expect("must grow");
    assert_eq!(
        (f.severity, f.check),
        (Severity::Warning, Check::VolumeSizing)
    );
    for needle in ["from 100 GiB to 1000 GiB", arn, "--grow", "6 hours"] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    let too_big = size_volumes(3 * 20_000 * GIB, 3, 100);
    let f = volume_finding(arn, 3, &too_big).expect("too big");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("tiered storage"), "{}", f.message);
    assert!(volume_finding(arn, 3, &size_volumes(GIB, 3, 5000)).is_none());
}

#[test]
fn projected_bytes_fill_the_retention_window_or_grow_for_the_horizon() {
    const DAY_MS: i64 = 86_400_000;
    // 1 KB/s with 7 days' retention: the window holds 604.8 MB, more than the 1 MB now.
    assert_eq!(
        projected_topic_bytes(1_000_000, 1000.0, Some(7 * DAY_MS), 0),
        604_800_000
    );
    // A full window keeps what is there.
    assert_eq!(
        projected_topic_bytes(900_000_000, 1000.0, Some(7 * DAY_MS), 0),
        900_000_000
    );
    // Unlimited retention (-1) grows for the horizon.
    assert_eq!(projected_topic_bytes(5, 2.0, Some(-1), 10), 25);
    assert_eq!(projected_topic_bytes(5, 2.0, None, 10), 25);
    // Idle or unmeasured topics keep their size.
    assert_eq!(projected_topic_bytes(7, f64::NAN, None, 10), 7);
    assert_eq!(
        projected_topic_bytes(u64::MAX, 1e30, None, u64::MAX),
        u64::MAX
    );
}

proptest! {
    #[test]
    fn sizing_invariants(
        needed in 0u64..(u64::MAX / 2),
        brokers in 0u32..64,
        current in 0u32..20_000,
    ) {
        let s = size_volumes(needed, brokers, current);
        prop_assert!(s.request_gib >= current, "never shrinks");
        prop_assert!(s.request_gib <= MAX_VOLUME_GIB.max(current));
        prop_assert!(s.request_gib >= MIN_VOLUME_GIB);
        prop_assert_eq!(volume_finding("arn", brokers, &s).is_some(), s.grows() || s.exceeds_maximum());
        let b = u128::from(brokers.max(1));
        let capacity = b * u128::from(s.request_gib) * u128::from(GIB);
        if !s.exceeds_maximum() {
            // Holds `needed` within the headroom: the storage preflight stays quiet.
            prop_assert!(capacity * 70 >= u128::from(needed) * 100);
        }
        // Minimal: one GiB less would not hold it (unless kept by the current size or the
        // minimum).
        if s.request_gib > current.max(MIN_VOLUME_GIB) && !s.exceeds_maximum() {
            let less = b * u128::from(s.request_gib - 1) * u128::from(GIB);
            prop_assert!(less * 70 < u128::from(needed) * 100);
        }
    }
}
