//! [`MigrationStore`] on DynamoDB: a migration's versioned state document and its named
//! reports under `MIGRATION#<id>`.

use super::error::unavailable;
use super::keys::{epoch_ms, from_item, item_key, n, s, DocumentFields};
use super::{migration_key, report_sort_key, DynamoError, DynamoStateStore, MIGRATION_STATE_SK};
use super::{PK, SK};
use ferry_core::ports::{MigrationStore, StoreError, Versioned};
use std::collections::HashMap;

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
            Some(item) => {
                let fields: DocumentFields = from_item(&item)?;
                let version = fields.version.ok_or_else(|| StoreError::Corrupt {
                    key: item_key(&item),
                    reason: "the migration state has no version".to_owned(),
                })?;
                Ok(Some(Versioned {
                    value: fields.doc,
                    version,
                }))
            }
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
        out.item
            .map(|item| from_item::<DocumentFields>(&item).map(|f| f.doc))
            .transpose()
    }
}
