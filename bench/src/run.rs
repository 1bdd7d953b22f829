//! `ferry-bench run`: the whole benchmark in one run on the local stack.
//!
//! Per workload, fresh source topics are filled (W1, W3: before the systems start, so they
//! mirror a backlog; W2: live, paced, after a warm-up) and every system copies them into its own
//! fresh target topics:
//!
//! | system | process(es) measured | target topic |
//! |---|---|---|
//! | `ferry` | `ferry-bench ferry-host` (ESM emulator + Runtime API host) + mirror sandboxes | `ferry.<topic>` (`FERRY_REPLICATION_POLICY=prefix:ferry`) |
//! | `mm2` | the MirrorMaker 2 JVM | `<topic>` (IdentityReplicationPolicy) |
//! | `pipe` | `ferry-bench pipe` | `pipe.<topic>` |
//! | `perf` | the `kafka-producer-perf-test` JVM (W1 only: target ingest limit) | `<run>-perf` |
//!
//! Throughput = records / (last − first record seen on the target), polled every 100 ms from
//! the target end offsets, so start-up (JVM, cold starts) is excluded and reported separately
//! as `wall_s`. Latency (W2) = the moment a consumer on the target reads a record − its
//! CreateTime set by the source producer. Peak RSS and CPU come from `/proc` (see `procs`).

use crate::ferry::FerryStats;
use crate::kafka::{self, Completion, Latency, ProduceSpec, VALUE_BYTES};
use crate::procs::{Sampler, Usage};
use crate::{mm2, proxy};
use anyhow::Context as _;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// AWS Lambda arm64 price per GB-second (us-east-1, first tier).
pub const LAMBDA_ARM_GB_S: f64 = 0.000_013_333_4;
/// AWS Lambda price per request.
pub const LAMBDA_REQUEST: f64 = 0.000_000_2;
/// Memory at which a Lambda function gets one full vCPU.
pub const LAMBDA_MB_PER_VCPU: f64 = 1769.0;

/// Options of a run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Scale of every workload (record counts, W2 duration); `--quick` = 0.1.
    #[arg(long, default_value = "1.0")]
    pub scale: f64,
    /// Smoke run at 10 % scale.
    #[arg(long)]
    pub quick: bool,
    /// Workloads to run (w1,w2,w3).
    #[arg(long, value_delimiter = ',', default_value = "w1,w2,w3")]
    pub workloads: Vec<String>,
    /// Systems to run (ferry,mm2,pipe,perf).
    #[arg(long, value_delimiter = ',', default_value = "ferry,mm2,pipe,perf")]
    pub systems: Vec<String>,
    /// Results folder.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Repository root (for scripts/stack and BENCHMARKS.md).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// The mirror binary (release build).
    #[arg(long)]
    pub mirror_bin: PathBuf,
    /// Source bootstrap servers.
    #[arg(
        long,
        env = "FERRY_SOURCE_BOOTSTRAP",
        default_value = "127.0.0.1:19092"
    )]
    pub source: String,
    /// Target bootstrap servers.
    #[arg(
        long,
        env = "FERRY_TARGET_BOOTSTRAP",
        default_value = "127.0.0.1:29092"
    )]
    pub target: String,
    /// moto endpoint.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub moto: String,
    /// Partitions of W1 and W2 topics.
    #[arg(long, default_value = "12")]
    pub partitions: i32,
    /// W1 records (before scaling).
    #[arg(long, default_value = "2000000")]
    pub w1_records: u64,
    /// W2 rate, records/s.
    #[arg(long, default_value = "5000")]
    pub w2_rate: f64,
    /// W2 duration, s (before scaling; at least 10 s).
    #[arg(long, default_value = "60")]
    pub w2_seconds: f64,
    /// W3 topics (1 partition each).
    #[arg(long, default_value = "100")]
    pub w3_topics: usize,
    /// W3 records in total (before scaling).
    #[arg(long, default_value = "500000")]
    pub w3_records: u64,
    /// W1 rounds: Ferry, MM2 and the pipe each copy the W1 topic this many times, interleaved
    /// (ferry, mm2, pipe, ferry, ...); ratios use each system's median. Single runs of the same
    /// set-up varied by up to 1.7× on this 2-core machine.
    #[arg(long, default_value = "3")]
    pub w1_rounds: u32,
    /// Ferry: pollers per mapping for the backfill (W1). Default 12 = one per partition, the
    /// concurrency Lambda's Kafka event source mapping scales a topic with a large lag to.
    #[arg(long, default_value = "12")]
    pub ferry_pollers: usize,
    /// Ferry: pollers per mapping for the steady stream (W2). Default 4: the mapping scales
    /// pollers with the offset lag, and a 5k records/s stream keeps almost none (measured: 4
    /// pollers gave p50/p99 255/1094 ms, 12 gave 671/2521 ms, every extra concurrent batch
    /// adding a state-store call).
    #[arg(long, default_value = "4")]
    pub ferry_w2_pollers: usize,
    /// Ferry: BatchSize.
    #[arg(long, default_value = "10000")]
    pub ferry_batch_size: usize,
    /// Ferry: batching window, ms.
    #[arg(long, default_value = "20")]
    pub ferry_window_ms: u64,
    /// Target producer `compression.type` of every system (Ferry: FERRY_TARGET_COMPRESSION).
    #[arg(long, default_value = "lz4")]
    pub compression: String,
    /// Ferry: fencing of stale writers (FERRY_TARGET_FENCING): `transactions` (default, one
    /// transactional producer per target partition) or `none` (idempotent producer).
    #[arg(long, default_value = "transactions")]
    pub ferry_fencing: String,
    /// Ferry: the mirror's warm-sandbox progress cache (FERRY_PROGRESS_CACHE; `false` = read
    /// progress every batch, as before session 3).
    #[arg(long, default_value = "true", action = clap::ArgAction::Set)]
    pub ferry_progress_cache: bool,
    /// Ferry: glibc `MALLOC_ARENA_MAX` of the sandboxes and the host (0 = glibc's default,
    /// 8 arenas per core). Default 2, as the SAM template sets it for the mirror function.
    #[arg(long, default_value = "2")]
    pub ferry_malloc_arena_max: u32,
    /// Ferry: ESM emulator prefetch per poller, KiB (`queued.max.messages.kbytes`; 0 = the
    /// emulator's default).
    #[arg(long, default_value = "0")]
    pub ferry_prefetch_kib: u32,
    /// Ferry: memory size, MB (cost estimate).
    #[arg(long, default_value = "512")]
    pub ferry_memory_mb: u32,
    /// Ferry (W3) sandboxes and MM2 (W3) tasks: concurrency for the many-topics workload.
    #[arg(long, default_value = "12")]
    pub w3_concurrency: usize,
    /// MM2 / perf tool JVM heap.
    #[arg(long, default_value = "-Xms256m -Xmx1g")]
    pub jvm_heap: String,
    /// Do not update BENCHMARKS.md even at full scale.
    #[arg(long)]
    pub no_doc: bool,
}

