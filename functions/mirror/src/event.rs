//! Decoding of the Kafka event source mapping payload.
//!
//! AWS's shape: `records` maps `"<topic>-<partition>"` to that partition's records in offset
//! order; `key` and `value` are base64 (absent/null for a null key or a tombstone); `headers` is a
//! list of single-key maps whose values are arrays of *signed* bytes; `timestamp` is epoch ms.
//! Decoding is strict: anything that does not fit is a [`DecodeError`] naming the partition,
//! offset and field, and the batch is not acknowledged (the handler never sees it, so nothing is
//! written to the target and no progress moves).
//!
//! ## What is validated
//! Besides the JSON shape (below), every value the event source mapping guarantees:
//! * `records` keys are canonical `"<topic>-<partition>"` (non-empty topic, partition a
//!   non-negative `i32` written without sign or leading zeros), each key once;
//! * a record's `topic` (when present) and `partition` equal its key's;
//! * `offset` is a Kafka offset, `0 ..= i64::MAX - 1`, strictly ascending within a partition;
//! * `timestampType` is one of Kafka's `CREATE_TIME`, `LOG_APPEND_TIME`, `NO_TIMESTAMP_TYPE`
//!   (the ESM is a Java consumer and sends the enum's name; `NO_TIMESTAMP_TYPE` is what it
//!   reports for records in the pre-0.10 message format);
//! * `timestamp` is epoch milliseconds `>= 0` or Kafka's "no timestamp" `-1`: exactly `-1` for
//!   `NO_TIMESTAMP_TYPE`; `-1` is also accepted with `CREATE_TIME` (records from pre-0.10
//!   producers keep it after the broker converts them), anything below `-1` never;
//! * `key`/`value` are canonical padded base64, header values arrays of signed bytes
//!   (`-128..=127`), each header a single-key map.
//!
//! A type error inside a record (the JSON parser's) becomes [`DecodeError::Field`], which names
//! the partition, the record (and its offset once read) and the field.
//!
//! ## One pass, no intermediate tree
//! [`EsmEvent`] is what the Lambda runtime deserializes the payload into. Its `Deserialize` walks
//! the JSON once and builds [`PartitionBatch`]es directly: base64 is decoded from the borrowed
//! input straight into each record's `Vec<u8>` (no `serde_json::Value`, no per-record `String`
//! for key, value, topic or timestamp type), header values go from signed-byte arrays straight
//! into bytes. The accepted shape is exactly that of `aws_lambda_events`' `KafkaEvent` with an
//! exact integer `timestamp` (that crate parses it through an `f64`): unknown fields are ignored,
//! `eventSource`/`eventSourceArn`/`bootstrapServers`/`topic`/`timestampType`/`key`/`value` may be
//! absent or null, `headers` may be absent but not null, `partition`/`offset`/`timestamp` are
//! required integers (a differential property test checks this against a serde-derived reference).
//!
//! The `Deserialize` of [`EsmEvent`] never fails: a payload that is not JSON or not of the shape
//! becomes [`DecodeError::Shape`] *inside* the event, so the handler (not the runtime) reports it
//! as a typed `Ferry.BadInput` error and the batch is not acknowledged. The runtime reads the
//! payload with a `serde_json::Deserializer` without checking for trailing input, and so does
//! [`decode_slice`].

use base64::Engine as _;
use ferry_core::{Header, MirrorRecord, TimestampType, TopicPartition};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::fmt;
use thiserror::Error;

/// One partition's records from a batch, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBatch {
    /// Source partition.
    pub tp: TopicPartition,
    /// Records in delivery order.
    pub records: Vec<MirrorRecord>,
}

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

/// The payload as the Lambda runtime hands it to the handler: the decoded batches, or why the
/// payload is not a valid Kafka ESM event. Deserializing it never fails (see the module docs).
#[derive(Debug)]
pub struct EsmEvent(pub Result<Vec<PartitionBatch>, DecodeError>);

impl EsmEvent {
    /// The partition batches, sorted by topic and partition.
    pub fn into_batches(self) -> Result<Vec<PartitionBatch>, DecodeError> {
        self.0
    }
}

impl<'de> Deserialize<'de> for EsmEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let at = Location::default();
        Ok(Self(match d.deserialize_map(EventVisitor(&at)) {
            Ok(decoded) => decoded,
            Err(e) => Err(at.error(e.to_string())),
        }))
    }
}

/// Where the decoder is inside `records`, so that an error the JSON parser raises there (which
/// knows only a line and column) can name the partition, record, offset and field. Updated as
/// the decoder goes (a few `Cell` writes per record); cleared after each partition.
#[derive(Default)]
struct Location {
    key: RefCell<Option<String>>,
    index: Cell<Option<usize>>,
    offset: Cell<Option<i64>>,
    field: Cell<Option<&'static str>>,
}

impl Location {
    fn enter_partition(&self, key: &str) {
        *self.key.borrow_mut() = Some(key.to_owned());
        self.enter_record(None);
    }

    fn enter_record(&self, index: Option<usize>) {
        self.index.set(index);
        self.offset.set(None);
        self.field.set(None);
    }

    fn leave_partition(&self) {
        *self.key.borrow_mut() = None;
        self.enter_record(None);
    }

