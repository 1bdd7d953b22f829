//! The Amazon MSK control plane through aws-sdk-kafka, by cluster ARN: bootstrap brokers per
//! auth mode, the cluster's facts, the topic API and the broker storage.
//!
//! * [`MskCluster`] (`MskCluster::from_env(cluster_arn).await`): the
//!   [`ClusterBootstrap`] port (`GetBootstrapBrokers`: the string of the listener for an
//!   [`MskAuth`]; a cluster without that listener is [`MskError::NoListener`], naming the auth
//!   mode and the cluster; MSK Serverless has the IAM listener only), the [`ClusterDescriber`]
//!   port (`DescribeClusterV2` as a [`ClusterFacts`]: Provisioned or Serverless, brokers, EBS
//!   volume per broker, provisioned throughput, client auth modes, Kafka version, state) and
//!   [`MskCluster::grow_storage`] (`UpdateBrokerStorage`, never called automatically).
//! * [`MskTopics`] ([`MskCluster::topic_admin`]): the [`TargetTopicAdmin`](ferry_core::ports::TargetTopicAdmin) port over MSK's
//!   topic API (`DescribeTopic`, `DescribeTopicPartitions`, `CreateTopic`, `UpdateTopic`) and
//!   [`SourceTopics`](ferry_core::ports::SourceTopics) (`ListTopics`): no Kafka admin client, so no broker connectivity or
//!   SASL setup, just IAM permissions (`kafka-cluster:*` on the cluster and topic ARNs). The
//!   topic API serves Provisioned clusters on Kafka 3.6.0 or later only; see [`topics`] for
//!   how it is used.
//! * [`MskStorage`] ([`MskCluster::storage`]): the [`TargetStorage`] port. Capacity is brokers ×
//!   EBS volume size for Provisioned clusters, `None` for Serverless (no storage to size). Used
//!   bytes are not in the MSK API (CloudWatch's `KafkaDataLogsDiskUsed` has them), so
//!   [`StorageInfo::used_bytes`](ferry_core::topics::StorageInfo) is `None`.
//!
//! Errors are sorted by what retrying can fix (`errors`: throttling, 5xx and timeouts are
//! unavailable; validation, conflicts and access denied are refused with the service's code).
//! Locally the same calls reach `ferry-local`'s MSK API (`AWS_ENDPOINT_URL_KAFKA`).
//!
//! Files: this one (the cluster), `facts` (SDK answers → core values), `topics`, `configs`
//! (the Base64 topic configs), `errors`.

mod configs;
mod errors;
mod facts;
pub mod topics;

pub use configs::{decode_configs, encode_configs, ConfigsError};
pub use topics::{MskTopics, PollSettings};

use crate::dynamo::ClientTimeouts;
use aws_config::BehaviorVersion;
use aws_sdk_kafka::types::BrokerEbsVolumeInfo;
use aws_sdk_kafka::Client;
use errors::{msk_to_topic, Failure};
use ferry_core::msk::{ClusterFacts, MskAuth, MAX_VOLUME_GIB};
use ferry_core::ports::{
    ClusterBootstrap, ClusterDescriber, MskError, TargetStorage, TopicAdminError,
};
use ferry_core::topics::StorageInfo;

/// One MSK cluster, by ARN (see the module doc). Cheap to clone.
#[derive(Debug, Clone)]
pub struct MskCluster {
    client: Client,
    arn: String,
}

impl MskCluster {
    /// The cluster `arn` through `client`.
    pub fn new(client: Client, arn: impl Into<String>) -> Self {
        Self {
            client,
            arn: arn.into(),
        }
    }

    /// The cluster `arn` with a client from the standard AWS configuration (region,
    /// credentials; honours `AWS_ENDPOINT_URL_KAFKA`) and Ferry's bounded timeouts.
    pub async fn from_env(arn: impl Into<String>) -> Self {
        let config = ClientTimeouts::default()
            .apply(aws_config::defaults(BehaviorVersion::latest()))
            .load()
            .await;
        Self::new(Client::new(&config), arn)
    }

    /// The cluster ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The topic API of this cluster, without checking that the cluster serves it (see
    /// [`MskCluster::topic_admin`]). Failures are reported for the `target` cluster.
    pub fn topics(&self) -> MskTopics {
        MskTopics::new(self.clone(), "target")
    }

    /// The topic API of this cluster, once `DescribeClusterV2` shows that it serves one
    /// (Provisioned, Kafka ≥ 3.6.0); [`MskError::Unsupported`] otherwise.
    pub async fn topic_admin(&self) -> Result<MskTopics, MskError> {
        let facts = self.describe_cluster().await?;
        if !facts.supports_topic_api() {
            return Err(MskError::Unsupported {
                cluster: self.arn.clone(),
                what: "the MSK topic API",
                reason: if facts.is_serverless() {
                    "it is MSK Serverless; the topic API serves Provisioned clusters only".into()
                } else {
                    format!(
                        "it runs Kafka {}; the topic API needs 3.6.0 or later",
                        facts.kafka_version.as_deref().unwrap_or("(unknown)")
                    )
                },
            });
        }
        Ok(self.topics())
    }

