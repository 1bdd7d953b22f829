//! Issue 13, item 1: a cutover at production scale on the real stack. 100 topics of 10
//! partitions (1,000 source partitions), mirrored by the real `mirror` through 100 event source
//! mappings, and 50 consumer groups (two topics, 20 partitions each); then the cutover state
//! machine (moto's Step Functions) runs the real `validate` and `cutover` functions to the end.
//!
//! Checked:
//! * the execution succeeds and every group resumes on the target at exactly its offsets;
//! * every task result stays well under Step Functions' 256 KiB (the largest result of each
//!   function, recorded by the local Lambda API, must be under [`RESULT_LIMIT`]): reports are
//!   stored, results carry summaries;
//! * every item stays under DynamoDB's 400 KB (moto refuses larger items, so each write that
//!   succeeded fit); the stored documents larger than an item are reported with their size;
//! * the time and the DynamoDB requests of each phase and step are printed as a table
//!   (requests counted by the functions' `dynamodb-calls` metric, from their EMF log lines).

use ferry_core::migration::{GroupPhase, MigrationState, Phase, ProducerPhase};
use ferry_core::ports::{MigrationStore, ProgressStore};
use ferry_core::TopicPartition;
use ferry_local::{FunctionConfig, FunctionHost, Invoker, LogTarget};
use ferry_tests::{init_tracing, lambda_api_server, unique, MirrorRig, SOURCE, TARGET};
use futures::stream::{self, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPICS: usize = 100;
const PARTITIONS: i32 = 10;
const GROUPS: usize = 50;
const RECORDS_PER_PARTITION: i64 = 20;
/// "Well under" Step Functions' 256 KiB task result limit.
const RESULT_LIMIT: usize = 32 * 1024;

/// The offset group `g` commits on partition `p` of its `k`-th topic (1..=20).
fn committed_offset(g: usize, k: usize, p: i32) -> i64 {
    ((g * 7 + k * 3 + p as usize) % RECORDS_PER_PARTITION as usize) as i64 + 1
}

async fn produce_all(topics: &[String]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", SOURCE)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    let records: Vec<(String, i32, i64)> = topics
        .iter()
        .flat_map(|t| {
            (0..PARTITIONS)
                .flat_map(move |p| (0..RECORDS_PER_PARTITION).map(move |i| (t.clone(), p, i)))
        })
        .collect();
    stream::iter(records)
        .for_each_concurrent(2_000, |(topic, p, i)| {
            let producer = producer.clone();
            async move {
                let key = format!("k{p}-{i}");
                let value = format!("{topic}/{p}/{i}");
                producer
                    .send(
                        FutureRecord::to(&topic)
                            .partition(p)
                            .key(&key)
                            .payload(&value),
                        Duration::from_secs(60),
                    )
                    .await
                    .expect("produce");
            }
        })
        .await;
}

/// Commits `offsets` for `group` on the source without joining (the group stays Empty).
fn commit(group: &str, offsets: &[(String, i32, i64)]) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", SOURCE)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))
            .expect("tpl");
    }
    for attempt in 0.. {
        match c.commit(&tpl, CommitMode::Sync) {
            Ok(()) => return,
            Err(e) if attempt < 20 => {
                tracing::debug!(error = %e, "commit retry");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("commit {group}: {e}"),
        }
    }
}

/// `group`'s committed offsets on the target.
fn committed_on_target(group: &str, topics: &[&String]) -> HashMap<(String, i32), i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", TARGET)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        for p in 0..PARTITIONS {
            tpl.add_partition(t, p);
        }
    }
    c.committed_offsets(tpl, Duration::from_secs(30))
        .expect("committed")
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect()
}

/// Invocations and DynamoDB requests by operation of one step in one phase.
type Row = (u64, BTreeMap<String, u64>);

/// One invocation as its log lines tell it.
#[derive(Debug, Default)]
struct Invocation {
    /// Cutover task, or `validate <mode>`.
    step: String,
    /// End of the invocation (EMF timestamp, ms).
    at_ms: i64,
    /// DynamoDB requests by operation.
    calls: BTreeMap<String, u64>,
}

