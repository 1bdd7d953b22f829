//! DynamoDB state store on Ferry's single table.
//!
//! ## Schema (partition key `PK` S, sort key `SK` S, on-demand billing, PITR on)
//! | PK                           | SK                          | attributes                                   |
//! |------------------------------|-----------------------------|----------------------------------------------|
//! | `TP#<topic>#<partition>`     | `PROGRESS`                  | `next_source` N, `next_target` N, `updated_at` N (epoch ms) |
//! | `TP#<topic>#<partition>`     | `SEG#<source_start, 20 digits>` | `source_start` N, `target_start` N, `target_gap_before` N (only when non-zero: target commit markers / aborted records before the run) |
//!
//! | `GROUP#<group>`              | `TP#<topic>#<partition>`    | `source_offset` N, `target_offset` N, `at` N (epoch ms) |
//!
//! Topic names are `[a-zA-Z0-9._-]`, so `#` never occurs inside a component. Offsets are
//! non-negative, so the zero-padded `SEG#` sort keys sort numerically.
//!
//! ## Semantics (shared with `InMemoryStateStore`, the test fake in the `ferry-testkit` crate)
//! * [`ProgressStore::load_progress`]: strongly consistent `BatchGetItem` in chunks of 100 keys
//!   (run concurrently), `UnprocessedKeys` retried with exponential backoff.
//! * [`ProgressStore::init_progress`]: one `TransactWriteItems` putting `PROGRESS` (condition
//!   `attribute_not_exists(PK)`) and the first segment; if the condition fails, the stored progress
//!   is returned instead.
//! * [`ProgressStore::commit_progress`]: every `PROGRESS` update is conditioned on
//!   `next_source = :expected_source AND next_target = :expected_target`, new segments are put
//!   unconditionally. A failed condition (also: no progress stored) is
//!   [`StoreError::Conflict`] naming the partition, taken from the transaction's
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
//! * [`SegmentStore::segments`]: strongly consistent, paginated `Query`
//!   `PK = :pk AND begins_with(SK, "SEG#")`, sorted ascending by `source_start`.
//!
//! * [`CheckpointStore::load_checkpoints`]: strongly consistent, paginated `Query` `PK = GROUP#<group>`.
//! * [`CheckpointStore::save_checkpoints`]: one conditional `PutItem` per partition (16 at a
//!   time), condition `attribute_not_exists(PK) OR (source_offset < :s AND target_offset <= :t)`:
//!   a checkpoint never moves backwards, also when two runs race. A failed condition means
//!   "not newer" and is not an error.
//!
//! Errors: conditional failures → [`StoreError::Conflict`]; throttling, timeouts, network
//! failures, missing table and every other service error → [`StoreError::Unavailable`] with a
//! [`DynamoError`] cause; items with missing or non-numeric attributes →
//! [`StoreError::Corrupt`].
//!
//! ## Client
//! [`client_from_env`] loads the standard AWS configuration (environment, profile, Lambda role;
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB` select a local endpoint such as moto) with
//! [`ClientTimeouts`], so an unreachable or frozen endpoint yields `Unavailable` within the
//! operation timeout (20 s by default) instead of hanging until the Lambda timeout.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    PointInTimeRecoverySpecification, Put, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use ferry_core::checkpoint::Checkpoint;
use ferry_core::ports::{
    BoxError, CheckpointStore, MigrationStore, ProgressCommit, ProgressStore, SegmentStore,
    StoreError, Versioned,
};
use ferry_core::progress::{Progress, Segment};
use ferry_core::topic::TopicPartition;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Partition key attribute.
pub const PK: &str = "PK";
/// Sort key attribute.
pub const SK: &str = "SK";
/// Sort key of a partition's progress item.
pub const PROGRESS_SK: &str = "PROGRESS";
/// Sort key prefix of segment items.
pub const SEGMENT_SK_PREFIX: &str = "SEG#";
/// Most items DynamoDB accepts in one `TransactWriteItems`.
pub const MAX_TRANSACT_ITEMS: usize = 100;
/// Most keys DynamoDB accepts in one `BatchGetItem`.
pub const MAX_BATCH_GET_KEYS: usize = 100;

/// `BatchGetItem` rounds retried for `UnprocessedKeys` before giving up with `Unavailable`.
const UNPROCESSED_RETRIES: u32 = 8;
/// First backoff before retrying `UnprocessedKeys`; doubles per round up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long [`ensure_table`] waits for the table to become `ACTIVE`.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(300);

/// Partition key of a topic partition: `TP#<topic>#<partition>`.
pub fn partition_key(tp: &TopicPartition) -> String {
    format!("TP#{}#{}", tp.topic, tp.partition)
}

