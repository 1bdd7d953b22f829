//! [`MigrationStore`] on DynamoDB: a migration's versioned state document and its named
//! reports under `MIGRATION#<id>`.
//!
//! A document that fits one item ([`MAX_PART_BYTES`]) is stored inline in its head item
//! (`STATE` or `REPORT#<name>`, attribute `doc`). A larger one (a validation report of
//! 1,000 partitions, the state of 50 groups on wide topics) is split
//! ([`ferry_core::parts::split`]) into part items `<head SK>#PART#<gen>#<index>`, and the head
//! names the generation and the number of parts instead:
//!
//! 1. the parts of a new, unique generation are put first (nobody reads them yet);
//! 2. the head is put (for the state: conditioned on the version) with `ReturnValues ALL_OLD`;
//! 3. the parts of the replaced head's generation are deleted. On a version conflict, the new
//!    parts are deleted instead and nothing changed.
//!
//! A reader gets the head, then queries its generation's parts. If a writer replaced the head
//! and deleted those parts in between, fewer parts are found and the read starts over.

use super::error::unavailable;
use super::keys::{
    document_part_prefix, epoch_ms, from_item, item_key, n, s, DocumentFields, Item,
};
use super::{migration_key, report_sort_key, DynamoError, DynamoStateStore, MIGRATION_STATE_SK};
use super::{PK, SK};
use aws_sdk_dynamodb::types::ReturnValue;
use ferry_core::parts::{split, MAX_PART_BYTES};
use ferry_core::ports::{MigrationStore, StoreError, Versioned};
use futures::future::try_join_all;
use std::collections::HashMap;

/// Reads of a split document that found a concurrent writer's deletion before giving up.
const READ_ATTEMPTS: usize = 5;

/// A document's head item, plus the parts to write first when it is split.
struct Prepared<'a> {
    head: Item,
    gen: Option<String>,
    parts: Vec<&'a str>,
}

/// The head item's attributes for `document` under `(pk, sk)`: inline, or split into parts of a
/// new generation.
fn prepare<'a>(pk: &str, sk: &str, document: &'a str) -> Prepared<'a> {
    let mut head = HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))]);
    if document.len() <= MAX_PART_BYTES {
        head.insert("doc".to_string(), s(document));
        return Prepared {
            head,
            gen: None,
            parts: Vec::new(),
        };
    }
    let parts = split(document, MAX_PART_BYTES);
    let gen = uuid::Uuid::new_v4().simple().to_string();
    head.insert("gen".to_string(), s(&gen));
    head.insert(
        "parts".to_string(),
        n(i64::try_from(parts.len()).unwrap_or(i64::MAX)),
    );
    Prepared {
        head,
        gen: Some(gen),
        parts,
    }
}

/// The generation and part count a head item names, if its document is split.
fn split_of(item: &Item) -> Option<(String, u32)> {
    let fields: DocumentFields = from_item(item).ok()?;
    Some((fields.gen?, fields.parts?))
}

