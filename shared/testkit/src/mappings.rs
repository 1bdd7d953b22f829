//! In-memory event source mappings.

use ferry_core::ports::{MappingControl, MappingCreator, MappingError, MappingInfo, NewMapping};
use std::sync::{Arc, Mutex, PoisonError};

/// In-memory [`MappingControl`] and [`MappingCreator`]: mappings of functions with their
/// states; created mappings are remembered with their settings ([`InMemoryMappings::created`]).
#[derive(Debug, Default, Clone)]
pub struct InMemoryMappings {
    mappings: Arc<Mutex<Vec<(String, MappingInfo)>>>,
    created: Arc<Mutex<Vec<(String, NewMapping)>>>,
}

impl InMemoryMappings {
    /// Adds an enabled mapping of `function` for `topic`; returns its UUID.
    pub fn add(&self, function: &str, topic: &str) -> String {
        let mut m = self.mappings.lock().unwrap_or_else(PoisonError::into_inner);
        let uuid = format!("uuid-{}", m.len());
        m.push((
            function.to_string(),
            MappingInfo {
                uuid: uuid.clone(),
                topics: vec![topic.to_string()],
                state: "Enabled".into(),
            },
        ));
        uuid
    }

    /// Sets the state of mapping `uuid` (e.g. `Disabled`).
    pub fn set_state(&self, uuid: &str, state: &str) {
        let mut all = self.mappings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, m)) = all.iter_mut().find(|(_, m)| m.uuid == uuid) {
            m.state = state.to_owned();
        }
    }

    /// Every mapping created through [`MappingCreator`], with its function, in order.
    pub fn created(&self) -> Vec<(String, NewMapping)> {
        self.created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// States of every mapping of `function`.
    pub fn states(&self, function: &str) -> Vec<String> {
        self.mappings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, m)| m.state.clone())
            .collect()
    }
}

impl MappingControl for InMemoryMappings {
    async fn list_mappings(&self, function: &str) -> Result<Vec<MappingInfo>, MappingError> {
        Ok(self
            .mappings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn set_enabled(
        &self,
        function: &str,
        uuid: &str,
        enabled: bool,
    ) -> Result<MappingInfo, MappingError> {
        let mut all = self.mappings.lock().unwrap_or_else(PoisonError::into_inner);
        let m = all
            .iter_mut()
            .find(|(f, m)| f == function && m.uuid == uuid)
            .ok_or_else(|| MappingError::Api {
                function: function.to_string(),
                source: format!("no mapping {uuid}").into(),
            })?;
        m.1.state = if enabled { "Enabled" } else { "Disabled" }.into();
        Ok(m.1.clone())
    }
}

impl MappingCreator for InMemoryMappings {
    async fn create_mapping(
        &self,
        function: &str,
        mapping: &NewMapping,
    ) -> Result<MappingInfo, MappingError> {
        let exists = self
            .mappings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|(f, m)| f == function && m.topics.contains(&mapping.topic));
        if exists {
            return Err(MappingError::Conflict {
                function: function.to_string(),
                topic: mapping.topic.clone(),
                source: "ResourceConflictException".into(),
            });
        }
        let uuid = self.add(function, &mapping.topic);
        self.set_state(&uuid, "Creating");
        self.created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((function.to_string(), mapping.clone()));
        Ok(MappingInfo {
            uuid,
            topics: vec![mapping.topic.clone()],
            state: "Creating".into(),
        })
    }
}
