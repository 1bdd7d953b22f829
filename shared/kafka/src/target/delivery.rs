//! Per-batch delivery handling for the mirror's producers ([`MirrorProducer`]).
//!
//! rdkafka's `FutureProducer` allocates a oneshot channel per record and wakes a future per
//! delivery report: for a batch of 4,000 records, 4,000 allocations, channel sends and wakes.
//! The mirror only needs, per produce call, every record's target offset (or the first
//! failure) once all are settled. So its producers ([`MirrorProducer`]) are rdkafka
//! `BaseProducer`s polled by a thread of their own, with
//! [`BatchContext`], a [`ProducerContext`] whose delivery opaque is a plain integer naming a
//! registered [`Batch`] and the record's index in it:
//!
//! * [`BatchContext::register`] registers a batch of `n` records and returns its [`Batch`]
//!   handle (unregistered on drop);
//! * each record is sent with [`Batch::opaque`]`(index)` (no allocation);
//! * librdkafka's delivery report (on the producer's polling thread) writes the offset or the
//!   error into the batch's slot for that index; the last one wakes the waiting task;
//! * [`Batch::settled`] waits until every record that was enqueued has a report, then hands
//!   back the outcomes in record order.
//!
//! The context delegates everything else ([`ClientContext`]: logs, errors, OAUTHBEARER tokens)
//! to the connection's [`FerryContext`].

use crate::auth::FerryContext;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::error::KafkaError;
use rdkafka::error::KafkaResult;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, ProducerContext};
use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::Notify;

/// How long one call of the polling thread waits for events: 100 ms plus a margin over the
/// sub-millisecond time spent before rdkafka converts the wait to whole milliseconds.
///
/// rdkafka's `BaseProducer::poll` (0.39) passes the time left before its deadline to librdkafka
/// truncated to whole milliseconds and calls again until the deadline has passed. With a round
/// 100 ms (rdkafka's `ThreadedProducer`), the first wait is 99 ms and the remaining fraction of
/// a millisecond is spent calling librdkafka with a zero timeout in a loop: about 1 % of a core
/// per producer, and 30 % of the mirror's CPU samples in the W1 profile (session 11) with a
/// dozen producers per sandbox. With 20 µs more, the first wait is 100 ms and ends past the
/// deadline (waking up takes longer than 20 µs), so the loop ends at once.
const POLL_INTERVAL: Duration = Duration::from_micros(100_020);

/// The mirror's producer: librdkafka's producer with per-batch delivery reports
/// ([`BatchContext`]), polled by a thread of its own every [`POLL_INTERVAL`] (what rdkafka's
/// `ThreadedProducer` does, without its busy wait). Derefs to the [`BaseProducer`]; dropping it
/// stops the thread, then the producer purges and flushes as rdkafka's drop does.
pub(crate) struct MirrorProducer {
    producer: Arc<BaseProducer<BatchContext>>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl MirrorProducer {
    /// Builds the producer from `config` and starts its polling thread.
    pub(crate) fn new(config: &ClientConfig, context: BatchContext) -> KafkaResult<Self> {
        let producer = Arc::new(BaseProducer::from_config_and_context(config, context)?);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let producer = Arc::clone(&producer);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("ferry producer poll".to_owned())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        producer.poll(POLL_INTERVAL);
                    }
                })
                .map_err(|e| {
                    KafkaError::ClientCreation(format!("cannot start the polling thread: {e}"))
                })?
        };
        Ok(Self {
            producer,
            stop,
            poller: Some(poller),
        })
    }
}

impl std::ops::Deref for MirrorProducer {
    type Target = BaseProducer<BatchContext>;

    fn deref(&self) -> &Self::Target {
        &self.producer
    }
}

impl Drop for MirrorProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            if poller.join().is_err() {
                tracing::warn!("the producer's polling thread panicked");
            }
        }
    }
}

/// Bits of the delivery opaque that hold the record index (the rest: the batch id).
const INDEX_BITS: u32 = 32;

/// One record's outcome: its target offset, or why it failed.
pub(crate) type Outcome = Result<i64, KafkaError>;

/// The delivery reports of one produce call.
#[derive(Debug)]
struct Slots {
    outcomes: Vec<Option<Outcome>>,
    /// Reports still expected for the records enqueued so far.
    pending: usize,
    /// The producer waits for queue space: wake it on the next report.
    wants_progress: bool,
}

#[derive(Debug)]
struct BatchState {
    slots: Mutex<Slots>,
    /// A report failed (the producer stops enqueueing).
    failed: AtomicBool,
    /// Woken by every report that settles the batch or fails a record, and whenever a record
    /// is delivered while the producer waits for queue space.
    progress: Notify,
}

impl BatchState {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`ProducerContext`] of [`MirrorProducer`]: per-batch delivery reports (see the module doc).
pub struct BatchContext {
    inner: FerryContext,
    next_id: AtomicU32,
    batches: Mutex<HashMap<u32, Arc<BatchState>>>,
}

