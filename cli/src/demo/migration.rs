//! `ferry demo` (the default mode): a complete local migration, from live traffic on the source to consumers and
//! producers running on the target, driven by the real cutover state machine.
//!
//! 1. Fresh demo topics on both clusters and a fresh DynamoDB table; sequence-numbered records
//!    preloaded on the source.
//! 2. Sample applications ([`crate::apps`]): one producer per topic writing live traffic and
//!    two consumer groups reading every topic, all following the migration's state document.
//! 3. The local runtime: the real `mirror`, `validate` and `cutover` binaries behind the Lambda
//!    Runtime API, one event source mapping per topic feeding the mirror, and the local Lambda
//!    API on `FERRY_LAMBDA_API` (moto's Step Functions calls it; the cutover function disables
//!    the mappings through it).
//! 4. `infra/statemachine/cutover.asl.json` is created on moto and executed: preflight, lag
//!    gate, validation, group moves, the producer approval gate (approved by the demo, as
//!    `ferry cutover approve` would), drain, final validation, mirror disabled, producers
//!    released, report.
//! 5. Producers keep writing to the target for a few seconds, then stop; the consumers must
//!    have read every record exactly once and in order (they check it themselves across the
//!    move), and the source must not have received a single record after the release.

use super::{check_stack, suffix, topic_names};
use crate::apps::{self, Clusters, ConsumerReport, ProducerStats};
use crate::args::DemoArgs;
use crate::cutover;
use crate::progress::LiveLine;
use crate::report::{paint, stderr_colors, thousands, Color};
use crate::runtime::mirror_bin;
use crate::state;
use anyhow::Context as _;
use ferry_aws::DynamoStateStore;
use ferry_core::migration::{Cluster, MigrationState, Phase};
use ferry_kafka::KafkaConnection;
use ferry_local::{
    EsmConfig, EsmError, EventSourceMapping, FunctionConfig, FunctionHost, Invoker,
    LambdaApiServer, LogTarget,
};
use rdkafka::config::ClientConfig;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Consumer groups of the demo applications.
const GROUPS: [&str; 2] = ["orders-app", "audit-app"];
/// Live records per second per topic.
const LIVE_RATE: u64 = 100;
/// How long producers keep writing to the target after the cutover.
const AFTER_CUTOVER: Duration = Duration::from_secs(4);

fn sibling_bin(mirror: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let p = mirror.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !p.is_file() {
        anyhow::bail!(
            "function binary {name} not found at {}: build it with `cargo build -p {name}`",
            p.display()
        );
    }
    Ok(p)
}

fn function(
    name: &str,
    bin: PathBuf,
    env: &[(String, String)],
    sandboxes: usize,
    log: &Path,
) -> FunctionConfig {
    let mut c = FunctionConfig::new(name, bin);
    c.env = env.to_vec();
    if std::env::var_os("RUST_LOG").is_none() {
        c.env.push(("RUST_LOG".into(), "warn".into()));
    }
    c.timeout = Duration::from_secs(120);
    c.sandboxes = sandboxes.max(1);
    c.log = LogTarget::File(log.to_path_buf());
    c
}

/// Writes `n` sequence-numbered records (`seq` 0..n) to `topic` on the source.
async fn preload(bootstrap: &str, topic: &str, partitions: i32, n: u64) -> anyhow::Result<()> {
    let p: ferry_kafka::FerryProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create_with_context(ferry_kafka::FerryContext::default())?;
    let mut pending = Vec::new();
    for seq in 0..n {
        pending.push(apps::enqueue(&p, topic, partitions, seq).await?);
        if pending.len() >= 2000 {
            apps::await_all(std::mem::take(&mut pending), topic).await?;
        }
    }
    apps::await_all(pending, topic).await?;
    Ok(())
}

fn progress_line(
    state: Option<&MigrationState>,
    reports: &[(String, Arc<Mutex<ConsumerReport>>)],
    stats: &[Arc<ProducerStats>],
    t0: Instant,
) -> String {
    let produced: u64 = stats.iter().map(|s| s.total()).sum();
    let phase = state.map_or("starting".to_string(), |s| s.phase.to_string());
    let producers = state.map_or("source".into(), |s| {
        format!("{:?}", s.producers).to_lowercase()
    });
    let groups: Vec<String> = reports
        .iter()
        .map(|(g, r)| {
            let r = r.lock().unwrap_or_else(PoisonError::into_inner);
            let consumed: u64 = r.consumed.values().sum();
            let on = match r.on {
                Some(Cluster::Source) => "source",
                Some(Cluster::Target) => "target",
                None => "stopped",
            };
            format!("{g}: {on} {consumed}")
        })
        .collect();
    format!(
        "[{:>5.1}s] phase {phase:<17} producers {producers:<6} produced {produced:<7} {}",
        t0.elapsed().as_secs_f64(),
        groups.join(" | ")
    )
}

