//! The AWS Lambda API (the control-plane subset Ferry needs), served locally.
//!
//! [`LambdaApiServer`] is what `lambda.<region>.amazonaws.com` is to Ferry: moto's Step
//! Functions interpreter sends its `arn:aws:states:::lambda:invoke` tasks here (moto runs with
//! `AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:4570`), and the cutover function disables the
//! mirror's event source mappings here with aws-sdk-lambda, exactly as against AWS.
//!
//! Routes (REST-JSON, API version `2015-03-31`):
//!
//! * `POST /2015-03-31/functions/{FunctionName}/invocations` (`Invoke`). `FunctionName` may be
//!   a plain name, `name:qualifier`, a partial ARN (`123456789012:function:name`) or a full ARN;
//!   the qualifier is ignored (everything is `$LATEST`). `X-Amz-Invocation-Type`:
//!   * `RequestResponse` (default): `200` with the function's response body and
//!     `X-Amz-Executed-Version: $LATEST`. Any function failure (a reported error, a crash as
//!     `Runtime.ExitError`, a timeout as `Sandbox.Timedout`, a response over 6 MB as
//!     `Function.ResponseSizeTooLarge`) is also `200`, with `X-Amz-Function-Error: Unhandled`
//!     and `{"errorType","errorMessage"}` (see [`crate::invoke::InvokeError::error_type`]); Step Functions
//!     `Retry`/`Catch` match on that `errorType`.
//!   * `Event`: `202`, the invocation runs in the background; a function error is retried
//!     [`ASYNC_RETRY_ATTEMPTS`] times like AWS's asynchronous invocation (whose default
//!     `MaximumRetryAttempts` is 2; AWS waits about 1 and 2 minutes, the emulator
//!     [`ASYNC_RETRY_DELAY`] × attempt), and a final failure is logged as an error (AWS would
//!     drop the event or send it to the on-failure destination); payloads over 1 MB (AWS's
//!     asynchronous limit) are refused.
//!   * `DryRun`: `204` once the function is known.
//!
//!   An empty body is sent to the function as `{}`; a body that is not JSON is a `400`
//!   `InvalidRequestContentException`; a body over 6 MB is a `413` `RequestTooLargeException`;
//!   an unknown function is a `404` `ResourceNotFoundException`.
//! * `GET /2015-03-31/event-source-mappings/?FunctionName=&EventSourceArn=`
//!   (`ListEventSourceMappings`, no paging: every match in one page).
//! * `GET /2015-03-31/event-source-mappings/{UUID}` (`GetEventSourceMapping`).
//! * `PUT /2015-03-31/event-source-mappings/{UUID}` (`UpdateEventSourceMapping`): `Enabled`,
//!   `BatchSize` and `MaximumBatchingWindowInSeconds`; answers `202` with the mapping in its
//!   transitional state (`Disabling` / `Enabling`); later reads show `Disabled` / `Enabled`
//!   once every poller caught up (see [`crate::esm`]).
//! * `POST /2015-03-31/event-source-mappings/` (`CreateEventSourceMapping`, Kafka sources
//!   only: an MSK `EventSourceArn` or a `SelfManagedEventSource`): validates the request,
//!   turns it into an [`EsmConfig`] through the [`MappingFactory`] the server's owner
//!   registered ([`LambdaApiServer::serve_mapping_creation`], e.g. a
//!   [`DefaultMappingFactory`]), registers the mapping and runs it on the server's runtime
//!   until it is deleted, [`LambdaApiServer::stop_created_mappings`] is called or the server
//!   stops; answers `202` with the mapping in state `Creating`. Errors: `400
//!   InvalidParameterValueException` (invalid request, no factory, factory refusal), `403
//!   AccessDeniedException` ([`LambdaApiServer::refuse_mapping_requests`]), `404
//!   ResourceNotFoundException` (unknown function), `409 ResourceConflictException` (a mapping
//!   of the same function, topic and event source exists). See [`CreateMappingRequest`].
//! * `DELETE /2015-03-31/event-source-mappings/{UUID}` (`DeleteEventSourceMapping`):
//!   deregisters the mapping (stopping it if the server created it; its in-flight batch
//!   finishes as usual) and answers `202` with the mapping in state `Deleting`.
//!
//! Every response carries `x-amzn-RequestId`. Service errors use the AWS REST-JSON error shape:
//! header `x-amzn-ErrorType: <Code>` and body `{"Type":"User"|"Service","message":...}`.
//!
//! Functions are registered in process ([`LambdaApiServer::register_function`]); mappings
//! either in process ([`LambdaApiServer::register_mapping`], run by their owner) or through
//! `CreateEventSourceMapping` (run by the server).
//!
//! Files: this one holds the server, its registry and the router; `invoke.rs` the `Invoke`
//! route, `mappings.rs` the list/get/update routes and the mapping JSON, `create.rs` the
//! create/delete routes, the [`MappingFactory`] and the created mappings' tasks,
//! `create_request.rs` the create request and its validation, `response.rs` the AWS
//! response and error shapes.

