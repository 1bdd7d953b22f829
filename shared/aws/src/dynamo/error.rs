//! [`DynamoError`]: a failed DynamoDB call, the cause of [`StoreError::Unavailable`].

use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use ferry_core::ports::{BoxError, StoreError};

/// A failed DynamoDB call: the cause of [`StoreError::Unavailable`] (and of `ensure_table`
/// failures), keeping the SDK error as its source.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} failed: {detail}")]
pub struct DynamoError {
    /// API operation, e.g. `TransactWriteItems`.
    pub operation: &'static str,
    /// Short description: error code and message for service errors, the failure kind otherwise.
    pub detail: String,
    /// The underlying error.
    #[source]
    pub source: Option<BoxError>,
}

impl DynamoError {
    pub(super) fn new(
        operation: &'static str,
        detail: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        Self {
            operation,
            detail: detail.into(),
            source,
        }
    }

    /// Wraps an SDK error, summarising it (`code: message` for service errors).
    pub(super) fn sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let detail = match &err {
            SdkError::ServiceError(_) => format!(
                "{}: {}",
                err.code().unwrap_or("unknown error code"),
                err.message().unwrap_or("no message")
            ),
            SdkError::TimeoutError(_) => {
                "timed out (no response within the configured timeout)".to_string()
            }
            SdkError::DispatchFailure(f) if f.is_timeout() => {
                "timed out connecting or sending".to_string()
            }
            SdkError::DispatchFailure(f) if f.is_io() => {
                "network error (endpoint unreachable?)".to_string()
            }
            SdkError::DispatchFailure(_) => "request could not be sent".to_string(),
            SdkError::ResponseError(_) => "unreadable response".to_string(),
            SdkError::ConstructionFailure(_) => "request could not be built".to_string(),
            _ => "unknown SDK error".to_string(),
        };
        Self::new(operation, detail, Some(Box::new(err)))
    }

    pub(super) fn build(operation: &'static str, err: BuildError) -> Self {
        Self::new(operation, "request could not be built", Some(Box::new(err)))
    }
}

pub(super) fn unavailable(err: DynamoError) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}
