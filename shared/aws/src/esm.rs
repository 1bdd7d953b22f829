//! Event source mappings over the Lambda API: the [`MappingControl`] and [`MappingCreator`]
//! ports.
//!
//! The cutover's last step disables the mirror function's Kafka event source mappings
//! (`UpdateEventSourceMapping Enabled=false`) so nothing reads the source once producers write
//! to the target. Discovery creates the mappings of new topics (`CreateEventSourceMapping`,
//! reading the source described by an [`EventSourceSpec`], set with
//! [`LambdaMappings::with_source`]). Locally the same calls reach Ferry's local runtime, which
//! serves the Lambda API for its emulated mappings (`AWS_ENDPOINT_URL_LAMBDA`).

use aws_config::BehaviorVersion;
use aws_sdk_lambda::types::{
    AmazonManagedKafkaEventSourceConfig, EndPointType, EventSourceMappingConfiguration,
    EventSourcePosition, ProvisionedPollerConfig, SelfManagedEventSource,
    SelfManagedKafkaEventSourceConfig, SourceAccessConfiguration, SourceAccessType,
};
use aws_sdk_lambda::Client;
use ferry_core::discovery::{access_configurations, EventSourceSpec};
use ferry_core::ports::{MappingControl, MappingCreator, MappingError, MappingInfo, NewMapping};

use crate::dynamo::ClientTimeouts;

/// Lambda event source mappings through aws-sdk-lambda.
#[derive(Debug, Clone)]
pub struct LambdaMappings {
    client: Client,
    source: Option<EventSourceSpec>,
}

impl LambdaMappings {
    /// From an existing client.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            source: None,
        }
    }

    /// Where mappings created through this adapter read from (without it,
    /// [`MappingCreator::create_mapping`] is refused).
    pub fn with_source(mut self, source: EventSourceSpec) -> Self {
        self.source = Some(source);
        self
    }

    /// A client from the standard AWS configuration (honours `AWS_ENDPOINT_URL_LAMBDA`).
    pub async fn from_env() -> Self {
        let config = ClientTimeouts::default()
            .apply(aws_config::defaults(BehaviorVersion::latest()))
            .load()
            .await;
        Self::new(Client::new(&config))
    }
}

/// Error codes that retrying cannot fix (IAM or configuration).
const REFUSED: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "ResourceNotFoundException",
    "InvalidParameterValueException",
];

fn api_error(function: &str, e: aws_sdk_lambda::Error) -> MappingError {
    use aws_sdk_lambda::error::ProvideErrorMetadata as _;
    if e.code() == Some("ResourceConflictException") {
        return MappingError::Conflict {
            function: function.to_string(),
            topic: String::new(),
            source: Box::new(e),
        };
    }
    match e.code().filter(|c| REFUSED.contains(c)).map(str::to_owned) {
        Some(code) => MappingError::Refused {
            function: function.to_string(),
            code,
            source: Box::new(e),
        },
        None => MappingError::Api {
            function: function.to_string(),
            source: Box::new(e),
        },
    }
}

fn info(m: &EventSourceMappingConfiguration) -> MappingInfo {
    MappingInfo {
        uuid: m.uuid().unwrap_or_default().to_string(),
        topics: m.topics().to_vec(),
        state: m.state().unwrap_or("Unknown").to_string(),
    }
}

impl MappingControl for LambdaMappings {
    async fn list_mappings(&self, function: &str) -> Result<Vec<MappingInfo>, MappingError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_event_source_mappings()
                .function_name(function)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| api_error(function, aws_sdk_lambda::Error::from(e)))?;
            out.extend(page.event_source_mappings().iter().map(info));
            match page.next_marker {
                Some(m) if !m.is_empty() => marker = Some(m),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn set_enabled(
        &self,
        function: &str,
        uuid: &str,
        enabled: bool,
    ) -> Result<MappingInfo, MappingError> {
        let out = self
            .client
            .update_event_source_mapping()
            .uuid(uuid)
            .enabled(enabled)
            .send()
            .await
            .map_err(|e| api_error(function, aws_sdk_lambda::Error::from(e)))?;
        Ok(MappingInfo {
            uuid: out.uuid().unwrap_or(uuid).to_string(),
            topics: out.topics().to_vec(),
            state: out.state().unwrap_or("Unknown").to_string(),
        })
    }
}

impl MappingCreator for LambdaMappings {
    async fn create_mapping(
        &self,
        function: &str,
        mapping: &NewMapping,
    ) -> Result<MappingInfo, MappingError> {
        let Some(source) = &self.source else {
            return Err(MappingError::Refused {
                function: function.to_string(),
                code: "NoEventSource".into(),
                source: "no event source configured for new mappings".into(),
            });
        };
        let s = &mapping.settings;
        let group = s.consumer_group.clone();
        let mut request = self
            .client
            .create_event_source_mapping()
            .function_name(function)
            .topics(mapping.topic.clone())
            .starting_position(EventSourcePosition::from(s.starting_position))
            .batch_size(i32::try_from(s.batch_size).unwrap_or(i32::MAX))
            .maximum_batching_window_in_seconds(
                i32::try_from(s.batching_window_secs).unwrap_or(i32::MAX),
            )
            .enabled(true);
        request = match &source.msk_cluster_arn {
            Some(arn) => request
                .event_source_arn(arn)
                .amazon_managed_kafka_event_source_config(
                    AmazonManagedKafkaEventSourceConfig::builder()
                        .consumer_group_id(group)
                        .build(),
                ),
            None => request
                .self_managed_event_source(
                    SelfManagedEventSource::builder()
                        .endpoints(
                            EndPointType::KafkaBootstrapServers,
                            source.bootstrap_servers.clone(),
                        )
                        .build(),
                )
                .self_managed_kafka_event_source_config(
                    SelfManagedKafkaEventSourceConfig::builder()
                        .consumer_group_id(group)
                        .build(),
                ),
        };
        for access in access_configurations(source) {
            request = request.source_access_configurations(
                SourceAccessConfiguration::builder()
                    .r#type(SourceAccessType::from(access.kind.as_str()))
                    .uri(access.uri)
                    .build(),
            );
        }
        if let Some((min, max)) = s.pollers {
            request = request.provisioned_poller_config(
                ProvisionedPollerConfig::builder()
                    .minimum_pollers(i32::try_from(min).unwrap_or(i32::MAX))
                    .maximum_pollers(i32::try_from(max).unwrap_or(i32::MAX))
                    .build(),
            );
        }
        let out = request.send().await.map_err(|e| {
            match api_error(function, aws_sdk_lambda::Error::from(e)) {
                MappingError::Conflict {
                    function, source, ..
                } => MappingError::Conflict {
                    function,
                    topic: mapping.topic.clone(),
                    source,
                },
                other => other,
            }
        })?;
        Ok(MappingInfo {
            uuid: out.uuid().unwrap_or_default().to_string(),
            topics: out.topics().to_vec(),
            state: out.state().unwrap_or("Creating").to_string(),
        })
    }
}
