//! Ferry's Kafka clients against the local target cluster's SASL/OAUTHBEARER listener
//! (`127.0.0.1:29094`, `FERRY_TEST_TARGET_OAUTH_BOOTSTRAP`, started by `scripts/stack`; Kafka's
//! unsecured-JWT validator) with the `oauthbearer-unsecured-jwt` security mode: the MSK IAM
//! token path (`FerryContext::generate_oauth_token`, replaced at 80 % of its lifetime) without
//! AWS. Admin requests (create topics, describe and alter configs, create partitions) go
//! through `FerryAdmin`, which serves its own tokens (rdkafka's admin client does not,
//! fede1024/rust-rdkafka#757); consumer groups, the producer and the reader through their usual
//! token path. Skipped (with a visible message) when the listener is not reachable.

use ferry_core::ports::{
    GroupState, SourceGroups, SourceTopicDescriber, TargetGroups, TargetMetadata, TargetOffsets,
    TargetProducer, TargetTopicAdmin,
};
use ferry_core::{MirrorRecord, TimestampType, TopicPartition};
use ferry_kafka::{
    create_topic, delete_topic, list_topics, partition_count, read_partition, FerryContext,
    Isolation, KafkaConnection, KafkaGroups, KafkaTopicAdmin, Security, TargetCluster,
    TargetOptions,
};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The target broker's OAUTHBEARER listener unless `FERRY_TEST_TARGET_OAUTH_BOOTSTRAP` says
/// otherwise (`scripts/stack env`).
const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:29094";

fn bootstrap() -> String {
    std::env::var("FERRY_TEST_TARGET_OAUTH_BOOTSTRAP")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_BOOTSTRAP.to_owned())
}

/// An `oauthbearer-unsecured-jwt` connection read the way the functions read theirs
/// (`<PREFIX>_*` settings), with tokens valid for `lifetime_secs`.
fn conn(test: &str, lifetime_secs: u64) -> Option<KafkaConnection> {
    let bootstrap = bootstrap();
    let addr: SocketAddr = bootstrap.parse().expect("valid address");
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        skip_or_fail(&format!(
            "{test}: Kafka OAUTHBEARER listener {bootstrap} not reachable ({e}); run `scripts/stack up`"
        ));
        return None;
    }
    let settings: HashMap<&str, String> = HashMap::from([
        ("FERRY_IT_BOOTSTRAP", bootstrap),
        ("FERRY_IT_SECURITY", "oauthbearer-unsecured-jwt".to_owned()),
        ("FERRY_IT_OAUTH_PRINCIPAL", format!("ferry-it-{test}")),
        (
            "FERRY_IT_OAUTH_TOKEN_LIFETIME_SECS",
            lifetime_secs.to_string(),
        ),
    ]);
    let conn = KafkaConnection::from_lookup("FERRY_IT", |k| settings.get(k).cloned())
        .expect("valid settings");
    assert!(matches!(
        conn.security,
        Security::OauthbearerUnsecuredJwt { .. }
    ));
    Some(conn)
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

fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after epoch")
        .as_nanos();
    format!("oauth-it-{label}-{}-{nanos}", std::process::id())
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

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn config_value(description: &ferry_core::topics::TopicDescription, name: &str) -> Option<String> {
    description.configs.get(name).and_then(|c| c.value.clone())
}

/// Every admin request Ferry makes, group offsets, producing and reading back, all over
/// OAUTHBEARER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_groups_produce_and_read_over_oauthbearer() {
    let Some(conn) = conn("all", 900) else {
        return;
    };
    let started = Instant::now();
    let admin = KafkaTopicAdmin::new(conn.clone(), "target");
    let topic = unique("t");

    // CreateTopics with configs, DescribeConfigs, AlterConfigs, CreatePartitions.
    TargetTopicAdmin::create_topic(
        &admin,
        &topic,
        1,
        1,
        &configs(&[("max.message.bytes", "200000")]),
    )
    .await
    .expect("create topic over OAUTHBEARER");
    assert_eq!(TargetTopicAdmin::broker_count(&admin).await.unwrap(), 1);
    admin
        .set_configs(&topic, &configs(&[("retention.ms", "3600000")]))
        .await
        .expect("alter configs over OAUTHBEARER");
    admin
        .create_partitions(&topic, 3)
        .await
        .expect("create partitions over OAUTHBEARER");
    let described = SourceTopicDescriber::describe_topics(&admin, std::slice::from_ref(&topic))
        .await
        .expect("describe configs over OAUTHBEARER");
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].partitions, 3);
    assert_eq!(
        config_value(&described[0], "max.message.bytes").as_deref(),
        Some("200000")
    );
    assert_eq!(
        config_value(&described[0], "retention.ms").as_deref(),
        Some("3600000")
    );

    // The plain admin functions (tests, demo, preflight).
    let other = unique("free");
    create_topic(&conn, &other, 2, &[("cleanup.policy", "compact")])
        .await
        .expect("create_topic over OAUTHBEARER");
    assert_eq!(partition_count(&conn, &other).await.unwrap(), Some(2));
    assert!(list_topics(&conn).await.unwrap().contains(&other));

    // Produce with the target producer, then read back with the reader.
    let cluster = TargetCluster::new(&conn, TargetOptions::default()).unwrap();
    let tp = TopicPartition::new(&topic, 2);
    let records: Vec<MirrorRecord> = (0..3).map(|o| record(o, &format!("v{o}"))).collect();
    let offsets = cluster.produce(&tp, &records).await.expect("produce");
    assert_eq!(offsets, vec![0, 1, 2]);
    assert_eq!(cluster.end_offset(&tp).await.unwrap(), 3);
    let info = cluster
        .topic_info(&topic)
        .await
        .unwrap()
        .expect("topic info");
    assert_eq!(info.partitions, 3);
    assert_eq!(info.max_message_bytes, 200_000);
    assert!(cluster.admin().serves_oauth_tokens());
    assert!(cluster.admin().tokens_set() >= 1);
    assert_eq!(cluster.admin().token_failures(), 0);
    let read = read_partition(&conn, &tp, 0, Some(3), Isolation::ReadCommitted)
        .await
        .expect("read back");
    let values: Vec<&[u8]> = read.iter().filter_map(|r| r.value.as_deref()).collect();
    assert_eq!(values, vec![&b"v0"[..], b"v1", b"v2"]);
    assert_eq!(read[1].key.as_deref(), Some(&b"k1"[..]));

    // Group offsets: commit while empty, read back, state, listing.
    let groups = KafkaGroups::target(conn.clone());
    let group = unique("g");
    assert_eq!(
        groups.group_state(&group).await.unwrap(),
        GroupState::NotFound
    );
    groups
        .commit_offsets(
            &group,
            &[(tp.clone(), 3), (TopicPartition::new(&topic, 0), 0)],
        )
        .await
        .expect("commit group offsets over OAUTHBEARER");
    let committed = groups
        .committed(&group, std::slice::from_ref(&topic))
        .await
        .expect("group offsets over OAUTHBEARER");
    assert_eq!(committed.get(&tp), Some(&3));
    assert_eq!(committed.get(&TopicPartition::new(&topic, 0)), Some(&0));
    assert_eq!(groups.group_state(&group).await.unwrap(), GroupState::Empty);
    assert!(SourceGroups::list_groups(&groups)
        .await
        .unwrap()
        .contains(&group));

    delete_topic(&conn, &other).await.expect("delete topic");
    delete_topic(&conn, &topic).await.expect("delete topic");
    let _ = writeln!(
        std::io::stderr(),
        "oauthbearer: every admin, group, produce and read call succeeded in {:?}",
        started.elapsed()
    );
}