    /// The cluster's storage ([`TargetStorage`]).
    pub fn storage(&self) -> MskStorage {
        MskStorage {
            cluster: self.clone(),
        }
    }

    /// Grows every broker's EBS volume to `volume_gib` (`UpdateBrokerStorage` for all
    /// brokers) and returns the cluster operation ARN. Refused without calling MSK when the
    /// cluster is Serverless or not `ACTIVE`, when `volume_gib` is not above the current size
    /// (storage never shrinks) or above [`MAX_VOLUME_GIB`]. MSK waits at least six hours
    /// between two storage increases. Size with [`ferry_core::msk::size_volumes`]. Never
    /// called by Ferry on its own.
    pub async fn grow_storage(&self, volume_gib: u32) -> Result<String, MskError> {
        const WHAT: &str = "UpdateBrokerStorage";
        let facts = self.describe_cluster().await?;
        let unsupported = |reason: String| MskError::Unsupported {
            cluster: self.arn.clone(),
            what: "growing broker storage",
            reason,
        };
        if facts.is_serverless() {
            return Err(unsupported("MSK Serverless has no broker storage".into()));
        }
        if !facts.is_active() {
            return Err(unsupported(format!(
                "the cluster is {}, not ACTIVE",
                facts.state
            )));
        }
        let current = facts.volume_gib.unwrap_or(0);
        if volume_gib <= current || volume_gib > MAX_VOLUME_GIB {
            return Err(unsupported(format!(
                "{volume_gib} GiB per broker is not between the current {current} GiB (exclusive) and MSK's maximum of {MAX_VOLUME_GIB} GiB"
            )));
        }
        let volume = BrokerEbsVolumeInfo::builder()
            .kafka_broker_node_id("All")
            .volume_size_gb(i32::try_from(volume_gib).unwrap_or(i32::MAX))
            .build();
        let out = self
            .client
            .update_broker_storage()
            .cluster_arn(&self.arn)
            .current_version(&facts.current_version)
            .target_broker_ebs_volume_info(volume)
            .send()
            .await
            .map_err(|e| Failure::from_sdk(e).into_msk(&self.arn, WHAT))?;
        out.cluster_operation_arn
            .ok_or_else(|| MskError::Incomplete {
                cluster: self.arn.clone(),
                what: WHAT,
                missing: "ClusterOperationArn",
            })
    }
}

impl ClusterDescriber for MskCluster {
    async fn describe_cluster(&self) -> Result<ClusterFacts, MskError> {
        const WHAT: &str = "DescribeClusterV2";
        let out = self
            .client
            .describe_cluster_v2()
            .cluster_arn(&self.arn)
            .send()
            .await
            .map_err(|e| Failure::from_sdk(e).into_msk(&self.arn, WHAT))?;
        let info = out.cluster_info.ok_or_else(|| MskError::Incomplete {
            cluster: self.arn.clone(),
            what: WHAT,
            missing: "ClusterInfo",
        })?;
        facts::cluster_facts(&self.arn, &info)
    }
}

impl ClusterBootstrap for MskCluster {
    async fn bootstrap_brokers(&self, auth: MskAuth) -> Result<String, MskError> {
        let out = self
            .client
            .get_bootstrap_brokers()
            .cluster_arn(&self.arn)
            .send()
            .await
            .map_err(|e| Failure::from_sdk(e).into_msk(&self.arn, "GetBootstrapBrokers"))?;
        facts::bootstrap_brokers(&out)
            .get(auth)
            .map(str::to_owned)
            .ok_or_else(|| MskError::NoListener {
                cluster: self.arn.clone(),
                auth,
                field: auth.bootstrap_field(),
            })
    }
}

/// The storage of an MSK cluster (see the module doc). Failures are reported for the `target`
/// cluster.
#[derive(Debug, Clone)]
pub struct MskStorage {
    cluster: MskCluster,
}

impl TargetStorage for MskStorage {
    async fn storage(&self) -> Result<Option<StorageInfo>, TopicAdminError> {
        Ok(self.facts().await?.and_then(|f| f.storage()))
    }

    async fn facts(&self) -> Result<Option<ClusterFacts>, TopicAdminError> {
        self.cluster
            .describe_cluster()
            .await
            .map(Some)
            .map_err(|e| msk_to_topic(e, "target", "describe the cluster"))
    }
}
