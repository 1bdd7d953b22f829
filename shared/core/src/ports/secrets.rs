//! Secrets: fetch a secret string by reference (Secrets Manager ARN on AWS).

use super::BoxError;
use std::future::Future;

/// Reads a secret's string value by ARN (one capability): AWS Secrets Manager in production
/// (`ferry_aws::secrets::SecretsManagerSource`), parsed by `ferry_kafka::secrets`.
pub trait SecretSource: Send + Sync {
    /// The secret's `SecretString`.
    fn secret_string(&self, arn: &str) -> impl Future<Output = Result<String, BoxError>> + Send;
}
