//! [`SegmentStore`] on DynamoDB: a paginated `Query` of a partition's `SEG#` items, and the
//! pair of segments around one offset with two single-item `Query`s.

use super::error::unavailable;
use super::keys::{parse_segment, s, Item};
use super::{partition_key, segment_sort_key, DynamoError, DynamoStateStore, SEGMENT_SK_PREFIX};
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

    /// Two strongly consistent `Query`s with `Limit 1`, run concurrently: `SK BETWEEN SEG#0 AND
    /// SEG#<offset>` backwards (the segment at or before `offset`) and `SK BETWEEN
    /// SEG#<offset + 1> AND SEG#<max>` forwards (the next one). `BETWEEN` keeps both inside the
    /// `SEG#` range of the partition's items.
    async fn segments_around(
        &self,
        tp: &TopicPartition,
        offset: i64,
    ) -> Result<Vec<Segment>, StoreError> {
        let offset = offset.max(0);
        let floor = self.one_segment(tp, 0, offset, false);
        let next = self.one_segment(tp, offset.saturating_add(1), i64::MAX, true);
        let (floor, next) = tokio::try_join!(floor, next)?;
        Ok(floor.into_iter().chain(next).collect())
    }
}

impl DynamoStateStore {
    /// The first (`forward`) or last segment whose `source_start` lies in `[from, to]`.
    async fn one_segment(
        &self,
        tp: &TopicPartition,
        from: i64,
        to: i64,
        forward: bool,
    ) -> Result<Option<Segment>, StoreError> {
        if from > to {
            return Ok(None);
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(partition_key(tp)))
            .expression_attribute_values(":from", s(segment_sort_key(from)))
            .expression_attribute_values(":to", s(segment_sort_key(to)))
            .scan_index_forward(forward)
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(|e| unavailable(DynamoError::sdk("Query", e)))?;
        out.items().first().map(parse_segment).transpose()
    }
}
