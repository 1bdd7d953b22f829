//! Tests of the planner and the checks (unit and proptest).

use super::*;
use crate::policy::{ReplicationPolicy, TopicFilter};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn desc(name: &str, partitions: i32, rf: i32, configs: &[(&str, &str)]) -> TopicDescription {
    TopicDescription::with_broker_defaults(name, partitions, rf, configs)
}

fn opts(brokers: i32) -> PlanOptions {
    PlanOptions {
        target_brokers: brokers,
        ..PlanOptions::default()
    }
}

const CTX: CheckContext = CheckContext {
    now_ms: 1_000_000_000_000,
    producer_batch_bytes: 1_000_000,
};

#[test]
fn creates_missing_topics_with_copied_configs() {
    let s = desc(
        "orders",
        6,
        3,
        &[
            ("cleanup.policy", "compact"),
            ("min.insync.replicas", "2"),
            ("message.timestamp.type", "LogAppendTime"),
            ("retention.ms", "1000"),
        ],
    );
    let plans = plan_topics(&[s], &BTreeMap::new(), &opts(2));
    assert_eq!(plans.len(), 1);
    let c = plans[0].create.as_ref().unwrap();
    assert_eq!(c.partitions, 6);
    assert_eq!(c.replication_factor, 2);
    assert_eq!(
        c.configs.keys().collect::<Vec<_>>(),
        ["cleanup.policy", "retention.ms"]
    );
    assert_eq!(plans[0].action(), TopicAction::Created);
}

#[test]
fn adds_partitions_updates_configs_reports_drift() {
    let s = desc("a", 4, 1, &[("retention.ms", "5000")]);
    let t = desc("a", 2, 1, &[("segment.ms", "100")]);
    let targets = BTreeMap::from([("a".to_string(), t)]);
    let p = &plan_topics(&[s], &targets, &opts(1))[0];
    assert_eq!(p.add_partitions, Some(PartitionIncrease { from: 2, to: 4 }));
    assert_eq!(p.config_updates["retention.ms"], "5000");
    assert_eq!(p.drift.len(), 1);
    assert_eq!(p.drift[0].setting, "segment.ms");
    assert_eq!(p.action(), TopicAction::PartitionsAdded);

    let s = desc("a", 2, 1, &[]);
    let t = desc("a", 3, 1, &[]);
    let targets = BTreeMap::from([("a".to_string(), t)]);
    let p = &plan_topics(&[s], &targets, &opts(1))[0];
    assert!(p.is_noop());
    assert_eq!(p.drift[0].setting, "partitions");
    assert_eq!(p.action(), TopicAction::InSync);
}

#[test]
fn policy_and_filter_apply() {
    let options = PlanOptions {
        policy: ReplicationPolicy::parse("prefix:src").unwrap(),
        filter: TopicFilter::from_lists("keep.*", "").unwrap(),
        ..opts(3)
    };
    let plans = plan_topics(
        &[
            desc("keep-1", 1, 1, &[]),
            desc("drop", 1, 1, &[]),
            desc("__consumer_offsets", 50, 1, &[]),
        ],
        &BTreeMap::new(),
        &options,
    );
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].target, "src.keep-1");
}

fn checks(f: &[Finding]) -> Vec<(Severity, Check, &str)> {
    f.iter()
        .map(|f| (f.severity, f.check, f.setting.as_str()))
        .collect()
}

#[test]
fn checks_find_dangerous_target_settings() {
    let s = desc("t", 3, 1, &[("max.message.bytes", "2000000")]);
    assert_eq!(
        checks(&check_topic(&s, "t", None, None, &CTX)),
        [(Severity::Error, Check::TargetTopicMissing, "topic")]
    );
    let t = desc(
        "t",
        2,
        1,
        &[
            ("max.message.bytes", "500000"),
            ("message.timestamp.type", "LogAppendTime"),
            ("message.timestamp.before.max.ms", "3600000"),
            ("retention.ms", "86400000"),
            ("retention.bytes", "1000"),
            ("cleanup.policy", "compact,delete"),
        ],
    );
    let stats = SourceTopicStats {
        topic: "t".into(),
        records: 10,
        estimated_bytes: 30_000,
        largest_partition_bytes: 10_000,
        oldest_timestamp_ms: Some(CTX.now_ms - 2 * 86_400_000),
        largest_record_bytes: Some(100),
    };
    let f = check_topic(&s, "t", Some(&t), Some(&stats), &CTX);
    let c = checks(&f);
    for expected in [
        (Severity::Error, Check::PartitionCount, "partitions"),
        (Severity::Error, Check::MaxMessageBytes, "max.message.bytes"),
        (
            Severity::Warning,
            Check::ProducerBatchSize,
            "max.message.bytes",
        ),
        (
            Severity::Error,
            Check::TimestampType,
            "message.timestamp.type",
        ),
        (
            Severity::Error,
            Check::TimestampLimit,
            "message.timestamp.before.max.ms",
        ),
        (Severity::Error, Check::Retention, "retention.ms"),
        (Severity::Error, Check::Retention, "retention.bytes"),
        (Severity::Error, Check::CleanupPolicy, "cleanup.policy"),
    ] {
        assert!(c.contains(&expected), "{expected:?} missing in {c:?}");
    }
    assert!(f.iter().all(|f| f.topic == "t"));

    // Same settings on both sides, young data: clean.
    let t = desc("t", 3, 1, &[("max.message.bytes", "2000000")]);
    let young = SourceTopicStats {
        oldest_timestamp_ms: Some(CTX.now_ms - 1000),
        ..stats
    };
    assert!(check_topic(&s, "t", Some(&t), Some(&young), &CTX).is_empty());
}

