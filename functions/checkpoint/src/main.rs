//! Lambda entry point of the checkpoint function: tracing, typed config, clients built once,
//! then one checkpoint pass per (scheduled) invocation. All logic lives in the library.

use checkpoint::{CheckpointConfig, CheckpointHandler, RunSummary};
use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_kafka::KafkaGroups;
use ferry_lambda::{
    config_error, diagnostic, init_metrics, init_tracing, now_ms, run_with_metrics,
};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

type Handler = CheckpointHandler<DynamoStateStore, KafkaGroups, KafkaGroups>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = CheckpointConfig::from_env().inspect_err(config_error)?;
    config
        .migration
        .resolve_secrets()
        .await
        .inspect_err(config_error)?;
    tracing::info!(?config, "checkpoint starting");
    let m = &config.migration;
    let metrics = init_metrics(&m.metrics_namespace, "checkpoint")?;

    let store = DynamoStateStore::new(client_from_env().await, m.table.clone());
    let handler: &'static Handler = Box::leak(Box::new(
        CheckpointHandler::new(
            store,
            KafkaGroups::source(m.source.clone()),
            KafkaGroups::target(m.target.clone()),
            m.policy.clone(),
            m.topics.clone(),
            m.groups.clone(),
        )
        .sync_group_offsets(config.sync_group_offsets),
    ));

    run_with_metrics(
        metrics,
        service_fn(move |event: LambdaEvent<serde_json::Value>| handle(handler, event)),
    )
    .await
}

/// The event (an EventBridge schedule, or `{}`) carries nothing the run needs; the context
/// gives the run's lease owner (the request id) and deadline.
async fn handle(
    handler: &Handler,
    event: LambdaEvent<serde_json::Value>,
) -> Result<RunSummary, Diagnostic> {
    let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
    handler
        .run_within(&event.context.request_id, now_ms(), deadline_ms)
        .await
        .map_err(|e| diagnostic(&e))
}