/// One system on one workload.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemResult {
    /// `w1`, `w2`, `w3`.
    pub workload: String,
    /// Round of the workload (1-based; W1 runs `--w1-rounds` rounds).
    pub round: u32,
    /// `ferry`, `mm2`, `pipe`, `perf`.
    pub system: String,
    /// Records mirrored (or produced, for perf).
    pub records: i64,
    /// Whether every record arrived.
    pub complete: bool,
    /// Records per second (first → last record on the target; W2: the offered rate).
    pub records_per_s: f64,
    /// MB/s of key + value bytes (10^6).
    pub mb_per_s: f64,
    /// Seconds from start of the system to the last record (start-up included).
    pub wall_s: f64,
    /// End-to-end latency (W2; W1/W3: none).
    pub latency: Option<Latency>,
    /// Resources of the system's processes.
    pub usage: Usage,
    /// CPU seconds per GB (10^9 bytes of key + value).
    pub cpu_s_per_gb: f64,
    /// Ferry only: runtime counters, DynamoDB calls and cost.
    pub ferry: Option<FerryExtra>,
    /// perf only: the tool's own summary line.
    pub perf_summary: Option<String>,
}

/// Ferry's extra figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FerryExtra {
    /// Counters from the runtime.
    pub stats: FerryStats,
    /// DynamoDB (and other AWS) calls by operation.
    pub aws_calls: std::collections::BTreeMap<String, u64>,
    /// DynamoDB calls per invocation.
    pub dynamodb_calls_per_batch: f64,
    /// Records per invocation.
    pub records_per_batch: f64,
    /// CPU seconds of the sandboxes (the part Lambda would run).
    pub sandbox_cpu_s: f64,
    /// CPU and RSS of moto during the run (not counted in Ferry's figures).
    pub moto: Usage,
    /// Billed GB-s per GB mirrored: max(measured invocation time, sandbox CPU at the memory
    /// size's vCPU share) × memory.
    pub gb_s_per_gb: f64,
    /// Estimated Lambda $ per TB mirrored (arm64 compute + requests).
    pub lambda_usd_per_tb: f64,
    /// Mean milliseconds per successful batch, from the mirror's `batch mirrored` log lines.
    pub phases: BatchPhases,
}

/// Where a successful batch's time went inside the mirror handler (means, milliseconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchPhases {
    /// Batches counted.
    pub batches: u64,
    /// Whole handler.
    pub duration_ms: f64,
    /// Progress: cache check, read, initialisation.
    pub progress_ms: f64,
    /// Partitions mirrored: end offsets, produce, delivery reports.
    pub produce_ms: f64,
    /// Conditional progress commit.
    pub commit_ms: f64,
}

impl BatchPhases {
    /// Averages the `batch mirrored` JSON log lines of the mirror's log.
    fn from_log(text: &str) -> Self {
        let mut p = Self::default();
        for line in text.lines().filter(|l| l.contains("\"batch mirrored\"")) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let f = |k: &str| v["fields"][k].as_f64().unwrap_or(0.0);
            p.batches += 1;
            p.duration_ms += f("duration_ms");
            p.progress_ms += f("progress_ms");
            p.produce_ms += f("produce_ms");
            p.commit_ms += f("commit_ms");
        }
        let n = p.batches.max(1) as f64;
        p.duration_ms /= n;
        p.progress_ms /= n;
        p.produce_ms /= n;
        p.commit_ms /= n;
        p
    }
}

