//! `ferry_aws::msk` against the local MSK API (`ferry_local::msk_api`) backed by the in-memory
//! topic admin of `ferry-testkit`: the same aws-sdk-kafka calls as against AWS, no Kafka.

use aws_sdk_kafka::config::retry::RetryConfig;
use aws_sdk_kafka::config::{BehaviorVersion, Credentials, Region};
use ferry_aws::msk::{MskCluster, PollSettings};
use ferry_core::msk::{
    check_serverless, BootstrapBrokers, ClientAuthMode, ClusterKind, MskAuth,
    ProvisionedThroughput, ServerlessLimits, GIB,
};
use ferry_core::ports::{
    ClusterBootstrap, ClusterDescriber, MskError, SourceTopics, TargetStorage, TargetTopicAdmin,
    TopicAdminError,
};
use ferry_core::topics::{Check, ConfigFilter, StorageInfo};
use ferry_local::{LocalCluster, MskApiServer};
use ferry_testkit::InMemoryTopicAdmin;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const PROVISIONED: &str =
    "arn:aws:kafka:us-east-1:123456789012:cluster/target/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1";
const SERVERLESS: &str =
    "arn:aws:kafka:us-east-1:123456789012:cluster/lean/99999999-aaaa-bbbb-cccc-dddddddddddd-s1";
const UNKNOWN: &str =
    "arn:aws:kafka:us-east-1:123456789012:cluster/nope/00000000-0000-0000-0000-000000000000-1";

struct Fixture {
    server: MskApiServer,
    admin: InMemoryTopicAdmin,
    client: aws_sdk_kafka::Client,
}

impl Fixture {
    async fn new() -> Self {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = MskApiServer::bind(addr).await.unwrap();
        let admin = InMemoryTopicAdmin::new("target", 3);
        let bootstrap = BootstrapBrokers::default()
            .with(MskAuth::Iam, "b-1.target:9098,b-2.target:9098")
            .with(MskAuth::Tls, "b-1.target:9094,b-2.target:9094");
        server.register_cluster(LocalCluster::provisioned(
            PROVISIONED,
            3,
            1000,
            bootstrap,
            admin.clone(),
        ));
        server.register_cluster(LocalCluster::serverless(
            SERVERLESS,
            "boot-lean.c1.kafka-serverless.us-east-1.amazonaws.com:9098",
        ));
        let config = aws_sdk_kafka::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(server.endpoint_url())
            .retry_config(RetryConfig::disabled())
            .build();
        Self {
            server,
            admin,
            client: aws_sdk_kafka::Client::from_conf(config),
        }
    }

    fn cluster(&self, arn: &str) -> MskCluster {
        MskCluster::new(self.client.clone(), arn)
    }
}

fn fast() -> PollSettings {
    PollSettings {
        interval: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    }
}

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn bootstrap_brokers_per_auth_mode_and_missing_listener() {
    let f = Fixture::new().await;
    let target = f.cluster(PROVISIONED);
    assert_eq!(
        target.bootstrap_brokers(MskAuth::Iam).await.unwrap(),
        "b-1.target:9098,b-2.target:9098"
    );
    assert_eq!(
        target.bootstrap_brokers(MskAuth::Tls).await.unwrap(),
        "b-1.target:9094,b-2.target:9094"
    );
    let err = target.bootstrap_brokers(MskAuth::Scram).await.unwrap_err();
    assert!(
        matches!(&err, MskError::NoListener { cluster, auth: MskAuth::Scram, field: "BootstrapBrokerStringSaslScram" } if cluster == PROVISIONED),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("scram") && message.contains(PROVISIONED),
        "{message}"
    );

    let lean = f.cluster(SERVERLESS);
    assert!(lean
        .bootstrap_brokers(MskAuth::Iam)
        .await
        .unwrap()
        .ends_with(":9098"));
    assert!(matches!(
        lean.bootstrap_brokers(MskAuth::Plaintext).await,
        Err(MskError::NoListener {
            auth: MskAuth::Plaintext,
            ..
        })
    ));
    assert!(matches!(
        f.cluster(UNKNOWN).bootstrap_brokers(MskAuth::Iam).await,
        Err(MskError::NotFound { cluster, .. }) if cluster == UNKNOWN
    ));
}

