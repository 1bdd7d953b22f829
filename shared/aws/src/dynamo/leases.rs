//! [`RunLease`] on DynamoDB: one item per lease, `PK = LEASE#<name>`, `SK = LEASE`, taken with a
//! conditional put and given back with a conditional delete.

use super::error::unavailable;
use super::keys::{n, s};
use super::{DynamoError, DynamoStateStore, PK, SK};
use ferry_core::ports::{RunLease, StoreError};
use std::collections::HashMap;

/// Partition key of lease `name`.
pub fn lease_key(name: &str) -> String {
    format!("LEASE#{name}")
}

/// Sort key of every lease item.
pub const LEASE_SK: &str = "LEASE";

impl RunLease for DynamoStateStore {
    /// `PutItem` with the condition `attribute_not_exists(PK) OR until_ms < :now OR owner =
    /// :owner`; a failed condition means somebody else holds the lease.
    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let item = HashMap::from([
            (PK.to_string(), s(lease_key(name))),
            (SK.to_string(), s(LEASE_SK)),
            ("owner".to_string(), s(owner)),
            ("until_ms".to_string(), n(until_ms)),
            ("acquired_ms".to_string(), n(now_ms)),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR until_ms < :now OR #o = :owner")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":owner", s(owner))
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

    /// `DeleteItem` with the condition `owner = :owner`.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(lease_key(name)))
            .key(SK, s(LEASE_SK))
            .condition_expression("#o = :owner")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(DynamoError::sdk("DeleteItem", e))),
        }
    }
}
