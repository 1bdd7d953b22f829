//! The cutover state machine (`infra/statemachine/cutover.asl.json`) executed by moto's Step
//! Functions against the real `validate` and `cutover` binaries (local Lambda API), driven into
//! its Catch paths:
//!
//! * the mirror never gets under the lag threshold → times out → rollback, nothing moved;
//! * a checksum mismatch on the target → `Ferry.ValidationFailed` → stops before any group moves;
//! * a group that never stops on the source is reported and left there while the other group
//!   moves; an abort at the approval gate then rolls back, and the moved group returns to the
//!   source at its exact offsets;
//! * disabling the mirror is refused (IAM) after producers were paused → the migration is held,
//!   producers stay paused, `ferry cutover status` explains it; `ferry cutover resume` retries
//!   the step and the migration completes;
//! * an operator pauses a migration mid-flight: it holds at its next step with producers on the
//!   source, `status` says PAUSED, `resume` continues it to the end; an abort requested mid-flight
//!   rolls back exactly;
//! * a gated group waits for its own approval while the other group moves, then moves;
//! * two waves on one stack, with the mirror running: the first moves its topic and group and
//!   disables only its own mapping, the second topic keeps mirroring, then the second wave
//!   moves it.
//!
//! The happy path end to end (apps really switched) is `ferry demo`, run by `tests/demo.rs`.

use ferry_core::migration::{GroupPhase, MigrationState, Phase, ProducerPhase};
use ferry_core::ports::{MigrationStore, ProgressCommit, ProgressStore};
use ferry_core::{Progress, TopicPartition};
use ferry_local::{FunctionConfig, FunctionHost, Invoker, LogTarget};
use ferry_tests::{
    create_mirrored_topic, init_tracing, lambda_api_server, unique, MirrorRig, SOURCE, TARGET,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One migration under test: functions registered under unique names, its own state machine.
struct Cutover {
    table: String,
    store: ferry_aws::DynamoStateStore,
    sfn: aws_sdk_sfn::Client,
    machine: String,
    hosts: Vec<FunctionHost>,
}

impl Cutover {
    async fn new(rig: &MirrorRig, topic: &str) -> Self {
        Self::with_mirror_function(rig, topic, "mirror-not-deployed").await
    }

    /// Like [`Cutover::new`], with the mirror function whose mappings the cutover disables.
    async fn with_mirror_function(rig: &MirrorRig, topic: &str, mirror: &str) -> Self {
        Self::with_env(rig, topic, mirror, &[]).await
    }

    /// Like [`Cutover::with_mirror_function`], plus environment variables of the functions.
    async fn with_env(rig: &MirrorRig, topic: &str, mirror: &str, extra: &[(&str, &str)]) -> Self {
        let api = lambda_api_server();
        let suffix = unique("co");
        let env: Vec<(String, String)> = [
            ("FERRY_TABLE", rig.table.as_str()),
            ("FERRY_SOURCE_BOOTSTRAP", SOURCE),
            ("FERRY_TARGET_BOOTSTRAP", TARGET),
            ("FERRY_TOPICS_INCLUDE", topic),
            ("FERRY_SOURCE_QUIET_MS", "1000"),
            ("FERRY_MIRROR_FUNCTION", mirror),
            ("RUST_LOG", "info"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("AWS_ENDPOINT_URL_LAMBDA".to_string(), api.endpoint_url())])
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
        let mut hosts = Vec::new();
        for f in ["validate", "cutover"] {
            let name = format!("{f}-{suffix}");
            let mut c = FunctionConfig::new(&name, ferry_tests::bin_path(f));
            c.env = env.clone();
            c.sandboxes = 2;
            c.timeout = Duration::from_secs(60);
            c.log = LogTarget::File(std::env::temp_dir().join(format!("{}-{name}.log", rig.table)));
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
        Self {
            table: rig.table.clone(),
            store: rig.store.clone(),
            sfn,
            machine,
            hosts,
        }
    }

    async fn start(&self, id: &str, input: Value) -> String {
        ferry_cli::cutover::start(&self.sfn, &self.machine, id, &input)
            .await
            .expect("start execution")
    }

    async fn state(&self, id: &str) -> MigrationState {
        let doc = self
            .store
            .load_migration(id)
            .await
            .expect("load")
            .expect("migration exists");
        serde_json::from_str(&doc.value).expect("state document")
    }

    async fn finish(&self, execution: &str) -> ferry_cli::cutover::ExecutionInfo {
        let info = ferry_cli::cutover::wait(&self.sfn, execution, Duration::from_secs(240))
            .await
            .expect("describe");
        assert!(
            info.finished(),
            "execution still running after 240 s: {info:?} (logs: /tmp/{}-*.log)",
            self.table
        );
        info
    }

    async fn shutdown(self) {
        for h in &self.hosts {
            h.shutdown().await;
        }
    }
}

/// Produces `n` records with explicit timestamps to `topic` on `bootstrap`, round robin over
/// `partitions`; `corrupt` may change record `i`'s value.
async fn produce(bootstrap: &str, topic: &str, partitions: i32, n: usize, corrupt: Option<usize>) {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    // Recent explicit timestamps (old ones would be past the topics' 7-day retention, which
    // preflight rightly reports as an error).
    // One base per test binary, so source and hand-written target copies carry equal timestamps.
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64
            - 600_000
    });
    for i in 0..n {
        let key = format!("k{i}");
        let value = if corrupt == Some(i) {
            "corrupted".to_string()
        } else {
            format!("value-{i}")
        };
        p.send(
            FutureRecord::to(topic)
                .partition((i % partitions as usize) as i32)
                .key(&key)
                .payload(&value)
                .timestamp(base + i as i64),
            Duration::from_secs(30),
        )
        .await
        .expect("produce");
    }
}

