//! Bad input to the real mirror binary: each case is a typed `Ferry.*` error with a clear
//! message, and nothing is written or acknowledged.

use base64::Engine as _;
use ferry_local::{InvokeError, Invoker};
use ferry_tests::*;
use serde_json::json;

fn event(topic: &str, partition: i32, records: Vec<serde_json::Value>) -> bytes::Bytes {
    let body = json!({"eventSource": "SelfManagedKafka", "bootstrapServers": SOURCE,
        "records": {format!("{topic}-{partition}"): records}});
    serde_json::to_vec(&body).unwrap().into()
}

fn record(topic: &str, offset: i64, value: &str) -> serde_json::Value {
    json!({"topic": topic, "partition": 0, "offset": offset, "timestamp": 1_700_000_000_000_i64,
        "timestampType": "CREATE_TIME", "key": "a2V5", "value": value, "headers": []})
}

async fn invoke_err(rig: &MirrorRig, payload: bytes::Bytes) -> (String, String) {
    match rig.host.invoke(MIRROR, payload).await {
        Err(InvokeError::Function {
            error_type,
            error_message,
        }) => (error_type, error_message),
        other => panic!("expected a function error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_typed_errors_and_writes_nothing() {
    init_tracing();
    let rig = MirrorRig::new(&[], 1).await;
    let topic = unique("bad");
    create_mirrored_topic(&topic, 1, &[("max.message.bytes", "2000")]).await;
    let tp = ferry_core::TopicPartition::new(&topic, 0);

    // Not JSON at all: the runtime rejects it before the handler; still an error.
    let r = rig
        .host
        .invoke(MIRROR, bytes::Bytes::from_static(b"{not json"))
        .await;
    assert!(matches!(r, Err(InvokeError::Function { .. })), "{r:?}");

    // JSON of the wrong shape.
    let (t, m) = invoke_err(&rig, bytes::Bytes::from_static(br#"{"records": 42}"#)).await;
    assert_eq!(t, "Ferry.BadInput", "{m}");
    assert!(m.contains("not a Kafka event"), "{m}");

    // Invalid base64.
    let (t, m) = invoke_err(&rig, event(&topic, 0, vec![record(&topic, 0, "***")])).await;
    assert_eq!(t, "Ferry.BadInput");
    assert!(
        m.contains("base64") && m.contains(&format!("{topic}-0@0")),
        "{m}"
    );

    // An offset Kafka never assigns (was once written, moving progress to -4).
    let (t, m) = invoke_err(&rig, event(&topic, 0, vec![record(&topic, -5, "dmFs")])).await;
    assert_eq!(t, "Ferry.BadInput");
    assert!(m.contains(&format!("{topic}-0@-5: field offset")), "{m}");

    // Offsets not ascending within the partition.
    let (t, m) = invoke_err(
        &rig,
        event(
            &topic,
            0,
            vec![record(&topic, 1, "dmFs"), record(&topic, 0, "dmFs")],
        ),
    )
    .await;
    assert_eq!(t, "Ferry.BadInput");
    assert!(m.contains(&format!("{topic}-0@0: field offset")), "{m}");

    // Unknown topic on the target.
    let missing = unique("missing");
    let (t, m) = invoke_err(&rig, event(&missing, 0, vec![record(&missing, 0, "dmFs")])).await;
    assert_eq!(t, "Ferry.TargetNotReady");
    assert!(m.contains(&missing) && m.contains("does not exist"), "{m}");

    // A record larger than the target's max.message.bytes.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 5000]);
    let (t, m) = invoke_err(
        &rig,
        event(
            &topic,
            0,
            vec![record(&topic, 0, "dmFs"), record(&topic, 1, &big)],
        ),
    )
    .await;
    assert_eq!(t, "Ferry.BadInput");
    assert!(
        m.contains("max.message.bytes") && m.contains(&format!("{topic}-0@1")),
        "{m}"
    );

    let (_, end) = ferry_kafka::reader::watermarks(&target(), &tp)
        .await
        .unwrap();
    assert_eq!(end, 0, "nothing was written to the target");
    use ferry_core::ports::ProgressStore;
    assert!(
        rig.store
            .load_progress(std::slice::from_ref(&tp))
            .await
            .unwrap()
            .is_empty(),
        "nothing recorded"
    );
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_config_fails_the_cold_start_naming_the_setting() {
    require_stack();
    let mut config = ferry_local::FunctionConfig::new(MIRROR, bin_path("mirror"));
    config.env = vec![("FERRY_TARGET_BOOTSTRAP".into(), TARGET.into())];
    config.inherit_env = false;
    config.log = ferry_local::LogTarget::Discard;
    let host = ferry_local::FunctionHost::new(config).unwrap();
    let r = host.invoke(MIRROR, bytes::Bytes::from_static(b"{}")).await;
    match r {
        Err(InvokeError::Function {
            error_type,
            error_message,
        }) => {
            assert_eq!(error_type, "Ferry.Config");
            assert!(error_message.contains("FERRY_TABLE"), "{error_message}");
        }
        other => panic!("expected Ferry.Config naming FERRY_TABLE, got {other:?}"),
    }
    host.shutdown().await;
}
