//! The real functions against real SCRAM and mutual-TLS handshakes: the local source broker's
//! `SCRAM` listener (`127.0.0.1:19094`, SASL_SSL + SCRAM-SHA-512) and `MTLS` listener
//! (`127.0.0.1:19095`, SSL with required client certificates), with a CA and certificates
//! `scripts/stack` generates. Every credential comes from Secrets Manager (moto) in the formats
//! the Kafka event source mapping reads, through `FERRY_SOURCE_SECRET_ARN` and
//! `FERRY_SOURCE_CA_SECRET_ARN`:
//!
//! * for each mode, the `mirror` binary, fed by the ESM emulator reading the source over the
//!   same listener with the same secrets, mirrors a topic exactly while reading source bounds
//!   over it; the `checkpoint` binary then reads a source group over it and syncs it to the
//!   target;
//! * for each mode, the cutover state machine (moto Step Functions) with the real `validate`
//!   and `cutover` binaries: preflight, lag checks and rollback over the secured source;
//! * a wrong password (mirror) and a client certificate signed by another CA (checkpoint) fail
//!   the cold start with `Ferry.Config` naming `FERRY_SOURCE_SECRET_ARN`, never the secret.

use ferry_aws::SecretsManagerSource;
use ferry_core::ports::{CheckpointStore, TargetGroups};
use ferry_core::TopicPartition;
use ferry_kafka::{resolve_connections, KafkaConnection, KafkaGroups};
use ferry_local::workload::{produce, producer, Workload};
use ferry_local::{FunctionConfig, FunctionHost, Invoker, LogTarget};
use ferry_tests::*;
use std::time::{Duration, Instant};

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
fn pem(name: &str) -> String {
    let dir = std::env::var("FERRY_TEST_TLS_DIR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ferry/stack/tls"),
            std::path::PathBuf::from,
        );
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e} (run `scripts/stack up`)", dir.join(name).display()))
}

const WRONG_PASSWORD: &str = "wrong-Ferry-Password-from-Secrets-Manager-51af";

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    require_stack();
    for addr in [scram_bootstrap(), mtls_bootstrap()] {
        assert!(
            std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3))
                .is_ok(),
            "{addr} is not answering: `scripts/stack up` starts the SCRAM and MTLS listeners"
        );
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_secretsmanager::Client::new(&config)
}

async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    value: serde_json::Value,
) -> String {
    client
        .create_secret()
        .name(unique("AmazonMSK_ferry-auth"))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create secret in moto")
        .arn
        .expect("arn")
}

/// The `FERRY_SOURCE_*` settings of a SCRAM source whose secrets hold `password`.
async fn scram_source(
    client: &aws_sdk_secretsmanager::Client,
    password: &str,
) -> Vec<(String, String)> {
    let user = env_or("FERRY_TEST_SOURCE_SCRAM_USERNAME", "ferry");
    let credentials = create_secret(
        client,
        serde_json::json!({"username": user, "password": password}),
    )
    .await;
    let ca = create_secret(client, serde_json::json!({"certificate": pem("ca.pem")})).await;
    vec![
        ("FERRY_SOURCE_BOOTSTRAP".into(), scram_bootstrap()),
        ("FERRY_SOURCE_SECURITY".into(), "scram-sha-512".into()),
        ("FERRY_SOURCE_SECRET_ARN".into(), credentials),
        ("FERRY_SOURCE_CA_SECRET_ARN".into(), ca),
    ]
}

/// The `FERRY_SOURCE_*` settings of a mutual-TLS source with client certificate `cert`/`key`.
async fn mtls_source(
    client: &aws_sdk_secretsmanager::Client,
    cert: &str,
    key: &str,
) -> Vec<(String, String)> {
    let credentials = create_secret(
        client,
        serde_json::json!({"certificate": pem(cert), "privateKey": pem(key)}),
    )
    .await;
    let ca = create_secret(client, serde_json::json!({"certificate": pem("ca.pem")})).await;
    vec![
        ("FERRY_SOURCE_BOOTSTRAP".into(), mtls_bootstrap()),
        ("FERRY_SOURCE_SECURITY".into(), "tls".into()),
        ("FERRY_SOURCE_SECRET_ARN".into(), credentials),
        ("FERRY_SOURCE_CA_SECRET_ARN".into(), ca),
    ]
}

/// The connection the settings describe, secrets resolved from moto (what the ESM reads too).
async fn resolved(settings: &[(String, String)]) -> KafkaConnection {
    let mut conn = KafkaConnection::from_lookup("FERRY_SOURCE", |k| {
        settings
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    })
    .expect("valid settings");
    resolve_connections(&mut [&mut conn], SecretsManagerSource::from_env)
        .await
        .expect("secrets from moto");
    conn
}

