//! aws-sdk-kafka answers as `ferry-core` values: `DescribeClusterV2`'s cluster info as
//! [`ClusterFacts`], `GetBootstrapBrokers` as [`BootstrapBrokers`].

use aws_sdk_kafka::operation::get_bootstrap_brokers::GetBootstrapBrokersOutput;
use aws_sdk_kafka::types::{Cluster, ClusterType};
use ferry_core::msk::{
    BootstrapBrokers, ClientAuthMode, ClusterFacts, ClusterKind, ProvisionedThroughput,
};
use ferry_core::ports::MskError;

/// The private-network bootstrap strings (the ones Lambda functions in the cluster's VPC use).
pub(crate) fn bootstrap_brokers(out: &GetBootstrapBrokersOutput) -> BootstrapBrokers {
    BootstrapBrokers {
        iam: out.bootstrap_broker_string_sasl_iam.clone(),
        scram: out.bootstrap_broker_string_sasl_scram.clone(),
        tls: out.bootstrap_broker_string_tls.clone(),
        plaintext: out.bootstrap_broker_string.clone(),
    }
}

fn positive(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

/// `DescribeClusterV2`'s `ClusterInfo` of the cluster `arn` as facts.
pub(crate) fn cluster_facts(arn: &str, c: &Cluster) -> Result<ClusterFacts, MskError> {
    let kind = match c.cluster_type() {
        Some(ClusterType::Provisioned) => ClusterKind::Provisioned,
        Some(ClusterType::Serverless) => ClusterKind::Serverless,
        // Older answers may lack the type; the shape present tells.
        _ if c.serverless().is_some() => ClusterKind::Serverless,
        _ if c.provisioned().is_some() => ClusterKind::Provisioned,
        _ => {
            return Err(MskError::Incomplete {
                cluster: arn.to_string(),
                what: "DescribeClusterV2",
                missing: "ClusterType",
            })
        }
    };
    let mut facts = ClusterFacts {
        arn: c.cluster_arn().unwrap_or(arn).to_string(),
        name: c.cluster_name().unwrap_or_default().to_string(),
        kind,
        state: c
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        current_version: c.current_version().unwrap_or_default().to_string(),
        kafka_version: None,
        broker_count: None,
        volume_gib: None,
        provisioned_throughput: None,
        client_auth: Vec::new(),
    };
    let on = |enabled: Option<bool>| enabled == Some(true);
    if let Some(p) = c.provisioned() {
        facts.broker_count = positive(p.number_of_broker_nodes());
        facts.kafka_version = p
            .current_broker_software_info()
            .and_then(|s| s.kafka_version())
            .map(str::to_string);
        let ebs = p
            .broker_node_group_info()
            .and_then(|b| b.storage_info())
            .and_then(|s| s.ebs_storage_info());
        facts.volume_gib = positive(ebs.and_then(|e| e.volume_size()));
        facts.provisioned_throughput =
            ebs.and_then(|e| e.provisioned_throughput())
                .map(|t| ProvisionedThroughput {
                    enabled: on(t.enabled()),
                    volume_mibps: positive(t.volume_throughput()),
                });
        if let Some(auth) = p.client_authentication() {
            let sasl = auth.sasl();
            for (mode, enabled) in [
                (
                    ClientAuthMode::Iam,
                    sasl.and_then(|s| s.iam()).and_then(|i| i.enabled()),
                ),
                (
                    ClientAuthMode::Scram,
                    sasl.and_then(|s| s.scram()).and_then(|i| i.enabled()),
                ),
                (
                    ClientAuthMode::MutualTls,
                    auth.tls().and_then(|t| t.enabled()),
                ),
                (
                    ClientAuthMode::Unauthenticated,
                    auth.unauthenticated().and_then(|u| u.enabled()),
                ),
            ] {
                if on(enabled) {
                    facts.client_auth.push(mode);
                }
            }
        }
    }
    if let Some(s) = c.serverless() {
        let iam = s
            .client_authentication()
            .and_then(|a| a.sasl())
            .and_then(|s| s.iam())
            .and_then(|i| i.enabled());
        // Serverless clusters authenticate with IAM only; an answer without the flag still means it.
        if on(iam) || iam.is_none() {
            facts.client_auth.push(ClientAuthMode::Iam);
        }
    }
    facts.client_auth.sort();
    Ok(facts)
}
