//! The synchronous-invoke seam between event sources and functions.
//!
//! [`Invoker`] is what AWS's `Invoke` API (`InvocationType=RequestResponse`) is to an event
//! source mapping: a JSON payload goes in, the function's JSON response (or a typed failure)
//! comes out. Implementations:
//!
//! * [`FnInvoker`]: an in-process async closure over `serde_json::Value`, for unit and
//!   integration tests that need no child process.
//! * [`crate::runtime_api::FunctionHost`]: a real Lambda function binary run as a child process
//!   behind the Lambda Runtime API.
//! * [`InvokerMap`]: routes by function name to one of the above, like one AWS account
//!   hosting several functions.
//!
//! The error type mirrors what a synchronous AWS invoke can observe: a handled function error
//! (`X-Amz-Function-Error: Unhandled` with `{"errorType","errorMessage"}`), a sandbox crash
//! (`Runtime.ExitError`), a timeout (`Sandbox.Timedout`) or a transport problem.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The synchronous invoke payload limit of AWS Lambda (6 MB, request and response).
pub const MAX_SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Boxed error cause for [`InvokeError::Transport`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an invocation did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The function ran and reported an error (AWS: `X-Amz-Function-Error: Unhandled` with an
    /// `{"errorType","errorMessage"}` body). Also used for init errors reported by the runtime.
    #[error("function error {error_type}: {error_message}")]
    Function {
        /// `errorType` as reported by the function (lambda_runtime uses the Rust type name).
        error_type: String,
        /// `errorMessage` as reported by the function.
        error_message: String,
    },
    /// The sandbox died during the invocation (AWS: `Runtime.ExitError`), e.g. a panic with
    /// `panic = "abort"`, `std::process::abort`, an OOM kill or fault injection.
    #[error("function crashed: {detail}")]
    Crashed {
        /// Exit status and what led to it.
        detail: String,
    },
    /// The invocation exceeded the function timeout; the sandbox was killed (AWS: `Sandbox.Timedout`).
    #[error("function timed out")]
    Timeout,
    /// No function with this name is known to the invoker (AWS: `ResourceNotFoundException`).
    #[error("function not found: {function}")]
    UnknownFunction {
        /// The requested function name.
        function: String,
    },
    /// The request payload exceeds the synchronous invoke limit (AWS: `RequestTooLargeException`).
    #[error("request payload of {size} bytes exceeds the {limit} byte limit")]
    RequestTooLarge {
        /// Payload size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The invocation could not be delivered or its result could not be read.
    #[error("invoke transport error")]
    Transport(#[source] BoxError),
}

impl InvokeError {
    /// Builds a [`InvokeError::Transport`] from any error.
    pub fn transport(cause: impl Into<BoxError>) -> Self {
        Self::Transport(cause.into())
    }

    /// The `errorType` AWS would report for this failure.
    pub fn error_type(&self) -> &str {
        match self {
            Self::Function { error_type, .. } => error_type,
            Self::Crashed { .. } => "Runtime.ExitError",
            Self::Timeout => "Sandbox.Timedout",
            Self::UnknownFunction { .. } => "ResourceNotFoundException",
            Self::RequestTooLarge { .. } => "RequestTooLargeException",
            Self::Transport(_) => "ServiceException",
        }
    }
}

/// Synchronously invokes a named function with a JSON payload and returns its JSON response.
///
/// Implementations must be shareable across tasks; futures are `Send`.
#[async_trait]
pub trait Invoker: Send + Sync + fmt::Debug {
    /// Invokes `function` with `payload` (JSON bytes) and returns the response bytes.
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Vec<u8>, InvokeError>;
}

#[async_trait]
impl<T: Invoker + ?Sized> Invoker for Arc<T> {
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Vec<u8>, InvokeError> {
        (**self).invoke(function, payload).await
    }
}

/// An in-process function: an async closure from the event JSON to the response JSON.
///
/// The handler runs on its own tokio task, so a panic surfaces as [`InvokeError::Crashed`]
/// (like a sandbox dying) instead of tearing down the caller. An `Err(e)` becomes
/// [`InvokeError::Function`] with `errorType` = the Rust type name of `E` (what lambda_runtime
/// reports for plain errors) and `errorMessage` = `e.to_string()`.
pub struct FnInvoker<F> {
    handler: Arc<F>,
    timeout: Option<Duration>,
    name: Option<String>,
}

impl<F> fmt::Debug for FnInvoker<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnInvoker")
            .field("timeout", &self.timeout)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F, Fut, E> FnInvoker<F>
where
    F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<serde_json::Value, E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    /// Wraps `handler`; it answers to any function name.
    pub fn new(handler: F) -> Self {
        Self {
            handler: Arc::new(handler),
            timeout: None,
            name: None,
        }
    }

    /// Fails invocations that run longer than `timeout` with [`InvokeError::Timeout`]
    /// (the handler task is aborted).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Only answers to `name`; other names get [`InvokeError::UnknownFunction`].
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

#[async_trait]
impl<F, Fut, E> Invoker for FnInvoker<F>
where
    F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<serde_json::Value, E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Vec<u8>, InvokeError> {
        if let Some(name) = &self.name {
            if name != function {
                return Err(InvokeError::UnknownFunction {
                    function: function.to_owned(),
                });
            }
        }
        if payload.len() > MAX_SYNC_PAYLOAD_BYTES {
            return Err(InvokeError::RequestTooLarge {
                size: payload.len(),
                limit: MAX_SYNC_PAYLOAD_BYTES,
            });
        }
        let event: serde_json::Value =
            serde_json::from_slice(&payload).map_err(InvokeError::transport)?;
        let handler = Arc::clone(&self.handler);
        // Map the error to strings inside the task so only `Send` data crosses the join.
        let task = tokio::spawn(async move {
            handler(event).await.map_err(|e| InvokeError::Function {
                error_type: std::any::type_name::<E>().to_owned(),
                error_message: e.to_string(),
            })
        });
        let abort = task.abort_handle();
        let joined = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, task).await {
                Ok(joined) => joined,
                Err(_) => {
                    abort.abort();
                    return Err(InvokeError::Timeout);
                }
            },
            None => task.await,
        };
        let value = match joined {
            Ok(result) => result?,
            Err(join) => {
                return Err(InvokeError::Crashed {
                    detail: describe_join_error(join),
                })
            }
        };
        serde_json::to_vec(&value).map_err(InvokeError::transport)
    }
}

