//! # ferry-kafka
//!
//! Ferry's Kafka adapters, built on librdkafka (`rdkafka`):
//!
//! * [`config`]: [`KafkaConnection`] — bootstrap servers and authentication (plaintext,
//!   SASL/SCRAM, TLS, MSK IAM), read from `<PREFIX>_*` environment variables; the single place
//!   where authentication is applied to a librdkafka configuration. Secrets never appear in
//!   `Debug` output; settings naming Secrets Manager secrets (`<PREFIX>_SECRET_ARN`) are
//!   recorded for [`secrets`] to resolve at cold start.
//! * [`handshake`]: the cold-start check that a `scram-*` or `tls` connection authenticates
//!   ([`check_handshake`]): a refused password, client certificate or CA fails the cold start
//!   with a [`HandshakeError`] naming the setting, instead of timing out.
//! * [`auth`]: [`FerryContext`], the client context every client is built with, and its
//!   `OAUTHBEARER` tokens: MSK IAM (signed on a dedicated thread) and unsecured JWTs (local
//!   tests only).
//! * [`admin_token`]: [`FerryAdmin`], the admin client every admin request goes through, which
//!   serves its own `OAUTHBEARER` tokens (rdkafka's admin client does not); the crate's only
//!   `unsafe` code.
//! * [`target`]: [`TargetCluster`] — implements `ferry_core`'s target ports
//!   ([`TargetProducer`](ferry_core::ports::TargetProducer),
//!   [`TargetOffsets`](ferry_core::ports::TargetOffsets),
//!   [`TargetMetadata`](ferry_core::ports::TargetMetadata),
//!   [`RangeReader`](ferry_core::ports::RangeReader)): writes each record to an explicit
//!   partition, unchanged, in one transaction per batch with one `transactional.id` per target
//!   partition ([`transactions`]: fencing of overlapping and zombie invocations), or with one
//!   idempotent producer when fencing is off.
//! * [`admin`]: create (idempotently), delete and list topics; partition counts.
//! * [`groups`]: [`KafkaGroups`] — the consumer-group ports (list groups, committed offsets,
//!   group state, commit while empty) with plain consumers that never join a group.
//! * [`reader`]: read a partition range back as [`MirrorRecord`](ferry_core::MirrorRecord)s,
//!   watermarks, and ordered range checksums, for validation and tests.
//! * [`topics`]: [`KafkaTopicAdmin`] — the topic-administration ports (describe topics with
//!   their configs, estimated source stats, create topics, add partitions, set configs).
//! * [`cluster_reader`]: [`KafkaClusterReader`] — the reading ports (range reads, partition
//!   counts, watermarks, counts) and topic creation, for the source or the target cluster;
//!   the one range-read body of this crate.
//!
//! Blocking librdkafka calls (metadata, watermarks, consuming) run on tokio's blocking pool
//! with timeouts; producing never blocks the runtime.

pub mod admin;
pub mod admin_token;
pub mod auth;
pub mod cluster_reader;
pub mod config;
pub mod groups;
pub mod handshake;
pub mod reader;
pub mod secrets;
pub mod target;
pub mod topics;
pub mod transactions;

pub use admin::{create_topic, delete_topic, list_topics, partition_count, AdminError};
pub use admin_token::FerryAdmin;
pub use auth::{FerryConsumer, FerryContext, FerryProducer, FerryStreamConsumer};
pub use cluster_reader::KafkaClusterReader;
pub use config::{
    BuildError, ConfigError, Credentials, CredentialsKind, KafkaConnection, ScramMechanism, Secret,
    SecretRef, SecretRefs, Security,
};
pub use groups::KafkaGroups;
pub use handshake::{check as check_handshake, AuthSettings, HandshakeError};
pub use reader::{
    partition_checksum, read_partition, scan_partition, watermarks, Isolation, RangeConsumers,
    ReadError, ReadOptions,
};
pub use secrets::{resolve_connections, SecretError};
pub use target::{Compression, ProducerTuning, TargetCluster, TargetOptions};
pub use topics::KafkaTopicAdmin;
pub use transactions::Fencing;
