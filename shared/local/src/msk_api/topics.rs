//! The topic routes: `ListTopics`, `CreateTopic`, `DescribeTopic`, `UpdateTopic`,
//! `DescribeTopicPartitions`, over the cluster's [`TopicBackend`].

use super::backend::TopicBackend;
use super::wire::{
    CreateTopicRequest, DescribeTopicPartitionsResponse, DescribeTopicResponse, ListTopicsQuery,
    ListTopicsResponse, PageQuery, TopicChangeResponse, TopicInfo, TopicPartitionInfo,
    UpdateTopicRequest,
};
use super::{bad_request, not_found, ok_json, parse_body, topic_arn, ApiError, Registry};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ferry_core::msk::{parse_properties, to_properties};
use ferry_core::ports::TopicAdminError;
use ferry_core::topics::TopicDescription;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Page size when `maxResults` is not given.
const DEFAULT_PAGE: usize = 100;

/// The cluster's topic backend, or the answer for an unknown cluster / one without a topic API.
fn backend(registry: &Registry, arn: &str) -> Result<Arc<dyn TopicBackend>, ApiError> {
    let cluster = registry
        .cluster(arn)
        .ok_or_else(|| not_found(format_args!("cluster {arn}")))?;
    cluster.topics.ok_or_else(|| {
        bad_request(format!(
            "the topic API is not available for cluster {arn} (MSK Serverless, or no topic backend registered)"
        ))
    })
}

/// A backend failure as an AWS error.
fn backend_error(e: TopicAdminError) -> ApiError {
    match e {
        TopicAdminError::Unavailable { .. } => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "ServiceUnavailableException",
            message: e.to_string(),
        },
        TopicAdminError::Rejected { reason, .. } => bad_request(reason),
    }
}

async fn describe(
    backend: &dyn TopicBackend,
    topic: &str,
) -> Result<Option<TopicDescription>, ApiError> {
    backend
        .describe(&[topic.to_owned()])
        .await
        .map(|mut d| d.pop())
        .map_err(backend_error)
}

/// The page of `items` starting at `token` (an index), and the next token.
fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    max: Option<usize>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start: usize = match token.filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse()
            .map_err(|_| bad_request(format!("invalid nextToken {t:?}")))?,
        None => 0,
    };
    let size = max.filter(|m| *m > 0).unwrap_or(DEFAULT_PAGE);
    let end = start.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((
        items
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect(),
        next,
    ))
}

pub(super) async fn list_topics(
    State(registry): State<Arc<Registry>>,
    Path(arn): Path<String>,
    Query(query): Query<ListTopicsQuery>,
) -> Result<Response, ApiError> {
    let backend = backend(&registry, &arn)?;
    let mut names = backend.list().await.map_err(backend_error)?;
    if let Some(prefix) = query.topic_name_filter.as_deref() {
        names.retain(|n| n.starts_with(prefix));
    }
    names.sort();
    let (names, next_token) = page(names, query.next_token.as_deref(), query.max_results)?;
    let described = backend.describe(&names).await.map_err(backend_error)?;
    let topics = described
        .into_iter()
        .map(|d| TopicInfo {
            topic_arn: topic_arn(&arn, &d.name),
            partition_count: d.partitions,
            replication_factor: d.replication_factor,
            out_of_sync_replica_count: 0,
            topic_name: d.name,
        })
        .collect();
    ok_json(&ListTopicsResponse { topics, next_token })
}

