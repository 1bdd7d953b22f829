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
//!
//! Files: this one holds the options and the run's sequence; `workloads.rs` fills the topics
//! and measures each workload, `systems.rs` starts, samples and stops the systems under test,
//! `report.rs` holds the figures, the Markdown table and the BENCHMARKS.md update.

use crate::kafka::{self, VALUE_BYTES};
use crate::proxy;
use std::path::PathBuf;

mod report;
mod systems;
mod workloads;

use report::{ratios, table, update_doc, Report};
use workloads::{w1, w2, w3};

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
    /// moto endpoint (every AWS service but DynamoDB).
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub moto: String,
    /// The local DynamoDB the state store uses (`scripts/stack env` sets it to minidyn's;
    /// unset: moto's).
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb: Option<String>,
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

struct Ctx {
    args: RunArgs,
    scale: f64,
    run: String,
    out: PathBuf,
    self_exe: PathBuf,
    proxy_url: String,
    proxy_calls: proxy::Calls,
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
    let dynamodb = args.dynamodb.clone().unwrap_or_else(|| args.moto.clone());
    let (proxy_url, proxy_calls) = proxy::start(&args.moto, &dynamodb).await?;
    let ctx = Ctx {
        scale,
        run: run.clone(),
        out: out.clone(),
        self_exe: std::env::current_exe()?,
        proxy_url,
        proxy_calls,
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

#[cfg(test)]
mod tests;
