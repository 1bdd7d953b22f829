//! The Amazon MSK API (the control-plane subset Ferry calls), served locally.
//!
//! [`MskApiServer`] is what `kafka.<region>.amazonaws.com` is to Ferry: clients built with
//! aws-sdk-kafka reach it through `AWS_ENDPOINT_URL_KAFKA=http://127.0.0.1:4571` (address from
//! [`MSK_API_ENV`], default [`DEFAULT_MSK_API_ADDR`]), so `ferry_aws::msk` runs the same code
//! locally and in tests as against AWS. Clusters are registered in process by ARN
//! ([`MskApiServer::register_cluster`]), each a [`LocalCluster`]: its facts (Provisioned or
//! Serverless, brokers, volume size, auth modes), its bootstrap strings per listener and, for
//! Provisioned clusters, a topic backend ([`TopicBackend`]: any
//! [`ferry_core::ports::TargetTopicAdmin`] + [`ferry_core::ports::SourceTopics`], e.g. the real
//! `ferry_kafka::KafkaTopicAdmin` or an in-memory fake).
//!
//! Routes (REST-JSON, paths and members exactly as aws-sdk-kafka 1.134 sends and reads them;
//! `{ClusterArn}` is the percent-encoded ARN):
//!
//! | operation | route | answer |
//! |---|---|---|
//! | `GetBootstrapBrokers` | `GET /v1/clusters/{ClusterArn}/bootstrap-brokers` | the registered strings; listeners that are off are left out |
//! | `DescribeClusterV2` | `GET /api/v2/clusters/{ClusterArn}` | the facts as `clusterInfo` (`provisioned` or `serverless`) |
//! | `UpdateBrokerStorage` | `PUT /v1/clusters/{ClusterArn}/nodes/storage` | recorded ([`MskApiServer::storage_updates`]); the volume grows at once and `currentVersion` changes; `400 BadRequestException` for a stale `currentVersion`, a shrink, Serverless or a size above 16,384 GiB |
//! | `ListTopics` | `GET /v1/clusters/{ClusterArn}/topics?maxResults&nextToken&topicNameFilter` | sorted; `topicNameFilter` is a name prefix |
//! | `CreateTopic` | `POST /v1/clusters/{ClusterArn}/topics` | `CREATING`; `409 ConflictException` if the topic exists |
//! | `DescribeTopic` | `GET /v1/clusters/{ClusterArn}/topics/{TopicName}` | `ACTIVE`, configs as Base64 properties text |
//! | `UpdateTopic` | `PUT /v1/clusters/{ClusterArn}/topics/{TopicName}` | `UPDATING`; `partitionCount` or `configs`, not both (as on AWS) |
//! | `DescribeTopicPartitions` | `GET /v1/clusters/{ClusterArn}/topics/{TopicName}/partitions` | one entry per partition; leaders and replicas are synthetic (the ports carry no partition metadata) |
//!
//! Backend changes are complete when the backend returns (the ports wait until topics are
//! usable), so reads right after a change show it (AWS lags up to about a minute). Errors use
//! the AWS REST-JSON shape (`x-amzn-ErrorType` header, `{"message"}` body, `x-amzn-RequestId`):
//! an unknown cluster or topic is `404 NotFoundException`, a backend that is unavailable
//! `503 ServiceUnavailableException`, a backend refusal `400 BadRequestException` with the
//! reason, the topic routes of a cluster without a backend (MSK Serverless has no topic API)
//! `400 BadRequestException`, an unknown route `404 UnknownOperationException`.
//!
//! Files: this one (server, registry, router), `cluster` (bootstrap, describe, storage
//! routes), `topics` (topic routes), `wire` (the JSON shapes), `backend` (the topic backend
//! trait).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferry_core::msk::{BootstrapBrokers, ClientAuthMode, ClusterFacts, ClusterKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use tokio_util::sync::CancellationToken;

mod backend;
mod cluster;
mod topics;
mod wire;

pub use backend::TopicBackend;

use crate::lambda_api::response::{aws_error, json_response};

/// Environment variable with the address to bind (`host:port`).
pub const MSK_API_ENV: &str = "FERRY_MSK_API";

/// The default address of the local MSK API (what `AWS_ENDPOINT_URL_KAFKA` names).
pub const DEFAULT_MSK_API_ADDR: &str = "127.0.0.1:4571";

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum MskApiError {
    /// The address is not a valid `host:port`.
    #[error("invalid MSK API address {addr:?} (from {source_name})")]
    InvalidAddress {
        /// The offending value.
        addr: String,
        /// Where it came from.
        source_name: String,
    },
    /// Binding the listener failed (another process may serve the port already).
    #[error("cannot bind the MSK API on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// One cluster the server serves (see the module doc).
#[derive(Clone)]
pub struct LocalCluster {
    facts: ClusterFacts,
    bootstrap: BootstrapBrokers,
    topics: Option<Arc<dyn TopicBackend>>,
}

impl fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCluster")
            .field("facts", &self.facts)
            .field("bootstrap", &self.bootstrap)
            .field("topics", &self.topics.is_some())
            .finish()
    }
}