    /// The parser's error, located if it happened inside `records`.
    fn error(&self, message: String) -> DecodeError {
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
fn describe_location(
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

/// Decodes a raw payload into partition batches, sorted by topic and partition for
/// deterministic processing (what the Lambda runtime does with the bytes it receives).
pub fn decode_slice(payload: &[u8]) -> Result<Vec<PartitionBatch>, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    match EsmEvent::deserialize(&mut de) {
        Ok(event) => event.into_batches(),
        Err(e) => Err(DecodeError::Shape(e.to_string())),
    }
}

/// Decodes an already-parsed JSON value (tests and tools; the handler uses [`EsmEvent`]).
pub fn decode(payload: serde_json::Value) -> Result<Vec<PartitionBatch>, DecodeError> {
    match EsmEvent::deserialize(payload) {
        Ok(event) => event.into_batches(),
        Err(e) => Err(DecodeError::Shape(e.to_string())),
    }
}

/// The top-level object: `records` decoded, the other known fields type-checked and dropped.
struct EventVisitor<'a>(&'a Location);

impl<'de> Visitor<'de> for EventVisitor<'_> {
    type Value = Result<Vec<PartitionBatch>, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kafka event source mapping event (an object with `records`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records: Option<Result<Vec<PartitionBatch>, DecodeError>> = None;
        let mut seen = [false; 3];
        while let Some(key) = map.next_key::<FieldName>()? {
            match key.0.as_str() {
                "records" => {
                    if records.is_some() {
                        return Err(de::Error::duplicate_field("records"));
                    }
                    records = Some(map.next_value_seed(RecordsSeed(self.0))?);
                }
                name @ ("eventSource" | "eventSourceArn" | "bootstrapServers") => {
                    let index = usize::from(name != "eventSource")
                        + usize::from(name == "bootstrapServers");
                    if std::mem::replace(&mut seen[index], true) {
                        return Err(de::Error::duplicate_field(
                            ["eventSource", "eventSourceArn", "bootstrapServers"][index],
                        ));
                    }
                    map.next_value::<Option<IgnoredStr>>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let records = records.ok_or_else(|| de::Error::missing_field("records"))?;
        Ok(records.map(|mut batches| {
            batches.sort_by(|a, b| a.tp.cmp(&b.tp));
            batches
        }))
    }
}

/// An object key, borrowed from the input when possible (only top-level and record keys; few).
struct FieldName(String);

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldName, E> {
                Ok(FieldName(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string whose content is not needed (type-checked only, never allocated).
struct IgnoredStr;

impl<'de> Deserialize<'de> for IgnoredStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IgnoredStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<IgnoredStr, E> {
                Ok(IgnoredStr)
            }
        }
        d.deserialize_str(V)
    }
}

/// `records`: `"<topic>-<partition>"` → records. A repeated key is an error (a map would keep
/// only one of them, and the other's records would be acknowledged unmirrored).
struct RecordsSeed<'a>(&'a Location);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Result<Vec<PartitionBatch>, DecodeError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Result<Vec<PartitionBatch>, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of \"<topic>-<partition>\" to records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut batches: Vec<(String, PartitionBatch)> = Vec::new();
        let mut first_error: Option<DecodeError> = None;
        while let Some(FieldName(key)) = map.next_key::<FieldName>()? {
            // Canonical keys only: `t-01` or `t-+1` would be a second key for partition 1.
            let Some(tp) = TopicPartition::parse_esm_key(&key).filter(|tp| tp.esm_key() == key)
            else {
                map.next_value::<IgnoredAny>()?;
                first_error.get_or_insert(DecodeError::BadKey(key));
                continue;
            };
            self.0.enter_partition(&key);
            let records = map.next_value_seed(PartitionSeed {
                key: &key,
                tp: &tp,
                at: self.0,
            })?;
            self.0.leave_partition();
            if batches.iter().any(|(k, _)| *k == key) {
                first_error.get_or_insert(DecodeError::DuplicateKey(key));
                continue;
            }
            match records {
                Ok(records) => batches.push((key, PartitionBatch { tp, records })),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Ok(match first_error {
            Some(e) => Err(e),
            None => Ok(batches.into_iter().map(|(_, b)| b).collect()),
        })
    }
}

/// One partition's record array, offsets strictly ascending. After the first bad record the rest
/// are only parsed (the JSON must still be walked to the end), not decoded.
struct PartitionSeed<'a> {
    key: &'a str,
    tp: &'a TopicPartition,
    at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for PartitionSeed<'_> {
    type Value = Result<Vec<MirrorRecord>, DecodeError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PartitionSeed<'_> {
    type Value = Result<Vec<MirrorRecord>, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of Kafka records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records: Vec<MirrorRecord> =
            Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16_384));
        loop {
            self.at.enter_record(Some(records.len()));
            let Some(record) = seq.next_element_seed(RecordSeed {
                key: self.key,
                tp: self.tp,
                at: self.at,
            })?
            else {
                return Ok(Ok(records));
            };
            let record = record.and_then(|r| match records.last() {
                Some(previous) if r.offset <= previous.offset => Err(DecodeError::NotAscending {
                    tp: self.tp.clone(),
                    offset: r.offset,
                    previous: previous.offset,
                }),
                _ => Ok(r),
            });
            match record {
                Ok(r) => records.push(r),
                Err(e) => {
                    let mut index = records.len();
                    loop {
                        index += 1;
                        self.at.enter_record(Some(index));
                        if seq.next_element::<IgnoredAny>()?.is_none() {
                            break;
                        }
                    }
                    return Ok(Err(e));
                }
            }
        }
    }
}

/// One record, decoded in place.
struct RecordSeed<'a> {
    key: &'a str,
    tp: &'a TopicPartition,
    at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Result<MirrorRecord, DecodeError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

