//! Real SCRAM and mutual-TLS handshakes against the local source broker's `SCRAM`
//! (`127.0.0.1:19094`, SASL_SSL + SCRAM-SHA-512) and `MTLS` (`127.0.0.1:19095`, SSL with
//! required client certificates) listeners, started by `scripts/stack` with a CA and
//! certificates it generates (`.ferry/stack/tls`). The connections are read from `<PREFIX>_*`
//! settings naming Secrets Manager secrets (moto) in the formats the Kafka event source mapping
//! reads, resolved with `ferry_kafka::secrets::resolve_connections` and
//! `ferry_aws::SecretsManagerSource`, exactly as the functions do at cold start; then admin,
//! producer, consumer and consumer-group requests run over them.
//!
//! Negative cases go through the cold-start handshake check (`ferry_kafka::handshake`): a wrong
//! password, a client certificate signed by another CA and a CA that did not sign the broker's
//! certificate each fail with a typed error naming the setting, never the secret.
//!
//! Skipped (with a visible message) when a listener or moto is not reachable; under `CI=true`
//! they fail instead.

use ferry_aws::SecretsManagerSource;
use ferry_core::ports::{GroupState, SourceGroups, TargetGroups, TargetOffsets, TargetProducer};
use ferry_core::{MirrorRecord, TimestampType, TopicPartition};
use ferry_kafka::handshake::DEFAULT_TIMEOUT;
use ferry_kafka::{
    check_handshake, create_topic, delete_topic, list_topics, partition_count, read_partition,
    resolve_connections, AuthSettings, HandshakeError, Isolation, KafkaConnection, KafkaGroups,
    Security, TargetCluster, TargetOptions,
};
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn scram_bootstrap() -> String {
    env_or("FERRY_TEST_SOURCE_SCRAM_BOOTSTRAP", "127.0.0.1:19094")
}
fn mtls_bootstrap() -> String {
    env_or("FERRY_TEST_SOURCE_MTLS_BOOTSTRAP", "127.0.0.1:19095")
}
fn scram_user() -> String {
    env_or("FERRY_TEST_SOURCE_SCRAM_USERNAME", "ferry")
}
fn scram_password() -> String {
    env_or(
        "FERRY_TEST_SOURCE_SCRAM_PASSWORD",
        "ferry-local-scram-password",
    )
}
/// moto (`AWS_ENDPOINT_URL`, as `scripts/stack env` sets it).
fn moto() -> String {
    env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
}
/// Password of the stack's encrypted client key (`client.encrypted.key`).
const KEY_PASSWORD: &str = "ferry-local-store-password";
const WRONG_PASSWORD: &str = "wrong-Ferry-Password-9c1d7e";

fn tls_dir() -> PathBuf {
    std::env::var("FERRY_TEST_TLS_DIR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ferry/stack/tls"),
            PathBuf::from,
        )
}

fn pem(name: &str) -> String {
    let path = tls_dir().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `scripts/stack up`)", path.display()))
}

/// Skipping is for a developer's machine without the stack; under `CI=true` a missing stack
/// fails the test instead of passing it silently.
fn skip_or_fail(message: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (CI=true: integration tests must not skip)"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
}

/// Whether the listener, moto and the TLS files are there (skips or fails otherwise).
fn stack_ready(test: &str, bootstrap: &str) -> bool {
    let moto = moto();
    let moto_addr = moto.trim_start_matches("http://").trim_end_matches('/');
    for (what, addr) in [("Kafka listener", bootstrap), ("moto", moto_addr)] {
        let addr: SocketAddr = addr.parse().expect("valid address");
        if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            skip_or_fail(&format!(
                "{test}: {what} {addr} not reachable ({e}); run `scripts/stack up`"
            ));
            return false;
        }
    }
    if !tls_dir().join("ca.pem").exists() {
        skip_or_fail(&format!(
            "{test}: no TLS material in {}; run `scripts/stack up`",
            tls_dir().display()
        ));
        return false;
    }
    true
}

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// Creates a secret in moto (named like an MSK SCRAM secret) and returns its ARN.
async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    value: serde_json::Value,
) -> String {
    client
        .create_secret()
        .name(unique("AmazonMSK_ferry-handshake"))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create secret in moto")
        .arn
        .expect("secret arn")
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after epoch")
        .as_nanos();
    format!("handshake-it-{label}-{}-{nanos}", std::process::id())
}

