//! The AWS-shaped Kafka event payload and the pure batching logic that bounds it.
//!
//! The payload is what a Lambda Kafka event source mapping sends to the function:
//!
//! ```json
//! {"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:...","bootstrapServers":"b-1:9092,b-2:9092",
//!  "records":{"orders-0":[{"topic":"orders","partition":0,"offset":15,"timestamp":1545084650987,
//!    "timestampType":"CREATE_TIME","key":"a2V5","value":"dmFsdWU=","headers":[{"h":[104,-61]}]}]}}
//! ```
//!
//! * `records` is keyed `"<topic>-<partition>"`; each list is in offset order.
//! * `key` / `value` are standard base64 (with padding), `null` for a null key / tombstone.
//! * `headers` is a list of single-key maps; values are arrays of *signed* bytes (Java `byte`).
//!   A null header value is sent as `[]` (the ESM cannot express null).
//! * Self-managed Kafka: `"eventSource":"SelfManagedKafka"` and no `eventSourceArn`, as in the
//!   AWS example event for self-managed Apache Kafka.
//!
//! [`BatchBuilder`] accumulates records while tracking the *exact* serialized size, so a batch
//! stops growing before it would exceed the record count or the payload byte limit (6 MB by
//! default: the synchronous invoke limit, base64 and JSON overhead included). The JSON is
//! assembled from pre-serialized record entries; its bytes equal what `serde_json` produces
//! for [`EsmEvent`], which the tests check (a property test over arbitrary records included).
//!
//! Record entries are written by [`write_entry`] rather than `serde_json`: base64 is encoded
//! straight into the entry buffer and copied without an escape scan (its alphabet never needs
//! escaping), the topic's JSON string is serialized once per batch, and entries of a partition
//! are appended to one buffer (no allocation per record). Header names still go through
//! `serde_json` (they may need escaping).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ferry_core::{MirrorRecord, TopicPartition};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// Which kind of Kafka event source the mapping emulates; decides `eventSource` and
/// `eventSourceArn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// Amazon MSK: `"eventSource":"aws:kafka"` plus the cluster ARN as `eventSourceArn`.
    Msk {
        /// The MSK cluster ARN.
        cluster_arn: String,
    },
    /// Self-managed Apache Kafka: `"eventSource":"SelfManagedKafka"`, no `eventSourceArn`.
    SelfManaged,
}

impl EventSource {
    /// The `eventSource` value.
    pub fn event_source(&self) -> &'static str {
        match self {
            Self::Msk { .. } => "aws:kafka",
            Self::SelfManaged => "SelfManagedKafka",
        }
    }

    /// The `eventSourceArn` value, if any.
    pub fn event_source_arn(&self) -> Option<&str> {
        match self {
            Self::Msk { cluster_arn } => Some(cluster_arn),
            Self::SelfManaged => None,
        }
    }
}

/// Errors while building a payload.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// JSON serialization failed (not expected for these types).
    #[error("cannot serialize the Kafka event payload")]
    Json(#[from] serde_json::Error),
    /// An empty batch refused a record (an internal invariant was broken).
    #[error("an empty batch refused the record at offset {offset}")]
    Unplaceable {
        /// The record's offset.
        offset: i64,
    },
    /// A record for a different topic was pushed.
    #[error("record of topic {got} pushed into a batch for topic {expected}")]
    WrongTopic {
        /// The batch's topic.
        expected: String,
        /// The record's topic.
        got: String,
    },
}

/// One record as the ESM serializes it (borrowing the source record).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EsmRecord<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition number.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub timestamp_type: &'static str,
    /// Base64 key or `null`.
    pub key: Option<String>,
    /// Base64 value or `null` (tombstone).
    pub value: Option<String>,
    /// Headers as single-key maps of signed bytes.
    pub headers: EsmHeaders<'a>,
}

impl<'a> EsmRecord<'a> {
    /// Borrows `record` of `topic`/`partition` in ESM shape.
    pub fn new(topic: &'a str, partition: i32, record: &'a MirrorRecord) -> Self {
        Self {
            topic,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type.as_esm(),
            key: record.key.as_deref().map(|k| BASE64.encode(k)),
            value: record.value.as_deref().map(|v| BASE64.encode(v)),
            headers: EsmHeaders(&record.headers),
        }
    }
}

