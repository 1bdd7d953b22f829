//! Event source mapping control over the Lambda API: the [`MappingControl`] port.
//!
//! The cutover's last step disables the mirror function's Kafka event source mappings
//! (`UpdateEventSourceMapping Enabled=false`) so nothing reads the source once producers write
//! to the target. Locally the same calls reach Ferry's local runtime, which serves the Lambda
//! API for its emulated mappings (`AWS_ENDPOINT_URL_LAMBDA`).

use aws_config::BehaviorVersion;
use aws_sdk_lambda::types::EventSourceMappingConfiguration;
use aws_sdk_lambda::Client;
use ferry_core::ports::{MappingControl, MappingError, MappingInfo};

use crate::dynamo::ClientTimeouts;

/// Lambda event source mappings through aws-sdk-lambda.
#[derive(Debug, Clone)]
pub struct LambdaMappings {
    client: Client,
}

impl LambdaMappings {
    /// From an existing client.
    pub fn new(client: Client) -> Self {
        Self { client }
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
