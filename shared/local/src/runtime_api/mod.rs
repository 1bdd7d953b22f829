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
//! * a child that exits during an invocation gives [`InvokeError::Crashed`](crate::invoke::InvokeError::Crashed) with its exit
//!   status; the sandbox is discarded and the next invocation cold-starts a fresh process;
//! * an invocation that outlives [`FunctionConfig::timeout`] (measured from the moment the
//!   runtime picked the event up, like the deadline header) kills the child and gives
//!   [`InvokeError::Timeout`](crate::invoke::InvokeError::Timeout); a cold start that does not reach `/next` within
//!   [`FunctionConfig::init_timeout`] is treated the same way;
//! * [`FunctionHost::kill_current`] SIGKILLs every live sandbox at an arbitrary moment, for
//!   fault-injection tests.

mod api;
mod config;
mod host;
mod sandbox;

pub use config::{FunctionConfig, HostError, LogTarget};
pub use host::FunctionHost;

use std::sync::{Mutex, MutexGuard, PoisonError};

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
