//! Lambda entry point of the heartbeat function: tracing, typed config, clients built once,
//! then one heartbeat per (scheduled) invocation. All logic lives in the library.

use ferry_kafka::{KafkaClusterReader, ProducerTuning, TargetCluster};
use ferry_lambda::{config_error, diagnostic, init_metrics, init_tracing, run_with_metrics};
use heartbeat::{HeartbeatConfig, HeartbeatEmitted, HeartbeatHandler};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

type Handler = HeartbeatHandler<KafkaClusterReader, TargetCluster>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = HeartbeatConfig::from_env().inspect_err(config_error)?;
    ferry_lambda::resolve_secrets(&mut [&mut config.source])
        .await
        .inspect_err(config_error)?;
    tracing::info!(?config, "heartbeat starting");
    let metrics = init_metrics(&config.metrics_namespace, "heartbeat")?;

    // The "target" producer of the mirror, pointed at the source cluster: writes to an explicit
    // partition with the record's own timestamp.
    let producer =
        TargetCluster::new(&config.source, ProducerTuning::default()).inspect_err(config_error)?;
    let handler: &'static Handler = Box::leak(Box::new(HeartbeatHandler::new(
        KafkaClusterReader::new(config.source.clone(), "source"),
        producer,
        config.topic.clone(),
        config.alias.clone(),
    )));

    run_with_metrics(
        metrics,
        service_fn(move |_event: LambdaEvent<serde_json::Value>| handle(handler)),
    )
    .await
}

async fn handle(handler: &Handler) -> Result<HeartbeatEmitted, Diagnostic> {
    handler.run().await.map_err(|e| diagnostic(&e))
}