/// Serializes headers as `[{"<key>":[<signed bytes>]}, ...]`.
#[derive(Debug)]
pub struct EsmHeaders<'a>(pub &'a [ferry_core::Header]);

struct SignedBytes<'a>(&'a [u8]);

impl Serialize for SignedBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for b in self.0 {
            seq.serialize_element(&i8::from_ne_bytes([*b]))?;
        }
        seq.end()
    }
}

struct SingleHeader<'a>(&'a ferry_core::Header);

impl Serialize for SingleHeader<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.0.key, &SignedBytes(&self.0.value))?;
        map.end()
    }
}

impl Serialize for EsmHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            seq.serialize_element(&SingleHeader(h))?;
        }
        seq.end()
    }
}

/// A whole ESM event (used to build a payload in one go; [`BatchBuilder`] produces the same bytes).
#[derive(Debug)]
pub struct EsmEvent<'a> {
    /// Event source kind.
    pub source: &'a EventSource,
    /// `bootstrapServers`.
    pub bootstrap_servers: &'a str,
    /// Topic of all records.
    pub topic: &'a str,
    /// Partitions in payload order, each with its records in offset order.
    pub partitions: Vec<(i32, Vec<&'a MirrorRecord>)>,
}

struct RecordsMap<'e, 'a>(&'e EsmEvent<'a>);

impl Serialize for RecordsMap<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut map = serializer.serialize_map(Some(event.partitions.len()))?;
        for (partition, records) in &event.partitions {
            let entries: Vec<EsmRecord<'_>> = records
                .iter()
                .map(|r| EsmRecord::new(event.topic, *partition, r))
                .collect();
            map.serialize_entry(
                &TopicPartition::new(event.topic, *partition).esm_key(),
                &entries,
            )?;
        }
        map.end()
    }
}

impl Serialize for EsmEvent<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let arn = self.source.event_source_arn();
        let mut map = serializer.serialize_map(Some(3 + usize::from(arn.is_some())))?;
        map.serialize_entry("eventSource", self.source.event_source())?;
        if let Some(arn) = arn {
            map.serialize_entry("eventSourceArn", arn)?;
        }
        map.serialize_entry("bootstrapServers", self.bootstrap_servers)?;
        map.serialize_entry("records", &RecordsMap(self))?;
        map.end()
    }
}

/// Serializes a whole event with `serde_json` (reference implementation for [`BatchBuilder`]).
pub fn build_payload(event: &EsmEvent<'_>) -> Result<Vec<u8>, PayloadError> {
    Ok(serde_json::to_vec(event)?)
}

/// Limits of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Maximum number of records (AWS `BatchSize`, 1..=10,000).
    pub max_records: usize,
    /// Maximum payload size in bytes (JSON with base64, as sent to the function).
    pub max_payload_bytes: usize,
}

/// Offsets of one partition inside a finished batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    /// Partition number.
    pub partition: i32,
    /// Offset of the first record in the batch.
    pub first_offset: i64,
    /// Offset of the last record in the batch.
    pub last_offset: i64,
    /// Number of records of this partition in the batch.
    pub records: usize,
}

impl PartitionRange {
    /// The offset to commit after the batch succeeded (`last_offset + 1`).
    pub fn next_offset(&self) -> i64 {
        self.last_offset + 1
    }
}

/// A finished batch: the payload bytes and what it covers.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The JSON payload.
    pub payload: bytes::Bytes,
    /// Covered partitions in payload order.
    pub partitions: Vec<PartitionRange>,
    /// Total number of records.
    pub records: usize,
}

#[derive(Debug)]
struct Group {
    range: PartitionRange,
    /// Pre-serialized `"<topic>-<partition>":[` prefix.
    key_json: Vec<u8>,
    /// The partition's record entries, comma-separated.
    body: Vec<u8>,
}