/// A connection read from `FERRY_IT_*` settings, its secrets resolved from moto; also returns
/// the [`AuthSettings`] taken before resolving (what the cold start names in errors).
async fn connection(settings: &[(&str, String)]) -> (KafkaConnection, Option<AuthSettings>) {
    let map: HashMap<&str, String> = settings.iter().cloned().collect();
    let mut conn =
        KafkaConnection::from_lookup("FERRY_IT", |k| map.get(k).cloned()).expect("valid settings");
    let auth = AuthSettings::of(&conn);
    assert!(!conn.secrets.is_empty(), "the settings name secrets");
    resolve_connections(&mut [&mut conn], || async {
        SecretsManagerSource::new(secrets_client().await)
    })
    .await
    .expect("secrets resolved from moto");
    assert!(conn.secrets.is_empty());
    (conn, auth)
}

async fn scram_connection(password: &str) -> (KafkaConnection, Option<AuthSettings>) {
    let client = secrets_client().await;
    let credentials = create_secret(
        &client,
        serde_json::json!({"username": scram_user(), "password": password}),
    )
    .await;
    let ca = create_secret(&client, serde_json::json!({"certificate": pem("ca.pem")})).await;
    connection(&[
        ("FERRY_IT_BOOTSTRAP", scram_bootstrap()),
        ("FERRY_IT_SECURITY", "scram-sha-512".to_owned()),
        ("FERRY_IT_SECRET_ARN", credentials),
        ("FERRY_IT_CA_SECRET_ARN", ca),
    ])
    .await
}

/// A mutual-TLS connection: client certificate `cert` with key `key` (and its password), CA
/// `ca`, all from Secrets Manager.
async fn mtls_connection(
    cert: &str,
    key: &str,
    key_password: Option<&str>,
    ca: &str,
) -> (KafkaConnection, Option<AuthSettings>) {
    let client = secrets_client().await;
    let mut value = serde_json::json!({"certificate": pem(cert), "privateKey": pem(key)});
    if let Some(p) = key_password {
        value["privateKeyPassword"] = p.into();
    }
    let credentials = create_secret(&client, value).await;
    let ca = create_secret(&client, serde_json::json!({"certificate": pem(ca)})).await;
    connection(&[
        ("FERRY_IT_BOOTSTRAP", mtls_bootstrap()),
        ("FERRY_IT_SECURITY", "tls".to_owned()),
        ("FERRY_IT_SECRET_ARN", credentials),
        ("FERRY_IT_CA_SECRET_ARN", ca),
    ])
    .await
}

fn record(offset: i64, value: &str) -> MirrorRecord {
    MirrorRecord {
        offset,
        timestamp: 1_700_000_000_000 + offset,
        timestamp_type: TimestampType::CreateTime,
        key: Some(format!("k{offset}").into_bytes()),
        value: Some(value.as_bytes().to_vec()),
        headers: Vec::new(),
    }
}