/// The JSON document of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Run id (topic prefix).
    pub run: String,
    /// Unix seconds.
    pub started_unix: u64,
    /// Scale factor.
    pub scale: f64,
    /// Machine facts.
    pub machine: String,
    /// Settings used.
    pub settings: serde_json::Value,
    /// Every measurement.
    pub results: Vec<SystemResult>,
    /// Ratios against the targets.
    pub ratios: serde_json::Value,
}

struct Ctx {
    args: RunArgs,
    scale: f64,
    run: String,
    out: PathBuf,
    self_exe: PathBuf,
    proxy_url: String,
    proxy_counts: proxy::Counts,
}

fn bytes_per_record() -> f64 {
    // key "<prefix><n>" is ~8 bytes; value 1 KiB.
    VALUE_BYTES as f64 + 8.0
}

/// Runs the benchmark.
pub async fn run(mut args: RunArgs) -> anyhow::Result<()> {
    if args.quick {
        args.scale = 0.1;
    }
    let scale = args.scale;
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let run = format!("fb{}", started_unix % 100_000_000);
    let out = args.out.join(&run);
    std::fs::create_dir_all(&out)?;
    let (proxy_url, proxy_counts) = proxy::start(&args.moto).await?;
    let ctx = Ctx {
        scale,
        run: run.clone(),
        out: out.clone(),
        self_exe: std::env::current_exe()?,
        proxy_url,
        proxy_counts,
        args: args.clone(),
    };
    eprintln!(
        "ferry-bench {run}: scale {scale}, workloads {:?}, systems {:?}; logs under {}",
        args.workloads,
        args.systems,
        out.display()
    );
    let mut results = Vec::new();
    let mut created_source: Vec<String> = Vec::new();
    let outcome = async {
        for w in &args.workloads {
            match w.as_str() {
                "w1" => w1(&ctx, &mut results, &mut created_source).await?,
                "w2" => w2(&ctx, &mut results, &mut created_source).await?,
                "w3" => w3(&ctx, &mut results, &mut created_source).await?,
                other => anyhow::bail!("unknown workload {other}"),
            }
        }
        anyhow::Ok(())
    }
    .await;
    // Clean up: source topics and anything left with the run id on either cluster.
    eprintln!("cleaning up topics of {run} ...");
    kafka::delete_topics(&args.source, &created_source)
        .await
        .ok();
    for b in [&args.source, &args.target] {
        if let Ok(left) = kafka::list_topics(b, &run) {
            kafka::delete_topics(b, &left).await.ok();
        }
    }
    match kafka::delete_groups(&args.source, &run).await {
        Ok(n) => eprintln!("deleted {n} consumer groups of {run} on the source"),
        Err(e) => eprintln!("warning: cannot delete the consumer groups of {run}: {e:#}"),
    }
    if let Err(e) = &outcome {
        eprintln!("run failed: {e:#}; writing the partial report");
    }
    let report = Report {
        run: run.clone(),
        started_unix,
        scale,
        machine: machine(),
        settings: serde_json::json!({
            "partitions": args.partitions,
            "w1_records": scaled(args.w1_records, scale),
            "w2_rate": args.w2_rate,
            "w2_seconds": w2_seconds(&args, scale),
            "w3_topics": args.w3_topics,
            "w3_records": scaled(args.w3_records, scale),
            "value_bytes": VALUE_BYTES,
            "ferry": {"pollers": args.ferry_pollers, "w2_pollers": args.ferry_w2_pollers, "batch_size": args.ferry_batch_size,
                      "window_ms": args.ferry_window_ms, "memory_mb": args.ferry_memory_mb,
                      "w3_sandboxes": args.w3_concurrency, "progress_cache": args.ferry_progress_cache, "fencing": args.ferry_fencing,
                      "malloc_arena_max": args.ferry_malloc_arena_max, "prefetch_kib": args.ferry_prefetch_kib},
            "mm2": {"tasks_max": "partitions (W3: w3_concurrency)", "heap": args.jvm_heap,
                    "producer": format!("linger.ms=5 batch.size=262144 acks=all compression={}", args.compression),
                    "consumer": "max.poll.records=2000"},
            "pipe": {"producer": format!("linger.ms=5 batch.size=1000000 acks=all compression={}", args.compression)},
            "perf": {"producer": format!("linger.ms=5 batch.size=262144 acks=all compression={}", args.compression), "heap": args.jvm_heap},
            "compression": args.compression,
            "lambda_arm64_usd_per_gb_s": LAMBDA_ARM_GB_S,
            "lambda_usd_per_request": LAMBDA_REQUEST,
        }),
        ratios: ratios(&results),
        results,
    };
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(out.join("report.json"), &json)?;
    std::fs::write(args.out.join("latest.json"), &json)?;
    let table = table(&report);
    println!("{table}");
    std::fs::write(out.join("table.txt"), &table)?;
    if scale >= 1.0 && !args.no_doc && outcome.is_ok() {
        update_doc(&args.root.join("BENCHMARKS.md"), &report, &table)?;
    }
    eprintln!("report: {}", out.join("report.json").display());
    outcome
}

