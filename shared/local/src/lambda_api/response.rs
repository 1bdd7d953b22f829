//! Response helpers: request ids, AWS REST-JSON errors, JSON bodies.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

pub(super) fn request_id_header(id: &str) -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static("x-amzn-requestid"),
        HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("0")),
    )]
}

/// An AWS REST-JSON service error.
pub(crate) fn aws_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let kind = if status.is_server_error() {
        "Service"
    } else {
        "User"
    };
    let body = json!({ "Type": kind, "message": message.into() }).to_string();
    let request_id = Uuid::new_v4().to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_str(code)
            .unwrap_or_else(|_| HeaderValue::from_static("ServiceException")),
    );
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (status, request_id_header(&request_id), headers, body).into_response()
}

pub(crate) fn json_response(status: StatusCode, request_id: &str, body: String) -> Response {
    (
        status,
        request_id_header(request_id),
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub(super) fn too_large(size: usize, limit: usize) -> Response {
    aws_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        format!("Request must be smaller than {limit} bytes for the InvokeFunction operation (got {size} bytes)"),
    )
}