use crate::esm::{EsmConfig, EventSourceMapping, MappingHandle};
use crate::invoke::Invoker;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod create;
mod create_request;
mod invoke;
mod mappings;
pub(crate) mod response;

use create::{create_mapping, delete_mapping, CreatedDetails, CreatedTasks, FactorySlot};
pub use create::{ConfigHook, DefaultMappingFactory, MappingFactory};
pub use create_request::{
    CreateMappingRequest, ProvisionedPollerConfig, SourceAccessConfiguration,
};
use invoke::invoke;
use mappings::{get_mapping, list_mappings, update_mapping};
use response::aws_error;

/// Environment variable with the address to bind (`host:port`).
pub const LAMBDA_API_ENV: &str = "FERRY_LAMBDA_API";

/// The default address of the local Lambda API (what moto's `AWS_ENDPOINT_URL_LAMBDA` names).
pub const DEFAULT_LAMBDA_API_ADDR: &str = "127.0.0.1:4570";

/// AWS's payload limit for asynchronous (`Event`) invocations.
pub const MAX_ASYNC_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Retries of a failed asynchronous (`Event`) invocation (AWS's default `MaximumRetryAttempts`).
pub const ASYNC_RETRY_ATTEMPTS: u32 = 2;

/// Delay before the first retry of a failed asynchronous invocation; the n-th waits n times as
/// long (AWS waits about a minute, then two).
pub const ASYNC_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Request bodies above this are cut off by the HTTP layer (well above the 6 MB limit, so the
/// handler can answer `RequestTooLargeException` itself).
const BODY_HARD_LIMIT: usize = 32 * 1024 * 1024;

const API: &str = "/2015-03-31";

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum LambdaApiError {
    /// The address is not a valid `host:port`.
    #[error("invalid Lambda API address {addr:?} (from {source_name})")]
    InvalidAddress {
        /// The offending value.
        addr: String,
        /// Where it came from.
        source_name: String,
    },
    /// Binding the listener failed (another process may serve the port already).
    #[error("cannot bind the Lambda API on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Account and region used in the ARNs the server reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnContext {
    /// Region (default `us-east-1`).
    pub region: String,
    /// Account id (default `123456789012`, moto's).
    pub account_id: String,
}

impl Default for ArnContext {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
        }
    }
}

impl ArnContext {
    /// `arn:aws:lambda:<region>:<account>:function:<name>`.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }
}

/// A mapping as the server knows it.
#[derive(Debug, Clone)]
struct MappingEntry {
    config: Arc<EsmConfig>,
    control: MappingHandle,
    /// What `CreateEventSourceMapping` asked for (mappings the server created).
    created: Option<Arc<CreatedDetails>>,
}

