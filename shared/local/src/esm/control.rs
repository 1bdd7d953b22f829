//! [`MappingHandle`]: a mapping's UUID, `Enabled` switch, batch settings and state.

use super::{EsmConfig, PollerMode, MAX_BATCH_SIZE};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The observable state of a mapping (AWS `State`, the subset a Kafka ESM goes through
/// after creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingState {
    /// Polling.
    Enabled,
    /// Enabled again; some pollers have not resumed yet.
    Enabling,
    /// Disabled; some pollers are still finishing their in-flight batch.
    Disabling,
    /// Not polling; the consumer group keeps its position.
    Disabled,
}

impl MappingState {
    /// The AWS spelling (`Enabled`, `Enabling`, `Disabling`, `Disabled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Enabling => "Enabling",
            Self::Disabling => "Disabling",
            Self::Disabled => "Disabled",
        }
    }
}

/// Shared control handle of one mapping: its UUID, the `Enabled` switch and the settings that
/// `UpdateEventSourceMapping` may change. Cheap to clone; every clone controls the same mapping.
#[derive(Debug, Clone)]
pub struct MappingHandle {
    pub(super) inner: Arc<ControlInner>,
}

#[derive(Debug)]
pub(super) struct ControlInner {
    uuid: String,
    enabled: watch::Sender<bool>,
    /// Pollers currently inside `run`.
    running: AtomicUsize,
    /// Running pollers currently parked because the mapping is disabled.
    paused: AtomicUsize,
    batch_size: AtomicUsize,
    batching_window_ms: AtomicU64,
    /// Target group size ([`PollerMode::ConsumerGroup`]); the static poller count otherwise.
    pub(super) pollers: watch::Sender<usize>,
    poller_mode: PollerMode,
    last_modified: Mutex<SystemTime>,
}

impl MappingHandle {
    pub(super) fn new(config: &EsmConfig) -> Self {
        let (enabled, _) = watch::channel(true);
        Self {
            inner: Arc::new(ControlInner {
                uuid: uuid::Uuid::new_v4().to_string(),
                enabled,
                running: AtomicUsize::new(0),
                paused: AtomicUsize::new(0),
                batch_size: AtomicUsize::new(config.batch_size),
                batching_window_ms: AtomicU64::new(
                    u64::try_from(config.batching_window.as_millis()).unwrap_or(u64::MAX),
                ),
                pollers: watch::channel(config.pollers).0,
                poller_mode: config.poller_mode,
                last_modified: Mutex::new(SystemTime::now()),
            }),
        }
    }

    /// The number of pollers: the static count, or the consumer group's target size.
    pub fn pollers(&self) -> usize {
        *self.inner.pollers.borrow()
    }

    /// Scales the consumer group to `pollers` members ([`PollerMode::ConsumerGroup`] only):
    /// the group rebalances at once, revoked partitions' in-flight invocations run to their
    /// end while the new owners start from the committed offsets. With
    /// [`FaultConfig::rebalance_every`](super::FaultConfig::rebalance_every) this is the upper bound of the random group size.
    pub fn set_pollers(&self, pollers: usize) -> Result<(), String> {
        if self.inner.poller_mode != PollerMode::ConsumerGroup {
            return Err("scaling pollers requires PollerMode::ConsumerGroup".to_owned());
        }
        if pollers == 0 {
            return Err("at least one poller is required".to_owned());
        }
        self.inner.pollers.send_replace(pollers);
        self.touch();
        Ok(())
    }

    /// The mapping's UUID (random, fixed for the mapping's lifetime).
    pub fn uuid(&self) -> &str {
        &self.inner.uuid
    }

    /// Whether the mapping is meant to poll (the `Enabled` setting).
    pub fn is_enabled(&self) -> bool {
        *self.inner.enabled.borrow()
    }

    /// Enables or disables the mapping; see the module docs. Returns whether this changed it.
    pub fn set_enabled(&self, enabled: bool) -> bool {
        let changed = self.inner.enabled.send_if_modified(|current| {
            let changed = *current != enabled;
            *current = enabled;
            changed
        });
        if changed {
            self.touch();
        }
        changed
    }

