//! `ferry local`: runs the local runtime (the real `mirror` binary behind the Lambda Runtime
//! API, one event source mapping per topic) until Ctrl-C, printing per-topic progress.
//!
//! Consumer groups are stable (`<group prefix>-<topic>`, default prefix `ferry-<table>`), so a
//! restart resumes from the committed source offsets, and DynamoDB progress makes any
//! redelivered records exactly-once anyway.

use crate::args::LocalArgs;
use crate::report::thousands;
use crate::runtime::{failure_note, log_file, mirror_bin, LocalRuntime, RuntimeOptions};
use crate::state;
use anyhow::Context as _;
use ferry_aws::DynamoStateStore;
use ferry_local::{FunctionHost, LogTarget, ScheduleRunner};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs until Ctrl-C (or a mapping fails).
pub async fn run(args: &LocalArgs) -> anyhow::Result<()> {
    let mirror_bin = mirror_bin(args.mirror_bin.as_ref())?;
    let source = args.clusters.source().await?;
    let client = ferry_aws::client_from_env().await;
    let setup = ferry_aws::ensure_table(&client, &args.table)
        .await
        .with_context(|| format!("cannot create or find DynamoDB table {}", args.table))?;
    if setup.created {
        eprintln!("created DynamoDB table {}", args.table);
    }
    let store = DynamoStateStore::new(client, args.table.clone());
    let topics = state::describe_topics(&source, &args.topics).await?;
    let tps = state::all_tps(&topics);
    let mirror_log = args
        .mirror_log
        .clone()
        .unwrap_or_else(|| log_file(&format!("ferry-local-{}-mirror", args.table)));
    let options = RuntimeOptions {
        mirror_bin,
        table: args.table.clone(),
        source_bootstrap: args.clusters.source_bootstrap.clone(),
        target_bootstrap: args.clusters.target_bootstrap.clone(),
        topics: args.topics.clone(),
        group_prefix: args
            .group_prefix
            .clone()
            .unwrap_or_else(|| format!("ferry-{}", args.table)),
        pollers: args.pollers as usize,
        batch_size: args.batch_size as usize,
        batching_window: Duration::from_millis(args.batching_window_ms),
        log: LogTarget::File(mirror_log.clone()),
    };
    eprintln!(
        "mirroring {} from {} to {} (table {}, {} pollers, batch size {}); mirror log: {}",
        args.topics.join(", "),
        args.clusters.source_bootstrap,
        args.clusters.target_bootstrap,
        args.table,
        args.pollers,
        args.batch_size,
        mirror_log.display()
    );
    eprintln!("press Ctrl-C to stop");

    // The Lambda API: moto's Step Functions runs the cutover state machine's tasks here, and
    // the cutover function disables the mappings here (`ferry cutover start ...`).
    let api = ferry_local::LambdaApiServer::bind_from_env()
        .await
        .context(
            "cannot serve the local Lambda API (is `ferry demo` or another `ferry local` running?)",
        )?;
    // The MSK API for the local target, as AWS serves it for an MSK cluster: the cutover's
    // preflight reads the target's broker storage through it, by the cluster's ARN.
    let msk = ferry_local::MskApiServer::bind_from_env().await.context(
        "cannot serve the local MSK API (is another `ferry local` running? FERRY_MSK_API sets its address)",
    )?;
    msk.register_cluster(local_target_cluster(&options.target_bootstrap));
    let mut runtime = LocalRuntime::start_with_api(&options, Some(&api))?;
    let task_hosts = host_cutover_functions(&options, &api, &msk)?;
    eprintln!(
        "MSK API on {}: the target is cluster {LOCAL_TARGET_ARN} ({LOCAL_TARGET_BROKERS} broker of {LOCAL_TARGET_VOLUME_GIB} GiB)",
        msk.endpoint_url()
    );
    eprintln!(
        "Lambda API on {} (functions: mirror{}); start a migration with `ferry cutover start <id> --table {}`",
        api.endpoint_url(),
        task_hosts.iter().map(|h| format!(", {}", h.config().name)).collect::<String>(),
        args.table
    );
    let stop_schedules = CancellationToken::new();
    let schedules = if args.schedules {
        start_schedules(&options, &stop_schedules)?
    } else {
        None
    };
    let discovery = if args.schedules {
        start_discovery(
            &options,
            args.discover_include.as_deref(),
            &api,
            &stop_schedules,
        )?
    } else {
        None
    };
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(args.interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let outcome = loop {
        tokio::select! {
            signal = &mut ctrl_c => {
                break signal.context("cannot listen for Ctrl-C");
            }
            _ = ticker.tick() => {
                if let Err(err) = runtime.check().await {
                    break Err(err);
                }
                match report(&source, &store, &tps, &runtime, started).await {
                    Ok(lines) => lines.iter().for_each(|l| eprintln!("{l}")),
                    Err(err) => eprintln!("progress unavailable: {err:#}"),
                }
            }
        }
    };
    eprintln!("stopping (in-flight batches finish first; Ctrl-C again to abort them) ...");
    let stopped = tokio::select! {
        stopped = runtime.stop() => stopped,
        _ = tokio::signal::ctrl_c() => {
            // Dropping the runtime kills the mirror processes; DynamoDB progress keeps the
            // aborted batches exactly-once when they are delivered again.
            anyhow::bail!("aborted: in-flight batches were interrupted and will be delivered again");
        }
    };
    stop_schedules.cancel();
    api.shutdown();
    for h in &task_hosts {
        h.shutdown().await;
    }
    for (topic, outcome) in api.stop_created_mappings().await {
        match outcome {
            Ok(()) => eprintln!("discovered mapping of {topic} stopped"),
            Err(err) => eprintln!("discovered mapping of {topic} failed: {err}"),
        }
    }
    if let Some((host, runner)) = discovery {
        runner.join().await;
        host.shutdown().await;
    }
    if let Some((host, runner)) = schedules {
        for (schedule, stats) in runner.join().await {
            eprintln!(
                "schedule {}: {} invocations, {} failed",
                schedule.rule_name, stats.invocations, stats.failures
            );
        }
        host.shutdown().await;
    }
    outcome?;
    let stopped = stopped?;
    let records: u64 = stopped.stats.iter().map(|(_, s)| s.records).sum();
    eprintln!(
        "stopped after {:.0} s: {} records delivered to the mirror",
        started.elapsed().as_secs_f64(),
        thousands(i64::try_from(records).unwrap_or(i64::MAX))
    );
    Ok(())
}

/// The ARN under which `ferry local` serves its target cluster on the local MSK API.
pub const LOCAL_TARGET_ARN: &str =
    "arn:aws:kafka:us-east-1:000000000000:cluster/ferry-local-target/00000000-0000-0000-0000-000000000001-1";
/// Brokers the local target cluster reports.
const LOCAL_TARGET_BROKERS: u32 = 1;
/// EBS volume per broker the local target cluster reports (the preflight sizes against it).
const LOCAL_TARGET_VOLUME_GIB: u32 = 100;

/// The local target as a Provisioned MSK cluster: its plaintext listener, topics through the
/// Kafka admin client.
fn local_target_cluster(target_bootstrap: &str) -> ferry_local::LocalCluster {
    use ferry_core::msk::{BootstrapBrokers, MskAuth};
    ferry_local::LocalCluster::provisioned(
        LOCAL_TARGET_ARN,
        LOCAL_TARGET_BROKERS,
        LOCAL_TARGET_VOLUME_GIB,
        BootstrapBrokers::default().with(MskAuth::Plaintext, target_bootstrap),
        ferry_kafka::KafkaTopicAdmin::new(
            ferry_kafka::KafkaConnection::plaintext(target_bootstrap),
            "target",
        ),
    )
}

/// Starts the SAM template's schedules for the `checkpoint` binary next to this `ferry`
/// binary (with the mirror's environment plus the source cluster, limited to the mirrored
/// topics); `None` if it is missing.
/// Hosts the state machine's task functions (`validate`, `cutover`, next to this binary) on the
/// Lambda API, limited to the topics mirrored here.
fn host_cutover_functions(
    options: &RuntimeOptions,
    api: &ferry_local::LambdaApiServer,
    msk: &ferry_local::MskApiServer,
) -> anyhow::Result<Vec<FunctionHost>> {
    let exe = std::env::current_exe()?;
    let include = options
        .topics
        .iter()
        .map(|t| t.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join(",");
    let mut hosts = Vec::new();
    for name in ["validate", "cutover"] {
        let bin = exe.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if !bin.is_file() {
            eprintln!(
                "{name} not hosted: {} not found (cargo build -p {name})",
                bin.display()
            );
            continue;
        }
        let mut config = options.function();
        config.name = name.to_owned();
        config.binary = bin;
        config.sandboxes = 2;
        config.log = LogTarget::File(log_file(&format!("ferry-local-{}-{name}", options.table)));
        config.env.extend([
            (
                "FERRY_SOURCE_BOOTSTRAP".to_owned(),
                options.source_bootstrap.clone(),
            ),
            ("FERRY_TOPICS_INCLUDE".to_owned(), include.clone()),
            ("AWS_ENDPOINT_URL_LAMBDA".to_owned(), api.endpoint_url()),
            ("AWS_ENDPOINT_URL_KAFKA".to_owned(), msk.endpoint_url()),
            (
                "FERRY_TARGET_MSK_CLUSTER_ARN".to_owned(),
                LOCAL_TARGET_ARN.to_owned(),
            ),
        ]);
        let host = FunctionHost::new(config)?;
        api.register_function(name, Arc::new(host.clone()));
        hosts.push(host);
    }
    Ok(hosts)
}

fn start_schedules(
    options: &RuntimeOptions,
    stop: &CancellationToken,
) -> anyhow::Result<Option<(Arc<FunctionHost>, ScheduleRunner)>> {
    const CHECKPOINT: &str = "checkpoint";
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name(format!("{CHECKPOINT}{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        eprintln!(
            "schedules off: {} not found (build it with `cargo build --release -p checkpoint`)",
            bin.display()
        );
        return Ok(None);
    }
    let schedules: Vec<_> =
        ferry_local::schedules_from_template(include_str!("../../infra/template.yaml"))?
            .into_iter()
            .filter(|s| s.function == CHECKPOINT)
            .collect();
    let mut config = options.function();
    config.name = CHECKPOINT.to_owned();
    config.binary = bin;
    config.env.push((
        "FERRY_SOURCE_BOOTSTRAP".to_owned(),
        options.source_bootstrap.clone(),
    ));
    // Only the topics mirrored here (topic names: `[a-zA-Z0-9._-]`, so `.` is the only
    // regex metacharacter).
    let include: Vec<String> = options
        .topics
        .iter()
        .map(|t| t.replace('.', r"\."))
        .collect();
    config
        .env
        .push(("FERRY_TOPICS_INCLUDE".to_owned(), include.join(",")));
    config.timeout = Duration::from_secs(120);
    config.sandboxes = 1;
    let log = log_file(&format!("ferry-local-{}-checkpoint", options.table));
    config.log = LogTarget::File(log.clone());
    let host = Arc::new(FunctionHost::new(config)?);
    let runner = ferry_local::run_schedules(schedules, host.clone(), stop.clone(), 1.0)?;
    for (s, _) in runner.stats() {
        eprintln!(
            "schedule {}: {} every {} s; log: {}",
            s.rule_name,
            s.function,
            s.every.as_secs(),
            log.display()
        );
    }
    Ok(Some((host, runner)))
}

/// Discovery on the template's schedule: the `discover` binary next to this one, creating the
/// mappings of new topics (`include`, else only the `--topics`) through the local Lambda API,
/// where they start in the ESM emulator with this runtime's pollers and retry settings. `None`
/// if the binary is missing.
fn start_discovery(
    options: &RuntimeOptions,
    include: Option<&str>,
    api: &ferry_local::LambdaApiServer,
    stop: &CancellationToken,
) -> anyhow::Result<Option<(Arc<FunctionHost>, ScheduleRunner)>> {
    const DISCOVER: &str = "discover";
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name(format!("{DISCOVER}{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        eprintln!(
            "discovery off: {} not found (cargo build -p discover)",
            bin.display()
        );
        return Ok(None);
    }
    let template = options.mapping("template");
    api.serve_mapping_creation(ferry_local::DefaultMappingFactory::new().with_hook(
        move |c: &mut ferry_local::EsmConfig| {
            c.pollers = template.pollers;
            c.retry_initial_backoff = template.retry_initial_backoff;
            c.retry_max_backoff = template.retry_max_backoff;
        },
    ));
    let schedules: Vec<_> =
        ferry_local::schedules_from_template(include_str!("../../infra/template.yaml"))?
            .into_iter()
            .filter(|s| s.function == DISCOVER)
            .collect();
    let topics = include.map(str::to_owned).unwrap_or_else(|| {
        options
            .topics
            .iter()
            .map(|t| t.replace('.', r"\."))
            .collect::<Vec<_>>()
            .join(",")
    });
    let mut config = options.function();
    config.name = DISCOVER.to_owned();
    config.binary = bin;
    config.sandboxes = 1;
    config.timeout = Duration::from_secs(120);
    config.env.extend([
        (
            "FERRY_SOURCE_BOOTSTRAP".to_owned(),
            options.source_bootstrap.clone(),
        ),
        ("FERRY_TOPICS_INCLUDE".to_owned(), topics.clone()),
        (
            "FERRY_MIRROR_FUNCTION".to_owned(),
            crate::runtime::MIRROR.to_owned(),
        ),
        ("AWS_ENDPOINT_URL_LAMBDA".to_owned(), api.endpoint_url()),
    ]);
    let log = log_file(&format!("ferry-local-{}-discover", options.table));
    config.log = LogTarget::File(log.clone());
    let host = Arc::new(FunctionHost::new(config)?);
    let runner = ferry_local::run_schedules(schedules, host.clone(), stop.clone(), 1.0)?;
    eprintln!(
        "discovery: topics matching {topics:?} get mappings and target partitions every 5 min; log: {}",
        log.display()
    );
    Ok(Some((host, runner)))
}

/// One progress line per topic.
async fn report(
    source: &ferry_kafka::KafkaConnection,
    store: &DynamoStateStore,
    tps: &[ferry_core::TopicPartition],
    runtime: &LocalRuntime,
    started: Instant,
) -> anyhow::Result<Vec<String>> {
    let offsets = state::offsets(source, tps).await?;
    let progress = state::progress(store, tps).await?;
    let states = state::combine(tps, &offsets, &progress);
    let stats = runtime.stats();
    let elapsed = started.elapsed().as_secs();
    let mut lines: Vec<String> = state::per_topic(&states)
        .iter()
        .map(|(topic, t)| {
            let s = stats.iter().find(|(name, _)| name == topic).map(|(_, s)| s);
            format!(
                "[{elapsed:>5}s] {topic}: mirrored {}/{}  lag {}  batches {}  failures {}",
                thousands(t.mirrored),
                thousands(t.total),
                thousands(t.lag),
                s.map_or(0, |s| s.batches),
                s.map_or(0, |s| s.failures),
            )
        })
        .collect();
    if let Some(note) = failure_note(&stats) {
        lines.push(format!("[{elapsed:>5}s] {note}"));
    }
    Ok(lines)
}
