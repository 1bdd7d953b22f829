//! [`PollerMode::ConsumerGroup`](super::PollerMode::ConsumerGroup): the emulated group coordinator, its membership and
//! rebalances.

use super::mapping::flatten;
use super::worker::Background;
use super::{sleep_until_opt, EsmError, EventSourceMapping};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A change of a worker's partitions.
#[derive(Debug)]
pub(super) enum Assignment {
    /// Take these partitions (with their ownership epoch; always 0 in static mode).
    Add(Vec<(i32, u64)>),
    /// Give these up (consumer-group mode): their in-flight invocation runs on, their pending
    /// commits are dropped.
    Revoke(Vec<i32>),
}

/// Owner of one partition in the emulated consumer group; the epoch grows with every move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) member: usize,
    pub(super) epoch: u64,
}

/// The emulated group coordinator's state, shared with the workers.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// Held across commits and rebalances, so a commit of a revoked member can never land
    /// after the new owner read the committed offset.
    pub(super) owners: tokio::sync::Mutex<BTreeMap<i32, Owner>>,
}

/// One live group member (its worker task runs in [`GroupRun::workers`]).
struct Member {
    tx: mpsc::UnboundedSender<Assignment>,
    /// Cancelled when the member leaves the group.
    retire: CancellationToken,
}

/// The coordinator side of [`EventSourceMapping::run_group`].
struct GroupRun {
    shared: Arc<Group>,
    members: BTreeMap<usize, Member>,
    next_id: usize,
    generation: u64,
    workers: JoinSet<Result<(), EsmError>>,
    rng: StdRng,
}

