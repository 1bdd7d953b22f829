//! Wiring of the local runtime for `ferry demo` and `ferry local`: the real `mirror` binary
//! behind a [`FunctionHost`] (Lambda Runtime API) and one [`EventSourceMapping`] per topic,
//! each in its own task, stopped together.

use anyhow::Context as _;
use ferry_local::{
    EsmConfig, EsmError, EsmStats, EsmStatsSnapshot, EventSourceMapping, FunctionConfig,
    FunctionHost, Invoker, LogTarget,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Name of the mirror function in the local runtime.
pub const MIRROR: &str = "mirror";

/// What to run.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The mirror binary.
    pub mirror_bin: PathBuf,
    /// DynamoDB table (`FERRY_TABLE`).
    pub table: String,
    /// Source bootstrap servers (the mappings consume here).
    pub source_bootstrap: String,
    /// Target bootstrap servers (`FERRY_TARGET_BOOTSTRAP`).
    pub target_bootstrap: String,
    /// One mapping per topic.
    pub topics: Vec<String>,
    /// Consumer group of topic `t` is `<group_prefix>-<t>`.
    pub group_prefix: String,
    /// Pollers per mapping.
    pub pollers: usize,
    /// `BatchSize`.
    pub batch_size: usize,
    /// Batching window.
    pub batching_window: Duration,
    /// Where the mirror's stdout/stderr go.
    pub log: LogTarget,
}

impl RuntimeOptions {
    /// The mapping of one topic.
    pub fn mapping(&self, topic: &str) -> EsmConfig {
        let group = format!("{}-{topic}", self.group_prefix);
        let mut c = EsmConfig::new(&self.source_bootstrap, topic, group, MIRROR);
        c.batch_size = self.batch_size;
        c.batching_window = self.batching_window;
        c.pollers = self.pollers;
        c.retry_initial_backoff = Duration::from_millis(50);
        c.retry_max_backoff = Duration::from_secs(2);
        c
    }

    /// The mirror function: enough sandboxes for every poller of every mapping.
    pub fn function(&self) -> FunctionConfig {
        let mut config = FunctionConfig::new(MIRROR, &self.mirror_bin);
        config.env = vec![
            ("FERRY_TABLE".to_owned(), self.table.clone()),
            (
                "FERRY_TARGET_BOOTSTRAP".to_owned(),
                self.target_bootstrap.clone(),
            ),
        ];
        if std::env::var_os("RUST_LOG").is_none() {
            config.env.push(("RUST_LOG".to_owned(), "warn".to_owned()));
        }
        config.timeout = Duration::from_secs(60);
        config.sandboxes = (self.topics.len() * self.pollers).max(1);
        config.log = self.log.clone();
        config
    }
}

/// A running local deployment.
#[derive(Debug)]
pub struct LocalRuntime {
    host: FunctionHost,
    shutdown: CancellationToken,
    mappings: Vec<Mapping>,
}

#[derive(Debug)]
struct Mapping {
    topic: String,
    stats: Arc<EsmStats>,
    task: Option<JoinHandle<Result<(), EsmError>>>,
}

impl LocalRuntime {
    /// Starts the function host (processes start lazily) and every mapping.
    pub fn start(options: &RuntimeOptions) -> anyhow::Result<Self> {
        Self::start_with_api(options, None)
    }

