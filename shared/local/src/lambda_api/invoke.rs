//! `Invoke`: synchronous, asynchronous (`Event`) and `DryRun` invocations.

use super::response::{aws_error, json_response, request_id_header, too_large};
use super::{
    plain_function_name, Registry, ASYNC_RETRY_ATTEMPTS, ASYNC_RETRY_DELAY, MAX_ASYNC_PAYLOAD_BYTES,
};
use crate::invoke::{InvokeError, Invoker, MAX_SYNC_PAYLOAD_BYTES};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

pub(super) async fn invoke(
    State(registry): State<Arc<Registry>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let function = plain_function_name(&name).to_owned();
    let invocation_type = match headers
        .get("x-amz-invocation-type")
        .map(|v| v.to_str().unwrap_or_default())
    {
        None | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("Event") => InvocationType::Event,
        Some("DryRun") => InvocationType::DryRun,
        Some(other) => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                format!("1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"),
            )
        }
    };
    let Some(invoker) = registry.function(&function) else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: {}",
                registry.arn.function_arn(&function)
            ),
        );
    };
    let limit = match invocation_type {
        InvocationType::Event => MAX_ASYNC_PAYLOAD_BYTES,
        _ => MAX_SYNC_PAYLOAD_BYTES,
    };
    if body.len() > limit {
        return too_large(body.len(), limit);
    }
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        body
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json: Could not parse payload into json",
        );
    }
    let request_id = Uuid::new_v4().to_string();
    match invocation_type {
        InvocationType::DryRun => {
            (StatusCode::NO_CONTENT, request_id_header(&request_id)).into_response()
        }
        InvocationType::Event => {
            let id = request_id.clone();
            tokio::spawn(async move { invoke_async(&*invoker, &function, &id, payload).await });
            (StatusCode::ACCEPTED, request_id_header(&request_id)).into_response()
        }
        InvocationType::RequestResponse => {
            let outcome = invoker.invoke(&function, payload).await;
            if let Ok(body) = &outcome {
                registry.record_result(&function, body.len());
            }
            respond(&function, &request_id, outcome)
        }
    }
}

/// An asynchronous invocation with AWS's retries of function errors.
async fn invoke_async(invoker: &dyn Invoker, function: &str, request_id: &str, payload: Bytes) {
    for attempt in 0..=ASYNC_RETRY_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(ASYNC_RETRY_DELAY * attempt).await;
        }
        match invoker.invoke(function, payload.clone()).await {
            Ok(_) => {
                tracing::debug!(%function, %request_id, attempt, "asynchronous invocation done");
                return;
            }
            // Nothing to retry: the function is gone.
            Err(err @ InvokeError::UnknownFunction { .. }) => {
                tracing::error!(%function, %request_id, error = %err, "asynchronous invocation dropped");
                return;
            }
            Err(err) if attempt < ASYNC_RETRY_ATTEMPTS => {
                tracing::warn!(%function, %request_id, attempt, error = %err, error_type = err.error_type(), "asynchronous invocation failed; retrying");
            }
            Err(err) => {
                tracing::error!(%function, %request_id, attempt, error = %err, error_type = err.error_type(), "asynchronous invocation failed after {ASYNC_RETRY_ATTEMPTS} retries; event dropped");
            }
        }
    }
}

/// Maps an invocation outcome to the `Invoke` response.
fn respond(function: &str, request_id: &str, outcome: Result<Vec<u8>, InvokeError>) -> Response {
    let executed = (
        HeaderName::from_static("x-amz-executed-version"),
        HeaderValue::from_static("$LATEST"),
    );
    let function_error = |error_type: &str, message: String| {
        tracing::debug!(%function, %request_id, error_type, %message, "function error");
        let body = json!({ "errorType": error_type, "errorMessage": message }).to_string();
        let mut response = json_response(StatusCode::OK, request_id, body);
        let headers = response.headers_mut();
        headers.insert(executed.0.clone(), executed.1.clone());
        headers.insert(
            HeaderName::from_static("x-amz-function-error"),
            HeaderValue::from_static("Unhandled"),
        );
        response
    };
    match outcome {
        Ok(body) if body.len() > MAX_SYNC_PAYLOAD_BYTES => function_error(
            "Function.ResponseSizeTooLarge",
            format!(
                "Response payload size exceeded maximum allowed payload size ({MAX_SYNC_PAYLOAD_BYTES} bytes)."
            ),
        ),
        Ok(body) => {
            let mut response =
                json_response(StatusCode::OK, request_id, String::from_utf8_lossy(&body).into_owned());
            response.headers_mut().insert(executed.0, executed.1);
            response
        }
        Err(InvokeError::UnknownFunction { function }) => aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {function}"),
        ),
        Err(InvokeError::RequestTooLarge { size, limit }) => too_large(size, limit),
        Err(InvokeError::Transport(err)) => {
            tracing::warn!(%function, %request_id, error = %err, "invocation transport error");
            aws_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                format!("invocation failed: {err}"),
            )
        }
        Err(InvokeError::Function {
            error_type,
            error_message,
        }) => function_error(&error_type, error_message),
        Err(err @ (InvokeError::Crashed { .. } | InvokeError::Timeout)) => {
            let message = format!("RequestId: {request_id} Error: {err}");
            function_error(err.error_type(), message)
        }
    }
}
