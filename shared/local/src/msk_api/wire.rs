//! The JSON shapes of the MSK API (REST-JSON, camelCase members), as aws-sdk-kafka 1.134
//! serializes requests and reads responses (`src/protocol_serde/shape_*.rs`).

use ferry_core::msk::{BootstrapBrokers, ClientAuthMode, ClusterFacts, ClusterKind};
use serde::{Deserialize, Serialize};

/// `GetBootstrapBrokers` answer (listeners that are off are left out).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BootstrapBrokersResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap_broker_string: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap_broker_string_sasl_iam: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap_broker_string_sasl_scram: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap_broker_string_tls: Option<&'a str>,
}

impl<'a> From<&'a BootstrapBrokers> for BootstrapBrokersResponse<'a> {
    fn from(b: &'a BootstrapBrokers) -> Self {
        use ferry_core::msk::MskAuth;
        Self {
            bootstrap_broker_string: b.get(MskAuth::Plaintext),
            bootstrap_broker_string_sasl_iam: b.get(MskAuth::Iam),
            bootstrap_broker_string_sasl_scram: b.get(MskAuth::Scram),
            bootstrap_broker_string_tls: b.get(MskAuth::Tls),
        }
    }
}

/// `DescribeClusterV2` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeClusterV2Response {
    cluster_info: ClusterInfo,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterInfo {
    cluster_arn: String,
    cluster_name: String,
    cluster_type: &'static str,
    current_version: String,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    provisioned: Option<Provisioned>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serverless: Option<Serverless>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Provisioned {
    broker_node_group_info: BrokerNodeGroupInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_broker_software_info: Option<BrokerSoftwareInfo>,
    client_authentication: ClientAuthentication,
    #[serde(skip_serializing_if = "Option::is_none")]
    number_of_broker_nodes: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerNodeGroupInfo {
    client_subnets: Vec<String>,
    instance_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_info: Option<StorageInfo>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageInfo {
    ebs_storage_info: EbsStorageInfo,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EbsStorageInfo {
    volume_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    provisioned_throughput: Option<ProvisionedThroughput>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProvisionedThroughput {
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) volume_throughput: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerSoftwareInfo {
    kafka_version: String,
}

#[derive(Debug, Serialize)]
struct Enabled {
    enabled: bool,
}

#[derive(Debug, Serialize)]
struct Sasl {
    #[serde(skip_serializing_if = "Option::is_none")]
    scram: Option<Enabled>,
    iam: Enabled,
}

#[derive(Debug, Serialize)]
struct ClientAuthentication {
    sasl: Sasl,
    tls: Enabled,
    unauthenticated: Enabled,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Serverless {
    client_authentication: ServerlessClientAuthentication,
}

#[derive(Debug, Serialize)]
struct ServerlessClientAuthentication {
    sasl: Sasl,
}

impl From<&ClusterFacts> for DescribeClusterV2Response {
    fn from(f: &ClusterFacts) -> Self {
        let enabled = |mode| Enabled {
            enabled: f.accepts(mode),
        };
        let (provisioned, serverless) = match f.kind {
            ClusterKind::Provisioned => (
                Some(Provisioned {
                    broker_node_group_info: BrokerNodeGroupInfo {
                        client_subnets: Vec::new(),
                        instance_type: "kafka.m5.large",
                        storage_info: f.volume_gib.map(|volume_size| StorageInfo {
                            ebs_storage_info: EbsStorageInfo {
                                volume_size,
                                provisioned_throughput: f.provisioned_throughput.map(|t| {
                                    ProvisionedThroughput {
                                        enabled: Some(t.enabled),
                                        volume_throughput: t.volume_mibps,
                                    }
                                }),
                            },
                        }),
                    },
                    current_broker_software_info: f
                        .kafka_version
                        .clone()
                        .map(|kafka_version| BrokerSoftwareInfo { kafka_version }),
                    client_authentication: ClientAuthentication {
                        sasl: Sasl {
                            scram: Some(enabled(ClientAuthMode::Scram)),
                            iam: enabled(ClientAuthMode::Iam),
                        },
                        tls: enabled(ClientAuthMode::MutualTls),
                        unauthenticated: enabled(ClientAuthMode::Unauthenticated),
                    },
                    number_of_broker_nodes: f.broker_count,
                }),
                None,
            ),
            ClusterKind::Serverless => (
                None,
                Some(Serverless {
                    client_authentication: ServerlessClientAuthentication {
                        sasl: Sasl {
                            scram: None,
                            iam: Enabled { enabled: true },
                        },
                    },
                }),
            ),
        };
        Self {
            cluster_info: ClusterInfo {
                cluster_arn: f.arn.clone(),
                cluster_name: f.name.clone(),
                cluster_type: match f.kind {
                    ClusterKind::Provisioned => "PROVISIONED",
                    ClusterKind::Serverless => "SERVERLESS",
                },
                current_version: f.current_version.clone(),
                state: f.state.clone(),
                provisioned,
                serverless,
            },
        }
    }
}

/// `UpdateBrokerStorage` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateBrokerStorageRequest {
    pub(super) current_version: Option<String>,
    #[serde(rename = "targetBrokerEBSVolumeInfo", default)]
    pub(super) target_broker_ebs_volume_info: Vec<BrokerEbsVolumeInfo>,
}

/// One broker's (or `All` brokers') target volume.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BrokerEbsVolumeInfo {
    pub(super) kafka_broker_node_id: Option<String>,
    #[serde(rename = "volumeSizeGB")]
    pub(super) volume_size_gb: Option<u32>,
    #[serde(default)]
    pub(super) provisioned_throughput: Option<ProvisionedThroughput>,
}

/// `UpdateBrokerStorage` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateBrokerStorageResponse {
    pub(super) cluster_arn: String,
    pub(super) cluster_operation_arn: String,
}

/// `ListTopics` query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTopicsQuery {
    pub(super) max_results: Option<usize>,
    pub(super) next_token: Option<String>,
    pub(super) topic_name_filter: Option<String>,
}

/// `DescribeTopicPartitions` query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageQuery {
    pub(super) max_results: Option<usize>,
    pub(super) next_token: Option<String>,
}

/// One topic of `ListTopics`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TopicInfo {
    pub(super) topic_arn: String,
    pub(super) topic_name: String,
    pub(super) replication_factor: i32,
    pub(super) partition_count: i32,
    pub(super) out_of_sync_replica_count: i32,
}

