//! The workloads (W1 backlog, W2 live paced, W3) and the producers that fill them.

use super::report::{print_one, SystemResult};
use super::systems::{finish, start_system};
use super::{bytes_per_record, scaled, target_name, w2_seconds, wants, Ctx};
use crate::kafka::{self, Completion, ProduceSpec, VALUE_BYTES};
use crate::procs::Sampler;
use anyhow::Context as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(super) async fn produce_blocking(spec: ProduceSpec) -> anyhow::Result<Duration> {
    tokio::task::spawn_blocking(move || kafka::produce(&spec)).await?
}

pub(super) async fn w1(
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

pub(super) async fn w3(
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

pub(super) async fn w2(
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

pub(super) async fn bulk(
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

pub(super) async fn paced(
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

pub(super) async fn perf(ctx: &Ctx, n: u64) -> anyhow::Result<SystemResult> {
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
