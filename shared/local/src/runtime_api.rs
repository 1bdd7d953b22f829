//! Runs a real Lambda function binary locally behind the Lambda Runtime API.
//!
//! A [`FunctionHost`] owns a pool of *sandboxes*. A sandbox is one child process of the
//! function binary (built with `lambda_runtime`) plus its own Runtime API server on
//! `127.0.0.1:<ephemeral port>` (axum), exactly the contract AWS gives a custom runtime:
//!
//! * `GET  /2018-06-01/runtime/invocation/next`: long-polls; answers `200` with the event body
//!   and the headers `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`.
//! * `POST /2018-06-01/runtime/invocation/{id}/response`: the function's result.
//! * `POST /2018-06-01/runtime/invocation/{id}/error`: `{"errorType","errorMessage"}`.
//! * `POST /2018-06-01/runtime/init/error`: initialisation failed.
//!
//! The child gets `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`,
//! `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_FUNCTION_VERSION=$LATEST`,
//! `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_REGION` (and
//! `AWS_DEFAULT_REGION`, `AWS_LAMBDA_INITIALIZATION_TYPE=on-demand`) on top of the
//! user-provided environment; the reserved variables win, as in AWS.
//!
//! Sandbox semantics follow AWS:
//!
//! * one invocation at a time per sandbox; up to [`FunctionConfig::sandboxes`] in parallel;
//! * sandboxes start lazily (cold start) and are reused while healthy (warm start);
//! * a child that exits during an invocation gives [`InvokeError::Crashed`] with its exit
//!   status; the sandbox is discarded and the next invocation cold-starts a fresh process;
//! * an invocation that outlives [`FunctionConfig::timeout`] (measured from the moment the
//!   runtime picked the event up, like the deadline header) kills the child and gives
//!   [`InvokeError::Timeout`]; a cold start that does not reach `/next` within
//!   [`FunctionConfig::init_timeout`] is treated the same way;
//! * [`FunctionHost::kill_current`] SIGKILLs every live sandbox at an arbitrary moment, for
//!   fault-injection tests.

use crate::invoke::{InvokeError, Invoker, MAX_SYNC_PAYLOAD_BYTES};
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Hard cap on request bodies the Runtime API accepts from the child (responses above
/// [`MAX_SYNC_PAYLOAD_BYTES`] are turned into a function error, as AWS does).
const BODY_HARD_LIMIT: usize = 64 * 1024 * 1024;

/// Where a sandbox's stdout and stderr go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// Forward every line to this process's stderr, prefixed with `[<function>#<sandbox>] `.
    #[default]
    Prefixed,
    /// Emit every line as a `tracing` event (target `ferry_local::function_log`).
    Tracing,
    /// Append both streams to this file (a marker line is written at every cold start).
    File(PathBuf),
    /// Let the child share this process's stdout and stderr unchanged.
    Inherit,
    /// Drop the output.
    Discard,
}

/// How to run one function.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`, and the name [`Invoker::invoke`] answers to).
    pub name: String,
    /// Path of the function binary (built with `lambda_runtime`).
    pub binary: PathBuf,
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// User environment (the function's `Environment.Variables`).
    pub env: Vec<(String, String)>,
    /// Whether the child inherits this process's environment (`PATH`, `RUST_LOG`, local AWS
    /// endpoints and credentials). AWS sandboxes start from a clean environment; locally the
    /// default is `true` for convenience.
    pub inherit_env: bool,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB (informational; not enforced).
    pub memory_mb: u32,
    /// Invocation timeout (AWS default: 3 s; the Kafka ESM allows at most 14 min).
    pub timeout: Duration,
    /// How long a cold-started process may take to ask for its first event (AWS: 10 s).
    pub init_timeout: Duration,
    /// `AWS_REGION`.
    pub region: String,
    /// Account id used in the invoked function ARN.
    pub account_id: String,
    /// Maximum number of concurrent sandboxes (reserved concurrency).
    pub sandboxes: usize,
    /// Where the child's output goes.
    pub log: LogTarget,
}

