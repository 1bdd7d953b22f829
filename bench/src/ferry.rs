//! `ferry-bench ferry-host`: Ferry's local runtime as one process under test: the event source
//! mapping emulator (one mapping per topic) and the Lambda Runtime API host running the real
//! `mirror` binary in sandboxes (child processes), wired like `ferry local` / `ferry demo`
//! (cli/src/runtime.rs). Runs until SIGTERM, then stops the mappings (in-flight batches finish
//! and are committed), shuts the sandboxes down and writes its counters as JSON.
//!
//! Every invocation is timed ([`TimedInvoker`]): the sum of invocation durations is what Lambda
//! would bill (GB-s at the stated memory size).

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use ferry_local::{
    EsmConfig, EventSourceMapping, FunctionConfig, FunctionHost, InvokeError, Invoker, LogTarget,
};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Name of the mirror function.
const MIRROR: &str = "mirror";

/// How Ferry's runtime is set up.
#[derive(Debug, Clone, clap::Args)]
pub struct FerryArgs {
    /// The mirror binary (release build).
    #[arg(long)]
    pub mirror_bin: PathBuf,
    /// DynamoDB table (must exist).
    #[arg(long)]
    pub table: String,
    /// Source bootstrap servers.
    #[arg(long)]
    pub source: String,
    /// Target bootstrap servers.
    #[arg(long)]
    pub target: String,
    /// Source topics, one mapping each (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Consumer group prefix.
    #[arg(long)]
    pub group_prefix: String,
    /// Pollers per mapping.
    #[arg(long, default_value = "4")]
    pub pollers: usize,
    /// BatchSize.
    #[arg(long, default_value = "10000")]
    pub batch_size: usize,
    /// Batching window, ms.
    #[arg(long, default_value = "50")]
    pub window_ms: u64,
    /// Reserved concurrency (sandboxes); 0 = pollers × topics.
    #[arg(long, default_value = "0")]
    pub sandboxes: usize,
    /// Memory size the sandboxes are told (AWS_LAMBDA_FUNCTION_MEMORY_SIZE) and cost is based on.
    #[arg(long, default_value = "512")]
    pub memory_mb: u32,
    /// glibc `MALLOC_ARENA_MAX` for the sandboxes (0 = unset).
    #[arg(long, default_value = "0")]
    pub malloc_arena_max: u32,
    /// Prefetch per poller, KiB (0 = the emulator's default).
    #[arg(long, default_value = "0")]
    pub prefetch_kib: u32,
    /// Where the counters go (JSON) when stopped.
    #[arg(long)]
    pub stats_out: PathBuf,
    /// The mirror's log file.
    #[arg(long)]
    pub mirror_log: PathBuf,
}

/// Counters written at the end.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct FerryStats {
    /// Invocations (batches) including failed ones.
    pub invocations: u64,
    /// Failed invocations.
    pub failures: u64,
    /// Records delivered to the function.
    pub records: u64,
    /// Sum of invocation durations, seconds (what Lambda bills).
    pub invoke_seconds: f64,
    /// Sandboxes started.
    pub cold_starts: u64,
    /// Memory size, MB.
    pub memory_mb: u32,
}

/// Times every invocation.
#[derive(Debug)]
struct TimedInvoker {
    inner: FunctionHost,
    micros: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
}

#[async_trait]
impl Invoker for TimedInvoker {
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Vec<u8>, InvokeError> {
        let started = Instant::now();
        let out = self.inner.invoke(function, payload).await;
        self.micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        if out.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        out
    }
}

/// Runs until SIGTERM.
pub async fn run(args: &FerryArgs) -> anyhow::Result<()> {
    let mut function = FunctionConfig::new(MIRROR, &args.mirror_bin);
    function.env = vec![
        ("FERRY_TABLE".to_owned(), args.table.clone()),
        ("FERRY_TARGET_BOOTSTRAP".to_owned(), args.target.clone()),
        // One `batch mirrored` line per batch (phase timings for the report), warnings otherwise;
        // FERRY_BENCH_MIRROR_LOG adds more (e.g. `ferry_kafka::transactions=debug` for the
        // hand-over times), as long as it keeps `mirror::telemetry=info`.
        (
            "RUST_LOG".to_owned(),
            std::env::var("FERRY_BENCH_MIRROR_LOG")
                .unwrap_or_else(|_| "warn,mirror::telemetry=info".to_owned()),
        ),
    ];
    if args.malloc_arena_max > 0 {
        function.env.push((
            "MALLOC_ARENA_MAX".to_owned(),
            args.malloc_arena_max.to_string(),
        ));
    }
    function.timeout = Duration::from_secs(60);
    function.memory_mb = args.memory_mb;
    function.sandboxes = if args.sandboxes == 0 {
        (args.topics.len() * args.pollers).max(1)
    } else {
        args.sandboxes
    };
    function.log = LogTarget::File(args.mirror_log.clone());
    let host = FunctionHost::new(function).context("cannot host the mirror")?;
    let timed = Arc::new(TimedInvoker {
        inner: host.clone(),
        micros: AtomicU64::new(0),
        calls: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });
    let invoker: Arc<dyn Invoker> = timed.clone();
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut stats = Vec::new();
    for topic in &args.topics {
        let group = format!("{}-{topic}", args.group_prefix);
        let mut c = EsmConfig::new(&args.source, topic, group, MIRROR);
        c.batch_size = args.batch_size;
        c.batching_window = Duration::from_millis(args.window_ms);
        c.pollers = args.pollers;
        if args.prefetch_kib > 0 {
            c.consumer_config.push((
                "queued.max.messages.kbytes".to_owned(),
                args.prefetch_kib.to_string(),
            ));
        }
        c.retry_initial_backoff = Duration::from_millis(50);
        c.retry_max_backoff = Duration::from_secs(2);
        let esm = EventSourceMapping::new(c, Arc::clone(&invoker))
            .with_context(|| format!("invalid mapping for {topic}"))?;
        stats.push(esm.stats());
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move { esm.run(token).await }));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    shutdown.cancel();
    for t in tasks {
        match t.await {
            Ok(Err(e)) => eprintln!("ferry-host: mapping failed: {e}"),
            Err(e) => eprintln!("ferry-host: mapping panicked: {e}"),
            Ok(Ok(())) => {}
        }
    }
    host.shutdown().await;
    let out = FerryStats {
        invocations: timed.calls.load(Ordering::Relaxed),
        failures: timed.failures.load(Ordering::Relaxed),
        records: stats.iter().map(|s| s.snapshot().records).sum(),
        invoke_seconds: timed.micros.load(Ordering::Relaxed) as f64 / 1e6,
        cold_starts: host.cold_starts(),
        memory_mb: args.memory_mb,
    };
    std::fs::write(&args.stats_out, serde_json::to_vec_pretty(&out)?)
        .with_context(|| format!("cannot write {}", args.stats_out.display()))?;
    Ok(())
}