/// Sort key of a segment: `SEG#` + `source_start` zero-padded to 20 digits.
pub fn segment_sort_key(source_start: i64) -> String {
    format!("{SEGMENT_SK_PREFIX}{source_start:020}")
}

/// A failed DynamoDB call: the cause of [`StoreError::Unavailable`] (and of `ensure_table`
/// failures), keeping the SDK error as its source.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} failed: {detail}")]
pub struct DynamoError {
    /// API operation, e.g. `TransactWriteItems`.
    pub operation: &'static str,
    /// Short description: error code and message for service errors, the failure kind otherwise.
    pub detail: String,
    /// The underlying error.
    #[source]
    pub source: Option<BoxError>,
}

impl DynamoError {
    fn new(operation: &'static str, detail: impl Into<String>, source: Option<BoxError>) -> Self {
        Self {
            operation,
            detail: detail.into(),
            source,
        }
    }

    /// Wraps an SDK error, summarising it (`code: message` for service errors).
    fn sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let detail = match &err {
            SdkError::ServiceError(_) => format!(
                "{}: {}",
                err.code().unwrap_or("unknown error code"),
                err.message().unwrap_or("no message")
            ),
            SdkError::TimeoutError(_) => {
                "timed out (no response within the configured timeout)".to_string()
            }
            SdkError::DispatchFailure(f) if f.is_timeout() => {
                "timed out connecting or sending".to_string()
            }
            SdkError::DispatchFailure(f) if f.is_io() => {
                "network error (endpoint unreachable?)".to_string()
            }
            SdkError::DispatchFailure(_) => "request could not be sent".to_string(),
            SdkError::ResponseError(_) => "unreadable response".to_string(),
            SdkError::ConstructionFailure(_) => "request could not be built".to_string(),
            _ => "unknown SDK error".to_string(),
        };
        Self::new(operation, detail, Some(Box::new(err)))
    }

    fn build(operation: &'static str, err: BuildError) -> Self {
        Self::new(operation, "request could not be built", Some(Box::new(err)))
    }
}

fn unavailable(err: DynamoError) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

/// Timeouts and retries of the DynamoDB client. The defaults bound every call to about 20 s:
///
/// | setting        | default | meaning                                                      |
/// |----------------|---------|--------------------------------------------------------------|
/// | `connect`      | 3 s     | TCP/TLS connect of one attempt                               |
/// | `attempt`      | 5 s     | one attempt, connect to last response byte                   |
/// | `operation`    | 20 s    | the whole call, all attempts and backoff included            |
/// | `max_attempts` | 3       | standard retry mode (throttling, 5xx, timeouts, IO errors)   |
///
/// A frozen endpoint (accepts, never answers) costs 3 attempts × 5 s plus backoff ≈ 16 s, an
/// unreachable one fails in milliseconds; either way the store returns
/// [`StoreError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// Connect timeout of one attempt.
    pub connect: Duration,
    /// Timeout of one attempt.
    pub attempt: Duration,
    /// Timeout of the whole operation including retries.
    pub operation: Duration,
    /// Attempts in standard retry mode (1 = no retries).
    pub max_attempts: u32,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(20),
            max_attempts: 3,
        }
    }
}

impl ClientTimeouts {
    /// Applies these timeouts and the standard retry mode to an AWS config loader.
    pub fn apply(&self, loader: ConfigLoader) -> ConfigLoader {
        loader
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect)
                    .operation_attempt_timeout(self.attempt)
                    .operation_timeout(self.operation)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts.max(1)))
    }
}

/// A DynamoDB client from the standard AWS configuration with [`ClientTimeouts::default`].
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB` point it at a local endpoint.
pub async fn client_from_env() -> Client {
    client_from_env_with(ClientTimeouts::default()).await
}

/// A DynamoDB client from the standard AWS configuration with the given timeouts.
pub async fn client_from_env_with(timeouts: ClientTimeouts) -> Client {
    let config = timeouts
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await;
    Client::new(&config)
}

/// What [`ensure_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSetup {
    /// The table was created by this call (false: it existed).
    pub created: bool,
    /// Point-in-time recovery is enabled (false: the endpoint refused, e.g. a local emulator).
    pub pitr_enabled: bool,
}

