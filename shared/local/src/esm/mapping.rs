//! [`EventSourceMapping`]: one mapping's lifecycle, static partition ownership and
//! [`run_mappings`].

use super::group::{Assignment, Group};
use super::worker::{Background, Worker};
use super::{
    blocking, EsmConfig, EsmError, EsmStats, MappingHandle, MappingState, PollerMode,
    KAFKA_CALL_TIMEOUT,
};
use crate::invoke::Invoker;
use ferry_kafka::{FerryConsumer, FerryContext};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A configured mapping, ready to [`run`](EventSourceMapping::run).
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    pub(super) config: Arc<EsmConfig>,
    pub(super) invoker: Arc<dyn Invoker>,
    pub(super) stats: Arc<EsmStats>,
    pub(super) control: MappingHandle,
}

impl EventSourceMapping {
    /// Validates `config` and binds it to `invoker`.
    pub fn new(config: EsmConfig, invoker: Arc<dyn Invoker>) -> Result<Self, EsmError> {
        config.validate()?;
        Ok(Self {
            control: MappingHandle::new(&config),
            config: Arc::new(config),
            invoker,
            stats: Arc::new(EsmStats::default()),
        })
    }

    /// The mapping's UUID.
    pub fn uuid(&self) -> &str {
        self.control.uuid()
    }

    /// The mapping's control handle (enable/disable, batch settings, state).
    pub fn control(&self) -> MappingHandle {
        self.control.clone()
    }

    /// The mapping's current state.
    pub fn state(&self) -> MappingState {
        self.control.state()
    }

    /// The mapping's configuration.
    pub fn config(&self) -> &EsmConfig {
        &self.config
    }

    /// The mapping's live counters.
    pub fn stats(&self) -> Arc<EsmStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `shutdown` is cancelled (an in-flight invocation is allowed to finish and
    /// is committed if it succeeded; abandoned invocations still running in the background
    /// are awaited too) or a worker fails.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), EsmError> {
        let background = Background::default();
        let result = match self.config.poller_mode {
            PollerMode::Static => self.run_static(shutdown, &background).await,
            PollerMode::ConsumerGroup => self.run_group(shutdown, &background).await,
        };
        background.wait().await;
        result
    }

    pub(super) fn worker(
        &self,
        index: usize,
        group: Option<Arc<Group>>,
        background: &Background,
        rx: mpsc::UnboundedReceiver<Assignment>,
    ) -> Result<Worker, EsmError> {
        Worker::new(index, self, group, background.clone(), rx)
    }

