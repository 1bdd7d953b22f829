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
//!     and `{"errorType","errorMessage"}` (see [`InvokeError::error_type`]); Step Functions
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
//!
//! Every response carries `x-amzn-RequestId`. Service errors use the AWS REST-JSON error shape:
//! header `x-amzn-ErrorType: <Code>` and body `{"Type":"User"|"Service","message":...}`.
//!
//! Functions and mappings are registered in process ([`LambdaApiServer::register_function`],
//! [`LambdaApiServer::register_mapping`]); the server never creates them itself.

use crate::esm::{EsmConfig, EventSource, EventSourceMapping, MappingHandle};
use crate::esm::{MappingState, StartingPosition};
use crate::invoke::{InvokeError, Invoker, MAX_SYNC_PAYLOAD_BYTES};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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
}

#[derive(Debug, Default)]
struct Registry {
    arn: ArnContext,
    functions: RwLock<HashMap<String, Arc<dyn Invoker>>>,
    mappings: RwLock<BTreeMap<String, MappingEntry>>,
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
        let registry = Arc::new(Registry {
            arn,
            ..Registry::default()
        });
        let stop = CancellationToken::new();
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
                },
            );
        control
    }

    /// Removes the mapping with `uuid` from the API; `true` if it was registered.
    pub fn deregister_mapping(&self, uuid: &str) -> bool {
        self.inner
            .registry
            .mappings
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uuid)
            .is_some()
    }

    /// Stops accepting connections (in-flight requests finish).
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
        .route(&format!("{API}/event-source-mappings/"), get(list_mappings))
        .route(&format!("{API}/event-source-mappings"), get(list_mappings))
        .route(
            &format!("{API}/event-source-mappings/{{uuid}}"),
            get(get_mapping).put(update_mapping),
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

fn request_id_header(id: &str) -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static("x-amzn-requestid"),
        HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("0")),
    )]
}

/// An AWS REST-JSON service error.
fn aws_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
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

fn json_response(status: StatusCode, request_id: &str, body: String) -> Response {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

async fn invoke(
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

fn too_large(size: usize, limit: usize) -> Response {
    aws_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        format!("Request must be smaller than {limit} bytes for the InvokeFunction operation (got {size} bytes)"),
    )
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

/// Query of `ListEventSourceMappings`.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(rename = "FunctionName")]
    function_name: Option<String>,
    #[serde(rename = "EventSourceArn")]
    event_source_arn: Option<String>,
}

fn mapping_json(arn: &ArnContext, entry: &MappingEntry, state: MappingState) -> serde_json::Value {
    let config = &entry.config;
    let control = &entry.control;
    let last_modified = control
        .last_modified()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut value = json!({
        "UUID": control.uuid(),
        "FunctionArn": arn.function_arn(&config.function_name),
        "Topics": [config.topic],
        "BatchSize": control.batch_size(),
        "MaximumBatchingWindowInSeconds": control.batching_window().as_secs(),
        "StartingPosition": match config.starting_position {
            StartingPosition::TrimHorizon => "TRIM_HORIZON",
            StartingPosition::Latest => "LATEST",
        },
        "State": state.as_str(),
        "StateTransitionReason": "USER_INITIATED",
        "LastModified": last_modified,
        "LastProcessingResult": "No records processed",
    });
    let group = json!({ "ConsumerGroupId": config.consumer_group_id });
    match &config.event_source {
        EventSource::Msk { cluster_arn } => {
            value["EventSourceArn"] = json!(cluster_arn);
            value["AmazonManagedKafkaEventSourceConfig"] = group;
        }
        EventSource::SelfManaged => {
            let servers: Vec<&str> = config
                .source_bootstrap
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            value["SelfManagedEventSource"] =
                json!({ "Endpoints": { "KAFKA_BOOTSTRAP_SERVERS": servers } });
            value["SelfManagedKafkaEventSourceConfig"] = group;
        }
    }
    value
}

async fn list_mappings(
    State(registry): State<Arc<Registry>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let function = query
        .function_name
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(plain_function_name);
    let source_arn = query.event_source_arn.as_deref().filter(|a| !a.is_empty());
    let entries: Vec<MappingEntry> = registry
        .mappings
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .filter(|e| function.is_none_or(|f| e.config.function_name == f))
        .filter(|e| source_arn.is_none_or(|a| e.config.event_source.event_source_arn() == Some(a)))
        .cloned()
        .collect();
    let mappings: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| mapping_json(&registry.arn, e, e.control.state()))
        .collect();
    json_response(
        StatusCode::OK,
        &Uuid::new_v4().to_string(),
        json!({ "EventSourceMappings": mappings }).to_string(),
    )
}