/// Creates Ferry's table (`PK` S hash, `SK` S range, on-demand) unless it exists, waits until it
/// is `ACTIVE`, then enables point-in-time recovery. A PITR failure is logged and reported in
/// [`TableSetup::pitr_enabled`], not returned (local emulators may not support it; on AWS it can
/// be briefly unavailable right after creation and the template enables it anyway).
pub async fn ensure_table(client: &Client, table: &str) -> Result<TableSetup, StoreError> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| unavailable(DynamoError::build("CreateTable", e)))
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| unavailable(DynamoError::build("CreateTable", e)))
    };
    let created = match client
        .create_table()
        .table_name(table)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(e) => return Err(unavailable(DynamoError::sdk("CreateTable", e))),
    };
    use aws_sdk_dynamodb::client::Waiters;
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(TABLE_ACTIVE_WAIT)
        .await
        .map_err(|e| {
            unavailable(DynamoError::new(
                "DescribeTable",
                format!("table {table:?} did not become ACTIVE"),
                Some(Box::new(e)),
            ))
        })?;
    let pitr = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .map_err(|e| unavailable(DynamoError::build("UpdateContinuousBackups", e)))?;
    let pitr_enabled = match client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            let e = DynamoError::sdk("UpdateContinuousBackups", e);
            tracing::warn!(table, error = %e, "could not enable point-in-time recovery; continuing without it");
            false
        }
    };
    tracing::info!(table, created, pitr_enabled, "state table ready");
    Ok(TableSetup {
        created,
        pitr_enabled,
    })
}

type Item = HashMap<String, AttributeValue>;

/// One planned `TransactWriteItems`: its items and, per item, the partition it belongs to (to
/// name the partition of a failed condition from the cancellation reason's index).
#[derive(Debug, Default)]
struct PlannedTxn {
    items: Vec<TransactWriteItem>,
    owners: Vec<TopicPartition>,
}

/// The DynamoDB implementation of [`ProgressStore`] and [`SegmentStore`] (see the module docs).
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: Client,
    table: String,
    query_page_size: Option<i32>,
}

