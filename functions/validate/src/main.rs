//! Lambda entry point of the validate function: tracing, typed config, clients built once, then
//! one validation per invocation (schedule or state-machine task). All logic lives in the
//! library.

use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_aws::lambda::{config_error, init_tracing};
use ferry_aws::metrics::{init_metrics, run_with_metrics};
use ferry_aws::SecretsManagerSource;
use ferry_kafka::resolve_connections;
use ferry_kafka::{KafkaClusterReader, KafkaGroups};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use validate::{
    RequestDefaults, ValidateConfig, ValidateHandler, ValidateRequest, ValidationReport,
};

type Handler =
    ValidateHandler<DynamoStateStore, KafkaClusterReader, KafkaClusterReader, KafkaGroups>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = ValidateConfig::from_env().inspect_err(|e| config_error(&e.to_string()))?;
    // Credentials named by FERRY_<SIDE>_SECRET_ARN / _CA_SECRET_ARN, read once.
    resolve_connections(
        &mut [&mut config.source, &mut config.target],
        SecretsManagerSource::from_env,
    )
    .await
    .inspect_err(|e| config_error(&e.to_string()))?;
    tracing::info!(?config, "validate starting");
    let metrics = init_metrics(&config.metrics_namespace, "validate")?;

    let store = DynamoStateStore::new(client_from_env().await, config.table.clone());
    let handler: &'static Handler = Box::leak(Box::new(
        ValidateHandler::new(
            store,
            KafkaClusterReader::new(config.source.clone(), "source"),
            KafkaClusterReader::new(config.target.clone(), "target"),
            KafkaGroups::source(config.source.clone()),
            config.policy.clone(),
            config.topics.clone(),
            config.groups.clone(),
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
) -> Result<ValidationReport, Diagnostic> {
    let diagnostic = |e: validate::ValidateError| Diagnostic {
        error_type: e.kind().error_type().to_string(),
        error_message: e.message(),
    };
    let request = ValidateRequest::from_event(&event.payload, defaults).map_err(diagnostic)?;
    handler.run(&request).await.map_err(diagnostic)
}
