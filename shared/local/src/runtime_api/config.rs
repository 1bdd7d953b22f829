//! A hosted function's configuration ([`FunctionConfig`], [`LogTarget`]) and [`HostError`].

use std::path::PathBuf;
use std::time::Duration;

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
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`, and the name [`Invoker::invoke`](crate::invoke::Invoker::invoke) answers to).
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

/// Errors creating a [`FunctionHost`](super::FunctionHost) or starting a sandbox.
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