    /// [`PollerMode::Static`]: partition `p` goes to worker `p % pollers` for good.
    async fn run_static(
        &self,
        shutdown: CancellationToken,
        background: &Background,
    ) -> Result<(), EsmError> {
        let label = self.config.label();
        let stop = shutdown.child_token();
        let mut workers = JoinSet::new();
        let mut senders = Vec::with_capacity(self.config.pollers);
        for index in 0..self.config.pollers {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            let worker = self.worker(index, None, background, rx)?;
            workers.spawn(worker.run(stop.clone()));
        }
        self.stats.pollers.store(
            u64::try_from(self.config.pollers).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let metadata = self.metadata_consumer()?;
        let mut known: BTreeSet<i32> = BTreeSet::new();
        let mut result = Ok(());
        let mut warned_missing = false;
        loop {
            // An unreachable cluster blocks the metadata call for up to KAFKA_CALL_TIMEOUT;
            // a stop does not wait for it (the call ends in the background).
            let discovered = tokio::select! {
                () = stop.cancelled() => break,
                discovered = self.discover(&metadata) => discovered,
            };
            match discovered {
                Ok(partitions) => {
                    if partitions.is_empty() && !warned_missing {
                        warned_missing = true;
                        tracing::warn!(mapping = %label, topic = %self.config.topic, "topic not found on the source cluster; waiting for it");
                    }
                    let mut fresh: Vec<Vec<(i32, u64)>> = vec![Vec::new(); senders.len()];
                    for p in partitions {
                        if known.insert(p) {
                            let worker = usize::try_from(p).unwrap_or(0) % senders.len();
                            fresh[worker].push((p, 0));
                        }
                    }
                    for (tx, parts) in senders.iter().zip(fresh) {
                        // A closed channel means the worker ended; the join below reports why.
                        if !parts.is_empty() && tx.send(Assignment::Add(parts)).is_err() {
                            tracing::debug!(mapping = %label, "worker channel closed");
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(mapping = %label, error = %err, "partition discovery failed; retrying");
                }
            }
            let wait = if known.is_empty() {
                Duration::from_secs(1)
            } else {
                self.config.metadata_refresh
            };
            tokio::select! {
                () = stop.cancelled() => break,
                joined = workers.join_next() => {
                    if let Some(outcome) = joined {
                        result = flatten(outcome);
                    }
                    break;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        stop.cancel();
        while let Some(outcome) = workers.join_next().await {
            let outcome = flatten(outcome);
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    pub(super) fn metadata_consumer(&self) -> Result<Arc<FerryConsumer>, EsmError> {
        let mut cfg = self.config.client_config();
        cfg.set(
            "client.id",
            format!("ferry-esm-{}-meta", self.config.label()),
        );
        cfg.create_with_context::<_, FerryConsumer>(FerryContext::default())
            .map(Arc::new)
            .map_err(|source| EsmError::Kafka {
                mapping: self.config.label(),
                context: "cannot create the metadata consumer".to_owned(),
                source: Box::new(source),
            })
    }

    /// The topic's partitions; empty while the topic does not exist.
    pub(super) async fn discover(
        &self,
        consumer: &Arc<FerryConsumer>,
    ) -> Result<Vec<i32>, KafkaError> {
        let consumer = Arc::clone(consumer);
        let topic = self.config.topic.clone();
        blocking(move || {
            let metadata = consumer.fetch_metadata(Some(&topic), KAFKA_CALL_TIMEOUT)?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect())
        })
        .await
    }
}

pub(super) fn flatten(
    joined: Result<Result<(), EsmError>, tokio::task::JoinError>,
) -> Result<(), EsmError> {
    joined.map_err(EsmError::Worker).and_then(|r| r)
}

/// Runs one mapping per config concurrently until `shutdown` or the first failure.
///
/// Rejects two mappings of the same topic and consumer group (they would split and double
/// process partitions).
pub async fn run_mappings(
    configs: Vec<EsmConfig>,
    invoker: Arc<dyn Invoker>,
    shutdown: CancellationToken,
) -> Result<(), EsmError> {
    let mut seen = HashSet::new();
    let mut mappings = Vec::with_capacity(configs.len());
    for config in configs {
        if !seen.insert((config.topic.clone(), config.consumer_group_id.clone())) {
            return Err(EsmError::InvalidConfig {
                mapping: config.label(),
                reason: format!(
                    "another mapping already consumes topic {} with group {}",
                    config.topic, config.consumer_group_id
                ),
            });
        }
        mappings.push(EventSourceMapping::new(config, Arc::clone(&invoker))?);
    }
    let stop = shutdown.child_token();
    let mut tasks = JoinSet::new();
    for mapping in mappings {
        let stop = stop.clone();
        tasks.spawn(async move { mapping.run(stop).await });
    }
    let mut result = Ok(());
    while let Some(outcome) = tasks.join_next().await {
        let outcome = flatten(outcome);
        if outcome.is_err() {
            stop.cancel();
            if result.is_ok() {
                result = outcome;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::InvokeError;

    #[tokio::test]
    async fn run_mappings_rejects_duplicate_topic_and_group() {
        #[derive(Debug)]
        struct Never;
        #[async_trait::async_trait]
        impl Invoker for Never {
            async fn invoke(&self, _: &str, _: bytes::Bytes) -> Result<Vec<u8>, InvokeError> {
                Err(InvokeError::Timeout)
            }
        }
        let a = EsmConfig::new("127.0.0.1:1", "orders", "g", "f1");
        let b = EsmConfig::new("127.0.0.1:1", "orders", "g", "f2");
        let err = run_mappings(vec![a, b], Arc::new(Never), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(err, EsmError::InvalidConfig { .. }));
    }
}