/// Commits `offsets` for `group` on `bootstrap` without joining (the group stays Empty).
fn commit(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
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

fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> HashMap<i32, i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    c.committed_offsets(tpl, Duration::from_secs(20))
        .expect("committed")
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// A topic mirrored by the real mirror (then its mapping stops), plus a group committed on it.
async fn mirrored_topic(rig: &MirrorRig, partitions: i32, n: usize) -> String {
    let topic = unique("co-topic");
    create_mirrored_topic(&topic, partitions, &[]).await;
    produce(SOURCE, &topic, partitions, n, None).await;
    let per = (n / partitions as usize) as i64;
    rig.run_until_mirrored(
        vec![rig.mapping(&topic)],
        &[(topic.clone(), partitions, n as i64)],
        Duration::from_secs(90),
        async {},
    )
    .await;
    assert!(per > 10);
    topic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_never_under_threshold_times_out_and_rolls_back() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = mirrored_topic(&rig, 2, 200).await;
    let group = unique("co-group");
    commit(SOURCE, &group, &topic, &[(0, 40), (1, 60)]);
    let co = Cutover::new(&rig, &topic).await;
    let id = unique("lag");
    let execution = co
        .start(
            &id,
            json!({"groups": [group], "lag_threshold": -1, "catch_up_max_checks": 2, "catch_up_wait_seconds": 1}),
        )
        .await;
    let info = co.finish(&execution).await;
    assert_eq!(info.error.as_deref(), Some("Ferry.RolledBack"), "{info:?}");
    let s = co.state(&id).await;
    assert_eq!(s.phase, Phase::RolledBack);
    assert!(
        s.cause
            .as_deref()
            .unwrap_or("")
            .contains("mirror lag stayed above"),
        "{:?}",
        s.cause
    );
    assert_eq!(s.groups[&group].phase, GroupPhase::OnSource);
    assert!(
        committed(TARGET, &group, &topic, 2).is_empty(),
        "nothing committed on the target"
    );
    co.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatch_stops_before_any_group_moves() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    // A "mirrored" topic whose target copy has one corrupted record (written by hand, progress
    // recorded as if the mirror had written it).
    let topic = unique("co-corrupt");
    create_mirrored_topic(&topic, 2, &[]).await;
    produce(SOURCE, &topic, 2, 100, None).await;
    produce(TARGET, &topic, 2, 100, Some(41)).await;
    for p in 0..2 {
        let tp = TopicPartition::new(&topic, p);
        let initial = Progress::initial(0, 0);
        rig.store.init_progress(&tp, initial).await.expect("init");
        rig.store
            .commit_progress(&[ProgressCommit {
                tp,
                expected: initial,
                new: Progress {
                    next_source: 50,
                    next_target: 50,
                },
                segments: vec![],
            }])
            .await
            .expect("progress");
    }
    let group = unique("co-group");
    commit(SOURCE, &group, &topic, &[(0, 50), (1, 50)]);
    let co = Cutover::new(&rig, &topic).await;
    let id = unique("mismatch");
    let execution = co.start(&id, json!({"groups": [group]})).await;
    let info = co.finish(&execution).await;
    assert_eq!(info.error.as_deref(), Some("Ferry.RolledBack"), "{info:?}");
    let s = co.state(&id).await;
    let cause = s.cause.clone().unwrap_or_default();
    assert!(
        cause.contains("Ferry.ValidationFailed") && cause.contains(&topic),
        "cause names the failure and topic: {cause}"
    );
    // Record 41 is partition 1, offset 20.
    assert!(
        cause.contains("offset 20"),
        "cause names the first differing offset: {cause}"
    );
    assert_eq!(
        s.groups[&group].phase,
        GroupPhase::OnSource,
        "no group moved"
    );
    assert!(committed(TARGET, &group, &topic, 2).is_empty());
    co.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_that_never_stops_is_reported_others_move_then_abort_rolls_back_exactly() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = mirrored_topic(&rig, 2, 300).await;
    let idle = unique("co-idle");
    let busy = unique("co-busy");
    commit(SOURCE, &idle, &topic, &[(0, 70), (1, 150)]);
    // A consumer of `busy` that keeps its membership for the whole test.
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", SOURCE)
        .set("group.id", &busy)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    member.subscribe(&[&topic]).expect("subscribe");
    let stop_polling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let stop = Arc::clone(&stop_polling);
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = member.poll(Duration::from_millis(100));
            }
        })
    };
    let co = Cutover::new(&rig, &topic).await;
    let id = unique("abort");
    let execution = co
        .start(
            &id,
            json!({"groups": [idle, busy], "group_stop_max_checks": 3, "group_stop_wait_seconds": 1}),
        )
        .await;
    // Wait for the approval gate.
    let mut state = None;
    for _ in 0..240 {
        let Some(doc) = co.store.load_migration(&id).await.expect("load") else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let s: MigrationState = serde_json::from_str(&doc.value).expect("state");
        if s.phase == Phase::AwaitingApproval && s.approval_token.is_some() {
            state = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let s = state.expect("reached the approval gate");
    assert_eq!(s.groups[&idle].phase, GroupPhase::Moved);
    assert_eq!(s.groups[&busy].phase, GroupPhase::NotStopped);
    assert!(s.groups[&busy]
        .note
        .as_deref()
        .unwrap_or("")
        .contains("still active"));
    assert_eq!(
        committed(TARGET, &idle, &topic, 2),
        HashMap::from([(0, 70), (1, 150)]),
        "exact translation committed on the target"
    );
    // The moved group consumes a little on the target before the operator aborts.
    commit(TARGET, &idle, &topic, &[(0, 90), (1, 150)]);
    ferry_cli::cutover::abort(&co.sfn, &co.store, &id, "operator abort in test")
        .await
        .expect("abort");
    let info = co.finish(&execution).await;
    assert_eq!(info.error.as_deref(), Some("Ferry.RolledBack"), "{info:?}");
    let s = co.state(&id).await;
    assert_eq!(s.phase, Phase::RolledBack);
    assert_eq!(s.producers, ProducerPhase::Source);
    assert_eq!(s.groups[&idle].phase, GroupPhase::RolledBack);
    assert_eq!(
        committed(SOURCE, &idle, &topic, 2),
        HashMap::from([(0, 90), (1, 150)]),
        "the group resumes on the source exactly where it stopped on the target"
    );
    let cause = s.cause.unwrap_or_default();
    assert!(cause.contains("Ferry.Aborted"), "cause: {cause}");
    stop_polling.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.join().expect("poller");
    co.shutdown().await;
}

/// Issue 13: a failure after producers are paused ends in a named hold, never in a Failed
/// execution with producers paused. DisableMirror is refused (`AccessDeniedException`, not
/// retried), the migration waits with producers paused, the status says what failed and which
/// commands continue; once IAM is fixed, `resume` retries the step and the migration completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_disable_mirror_holds_with_producers_paused_then_resume_completes() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = mirrored_topic(&rig, 2, 200).await;
    let group = unique("co-held");
    commit(SOURCE, &group, &topic, &[(0, 40), (1, 60)]);
    let mirror_fn = unique("mirror-refused");
    let api = lambda_api_server();
    api.refuse_mapping_requests(&mirror_fn, true);
    let bus = EventsToQueue::new().await;
    let co = Cutover::with_env(&rig, &topic, &mirror_fn, &[("FERRY_EVENT_BUS", &bus.bus)]).await;
    let id = unique("held");
    let execution = co
        .start(
            &id,
            json!({"groups": [group], "group_stop_wait_seconds": 1, "drain_wait_seconds": 1}),
        )
        .await;
    let mut approved = false;
    let mut held = None;
    for _ in 0..360 {
        if let Some(doc) = co.store.load_migration(&id).await.expect("load") {
            let s: MigrationState = serde_json::from_str(&doc.value).expect("state");
            if !approved && s.phase == Phase::AwaitingApproval && s.approval_token.is_some() {
                ferry_cli::cutover::approve(&co.sfn, &co.store, &id, "test")
                    .await
                    .expect("approve");
                approved = true;
            }
            if s.hold.is_some() {
                held = Some(s);
                break;
            }
            assert!(!s.phase.is_terminal(), "ended without a hold: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let s = held.expect("the migration is held after DisableMirror was refused");
    let hold = s.hold.clone().unwrap();
    assert_eq!(hold.step, "disable_mirror");
    assert!(hold.cause.contains("AccessDenied"), "{}", hold.cause);
    assert_eq!(s.producers, ProducerPhase::Paused, "producers stay paused");
    let info = ferry_cli::cutover::describe(&co.sfn, &execution)
        .await
        .expect("describe");
    assert_eq!(info.status, "RUNNING", "held, not failed: {info:?}");
    let lines = ferry_cli::cutover::status_lines(&s, Some(&info)).join("\n");
    assert!(lines.contains("HELD"), "{lines}");
    assert!(
        lines.contains(&format!("ferry cutover resume {id}")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("ferry cutover abort {id}")),
        "{lines}"
    );
    assert!(!lines.contains(&hold.token), "the task token never shows");

    // IAM fixed: resume retries DisableMirror and the migration completes.
    api.refuse_mapping_requests(&mirror_fn, false);
    let step = ferry_cli::cutover::resume(&co.sfn, &co.store, &id)
        .await
        .expect("resume");
    assert_eq!(
        step,
        ferry_cli::cutover::Resumed::Step("disable_mirror".into())
    );
    let info = co.finish(&execution).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    let s = co.state(&id).await;
    assert_eq!(s.phase, Phase::Completed);
    assert_eq!(s.producers, ProducerPhase::Target);
    assert!(s.hold.is_none());
    assert!(
        s.history
            .iter()
            .any(|h| h.what.starts_with("held after disable_mirror failed")),
        "{:?}",
        s.history
    );
    assert!(s.outbox.is_empty(), "every event was published");

    // The applications saw it all on EventBridge (moto: rule -> SQS), in order, no gaps.
    let events = bus.drain(s.event_seq as usize).await;
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["detail"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=s.event_seq).collect::<Vec<_>>(), "{events:#?}");
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            let d = &e["detail"];
            format!(
                "{} {}",
                e["detail-type"].as_str().unwrap(),
                d["to"].as_str().or(d["step"].as_str()).unwrap_or("")
            )
        })
        .collect();
    for expected in [
        "Ferry Migration Started ",
        "Ferry Consumer Group Changed moved",
        "Ferry Producers Changed paused",
        "Ferry Migration Held disable_mirror",
        "Ferry Migration Resumed disable_mirror",
        "Ferry Producers Changed target",
        "Ferry Migration Phase Changed completed",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected:?} missing: {kinds:#?}"
        );
    }
    assert!(events.iter().all(|e| e["source"] == "ferry.migration"));
    co.shutdown().await;
}