fn scaled(n: u64, scale: f64) -> u64 {
    ((n as f64 * scale).round() as u64).max(1)
}

fn w2_seconds(args: &RunArgs, scale: f64) -> f64 {
    (args.w2_seconds * scale).max(10.0)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpus} CPUs ({model}); load average at start: {}",
        load.trim()
    )
}

fn wants(ctx: &Ctx, system: &str) -> bool {
    ctx.args.systems.iter().any(|s| s == system)
}

/// How a system's target is named.
fn target_name(system: &str, topic: &str) -> String {
    match system {
        "ferry" => format!("ferry.{topic}"),
        "pipe" => format!("pipe.{topic}"),
        _ => topic.to_owned(),
    }
}

async fn produce_blocking(spec: ProduceSpec) -> anyhow::Result<Duration> {
    tokio::task::spawn_blocking(move || kafka::produce(&spec)).await?
}

async fn w1(
    ctx: &Ctx,
    results: &mut Vec<SystemResult>,
    created: &mut Vec<String>,
) -> anyhow::Result<()> {
    let a = &ctx.args;
    let n = scaled(a.w1_records, ctx.scale);
    let topic = format!("{}-w1", ctx.run);
    eprintln!(
        "== W1: {n} x 1 KiB over {} partitions (backlog) ==",
        a.partitions
    );
    kafka::create_topics(&a.source, std::slice::from_ref(&topic), a.partitions).await?;
    created.push(topic.clone());
    let took = produce_blocking(ProduceSpec {
        bootstrap: a.source.clone(),
        topics: vec![topic.clone()],
        partitions: a.partitions,
        records: n,
        rate: None,
        key_prefix: "m",
    })
    .await?;
    eprintln!("  produced to the source in {:.1} s", took.as_secs_f64());
    let rounds = a.w1_rounds.max(1);
    for round in 1..=rounds {
        if rounds > 1 {
            eprintln!("  -- round {round}/{rounds}");
        }
        // Names (logs, groups, MM2 alias, state table) per round, so each round starts fresh.
        let label = if round == 1 {
            "w1".to_owned()
        } else {
            format!("w1r{round}")
        };
        for system in ["ferry", "mm2", "pipe"] {
            if wants(ctx, system) {
                let mut r = bulk(
                    ctx,
                    &label,
                    system,
                    std::slice::from_ref(&topic),
                    a.partitions,
                    n,
                    a.partitions as usize,
                )
                .await?;
                r.workload = "w1".to_owned();
                r.round = round;
                print_one(&r);
                results.push(r);
            }
        }
    }
    if wants(ctx, "perf") {
        let r = perf(ctx, n).await?;
        print_one(&r);
        results.push(r);
    }
    Ok(())
}

async fn w3(
    ctx: &Ctx,
    results: &mut Vec<SystemResult>,
    created: &mut Vec<String>,
) -> anyhow::Result<()> {
    let a = &ctx.args;
    let n = scaled(a.w3_records, ctx.scale);
    let topics: Vec<String> = (0..a.w3_topics)
        .map(|i| format!("{}-w3-{i:03}", ctx.run))
        .collect();
    eprintln!(
        "== W3: {n} x 1 KiB over {} topics x 1 partition (backlog) ==",
        topics.len()
    );
    kafka::create_topics(&a.source, &topics, 1).await?;
    created.extend(topics.iter().cloned());
    let took = produce_blocking(ProduceSpec {
        bootstrap: a.source.clone(),
        topics: topics.clone(),
        partitions: 1,
        records: n,
        rate: None,
        key_prefix: "m",
    })
    .await?;
    eprintln!("  produced to the source in {:.1} s", took.as_secs_f64());
    for system in ["ferry", "mm2", "pipe"] {
        if wants(ctx, system) {
            let r = bulk(ctx, "w3", system, &topics, 1, n, a.w3_concurrency).await?;
            print_one(&r);
            results.push(r);
        }
    }
    Ok(())
}

async fn w2(
    ctx: &Ctx,
    results: &mut Vec<SystemResult>,
    created: &mut Vec<String>,
) -> anyhow::Result<()> {
    let a = &ctx.args;
    let seconds = w2_seconds(a, ctx.scale);
    let n = (a.w2_rate * seconds).round() as u64;
    eprintln!(
        "== W2: {} records/s for {seconds:.0} s over {} partitions (latency) ==",
        a.w2_rate, a.partitions
    );
    for system in ["ferry", "mm2", "pipe"] {
        if !wants(ctx, system) {
            continue;
        }
        let topic = format!("{}-w2-{system}", ctx.run);
        kafka::create_topics(&a.source, std::slice::from_ref(&topic), a.partitions).await?;
        created.push(topic.clone());
        let r = paced(ctx, system, &topic, n, seconds).await?;
        print_one(&r);
        results.push(r);
    }
    Ok(())
}

/// A started system under test.
struct Running {
    child: Child,
    sampler: Sampler,
    moto: Option<Sampler>,
    started: Instant,
    table: Option<String>,
    stats_out: PathBuf,
    mirror_log: Option<PathBuf>,
}

