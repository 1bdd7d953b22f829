//! The ESM emulator against the real local source cluster (127.0.0.1:19092, `scripts/stack up`).
//! Every test prints a message and passes vacuously when the broker does not answer in 5 s.
//!
//! Checked: every offset is delivered, per-partition order, batch size and payload caps, group
//! offsets committed at the end equal the end offsets, failed batches are retried whole,
//! at most one batch per partition in flight, fault knobs (redelivery, resplit), discarding
//! after `max_retries`, `StartingPosition::Latest`, and the whole chain ESM -> FunctionHost ->
//! real lambda_runtime binary with sandboxes SIGKILLed under load; consumer-group mode
//! (rebalances, overlapping invocations of one partition, restarts from committed offsets,
//! committed offsets never moving backwards) and abandoned invocations retried while they
//! still run.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ferry_local::{
    EsmConfig, EventSource, EventSourceMapping, FaultConfig, FnInvoker, FunctionConfig,
    FunctionHost, Invoker, LogTarget, PollerMode, StartingPosition,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

mod common;

const BOOTSTRAP: &str = "127.0.0.1:19092";
const ARN: &str = "arn:aws:kafka:us-east-1:123456789012:cluster/local-source/0001";

async fn broker_up() -> bool {
    let ok = matches!(
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(BOOTSTRAP)
        )
        .await,
        Ok(Ok(_))
    );
    if !ok {
        skip_or_fail(&format!(
            "source Kafka at {BOOTSTRAP} does not answer (run `scripts/stack up`)"
        ));
    }
    ok
}

/// Skipping is for a developer's machine without the stack; under `CI=true` a missing stack
/// fails the test instead of passing it silently.
fn skip_or_fail(message: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (CI=true: integration tests must not skip)"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn fresh_topic(prefix: &str, partitions: i32) -> String {
    let topic = unique(prefix);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", BOOTSTRAP)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(
                &topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
    topic
}

/// Expected content of record `i` on partition `p`.
fn key_of(p: i32, i: usize) -> Option<String> {
    (i % 50 != 7).then(|| format!("k-{p}-{i}"))
}

fn value_of(p: i32, i: usize) -> Option<String> {
    (i % 100 != 3).then(|| format!("v-{p}-{i}-{}", "x".repeat(i % 300)))
}

/// Produces `per_partition` records to each partition; returns nothing (offsets are 0..n).
async fn produce(topic: &str, partitions: i32, per_partition: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", BOOTSTRAP)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut pending = Vec::new();
    for i in 0..per_partition {
        for p in 0..partitions {
            let key = key_of(p, i);
            let value = value_of(p, i);
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "seq",
                    value: Some(&i.to_string()),
                })
                .insert(Header {
                    key: "bin",
                    value: Some(&[0xffu8, 0x80, 0x01][..]),
                })
                .insert(Header::<&[u8]> {
                    key: "nil",
                    value: None,
                });
            let mut record = FutureRecord::<String, String>::to(topic)
                .partition(p)
                .headers(headers);
            if let Some(k) = key.as_ref() {
                record = record.key(k);
            }
            if let Some(v) = value.as_ref() {
                record = record.payload(v);
            }
            let delivery = producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue");
            pending.push(delivery);
        }
        if pending.len() >= 200 {
            for f in pending.drain(..) {
                f.await.unwrap().map_err(|(e, _)| e).unwrap();
            }
        }
    }
    for f in pending {
        f.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

fn offsets_consumer(group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", BOOTSTRAP)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// (committed, end) offsets per partition; `None` while the cluster is not ready to say.
async fn committed_and_end(
    group: &str,
    topic: &str,
    partitions: i32,
) -> Option<(BTreeMap<i32, i64>, BTreeMap<i32, i64>)> {
    let group = group.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer = offsets_consumer(&group);
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&topic, p);
        }
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .ok()?;
        let mut c = BTreeMap::new();
        let mut e = BTreeMap::new();
        for p in 0..partitions {
            let off = match committed.find_partition(&topic, p)?.offset() {
                Offset::Offset(n) => n,
                _ => -1,
            };
            c.insert(p, off);
            let (_, high) = consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(10))
                .ok()?;
            e.insert(p, high);
        }
        Some((c, e))
    })
    .await
    .unwrap()
}