/// A fresh EventBridge bus on moto whose `ferry.migration` events land in an SQS queue.
struct EventsToQueue {
    bus: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl EventsToQueue {
    async fn new() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let bus = unique("ferry-bus");
        events
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("create bus");
        let queue_url = sqs
            .create_queue()
            .queue_name(&bus)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn");
        events
            .put_rule()
            .name(&bus)
            .event_bus_name(&bus)
            .event_pattern(r#"{"source":["ferry.migration"]}"#)
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule(&bus)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("put targets");
        Self {
            bus,
            sqs,
            queue_url,
        }
    }

    /// Every event in the queue (at least `expected`), sorted by `detail.seq`, duplicates
    /// (at-least-once delivery) removed by sequence number.
    async fn drain(&self, expected: usize) -> Vec<Value> {
        let mut seen: std::collections::BTreeMap<u64, Value> = Default::default();
        for _ in 0..30 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            for m in out.messages() {
                let v: Value = serde_json::from_str(m.body().unwrap_or("{}")).expect("event JSON");
                seen.insert(v["detail"]["seq"].as_u64().unwrap_or(0), v);
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
            if out.messages().is_empty() && seen.len() >= expected {
                break;
            }
        }
        seen.into_values().collect()
    }
}

/// Waits until migration `id` waits for its producer approval, then approves it.
async fn approve_when_asked(co: &Cutover, id: &str) {
    for _ in 0..480 {
        if let Some(doc) = co.store.load_migration(id).await.expect("load") {
            let s: MigrationState = serde_json::from_str(&doc.value).expect("state");
            if s.phase == Phase::AwaitingApproval && s.approval_token.is_some() {
                ferry_cli::cutover::approve(&co.sfn, &co.store, id, "test")
                    .await
                    .expect("approve");
                return;
            }
            assert!(!s.phase.is_terminal(), "ended before the approval: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("migration {id} never asked for the producer approval");
}

/// Issue 13, waves: two migrations on one stack while the mirror runs. Each names its topics
/// and groups; the first disables only its own topic's mapping and releases only its own
/// producers; the second topic keeps mirroring in between; the second wave then moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_waves_on_one_stack_each_moves_only_its_own_topics() {
    init_tracing();
    let rig = MirrorRig::new(&[], 4).await;
    let mirror_fn = unique("mirror-waves");
    let topics = [unique("co-wave1"), unique("co-wave2")];
    let groups = [unique("co-wave1-app"), unique("co-wave2-app")];
    for t in &topics {
        create_mirrored_topic(t, 2, &[]).await;
        produce(SOURCE, t, 2, 200, None).await;
    }
    commit(SOURCE, &groups[0], &topics[0], &[(0, 40), (1, 60)]);
    commit(SOURCE, &groups[1], &topics[1], &[(0, 80), (1, 90)]);

    // The mirror (under this test's function name) runs for both topics, its mappings
    // published on the Lambda API.
    let mut mirror_config = rig.host.config().clone();
    mirror_config.name = mirror_fn.clone();
    let mirror = FunctionHost::new(mirror_config).expect("mirror host");
    let api = lambda_api_server();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut uuids = Vec::new();
    let mut tasks = Vec::new();
    for t in &topics {
        let mut config = rig.mapping(t);
        config.function_name = mirror_fn.clone();
        let esm = ferry_local::EventSourceMapping::new(config, Arc::new(mirror.clone()))
            .expect("mapping");
        uuids.push(api.register_mapping(&esm).uuid().to_owned());
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move { esm.run(stop).await }));
    }
    for t in &topics {
        assert_eq!(
            ferry_tests::wait_for_target_count(t, 2, 200, Duration::from_secs(90)).await,
            200
        );
    }
    let include = format!("{}|{}", topics[0], topics[1]);
    let co = Cutover::with_mirror_function(&rig, &include, &mirror_fn).await;
    let waits =
        json!({"group_stop_wait_seconds": 1, "drain_wait_seconds": 1, "catch_up_wait_seconds": 1});
    let wave = |i: usize| {
        let mut input = waits.clone();
        input["topics"] = json!([topics[i]]);
        input["groups"] = json!([groups[i]]);
        input
    };

    // Wave 1.
    let id1 = unique("wave1");
    let execution = co.start(&id1, wave(0)).await;
    approve_when_asked(&co, &id1).await;
    let info = co.finish(&execution).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    let s = co.state(&id1).await;
    assert_eq!(s.topics, Some(vec![topics[0].clone()]));
    assert_eq!(s.producers, ProducerPhase::Target);
    assert_eq!(s.groups.keys().collect::<Vec<_>>(), [&groups[0]]);
    assert_eq!(
        committed(TARGET, &groups[0], &topics[0], 2),
        HashMap::from([(0, 40), (1, 60)])
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(api.endpoint_url())
        .load()
        .await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let state_of = |uuid: String| {
        let lambda = lambda.clone();
        async move {
            lambda
                .get_event_source_mapping()
                .uuid(uuid)
                .send()
                .await
                .expect("GetEventSourceMapping")
                .state()
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert!(state_of(uuids[0].clone()).await.starts_with("Disabl"));
    assert_eq!(state_of(uuids[1].clone()).await, "Enabled");

    // Between the waves the second topic keeps mirroring.
    produce(SOURCE, &topics[1], 2, 300, None).await;
    assert_eq!(
        ferry_tests::wait_for_target_count(&topics[1], 2, 500, Duration::from_secs(90)).await,
        500,
        "the second wave's topic still mirrors after the first wave"
    );

    // Wave 2.
    let id2 = unique("wave2");
    let execution = co.start(&id2, wave(1)).await;
    approve_when_asked(&co, &id2).await;
    let info = co.finish(&execution).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    assert_eq!(co.state(&id2).await.producers, ProducerPhase::Target);
    assert_eq!(
        committed(TARGET, &groups[1], &topics[1], 2),
        HashMap::from([(0, 80), (1, 90)])
    );
    assert!(state_of(uuids[1].clone()).await.starts_with("Disabl"));
    // Wave 1's migration was left as it ended.
    assert_eq!(co.state(&id1).await.phase, Phase::Completed);

    shutdown.cancel();
    for t in tasks {
        t.await.expect("mapping task").expect("mapping ran");
    }
    for u in &uuids {
        api.deregister_mapping(u);
    }
    mirror.shutdown().await;
    co.shutdown().await;
}

/// Waits until migration `id`'s state document exists and satisfies `until`.
async fn wait_for_state(
    co: &Cutover,
    id: &str,
    what: &str,
    until: impl Fn(&MigrationState) -> bool,
) -> MigrationState {
    for _ in 0..480 {
        if let Some(doc) = co.store.load_migration(id).await.expect("load") {
            let s: MigrationState = serde_json::from_str(&doc.value).expect("state");
            if until(&s) {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("migration {id}: never {what}");
}

/// Issue 13, operator control: `ferry cutover pause` in any phase before producers move holds
/// the migration at its next step (producers untouched), `resume` continues it to the end; an
/// `abort` requested mid-flight (not at the gate, not held) rolls back exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_mid_flight_holds_then_resume_completes_and_a_mid_flight_abort_rolls_back() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = mirrored_topic(&rig, 2, 200).await;
    let group = unique("co-paused");
    commit(SOURCE, &group, &topic, &[(0, 30), (1, 50)]);
    let co = Cutover::new(&rig, &topic).await;
    let fast = |g: &str| json!({"groups": [g], "catch_up_wait_seconds": 1, "group_stop_wait_seconds": 1, "drain_wait_seconds": 1});

    // Pause as soon as the migration exists.
    let id = unique("paused");
    let execution = co.start(&id, fast(&group)).await;
    wait_for_state(&co, &id, "created", |_| true).await;
    ferry_cli::cutover::pause(&co.store, &id, "ops: change freeze")
        .await
        .expect("pause");
    let s = wait_for_state(&co, &id, "held", |s| s.hold.is_some()).await;
    let hold = s.hold.clone().unwrap();
    assert!(hold.is_pause(), "{hold:?}");
    assert!(hold.cause.contains("ops: change freeze"), "{}", hold.cause);
    assert!(
        [
            "catch_up",
            "validate_content",
            "move_groups",
            "pause_producers"
        ]
        .contains(&hold.step.as_str()),
        "{hold:?}"
    );
    assert_eq!(s.producers, ProducerPhase::Source);
    assert!(s.pause_request.is_none(), "the hold answered the request");
    let info = ferry_cli::cutover::describe(&co.sfn, &execution)
        .await
        .expect("describe");
    assert_eq!(info.status, "RUNNING", "paused, not failed: {info:?}");
    let lines = ferry_cli::cutover::status_lines(&s, Some(&info)).join("\n");
    assert!(lines.contains("PAUSED"), "{lines}");
    assert!(
        lines.contains(&format!("ferry cutover resume {id}")),
        "{lines}"
    );
    // Still paused a moment later: nothing moves while held.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        co.state(&id).await.groups[&group].phase,
        s.groups[&group].phase
    );

    let resumed = ferry_cli::cutover::resume(&co.sfn, &co.store, &id)
        .await
        .expect("resume");
    assert_eq!(
        resumed,
        ferry_cli::cutover::Resumed::Step(hold.step.clone())
    );
    approve_when_asked(&co, &id).await;
    let info = co.finish(&execution).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    let s = co.state(&id).await;
    assert_eq!(s.producers, ProducerPhase::Target);
    assert!(s
        .history
        .iter()
        .any(|h| h.what.starts_with("pause requested by ops: change freeze")));
    assert_eq!(
        committed(TARGET, &group, &topic, 2),
        HashMap::from([(0, 30), (1, 50)])
    );

    // An abort mid-flight: the next step fails with Ferry.Aborted and the state machine rolls
    // back; nothing stays moved.
    let other = unique("co-aborted");
    commit(SOURCE, &other, &topic, &[(0, 20), (1, 20)]);
    let id = unique("aborted");
    let execution = co.start(&id, fast(&other)).await;
    wait_for_state(&co, &id, "created", |_| true).await;
    ferry_cli::cutover::abort(&co.sfn, &co.store, &id, "ops: wrong wave")
        .await
        .expect("abort");
    let info = co.finish(&execution).await;
    assert_eq!(info.error.as_deref(), Some("Ferry.RolledBack"), "{info:?}");
    let s = co.state(&id).await;
    assert_eq!(s.phase, Phase::RolledBack);
    assert_eq!(s.producers, ProducerPhase::Source);
    assert!(
        s.cause.as_deref().unwrap_or("").contains("Ferry.Aborted"),
        "{:?}",
        s.cause
    );
    assert!(
        s.pause_request.is_none(),
        "{:?} {:#?}",
        s.pause_request,
        s.history
    );
    assert_eq!(
        committed(SOURCE, &other, &topic, 2),
        HashMap::from([(0, 20), (1, 20)]),
        "the group is where it was on the source"
    );
    co.shutdown().await;
}

/// Issue 13, an optional gate per group: a group named in `gated_groups` waits for
/// `ferry cutover approve <id> --group <g>` while the other groups move; approved, it moves
/// exactly and the migration completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_group_waits_for_its_approval_while_the_others_move() {
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = mirrored_topic(&rig, 2, 200).await;
    let free = unique("co-free");
    let gated = unique("co-gated");
    commit(SOURCE, &free, &topic, &[(0, 10), (1, 20)]);
    commit(SOURCE, &gated, &topic, &[(0, 70), (1, 80)]);
    let co = Cutover::new(&rig, &topic).await;
    let id = unique("gated");
    let execution = co
        .start(
            &id,
            json!({"groups": [free, gated], "gated_groups": [gated], "group_stop_wait_seconds": 1, "drain_wait_seconds": 1}),
        )
        .await;
    let s = wait_for_state(&co, &id, "waiting for the gated group", |s| {
        s.group_tokens.contains_key(&gated) && s.groups[&free].phase == GroupPhase::Moved
    })
    .await;
    assert_eq!(
        s.groups[&gated].phase,
        GroupPhase::OnSource,
        "not asked to stop yet"
    );
    assert_ne!(
        s.phase,
        Phase::AwaitingApproval,
        "producers wait for every group"
    );
    let lines = ferry_cli::cutover::status_lines(&s, None).join("\n");
    assert!(
        lines.contains(&format!("ferry cutover approve {id} --group {gated}")),
        "{lines}"
    );
    ferry_cli::cutover::approve_group(&co.sfn, &co.store, &id, &gated, "team-billing")
        .await
        .expect("approve the group");
    approve_when_asked(&co, &id).await;
    let info = co.finish(&execution).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    let s = co.state(&id).await;
    assert_eq!(s.groups[&gated].phase, GroupPhase::Moved);
    assert_eq!(
        s.groups[&gated].approved_by.as_deref(),
        Some("team-billing")
    );
    assert!(s.group_tokens.is_empty());
    assert_eq!(
        committed(TARGET, &gated, &topic, 2),
        HashMap::from([(0, 70), (1, 80)])
    );
    co.shutdown().await;
}

/// Issue 16: a cutover against an "MSK" target reached only through its cluster ARN, with
/// IAM-style auth. The functions get no target bootstrap servers: they read the IAM listener
/// of the cluster from the local MSK API (`GetBootstrapBrokers`) at cold start and connect with
/// OAUTHBEARER tokens (the stack's unsecured-JWT listener stands in for MSK IAM); the
/// preflight reads the target's broker storage from `DescribeClusterV2` of the same ARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_reaches_an_msk_target_by_its_arn_with_iam_style_auth() {
    use ferry_core::msk::{BootstrapBrokers, MskAuth};
    init_tracing();
    let rig = MirrorRig::new(&[], 2).await;
    let topic = mirrored_topic(&rig, 2, 200).await;
    let group = unique("co-msk-app");
    commit(SOURCE, &group, &topic, &[(0, 30), (1, 70)]);

    let msk = ferry_local::MskApiServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("local MSK API");
    let arn = format!(
        "arn:aws:kafka:us-east-1:123456789012:cluster/{}/5f2c-1",
        unique("target")
    );
    msk.register_cluster(ferry_local::LocalCluster::provisioned(
        &arn,
        1,
        100,
        BootstrapBrokers::default().with(MskAuth::Iam, "127.0.0.1:29094"),
        ferry_kafka::KafkaTopicAdmin::new(ferry_tests::target(), "target"),
    ));
    let endpoint = msk.endpoint_url();
    let co = Cutover::with_env(
        &rig,
        &topic,
        "mirror-not-deployed",
        &[
            // No bootstrap servers: an empty setting is unset.
            ("FERRY_TARGET_BOOTSTRAP", ""),
            ("FERRY_TARGET_MSK_CLUSTER_ARN", &arn),
            ("FERRY_TARGET_SECURITY", "oauthbearer-unsecured-jwt"),
            ("FERRY_TARGET_OAUTH_PRINCIPAL", "ferry-cutover"),
            ("AWS_ENDPOINT_URL_KAFKA", &endpoint),
        ],
    )
    .await;
    let id = unique("msk-arn");
    let execution = co
        .start(
            &id,
            json!({"groups": [group], "group_stop_wait_seconds": 1, "drain_wait_seconds": 1}),
        )
        .await;
    approve_when_asked(&co, &id).await;
    let info = co.finish(&execution).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    assert_eq!(co.state(&id).await.producers, ProducerPhase::Target);
    assert_eq!(
        committed(TARGET, &group, &topic, 2),
        HashMap::from([(0, 30), (1, 70)])
    );
    // The preflight's storage check read the cluster's 1 × 100 GiB.
    let preflight: Value = serde_json::from_str(
        &co.store
            .get_report(&id, "preflight")
            .await
            .unwrap()
            .expect("preflight report"),
    )
    .unwrap();
    assert_eq!(
        preflight["target_capacity_bytes"],
        100u64 * 1024 * 1024 * 1024,
        "{preflight}"
    );
    // ... sized the broker volumes from it (a few KB of data: no growth) ...
    assert_eq!(preflight["target_kind"], "provisioned", "{preflight}");
    assert_eq!(
        preflight["volume_sizing"]["current_gib"], 100,
        "{preflight}"
    );
    assert_eq!(
        preflight["volume_sizing"]["request_gib"], 100,
        "{preflight}"
    );
    // Both functions took their target from the MSK API.
    for f in ["validate", "cutover"] {
        let log = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&format!("{}-{f}-", co.table))
            })
            .expect("function log");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("bootstrap brokers read from the MSK API") && text.contains("29094"),
            "{f}: {}",
            log.display()
        );
        // The cutover's preflight administered the target's topics through the MSK topic
        // API (SigV4, no Kafka admin client).
        assert!(
            f != "cutover" || text.contains("target topics through the MSK topic API"),
            "{f}: {}",
            log.display()
        );
    }
    msk.shutdown();
    co.shutdown().await;
}