#[tokio::test]
async fn describes_provisioned_and_serverless_clusters() {
    let f = Fixture::new().await;
    let facts = f.cluster(PROVISIONED).describe_cluster().await.unwrap();
    assert_eq!(
        &facts,
        f.server.cluster_facts(PROVISIONED).as_ref().unwrap()
    );
    assert_eq!(facts.kind, ClusterKind::Provisioned);
    assert_eq!(facts.name, "target");
    assert_eq!(
        (facts.broker_count, facts.volume_gib),
        (Some(3), Some(1000))
    );
    assert_eq!(facts.kafka_version.as_deref(), Some("3.6.0"));
    assert_eq!(
        facts.client_auth,
        vec![ClientAuthMode::Iam, ClientAuthMode::MutualTls]
    );
    assert!(facts.is_active() && facts.supports_topic_api());

    let lean = f.cluster(SERVERLESS).describe_cluster().await.unwrap();
    assert_eq!(&lean, f.server.cluster_facts(SERVERLESS).as_ref().unwrap());
    assert!(lean.is_serverless());
    assert_eq!(lean.client_auth, vec![ClientAuthMode::Iam]);
    assert_eq!((lean.broker_count, lean.volume_gib), (None, None));

    // Provisioned throughput survives the round trip too.
    let mut tuned = facts.clone();
    tuned.arn = PROVISIONED.replace("target", "tuned");
    tuned.name = "tuned".into();
    tuned.provisioned_throughput = Some(ProvisionedThroughput {
        enabled: true,
        volume_mibps: Some(250),
    });
    f.server.register_cluster(LocalCluster::new(
        tuned.clone(),
        BootstrapBrokers::default(),
        None,
    ));
    assert_eq!(
        f.cluster(&tuned.arn).describe_cluster().await.unwrap(),
        tuned
    );

    assert!(matches!(
        f.cluster(UNKNOWN).describe_cluster().await,
        Err(MskError::NotFound { .. })
    ));
}

#[tokio::test]
async fn topics_create_describe_grow_and_set_configs() {
    let f = Fixture::new().await;
    let topics = f
        .cluster(PROVISIONED)
        .topic_admin()
        .await
        .unwrap()
        .with_poll(fast());
    assert_eq!(topics.broker_count().await.unwrap(), 3);

    let wanted = configs(&[("cleanup.policy", "delete"), ("retention.ms", "-1")]);
    topics.create_topic("orders", 3, 2, &wanted).await.unwrap();
    let created = f.admin.topic("orders").unwrap();
    assert_eq!((created.partitions, created.replication_factor), (3, 2));
    assert_eq!(created.config("retention.ms"), Some("-1"));

    let described = topics
        .describe_topics(&["orders".to_string(), "missing".to_string()])
        .await
        .unwrap();
    assert_eq!(described.len(), 1, "missing topics are left out");
    let d = &described[0];
    assert_eq!(
        (d.name.as_str(), d.partitions, d.replication_factor),
        ("orders", 3, 2)
    );
    assert_eq!(d.config("cleanup.policy"), Some("delete"));
    assert_eq!(d.config("retention.ms"), Some("-1"));

    // Creating again with the same partition count is fine; with another it is refused.
    topics.create_topic("orders", 3, 2, &wanted).await.unwrap();
    let err = topics
        .create_topic("orders", 4, 2, &wanted)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TopicAdminError::Rejected { reason, .. } if reason.contains("3 partitions")),
        "{err:?}"
    );

    topics.create_partitions("orders", 5).await.unwrap();
    assert_eq!(f.admin.topic("orders").unwrap().partitions, 5);
    topics.create_partitions("orders", 5).await.unwrap();
    let err = topics.create_partitions("orders", 4).await.unwrap_err();
    assert!(matches!(err, TopicAdminError::Rejected { .. }), "{err:?}");
    assert_eq!(
        f.admin.topic("orders").unwrap().partitions,
        5,
        "never lowered"
    );

    topics
        .set_configs("orders", &configs(&[("retention.ms", "86400000")]))
        .await
        .unwrap();
    let after = f.admin.topic("orders").unwrap();
    assert_eq!(after.config("retention.ms"), Some("86400000"));
    assert_eq!(
        after.config("cleanup.policy"),
        Some("delete"),
        "others kept"
    );

    topics
        .create_topic("audit", 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(topics.list_topics().await.unwrap(), vec!["audit", "orders"]);
    assert_eq!(
        f.admin.changes(),
        vec![
            "create orders",
            "partitions orders 5",
            "config orders retention.ms=86400000",
            "create audit"
        ]
    );
}

