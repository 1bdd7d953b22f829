//! Lambda entry point of the mirror function: tracing, typed config, clients built once, then the
//! handler for every Kafka event source mapping batch. All logic lives in the library.

use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_kafka::{KafkaClusterReader, ProducerTuning, TargetCluster, TargetOptions};
use ferry_lambda::{config_error, diagnostic, init_metrics, init_tracing, run_with_metrics};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use mirror::event::EsmEvent;
use mirror::faults::Faults;
use mirror::{BatchSummary, MirrorConfig, MirrorHandler, SandboxHealth};
use std::sync::Arc;

type Handler = MirrorHandler<DynamoStateStore, TargetCluster, Option<KafkaClusterReader>>;

/// Whether this sandbox's target clients still work, across invocations.
static HEALTH: SandboxHealth = SandboxHealth::new();

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = MirrorConfig::from_env().inspect_err(config_error)?;
    let mut connections = vec![&mut config.target];
    connections.extend(config.source.as_mut());
    ferry_lambda::resolve_secrets(&mut connections)
        .await
        .inspect_err(config_error)?;
    if config.source.is_none() {
        tracing::warn!("FERRY_SOURCE_BOOTSTRAP is not set: source data-loss checks are off (records removed by retention before they were mirrored would go unnoticed)");
    }
    let faults = Faults::from_env().inspect_err(config_error)?;
    tracing::info!(?config, faults_armed = faults.armed(), "mirror starting");
    let metrics = init_metrics(&config.metrics_namespace, "mirror")?;

    let store = DynamoStateStore::new(client_from_env().await, config.table.clone());
    let options = TargetOptions {
        tuning: ProducerTuning {
            compression: config.compression,
            ..ProducerTuning::default()
        },
        fencing: config.fencing.clone(),
        ..TargetOptions::default()
    };
    let target = TargetCluster::new(&config.target, options).inspect_err(config_error)?;
    let source = config
        .source
        .clone()
        .map(|c| KafkaClusterReader::new(c, "source"));
    let handler: &'static Handler = Box::leak(Box::new(
        MirrorHandler::new(store, target, config.policy.clone(), config.filter.clone())
            .allow_non_empty_target(config.allow_non_empty_target)
            .cache_progress(config.progress_cache)
            .with_faults(Arc::new(faults))
            .with_source(source),
    ));

    run_with_metrics(
        metrics,
        service_fn(move |event: LambdaEvent<EsmEvent>| handle(handler, event)),
    )
    .await
}

async fn handle(
    handler: &Handler,
    event: LambdaEvent<EsmEvent>,
) -> Result<BatchSummary, Diagnostic> {
    if let Err(restart) = HEALTH.check(handler.target().fatal_error()) {
        restart.exit();
    }
    let result = handler.handle_event(event.payload).await;
    HEALTH.record(&result);
    result.map_err(|e| diagnostic(&e))
}