impl DynamoStateStore {
    /// A store on `table` (which must exist: see [`ensure_table`]).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            query_page_size: None,
        }
    }

    /// Limits the items per `Query` page (default: DynamoDB's 1 MB pages). For tests of
    /// pagination.
    pub fn with_query_page_size(mut self, items: i32) -> Self {
        self.query_page_size = Some(items.max(1));
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One `BatchGetItem` chunk (≤ 100 keys), retrying `UnprocessedKeys`.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut pending = keys;
        let mut found = Vec::new();
        let mut round = 0u32;
        loop {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| unavailable(DynamoError::build("BatchGetItem", e)))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| unavailable(DynamoError::sdk("BatchGetItem", e)))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
            round += 1;
            if round > UNPROCESSED_RETRIES {
                return Err(unavailable(DynamoError::new(
                    "BatchGetItem",
                    format!(
                        "{} keys still unprocessed after {UNPROCESSED_RETRIES} retries (throttled)",
                        pending.len()
                    ),
                    None,
                )));
            }
            tokio::time::sleep(backoff(round)).await;
        }
    }

    async fn get_progress(&self, tp: &TopicPartition) -> Result<Option<Progress>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(progress_key(tp)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DynamoError::sdk("GetItem", e)))?;
        out.item.as_ref().map(parse_progress).transpose()
    }

    /// Runs one transaction; `owners[i]` is the partition of item `i`.
    async fn transact(
        &self,
        mut items: Vec<TransactWriteItem>,
        owners: &[TopicPartition],
    ) -> Result<(), StoreError> {
        // One progress update alone (one partition, no new segment: the steady state) needs no
        // transaction: a conditional UpdateItem is just as atomic, costs half the write
        // capacity (transactional writes are billed twice) and is one round trip either way.
        if let ([item], [tp]) = (items.as_mut_slice(), owners) {
            if let Some(update) = item.update.take() {
                return self.conditional_update(update, tp).await;
            }
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(match cancellation(&e) {
                Some(codes) => match codes.iter().position(|c| c == CONDITIONAL_CHECK_FAILED) {
                    Some(i) => match owners.get(i) {
                        Some(tp) => StoreError::Conflict { tp: tp.clone() },
                        None => unavailable(DynamoError::sdk("TransactWriteItems", e)),
                    },
                    None => unavailable(DynamoError::sdk("TransactWriteItems", e)),
                },
                None => unavailable(DynamoError::sdk("TransactWriteItems", e)),
            }),
        }
    }

    /// Runs a transaction's single [`Update`] as a conditional `UpdateItem`; a failed condition
    /// (also: no progress stored) is [`StoreError::Conflict`] on `tp`.
    async fn conditional_update(&self, u: Update, tp: &TopicPartition) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        match self
            .client
            .update_item()
            .table_name(u.table_name)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => {
                    StoreError::Conflict { tp: tp.clone() }
                }
                _ => unavailable(DynamoError::sdk("UpdateItem", e)),
            }),
        }
    }

    fn progress_update(
        &self,
        tp: &TopicPartition,
        expected: Progress,
        new: Progress,
        now_ms: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(progress_key(tp)))
            .update_expression("SET next_source = :ns, next_target = :nt, updated_at = :now")
            .condition_expression("next_source = :es AND next_target = :et")
            .expression_attribute_values(":ns", n(new.next_source))
            .expression_attribute_values(":nt", n(new.next_target))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":es", n(expected.next_source))
            .expression_attribute_values(":et", n(expected.next_target))
            .build()
            .map_err(|e| unavailable(DynamoError::build("TransactWriteItems", e)))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn segment_put(
        &self,
        tp: &TopicPartition,
        seg: Segment,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(segment_item(tp, seg)))
            .build()
            .map_err(|e| unavailable(DynamoError::build("TransactWriteItems", e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The transactions for `commits`, in the order they must run (see the module docs).
    fn plan_commit(&self, commits: &[ProgressCommit]) -> Result<Vec<PlannedTxn>, StoreError> {
        let now_ms = epoch_ms();
        let mut seen = HashSet::with_capacity(commits.len());
        // Per partition: its links (one unless split), each a list of items.
        let mut units: Vec<Vec<Vec<TransactWriteItem>>> = Vec::with_capacity(commits.len());
        for c in commits {
            if !seen.insert(&c.tp) {
                return Err(StoreError::duplicate_commit(&c.tp));
            }
            // Upsert semantics: one put per source_start, the last one given wins.
            let segments: Vec<Segment> = c
                .segments
                .iter()
                .map(|s| (s.source_start, *s))
                .collect::<BTreeMap<_, _>>()
                .into_values()
                .collect();
            if segments.len() < MAX_TRANSACT_ITEMS {
                let mut items = Vec::with_capacity(1 + segments.len());
                items.push(self.progress_update(&c.tp, c.expected, c.new, now_ms)?);
                for s in &segments {
                    items.push(self.segment_put(&c.tp, *s)?);
                }
                units.push(vec![items]);
                continue;
            }
            check_splittable(c, &segments)?;
            let chunks: Vec<&[Segment]> = segments.chunks(MAX_TRANSACT_ITEMS - 1).collect();
            let mut links = Vec::with_capacity(chunks.len());
            let mut from = c.expected;
            for (i, chunk) in chunks.iter().enumerate() {
                let to = match chunk.last() {
                    Some(last) if i + 1 < chunks.len() => Progress {
                        next_source: last.source_start,
                        next_target: last.target_start,
                    },
                    _ => c.new,
                };
                let mut items = Vec::with_capacity(1 + chunk.len());
                items.push(self.progress_update(&c.tp, from, to, now_ms)?);
                for s in chunk.iter() {
                    items.push(self.segment_put(&c.tp, *s)?);
                }
                links.push(items);
                from = to;
            }
            units.push(links);
        }

        let mut txns: Vec<PlannedTxn> = Vec::new();
        let mut current = PlannedTxn::default();
        for (c, links) in commits.iter().zip(units) {
            let chained = links.len() > 1;
            for items in links {
                // A chain link always runs alone (in order); a single unit joins the current
                // transaction while it fits.
                let full = current.items.len() + items.len() > MAX_TRANSACT_ITEMS;
                if (chained || full) && !current.items.is_empty() {
                    txns.push(std::mem::take(&mut current));
                }
                current
                    .owners
                    .extend(std::iter::repeat_n(c.tp.clone(), items.len()));
                current.items.extend(items);
                if chained {
                    txns.push(std::mem::take(&mut current));
                }
            }
        }
        if !current.items.is_empty() {
            txns.push(current);
        }
        Ok(txns)
    }
}

/// A chain split needs the segments to lie between `expected` and `new` (as
/// [`ferry_core::progress::advance`] produces them), so that every link is a valid progress.
fn check_splittable(c: &ProgressCommit, segments: &[Segment]) -> Result<(), StoreError> {
    let inside = |s: &Segment| {
        (c.expected.next_source..=c.new.next_source).contains(&s.source_start)
            && (c.expected.next_target..=c.new.next_target).contains(&s.target_start)
    };
    let increasing = segments
        .windows(2)
        .all(|w| w[0].target_start < w[1].target_start);
    if segments.iter().all(inside) && increasing {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            key: partition_key(&c.tp),
            reason: format!(
                "commit of {} segments needs several transactions, which requires segments strictly increasing between expected {:?} and new {:?}",
                segments.len(),
                c.expected,
                c.new
            ),
        })
    }
}