/// The invocations in a function's log: each request's step (from its `cutover task done` or
/// `validation completed` line) and its `dynamodb-calls` (from its EMF lines).
fn invocations(log: &Path) -> Vec<Invocation> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut by_request: HashMap<String, Invocation> = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(request) = v["RequestId"].as_str() {
            let inv = by_request.entry(request.to_owned()).or_default();
            inv.at_ms = inv.at_ms.max(v["_aws"]["Timestamp"].as_i64().unwrap_or(0));
            if let (Some(op), Some(n)) = (v["operation"].as_str(), v["dynamodb-calls"].as_f64()) {
                *inv.calls.entry(op.to_owned()).or_default() += n as u64;
            }
            continue;
        }
        let Some(request) = v["spans"][0]["requestId"].as_str() else {
            continue;
        };
        let f = &v["fields"];
        let step = match f["message"].as_str() {
            Some("cutover task done") => f["task"].as_str().map(str::to_owned),
            Some("validation completed") => f["mode"].as_str().map(|m| format!("validate {m}")),
            _ => None,
        };
        if let Some(step) = step {
            by_request.entry(request.to_owned()).or_default().step = step;
        }
    }
    let mut out: Vec<Invocation> = by_request
        .into_values()
        .filter(|i| !i.step.is_empty())
        .collect();
    out.sort_by_key(|i| i.at_ms);
    out
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

