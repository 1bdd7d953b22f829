//! The demo's sample applications: producers and consumer groups that follow the migration.
//!
//! Real services would learn "where do I produce / consume now" from their deployment pipeline
//! or a feature flag; in the demo they poll the migration's state document (the same one
//! `ferry cutover status` shows, [`ferry_core::migration::MigrationState`]):
//!
//! * a **producer** (one per topic) writes sequence-numbered records (`seq` in the value, the
//!   record for `seq` goes to partition `seq % partitions`) to the cluster
//!   [`MigrationState::producers`] names; while `paused` it holds its next records back
//!   (nothing is lost, they are delayed until producers are released to the target);
//! * a **consumer group** (every group consumes every demo topic) consumes from the cluster its
//!   group phase names; when asked to stop it commits what it processed and leaves the group;
//!   when moved it joins the same group on the target, which resumes at the offsets the
//!   cutover committed there. Each consumer checks **itself** that every partition's sequence
//!   continues with no gap and no duplicate across the move.

use ferry_aws::DynamoStateStore;
use ferry_core::migration::{Cluster, MigrationState, ProducerPhase};
use ferry_core::ports::MigrationStore;
use ferry_kafka::{FerryContext, FerryProducer, FerryStreamConsumer};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the applications re-read the migration state.
const POLL: Duration = Duration::from_millis(300);