#[derive(Debug, Default)]
struct Registry {
    arn: ArnContext,
    functions: RwLock<HashMap<String, Arc<dyn Invoker>>>,
    mappings: RwLock<BTreeMap<String, MappingEntry>>,
    /// Functions whose mapping requests are refused with `AccessDeniedException` (fault knob).
    refused: RwLock<std::collections::HashSet<String>>,
    /// Turns `CreateEventSourceMapping` requests into mapping configs.
    factory: FactorySlot,
    /// The tasks of the mappings the server created.
    created: CreatedTasks,
    /// The server's stop token; created mappings run with child tokens of it.
    stop: CancellationToken,
    /// Sizes of the successful synchronous results, per function.
    results: std::sync::Mutex<BTreeMap<String, ResultSizes>>,
}

/// Sizes of a function's successful synchronous results ([`LambdaApiServer::result_sizes`]).
/// A Step Functions task may not return more than 256 KiB (`States.DataLimitExceeded`), far
/// less than Lambda's 6 MB; tests of the state machine check their tasks' results with this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultSizes {
    /// Successful synchronous invocations.
    pub invocations: u64,
    /// The largest result, in bytes.
    pub largest_bytes: usize,
    /// All results together, in bytes.
    pub total_bytes: u64,
}

impl Registry {
    fn record_result(&self, function: &str, bytes: usize) {
        let mut results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        let r = results.entry(function.to_owned()).or_default();
        r.invocations += 1;
        r.largest_bytes = r.largest_bytes.max(bytes);
        r.total_bytes += bytes as u64;
    }
}

impl Registry {
    fn function(&self, name: &str) -> Option<Arc<dyn Invoker>> {
        self.functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn mapping(&self, uuid: &str) -> Option<MappingEntry> {
        self.mappings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uuid)
            .cloned()
    }

    fn is_refused(&self, function: &str) -> bool {
        self.refused
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(function)
    }
}

/// The local Lambda API server; see the module docs. Clones share the server; it stops when
/// [`LambdaApiServer::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct LambdaApiServer {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    addr: SocketAddr,
    registry: Arc<Registry>,
    stop: CancellationToken,
}

impl Drop for ServerInner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl fmt::Debug for LambdaApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let functions: Vec<String> = self
            .inner
            .registry
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("LambdaApiServer")
            .field("addr", &self.inner.addr)
            .field("functions", &functions)
            .finish_non_exhaustive()
    }
}

impl LambdaApiServer {
    /// The address from `FERRY_LAMBDA_API`, else [`DEFAULT_LAMBDA_API_ADDR`].
    pub fn addr_from_env() -> Result<SocketAddr, LambdaApiError> {
        let (value, source_name) = match std::env::var(LAMBDA_API_ENV) {
            Ok(v) if !v.trim().is_empty() => (v.trim().to_owned(), LAMBDA_API_ENV.to_owned()),
            _ => (DEFAULT_LAMBDA_API_ADDR.to_owned(), "the default".to_owned()),
        };
        let value = value
            .strip_prefix("http://")
            .unwrap_or(&value)
            .trim_end_matches('/')
            .to_owned();
        value.parse().map_err(|_| LambdaApiError::InvalidAddress {
            addr: value,
            source_name,
        })
    }

    /// Binds the address from `FERRY_LAMBDA_API` (default `127.0.0.1:4570`) and serves.
    pub async fn bind_from_env() -> Result<Self, LambdaApiError> {
        Self::bind(Self::addr_from_env()?).await
    }

    /// Binds `addr` (port 0 picks a free port) and serves on the current tokio runtime, with
    /// the default account and region.
    pub async fn bind(addr: SocketAddr) -> Result<Self, LambdaApiError> {
        Self::bind_with(addr, ArnContext::default()).await
    }

