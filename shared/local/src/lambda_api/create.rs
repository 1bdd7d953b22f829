//! `CreateEventSourceMapping` and `DeleteEventSourceMapping` for Kafka event sources, the
//! [`MappingFactory`] that turns a request into an [`EsmConfig`], and the tasks of the
//! mappings the server created.

use super::create_request::{
    parse_request, CreateBody, CreateMappingRequest, ProvisionedPollerConfig,
    SourceAccessConfiguration,
};
use super::mappings::{mapping_json, mapping_not_found};
use super::response::{aws_error, json_response};
use super::{plain_function_name, LambdaApiServer, MappingEntry, Registry};
use crate::esm::{
    EsmConfig, EsmError, EsmStats, EsmStatsSnapshot, EventSource, EventSourceMapping,
};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A created mapping's task: [`EventSourceMapping::run`]'s outcome.
type MappingTask = JoinHandle<Result<(), EsmError>>;

/// Turns a [`CreateMappingRequest`] into the [`EsmConfig`] of a running mapping: what the
/// request lacks (MSK bootstrap servers, the consumer's security settings, test tuning) is
/// the factory's knowledge. An `Err` is answered as `400 InvalidParameterValueException`
/// with its text. The config must keep the request's function name and topic.
///
/// Closures `Fn(&CreateMappingRequest) -> Result<EsmConfig, String>` are factories;
/// [`DefaultMappingFactory`] is a ready one.
pub trait MappingFactory: Send + Sync {
    /// The config of the mapping `request` asks for, or why it cannot be created.
    fn esm_config(&self, request: &CreateMappingRequest) -> Result<EsmConfig, String>;
}

impl<F> MappingFactory for F
where
    F: Fn(&CreateMappingRequest) -> Result<EsmConfig, String> + Send + Sync,
{
    fn esm_config(&self, request: &CreateMappingRequest) -> Result<EsmConfig, String> {
        self(request)
    }
}

/// A last word on every config a [`DefaultMappingFactory`] builds (e.g. shorter
/// `metadata_refresh` and retry backoffs in tests).
pub type ConfigHook = Arc<dyn Fn(&mut EsmConfig) + Send + Sync>;

/// The ready [`MappingFactory`]: a self-managed source consumes from its endpoints, an MSK
/// source from the bootstrap servers registered for its cluster ARN (an unknown ARN is
/// refused); `MinimumPollers` pollers (else 1); [`DefaultMappingFactory::consumer_config`]
/// appended to the consumer settings (`SourceAccessConfigurations` are not interpreted);
/// then the [`ConfigHook`], if any.
#[derive(Clone, Default)]
pub struct DefaultMappingFactory {
    /// MSK cluster ARN → bootstrap servers (`host:port,...`).
    pub msk_clusters: HashMap<String, String>,
    /// Extra librdkafka settings for every created mapping's consumers (security, timeouts).
    pub consumer_config: Vec<(String, String)>,
    /// Applied last to every config.
    pub hook: Option<ConfigHook>,
}

impl fmt::Debug for DefaultMappingFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultMappingFactory")
            .field("msk_clusters", &self.msk_clusters)
            .field("consumer_config", &self.consumer_config)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl DefaultMappingFactory {
    /// No MSK clusters, no extra settings, no hook.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves MSK cluster `arn` to `bootstrap` (`host:port,...`).
    pub fn with_msk_cluster(
        mut self,
        arn: impl Into<String>,
        bootstrap: impl Into<String>,
    ) -> Self {
        self.msk_clusters.insert(arn.into(), bootstrap.into());
        self
    }

    /// Adds a librdkafka setting for the created mappings' consumers.
    pub fn with_consumer_setting(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.consumer_config.push((key.into(), value.into()));
        self
    }

    /// Sets the [`ConfigHook`].
    pub fn with_hook(mut self, hook: impl Fn(&mut EsmConfig) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }
}

impl MappingFactory for DefaultMappingFactory {
    fn esm_config(&self, request: &CreateMappingRequest) -> Result<EsmConfig, String> {
        let bootstrap = match &request.event_source {
            EventSource::SelfManaged => request.bootstrap_endpoints.join(","),
            EventSource::Msk { cluster_arn } => self
                .msk_clusters
                .get(cluster_arn)
                .cloned()
                .ok_or_else(|| {
                    format!("Unknown Amazon MSK cluster {cluster_arn} (the local Lambda API knows no bootstrap servers for it)")
                })?,
        };
        let mut config = request.base_config(bootstrap);
        config
            .consumer_config
            .extend(self.consumer_config.iter().cloned());
        if let Some(hook) = &self.hook {
            hook(&mut config);
        }
        Ok(config)
    }
}

