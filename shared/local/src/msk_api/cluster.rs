//! `GetBootstrapBrokers`, `DescribeClusterV2` and `UpdateBrokerStorage`.

use super::wire::{
    BootstrapBrokersResponse, DescribeClusterV2Response, UpdateBrokerStorageRequest,
    UpdateBrokerStorageResponse,
};
use super::{bad_request, not_found, ok_json, parse_body, ApiError, Registry, StorageUpdate};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use ferry_core::msk::{ProvisionedThroughput, MAX_VOLUME_GIB};
use std::sync::{Arc, PoisonError};

pub(super) async fn bootstrap_brokers(
    State(registry): State<Arc<Registry>>,
    Path(arn): Path<String>,
) -> Result<Response, ApiError> {
    let c = registry
        .cluster(&arn)
        .ok_or_else(|| not_found(format_args!("cluster {arn}")))?;
    ok_json(&BootstrapBrokersResponse::from(&c.bootstrap))
}

pub(super) async fn describe_cluster(
    State(registry): State<Arc<Registry>>,
    Path(arn): Path<String>,
) -> Result<Response, ApiError> {
    let c = registry
        .cluster(&arn)
        .ok_or_else(|| not_found(format_args!("cluster {arn}")))?;
    ok_json(&DescribeClusterV2Response::from(&c.facts))
}

/// Validates and applies an `UpdateBrokerStorage` request: the volume grows at once, the
/// cluster gets a new `currentVersion`, and the request is recorded.
pub(super) async fn update_storage(
    State(registry): State<Arc<Registry>>,
    Path(arn): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: UpdateBrokerStorageRequest = parse_body(&body)?;
    let mut clusters = registry
        .clusters
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    let Some(cluster) = clusters.get_mut(&arn) else {
        return Err(not_found(format_args!("cluster {arn}")));
    };
    let facts = &mut cluster.facts;
    if facts.is_serverless() {
        return Err(bad_request(
            "UpdateBrokerStorage is not supported for MSK Serverless clusters",
        ));
    }
    let version = request.current_version.clone().unwrap_or_default();
    if version != facts.current_version {
        return Err(bad_request(format!(
            "The cluster version {version:?} does not match the current version {:?}",
            facts.current_version
        )));
    }
    let Some(target) = request.target_broker_ebs_volume_info.first() else {
        return Err(bad_request("targetBrokerEBSVolumeInfo must not be empty"));
    };
    let current = facts.volume_gib.unwrap_or(0);
    let size = target.volume_size_gb.unwrap_or(0);
    if request
        .target_broker_ebs_volume_info
        .iter()
        .any(|t| t.volume_size_gb != Some(size))
    {
        return Err(bad_request(
            "the local MSK API grows every broker to one size",
        ));
    }
    if size <= current || size > MAX_VOLUME_GIB {
        return Err(bad_request(format!(
            "volumeSizeGB must be above the current {current} GiB and at most {MAX_VOLUME_GIB} GiB (got {size})"
        )));
    }
    facts.volume_gib = Some(size);
    if let Some(t) = &target.provisioned_throughput {
        facts.provisioned_throughput = Some(ProvisionedThroughput {
            enabled: t.enabled.unwrap_or(false),
            volume_mibps: t.volume_throughput,
        });
    }
    let serial = registry
        .storage_updates
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&arn)
        .map_or(0, Vec::len)
        + 1;
    facts.current_version = format!("{}-S{serial}", facts.current_version);
    let operation_arn = format!(
        "{}/storage-{serial}",
        arn.replacen(":cluster/", ":cluster-operation/", 1)
    );
    drop(clusters);
    registry
        .storage_updates
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(arn.clone())
        .or_default()
        .push(StorageUpdate {
            current_version: version,
            broker_ids: request
                .target_broker_ebs_volume_info
                .iter()
                .map(|t| t.kafka_broker_node_id.clone().unwrap_or_default())
                .collect(),
            volume_gib: size,
            operation_arn: operation_arn.clone(),
        });
    ok_json(&UpdateBrokerStorageResponse {
        cluster_arn: arn,
        cluster_operation_arn: operation_arn,
    })
}
