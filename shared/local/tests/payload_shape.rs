//! The emulator's payload against AWS's shape: it deserializes into
//! `aws_lambda_events::kafka::KafkaEvent`, round-trips, and matches the crate's AWS-shaped
//! fixture (`tests/fixtures/example-kafka-event.json`, copied from aws_lambda_events 1.2.1)
//! field by field (key order included).
//!
//! Note: `aws_lambda_events` 1.2.1 parses `timestamp` into a `MillisecondTimestamp` through an
//! `f64` and truncates, so it can lose a millisecond (1595035749702 becomes ...701), and it
//! serializes it back as a *string*. Consumers that must keep timestamps exact (the mirror)
//! should read the raw JSON number, not `KafkaRecord::timestamp`.

use aws_lambda_events::event::kafka::KafkaEvent;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ferry_core::{Header, MirrorRecord, TimestampType};
use ferry_local::esm::payload::{BatchBuilder, BatchLimits, EventSource};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON tree that keeps object keys in document order (serde_json's `Value` sorts them).
#[derive(Debug, Clone, PartialEq)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Leaf(Value),
}

impl Ordered {
    fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap()
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Self::Object(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn get(&self, key: &str) -> &Ordered {
        match self {
            Self::Object(fields) => &fields.iter().find(|(k, _)| k == key).unwrap().1,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn first(&self) -> &Ordered {
        match self {
            Self::Array(items) => &items[0],
            other => panic!("not an array: {other:?}"),
        }
    }

    /// Same keys in the same order and the same JSON types, recursively (arrays by their
    /// first element).
    fn assert_same_shape(&self, other: &Ordered, path: &str) {
        match (self, other) {
            (Self::Object(a), Self::Object(b)) => {
                let ka: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
                let kb: Vec<&str> = b.iter().map(|(k, _)| k.as_str()).collect();
                assert_eq!(ka, kb, "keys differ at {path}");
                for ((k, x), (_, y)) in a.iter().zip(b) {
                    x.assert_same_shape(y, &format!("{path}.{k}"));
                }
            }
            (Self::Array(a), Self::Array(b)) => {
                if let (Some(x), Some(y)) = (a.first(), b.first()) {
                    x.assert_same_shape(y, &format!("{path}[0]"));
                }
            }
            (Self::Leaf(a), Self::Leaf(b)) => assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "type differs at {path}: {a} vs {b}"
            ),
            (a, b) => panic!("shape differs at {path}: {a:?} vs {b:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
                    fields.push((k, v));
                }
                Ok(Ordered::Object(fields))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<Ordered>()? {
                    items.push(v);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

const FIXTURE: &str = include_str!("fixtures/example-kafka-event.json");
const ARN: &str = "arn:aws:kafka:us-east-1:123456789012:cluster/source/abcd-1";
const BOOTSTRAP: &str = "b-1.source:9092,b-2.source:9092";

fn records() -> Vec<(i32, MirrorRecord)> {
    vec![
        // Key, value, ASCII and non-ASCII header bytes, a null header value (sent as []).
        (
            0,
            MirrorRecord {
                offset: 41,
                timestamp: 1_595_035_749_700,
                timestamp_type: TimestampType::CreateTime,
                key: Some(b"order-1".to_vec()),
                value: Some("grüße".as_bytes().to_vec()),
                headers: vec![
                    Header {
                        key: "headerKey".into(),
                        value: b"headerValue".to_vec(),
                    },
                    Header {
                        key: "bin".into(),
                        value: vec![0x00, 0x7f, 0x80, 0xc3, 0xbc, 0xff],
                    },
                    Header {
                        key: "null".into(),
                        value: Vec::new(),
                    },
                ],
            },
        ),
        // Null key.
        (
            0,
            MirrorRecord {
                offset: 42,
                timestamp: 1_595_035_749_701,
                timestamp_type: TimestampType::LogAppendTime,
                key: None,
                value: Some(b"v".to_vec()),
                headers: vec![],
            },
        ),
        // Tombstone on another partition.
        (
            3,
            MirrorRecord {
                offset: 7,
                timestamp: 1_595_035_749_702,
                timestamp_type: TimestampType::CreateTime,
                key: Some(b"gone".to_vec()),
                value: None,
                headers: vec![],
            },
        ),
    ]
}

fn payload(source: &EventSource) -> Vec<u8> {
    let mut builder = BatchBuilder::new(
        source,
        BOOTSTRAP,
        "orders",
        BatchLimits {
            max_records: 100,
            max_payload_bytes: 6 * 1024 * 1024,
        },
    )
    .unwrap();
    for (p, r) in records() {
        assert!(builder.try_push("orders", p, r).unwrap().is_none());
    }
    builder.finish().payload.to_vec()
}

fn object(v: &Value) -> &Map<String, Value> {
    v.as_object().expect("JSON object")
}

#[test]
fn msk_payload_matches_the_fixture_field_by_field() {
    let bytes = payload(&EventSource::Msk {
        cluster_arn: ARN.into(),
    });
    let ours: Value = serde_json::from_slice(&bytes).unwrap();
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let ours_ordered = Ordered::parse(&bytes);
    let fixture_ordered = Ordered::parse(FIXTURE.as_bytes());

    // Envelope: same keys in the same order.
    assert_eq!(ours_ordered.keys(), fixture_ordered.keys());
    assert_eq!(
        ours_ordered.keys(),
        vec![
            "eventSource",
            "eventSourceArn",
            "bootstrapServers",
            "records"
        ]
    );
    assert_eq!(ours["eventSource"], fixture["eventSource"]);
    assert_eq!(ours["eventSource"], "aws:kafka");
    assert_eq!(ours["eventSourceArn"], ARN);
    assert_eq!(ours["bootstrapServers"], BOOTSTRAP);

    // Records keyed "<topic>-<partition>".
    let recs = object(&ours["records"]);
    assert_eq!(
        ours_ordered.get("records").keys(),
        vec!["orders-0", "orders-3"]
    );

    // Records: same field order and JSON types as the fixture's record.
    let fixture_record_ordered = fixture_ordered
        .get("records")
        .get("AWSKafkaTopic-0")
        .first();
    for (key, index) in [("orders-0", 0), ("orders-0", 1), ("orders-3", 0)] {
        let Ordered::Array(list) = ours_ordered.get("records").get(key) else {
            panic!("records.{key} is not an array");
        };
        let record = &list[index];
        assert_eq!(
            record.keys(),
            vec![
                "topic",
                "partition",
                "offset",
                "timestamp",
                "timestampType",
                "key",
                "value",
                "headers"
            ]
        );
        assert_eq!(record.keys(), fixture_record_ordered.keys());
    }
    // The fully populated record has the fixture's shape, types included.
    ours_ordered
        .get("records")
        .get("orders-0")
        .first()
        .assert_same_shape(fixture_record_ordered, "record");
    let fixture_record = &fixture["records"]["AWSKafkaTopic-0"][0];
    let first = &recs["orders-0"][0];
    assert_eq!(first["topic"], "orders");
    assert_eq!(first["partition"], 0);
    assert_eq!(first["offset"], 41);
    assert_eq!(first["timestamp"], 1_595_035_749_700_i64);
    assert_eq!(first["timestampType"], "CREATE_TIME");
    assert_eq!(first["key"], BASE64.encode("order-1"));
    assert_eq!(first["value"], BASE64.encode("grüße".as_bytes()));
    // Headers: a list of single-key maps of signed bytes; same encoding as the fixture.
    assert_eq!(first["headers"][0], fixture_record["headers"][0]);
    assert_eq!(
        first["headers"][1],
        serde_json::json!({"bin": [0, 127, -128, -61, -68, -1]})
    );
    assert_eq!(first["headers"][2], serde_json::json!({"null": []}));

    // Null key.
    let second = &recs["orders-0"][1];
    assert!(second["key"].is_null());
    assert_eq!(second["timestampType"], "LOG_APPEND_TIME");
    assert_eq!(second["headers"], serde_json::json!([]));

    // Tombstone.
    let tomb = &recs["orders-3"][0];
    assert!(tomb["value"].is_null());
    assert_eq!(tomb["key"], BASE64.encode("gone"));
    assert_eq!(tomb["partition"], 3);
}

#[test]
fn payload_deserializes_into_kafka_event_and_round_trips() {
    for source in [
        EventSource::Msk {
            cluster_arn: ARN.into(),
        },
        EventSource::SelfManaged,
    ] {
        let bytes = payload(&source);
        let event: KafkaEvent = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(event.event_source.as_deref(), Some(source.event_source()));
        assert_eq!(event.event_source_arn.as_deref(), source.event_source_arn());
        assert_eq!(event.bootstrap_servers.as_deref(), Some(BOOTSTRAP));
        let p0 = &event.records["orders-0"];
        assert_eq!(p0.len(), 2);
        assert_eq!(p0[0].offset, 41);
        assert_eq!(p0[0].partition, 0);
        assert_eq!(p0[0].topic.as_deref(), Some("orders"));
        assert_eq!(p0[0].headers[1]["bin"], vec![0, 127, -128, -61, -68, -1]);
        assert_eq!(
            BASE64.decode(p0[0].value.as_deref().unwrap()).unwrap(),
            "grüße".as_bytes()
        );
        assert_eq!(p0[1].key, None);
        assert_eq!(event.records["orders-3"][0].value, None);

        // Timestamps: exact in our JSON; aws_lambda_events may truncate by 1 ms (see top).
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            raw["records"]["orders-3"][0]["timestamp"],
            1_595_035_749_702_i64
        );
        let parsed_ms = event.records["orders-3"][0].timestamp.timestamp_millis();
        assert!((1_595_035_749_701..=1_595_035_749_702).contains(&parsed_ms));

        // Round trip through the AWS type (timestamps aside, which it re-encodes lossily).
        let mut again: KafkaEvent =
            serde_json::from_slice(&serde_json::to_vec(&event).unwrap()).unwrap();
        for (key, records) in &mut again.records {
            for (i, r) in records.iter_mut().enumerate() {
                let before = event.records[key][i].timestamp.timestamp_millis();
                assert!((r.timestamp.timestamp_millis() - before).abs() <= 1);
                r.timestamp = event.records[key][i].timestamp.clone();
            }
        }
        assert_eq!(again, event);

        // Signed header bytes decode back to the original bytes.
        let original: Vec<u8> = p0[0].headers[1]["bin"]
            .iter()
            .map(|b| b.to_ne_bytes()[0])
            .collect();
        assert_eq!(original, vec![0x00, 0x7f, 0x80, 0xc3, 0xbc, 0xff]);
    }
}

#[test]
fn fixture_itself_parses_with_the_same_types() {
    let fixture: KafkaEvent = serde_json::from_str(FIXTURE).unwrap();
    assert_eq!(fixture.event_source.as_deref(), Some("aws:kafka"));
}

#[test]
fn self_managed_has_no_arn() {
    let bytes = payload(&EventSource::SelfManaged);
    let ours: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(ours["eventSource"], "SelfManagedKafka");
    assert!(ours.get("eventSourceArn").is_none());
    assert_eq!(
        Ordered::parse(&bytes).keys(),
        vec!["eventSource", "bootstrapServers", "records"]
    );
}