impl DynamoStateStore {
    async fn put_parts(
        &self,
        pk: &str,
        sk: &str,
        gen: &str,
        parts: &[&str],
    ) -> Result<(), StoreError> {
        let prefix = document_part_prefix(sk, gen);
        try_join_all(parts.iter().enumerate().map(|(i, part)| {
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(pk))
                .item(SK, s(format!("{prefix}{i:04}")))
                .item("doc", s(*part))
                .send()
        }))
        .await
        .map_err(|e| unavailable(DynamoError::sdk("PutItem", e)))?;
        Ok(())
    }

    /// Deletes the parts of generation `gen`. Best effort: a part left behind only takes
    /// space (no head names its generation any more), so failures are logged, not returned.
    async fn delete_parts(&self, pk: &str, sk: &str, gen: &str, count: u32) {
        let prefix = document_part_prefix(sk, gen);
        let deleted = try_join_all((0..count).map(|i| {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(PK, s(pk))
                .key(SK, s(format!("{prefix}{i:04}")))
                .send()
        }))
        .await;
        if let Err(e) = deleted {
            tracing::warn!(
                pk,
                sk,
                gen,
                error = %DynamoError::sdk("DeleteItem", e),
                "could not delete the parts of a replaced document; they are unreferenced and only take space"
            );
        }
    }

    /// Puts `prepared` (parts first, then the head with `condition`), then deletes the replaced
    /// head's parts; on a failed condition deletes the new parts and returns `Ok(false)`.
    async fn put_document(
        &self,
        pk: &str,
        sk: &str,
        prepared: Prepared<'_>,
        condition: impl FnOnce(
            aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
        )
            -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        if let Some(gen) = &prepared.gen {
            self.put_parts(pk, sk, gen, &prepared.parts).await?;
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(prepared.head))
            .return_values(ReturnValue::AllOld);
        match condition(request).send().await {
            Ok(out) => {
                if let Some((gen, count)) = out.attributes.as_ref().and_then(split_of) {
                    self.delete_parts(pk, sk, &gen, count).await;
                }
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                if let Some(gen) = &prepared.gen {
                    let count = u32::try_from(prepared.parts.len()).unwrap_or(u32::MAX);
                    self.delete_parts(pk, sk, gen, count).await;
                }
                Ok(false)
            }
            Err(e) => Err(unavailable(DynamoError::sdk("PutItem", e))),
        }
    }

    /// The document under `(pk, sk)` and its version attribute, `None` if there is no head.
    async fn get_document(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<(String, Option<u64>)>, StoreError> {
        for _ in 0..READ_ATTEMPTS {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(DynamoError::sdk("GetItem", e)))?;
            let Some(item) = out.item else {
                return Ok(None);
            };
            let fields: DocumentFields = from_item(&item)?;
            match (fields.doc, fields.gen, fields.parts) {
                (Some(doc), _, _) => return Ok(Some((doc, fields.version))),
                (None, Some(gen), Some(count)) => {
                    if let Some(doc) = self.read_parts(pk, sk, &gen, count).await? {
                        return Ok(Some((doc, fields.version)));
                    }
                    // Replaced and its parts deleted since the head was read: read again.
                }
                _ => {
                    return Err(StoreError::Corrupt {
                        key: item_key(&item),
                        reason: "a document item has neither `doc` nor `gen` and `parts`"
                            .to_owned(),
                    })
                }
            }
        }
        Err(unavailable(DynamoError::new(
            "Query",
            format!("{pk} / {sk}: the document was replaced during each of {READ_ATTEMPTS} reads"),
            None,
        )))
    }

    /// The parts of generation `gen`, concatenated; `None` if fewer than `count` exist.
    async fn read_parts(
        &self,
        pk: &str,
        sk: &str,
        gen: &str,
        count: u32,
    ) -> Result<Option<String>, StoreError> {
        let prefix = document_part_prefix(sk, gen);
        let mut parts: Vec<(String, String)> = Vec::with_capacity(count as usize);
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(&prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(DynamoError::sdk("Query", e)))?;
            for item in out.items.unwrap_or_default() {
                let key = item_key(&item);
                let fields: DocumentFields = from_item(&item)?;
                let doc = fields.doc.ok_or_else(|| StoreError::Corrupt {
                    key: key.clone(),
                    reason: "a document part has no `doc`".to_owned(),
                })?;
                parts.push((key, doc));
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        if parts.len() != count as usize {
            return Ok(None);
        }
        // Sort keys end in the zero-padded index: the query returns them in order.
        Ok(Some(parts.into_iter().map(|(_, doc)| doc).collect()))
    }
}

impl MigrationStore for DynamoStateStore {
    async fn load_migration(&self, id: &str) -> Result<Option<Versioned<String>>, StoreError> {
        let pk = migration_key(id);
        match self.get_document(&pk, MIGRATION_STATE_SK).await? {
            None => Ok(None),
            Some((value, version)) => {
                let version = version.ok_or_else(|| StoreError::Corrupt {
                    key: format!("{pk} / {MIGRATION_STATE_SK}"),
                    reason: "the migration state has no version".to_owned(),
                })?;
                Ok(Some(Versioned { value, version }))
            }
        }
    }

    async fn save_migration(
        &self,
        id: &str,
        document: &str,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let pk = migration_key(id);
        let version = expected.unwrap_or(0) + 1;
        let mut prepared = prepare(&pk, MIGRATION_STATE_SK, document);
        prepared.head.insert(
            "version".to_string(),
            n(i64::try_from(version).unwrap_or(i64::MAX)),
        );
        prepared
            .head
            .insert("updated_at".to_string(), n(epoch_ms()));
        let saved = self
            .put_document(
                &pk,
                MIGRATION_STATE_SK,
                prepared,
                |request| match expected {
                    None => request.condition_expression("attribute_not_exists(PK)"),
                    Some(v) => request
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", n(i64::try_from(v).unwrap_or(i64::MAX))),
                },
            )
            .await?;
        if saved {
            Ok(version)
        } else {
            Err(StoreError::VersionConflict { key: pk })
        }
    }

    async fn put_report(&self, id: &str, name: &str, document: &str) -> Result<(), StoreError> {
        let pk = migration_key(id);
        let sk = report_sort_key(name);
        let mut prepared = prepare(&pk, &sk, document);
        prepared.head.insert("at".to_string(), n(epoch_ms()));
        self.put_document(&pk, &sk, prepared, |request| request)
            .await?;
        Ok(())
    }

    async fn get_report(&self, id: &str, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get_document(&migration_key(id), &report_sort_key(name))
            .await?
            .map(|(doc, _)| doc))
    }
}
