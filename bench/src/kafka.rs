//! Kafka helpers of the benchmark: topics, the workload producer, the completion watcher (target
//! end offsets) and the latency consumer (record CreateTime → readable on the target).

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Size of every record value.
pub const VALUE_BYTES: usize = 1024;

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("cannot create an admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))
}

/// Creates topics with `partitions` partitions (CreateTime) and waits until they have leaders.
pub async fn create_topics(
    bootstrap: &str,
    names: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin = admin(bootstrap)?;
    for chunk in names.chunks(50) {
        let topics: Vec<NewTopic> = chunk
            .iter()
            .map(|n| {
                NewTopic::new(n, partitions, TopicReplication::Fixed(1))
                    .set("message.timestamp.type", "CreateTime")
            })
            .collect();
        let results = admin.create_topics(&topics, &options()).await?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    anyhow::bail!("cannot create topic {name} on {bootstrap}: {code}")
                }
            }
        }
    }
    // Wait for leaders: watermarks answer once every partition is led.
    let consumer = consumer(bootstrap, "ferry-bench-meta")?;
    let deadline = Instant::now() + Duration::from_secs(180);
    for name in names {
        for p in 0..partitions {
            loop {
                match consumer.fetch_watermarks(name, p, Duration::from_secs(5)) {
                    Ok(_) => break,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100));
                        // librdkafka keeps answering "unknown partition" from a cached
                        // metadata entry taken while the topic was still being created
                        // (seen for a W3 topic for the whole 180 s): ask the cluster again.
                        let _ = consumer.fetch_metadata(Some(name), Duration::from_secs(5));
                    }
                    Err(e) => return Err(e).with_context(|| format!("{name}-{p} has no leader")),
                }
            }
        }
    }
    Ok(())
}

/// Deletes topics (missing ones are fine).
pub async fn delete_topics(bootstrap: &str, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let admin = admin(bootstrap)?;
    for chunk in names.chunks(50) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for r in admin.delete_topics(&refs, &options()).await? {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((name, code)) => eprintln!("warning: cannot delete topic {name}: {code}"),
            }
        }
    }
    Ok(())
}

/// Topic names on a cluster that contain `needle`.
pub fn list_topics(bootstrap: &str, needle: &str) -> anyhow::Result<Vec<String>> {
    let consumer = consumer(bootstrap, "ferry-bench-meta")?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(md
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|n| n.contains(needle))
        .collect())
}

/// Deletes the consumer groups whose id contains `needle` (best effort); returns how many.
pub async fn delete_groups(bootstrap: &str, needle: &str) -> anyhow::Result<usize> {
    let consumer = consumer(bootstrap, "ferry-bench-meta")?;
    let list = consumer.fetch_group_list(None, Duration::from_secs(10))?;
    let names: Vec<String> = list
        .groups()
        .iter()
        .map(|g| g.name().to_owned())
        .filter(|n| n.contains(needle))
        .collect();
    if names.is_empty() {
        return Ok(0);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = admin(bootstrap)?.delete_groups(&refs, &options()).await?;
    Ok(results.iter().filter(|r| r.is_ok()).count())
}

/// A plain consumer (no group membership; assignment only).
pub fn consumer(bootstrap: &str, group: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1")
        .create()
        .context("cannot create a consumer")
}

/// Sum of the end offsets of every partition of `topics`.
pub fn end_offsets_sum(
    consumer: &BaseConsumer,
    topics: &[String],
    partitions: i32,
) -> Result<i64, KafkaError> {
    let mut sum = 0;
    for t in topics {
        for p in 0..partitions {
            sum += consumer.fetch_watermarks(t, p, Duration::from_secs(5))?.1;
        }
    }
    Ok(sum)
}

/// A deterministic, incompressible-looking value source.
fn value_pool() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// How records are produced to the source.
#[derive(Debug, Clone)]
pub struct ProduceSpec {
    /// Source bootstrap servers.
    pub bootstrap: String,
    /// Topics, filled round-robin.
    pub topics: Vec<String>,
    /// Partitions per topic, filled round-robin.
    pub partitions: i32,
    /// Records in total.
    pub records: u64,
    /// Records per second; `None` = as fast as possible.
    pub rate: Option<f64>,
    /// Key prefix (`w` warm-up, `m` measured).
    pub key_prefix: &'static str,
}

/// Produces the records (blocking; run it on a thread). Every record: key `<prefix><n>`,
/// a 1 KiB value, CreateTime = the moment of `produce()`.
pub fn produce(spec: &ProduceSpec) -> anyhow::Result<Duration> {
    let paced = spec.rate.is_some();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &spec.bootstrap)
        .set("acks", "all")
        .set("linger.ms", if paced { "0" } else { "10" })
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .context("cannot create the workload producer")?;
    let pool = value_pool();
    let started = Instant::now();
    let slots = spec.topics.len() as u64 * spec.partitions as u64;
    for n in 0..spec.records {
        if let Some(rate) = spec.rate {
            let due = started + Duration::from_secs_f64(n as f64 / rate);
            let now = Instant::now();
            if due > now {
                producer.poll(Duration::ZERO);
                std::thread::sleep(due - now);
            }
        }
        let slot = n % slots;
        let topic = &spec.topics[(slot / spec.partitions as u64) as usize];
        let partition = (slot % spec.partitions as u64) as i32;
        let key = format!("{}{n}", spec.key_prefix);
        let start = ((n * 7919) as usize * 13) % (pool.len() - VALUE_BYTES);
        let value = &pool[start..start + VALUE_BYTES];
        let mut record = BaseRecord::to(topic)
            .partition(partition)
            .key(key.as_bytes())
            .payload(value)
            .timestamp(now_ms());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e).context("produce failed"),
            }
        }
        if n.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flush of the workload producer failed")?;
    Ok(started.elapsed())
}

