//! Lambda entry point of the cutover function: tracing, typed config, clients built once, then
//! one state-machine task per invocation. All logic lives in the library.

use cutover::preflight::{PreflightConfig, TopicPreflight};
use cutover::{CutoverConfig, CutoverError, CutoverHandler, CutoverSettings, Task};
use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_aws::esm::LambdaMappings;
use ferry_aws::msk::{MskCluster, MskStorage};
use ferry_aws::EventBridgeEvents;
use ferry_core::msk::MskAuth;
use ferry_kafka::KafkaGroups;
use ferry_kafka::KafkaTopicAdmin;
use ferry_lambda::{
    config_error, diagnostic, init_metrics, init_tracing, run_with_metrics, TargetTopics,
};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

type Preflight = TopicPreflight<KafkaTopicAdmin, TargetTopics, Option<MskStorage>>;
type Handler = CutoverHandler<
    DynamoStateStore,
    KafkaGroups,
    KafkaGroups,
    LambdaMappings,
    Preflight,
    EventBridgeEvents,
>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = CutoverConfig::from_env().inspect_err(config_error)?;
    config
        .migration
        .resolve_secrets()
        .await
        .inspect_err(config_error)?;
    tracing::info!(?config, "cutover starting");
    let m = &config.migration;
    let metrics = init_metrics(&m.metrics_namespace, "cutover")?;

    let target_topics = TargetTopics::choose(
        &m.target,
        config.target_msk_cluster_arn.as_deref(),
        "FERRY_TARGET_MSK_CLUSTER_ARN",
    )
    .await
    .inspect_err(config_error)?;
    let store = DynamoStateStore::new(client_from_env().await, m.table.clone());
    let handler: &'static Handler = Box::leak(Box::new(
        CutoverHandler::new(
            store,
            KafkaGroups::source(m.source.clone()),
            KafkaGroups::target(m.target.clone()),
            LambdaMappings::from_env().await,
            TopicPreflight::new(
                KafkaTopicAdmin::new(m.source.clone(), "source"),
                target_topics,
                // The target MSK cluster's facts (DescribeClusterV2): Serverless limits or
                // broker volume sizing; without its ARN the preflight skips both.
                match &config.target_msk_cluster_arn {
                    Some(arn) => Some(MskCluster::from_env(arn.clone()).await.storage()),
                    None => None,
                },
                PreflightConfig {
                    target_auth: MskAuth::for_connection(m.target.security.name()),
                    ..PreflightConfig::new(m.policy.clone(), m.topics.clone())
                },
            ),
            CutoverSettings {
                policy: m.policy.clone(),
                topics: m.topics.clone(),
                groups: m.groups.clone(),
                mirror_function: config.mirror_function.clone(),
                quiet_ms: config.quiet_ms,
            },
        )
        .with_events(EventBridgeEvents::from_env(config.event_bus.clone()).await),
    ));

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
        Err(e) => Err(CutoverError::BadInput(e.to_string())),
    };
    result.map_err(|e| diagnostic(&e))
}