async fn start_system(
    ctx: &Ctx,
    workload: &str,
    system: &str,
    sources: &[String],
    partitions: i32,
    concurrency: usize,
) -> anyhow::Result<Running> {
    let a = &ctx.args;
    let tag = format!("{workload}-{system}");
    let log = std::fs::File::create(ctx.out.join(format!("{tag}.log")))?;
    let stats_out = ctx.out.join(format!("{tag}-stats.json"));
    let mut table = None;
    let mut cmd;
    match system {
        "ferry" => {
            let t = format!("{}-{workload}", ctx.run);
            let client = ferry_aws::client_from_env().await;
            ferry_aws::ensure_table(&client, &t)
                .await
                .with_context(|| format!("cannot create table {t}"))?;
            table = Some(t.clone());
            ctx.proxy_counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            let many = sources.len() > 1;
            cmd = Command::new(&ctx.self_exe);
            cmd.arg("ferry-host")
                .arg("--mirror-bin")
                .arg(&a.mirror_bin)
                .args(["--table", t.as_str(), "--source", a.source.as_str()])
                .args(["--target", a.target.as_str()])
                .arg("--topics")
                .arg(sources.join(","))
                .arg("--group-prefix")
                .arg(format!("{}-{workload}", ctx.run))
                .arg("--pollers")
                .arg(
                    (if many {
                        1
                    } else if workload == "w2" {
                        a.ferry_w2_pollers
                    } else {
                        a.ferry_pollers
                    })
                    .to_string(),
                )
                .arg("--batch-size")
                .arg(a.ferry_batch_size.to_string())
                .arg("--window-ms")
                .arg(a.ferry_window_ms.to_string())
                .arg("--sandboxes")
                .arg((if many { concurrency } else { 0 }).to_string())
                .arg("--memory-mb")
                .arg(a.ferry_memory_mb.to_string())
                .arg("--malloc-arena-max")
                .arg(a.ferry_malloc_arena_max.to_string())
                .arg("--prefetch-kib")
                .arg(a.ferry_prefetch_kib.to_string())
                .arg("--stats-out")
                .arg(&stats_out)
                .arg("--mirror-log")
                .arg(ctx.out.join(format!("{tag}-mirror.log")))
                .env("AWS_ENDPOINT_URL", &ctx.proxy_url)
                .env("FERRY_REPLICATION_POLICY", "prefix:ferry")
                .env("FERRY_TARGET_COMPRESSION", &a.compression)
                .env("FERRY_PROGRESS_CACHE", a.ferry_progress_cache.to_string())
                .env("FERRY_TARGET_FENCING", &a.ferry_fencing);
            if a.ferry_malloc_arena_max > 0 {
                cmd.env("MALLOC_ARENA_MAX", a.ferry_malloc_arena_max.to_string());
            }
        }
        "mm2" => {
            let props = ctx.out.join(format!("{tag}.properties"));
            let alias = format!("{}{workload}", ctx.run);
            std::fs::write(
                &props,
                mm2::properties(
                    &alias,
                    &a.source,
                    &a.target,
                    sources,
                    concurrency,
                    &a.compression,
                ),
            )?;
            cmd = Command::new(a.root.join("scripts/stack"));
            cmd.args(["kafka", "mirror-maker"])
                .arg(&props)
                .env("FERRY_TOOL_HEAP", &a.jvm_heap);
        }
        "pipe" => {
            cmd = Command::new(&ctx.self_exe);
            cmd.arg("pipe")
                .args(["--source", a.source.as_str(), "--target", a.target.as_str()])
                .arg("--topics")
                .arg(sources.join(","))
                .arg("--partitions")
                .arg(partitions.to_string())
                .arg("--compression")
                .arg(&a.compression);
        }
        other => anyhow::bail!("unknown system {other}"),
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let moto = if system == "ferry" {
        moto_pid(&a.root).map(Sampler::start)
    } else {
        None
    };
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {system}"))?;
    let sampler = Sampler::start(child.id());
    Ok(Running {
        child,
        sampler,
        moto,
        started: Instant::now(),
        table,
        stats_out,
        mirror_log: (system == "ferry").then(|| ctx.out.join(format!("{tag}-mirror.log"))),
    })
}

fn moto_pid(root: &Path) -> Option<u32> {
    std::fs::read_to_string(root.join(".ferry/stack/moto.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Stops the system (SIGTERM, then SIGKILL after 40 s).
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("  {} did not stop within 40 s: SIGKILL", child.id());
    let _ = child.kill();
    let _ = child.wait();
}

async fn finish(
    ctx: &Ctx,
    system: &str,
    mut running: Running,
    targets: &[String],
    records: i64,
) -> anyhow::Result<(Usage, Option<FerryExtra>)> {
    let usage = running.sampler.finish();
    let moto = running.moto.map(Sampler::finish);
    let child = tokio::task::spawn_blocking(move || {
        stop(&mut running.child);
        running.child
    });
    let _ = child.await;
    let mut extra = None;
    if system == "ferry" {
        let stats: FerryStats = std::fs::read(&running.stats_out)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let calls = ctx
            .proxy_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let dynamo: u64 = calls
            .iter()
            .filter(|(k, _)| k.starts_with("DynamoDB"))
            .map(|(_, v)| v)
            .sum();
        let batches = stats.invocations.max(1) as f64;
        // The host process itself (ESM + Runtime API) is not Lambda; the sandboxes are.
        let sandbox_cpu = (usage.cpu_seconds - usage.root_cpu_seconds).max(0.0);
        let mem_gb = f64::from(stats.memory_mb) / 1024.0;
        let vcpu = f64::from(stats.memory_mb) / LAMBDA_MB_PER_VCPU;
        let billed_s = stats.invoke_seconds.max(sandbox_cpu / vcpu.min(1.0));
        let gb = records as f64 * bytes_per_record() / 1e9;
        let usd = billed_s * mem_gb * LAMBDA_ARM_GB_S + stats.invocations as f64 * LAMBDA_REQUEST;
        extra = Some(FerryExtra {
            dynamodb_calls_per_batch: dynamo as f64 / batches,
            records_per_batch: stats.records as f64 / batches,
            sandbox_cpu_s: sandbox_cpu,
            moto: moto.unwrap_or_default(),
            gb_s_per_gb: billed_s * mem_gb / gb.max(1e-9),
            lambda_usd_per_tb: usd / gb.max(1e-9) * 1000.0,
            phases: running
                .mirror_log
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| BatchPhases::from_log(&t))
                .unwrap_or_default(),
            aws_calls: calls,
            stats,
        });
    }
    if let Some(t) = &running.table {
        let client = ferry_aws::client_from_env().await;
        let _ = client.delete_table().table_name(t).send().await;
    }
    kafka::delete_topics(&ctx.args.target, targets).await.ok();
    Ok((usage, extra))
}

async fn bulk(
    ctx: &Ctx,
    workload: &str,
    system: &str,
    sources: &[String],
    partitions: i32,
    expected: u64,
    concurrency: usize,
) -> anyhow::Result<SystemResult> {
    let a = &ctx.args;
    eprintln!("  {system}: starting");
    let targets: Vec<String> = sources.iter().map(|t| target_name(system, t)).collect();
    kafka::create_topics(&a.target, &targets, partitions).await?;
    let running = start_system(ctx, workload, system, sources, partitions, concurrency).await?;
    let started = running.started;
    let (target, t2, exp) = (a.target.clone(), targets.clone(), expected as i64);
    let timeout = Duration::from_secs(120 + (expected / 5_000));
    let completion: Completion = tokio::task::spawn_blocking(move || {
        kafka::watch_completion(
            &target,
            &t2,
            partitions,
            exp,
            started,
            timeout,
            Duration::from_millis(100),
        )
    })
    .await??;
    let (usage, ferry) = finish(ctx, system, running, &targets, completion.records).await?;
    let transfer = (completion.done_s - completion.first_s).max(0.1);
    let rps = completion.records as f64 / transfer;
    if !completion.complete {
        eprintln!(
            "  {system}: INCOMPLETE: {}/{expected} records within the timeout",
            completion.records
        );
    }
    Ok(SystemResult {
        round: 1,
        workload: workload.to_owned(),
        system: system.to_owned(),
        records: completion.records,
        complete: completion.complete,
        records_per_s: rps,
        mb_per_s: rps * bytes_per_record() / 1e6,
        wall_s: completion.done_s,
        latency: None,
        cpu_s_per_gb: usage.cpu_seconds
            / (completion.records as f64 * bytes_per_record() / 1e9).max(1e-9),
        usage,
        ferry,
        perf_summary: None,
    })
}

async fn paced(
    ctx: &Ctx,
    system: &str,
    topic: &str,
    expected: u64,
    seconds: f64,
) -> anyhow::Result<SystemResult> {
    let a = &ctx.args;
    eprintln!("  {system}: starting");
    let sources = vec![topic.to_owned()];
    let targets = vec![target_name(system, topic)];
    kafka::create_topics(&a.target, &targets, a.partitions).await?;
    let running = start_system(
        ctx,
        "w2",
        system,
        &sources,
        a.partitions,
        a.partitions as usize,
    )
    .await?;
    let warm_n = 4 * a.partitions as u64;
    let (warm_tx, warm_rx) = std::sync::mpsc::channel();
    let (target, t2, partitions) = (a.target.clone(), targets.clone(), a.partitions);
    let timeout = Duration::from_secs_f64(seconds + 180.0);
    let measure = tokio::task::spawn_blocking(move || {
        kafka::measure_latency(&target, &t2, partitions, expected, warm_n, warm_tx, timeout)
    });
    // Warm-up: a few records per partition, wait until they are on the target (cold starts,
    // JVM start-up and MM2 task assignment happen here, outside the measurement).
    produce_blocking(ProduceSpec {
        bootstrap: a.source.clone(),
        topics: sources.clone(),
        partitions: a.partitions,
        records: warm_n,
        rate: None,
        key_prefix: "w",
    })
    .await?;
    let warmed =
        tokio::task::spawn_blocking(move || warm_rx.recv_timeout(Duration::from_secs(180))).await?;
    if warmed.is_err() {
        eprintln!("  {system}: warm-up records did not arrive within 180 s");
    }
    let warm_s = running.started.elapsed().as_secs_f64();
    eprintln!(
        "  {system}: warm after {warm_s:.1} s; producing {expected} records at {} /s",
        a.w2_rate
    );
    let spec = ProduceSpec {
        bootstrap: a.source.clone(),
        topics: sources.clone(),
        partitions: a.partitions,
        records: expected,
        rate: Some(a.w2_rate),
        key_prefix: "m",
    };
    let produced = produce_blocking(spec).await?;
    let latency = measure.await??;
    let done_s = running.started.elapsed().as_secs_f64();
    let (usage, ferry) = finish(ctx, system, running, &targets, latency.records as i64).await?;
    let gb = latency.records as f64 * bytes_per_record() / 1e9;
    Ok(SystemResult {
        round: 1,
        workload: "w2".to_owned(),
        system: system.to_owned(),
        records: latency.records as i64,
        complete: latency.records >= expected,
        records_per_s: latency.records as f64 / produced.as_secs_f64().max(1e-3),
        mb_per_s: latency.records as f64 * bytes_per_record()
            / 1e6
            / produced.as_secs_f64().max(1e-3),
        wall_s: done_s,
        latency: Some(latency),
        cpu_s_per_gb: usage.cpu_seconds / gb.max(1e-9),
        usage,
        ferry,
        perf_summary: None,
    })
}

async fn perf(ctx: &Ctx, n: u64) -> anyhow::Result<SystemResult> {
    let a = &ctx.args;
    eprintln!("  perf: kafka-producer-perf-test against the target");
    let topic = format!("{}-perf", ctx.run);
    kafka::create_topics(&a.target, std::slice::from_ref(&topic), a.partitions).await?;
    let log = ctx.out.join("w1-perf.log");
    let mut cmd = Command::new(a.root.join("scripts/stack"));
    cmd.args(["kafka", "producer-perf-test", "--topic", topic.as_str()])
        .arg("--num-records")
        .arg(n.to_string())
        .arg("--record-size")
        .arg(VALUE_BYTES.to_string())
        .args(["--throughput", "-1", "--producer-props"])
        .arg(format!("bootstrap.servers={}", a.target))
        .args(["acks=all", "linger.ms=5", "batch.size=262144"])
        .arg(format!("compression.type={}", a.compression))
        .env("FERRY_TOOL_HEAP", &a.jvm_heap)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .context("cannot start kafka-producer-perf-test")?;
    let sampler = Sampler::start(child.id());
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    let wall = started.elapsed().as_secs_f64();
    let usage = sampler.finish();
    kafka::delete_topics(&a.target, std::slice::from_ref(&topic))
        .await
        .ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains("records sent"))
        .map(str::to_owned);
    if !status.success() || summary.is_none() {
        anyhow::bail!(
            "kafka-producer-perf-test failed ({status}); log: {}",
            log.display()
        );
    }
    let summary = summary.unwrap_or_default();
    // "2000000 records sent, 123456.7 records/sec (120.56 MB/sec), ..."
    let rps = summary
        .split(',')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0);
    Ok(SystemResult {
        round: 1,
        workload: "w1".to_owned(),
        system: "perf".to_owned(),
        records: n as i64,
        complete: true,
        records_per_s: rps,
        mb_per_s: rps * VALUE_BYTES as f64 / 1e6,
        wall_s: wall,
        latency: None,
        cpu_s_per_gb: usage.cpu_seconds / (n as f64 * VALUE_BYTES as f64 / 1e9),
        usage,
        ferry: None,
        perf_summary: Some(summary),
    })
}

