//! Preflight on the real local stack: topic provisioning (create with the source's partition
//! count and copied configs, add partitions when the source grows) and findings for dangerous
//! target settings. Every test only touches topics under its own unique prefix (topic filter).

use cutover::preflight::{run_preflight, PreflightConfig, PreflightReport};
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{SourceTopicDescriber, TargetTopicAdmin};
use ferry_core::storage::UnknownStorage;
use ferry_core::topics::{Check, ConfigSource, Severity, TopicAction, TopicDescription};
use ferry_kafka::admin::create_topic;
use ferry_kafka::KafkaTopicAdmin;
use ferry_tests::{require_stack, source, target, unique};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn config(prefix: &str) -> PreflightConfig {
    PreflightConfig::new(
        ReplicationPolicy::Identity,
        TopicFilter::from_lists(&format!("{prefix}-.*"), "").unwrap(),
    )
}

async fn preflight(prefix: &str) -> PreflightReport {
    let src = KafkaTopicAdmin::new(source(), "source");
    let tgt = KafkaTopicAdmin::new(target(), "target");
    run_preflight(&src, &tgt, &UnknownStorage, &config(prefix))
        .await
        .expect("preflight runs")
}

async fn describe_target(topic: &str) -> TopicDescription {
    let tgt = KafkaTopicAdmin::new(target(), "target");
    TargetTopicAdmin::describe_topics(&tgt, &[topic.to_string()])
        .await
        .unwrap()
        .pop()
        .unwrap_or_else(|| panic!("target topic {topic} exists"))
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Produces `n` records of `bytes` value bytes to every partition of `topic` on the source,
/// with timestamp `ts`.
async fn produce(topic: &str, partitions: i32, n: usize, bytes: usize, ts: i64) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", ferry_tests::SOURCE)
        .set("message.max.bytes", "10000000")
        .create()
        .unwrap();
    let value = vec![b'x'; bytes];
    for p in 0..partitions {
        for i in 0..n {
            let key = format!("k{i}");
            producer
                .send(
                    FutureRecord::to(topic)
                        .partition(p)
                        .key(&key)
                        .payload(&value)
                        .timestamp(ts),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .expect("produce to source");
        }
    }
}

#[tokio::test]
async fn creates_topics_with_partitions_and_configs_then_adds_partitions() {
    require_stack();
    let p = unique("pf");
    let compacted = format!("{p}-compacted");
    let retention = format!("{p}-retention");
    let big = format!("{p}-big");
    let src = source();
    create_topic(
        &src,
        &compacted,
        3,
        &[("cleanup.policy", "compact"), ("min.insync.replicas", "1")],
    )
    .await
    .unwrap();
    create_topic(&src, &retention, 2, &[("retention.ms", "86400000")])
        .await
        .unwrap();
    create_topic(&src, &big, 1, &[("max.message.bytes", "2000000")])
        .await
        .unwrap();
    produce(&retention, 2, 20, 100, now_ms()).await;
    produce(&big, 1, 3, 1_500_000, now_ms()).await;

    let report = preflight(&p).await;
    assert!(report.ok, "{:#?}", report.findings);
    assert_eq!(report.topics.len(), 3);
    assert!(
        report
            .topics
            .iter()
            .all(|t| t.action == TopicAction::Created),
        "{:#?}",
        report.topics
    );
    // 3 × 1.5 MB and 40 × ~100 B: the estimate is in the right range.
    assert!(
        (4_500_000..5_000_000).contains(&report.estimated_source_bytes),
        "estimate {}",
        report.estimated_source_bytes
    );

    let c = describe_target(&compacted).await;
    assert_eq!(c.partitions, 3);
    assert_eq!(c.config("cleanup.policy"), Some("compact"));
    assert!(c.is_explicit("cleanup.policy"));
    // min.insync.replicas is a target durability setting: never copied.
    assert_ne!(
        c.configs.get("min.insync.replicas").map(|v| v.source),
        Some(ConfigSource::Topic)
    );
    let r = describe_target(&retention).await;
    assert_eq!(r.partitions, 2);
    assert_eq!(r.config("retention.ms"), Some("86400000"));
    let b = describe_target(&big).await;
    assert_eq!(b.partitions, 1);
    assert_eq!(b.config("max.message.bytes"), Some("2000000"));

    // Idempotent.
    let again = preflight(&p).await;
    assert!(again.ok, "{:#?}", again.findings);
    assert!(again.topics.iter().all(|t| t.action == TopicAction::InSync));

    // The source grows and a config changes: partitions added, config synced, others kept.
    let src_admin = KafkaTopicAdmin::new(source(), "source");
    src_admin.create_partitions(&retention, 5).await.unwrap();
    src_admin
        .set_configs(
            &retention,
            &[("retention.ms".to_string(), "172800000".to_string())].into(),
        )
        .await
        .unwrap();
    let grown = preflight(&p).await;
    assert!(grown.ok, "{:#?}", grown.findings);
    let t = grown.topics.iter().find(|t| t.source == retention).unwrap();
    assert_eq!(t.action, TopicAction::PartitionsAdded);
    assert_eq!(t.partitions_added, Some([2, 5]));
    let r = describe_target(&retention).await;
    assert_eq!(r.partitions, 5);
    assert_eq!(r.config("retention.ms"), Some("172800000"));
    let described =
        SourceTopicDescriber::describe_topics(&src_admin, std::slice::from_ref(&retention))
            .await
            .unwrap();
    assert_eq!(described[0].partitions, 5);
}

#[tokio::test]
async fn findings_name_topic_and_setting() {
    require_stack();
    let p = unique("pfbad");
    let small = format!("{p}-small");
    let old = format!("{p}-old");
    let src = source();
    let tgt = target();
    create_topic(&src, &small, 2, &[]).await.unwrap();
    create_topic(&src, &old, 1, &[]).await.unwrap();
    produce(&old, 1, 2, 10, now_ms() - 2 * 86_400_000).await;
    // Pre-created on the target with dangerous settings.
    create_topic(
        &tgt,
        &small,
        2,
        &[
            ("max.message.bytes", "500000"),
            ("message.timestamp.type", "LogAppendTime"),
        ],
    )
    .await
    .unwrap();
    create_topic(
        &tgt,
        &old,
        1,
        &[
            ("retention.ms", "3600000"),
            ("message.timestamp.before.max.ms", "3600000"),
            ("cleanup.policy", "compact,delete"),
        ],
    )
    .await
    .unwrap();

    let report = preflight(&p).await;
    assert!(!report.ok);
    let has = |topic: &str, setting: &str, severity: Severity, check: Check| {
        report.findings.iter().any(|f| {
            f.topic == topic && f.setting == setting && f.severity == severity && f.check == check
        })
    };
    assert!(
        has(
            &small,
            "max.message.bytes",
            Severity::Error,
            Check::MaxMessageBytes
        ),
        "{:#?}",
        report.findings
    );
    assert!(has(
        &small,
        "max.message.bytes",
        Severity::Warning,
        Check::ProducerBatchSize
    ));
    assert!(has(
        &small,
        "message.timestamp.type",
        Severity::Error,
        Check::TimestampType
    ));
    assert!(has(&old, "retention.ms", Severity::Error, Check::Retention));
    assert!(has(
        &old,
        "message.timestamp.before.max.ms",
        Severity::Error,
        Check::TimestampLimit
    ));
    assert!(has(
        &old,
        "cleanup.policy",
        Severity::Error,
        Check::CleanupPolicy
    ));
    for f in &report.findings {
        assert!(f.message.contains(&f.topic), "{f:?}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["findings"][0]["severity"] == "error");
    // Explicit LogAppendTime on the target is never "synced" away (not a copied config).
    let s = describe_target(&small).await;
    assert_eq!(s.config("message.timestamp.type"), Some("LogAppendTime"));
}
