//! [`EsmStats`]: live counters of a mapping, including in-flight overlap tracking.

use super::Batch;
use crate::invoke::InvokeError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Live counters of one mapping (cheap to share; read with [`EsmStats::snapshot`]).
#[derive(Debug, Default)]
pub struct EsmStats {
    pub(super) invocations: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) records: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) redeliveries: AtomicU64,
    pub(super) redelivered_records: AtomicU64,
    pub(super) discarded_batches: AtomicU64,
    pub(super) discarded_records: AtomicU64,
    pub(super) commits: AtomicU64,
    pub(super) commit_failures: AtomicU64,
    pub(super) rejected_commits: AtomicU64,
    pub(super) revoked_batches: AtomicU64,
    pub(super) rebalances: AtomicU64,
    pub(super) pollers: AtomicU64,
    pub(super) overlapping_invocations: AtomicU64,
    pub(super) abandoned_invocations: AtomicU64,
    pub(super) in_flight_invocations: AtomicU64,
    /// Invocations in flight per partition (an abandoned invocation counts until it ends).
    in_flight: Mutex<BTreeMap<i32, u32>>,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy of [`EsmStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EsmStatsSnapshot {
    /// Invocations attempted.
    pub invocations: u64,
    /// Batches the function accepted (including redelivered ones).
    pub batches: u64,
    /// Records in accepted batches (duplicates from redelivery counted again).
    pub records: u64,
    /// Failed invocations.
    pub failures: u64,
    /// Invocations that retried a failed batch.
    pub retries: u64,
    /// Successful batches deliberately delivered again (fault knob).
    pub redeliveries: u64,
    /// Records in those batches.
    pub redelivered_records: u64,
    /// Batches given up after `max_retries`.
    pub discarded_batches: u64,
    /// Records in those batches.
    pub discarded_records: u64,
    /// Successful offset commits.
    pub commits: u64,
    /// Failed offset commits (after local retries).
    pub commit_failures: u64,
    /// Commits refused because a partition in them was revoked from the committing poller
    /// ([`PollerMode::ConsumerGroup`](super::PollerMode::ConsumerGroup); Kafka's `CommitFailedException`); their offsets of
    /// revoked partitions are dropped, the new owner delivers those records again.
    pub rejected_commits: u64,
    /// Invocations that ended after one of their partitions had been revoked (their result
    /// counts only for the partitions still owned; a failed one is not retried).
    pub revoked_batches: u64,
    /// Group rebalances (the first assignment and new partitions included); always 0 in
    /// [`PollerMode::Static`](super::PollerMode::Static).
    pub rebalances: u64,
    /// Current group size ([`PollerMode::ConsumerGroup`](super::PollerMode::ConsumerGroup)) or the static poller count.
    pub pollers: u64,
    /// Invocations that started while another invocation of one of their partitions was
    /// still in flight (after a rebalance or an abandoned invocation).
    pub overlapping_invocations: u64,
    /// Invocations the poller stopped waiting for ([`FaultConfig::abandon_after`](super::FaultConfig::abandon_after)); each is
    /// also counted in `failures` and its batch retried while it keeps running.
    pub abandoned_invocations: u64,
    /// Invocations currently in flight, abandoned ones included.
    pub in_flight_invocations: u64,
    /// The most recent invocation error, if any.
    pub last_error: Option<String>,
}

impl EsmStats {
    /// Reads all counters.
    pub fn snapshot(&self) -> EsmStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EsmStatsSnapshot {
            invocations: get(&self.invocations),
            batches: get(&self.batches),
            records: get(&self.records),
            failures: get(&self.failures),
            retries: get(&self.retries),
            redeliveries: get(&self.redeliveries),
            redelivered_records: get(&self.redelivered_records),
            discarded_batches: get(&self.discarded_batches),
            discarded_records: get(&self.discarded_records),
            commits: get(&self.commits),
            commit_failures: get(&self.commit_failures),
            rejected_commits: get(&self.rejected_commits),
            revoked_batches: get(&self.revoked_batches),
            rebalances: get(&self.rebalances),
            pollers: get(&self.pollers),
            overlapping_invocations: get(&self.overlapping_invocations),
            abandoned_invocations: get(&self.abandoned_invocations),
            in_flight_invocations: get(&self.in_flight_invocations),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    pub(super) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Marks `batch`'s partitions in flight until the guard drops; counts an overlap when one
    /// of them already was.
    pub(super) fn enter_flight(self: &Arc<Self>, batch: &Batch) -> InFlight {
        let partitions: Vec<i32> = batch.partitions.iter().map(|r| r.partition).collect();
        let mut overlap = false;
        {
            let mut map = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for p in &partitions {
                let n = map.entry(*p).or_insert(0);
                overlap |= *n > 0;
                *n += 1;
            }
        }
        if overlap {
            self.overlapping_invocations.fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight_invocations.fetch_add(1, Ordering::Relaxed);
        InFlight {
            stats: Arc::clone(self),
            partitions,
        }
    }

    pub(super) fn set_last_error(&self, err: &InvokeError) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(err.to_string());
    }
}

/// One invocation in flight (see [`EsmStats::enter_flight`]).
pub(super) struct InFlight {
    stats: Arc<EsmStats>,
    partitions: Vec<i32>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self
            .stats
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for p in &self.partitions {
            if let Some(n) = map.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    map.remove(p);
                }
            }
        }
        drop(map);
        self.stats
            .in_flight_invocations
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esm::PartitionRange;

    #[test]
    fn in_flight_tracking_counts_overlaps() {
        let stats = Arc::new(EsmStats::default());
        let batch = |parts: &[i32]| Batch {
            payload: bytes::Bytes::new(),
            records: parts.len(),
            partitions: parts
                .iter()
                .map(|&partition| PartitionRange {
                    partition,
                    first_offset: 0,
                    last_offset: 0,
                    records: 1,
                })
                .collect(),
        };
        let a = stats.enter_flight(&batch(&[0, 1]));
        let b = stats.enter_flight(&batch(&[2]));
        assert_eq!(stats.snapshot().overlapping_invocations, 0);
        let c = stats.enter_flight(&batch(&[1, 3]));
        assert_eq!(stats.snapshot().overlapping_invocations, 1);
        assert_eq!(stats.snapshot().in_flight_invocations, 3);
        drop((a, c));
        let d = stats.enter_flight(&batch(&[1]));
        assert_eq!(stats.snapshot().overlapping_invocations, 1);
        drop((b, d));
        assert_eq!(stats.snapshot().in_flight_invocations, 0);
        assert!(stats.in_flight.lock().unwrap().is_empty());
    }
}
