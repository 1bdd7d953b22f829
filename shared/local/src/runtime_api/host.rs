//! [`FunctionHost`]: the sandbox pool, cold and warm starts, leases and kills.

use super::api::{log_stream_name, runtime_api_router, ApiState};
use super::sandbox::{forward_lines, open_log_file, Sandbox};
use super::{error_chain, FunctionConfig, HostError, LogTarget};

use crate::invoke::{InvokeError, Invoker, MAX_SYNC_PAYLOAD_BYTES};
use async_trait::async_trait;
use axum::body::Bytes;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::process::Command;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

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
pub(super) struct KillSwitch {
    pub(super) fired: AtomicBool,
    pub(super) notify: Notify,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rejects_missing_binary() {
        let err = FunctionHost::new(FunctionConfig::new("f", "/nonexistent/bin")).unwrap_err();
        assert!(matches!(err, HostError::BinaryNotFound { .. }));
    }
}
