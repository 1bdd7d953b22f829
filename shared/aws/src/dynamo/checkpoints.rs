//! [`CheckpointStore`] on DynamoDB: a group's checkpoints under `GROUP#<group>`, saved with
//! conditional puts that never move backwards.

use super::error::unavailable;
use super::keys::{epoch_ms, from_item, item_key, n, s, CheckpointFields, Item};
use super::{checkpoint_sort_key, group_key, DynamoError, DynamoStateStore, PK, SK};
use aws_sdk_dynamodb::types::AttributeValue;
use ferry_core::checkpoint::Checkpoint;
use ferry_core::ports::{CheckpointStore, StoreError};
use ferry_core::topics::TopicPartition;
use std::collections::HashMap;

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
    let fields: CheckpointFields = from_item(item)?;
    Ok((
        tp,
        Checkpoint {
            source_offset: fields.source_offset,
            target_offset: fields.target_offset,
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
}