/// Runs the full migration demo; `Ok(true)` if every check passed.
pub async fn run(args: &DemoArgs) -> anyhow::Result<bool> {
    let limit = Duration::from_secs(args.timeout);
    match tokio::time::timeout(limit, run_inner(args)).await {
        Ok(r) => r,
        Err(_) => anyhow::bail!(
            "the demo did not finish within {} s (--timeout); check `scripts/stack status` and the function logs in {}",
            args.timeout,
            std::env::temp_dir().display()
        ),
    }
}

/// The phases, in order; each prints its own numbered step on stderr.
async fn run_inner(args: &DemoArgs) -> anyhow::Result<bool> {
    let t0 = Instant::now();
    let colors = stderr_colors();
    let (demo, bins) = connect(args, colors).await?;
    let store = create_and_preload(&demo, t0).await?;
    let mut apps = start_apps(&demo, &store);
    let runtime = start_runtime(&demo, args, bins).await?;
    let info = run_cutover(&demo, &store, &apps, t0, colors).await?;
    let succeeded = info.status == "SUCCEEDED";
    let produced = apps.stop(succeeded).await?;
    runtime.stop().await;
    let checks = verify(&demo, &apps, &info, &produced).await?;
    super::migration_report::print(args, &demo.migration_id, &store, &info, &checks, t0).await
}

/// The function binaries the local runtime hosts.
#[derive(Debug)]
struct Binaries {
    mirror: PathBuf,
    validate: PathBuf,
    cutover: PathBuf,
}

/// What this run is about: clusters, names, the state table.
#[derive(Debug)]
struct Demo {
    source: KafkaConnection,
    target: KafkaConnection,
    suffix: String,
    names: Vec<String>,
    partitions: i32,
    table: String,
    migration_id: String,
    groups: Vec<String>,
    logs: PathBuf,
    /// Sequence-numbered records preloaded per topic (live records continue from there).
    per_topic: u64,
}

/// Finds the binaries, connects to the stack, names this run and prints what it will do.
/// The table is not created yet ([`create_and_preload`]).
async fn connect(args: &DemoArgs, colors: bool) -> anyhow::Result<(Demo, Binaries)> {
    let mirror = mirror_bin(args.mirror_bin.as_ref())?;
    let bins = Binaries {
        validate: sibling_bin(&mirror, "validate")?,
        cutover: sibling_bin(&mirror, "cutover")?,
        mirror,
    };
    let source = args.clusters.source().await?;
    let target = args.clusters.target().await?;
    check_stack(&source, &target).await?;

    let suffix = suffix();
    let names = topic_names(args.topics, &suffix);
    let table = format!("ferry-demo-{suffix}");
    let migration_id = format!("demo-{suffix}");
    let groups: Vec<String> = GROUPS.iter().map(|g| format!("{g}-{suffix}")).collect();
    let logs = std::env::temp_dir();
    eprintln!(
        "{}",
        paint(
            "Ferry demo: a full migration on the local stack",
            Color::Bold,
            colors
        )
    );
    eprintln!(
        "  {} topics x {} partitions, {} records preloaded, {LIVE_RATE} records/s live per topic; groups {}",
        names.len(),
        args.partitions,
        thousands(args.records as i64),
        groups.join(", ")
    );
    eprintln!(
        "  source {} -> target {}; table {table}; function logs {}/{table}-*.log",
        source.bootstrap_servers,
        target.bootstrap_servers,
        logs.display()
    );
    let per_topic = args.records / names.len() as u64;
    Ok((
        Demo {
            source,
            target,
            suffix,
            names,
            partitions: args.partitions,
            table,
            migration_id,
            groups,
            logs,
            per_topic,
        },
        bins,
    ))
}

/// Step 1: Topics on both clusters, the table, and the preloaded records on the source.
async fn create_and_preload(demo: &Demo, t0: Instant) -> anyhow::Result<DynamoStateStore> {
    let store = state::create_topics_and_table(
        &demo.source,
        &demo.target,
        &demo.names,
        demo.partitions,
        &demo.table,
    )
    .await?;
    futures::future::try_join_all(demo.names.iter().map(|t| {
        preload(
            &demo.source.bootstrap_servers,
            t,
            demo.partitions,
            demo.per_topic,
        )
    }))
    .await?;
    eprintln!(
        "1. topics created on both clusters, {} records preloaded on the source ({:.1} s)",
        thousands((demo.per_topic * demo.names.len() as u64) as i64),
        t0.elapsed().as_secs_f64()
    );
    Ok(store)
}

