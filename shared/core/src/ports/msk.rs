//! The MSK control plane: a cluster's facts and its bootstrap brokers, by cluster ARN.

use super::BoxError;
use crate::msk::{ClusterFacts, MskAuth};
use std::future::Future;
use thiserror::Error;

/// A control-plane request about an MSK cluster failed.
#[derive(Debug, Error)]
pub enum MskError {
    /// The service did not answer, throttled or failed; retrying later may succeed.
    #[error("MSK control plane unavailable for cluster {cluster}: {source}")]
    Unavailable {
        /// Cluster ARN.
        cluster: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// No cluster with that ARN (or not visible to these credentials).
    #[error("MSK cluster {cluster} not found")]
    NotFound {
        /// Cluster ARN.
        cluster: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The service refused the request (access denied, invalid request, conflicting state);
    /// retrying does not help.
    #[error("MSK refused {what} for cluster {cluster} ({code}): {source}")]
    Refused {
        /// Cluster ARN.
        cluster: String,
        /// The request (`GetBootstrapBrokers`, `DescribeClusterV2`, `UpdateBrokerStorage`).
        what: &'static str,
        /// The service's error code (`ForbiddenException`, `BadRequestException`, ...).
        code: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The cluster has no listener for the auth mode Ferry is configured with.
    #[error("MSK cluster {cluster} has no {auth} listener ({field} is empty): enable {auth} client authentication on the cluster or configure another security mode")]
    NoListener {
        /// Cluster ARN.
        cluster: String,
        /// The auth mode asked for.
        auth: MskAuth,
        /// The `GetBootstrapBrokers` field that was empty.
        field: &'static str,
    },
    /// The request does not apply to this cluster (e.g. the topic API or storage on MSK
    /// Serverless).
    #[error("{what} is not available for MSK cluster {cluster}: {reason}")]
    Unsupported {
        /// Cluster ARN.
        cluster: String,
        /// The capability.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The answer lacked something Ferry needs.
    #[error("MSK answered {what} for cluster {cluster} without {missing}")]
    Incomplete {
        /// Cluster ARN.
        cluster: String,
        /// The request.
        what: &'static str,
        /// The missing field.
        missing: &'static str,
    },
}

/// Describes an MSK cluster (`DescribeClusterV2`).
pub trait ClusterDescriber: Send + Sync {
    /// The cluster's facts: Provisioned or Serverless, brokers, volume size, auth modes, state.
    fn describe_cluster(&self) -> impl Future<Output = Result<ClusterFacts, MskError>> + Send;
}

/// Finds an MSK cluster's bootstrap brokers (`GetBootstrapBrokers`).
pub trait ClusterBootstrap: Send + Sync {
    /// The bootstrap broker string of `auth`'s listener (`host:port,...`);
    /// [`MskError::NoListener`] when the cluster has none.
    fn bootstrap_brokers(
        &self,
        auth: MskAuth,
    ) -> impl Future<Output = Result<String, MskError>> + Send;
}
