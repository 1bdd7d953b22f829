//! Lambda entry point of the cutover function: tracing, typed config, clients built once, then
//! one state-machine task per invocation. All logic lives in the library.

use cutover::preflight::{PreflightConfig, TopicPreflight};
use cutover::{CutoverConfig, CutoverHandler, CutoverSettings, Task};
use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_aws::esm::LambdaMappings;
use ferry_aws::lambda::{config_error, init_tracing};
use ferry_aws::metrics::{init_metrics, run_with_metrics};
use ferry_aws::SecretsManagerSource;
use ferry_core::storage::UnknownStorage;
use ferry_kafka::resolve_connections;
use ferry_kafka::KafkaGroups;
use ferry_kafka::KafkaTopicAdmin;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

type Preflight = TopicPreflight<KafkaTopicAdmin, KafkaTopicAdmin, UnknownStorage>;
type Handler =
    CutoverHandler<DynamoStateStore, KafkaGroups, KafkaGroups, LambdaMappings, Preflight>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = CutoverConfig::from_env().inspect_err(|e| config_error(&e.to_string()))?;
    // Credentials named by FERRY_<SIDE>_SECRET_ARN / _CA_SECRET_ARN, read once.
    resolve_connections(
        &mut [&mut config.source, &mut config.target],
        SecretsManagerSource::from_env,
    )
    .await
    .inspect_err(|e| config_error(&e.to_string()))?;
    tracing::info!(?config, "cutover starting");
    let metrics = init_metrics(&config.metrics_namespace, "cutover")?;

    let store = DynamoStateStore::new(client_from_env().await, config.table.clone());
    let handler: &'static Handler = Box::leak(Box::new(CutoverHandler::new(
        store,
        KafkaGroups::source(config.source.clone()),
        KafkaGroups::target(config.target.clone()),
        LambdaMappings::from_env().await,
        TopicPreflight::new(
            KafkaTopicAdmin::new(config.source.clone(), "source"),
            KafkaTopicAdmin::new(config.target.clone(), "target"),
            // MSK's broker storage is not read: the preflight skips its storage check.
            UnknownStorage,
            PreflightConfig::new(config.policy.clone(), config.topics.clone()),
        ),
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