impl FunctionConfig {
    /// A config with AWS-like defaults: 128 MB, 3 s timeout, 10 s init timeout, `us-east-1`,
    /// account `123456789012` (moto's default), one sandbox, prefixed logs.
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            args: Vec::new(),
            env: Vec::new(),
            inherit_env: true,
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            sandboxes: 1,
            log: LogTarget::default(),
        }
    }

    /// The ARN the function sees in `Lambda-Runtime-Invoked-Function-Arn`.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.name
        )
    }
}

/// Errors creating a [`FunctionHost`] or starting a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The configuration is unusable.
    #[error("invalid function config for {function}: {reason}")]
    InvalidConfig {
        /// Function name.
        function: String,
        /// What is wrong.
        reason: String,
    },
    /// The function binary does not exist.
    #[error("function binary {} not found", path.display())]
    BinaryNotFound {
        /// The configured path.
        path: PathBuf,
    },
    /// Binding the Runtime API listener failed.
    #[error("cannot bind the Runtime API listener on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// Opening the log file failed.
    #[error("cannot open log file {}", path.display())]
    LogFile {
        /// The log file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Spawning the child process failed.
    #[error("cannot spawn {}", path.display())]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Hosts one function binary behind the Lambda Runtime API; see the module docs.
#[derive(Debug, Clone)]
pub struct FunctionHost {
    inner: Arc<HostInner>,
}

#[derive(Debug)]
struct HostInner {
    config: FunctionConfig,
    permits: Arc<Semaphore>,
    pool: Mutex<Pool>,
    next_sandbox: AtomicU64,
    cold_starts: AtomicU64,
    invocations: AtomicU64,
}

#[derive(Debug, Default)]
struct Pool {
    idle: Vec<Sandbox>,
    busy: HashMap<u64, Arc<KillSwitch>>,
}

#[derive(Debug, Default)]
struct KillSwitch {
    fired: AtomicBool,
    notify: Notify,
}

impl KillSwitch {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

impl FunctionHost {
    /// Validates `config`; no process starts until the first invocation.
    pub fn new(config: FunctionConfig) -> Result<Self, HostError> {
        if config.name.is_empty() {
            return Err(HostError::InvalidConfig {
                function: config.name,
                reason: "empty function name".to_owned(),
            });
        }
        if config.sandboxes == 0 {
            return Err(HostError::InvalidConfig {
                function: config.name,
                reason: "sandboxes must be at least 1".to_owned(),
            });
        }
        if !config.binary.is_file() {
            return Err(HostError::BinaryNotFound {
                path: config.binary,
            });
        }
        Ok(Self {
            inner: Arc::new(HostInner {
                permits: Arc::new(Semaphore::new(config.sandboxes)),
                config,
                pool: Mutex::new(Pool::default()),
                next_sandbox: AtomicU64::new(1),
                cold_starts: AtomicU64::new(0),
                invocations: AtomicU64::new(0),
            }),
        })
    }

    /// The hosted function's configuration.
    pub fn config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// How many processes have been started so far.
    pub fn cold_starts(&self) -> u64 {
        self.inner.cold_starts.load(Ordering::Relaxed)
    }

    /// How many invocations have been attempted so far.
    pub fn invocations(&self) -> u64 {
        self.inner.invocations.load(Ordering::Relaxed)
    }

    /// SIGKILLs every live sandbox of this function, busy or idle, right now. A busy one makes
    /// its invocation fail with [`InvokeError::Crashed`]; the next invocation cold-starts.
    /// Returns how many sandboxes were hit.
    pub fn kill_current(&self) -> usize {
        let mut pool = self.inner.lock_pool();
        let idle: Vec<Sandbox> = pool.idle.drain(..).collect();
        for switch in pool.busy.values() {
            switch.fire();
        }
        let hit = idle.len() + pool.busy.len();
        drop(pool);
        for mut sandbox in idle {
            sandbox.start_kill();
        }
        hit
    }

    /// Kills all idle sandboxes and waits for them to exit. Busy ones finish their invocation
    /// and are killed when the host is dropped.
    pub async fn shutdown(&self) {
        let idle: Vec<Sandbox> = self.inner.lock_pool().idle.drain(..).collect();
        for mut sandbox in idle {
            sandbox.start_kill();
            // The exit status of a sandbox we kill on purpose is of no interest.
            let _ = sandbox.child.wait().await;
        }
    }

    async fn invoke_inner(&self, payload: Bytes) -> Result<Vec<u8>, InvokeError> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(InvokeError::transport)?;
        let (lease, existing) = self.inner.lease(permit);
        let mut sandbox = match existing {
            Some(sandbox) => sandbox,
            None => match self.inner.spawn_sandbox(lease.id).await {
                Ok(sandbox) => sandbox,
                Err(err) => {
                    self.inner.release(lease, None);
                    return Err(match err {
                        HostError::Spawn { .. } => InvokeError::Function {
                            error_type: "Runtime.InvalidEntrypoint".to_owned(),
                            error_message: error_chain(&err),
                        },
                        other => InvokeError::transport(other),
                    });
                }
            },
        };
        let result = sandbox.run(&self.inner.config, &lease.kill, payload).await;
        let healthy =
            matches!(result, Ok(_) | Err(InvokeError::Function { .. })) && !sandbox.init_failed();
        self.inner.release(lease, healthy.then_some(sandbox));
        result
    }
}

#[async_trait]
impl Invoker for FunctionHost {
    async fn invoke(&self, function: &str, payload: bytes::Bytes) -> Result<Vec<u8>, InvokeError> {
        if function != self.inner.config.name {
            return Err(InvokeError::UnknownFunction {
                function: function.to_owned(),
            });
        }
        if payload.len() > MAX_SYNC_PAYLOAD_BYTES {
            return Err(InvokeError::RequestTooLarge {
                size: payload.len(),
                limit: MAX_SYNC_PAYLOAD_BYTES,
            });
        }
        self.inner.invocations.fetch_add(1, Ordering::Relaxed);
        self.invoke_inner(payload).await
    }
}

/// An exclusive claim on one sandbox slot for the duration of an invocation.
#[derive(Debug)]
struct Lease {
    id: u64,
    kill: Arc<KillSwitch>,
    _permit: OwnedSemaphorePermit,
}

impl HostInner {
    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        // The pool holds no invariants a panicking holder could break half-way.
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a live idle sandbox (if any) and registers the slot as busy.
    fn lease(&self, permit: OwnedSemaphorePermit) -> (Lease, Option<Sandbox>) {
        let mut pool = self.lock_pool();
        let mut found = None;
        while let Some(mut candidate) = pool.idle.pop() {
            if candidate.is_alive() {
                found = Some(candidate);
                break;
            }
            tracing::debug!(
                function = %self.config.name,
                sandbox = candidate.id,
                "idle sandbox exited; discarding"
            );
        }
        let id = found
            .as_ref()
            .map(|s| s.id)
            .unwrap_or_else(|| self.next_sandbox.fetch_add(1, Ordering::Relaxed));
        let kill = Arc::new(KillSwitch::default());
        pool.busy.insert(id, Arc::clone(&kill));
        (
            Lease {
                id,
                kill,
                _permit: permit,
            },
            found,
        )
    }

    /// Ends a lease; a healthy sandbox that was not killed meanwhile goes back to the pool.
    fn release(&self, lease: Lease, sandbox: Option<Sandbox>) {
        let mut pool = self.lock_pool();
        pool.busy.remove(&lease.id);
        if let Some(mut sandbox) = sandbox {
            if lease.kill.fired.load(Ordering::SeqCst) {
                drop(pool);
                sandbox.start_kill();
            } else {
                pool.idle.push(sandbox);
            }
        }
    }

    async fn spawn_sandbox(&self, id: u64) -> Result<Sandbox, HostError> {
        let config = &self.config;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(HostError::Bind)?;
        let addr = listener.local_addr().map_err(HostError::Bind)?;
        let (pending_tx, pending_rx) = mpsc::channel(1);
        let api = Arc::new(ApiState {
            function_arn: config.function_arn(),
            pending: tokio::sync::Mutex::new(pending_rx),
            inflight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            init_error_notify: Notify::new(),
        });
        let stop = CancellationToken::new();
        let server = {
            let router = runtime_api_router(Arc::clone(&api));
            let stop = stop.clone();
            let function = config.name.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(err) = served {
                    tracing::warn!(%function, sandbox = id, error = %err, "Runtime API server failed");
                }
            })
        };

        let mut cmd = Command::new(&config.binary);
        cmd.args(&config.args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if !config.inherit_env {
            cmd.env_clear();
        }
        // Never let an inherited value switch lambda_runtime into concurrent polling.
        cmd.env_remove("AWS_LAMBDA_MAX_CONCURRENCY");
        cmd.envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let log_stream = log_stream_name();
        cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &config.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", &log_stream)
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", config.name),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", &config.region)
            .env("AWS_DEFAULT_REGION", &config.region);

        let mut forward = false;
        match &config.log {
            LogTarget::Prefixed | LogTarget::Tracing => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                forward = true;
            }
            LogTarget::File(path) => {
                let file = open_log_file(path, &config.name, id, &log_stream)?;
                let err_file = file.try_clone().map_err(|source| HostError::LogFile {
                    path: path.clone(),
                    source,
                })?;
                cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err_file));
            }
            LogTarget::Inherit => {
                cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
            }
            LogTarget::Discard => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }

        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(source) => {
                stop.cancel();
                return Err(HostError::Spawn {
                    path: config.binary.clone(),
                    source,
                });
            }
        };
        self.cold_starts.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(function = %config.name, sandbox = id, pid = ?child.id(), runtime_api = %addr, "cold start");

        let mut log_tasks = Vec::new();
        if forward {
            let tracing_mode = config.log == LogTarget::Tracing;
            let prefix = format!("[{}#{}]", config.name, id);
            if let Some(out) = child.stdout.take() {
                log_tasks.push(tokio::spawn(forward_lines(
                    out,
                    prefix.clone(),
                    "stdout",
                    tracing_mode,
                )));
            }
            if let Some(err) = child.stderr.take() {
                log_tasks.push(tokio::spawn(forward_lines(
                    err,
                    prefix,
                    "stderr",
                    tracing_mode,
                )));
            }
        }

        Ok(Sandbox {
            id,
            child,
            api,
            pending_tx,
            stop,
            server,
            log_tasks,
        })
    }
}

