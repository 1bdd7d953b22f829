//! Secrets never reach the logs: the real checkpoint, heartbeat and mirror binaries run with SCRAM
//! and mutual-TLS credentials (debug logging on, clusters that reject them), and their captured
//! output never contains the password or the private key — given in environment variables
//! (`ferry local`/`ferry plan` style use) or, as deployed, read from Secrets Manager (moto)
//! through `FERRY_<SIDE>_SECRET_ARN` / `FERRY_SOURCE_CA_SECRET_ARN` at cold start. The deployed
//! template never puts secrets into environment variables at all (tests/tests/template.rs).
//!
//! Against moto: `ferry_kafka::secrets` (through `ferry_aws::SecretsManagerSource`) resolves SCRAM, mutual-TLS and CA secrets into a
//! connection; a real binary configured only with secret ARNs logs the user name it read (so it
//! resolved them) but never the password or key; a secret without `"password"` fails the cold
//! start with a `Ferry.Config` error naming the setting, the ARN and the field.

use ferry_aws::SecretsManagerSource;
use ferry_kafka::secrets::{resolve, SecretError};
use ferry_kafka::{KafkaConnection, Security};
use ferry_local::{FunctionConfig, FunctionHost, Invoker, LogTarget};
use ferry_tests::{aws_env, bin_path, require_stack, unique, SOURCE, TARGET};
use std::time::Duration;

const PASSWORD: &str = "s3cr3t-Ferry-Password-7f3a9c";
const KEY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-ferry-test-key";

async fn run_and_capture(function: &str, env: &[(String, String)], payload: &str) -> String {
    let log = std::env::temp_dir().join(format!("{}.log", unique(&format!("secrets-{function}"))));
    let mut config = FunctionConfig::new(function, bin_path(function));
    config.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain(
            aws_env()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .chain([("RUST_LOG".to_owned(), "debug".to_owned())])
        .collect();
    config.timeout = Duration::from_secs(20);
    config.sandboxes = 1;
    config.log = LogTarget::File(log.clone());
    let host = FunctionHost::new(config).expect("function host");
    // The clusters speak plaintext, so SASL_SSL / SSL fail: an error or a timeout is expected.
    let outcome = host
        .invoke(function, bytes::Bytes::from(payload.to_owned()))
        .await;
    host.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.trim().is_empty(),
        "{function} wrote no log (outcome {outcome:?})"
    );
    let _ = std::fs::remove_file(&log);
    text
}

fn assert_clean(function: &str, log: &str) {
    assert!(
        !log.contains(PASSWORD),
        "{function} logged the SCRAM password:\n{log}"
    );
    assert!(
        !log.contains(KEY),
        "{function} logged the private key:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_appear_in_function_logs() {
    require_stack();
    let table = unique("secrets");
    let scram = |side: &str, bootstrap: &str| {
        vec![
            (format!("FERRY_{side}_BOOTSTRAP"), bootstrap.to_owned()),
            (format!("FERRY_{side}_SECURITY"), "scram-sha-512".to_owned()),
            (format!("FERRY_{side}_SASL_USERNAME"), "ferry".to_owned()),
            (format!("FERRY_{side}_SASL_PASSWORD"), PASSWORD.to_owned()),
        ]
    };
    let tls = |side: &str, bootstrap: &str| {
        vec![
            (format!("FERRY_{side}_BOOTSTRAP"), bootstrap.to_owned()),
            (format!("FERRY_{side}_SECURITY"), "tls".to_owned()),
            (
                format!("FERRY_{side}_TLS_CERT_PEM"),
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".to_owned(),
            ),
            (
                format!("FERRY_{side}_TLS_KEY_PEM"),
                format!("-----BEGIN PRIVATE KEY-----\n{KEY}\n-----END PRIVATE KEY-----"),
            ),
        ]
    };
    // checkpoint: SCRAM source, mutual-TLS target.
    let mut env = scram("SOURCE", SOURCE);
    env.extend(tls("TARGET", TARGET));
    env.push(("FERRY_TABLE".into(), table.clone()));
    let log = run_and_capture("checkpoint", &env, "{}").await;
    assert_clean("checkpoint", &log);
    // The configuration was logged, redacted.
    assert!(log.contains("password: ***"), "{log}");
    assert!(log.contains("key_pem: Some(***)"), "{log}");

    // mirror: SCRAM target, fed one AWS-shaped Kafka batch.
    let mut env = scram("TARGET", TARGET);
    env.push(("FERRY_TABLE".into(), table.clone()));
    let event = serde_json::json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": SOURCE,
        "records": { "secrets-topic-0": [{
            "topic": "secrets-topic", "partition": 0, "offset": 0, "timestamp": 1_700_000_000_000_i64,
            "timestampType": "CREATE_TIME", "key": "a2V5", "value": "dmFsdWU=", "headers": []
        }]}
    });
    let log = run_and_capture("mirror", &env, &event.to_string()).await;
    assert_clean("mirror", &log);

    // heartbeat (when built): mutual-TLS source.
    if bin_exists("heartbeat") {
        let env = tls("SOURCE", SOURCE);
        let log = run_and_capture("heartbeat", &env, "{}").await;
        assert_clean("heartbeat", &log);
    }
}

