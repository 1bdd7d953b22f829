//! Secrets never reach the logs: the real checkpoint, heartbeat and mirror binaries run with SCRAM
//! and mutual-TLS credentials (debug logging on, clusters that reject them), and their captured
//! output never contains the password or the private key. (The deployed template never puts
//! secrets into environment variables at all — tests/tests/template.rs; this covers
//! `ferry local`/`ferry plan` style use, where they come from the environment.)

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
