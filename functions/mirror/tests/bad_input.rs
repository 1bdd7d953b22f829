//! Bad input never reaches the target: property tests over malformed Kafka event source mapping
//! payloads.
//!
//! Each case generates a valid ESM event in AWS's shape (fields in AWS's order, several
//! partitions, ascending offsets with gaps, every timestamp type, null keys and values, signed
//! header bytes), optionally preceded by a valid "history" event already mirrored, then changes
//! one thing into something the ESM never sends (negative offset, partition or topic that
//! disagrees with its key, unknown timestamp type, impossible timestamp, bad base64, header byte
//! out of range, descending offsets, missing or repeated fields, wrong JSON types, bad or repeated
//! partition keys, truncated JSON...). Then:
//!
//! * decoding yields a typed error reported as `Ferry.BadInput`, whose message names the field,
//!   the topic-partition and the offset where they are known;
//! * the whole runtime path (payload bytes → [`EsmEvent`] → `MirrorHandler::handle_event`:
//!   `into_batches()`, then, if that were `Ok`, the batches) writes nothing to the target and moves no progress, and the unmutated
//!   event still mirrors completely afterwards.

use ferry_core::failure::FailureKind;
use ferry_core::policy::{ReplicationPolicy, TopicFilter};
use ferry_core::ports::{
    ClusterError, ClusterReader, RangeReader, ReadIsolation, TargetError, TargetMetadata,
    TargetOffsets, TargetWriter, TopicInfo,
};
use ferry_core::{Header, MirrorRecord, TimestampType, TopicPartition};
use ferry_lambda::FailureError;
use ferry_testkit::{InMemoryCluster, InMemoryStateStore, Snapshot, StoreOp};
use mirror::event::{DecodeError, EsmEvent, PartitionBatch};
use mirror::{MirrorError, MirrorHandler};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// The target: an in-memory cluster behind the mirror's target ports, counting produce calls.
// ---------------------------------------------------------------------------------------------

const TOPICS: [&str; 2] = ["orders", "a-b"];
const PARTITIONS: i32 = 3;

#[derive(Debug, Clone)]
struct Target {
    cluster: InMemoryCluster,
    produce_calls: Arc<AtomicU64>,
}

impl Target {
    fn new() -> Self {
        let cluster = InMemoryCluster::new("target");
        for t in TOPICS {
            cluster.create_topic(t, PARTITIONS);
        }
        Self {
            cluster,
            produce_calls: Arc::default(),
        }
    }

    /// Every record of every partition.
    fn contents(&self) -> Vec<(TopicPartition, Vec<MirrorRecord>)> {
        TOPICS
            .iter()
            .flat_map(|t| (0..PARTITIONS).map(|p| TopicPartition::new(*t, p)))
            .map(|tp| {
                let records = self.cluster.records(&tp);
                (tp, records)
            })
            .collect()
    }
}

fn unavailable(e: ClusterError) -> TargetError {
    TargetError::Unavailable(Box::new(e))
}

impl TargetMetadata for Target {
    async fn topic_info(&self, topic: &str) -> Result<Option<TopicInfo>, TargetError> {
        let partitions = self.cluster.partitions(topic).await.map_err(unavailable)?;
        Ok(partitions.map(|partitions| TopicInfo {
            partitions,
            max_message_bytes: 1_048_588,
        }))
    }
}

impl TargetOffsets for Target {
    async fn end_offset(&self, tp: &TopicPartition) -> Result<i64, TargetError> {
        Ok(self.cluster.watermarks(tp).await.map_err(unavailable)?.1)
    }
}

impl RangeReader for Target {
    async fn read_range(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        isolation: ReadIsolation,
    ) -> Result<Vec<MirrorRecord>, ClusterError> {
        self.cluster.read_range(tp, from, to, isolation).await
    }
}

impl TargetWriter for Target {
    async fn fence(&self, _tp: &TopicPartition) -> Result<(), TargetError> {
        Ok(())
    }
    async fn commit(&self, _tp: &TopicPartition) -> Result<(), TargetError> {
        Ok(())
    }
    async fn abort(&self, _tp: &TopicPartition) -> Result<(), TargetError> {
        Ok(())
    }
    fn transactional(&self) -> bool {
        false
    }
    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        self.produce_calls.fetch_add(1, Ordering::Relaxed);
        ferry_core::ports::TargetProducer::produce(&self.cluster, tp, records).await
    }
}

