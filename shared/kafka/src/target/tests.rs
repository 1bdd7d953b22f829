use super::metadata::is_authorization_failure;
use super::produce::{base_record, NO_TIMESTAMP};
use super::*;
use crate::config::Security;
use ferry_core::record::Header as RecordHeader;
use ferry_core::record::{MirrorRecord, TimestampType};
use ferry_core::topics::TopicPartition;
use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;
use std::sync::atomic::Ordering;

#[test]
fn msk_iam_builds_with_the_token_context_and_an_admin_client_serving_tokens() {
    // The same static credentials as `crate::auth`'s tests (the admin's token thread signs).
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDFERRYTEST");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "ferry-secret-access-key-test");
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    let conn = KafkaConnection {
        security: Security::MskIam {
            region: "eu-west-1".into(),
        },
        ..KafkaConnection::plaintext("b-1.example:9098")
    };
    let cluster = TargetCluster::new(&conn, ProducerTuning::default()).unwrap();
    assert_eq!(cluster.meta.context().msk_iam_region(), Some("eu-west-1"));
    assert_eq!(
        cluster.admin().inner().context().msk_iam_region(),
        Some("eu-west-1")
    );
    assert!(cluster.admin().serves_oauth_tokens());
    let plain = TargetCluster::new(
        &KafkaConnection::plaintext("b:9092"),
        TargetOptions::default(),
    )
    .unwrap();
    assert!(!plain.admin().serves_oauth_tokens());
}

#[test]
fn authorization_failures_are_told_apart() {
    assert!(is_authorization_failure(
        RDKafkaErrorCode::TopicAuthorizationFailed
    ));
    assert!(is_authorization_failure(
        RDKafkaErrorCode::ClusterAuthorizationFailed
    ));
    assert!(!is_authorization_failure(
        RDKafkaErrorCode::UnknownTopicOrPartition
    ));
    assert!(!is_authorization_failure(RDKafkaErrorCode::RequestTimedOut));
    let cluster = TargetCluster::new(
        &KafkaConnection::plaintext("127.0.0.1:1"),
        TargetOptions::default(),
    )
    .unwrap();
    let limit = ProducerTuning::default().message_max_bytes as usize;
    assert_eq!(
        cluster.configs_denied("t", RDKafkaErrorCode::TopicAuthorizationFailed),
        limit
    );
    assert_eq!(
        cluster.configs_denied("u", RDKafkaErrorCode::TopicAuthorizationFailed),
        limit
    );
    assert!(cluster.describe_configs_denied.load(Ordering::Relaxed));
}

#[test]
fn builds_without_connecting_and_debug_hides_clients() {
    let cluster = TargetCluster::new(
        &KafkaConnection::plaintext("127.0.0.1:1"),
        TargetOptions::default(),
    )
    .unwrap();
    let dbg = format!("{cluster:?}");
    assert!(dbg.contains("TargetCluster"), "{dbg}");
    assert_eq!(cluster.options().topic_info_ttl, Duration::from_secs(60));
}

#[test]
fn base_record_maps_nulls_headers_timestamps_and_the_opaque() {
    let tp = TopicPartition::new("t", 4);
    let mut r = MirrorRecord {
        offset: 9,
        timestamp: 1234,
        timestamp_type: TimestampType::LogAppendTime,
        key: None,
        value: Some(Vec::new()),
        headers: vec![
            RecordHeader {
                key: "a".into(),
                value: b"1".to_vec(),
            },
            RecordHeader {
                key: "a".into(),
                value: Vec::new(),
            },
        ],
    };
    let fr = base_record(&tp, &r, 7);
    assert_eq!(
        (fr.topic, fr.partition, fr.delivery_opaque),
        ("t", Some(4), 7)
    );
    assert!(fr.key.is_none());
    assert_eq!(fr.payload, Some(&[][..]));
    assert_eq!(fr.timestamp, Some(1234));
    let headers = fr.headers.as_ref().unwrap();
    use rdkafka::message::Headers;
    let got: Vec<(String, Option<Vec<u8>>)> = headers
        .iter()
        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".to_owned(), Some(b"1".to_vec())),
            ("a".to_owned(), Some(Vec::new()))
        ]
    );

    r.timestamp_type = TimestampType::NoTimestamp;
    r.headers.clear();
    r.value = None;
    let fr = base_record(&tp, &r, 7);
    assert_eq!(fr.timestamp, Some(NO_TIMESTAMP));
    assert!(fr.payload.is_none());
    assert!(fr.headers.is_none());
}
