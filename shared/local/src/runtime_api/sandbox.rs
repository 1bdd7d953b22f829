//! One sandbox: the child process, its log forwarding and its lifecycle.

use super::api::{request_id, ApiState, Pending};
use super::host::KillSwitch;
use super::{lock, FunctionConfig, HostError};

use crate::invoke::InvokeError;
use axum::body::Bytes;
use std::process::ExitStatus;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(super) fn open_log_file(
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

pub(super) async fn forward_lines<R: AsyncRead + Unpin>(
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
pub(super) struct Sandbox {
    pub(super) id: u64,
    pub(super) child: Child,
    pub(super) api: Arc<ApiState>,
    pub(super) pending_tx: mpsc::Sender<Pending>,
    pub(super) stop: CancellationToken,
    pub(super) server: JoinHandle<()>,
    pub(super) log_tasks: Vec<JoinHandle<()>>,
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
    pub(super) fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub(super) fn init_failed(&self) -> bool {
        lock(&self.api.init_error).is_some()
    }

    pub(super) fn start_kill(&mut self) {
        // Fails only if the child already exited, which is what we want anyway.
        let _ = self.child.start_kill();
    }

    async fn kill_and_wait(&mut self) -> Option<ExitStatus> {
        self.start_kill();
        self.child.wait().await.ok()
    }

    /// Runs one invocation on this sandbox.
    pub(super) async fn run(
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
