//! Producing: records to librdkafka records, delivery reports to offsets, failures to
//! [`TargetError`]s ([`TargetProducer`] and the transactional path's `produce_on`).

use super::delivery::{MirrorProducer, Outcome};
use super::errors::{BatchTooLarge, ProducerFatal, UnexpectedResponse};
use super::TargetCluster;
use ferry_core::ports::{TargetError, TargetMetadata, TargetProducer};
use ferry_core::record::{MirrorRecord, TimestampType};
use ferry_core::topics::TopicPartition;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use std::time::Duration;

/// Outcome bookkeeping of one `produce` call.
struct ProduceState {
    offsets: Vec<i64>,
    /// Index and error of the first failed record (lowest index).
    first_error: Option<(usize, KafkaError)>,
    /// Largest record that failed with `MSG_SIZE_TOO_LARGE`: (index, estimated size, local?).
    largest_too_large: Option<(usize, usize, bool)>,
}

impl ProduceState {
    fn fail(&mut self, index: usize, error: KafkaError, local: bool, records: &[MirrorRecord]) {
        if is_too_large(&error) {
            let size = records
                .get(index)
                .map_or(0, MirrorRecord::estimated_batch_bytes);
            if self
                .largest_too_large
                .is_none_or(|(_, largest, _)| size > largest)
            {
                self.largest_too_large = Some((index, size, local));
            }
        }
        if self.first_error.as_ref().is_none_or(|(i, _)| index < *i) {
            self.first_error = Some((index, error));
        }
    }

    fn settle(&mut self, index: usize, outcome: Outcome, records: &[MirrorRecord]) {
        match outcome {
            Ok(offset) => self.offsets.push(offset),
            Err(error) => self.fail(index, error, false, records),
        }
    }
}

pub(super) fn is_too_large(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge)
}

pub(super) fn is_queue_full(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
}

/// Kafka's "no timestamp" (`RecordBatch.NO_TIMESTAMP`).
pub(super) const NO_TIMESTAMP: i64 = -1;

/// Builds the librdkafka record for `r` without copying its bytes (librdkafka copies them once
/// into its own buffer on enqueue), with its delivery `opaque` (see `delivery`).
pub(super) fn base_record<'a>(
    tp: &'a TopicPartition,
    r: &'a MirrorRecord,
    opaque: usize,
) -> BaseRecord<'a, [u8], [u8], usize> {
    let mut fr = BaseRecord::with_opaque_to(&tp.topic, opaque).partition(tp.partition);
    if let Some(key) = r.key.as_deref() {
        fr = fr.key(key);
    }
    if let Some(value) = r.value.as_deref() {
        fr = fr.payload(value);
    }
    // A source record without a timestamp (`NO_TIMESTAMP_TYPE`, or `-1` from a pre-0.10 message
    // format) stays without one: librdkafka stamps "now" only for 0/absent and passes `-1`
    // through, and the broker accepts `-1` on a `CreateTime` topic. Stamping it would make the
    // target record differ from the source (reconcile and validation compare timestamps).
    let timestamp = if r.timestamp_type == TimestampType::NoTimestamp || r.timestamp < 0 {
        NO_TIMESTAMP
    } else {
        r.timestamp
    };
    fr = fr.timestamp(timestamp);
    if !r.headers.is_empty() {
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
        for h in &r.headers {
            headers = headers.insert(Header {
                key: &h.key,
                value: Some(h.value.as_slice()),
            });
        }
        fr = fr.headers(headers);
    }
    fr
}

