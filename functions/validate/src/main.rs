//! Lambda entry point of the validate function: tracing, typed config, clients built once, then
//! one validation per invocation (schedule or state-machine task). All logic lives in the
//! library.

use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_kafka::{KafkaClusterReader, KafkaGroups};
use ferry_lambda::{config_error, diagnostic, init_metrics, init_tracing, run_with_metrics};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use validate::{
    RequestDefaults, ValidateConfig, ValidateHandler, ValidateRequest, ValidationSummary,
};

type Handler =
    ValidateHandler<DynamoStateStore, KafkaClusterReader, KafkaClusterReader, KafkaGroups>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = ValidateConfig::from_env().inspect_err(config_error)?;
    config
        .migration
        .resolve_secrets()
        .await
        .inspect_err(config_error)?;
    tracing::info!(?config, "validate starting");
    let m = &config.migration;
    let metrics = init_metrics(&m.metrics_namespace, "validate")?;

    let store = DynamoStateStore::new(client_from_env().await, m.table.clone());
    let handler: &'static Handler = Box::leak(Box::new(
        ValidateHandler::new(
            store,
            KafkaClusterReader::new(m.source.clone(), "source"),
            KafkaClusterReader::new(m.target.clone(), "target"),
            KafkaGroups::source(m.source.clone()),
            m.policy.clone(),
            m.topics.clone(),
            m.groups.clone(),
        )
        .limits(config.limits)
        .heartbeat_topic(config.heartbeat_topic.clone()),
    ));
    let defaults: &'static RequestDefaults = Box::leak(Box::new(config.defaults.clone()));

    run_with_metrics(
        metrics,
        service_fn(move |event: LambdaEvent<serde_json::Value>| handle(handler, defaults, event)),
    )
    .await
}

async fn handle(
    handler: &Handler,
    defaults: &RequestDefaults,
    event: LambdaEvent<serde_json::Value>,
) -> Result<ValidationSummary, Diagnostic> {
    let request =
        ValidateRequest::from_event(&event.payload, defaults).map_err(|e| diagnostic(&e))?;
    let report = handler.run(&request).await.map_err(|e| diagnostic(&e))?;
    // The whole report is stored; the result stays small at any number of partitions.
    Ok(report.summary())
}
