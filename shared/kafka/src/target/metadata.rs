//! Metadata and offsets: partition counts, the topic's `max.message.bytes` (cached per topic),
//! end offsets and range reads ([`TargetMetadata`], [`TargetOffsets`], [`RangeReader`]).

use super::errors::{RequestTimeout, UnexpectedResponse};
use super::produce::count_i32;
use super::{CachedInfo, TargetCluster};
use ferry_core::ports::{
    ClusterError, RangeReader, ReadIsolation, TargetError, TargetMetadata, TargetOffsets, TopicInfo,
};
use ferry_core::record::MirrorRecord;
use ferry_core::topics::TopicPartition;
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// The cluster refused a request for lack of permission.
pub(super) fn is_authorization_failure(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
    )
}

impl TargetCluster {
    /// Partition count of `topic` from metadata; `None` if it does not exist.
    async fn partition_count(&self, topic: &str) -> Result<Option<i32>, TargetError> {
        let name = topic.to_owned();
        let found = self
            .blocking("metadata request", move |c, timeout| {
                let md = c.fetch_metadata(Some(&name), timeout)?;
                Ok(md
                    .topics()
                    .iter()
                    .find(|t| t.name() == name)
                    .map(|t| (t.error(), t.partitions().len())))
            })
            .await?;
        match found {
            None => Ok(None),
            Some((Some(err), n)) => {
                let code = RDKafkaErrorCode::from(err);
                if code == RDKafkaErrorCode::UnknownTopicOrPartition
                    || code == RDKafkaErrorCode::UnknownTopic
                {
                    Ok(None)
                } else if n == 0 {
                    Err(TargetError::Unavailable(Box::new(
                        KafkaError::MetadataFetch(code),
                    )))
                } else {
                    Ok(Some(count_i32(n)))
                }
            }
            Some((None, 0)) => Ok(None),
            Some((None, n)) => Ok(Some(count_i32(n))),
        }
    }

    /// The producer's `message.max.bytes`, standing in for the limit of `topic` whose configs
    /// the cluster does not let this client describe (warns once per cluster).
    pub(super) fn configs_denied(&self, topic: &str, code: RDKafkaErrorCode) -> usize {
        if !self.describe_configs_denied.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                topic,
                %code,
                message_max_bytes = self.options.tuning.message_max_bytes,
                "not allowed to describe target topic configs (with MSK IAM: grant kafka-cluster:DescribeTopicDynamicConfiguration); the producer's message.max.bytes stands in for each topic's max.message.bytes"
            );
        }
        self.options.tuning.message_max_bytes as usize
    }

    /// The topic's effective `max.message.bytes`; `None` if the topic does not exist.
    async fn max_message_bytes(&self, topic: &str) -> Result<Option<usize>, TargetError> {
        let admin = &self.admin;
        let timeout = self.options.request_timeout;
        let opts = AdminOptions::new().request_timeout(Some(timeout));
        let resources = [ResourceSpecifier::Topic(topic)];
        let request = admin.describe_configs(&resources, &opts);
        let results = match tokio::time::timeout(timeout + Duration::from_secs(1), request).await {
            Err(_elapsed) => {
                return Err(TargetError::Unavailable(Box::new(RequestTimeout {
                    what: "describe configs request",
                    timeout,
                })))
            }
            Ok(Err(KafkaError::AdminOp(code))) if is_authorization_failure(code) => {
                return Ok(Some(self.configs_denied(topic, code)));
            }
            Ok(Err(e)) => return Err(TargetError::Unavailable(Box::new(e))),
            Ok(Ok(results)) => results,
        };
        let resource = match results.into_iter().next() {
            None => {
                return Err(TargetError::Unavailable(Box::new(UnexpectedResponse(
                    format!("describe configs of topic {topic:?} returned no result"),
                ))))
            }
            Some(Err(RDKafkaErrorCode::UnknownTopicOrPartition)) => return Ok(None),
            Some(Err(code)) if is_authorization_failure(code) => {
                return Ok(Some(self.configs_denied(topic, code)));
            }
            Some(Err(code)) => {
                return Err(TargetError::Unavailable(Box::new(KafkaError::AdminOp(
                    code,
                ))))
            }
            Some(Ok(resource)) => resource,
        };
        let value = resource
            .get("max.message.bytes")
            .and_then(|e| e.value.as_deref())
            .ok_or_else(|| {
                TargetError::Unavailable(Box::new(UnexpectedResponse(format!(
                    "topic {topic:?} reports no max.message.bytes"
                ))))
            })?;
        let max = value.trim().parse::<usize>().map_err(|_| {
            TargetError::Unavailable(Box::new(UnexpectedResponse(format!(
                "topic {topic:?} reports max.message.bytes = {value:?}, not a number"
            ))))
        })?;
        Ok(Some(max))
    }
}

/// A retriable "leader not known (yet)" answer.
fn is_leadership_error(e: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::NotLeaderForPartition
                | C::LeaderNotAvailable
                | C::NotCoordinator
                | C::FencedLeaderEpoch
                | C::UnknownLeaderEpoch
        )
    )
}

impl TargetOffsets for TargetCluster {
    async fn end_offset(&self, tp: &TopicPartition) -> Result<i64, TargetError> {
        let topic = tp.topic.clone();
        let partition = tp.partition;
        let (_low, high) = self
            .blocking("watermark request", move |c, timeout| {
                // Leadership moves (elections, a just-created topic) answer with a retriable
                // error for a moment: retry briefly within the request timeout.
                let deadline = std::time::Instant::now() + timeout;
                let mut attempt = 0u32;
                loop {
                    match c.fetch_watermarks(&topic, partition, timeout) {
                        Err(e)
                            if is_leadership_error(&e)
                                && std::time::Instant::now() < deadline
                                && attempt < 20 =>
                        {
                            attempt += 1;
                            std::thread::sleep(Duration::from_millis(
                                50 * u64::from(attempt.min(10)),
                            ));
                        }
                        other => return other,
                    }
                }
            })
            .await?;
        Ok(high)
    }
}

/// Delegates to the cluster's [`KafkaClusterReader`](crate::KafkaClusterReader) (the one range-read body), with this
/// cluster's request timeout and eager connections (the mirror reads one range per hand-over,
/// where a sparse client's occasional 500 ms wait would show); its consumers are pooled
/// between reads, and reads stop early at the partition end.
impl RangeReader for TargetCluster {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        isolation: ReadIsolation,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        self.range_reader()
            .read_range(tp, from, to, isolation)
            .await
    }
}

impl TargetMetadata for TargetCluster {
    fn forget_topic_info(&self, topic: &str) {
        self.invalidate_topic_info(topic);
    }

    async fn topic_info(&self, topic: &str) -> Result<Option<TopicInfo>, TargetError> {
        let now = Instant::now();
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
        {
            if now.duration_since(cached.at) < self.options.topic_info_ttl {
                return Ok(Some(cached.info));
            }
        }
        let Some(partitions) = self.partition_count(topic).await? else {
            return Ok(None);
        };
        let Some(max_message_bytes) = self.max_message_bytes(topic).await? else {
            return Ok(None);
        };
        let info = TopicInfo {
            partitions,
            max_message_bytes,
        };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_owned(), CachedInfo { at: now, info });
        Ok(Some(info))
    }
}