/// `ListTopics` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTopicsResponse {
    pub(super) topics: Vec<TopicInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_token: Option<String>,
}

/// `CreateTopic` request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateTopicRequest {
    pub(super) topic_name: Option<String>,
    pub(super) partition_count: Option<i32>,
    pub(super) replication_factor: Option<i32>,
    pub(super) configs: Option<String>,
}

/// `UpdateTopic` request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateTopicRequest {
    pub(super) partition_count: Option<i32>,
    pub(super) configs: Option<String>,
}

/// `CreateTopic` / `UpdateTopic` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TopicChangeResponse {
    pub(super) topic_arn: String,
    pub(super) topic_name: String,
    pub(super) status: &'static str,
}

/// `DescribeTopic` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeTopicResponse {
    pub(super) topic_arn: String,
    pub(super) topic_name: String,
    pub(super) replication_factor: i32,
    pub(super) partition_count: i32,
    pub(super) configs: String,
    pub(super) status: &'static str,
}

/// One partition of `DescribeTopicPartitions`.
#[derive(Debug, Serialize)]
pub(super) struct TopicPartitionInfo {
    pub(super) partition: i32,
    pub(super) leader: i32,
    pub(super) replicas: Vec<i32>,
    pub(super) isr: Vec<i32>,
}

/// `DescribeTopicPartitions` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeTopicPartitionsResponse {
    pub(super) partitions: Vec<TopicPartitionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_token: Option<String>,
}