fn mapping_not_found(uuid: &str) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("The resource you requested does not exist. (event source mapping {uuid})"),
    )
}

async fn get_mapping(State(registry): State<Arc<Registry>>, Path(uuid): Path<String>) -> Response {
    let Some(entry) = registry.mapping(&uuid) else {
        return mapping_not_found(&uuid);
    };
    let body = mapping_json(&registry.arn, &entry, entry.control.state());
    json_response(
        StatusCode::OK,
        &Uuid::new_v4().to_string(),
        body.to_string(),
    )
}

/// Body of `UpdateEventSourceMapping` (the fields this emulator supports; others are
/// accepted and ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateBody {
    enabled: Option<bool>,
    batch_size: Option<usize>,
    maximum_batching_window_in_seconds: Option<u64>,
}

async fn update_mapping(
    State(registry): State<Arc<Registry>>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    let Some(entry) = registry.mapping(&uuid) else {
        return mapping_not_found(&uuid);
    };
    let update: UpdateBody = if body.iter().all(u8::is_ascii_whitespace) {
        UpdateBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(update) => update,
            Err(err) => {
                return aws_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameterValueException",
                    format!("invalid request body: {err}"),
                )
            }
        }
    };
    let control = &entry.control;
    // Validate everything before changing anything.
    if let Some(size) = update.batch_size {
        if !(1..=crate::esm::MAX_BATCH_SIZE).contains(&size) {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                format!(
                    "BatchSize {size} must be between 1 and {}",
                    crate::esm::MAX_BATCH_SIZE
                ),
            );
        }
    }
    if let Some(window) = update.maximum_batching_window_in_seconds {
        if window > 300 {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                format!("MaximumBatchingWindowInSeconds {window} must be between 0 and 300"),
            );
        }
    }
    if let Some(size) = update.batch_size {
        if let Err(reason) = control.set_batch_size(size) {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                reason,
            );
        }
    }
    if let Some(window) = update.maximum_batching_window_in_seconds {
        if let Err(reason) = control.set_batching_window(Duration::from_secs(window)) {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                reason,
            );
        }
    }
    let mut state = control.state();
    if let Some(enabled) = update.enabled {
        if control.set_enabled(enabled) {
            tracing::info!(uuid = %uuid, mapping = %entry.config.label(), enabled, "event source mapping updated");
            // AWS answers a change with the transitional state, whatever the pollers did yet.
            state = if enabled {
                MappingState::Enabling
            } else {
                MappingState::Disabling
            };
        }
    }
    let body = mapping_json(&registry.arn, &entry, state);
    json_response(
        StatusCode::ACCEPTED,
        &Uuid::new_v4().to_string(),
        body.to_string(),
    )
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
mod tests {
    use super::*;
    use crate::invoke::FnInvoker;
    use std::time::Duration;

