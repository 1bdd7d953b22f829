//! The `CreateEventSourceMapping` request: its body, its validation, and the validated
//! [`CreateMappingRequest`] a [`MappingFactory`](super::MappingFactory) receives.

use crate::esm::{EsmConfig, EventSource, StartingPosition, MAX_BATCH_SIZE};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// AWS's limit of `MaximumBatchingWindowInSeconds`.
const MAX_BATCHING_WINDOW_SECS: u64 = 300;
/// AWS's default batching window for Kafka event sources.
const DEFAULT_KAFKA_BATCHING_WINDOW: Duration = Duration::from_millis(500);
/// AWS's default `BatchSize`.
const DEFAULT_BATCH_SIZE: usize = 100;
/// AWS's limits of `ProvisionedPollerConfig`.
const MAX_MINIMUM_POLLERS: u32 = 200;
const MAX_MAXIMUM_POLLERS: u32 = 2000;

/// One entry of `SourceAccessConfigurations` (`{"Type": ..., "URI": ...}`), as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAccessConfiguration {
    /// `Type`, e.g. `SASL_SCRAM_512_AUTH`, `VPC_SUBNET`, `CLIENT_CERTIFICATE_TLS_AUTH`.
    pub kind: String,
    /// `URI`: a Secrets Manager ARN, `subnet:<id>`, `security_group:<id>`, ...
    pub uri: String,
}

/// `ProvisionedPollerConfig`, as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProvisionedPollerConfig {
    /// `MinimumPollers` (AWS: 1..=200).
    pub minimum_pollers: Option<u32>,
    /// `MaximumPollers` (AWS: 1..=2000, at least `MinimumPollers`).
    pub maximum_pollers: Option<u32>,
}

/// A validated `CreateEventSourceMapping` request for a Kafka event source, handed to the
/// server's [`MappingFactory`](super::MappingFactory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateMappingRequest {
    /// The plain function name (from a name, `name:qualifier` or an ARN).
    pub function_name: String,
    /// The single topic.
    pub topic: String,
    /// The consumer group (as given, else a generated UUID, as AWS does).
    pub consumer_group_id: String,
    /// `StartingPosition`.
    pub starting_position: StartingPosition,
    /// `BatchSize` (default 100).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds` (default 500 ms for Kafka).
    pub batching_window: Duration,
    /// `Enabled` (default `true`).
    pub enabled: bool,
    /// MSK (`EventSourceArn`) or self-managed (`SelfManagedEventSource`).
    pub event_source: EventSource,
    /// Self-managed: `SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS`
    /// (`host:port`, as given); empty for MSK.
    pub bootstrap_endpoints: Vec<String>,
    /// `SourceAccessConfigurations` (authentication, VPC), as given.
    pub access_configurations: Vec<SourceAccessConfiguration>,
    /// `ProvisionedPollerConfig`, if given.
    pub poller_config: Option<ProvisionedPollerConfig>,
}

impl CreateMappingRequest {
    /// An [`EsmConfig`] consuming from `bootstrap` with everything the request says (function,
    /// topic, group, starting position, batch size, batching window, event source) and
    /// `MinimumPollers` pollers (else 1); the rest keeps [`EsmConfig::new`]'s defaults.
    pub fn base_config(&self, bootstrap: impl Into<String>) -> EsmConfig {
        let mut config = EsmConfig::new(
            bootstrap,
            self.topic.clone(),
            self.consumer_group_id.clone(),
            self.function_name.clone(),
        );
        config.starting_position = self.starting_position;
        config.batch_size = self.batch_size;
        config.batching_window = self.batching_window;
        config.event_source = self.event_source.clone();
        config.pollers = self
            .poller_config
            .and_then(|p| p.minimum_pollers)
            .map_or(1, |n| usize::try_from(n).unwrap_or(1));
        config
    }
}