fn borrowed(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Commits `offsets` for `group` on the source (over `conn`), runs the checkpoint binary with
/// `settings` for that group and checks the target group lands on the translated offsets.
async fn checkpoint_group(
    rig: &MirrorRig,
    conn: &KafkaConnection,
    settings: &[(String, String)],
    topic: &str,
    group: &str,
    offsets: &[(i32, i64)],
) {
    let source_groups = KafkaGroups::source(conn.clone());
    let commits: Vec<(TopicPartition, i64)> = offsets
        .iter()
        .map(|(p, o)| (TopicPartition::new(topic, *p), *o))
        .collect();
    source_groups
        .commit_offsets(group, &commits)
        .await
        .expect("commit the source group over the secured listener");
    let mut env = borrowed(settings);
    env.push(("FERRY_GROUPS_INCLUDE", group));
    env.push(("FERRY_TOPICS_INCLUDE", topic));
    let host = rig.checkpoint_host(&env);
    let resp = run_checkpoint(&host).await;
    host.shutdown().await;
    let report = resp["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["group"] == group))
        .unwrap_or_else(|| panic!("no report for {group} in {resp}"));
    assert_eq!(report["partitions_checkpointed"], offsets.len(), "{resp}");
    assert_eq!(report["sync"]["status"], "synced", "{resp}");
    let checkpoints = rig.store.load_checkpoints(group).await.unwrap();
    let on_target = KafkaGroups::target(target())
        .committed(group, &[topic.to_owned()])
        .await
        .expect("target group offsets");
    for (tp, _) in &commits {
        let cp = checkpoints[tp];
        assert_eq!(on_target.get(tp), Some(&cp.target_offset), "{tp}: {resp}");
    }
}

/// The source settings of an auth mode (`scram` or `mtls`), secrets created in moto.
async fn source_settings(mode: &str) -> Vec<(String, String)> {
    let client = secrets_client().await;
    match mode {
        "scram" => {
            let password = env_or(
                "FERRY_TEST_SOURCE_SCRAM_PASSWORD",
                "ferry-local-scram-password",
            );
            scram_source(&client, &password).await
        }
        _ => mtls_source(&client, "client.pem", "client.key").await,
    }
}

/// The mirror with its source (bounds) over `mode`, fed by the ESM emulator reading the
/// source over `mode` with the same secrets; then the checkpoint over `mode` for a group
/// committed over `mode`.
async fn mirror_and_checkpoint(mode: &str) {
    init_tracing();
    let started = Instant::now();
    let settings = source_settings(mode).await;
    let conn = resolved(&settings).await;
    let mut mirror_env = borrowed(&settings);
    mirror_env.push(("RUST_LOG", "info"));
    let rig = MirrorRig::new(&mirror_env, 1).await;
    let topic = unique(&format!("auth-{mode}"));
    let (n, parts) = (5_000u64, 2);
    create_mirrored_topic(&topic, parts, &[]).await;
    let p = producer(SOURCE).expect("producer");
    let workload = Workload {
        topic: topic.clone(),
        partitions: parts,
        records: n,
        value_bytes: 80,
        seed: 17,
    };
    produce(&p, &workload, |_| {}).await.expect("produce");
    let mut mapping = rig.mapping(&topic);
    mapping.source_bootstrap = conn.bootstrap_servers.clone();
    // The ESM's own SASL/TLS settings from the same resolved secrets (`config_map` hides
    // secret values, `get` does not).
    let esm_config = conn.client_config().expect("resolved");
    mapping.consumer_config = esm_config
        .config_map()
        .keys()
        .filter(|k| **k != "bootstrap.servers")
        .map(|k| {
            (
                k.to_string(),
                esm_config.get(k).unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rig.run_until_mirrored(
        vec![mapping],
        &[(topic.clone(), parts, n as i64)],
        Duration::from_secs(180),
        async {},
    )
    .await;
    assert_mirrored(&topic, parts, n).await;
    let mirrored_at = started.elapsed();
    let log = std::fs::read_to_string(rig.log_path()).expect("mirror log");
    assert!(
        log.contains("cluster credentials read from Secrets Manager"),
        "{log}"
    );
    assert!(!log.contains("ferry-local-scram-password"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    // The cold-start handshake with the source succeeded (no timeout, no warning).
    assert!(!log.contains("handshake check inconclusive"), "{log}");

    let per = (n / parts as u64) as i64;
    checkpoint_group(
        &rig,
        &conn,
        &settings,
        &topic,
        &unique(&format!("app-{mode}")),
        &[(0, per / 3), (1, per - 1)],
    )
    .await;
    rig.host.shutdown().await;
    eprintln!(
        "auth {mode}: {n} records mirrored in {mirrored_at:?}, checkpoint synced; total {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_and_checkpoint_over_scram_from_secrets_manager() {
    mirror_and_checkpoint("scram").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_and_checkpoint_over_mutual_tls_from_secrets_manager() {
    mirror_and_checkpoint("mtls").await;
}

/// Runs `function` once with `env` (+ moto) and returns the invocation's outcome and its log.
async fn cold_start(function: &str, env: &[(String, String)], payload: &str) -> (String, String) {
    let log = std::env::temp_dir().join(format!("{}.log", unique(&format!("auth-{function}"))));
    let mut config = FunctionConfig::new(function, bin_path(function));
    config.env = env
        .iter()
        .cloned()
        .chain(
            aws_env()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .chain([("RUST_LOG".to_owned(), "debug".to_owned())])
        .collect();
    config.timeout = Duration::from_secs(30);
    config.sandboxes = 1;
    config.log = LogTarget::File(log.clone());
    let host = FunctionHost::new(config).expect("function host");
    let started = Instant::now();
    let outcome = host
        .invoke(function, bytes::Bytes::from(payload.to_owned()))
        .await;
    let took = started.elapsed();
    host.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let outcome = match outcome {
        Ok(body) => panic!("{function} succeeded: {}", String::from_utf8_lossy(&body)),
        Err(e) => e.to_string(),
    };
    eprintln!("{function}: cold start failed after {took:?}: {outcome}");
    assert!(took < Duration::from_secs(20), "{function} took {took:?}");
    (outcome, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_fail_the_cold_start_naming_the_setting() {
    let client = secrets_client().await;
    let table = unique("auth-refused");

    // mirror with a wrong SCRAM password for its source.
    let mut env = scram_source(&client, WRONG_PASSWORD).await;
    env.push(("FERRY_TABLE".into(), table.clone()));
    env.push(("FERRY_TARGET_BOOTSTRAP".into(), TARGET.into()));
    let event = serde_json::json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": scram_bootstrap(),
        "records": { "auth-topic-0": [{
            "topic": "auth-topic", "partition": 0, "offset": 0, "timestamp": 1_700_000_000_000_i64,
            "timestampType": "CREATE_TIME", "key": "a2V5", "value": "dmFsdWU=", "headers": []
        }]}
    });
    let (outcome, log) = cold_start("mirror", &env, &event.to_string()).await;
    assert!(outcome.contains("Ferry.Config"), "{outcome}");
    assert!(
        outcome.contains("FERRY_SOURCE_SECRET_ARN: the cluster at"),
        "{outcome}"
    );
    assert!(
        outcome.contains("refused the SCRAM credentials"),
        "{outcome}"
    );
    assert!(!outcome.contains(WRONG_PASSWORD), "{outcome}");
    assert!(!log.contains(WRONG_PASSWORD), "{log}");

    // checkpoint with a client certificate the cluster does not trust.
    let mut env = mtls_source(&client, "untrusted-client.pem", "untrusted-client.key").await;
    env.push(("FERRY_TABLE".into(), table.clone()));
    env.push(("FERRY_TARGET_BOOTSTRAP".into(), TARGET.into()));
    let (outcome, log) = cold_start("checkpoint", &env, "{}").await;
    assert!(outcome.contains("Ferry.Config"), "{outcome}");
    assert!(
        outcome.contains("FERRY_SOURCE_SECRET_ARN: TLS handshake"),
        "{outcome}"
    );
    assert!(!outcome.contains("PRIVATE KEY"), "{outcome}");
    let key = pem("untrusted-client.key");
    let key_body = key.lines().nth(1).unwrap_or("no-key");
    assert!(!log.contains(key_body), "{log}");
}

/// The cutover state machine (moto Step Functions) with the real `validate` and `cutover`
/// binaries reading the source over `mode` with secrets from Secrets Manager: the preflight
/// describes the source topic and groups, the lag checks read source end offsets, all over
/// `mode`; the lag never gets under the threshold, so the migration rolls back and the group
/// stays on the source.
async fn cutover_rolls_back_on_lag(mode: &str) {
    use ferry_core::migration::{GroupPhase, MigrationState, Phase};
    use ferry_core::ports::MigrationStore;
    use std::sync::Arc;

    init_tracing();
    let started = Instant::now();
    let settings = source_settings(mode).await;
    let conn = resolved(&settings).await;
    let rig = MirrorRig::new(&[], 1).await;
    let topic = unique(&format!("auth-co-{mode}"));
    create_mirrored_topic(&topic, 2, &[]).await;
    let p = producer(SOURCE).expect("producer");
    let workload = Workload {
        topic: topic.clone(),
        partitions: 2,
        records: 200,
        value_bytes: 40,
        seed: 5,
    };
    produce(&p, &workload, |_| {}).await.expect("produce");
    rig.run_until_mirrored(
        vec![rig.mapping(&topic)],
        &[(topic.clone(), 2, 200)],
        Duration::from_secs(90),
        async {},
    )
    .await;
    let group = unique("auth-co-group");
    KafkaGroups::source(conn.clone())
        .commit_offsets(
            &group,
            &[
                (TopicPartition::new(&topic, 0), 40),
                (TopicPartition::new(&topic, 1), 60),
            ],
        )
        .await
        .expect("commit over the secured listener");

    let api = lambda_api_server();
    let suffix = unique("auth-co");
    let env: Vec<(String, String)> = [
        ("FERRY_TABLE", rig.table.as_str()),
        ("FERRY_TARGET_BOOTSTRAP", TARGET),
        ("FERRY_TOPICS_INCLUDE", topic.as_str()),
        ("FERRY_SOURCE_QUIET_MS", "1000"),
        ("FERRY_MIRROR_FUNCTION", "mirror-not-deployed"),
        ("RUST_LOG", "info"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(settings.iter().cloned())
    .chain([("AWS_ENDPOINT_URL_LAMBDA".to_string(), api.endpoint_url())])
    .collect();
    let mut hosts = Vec::new();
    let mut logs = Vec::new();
    for f in ["validate", "cutover"] {
        let name = format!("{f}-{suffix}");
        let mut c = FunctionConfig::new(&name, bin_path(f));
        c.env = env.clone();
        c.sandboxes = 1;
        c.timeout = Duration::from_secs(60);
        let log = std::env::temp_dir().join(format!("{}-{name}.log", rig.table));
        c.log = LogTarget::File(log.clone());
        logs.push(log);
        let host = FunctionHost::new(c).expect("function host");
        api.register_function(&name, Arc::new(host.clone()) as Arc<dyn Invoker>);
        hosts.push(host);
    }
    let sfn = ferry_cli::cutover::sfn_client().await;
    let machine = ferry_cli::cutover::deploy_local(
        &sfn,
        &format!("cutover-{suffix}"),
        &format!("cutover-{suffix}"),
        &format!("validate-{suffix}"),
    )
    .await
    .expect("state machine");
    let id = unique("auth-lag");
    let execution = ferry_cli::cutover::start(
        &sfn,
        &machine,
        &id,
        &serde_json::json!({"groups": [group], "lag_threshold": -1, "catch_up_max_checks": 2, "catch_up_wait_seconds": 1}),
    )
    .await
    .expect("start execution");
    let info = ferry_cli::cutover::wait(&sfn, &execution, Duration::from_secs(240))
        .await
        .expect("describe");
    assert!(info.finished(), "{info:?}");
    assert_eq!(info.error.as_deref(), Some("Ferry.RolledBack"), "{info:?}");
    let doc = rig
        .store
        .load_migration(&id)
        .await
        .expect("load")
        .expect("migration exists");
    let state: MigrationState = serde_json::from_str(&doc.value).expect("state document");
    assert_eq!(state.phase, Phase::RolledBack);
    assert!(
        state
            .cause
            .as_deref()
            .unwrap_or("")
            .contains("mirror lag stayed above"),
        "{:?}",
        state.cause
    );
    assert_eq!(state.groups[&group].phase, GroupPhase::OnSource);
    for h in &hosts {
        h.shutdown().await;
    }
    rig.host.shutdown().await;
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(
            text.contains("cluster credentials read from Secrets Manager"),
            "{}: {text}",
            log.display()
        );
        assert!(!text.contains("ferry-local-scram-password"), "{text}");
        assert!(!text.contains("handshake check inconclusive"), "{text}");
    }
    eprintln!(
        "auth {mode} cutover: preflight, lag checks and rollback in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_over_scram_from_secrets_manager_rolls_back_on_lag() {
    cutover_rolls_back_on_lag("scram").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_over_mutual_tls_from_secrets_manager_rolls_back_on_lag() {
    cutover_rolls_back_on_lag("mtls").await;
}