fn open_log_file(
    path: &std::path::Path,
    function: &str,
    sandbox: u64,
    log_stream: &str,
) -> Result<std::fs::File, HostError> {
    use std::io::Write;
    let to_err = |source| HostError::LogFile {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(to_err)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(to_err)?;
    writeln!(
        file,
        "=== cold start: function {function} sandbox #{sandbox} log stream {log_stream} ==="
    )
    .map_err(to_err)?;
    Ok(file)
}

async fn forward_lines<R: AsyncRead + Unpin>(
    stream: R,
    prefix: String,
    name: &'static str,
    tracing_mode: bool,
) {
    let mut lines = BufReader::new(stream).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if tracing_mode {
                    tracing::info!(target: "ferry_local::function_log", sandbox = %prefix, stream = name, "{line}");
                } else {
                    eprintln!("{prefix} {line}");
                }
            }
            Ok(None) => break,
            Err(err) => {
                tracing::debug!(sandbox = %prefix, stream = name, error = %err, "log stream closed");
                break;
            }
        }
    }
}

/// One child process plus its Runtime API server.
#[derive(Debug)]
struct Sandbox {
    id: u64,
    child: Child,
    api: Arc<ApiState>,
    pending_tx: mpsc::Sender<Pending>,
    stop: CancellationToken,
    server: JoinHandle<()>,
    log_tasks: Vec<JoinHandle<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.cancel();
        self.server.abort();
        // Log forwarders end on their own at EOF, once the (killed) child's pipes close.
        self.log_tasks.clear();
    }
}