/// When the target had every record.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Completion {
    /// Seconds from the start of the system to the first target record.
    pub first_s: f64,
    /// Seconds from the start of the system to the last target record.
    pub done_s: f64,
    /// Records found.
    pub records: i64,
    /// Whether every expected record arrived before the timeout.
    pub complete: bool,
}

/// Polls the target end offsets until `expected` records are there (blocking).
pub fn watch_completion(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
    expected: i64,
    started: Instant,
    timeout: Duration,
    every: Duration,
) -> anyhow::Result<Completion> {
    let consumer = consumer(bootstrap, "ferry-bench-watch")?;
    let mut c = Completion::default();
    let mut last_print = Instant::now();
    loop {
        let sum = end_offsets_sum(&consumer, topics, partitions).unwrap_or(0);
        let t = started.elapsed().as_secs_f64();
        if sum > 0 && c.first_s == 0.0 {
            c.first_s = t;
        }
        c.records = sum;
        if sum >= expected {
            c.done_s = t;
            c.complete = true;
            return Ok(c);
        }
        if started.elapsed() > timeout {
            c.done_s = t;
            return Ok(c);
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            eprintln!("    ... {sum}/{expected} on the target after {t:.0} s");
            last_print = Instant::now();
        }
        std::thread::sleep(every);
    }
}

/// End-to-end latencies measured by a consumer on the target.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Latency {
    /// Measured records seen.
    pub records: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Warm-up records seen (not measured).
    pub warmup: u64,
}

/// Consumes every partition of `topics` from the beginning; for each record whose key starts
/// with `m`, latency = now − CreateTime. Returns once `expected` measured records arrived (or
/// the timeout); `warm` is signalled once `warm_expected` warm-up records (`w...`) arrived.
pub fn measure_latency(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
    expected: u64,
    warm_expected: u64,
    warm: std::sync::mpsc::Sender<()>,
    timeout: Duration,
) -> anyhow::Result<Latency> {
    let consumer = consumer(bootstrap, "ferry-bench-latency")?;
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        for p in 0..partitions {
            tpl.add_partition_offset(t, p, Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut lat: Vec<i64> = Vec::with_capacity(expected as usize);
    let mut out = Latency::default();
    let mut warm_sent = false;
    while (lat.len() as u64) < expected && started.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let now = now_ms();
                match m.key().and_then(|k| k.first()) {
                    Some(b'm') => {
                        if let Some(ts) = m.timestamp().to_millis() {
                            lat.push(now - ts);
                        }
                    }
                    _ => out.warmup += 1,
                }
                if !warm_sent && out.warmup >= warm_expected {
                    warm_sent = true;
                    let _ = warm.send(());
                }
            }
            Some(Err(e)) => eprintln!("    latency consumer: {e}"),
            None => {}
        }
    }
    lat.sort_unstable();
    out.records = lat.len() as u64;
    if !lat.is_empty() {
        let pick = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize] as f64;
        out.p50_ms = pick(0.50);
        out.p99_ms = pick(0.99);
        out.max_ms = pick(1.0);
    }
    Ok(out)
}