fn calls_text(calls: &BTreeMap<String, u64>) -> String {
    calls
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_of_1000_partitions_50_groups_runs_to_the_end_with_small_results() {
    init_tracing();
    let t0 = Instant::now();
    let rig = MirrorRig::new(&[], 4).await;
    let prefix = unique("scale");
    let topics: Vec<String> = (0..TOPICS).map(|i| format!("{prefix}-t{i:03}")).collect();
    stream::iter(topics.clone())
        .for_each_concurrent(8, |t| async move {
            ferry_tests::create_mirrored_topic(&t, PARTITIONS, &[]).await;
        })
        .await;
    produce_all(&topics).await;
    let setup = t0.elapsed();

    // The mirror: one mapping per topic, as the template and discovery create them.
    let t_mirror = Instant::now();
    let mappings: Vec<ferry_local::EsmConfig> = topics
        .iter()
        .map(|t| {
            let mut m = rig.mapping(t);
            m.pollers = 1;
            m
        })
        .collect();
    // Mirrored when every partition's progress reached the source end (the state machine's
    // content validation then compares every record).
    let shutdown = tokio_util::sync::CancellationToken::new();
    let invoker: Arc<dyn Invoker> = Arc::new(rig.host.clone());
    let tasks: Vec<_> = mappings
        .into_iter()
        .map(|m: ferry_local::EsmConfig| {
            let esm = ferry_local::EventSourceMapping::new(m, invoker.clone()).expect("mapping");
            let stop = shutdown.clone();
            tokio::spawn(async move { esm.run(stop).await })
        })
        .collect();
    let tps: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| (0..PARTITIONS).map(move |p| TopicPartition::new(t, p)))
        .collect();
    loop {
        // Gently: moto serves the mirror's transactions one at a time.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let Ok(progress) = rig.store.load_progress(&tps).await else {
            continue;
        };
        let done = progress
            .values()
            .filter(|p| p.next_source == RECORDS_PER_PARTITION)
            .count();
        if done == tps.len() {
            break;
        }
        assert!(
            t_mirror.elapsed() < Duration::from_secs(900),
            "{done} of {} partitions mirrored after 900 s (log: {:?})",
            tps.len(),
            rig.log_path()
        );
    }
    shutdown.cancel();
    for t in tasks {
        t.await.expect("mapping task").expect("mapping ran");
    }
    let mirror_time = t_mirror.elapsed();
    // Idle sandboxes holding hundreds of transactional producers still use CPU (librdkafka's
    // timers); on AWS they are frozen between invocations. Stop them for the cutover.
    rig.host.shutdown().await;

    // 50 groups, each on two topics.
    let groups: Vec<String> = (0..GROUPS).map(|g| format!("{prefix}-app{g:02}")).collect();
    for (g, group) in groups.iter().enumerate() {
        let offsets: Vec<(String, i32, i64)> = [2 * g, 2 * g + 1]
            .iter()
            .enumerate()
            .flat_map(|(k, &t)| (0..PARTITIONS).map(move |p| (t, k, p)))
            .map(|(t, k, p)| (topics[t].clone(), p, committed_offset(g, k, p)))
            .collect();
        commit(group, &offsets);
    }

    // The functions and the state machine.
    let api = lambda_api_server();
    let suffix = unique("scale");
    let include = format!("{prefix}-.*");
    let env: Vec<(String, String)> = [
        ("FERRY_TABLE", rig.table.as_str()),
        ("FERRY_SOURCE_BOOTSTRAP", SOURCE),
        ("FERRY_TARGET_BOOTSTRAP", TARGET),
        ("FERRY_TOPICS_INCLUDE", include.as_str()),
        ("FERRY_SOURCE_QUIET_MS", "1000"),
        ("FERRY_MIRROR_FUNCTION", "mirror-not-deployed"),
        ("RUST_LOG", "info"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("AWS_ENDPOINT_URL_LAMBDA".to_string(), api.endpoint_url())])
    .collect();
    let mut hosts = Vec::new();
    let mut logs: Vec<PathBuf> = Vec::new();
    for f in ["validate", "cutover"] {
        let name = format!("{f}-{suffix}");
        let mut c = FunctionConfig::new(&name, ferry_tests::bin_path(f));
        c.env = env.clone();
        c.sandboxes = 2;
        c.timeout = Duration::from_secs(600);
        let log = std::env::temp_dir().join(format!("{}-{name}.log", rig.table));
        c.log = LogTarget::File(log.clone());
        logs.push(log);
        let host = FunctionHost::new(c).expect("function host");
        api.register_function(&name, Arc::new(host.clone()) as Arc<dyn Invoker>);
        hosts.push(host);
    }
    let sfn = ferry_cli::cutover::sfn_client().await;
    let machine = ferry_cli::cutover::deploy_local(
        &sfn,
        &format!("cutover-{suffix}"),
        &format!("cutover-{suffix}"),
        &format!("validate-{suffix}"),
    )
    .await
    .expect("state machine");
    let id = unique("scale-m");
    let input = json!({
        "groups": groups,
        "group_stop_wait_seconds": 1,
        "drain_wait_seconds": 1,
        "catch_up_wait_seconds": 1,
    });
    let t_cutover = Instant::now();
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let execution = ferry_cli::cutover::start(&sfn, &machine, &id, &input)
        .await
        .expect("start execution");
    // Approve the producer cutover when asked.
    loop {
        assert!(
            t_cutover.elapsed() < Duration::from_secs(900),
            "no approval request after 900 s (logs: {logs:?})"
        );
        if let Some(doc) = rig.store.load_migration(&id).await.expect("load") {
            let s: MigrationState = serde_json::from_str(&doc.value).expect("state");
            assert!(
                !s.phase.is_terminal(),
                "ended before the approval: {:?}",
                s.cause
            );
            if s.phase == Phase::AwaitingApproval && s.approval_token.is_some() {
                ferry_cli::cutover::approve(&sfn, &rig.store, &id, "scale-test")
                    .await
                    .expect("approve");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let info = ferry_cli::cutover::wait(&sfn, &execution, Duration::from_secs(900))
        .await
        .expect("describe");
    let cutover_time = t_cutover.elapsed();
    assert_eq!(info.status, "SUCCEEDED", "{info:?} (logs: {logs:?})");

    // Every group moved, at exactly its offsets.
    let doc = rig.store.load_migration(&id).await.unwrap().expect("state");
    let state: MigrationState = serde_json::from_str(&doc.value).unwrap();
    assert_eq!(state.phase, Phase::Completed);
    assert_eq!(state.producers, ProducerPhase::Target);
    assert_eq!(state.groups.len(), GROUPS);
    for (g, group) in groups.iter().enumerate() {
        assert_eq!(state.groups[group].phase, GroupPhase::Moved, "{group}");
        let mine = [&topics[2 * g], &topics[2 * g + 1]];
        let committed = committed_on_target(group, &mine);
        for (k, t) in mine.iter().enumerate() {
            for p in 0..PARTITIONS {
                assert_eq!(
                    committed.get(&((*t).clone(), p)),
                    Some(&committed_offset(g, k, p)),
                    "{group} on {t}/{p}"
                );
            }
        }
    }

    // Task results: well under 256 KiB.
    let sizes = api.result_sizes();
    let mut largest = Vec::new();
    for f in ["validate", "cutover"] {
        let s = sizes
            .get(&format!("{f}-{suffix}"))
            .copied()
            .unwrap_or_default();
        assert!(s.invocations > 0, "{f} never answered");
        assert!(
            s.largest_bytes < RESULT_LIMIT,
            "{f}: a task result of {} bytes (limit for this test {RESULT_LIMIT}, Step Functions' 262,144)",
            s.largest_bytes
        );
        largest.push(format!(
            "{f} {} B (of {} results)",
            s.largest_bytes, s.invocations
        ));
    }
    let mut documents = vec![("state".to_owned(), doc.value.len())];
    for name in ["preflight", "validation", "final"] {
        let report = rig
            .store
            .get_report(&id, name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("report {name} stored"));
        documents.push((format!("report {name}"), report.len()));
    }
    let validation: Value = serde_json::from_str(
        &rig.store
            .get_report(&id, "validation")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        validation["partitions"].as_array().map(Vec::len),
        Some(TOPICS * PARTITIONS as usize)
    );
    assert_eq!(validation["verdict"], "ok");

    // Phases: wall time from the state's history, DynamoDB requests per step from the logs.
    let mut phases: Vec<(String, i64)> = state
        .history
        .iter()
        .filter(|h| h.what.starts_with("phase "))
        .map(|h| (h.what["phase ".len()..].to_owned(), h.at_ms))
        .collect();
    // Preflight runs before the state document exists: from the execution's start.
    phases.insert(0, ("preflight".to_owned(), started_ms));
    let phase_of = |at_ms: i64| {
        phases
            .iter()
            .rev()
            .find(|(_, start)| *start <= at_ms)
            .map_or("preflight".to_owned(), |(p, _)| p.clone())
    };
    let mut rows: BTreeMap<(usize, String, String), Row> = BTreeMap::new();
    for log in &logs {
        for inv in invocations(log) {
            // `start` ends by writing the document in phase `catching_up`.
            let phase = if inv.step == "start" {
                "preflight".to_owned()
            } else {
                phase_of(inv.at_ms)
            };
            let order = phases.iter().position(|(p, _)| *p == phase).unwrap_or(0);
            let row = rows.entry((order, phase, inv.step)).or_default();
            row.0 += 1;
            for (op, n) in inv.calls {
                *row.1.entry(op).or_default() += n;
            }
        }
    }
    let mirror_calls: BTreeMap<String, u64> =
        invocations_any(&rig.log_path())
            .into_iter()
            .fold(BTreeMap::new(), |mut acc, (op, n)| {
                *acc.entry(op).or_default() += n;
                acc
            });
    let mut table = format!(
        "\nSCALE: {TOPICS} topics, {} partitions, {GROUPS} groups, {} records; setup {:.1} s, mirror {:.1} s, cutover {:.1} s\n",
        TOPICS * PARTITIONS as usize,
        TOPICS as i64 * i64::from(PARTITIONS) * RECORDS_PER_PARTITION,
        setup.as_secs_f64(),
        mirror_time.as_secs_f64(),
        cutover_time.as_secs_f64()
    );
    table.push_str(&format!(
        "mirror: {} DynamoDB requests ({})\n",
        total(&mirror_calls),
        calls_text(&mirror_calls)
    ));
    table.push_str("| phase | wall s | step | invocations | DynamoDB requests | by operation |\n|---|---:|---|---:|---:|---|\n");
    for ((order, phase, step), (n, calls)) in &rows {
        let start = phases[*order].1;
        let end = phases.get(order + 1).map_or(state.updated_at_ms, |p| p.1);
        table.push_str(&format!(
            "| {phase} | {:.1} | {step} | {n} | {} | {} |\n",
            (end - start) as f64 / 1000.0,
            total(calls),
            calls_text(calls)
        ));
    }
    table.push_str(&format!("largest task results: {}\n", largest.join(", ")));
    table.push_str(&format!(
        "stored documents: {}\n",
        documents
            .iter()
            .map(|(n, b)| format!(
                "{n} {b} B{}",
                if *b > ferry_core::parts::MAX_PART_BYTES {
                    " (split)"
                } else {
                    ""
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    eprintln!("{table}");

    for h in &hosts {
        h.shutdown().await;
    }
}

/// Every `dynamodb-calls` count in a log, by operation.
fn invocations_any(log: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            Some((
                v["operation"].as_str()?.to_owned(),
                v["dynamodb-calls"].as_f64()? as u64,
            ))
        })
        .collect()
}