impl Sandbox {
    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn init_failed(&self) -> bool {
        lock(&self.api.init_error).is_some()
    }

    fn start_kill(&mut self) {
        // Fails only if the child already exited, which is what we want anyway.
        let _ = self.child.start_kill();
    }

    async fn kill_and_wait(&mut self) -> Option<ExitStatus> {
        self.start_kill();
        self.child.wait().await.ok()
    }

    /// Runs one invocation on this sandbox.
    async fn run(
        &mut self,
        config: &FunctionConfig,
        kill: &KillSwitch,
        payload: Bytes,
    ) -> Result<Vec<u8>, InvokeError> {
        let request_id = request_id();
        let (picked_tx, picked_rx) = oneshot::channel();
        let (outcome_tx, mut outcome_rx) = oneshot::channel();
        let pending = Pending {
            request_id: request_id.clone(),
            body: payload,
            timeout: config.timeout,
            picked: picked_tx,
            outcome: outcome_tx,
        };
        self.pending_tx
            .try_send(pending)
            .map_err(|e| InvokeError::transport(format!("sandbox queue unavailable: {e}")))?;

        // Phase 1: wait until the runtime fetches the event from /next.
        let init_deadline = Instant::now() + config.init_timeout;
        let deadline = tokio::select! {
            biased;
            picked = picked_rx => match picked {
                Ok(deadline) => deadline,
                Err(_) => return Err(InvokeError::transport("Runtime API dropped the invocation")),
            },
            () = kill.notify.notified() => return Err(self.killed_by_fault_injection().await),
            status = self.child.wait() => {
                // A runtime that reported an init error and exited fails the invocation with that
                // error, as AWS reports it, whichever of the two the host noticed first.
                let reported = lock(&self.api.init_error).clone();
                return Err(match reported {
                    Some((error_type, error_message)) => InvokeError::Function { error_type, error_message },
                    None => self.exited(status, "before fetching the event"),
                });
            }
            () = self.api.init_error_notify.notified() => {
                let (error_type, error_message) = lock(&self.api.init_error).clone().unwrap_or_default();
                self.kill_and_wait().await;
                return Err(InvokeError::Function { error_type, error_message });
            }
            () = tokio::time::sleep_until(init_deadline) => {
                self.kill_and_wait().await;
                tracing::warn!(function = %config.name, sandbox = self.id, "runtime did not fetch the event within the init timeout; killed");
                return Err(InvokeError::Timeout);
            }
        };

        // Phase 2: wait for /response or /error, the child's death, the deadline or a kill.
        tokio::select! {
            biased;
            outcome = &mut outcome_rx => match outcome {
                Ok(result) => result,
                Err(_) => Err(InvokeError::transport("Runtime API dropped the invocation")),
            },
            () = kill.notify.notified() => Err(self.killed_by_fault_injection().await),
            status = self.child.wait() => {
                // The response may have raced the exit: prefer it if it made it.
                match outcome_rx.try_recv() {
                    Ok(result) => result,
                    Err(_) => Err(self.exited(status, "during the invocation")),
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                self.kill_and_wait().await;
                tracing::warn!(function = %config.name, sandbox = self.id, request_id, timeout = ?config.timeout, "invocation timed out; sandbox killed");
                Err(InvokeError::Timeout)
            }
        }
    }

    async fn killed_by_fault_injection(&mut self) -> InvokeError {
        let status = self.kill_and_wait().await;
        InvokeError::Crashed {
            detail: format!(
                "sandbox #{} killed by kill_current ({})",
                self.id,
                status.map_or_else(|| "exit status unknown".to_owned(), describe_status)
            ),
        }
    }

    fn exited(&self, status: std::io::Result<ExitStatus>, when: &str) -> InvokeError {
        let status = match status {
            Ok(status) => describe_status(status),
            Err(err) => format!("exit status unavailable: {err}"),
        };
        let init = lock(&self.api.init_error)
            .as_ref()
            .map(|(t, m)| format!("; init error {t}: {m}"))
            .unwrap_or_default();
        InvokeError::Crashed {
            detail: format!("sandbox #{} exited {when}: {status}{init}", self.id),
        }
    }
}

fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// An invocation waiting for the runtime's `/next`.
struct Pending {
    request_id: String,
    body: Bytes,
    timeout: Duration,
    picked: oneshot::Sender<Instant>,
    outcome: oneshot::Sender<Result<Vec<u8>, InvokeError>>,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("request_id", &self.request_id)
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

type Outcome = oneshot::Sender<Result<Vec<u8>, InvokeError>>;

/// State shared by one sandbox's Runtime API handlers.
#[derive(Debug)]
struct ApiState {
    function_arn: String,
    pending: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    inflight: Mutex<HashMap<String, Outcome>>,
    init_error: Mutex<Option<(String, String)>>,
    init_error_notify: Notify,
}

fn runtime_api_router(api: Arc<ApiState>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(invocation_response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(DefaultBodyLimit::max(BODY_HARD_LIMIT))
        .with_state(api)
}

async fn next_invocation(State(api): State<Arc<ApiState>>) -> Response {
    let pending = {
        let mut rx = api.pending.lock().await;
        rx.recv().await
    };
    let Some(pending) = pending else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "sandbox is shutting down",
        );
    };
    let deadline = Instant::now() + pending.timeout;
    let deadline_ms = (SystemTime::now() + pending.timeout)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    lock(&api.inflight).insert(pending.request_id.clone(), pending.outcome);
    // The invoker may have given up meanwhile; the runtime still gets the event.
    let _ = pending.picked.send(deadline);

    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("lambda-runtime-aws-request-id", pending.request_id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        api.function_arn.clone(),
    );
    put("lambda-runtime-trace-id", trace_id());
    put("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, pending.body).into_response()
}

async fn invocation_response(
    State(api): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(outcome) = lock(&api.inflight).remove(&id) else {
        return invalid_request_id(&id);
    };
    if body.len() > MAX_SYNC_PAYLOAD_BYTES {
        let _ = outcome.send(Err(InvokeError::Function {
            error_type: "Function.ResponseSizeTooLarge".to_owned(),
            error_message: format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_SYNC_PAYLOAD_BYTES} bytes).",
                body.len()
            ),
        }));
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "response payload too large",
        );
    }
    // The invoker may have timed out meanwhile; nothing to do then.
    let _ = outcome.send(Ok(body.to_vec()));
    accepted()
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