/// Follows the migration's state document and publishes it to the applications.
pub async fn watch_migration(
    store: DynamoStateStore,
    id: String,
    tx: watch::Sender<Option<MigrationState>>,
    cancel: CancellationToken,
) {
    while !cancel.is_cancelled() {
        if let Ok(Some(doc)) = store.load_migration(&id).await {
            if let Ok(state) = serde_json::from_str::<MigrationState>(&doc.value) {
                tx.send_replace(Some(state));
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Bootstrap servers of both clusters.
#[derive(Debug, Clone)]
pub struct Clusters {
    /// Source.
    pub source: String,
    /// Target.
    pub target: String,
}

impl Clusters {
    fn of(&self, c: Cluster) -> &str {
        match c {
            Cluster::Source => &self.source,
            Cluster::Target => &self.target,
        }
    }
}

/// What a producer wrote where.
#[derive(Debug, Default)]
pub struct ProducerStats {
    /// Records written to the source.
    pub to_source: AtomicU64,
    /// Records written to the target.
    pub to_target: AtomicU64,
}

impl ProducerStats {
    /// Total records written.
    pub fn total(&self) -> u64 {
        self.to_source.load(Ordering::Relaxed) + self.to_target.load(Ordering::Relaxed)
    }
}

fn producer(bootstrap: &str) -> anyhow::Result<FerryProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "ferry-demo-producer")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(FerryContext::default())?)
}

/// Enqueues demo record `seq` (partition `seq % partitions`), waiting while the local queue is
/// full; the returned future resolves with its delivery report.
pub async fn enqueue(
    client: &FerryProducer,
    topic: &str,
    partitions: i32,
    seq: u64,
) -> anyhow::Result<DeliveryFuture> {
    let key = format!("k{seq}");
    let value = format!("{{\"seq\":{seq},\"topic\":\"{topic}\"}}");
    let partition = (seq % partitions as u64) as i32;
    loop {
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(&key)
            .payload(&value);
        match client.send_result(record) {
            Ok(f) => return Ok(f),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => anyhow::bail!("produce to {topic}: {e}"),
        }
    }
}

/// Waits for every delivery report; fails on the first failed delivery.
pub async fn await_all(sends: Vec<DeliveryFuture>, topic: &str) -> anyhow::Result<()> {
    for r in futures::future::join_all(sends).await {
        match r {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => anyhow::bail!("produce to {topic}: {e}"),
            Err(_) => anyhow::bail!("produce to {topic}: the producer went away"),
        }
    }
    Ok(())
}

/// Produces `rate` records/s to `topic` (`partitions` partitions), starting at sequence
/// `first_seq`, to whichever cluster the migration says, until `cancel`. Each tick's records are
/// all delivered before the next tick looks at the migration state again, so a pause or a
/// switch never leaves a record in flight to the old cluster.
#[allow(clippy::too_many_arguments)]
pub async fn run_producer(
    clusters: Clusters,
    topic: String,
    partitions: i32,
    first_seq: u64,
    rate: u64,
    signals: watch::Receiver<Option<MigrationState>>,
    stats: Arc<ProducerStats>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let source = producer(&clusters.source)?;
    let target = producer(&clusters.target)?;
    let tick = Duration::from_millis(100);
    let per_tick = (rate / 10).max(1);
    let mut seq = first_seq;
    let mut interval = tokio::time::interval(tick);
    while !cancel.is_cancelled() {
        interval.tick().await;
        let phase = signals
            .borrow()
            .as_ref()
            .map_or(ProducerPhase::Source, |s| s.producers);
        let (client, counter) = match phase {
            ProducerPhase::Source => (&source, &stats.to_source),
            ProducerPhase::Target => (&target, &stats.to_target),
            ProducerPhase::Paused => continue,
        };
        let mut sends = Vec::with_capacity(per_tick as usize);
        for _ in 0..per_tick {
            sends.push(enqueue(client, &topic, partitions, seq).await?);
            seq += 1;
        }
        await_all(sends, &topic).await?;
        counter.fetch_add(per_tick, Ordering::Relaxed);
    }
    Ok(())
}

/// What one consumer group saw.
#[derive(Debug, Default)]
pub struct ConsumerReport {
    /// Records consumed per topic.
    pub consumed: BTreeMap<String, u64>,
    /// Records consumed from each cluster.
    pub from_source: u64,
    /// Records consumed from the target.
    pub from_target: u64,
    /// Gaps and duplicates the consumer detected (empty = exactly once, in order).
    pub violations: Vec<String>,
    /// Cluster switches (`source->stopped`, `stopped->target`, ...).
    pub switches: Vec<String>,
    /// Where the consumer is now.
    pub on: Option<Cluster>,
}

fn seq_of(payload: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("seq")?.as_u64()
}

fn consumer(
    bootstrap: &str,
    group: &str,
    topics: &[String],
) -> anyhow::Result<FerryStreamConsumer> {
    let c: FerryStreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", "ferry-demo-consumer")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "10000")
        .create_with_context(FerryContext::default())?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    c.subscribe(&names)?;
    Ok(c)
}

/// Runs consumer group `group` over `topics` (partition counts in `partitions`), following the
/// migration, until `cancel`. Checks per partition that sequences continue exactly.
pub async fn run_consumer_group(
    clusters: Clusters,
    group: String,
    partitions: HashMap<String, i32>,
    signals: watch::Receiver<Option<MigrationState>>,
    report: Arc<Mutex<ConsumerReport>>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let topics: Vec<String> = partitions.keys().cloned().collect();
    let mut current: Option<(Cluster, FerryStreamConsumer)> = None;
    let mut last: HashMap<(String, i32), u64> = HashMap::new();
    while !cancel.is_cancelled() {
        let wanted = signals
            .borrow()
            .as_ref()
            .and_then(|s| s.groups.get(&group).map(|g| g.phase.cluster()))
            .unwrap_or(Some(Cluster::Source));
        let have = current.as_ref().map(|(c, _)| *c);
        if wanted != have {
            if let Some((_, c)) = current.take() {
                // Commit exactly what was processed, then leave the group.
                let _ = c.commit_consumer_state(CommitMode::Sync);
                c.unsubscribe();
                drop(c);
            }
            if let Some(cluster) = wanted {
                current = Some((cluster, consumer(clusters.of(cluster), &group, &topics)?));
            }
            let mut r = report.lock().unwrap_or_else(PoisonError::into_inner);
            r.switches.push(format!("{have:?} -> {wanted:?}"));
            r.on = wanted;
        }
        let Some((cluster, c)) = current.as_ref() else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let msg = match tokio::time::timeout(Duration::from_millis(100), c.recv()).await {
            Err(_) => continue,
            Ok(Err(e)) => {
                tracing::debug!(group, error = %e, "demo consumer error");
                continue;
            }
            Ok(Ok(m)) => m,
        };
        let topic = msg.topic().to_string();
        let partition = msg.partition();
        let n = i64::from(partitions.get(&topic).copied().unwrap_or(1)) as u64;
        let seq = msg.payload().and_then(seq_of);
        {
            let mut r = report.lock().unwrap_or_else(PoisonError::into_inner);
            match seq {
                None => r.violations.push(format!(
                    "{topic}-{partition}@{}: not a demo record",
                    msg.offset()
                )),
                Some(seq) => {
                    let key = (topic.clone(), partition);
                    let prev = last.get(&key).copied();
                    let expected = prev.map_or(partition as u64, |l| l + n);
                    if seq != expected {
                        let what = if seq < expected { "duplicate" } else { "gap" };
                        r.violations.push(format!(
                            "{what} on {topic}-{partition} ({cluster:?} offset {}): expected seq {expected}, got {seq}",
                            msg.offset()
                        ));
                    }
                    last.insert(key, prev.map_or(seq, |p| p.max(seq)));
                    *r.consumed.entry(topic.clone()).or_default() += 1;
                    match cluster {
                        Cluster::Source => r.from_source += 1,
                        Cluster::Target => r.from_target += 1,
                    }
                }
            }
        }
        c.store_offset_from_message(&msg)?;
    }
    if let Some((_, c)) = current.take() {
        let _ = c.commit_consumer_state(CommitMode::Sync);
    }
    Ok(())
}
