//! Lambda entry point of the cutover function: tracing, typed config, clients built once, then
//! one state-machine task per invocation. All logic lives in the library.

use cutover::{CutoverConfig, CutoverHandler, CutoverSettings, NoPreflight, Task};
use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_aws::esm::LambdaMappings;
use ferry_aws::lambda::{config_error, init_tracing};
use ferry_aws::metrics::{init_metrics, run_with_metrics};
use ferry_kafka::KafkaGroups;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

type Handler =
    CutoverHandler<DynamoStateStore, KafkaGroups, KafkaGroups, LambdaMappings, NoPreflight>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let config = CutoverConfig::from_env().inspect_err(|e| config_error(&e.to_string()))?;
    tracing::info!(?config, "cutover starting");
    let metrics = init_metrics(&config.metrics_namespace, "cutover")?;

    let store = DynamoStateStore::new(client_from_env().await, config.table.clone());
    let handler: &'static Handler = Box::leak(Box::new(CutoverHandler::new(
        store,
        KafkaGroups::source(config.source.clone()),
        KafkaGroups::target(config.target.clone()),
        LambdaMappings::from_env().await,
        NoPreflight,
        CutoverSettings {
            policy: config.policy.clone(),
            topics: config.topics.clone(),
            groups: config.groups.clone(),
            mirror_function: config.mirror_function.clone(),
            quiet_ms: config.quiet_ms,
        },
    )));

    run_with_metrics(
        metrics,
        service_fn(move |event: LambdaEvent<serde_json::Value>| handle(handler, event)),
    )
    .await
}

async fn handle(
    handler: &Handler,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Diagnostic> {
    let result = match serde_json::from_value::<Task>(event.payload) {
        Ok(task) => handler.run(task).await,
        Err(e) => Err(cutover::CutoverError::BadInput(e.to_string())),
    };
    result.map_err(|e| Diagnostic {
        error_type: e.kind().error_type().to_string(),
        error_message: e.message(),
    })
}
