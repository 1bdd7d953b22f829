//! The raw pipe: one rdkafka consumer → one rdkafka producer, same partition, key, value,
//! headers and timestamp, no offset commits, no state, no exactly-once bookkeeping. The
//! practical ceiling of "a Rust process that copies records" on this machine.

use anyhow::Context as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What to copy.
#[derive(Debug, Clone, clap::Args)]
pub struct PipeArgs {
    /// Source bootstrap servers.
    #[arg(long)]
    pub source: String,
    /// Target bootstrap servers.
    #[arg(long)]
    pub target: String,
    /// Source topics (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Partitions per topic.
    #[arg(long)]
    pub partitions: i32,
    /// Target topic = prefix + source topic.
    #[arg(long, default_value = "pipe.")]
    pub prefix: String,
    /// Producer linger.ms.
    #[arg(long, default_value = "5")]
    pub linger_ms: u32,
    /// Producer `compression.type`.
    #[arg(long, default_value = "lz4")]
    pub compression: String,
}

/// Copies until SIGTERM / SIGINT, then flushes.
pub fn run(args: &PipeArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&stop);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::spawn(move || {
            rt.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                if let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
            });
            flag.store(true, Ordering::Relaxed);
        });
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.source)
        .set("group.id", "ferry-bench-pipe")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("queued.max.messages.kbytes", "262144")
        .create()
        .context("cannot create the pipe consumer")?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.target)
        .set("acks", "all")
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", "1000000")
        .set("compression.type", &args.compression)
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .context("cannot create the pipe producer")?;
    let mut tpl = TopicPartitionList::new();
    for t in &args.topics {
        for p in 0..args.partitions {
            tpl.add_partition_offset(t, p, Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some(message) = consumer.poll(Duration::from_millis(50)) else {
            producer.poll(Duration::ZERO);
            continue;
        };
        let m = message.context("pipe consume failed")?;
        let target = format!("{}{}", args.prefix, m.topic());
        let mut record: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&target).partition(m.partition());
        if let Some(k) = m.key() {
            record = record.key(k);
        }
        if let Some(v) = m.payload() {
            record = record.payload(v);
        }
        if let Some(ts) = m.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        if let Some(h) = m.headers() {
            record = record.headers(h.detach());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e).context("pipe produce failed"),
            }
        }
        n += 1;
        if n.is_multiple_of(512) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(30))?;
    eprintln!("pipe: copied {n} records");
    Ok(())
}