#[test]
fn storage_thresholds() {
    let s = SourceTopicStats {
        estimated_bytes: 100,
        ..SourceTopicStats::default()
    };
    let needed = storage_needed([(&s, 3)]);
    assert_eq!(needed, 300);
    let cap = |c, u| StorageInfo {
        capacity_bytes: c,
        used_bytes: u,
    };
    assert!(check_storage(needed, None).is_empty());
    assert!(check_storage(needed, Some(&cap(1000, Some(100)))).is_empty());
    assert_eq!(
        check_storage(needed, Some(&cap(1000, Some(500))))[0].severity,
        Severity::Warning
    );
    let e = &check_storage(needed, Some(&cap(250, None)))[0];
    assert_eq!(e.severity, Severity::Error);
    assert!(e.message.contains("cool-down"));
}

#[test]
fn applied_plan_has_no_partition_or_config_findings() {
    let s = desc("a", 5, 1, &[("retention.ms", "-1")]);
    let t = desc("a", 2, 1, &[("retention.ms", "10")]);
    let p = plan_topic(&s, "a", Some(&t), &opts(1));
    let after = apply_to_description(&p, Some(&t)).unwrap();
    assert!(plan_topic(&s, "a", Some(&after), &opts(1)).is_noop());
}

fn arb_configs() -> impl Strategy<Value = BTreeMap<String, ConfigValue>> {
    let names = prop::sample::select(vec![
        "retention.ms",
        "cleanup.policy",
        "max.message.bytes",
        "min.insync.replicas",
        "message.timestamp.type",
        "message.timestamp.difference.max.ms",
        "unclean.leader.election.enable",
        "leader.replication.throttled.replicas",
        "segment.bytes",
    ]);
    let source = prop::sample::select(vec![
        ConfigSource::Topic,
        ConfigSource::Broker,
        ConfigSource::Default,
    ]);
    prop::collection::btree_map(
        names.prop_map(String::from),
        (source, "[a-z0-9]{1,4}", any::<bool>()).prop_map(|(source, v, ro)| ConfigValue {
            value: Some(v),
            source,
            read_only: ro,
            sensitive: false,
        }),
        0..9,
    )
}

fn arb_topic() -> impl Strategy<Value = TopicDescription> {
    (1..20i32, 1..4i32, arb_configs()).prop_map(|(partitions, rf, configs)| TopicDescription {
        name: "t".into(),
        partitions,
        replication_factor: rf,
        configs,
    })
}

proptest! {
    #[test]
    fn planner_invariants(
        source in arb_topic(),
        target in prop::option::of(arb_topic()),
        brokers in 0..5i32,
    ) {
        let options = opts(brokers);
        let p = plan_topic(&source, "t", target.as_ref(), &options);
        let filter = ConfigFilter::default();
        let mut written: Vec<&String> = p.config_updates.keys().collect();
        if let Some(c) = &p.create {
            prop_assert!(target.is_none());
            prop_assert_eq!(c.partitions, source.partitions);
            prop_assert!(c.replication_factor >= 1 && c.replication_factor <= source.replication_factor);
            if brokers > 0 { prop_assert!(c.replication_factor <= brokers); }
            written.extend(c.configs.keys());
        }
        for name in written {
            prop_assert!(filter.copies(name), "excluded config {} copied", name);
            let c = &source.configs[name];
            prop_assert!(c.source == ConfigSource::Topic && !c.read_only);
        }
        if let Some(t) = &target {
            prop_assert!(p.create.is_none());
            if let Some(inc) = p.add_partitions {
                prop_assert!(inc.to > inc.from && inc.from == t.partitions && inc.to == source.partitions);
            }
            let after = apply_to_description(&p, Some(t)).unwrap();
            prop_assert!(after.partitions >= t.partitions, "partitions removed");
            prop_assert_eq!(after.partitions, t.partitions.max(source.partitions));
            for (k, v) in &p.config_updates {
                prop_assert!(!t.configs.get(k).is_some_and(|c| c.read_only));
                prop_assert_eq!(Some(v.as_str()), source.config(k));
            }
        }
    }
}