impl LocalCluster {
    /// A cluster with exactly these facts and listeners, and `topics` as its topic backend
    /// (`None`: the topic routes answer `400`, as for MSK Serverless).
    pub fn new(
        facts: ClusterFacts,
        bootstrap: BootstrapBrokers,
        topics: Option<Arc<dyn TopicBackend>>,
    ) -> Self {
        Self {
            facts,
            bootstrap,
            topics,
        }
    }

    /// An `ACTIVE` Provisioned cluster `arn` on Kafka 3.6.0 with `brokers` brokers of
    /// `volume_gib` GiB each; its client auth modes are those whose listener `bootstrap` has
    /// (plaintext counts as unauthenticated); topics go to `topics`.
    pub fn provisioned(
        arn: &str,
        brokers: u32,
        volume_gib: u32,
        bootstrap: BootstrapBrokers,
        topics: impl TopicBackend,
    ) -> Self {
        use ferry_core::msk::MskAuth;
        let client_auth = [
            (MskAuth::Iam, ClientAuthMode::Iam),
            (MskAuth::Scram, ClientAuthMode::Scram),
            (MskAuth::Tls, ClientAuthMode::MutualTls),
            (MskAuth::Plaintext, ClientAuthMode::Unauthenticated),
        ]
        .into_iter()
        .filter(|(auth, _)| bootstrap.get(*auth).is_some())
        .map(|(_, mode)| mode)
        .collect();
        let facts = ClusterFacts {
            arn: arn.to_owned(),
            name: cluster_name(arn),
            kind: ClusterKind::Provisioned,
            state: "ACTIVE".to_owned(),
            current_version: "K1".to_owned(),
            kafka_version: Some("3.6.0".to_owned()),
            broker_count: Some(brokers),
            volume_gib: Some(volume_gib),
            provisioned_throughput: None,
            client_auth,
        };
        Self::new(facts, bootstrap, Some(Arc::new(topics)))
    }

    /// An `ACTIVE` MSK Serverless cluster `arn` whose IAM listener is `iam_bootstrap` (no topic
    /// API, no storage).
    pub fn serverless(arn: &str, iam_bootstrap: &str) -> Self {
        let facts = ClusterFacts {
            arn: arn.to_owned(),
            name: cluster_name(arn),
            kind: ClusterKind::Serverless,
            state: "ACTIVE".to_owned(),
            current_version: "K1".to_owned(),
            kafka_version: None,
            broker_count: None,
            volume_gib: None,
            provisioned_throughput: None,
            client_auth: vec![ClientAuthMode::Iam],
        };
        let bootstrap =
            BootstrapBrokers::default().with(ferry_core::msk::MskAuth::Iam, iam_bootstrap);
        Self::new(facts, bootstrap, None)
    }

    /// The facts the server reports.
    pub fn facts(&self) -> &ClusterFacts {
        &self.facts
    }
}

/// The cluster name inside an MSK cluster ARN (`...:cluster/<name>/<uuid>`), or the ARN.
fn cluster_name(arn: &str) -> String {
    arn.split_once(":cluster/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(arn)
        .to_owned()
}

/// The ARN of `topic` in the cluster `arn` (`...:topic/<name>/<uuid>/<topic>`).
fn topic_arn(arn: &str, topic: &str) -> String {
    format!("{}/{topic}", arn.replacen(":cluster/", ":topic/", 1))
}

/// An `UpdateBrokerStorage` request the server received (and applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageUpdate {
    /// The `currentVersion` sent.
    pub current_version: String,
    /// `kafkaBrokerNodeId` of each target (`All` for every broker).
    pub broker_ids: Vec<String>,
    /// The requested volume size per broker (GiB).
    pub volume_gib: u32,
    /// The cluster operation ARN answered.
    pub operation_arn: String,
}

#[derive(Debug, Default)]
struct Registry {
    clusters: RwLock<BTreeMap<String, LocalCluster>>,
    storage_updates: RwLock<BTreeMap<String, Vec<StorageUpdate>>>,
}

impl Registry {
    fn cluster(&self, arn: &str) -> Option<LocalCluster> {
        self.clusters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(arn)
            .cloned()
    }
}

/// The local MSK API server; see the module docs. Clones share the server; it stops when
/// [`MskApiServer::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct MskApiServer {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    addr: SocketAddr,
    registry: Arc<Registry>,
    stop: CancellationToken,
}