    /// The current state: `Disabling` / `Enabling` while pollers still catch up.
    pub fn state(&self) -> MappingState {
        let running = self.inner.running.load(Ordering::SeqCst);
        let paused = self.inner.paused.load(Ordering::SeqCst);
        match (self.is_enabled(), paused) {
            (true, 0) => MappingState::Enabled,
            (true, _) => MappingState::Enabling,
            (false, p) if p >= running => MappingState::Disabled,
            (false, _) => MappingState::Disabling,
        }
    }

    /// The current `BatchSize`.
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size.load(Ordering::Relaxed)
    }

    /// Changes `BatchSize` from the next batch on (`1..=`[`MAX_BATCH_SIZE`]).
    pub fn set_batch_size(&self, batch_size: usize) -> Result<(), String> {
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(format!(
                "BatchSize {batch_size} not in 1..={MAX_BATCH_SIZE}"
            ));
        }
        self.inner.batch_size.store(batch_size, Ordering::Relaxed);
        self.touch();
        Ok(())
    }

    /// The current batching window.
    pub fn batching_window(&self) -> Duration {
        Duration::from_millis(self.inner.batching_window_ms.load(Ordering::Relaxed))
    }

    /// Changes the batching window from the next batch on (AWS allows 0..=300 s).
    pub fn set_batching_window(&self, window: Duration) -> Result<(), String> {
        if window > Duration::from_secs(300) {
            return Err(format!(
                "MaximumBatchingWindowInSeconds {} not in 0..=300",
                window.as_secs()
            ));
        }
        self.inner.batching_window_ms.store(
            u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.touch();
        Ok(())
    }

    /// When the settings last changed (creation time at first).
    pub fn last_modified(&self) -> SystemTime {
        *self
            .inner
            .last_modified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self) {
        *self
            .inner
            .last_modified
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = SystemTime::now();
    }

    /// Counts a poller as running until the guard drops.
    pub(super) fn running_guard(&self) -> CounterGuard {
        CounterGuard::enter(Arc::clone(&self.inner), |c| &c.running)
    }

    /// Parks until the mapping is enabled (counted as paused meanwhile); `false` on shutdown.
    pub(super) async fn wait_enabled(&self, shutdown: &CancellationToken) -> bool {
        let mut rx = self.inner.enabled.subscribe();
        if *rx.borrow_and_update() {
            return true;
        }
        let _paused = CounterGuard::enter(Arc::clone(&self.inner), |c| &c.paused);
        tokio::select! {
            () = shutdown.cancelled() => false,
            // The sender lives in `inner`, which this function keeps alive.
            changed = rx.wait_for(|enabled| *enabled) => changed.is_ok(),
        }
    }

    /// Resolves once the mapping is disabled.
    pub(super) async fn disabled(&self) {
        let mut rx = self.inner.enabled.subscribe();
        if rx.wait_for(|enabled| !*enabled).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Increments one of the control's counters for its lifetime.
pub(super) struct CounterGuard {
    inner: Arc<ControlInner>,
    counter: fn(&ControlInner) -> &AtomicUsize,
}

impl CounterGuard {
    fn enter(inner: Arc<ControlInner>, counter: fn(&ControlInner) -> &AtomicUsize) -> Self {
        counter(&inner).fetch_add(1, Ordering::SeqCst);
        Self { inner, counter }
    }
}

impl Drop for CounterGuard {
    fn drop(&mut self) {
        (self.counter)(&self.inner).fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_pollers_needs_the_consumer_group_mode() {
        let mut c = EsmConfig::new("b:9092", "orders", "g", "mirror");
        c.pollers = 2;
        let control = MappingHandle::new(&c);
        assert!(control.set_pollers(3).is_err());
        assert_eq!(control.pollers(), 2);
        c.poller_mode = PollerMode::ConsumerGroup;
        let control = MappingHandle::new(&c);
        assert!(control.set_pollers(0).is_err());
        control.set_pollers(5).unwrap();
        assert_eq!(control.pollers(), 5);
    }
}