fn parse_error_body(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => (
            parsed
                .error_type
                .or(header_type)
                .unwrap_or_else(|| "Runtime.Unknown".to_owned()),
            parsed.error_message.unwrap_or_default(),
        ),
        Err(_) => (
            header_type.unwrap_or_else(|| "Runtime.Unknown".to_owned()),
            String::from_utf8_lossy(body).into_owned(),
        ),
    }
}

async fn invocation_error(
    State(api): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(outcome) = lock(&api.inflight).remove(&id) else {
        return invalid_request_id(&id);
    };
    let (error_type, error_message) = parse_error_body(&headers, &body);
    let _ = outcome.send(Err(InvokeError::Function {
        error_type,
        error_message,
    }));
    accepted()
}

async fn init_error(State(api): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = parse_error_body(&headers, &body);
    tracing::warn!(error_type = %parsed.0, error_message = %parsed.1, "function reported an init error");
    *lock(&api.init_error) = Some(parsed);
    api.init_error_notify.notify_one();
    accepted()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

fn invalid_request_id(id: &str) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("unknown or already completed request id {id}"),
    )
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

/// A random request id (a version 4 UUID, like Lambda's).
fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An X-Ray-shaped trace header (`Root=1-<epoch hex>-<96 bit hex>;Parent=...;Sampled=0`).
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let root: u128 = rand::random();
    let parent: u64 = rand::random();
    format!(
        "Root=1-{secs:08x}-{:024x};Parent={parent:016x};Sampled=0",
        root & ((1u128 << 96) - 1)
    )
}