fn describe_join_error(join: tokio::task::JoinError) -> String {
    if join.is_cancelled() {
        return "handler task cancelled".to_owned();
    }
    let panic = join.into_panic();
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    format!("handler panicked: {message}")
}

/// Routes invocations by function name, like an account with several functions.
#[derive(Debug, Default, Clone)]
pub struct InvokerMap {
    functions: HashMap<String, Arc<dyn Invoker>>,
}

impl InvokerMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `invoker` under `name` (replacing any previous one).
    pub fn insert(&mut self, name: impl Into<String>, invoker: Arc<dyn Invoker>) -> &mut Self {
        self.functions.insert(name.into(), invoker);
        self
    }

    /// Builder-style [`InvokerMap::insert`].
    pub fn with(mut self, name: impl Into<String>, invoker: Arc<dyn Invoker>) -> Self {
        self.insert(name, invoker);
        self
    }

    /// The registered function names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }
}

#[async_trait]
impl Invoker for InvokerMap {
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Vec<u8>, InvokeError> {
        match self.functions.get(function) {
            Some(invoker) => invoker.invoke(function, payload).await,
            None => Err(InvokeError::UnknownFunction {
                function: function.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn handler(v: serde_json::Value) -> Result<serde_json::Value, String> {
        match v.get("mode").and_then(|m| m.as_str()) {
            Some("error") => Err("boom".to_owned()),
            Some("panic") => panic!("kaputt"),
            Some("sleep") => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(v)
            }
            _ => Ok(v),
        }
    }

    fn echo() -> impl Invoker {
        FnInvoker::new(handler)
    }

    #[tokio::test]
    async fn echoes_json() {
        let out = echo()
            .invoke("f", Bytes::from_static(br#"{"a":1}"#))
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            json!({"a":1})
        );
    }

    #[tokio::test]
    async fn function_error_carries_type_and_message() {
        let err = echo()
            .invoke("f", Bytes::from_static(br#"{"mode":"error"}"#))
            .await
            .unwrap_err();
        match err {
            InvokeError::Function {
                error_type,
                error_message,
            } => {
                assert_eq!(error_type, "alloc::string::String");
                assert_eq!(error_message, "boom");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn panic_is_a_crash() {
        let err = echo()
            .invoke("f", Bytes::from_static(br#"{"mode":"panic"}"#))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, InvokeError::Crashed { detail } if detail.contains("kaputt")),
            "{err:?}"
        );
        assert_eq!(err.error_type(), "Runtime.ExitError");
    }

    #[tokio::test]
    async fn timeout_and_routing() {
        let inv = FnInvoker::new(handler)
            .with_timeout(Duration::from_millis(50))
            .named("slow");
        let err = inv
            .invoke("slow", Bytes::from_static(br#"{"mode":"sleep"}"#))
            .await
            .unwrap_err();
        assert!(matches!(err, InvokeError::Timeout));
        let err = inv
            .invoke("other", Bytes::from_static(b"{}"))
            .await
            .unwrap_err();
        assert!(matches!(err, InvokeError::UnknownFunction { .. }));

        let map = InvokerMap::new().with("echo", Arc::new(echo()));
        assert!(map.invoke("echo", Bytes::from_static(b"{}")).await.is_ok());
        assert!(matches!(
            map.invoke("nope", Bytes::from_static(b"{}")).await,
            Err(InvokeError::UnknownFunction { .. })
        ));
    }

    #[tokio::test]
    async fn invalid_json_is_transport_error_and_size_is_checked() {
        let err = echo()
            .invoke("f", Bytes::from_static(b"not json"))
            .await
            .unwrap_err();
        assert!(matches!(err, InvokeError::Transport(_)));
        let big = Bytes::from(vec![b' '; MAX_SYNC_PAYLOAD_BYTES + 1]);
        assert!(matches!(
            echo().invoke("f", big).await,
            Err(InvokeError::RequestTooLarge { .. })
        ));
    }
}
