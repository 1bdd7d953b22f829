//! [`ProgressStore`] on DynamoDB: batched loads, initialisation and conditional commits
//! packed into transactions.

use super::error::unavailable;
use super::keys::{epoch_ms, n, parse_progress, progress_item, progress_key, segment_item};
use super::keys::{item_key, Item};
use super::{partition_key, DynamoError, DynamoStateStore, PK};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use ferry_core::ports::{ProgressCommit, ProgressStore, StoreError};
use ferry_core::progress::{Progress, Segment};
use ferry_core::topics::TopicPartition;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Most items DynamoDB accepts in one `TransactWriteItems`.
pub const MAX_TRANSACT_ITEMS: usize = 100;
/// Most keys DynamoDB accepts in one `BatchGetItem`.
pub const MAX_BATCH_GET_KEYS: usize = 100;

/// `BatchGetItem` rounds retried for `UnprocessedKeys` before giving up with `Unavailable`.
const UNPROCESSED_RETRIES: u32 = 8;
/// First backoff before retrying `UnprocessedKeys`; doubles per round up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One planned `TransactWriteItems`: its items and, per item, the partition it belongs to (to
/// name the partition of a failed condition from the cancellation reason's index).
#[derive(Debug, Default)]
struct PlannedTxn {
    items: Vec<TransactWriteItem>,
    owners: Vec<TopicPartition>,
}

impl DynamoStateStore {
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

    pub(super) fn segment_put(
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

pub(super) const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

/// The per-item cancellation codes of a cancelled transaction (`"None"` for items that were
/// fine), from `CancellationReasons` or, if absent, the message
/// (`"... cancellation reasons for specific reasons [None, ConditionalCheckFailed]"`).
pub(super) fn cancellation<R>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;
    use aws_sdk_dynamodb::Client;

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
