//! Mapping configuration: [`EsmConfig`], its knobs and the limits AWS enforces.

use super::{EsmError, EventSource};
use crate::invoke::MAX_SYNC_PAYLOAD_BYTES;
use rdkafka::config::ClientConfig;
use std::time::Duration;

/// AWS's maximum `BatchSize` for Kafka event sources.
pub const MAX_BATCH_SIZE: usize = 10_000;

/// Where to start when the group has no committed offset for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingPosition {
    /// The oldest available record (`TRIM_HORIZON`).
    #[default]
    TrimHorizon,
    /// The end of the partition at assignment time (`LATEST`).
    Latest,
}

/// The consumer's `isolation.level`; see the module docs on transactional topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Only committed transactional records, up to the last stable offset.
    #[default]
    ReadCommitted,
    /// Everything, including records of aborted and open transactions.
    ReadUncommitted,
}

impl IsolationLevel {
    pub(super) fn as_kafka(self) -> &'static str {
        match self {
            Self::ReadCommitted => "read_committed",
            Self::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// Fault injection for tests; all off by default.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// After a successful batch, with this probability, skip the commit and rewind to the
    /// batch's first offsets, so its records are delivered once more. `0.0..=1.0`.
    pub redeliver_probability: f64,
    /// On a retry (and a redelivery), rewind and re-fetch with a random record limit in
    /// `1..=batch_size`, so redelivered records are batched differently.
    pub resplit_on_retry: bool,
    /// Seed of the per-worker random generators (worker `i` uses `seed + i`; the group
    /// coordinator of [`PollerMode::ConsumerGroup`] uses `seed` itself).
    pub seed: u64,
    /// [`PollerMode::ConsumerGroup`] only: every period the group is rebalanced: its size is
    /// redrawn uniformly from `1..=`[`MappingHandle::pollers`](super::MappingHandle::pollers) and, unless it shrank, one
    /// random poller is replaced by a fresh one (a poller restart), so partitions change
    /// owner every period. `None`: the group only rebalances on new partitions and
    /// [`MappingHandle::set_pollers`](super::MappingHandle::set_pollers).
    pub rebalance_every: Option<Duration>,
    /// The poller stops waiting for an invocation after this long, counts it as timed out
    /// ([`InvokeError::Timeout`](crate::invoke::InvokeError::Timeout)) and retries the whole batch (normal backoff) while the first
    /// invocation keeps running in the background to its own end (never cancelled; its
    /// result is ignored). `None`: wait for every invocation (default).
    pub abandon_after: Option<Duration>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            redeliver_probability: 0.0,
            resplit_on_retry: false,
            seed: 0x5eed,
            rebalance_every: None,
            abandon_after: None,
        }
    }
}

/// How a mapping's pollers share the topic's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PollerMode {
    /// Fixed, exclusive ownership: partition `p` belongs to poller `p % pollers` for the
    /// mapping's lifetime; no rebalances, never two invocations of one partition at once
    /// (unless [`FaultConfig::abandon_after`] fires). The default.
    #[default]
    Static,
    /// The pollers are members of the mapping's consumer group, coordinated by the emulator:
    /// scaling ([`MappingHandle::set_pollers`](super::MappingHandle::set_pollers), [`FaultConfig::rebalance_every`]) rebalances
    /// the group, revoked partitions' in-flight invocations run to their end, the new owner
    /// restarts from the committed offset right away, and commits of revoked members are
    /// rejected. See the module docs.
    ConsumerGroup,
}

