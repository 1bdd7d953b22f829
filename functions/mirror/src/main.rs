//! Lambda entry point of the mirror function: tracing, typed config, clients built once, then the
//! handler for every Kafka event source mapping batch. All logic lives in the library.

use ferry_aws::dynamo::{client_from_env, DynamoStateStore};
use ferry_aws::lambda::{config_error, init_tracing};
use ferry_aws::metrics::{init_metrics, run_with_metrics};
use ferry_aws::SecretsManagerSource;
use ferry_kafka::resolve_connections;
use ferry_kafka::{KafkaClusterReader, ProducerTuning, TargetCluster, TargetOptions};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use mirror::faults::Faults;
use mirror::telemetry::MirrorEvent;
use mirror::{event, BatchSummary, MirrorConfig, MirrorError, MirrorHandler};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

type Handler = MirrorHandler<DynamoStateStore, TargetCluster, Option<KafkaClusterReader>>;

/// Consecutive batches that failed because the target was unreachable. librdkafka clients in a
/// warm sandbox have been seen to stay disconnected after a target broker restart; past this many
/// failures the sandbox exits so the retry gets fresh clients (a cold start), as a Lambda would.
const MAX_CONSECUTIVE_TARGET_FAILURES: u32 = 3;
static TARGET_FAILURES: AtomicU32 = AtomicU32::new(0);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();

    let mut config = MirrorConfig::from_env().inspect_err(|e| config_error(&e.to_string()))?;
    // Credentials named by FERRY_TARGET_SECRET_ARN, read once.
    let mut connections = vec![&mut config.target];
    if let Some(source) = config.source.as_mut() {
        connections.push(source);
    }
    resolve_connections(&mut connections, SecretsManagerSource::from_env)
        .await
        .inspect_err(|e| config_error(&e.to_string()))?;
    if config.source.is_none() {
        tracing::warn!("FERRY_SOURCE_BOOTSTRAP is not set: source data-loss checks are off (records removed by retention before they were mirrored would go unnoticed)");
    }
    let faults = Faults::from_env().inspect_err(|e| config_error(e))?;
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
    let target = TargetCluster::new(&config.target, options)?;
    let handler: &'static Handler = Box::leak(Box::new(
        MirrorHandler::new(store, target, config.policy.clone(), config.filter.clone())
            .allow_non_empty_target(config.allow_non_empty_target)
            .cache_progress(config.progress_cache)
            .with_faults(Arc::new(faults))
            .with_source(
                config
                    .source
                    .clone()
                    .map(|c| KafkaClusterReader::new(c, "source")),
            ),
    ));

    run_with_metrics(
        metrics,
        service_fn(move |event: LambdaEvent<event::EsmEvent>| handle(handler, event)),
    )
    .await
}

async fn handle(
    handler: &Handler,
    event: LambdaEvent<event::EsmEvent>,
) -> Result<BatchSummary, Diagnostic> {
    if let Some(fatal) = handler.target().fatal_error() {
        // The idempotent producer cannot recover; exit so the next delivery gets a fresh sandbox.
        tracing::error!(error = %fatal, "target producer hit a fatal error: restarting the sandbox");
        std::process::exit(70);
    }
    let failures = TARGET_FAILURES.load(Ordering::Relaxed);
    if failures >= MAX_CONSECUTIVE_TARGET_FAILURES {
        tracing::error!(failures, "target unreachable from this sandbox for several batches: restarting it with fresh clients");
        std::process::exit(71);
    }
    let result = match event.payload.into_batches() {
        Ok(batches) => handler.handle(batches).await,
        Err(e) => {
            let e = MirrorError::from(e);
            MirrorEvent::BatchFailed {
                kind: e.kind(),
                message: &e.message(),
            }
            .emit();
            Err(e)
        }
    };
    match &result {
        Err(e) if e.is_target_unavailable() => TARGET_FAILURES.fetch_add(1, Ordering::Relaxed),
        _ => TARGET_FAILURES.swap(0, Ordering::Relaxed),
    };
    result.map_err(|e| Diagnostic {
        error_type: e.kind().error_type().to_string(),
        error_message: e.message(),
    })
}