const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

/// The per-item cancellation codes of a cancelled transaction (`"None"` for items that were
/// fine), from `CancellationReasons` or, if absent, the message
/// (`"... cancellation reasons for specific reasons [None, ConditionalCheckFailed]"`).
fn cancellation<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Vec<String>> {
    let cancelled = match err.as_service_error()? {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => c,
        _ => return None,
    };
    let reasons = cancelled.cancellation_reasons();
    if !reasons.is_empty() {
        return Some(
            reasons
                .iter()
                .map(|r| r.code().unwrap_or("None").to_string())
                .collect(),
        );
    }
    let message = cancelled.message()?;
    let list = message.rsplit_once('[')?.1.split_once(']')?.0;
    Some(list.split(',').map(|c| c.trim().to_string()).collect())
}

fn backoff(round: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << round.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn progress_key(tp: &TopicPartition) -> Item {
    HashMap::from([
        (PK.to_string(), s(partition_key(tp))),
        (SK.to_string(), s(PROGRESS_SK)),
    ])
}

fn progress_item(tp: &TopicPartition, p: Progress, now_ms: i64) -> Item {
    let mut item = progress_key(tp);
    item.insert("next_source".into(), n(p.next_source));
    item.insert("next_target".into(), n(p.next_target));
    item.insert("updated_at".into(), n(now_ms));
    item
}

fn segment_item(tp: &TopicPartition, seg: Segment) -> Item {
    let mut item = HashMap::from([
        (PK.to_string(), s(partition_key(tp))),
        (SK.to_string(), s(segment_sort_key(seg.source_start))),
        ("source_start".to_string(), n(seg.source_start)),
        ("target_start".to_string(), n(seg.target_start)),
    ]);
    if seg.target_gap_before != 0 {
        item.insert("target_gap_before".to_string(), n(seg.target_gap_before));
    }
    item
}

fn item_key(item: &Item) -> String {
    let part = |a: &str| match item.get(a) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part(PK), part(SK))
}

fn number(item: &Item, attr: &str) -> Result<i64, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: item_key(item),
        reason,
    };
    match item.get(attr) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| corrupt(format!("attribute {attr} = {v:?} is not an integer"))),
        Some(other) => Err(corrupt(format!(
            "attribute {attr} is not a number: {other:?}"
        ))),
        None => Err(corrupt(format!("attribute {attr} is missing"))),
    }
}

fn parse_progress(item: &Item) -> Result<Progress, StoreError> {
    Ok(Progress {
        next_source: number(item, "next_source")?,
        next_target: number(item, "next_target")?,
    })
}

fn parse_segment(item: &Item) -> Result<Segment, StoreError> {
    Ok(Segment {
        source_start: number(item, "source_start")?,
        target_start: number(item, "target_start")?,
        target_gap_before: if item.contains_key("target_gap_before") {
            number(item, "target_gap_before")?
        } else {
            0
        },
    })
}