/// A base64 field: absent/null, decoded bytes, or why it did not decode (reported with the
/// record's partition and offset once the whole record is read).
enum B64 {
    Null,
    Bytes(Vec<u8>),
    Invalid(base64::DecodeError),
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = B64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<B64, E> {
                Ok(B64::Null)
            }
            fn visit_unit<E: de::Error>(self) -> Result<B64, E> {
                Ok(B64::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<B64, D::Error> {
                // As bytes: serde_json then hands over the string's raw bytes without UTF-8
                // validation (the base64 decoder checks every byte anyway; ~2 % of the
                // mirror's CPU in the profile). Other deserializers give a `str`.
                d.deserialize_bytes(self)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<B64, E> {
                Ok(match decode_base64(v) {
                    Ok(bytes) => B64::Bytes(bytes),
                    Err(e) => B64::Invalid(e),
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<B64, E> {
                self.visit_bytes(v.as_bytes())
            }
        }
        d.deserialize_option(V)
    }
}

/// Decodes standard, padded base64 with SIMD (`base64-simd`, the AWS SDK's own decoder: several
/// times faster than the scalar `base64` engine on the megabytes of a full batch). Input it
/// rejects is decoded again by the `base64` crate, whose error says what and where (bad input
/// only); both accept exactly the canonical encodings (property-tested below).
fn decode_base64(v: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    base64_simd::STANDARD
        .decode_to_vec(v)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v))
}

/// `topic` compared with the partition key's topic without allocating (the value is kept only
/// when it differs, for the error).
struct TopicSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for TopicSeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for TopicSeed<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a topic name or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((v != self.0).then(|| v.to_owned()))
    }
}

/// `timestampType`: a known spelling, or the unknown value (for the error).
struct TsType(Result<TimestampType, String>);

impl<'de> Deserialize<'de> for TsType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TsType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp type")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TsType, E> {
                Ok(TsType(
                    TimestampType::from_esm(v).ok_or_else(|| v.to_owned()),
                ))
            }
        }
        d.deserialize_str(V)
    }
}

/// `headers`: single-key maps of name → signed bytes. A map with another number of entries is
/// remembered as `(index, entries)` for the error.
struct Headers {
    headers: Vec<Header>,
    bad: Option<(usize, usize)>,
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of single-key header maps")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
                let mut out = Headers {
                    headers: Vec::with_capacity(seq.size_hint().unwrap_or(0)),
                    bad: None,
                };
                let mut index = 0;
                while let Some(one) = seq.next_element::<OneHeader>()? {
                    match one {
                        OneHeader::One(h) => out.headers.push(h),
                        OneHeader::Entries(n) => {
                            out.bad.get_or_insert((index, n));
                        }
                    }
                    index += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

enum OneHeader {
    One(Header),
    Entries(usize),
}

impl<'de> Deserialize<'de> for OneHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneHeader;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header map of name to an array of signed bytes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OneHeader, A::Error> {
                let mut first: Option<Header> = None;
                let mut entries = 0;
                while let Some(FieldName(key)) = map.next_key::<FieldName>()? {
                    let SignedBytes(value) = map.next_value()?;
                    entries += 1;
                    if entries == 1 {
                        first = Some(Header { key, value });
                    }
                }
                Ok(match first {
                    Some(h) if entries == 1 => OneHeader::One(h),
                    _ => OneHeader::Entries(entries),
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// An array of signed bytes (Java's `byte[]` as AWS serializes it) read straight into bytes.
struct SignedBytes(Vec<u8>);

impl<'de> Deserialize<'de> for SignedBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SignedBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of signed bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SignedBytes, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<i8>()? {
                    out.push(b as u8);
                }
                Ok(SignedBytes(out))
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Result<MirrorRecord, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kafka record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut wrong_topic: Option<String> = None;
        let (mut partition, mut offset, mut timestamp) = (None, None, None);
        let mut timestamp_type: Option<TsType> = None;
        let (mut key, mut value) = (B64::Null, B64::Null);
        let mut headers = Headers {
            headers: Vec::new(),
            bad: None,
        };
        let mut seen = 0u16;
        while let Some(field) = map.next_key::<RecordField>()? {
            self.at.field.set(field.name());
            if let Some(name) = field.name() {
                let bit = 1u16 << (field as u16);
                if seen & bit != 0 {
                    return Err(de::Error::duplicate_field(name));
                }
                seen |= bit;
            }
            match field {
                RecordField::Topic => {
                    wrong_topic = map.next_value_seed(TopicSeed(&self.tp.topic))?
                }
                RecordField::Partition => partition = Some(map.next_value::<i64>()?),
                RecordField::Offset => {
                    let o = map.next_value::<i64>()?;
                    self.at.offset.set(Some(o));
                    offset = Some(o);
                }
                RecordField::Timestamp => timestamp = Some(map.next_value::<i64>()?),
                RecordField::TimestampType => timestamp_type = map.next_value()?,
                RecordField::Key => key = map.next_value()?,
                RecordField::Value => value = map.next_value()?,
                RecordField::Headers => headers = map.next_value()?,
                RecordField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |name: &'static str| {
            self.at.field.set(Some(name));
            de::Error::missing_field(name)
        };
        let partition = partition.ok_or_else(|| missing("partition"))?;
        let offset = offset.ok_or_else(|| missing("offset"))?;
        let timestamp = timestamp.ok_or_else(|| missing("timestamp"))?;
        self.at.field.set(None);
        Ok(self.finish(
            wrong_topic,
            partition,
            offset,
            timestamp,
            timestamp_type,
            key,
            value,
            headers,
        ))
    }
}

impl RecordSeed<'_> {
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        wrong_topic: Option<String>,
        partition: i64,
        offset: i64,
        timestamp: i64,
        timestamp_type: Option<TsType>,
        key: B64,
        value: B64,
        headers: Headers,
    ) -> Result<MirrorRecord, DecodeError> {
        let tp = self.tp;
        if wrong_topic.is_some() || partition != i64::from(tp.partition) {
            return Err(DecodeError::Mismatch {
                key: self.key.to_owned(),
                offset,
                field: if wrong_topic.is_some() {
                    "topic"
                } else {
                    "partition"
                },
                topic: wrong_topic.unwrap_or_else(|| tp.topic.clone()),
                partition,
            });
        }
        if !(0..i64::MAX).contains(&offset) {
            return Err(DecodeError::Offset {
                tp: tp.clone(),
                offset,
            });
        }
        let bytes = |field: &'static str, v: B64| match v {
            B64::Null => Ok(None),
            B64::Bytes(b) => Ok(Some(b)),
            B64::Invalid(source) => Err(DecodeError::Base64 {
                tp: tp.clone(),
                offset,
                field,
                source,
            }),
        };
        let timestamp_type = match timestamp_type {
            None => TimestampType::CreateTime,
            Some(TsType(Ok(t))) => t,
            Some(TsType(Err(value))) => {
                return Err(DecodeError::TimestampType {
                    tp: tp.clone(),
                    offset,
                    value,
                })
            }
        };
        if !timestamp_allowed(timestamp, timestamp_type) {
            return Err(DecodeError::Timestamp {
                tp: tp.clone(),
                offset,
                timestamp,
                timestamp_type,
            });
        }
        if let Some((index, entries)) = headers.bad {
            return Err(DecodeError::Header {
                tp: tp.clone(),
                offset,
                index,
                entries,
            });
        }
        Ok(MirrorRecord {
            offset,
            timestamp,
            timestamp_type,
            key: bytes("key", key)?,
            value: bytes("value", value)?,
            headers: headers.headers,
        })
    }
}

/// Epoch milliseconds `>= 0`, or Kafka's "no timestamp" `-1`: always for `NO_TIMESTAMP_TYPE`,
/// and also with `CREATE_TIME` (records from pre-0.10 producers keep `-1` after conversion to
/// the current format; `LOG_APPEND_TIME` never has it in practice, but it is as harmless).
fn timestamp_allowed(timestamp: i64, timestamp_type: TimestampType) -> bool {
    match timestamp_type {
        TimestampType::NoTimestamp => timestamp == -1,
        TimestampType::CreateTime | TimestampType::LogAppendTime => timestamp >= -1,
    }
}

/// The record fields Ferry reads; anything else is skipped.
#[derive(Clone, Copy)]
enum RecordField {
    Topic,
    Partition,
    Offset,
    Timestamp,
    TimestampType,
    Key,
    Value,
    Headers,
    Other,
}

impl RecordField {
    /// The JSON name of a known field.
    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Topic => "topic",
            Self::Partition => "partition",
            Self::Offset => "offset",
            Self::Timestamp => "timestamp",
            Self::TimestampType => "timestampType",
            Self::Key => "key",
            Self::Value => "value",
            Self::Headers => "headers",
            Self::Other => return None,
        })
    }
}