/// The registered factory (none until [`LambdaApiServer::serve_mapping_creation`]).
#[derive(Default)]
pub(super) struct FactorySlot(RwLock<Option<Arc<dyn MappingFactory>>>);

impl fmt::Debug for FactorySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_tuple("FactorySlot").field(&set).finish()
    }
}

impl FactorySlot {
    fn get(&self) -> Option<Arc<dyn MappingFactory>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What `CreateEventSourceMapping` asked for beyond the [`EsmConfig`] (reported back).
#[derive(Debug)]
pub(super) struct CreatedDetails {
    pub(super) endpoints: Vec<String>,
    pub(super) access_configurations: Vec<SourceAccessConfiguration>,
    pub(super) poller_config: Option<ProvisionedPollerConfig>,
}

/// A mapping the server runs.
#[derive(Debug)]
struct CreatedTask {
    uuid: String,
    topic: String,
    stats: Arc<EsmStats>,
    stop: CancellationToken,
    /// `None` once joined by [`LambdaApiServer::stop_created_mappings`].
    task: Option<MappingTask>,
    /// Deleted through the API (stopping; its result was logged by the task).
    deleted: bool,
}

/// The mappings the server created, in creation order.
#[derive(Debug, Default)]
pub(super) struct CreatedTasks(Mutex<Vec<CreatedTask>>);

impl CreatedTasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CreatedTask>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the task of `uuid` (if the server created it) and forgets deleted tasks that
    /// have ended.
    fn delete(&self, uuid: &str) {
        let mut tasks = self.lock();
        for task in tasks.iter_mut().filter(|t| t.uuid == uuid) {
            task.stop.cancel();
            task.deleted = true;
        }
        tasks.retain(|t| !(t.deleted && t.task.as_ref().is_none_or(JoinHandle::is_finished)));
    }
}

impl LambdaApiServer {
    /// Serves `CreateEventSourceMapping`, building each mapping's config with `factory`
    /// (replacing any previous factory). Without a factory, creation is refused with `400`.
    pub fn serve_mapping_creation(&self, factory: impl MappingFactory + 'static) {
        *self
            .inner
            .registry
            .factory
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(factory));
    }

    /// `(topic, counters)` of every mapping created through the API and not deleted, in
    /// creation order (stopped ones included).
    pub fn created_mapping_stats(&self) -> Vec<(String, EsmStatsSnapshot)> {
        self.inner
            .registry
            .created
            .lock()
            .iter()
            .filter(|t| !t.deleted)
            .map(|t| (t.topic.clone(), t.stats.snapshot()))
            .collect()
    }

    /// Stops every mapping created through the API (in-flight batches finish as usual) and
    /// waits for them; returns `(topic, outcome)` of each not-deleted mapping joined by this
    /// call, in creation order (deleted ones are awaited too, their outcome was logged). The
    /// mappings stay registered (listed, with their last counters) until deleted.
    pub async fn stop_created_mappings(&self) -> Vec<(String, Result<(), EsmError>)> {
        let pending: Vec<(String, bool, MappingTask)> = {
            let mut tasks = self.inner.registry.created.lock();
            let mut pending = Vec::new();
            for t in tasks.iter_mut() {
                t.stop.cancel();
                if let Some(handle) = t.task.take() {
                    pending.push((t.topic.clone(), t.deleted, handle));
                }
            }
            tasks.retain(|t| !t.deleted);
            pending
        };
        let mut outcomes = Vec::new();
        for (topic, deleted, handle) in pending {
            let outcome = handle.await.map_err(EsmError::Worker).and_then(|r| r);
            if !deleted {
                outcomes.push((topic, outcome));
            }
        }
        outcomes
    }
}

fn invalid(message: impl Into<String>) -> Response {
    aws_error(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message,
    )
}

/// The registered mapping of the same function, topic and event source (same MSK ARN, or the
/// same set of bootstrap endpoints), if any.
fn conflicting(
    mappings: &BTreeMap<String, MappingEntry>,
    request: &CreateMappingRequest,
) -> Option<String> {
    let wanted: BTreeSet<&str> = request
        .bootstrap_endpoints
        .iter()
        .map(String::as_str)
        .collect();
    mappings
        .iter()
        .find(|(_, e)| {
            e.config.function_name == request.function_name
                && e.config.topic == request.topic
                && match (&e.config.event_source, &request.event_source) {
                    (EventSource::Msk { cluster_arn: a }, EventSource::Msk { cluster_arn: b }) => {
                        a == b
                    }
                    (EventSource::SelfManaged, EventSource::SelfManaged) => {
                        let endpoints = e.endpoints();
                        endpoints
                            .iter()
                            .map(String::as_str)
                            .collect::<BTreeSet<_>>()
                            == wanted
                    }
                    _ => false,
                }
        })
        .map(|(uuid, _)| uuid.clone())
}

