//! Lambda entry point of the discovery function: tracing, typed config, clients built once,
//! then one discovery pass per (scheduled) invocation. All logic lives in the library.

use discover::{DiscoverConfig, DiscoverHandler, DiscoverSettings, DiscoveryReport};
use ferry_aws::esm::LambdaMappings;
use ferry_kafka::{KafkaGroups, KafkaTopicAdmin};
use ferry_lambda::{
    config_error, diagnostic, init_metrics, init_tracing, run_with_metrics, TargetTopics,
};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

type Handler = DiscoverHandler<KafkaTopicAdmin, KafkaGroups, TargetTopics, LambdaMappings>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = DiscoverConfig::from_env().inspect_err(config_error)?;
    ferry_lambda::resolve_secrets(&mut [&mut config.source, &mut config.target])
        .await
        .inspect_err(config_error)?;
    tracing::info!(?config, "discover starting");
    let metrics = init_metrics(&config.metrics_namespace, "discover")?;
    let target_topics = TargetTopics::choose(
        &config.target,
        config.target_msk_cluster_arn.as_deref(),
        "FERRY_TARGET_MSK_CLUSTER_ARN",
    )
    .await
    .inspect_err(config_error)?;

    let handler: &'static Handler = Box::leak(Box::new(DiscoverHandler::new(
        KafkaTopicAdmin::new(config.source.clone(), "source"),
        KafkaGroups::source(config.source.clone()),
        target_topics,
        LambdaMappings::from_env()
            .await
            .with_source(config.event_source.clone()),
        DiscoverSettings {
            mirror_function: config.mirror_function.clone(),
            policy: config.policy.clone(),
            topics: config.topics.clone(),
            heartbeat_topic: config.heartbeat_topic.clone(),
            configs: config.configs.clone(),
            thresholds: config.thresholds,
            sample: config.sample,
            apply: config.apply,
        },
    )));

    run_with_metrics(
        metrics,
        service_fn(move |_event: LambdaEvent<serde_json::Value>| handle(handler)),
    )
    .await
}

async fn handle(handler: &Handler) -> Result<DiscoveryReport, Diagnostic> {
    handler.run().await.map_err(|e| diagnostic(&e))
}
