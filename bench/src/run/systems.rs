//! Starting, watching and stopping the systems under test.

use super::report::{BatchPhases, FerryExtra};
use super::{bytes_per_record, Ctx, LAMBDA_ARM_GB_S, LAMBDA_MB_PER_VCPU, LAMBDA_REQUEST};
use crate::ferry::FerryStats;
use crate::kafka;
use crate::mm2;
use crate::procs::{Sampler, Usage};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started system under test.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) sampler: Sampler,
    pub(super) moto: Option<Sampler>,
    pub(super) started: Instant,
    pub(super) table: Option<String>,
    pub(super) stats_out: PathBuf,
    pub(super) mirror_log: Option<PathBuf>,
}

pub(super) async fn start_system(
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
            ctx.proxy_calls.clear();
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
                .env("AWS_ENDPOINT_URL_DYNAMODB", &ctx.proxy_url)
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
        store_pid(&a.root).map(Sampler::start)
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

/// The local DynamoDB's process: minidyn (the stack's default) or moto
/// (`FERRY_LOCAL_DYNAMODB=moto`).
pub(super) fn store_pid(root: &Path) -> Option<u32> {
    std::fs::read_to_string(root.join(format!(".ferry/stack/{}.pid", store_name())))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// `minidyn` or `moto`: which process serves DynamoDB (`FERRY_LOCAL_DYNAMODB`).
pub(super) fn store_name() -> &'static str {
    if std::env::var("FERRY_LOCAL_DYNAMODB").is_ok_and(|v| v == "moto") {
        "moto"
    } else {
        "minidyn"
    }
}

/// Stops the system (SIGTERM, then SIGKILL after 40 s).
pub(super) fn stop(child: &mut Child) {
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

pub(super) async fn finish(
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
        let calls = ctx.proxy_calls.counts();
        let dynamodb_latency = ctx.proxy_calls.dynamodb_latency();
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
            store: moto.unwrap_or_default(),
            store_name: store_name().to_owned(),
            dynamodb_latency,
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