type Handler = MirrorHandler<InMemoryStateStore, Target>;

fn handler() -> Handler {
    MirrorHandler::new(
        InMemoryStateStore::new(),
        Target::new(),
        ReplicationPolicy::Identity,
        TopicFilter::default(),
    )
}

/// What the target and the store hold, and how often they were written.
#[derive(Debug, PartialEq)]
struct State {
    target: Vec<(TopicPartition, Vec<MirrorRecord>)>,
    produce_calls: u64,
    store: Snapshot,
    init_calls: u64,
    commit_calls: u64,
}

fn state(h: &Handler) -> State {
    State {
        target: h.target().contents(),
        produce_calls: h.target().produce_calls.load(Ordering::Relaxed),
        store: h.store().snapshot(),
        init_calls: h.store().calls(StoreOp::InitProgress),
        commit_calls: h.store().calls(StoreOp::CommitProgress),
    }
}

/// The runtime path: the payload bytes as lambda_runtime deserializes them (a
/// `serde_json::Deserializer`, no check for trailing input), then the handler's entry point.
fn run(h: &Handler, payload: &[u8]) -> Result<u64, MirrorError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let event = EsmEvent::deserialize(&mut de).expect("deserializing an EsmEvent never fails");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Ok(rt.block_on(h.handle_event(event))?.produced)
}

fn decode(payload: &[u8]) -> Result<Vec<PartitionBatch>, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    EsmEvent::deserialize(&mut de).unwrap().into_batches()
}

// ---------------------------------------------------------------------------------------------
// Valid events, in AWS's shape and field order.
// ---------------------------------------------------------------------------------------------