/// Admin (create, describe, list, delete topics), the transactional producer, a consumer
/// reading back and consumer-group offsets, all over `conn`.
async fn round_trip(label: &str, conn: &KafkaConnection) {
    let started = Instant::now();
    let topic = unique(label);
    create_topic(conn, &topic, 2, &[("retention.ms", "3600000")])
        .await
        .expect("create topic");
    assert_eq!(partition_count(conn, &topic).await.unwrap(), Some(2));
    assert!(list_topics(conn).await.unwrap().contains(&topic));

    let cluster = TargetCluster::new(conn, TargetOptions::default()).expect("producer");
    let tp = TopicPartition::new(&topic, 1);
    let records: Vec<MirrorRecord> = (0..3).map(|o| record(o, &format!("v{o}"))).collect();
    assert_eq!(
        cluster.produce(&tp, &records).await.expect("produce"),
        vec![0, 1, 2]
    );
    assert_eq!(cluster.end_offset(&tp).await.unwrap(), 3);
    let read = read_partition(conn, &tp, 0, Some(3), Isolation::ReadCommitted)
        .await
        .expect("read back");
    let values: Vec<&[u8]> = read.iter().filter_map(|r| r.value.as_deref()).collect();
    assert_eq!(values, vec![&b"v0"[..], b"v1", b"v2"]);

    let groups = KafkaGroups::source(conn.clone());
    let group = unique(&format!("{label}-g"));
    groups
        .commit_offsets(&group, &[(tp.clone(), 2)])
        .await
        .expect("commit group offsets");
    let committed = SourceGroups::committed_offsets(&groups, &group, std::slice::from_ref(&topic))
        .await
        .expect("group offsets");
    assert_eq!(committed.get(&tp), Some(&2));
    assert_eq!(groups.group_state(&group).await.unwrap(), GroupState::Empty);
    assert!(SourceGroups::list_groups(&groups)
        .await
        .unwrap()
        .contains(&group));
    delete_topic(conn, &topic).await.expect("delete topic");
    let _ = writeln!(
        std::io::stderr(),
        "{label}: admin, produce, read and group calls over {} ({}) in {:?}",
        conn.bootstrap_servers,
        conn.security.name(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_sha_512_round_trip_with_credentials_from_secrets_manager() {
    if !stack_ready("scram", &scram_bootstrap()) {
        return;
    }
    let (conn, auth) = scram_connection(&scram_password()).await;
    assert!(matches!(conn.security, Security::SaslScram { .. }));
    check_handshake(&conn, auth.as_ref(), DEFAULT_TIMEOUT)
        .await
        .expect("the cold-start check passes with the right password");
    round_trip("scram", &conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_round_trip_with_certificates_from_secrets_manager() {
    if !stack_ready("mtls", &mtls_bootstrap()) {
        return;
    }
    // The plain PKCS8 key, then the same key encrypted with "privateKeyPassword".
    for (key, password) in [
        ("client.key", None),
        ("client.encrypted.key", Some(KEY_PASSWORD)),
    ] {
        let (conn, auth) = mtls_connection("client.pem", key, password, "ca.pem").await;
        assert!(matches!(conn.security, Security::Tls { .. }));
        check_handshake(&conn, auth.as_ref(), DEFAULT_TIMEOUT)
            .await
            .expect("the cold-start check passes with a trusted certificate");
        round_trip(&format!("mtls-{key}"), &conn).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_scram_password_fails_the_check_naming_the_secret_setting() {
    if !stack_ready("scram-wrong", &scram_bootstrap()) {
        return;
    }
    let (conn, auth) = scram_connection(WRONG_PASSWORD).await;
    let started = Instant::now();
    let err = check_handshake(&conn, auth.as_ref(), DEFAULT_TIMEOUT)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, HandshakeError::Authentication { setting, .. } if setting == "FERRY_IT_SECRET_ARN"),
        "{err:?}"
    );
    assert!(message.starts_with("FERRY_IT_SECRET_ARN: "), "{message}");
    assert!(!message.contains(WRONG_PASSWORD), "{message}");
    assert!(!format!("{err:?}").contains(WRONG_PASSWORD), "{err:?}");
    assert!(
        started.elapsed() < DEFAULT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    let _ = writeln!(
        std::io::stderr(),
        "wrong password refused in {:?}: {message}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_client_certificate_fails_the_check_naming_the_secret_setting() {
    if !stack_ready("mtls-untrusted", &mtls_bootstrap()) {
        return;
    }
    let (conn, auth) = mtls_connection(
        "untrusted-client.pem",
        "untrusted-client.key",
        None,
        "ca.pem",
    )
    .await;
    let started = Instant::now();
    let err = check_handshake(&conn, auth.as_ref(), DEFAULT_TIMEOUT)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, HandshakeError::Tls { setting, .. } if setting == "FERRY_IT_SECRET_ARN"),
        "{err:?}"
    );
    assert!(message.starts_with("FERRY_IT_SECRET_ARN: "), "{message}");
    assert!(!message.contains("PRIVATE KEY"), "{message}");
    let _ = writeln!(
        std::io::stderr(),
        "untrusted client certificate refused in {:?}: {message}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_that_did_not_sign_the_broker_fails_the_check_naming_the_ca_setting() {
    if !stack_ready("ca-wrong", &scram_bootstrap()) {
        return;
    }
    let client = secrets_client().await;
    let credentials = create_secret(
        &client,
        serde_json::json!({"username": scram_user(), "password": scram_password()}),
    )
    .await;
    let ca = create_secret(
        &client,
        serde_json::json!({"certificate": pem("untrusted-ca.pem")}),
    )
    .await;
    let (conn, auth) = connection(&[
        ("FERRY_IT_BOOTSTRAP", scram_bootstrap()),
        ("FERRY_IT_SECURITY", "scram-sha-512".to_owned()),
        ("FERRY_IT_SECRET_ARN", credentials),
        ("FERRY_IT_CA_SECRET_ARN", ca),
    ])
    .await;
    let err = check_handshake(&conn, auth.as_ref(), DEFAULT_TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HandshakeError::Tls { setting, .. } if setting == "FERRY_IT_CA_SECRET_ARN"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&scram_password()), "{err}");
    let _ = writeln!(std::io::stderr(), "untrusted broker: {err}");
}