#[tokio::test]
async fn errors_are_mapped_to_the_ports() {
    let f = Fixture::new().await;
    // Unknown cluster: refused, naming it, whatever the call.
    let ghost = f.cluster(UNKNOWN).topics().with_poll(fast());
    let err = ghost
        .describe_topics(&["orders".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TopicAdminError::Rejected { reason, .. } if reason.contains(UNKNOWN)),
        "{err:?}"
    );
    let err = ghost
        .create_topic("orders", 1, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TopicAdminError::Rejected { reason, .. } if reason.starts_with("NotFound")),
        "{err:?}"
    );
    assert!(matches!(
        f.cluster(UNKNOWN).topic_admin().await,
        Err(MskError::NotFound { .. })
    ));

    // The backend unavailable: unavailable, so the caller retries.
    let topics = f.cluster(PROVISIONED).topics().with_poll(fast());
    f.admin.set_unavailable(true);
    let err = topics
        .describe_topics(&["orders".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TopicAdminError::Unavailable {
                cluster: "target",
                ..
            }
        ),
        "{err:?}"
    );
    let err = topics
        .create_topic("orders", 1, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, TopicAdminError::Unavailable { .. }),
        "{err:?}"
    );
    f.admin.set_unavailable(false);

    // A refusal of the backend: rejected with the service code and the reason.
    let err = topics
        .create_topic("wide", 1, 9, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TopicAdminError::Rejected { what, reason, .. }
            if what == "create topic" && reason.starts_with("BadRequestException") && reason.contains("replication factor")),
        "{err:?}"
    );
    // Partitions of a topic that does not exist.
    let err = topics.create_partitions("nothing", 3).await.unwrap_err();
    assert!(
        matches!(&err, TopicAdminError::Rejected { reason, .. } if reason == "unknown topic"),
        "{err:?}"
    );

    // MSK Serverless has no topic API.
    assert!(matches!(
        f.cluster(SERVERLESS).topic_admin().await,
        Err(MskError::Unsupported { .. })
    ));
    let err = f
        .cluster(SERVERLESS)
        .topics()
        .describe_topics(&["orders".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TopicAdminError::Rejected { reason, .. } if reason.starts_with("BadRequestException")),
        "{err:?}"
    );
    let err = f
        .cluster(SERVERLESS)
        .topics()
        .broker_count()
        .await
        .unwrap_err();
    assert!(matches!(err, TopicAdminError::Rejected { .. }), "{err:?}");
}

#[tokio::test]
async fn storage_capacity_and_growing_it() {
    let f = Fixture::new().await;
    let target = f.cluster(PROVISIONED);
    assert_eq!(
        target.storage().storage().await.unwrap(),
        Some(StorageInfo {
            capacity_bytes: 3 * 1000 * GIB,
            used_bytes: None
        })
    );
    assert_eq!(
        f.cluster(SERVERLESS).storage().storage().await.unwrap(),
        None
    );
    assert!(matches!(
        f.cluster(UNKNOWN).storage().storage().await,
        Err(TopicAdminError::Rejected { .. })
    ));

    let operation = target.grow_storage(2000).await.unwrap();
    let updates = f.server.storage_updates(PROVISIONED);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].volume_gib, 2000);
    assert_eq!(updates[0].broker_ids, vec!["All"]);
    assert_eq!(updates[0].current_version, "K1");
    assert_eq!(updates[0].operation_arn, operation);
    assert_eq!(
        target
            .storage()
            .storage()
            .await
            .unwrap()
            .unwrap()
            .capacity_bytes,
        3 * 2000 * GIB
    );
    // Never shrinks, never beyond MSK's maximum, never on Serverless: refused before MSK.
    for size in [1500, 2000, 20_000] {
        assert!(matches!(
            target.grow_storage(size).await,
            Err(MskError::Unsupported { .. })
        ));
    }
    assert!(matches!(
        f.cluster(SERVERLESS).grow_storage(100).await,
        Err(MskError::Unsupported { .. })
    ));
    assert_eq!(f.server.storage_updates(PROVISIONED).len(), 1);
    // The new version is what the next increase must name.
    target.grow_storage(2500).await.unwrap();
    assert_eq!(
        f.server.storage_updates(PROVISIONED)[1].current_version,
        "K1-S1"
    );
}

#[tokio::test]
async fn serverless_limits_from_described_facts() {
    let f = Fixture::new().await;
    let facts = f.cluster(SERVERLESS).describe_cluster().await.unwrap();
    assert!(facts.is_serverless());
    // Ferry set up for SCRAM against a Serverless target: an error before anything is created.
    let findings = check_serverless(
        MskAuth::Scram,
        &[],
        &[],
        &ConfigFilter::default(),
        &ServerlessLimits::default(),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].check, Check::ServerlessAuth);
}

#[tokio::test]
async fn raw_requests_get_aws_shaped_answers() {
    let f = Fixture::new().await;
    let http = reqwest::Client::new();
    let base = f.server.endpoint_url();
    // The ARN travels percent-encoded in one path segment, as the SDK sends it.
    let encoded = PROVISIONED.replace(':', "%3A").replace('/', "%2F");
    let response = http
        .get(format!("{base}/v1/clusters/{encoded}/bootstrap-brokers"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["bootstrapBrokerStringSaslIam"],
        "b-1.target:9098,b-2.target:9098"
    );
    assert!(body.get("bootstrapBrokerString").is_none());

    let response = http
        .put(format!("{base}/v1/clusters/{encoded}/topics/none"))
        .body(r#"{"partitionCount":2,"configs":"eD0x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "unknown topic");
    f.admin
        .put_topic(ferry_core::topics::TopicDescription::with_broker_defaults(
            "both",
            1,
            1,
            &[],
        ));
    let response = http
        .put(format!("{base}/v1/clusters/{encoded}/topics/both"))
        .body(r#"{"partitionCount":2,"configs":"eD0x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "BadRequestException"
    );

    let response = http.get(format!("{base}/v1/nothing")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
}
