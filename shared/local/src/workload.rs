//! Synthetic source traffic for the demo, the tests and the benchmarks: records with keys, null
//! keys, tombstones, empty values, several headers (duplicate keys and non-UTF-8 bytes included)
//! and explicit timestamps, spread over partitions deterministically from a seed.

use ferry_kafka::{FerryContext, FerryProducer};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::time::Duration;

/// What to produce.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Topic (must exist).
    pub topic: String,
    /// Partitions of the topic; records are spread round-robin.
    pub partitions: i32,
    /// Records in total.
    pub records: u64,
    /// Value size in bytes for ordinary records.
    pub value_bytes: usize,
    /// Seed for the content.
    pub seed: u64,
}

/// The deterministic content of record number `i` of a workload: key, value, headers, timestamp.
pub type Content = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Vec<u8>)>,
    i64,
);

/// Record number `i`'s content. Every 7th has a null key, every 11th is a tombstone, every 13th
/// has an empty value; headers vary from none to three (with a duplicate key and binary bytes).
/// Timestamps are explicit, increasing by 3 ms from `base_timestamp_ms`.
pub fn content(seed: u64, i: u64, value_bytes: usize, base_timestamp_ms: i64) -> Content {
    let key = (i % 7 != 3).then(|| format!("key-{}", (i ^ seed) % 1000).into_bytes());
    let value = match (i % 11, i % 13) {
        (5, _) => None,
        (_, 4) => Some(Vec::new()),
        _ => {
            let mut v = format!("value-{seed}-{i}-").into_bytes();
            v.resize(value_bytes.max(v.len()), b'a' + (i % 26) as u8);
            Some(v)
        }
    };
    let headers = match i % 4 {
        0 => vec![],
        1 => vec![("trace-id".to_string(), format!("t{i}").into_bytes())],
        2 => vec![
            ("h".to_string(), vec![0, 255, 128, 7]),
            ("h".to_string(), vec![]),
        ],
        _ => vec![
            ("content-type".to_string(), b"application/json".to_vec()),
            ("seq".to_string(), i.to_be_bytes().to_vec()),
            ("bin".to_string(), vec![(i % 256) as u8, 0xfe]),
        ],
    };
    let timestamp = base_timestamp_ms + (i as i64) * 3;
    (key, value, headers, timestamp)
}

/// Builds an idempotent producer for workload traffic.
pub fn producer(bootstrap: &str) -> Result<FerryProducer, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "500000")
        .create_with_context(FerryContext::default())
}

/// Produces the workload and waits for every delivery; `progress` is called every 10,000 records.
pub async fn produce(
    producer: &FerryProducer,
    w: &Workload,
    mut progress: impl FnMut(u64),
) -> Result<u64, KafkaError> {
    let mut pending = Vec::with_capacity(10_000);
    // Explicit timestamps in the recent past (never in the future, never older than the brokers'
    // time-based retention, which would delete them on the next segment roll).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let base = now_ms - (w.records as i64) * 3 - 1_000;
    for i in 0..w.records {
        let (key, value, headers, ts) = content(w.seed, i, w.value_bytes, base);
        let mut hs = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in &headers {
            hs = hs.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let partition = (i % w.partitions as u64) as i32;
        let mut record: FutureRecord<'_, Vec<u8>, Vec<u8>> = FutureRecord::to(&w.topic)
            .partition(partition)
            .timestamp(ts)
            .headers(hs);
        if let Some(k) = key.as_ref() {
            record = record.key(k);
        }
        if let Some(v) = value.as_ref() {
            record = record.payload(v);
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => break pending.push(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    for f in pending.drain(..) {
                        f.await
                            .map_err(|_| KafkaError::Canceled)?
                            .map_err(|(e, _)| e)?;
                    }
                }
                Err((e, _)) => return Err(e),
            }
        }
        if pending.len() == 10_000 {
            for f in pending.drain(..) {
                f.await
                    .map_err(|_| KafkaError::Canceled)?
                    .map_err(|(e, _)| e)?;
            }
            progress(i + 1);
        }
    }
    for f in pending.drain(..) {
        f.await
            .map_err(|_| KafkaError::Canceled)?
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Timeout::After(Duration::from_secs(30)))?;
    progress(w.records);
    Ok(w.records)
}
