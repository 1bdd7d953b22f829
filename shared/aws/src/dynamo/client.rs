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

/// A DynamoDB client from the standard AWS configuration with the given timeouts.
pub async fn client_from_env_with(timeouts: ClientTimeouts) -> Client {
    let config = timeouts
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await;
    Client::new(&config)
}