impl ProgressStore for DynamoStateStore {
    async fn load_progress(
        &self,
        tps: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Progress>, StoreError> {
        // BatchGetItem rejects duplicate keys: ask once per partition.
        let mut by_pk: HashMap<String, &TopicPartition> = HashMap::with_capacity(tps.len());
        let mut keys = Vec::with_capacity(tps.len());
        for tp in tps {
            let pk = partition_key(tp);
            if by_pk.insert(pk, tp).is_none() {
                keys.push(progress_key(tp));
            }
        }
        let mut chunks = Vec::with_capacity(keys.len().div_ceil(MAX_BATCH_GET_KEYS));
        while !keys.is_empty() {
            let rest = keys.split_off(keys.len().min(MAX_BATCH_GET_KEYS));
            chunks.push(std::mem::replace(&mut keys, rest));
        }
        let found =
            futures::future::try_join_all(chunks.into_iter().map(|c| self.batch_get(c))).await?;
        let mut progress = HashMap::with_capacity(by_pk.len());
        for item in found.iter().flatten() {
            let tp = match item.get(PK) {
                Some(AttributeValue::S(pk)) => by_pk.get(pk.as_str()),
                _ => None,
            }
            .ok_or_else(|| StoreError::Corrupt {
                key: item_key(item),
                reason: "BatchGetItem returned an item that was not asked for".to_string(),
            })?;
            progress.insert((*tp).clone(), parse_progress(item)?);
        }
        Ok(progress)
    }

    async fn init_progress(
        &self,
        tp: &TopicPartition,
        initial: Progress,
    ) -> Result<Progress, StoreError> {
        let put_progress = Put::builder()
            .table_name(&self.table)
            .set_item(Some(progress_item(tp, initial, epoch_ms())))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| unavailable(DynamoError::build("TransactWriteItems", e)))?;
        let items = vec![
            TransactWriteItem::builder().put(put_progress).build(),
            self.segment_put(tp, initial.segment_here())?,
        ];
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(initial),
            Err(e) => e,
        };
        let lost_race = cancellation(&err).is_some_and(|codes| {
            codes.first().map(String::as_str) == Some(CONDITIONAL_CHECK_FAILED)
        });
        if !lost_race {
            return Err(unavailable(DynamoError::sdk("TransactWriteItems", err)));
        }
        // Somebody else initialised it: return theirs (from the cancellation if DynamoDB sent
        // the old item, else read it).
        let old_item = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => {
                c.cancellation_reasons().first().and_then(|r| r.item()).filter(|i| !i.is_empty()).cloned()
            }
            _ => None,
        };
        match old_item {
            Some(item) => parse_progress(&item),
            None => self
                .get_progress(tp)
                .await?
                // Deleted between the two calls (operator reset): let the caller retry.
                .ok_or_else(|| StoreError::Conflict { tp: tp.clone() }),
        }
    }

    async fn commit_progress(&self, commits: &[ProgressCommit]) -> Result<(), StoreError> {
        for txn in self.plan_commit(commits)? {
            self.transact(txn.items, &txn.owners).await?;
        }
        Ok(())
    }
}

impl SegmentStore for DynamoStateStore {
    async fn segments(&self, tp: &TopicPartition) -> Result<Vec<Segment>, StoreError> {
        let mut segments = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :seg)")
                .expression_attribute_values(":pk", s(partition_key(tp)))
                .expression_attribute_values(":seg", s(SEGMENT_SK_PREFIX))
                .consistent_read(true)
                .set_limit(self.query_page_size)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(DynamoError::sdk("Query", e)))?;
            for item in out.items() {
                segments.push(parse_segment(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        segments.sort_by_key(|s| s.source_start);
        Ok(segments)
    }
}

/// Partition key of a group's checkpoints: `GROUP#<group>`.
pub fn group_key(group: &str) -> String {
    format!("GROUP#{group}")
}

/// Sort key of a checkpoint: `TP#<topic>#<partition>`.
pub fn checkpoint_sort_key(tp: &TopicPartition) -> String {
    partition_key(tp)
}

/// Concurrent conditional puts per [`CheckpointStore::save_checkpoints`] call.
const CHECKPOINT_PUT_CONCURRENCY: usize = 16;

fn parse_checkpoint(item: &Item) -> Result<(TopicPartition, Checkpoint), StoreError> {
    let sk = match item.get(SK) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "",
    };
    let tp = sk
        .strip_prefix("TP#")
        .and_then(|rest| rest.rsplit_once('#'))
        .and_then(|(topic, p)| Some(TopicPartition::new(topic, p.parse().ok()?)))
        .ok_or_else(|| StoreError::Corrupt {
            key: item_key(item),
            reason: "checkpoint sort key is not TP#<topic>#<partition>".to_string(),
        })?;
    Ok((
        tp,
        Checkpoint {
            source_offset: number(item, "source_offset")?,
            target_offset: number(item, "target_offset")?,
        },
    ))
}

impl DynamoStateStore {
    /// One conditional put; `Ok(false)` when the stored checkpoint is not older.
    async fn put_checkpoint(
        &self,
        group: &str,
        tp: &TopicPartition,
        cp: Checkpoint,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let item = HashMap::from([
            (PK.to_string(), s(group_key(group))),
            (SK.to_string(), s(checkpoint_sort_key(tp))),
            ("source_offset".to_string(), n(cp.source_offset)),
            ("target_offset".to_string(), n(cp.target_offset)),
            ("at".to_string(), n(now_ms)),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR (source_offset < :s AND target_offset <= :t)",
            )
            .expression_attribute_values(":s", n(cp.source_offset))
            .expression_attribute_values(":t", n(cp.target_offset))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(DynamoError::sdk("PutItem", e))),
        }
    }
}

