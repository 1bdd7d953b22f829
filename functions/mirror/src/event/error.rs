//! [`DecodeError`] and the location (partition, record, offset, field) it names.

use super::*;

/// The payload is not a valid Kafka ESM event. Every variant is reported as `Ferry.BadInput`.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The payload is not JSON or does not have the Kafka event shape (the parser's message),
    /// outside any record.
    #[error("event is not a Kafka event source mapping payload: {0}")]
    Shape(String),
    /// A record (or a partition's record array) is not of the Kafka record shape: a field is
    /// missing, repeated or of the wrong JSON type, or the JSON ends inside it.
    #[error("{}: {message}", describe_location(.key, .index, .offset, .field))]
    Field {
        /// The `records` key (`<topic>-<partition>`).
        key: String,
        /// The record's position in the partition's array (`None`: the array itself).
        index: Option<usize>,
        /// The record's offset, when read before the problem.
        offset: Option<i64>,
        /// The field (`None`: the record itself, or a field Ferry does not read).
        field: Option<&'static str>,
        /// The parser's message.
        message: String,
    },
    /// A `records` key is not a canonical `<topic>-<partition>`.
    #[error("records key {0:?} is not \"<topic>-<partition>\" (non-empty topic, partition a non-negative integer without sign or leading zeros)")]
    BadKey(String),
    /// A `records` key appears twice.
    #[error("records key {0:?} appears twice")]
    DuplicateKey(String),
    /// A record's topic/partition disagrees with its `records` key.
    #[error("record {key}@{offset}: field {field}: the record says topic {topic:?} partition {partition}, its records key {key:?} says otherwise")]
    Mismatch {
        /// The map key.
        key: String,
        /// Record offset.
        offset: i64,
        /// `topic` or `partition`.
        field: &'static str,
        /// Topic in the record.
        topic: String,
        /// Partition in the record.
        partition: i64,
    },
    /// An offset Kafka never assigns (negative, or `i64::MAX`, which leaves no next offset).
    #[error("record {tp}@{offset}: field offset: {offset} is not a Kafka offset (0 ..= 2^63 - 2)")]
    Offset {
        /// Partition.
        tp: TopicPartition,
        /// The offset.
        offset: i64,
    },
    /// A partition's offsets are not strictly ascending.
    #[error("record {tp}@{offset}: field offset: not above the previous record's offset {previous} (a partition's records come in strictly ascending offset order)")]
    NotAscending {
        /// Partition.
        tp: TopicPartition,
        /// The offset.
        offset: i64,
        /// The previous record's offset.
        previous: i64,
    },
    /// A timestamp its timestamp type does not allow.
    #[error("record {tp}@{offset}: field timestamp: {timestamp} is not valid with timestampType {} (epoch milliseconds >= 0, or -1 for no timestamp; NO_TIMESTAMP_TYPE only with -1)", .timestamp_type.as_esm())]
    Timestamp {
        /// Partition.
        tp: TopicPartition,
        /// Offset.
        offset: i64,
        /// The timestamp.
        timestamp: i64,
        /// Its type.
        timestamp_type: TimestampType,
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
        "record {tp}@{offset}: field headers: header #{index} must be a single-key map, has {entries} entries"
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
    #[error("record {tp}@{offset}: field timestampType: unknown timestampType {value:?} (CREATE_TIME, LOG_APPEND_TIME or NO_TIMESTAMP_TYPE)")]
    TimestampType {
        /// Partition.
        tp: TopicPartition,
        /// Offset.
        offset: i64,
        /// The value.
        value: String,
    },
}

/// Where the decoder is inside `records`, so that an error the JSON parser raises there (which
/// knows only a line and column) can name the partition, record, offset and field. Updated as
/// the decoder goes (a few `Cell` writes per record); cleared after each partition.
#[derive(Default)]
pub(super) struct Location {
    pub(super) key: RefCell<Option<String>>,
    pub(super) index: Cell<Option<usize>>,
    pub(super) offset: Cell<Option<i64>>,
    pub(super) field: Cell<Option<&'static str>>,
}

impl Location {
    pub(super) fn enter_partition(&self, key: &str) {
        *self.key.borrow_mut() = Some(key.to_owned());
        self.enter_record(None);
    }

    pub(super) fn enter_record(&self, index: Option<usize>) {
        self.index.set(index);
        self.offset.set(None);
        self.field.set(None);
    }

    pub(super) fn leave_partition(&self) {
        *self.key.borrow_mut() = None;
        self.enter_record(None);
    }

    /// The parser's error, located if it happened inside `records`.
    pub(super) fn error(&self, message: String) -> DecodeError {
        match self.key.borrow_mut().take() {
            Some(key) => DecodeError::Field {
                key,
                index: self.index.get(),
                offset: self.offset.get(),
                field: self.field.get(),
                message,
            },
            None => DecodeError::Shape(message),
        }
    }
}

/// `record t-0@7 (#2 in its partition): field headers`, as far as known.
pub(super) fn describe_location(
    key: &str,
    index: &Option<usize>,
    offset: &Option<i64>,
    field: &Option<&'static str>,
) -> String {
    let mut s = match (index, offset) {
        (None, _) => format!("records key {key:?}"),
        (Some(i), None) => format!("record #{i} of {key}"),
        (Some(i), Some(o)) => format!("record {key}@{o} (#{i} of its partition)"),
    };
    if let Some(field) = field {
        s.push_str(": field ");
        s.push_str(field);
    }
    s
}
