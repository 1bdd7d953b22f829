//! Decoding of the Kafka event source mapping payload.
//!
//! AWS's shape: `records` maps `"<topic>-<partition>"` to that partition's records in offset
//! order; `key` and `value` are base64 (absent/null for a null key or a tombstone); `headers` is a
//! list of single-key maps whose values are arrays of *signed* bytes; `timestamp` is epoch ms.
//! Decoding is strict: anything that does not fit is a [`DecodeError`] naming the partition,
//! offset and field, and the batch is not acknowledged.

use base64::Engine as _;
use ferry_core::{Header, MirrorRecord, TimestampType, TopicPartition};
use serde::Deserialize;
use std::collections::HashMap;
use thiserror::Error;

/// The Kafka ESM event. Field for field the shape of `aws_lambda_events::event::kafka::KafkaEvent`,
/// but read here with an exact integer `timestamp`: that crate (1.2) parses timestamps through an
/// `f64` and can be off by a millisecond, and Ferry must write timestamps unchanged.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaEvent {
    /// `aws:kafka` (MSK) or `SelfManagedKafka`.
    #[serde(default)]
    pub event_source: Option<String>,
    /// MSK cluster ARN (MSK only).
    #[serde(default)]
    pub event_source_arn: Option<String>,
    /// Bootstrap servers of the source.
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// `"<topic>-<partition>"` → records in offset order.
    pub records: HashMap<String, Vec<KafkaRecord>>,
}

/// One record of a [`KafkaEvent`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRecord {
    /// Topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// Partition.
    pub partition: i64,
    /// Source offset.
    pub offset: i64,
    /// Epoch milliseconds, exact.
    pub timestamp: i64,
    /// `CREATE_TIME`, `LOG_APPEND_TIME` or `NO_TIMESTAMP_TYPE`.
    #[serde(default)]
    pub timestamp_type: Option<String>,
    /// Base64 key, absent or null for a null key.
    #[serde(default)]
    pub key: Option<String>,
    /// Base64 value, absent or null for a tombstone.
    #[serde(default)]
    pub value: Option<String>,
    /// Single-key maps of header name → signed bytes.
    #[serde(default)]
    pub headers: Vec<HashMap<String, Vec<i8>>>,
}

/// One partition's records from a batch, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBatch {
    /// Source partition.
    pub tp: TopicPartition,
    /// Records in delivery order.
    pub records: Vec<MirrorRecord>,
}

/// The payload is not a valid Kafka ESM event.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The JSON does not have the Kafka event shape.
    #[error("event is not a Kafka event source mapping payload: {0}")]
    Shape(#[source] serde_json::Error),
    /// A `records` key is not `<topic>-<partition>`.
    #[error("records key {0:?} is not \"<topic>-<partition>\"")]
    BadKey(String),
    /// A record's topic/partition disagrees with its `records` key.
    #[error("record {offset} under key {key:?} says topic {topic:?} partition {partition}")]
    Mismatch {
        /// The map key.
        key: String,
        /// Record offset.
        offset: i64,
        /// Topic in the record.
        topic: String,
        /// Partition in the record.
        partition: i64,
    },
    /// A base64 field does not decode.
    #[error("record {tp}@{offset}: field {field} is not valid base64: {source}")]
    Base64 {
        /// Partition.
        tp: TopicPartition,
        /// Offset.
        offset: i64,
        /// `key` or `value`.
        field: &'static str,
        /// Cause.
        #[source]
        source: base64::DecodeError,
    },
    /// A header map does not hold exactly one entry.
    #[error(
        "record {tp}@{offset}: header #{index} must be a single-key map, has {entries} entries"
    )]
    Header {
        /// Partition.
        tp: TopicPartition,
        /// Offset.
        offset: i64,
        /// Header index.
        index: usize,
        /// Entries found.
        entries: usize,
    },
    /// Unknown `timestampType`.
    #[error("record {tp}@{offset}: unknown timestampType {value:?}")]
    TimestampType {
        /// Partition.
        tp: TopicPartition,
        /// Offset.
        offset: i64,
        /// The value.
        value: String,
    },
}

/// Decodes a raw payload (as received by the handler) into partition batches, sorted by
/// topic and partition for deterministic processing.
pub fn decode(payload: serde_json::Value) -> Result<Vec<PartitionBatch>, DecodeError> {
    let event: KafkaEvent = serde_json::from_value(payload).map_err(DecodeError::Shape)?;
    decode_event(event)
}

/// Decodes an already-parsed event.
pub fn decode_event(event: KafkaEvent) -> Result<Vec<PartitionBatch>, DecodeError> {
    let mut batches = Vec::with_capacity(event.records.len());
    for (key, records) in event.records {
        let tp =
            TopicPartition::parse_esm_key(&key).ok_or_else(|| DecodeError::BadKey(key.clone()))?;
        let records = records
            .into_iter()
            .map(|r| decode_record(&key, &tp, r))
            .collect::<Result<Vec<_>, _>>()?;
        batches.push(PartitionBatch { tp, records });
    }
    batches.sort_by(|a, b| a.tp.cmp(&b.tp));
    Ok(batches)
}

