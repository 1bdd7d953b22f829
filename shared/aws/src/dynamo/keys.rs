//! Key layout and item codec of the single table (see the module docs' schema).

use aws_sdk_dynamodb::types::AttributeValue;
use ferry_core::ports::StoreError;
use ferry_core::progress::{Progress, Segment};
use ferry_core::topics::TopicPartition;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Partition key attribute.
pub const PK: &str = "PK";
/// Sort key attribute.
pub const SK: &str = "SK";
/// Sort key of a partition's progress item.
pub const PROGRESS_SK: &str = "PROGRESS";
/// Sort key prefix of segment items.
pub const SEGMENT_SK_PREFIX: &str = "SEG#";

/// Partition key of a topic partition: `TP#<topic>#<partition>`.
pub fn partition_key(tp: &TopicPartition) -> String {
    format!("TP#{}#{}", tp.topic, tp.partition)
}

/// Sort key of a segment: `SEG#` + `source_start` zero-padded to 20 digits.
pub fn segment_sort_key(source_start: i64) -> String {
    format!("{SEGMENT_SK_PREFIX}{source_start:020}")
}

/// Partition key of a group's checkpoints: `GROUP#<group>`.
pub fn group_key(group: &str) -> String {
    format!("GROUP#{group}")
}

/// Sort key of a checkpoint: `TP#<topic>#<partition>`.
pub fn checkpoint_sort_key(tp: &TopicPartition) -> String {
    partition_key(tp)
}

/// Partition key of a migration's items.
pub fn migration_key(id: &str) -> String {
    format!("MIGRATION#{id}")
}

/// Sort key of a migration's state document.
pub const MIGRATION_STATE_SK: &str = "STATE";

/// Sort key of a migration's named report.
pub fn report_sort_key(name: &str) -> String {
    format!("REPORT#{name}")
}

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn progress_key(tp: &TopicPartition) -> Item {
    HashMap::from([
        (PK.to_string(), s(partition_key(tp))),
        (SK.to_string(), s(PROGRESS_SK)),
    ])
}

/// A partition's progress item (`SK = PROGRESS`).
#[derive(Debug, Serialize, Deserialize)]
struct ProgressItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    next_source: i64,
    next_target: i64,
    /// Epoch ms of the last write (for operators; not read back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<i64>,
}

/// A translation segment item (`SK = SEG#<source_start>`); `target_gap_before` only when not 0.
#[derive(Debug, Serialize, Deserialize)]
struct SegmentItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    source_start: i64,
    target_start: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    target_gap_before: i64,
}

/// The value attributes of a checkpoint item (keys parsed separately).
#[derive(Debug, Deserialize)]
pub(super) struct CheckpointFields {
    pub(super) source_offset: i64,
    pub(super) target_offset: i64,
}

/// The value attributes of a migration state or report item (the head item): the document
/// inline (`doc`), or the number of parts and their generation (`parts`, `gen`) when the
/// document is larger than one item.
#[derive(Debug, Deserialize)]
pub(super) struct DocumentFields {
    #[serde(default)]
    pub(super) doc: Option<String>,
    /// Parts of a split document (items `<head SK>#PART#<gen>#<index, 4 digits>`).
    #[serde(default)]
    pub(super) parts: Option<u32>,
    /// Generation of the parts: unique per write, so a new write never touches the parts a
    /// reader of the previous head may still be reading.
    #[serde(default)]
    pub(super) gen: Option<String>,
    /// Only on the state document (conditional-write version).
    #[serde(default)]
    pub(super) version: Option<u64>,
}

/// Sort key prefix of the parts of generation `gen` of the document whose head item has sort
/// key `head_sk`.
pub fn document_part_prefix(head_sk: &str, gen: &str) -> String {
    format!("{head_sk}#PART#{gen}#")
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Serializes one of the item structs above (plain strings and integers: cannot fail).
fn to_item(value: &impl Serialize) -> Item {
    serde_dynamo::to_item(value).expect("items of strings and integers always serialize")
}

/// Reads an item's attributes into `T`; a missing or mistyped attribute is `Corrupt`, naming
/// the item's key.
pub(super) fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::Corrupt {
        key: item_key(item),
        reason: e.to_string(),
    })
}

pub(super) fn progress_item(tp: &TopicPartition, p: Progress, now_ms: i64) -> Item {
    to_item(&ProgressItem {
        pk: partition_key(tp),
        sk: PROGRESS_SK.to_owned(),
        next_source: p.next_source,
        next_target: p.next_target,
        updated_at: Some(now_ms),
    })
}

pub(super) fn segment_item(tp: &TopicPartition, seg: Segment) -> Item {
    to_item(&SegmentItem {
        pk: partition_key(tp),
        sk: segment_sort_key(seg.source_start),
        source_start: seg.source_start,
        target_start: seg.target_start,
        target_gap_before: seg.target_gap_before,
    })
}

pub(super) fn item_key(item: &Item) -> String {
    let part = |a: &str| match item.get(a) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part(PK), part(SK))
}

pub(super) fn parse_progress(item: &Item) -> Result<Progress, StoreError> {
    let p: ProgressItem = from_item(item)?;
    Ok(Progress {
        next_source: p.next_source,
        next_target: p.next_target,
    })
}

pub(super) fn parse_segment(item: &Item) -> Result<Segment, StoreError> {
    let seg: SegmentItem = from_item(item)?;
    Ok(Segment {
        source_start: seg.source_start,
        target_start: seg.target_start,
        target_gap_before: seg.target_gap_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically() {
        assert_eq!(
            partition_key(&TopicPartition::new("orders.v2-eu", 7)),
            "TP#orders.v2-eu#7"
        );
        assert_eq!(segment_sort_key(42), "SEG#00000000000000000042");
        assert_eq!(segment_sort_key(i64::MAX).len(), 24);
        assert!(segment_sort_key(999) < segment_sort_key(1000));
    }

    fn p(s: i64, t: i64) -> Progress {
        Progress {
            next_source: s,
            next_target: t,
        }
    }

    #[test]
    fn segment_items_round_trip_and_omit_a_zero_gap() {
        let tp = TopicPartition::new("t", 3);
        for gap in [0, 5] {
            let seg = Segment {
                source_start: 100,
                target_start: 90,
                target_gap_before: gap,
            };
            let item = segment_item(&tp, seg);
            assert_eq!(item.contains_key("target_gap_before"), gap != 0);
            assert_eq!(item.get(SK), Some(&s(segment_sort_key(100))));
            assert_eq!(parse_segment(&item).unwrap(), seg);
        }
    }

    #[test]
    fn corrupt_items_are_reported() {
        let mut item = progress_item(&TopicPartition::new("t", 0), p(1, 2), 0);
        assert_eq!(parse_progress(&item).unwrap(), p(1, 2));
        item.insert("next_target".into(), s("x"));
        assert!(matches!(
            parse_progress(&item),
            Err(StoreError::Corrupt { key, .. }) if key == "TP#t#0/PROGRESS"
        ));
    }
}
