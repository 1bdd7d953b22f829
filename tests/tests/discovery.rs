//! Issue 17: discovery on the real local stack. The real `discover` binary runs on its SAM
//! template schedule (time-scaled) and creates event source mappings through the local Lambda
//! API (`CreateEventSourceMapping`); the ESM emulator starts each new mapping at once and feeds
//! the real `mirror` binary. A topic created mid-run and partitions added mid-run are mapped and
//! provisioned within two schedule periods, and mirrored exactly with nothing lost.

use ferry_core::ports::TargetTopicAdmin as _;
use ferry_local::workload::{produce, producer, Workload};
use ferry_local::{DefaultMappingFactory, FunctionConfig, FunctionHost, Invoker, LambdaApiServer};
use ferry_tests::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The template's discovery period (`rate(5 minutes)`) scaled down to this.
const PERIOD: Duration = Duration::from_secs(5);

async fn produce_round(topic: &str, partitions: i32, records: u64, seed: u64) {
    let p = producer(SOURCE).expect("producer");
    let w = Workload {
        topic: topic.to_string(),
        partitions,
        records,
        value_bytes: 64,
        seed,
    };
    produce(&p, &w, |_| {}).await.expect("produce");
}

async fn source_partitions(topic: &str) -> i32 {
    ferry_kafka::admin::partition_count(&source(), topic)
        .await
        .expect("source partition count")
        .unwrap_or(0)
}

async fn target_partitions(topic: &str) -> i32 {
    ferry_kafka::admin::partition_count(&target(), topic)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

async fn source_total(topic: &str, partitions: i32) -> i64 {
    let mut total = 0;
    for p in 0..partitions {
        let tp = ferry_core::TopicPartition::new(topic, p);
        total += ferry_kafka::reader::watermarks(&source(), &tp)
            .await
            .expect("source watermarks")
            .1;
    }
    total
}

/// Topics the API's mappings of `mirror` read.
async fn mapped_topics(api: &LambdaApiServer) -> Vec<String> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(api.endpoint_url())
        .load()
        .await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let out = lambda
        .list_event_source_mappings()
        .function_name(MIRROR)
        .send()
        .await
        .expect("ListEventSourceMappings");
    let mut topics: Vec<String> = out
        .event_source_mappings()
        .iter()
        .flat_map(|m| m.topics().to_vec())
        .collect();
    topics.sort();
    topics
}

