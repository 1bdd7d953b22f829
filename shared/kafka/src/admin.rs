//! Topic administration for tests, the demo and preflight: create (idempotently), delete, list,
//! partition counts.
//!
//! Each call builds a short-lived client from a [`KafkaConnection`]; these are not hot paths.
//! Blocking metadata calls run on tokio's blocking pool. Admin clients are [`FerryAdmin`]s, so
//! they authenticate with every security mode, OAUTHBEARER (MSK IAM) included.

use crate::admin_token::FerryAdmin;
use crate::auth::{serve_events, FerryConsumer};
use crate::config::{BuildError, KafkaConnection};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long admin requests and metadata queries may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`create_topic`] waits for a new topic to show up in metadata with leaders.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Topic administration failures.
#[derive(Debug, Error)]
pub enum AdminError {
    /// A client could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The cluster did not answer or rejected the request.
    #[error("{what} failed: {source}")]
    Kafka {
        /// The operation.
        what: String,
        /// Cause.
        #[source]
        source: KafkaError,
    },
    /// The topic already exists with a different partition count.
    #[error("topic {topic:?} already exists with {actual} partitions, expected {expected}")]
    PartitionMismatch {
        /// Topic.
        topic: String,
        /// Requested partition count.
        expected: i32,
        /// Existing partition count.
        actual: i32,
    },
    /// The operation did not complete in time.
    #[error("{what} did not complete within {timeout:?}")]
    Timeout {
        /// The operation.
        what: String,
        /// The timeout.
        timeout: Duration,
    },
    /// A blocking task panicked or was cancelled.
    #[error("admin task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

pub(crate) fn kafka(what: impl Into<String>) -> impl FnOnce(KafkaError) -> AdminError {
    let what = what.into();
    move |source| AdminError::Kafka { what, source }
}

/// An admin client with [`FerryContext`](crate::FerryContext) that serves its own OAUTHBEARER
/// tokens when `conn` uses them (see [`crate::admin_token`]).
pub(crate) fn admin_client(conn: &KafkaConnection) -> Result<FerryAdmin, AdminError> {
    Ok(FerryAdmin::new(conn)?)
}

/// A group-less consumer for metadata requests. Call [`serve_events`] on it (on the blocking
/// pool) before each blocking request.
pub(crate) fn metadata_consumer(conn: &KafkaConnection) -> Result<FerryConsumer, AdminError> {
    conn.client_config()?
        .set("allow.auto.create.topics", "false")
        .create_with_context(conn.context())
        .map_err(|e| AdminError::Build(BuildError::Client(e)))
}

pub(crate) fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT))
}

/// Per-topic partition counts; `None` for `topic` when it does not exist. With `topic = None`
/// all topics are listed.
async fn metadata(
    conn: &KafkaConnection,
    topic: Option<&str>,
) -> Result<Vec<(String, Option<i32>)>, AdminError> {
    let consumer = metadata_consumer(conn)?;
    let topic = topic.map(str::to_owned);
    let what = match &topic {
        Some(t) => format!("metadata request for topic {t:?}"),
        None => "metadata request".to_owned(),
    };
    tokio::task::spawn_blocking(move || {
        serve_events(&consumer);
        let md = consumer
            .fetch_metadata(topic.as_deref(), ADMIN_TIMEOUT)
            .map_err(kafka(what))?;
        Ok(md
            .topics()
            .iter()
            .map(|t| {
                let missing = t.error().is_some_and(|e| {
                    matches!(
                        RDKafkaErrorCode::from(e),
                        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
                    )
                });
                let count = (!missing && !t.partitions().is_empty())
                    .then(|| i32::try_from(t.partitions().len()).unwrap_or(i32::MAX));
                (t.name().to_owned(), count)
            })
            .collect())
    })
    .await
    .map_err(AdminError::Task)?
}

