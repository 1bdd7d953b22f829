//! DynamoDB state store on Ferry's single table.
//!
//! ## Schema (partition key `PK` S, sort key `SK` S, on-demand billing, PITR on)
//! | PK                           | SK                          | attributes                                   |
//! |------------------------------|-----------------------------|----------------------------------------------|
//! | `TP#<topic>#<partition>`     | `PROGRESS`                  | `next_source` N, `next_target` N, `updated_at` N (epoch ms) |
//! | `TP#<topic>#<partition>`     | `SEG#<source_start, 20 digits>` | `source_start` N, `target_start` N, `target_gap_before` N (only when non-zero: target commit markers / aborted records before the run) |
//!
//! | `GROUP#<group>`              | `TP#<topic>#<partition>`    | `source_offset` N, `target_offset` N, `at` N (epoch ms) |
//! | `LEASE#<name>`               | `LEASE`                     | `owner` S, `until_ms` N, `acquired_ms` N (epoch ms) |
//! | `MIGRATION#<id>`             | `STATE`                     | `version` N, `updated_at` N, and `doc` S (the state document) or `gen` S + `parts` N |
//! | `MIGRATION#<id>`             | `REPORT#<name>`             | `at` N, and `doc` S or `gen` S + `parts` N |
//! | `MIGRATION#<id>`             | `<head SK>#PART#<gen>#<index, 4 digits>` | `doc` S: one part of a document larger than an item |
//!
//! Topic names are `[a-zA-Z0-9._-]`, so `#` never occurs inside a component. Offsets are
//! non-negative, so the zero-padded `SEG#` sort keys sort numerically.
//!
//! ## Semantics (shared with `InMemoryStateStore`, the test fake in the `ferry-testkit` crate)
//! * [`ProgressStore::load_progress`](ferry_core::ports::ProgressStore::load_progress): strongly consistent `BatchGetItem` in chunks of 100 keys
//!   (run concurrently), `UnprocessedKeys` retried with exponential backoff.
//! * [`ProgressStore::init_progress`](ferry_core::ports::ProgressStore::init_progress): one `TransactWriteItems` putting `PROGRESS` (condition
//!   `attribute_not_exists(PK)`) and the first segment; if the condition fails, the stored progress
//!   is returned instead.
//! * [`ProgressStore::commit_progress`](ferry_core::ports::ProgressStore::commit_progress): every `PROGRESS` update is conditioned on
//!   `next_source = :expected_source AND next_target = :expected_target`, new segments are put
//!   unconditionally. A failed condition (also: no progress stored) is
//!   [`StoreError::Conflict`](ferry_core::ports::StoreError::Conflict) naming the partition, taken from the transaction's
//!   `CancellationReasons` index.
//!   - **≤ 100 items** (one update per partition + one put per segment, the `TransactWriteItems`
//!     limit): ONE transaction, all-or-nothing across every partition of the call. A commit of
//!     a single partition without new segments (the steady state of a one-partition batch) is
//!     one conditional `UpdateItem` instead: equally atomic, half the write capacity.
//!   - **More than 100 items**: partitions are packed, in call order, into transactions of at most
//!     100 items; each partition's update and segments always share a transaction, so each
//!     partition is still all-or-nothing, but the call is not: the transactions run in order and
//!     the first failure stops the call, leaving earlier ones applied. A single partition with
//!     more than 99 new segments is split into a chain of transactions of up to 99 segments
//!     each; every link but the last moves progress to the start of its last segment
//!     (`(source_start, target_start)`, a valid progress point with that segment's run still
//!     empty) conditioned on the previous link, the last link moves it to `new`. A crash
//!     mid-chain therefore leaves a consistent, smaller progress that the next delivery
//!     reconciles exactly like an attempt that died before recording (see
//!     [`ferry_core::progress`]).
//! * [`SegmentStore::segments`](ferry_core::ports::SegmentStore::segments): strongly consistent, paginated `Query`
//!   `PK = :pk AND begins_with(SK, "SEG#")`, sorted ascending by `source_start`.
//! * [`SegmentStore::segments_around`](ferry_core::ports::SegmentStore::segments_around): what
//!   one translation needs, whatever the partition's number of segments: two concurrent
//!   strongly consistent `Query`s with `Limit 1`, `SK BETWEEN SEG#0 AND SEG#<c>` backwards and
//!   `SK BETWEEN SEG#<c+1> AND SEG#<max>` forwards.
//!
//! * [`CheckpointStore::load_checkpoints`](ferry_core::ports::CheckpointStore::load_checkpoints): strongly consistent, paginated `Query` `PK = GROUP#<group>`.
//! * [`CheckpointStore::save_checkpoints`](ferry_core::ports::CheckpointStore::save_checkpoints): one conditional `PutItem` per partition (16 at a
//!   time), condition `attribute_not_exists(PK) OR (source_offset < :s AND target_offset <= :t)`:
//!   a checkpoint never moves backwards, also when two runs race. A failed condition means
//!   "not newer" and is not an error.
//!
//! * [`MigrationStore`](ferry_core::ports::MigrationStore): a document that fits one item
//!   (350,000 bytes, [`ferry_core::parts::MAX_PART_BYTES`]) is inline in its head item; a
//!   larger one is split into part items of a unique generation, put before the head, and the
//!   replaced generation's parts are deleted after it (details in `migrations.rs`). The state
//!   head's `PutItem` is conditioned on `version`.
//!
//! * [`RunLease`](ferry_core::ports::RunLease): a conditional `PutItem` (`attribute_not_exists(PK)
//!   OR until_ms < :now OR owner = :owner`) takes a lease, a conditional `DeleteItem` (`owner =
//!   :owner`) gives it back; a failed condition is an answer (held by another / not ours), not
//!   an error.
//!
//! Errors: conditional failures → [`StoreError::Conflict`](ferry_core::ports::StoreError::Conflict); throttling, timeouts, network
//! failures, missing table and every other service error → [`StoreError::Unavailable`](ferry_core::ports::StoreError::Unavailable) with a
//! [`DynamoError`] cause; items with missing or non-numeric attributes →
//! [`StoreError::Corrupt`](ferry_core::ports::StoreError::Corrupt).
//!
//! ## Client
//! [`client_from_env`] loads the standard AWS configuration (environment, profile, Lambda role;
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB` select a local endpoint such as moto) with
//! [`ClientTimeouts`], so an unreachable or frozen endpoint yields `Unavailable` within the
//! operation timeout (20 s by default) instead of hanging until the Lambda timeout.

mod checkpoints;
mod client;
mod error;
mod keys;
mod leases;
mod migrations;
mod progress;
mod segments;
mod store;
mod table;

pub use client::{
    client_from_env, client_from_env_with, CallMetrics, ClientTimeouts, CALLS_METRIC,
};
pub use error::DynamoError;
pub use keys::{
    checkpoint_sort_key, group_key, migration_key, partition_key, report_sort_key,
    segment_sort_key, MIGRATION_STATE_SK, PK, PROGRESS_SK, SEGMENT_SK_PREFIX, SK,
};
pub use leases::{lease_key, LEASE_SK};
pub use progress::{MAX_BATCH_GET_KEYS, MAX_TRANSACT_ITEMS};
pub use store::DynamoStateStore;
pub use table::{ensure_table, TableSetup};
