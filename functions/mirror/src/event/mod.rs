//! Decoding of the Kafka event source mapping payload.
//!
//! AWS's shape: `records` maps `"<topic>-<partition>"` to that partition's records in offset
//! order; `key` and `value` are base64 (absent/null for a null key or a tombstone); `headers` is a
//! list of single-key maps whose values are arrays of *signed* bytes; `timestamp` is epoch ms.
//! Decoding is strict: anything that does not fit is a [`DecodeError`] naming the partition,
//! offset and field, and the batch is not acknowledged (the handler never sees it, so nothing is
//! written to the target and no progress moves).
//!
//! ## What is validated
//! Besides the JSON shape (below), every value the event source mapping guarantees:
//! * `records` keys are canonical `"<topic>-<partition>"` (non-empty topic, partition a
//!   non-negative `i32` written without sign or leading zeros), each key once;
//! * a record's `topic` (when present) and `partition` equal its key's;
//! * `offset` is a Kafka offset, `0 ..= i64::MAX - 1`, strictly ascending within a partition;
//! * `timestampType` is one of Kafka's `CREATE_TIME`, `LOG_APPEND_TIME`, `NO_TIMESTAMP_TYPE`
//!   (the ESM is a Java consumer and sends the enum's name; `NO_TIMESTAMP_TYPE` is what it
//!   reports for records in the pre-0.10 message format);
//! * `timestamp` is epoch milliseconds `>= 0` or Kafka's "no timestamp" `-1`: exactly `-1` for
//!   `NO_TIMESTAMP_TYPE`; `-1` is also accepted with `CREATE_TIME` (records from pre-0.10
//!   producers keep it after the broker converts them), anything below `-1` never;
//! * `key`/`value` are canonical padded base64, header values arrays of signed bytes
//!   (`-128..=127`), each header a single-key map.
//!
//! A type error inside a record (the JSON parser's) becomes [`DecodeError::Field`], which names
//! the partition, the record (and its offset once read) and the field.
//!
//! ## One pass, no intermediate tree
//! [`EsmEvent`] is what the Lambda runtime deserializes the payload into. Its `Deserialize` walks
//! the JSON once and builds [`PartitionBatch`]es directly: base64 is decoded from the borrowed
//! input straight into each record's `Vec<u8>` (no `serde_json::Value`, no per-record `String`
//! for key, value, topic or timestamp type), header values go from signed-byte arrays straight
//! into bytes. The accepted shape is exactly that of `aws_lambda_events`' `KafkaEvent` with an
//! exact integer `timestamp` (that crate parses it through an `f64`): unknown fields are ignored,
//! `eventSource`/`eventSourceArn`/`bootstrapServers`/`topic`/`timestampType`/`key`/`value` may be
//! absent or null, `headers` may be absent but not null, `partition`/`offset`/`timestamp` are
//! required integers (a differential property test checks this against a serde-derived reference).
//!
//! The `Deserialize` of [`EsmEvent`] never fails: a payload that is not JSON or not of the shape
//! becomes [`DecodeError::Shape`] *inside* the event, so the handler (not the runtime) reports it
//! as a typed `Ferry.BadInput` error and the batch is not acknowledged. The runtime reads the
//! payload with a `serde_json::Deserializer` without checking for trailing input, and so does
//! [`decode_slice`].

use base64::Engine as _;
use ferry_core::{Header, MirrorRecord, TimestampType, TopicPartition};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::fmt;
use thiserror::Error;

mod error;
mod fields;
mod visitors;

pub use error::DecodeError;
use error::*;
use fields::*;
use visitors::*;

/// One partition's records from a batch, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBatch {
    /// Source partition.
    pub tp: TopicPartition,
    /// Records in delivery order.
    pub records: Vec<MirrorRecord>,
}

/// The payload as the Lambda runtime hands it to the handler: the decoded batches, or why the
/// payload is not a valid Kafka ESM event. Deserializing it never fails (see the module docs).
#[derive(Debug)]
pub struct EsmEvent(pub Result<Vec<PartitionBatch>, DecodeError>);

impl EsmEvent {
    /// The partition batches, sorted by topic and partition.
    pub fn into_batches(self) -> Result<Vec<PartitionBatch>, DecodeError> {
        self.0
    }
}

impl<'de> Deserialize<'de> for EsmEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let at = Location::default();
        Ok(Self(match d.deserialize_map(EventVisitor(&at)) {
            Ok(decoded) => decoded,
            Err(e) => Err(at.error(e.to_string())),
        }))
    }
}

/// Decodes a raw payload into partition batches, sorted by topic and partition for
/// deterministic processing (what the Lambda runtime does with the bytes it receives).
pub fn decode_slice(payload: &[u8]) -> Result<Vec<PartitionBatch>, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    match EsmEvent::deserialize(&mut de) {
        Ok(event) => event.into_batches(),
        Err(e) => Err(DecodeError::Shape(e.to_string())),
    }
}

/// Decodes an already-parsed JSON value (tests and tools; the handler uses [`EsmEvent`]).
pub fn decode(payload: serde_json::Value) -> Result<Vec<PartitionBatch>, DecodeError> {
    match EsmEvent::deserialize(payload) {
        Ok(event) => event.into_batches(),
        Err(e) => Err(DecodeError::Shape(e.to_string())),
    }
}

#[cfg(test)]
mod tests;