/// JSON with object members in a chosen order (and repeated names, which `serde_json::Value`
/// cannot hold): AWS sends record fields in the order topic, partition, offset, timestamp,
/// timestampType, key, value, headers, and the decoder knows a record's offset only once read.
#[derive(Debug, Clone)]
enum J {
    Raw(Value),
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Raw(v) => out.push_str(&v.to_string()),
            J::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::from(k.as_str()).to_string());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        self.write(&mut s);
        s.into_bytes()
    }

    fn obj(&mut self) -> &mut Vec<(String, J)> {
        match self {
            J::Obj(m) => m,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn arr(&mut self) -> &mut Vec<J> {
        match self {
            J::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn member(&mut self, name: &str) -> &mut J {
        &mut self
            .obj()
            .iter_mut()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no member {name}"))
            .1
    }
}

/// One valid record.
#[derive(Debug, Clone)]
struct Rec {
    offset: i64,
    timestamp: i64,
    timestamp_type: &'static str,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<i8>)>,
}

impl Rec {
    fn to_j(&self, topic: &str, partition: i32) -> J {
        use base64::Engine as _;
        let b64 = |b: &Option<Vec<u8>>| match b {
            Some(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
            None => Value::Null,
        };
        let headers: Vec<Value> = self.headers.iter().map(|(k, v)| json!({ k: v })).collect();
        J::Obj(vec![
            ("topic".into(), J::Raw(json!(topic))),
            ("partition".into(), J::Raw(json!(partition))),
            ("offset".into(), J::Raw(json!(self.offset))),
            ("timestamp".into(), J::Raw(json!(self.timestamp))),
            ("timestampType".into(), J::Raw(json!(self.timestamp_type))),
            ("key".into(), J::Raw(b64(&self.key))),
            ("value".into(), J::Raw(b64(&self.value))),
            ("headers".into(), J::Raw(Value::from(headers))),
        ])
    }

    fn mirrored(&self) -> MirrorRecord {
        MirrorRecord {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: TimestampType::from_esm(self.timestamp_type).unwrap(),
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.clone(),
                    value: v.iter().map(|b| *b as u8).collect(),
                })
                .collect(),
        }
    }
}

/// One partition: records already mirrored (`history`, may be empty) and the event's records
/// (at least one), offsets strictly ascending across both.
#[derive(Debug, Clone)]
struct Part {
    topic: &'static str,
    partition: i32,
    history: Vec<Rec>,
    event: Vec<Rec>,
}

impl Part {
    fn key(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

#[derive(Debug, Clone)]
struct Valid {
    event_source: &'static str,
    parts: Vec<Part>,
}

impl Valid {
    fn to_j(&self, records: impl Fn(&Part) -> &Vec<Rec>) -> J {
        let parts = self
            .parts
            .iter()
            .filter(|p| !records(p).is_empty())
            .map(|p| {
                let recs = records(p)
                    .iter()
                    .map(|r| r.to_j(p.topic, p.partition))
                    .collect();
                (p.key(), J::Arr(recs))
            })
            .collect();
        J::Obj(vec![
            ("eventSource".into(), J::Raw(json!(self.event_source))),
            (
                "eventSourceArn".into(),
                J::Raw(json!(
                    "arn:aws:kafka:us-east-1:123456789012:cluster/src/abc"
                )),
            ),
            (
                "bootstrapServers".into(),
                J::Raw(json!("b-1.src:9098,b-2.src:9098")),
            ),
            ("records".into(), J::Obj(parts)),
        ])
    }

    fn history(&self) -> J {
        self.to_j(|p| &p.history)
    }

    fn event(&self) -> J {
        self.to_j(|p| &p.event)
    }

    fn has_history(&self) -> bool {
        self.parts.iter().any(|p| !p.history.is_empty())
    }
}

/// A record's fields but its offset: timestamp, timestamp type, key, value, headers.
type RecFields = (
    i64,
    &'static str,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Vec<i8>)>,
);

fn rec_fields() -> impl Strategy<Value = RecFields> {
    let ts = prop_oneof![
        6 => (0i64..4_000_000_000_000, Just("CREATE_TIME")),
        1 => (Just(-1i64), Just("CREATE_TIME")),
        2 => (0i64..4_000_000_000_000, Just("LOG_APPEND_TIME")),
        1 => (Just(-1i64), Just("NO_TIMESTAMP_TYPE")),
    ];
    let bytes = || proptest::option::weighted(0.8, proptest::collection::vec(any::<u8>(), 0..24));
    let headers = proptest::collection::vec(
        (
            "[a-zA-Z_.-]{0,8}",
            proptest::collection::vec(any::<i8>(), 0..6),
        ),
        0..3,
    );
    (ts, bytes(), bytes(), headers).prop_map(|((t, tt), k, v, h)| (t, tt, k, v, h))
}

fn part(topic: &'static str, partition: i32) -> impl Strategy<Value = Part> {
    (
        0usize..3,
        proptest::collection::vec((0i64..4, rec_fields()), 1..6),
        0i64..1_000,
    )
        .prop_map(move |(history_len, recs, start)| {
            let mut offset = start;
            let mut all: Vec<Rec> = recs
                .into_iter()
                .map(|(gap, (timestamp, timestamp_type, key, value, headers))| {
                    offset += gap;
                    let r = Rec {
                        offset,
                        timestamp,
                        timestamp_type,
                        key,
                        value,
                        headers,
                    };
                    offset += 1;
                    r
                })
                .collect();
            // At least one record in the event.
            let history_len = history_len.min(all.len() - 1);
            let event = all.split_off(history_len);
            Part {
                topic,
                partition,
                history: all,
                event,
            }
        })
}

fn valid_event() -> impl Strategy<Value = Valid> {
    let tps: Vec<(&'static str, i32)> = TOPICS
        .iter()
        .flat_map(|t| (0..PARTITIONS).map(move |p| (*t, p)))
        .collect();
    (
        proptest::sample::subsequence(tps, 1..4),
        prop_oneof![Just("aws:kafka"), Just("SelfManagedKafka")],
    )
        .prop_flat_map(|(tps, event_source)| {
            let parts: Vec<_> = tps.into_iter().map(|(t, p)| part(t, p)).collect();
            parts.prop_map(move |parts| Valid {
                event_source,
                parts,
            })
        })
}

// ---------------------------------------------------------------------------------------------
// Mutations: one change into something the ESM never sends.
// ---------------------------------------------------------------------------------------------

/// Record fields in AWS's order.
const FIELDS: [&str; 8] = [
    "topic",
    "partition",
    "offset",
    "timestamp",
    "timestampType",
    "key",
    "value",
    "headers",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// `offset`: negative, or `i64::MAX` (no next offset).
    Offset(i64),
    /// `partition` other than the key's (negative included).
    Partition(i64),
    /// `topic` other than the key's (empty included).
    Topic(String),
    /// `timestampType` that is none of Kafka's.
    TimestampType(String),
    /// `timestamp` below -1.
    Timestamp(i64),
    /// `NO_TIMESTAMP_TYPE` with a timestamp.
    NoTimestampTypeWithTimestamp(i64),
    /// `key`/`value` that is not canonical padded base64.
    Base64(&'static str, String),
    /// A header byte outside -128..=127.
    HeaderByte(i64),
    /// A header map with other than one entry.
    HeaderEntries(usize),
    /// A header value that is not an array of integers.
    HeaderValue(Value),
    /// An offset not above the previous record's (by `back`).
    NotAscending(i64),
    /// A required field left out.
    Missing(&'static str),
    /// A field of the wrong JSON type.
    WrongType(&'static str, Value),
    /// A field given twice.
    DuplicateField(&'static str),
    /// A record that is not an object.
    RecordNotObject(Value),
    /// A partition's records that are not an array.
    PartitionNotArray(Value),
    /// A partition key that is not a canonical `<topic>-<partition>` (made from the real one).
    BadKey(fn(&str, i32) -> String),
    /// A canonical key of another partition of the same topic.
    KeyOfOtherPartition,
    /// A canonical key of another topic.
    KeyOfOtherTopic,
    /// A partition key given twice.
    DuplicateKey,
    /// `records` that is not an object.
    RecordsNotObject(Value),
    /// No `records`.
    MissingRecords,
    /// `eventSource` that is not a string.
    EventSourceNotString(Value),
    /// The payload cut short.
    Truncate(Index),
    /// A payload that is not an event at all.
    NotAnEvent(&'static str),
}

fn wrong_type(field: &'static str) -> BoxedStrategy<(&'static str, Value)> {
    let values: Vec<Value> = match field {
        "partition" | "offset" | "timestamp" => vec![
            json!("7"),
            json!(1.5),
            json!(true),
            Value::Null,
            json!([]),
            json!({}),
            json!(1e30),
            json!(u64::MAX),
        ],
        "topic" | "timestampType" | "key" | "value" => {
            vec![
                json!(5),
                json!(true),
                json!([]),
                json!({"a": 1}),
                json!(-1.5),
            ]
        }
        _ => vec![
            Value::Null,
            json!(5),
            json!({}),
            json!("x"),
            json!([5]),
            json!([[1]]),
            json!([null]),
        ],
    };
    proptest::sample::select(values)
        .prop_map(move |v| (field, v))
        .boxed()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bad_keys: Vec<fn(&str, i32) -> String> = vec![
        |t, p| format!("{t}-0{p}"),
        |t, p| format!("{t}-+{p}"),
        |t, _| t.to_owned(),
        |t, _| format!("{t}-"),
        |_, p| format!("-{p}"),
        |t, p| format!("{t}-{p} "),
        |t, p| format!("{t}- {p}"),
        |t, p| format!("{t}-{p}x"),
        |t, _| format!("{t}-2147483648"),
        |t, p| format!("{t}_{p}"),
    ];
    prop_oneof![
        prop_oneof![(i64::MIN..0), Just(i64::MAX), Just(-5i64), Just(-1i64)]
            .prop_map(Mutation::Offset),
        prop_oneof![(i64::MIN..0), (PARTITIONS as i64..1 << 40), Just(-1i64)]
            .prop_map(Mutation::Partition),
        prop_oneof![
            Just(String::new()),
            "[a-z-]{1,8}".prop_map(|s| format!("{s}x"))
        ]
        .prop_map(Mutation::Topic),
        prop_oneof![
            "[A-Z_]{0,20}",
            Just("create_time".to_owned()),
            Just("CreateTime".to_owned()),
            Just("NO_TIMESTAMP".to_owned()),
            Just(" CREATE_TIME".to_owned()),
        ]
        .prop_filter("a real timestamp type", |s| TimestampType::from_esm(s)
            .is_none())
        .prop_map(Mutation::TimestampType),
        prop_oneof![(i64::MIN..-1), Just(-2i64)].prop_map(Mutation::Timestamp),
        (0i64..i64::MAX).prop_map(Mutation::NoTimestampTypeWithTimestamp),
        (
            prop_oneof![Just("key"), Just("value")],
            prop_oneof![
                Just("%%%".to_owned()),
                Just("YQ".to_owned()),
                Just("YQ=".to_owned()),
                Just("a===".to_owned()),
                Just("Zm9=".to_owned()),
                Just("Zm9v\n".to_owned()),
                Just("Zm9v_w==".to_owned()),
                Just("a".to_owned()),
                "[A-Za-z0-9+/]{4}[!*.~]".prop_map(String::from),
            ]
        )
            .prop_map(|(f, s)| Mutation::Base64(f, s)),
        prop_oneof![
            (128i64..1 << 40),
            (i64::MIN..-128),
            Just(128i64),
            Just(-129i64),
            Just(255i64)
        ]
        .prop_map(Mutation::HeaderByte),
        prop_oneof![Just(0usize), 2usize..5].prop_map(Mutation::HeaderEntries),
        proptest::sample::select(vec![
            json!("aGVhZGVyVmFsdWU="),
            json!([1.5]),
            Value::Null,
            json!({"a": 1}),
            json!([true]),
            json!(["1"]),
            json!(7),
        ])
        .prop_map(Mutation::HeaderValue),
        (0i64..5).prop_map(Mutation::NotAscending),
        proptest::sample::select(vec!["partition", "offset", "timestamp"])
            .prop_map(Mutation::Missing),
        proptest::sample::select(FIELDS.to_vec())
            .prop_flat_map(wrong_type)
            .prop_map(|(f, v)| Mutation::WrongType(f, v)),
        proptest::sample::select(FIELDS.to_vec()).prop_map(Mutation::DuplicateField),
        proptest::sample::select(vec![
            json!(5),
            json!("x"),
            json!([]),
            Value::Null,
            json!(true)
        ])
        .prop_map(Mutation::RecordNotObject),
        proptest::sample::select(vec![
            json!({}),
            json!(5),
            json!("x"),
            Value::Null,
            json!({"a": 1})
        ])
        .prop_map(Mutation::PartitionNotArray),
        proptest::sample::select(bad_keys).prop_map(Mutation::BadKey),
        Just(Mutation::KeyOfOtherPartition),
        Just(Mutation::KeyOfOtherTopic),
        Just(Mutation::DuplicateKey),
        proptest::sample::select(vec![json!([]), json!(5), json!("x"), Value::Null])
            .prop_map(Mutation::RecordsNotObject),
        Just(Mutation::MissingRecords),
        proptest::sample::select(vec![json!(5), json!([]), json!({})])
            .prop_map(Mutation::EventSourceNotString),
        any::<Index>().prop_map(Mutation::Truncate),
        proptest::sample::select(vec![
            "",
            "null",
            "[]",
            "42",
            "\"records\"",
            "{records: {}}",
            "{"
        ])
        .prop_map(Mutation::NotAnEvent),
    ]
}

/// What the error must say.
#[derive(Debug, Default)]
struct Expect {
    /// Parsed outside any record: no location to name.
    anywhere: bool,
    field: Option<&'static str>,
    key: Option<String>,
    offset: Option<i64>,
}

impl Expect {
    fn at(field: &'static str, key: &str, offset: Option<i64>) -> Self {
        Self {
            field: Some(field),
            key: Some(key.to_owned()),
            offset,
            ..Self::default()
        }
    }
}

/// The mutated payload, and what its error must name.
fn mutate(valid: &Valid, m: &Mutation, p: Index, r: Index) -> (Vec<u8>, Expect) {
    let mut ev = valid.event();
    let pi = p.index(valid.parts.len());
    let part = &valid.parts[pi];
    let key = part.key();
    let ri = r.index(part.event.len());
    let rec = &part.event[ri];
    let offset = rec.offset;
    // Fields after `offset` in AWS's order are read with the offset known.
    let offset_if_after = |field: &str| {
        let pos = |f: &str| FIELDS.iter().position(|x| *x == f).unwrap();
        (pos(field) > pos("offset")).then_some(offset)
    };
    let set = |ev: &mut J, field: &str, v: Value| {
        *ev.member("records").obj()[pi].1.arr()[ri].member(field) = J::Raw(v);
    };
    let add_header = |ev: &mut J, h: Value| {
        let record = &mut ev.member("records").obj()[pi].1.arr()[ri];
        let J::Raw(Value::Array(headers)) = record.member("headers") else {
            unreachable!()
        };
        headers.push(h);
    };
    let expect = match m {
        Mutation::Offset(v) => {
            set(&mut ev, "offset", json!(v));
            Expect::at("offset", &key, Some(*v))
        }
        Mutation::Partition(v) => {
            set(&mut ev, "partition", json!(v));
            Expect::at("partition", &key, Some(offset))
        }
        Mutation::Topic(t) => {
            set(&mut ev, "topic", json!(t));
            Expect::at("topic", &key, Some(offset))
        }
        Mutation::TimestampType(t) => {
            set(&mut ev, "timestampType", json!(t));
            Expect::at("timestampType", &key, Some(offset))
        }
        Mutation::Timestamp(t) => {
            set(&mut ev, "timestamp", json!(t));
            Expect::at("timestamp", &key, Some(offset))
        }
        Mutation::NoTimestampTypeWithTimestamp(t) => {
            set(&mut ev, "timestampType", json!("NO_TIMESTAMP_TYPE"));
            set(&mut ev, "timestamp", json!(t));
            Expect::at("timestamp", &key, Some(offset))
        }
        Mutation::Base64(field, s) => {
            set(&mut ev, field, json!(s));
            Expect::at(field, &key, Some(offset))
        }
        Mutation::HeaderByte(b) => {
            add_header(&mut ev, json!({"x": [0, b, 1]}));
            Expect::at("headers", &key, Some(offset))
        }
        Mutation::HeaderEntries(n) => {
            let h: serde_json::Map<String, Value> =
                (0..*n).map(|i| (format!("h{i}"), json!([i]))).collect();
            add_header(&mut ev, Value::Object(h));
            Expect::at("headers", &key, Some(offset))
        }
        Mutation::HeaderValue(v) => {
            add_header(&mut ev, json!({ "x": v }));
            Expect::at("headers", &key, Some(offset))
        }
        Mutation::NotAscending(back) => {
            let records = ev.member("records").obj()[pi].1.arr();
            if records.len() == 1 {
                // A record delivered twice.
                records.push(records[0].clone());
                Expect::at("offset", &key, Some(offset))
            } else {
                let i = ri.max(1);
                let previous = part.event[i - 1].offset;
                let o = previous - back.min(&previous);
                *records[i].member("offset") = J::Raw(json!(o));
                Expect::at("offset", &key, Some(o))
            }
        }
        Mutation::Missing(field) => {
            let record = &mut ev.member("records").obj()[pi].1.arr()[ri];
            record.obj().retain(|(k, _)| k != field);
            Expect::at(field, &key, (*field != "offset").then_some(offset))
        }
        Mutation::WrongType(field, v) => {
            set(&mut ev, field, v.clone());
            Expect::at(field, &key, offset_if_after(field))
        }
        Mutation::DuplicateField(field) => {
            let record = &mut ev.member("records").obj()[pi].1.arr()[ri];
            let again = record.member(field).clone();
            record.obj().push((field.to_string(), again));
            Expect::at(field, &key, Some(offset))
        }
        Mutation::RecordNotObject(v) => {
            ev.member("records").obj()[pi].1.arr()[ri] = J::Raw(v.clone());
            Expect {
                key: Some(format!("#{ri} of {key}")),
                ..Expect::default()
            }
        }
        Mutation::PartitionNotArray(v) => {
            ev.member("records").obj()[pi].1 = J::Raw(v.clone());
            Expect {
                key: Some(key),
                ..Expect::default()
            }
        }
        Mutation::BadKey(make) => {
            let bad = make(part.topic, part.partition);
            ev.member("records").obj()[pi].0 = bad.clone();
            Expect {
                key: Some(bad),
                ..Expect::default()
            }
        }
        Mutation::KeyOfOtherPartition | Mutation::KeyOfOtherTopic => {
            let other = if matches!(m, Mutation::KeyOfOtherPartition) {
                format!("{}-{}", part.topic, part.partition + PARTITIONS)
            } else {
                format!("other-{}", part.partition)
            };
            ev.member("records").obj()[pi].0 = other.clone();
            let field = if matches!(m, Mutation::KeyOfOtherPartition) {
                "partition"
            } else {
                "topic"
            };
            Expect::at(field, &other, Some(part.event[0].offset))
        }
        Mutation::DuplicateKey => {
            let records = ev.member("records").obj();
            let again = records[pi].clone();
            records.push(again);
            Expect {
                key: Some(key),
                ..Expect::default()
            }
        }
        Mutation::RecordsNotObject(v) => {
            *ev.member("records") = J::Raw(v.clone());
            Expect {
                anywhere: true,
                ..Expect::default()
            }
        }
        Mutation::MissingRecords => {
            ev.obj().retain(|(k, _)| k != "records");
            Expect {
                anywhere: true,
                field: Some("records"),
                ..Expect::default()
            }
        }
        Mutation::EventSourceNotString(v) => {
            *ev.member("eventSource") = J::Raw(v.clone());
            Expect {
                anywhere: true,
                ..Expect::default()
            }
        }
        Mutation::Truncate(at) => {
            let mut bytes = ev.to_bytes();
            bytes.truncate(at.index(bytes.len() - 1));
            return (bytes, Expect::default());
        }
        Mutation::NotAnEvent(s) => {
            return (
                s.as_bytes().to_vec(),
                Expect {
                    anywhere: true,
                    ..Expect::default()
                },
            )
        }
    };
    (ev.to_bytes(), expect)
}

fn check_error(err: &DecodeError, expect: &Expect) -> Result<(), TestCaseError> {
    let msg = err.to_string();
    if expect.anywhere {
        prop_assert!(matches!(err, DecodeError::Shape(_)), "{}", msg);
    }
    if let Some(field) = expect.field {
        prop_assert!(
            msg.contains(field),
            "{:?} does not name field {}",
            msg,
            field
        );
    }
    match (&expect.key, expect.offset) {
        (Some(key), Some(offset)) => {
            let at = format!("{key}@{offset}");
            prop_assert!(msg.contains(&at), "{:?} does not name {}", msg, at);
        }
        (Some(key), None) => {
            prop_assert!(
                msg.contains(key.as_str()),
                "{:?} does not name {}",
                msg,
                key
            );
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Every mutation is a typed decode error, reported as `Ferry.BadInput`, naming the field,
    /// the topic-partition and the offset where they are known.
    #[test]
    fn malformed_events_are_typed_bad_input_naming_field_partition_and_offset(
        valid in valid_event(),
        m in mutation(),
        p in any::<Index>(),
        r in any::<Index>(),
    ) {
        prop_assert!(decode(&valid.event().to_bytes()).is_ok(), "the unmutated event decodes");
        let (payload, expect) = mutate(&valid, &m, p, r);
        let err = match decode(&payload) {
            Ok(batches) => {
                return Err(TestCaseError::fail(format!(
                    "accepted {}: {batches:?}",
                    String::from_utf8_lossy(&payload)
                )))
            }
            Err(e) => e,
        };
        let e = MirrorError::from(err);
        prop_assert_eq!(e.kind(), FailureKind::BadInput, "{}", e.message());
        prop_assert_eq!(e.kind().error_type(), "Ferry.BadInput");
        let MirrorError::Decode(err) = e else { unreachable!() };
        check_error(&err, &expect)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Through the runtime path and the handler, a mutated event writes nothing to the target
    /// and moves no progress (after a valid history, when there is one), fails as
    /// `Ferry.BadInput`, and leaves the partitions as they were: the unmutated event then mirrors
    /// completely.
    #[test]
    fn malformed_events_write_nothing_and_move_no_progress(
        valid in valid_event(),
        m in mutation(),
        p in any::<Index>(),
        r in any::<Index>(),
    ) {
        let h = handler();
        if valid.has_history() {
            run(&h, &valid.history().to_bytes()).expect("the history mirrors");
        }
        let before = state(&h);
        let (payload, _) = mutate(&valid, &m, p, r);
        let result = run(&h, &payload);
        prop_assert!(result.is_err(), "accepted {}", String::from_utf8_lossy(&payload));
        let err = result.unwrap_err();
        prop_assert_eq!(err.kind(), FailureKind::BadInput, "{}", err.message());
        prop_assert_eq!(state(&h), before, "written by {}", String::from_utf8_lossy(&payload));

        // The real batch still goes through, exactly.
        let produced = run(&h, &valid.event().to_bytes()).expect("the unmutated event mirrors");
        let expected: usize = valid.parts.iter().map(|p| p.event.len()).sum();
        prop_assert_eq!(produced, expected as u64);
        for part in &valid.parts {
            let tp = TopicPartition::new(part.topic, part.partition);
            let want: Vec<MirrorRecord> =
                part.history.iter().chain(&part.event).map(Rec::mirrored).collect();
            let got = h.target().cluster.records(&tp);
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(
                    (&g.key, &g.value, &g.headers, g.timestamp, g.timestamp_type),
                    (&w.key, &w.value, &w.headers, w.timestamp, w.timestamp_type)
                );
            }
            let progress = h.store().progress(&tp).expect("progress recorded");
            prop_assert_eq!(progress.next_source, part.event.last().unwrap().offset + 1);
            prop_assert_eq!(progress.next_target, want.len() as i64);
        }
    }
}

/// The case from the issue: after records 0..3 were mirrored, a record with offset -5 was
/// written and moved progress to -4. Now it is `Ferry.BadInput` and nothing changes.
#[test]
fn offset_minus_5_is_rejected_and_writes_nothing() {
    let h = handler();
    let record = |offset: i64| {
        json!({"topic": "orders", "partition": 0, "offset": offset, "timestamp": 1_700_000_000_000_i64,
            "timestampType": "CREATE_TIME", "key": "a2V5", "value": "dmFs", "headers": []})
    };
    let event = |records: Vec<Value>| {
        serde_json::to_vec(&json!({"eventSource": "aws:kafka", "records": {"orders-0": records}}))
            .unwrap()
    };
    assert_eq!(run(&h, &event((0..3).map(record).collect())).unwrap(), 3);
    let before = state(&h);
    let err = run(&h, &event(vec![record(-5)])).unwrap_err();
    assert_eq!(err.kind(), FailureKind::BadInput);
    assert!(
        err.message().contains("orders-0@-5: field offset"),
        "{}",
        err.message()
    );
    assert_eq!(state(&h), before);
    let tp = TopicPartition::new("orders", 0);
    assert_eq!(h.store().progress(&tp).unwrap().next_source, 3);
    assert_eq!(h.target().cluster.records(&tp).len(), 3);
}

/// Records without a timestamp, as Kafka delivers them (`NO_TIMESTAMP_TYPE` or a converted
/// pre-0.10 record with `CREATE_TIME`, both `-1`), are not bad input.
#[test]
fn records_without_a_timestamp_are_accepted() {
    for t in ["NO_TIMESTAMP_TYPE", "CREATE_TIME"] {
        let payload = json!({"records": {"orders-1": [{"topic": "orders", "partition": 1,
            "offset": 0, "timestamp": -1, "timestampType": t, "key": null, "value": null,
            "headers": []}]}});
        let batches = decode(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert_eq!(batches[0].records[0].timestamp, -1);
    }
}
