//! Lambda entry point of the checkpoint function: tracing, typed config, clients built once,
//! then one checkpoint pass per (scheduled) invocation. All logic lives in the library.

use checkpoint::{CheckpointConfig, CheckpointHandler, RunSummary};
use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_aws::lambda::{config_error, init_tracing};
use ferry_aws::metrics::{init_metrics, run_with_metrics};
use ferry_aws::SecretsManagerSource;
use ferry_kafka::resolve_connections;
use ferry_kafka::KafkaGroups;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

type Handler = CheckpointHandler<DynamoStateStore, KafkaGroups, KafkaGroups>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = CheckpointConfig::from_env().inspect_err(|e| config_error(&e.to_string()))?;
    // Credentials named by FERRY_<SIDE>_SECRET_ARN / _CA_SECRET_ARN, read once.
    resolve_connections(
        &mut [&mut config.source, &mut config.target],
        SecretsManagerSource::from_env,
    )
    .await
    .inspect_err(|e| config_error(&e.to_string()))?;
    tracing::info!(?config, "checkpoint starting");
    let metrics = init_metrics(&config.metrics_namespace, "checkpoint")?;

    let store = DynamoStateStore::new(client_from_env().await, config.table.clone());
    let handler: &'static Handler = Box::leak(Box::new(
        CheckpointHandler::new(
            store,
            KafkaGroups::source(config.source.clone()),
            KafkaGroups::target(config.target.clone()),
            config.policy.clone(),
            config.topics.clone(),
            config.groups.clone(),
        )
        .sync_group_offsets(config.sync_group_offsets),
    ));

    run_with_metrics(
        metrics,
        service_fn(move |event: LambdaEvent<serde_json::Value>| handle(handler, event)),
    )
    .await
}

/// The event (an EventBridge schedule, or `{}`) carries nothing the run needs.
async fn handle(
    handler: &Handler,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<RunSummary, Diagnostic> {
    handler.run().await.map_err(|e| Diagnostic {
        error_type: e.kind().error_type().to_string(),
        error_message: e.message(),
    })
}