fn decode_record(
    key: &str,
    tp: &TopicPartition,
    r: KafkaRecord,
) -> Result<MirrorRecord, DecodeError> {
    let offset = r.offset;
    let topic_ok = r.topic.as_deref().is_none_or(|t| t == tp.topic);
    if !topic_ok || r.partition != i64::from(tp.partition) {
        return Err(DecodeError::Mismatch {
            key: key.to_string(),
            offset,
            topic: r.topic.unwrap_or_default(),
            partition: r.partition,
        });
    }
    let b64 = |field: &'static str, v: Option<String>| {
        v.map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|source| DecodeError::Base64 {
                    tp: tp.clone(),
                    offset,
                    field,
                    source,
                })
        })
        .transpose()
    };
    let timestamp_type = match r.timestamp_type.as_deref() {
        None => TimestampType::CreateTime,
        Some(s) => TimestampType::from_esm(s).ok_or_else(|| DecodeError::TimestampType {
            tp: tp.clone(),
            offset,
            value: s.to_string(),
        })?,
    };
    let headers = r
        .headers
        .into_iter()
        .enumerate()
        .map(|(index, h)| {
            if h.len() != 1 {
                return Err(DecodeError::Header {
                    tp: tp.clone(),
                    offset,
                    index,
                    entries: h.len(),
                });
            }
            let (key, bytes) = h.into_iter().next().ok_or(DecodeError::Header {
                tp: tp.clone(),
                offset,
                index,
                entries: 0,
            })?;
            Ok(Header {
                key,
                value: bytes.into_iter().map(|b| b as u8).collect(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MirrorRecord {
        offset,
        timestamp: r.timestamp,
        timestamp_type,
        key: b64("key", r.key)?,
        value: b64("value", r.value)?,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/example-kafka-event.json");

    #[test]
    fn decodes_the_aws_fixture() {
        let batches = decode(serde_json::from_str(FIXTURE).unwrap()).unwrap();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.tp, TopicPartition::new("AWSKafkaTopic", 0));
        let r = &b.records[0];
        assert_eq!(r.offset, 0);
        assert_eq!(r.timestamp, 1_595_035_749_700);
        assert_eq!(
            r.key.as_deref(),
            Some(&b"8d5596b4-1813-4238-b24b-6dad8e3d1c0c"[..])
        );
        assert_eq!(r.headers[0].key, "headerKey");
        assert_eq!(r.headers[0].value, b"headerValue");
    }

    fn one_record(record: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"eventSource": "SelfManagedKafka", "bootstrapServers": "b:9092",
            "records": {"t-1-2": [record]}})
    }

    #[test]
    fn timestamps_are_exact_and_shape_matches_aws_lambda_events() {
        let ev = one_record(
            serde_json::json!({"topic": "t-1", "partition": 2, "offset": 7,
            "timestamp": 1_595_035_749_702_i64, "timestampType": "CREATE_TIME", "key": null, "value": null,
            "headers": []}),
        );
        // The AWS crate accepts the same payload.
        let _: aws_lambda_events::event::kafka::KafkaEvent =
            serde_json::from_value(ev.clone()).unwrap();
        let b = decode(ev).unwrap();
        assert_eq!(b[0].records[0].timestamp, 1_595_035_749_702);
    }

    #[test]
    fn null_key_tombstone_and_signed_header_bytes() {
        let ev = one_record(
            serde_json::json!({"topic": "t-1", "partition": 2, "offset": 7,
            "timestamp": 5, "timestampType": "LOG_APPEND_TIME", "key": null, "value": null,
            "headers": [{"bin": [-1, 0, 127, -128]}, {"bin": []}]}),
        );
        let b = decode(ev).unwrap();
        let r = &b[0].records[0];
        assert_eq!(b[0].tp, TopicPartition::new("t-1", 2));
        assert_eq!((r.key.clone(), r.value.clone()), (None, None));
        assert_eq!(r.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(r.headers[0].value, vec![255, 0, 127, 128]);
        assert_eq!(r.headers[1].value, Vec::<u8>::new());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let rec = |extra: serde_json::Value| {
            let mut base = serde_json::json!({"topic": "t-1", "partition": 2, "offset": 7,
                "timestamp": 5, "timestampType": "CREATE_TIME", "key": "a2V5", "value": "dmFs", "headers": []});
            base.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            one_record(base)
        };
        let err = decode(rec(serde_json::json!({"value": "%%%"}))).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Base64 {
                    field: "value",
                    offset: 7,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("t-1-2@7"));
        let err = decode(rec(serde_json::json!({"partition": 3}))).unwrap_err();
        assert!(matches!(err, DecodeError::Mismatch { .. }), "{err}");
        let err = decode(rec(serde_json::json!({"timestampType": "SOMETIME"}))).unwrap_err();
        assert!(matches!(err, DecodeError::TimestampType { .. }), "{err}");
        let err = decode(rec(serde_json::json!({"headers": [{"a": [1], "b": [2]}]}))).unwrap_err();
        assert!(
            matches!(err, DecodeError::Header { entries: 2, .. }),
            "{err}"
        );
        let err = decode(serde_json::json!({"records": {"nopartition": []}})).unwrap_err();
        assert!(matches!(err, DecodeError::BadKey(_)), "{err}");
        let err = decode(serde_json::json!({"records": 5})).unwrap_err();
        assert!(matches!(err, DecodeError::Shape(_)), "{err}");
        let err = decode(serde_json::json!([1, 2])).unwrap_err();
        assert!(matches!(err, DecodeError::Shape(_)), "{err}");
    }
}