impl BatchContext {
    /// The context for a connection's [`FerryContext`].
    pub(crate) fn new(inner: FerryContext) -> Self {
        Self {
            inner,
            next_id: AtomicU32::new(1),
            batches: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a produce call of `records` records.
    pub(crate) fn register(self: &Arc<Self>, records: usize) -> Batch {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(BatchState {
            slots: Mutex::new(Slots {
                outcomes: (0..records).map(|_| None).collect(),
                pending: 0,
                wants_progress: false,
            }),
            failed: AtomicBool::new(false),
            progress: Notify::new(),
        });
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&state));
        Batch {
            id,
            state,
            context: Arc::clone(self),
        }
    }

    /// Batches registered now (tests).
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl ClientContext for BatchContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = FerryContext::ENABLE_REFRESH_OAUTH_TOKEN;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.inner.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.error(error, reason);
    }

    fn generate_oauth_token(
        &self,
        oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn Error>> {
        self.inner.generate_oauth_token(oauthbearer_config)
    }
}

impl ProducerContext for BatchContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (id, index) = split(opaque);
        let state = self
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        // A report for a batch that is gone: its call was cancelled (dropped) while records
        // were in flight; nobody waits for it.
        let Some(state) = state else {
            return;
        };
        let outcome = match result {
            Ok(message) => Ok(message.offset()),
            Err((error, _)) => Err(error.clone()),
        };
        let wake = {
            let mut guard = state.slots();
            let slots = &mut *guard;
            let failed = outcome.is_err();
            if let Some(slot) = slots.outcomes.get_mut(index) {
                if slot.is_none() {
                    slots.pending = slots.pending.saturating_sub(1);
                }
                *slot = Some(outcome);
            }
            if failed {
                state.failed.store(true, Ordering::Release);
            }
            let wake = failed || slots.pending == 0 || slots.wants_progress;
            slots.wants_progress = false;
            wake
        };
        if wake {
            state.progress.notify_one();
        }
    }
}

fn split(opaque: usize) -> (u32, usize) {
    let opaque = opaque as u64;
    #[allow(clippy::cast_possible_truncation)]
    let id = (opaque >> INDEX_BITS) as u32;
    let index = (opaque & ((1u64 << INDEX_BITS) - 1)) as usize;
    (id, index)
}

/// A registered produce call (see the module doc). Unregistered when dropped.
pub(crate) struct Batch {
    id: u32,
    state: Arc<BatchState>,
    context: Arc<BatchContext>,
}

impl Batch {
    /// The delivery opaque of record `index`. Counts the record as enqueued: call it only for
    /// a send that succeeds, or call [`Batch::not_sent`] when it does not.
    pub(crate) fn opaque(&self, index: usize) -> usize {
        self.state.slots().pending += 1;
        let opaque = (u64::from(self.id) << INDEX_BITS) | (index as u64 & 0xFFFF_FFFF);
        usize::try_from(opaque).unwrap_or(usize::MAX)
    }

    /// Record `index`'s send was refused after [`Batch::opaque`]: no report will come.
    pub(crate) fn not_sent(&self) {
        let mut slots = self.state.slots();
        slots.pending = slots.pending.saturating_sub(1);
    }

    /// Whether a delivery failed so far.
    pub(crate) fn failed(&self) -> bool {
        self.state.failed.load(Ordering::Acquire)
    }

    /// Waits up to `max` for a report (librdkafka's queue was full: space frees as records
    /// are delivered).
    pub(crate) async fn wait_for_progress(&self, max: std::time::Duration) {
        let notified = self.state.progress.notified();
        {
            let mut slots = self.state.slots();
            if slots.pending == 0 || self.failed() {
                return;
            }
            slots.wants_progress = true;
        }
        let _ = tokio::time::timeout(max, notified).await;
    }

    /// Waits until every enqueued record has its report; the outcomes in record order
    /// (`None`: never enqueued).
    pub(crate) async fn settled(self) -> Vec<Option<Outcome>> {
        loop {
            // Register interest before checking, so a report between the check and the wait
            // still wakes this task.
            let notified = self.state.progress.notified();
            {
                let mut slots = self.state.slots();
                if slots.pending == 0 {
                    return std::mem::take(&mut slots.outcomes);
                }
            }
            notified.await;
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.context
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_settle_when_nothing_is_pending_and_unregister_on_drop() {
        let context = Arc::new(BatchContext::new(FerryContext::default()));
        let batch = context.register(3);
        let second = context.register(1);
        assert_eq!(context.registered(), 2);
        let opaque = batch.opaque(0);
        assert_eq!(split(opaque).1, 0);
        assert_ne!(split(opaque).0, split(second.opaque(0)).0, "ids differ");
        // The send was refused: no report will come, so the batch is settled.
        batch.not_sent();
        assert!(!batch.failed());
        batch
            .wait_for_progress(std::time::Duration::from_secs(5))
            .await;
        let outcomes = batch.settled().await;
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(Option::is_none));
        assert_eq!(context.registered(), 1);
        drop(second);
        assert_eq!(context.registered(), 0);
    }

    #[test]
    fn opaques_name_the_batch_and_the_index() {
        for (id, index) in [(1u32, 0usize), (7, 3_999), (u32::MAX, 0xFFFF_FFFF)] {
            let opaque = (u64::from(id) << INDEX_BITS) | index as u64;
            assert_eq!(split(opaque as usize), (id, index));
        }
    }
}