fn bin_exists(name: &str) -> bool {
    std::panic::catch_unwind(|| bin_path(name)).is_ok()
}

const SM_PASSWORD: &str = "sm-Ferry-Password-from-Secrets-Manager-4d2e";
const SM_KEY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-from-secrets-manager-key";

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    require_stack();
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// Creates a secret in moto and returns its ARN.
async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    value: &serde_json::Value,
) -> String {
    let out = client
        .create_secret()
        .name(unique("AmazonMSK_ferry-test"))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create secret in moto");
    out.arn.expect("secret arn")
}

fn lookup(pairs: Vec<(String, String)>) -> impl Fn(&str) -> Option<String> {
    move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_secrets_resolve_into_connections() {
    let client = secrets_client().await;
    let scram = create_secret(
        &client,
        &serde_json::json!({"username": "ferry", "password": SM_PASSWORD}),
    )
    .await;
    let ca = create_secret(
        &client,
        &serde_json::json!({"certificate": "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----"}),
    )
    .await;
    let source = SecretsManagerSource::new(client.clone());

    let mut conn = KafkaConnection::from_lookup(
        "FERRY_SOURCE",
        lookup(vec![
            ("FERRY_SOURCE_BOOTSTRAP".into(), SOURCE.into()),
            ("FERRY_SOURCE_SECURITY".into(), "scram-sha-512".into()),
            ("FERRY_SOURCE_SECRET_ARN".into(), scram.clone()),
            ("FERRY_SOURCE_CA_SECRET_ARN".into(), ca.clone()),
        ]),
    )
    .unwrap();
    assert!(
        conn.client_config().is_err(),
        "unresolved secrets build nothing"
    );
    resolve(&mut conn, &source)
        .await
        .expect("resolved from moto");
    match &conn.security {
        Security::SaslScram {
            username,
            password,
            ca_pem,
            ..
        } => {
            assert_eq!(username, "ferry");
            assert_eq!(password.expose(), SM_PASSWORD);
            assert!(ca_pem.as_deref().unwrap_or_default().contains("\nCA\n"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{conn:?}").contains(SM_PASSWORD));

    // Mutual TLS from one secret.
    let mtls = create_secret(
        &client,
        &serde_json::json!({
            "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "privateKey": format!("-----BEGIN PRIVATE KEY-----\n{SM_KEY}\n-----END PRIVATE KEY-----"),
        }),
    )
    .await;
    let mut conn = KafkaConnection::from_lookup(
        "FERRY_TARGET",
        lookup(vec![
            ("FERRY_TARGET_BOOTSTRAP".into(), TARGET.into()),
            ("FERRY_TARGET_SECURITY".into(), "tls".into()),
            ("FERRY_TARGET_SECRET_ARN".into(), mtls),
        ]),
    )
    .unwrap();
    resolve(&mut conn, &source).await.expect("mTLS secret");
    let config = conn.client_config().unwrap();
    assert!(config
        .get("ssl.key.pem")
        .unwrap_or_default()
        .contains(SM_KEY));

    // A secret that does not exist: the error names the setting and the ARN.
    let missing = format!("{scram}-missing");
    let mut conn = KafkaConnection::from_lookup(
        "FERRY_SOURCE",
        lookup(vec![
            ("FERRY_SOURCE_BOOTSTRAP".into(), SOURCE.into()),
            ("FERRY_SOURCE_SECURITY".into(), "scram-sha-512".into()),
            ("FERRY_SOURCE_SECRET_ARN".into(), missing.clone()),
        ]),
    )
    .unwrap();
    let err = resolve(&mut conn, &source).await.unwrap_err();
    assert!(matches!(err, SecretError::Fetch { .. }), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "FERRY_SOURCE_SECRET_ARN: could not read secret {missing}"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_configured_by_secret_arn_never_log_the_secret() {
    let client = secrets_client().await;
    let table = unique("secrets-sm");
    let scram = create_secret(
        &client,
        &serde_json::json!({"username": "ferry-from-sm", "password": SM_PASSWORD}),
    )
    .await;
    let mtls = create_secret(
        &client,
        &serde_json::json!({
            "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "privateKey": format!("-----BEGIN PRIVATE KEY-----\n{SM_KEY}\n-----END PRIVATE KEY-----"),
            "privateKeyPassword": SM_PASSWORD,
        }),
    )
    .await;
    let ca = create_secret(
        &client,
        &serde_json::json!({"certificate": "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----"}),
    )
    .await;

    // checkpoint: SCRAM source + private CA, mutual-TLS target, all from Secrets Manager.
    let env: Vec<(String, String)> = vec![
        ("FERRY_TABLE".into(), table.clone()),
        ("FERRY_SOURCE_BOOTSTRAP".into(), SOURCE.into()),
        ("FERRY_SOURCE_SECURITY".into(), "scram-sha-512".into()),
        ("FERRY_SOURCE_SECRET_ARN".into(), scram.clone()),
        ("FERRY_SOURCE_CA_SECRET_ARN".into(), ca.clone()),
        ("FERRY_TARGET_BOOTSTRAP".into(), TARGET.into()),
        ("FERRY_TARGET_SECURITY".into(), "tls".into()),
        ("FERRY_TARGET_SECRET_ARN".into(), mtls.clone()),
    ];
    let log = run_and_capture("checkpoint", &env, "{}").await;
    assert_sm_clean("checkpoint", &log);
    // It read the secrets: the logged (redacted) configuration has the user from the secret.
    assert!(log.contains("ferry-from-sm"), "{log}");
    assert!(
        log.contains("cluster credentials read from Secrets Manager"),
        "{log}"
    );
    assert!(log.contains("password: ***"), "{log}");

    // mirror: mutual-TLS target from Secrets Manager, fed one batch.
    let env: Vec<(String, String)> = vec![
        ("FERRY_TABLE".into(), table.clone()),
        ("FERRY_TARGET_BOOTSTRAP".into(), TARGET.into()),
        ("FERRY_TARGET_SECURITY".into(), "tls".into()),
        ("FERRY_TARGET_SECRET_ARN".into(), mtls.clone()),
    ];
    let event = serde_json::json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": SOURCE,
        "records": { "secrets-topic-0": [{
            "topic": "secrets-topic", "partition": 0, "offset": 0, "timestamp": 1_700_000_000_000_i64,
            "timestampType": "CREATE_TIME", "key": "a2V5", "value": "dmFsdWU=", "headers": []
        }]}
    });
    let log = run_and_capture("mirror", &env, &event.to_string()).await;
    assert_sm_clean("mirror", &log);
    assert!(
        log.contains("cluster credentials read from Secrets Manager"),
        "{log}"
    );

    // A secret without "password": the cold start fails naming setting, ARN and field.
    let broken = create_secret(&client, &serde_json::json!({"username": "ferry"})).await;
    let env: Vec<(String, String)> = vec![
        ("FERRY_TABLE".into(), table.clone()),
        ("FERRY_SOURCE_BOOTSTRAP".into(), SOURCE.into()),
        ("FERRY_SOURCE_SECURITY".into(), "scram-sha-512".into()),
        ("FERRY_SOURCE_SECRET_ARN".into(), broken.clone()),
        ("FERRY_TARGET_BOOTSTRAP".into(), TARGET.into()),
    ];
    let log = run_and_capture("checkpoint", &env, "{}").await;
    assert!(
        log.contains(&format!(
            "FERRY_SOURCE_SECRET_ARN: secret {broken} has no \\\"password\\\" field"
        )) || log.contains(&format!(
            "FERRY_SOURCE_SECRET_ARN: secret {broken} has no \"password\" field"
        )),
        "{log}"
    );
    assert!(log.contains("configuration error at cold start"), "{log}");
}

fn assert_sm_clean(function: &str, log: &str) {
    assert!(
        !log.contains(SM_PASSWORD),
        "{function} logged a password read from Secrets Manager:\n{log}"
    );
    assert!(
        !log.contains(SM_KEY),
        "{function} logged a private key read from Secrets Manager:\n{log}"
    );
}