impl<'de> Deserialize<'de> for RecordField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RecordField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RecordField, E> {
                Ok(match v {
                    "topic" => RecordField::Topic,
                    "partition" => RecordField::Partition,
                    "offset" => RecordField::Offset,
                    "timestamp" => RecordField::Timestamp,
                    "timestampType" => RecordField::TimestampType,
                    "key" => RecordField::Key,
                    "value" => RecordField::Value,
                    "headers" => RecordField::Headers,
                    _ => RecordField::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The decoder Ferry had before the one-pass [`EsmEvent`]: serde-derived structs (the shape
    /// of `aws_lambda_events`' `KafkaEvent` with an exact timestamp) read from a
    /// `serde_json::Value`. Kept as the reference the property test compares against.
    mod reference {
        use super::*;

        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        pub struct KafkaEvent {
            #[serde(default)]
            pub event_source: Option<String>,
            #[serde(default)]
            pub event_source_arn: Option<String>,
            #[serde(default)]
            pub bootstrap_servers: Option<String>,
            pub records: HashMap<String, Vec<KafkaRecord>>,
        }

        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct KafkaRecord {
            #[serde(default)]
            pub topic: Option<String>,
            pub partition: i64,
            pub offset: i64,
            pub timestamp: i64,
            #[serde(default)]
            pub timestamp_type: Option<String>,
            #[serde(default)]
            pub key: Option<String>,
            #[serde(default)]
            pub value: Option<String>,
            #[serde(default)]
            pub headers: Vec<HashMap<String, Vec<i8>>>,
        }

        /// `Ok(batches)` or the name of the error variant.
        pub fn decode(payload: serde_json::Value) -> Result<Vec<PartitionBatch>, &'static str> {
            let event: KafkaEvent = serde_json::from_value(payload).map_err(|_| "Shape")?;
            let mut batches = Vec::new();
            for (key, records) in event.records {
                let tp = TopicPartition::parse_esm_key(&key).ok_or("BadKey")?;
                if format!("{}-{}", tp.topic, tp.partition) != key {
                    return Err("BadKey");
                }
                let mut out: Vec<MirrorRecord> = Vec::new();
                for r in records {
                    if r.topic.as_deref().is_some_and(|t| t != tp.topic)
                        || r.partition != i64::from(tp.partition)
                    {
                        return Err("Mismatch");
                    }
                    if r.offset < 0 || r.offset == i64::MAX {
                        return Err("Offset");
                    }
                    let b64 = |v: Option<String>| {
                        v.map(|s| base64::engine::general_purpose::STANDARD.decode(s))
                            .transpose()
                            .map_err(|_| "Base64")
                    };
                    let timestamp_type = match r.timestamp_type.as_deref() {
                        None => TimestampType::CreateTime,
                        Some(s) => TimestampType::from_esm(s).ok_or("TimestampType")?,
                    };
                    let no_timestamp = timestamp_type == TimestampType::NoTimestamp;
                    if r.timestamp < -1 || (no_timestamp && r.timestamp != -1) {
                        return Err("Timestamp");
                    }
                    let mut headers = Vec::new();
                    for h in r.headers {
                        if h.len() != 1 {
                            return Err("Header");
                        }
                        let (key, v) = h.into_iter().next().ok_or("Header")?;
                        headers.push(Header {
                            key,
                            value: v.into_iter().map(|b| b as u8).collect(),
                        });
                    }
                    let record = MirrorRecord {
                        offset: r.offset,
                        timestamp: r.timestamp,
                        timestamp_type,
                        key: b64(r.key)?,
                        value: b64(r.value)?,
                        headers,
                    };
                    if out.last().is_some_and(|p| p.offset >= record.offset) {
                        return Err("NotAscending");
                    }
                    out.push(record);
                }
                batches.push(PartitionBatch { tp, records: out });
            }
            batches.sort_by(|a, b| a.tp.cmp(&b.tp));
            Ok(batches)
        }
    }

    fn variant(e: &DecodeError) -> &'static str {
        match e {
            DecodeError::Shape(_) => "Shape",
            DecodeError::Field { .. } => "Field",
            DecodeError::BadKey(_) => "BadKey",
            DecodeError::DuplicateKey(_) => "DuplicateKey",
            DecodeError::Mismatch { .. } => "Mismatch",
            DecodeError::Offset { .. } => "Offset",
            DecodeError::NotAscending { .. } => "NotAscending",
            DecodeError::Timestamp { .. } => "Timestamp",
            DecodeError::Base64 { .. } => "Base64",
            DecodeError::Header { .. } => "Header",
            DecodeError::TimestampType { .. } => "TimestampType",
        }
    }

    /// A JSON value for one record field: mostly valid, sometimes of another type, null or
    /// absent (`None`), so the property test covers accepted and rejected shapes.
    fn field(valid: BoxedStrategy<serde_json::Value>) -> BoxedStrategy<Option<serde_json::Value>> {
        prop_oneof![
            30 => valid.prop_map(Some),
            1 => Just(None),
            1 => Just(Some(serde_json::Value::Null)),
            1 => prop_oneof![
                Just(serde_json::json!(1.5)),
                Just(serde_json::json!("x")),
                Just(serde_json::json!([1])),
                Just(serde_json::json!({"a": 1})),
                Just(serde_json::json!(true)),
            ]
            .prop_map(Some),
        ]
        .boxed()
    }

    fn b64_value() -> BoxedStrategy<serde_json::Value> {
        prop_oneof![
            24 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| {
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }),
            1 => Just(serde_json::json!("%%%")),
            1 => Just(serde_json::json!("YQ")),
        ]
        .boxed()
    }