/// Writes one record entry exactly as `serde_json` serializes [`EsmRecord`] (`topic_json` is the
/// topic as a JSON string, quotes included).
pub fn write_entry(
    out: &mut Vec<u8>,
    topic_json: &[u8],
    partition: i32,
    record: &MirrorRecord,
) -> Result<(), PayloadError> {
    fn b64(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
        match bytes {
            None => out.extend_from_slice(b"null"),
            Some(bytes) => {
                out.push(b'"');
                // SIMD base64 (`base64-simd`): the encoding is the same standard, padded one.
                let start = out.len();
                let len = base64_simd::STANDARD.encoded_length(bytes.len());
                out.resize(start + len, 0);
                let written = base64_simd::STANDARD
                    .encode(bytes, base64_simd::Out::from_slice(&mut out[start..]))
                    .len();
                debug_assert_eq!(written, len);
                out.push(b'"');
            }
        }
    }
    // `itoa` is what `serde_json` formats integers with, so the digits are identical.
    let mut int = itoa::Buffer::new();
    out.extend_from_slice(b"{\"topic\":");
    out.extend_from_slice(topic_json);
    out.extend_from_slice(b",\"partition\":");
    out.extend_from_slice(int.format(partition).as_bytes());
    out.extend_from_slice(b",\"offset\":");
    out.extend_from_slice(int.format(record.offset).as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    out.extend_from_slice(int.format(record.timestamp).as_bytes());
    out.extend_from_slice(b",\"timestampType\":\"");
    out.extend_from_slice(record.timestamp_type.as_esm().as_bytes());
    out.extend_from_slice(b"\",\"key\":");
    b64(out, record.key.as_deref());
    out.extend_from_slice(b",\"value\":");
    b64(out, record.value.as_deref());
    out.extend_from_slice(b",\"headers\":");
    if record.headers.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        serde_json::to_writer(&mut *out, &EsmHeaders(&record.headers))?;
    }
    out.push(b'}');
    Ok(())
}

/// Accumulates records into one payload under [`BatchLimits`], tracking the exact JSON size.
#[derive(Debug)]
pub struct BatchBuilder {
    topic: String,
    /// `topic` as a JSON string.
    topic_json: Vec<u8>,
    /// Reused buffer for the entry being added.
    scratch: Vec<u8>,
    limits: BatchLimits,
    prefix: Vec<u8>,
    groups: Vec<Group>,
    records: usize,
    size: usize,
}

const SUFFIX: &[u8] = b"}}";

impl BatchBuilder {
    /// An empty batch for `topic` from `source`/`bootstrap_servers` under `limits`.
    pub fn new(
        source: &EventSource,
        bootstrap_servers: &str,
        topic: impl Into<String>,
        limits: BatchLimits,
    ) -> Result<Self, PayloadError> {
        let mut prefix = Vec::with_capacity(256);
        prefix.extend_from_slice(b"{\"eventSource\":");
        serde_json::to_writer(&mut prefix, source.event_source())?;
        if let Some(arn) = source.event_source_arn() {
            prefix.extend_from_slice(b",\"eventSourceArn\":");
            serde_json::to_writer(&mut prefix, arn)?;
        }
        prefix.extend_from_slice(b",\"bootstrapServers\":");
        serde_json::to_writer(&mut prefix, bootstrap_servers)?;
        prefix.extend_from_slice(b",\"records\":{");
        let size = prefix.len() + SUFFIX.len();
        let topic = topic.into();
        let topic_json = serde_json::to_vec(&topic)?;
        Ok(Self {
            topic,
            topic_json,
            scratch: Vec::new(),
            limits,
            prefix,
            groups: Vec::new(),
            records: 0,
            size,
        })
    }

    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Whether the record limit is reached (the batch should be sent now).
    pub fn is_full(&self) -> bool {
        self.records >= self.limits.max_records
    }

    /// Exact size in bytes of the payload [`BatchBuilder::finish`] would produce now.
    pub fn payload_len(&self) -> usize {
        self.size
    }

    /// The limits this batch was built with.
    pub fn limits(&self) -> BatchLimits {
        self.limits
    }

