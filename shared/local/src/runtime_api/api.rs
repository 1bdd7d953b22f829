//! The Runtime API server of one sandbox: `/next`, `/response`, `/error`, `/init/error`,
//! and the request, trace and log stream ids it hands out.

use super::lock;

use crate::invoke::{InvokeError, MAX_SYNC_PAYLOAD_BYTES};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

/// Hard cap on request bodies the Runtime API accepts from the child (responses above
/// [`MAX_SYNC_PAYLOAD_BYTES`] are turned into a function error, as AWS does).
const BODY_HARD_LIMIT: usize = 64 * 1024 * 1024;

/// An invocation waiting for the runtime's `/next`.
pub(super) struct Pending {
    pub(super) request_id: String,
    pub(super) body: Bytes,
    pub(super) timeout: Duration,
    pub(super) picked: oneshot::Sender<Instant>,
    pub(super) outcome: oneshot::Sender<Result<Vec<u8>, InvokeError>>,
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
pub(super) struct ApiState {
    pub(super) function_arn: String,
    pub(super) pending: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    pub(super) inflight: Mutex<HashMap<String, Outcome>>,
    pub(super) init_error: Mutex<Option<(String, String)>>,
    pub(super) init_error_notify: Notify,
}

pub(super) fn runtime_api_router(api: Arc<ApiState>) -> Router {
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
pub(super) fn request_id() -> String {
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
pub(super) fn log_stream_name() -> String {
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
}
