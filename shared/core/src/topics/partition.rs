//! Topic and partition identities.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A topic partition, e.g. `orders-3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number (0-based).
    pub partition: i32,
}

impl TopicPartition {
    /// Builds a topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }

    /// Parses the `"<topic>-<partition>"` keys that the Kafka event source mapping uses in
    /// its payload. Topic names may contain `-`, so the partition is the part after the last one.
    pub fn parse_esm_key(key: &str) -> Option<Self> {
        let (topic, partition) = key.rsplit_once('-')?;
        if topic.is_empty() {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        (partition >= 0).then(|| Self::new(topic, partition))
    }

    /// The `"<topic>-<partition>"` key used by the Kafka event source mapping.
    pub fn esm_key(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esm_key_round_trip_with_dashes_in_topic() {
        let tp = TopicPartition::new("orders-v2-eu", 11);
        assert_eq!(tp.esm_key(), "orders-v2-eu-11");
        assert_eq!(TopicPartition::parse_esm_key("orders-v2-eu-11"), Some(tp));
    }

    #[test]
    fn esm_key_rejects_garbage() {
        assert_eq!(TopicPartition::parse_esm_key("orders"), None);
        assert_eq!(TopicPartition::parse_esm_key("-3"), None);
        assert_eq!(TopicPartition::parse_esm_key("orders-x"), None);
        // A topic may end in '-': "orders-" partition 1.
        assert_eq!(
            TopicPartition::parse_esm_key("orders--1"),
            Some(TopicPartition::new("orders-", 1))
        );
    }
}