    /// Like [`LocalRuntime::start`], also publishing the mirror function and its mappings on
    /// the local Lambda API (so the cutover function can disable them).
    pub fn start_with_api(
        options: &RuntimeOptions,
        api: Option<&ferry_local::LambdaApiServer>,
    ) -> anyhow::Result<Self> {
        let host = FunctionHost::new(options.function()).context("cannot host the mirror")?;
        let invoker: Arc<dyn Invoker> = Arc::new(host.clone());
        if let Some(api) = api {
            api.register_function(MIRROR, Arc::clone(&invoker));
        }
        let shutdown = CancellationToken::new();
        let mut mappings = Vec::with_capacity(options.topics.len());
        for topic in &options.topics {
            let esm = EventSourceMapping::new(options.mapping(topic), Arc::clone(&invoker))
                .with_context(|| format!("invalid mapping for topic {topic:?}"))?;
            let stats = esm.stats();
            if let Some(api) = api {
                api.register_mapping(&esm);
            }
            let token = shutdown.clone();
            let task = tokio::spawn(async move { esm.run(token).await });
            mappings.push(Mapping {
                topic: topic.clone(),
                stats,
                task: Some(task),
            });
        }
        Ok(Self {
            host,
            shutdown,
            mappings,
        })
    }

    /// Live counters of every mapping, by topic.
    pub fn stats(&self) -> Vec<(String, EsmStatsSnapshot)> {
        self.mappings
            .iter()
            .map(|m| (m.topic.clone(), m.stats.snapshot()))
            .collect()
    }

    /// Fails if a mapping has stopped on its own (mappings only end on shutdown or a fatal
    /// error).
    pub async fn check(&mut self) -> anyhow::Result<()> {
        for m in &mut self.mappings {
            if m.task.as_ref().is_some_and(JoinHandle::is_finished) {
                if let Some(task) = m.task.take() {
                    let outcome = task.await;
                    outcome
                        .context("mapping task panicked")?
                        .with_context(|| format!("the mapping of topic {} failed", m.topic))?;
                    anyhow::bail!("the mapping of topic {} stopped unexpectedly", m.topic);
                }
            }
        }
        Ok(())
    }

    /// Stops every mapping (in-flight invocations finish and are committed), then the mirror
    /// processes. Returns the final counters.
    pub async fn stop(mut self) -> anyhow::Result<Stopped> {
        self.shutdown.cancel();
        let mut first_error = None;
        for m in &mut self.mappings {
            if let Some(task) = m.task.take() {
                let outcome = match task.await {
                    Ok(result) => {
                        result.with_context(|| format!("the mapping of topic {} failed", m.topic))
                    }
                    Err(join) => Err(anyhow::Error::new(join).context("mapping task panicked")),
                };
                if let Err(err) = outcome {
                    first_error.get_or_insert(err);
                }
            }
        }
        self.host.shutdown().await;
        match first_error {
            Some(err) => Err(err),
            None => Ok(Stopped {
                stats: self.stats(),
                cold_starts: self.host.cold_starts(),
            }),
        }
    }
}

/// Final counters of a stopped runtime.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// Counters of every mapping, by topic.
    pub stats: Vec<(String, EsmStatsSnapshot)>,
    /// Mirror processes started (cold starts).
    pub cold_starts: u64,
}

/// One line about invocation failures across mappings, if there were any.
pub fn failure_note(stats: &[(String, EsmStatsSnapshot)]) -> Option<String> {
    let failures: u64 = stats.iter().map(|(_, s)| s.failures).sum();
    if failures == 0 {
        return None;
    }
    let last = stats
        .iter()
        .filter_map(|(_, s)| s.last_error.as_deref())
        .next_back()
        .unwrap_or("unknown");
    Some(format!(
        "{failures} failed invocations (retried); last error: {}",
        truncate(last, 160)
    ))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// The default place for the mirror's log: `<temp dir>/<name>.log`.
pub fn log_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}.log"))
}

/// The mirror binary: `explicit`, else `mirror` next to the running executable.
pub fn mirror_bin(explicit: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(path) => path.clone(),
        None => {
            let exe = std::env::current_exe()?;
            let dir = exe.parent().ok_or_else(|| {
                anyhow::anyhow!("cannot locate the directory of {}", exe.display())
            })?;
            dir.join(format!("mirror{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if !path.is_file() {
        anyhow::bail!(
            "mirror binary not found at {}: build it with `cargo build --release -p mirror` \
             (or pass --mirror-bin PATH)",
            path.display()
        );
    }
    Ok(path)
}