/// The sample applications: live producers and consumer groups, all following the migration's
/// state document through a watch channel.
struct Apps {
    cancel_apps: CancellationToken,
    cancel_producers: CancellationToken,
    rx: watch::Receiver<Option<MigrationState>>,
    watcher: JoinHandle<()>,
    reports: Vec<(String, Arc<Mutex<ConsumerReport>>)>,
    consumer_tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    producer_stats: Vec<Arc<ProducerStats>>,
    producer_tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    /// Records per topic: preload + live (known once the producers stopped).
    per_topic: u64,
    names: Vec<String>,
}

/// Step 2: One producer per topic writing live traffic and the consumer groups reading every topic.
fn start_apps(demo: &Demo, store: &DynamoStateStore) -> Apps {
    let cancel_apps = CancellationToken::new();
    let cancel_producers = CancellationToken::new();
    let (tx, rx) = watch::channel::<Option<MigrationState>>(None);
    let watcher = tokio::spawn(apps::watch_migration(
        store.clone(),
        demo.migration_id.clone(),
        tx,
        cancel_apps.clone(),
    ));
    let clusters = Clusters {
        source: demo.source.bootstrap_servers.clone(),
        target: demo.target.bootstrap_servers.clone(),
    };
    let partitions: HashMap<String, i32> = demo
        .names
        .iter()
        .map(|n| (n.clone(), demo.partitions))
        .collect();
    let mut reports = Vec::new();
    let mut consumer_tasks = Vec::new();
    for g in &demo.groups {
        let report = Arc::new(Mutex::new(ConsumerReport::default()));
        reports.push((g.clone(), Arc::clone(&report)));
        consumer_tasks.push(tokio::spawn(apps::run_consumer_group(
            clusters.clone(),
            g.clone(),
            partitions.clone(),
            rx.clone(),
            report,
            cancel_apps.clone(),
        )));
    }
    let mut producer_stats = Vec::new();
    let mut producer_tasks = Vec::new();
    for t in &demo.names {
        let stats = Arc::new(ProducerStats::default());
        producer_stats.push(Arc::clone(&stats));
        producer_tasks.push(tokio::spawn(apps::run_producer(
            clusters.clone(),
            t.clone(),
            demo.partitions,
            demo.per_topic,
            LIVE_RATE,
            rx.clone(),
            stats,
            cancel_producers.clone(),
        )));
    }
    eprintln!("2. producers and consumer groups running on the source");
    Apps {
        cancel_apps,
        cancel_producers,
        rx,
        watcher,
        reports,
        consumer_tasks,
        producer_stats,
        producer_tasks,
        per_topic: demo.per_topic,
        names: demo.names.clone(),
    }
}