async fn wait_for_commits(group: &str, topic: &str, partitions: i32, limit: Duration) {
    let t0 = Instant::now();
    loop {
        let last = committed_and_end(group, topic, partitions).await;
        if let Some((committed, end)) = &last {
            if committed == end {
                return;
            }
        }
        assert!(
            t0.elapsed() < limit,
            "commits did not reach the end offsets: (committed, end) = {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One invocation as the function saw it.
#[derive(Debug, Clone)]
struct Seen {
    payload: Value,
    failed: bool,
}

impl Seen {
    /// (partition, offsets in payload order) per `records` entry.
    fn partitions(&self) -> BTreeMap<i32, Vec<i64>> {
        let mut out = BTreeMap::new();
        for (key, list) in self.payload["records"].as_object().unwrap() {
            let p: i32 = key.rsplit_once('-').unwrap().1.parse().unwrap();
            let offsets = list
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["offset"].as_i64().unwrap())
                .collect();
            out.insert(p, offsets);
        }
        out
    }

    fn records(&self) -> usize {
        self.partitions().values().map(Vec::len).sum()
    }
}

/// What the recording function observed.
#[derive(Debug, Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    calls: AtomicUsize,
    in_flight: Mutex<HashSet<i32>>,
    overlaps: AtomicUsize,
}

/// A function that records every invocation, checks that no partition has two batches in
/// flight, and fails when `fail(call_index, payload)` says so.
fn recording_invoker(
    recorder: Arc<Recorder>,
    fail: impl Fn(usize, &Value) -> bool + Send + Sync + 'static,
) -> Arc<dyn Invoker> {
    let fail = Arc::new(fail);
    Arc::new(FnInvoker::new(move |payload: Value| {
        let recorder = Arc::clone(&recorder);
        let fail = Arc::clone(&fail);
        async move {
            let call = recorder.calls.fetch_add(1, Ordering::SeqCst);
            let seen = Seen {
                payload,
                failed: false,
            };
            let parts: Vec<i32> = seen.partitions().keys().copied().collect();
            {
                let mut in_flight = recorder.in_flight.lock().unwrap();
                for p in &parts {
                    if !in_flight.insert(*p) {
                        recorder.overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            {
                let mut in_flight = recorder.in_flight.lock().unwrap();
                for p in &parts {
                    in_flight.remove(p);
                }
            }
            let failed = fail(call, &seen.payload);
            recorder.seen.lock().unwrap().push(Seen { failed, ..seen });
            if failed {
                Err(format!("injected failure on call {call}"))
            } else {
                Ok(serde_json::json!({"ok": true}))
            }
        }
    }))
}

fn base_config(topic: &str, group: &str) -> EsmConfig {
    let mut config = EsmConfig::new(BOOTSTRAP, topic, group, "mirror");
    config.event_source = EventSource::Msk {
        cluster_arn: ARN.to_owned(),
    };
    config.batching_window = Duration::from_millis(100);
    config.retry_initial_backoff = Duration::from_millis(50);
    config.retry_max_backoff = Duration::from_millis(400);
    config
}

/// Checks record content against what `produce` wrote.
fn check_content(seen: &Seen, topic: &str) {
    assert_eq!(seen.payload["eventSource"], "aws:kafka");
    assert_eq!(seen.payload["eventSourceArn"], ARN);
    assert_eq!(seen.payload["bootstrapServers"], BOOTSTRAP);
    for (key, list) in seen.payload["records"].as_object().unwrap() {
        for r in list.as_array().unwrap() {
            let p = i32::try_from(r["partition"].as_i64().unwrap()).unwrap();
            assert_eq!(key, &format!("{topic}-{p}"));
            assert_eq!(r["topic"], topic);
            let i = usize::try_from(r["offset"].as_i64().unwrap()).unwrap();
            let decode = |v: &Value| {
                v.as_str()
                    .map(|s| String::from_utf8(BASE64.decode(s).unwrap()).unwrap())
            };
            assert_eq!(decode(&r["key"]), key_of(p, i), "key of {p}/{i}");
            assert_eq!(decode(&r["value"]), value_of(p, i), "value of {p}/{i}");
            assert_eq!(r["timestampType"], "CREATE_TIME");
            assert_eq!(
                r["headers"],
                serde_json::json!([
                    {"seq": i.to_string().bytes().map(i64::from).collect::<Vec<_>>()},
                    {"bin": [-1, -128, 1]},
                    {"nil": []}
                ])
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_everything_in_order_commits_and_retries_whole_batches() {
    if !broker_up().await {
        return;
    }
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: usize = 250;
    const BATCH: usize = 37;
    let topic = fresh_topic("esm-basic", PARTITIONS).await;
    let group = unique("esm-basic-group");
    produce(&topic, PARTITIONS, PER_PARTITION).await;

    let recorder = Arc::new(Recorder::default());
    let invoker = recording_invoker(Arc::clone(&recorder), |call, _| call < 3);
    let mut config = base_config(&topic, &group);
    config.batch_size = BATCH;
    config.pollers = 2;
    let mapping = EventSourceMapping::new(config, invoker).unwrap();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    wait_for_commits(&group, &topic, PARTITIONS, Duration::from_secs(90)).await;
    shutdown.cancel();
    running.await.unwrap().unwrap();

    let seen = recorder.seen.lock().unwrap().clone();
    let successes: Vec<&Seen> = seen.iter().filter(|s| !s.failed).collect();

    // Every offset delivered exactly once by successful invocations, in order per partition.
    let mut delivered: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for s in &successes {
        for (p, offsets) in s.partitions() {
            delivered.entry(p).or_default().extend(offsets);
        }
    }
    let expected: Vec<i64> = (0..i64::try_from(PER_PARTITION).unwrap()).collect();
    for p in 0..PARTITIONS {
        assert_eq!(delivered[&p], expected, "partition {p}");
    }

    // Batches: within the size limit, partitions ordered inside, content exact.
    for s in &seen {
        assert!(s.records() <= BATCH, "batch of {} records", s.records());
        for offsets in s.partitions().values() {
            assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
        }
        check_content(s, &topic);
    }

    // Failures were retried whole: the next invocation touching the failed batch's partitions
    // (same poller) carries the identical payload.
    let failed: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].failed).collect();
    assert_eq!(failed.len(), 3);
    for &i in &failed {
        let parts: HashSet<i32> = seen[i].partitions().keys().copied().collect();
        let retry = seen[i + 1..]
            .iter()
            .find(|s| s.partitions().keys().any(|p| parts.contains(p)))
            .expect("a retry");
        assert_eq!(retry.payload, seen[i].payload, "retry of call {i} differs");
    }

    assert_eq!(recorder.overlaps.load(Ordering::SeqCst), 0);
    let snap = stats.snapshot();
    // Static mode: no group, no overlap.
    assert_eq!(snap.rebalances, 0);
    assert_eq!(snap.overlapping_invocations, 0);
    assert_eq!(snap.abandoned_invocations, 0);
    assert_eq!(snap.rejected_commits, 0);
    assert_eq!(snap.pollers, 2);
    assert_eq!(snap.failures, 3);
    assert_eq!(snap.retries, 3);
    assert_eq!(snap.batches, u64::try_from(successes.len()).unwrap());
    assert_eq!(snap.records, 1_000);
    assert_eq!(snap.redeliveries, 0);
    assert!(snap.commits >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_redelivery_resplit_payload_cap_and_random_failures() {
    if !broker_up().await {
        return;
    }
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: usize = 200;
    const BATCH: usize = 50;
    const CAP: usize = 16 * 1024;
    let topic = fresh_topic("esm-faults", PARTITIONS).await;
    let group = unique("esm-faults-group");
    produce(&topic, PARTITIONS, PER_PARTITION).await;

    let recorder = Arc::new(Recorder::default());
    // Fail roughly every fifth call, deterministically.
    let invoker = recording_invoker(Arc::clone(&recorder), |call, _| call % 5 == 2);
    let mut config = base_config(&topic, &group);
    config.batch_size = BATCH;
    config.max_payload_bytes = CAP;
    config.pollers = 3;
    config.faults = FaultConfig {
        redeliver_probability: 0.3,
        resplit_on_retry: true,
        seed: 7,
        ..FaultConfig::default()
    };
    let mapping = EventSourceMapping::new(config, invoker).unwrap();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    wait_for_commits(&group, &topic, PARTITIONS, Duration::from_secs(120)).await;
    shutdown.cancel();
    running.await.unwrap().unwrap();

    let seen = recorder.seen.lock().unwrap().clone();
    // Per partition, successful deliveries never skip ahead: each batch starts at or below
    // the highest offset delivered so far + 1, and together they cover everything.
    let mut high: BTreeMap<i32, i64> = BTreeMap::new();
    let mut sizes = HashSet::new();
    for s in &seen {
        let raw = serde_json::to_vec(&s.payload).unwrap().len();
        assert!(raw <= CAP, "payload of {raw} bytes over the {CAP} cap");
        assert!(s.records() <= BATCH);
        sizes.insert(s.records());
        check_content(s, &topic);
        for (p, offsets) in s.partitions() {
            assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
            if !s.failed {
                let h = high.entry(p).or_insert(-1);
                assert!(
                    offsets[0] <= *h + 1,
                    "partition {p} skipped to {}",
                    offsets[0]
                );
                *h = (*h).max(*offsets.last().unwrap());
            }
        }
    }
    for p in 0..PARTITIONS {
        assert_eq!(high[&p], i64::try_from(PER_PARTITION).unwrap() - 1);
    }
    assert!(
        sizes.len() > 3,
        "resplit should vary batch sizes: {sizes:?}"
    );
    assert_eq!(recorder.overlaps.load(Ordering::SeqCst), 0);
    let snap = stats.snapshot();
    assert!(snap.redeliveries > 0, "{snap:?}");
    assert!(
        snap.failures > 0 && snap.retries == snap.failures,
        "{snap:?}"
    );
    assert!(snap.records >= 800, "{snap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discards_after_max_retries_and_moves_on() {
    if !broker_up().await {
        return;
    }
    let topic = fresh_topic("esm-discard", 1).await;
    let group = unique("esm-discard-group");
    produce(&topic, 1, 30).await;

    let recorder = Arc::new(Recorder::default());
    // A poison record: any batch containing offset 10 fails.
    let invoker = recording_invoker(Arc::clone(&recorder), |_, payload| {
        payload["records"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|l| l.as_array().unwrap())
            .any(|r| r["offset"] == 10)
    });
    let mut config = base_config(&topic, &group);
    config.batch_size = 8;
    config.max_retries = Some(2);
    let mapping = EventSourceMapping::new(config, invoker).unwrap();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    wait_for_commits(&group, &topic, 1, Duration::from_secs(60)).await;
    shutdown.cancel();
    running.await.unwrap().unwrap();

    let snap = stats.snapshot();
    assert_eq!(snap.discarded_batches, 1, "{snap:?}");
    assert_eq!(snap.failures, 3, "one try plus two retries: {snap:?}");
    assert_eq!(snap.retries, 2);
    assert_eq!(snap.records + snap.discarded_records, 30);
    assert!(snap.last_error.unwrap().contains("injected failure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_skips_existing_records() {
    if !broker_up().await {
        return;
    }
    let topic = fresh_topic("esm-latest", 2).await;
    let group = unique("esm-latest-group");
    produce(&topic, 2, 10).await;

    let recorder = Arc::new(Recorder::default());
    let invoker = recording_invoker(Arc::clone(&recorder), |_, _| false);
    let mut config = base_config(&topic, &group);
    config.starting_position = StartingPosition::Latest;
    config.event_source = EventSource::SelfManaged;
    let mapping = EventSourceMapping::new(config, invoker).unwrap();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    // Let the mapping discover and assign the partitions before producing more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    produce(&topic, 2, 15).await; // offsets 10..25 on both partitions (content by index)
    wait_for_commits(&group, &topic, 2, Duration::from_secs(60)).await;
    shutdown.cancel();
    running.await.unwrap().unwrap();

    let seen = recorder.seen.lock().unwrap().clone();
    let mut delivered: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for s in &seen {
        assert_eq!(s.payload["eventSource"], "SelfManagedKafka");
        assert!(s.payload.get("eventSourceArn").is_none());
        for (p, offsets) in s.partitions() {
            delivered.entry(p).or_default().extend(offsets);
        }
    }
    for p in 0..2 {
        assert_eq!(
            delivered[&p],
            (10..25).collect::<Vec<i64>>(),
            "partition {p}"
        );
    }
    assert_eq!(stats.snapshot().records, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drives_a_real_function_binary_through_sandbox_kills() {
    if !broker_up().await {
        return;
    }
    const PARTITIONS: i32 = 2;
    const PER_PARTITION: usize = 150;
    let topic = fresh_topic("esm-host", PARTITIONS).await;
    let group = unique("esm-host-group");
    produce(&topic, PARTITIONS, PER_PARTITION).await;

    let mut function = FunctionConfig::new("mirror", common::echo_fn());
    function.log = LogTarget::Discard;
    function.timeout = Duration::from_secs(10);
    let host = FunctionHost::new(function).unwrap();
    let mut config = base_config(&topic, &group);
    config.batch_size = 10;
    config.pollers = 2;
    let mapping = EventSourceMapping::new(config, Arc::new(host.clone())).unwrap();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    // Fault injection: SIGKILL whatever sandbox is alive, a few times, while batches flow.
    let mut kills = 0;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        kills += host.kill_current();
    }
    wait_for_commits(&group, &topic, PARTITIONS, Duration::from_secs(90)).await;
    shutdown.cancel();
    running.await.unwrap().unwrap();
    host.shutdown().await;

    let snap = stats.snapshot();
    eprintln!(
        "kills {kills}, cold starts {}, {snap:?}",
        host.cold_starts()
    );
    assert!(kills > 0, "no sandbox was alive to kill");
    assert!(host.cold_starts() > 1, "kills should force cold starts");
    assert_eq!(snap.retries, snap.failures, "{snap:?}");
    assert!(
        snap.records >= u64::try_from(PER_PARTITION).unwrap() * 2,
        "{snap:?}"
    );
    assert_eq!(snap.discarded_batches, 0);
}

/// One invocation with its timing, as a slow recording function saw it.
#[derive(Debug, Clone)]
struct Call {
    start: Instant,
    end: Option<Instant>,
    parts: BTreeMap<i32, Vec<i64>>,
    ok: bool,
}

#[derive(Debug, Default)]
struct Timeline {
    calls: Mutex<Vec<Call>>,
}

impl Timeline {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Pairs of calls that had one partition in flight at the same time.
    fn overlapping_pairs(&self) -> usize {
        let calls = self.calls();
        let mut n = 0;
        for (i, a) in calls.iter().enumerate() {
            for b in &calls[i + 1..] {
                let (Some(a_end), Some(b_end)) = (a.end, b.end) else {
                    continue;
                };
                let shared = a.parts.keys().any(|p| b.parts.contains_key(p));
                if shared && a.start < b_end && b.start < a_end {
                    n += 1;
                }
            }
        }
        n
    }
}

/// A function that records start and end of every call and sleeps `delay(call index)`.
fn timed_invoker(
    timeline: Arc<Timeline>,
    delay: impl Fn(usize) -> Duration + Send + Sync + 'static,
) -> Arc<dyn Invoker> {
    let delay = Arc::new(delay);
    Arc::new(FnInvoker::new(move |payload: Value| {
        let timeline = Arc::clone(&timeline);
        let delay = Arc::clone(&delay);
        async move {
            let seen = Seen {
                payload,
                failed: false,
            };
            let index = {
                let mut calls = timeline.calls.lock().unwrap();
                calls.push(Call {
                    start: Instant::now(),
                    end: None,
                    parts: seen.partitions(),
                    ok: true,
                });
                calls.len() - 1
            };
            tokio::time::sleep(delay(index)).await;
            timeline.calls.lock().unwrap()[index].end = Some(Instant::now());
            Ok::<_, String>(serde_json::json!({"ok": true}))
        }
    }))
}

/// Polls the group's committed offsets until stopped; returns every backwards move seen.
fn watch_commits(
    group: String,
    topic: String,
    partitions: i32,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut high: BTreeMap<i32, i64> = BTreeMap::new();
        let mut backwards = Vec::new();
        while !stop.is_cancelled() {
            if let Some((committed, _)) = committed_and_end(&group, &topic, partitions).await {
                for (p, c) in committed {
                    let h = high.entry(p).or_insert(-1);
                    if c < *h {
                        backwards.push(format!("partition {p}: {h} -> {c}"));
                    }
                    *h = (*h).max(c);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        backwards
    })
}

/// At-least-once checks over a timeline without failures: every offset delivered by a
/// successful call, and every call starts each partition either at 0 or right after the last
/// offset of a successful call that had ended before it started (a committed offset, or the
/// poller's own position after its previous batch): no gaps, no skipping ahead.
fn check_at_least_once(calls: &[Call], partitions: i32, per_partition: usize) {
    let n = i64::try_from(per_partition).unwrap();
    for p in 0..partitions {
        let mut delivered = vec![false; per_partition];
        for c in calls.iter().filter(|c| c.ok && c.end.is_some()) {
            for &o in c.parts.get(&p).into_iter().flatten() {
                delivered[usize::try_from(o).unwrap()] = true;
            }
        }
        let missing: Vec<usize> = (0..per_partition).filter(|&i| !delivered[i]).collect();
        assert!(
            missing.is_empty(),
            "partition {p}: never delivered {missing:?}"
        );
    }
    for (i, c) in calls.iter().enumerate() {
        for (p, offsets) in &c.parts {
            assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
            assert!(*offsets.last().unwrap() < n);
            let s = offsets[0];
            if s == 0 {
                continue;
            }
            let justified = calls.iter().any(|d| {
                d.ok && d.end.is_some_and(|end| end <= c.start)
                    && d.parts.get(p).and_then(|o| o.last()) == Some(&(s - 1))
            });
            assert!(
                justified,
                "call {i} starts partition {p} at {s}, which no finished call acknowledged"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_group_rebalances_overlap_and_restart_from_committed_offsets() {
    if !broker_up().await {
        return;
    }
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: usize = 60;
    let topic = fresh_topic("esm-group", PARTITIONS).await;
    let group = unique("esm-group-group");
    produce(&topic, PARTITIONS, PER_PARTITION).await;

    let timeline = Arc::new(Timeline::default());
    // Slow invocations, so that a revoked one is still running when the new owner starts.
    let invoker = timed_invoker(Arc::clone(&timeline), |_| Duration::from_millis(400));
    let mut config = base_config(&topic, &group);
    config.batch_size = 10;
    config.pollers = 3;
    config.poller_mode = PollerMode::ConsumerGroup;
    config.faults.rebalance_every = Some(Duration::from_millis(700));
    let mapping = EventSourceMapping::new(config, invoker).unwrap();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    let watching = CancellationToken::new();
    let watcher = watch_commits(group.clone(), topic.clone(), PARTITIONS, watching.clone());

    let t0 = Instant::now();
    loop {
        let done = committed_and_end(&group, &topic, PARTITIONS)
            .await
            .is_some_and(|(c, e)| c == e);
        if done && stats.snapshot().rebalances >= 10 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(50),
            "not done in time: {:?}, {:?}",
            stats.snapshot(),
            committed_and_end(&group, &topic, PARTITIONS).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    running.await.unwrap().unwrap();
    watching.cancel();
    let backwards = watcher.await.unwrap();

    let snap = stats.snapshot();
    let calls = timeline.calls();
    let pairs = timeline.overlapping_pairs();
    eprintln!(
        "{} calls in {:?}, {pairs} overlapping pairs, {snap:?}",
        calls.len(),
        t0.elapsed()
    );
    assert!(snap.rebalances >= 10, "{snap:?}");
    assert!(snap.overlapping_invocations > 0, "no overlap: {snap:?}");
    assert!(
        pairs > 0,
        "the function never saw one partition twice at once"
    );
    assert!(snap.revoked_batches > 0, "{snap:?}");
    assert_eq!(snap.in_flight_invocations, 0);
    assert!(
        backwards.is_empty(),
        "committed offsets went backwards: {backwards:?}"
    );
    check_at_least_once(&calls, PARTITIONS, PER_PARTITION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_pollers_rebalances_the_group_at_runtime() {
    if !broker_up().await {
        return;
    }
    const PARTITIONS: i32 = 3;
    const PER_PARTITION: usize = 80;
    let topic = fresh_topic("esm-scale", PARTITIONS).await;
    let group = unique("esm-scale-group");
    produce(&topic, PARTITIONS, PER_PARTITION).await;

    let timeline = Arc::new(Timeline::default());
    let invoker = timed_invoker(Arc::clone(&timeline), |_| Duration::from_millis(100));
    let mut config = base_config(&topic, &group);
    config.batch_size = 4;
    config.pollers = 1;
    config.poller_mode = PollerMode::ConsumerGroup;
    let mapping = EventSourceMapping::new(config, invoker).unwrap();
    let control = mapping.control();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    let watching = CancellationToken::new();
    let watcher = watch_commits(group.clone(), topic.clone(), PARTITIONS, watching.clone());

    // Wait for the first assignment, then scale up and down while batches are in flight.
    let t0 = Instant::now();
    while stats.snapshot().rebalances == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no initial assignment"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for n in [3, 1, 2, 4, 1, 3] {
        tokio::time::sleep(Duration::from_millis(400)).await;
        control.set_pollers(n).unwrap();
        assert_eq!(control.pollers(), n);
    }
    assert!(control.set_pollers(0).is_err());
    wait_for_commits(&group, &topic, PARTITIONS, Duration::from_secs(40)).await;
    shutdown.cancel();
    running.await.unwrap().unwrap();
    watching.cancel();
    let backwards = watcher.await.unwrap();

    let snap = stats.snapshot();
    eprintln!(
        "{} calls, {} overlapping pairs, {snap:?}",
        timeline.calls().len(),
        timeline.overlapping_pairs()
    );
    assert!(snap.rebalances >= 7, "{snap:?}");
    assert_eq!(snap.pollers, 3);
    assert!(
        backwards.is_empty(),
        "committed offsets went backwards: {backwards:?}"
    );
    check_at_least_once(&timeline.calls(), PARTITIONS, PER_PARTITION);

    // Static mappings cannot be scaled.
    let static_mapping = EventSourceMapping::new(
        base_config(&topic, &group),
        timed_invoker(Arc::default(), |_| Duration::ZERO),
    )
    .unwrap();
    assert!(static_mapping.control().set_pollers(2).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandon_after_retries_while_the_first_invocation_still_runs() {
    if !broker_up().await {
        return;
    }
    let topic = fresh_topic("esm-abandon", 1).await;
    let group = unique("esm-abandon-group");
    produce(&topic, 1, 20).await;

    let timeline = Arc::new(Timeline::default());
    // The first call outlives the abandon timeout by far; the rest are quick.
    let invoker = timed_invoker(Arc::clone(&timeline), |call| {
        Duration::from_millis(if call == 0 { 1_500 } else { 10 })
    });
    let mut config = base_config(&topic, &group);
    config.batch_size = 10;
    config.batching_window = Duration::from_millis(300);
    config.faults.abandon_after = Some(Duration::from_millis(200));
    let mapping = EventSourceMapping::new(config, invoker).unwrap();
    let stats = mapping.stats();
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { mapping.run(shutdown).await })
    };
    wait_for_commits(&group, &topic, 1, Duration::from_secs(30)).await;
    let committed_at = Instant::now();
    shutdown.cancel();
    running.await.unwrap().unwrap();

    let calls = timeline.calls();
    let snap = stats.snapshot();
    eprintln!("{calls:?}\n{snap:?}");
    // `run` returned only after the abandoned invocation ended.
    assert!(calls.iter().all(|c| c.end.is_some()), "{calls:?}");
    assert_eq!(snap.in_flight_invocations, 0);
    let (first, retry) = (&calls[0], &calls[1]);
    assert_eq!(
        first.parts, retry.parts,
        "the retry resends the whole batch"
    );
    assert!(
        retry.start < first.end.unwrap(),
        "the retry started only after the first invocation ended"
    );
    assert!(
        first.end.unwrap() > retry.end.unwrap() && first.end.unwrap() > committed_at,
        "the abandoned invocation kept running past the retry and the commit"
    );
    assert_eq!(snap.abandoned_invocations, 1, "{snap:?}");
    assert_eq!(snap.failures, 1, "{snap:?}");
    assert_eq!(snap.retries, 1, "{snap:?}");
    assert!(snap.overlapping_invocations >= 1, "{snap:?}");
    assert_eq!(snap.last_error.as_deref(), Some("function timed out"));
    check_at_least_once(&calls, 1, 20);
}
