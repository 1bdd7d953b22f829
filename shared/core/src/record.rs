//! The record shape Ferry mirrors: everything a consumer can observe except the offset,
//! which the target assigns.

use serde::{Deserialize, Serialize};

/// How the record's timestamp was assigned on the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TimestampType {
    /// Set by the producer (`CREATE_TIME`). Ferry writes it unchanged.
    #[default]
    CreateTime,
    /// Set by the source broker (`LOG_APPEND_TIME`). Ferry writes it as the producer timestamp,
    /// so the target keeps the source's value when the target topic uses `CreateTime`.
    LogAppendTime,
    /// No timestamp (`NO_TIMESTAMP_TYPE`).
    NoTimestamp,
}

impl TimestampType {
    /// Parses the ESM payload's `timestampType` field.
    pub fn from_esm(s: &str) -> Option<Self> {
        match s {
            "CREATE_TIME" => Some(Self::CreateTime),
            "LOG_APPEND_TIME" => Some(Self::LogAppendTime),
            "NO_TIMESTAMP_TYPE" => Some(Self::NoTimestamp),
            _ => None,
        }
    }

    /// The ESM payload's `timestampType` spelling.
    pub fn as_esm(self) -> &'static str {
        match self {
            Self::CreateTime => "CREATE_TIME",
            Self::LogAppendTime => "LOG_APPEND_TIME",
            Self::NoTimestamp => "NO_TIMESTAMP_TYPE",
        }
    }
}

/// One record header. The Kafka ESM payload cannot express a null header value, so a null
/// value on the source arrives (and is mirrored) as an empty value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Header value bytes.
    pub value: Vec<u8>,
}

/// A source record as delivered in one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorRecord {
    /// Source offset.
    pub offset: i64,
    /// Record timestamp in epoch milliseconds.
    pub timestamp: i64,
    /// How the timestamp was assigned.
    pub timestamp_type: TimestampType,
    /// Key; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order (duplicates allowed, as in Kafka).
    pub headers: Vec<Header>,
}

impl MirrorRecord {
    /// Bytes of payload this record carries (key + value + header keys and values).
    /// Used for throughput metrics and for the `max.message.bytes` precheck (plus overhead).
    pub fn payload_bytes(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.len())
                .sum::<usize>()
    }

    /// Conservative upper bound of the record's size inside a single-record batch on the wire
    /// (record batch header 61 bytes, per-record varints and attributes, header varints).
    pub fn estimated_batch_bytes(&self) -> usize {
        61 + 21 + self.payload_bytes() + self.headers.len() * 10
    }
}
