//! aws-sdk-kafka errors sorted into what retrying can fix and what it cannot, and mapped onto
//! the ports' typed errors ([`MskError`], [`TopicAdminError`]).
//!
//! | outcome | errors |
//! |---|---|
//! | unavailable (retry later) | timeouts, connection failures, unreadable responses, HTTP 5xx, `TooManyRequestsException`, `ServiceUnavailableException`, `InternalServerErrorException`, `ClusterConnectivityException`, `KafkaTimeoutException`, `ControllerMovedException`, `NotControllerException`, `ReassignmentInProgressException` |
//! | not found | `NotFoundException`, `UnknownTopicOrPartitionException` |
//! | rejected, with the code | everything else: `BadRequestException`, `ForbiddenException`, `UnauthorizedException`, `ConflictException`, `TopicExistsException`, ... |

use aws_sdk_kafka::error::{ProvideErrorMetadata, SdkError};
use ferry_core::ports::{BoxError, MskError, TopicAdminError};

/// Service error codes that retrying may fix.
const TRANSIENT: &[&str] = &[
    "TooManyRequestsException",
    "ServiceUnavailableException",
    "InternalServerErrorException",
    "ClusterConnectivityException",
    "KafkaTimeoutException",
    "ControllerMovedException",
    "NotControllerException",
    "ReassignmentInProgressException",
];

/// Service error codes that mean "no such cluster or topic".
const NOT_FOUND: &[&str] = &["NotFoundException", "UnknownTopicOrPartitionException"];

/// An SDK failure, sorted.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Retrying later may succeed.
    Unavailable(BoxError),
    /// The cluster or topic does not exist.
    NotFound(BoxError),
    /// Refused; `code` is the service's error code (or `ClientError` for a request the SDK
    /// could not build).
    Rejected {
        /// The error code.
        code: String,
        /// Cause.
        source: BoxError,
    },
}

impl Failure {
    /// Sorts an SDK error (see the module doc).
    pub(crate) fn from_sdk<E>(e: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        match &e {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => return Self::Unavailable(Box::new(e)),
            SdkError::ConstructionFailure(_) => {
                return Self::Rejected {
                    code: "ClientError".into(),
                    source: Box::new(e),
                }
            }
            _ => {}
        }
        let code = e.code().unwrap_or_default().to_string();
        if NOT_FOUND.contains(&code.as_str()) {
            Self::NotFound(Box::new(e))
        } else if TRANSIENT.contains(&code.as_str()) || status.is_some_and(|s| s >= 500) {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Rejected {
                code: if code.is_empty() {
                    format!("HTTP {}", status.unwrap_or_default())
                } else {
                    code
                },
                source: Box::new(e),
            }
        }
    }

    /// As an [`MskError`] for `cluster` and the request `what`.
    pub(crate) fn into_msk(self, cluster: &str, what: &'static str) -> MskError {
        let cluster = cluster.to_string();
        match self {
            Self::Unavailable(source) => MskError::Unavailable { cluster, source },
            Self::NotFound(source) => MskError::NotFound { cluster, source },
            Self::Rejected { code, source } => MskError::Refused {
                cluster,
                what,
                code,
                source,
            },
        }
    }

    /// As a [`TopicAdminError`] of the `label` cluster (`source` / `target`) for `topic` and
    /// the operation `what`.
    pub(crate) fn into_topic(
        self,
        label: &'static str,
        topic: &str,
        what: &str,
    ) -> TopicAdminError {
        match self {
            Self::Unavailable(source) => TopicAdminError::Unavailable {
                cluster: label,
                source,
            },
            Self::NotFound(source) => TopicAdminError::Rejected {
                cluster: label,
                topic: topic.to_string(),
                what: what.to_string(),
                reason: format!("NotFound: {}", chain(&*source)),
            },
            Self::Rejected { code, source } => TopicAdminError::Rejected {
                cluster: label,
                topic: topic.to_string(),
                what: what.to_string(),
                reason: format!("{code}: {}", chain(&*source)),
            },
        }
    }
}

/// An [`MskError`] as a [`TopicAdminError`] (for the topic and storage ports, which report
/// cluster-level failures in their own error type).
pub(crate) fn msk_to_topic(e: MskError, label: &'static str, what: &str) -> TopicAdminError {
    match e {
        MskError::Unavailable { .. } => TopicAdminError::Unavailable {
            cluster: label,
            source: Box::new(e),
        },
        other => TopicAdminError::Rejected {
            cluster: label,
            topic: String::new(),
            what: what.to_string(),
            reason: chain(&other),
        },
    }
}

/// An error and its causes, `: `-separated (the SDK's service message is in a cause).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}
