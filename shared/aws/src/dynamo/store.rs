//! [`DynamoStateStore`]: the table handle every port implementation works on.

use aws_sdk_dynamodb::Client;

/// The DynamoDB implementation of [`ProgressStore`](ferry_core::ports::ProgressStore) and [`SegmentStore`](ferry_core::ports::SegmentStore) (see the module docs).
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) query_page_size: Option<i32>,
}

impl DynamoStateStore {
    /// A store on `table` (which must exist: see [`ensure_table`](super::ensure_table)).
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
}
