//! Key layout and item codec of the single table (see the module docs' schema).

use aws_sdk_dynamodb::types::AttributeValue;
use ferry_core::ports::StoreError;
use ferry_core::progress::{Progress, Segment};
use ferry_core::topic::TopicPartition;
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

pub(super) fn progress_item(tp: &TopicPartition, p: Progress, now_ms: i64) -> Item {
    let mut item = progress_key(tp);
    item.insert("next_source".into(), n(p.next_source));
    item.insert("next_target".into(), n(p.next_target));
    item.insert("updated_at".into(), n(now_ms));
    item
}

pub(super) fn segment_item(tp: &TopicPartition, seg: Segment) -> Item {
    let mut item = HashMap::from([
        (PK.to_string(), s(partition_key(tp))),
        (SK.to_string(), s(segment_sort_key(seg.source_start))),
        ("source_start".to_string(), n(seg.source_start)),
        ("target_start".to_string(), n(seg.target_start)),
    ]);
    if seg.target_gap_before != 0 {
        item.insert("target_gap_before".to_string(), n(seg.target_gap_before));
    }
    item
}

pub(super) fn item_key(item: &Item) -> String {
    let part = |a: &str| match item.get(a) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part(PK), part(SK))
}

pub(super) fn number(item: &Item, attr: &str) -> Result<i64, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: item_key(item),
        reason,
    };
    match item.get(attr) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| corrupt(format!("attribute {attr} = {v:?} is not an integer"))),
        Some(other) => Err(corrupt(format!(
            "attribute {attr} is not a number: {other:?}"
        ))),
        None => Err(corrupt(format!("attribute {attr} is missing"))),
    }
}

pub(super) fn parse_progress(item: &Item) -> Result<Progress, StoreError> {
    Ok(Progress {
        next_source: number(item, "next_source")?,
        next_target: number(item, "next_target")?,
    })
}

pub(super) fn parse_segment(item: &Item) -> Result<Segment, StoreError> {
    Ok(Segment {
        source_start: number(item, "source_start")?,
        target_start: number(item, "target_start")?,
        target_gap_before: if item.contains_key("target_gap_before") {
            number(item, "target_gap_before")?
        } else {
            0
        },
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