impl EventSourceMapping {
    /// [`PollerMode::ConsumerGroup`](super::PollerMode::ConsumerGroup): the emulator is the group coordinator; see the module
    /// docs.
    pub(super) async fn run_group(
        &self,
        shutdown: CancellationToken,
        background: &Background,
    ) -> Result<(), EsmError> {
        let label = self.config.label();
        let stop = shutdown.child_token();
        let mut group = GroupRun {
            shared: Arc::new(Group::default()),
            members: BTreeMap::new(),
            next_id: 0,
            generation: 0,
            workers: JoinSet::new(),
            rng: StdRng::seed_from_u64(self.config.faults.seed),
        };
        let metadata = self.metadata_consumer()?;
        let mut pollers_rx = self.control.inner.pollers.subscribe();
        let mut target = (*pollers_rx.borrow_and_update()).max(1);
        let every = self.config.faults.rebalance_every;
        let mut next_tick = every.map(|d| Instant::now() + d);
        let mut next_refresh = Instant::now();
        let mut known: BTreeSet<i32> = BTreeSet::new();
        let mut warned_missing = false;
        let mut result = Ok(());
        loop {
            // (group size, replace one member)
            let mut rebalance: Option<(usize, bool)> = None;
            tokio::select! {
                () = stop.cancelled() => break,
                Some(joined) = group.workers.join_next() => {
                    // A retired poller finished its last invocation; anything else is fatal.
                    if let Err(err) = flatten(joined) {
                        result = Err(err);
                        break;
                    }
                }
                Ok(()) = pollers_rx.changed() => {
                    target = (*pollers_rx.borrow_and_update()).max(1);
                    rebalance = Some((target, false));
                }
                () = sleep_until_opt(next_tick) => {
                    next_tick = every.map(|d| Instant::now() + d);
                    if !known.is_empty() {
                        let size = group.rng.random_range(1..=target);
                        rebalance = Some((size, true));
                    }
                }
                () = tokio::time::sleep_until(next_refresh) => {
                    // Not waiting for a metadata call blocked on an unreachable cluster.
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
                            let before = known.len();
                            known.extend(partitions);
                            if known.len() > before {
                                let size = if group.members.is_empty() {
                                    target
                                } else {
                                    group.members.len()
                                };
                                rebalance = Some((size, false));
                            }
                        }
                        Err(err) => {
                            tracing::warn!(mapping = %label, error = %err, "partition discovery failed; retrying");
                        }
                    }
                    next_refresh = Instant::now()
                        + if known.is_empty() {
                            Duration::from_secs(1)
                        } else {
                            self.config.metadata_refresh
                        };
                }
            }
            if let Some((size, replace)) = rebalance {
                if let Err(err) = self
                    .rebalance(&mut group, size, replace, &known, &stop, background)
                    .await
                {
                    result = Err(err);
                    break;
                }
            }
        }
        stop.cancel();
        while let Some(outcome) = group.workers.join_next().await {
            let outcome = flatten(outcome);
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    /// One group rebalance: resizes the group to `size` members (retiring random ones, or
    /// replacing one if `replace` and none retired), then spreads `known` round-robin over the
    /// members, rotated by the generation so that partitions move. Revoked partitions are
    /// taken from their old owner (whose in-flight invocation runs on), the new owner gets
    /// them with a new epoch and starts from the committed offset.
    async fn rebalance(
        &self,
        group: &mut GroupRun,
        size: usize,
        replace: bool,
        known: &BTreeSet<i32>,
        stop: &CancellationToken,
        background: &Background,
    ) -> Result<(), EsmError> {
        let size = size.max(1);
        let mut retired = Vec::new();
        while group.members.len() > size
            || (replace && retired.is_empty() && group.members.len() == size && size > 0)
        {
            let ids: Vec<usize> = group.members.keys().copied().collect();
            let id = ids[group.rng.random_range(0..ids.len())];
            if let Some(member) = group.members.remove(&id) {
                member.retire.cancel();
            }
            retired.push(id);
        }
        let mut joined = Vec::new();
        while group.members.len() < size {
            let id = group.next_id;
            group.next_id += 1;
            let (tx, rx) = mpsc::unbounded_channel();
            let retire = stop.child_token();
            let worker = self.worker(id, Some(Arc::clone(&group.shared)), background, rx)?;
            group.workers.spawn(worker.run(retire.clone()));
            group.members.insert(id, Member { tx, retire });
            joined.push(id);
        }
        group.generation += 1;
        let ids: Vec<usize> = group.members.keys().copied().collect();
        let rotate = usize::try_from(group.generation).unwrap_or(0) % ids.len();
        let mut revokes: BTreeMap<usize, Vec<i32>> = BTreeMap::new();
        let mut adds: BTreeMap<usize, Vec<(i32, u64)>> = BTreeMap::new();
        let mut moved = 0usize;
        {
            // Holding the owner table orders this against commits (see `flush_commits`).
            let mut owners = group.shared.owners.lock().await;
            for (i, p) in known.iter().enumerate() {
                let member = ids[(i + rotate) % ids.len()];
                let old = owners.get(p).copied();
                if old.is_some_and(|o| o.member == member) {
                    continue;
                }
                let epoch = old.map_or(0, |o| o.epoch + 1);
                if let Some(o) = old {
                    moved += 1;
                    if group.members.contains_key(&o.member) {
                        revokes.entry(o.member).or_default().push(*p);
                    }
                }
                owners.insert(*p, Owner { member, epoch });
                adds.entry(member).or_default().push((*p, epoch));
            }
            for (id, parts) in revokes {
                if let Some(m) = group.members.get(&id) {
                    // A closed channel: the worker failed; the join reports why.
                    let _ = m.tx.send(Assignment::Revoke(parts));
                }
            }
            for (id, parts) in adds {
                if let Some(m) = group.members.get(&id) {
                    let _ = m.tx.send(Assignment::Add(parts));
                }
            }
        }
        self.stats.rebalances.fetch_add(1, Ordering::Relaxed);
        self.stats.pollers.store(
            u64::try_from(ids.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tracing::info!(mapping = %self.config.label(), generation = group.generation, members = ?ids, ?retired, ?joined, moved, "consumer group rebalanced");
        Ok(())
    }
}