fn print_one(r: &SystemResult) {
    eprintln!(
        "  {}: {} records, {:.0} rec/s, {:.1} MB/s, peak RSS {:.0} MB, CPU {:.1} s ({:.1} s/GB){}",
        r.system,
        r.records,
        r.records_per_s,
        r.mb_per_s,
        r.usage.peak_rss_bytes as f64 / 1e6,
        r.usage.cpu_seconds,
        r.cpu_s_per_gb,
        r.latency
            .as_ref()
            .map(|l| format!(", p50 {:.0} ms, p99 {:.0} ms", l.p50_ms, l.p99_ms))
            .unwrap_or_default()
    );
}

/// The median of `f` over every round of system `s` on workload `w` (upper median for an even
/// count).
fn median(rs: &[SystemResult], w: &str, s: &str, f: fn(&SystemResult) -> f64) -> Option<f64> {
    let mut v: Vec<f64> = rs
        .iter()
        .filter(|r| r.workload == w && r.system == s)
        .map(f)
        .collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn ratios(rs: &[SystemResult]) -> serde_json::Value {
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let get = |w: &str, s: &str, f: fn(&SystemResult) -> f64| median(rs, w, s, f);
    let rps = |r: &SystemResult| r.records_per_s;
    let p99 = |r: &SystemResult| r.latency.as_ref().map_or(0.0, |l| l.p99_ms);
    let rss = |r: &SystemResult| r.usage.peak_rss_bytes as f64;
    let cpu = |r: &SystemResult| r.cpu_s_per_gb;
    serde_json::json!({
        "ferry_mm2_w1_records_per_s": ratio(get("w1","ferry",rps), get("w1","mm2",rps)),
        "ferry_pipe_w1_records_per_s": ratio(get("w1","ferry",rps), get("w1","pipe",rps)),
        "ferry_mm2_w2_p99": ratio(get("w2","ferry",p99), get("w2","mm2",p99)),
        "ferry_mm2_w1_peak_rss": ratio(get("w1","ferry",rss), get("w1","mm2",rss)),
        "ferry_mm2_w1_cpu_s_per_gb": ratio(get("w1","ferry",cpu), get("w1","mm2",cpu)),
        "ferry_mm2_w3_records_per_s": ratio(get("w3","ferry",rps), get("w3","mm2",rps)),
        "targets": {
            "ferry_mm2_w1_records_per_s": ">= 2.0",
            "ferry_pipe_w1_records_per_s": ">= 0.8",
            "ferry_mm2_w2_p99": "<= 1.0",
            "ferry_mm2_w1_peak_rss": "<= 0.25",
            "ferry_mm2_w1_cpu_s_per_gb": "<= 0.333"
        }
    })
}

/// The results table (Markdown).
pub fn table(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| workload | system | records | records/s | MB/s | p50 ms | p99 ms | peak RSS MB | CPU s | CPU s/GB | wall s | notes |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for r in &report.results {
        let (p50, p99) = r
            .latency
            .as_ref()
            .map_or(("–".to_owned(), "–".to_owned()), |l| {
                (format!("{:.0}", l.p50_ms), format!("{:.0}", l.p99_ms))
            });
        let mut notes = String::new();
        if !r.complete {
            notes.push_str("INCOMPLETE; ");
        }
        if let Some(f) = &r.ferry {
            let _ = write!(
                notes,
                "{:.0} rec/batch, {:.0} ms/batch (progress {:.0}, produce {:.0}, commit {:.0}), {:.2} DynamoDB calls/batch, {} batches, {} failed, sandboxes {:.0} MB peak / {} procs, moto {:.1} CPU s {:.0} MB, Lambda ${:.2}/TB",
                f.records_per_batch,
                f.phases.duration_ms,
                f.phases.progress_ms,
                f.phases.produce_ms,
                f.phases.commit_ms,
                f.dynamodb_calls_per_batch,
                f.stats.invocations,
                f.stats.failures,
                (r.usage.peak_rss_bytes.saturating_sub(r.usage.root_peak_rss_bytes)) as f64 / 1e6,
                r.usage.peak_processes,
                f.moto.cpu_seconds,
                f.moto.peak_rss_bytes as f64 / 1e6,
                f.lambda_usd_per_tb
            );
        }
        if let Some(p) = &r.perf_summary {
            let _ = write!(
                notes,
                "{}",
                p.split(',').take(4).collect::<Vec<_>>().join(",")
            );
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.1} | {p50} | {p99} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            if r.round > 1 {
                format!("{} #{}", r.workload, r.round)
            } else {
                r.workload.clone()
            },
            r.system,
            r.records,
            r.records_per_s,
            r.mb_per_s,
            r.usage.peak_rss_bytes as f64 / 1e6,
            r.usage.cpu_seconds,
            r.cpu_s_per_gb,
            r.wall_s,
            notes.trim_end_matches("; ")
        );
    }
    s
}