    fn headers_value() -> BoxedStrategy<serde_json::Value> {
        let header = prop_oneof![
            24 => ("[a-z]{1,3}", proptest::collection::vec(any::<i8>(), 0..6))
                .prop_map(|(k, v)| serde_json::json!({ k: v })),
            1 => Just(serde_json::json!({})),
            1 => Just(serde_json::json!({"a": [1], "b": [2]})),
            1 => Just(serde_json::json!({"a": [300]})),
        ];
        proptest::collection::vec(header, 0..3)
            .prop_map(serde_json::Value::from)
            .boxed()
    }

    fn record_value(topic: &'static str, partition: i64) -> BoxedStrategy<serde_json::Value> {
        let int = |v: i64| Just(serde_json::json!(v)).boxed();
        (
            field(prop_oneof![24 => Just(serde_json::json!(topic)), 1 => Just(serde_json::json!("other"))].boxed()),
            field(prop_oneof![24 => int(partition), 1 => int(partition + 1)].boxed()),
            field(
                prop_oneof![
                    24 => (0i64..1_000_000).prop_map(|o| serde_json::json!(o)),
                    1 => prop_oneof![Just(-1i64), Just(i64::MIN), Just(i64::MAX), Just(i64::MAX - 1)]
                        .prop_map(|o| serde_json::json!(o)),
                ]
                .boxed(),
            ),
            field(
                prop_oneof![
                    8 => (0i64..4_000_000_000_000).prop_map(|t| serde_json::json!(t)),
                    2 => Just(serde_json::json!(-1)),
                    1 => any::<i64>().prop_map(|t| serde_json::json!(t)),
                ]
                .boxed(),
            ),
            field(
                prop_oneof![
                    6 => Just(serde_json::json!("CREATE_TIME")),
                    3 => Just(serde_json::json!("LOG_APPEND_TIME")),
                    2 => Just(serde_json::json!("NO_TIMESTAMP_TYPE")),
                    1 => Just(serde_json::json!("SOMETIME")),
                ]
                .boxed(),
            ),
            field(b64_value()),
            field(b64_value()),
            field(headers_value()),
            any::<bool>(),
        )
            .prop_map(|(t, p, o, ts, tt, k, v, h, extra)| {
                let mut m = serde_json::Map::new();
                for (name, value) in [
                    ("topic", t),
                    ("partition", p),
                    ("offset", o),
                    ("timestamp", ts),
                    ("timestampType", tt),
                    ("key", k),
                    ("value", v),
                    ("headers", h),
                ] {
                    if let Some(value) = value {
                        m.insert(name.into(), value);
                    }
                }
                if extra {
                    m.insert("unknownField".into(), serde_json::json!({"x": [1, "y"]}));
                }
                serde_json::Value::Object(m)
            })
            .boxed()
    }

