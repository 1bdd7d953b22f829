//! [`SegmentStore`] on DynamoDB: a paginated `Query` of a partition's `SEG#` items.

use super::error::unavailable;
use super::keys::{parse_segment, s, Item};
use super::{partition_key, DynamoError, DynamoStateStore, SEGMENT_SK_PREFIX};
use ferry_core::ports::{SegmentStore, StoreError};
use ferry_core::progress::Segment;
use ferry_core::topics::TopicPartition;

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