    /// Like [`LambdaApiServer::bind`] with an explicit account and region.
    pub async fn bind_with(addr: SocketAddr, arn: ArnContext) -> Result<Self, LambdaApiError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| LambdaApiError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| LambdaApiError::Bind { addr, source })?;
        let stop = CancellationToken::new();
        let registry = Arc::new(Registry {
            arn,
            stop: stop.clone(),
            ..Registry::default()
        });
        let app = router(Arc::clone(&registry));
        let until = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { until.cancelled().await })
                .await;
            if let Err(err) = served {
                tracing::error!(%addr, error = %err, "Lambda API server failed");
            }
        });
        tracing::info!(%addr, "Lambda API listening");
        Ok(Self {
            inner: Arc::new(ServerInner {
                addr,
                registry,
                stop,
            }),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Sizes of the successful synchronous results of each function served so far.
    pub fn result_sizes(&self) -> BTreeMap<String, ResultSizes> {
        self.inner
            .registry
            .results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `http://<addr>`, for `AWS_ENDPOINT_URL_LAMBDA` or an SDK `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The ARN the server reports for function `name`.
    pub fn function_arn(&self, name: &str) -> String {
        self.inner.registry.arn.function_arn(name)
    }

    /// Serves function `name` with `invoker` (replacing any previous one). The invoker is
    /// called with the plain name.
    pub fn register_function(&self, name: impl Into<String>, invoker: Arc<dyn Invoker>) {
        self.inner
            .registry
            .functions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), invoker);
    }

    /// Stops serving function `name`; `true` if it was registered.
    pub fn deregister_function(&self, name: &str) -> bool {
        self.inner
            .registry
            .functions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .is_some()
    }

    /// Fault knob: refuse (`refuse = true`) or serve again every event-source-mapping request
    /// naming `function` (`ListEventSourceMappings?FunctionName=`,
    /// `CreateEventSourceMapping`) with `403 AccessDeniedException`, as AWS answers a role
    /// without `lambda:ListEventSourceMappings` / `lambda:CreateEventSourceMapping`.
    pub fn refuse_mapping_requests(&self, function: &str, refuse: bool) {
        let mut refused = self
            .inner
            .registry
            .refused
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if refuse {
            refused.insert(plain_function_name(function).to_owned());
        } else {
            refused.remove(plain_function_name(function));
        }
    }

    /// Publishes `mapping` under its UUID and returns its control handle (the same one the
    /// mapping's pollers honour). The mapping runs wherever its owner runs it.
    pub fn register_mapping(&self, mapping: &EventSourceMapping) -> MappingHandle {
        let control = mapping.control();
        self.inner
            .registry
            .mappings
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                control.uuid().to_owned(),
                MappingEntry {
                    config: Arc::new(mapping.config().clone()),
                    control: control.clone(),
                    created: None,
                },
            );
        control
    }

    /// Removes the mapping with `uuid` from the API; `true` if it was registered. A mapping
    /// the server created keeps running (until [`LambdaApiServer::stop_created_mappings`] or
    /// the server stops); `DeleteEventSourceMapping` stops it.
    pub fn deregister_mapping(&self, uuid: &str) -> bool {
        self.inner
            .registry
            .mappings
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uuid)
            .is_some()
    }

    /// Stops accepting connections (in-flight requests finish) and stops the mappings the
    /// server created (their in-flight batches finish; join them with
    /// [`LambdaApiServer::stop_created_mappings`]).
    pub fn shutdown(&self) {
        self.inner.stop.cancel();
    }
}

fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route(
            &format!("{API}/functions/{{name}}/invocations"),
            post(invoke),
        )
        .route(
            &format!("{API}/event-source-mappings/"),
            get(list_mappings).post(create_mapping),
        )
        .route(
            &format!("{API}/event-source-mappings"),
            get(list_mappings).post(create_mapping),
        )
        .route(
            &format!("{API}/event-source-mappings/{{uuid}}"),
            get(get_mapping).put(update_mapping).delete(delete_mapping),
        )
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(BODY_HARD_LIMIT))
        .with_state(registry)
}

/// The plain function name from a name, `name:qualifier`, a partial or a full ARN.
pub fn plain_function_name(function: &str) -> &str {
    let parts: Vec<&str> = function.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => parts[i + 1],
        _ => parts[0],
    }
}

async fn unknown_operation(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "the local Lambda API does not implement {method} {}",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod create_tests;
#[cfg(test)]
mod tests;