    fn event_value() -> impl Strategy<Value = serde_json::Value> {
        // Mostly with ascending offsets (as delivered); sometimes as generated (any order).
        let partition = |key: &'static str, topic: &'static str, p: i64| {
            (
                proptest::collection::vec(record_value(topic, p), 0..4),
                proptest::bool::weighted(0.8),
            )
                .prop_map(move |(mut records, ascending)| {
                    if ascending {
                        let mut next = 0;
                        for r in &mut records {
                            if let Some(o) = r.get_mut("offset").filter(|o| o.is_i64()) {
                                let gap = o.as_i64().unwrap_or(0).rem_euclid(3);
                                *o = serde_json::json!(next + gap);
                                next += gap + 1;
                            }
                        }
                    }
                    (key, records)
                })
        };
        (
            proptest::collection::vec(
                prop_oneof![
                    8 => partition("t-0", "t", 0),
                    8 => partition("a-b-3", "a-b", 3),
                    1 => partition("nokey", "nokey", 0),
                    1 => partition("t-00", "t", 0),
                ],
                0..3,
            ),
            prop_oneof![
                Just(None),
                Just(Some(serde_json::json!("SelfManagedKafka"))),
                Just(Some(serde_json::json!(5))),
            ],
        )
            .prop_map(|(parts, source)| {
                let mut records = serde_json::Map::new();
                for (k, v) in parts {
                    records.insert(k.into(), serde_json::Value::from(v));
                }
                let mut ev = serde_json::json!({ "records": records });
                if let Some(s) = source {
                    ev["eventSource"] = s;
                }
                ev
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The one-pass decoder accepts exactly what the serde-derived reference accepts and
        /// produces the same records; where both reject, with the same error kind (if a
        /// payload has several problems, either may be named first, so only single-problem
        /// rejections are compared).
        #[test]
        fn one_pass_decoder_matches_the_reference(ev in event_value()) {
            let expected = reference::decode(ev.clone());
            let bytes = serde_json::to_vec(&ev).unwrap();
            let got = decode_slice(&bytes);
            let via_value = decode(ev.clone());
            match (&expected, &got) {
                (Ok(e), Ok(g)) => prop_assert_eq!(e, g),
                (Err(e), Err(g)) => {
                    let _ = (e, g);
                }
                _ => prop_assert!(false, "reference {:?} vs one-pass {:?} for {}", expected, got, ev),
            }
            prop_assert_eq!(got.is_ok(), via_value.is_ok());
        }
    }

    /// Strings near valid base64: canonical encodings, then possibly one character replaced
    /// (non-canonical trailing bits, misplaced or missing padding, foreign bytes), truncated
    /// or extended.
    fn near_base64() -> impl Strategy<Value = Vec<u8>> {
        use base64::Engine as _;
        let alphabet: Vec<u8> =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n".to_vec();
        (
            proptest::collection::vec(any::<u8>(), 0..100),
            proptest::option::of((
                any::<proptest::sample::Index>(),
                proptest::sample::select(alphabet),
            )),
            0usize..3,
            proptest::option::of(proptest::sample::select(b"A=Q".to_vec())),
        )
            .prop_map(|(bytes, replace, cut, push)| {
                let mut s = base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into_bytes();
                if let Some((i, c)) = replace {
                    if !s.is_empty() {
                        let i = i.index(s.len());
                        s[i] = c;
                    }
                }
                s.truncate(s.len().saturating_sub(cut));
                s.extend(push);
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The SIMD decoder accepts exactly what the `base64` crate's standard engine accepts
        /// (canonical, padded encodings) and yields the same bytes.
        #[test]
        fn simd_base64_matches_the_base64_crate(s in near_base64()) {
            use base64::Engine as _;
            let simd = base64_simd::STANDARD.decode_to_vec(&s).ok();
            let scalar = base64::engine::general_purpose::STANDARD.decode(&s).ok();
            prop_assert_eq!(&simd, &scalar, "input {:?}", String::from_utf8_lossy(&s));
            prop_assert_eq!(decode_base64(&s).ok(), scalar);
        }
    }

    #[test]
    fn single_problem_errors_match_the_reference() {
        let base = || {
            serde_json::json!({"topic": "t", "partition": 0, "offset": 7, "timestamp": 5,
                "timestampType": "CREATE_TIME", "key": "a2V5", "value": "dmFs", "headers": [{"h": [1, -1]}]})
        };
        // The reference reports every parser error as "Shape"; the one-pass decoder says where
        // (a record field: "Field").
        let cases: Vec<(&str, serde_json::Value)> = vec![
            ("Field", serde_json::json!({"offset": "7"})),
            ("Field", serde_json::json!({"timestamp": 1.5})),
            ("Field", serde_json::json!({"headers": null})),
            ("Field", serde_json::json!({"headers": [{"h": [128]}]})),
            ("Field", serde_json::json!({"headers": [{"h": [-129]}]})),
            ("Field", serde_json::json!({"key": 5})),
            ("Mismatch", serde_json::json!({"topic": "u"})),
            ("Mismatch", serde_json::json!({"topic": ""})),
            ("Mismatch", serde_json::json!({"partition": 1})),
            ("Mismatch", serde_json::json!({"partition": -1})),
            ("Offset", serde_json::json!({"offset": -5})),
            ("Offset", serde_json::json!({"offset": i64::MAX})),
            ("Timestamp", serde_json::json!({"timestamp": -2})),
            (
                "Timestamp",
                serde_json::json!({"timestampType": "NO_TIMESTAMP_TYPE"}),
            ),
            ("Base64", serde_json::json!({"key": "a"})),
            ("TimestampType", serde_json::json!({"timestampType": "X"})),
            ("Header", serde_json::json!({"headers": [{}]})),
        ];
        for (want, patch) in cases {
            let mut r = base();
            for (k, v) in patch.as_object().unwrap() {
                r[k] = v.clone();
            }
            let ev = serde_json::json!({"records": {"t-0": [r]}});
            let reference_wants = if want == "Field" { "Shape" } else { want };
            assert_eq!(
                reference::decode(ev.clone()).unwrap_err(),
                reference_wants,
                "{ev}"
            );
            let bytes = serde_json::to_vec(&ev).unwrap();
            let got = decode_slice(&bytes).unwrap_err();
            assert_eq!(variant(&got), want, "{got}");
        }
        for r in [
            serde_json::json!({"offset": 1, "timestamp": 2}),
            serde_json::json!({"partition": 0, "timestamp": 2}),
        ] {
            let ev = serde_json::json!({"records": {"t-0": [r]}});
            let missing = decode_slice(&serde_json::to_vec(&ev).unwrap()).unwrap_err();
            assert_eq!(variant(&missing), "Field");
            assert_eq!(reference::decode(ev.clone()).unwrap_err(), "Shape");
        }
        // Across records of one partition, and keys.
        let two = |a: i64, b: i64| {
            let (mut r1, mut r2) = (base(), base());
            r1["offset"] = a.into();
            r2["offset"] = b.into();
            serde_json::json!({"records": {"t-0": [r1, r2]}})
        };
        for (want, ev) in [
            ("NotAscending", two(7, 7)),
            ("NotAscending", two(8, 7)),
            ("BadKey", serde_json::json!({"records": {"t-00": [base()]}})),
            ("BadKey", serde_json::json!({"records": {"t-+0": [base()]}})),
            ("BadKey", serde_json::json!({"records": {"-0": []}})),
            ("BadKey", serde_json::json!({"records": {"t-": []}})),
        ] {
            assert_eq!(reference::decode(ev.clone()).unwrap_err(), want, "{ev}");
            let got = decode_slice(&serde_json::to_vec(&ev).unwrap()).unwrap_err();
            assert_eq!(variant(&got), want, "{got}");
        }
        assert!(decode_slice(&serde_json::to_vec(&two(7, 9)).unwrap()).is_ok());
    }

    #[test]
    fn the_runtime_path_never_fails_and_reports_shape_errors_inside() {
        // lambda_runtime deserializes with a serde_json::Deserializer over the body; a payload
        // that is not an event must still reach the handler as a typed error.
        for body in [
            &b"{not json"[..],
            b"[1, 2]",
            br#"{"records": 42}"#,
            b"",
            b"null",
        ] {
            let mut de = serde_json::Deserializer::from_slice(body);
            let event = EsmEvent::deserialize(&mut de).expect("never fails");
            let err = event.into_batches().unwrap_err();
            assert!(matches!(err, DecodeError::Shape(_)), "{err}");
            assert!(err.to_string().contains("not a Kafka event"), "{err}");
        }
        let event: EsmEvent = serde_json::from_str(FIXTURE).unwrap();
        assert_eq!(event.into_batches().unwrap()[0].records.len(), 1);
    }

    /// Decode time of a full 6 MB payload (4,000 records × 1 KiB random values), one-pass vs the
    /// reference (`Value` tree, then serde-derived structs, then base64 from `String`s).
    /// `cargo test --release -p mirror --lib -- --ignored --nocapture decode_speed`.
    #[test]
    #[ignore = "timing, run by hand in release mode"]
    fn decode_speed() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut byte = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        let mut parts = serde_json::Map::new();
        for p in 0..3 {
            let records: Vec<serde_json::Value> = (0..1333)
                .map(|o| {
                    let value: Vec<u8> = (0..1024).map(|_| byte()).collect();
                    serde_json::json!({"topic": "bench", "partition": p, "offset": o,
                        "timestamp": 1_700_000_000_000_i64 + o, "timestampType": "CREATE_TIME",
                        "key": base64::engine::general_purpose::STANDARD.encode(format!("key-{o}")),
                        "value": base64::engine::general_purpose::STANDARD.encode(value),
                        "headers": []})
                })
                .collect();
            parts.insert(format!("bench-{p}"), records.into());
        }
        let payload = serde_json::to_vec(
            &serde_json::json!({"eventSource": "SelfManagedKafka", "records": parts}),
        )
        .unwrap();
        let rounds = 20;
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(reference::decode(v).unwrap().len(), 3);
        }
        let reference = t.elapsed() / rounds;
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            assert_eq!(decode_slice(&payload).unwrap().len(), 3);
        }
        let one_pass = t.elapsed() / rounds;
        eprintln!(
            "payload {} bytes: reference {reference:?}, one-pass {one_pass:?} ({:.2}x)",
            payload.len(),
            reference.as_secs_f64() / one_pass.as_secs_f64()
        );
    }

    #[test]
    fn duplicate_fields_and_keys() {
        let r = r#"{"topic":"t","partition":0,"offset":1,"offset":2,"timestamp":3}"#;
        let dup = format!(r#"{{"records":{{"t-0":[{r}]}}}}"#);
        let err = decode_slice(dup.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Field {
                    field: Some("offset"),
                    offset: Some(1),
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("duplicate field `offset`"),
            "{err}"
        );
        // A repeated partition key: a map would keep one, and the other's records would be
        // acknowledged without being mirrored.
        let twice = r#"{"records":{"t-0":[{"partition":0,"offset":1,"timestamp":3}],"t-0":[{"partition":0,"offset":2,"timestamp":3}]}}"#;
        let err = decode_slice(twice.as_bytes()).unwrap_err();
        assert!(
            matches!(err, DecodeError::DuplicateKey(ref k) if k == "t-0"),
            "{err}"
        );
    }

    #[test]
    fn parser_errors_inside_records_name_partition_record_offset_and_field() {
        let ev =
            |records: &str| format!(r#"{{"eventSource":"x","records":{{"t-1-2":{records}}}}}"#);
        let ok = r#"{"topic":"t-1","partition":2,"offset":6,"timestamp":5,"headers":[]}"#;
        for (records, want) in [
            (
                format!(r#"[{ok},{{"topic":"t-1","partition":2,"offset":7,"timestamp":5,"headers":[{{"h":[1,200]}}]}}]"#),
                vec!["record t-1-2@7 (#1 of its partition): field headers:", "200", "i8"],
            ),
            (
                r#"[{"topic":"t-1","partition":2,"offset":"7","timestamp":5}]"#.to_owned(),
                vec!["record #0 of t-1-2: field offset:", "invalid type: string"],
            ),
            (
                r#"[{"topic":"t-1","partition":2,"offset":7}]"#.to_owned(),
                vec!["record t-1-2@7 (#0 of its partition): field timestamp:", "missing field `timestamp`"],
            ),
            (
                r#"[{"topic":"t-1","partition":2,"offset":7,"timestamp":5,"value":"dmFs","key":[1]}]"#.to_owned(),
                vec!["record t-1-2@7 (#0 of its partition): field key:", "invalid type"],
            ),
            (
                r#"[5]"#.to_owned(),
                vec!["record #0 of t-1-2:", "expected a Kafka record"],
            ),
            (
                r#"{"a":1}"#.to_owned(),
                vec!["records key \"t-1-2\":", "expected an array of Kafka records"],
            ),
            // After a bad record the rest of the partition is only parsed.
            (
                format!(r#"[{{"partition":3,"offset":1,"timestamp":1}},{ok},{{"offset":"#),
                vec!["record #2 of t-1-2: expected value"],
            ),
        ] {
            let err = decode_slice(ev(&records).as_bytes()).unwrap_err();
            assert!(matches!(err, DecodeError::Field { .. }), "{err}");
            let msg = err.to_string();
            for w in want {
                assert!(msg.contains(w), "{msg:?} lacks {w:?}");
            }
        }
        // Outside records: no location.
        let err = decode_slice(br#"{"records":{"t-0":[]},"eventSource":5}"#).unwrap_err();
        assert!(matches!(err, DecodeError::Shape(_)), "{err}");
    }

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
    fn escaped_base64_strings_decode() {
        // A JSON encoder may escape `/` as `\/`; base64 fields are read as raw bytes with the
        // escapes resolved.
        let raw = br#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":1,"timestamp":2,
            "timestampType":"CREATE_TIME","key":"\u002Fw==","value":"a2V5\/w==","headers":[]}]}}"#;
        let b = decode_slice(raw).unwrap();
        let r = &b[0].records[0];
        assert_eq!(r.key.as_deref(), Some(&[0xff][..]));
        assert_eq!(r.value.as_deref(), Some(&[b'k', b'e', b'y', 0xff][..]));
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
        assert!(
            matches!(
                err,
                DecodeError::Mismatch {
                    field: "partition",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("t-1-2@7: field partition"),
            "{err}"
        );
        let err = decode(rec(serde_json::json!({"topic": "t-2"}))).unwrap_err();
        assert!(err.to_string().contains("t-1-2@7: field topic"), "{err}");
        let err = decode(rec(serde_json::json!({"timestampType": "SOMETIME"}))).unwrap_err();
        assert!(matches!(err, DecodeError::TimestampType { .. }), "{err}");
        assert!(
            err.to_string().contains("t-1-2@7: field timestampType"),
            "{err}"
        );
        // The one malformed record that used to be accepted (and moved progress to -4).
        let err = decode(rec(serde_json::json!({"offset": -5}))).unwrap_err();
        assert!(
            matches!(err, DecodeError::Offset { offset: -5, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("t-1-2@-5: field offset"), "{err}");
        let err = decode(rec(serde_json::json!({"timestamp": -7}))).unwrap_err();
        assert!(
            matches!(err, DecodeError::Timestamp { timestamp: -7, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("t-1-2@7: field timestamp"),
            "{err}"
        );
        let err = decode(rec(
            serde_json::json!({"timestampType": "NO_TIMESTAMP_TYPE", "timestamp": 5}),
        ))
        .unwrap_err();
        assert!(matches!(err, DecodeError::Timestamp { .. }), "{err}");
        // What Kafka really delivers without a timestamp.
        for t in ["NO_TIMESTAMP_TYPE", "CREATE_TIME"] {
            let b = decode(rec(
                serde_json::json!({"timestampType": t, "timestamp": -1}),
            ))
            .unwrap();
            assert_eq!(b[0].records[0].timestamp, -1);
        }
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
