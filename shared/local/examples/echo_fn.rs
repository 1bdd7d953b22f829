//! A tiny Lambda function for testing `ferry_local::FunctionHost`, built with lambda_runtime.
//!
//! The event decides what happens:
//! * `{"fail": "<message>"}`: returns an error with `errorType` `EchoError`;
//! * `{"abort": true}`: aborts the process mid-invocation (a crash);
//! * `{"sleep_ms": n}`: sleeps before answering (for timeouts and kill tests);
//! * anything else: answers `{"echo": <event>, "pid", "request_id", "function_arn",
//!   "deadline_ms", "env": {...}}`.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

/// The handler's error.
#[derive(Debug)]
struct EchoError(String);

impl From<EchoError> for Diagnostic {
    fn from(e: EchoError) -> Self {
        Diagnostic {
            error_type: "EchoError".to_owned(),
            error_message: e.0,
        }
    }
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, EchoError> {
    let (payload, ctx) = event.into_parts();
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(EchoError(message.to_owned()));
    }
    if payload.get("abort").and_then(Value::as_bool) == Some(true) {
        eprintln!("echo_fn: aborting on request");
        std::process::abort();
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let env = |k: &str| std::env::var(k).ok();
    println!("echo_fn: request {}", ctx.request_id);
    Ok(json!({
        "echo": payload,
        "pid": std::process::id(),
        "request_id": ctx.request_id,
        "function_arn": ctx.invoked_function_arn,
        "deadline_ms": ctx.deadline,
        "trace_id": ctx.xray_trace_id,
        "env": {
            "AWS_LAMBDA_FUNCTION_NAME": env("AWS_LAMBDA_FUNCTION_NAME"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            "AWS_LAMBDA_FUNCTION_VERSION": env("AWS_LAMBDA_FUNCTION_VERSION"),
            "AWS_LAMBDA_LOG_STREAM_NAME": env("AWS_LAMBDA_LOG_STREAM_NAME"),
            "AWS_LAMBDA_LOG_GROUP_NAME": env("AWS_LAMBDA_LOG_GROUP_NAME"),
            "AWS_REGION": env("AWS_REGION"),
            "ECHO_CUSTOM": env("ECHO_CUSTOM"),
        },
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handler)).await
}
