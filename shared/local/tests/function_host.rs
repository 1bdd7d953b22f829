//! `FunctionHost` against a real lambda_runtime binary (the `echo_fn` example): responses,
//! function errors, crashes with recovery (cold start), timeouts, `kill_current`, sandbox
//! pools and log files.

use bytes::Bytes;
use ferry_local::{FunctionConfig, FunctionHost, InvokeError, Invoker, LogTarget};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

mod common;
use common::echo_fn;

fn host(configure: impl FnOnce(&mut FunctionConfig)) -> FunctionHost {
    let mut config = FunctionConfig::new("echo", echo_fn());
    config.log = LogTarget::Prefixed;
    config.timeout = Duration::from_secs(5);
    configure(&mut config);
    FunctionHost::new(config).expect("host")
}

async fn call(host: &FunctionHost, event: Value) -> Result<Value, InvokeError> {
    let out = host
        .invoke("echo", Bytes::from(serde_json::to_vec(&event).unwrap()))
        .await?;
    Ok(serde_json::from_slice(&out).expect("JSON response"))
}

#[tokio::test]
async fn responds_with_lambda_environment_and_context() {
    let host = host(|c| {
        c.env.push(("ECHO_CUSTOM".into(), "yes".into()));
        c.memory_mb = 512;
        c.region = "eu-west-1".into();
    });
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let out = call(&host, json!({"hello": "world"})).await.unwrap();
    assert_eq!(out["echo"], json!({"hello": "world"}));
    assert_eq!(
        out["function_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:function:echo"
    );
    let env = &out["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/echo");
    assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"]
        .as_str()
        .unwrap()
        .contains("[$LATEST]"));
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["ECHO_CUSTOM"], "yes");
    assert_eq!(out["request_id"].as_str().unwrap().len(), 36);
    assert!(out["trace_id"].as_str().unwrap().starts_with("Root=1-"));
    let deadline = u128::from(out["deadline_ms"].as_u64().unwrap());
    assert!(deadline >= started + 4_000 && deadline <= started + 60_000);

    // Warm start: the same process answers again.
    let again = call(&host, json!({"n": 2})).await.unwrap();
    assert_eq!(again["pid"], out["pid"]);
    assert_ne!(again["request_id"], out["request_id"]);
    assert_eq!(host.cold_starts(), 1);
    host.shutdown().await;
}

#[tokio::test]
async fn function_error_keeps_the_sandbox() {
    let host = host(|_| {});
    let first = call(&host, json!({})).await.unwrap();
    match call(&host, json!({"fail": "nope"})).await {
        Err(InvokeError::Function {
            error_type,
            error_message,
        }) => {
            assert_eq!(error_type, "EchoError");
            assert_eq!(error_message, "nope");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    let after = call(&host, json!({})).await.unwrap();
    assert_eq!(after["pid"], first["pid"]);
    assert_eq!(host.cold_starts(), 1);
}

#[tokio::test]
async fn crash_then_cold_start() {
    let host = host(|_| {});
    let first = call(&host, json!({})).await.unwrap();
    match call(&host, json!({"abort": true})).await {
        Err(InvokeError::Crashed { detail }) => {
            assert!(detail.contains("signal 6"), "{detail}");
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    let after = call(&host, json!({"after": "crash"})).await.unwrap();
    assert_eq!(after["echo"], json!({"after": "crash"}));
    assert_ne!(after["pid"], first["pid"]);
    assert_eq!(host.cold_starts(), 2);
}

#[tokio::test]
async fn timeout_kills_and_recovers() {
    let host = host(|c| c.timeout = Duration::from_millis(700));
    let first = call(&host, json!({})).await.unwrap();
    let t0 = Instant::now();
    let err = call(&host, json!({"sleep_ms": 10_000})).await.unwrap_err();
    assert!(matches!(err, InvokeError::Timeout), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let after = call(&host, json!({})).await.unwrap();
    assert_ne!(after["pid"], first["pid"]);
}

#[tokio::test]
async fn kill_current_crashes_the_running_invocation() {
    let host = host(|_| {});
    call(&host, json!({})).await.unwrap();
    let running = {
        let host = host.clone();
        tokio::spawn(async move { call(&host, json!({"sleep_ms": 3_000})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host.kill_current(), 1);
    match running.await.unwrap() {
        Err(InvokeError::Crashed { detail }) => {
            assert!(detail.contains("kill_current"), "{detail}");
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    // Idle sandboxes are killed too; the next call cold-starts.
    call(&host, json!({})).await.unwrap();
    assert_eq!(host.kill_current(), 1);
    call(&host, json!({})).await.unwrap();
    assert_eq!(host.cold_starts(), 3);
}

#[tokio::test]
async fn sandboxes_run_in_parallel() {
    let host = host(|c| c.sandboxes = 2);
    let t0 = Instant::now();
    let (a, b) = tokio::join!(
        call(&host, json!({"sleep_ms": 800})),
        call(&host, json!({"sleep_ms": 800}))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a["pid"], b["pid"]);
    assert!(
        t0.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(host.cold_starts(), 2);
}

#[tokio::test]
async fn logs_go_to_a_file_and_names_are_checked() {
    let dir = std::env::temp_dir().join(format!("ferry-local-log-{}", std::process::id()));
    let path = dir.join("echo.log");
    let host = host(|c| c.log = LogTarget::File(path.clone()));
    let out = call(&host, json!({})).await.unwrap();
    host.shutdown().await;
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(log.contains("cold start: function echo"), "{log}");
    assert!(
        log.contains(&format!(
            "echo_fn: request {}",
            out["request_id"].as_str().unwrap()
        )),
        "{log}"
    );
    let err = host
        .invoke("other", Bytes::from_static(b"{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, InvokeError::UnknownFunction { .. }));
    let _ = std::fs::remove_dir_all(dir);
}