/// `YYYY/MM/DD/[$LATEST]<32 hex>`, like Lambda's log stream names.
fn log_stream_name() -> String {
    let tag: u128 = rand::random();
    format!(
        "{}/[$LATEST]{tag:032x}",
        chrono::Utc::now().format("%Y/%m/%d")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_well_formed() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
        let trace = trace_id();
        assert!(trace.starts_with("Root=1-") && trace.ends_with(";Sampled=0"));
        let stream = log_stream_name();
        let (date, tag) = stream.split_once("/[$LATEST]").unwrap();
        assert!(
            chrono::NaiveDate::parse_from_str(date, "%Y/%m/%d").is_ok(),
            "{stream}"
        );
        assert_eq!(tag.len(), 32);
    }

    #[test]
    fn error_bodies_are_parsed_leniently() {
        let headers = HeaderMap::new();
        assert_eq!(
            parse_error_body(&headers, br#"{"errorType":"E","errorMessage":"m"}"#),
            ("E".to_owned(), "m".to_owned())
        );
        assert_eq!(
            parse_error_body(&headers, b"plain"),
            ("Runtime.Unknown".to_owned(), "plain".to_owned())
        );
    }

    #[test]
    fn config_rejects_missing_binary() {
        let err = FunctionHost::new(FunctionConfig::new("f", "/nonexistent/bin")).unwrap_err();
        assert!(matches!(err, HostError::BinaryNotFound { .. }));
    }
}