    /// Adds `record` of `partition` if the batch stays within both limits.
    ///
    /// Returns `Ok(None)` when added and `Ok(Some(record))` when the batch is full (by count or
    /// by bytes): send this batch and push the record into the next one. A record that alone
    /// exceeds the byte limit is still accepted into an *empty* batch (so it is delivered, and
    /// fails at invoke time like an oversized record does on AWS) and never joins others.
    /// Records of one partition must be pushed in offset order.
    pub fn try_push(
        &mut self,
        topic: &str,
        partition: i32,
        record: MirrorRecord,
    ) -> Result<Option<MirrorRecord>, PayloadError> {
        if topic != self.topic {
            return Err(PayloadError::WrongTopic {
                expected: self.topic.clone(),
                got: topic.to_owned(),
            });
        }
        if self.is_full() {
            return Ok(Some(record));
        }
        let mut entry = std::mem::take(&mut self.scratch);
        entry.clear();
        write_entry(&mut entry, &self.topic_json, partition, &record)?;
        let group_index = self
            .groups
            .iter()
            .position(|g| g.range.partition == partition);
        let added = match group_index {
            // `,` + entry
            Some(i) => entry.len() + usize::from(!self.groups[i].body.is_empty()),
            // [`,`] + `"key":[` + entry + `]`
            None => {
                let key_len = esm_key_json(&self.topic, partition)?.len();
                usize::from(!self.groups.is_empty()) + key_len + 2 + entry.len() + 1
            }
        };
        if !self.is_empty() && self.size + added > self.limits.max_payload_bytes {
            self.scratch = entry;
            return Ok(Some(record));
        }
        self.size += added;
        self.records += 1;
        match group_index {
            Some(i) => {
                let group = &mut self.groups[i];
                group.range.last_offset = record.offset;
                group.range.records += 1;
                if !group.body.is_empty() {
                    group.body.push(b',');
                }
                group.body.extend_from_slice(&entry);
                self.scratch = entry;
            }
            None => {
                let mut key_json = esm_key_json(&self.topic, partition)?;
                key_json.extend_from_slice(b":[");
                self.groups.push(Group {
                    range: PartitionRange {
                        partition,
                        first_offset: record.offset,
                        last_offset: record.offset,
                        records: 1,
                    },
                    key_json,
                    body: entry,
                });
            }
        }
        Ok(None)
    }

    /// Assembles the payload.
    pub fn finish(self) -> Batch {
        let mut out = Vec::with_capacity(self.size);
        out.extend_from_slice(&self.prefix);
        for (gi, group) in self.groups.iter().enumerate() {
            if gi > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&group.key_json);
            out.extend_from_slice(&group.body);
            out.push(b']');
        }
        out.extend_from_slice(SUFFIX);
        debug_assert_eq!(out.len(), self.size, "size accounting drifted");
        Batch {
            payload: bytes::Bytes::from(out),
            partitions: self.groups.iter().map(|g| g.range).collect(),
            records: self.records,
        }
    }
}

fn esm_key_json(topic: &str, partition: i32) -> Result<Vec<u8>, PayloadError> {
    Ok(serde_json::to_vec(
        &TopicPartition::new(topic, partition).esm_key(),
    )?)
}