/// Whether every partition of `topic` has a leader (`Some(count)`), per fresh metadata.
async fn ready_partitions(conn: &KafkaConnection, topic: &str) -> Result<Option<i32>, AdminError> {
    let consumer = metadata_consumer(conn)?;
    let name = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        serve_events(&consumer);
        let md = consumer
            .fetch_metadata(Some(&name), ADMIN_TIMEOUT)
            .map_err(kafka(format!("metadata request for topic {name:?}")))?;
        Ok(md.topics().iter().find(|t| t.name() == name).and_then(|t| {
            let ready = t.error().is_none()
                && !t.partitions().is_empty()
                && t.partitions()
                    .iter()
                    .all(|p| p.error().is_none() && p.leader() >= 0);
            ready.then(|| i32::try_from(t.partitions().len()).unwrap_or(i32::MAX))
        }))
    })
    .await
    .map_err(AdminError::Task)?
}

/// Partition count of `topic`, `None` if it does not exist.
pub async fn partition_count(
    conn: &KafkaConnection,
    topic: &str,
) -> Result<Option<i32>, AdminError> {
    Ok(metadata(conn, Some(topic))
        .await?
        .into_iter()
        .find(|(name, _)| name == topic)
        .and_then(|(_, count)| count))
}

/// Names of all topics (including internal ones such as `__consumer_offsets`), sorted.
pub async fn list_topics(conn: &KafkaConnection) -> Result<Vec<String>, AdminError> {
    let mut names: Vec<String> = metadata(conn, None)
        .await?
        .into_iter()
        .filter(|(_, count)| count.is_some())
        .map(|(name, _)| name)
        .collect();
    names.sort();
    Ok(names)
}

/// Creates `name` with `partitions` partitions, the broker's default replication factor and
/// the given topic configs, then waits until every partition has a leader.
///
/// Idempotent: an existing topic is fine if its partition count matches (its configs are not
/// compared); otherwise [`AdminError::PartitionMismatch`].
pub async fn create_topic(
    conn: &KafkaConnection,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), AdminError> {
    let admin = admin_client(conn)?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics([&topic], &options())
        .await
        .map_err(kafka(format!("create topic {name:?}")))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let actual = partition_count(conn, name).await?;
                match actual {
                    Some(actual) if actual == partitions => {}
                    Some(actual) => {
                        return Err(AdminError::PartitionMismatch {
                            topic: name.to_owned(),
                            expected: partitions,
                            actual,
                        })
                    }
                    // Being deleted right now; the wait below reports it if it does not return.
                    None => {}
                }
            }
            Err((_, code)) => {
                return Err(AdminError::Kafka {
                    what: format!("create topic {name:?}"),
                    source: KafkaError::AdminOp(code),
                })
            }
        }
    }
    wait_for(conn, name, partitions).await
}

pub(crate) async fn wait_for(
    conn: &KafkaConnection,
    name: &str,
    partitions: i32,
) -> Result<(), AdminError> {
    let start = Instant::now();
    loop {
        match ready_partitions(conn, name).await? {
            Some(n) if n == partitions => return Ok(()),
            Some(actual) => {
                return Err(AdminError::PartitionMismatch {
                    topic: name.to_owned(),
                    expected: partitions,
                    actual,
                })
            }
            _ => {}
        }
        if start.elapsed() > PROPAGATION_TIMEOUT {
            return Err(AdminError::Timeout {
                what: format!("topic {name:?} becoming available"),
                timeout: PROPAGATION_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deletes `name`. Deleting a topic that does not exist is not an error.
pub async fn delete_topic(conn: &KafkaConnection, name: &str) -> Result<(), AdminError> {
    let admin = admin_client(conn)?;
    let results = admin
        .delete_topics(&[name], &options())
        .await
        .map_err(kafka(format!("delete topic {name:?}")))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((_, code)) => {
                return Err(AdminError::Kafka {
                    what: format!("delete topic {name:?}"),
                    source: KafkaError::AdminOp(code),
                })
            }
        }
    }
    Ok(())
}