/// Partition key of a migration's items.
pub fn migration_key(id: &str) -> String {
    format!("MIGRATION#{id}")
}

/// Sort key of a migration's state document.
pub const MIGRATION_STATE_SK: &str = "STATE";

/// Sort key of a migration's named report.
pub fn report_sort_key(name: &str) -> String {
    format!("REPORT#{name}")
}

fn string_attr(item: &Item, attr: &str) -> Result<String, StoreError> {
    item.get(attr)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt {
            key: item_key(item),
            reason: format!("attribute {attr} missing or not a string"),
        })
}

impl MigrationStore for DynamoStateStore {
    async fn load_migration(&self, id: &str) -> Result<Option<Versioned<String>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(migration_key(id)))
            .key(SK, s(MIGRATION_STATE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DynamoError::sdk("GetItem", e)))?;
        match out.item {
            None => Ok(None),
            Some(item) => Ok(Some(Versioned {
                value: string_attr(&item, "doc")?,
                version: u64::try_from(number(&item, "version")?).unwrap_or(0),
            })),
        }
    }

    async fn save_migration(
        &self,
        id: &str,
        document: &str,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let version = expected.unwrap_or(0) + 1;
        let item = HashMap::from([
            (PK.to_string(), s(migration_key(id))),
            (SK.to_string(), s(MIGRATION_STATE_SK)),
            ("doc".to_string(), s(document)),
            (
                "version".to_string(),
                n(i64::try_from(version).unwrap_or(i64::MAX)),
            ),
            ("updated_at".to_string(), n(epoch_ms())),
        ]);
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expected {
            None => request.condition_expression("attribute_not_exists(PK)"),
            Some(v) => request
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(i64::try_from(v).unwrap_or(i64::MAX))),
        };
        match request.send().await {
            Ok(_) => Ok(version),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::VersionConflict {
                    key: migration_key(id),
                })
            }
            Err(e) => Err(unavailable(DynamoError::sdk("PutItem", e))),
        }
    }

    async fn put_report(&self, id: &str, name: &str, document: &str) -> Result<(), StoreError> {
        let item = HashMap::from([
            (PK.to_string(), s(migration_key(id))),
            (SK.to_string(), s(report_sort_key(name))),
            ("doc".to_string(), s(document)),
            ("at".to_string(), n(epoch_ms())),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable(DynamoError::sdk("PutItem", e)))?;
        Ok(())
    }

    async fn get_report(&self, id: &str, name: &str) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(migration_key(id)))
            .key(SK, s(report_sort_key(name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DynamoError::sdk("GetItem", e)))?;
        out.item.map(|item| string_attr(&item, "doc")).transpose()
    }
}

