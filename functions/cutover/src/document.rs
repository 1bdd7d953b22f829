//! The migration's state document: read, change-and-store with the change's events in its
//! outbox (conditional on the version read, retried on conflicts), and publishing the outbox.

use crate::error::CutoverError;
use crate::handler::{CutoverHandler, Preflight};
use crate::telemetry::CutoverEvent;
use ferry_core::events;
use ferry_core::migration::MigrationState;
use ferry_core::ports::{
    CheckpointStore, MappingControl, MigrationEvents, MigrationStore, ProgressStore, SegmentStore,
    SourceEndOffsets, SourceGroups, SourceTopics, StoreError, TargetGroups,
};
use ferry_lambda::now_ms;

impl<S, SG, TG, M, P, E> CutoverHandler<S, SG, TG, M, P, E>
where
    S: MigrationStore + ProgressStore + SegmentStore + CheckpointStore,
    SG: SourceGroups + SourceTopics + TargetGroups + SourceEndOffsets,
    TG: TargetGroups,
    M: MappingControl,
    P: Preflight,
    E: MigrationEvents,
{
    pub(crate) async fn load(&self, id: &str) -> Result<(MigrationState, u64), CutoverError> {
        let doc = self
            .store
            .load_migration(id)
            .await?
            .ok_or_else(|| CutoverError::UnknownMigration(id.to_string()))?;
        let state = serde_json::from_str(&doc.value)?;
        Ok((state, doc.version))
    }

    /// Applies `f` to the stored document and saves it, retrying on version conflicts.
    pub(crate) async fn update<R>(
        &self,
        id: &str,
        mut f: impl FnMut(&mut MigrationState) -> Result<R, CutoverError>,
    ) -> Result<MigrationState, CutoverError> {
        for _ in 0..8 {
            let (mut state, version) = self.load(id).await?;
            let before = state.clone();
            f(&mut state)?;
            // The events of this change are stored with it (outbox), then published.
            events::record(Some(&before), &mut state, now_ms());
            let doc = serde_json::to_string(&state)?;
            match self.store.save_migration(id, &doc, Some(version)).await {
                Ok(_) => {
                    if !state.outbox.is_empty() {
                        self.publish_events(id).await;
                    }
                    return Ok(state);
                }
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CutoverError::Store(StoreError::VersionConflict {
            key: format!("MIGRATION#{id}"),
        }))
    }

    /// Publishes the outbox of migration `id` and removes what was published. A failure leaves
    /// the events stored: the next task publishes them (at least once; consumers deduplicate
    /// on `event_id`). Never fails the task: the state document stays the truth.
    pub(crate) async fn publish_events(&self, id: &str) {
        let result: Result<usize, CutoverError> = async {
            let (state, _) = self.load(id).await?;
            if state.outbox.is_empty() {
                return Ok(0);
            }
            if let Err(e) = self.events.publish(&state.outbox).await {
                CutoverEvent::EventsUnpublished {
                    migration_id: id,
                    events: state.outbox.len(),
                    error: &e.to_string(),
                }
                .emit();
                return Ok(0);
            }
            let published = state.outbox.last().map_or(0, |e| e.seq);
            for _ in 0..8 {
                let (mut s, version) = self.load(id).await?;
                s.outbox.retain(|e| e.seq > published);
                match self
                    .store
                    .save_migration(id, &serde_json::to_string(&s)?, Some(version))
                    .await
                {
                    Ok(_) => return Ok(state.outbox.len()),
                    Err(StoreError::VersionConflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(0)
        }
        .await;
        match result {
            Ok(n) if n > 0 => CutoverEvent::EventsPublished {
                migration_id: id,
                events: n,
            }
            .emit(),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(migration_id = id, error = %e, "migration events stay in the outbox")
            }
        }
    }
}