/// Body of `CreateEventSourceMapping` (the fields a Kafka mapping uses; others are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateBody {
    pub(super) function_name: Option<String>,
    topics: Option<Vec<String>>,
    starting_position: Option<String>,
    batch_size: Option<i64>,
    maximum_batching_window_in_seconds: Option<i64>,
    enabled: Option<bool>,
    event_source_arn: Option<String>,
    amazon_managed_kafka_event_source_config: Option<GroupConfigBody>,
    self_managed_event_source: Option<SelfManagedSourceBody>,
    self_managed_kafka_event_source_config: Option<GroupConfigBody>,
    source_access_configurations: Option<Vec<AccessBody>>,
    provisioned_poller_config: Option<PollerBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupConfigBody {
    consumer_group_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SelfManagedSourceBody {
    endpoints: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
struct AccessBody {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "URI")]
    uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PollerBody {
    minimum_pollers: Option<i64>,
    maximum_pollers: Option<i64>,
}

/// `host:port` with a non-empty host and a numeric port.
fn is_endpoint(endpoint: &str) -> bool {
    endpoint.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains(',') && port.parse::<u16>().is_ok()
    })
}

/// `arn:aws:kafka:<region>:<account>:cluster/<name>/<id>` (any partition).
fn is_msk_cluster_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "kafka"
        && parts[5]
            .strip_prefix("cluster/")
            .is_some_and(|rest| !rest.is_empty())
}

