//! Table bootstrap: [`ensure_table`].

use super::error::unavailable;
use super::{DynamoError, PK, SK};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use ferry_core::ports::StoreError;
use std::time::Duration;

/// How long [`ensure_table`] waits for the table to become `ACTIVE`.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(300);

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
