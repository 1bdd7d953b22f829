//! The DynamoDB client: [`ClientTimeouts`] and [`client_from_env`].

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// Timeouts and retries of the DynamoDB client. The defaults bound every call to about 20 s:
///
/// | setting        | default | meaning                                                      |
/// |----------------|---------|--------------------------------------------------------------|
/// | `connect`      | 3 s     | TCP/TLS connect of one attempt                               |
/// | `attempt`      | 5 s     | one attempt, connect to last response byte                   |
/// | `operation`    | 20 s    | the whole call, all attempts and backoff included            |
/// | `max_attempts` | 3       | standard retry mode (throttling, 5xx, timeouts, IO errors)   |
///
/// A frozen endpoint (accepts, never answers) costs 3 attempts × 5 s plus backoff ≈ 16 s, an
/// unreachable one fails in milliseconds; either way the store returns
/// [`StoreError::Unavailable`](ferry_core::ports::StoreError::Unavailable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// Connect timeout of one attempt.
    pub connect: Duration,
    /// Timeout of one attempt.
    pub attempt: Duration,
    /// Timeout of the whole operation including retries.
    pub operation: Duration,
    /// Attempts in standard retry mode (1 = no retries).
    pub max_attempts: u32,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(20),
            max_attempts: 3,
        }
    }
}

impl ClientTimeouts {
    /// Applies these timeouts and the standard retry mode to an AWS config loader.
    pub fn apply(&self, loader: ConfigLoader) -> ConfigLoader {
        loader
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect)
                    .operation_attempt_timeout(self.attempt)
                    .operation_timeout(self.operation)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts.max(1)))
    }
}

/// A DynamoDB client from the standard AWS configuration with [`ClientTimeouts::default`].
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB` point it at a local endpoint.
pub async fn client_from_env() -> Client {
    client_from_env_with(ClientTimeouts::default()).await
}

/// A DynamoDB client from the standard AWS configuration with the given timeouts, counting its
/// calls ([`CallMetrics`]).
pub async fn client_from_env_with(timeouts: ClientTimeouts) -> Client {
    let config = timeouts
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await;
    let config = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(CallMetrics)
        .build();
    Client::from_conf(config)
}

/// Name of the counter of DynamoDB requests, labelled `operation`.
pub const CALLS_METRIC: &str = "dynamodb-calls";

/// Counts every DynamoDB request the client sends (each attempt: what the table is billed
/// and throttled for) in the `dynamodb-calls` counter of the [`metrics`] facade, labelled with
/// the operation (`GetItem`, `Query`, `TransactWriteItems`, ...; `other` for the rest). The
/// functions flush it as CloudWatch EMF after every invocation, so each invocation's log shows
/// what it cost in DynamoDB requests; without an installed recorder it does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallMetrics;

impl aws_sdk_dynamodb::config::Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "CallMetrics"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        metrics::counter!(CALLS_METRIC, "operation" => operation(target)).increment(1);
        Ok(())
    }
}

/// The operation of an `X-Amz-Target` header (`DynamoDB_20120810.GetItem`), from a fixed set
/// (bounded metric cardinality).
fn operation(target: &str) -> &'static str {
    match target.rsplit('.').next().unwrap_or_default() {
        "GetItem" => "GetItem",
        "PutItem" => "PutItem",
        "UpdateItem" => "UpdateItem",
        "DeleteItem" => "DeleteItem",
        "Query" => "Query",
        "Scan" => "Scan",
        "BatchGetItem" => "BatchGetItem",
        "BatchWriteItem" => "BatchWriteItem",
        "TransactWriteItems" => "TransactWriteItems",
        "TransactGetItems" => "TransactGetItems",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::operation;

    #[test]
    fn operations_come_from_the_target_header() {
        assert_eq!(operation("DynamoDB_20120810.GetItem"), "GetItem");
        assert_eq!(
            operation("DynamoDB_20120810.TransactWriteItems"),
            "TransactWriteItems"
        );
        assert_eq!(operation("DynamoDB_20120810.DescribeTable"), "other");
        assert_eq!(operation(""), "other");
    }
}