impl Drop for ServerInner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl fmt::Debug for MskApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clusters: Vec<String> = self
            .inner
            .registry
            .clusters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("MskApiServer")
            .field("addr", &self.inner.addr)
            .field("clusters", &clusters)
            .finish_non_exhaustive()
    }
}

impl MskApiServer {
    /// The address from `FERRY_MSK_API`, else [`DEFAULT_MSK_API_ADDR`].
    pub fn addr_from_env() -> Result<SocketAddr, MskApiError> {
        let (value, source_name) = match std::env::var(MSK_API_ENV) {
            Ok(v) if !v.trim().is_empty() => (v.trim().to_owned(), MSK_API_ENV.to_owned()),
            _ => (DEFAULT_MSK_API_ADDR.to_owned(), "the default".to_owned()),
        };
        let value = value
            .strip_prefix("http://")
            .unwrap_or(&value)
            .trim_end_matches('/')
            .to_owned();
        value.parse().map_err(|_| MskApiError::InvalidAddress {
            addr: value,
            source_name,
        })
    }

    /// Binds the address from `FERRY_MSK_API` (default `127.0.0.1:4571`) and serves.
    pub async fn bind_from_env() -> Result<Self, MskApiError> {
        Self::bind(Self::addr_from_env()?).await
    }

    /// Binds `addr` (port 0 picks a free port) and serves on the current tokio runtime.
    pub async fn bind(addr: SocketAddr) -> Result<Self, MskApiError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MskApiError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MskApiError::Bind { addr, source })?;
        let stop = CancellationToken::new();
        let registry = Arc::new(Registry::default());
        let app = router(Arc::clone(&registry));
        let until = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { until.cancelled().await })
                .await;
            if let Err(err) = served {
                tracing::error!(%addr, error = %err, "MSK API server failed");
            }
        });
        tracing::info!(%addr, "MSK API listening");
        Ok(Self {
            inner: Arc::new(ServerInner {
                addr,
                registry,
                stop,
            }),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://<addr>`, for `AWS_ENDPOINT_URL_KAFKA` or an SDK `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Serves `cluster` under its ARN (replacing any previous one).
    pub fn register_cluster(&self, cluster: LocalCluster) {
        self.inner
            .registry
            .clusters
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cluster.facts.arn.clone(), cluster);
    }

    /// Stops serving the cluster `arn`; `true` if it was registered.
    pub fn deregister_cluster(&self, arn: &str) -> bool {
        self.inner
            .registry
            .clusters
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(arn)
            .is_some()
    }

    /// The facts the server reports for `arn` now (after storage updates).
    pub fn cluster_facts(&self, arn: &str) -> Option<ClusterFacts> {
        self.inner.registry.cluster(arn).map(|c| c.facts)
    }

    /// The `UpdateBrokerStorage` requests received for `arn`, oldest first.
    pub fn storage_updates(&self, arn: &str) -> Vec<StorageUpdate> {
        self.inner
            .registry
            .storage_updates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(arn)
            .cloned()
            .unwrap_or_default()
    }

    /// Stops accepting connections (in-flight requests finish).
    pub fn shutdown(&self) {
        self.inner.stop.cancel();
    }
}

fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route(
            "/v1/clusters/{arn}/bootstrap-brokers",
            get(cluster::bootstrap_brokers),
        )
        .route("/api/v2/clusters/{arn}", get(cluster::describe_cluster))
        .route(
            "/v1/clusters/{arn}/nodes/storage",
            axum::routing::put(cluster::update_storage),
        )
        .route(
            "/v1/clusters/{arn}/topics",
            get(topics::list_topics).post(topics::create_topic),
        )
        .route(
            "/v1/clusters/{arn}/topics/{topic}",
            get(topics::describe_topic).put(topics::update_topic),
        )
        .route(
            "/v1/clusters/{arn}/topics/{topic}/partitions",
            get(topics::describe_partitions),
        )
        .fallback(unknown_operation)
        .with_state(registry)
}

/// A `200` JSON answer with a fresh request id.
fn ok_json(body: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_string(body).map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "InternalServerErrorException",
        message: format!("cannot encode the answer: {e}"),
    })?;
    Ok(json_response(
        StatusCode::OK,
        &uuid::Uuid::new_v4().to_string(),
        body,
    ))
}

/// A service error, answered in the AWS REST-JSON error shape.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        aws_error(self.status, self.code, self.message)
    }
}

/// A JSON request body (empty counts as `{}`).
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid request body: {e}")))
}

fn not_found(what: impl fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "NotFoundException",
        message: format!("{what} not found"),
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "BadRequestException",
        message: message.into(),
    }
}

async fn unknown_operation(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "the local MSK API does not implement {method} {}",
            uri.path()
        ),
    )
}