impl Apps {
    /// Step 5: Stops the producers, lets the consumers read everything produced (up to a minute;
    /// not at all if the cutover failed), then stops them. Returns the records produced per
    /// topic (preload + live).
    async fn stop(&mut self, succeeded: bool) -> anyhow::Result<BTreeMap<String, u64>> {
        self.cancel_producers.cancel();
        for t in std::mem::take(&mut self.producer_tasks) {
            t.await.context("producer task")??;
        }
        let produced: BTreeMap<String, u64> = self
            .names
            .iter()
            .zip(&self.producer_stats)
            .map(|(n, s)| (n.clone(), self.per_topic + s.total()))
            .collect();
        let drain_deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = self.reports.iter().all(|(_, r)| {
                let r = r.lock().unwrap_or_else(PoisonError::into_inner);
                produced
                    .iter()
                    .all(|(t, n)| r.consumed.get(t).copied().unwrap_or(0) >= *n)
            });
            if done || Instant::now() >= drain_deadline || !succeeded {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.cancel_apps.cancel();
        for t in std::mem::take(&mut self.consumer_tasks) {
            t.await.context("consumer task")??;
        }
        let _ = (&mut self.watcher).await;
        Ok(produced)
    }
}

/// The local runtime: the function hosts behind the Lambda API and the event source mappings.
struct Runtime {
    api: LambdaApiServer,
    hosts: [FunctionHost; 3],
    stop_mappings: CancellationToken,
    mapping_tasks: Vec<JoinHandle<Result<(), EsmError>>>,
}

/// Step 3: The real `mirror`, `validate` and `cutover` binaries behind the local Lambda API and one
/// event source mapping per topic feeding the mirror.
async fn start_runtime(demo: &Demo, args: &DemoArgs, bins: Binaries) -> anyhow::Result<Runtime> {
    let (suffix, table, logs) = (&demo.suffix, &demo.table, &demo.logs);
    let env: Vec<(String, String)> = vec![
        ("FERRY_TABLE".into(), table.clone()),
        (
            "FERRY_SOURCE_BOOTSTRAP".into(),
            demo.source.bootstrap_servers.clone(),
        ),
        (
            "FERRY_TARGET_BOOTSTRAP".into(),
            demo.target.bootstrap_servers.clone(),
        ),
        ("FERRY_TOPICS_INCLUDE".into(), format!("demo-.*-{suffix}")),
        ("FERRY_GROUPS_INCLUDE".into(), format!(".*-{suffix}")),
        ("FERRY_MIGRATION_ID".into(), demo.migration_id.clone()),
        ("FERRY_MIRROR_FUNCTION".into(), "mirror".into()),
        ("FERRY_SOURCE_QUIET_MS".into(), "3000".into()),
    ];
    let api = LambdaApiServer::bind_from_env().await.context(
        "cannot serve the local Lambda API (is another `ferry demo`/`ferry local` running?)",
    )?;
    let mut cutover_env = env.clone();
    cutover_env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), api.endpoint_url()));
    let hosts = [
        FunctionHost::new(function(
            "mirror",
            bins.mirror,
            &env,
            demo.names.len() * args.pollers as usize,
            &logs.join(format!("{table}-mirror.log")),
        ))?,
        FunctionHost::new(function(
            "validate",
            bins.validate,
            &env,
            2,
            &logs.join(format!("{table}-validate.log")),
        ))?,
        FunctionHost::new(function(
            "cutover",
            bins.cutover,
            &cutover_env,
            4,
            &logs.join(format!("{table}-cutover.log")),
        ))?,
    ];
    for h in &hosts {
        api.register_function(
            h.config().name.clone(),
            Arc::new(h.clone()) as Arc<dyn Invoker>,
        );
    }
    let mirror_invoker: Arc<dyn Invoker> = Arc::new(hosts[0].clone());
    let stop_mappings = CancellationToken::new();
    let mut mapping_tasks = Vec::new();
    for t in &demo.names {
        let mut c = EsmConfig::new(
            &demo.source.bootstrap_servers,
            t,
            format!("ferry-demo-{suffix}-{t}"),
            "mirror",
        );
        c.batch_size = args.batch_size as usize;
        c.batching_window = Duration::from_millis(100);
        c.pollers = args.pollers as usize;
        c.retry_initial_backoff = Duration::from_millis(50);
        c.retry_max_backoff = Duration::from_secs(2);
        let esm = EventSourceMapping::new(c, Arc::clone(&mirror_invoker))?;
        api.register_mapping(&esm);
        let token = stop_mappings.clone();
        mapping_tasks.push(tokio::spawn(async move { esm.run(token).await }));
    }
    eprintln!(
        "3. local runtime: mirror, validate and cutover behind the Lambda API at {}; {} event source mappings",
        api.endpoint_url(),
        demo.names.len()
    );
    Ok(Runtime {
        api,
        hosts,
        stop_mappings,
        mapping_tasks,
    })
}

impl Runtime {
    /// Stops the mappings, the Lambda API and the function hosts.
    async fn stop(self) {
        self.stop_mappings.cancel();
        for t in self.mapping_tasks {
            let _ = t.await;
        }
        self.api.shutdown();
        for h in &self.hosts {
            h.shutdown().await;
        }
    }
}