impl CheckpointStore for DynamoStateStore {
    async fn load_checkpoints(
        &self,
        group: &str,
    ) -> Result<HashMap<TopicPartition, Checkpoint>, StoreError> {
        let mut out = HashMap::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(group_key(group)))
                .consistent_read(true)
                .set_limit(self.query_page_size)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(DynamoError::sdk("Query", e)))?;
            for item in page.items() {
                let (tp, cp) = parse_checkpoint(item)?;
                out.insert(tp, cp);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn save_checkpoints(
        &self,
        group: &str,
        checkpoints: &[(TopicPartition, Checkpoint)],
    ) -> Result<usize, StoreError> {
        let now_ms = epoch_ms();
        let mut written = 0;
        for chunk in checkpoints.chunks(CHECKPOINT_PUT_CONCURRENCY) {
            let results = futures::future::join_all(
                chunk
                    .iter()
                    .map(|(tp, cp)| self.put_checkpoint(group, tp, *cp, now_ms)),
            )
            .await;
            for r in results {
                if r? {
                    written += 1;
                }
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_keys_round_trip() {
        let tp = TopicPartition::new("orders.v2-eu", 7);
        let item = HashMap::from([
            (PK.to_string(), s(group_key("g"))),
            (SK.to_string(), s(checkpoint_sort_key(&tp))),
            ("source_offset".to_string(), n(5)),
            ("target_offset".to_string(), n(3)),
        ]);
        assert_eq!(
            parse_checkpoint(&item).unwrap(),
            (
                tp,
                Checkpoint {
                    source_offset: 5,
                    target_offset: 3
                }
            )
        );
    }

    #[test]
    fn keys_sort_numerically() {
        assert_eq!(
            partition_key(&TopicPartition::new("orders.v2-eu", 7)),
            "TP#orders.v2-eu#7"
        );
        assert_eq!(segment_sort_key(42), "SEG#00000000000000000042");
        assert_eq!(segment_sort_key(i64::MAX).len(), 24);
        assert!(segment_sort_key(999) < segment_sort_key(1000));
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(50));
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    fn p(s: i64, t: i64) -> Progress {
        Progress {
            next_source: s,
            next_target: t,
        }
    }

    #[test]
    fn corrupt_items_are_reported() {
        let mut item = progress_item(&TopicPartition::new("t", 0), p(1, 2), 0);
        assert_eq!(parse_progress(&item).unwrap(), p(1, 2));
        item.insert("next_target".into(), s("x"));
        assert!(matches!(
            parse_progress(&item),
            Err(StoreError::Corrupt { key, .. }) if key == "TP#t#0/PROGRESS"
        ));
    }

    fn offline_store() -> DynamoStateStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        DynamoStateStore::new(Client::from_conf(config), "t")
    }

    /// A commit of `n` segments as `advance` builds them (gap of one before each run of two).
    fn gappy_commit(partition: i32, n: usize) -> ProgressCommit {
        let start = p(0, 0);
        let segments: Vec<Segment> = (0..n as i64)
            .map(|i| Segment {
                target_gap_before: 0,
                source_start: 1 + 3 * i,
                target_start: 2 * i,
            })
            .collect();
        let new = segments
            .last()
            .map_or(start, |s| p(s.source_start + 2, s.target_start + 2));
        ProgressCommit {
            tp: TopicPartition::new("t", partition),
            expected: start,
            new,
            segments,
        }
    }

    fn shape(txns: &[PlannedTxn]) -> Vec<Vec<(i32, usize)>> {
        txns.iter()
            .map(|t| {
                assert_eq!(t.items.len(), t.owners.len());
                assert!(t.items.len() <= MAX_TRANSACT_ITEMS);
                let mut runs: Vec<(i32, usize)> = Vec::new();
                for tp in &t.owners {
                    match runs.last_mut() {
                        Some((p, n)) if *p == tp.partition => *n += 1,
                        _ => runs.push((tp.partition, 1)),
                    }
                }
                runs
            })
            .collect()
    }

    #[test]
    fn commits_that_fit_are_one_transaction() {
        let store = offline_store();
        let commits = [gappy_commit(0, 49), gappy_commit(1, 49)];
        assert_eq!(
            shape(&store.plan_commit(&commits).unwrap()),
            vec![vec![(0, 50), (1, 50)]]
        );
    }

    #[test]
    fn large_calls_are_packed_per_partition() {
        let store = offline_store();
        let commits: Vec<_> = (0..5).map(|i| gappy_commit(i, 40)).collect();
        assert_eq!(
            shape(&store.plan_commit(&commits).unwrap()),
            vec![
                vec![(0, 41), (1, 41)],
                vec![(2, 41), (3, 41)],
                vec![(4, 41)]
            ]
        );
    }

    #[test]
    fn a_large_partition_is_chained_alone() {
        let store = offline_store();
        let commits = [gappy_commit(0, 3), gappy_commit(1, 200), gappy_commit(2, 3)];
        assert_eq!(
            shape(&store.plan_commit(&commits).unwrap()),
            vec![
                vec![(0, 4)],
                vec![(1, 100)],
                vec![(1, 100)],
                vec![(1, 3)],
                vec![(2, 4)]
            ]
        );
        // Exactly 99 segments still fit one transaction with their progress update.
        assert_eq!(
            shape(&store.plan_commit(&[gappy_commit(0, 99)]).unwrap()),
            vec![vec![(0, 100)]]
        );
    }

    #[test]
    fn duplicate_partitions_are_rejected() {
        let store = offline_store();
        let c = gappy_commit(0, 1);
        assert!(matches!(
            store.plan_commit(&[c.clone(), c]),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn split_requires_segments_between_expected_and_new() {
        let c = ProgressCommit {
            tp: TopicPartition::new("t", 0),
            expected: p(10, 0),
            new: p(20, 5),
            segments: vec![],
        };
        let seg = |s, t| Segment {
            target_gap_before: 0,
            source_start: s,
            target_start: t,
        };
        assert!(check_splittable(&c, &[seg(12, 1), seg(15, 3)]).is_ok());
        assert!(check_splittable(&c, &[seg(9, 1)]).is_err());
        assert!(check_splittable(&c, &[seg(12, 1), seg(15, 1)]).is_err());
    }
}