fn decode_configs(encoded: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(encoded) = encoded.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|e| bad_request(format!("configs is not Base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| bad_request(format!("decoded configs are not UTF-8: {e}")))?;
    Ok(parse_properties(&text))
}

pub(super) async fn create_topic(
    State(registry): State<Arc<Registry>>,
    Path(arn): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let backend = backend(&registry, &arn)?;
    let request: CreateTopicRequest = parse_body(&body)?;
    let (Some(topic), Some(partitions), Some(replication_factor)) = (
        request.topic_name.filter(|t| !t.is_empty()),
        request.partition_count,
        request.replication_factor,
    ) else {
        return Err(bad_request(
            "topicName, partitionCount and replicationFactor are required",
        ));
    };
    if partitions < 1 || replication_factor < 1 {
        return Err(bad_request(
            "partitionCount and replicationFactor must be at least 1",
        ));
    }
    let configs = decode_configs(request.configs.as_deref())?;
    if describe(&*backend, &topic).await?.is_some() {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "ConflictException",
            message: format!("topic {topic} already exists"),
        });
    }
    backend
        .create(&topic, partitions, replication_factor, &configs)
        .await
        .map_err(backend_error)?;
    ok_json(&TopicChangeResponse {
        topic_arn: topic_arn(&arn, &topic),
        topic_name: topic,
        status: "CREATING",
    })
}

pub(super) async fn describe_topic(
    State(registry): State<Arc<Registry>>,
    Path((arn, topic)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let backend = backend(&registry, &arn)?;
    let d = describe(&*backend, &topic)
        .await?
        .ok_or_else(|| not_found(format_args!("topic {topic}")))?;
    let configs: BTreeMap<String, String> = d
        .configs
        .iter()
        .filter(|(_, c)| !c.sensitive)
        .filter_map(|(k, c)| Some((k.clone(), c.value.clone()?)))
        .collect();
    ok_json(&DescribeTopicResponse {
        topic_arn: topic_arn(&arn, &topic),
        topic_name: d.name,
        replication_factor: d.replication_factor,
        partition_count: d.partitions,
        configs: STANDARD.encode(to_properties(&configs)),
        status: "ACTIVE",
    })
}

pub(super) async fn update_topic(
    State(registry): State<Arc<Registry>>,
    Path((arn, topic)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let backend = backend(&registry, &arn)?;
    let request: UpdateTopicRequest = parse_body(&body)?;
    if describe(&*backend, &topic).await?.is_none() {
        return Err(not_found(format_args!("topic {topic}")));
    }
    match (request.partition_count, request.configs.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(bad_request(
                "update either partitionCount or configs in one UpdateTopic request, not both",
            ))
        }
        (None, None) => {
            return Err(bad_request(
                "nothing to update: give partitionCount or configs",
            ))
        }
        (Some(total), None) => backend.grow(&topic, total).await,
        (None, Some(encoded)) => {
            let configs = decode_configs(Some(encoded))?;
            backend.set_configs(&topic, &configs).await
        }
    }
    .map_err(backend_error)?;
    ok_json(&TopicChangeResponse {
        topic_arn: topic_arn(&arn, &topic),
        topic_name: topic,
        status: "UPDATING",
    })
}

pub(super) async fn describe_partitions(
    State(registry): State<Arc<Registry>>,
    Path((arn, topic)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let cluster = registry
        .cluster(&arn)
        .ok_or_else(|| not_found(format_args!("cluster {arn}")))?;
    let backend = backend(&registry, &arn)?;
    let d = describe(&*backend, &topic)
        .await?
        .ok_or_else(|| not_found(format_args!("topic {topic}")))?;
    // Synthetic placement: brokers 1..=n, leader rotating, replicas following it.
    let brokers = i32::try_from(cluster.facts.broker_count.unwrap_or(1).max(1)).unwrap_or(1);
    let rf = d.replication_factor.clamp(1, brokers);
    let partitions = (0..d.partitions)
        .map(|p| {
            let replicas: Vec<i32> = (0..rf).map(|r| (p + r) % brokers + 1).collect();
            TopicPartitionInfo {
                partition: p,
                leader: replicas[0],
                isr: replicas.clone(),
                replicas,
            }
        })
        .collect();
    let (partitions, next_token) =
        page(partitions, query.next_token.as_deref(), query.max_results)?;
    ok_json(&DescribeTopicPartitionsResponse {
        partitions,
        next_token,
    })
}