/// One event source mapping: one topic, one consumer group, one function.
#[derive(Debug, Clone)]
pub struct EsmConfig {
    /// Source cluster bootstrap servers (also sent as `bootstrapServers`).
    pub source_bootstrap: String,
    /// The single topic of this mapping.
    pub topic: String,
    /// The consumer group whose offsets the mapping commits.
    pub consumer_group_id: String,
    /// The function to invoke.
    pub function_name: String,
    /// Maximum records per batch (AWS `BatchSize`, default 100, at most 10,000).
    pub batch_size: usize,
    /// Maximum time to gather a batch after its first record (AWS
    /// `MaximumBatchingWindowInSeconds`; Kafka default 500 ms).
    pub batching_window: Duration,
    /// Maximum payload size in bytes, JSON and base64 included (default and maximum 6 MB).
    pub max_payload_bytes: usize,
    /// Where to start without committed offsets.
    pub starting_position: StartingPosition,
    /// MSK or self-managed; decides the payload's `eventSource` / `eventSourceArn`.
    pub event_source: EventSource,
    /// Number of concurrent pollers (AWS provisioned pollers; useful up to the partition count).
    /// In [`PollerMode::ConsumerGroup`] the initial group size (see [`MappingHandle::set_pollers`](super::MappingHandle::set_pollers)).
    pub pollers: usize,
    /// Static partition ownership (default) or a rebalancing consumer group.
    pub poller_mode: PollerMode,
    /// First retry delay after a failed invocation.
    pub retry_initial_backoff: Duration,
    /// Cap of the exponential retry delay.
    pub retry_max_backoff: Duration,
    /// Retries before a failing batch is discarded; `None` retries forever (AWS default).
    pub max_retries: Option<u32>,
    /// The consumer's isolation level (default `read_committed`).
    pub isolation_level: IsolationLevel,
    /// How often to look for new partitions.
    pub metadata_refresh: Duration,
    /// Extra librdkafka settings for the source consumer (security, timeouts, ...); they
    /// override the emulator's defaults, e.g. its prefetch bound
    /// `queued.max.messages.kbytes` = [`DEFAULT_PREFETCH_KBYTES`].
    pub consumer_config: Vec<(String, String)>,
    /// Fault injection.
    pub faults: FaultConfig,
}

impl EsmConfig {
    /// A mapping with AWS defaults: batch size 100, 500 ms window, 6 MB payloads,
    /// `TrimHorizon`, self-managed event source, one poller, retries forever with
    /// 100 ms..5 s backoff, `read_committed`, metadata refresh every 30 s, no faults.
    pub fn new(
        source_bootstrap: impl Into<String>,
        topic: impl Into<String>,
        consumer_group_id: impl Into<String>,
        function_name: impl Into<String>,
    ) -> Self {
        Self {
            source_bootstrap: source_bootstrap.into(),
            topic: topic.into(),
            consumer_group_id: consumer_group_id.into(),
            function_name: function_name.into(),
            batch_size: 100,
            batching_window: Duration::from_millis(500),
            max_payload_bytes: MAX_SYNC_PAYLOAD_BYTES,
            starting_position: StartingPosition::TrimHorizon,
            event_source: EventSource::SelfManaged,
            pollers: 1,
            poller_mode: PollerMode::Static,
            retry_initial_backoff: Duration::from_millis(100),
            retry_max_backoff: Duration::from_secs(5),
            max_retries: None,
            isolation_level: IsolationLevel::ReadCommitted,
            metadata_refresh: Duration::from_secs(30),
            consumer_config: Vec::new(),
            faults: FaultConfig::default(),
        }
    }