async fn wait_until<F, Fut>(deadline: Instant, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within the deadline");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_topics_and_partitions_are_mirrored_within_two_periods() {
    init_tracing();
    let rig = MirrorRig::new(&[], 8).await;
    let prefix = unique("disc");
    let a = format!("{prefix}-a");
    let b = format!("{prefix}-b");
    let heartbeat = format!("{prefix}-hb");
    let excluded = format!("{prefix}-x");
    for (topic, partitions) in [(&a, 2), (&heartbeat, 1), (&excluded, 1)] {
        ferry_kafka::admin::create_topic(&source(), topic, partitions, &[])
            .await
            .expect("source topic");
    }
    produce_round(&a, 2, 400, 1).await;
    produce_round(&heartbeat, 1, 5, 2).await;

    // The Lambda API that discovery calls: the mirror is registered, and mappings it creates
    // run in the ESM emulator with the test's fast retries and metadata refresh.
    let api = LambdaApiServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("Lambda API");
    api.register_function(MIRROR, Arc::new(rig.host.clone()) as Arc<dyn Invoker>);
    api.serve_mapping_creation(DefaultMappingFactory::new().with_hook(|c| {
        c.pollers = c.pollers.clamp(1, 2);
        c.metadata_refresh = Duration::from_secs(1);
        c.batching_window = Duration::from_millis(100);
        c.retry_initial_backoff = Duration::from_millis(50);
        c.retry_max_backoff = Duration::from_secs(1);
    }));

    let include = format!("{prefix}-(a|b)");
    let mut config = FunctionConfig::new("discover", bin_path("discover"));
    config.env = aws_env()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(
            [
                ("FERRY_SOURCE_BOOTSTRAP", SOURCE.to_owned()),
                ("FERRY_TARGET_BOOTSTRAP", TARGET.to_owned()),
                ("FERRY_TOPICS_INCLUDE", include),
                ("FERRY_HEARTBEAT_TOPIC", heartbeat.clone()),
                ("FERRY_MIRROR_FUNCTION", MIRROR.to_owned()),
                ("FERRY_DISCOVERY_SAMPLE_SECS", "1".to_owned()),
                ("AWS_ENDPOINT_URL_LAMBDA", api.endpoint_url()),
                ("RUST_LOG", "info".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        )
        .collect();
    config.timeout = Duration::from_secs(60);
    config.sandboxes = 1;
    let log = std::env::temp_dir().join(format!("{}-discover.log", rig.table));
    config.log = ferry_local::LogTarget::File(log.clone());
    let discover = Arc::new(FunctionHost::new(config).expect("discover host"));

    let schedules: Vec<_> =
        ferry_local::schedules_from_template(include_str!("../../infra/template.yaml"))
            .expect("template schedules")
            .into_iter()
            .filter(|s| s.function == "discover")
            .collect();
    assert_eq!(schedules.len(), 1, "one discovery schedule: {schedules:?}");
    let scale = PERIOD.as_secs_f64() / schedules[0].every.as_secs_f64();
    let stop = tokio_util::sync::CancellationToken::new();
    let invoker: Arc<dyn Invoker> = discover.clone();
    let runner = ferry_local::run_schedules(schedules, invoker, stop.clone(), scale)
        .expect("schedule runner");

    // 1. The first pass maps `a` and the heartbeat topic (never the excluded one) and creates
    //    their target topics; the mirror copies them.
    let start = Instant::now();
    wait_until(
        start + 3 * PERIOD,
        "first pass maps a and the heartbeat topic",
        || async { mapped_topics(&api).await == [a.clone(), heartbeat.clone()] },
    )
    .await;
    assert_eq!(
        wait_for_target_count(&a, 2, 400, Duration::from_secs(60)).await,
        400
    );

    // 2. Mid-run, with traffic on `a`: a new topic `b`, and `a` grows from 2 to 4 partitions.
    let traffic = {
        let a = a.clone();
        tokio::spawn(async move {
            for round in 0..10u64 {
                let partitions = source_partitions(&a).await;
                produce_round(&a, partitions, 200, 100 + round).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    ferry_kafka::admin::create_topic(&source(), &b, 3, &[("retention.ms", "86400000")])
        .await
        .expect("topic b");
    produce_round(&b, 3, 900, 3).await;
    ferry_kafka::KafkaTopicAdmin::new(source(), "source")
        .create_partitions(&a, 4)
        .await
        .expect("grow a");
    let changed = Instant::now();
    wait_until(
        changed + 2 * PERIOD,
        "b mapped and a grown on the target",
        || async {
            mapped_topics(&api).await == [a.clone(), b.clone(), heartbeat.clone()]
                && target_partitions(&a).await == 4
                && target_partitions(&b).await == 3
        },
    )
    .await;
    eprintln!(
        "b mapped and a grown on the target {:.1} s after the change (period {:?})",
        changed.elapsed().as_secs_f64(),
        PERIOD
    );
    traffic.await.expect("traffic");

    // 3. Nothing lost, nothing twice: every partition identical on both sides.
    let a_total = source_total(&a, 4).await;
    let b_total = source_total(&b, 3).await;
    assert_eq!(
        wait_for_target_count(&a, 4, a_total, Duration::from_secs(120)).await,
        a_total
    );
    assert_eq!(
        wait_for_target_count(&b, 3, b_total, Duration::from_secs(120)).await,
        b_total
    );
    assert_eq!(
        wait_for_target_count(&heartbeat, 1, 5, Duration::from_secs(60)).await,
        5
    );
    // The mirror retries the new partitions' batches (`Ferry.TargetNotReady`) until the pass
    // added them, and must see them on the next retry (not after its metadata cache's TTL).
    let caught_up = changed.elapsed();
    eprintln!(
        "every record mirrored {:.1} s after the change",
        caught_up.as_secs_f64()
    );
    assert!(
        caught_up < 4 * PERIOD + Duration::from_secs(10),
        "the mirror took {caught_up:?} to catch up after the partitions were added"
    );
    assert_mirrored(&a, 4, a_total as u64).await;
    assert_mirrored(&b, 3, b_total as u64).await;
    assert_mirrored(&heartbeat, 1, 5).await;
    assert_eq!(target_partitions(&excluded).await, 0, "excluded topic");
    let b_config = ferry_kafka::KafkaTopicAdmin::new(target(), "target")
        .describe_topics(std::slice::from_ref(&b))
        .await
        .expect("describe b");
    assert_eq!(b_config[0].config("retention.ms"), Some("86400000"));

    stop.cancel();
    for (schedule, stats) in runner.join().await {
        eprintln!(
            "{}: {} passes, {} failed",
            schedule.rule_name, stats.invocations, stats.failures
        );
        assert_eq!(
            stats.failures,
            0,
            "discovery failed; log: {}",
            log.display()
        );
    }

    // A pass now finds nothing to do.
    let out = discover
        .invoke("discover", bytes::Bytes::from_static(b"{}"))
        .await
        .expect("discover");
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["mirrored"], 3, "{report}");
    assert_eq!(
        report["mappings_created"],
        serde_json::json!([]),
        "{report}"
    );
    assert_eq!(report["provisioned"], serde_json::json!([]), "{report}");

    for (topic, outcome) in api.stop_created_mappings().await {
        outcome.unwrap_or_else(|e| panic!("mapping of {topic} failed: {e}"));
    }
    discover.shutdown().await;
    rig.host.shutdown().await;
}
