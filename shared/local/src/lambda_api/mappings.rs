//! `ListEventSourceMappings`, `GetEventSourceMapping` and `UpdateEventSourceMapping`, and the
//! mapping JSON every mapping route answers with.

use super::response::{aws_error, json_response};
use super::{plain_function_name, ArnContext, MappingEntry, Registry};
use crate::esm::{EventSource, MappingState, StartingPosition};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, UNIX_EPOCH};
use uuid::Uuid;

/// Query of `ListEventSourceMappings`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(rename = "FunctionName")]
    function_name: Option<String>,
    #[serde(rename = "EventSourceArn")]
    event_source_arn: Option<String>,
}

impl MappingEntry {
    /// The self-managed source's bootstrap endpoints as the API reports them (what
    /// `CreateEventSourceMapping` asked for, else the configured bootstrap servers); empty
    /// for MSK.
    pub(super) fn endpoints(&self) -> Vec<String> {
        match (&self.config.event_source, &self.created) {
            (EventSource::Msk { .. }, _) => Vec::new(),
            (EventSource::SelfManaged, Some(created)) => created.endpoints.clone(),
            (EventSource::SelfManaged, None) => self
                .config
                .source_bootstrap
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The `EventSourceMappingConfiguration` JSON of `entry`, reported in `state` (an AWS state
/// name: the mapping's own, or a transitional one such as `Creating` or `Deleting`).
pub(super) fn mapping_json(
    arn: &ArnContext,
    entry: &MappingEntry,
    state: &str,
) -> serde_json::Value {
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
        "State": state,
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
            value["SelfManagedEventSource"] =
                json!({ "Endpoints": { "KAFKA_BOOTSTRAP_SERVERS": entry.endpoints() } });
            value["SelfManagedKafkaEventSourceConfig"] = group;
        }
    }
    if let Some(created) = &entry.created {
        if !created.access_configurations.is_empty() {
            let access: Vec<serde_json::Value> = created
                .access_configurations
                .iter()
                .map(|a| json!({ "Type": a.kind, "URI": a.uri }))
                .collect();
            value["SourceAccessConfigurations"] = json!(access);
        }
        if let Some(pollers) = &created.poller_config {
            let mut config = json!({});
            if let Some(min) = pollers.minimum_pollers {
                config["MinimumPollers"] = json!(min);
            }
            if let Some(max) = pollers.maximum_pollers {
                config["MaximumPollers"] = json!(max);
            }
            value["ProvisionedPollerConfig"] = config;
        }
    }
    value
}

pub(super) async fn list_mappings(
    State(registry): State<Arc<Registry>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let function = query
        .function_name
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(plain_function_name);
    if let Some(f) = function.filter(|f| registry.is_refused(f)) {
        return aws_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!("User is not authorized to perform: lambda:ListEventSourceMappings on function {f} (refused by the local Lambda API's fault knob)"),
        );
    }
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
        .map(|e| mapping_json(&registry.arn, e, e.control.state().as_str()))
        .collect();
    json_response(
        StatusCode::OK,
        &Uuid::new_v4().to_string(),
        json!({ "EventSourceMappings": mappings }).to_string(),
    )
}

pub(super) fn mapping_not_found(uuid: &str) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("The resource you requested does not exist. (event source mapping {uuid})"),
    )
}

pub(super) async fn get_mapping(
    State(registry): State<Arc<Registry>>,
    Path(uuid): Path<String>,
) -> Response {
    let Some(entry) = registry.mapping(&uuid) else {
        return mapping_not_found(&uuid);
    };
    let body = mapping_json(&registry.arn, &entry, entry.control.state().as_str());
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
pub(super) struct UpdateBody {
    enabled: Option<bool>,
    batch_size: Option<usize>,
    maximum_batching_window_in_seconds: Option<u64>,
}

pub(super) async fn update_mapping(
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
    let body = mapping_json(&registry.arn, &entry, state.as_str());
    json_response(
        StatusCode::ACCEPTED,
        &Uuid::new_v4().to_string(),
        body.to_string(),
    )
}