fn valid_group_id(id: &str) -> bool {
    (1..=200).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-/*:_+=.@".contains(c))
}

fn pollers_in(value: i64, max: u32, field: &str) -> Result<u32, String> {
    u32::try_from(value)
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            format!("ProvisionedPollerConfig.{field} {value} must be between 1 and {max}")
        })
}

/// Validates everything a Kafka mapping needs; the message of an `Err` is the `400`'s.
pub(super) fn parse_request(
    body: CreateBody,
    function_name: String,
) -> Result<CreateMappingRequest, String> {
    let topics = body.topics.unwrap_or_default();
    let [topic] = topics.as_slice() else {
        return Err(format!(
            "Kafka event sources take exactly one topic (Topics has {})",
            topics.len()
        ));
    };
    if topic.is_empty() || topic.len() > 249 {
        return Err(format!(
            "Topic name {topic:?} must have 1 to 249 characters"
        ));
    }
    let starting_position = match body.starting_position.as_deref() {
        Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
        Some("LATEST") => StartingPosition::Latest,
        Some("AT_TIMESTAMP") => {
            return Err("StartingPosition AT_TIMESTAMP is not supported for Kafka event sources by the local Lambda API (use TRIM_HORIZON or LATEST)".to_owned())
        }
        Some(other) => {
            return Err(format!("1 validation error detected: Value '{other}' at 'startingPosition' failed to satisfy constraint: Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]"))
        }
        None => {
            return Err("StartingPosition is required for Kafka event sources (TRIM_HORIZON or LATEST)".to_owned())
        }
    };
    let batch_size = match body.batch_size {
        None => DEFAULT_BATCH_SIZE,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_BATCH_SIZE).contains(n))
            .ok_or_else(|| format!("BatchSize {n} must be between 1 and {MAX_BATCH_SIZE}"))?,
    };
    let batching_window = match body.maximum_batching_window_in_seconds {
        None => DEFAULT_KAFKA_BATCHING_WINDOW,
        Some(s) => u64::try_from(s)
            .ok()
            .filter(|s| *s <= MAX_BATCHING_WINDOW_SECS)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                format!("MaximumBatchingWindowInSeconds {s} must be between 0 and {MAX_BATCHING_WINDOW_SECS}")
            })?,
    };
    let (event_source, bootstrap_endpoints, group) =
        match (body.event_source_arn, body.self_managed_event_source) {
            (Some(_), Some(_)) => {
                return Err("Specify either EventSourceArn or SelfManagedEventSource, not both".to_owned())
            }
            (None, None) => {
                return Err("An event source is required: EventSourceArn (an Amazon MSK cluster) or SelfManagedEventSource (the local Lambda API emulates Kafka event sources only)".to_owned())
            }
            (Some(arn), None) => {
                if !is_msk_cluster_arn(&arn) {
                    return Err(format!("Unsupported event source {arn}: the local Lambda API emulates Kafka event sources only (an Amazon MSK cluster ARN arn:aws:kafka:<region>:<account>:cluster/<name>/<id>, or a SelfManagedEventSource)"));
                }
                if body.self_managed_kafka_event_source_config.is_some() {
                    return Err("SelfManagedKafkaEventSourceConfig requires a SelfManagedEventSource; use AmazonManagedKafkaEventSourceConfig for Amazon MSK".to_owned());
                }
                let group = body.amazon_managed_kafka_event_source_config;
                (EventSource::Msk { cluster_arn: arn }, Vec::new(), group)
            }
            (None, Some(source)) => {
                if body.amazon_managed_kafka_event_source_config.is_some() {
                    return Err("AmazonManagedKafkaEventSourceConfig requires an Amazon MSK EventSourceArn; use SelfManagedKafkaEventSourceConfig for a SelfManagedEventSource".to_owned());
                }
                let mut endpoints = source.endpoints.unwrap_or_default();
                if let Some(other) = endpoints.keys().find(|k| *k != "KAFKA_BOOTSTRAP_SERVERS") {
                    return Err(format!("Unsupported SelfManagedEventSource endpoint type {other} (only KAFKA_BOOTSTRAP_SERVERS)"));
                }
                let servers = endpoints
                    .remove("KAFKA_BOOTSTRAP_SERVERS")
                    .unwrap_or_default();
                if servers.is_empty() {
                    return Err("SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS needs at least one host:port".to_owned());
                }
                if let Some(bad) = servers.iter().find(|s| !is_endpoint(s)) {
                    return Err(format!(
                        "Bootstrap server {bad:?} is not of the form host:port"
                    ));
                }
                let group = body.self_managed_kafka_event_source_config;
                (EventSource::SelfManaged, servers, group)
            }
        };
    let consumer_group_id = match group.and_then(|g| g.consumer_group_id) {
        None => Uuid::new_v4().to_string(),
        Some(id) if valid_group_id(&id) => id,
        Some(id) => {
            return Err(format!(
                "ConsumerGroupId {id:?} must have 1 to 200 characters of [a-zA-Z0-9-/*:_+=.@]"
            ))
        }
    };
    let mut access_configurations = Vec::new();
    for access in body.source_access_configurations.unwrap_or_default() {
        match (access.kind, access.uri) {
            (Some(kind), Some(uri)) if !kind.is_empty() && !uri.is_empty() => {
                access_configurations.push(SourceAccessConfiguration { kind, uri });
            }
            _ => {
                return Err(
                    "Every SourceAccessConfigurations entry needs a Type and a URI".to_owned(),
                )
            }
        }
    }
    let poller_config = match body.provisioned_poller_config {
        None => None,
        Some(p) => {
            let minimum_pollers = p
                .minimum_pollers
                .map(|n| pollers_in(n, MAX_MINIMUM_POLLERS, "MinimumPollers"))
                .transpose()?;
            let maximum_pollers = p
                .maximum_pollers
                .map(|n| pollers_in(n, MAX_MAXIMUM_POLLERS, "MaximumPollers"))
                .transpose()?;
            if let (Some(min), Some(max)) = (minimum_pollers, maximum_pollers) {
                if min > max {
                    return Err(format!("ProvisionedPollerConfig.MinimumPollers {min} must not exceed MaximumPollers {max}"));
                }
            }
            Some(ProvisionedPollerConfig {
                minimum_pollers,
                maximum_pollers,
            })
        }
    };
    Ok(CreateMappingRequest {
        function_name,
        topic: topic.clone(),
        consumer_group_id,
        starting_position,
        batch_size,
        batching_window,
        enabled: body.enabled.unwrap_or(true),
        event_source,
        bootstrap_endpoints,
        access_configurations,
        poller_config,
    })
}