    async fn server() -> LambdaApiServer {
        let server = LambdaApiServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let echo = FnInvoker::new(|v: serde_json::Value| async move {
            match v.get("mode").and_then(|m| m.as_str()) {
                Some("error") => Err("not ready yet".to_owned()),
                Some("panic") => panic!("kaputt"),
                Some("sleep") => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(v)
                }
                Some("big") => Ok(json!("x".repeat(MAX_SYNC_PAYLOAD_BYTES + 10))),
                _ => Ok(json!({ "echo": v })),
            }
        })
        .with_timeout(Duration::from_millis(200));
        server.register_function("echo", Arc::new(echo));
        server
    }

    fn url(server: &LambdaApiServer, function: &str) -> String {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            server.endpoint_url()
        )
    }

    async fn call(
        server: &LambdaApiServer,
        function: &str,
        kind: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, HeaderMap, String) {
        let mut req = reqwest::Client::new()
            .post(url(server, function))
            .body(body);
        if let Some(kind) = kind {
            req = req.header("X-Amz-Invocation-Type", kind);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    }

    fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
        h.get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn function_names_are_stripped() {
        assert_eq!(plain_function_name("mirror"), "mirror");
        assert_eq!(plain_function_name("mirror:$LATEST"), "mirror");
        assert_eq!(plain_function_name("mirror:live"), "mirror");
        assert_eq!(
            plain_function_name("arn:aws:lambda:us-east-1:123456789012:function:mirror"),
            "mirror"
        );
        assert_eq!(
            plain_function_name("arn:aws:lambda:us-east-1:123456789012:function:mirror:7"),
            "mirror"
        );
        assert_eq!(
            plain_function_name("123456789012:function:mirror"),
            "mirror"
        );
    }

    #[tokio::test]
    async fn request_response_returns_the_result() {
        let s = server().await;
        let (status, h, body) = call(&s, "echo", None, r#"{"a":1}"#).await;
        assert_eq!(status, 200);
        assert_eq!(header(&h, "x-amz-executed-version"), Some("$LATEST"));
        assert!(header(&h, "x-amz-function-error").is_none());
        assert!(header(&h, "x-amzn-requestid").is_some_and(|id| id.len() == 36));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({"echo": {"a": 1}})
        );
        // ARN, qualifier and an empty body.
        let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho%3A%24LATEST";
        let (status, _, body) = call(&s, arn, Some("RequestResponse"), "").await;
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"echo":{}}"#);
        let (status, _, _) = call(&s, "echo:live", None, "{}").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn function_failures_are_200_unhandled() {
        let s = server().await;
        for (mode, error_type) in [
            ("error", "alloc::string::String"),
            ("panic", "Runtime.ExitError"),
            ("sleep", "Sandbox.Timedout"),
            ("big", "Function.ResponseSizeTooLarge"),
        ] {
            let (status, h, body) = call(&s, "echo", None, format!(r#"{{"mode":"{mode}"}}"#)).await;
            assert_eq!(status, 200, "{mode}");
            assert_eq!(
                header(&h, "x-amz-function-error"),
                Some("Unhandled"),
                "{mode}"
            );
            assert!(header(&h, "x-amzn-requestid").is_some());
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["errorType"], error_type, "{mode}: {v}");
            assert!(v["errorMessage"].is_string());
        }
        let (_, _, body) = call(&s, "echo", None, r#"{"mode":"error"}"#).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["errorMessage"], "not ready yet");
    }

    #[tokio::test]
    async fn service_errors_use_the_aws_error_shape() {
        let s = server().await;
        let (status, h, body) = call(&s, "nope", None, "{}").await;
        assert_eq!(status, 404);
        assert_eq!(
            header(&h, "x-amzn-errortype"),
            Some("ResourceNotFoundException")
        );
        assert!(header(&h, "x-amzn-requestid").is_some());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Type"], "User");
        assert!(v["message"].as_str().unwrap().contains("function:nope"));

        let big = vec![b' '; MAX_SYNC_PAYLOAD_BYTES + 1];
        let (status, h, _) = call(&s, "echo", None, big).await;
        assert_eq!(status, 413);
        assert_eq!(
            header(&h, "x-amzn-errortype"),
            Some("RequestTooLargeException")
        );

        let (status, h, _) = call(&s, "echo", None, "not json").await;
        assert_eq!(status, 400);
        assert_eq!(
            header(&h, "x-amzn-errortype"),
            Some("InvalidRequestContentException")
        );

        let (status, h, _) = call(&s, "echo", Some("Sometimes"), "{}").await;
        assert_eq!(status, 400);
        assert_eq!(
            header(&h, "x-amzn-errortype"),
            Some("InvalidParameterValueException")
        );
    }

    #[tokio::test]
    async fn event_and_dry_run() {
        let s = server().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        s.register_function(
            "sink",
            Arc::new(FnInvoker::new(move |v: serde_json::Value| {
                let tx = tx.clone();
                async move {
                    tx.send(v).map_err(|e| e.to_string())?;
                    Ok::<_, String>(json!(null))
                }
            })),
        );
        let (status, h, body) = call(&s, "sink", Some("Event"), r#"{"n":7}"#).await;
        assert_eq!(status, 202);
        assert!(body.is_empty());
        assert!(header(&h, "x-amzn-requestid").is_some());
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, json!({"n": 7}));

        let (status, _, _) = call(&s, "sink", Some("DryRun"), "{}").await;
        assert_eq!(status, 204);
        assert!(rx.try_recv().is_err(), "DryRun must not invoke");
        let (status, _, _) = call(&s, "ghost", Some("DryRun"), "{}").await;
        assert_eq!(status, 404);

        let big = vec![b' '; MAX_ASYNC_PAYLOAD_BYTES + 1];
        let (status, _, _) = call(&s, "sink", Some("Event"), big).await;
        assert_eq!(status, 413);

        assert!(s.deregister_function("sink"));
        let (status, _, _) = call(&s, "sink", None, "{}").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn event_invocations_are_retried_like_aws() {
        let s = server().await;
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let counter = calls.clone();
        // Fails twice, then succeeds on the last of AWS's two retries.
        s.register_function(
            "flaky",
            Arc::new(FnInvoker::new(move |v: serde_json::Value| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let tx = tx.clone();
                async move {
                    if n <= ASYNC_RETRY_ATTEMPTS {
                        return Err(format!("attempt {n} fails"));
                    }
                    tx.send(v).map_err(|e| e.to_string())?;
                    Ok::<_, String>(json!(null))
                }
            })),
        );
        let (status, _, _) = call(&s, "flaky", Some("Event"), r#"{"n":1}"#).await;
        assert_eq!(status, 202);
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the last retry succeeds")
            .unwrap();
        assert_eq!(got, json!({"n": 1}));
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            ASYNC_RETRY_ATTEMPTS + 1
        );
    }

    #[tokio::test]
    async fn mappings_list_get_and_update() {
        let s = server().await;
        let mut msk = EsmConfig::new("b1:9092,b2:9092", "orders", "ferry-orders", "mirror");
        msk.event_source = EventSource::Msk {
            cluster_arn: "arn:aws:kafka:us-east-1:123456789012:cluster/src/abc".to_owned(),
        };
        msk.batch_size = 500;
        let never = Arc::new(FnInvoker::new(|v: serde_json::Value| async move {
            Ok::<_, String>(v)
        }));
        let a = EventSourceMapping::new(msk, never.clone()).unwrap();
        let b = EventSourceMapping::new(
            EsmConfig::new("127.0.0.1:19092", "payments", "g2", "other"),
            never,
        )
        .unwrap();
        let control = s.register_mapping(&a);
        s.register_mapping(&b);
        assert_eq!(control.uuid(), a.uuid());
        let client = reqwest::Client::new();
        let base = format!("{}/2015-03-31/event-source-mappings/", s.endpoint_url());

        let list: serde_json::Value = client
            .get(format!(
                "{base}?FunctionName=arn:aws:lambda:us-east-1:123456789012:function:mirror"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = list["EventSourceMappings"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        let m = &items[0];
        assert_eq!(m["UUID"], a.uuid());
        assert_eq!(
            m["FunctionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:mirror"
        );
        assert_eq!(
            m["EventSourceArn"],
            "arn:aws:kafka:us-east-1:123456789012:cluster/src/abc"
        );
        assert_eq!(m["Topics"], json!(["orders"]));
        assert_eq!(m["BatchSize"], 500);
        assert_eq!(m["State"], "Enabled");
        assert_eq!(
            m["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
            "ferry-orders"
        );
        assert!(m["LastModified"].is_f64());

        let all: serde_json::Value = client
            .get(&base)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(all["EventSourceMappings"].as_array().unwrap().len(), 2);
        let by_arn: serde_json::Value = client
            .get(format!(
                "{base}?EventSourceArn=arn:aws:kafka:us-east-1:123456789012:cluster/src/abc"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(by_arn["EventSourceMappings"].as_array().unwrap().len(), 1);

        let got: serde_json::Value = client
            .get(format!("{base}{}", b.uuid()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            got["SelfManagedEventSource"]["Endpoints"]["KAFKA_BOOTSTRAP_SERVERS"],
            json!(["127.0.0.1:19092"])
        );
        assert_eq!(
            got["SelfManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
            "g2"
        );

        // Not running: disabling settles at once, but the update reports the transition.
        let resp = client
            .put(format!("{base}{}", a.uuid()))
            .body(r#"{"Enabled":false,"BatchSize":50}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        let upd: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(upd["State"], "Disabling");
        assert_eq!(upd["BatchSize"], 50);
        assert!(!control.is_enabled());
        assert_eq!(control.batch_size(), 50);
        assert_eq!(a.state(), MappingState::Disabled);
        let got: serde_json::Value = client
            .get(format!("{base}{}", a.uuid()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["State"], "Disabled");

        let resp = client
            .put(format!("{base}{}", a.uuid()))
            .body(r#"{"BatchSize":0}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let resp = client
            .put(format!("{base}00000000-0000-4000-8000-000000000000"))
            .body(r#"{"Enabled":true}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        assert_eq!(
            header(resp.headers(), "x-amzn-errortype"),
            Some("ResourceNotFoundException")
        );
        let upd: serde_json::Value = client
            .put(format!("{base}{}", a.uuid()))
            .body(r#"{"Enabled":true}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(upd["State"], "Enabling");
        assert_eq!(a.state(), MappingState::Enabled);
    }
}