impl TargetCluster {
    /// Turns the first failure of a `produce` call into a [`TargetError`].
    async fn produce_error(
        &self,
        producer: &MirrorProducer,
        tp: &TopicPartition,
        records: &[MirrorRecord],
        state: ProduceState,
    ) -> TargetError {
        if let Some((code, reason)) = producer.client().fatal_error() {
            if crate::transactions::is_fenced_code(code) {
                return TargetError::Fenced { tp: tp.clone() };
            }
            tracing::error!(%code, %reason, "target producer hit a fatal error; it cannot produce any more");
            return TargetError::Produce {
                tp: tp.clone(),
                source: Box::new(ProducerFatal { code, reason }),
            };
        }
        let Some((_, first)) = state.first_error else {
            return TargetError::Produce {
                tp: tp.clone(),
                source: Box::new(UnexpectedResponse("produce failed without an error".into())),
            };
        };
        if first
            .rdkafka_error_code()
            .is_some_and(crate::transactions::is_fenced_code)
        {
            return TargetError::Fenced { tp: tp.clone() };
        }
        if matches!(
            first.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::UnknownPartition
            )
        ) {
            self.invalidate_topic_info(&tp.topic);
            match self.topic_info(&tp.topic).await {
                Ok(None) => {
                    return TargetError::TopicMissing {
                        topic: tp.topic.clone(),
                    }
                }
                Ok(Some(info)) if info.partitions <= tp.partition => {
                    return TargetError::TooFewPartitions {
                        topic: tp.topic.clone(),
                        partitions: info.partitions,
                        partition: tp.partition,
                    }
                }
                Ok(Some(_)) | Err(_) => {}
            }
        }
        if let (true, Some((index, size, local))) = (is_too_large(&first), state.largest_too_large)
        {
            let client_limit = self.options.tuning.message_max_bytes as usize;
            let max = if local {
                Some(client_limit)
            } else {
                self.invalidate_topic_info(&tp.topic);
                match self.topic_info(&tp.topic).await {
                    Ok(Some(info)) => Some(info.max_message_bytes),
                    Ok(None) | Err(_) => None,
                }
            };
            // A record at or below the limit only failed because it shared a batch with others.
            if max.is_none_or(|max| size > max) {
                let offset = records.get(index).map_or(-1, |r| r.offset);
                return TargetError::RecordTooLarge {
                    tp: tp.clone(),
                    offset,
                    size,
                    max: max.unwrap_or(client_limit),
                };
            }
            if let Some(max) = max {
                return TargetError::Produce {
                    tp: tp.clone(),
                    source: Box::new(BatchTooLarge {
                        max,
                        batch_size: self.options.tuning.batch_size,
                        source: first,
                    }),
                };
            }
        }
        TargetError::Produce {
            tp: tp.clone(),
            source: Box::new(first),
        }
    }
}

pub(super) fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl TargetProducer for TargetCluster {
    async fn produce(
        &self,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        self.produce_on(&self.producer, tp, records).await
    }
}

impl TargetCluster {
    /// Produces `records` to `tp` on `producer` and awaits every delivery report (see
    /// [`TargetProducer::produce`]): one registered batch for the call, its reports collected
    /// by the producer's context (`delivery`), no per-record future.
    pub(crate) async fn produce_on(
        &self,
        producer: &MirrorProducer,
        tp: &TopicPartition,
        records: &[MirrorRecord],
    ) -> Result<Vec<i64>, TargetError> {
        let mut state = ProduceState {
            offsets: Vec::with_capacity(records.len()),
            first_error: None,
            largest_too_large: None,
        };
        let batch = producer.context().register(records.len());

        'records: for (index, record) in records.iter().enumerate() {
            let mut fr = base_record(tp, record, batch.opaque(index));
            loop {
                match producer.send(fr) {
                    Ok(()) => break,
                    Err((error, back)) if is_queue_full(&error) => {
                        fr = back;
                        // Something failed: enqueue nothing more, so this call adds no record
                        // behind the failed one (those already queued still go).
                        if batch.failed() {
                            batch.not_sent();
                            break 'records;
                        }
                        // librdkafka's queue is full: wait for a delivery to free space.
                        batch.wait_for_progress(Duration::from_millis(10)).await;
                    }
                    Err((error, _)) => {
                        // Not enqueued; later records are not sent so the target gets no record
                        // after a gap that this call itself created.
                        batch.not_sent();
                        state.fail(index, error, true, records);
                        break 'records;
                    }
                }
            }
            if batch.failed() {
                break;
            }
        }
        // Deliveries of one partition complete in enqueue order (idempotent producer), so the
        // offsets collected in record order are the records' offsets.
        for (index, outcome) in batch.settled().await.into_iter().enumerate() {
            if let Some(outcome) = outcome {
                state.settle(index, outcome, records);
            }
        }
        if state.first_error.is_some() {
            return Err(self.produce_error(producer, tp, records, state).await);
        }
        Ok(state.offsets)
    }
}
