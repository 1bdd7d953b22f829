//! Secrets Manager adapter of the [`SecretSource`] port: reads a secret's `SecretString` by
//! ARN. Parsing the secret formats and filling them into Kafka connections is the Kafka side's
//! job (`ferry_kafka::secrets`); this adapter only fetches.

use ferry_core::ports::{BoxError, SecretSource};
use thiserror::Error;

/// The Secrets Manager adapter.
#[derive(Debug, Clone)]
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

/// A secret has no `SecretString` (binary secrets are not supported, as for the mappings).
#[derive(Debug, Error)]
#[error("the secret has no SecretString (binary secrets are not supported)")]
struct NoSecretString;

impl SecretsManagerSource {
    /// Wraps a client.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }

    /// A client from the standard AWS configuration (region, credentials, `AWS_ENDPOINT_URL*`).
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::new(aws_sdk_secretsmanager::Client::new(&config))
    }
}

impl SecretSource for SecretsManagerSource {
    async fn secret_string(&self, arn: &str) -> Result<String, BoxError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| -> BoxError {
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    .to_string()
                    .into()
            })?;
        out.secret_string
            .ok_or_else(|| Box::new(NoSecretString) as BoxError)
    }
}