/// Splits `records` (in arrival order) into consecutive batches under `limits`; the pure core
/// of the emulator's batching, minus the time window.
pub fn split_into_batches(
    source: &EventSource,
    bootstrap_servers: &str,
    topic: &str,
    limits: BatchLimits,
    records: impl IntoIterator<Item = (i32, MirrorRecord)>,
) -> Result<Vec<Batch>, PayloadError> {
    let mut batches = Vec::new();
    let mut builder = BatchBuilder::new(source, bootstrap_servers, topic, limits)?;
    for (partition, record) in records {
        if let Some(rejected) = builder.try_push(topic, partition, record)? {
            let full = std::mem::replace(
                &mut builder,
                BatchBuilder::new(source, bootstrap_servers, topic, limits)?,
            );
            batches.push(full.finish());
            if let Some(again) = builder.try_push(topic, partition, rejected)? {
                return Err(PayloadError::Unplaceable {
                    offset: again.offset,
                });
            }
        }
    }
    if !builder.is_empty() {
        batches.push(builder.finish());
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::{Header, TimestampType};

    /// xorshift64 for the arbitrary-record test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, max_len: u64) -> Vec<u8> {
            let n = self.below(max_len + 1);
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn write_entry_equals_serde_for_arbitrary_records() {
        // Many pseudo-random records (lengths 0..=70 so every base64 padding case appears;
        // nulls, negative and extreme integers, header names that need escaping).
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let types = [
            TimestampType::CreateTime,
            TimestampType::LogAppendTime,
            TimestampType::NoTimestamp,
        ];
        let names = ["h", "", "q\"uote", "back\\slash", "ctl\u{1}\n", "ünï"];
        let ints = [0, -1, 1, i64::MIN, i64::MAX, 1_700_000_000_000];
        for i in 0..5_000 {
            let headers = (0..rng.below(3))
                .map(|_| Header {
                    key: names[rng.below(names.len() as u64) as usize].to_owned(),
                    value: rng.bytes(4),
                })
                .collect();
            let offset = if i % 7 == 0 {
                ints[rng.below(6) as usize]
            } else {
                (rng.next() >> 1) as i64
            };
            let timestamp = if i % 5 == 0 {
                ints[rng.below(6) as usize]
            } else {
                (rng.next() >> 20) as i64
            };
            let timestamp_type = types[rng.below(3) as usize];
            let key = (rng.below(4) != 0).then(|| rng.bytes(70));
            let value = (rng.below(5) != 0).then(|| rng.bytes(70));
            let record = MirrorRecord {
                offset,
                timestamp,
                timestamp_type,
                key,
                value,
                headers,
            };
            let topic = if i % 2 == 0 {
                "orders"
            } else {
                "we\"ird/tøpic"
            };
            let partition = [0, 1, 11, i32::MAX][rng.below(4) as usize];
            let expected = serde_json::to_vec(&EsmRecord::new(topic, partition, &record)).unwrap();
            let mut got = Vec::new();
            write_entry(
                &mut got,
                &serde_json::to_vec(topic).unwrap(),
                partition,
                &record,
            )
            .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected),
                "{record:?}"
            );
        }
    }

    fn rec(offset: i64, value_len: usize) -> MirrorRecord {
        MirrorRecord {
            offset,
            timestamp: 1_700_000_000_000 + offset,
            timestamp_type: TimestampType::CreateTime,
            key: Some(format!("k{offset}").into_bytes()),
            value: Some(vec![b'x'; value_len]),
            headers: vec![Header {
                key: "h".into(),
                value: vec![0xff, 0x00, 0x7f],
            }],
        }
    }

    fn msk() -> EventSource {
        EventSource::Msk {
            cluster_arn: "arn:aws:kafka:us-east-1:123456789012:cluster/src/abc".into(),
        }
    }

    fn reference(batch_records: &[(i32, MirrorRecord)], source: &EventSource) -> Vec<u8> {
        let mut partitions: Vec<(i32, Vec<&MirrorRecord>)> = Vec::new();
        for (p, r) in batch_records {
            match partitions.iter_mut().find(|(q, _)| q == p) {
                Some((_, list)) => list.push(r),
                None => partitions.push((*p, vec![r])),
            }
        }
        build_payload(&EsmEvent {
            source,
            bootstrap_servers: "b1:9092,b2:9092",
            topic: "orders",
            partitions,
        })
        .unwrap()
    }

    #[test]
    fn builder_bytes_equal_serde_and_size_is_exact() {
        for source in [msk(), EventSource::SelfManaged] {
            let limits = BatchLimits {
                max_records: 100,
                max_payload_bytes: usize::MAX,
            };
            let mut b = BatchBuilder::new(&source, "b1:9092,b2:9092", "orders", limits).unwrap();
            let input: Vec<(i32, MirrorRecord)> = (0..10)
                .map(|i| {
                    (
                        i32::try_from(i % 3).unwrap(),
                        rec(i, usize::try_from(i).unwrap()),
                    )
                })
                .collect();
            for (p, r) in input.clone() {
                assert!(b.try_push("orders", p, r).unwrap().is_none());
            }
            let predicted = b.payload_len();
            let batch = b.finish();
            assert_eq!(batch.payload.len(), predicted);
            assert_eq!(
                batch.payload.as_ref(),
                reference(&input, &source).as_slice()
            );
            assert_eq!(batch.records, 10);
            assert_eq!(batch.partitions.len(), 3);
            assert_eq!(batch.partitions[1].first_offset, 1);
            assert_eq!(batch.partitions[1].last_offset, 7);
            assert_eq!(batch.partitions[1].next_offset(), 8);
        }
    }

    #[test]
    fn empty_builder_is_valid_json() {
        let b = BatchBuilder::new(
            &EventSource::SelfManaged,
            "b:9092",
            "t",
            BatchLimits {
                max_records: 1,
                max_payload_bytes: 10,
            },
        )
        .unwrap();
        let len = b.payload_len();
        let batch = b.finish();
        assert_eq!(batch.payload.len(), len);
        let v: serde_json::Value = serde_json::from_slice(&batch.payload).unwrap();
        assert_eq!(v["eventSource"], "SelfManagedKafka");
        assert!(v.get("eventSourceArn").is_none());
    }

    #[test]
    fn batch_size_limit_splits_by_count() {
        let limits = BatchLimits {
            max_records: 7,
            max_payload_bytes: usize::MAX,
        };
        let batches = split_into_batches(
            &msk(),
            "b:9092",
            "orders",
            limits,
            (0..50).map(|i| (0, rec(i, 10))),
        )
        .unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.records).collect();
        assert_eq!(sizes, vec![7, 7, 7, 7, 7, 7, 7, 1]);
        // Contiguous coverage.
        let mut next = 0;
        for b in &batches {
            assert_eq!(b.partitions[0].first_offset, next);
            next = b.partitions[0].next_offset();
        }
        assert_eq!(next, 50);
    }

    #[test]
    fn byte_limit_stops_before_exceeding() {
        // Each record ~1.4 KB of base64; cap at 10 KB.
        let cap = 10 * 1024;
        let limits = BatchLimits {
            max_records: 10_000,
            max_payload_bytes: cap,
        };
        let input: Vec<(i32, MirrorRecord)> = (0..40)
            .map(|i| (i32::try_from(i % 2).unwrap(), rec(i, 1000)))
            .collect();
        let batches = split_into_batches(&msk(), "b:9092", "orders", limits, input).unwrap();
        assert!(batches.len() > 1);
        let mut total = 0;
        for (i, b) in batches.iter().enumerate() {
            assert!(
                b.payload.len() <= cap,
                "batch {i} is {} bytes",
                b.payload.len()
            );
            serde_json::from_slice::<serde_json::Value>(&b.payload).unwrap();
            total += b.records;
            // Not needlessly small: one more ~1.4 KB record would not have fitted.
            if i + 1 < batches.len() {
                assert!(b.payload.len() + 1300 > cap, "batch {i} stopped early");
            }
        }
        assert_eq!(total, 40);
    }

    #[test]
    fn exact_fit_at_the_limit_is_allowed() {
        let source = msk();
        let one = |n| {
            let mut b = BatchBuilder::new(
                &source,
                "b:9092",
                "orders",
                BatchLimits {
                    max_records: 10,
                    max_payload_bytes: usize::MAX,
                },
            )
            .unwrap();
            for i in 0..n {
                b.try_push("orders", 0, rec(i, 100)).unwrap();
            }
            b.payload_len()
        };
        let two = one(2);
        let limits = BatchLimits {
            max_records: 10,
            max_payload_bytes: two,
        };
        let mut b = BatchBuilder::new(&source, "b:9092", "orders", limits).unwrap();
        assert!(b.try_push("orders", 0, rec(0, 100)).unwrap().is_none());
        assert!(b.try_push("orders", 0, rec(1, 100)).unwrap().is_none());
        assert!(b.try_push("orders", 0, rec(2, 100)).unwrap().is_some());
        assert_eq!(b.payload_len(), two);
    }

    #[test]
    fn oversized_record_travels_alone() {
        let limits = BatchLimits {
            max_records: 100,
            max_payload_bytes: 500,
        };
        let input = vec![(0, rec(0, 10)), (0, rec(1, 5000)), (0, rec(2, 10))];
        let batches = split_into_batches(&msk(), "b:9092", "orders", limits, input).unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.records).collect();
        assert_eq!(sizes, vec![1, 1, 1]);
        assert!(batches[1].payload.len() > 500);
    }

    #[test]
    fn six_megabyte_default_cap() {
        // 1 MiB values: base64 makes each ~1.33 MiB, so only 4 fit under 6 MiB.
        let limits = BatchLimits {
            max_records: 10_000,
            max_payload_bytes: crate::invoke::MAX_SYNC_PAYLOAD_BYTES,
        };
        let input: Vec<(i32, MirrorRecord)> = (0..10).map(|i| (0, rec(i, 1 << 20))).collect();
        let batches = split_into_batches(&msk(), "b:9092", "orders", limits, input).unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.records).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        for b in &batches {
            assert!(b.payload.len() <= crate::invoke::MAX_SYNC_PAYLOAD_BYTES);
        }
    }

    #[test]
    fn wrong_topic_is_rejected() {
        let mut b = BatchBuilder::new(
            &msk(),
            "b",
            "a",
            BatchLimits {
                max_records: 1,
                max_payload_bytes: 100,
            },
        )
        .unwrap();
        assert!(matches!(
            b.try_push("b", 0, rec(0, 1)),
            Err(PayloadError::WrongTopic { .. })
        ));
    }
}