    /// A short name for logs: `<function>:<topic>`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.function_name, self.topic)
    }

    /// Checks the limits AWS enforces (and the emulator's own).
    pub fn validate(&self) -> Result<(), EsmError> {
        let fail = |reason: String| {
            Err(EsmError::InvalidConfig {
                mapping: self.label(),
                reason,
            })
        };
        if self.topic.is_empty() || self.topic.contains(',') {
            return fail("exactly one topic is required".to_owned());
        }
        if self.consumer_group_id.is_empty() || self.function_name.is_empty() {
            return fail("consumer group id and function name are required".to_owned());
        }
        if self.source_bootstrap.is_empty() {
            return fail("source bootstrap servers are required".to_owned());
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return fail(format!(
                "batch size {} not in 1..={MAX_BATCH_SIZE}",
                self.batch_size
            ));
        }
        if self.max_payload_bytes == 0 || self.max_payload_bytes > MAX_SYNC_PAYLOAD_BYTES {
            return fail(format!(
                "max payload bytes {} not in 1..={MAX_SYNC_PAYLOAD_BYTES}",
                self.max_payload_bytes
            ));
        }
        if self.pollers == 0 {
            return fail("at least one poller is required".to_owned());
        }
        if self.retry_initial_backoff.is_zero()
            || self.retry_max_backoff < self.retry_initial_backoff
        {
            return fail("retry backoff must be positive and max >= initial".to_owned());
        }
        if !(0.0..=1.0).contains(&self.faults.redeliver_probability) {
            return fail("redeliver probability must be within 0..=1".to_owned());
        }
        if self.metadata_refresh.is_zero() {
            return fail("metadata refresh interval must be positive".to_owned());
        }
        if let Some(every) = self.faults.rebalance_every {
            if self.poller_mode != PollerMode::ConsumerGroup {
                return fail("rebalance_every requires PollerMode::ConsumerGroup".to_owned());
            }
            if every.is_zero() {
                return fail("rebalance_every must be positive".to_owned());
            }
        }
        if self.faults.abandon_after.is_some_and(|d| d.is_zero()) {
            return fail("abandon_after must be positive".to_owned());
        }
        Ok(())
    }

    pub(super) fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.source_bootstrap)
            .set("group.id", &self.consumer_group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("isolation.level", self.isolation_level.as_kafka())
            .set(
                "queued.max.messages.kbytes",
                DEFAULT_PREFETCH_KBYTES.to_string(),
            )
            .set(
                "auto.offset.reset",
                match self.starting_position {
                    StartingPosition::TrimHorizon => "earliest",
                    StartingPosition::Latest => "latest",
                },
            );
        for (k, v) in &self.consumer_config {
            cfg.set(k, v);
        }
        cfg
    }
}

/// Prefetch bound per poller (librdkafka `queued.max.messages.kbytes`; its default is 64 MiB):
/// 8 MiB holds the records of the next full 6 MB payload (~4.4 MB of raw data) while the
/// current one is in flight, so a poller does not wait for the broker between batches, while
/// one poller per partition (12 in the benchmark's backfill) or 100 mappings do not reserve
/// hundreds of MiB of consumer buffers on the host (measured: 16 MiB → 8 MiB took a 12-poller
/// host from 476 to 321 MB peak RSS, with no loss of throughput). It does not change what a
/// batch contains.
pub const DEFAULT_PREFETCH_KBYTES: u32 = 8 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_aws() {
        let c = EsmConfig::new("b:9092", "orders", "g", "mirror");
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.batching_window, Duration::from_millis(500));
        assert_eq!(c.max_payload_bytes, 6 * 1024 * 1024);
        assert_eq!(c.max_retries, None);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validation_rejects_out_of_range_values() {
        let base = EsmConfig::new("b:9092", "orders", "g", "mirror");
        let mut c = base.clone();
        c.batch_size = 10_001;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.batch_size = 0;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.max_payload_bytes = MAX_SYNC_PAYLOAD_BYTES + 1;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.topic = "a,b".into();
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.pollers = 0;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.faults.redeliver_probability = 1.5;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.faults.rebalance_every = Some(Duration::from_secs(1));
        assert!(
            c.validate().is_err(),
            "rebalancing needs the consumer-group mode"
        );
        c.poller_mode = PollerMode::ConsumerGroup;
        assert!(c.validate().is_ok());
        c.faults.rebalance_every = Some(Duration::ZERO);
        assert!(c.validate().is_err());
        let mut c = base;
        c.faults.abandon_after = Some(Duration::ZERO);
        assert!(c.validate().is_err());
    }
}