fn conflict_error(registry: &Registry, request: &CreateMappingRequest, uuid: &str) -> Response {
    let source = match &request.event_source {
        EventSource::Msk { cluster_arn } => format!("event source arn (\"{cluster_arn}\")"),
        EventSource::SelfManaged => format!(
            "event source (\"{}\")",
            request.bootstrap_endpoints.join(",")
        ),
    };
    aws_error(
        StatusCode::CONFLICT,
        "ResourceConflictException",
        format!(
            "An event source mapping with {source}, function (\"{}\") and topics (\"{}\") already exists. Please update or delete the existing mapping with UUID {uuid}",
            registry.arn.function_arn(&request.function_name),
            request.topic
        ),
    )
}

pub(super) async fn create_mapping(State(registry): State<Arc<Registry>>, body: Bytes) -> Response {
    let body: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(err) => return invalid(format!("invalid request body: {err}")),
        }
    };
    let Some(function) = body
        .function_name
        .as_deref()
        .map(plain_function_name)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
    else {
        return invalid("FunctionName is required");
    };
    if registry.is_refused(&function) {
        return aws_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!("User is not authorized to perform: lambda:CreateEventSourceMapping on function {function} (refused by the local Lambda API's fault knob)"),
        );
    }
    let request = match parse_request(body, function) {
        Ok(request) => request,
        Err(message) => return invalid(message),
    };
    let Some(invoker) = registry.function(&request.function_name) else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: {}",
                registry.arn.function_arn(&request.function_name)
            ),
        );
    };
    let Some(factory) = registry.factory.get() else {
        return invalid("CreateEventSourceMapping is not enabled on this local Lambda API: its owner registers no mapping factory (LambdaApiServer::serve_mapping_creation)");
    };
    let existing = conflicting(
        &registry
            .mappings
            .read()
            .unwrap_or_else(PoisonError::into_inner),
        &request,
    );
    if let Some(uuid) = existing {
        return conflict_error(&registry, &request, &uuid);
    }
    let config = match factory.esm_config(&request) {
        Ok(config) => config,
        Err(reason) => return invalid(reason),
    };
    if config.function_name != request.function_name || config.topic != request.topic {
        return aws_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            format!(
                "the mapping factory returned a config for {} instead of {}:{}",
                config.label(),
                request.function_name,
                request.topic
            ),
        );
    }
    let esm = match EventSourceMapping::new(config, invoker) {
        Ok(esm) => esm,
        Err(err) => return invalid(err.to_string()),
    };
    let control = esm.control();
    control.set_enabled(request.enabled);
    let entry = MappingEntry {
        config: Arc::new(esm.config().clone()),
        control: control.clone(),
        created: Some(Arc::new(CreatedDetails {
            endpoints: request.bootstrap_endpoints.clone(),
            access_configurations: request.access_configurations.clone(),
            poller_config: request.poller_config,
        })),
    };
    let uuid = control.uuid().to_owned();
    {
        // Check and insert atomically; the task is recorded before a Delete can see the entry.
        let mut mappings = registry
            .mappings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = conflicting(&mappings, &request) {
            drop(mappings);
            return conflict_error(&registry, &request, &existing);
        }
        mappings.insert(uuid.clone(), entry.clone());
        let stop = registry.stop.child_token();
        let stats = esm.stats();
        let label = esm.config().label();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let outcome = esm.run(stop).await;
                match &outcome {
                    Ok(()) => {
                        tracing::info!(mapping = %label, "created event source mapping stopped")
                    }
                    Err(err) => {
                        tracing::error!(mapping = %label, error = %err, "created event source mapping failed")
                    }
                }
                outcome
            }
        });
        registry.created.lock().push(CreatedTask {
            uuid: uuid.clone(),
            topic: request.topic.clone(),
            stats,
            stop,
            task: Some(task),
            deleted: false,
        });
    }
    tracing::info!(uuid = %uuid, mapping = %entry.config.label(), enabled = request.enabled, "event source mapping created");
    let body = mapping_json(&registry.arn, &entry, "Creating");
    json_response(
        StatusCode::ACCEPTED,
        &Uuid::new_v4().to_string(),
        body.to_string(),
    )
}

pub(super) async fn delete_mapping(
    State(registry): State<Arc<Registry>>,
    Path(uuid): Path<String>,
) -> Response {
    let removed = registry
        .mappings
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&uuid);
    let Some(entry) = removed else {
        return mapping_not_found(&uuid);
    };
    registry.created.delete(&uuid);
    tracing::info!(uuid = %uuid, mapping = %entry.config.label(), "event source mapping deleted");
    let body = mapping_json(&registry.arn, &entry, "Deleting");
    json_response(
        StatusCode::ACCEPTED,
        &Uuid::new_v4().to_string(),
        body.to_string(),
    )
}