/// Step 4: Creates the cutover state machine on moto, starts the migration and follows it to the
/// end, approving the producer cutover at the gate (as `ferry cutover approve` would).
async fn run_cutover(
    demo: &Demo,
    store: &DynamoStateStore,
    apps: &Apps,
    t0: Instant,
    colors: bool,
) -> anyhow::Result<cutover::ExecutionInfo> {
    let migration_id = &demo.migration_id;
    let sfn = cutover::sfn_client().await;
    let machine =
        cutover::deploy_local(&sfn, cutover::LOCAL_STATE_MACHINE, "cutover", "validate").await?;
    let input = json!({
        "groups": demo.groups,
        "lag_threshold": 3000,
        "catch_up_wait_seconds": 2,
        "catch_up_max_checks": 90,
        "group_stop_wait_seconds": 1,
        "group_stop_max_checks": 60,
        "drain_wait_seconds": 2,
        "drain_max_checks": 60,
    });
    let execution = cutover::start(&sfn, &machine, migration_id, &input).await?;
    eprintln!(
        "4. cutover state machine started: migration {migration_id}\n   (execution {execution})"
    );

    let line = LiveLine::new();
    // On a terminal the line is redrawn in place every poll; in logs one line every 2 s.
    let every = if line.is_terminal() {
        Duration::ZERO
    } else {
        Duration::from_secs(2)
    };
    let mut approved = false;
    let mut last_phase = None;
    let mut last_line = Instant::now() - Duration::from_secs(10);
    let info = loop {
        let info = match cutover::describe(&sfn, &execution).await {
            Ok(info) => info,
            Err(err) => {
                line.finish();
                return Err(err);
            }
        };
        let state = apps.rx.borrow().clone();
        if let Some(s) = &state {
            if last_phase != Some(s.phase) {
                line.println(format!(
                    "   -> {}",
                    paint(&format!("phase {}", s.phase), Color::Bold, colors)
                ));
                last_phase = Some(s.phase);
            }
            if !approved && s.phase == Phase::AwaitingApproval && s.approval_token.is_some() {
                line.println(format!("   consumers moved; approving the producer cutover (as `ferry cutover approve {migration_id}` would)"));
                if let Err(err) = cutover::approve(&sfn, store, migration_id, "ferry demo").await {
                    line.finish();
                    return Err(err);
                }
                approved = true;
            }
        }
        if last_line.elapsed() >= every {
            line.set(format!(
                "   {}",
                progress_line(state.as_ref(), &apps.reports, &apps.producer_stats, t0)
            ));
            last_line = Instant::now();
        }
        if info.finished() {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    line.finish();
    if info.status == "SUCCEEDED" {
        eprintln!("   state machine SUCCEEDED; producers write to the target");
        tokio::time::sleep(AFTER_CUTOVER).await;
    } else {
        eprintln!(
            "   {}",
            paint(
                &format!(
                    "state machine {}: {} {}",
                    info.status,
                    info.error.clone().unwrap_or_default(),
                    info.cause.clone().unwrap_or_default()
                ),
                Color::Red,
                colors
            )
        );
    }
    Ok(info)
}

/// The checks, each a description and whether it passed: the state machine succeeded, the
/// producers moved (the source holds exactly preload + what was written before the release),
/// and every group read every record exactly once, in order, ending on the target.
async fn verify(
    demo: &Demo,
    apps: &Apps,
    info: &cutover::ExecutionInfo,
    produced: &BTreeMap<String, u64>,
) -> anyhow::Result<Vec<(String, bool)>> {
    let total_produced: u64 = produced.values().sum();
    let to_source: u64 = apps
        .producer_stats
        .iter()
        .map(|s| s.to_source.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    let to_target: u64 = apps
        .producer_stats
        .iter()
        .map(|s| s.to_target.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    let mut source_records: i64 = 0;
    for t in &demo.names {
        for p in 0..demo.partitions {
            let (low, high) = ferry_kafka::reader::watermarks(
                &demo.source,
                &ferry_core::TopicPartition::new(t, p),
            )
            .await?;
            source_records += high - low;
        }
    }
    let succeeded = info.status == "SUCCEEDED";
    let mut checks: Vec<(String, bool)> =
        vec![(format!("cutover state machine {}", info.status), succeeded)];
    checks.push((
        format!(
            "producers: {} records to the source, then {} to the target only (source holds {} = preload + live)",
            thousands(to_source as i64),
            thousands(to_target as i64),
            thousands(source_records)
        ),
        to_target > 0
            && source_records == (demo.per_topic * demo.names.len() as u64 + to_source) as i64,
    ));
    for (g, r) in &apps.reports {
        let r = r.lock().unwrap_or_else(PoisonError::into_inner);
        let consumed: u64 = r.consumed.values().sum();
        let complete = produced
            .iter()
            .all(|(t, n)| r.consumed.get(t).copied().unwrap_or(0) == *n);
        checks.push((
            format!(
                "group {g}: {} of {} records, {} from the source then {} from the target, {} gaps/duplicates{}",
                thousands(consumed as i64),
                thousands(total_produced as i64),
                thousands(r.from_source as i64),
                thousands(r.from_target as i64),
                r.violations.len(),
                r.violations.first().map_or(String::new(), |v| format!(" (first: {v})"))
            ),
            complete && r.violations.is_empty() && r.on == Some(Cluster::Target) && r.from_target > 0,
        ));
    }
    Ok(checks)
}
