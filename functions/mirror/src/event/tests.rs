//! Unit and property tests of the ESM payload decoder.

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
    let ev = |records: &str| format!(r#"{{"eventSource":"x","records":{{"t-1-2":{records}}}}}"#);
    let ok = r#"{"topic":"t-1","partition":2,"offset":6,"timestamp":5,"headers":[]}"#;
    for (records, want) in [
        (
            format!(
                r#"[{ok},{{"topic":"t-1","partition":2,"offset":7,"timestamp":5,"headers":[{{"h":[1,200]}}]}}]"#
            ),
            vec![
                "record t-1-2@7 (#1 of its partition): field headers:",
                "200",
                "i8",
            ],
        ),
        (
            r#"[{"topic":"t-1","partition":2,"offset":"7","timestamp":5}]"#.to_owned(),
            vec!["record #0 of t-1-2: field offset:", "invalid type: string"],
        ),
        (
            r#"[{"topic":"t-1","partition":2,"offset":7}]"#.to_owned(),
            vec![
                "record t-1-2@7 (#0 of its partition): field timestamp:",
                "missing field `timestamp`",
            ],
        ),
        (
            r#"[{"topic":"t-1","partition":2,"offset":7,"timestamp":5,"value":"dmFs","key":[1]}]"#
                .to_owned(),
            vec![
                "record t-1-2@7 (#0 of its partition): field key:",
                "invalid type",
            ],
        ),
        (
            r#"[5]"#.to_owned(),
            vec!["record #0 of t-1-2:", "expected a Kafka record"],
        ),
        (
            r#"{"a":1}"#.to_owned(),
            vec![
                "records key \"t-1-2\":",
                "expected an array of Kafka records",
            ],
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

const FIXTURE: &str = include_str!("../../tests/fixtures/example-kafka-event.json");

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
