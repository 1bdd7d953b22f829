//! Consumer groups on the source and the target: committed offsets, state, commits.

use super::BoxError;
use crate::topics::TopicPartition;
use serde::Deserialize;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;

/// Consumer-group failures (source or target cluster).
#[derive(Debug, Error)]
pub enum GroupError {
    /// The cluster did not answer or a request failed; retrying later may succeed.
    #[error("consumer groups on {cluster} unavailable: {source}")]
    Unavailable {
        /// `source` or `target`.
        cluster: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// A commit was refused because the group has active members on the target (it changed
    /// between the state check and the commit).
    #[error("group {group:?} is active on the target: offsets not committed")]
    Active {
        /// Group.
        group: String,
    },
    /// The group or one of its offsets was rejected by the broker.
    #[error("group {group:?}: {reason}")]
    Rejected {
        /// Group.
        group: String,
        /// Why.
        reason: String,
    },
}

/// A consumer group's state on a cluster, as far as offset commits are concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupState {
    /// The group exists but has no members: offsets may be committed.
    Empty,
    /// The cluster does not know the group: offsets may be committed (this creates it).
    NotFound,
    /// The group has members (or is rebalancing): never commit on its behalf.
    Active {
        /// Number of members.
        members: usize,
        /// The broker's state string (`Stable`, `PreparingRebalance`, ...).
        state: String,
    },
}

impl GroupState {
    /// Whether offsets may be committed for the group.
    pub fn accepts_commits(&self) -> bool {
        matches!(self, Self::Empty | Self::NotFound)
    }
}

/// Reads consumer groups and their committed offsets on the source cluster.
pub trait SourceGroups: Send + Sync {
    /// Names of all consumer groups.
    fn list_groups(&self) -> impl Future<Output = Result<Vec<String>, GroupError>> + Send;

    /// Offsets `group` committed for the partitions of `topics` (partitions without a committed
    /// offset are left out). Never joins the group.
    fn committed_offsets(
        &self,
        group: &str,
        topics: &[String],
    ) -> impl Future<Output = Result<HashMap<TopicPartition, i64>, GroupError>> + Send;
}

/// Reads group state and commits offsets on the target cluster.
pub trait TargetGroups: Send + Sync {
    /// Offsets `group` has committed on the target for the partitions of `topics` (partitions
    /// without a committed offset are left out).
    fn committed(
        &self,
        group: &str,
        topics: &[String],
    ) -> impl Future<Output = Result<HashMap<TopicPartition, i64>, GroupError>> + Send;

    /// The group's state on the target.
    fn group_state(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<GroupState, GroupError>> + Send;

    /// Commits `offsets` (target partitions, next offset to read) for `group`. Callers commit
    /// only while [`TargetGroups::group_state`] accepts commits.
    fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> impl Future<Output = Result<(), GroupError>> + Send;
}