/// A long-lived admin client (the target cluster's, as in a warm Lambda container) keeps
/// working after its first token expired: the broker ends sessions whose token expired
/// (KIP-368, `connections.max.reauth.ms` on the listener), so only a refreshed token gets the
/// later requests through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_still_succeed_after_the_first_token_expired() {
    const LIFETIME_SECS: u64 = 10;
    let Some(conn) = conn("refresh", LIFETIME_SECS) else {
        return;
    };
    let started = Instant::now();
    let topic = unique("refresh");
    create_topic(&conn, &topic, 1, &[("max.message.bytes", "300000")])
        .await
        .unwrap();
    let cluster = TargetCluster::new(
        &conn,
        TargetOptions {
            // Every topic_info call is a DescribeConfigs request.
            topic_info_ttl: Duration::ZERO,
            ..TargetOptions::default()
        },
    )
    .unwrap();
    let tp = TopicPartition::new(&topic, 0);
    let info = cluster.topic_info(&topic).await.unwrap().expect("topic");
    assert_eq!(info.max_message_bytes, 300_000);
    cluster.produce(&tp, &[record(0, "before")]).await.unwrap();
    let first_tokens = cluster.admin().tokens_set();
    assert_eq!(first_tokens, 1, "one token so far");

    // Past the first token's expiry (10 to 11 s after it was issued; replaced after 8 to 9 s).
    tokio::time::sleep(Duration::from_secs(LIFETIME_SECS + 3)).await;

    let info = cluster
        .topic_info(&topic)
        .await
        .expect("DescribeConfigs after the first token expired")
        .expect("topic");
    assert_eq!(info.max_message_bytes, 300_000);
    let offsets = cluster
        .produce(&tp, &[record(1, "after")])
        .await
        .expect("produce after the first token expired");
    assert_eq!(offsets, vec![1]);
    assert_eq!(cluster.end_offset(&tp).await.unwrap(), 2);
    let refreshed = cluster.admin().tokens_set();
    assert!(
        refreshed >= 2,
        "the admin token was refreshed ({refreshed} tokens set)"
    );
    assert_eq!(cluster.admin().token_failures(), 0);
    delete_topic(&conn, &topic).await.unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "oauthbearer refresh: {refreshed} admin tokens of {LIFETIME_SECS} s set, requests after expiry succeeded; {:?} in all",
        started.elapsed()
    );
}

/// The reason `FerryAdmin` exists: rdkafka's own `AdminClient`, with the very same context,
/// never gets a token, so its requests time out (fede1024/rust-rdkafka#757). Should this start
/// failing, rdkafka serves admin tokens itself now and `FerryAdmin`'s token thread can go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_admin_client_alone_never_authenticates() {
    let Some(conn) = conn("rdkafka", 900) else {
        return;
    };
    let admin: AdminClient<FerryContext> = conn
        .client_config()
        .unwrap()
        .create_with_context(conn.context())
        .unwrap();
    let timeout = Duration::from_secs(3);
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let started = Instant::now();
    let result = admin
        .describe_configs(&[ResourceSpecifier::Broker(1)], &options)
        .await;
    let answered = matches!(&result, Ok(resources) if resources.iter().all(Result::is_ok));
    assert!(
        !answered,
        "rdkafka's AdminClient authenticated on its own: {result:?}"
    );
    assert!(started.elapsed() >= timeout - Duration::from_millis(200));
}