/// The headline line of BENCHMARKS.md.
pub fn headline(report: &Report) -> Option<String> {
    report.ratios["ferry_mm2_w1_records_per_s"]
        .as_f64()
        .map(|r| format!("Ferry/MM2 (W1 records/s): {r:.2}"))
}

const START: &str = "<!-- bench:results:start -->";
const END: &str = "<!-- bench:results:end -->";

fn update_doc(path: &Path, report: &Report, table: &str) -> anyhow::Result<()> {
    let Ok(doc) = std::fs::read_to_string(path) else {
        eprintln!("{} not found: not updated", path.display());
        return Ok(());
    };
    let (Some(a), Some(b)) = (doc.find(START), doc.find(END)) else {
        eprintln!("{}: no results markers: not updated", path.display());
        return Ok(());
    };
    let block = format!(
        "{START}\nRun `{}` ({}), scale {}; machine: {}.\n\n{table}\nRatios (medians over the rounds of a workload): `{}`\n",
        report.run,
        unix_to_utc(report.started_unix),
        report.scale,
        report.machine,
        serde_json::to_string(&report.ratios).unwrap_or_default()
    );
    let mut out = format!("{}{block}{}", &doc[..a], &doc[b..]);
    if let Some(h) = headline(report) {
        out = out
            .lines()
            .map(|l| {
                if l.starts_with("Ferry/MM2 (W1 records/s):") {
                    h.clone()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        out.push('\n');
    }
    std::fs::write(path, out)?;
    eprintln!("updated {}", path.display());
    Ok(())
}

fn unix_to_utc(secs: u64) -> String {
    // Civil-from-days (Howard Hinnant), enough for a date stamp.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(unix_to_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(unix_to_utc(1_764_115_200), "2025-11-26 00:00 UTC");
    }

    #[test]
    fn mm2_properties_name_the_topics_and_policy() {
        let p = mm2::properties("x", "s:1", "t:2", &["a.b".to_owned()], 12, "lz4");
        assert!(p.contains("xsrc->xdst.topics = a\\.b"));
        assert!(p.contains("IdentityReplicationPolicy"));
        assert!(p.contains("tasks.max = 12"));
    }
}
