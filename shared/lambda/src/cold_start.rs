//! What a function does before its first invocation: JSON logging ([`init_tracing`]) and failing
//! the cold start with a configuration error that names the setting ([`config_error`]).
//!
//! `lambda_runtime` reports errors from `main` before the runtime loop starts only as a process
//! exit (`Runtime.ExitError`, the message only in the logs). [`report_init_error`] posts the
//! typed error to the Runtime API's `/runtime/init/error` first, so the invocation that
//! triggered the cold start fails with e.g. `Ferry.Config: missing required setting FERRY_TABLE`,
//! as AWS shows it in the console and as the local runtime returns it.

use ferry_core::failure::{error_chain, FailureKind};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// JSON logs on stdout (CloudWatch Logs' JSON format), level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

/// Logs a configuration error (with its causes) and reports it as the cold start's
/// `Ferry.Config` error. Made for `inspect_err` before `?` in `main`:
///
/// ```ignore
/// let config = MirrorConfig::from_env().inspect_err(config_error)?;
/// ```
pub fn config_error<E: std::error::Error + ?Sized>(error: &E) {
    let message = error_chain(&error);
    tracing::error!(error = %message, "configuration error at cold start");
    report_init_error(FailureKind::Config.error_type(), &message);
}

/// Reports an initialisation error to the Lambda Runtime API (best effort: a missing
/// `AWS_LAMBDA_RUNTIME_API`, e.g. when run by hand, or an unreachable endpoint is ignored).
pub fn report_init_error(error_type: &str, message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let sent = TcpStream::connect(&api).and_then(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(request.as_bytes())?;
        let mut reply = [0u8; 256];
        let _ = s.read(&mut reply)?;
        Ok(())
    });
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not report the init error to the Runtime API");
    }
}
