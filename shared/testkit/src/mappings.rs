//! In-memory event source mappings.

use ferry_core::ports::{MappingControl, MappingError, MappingInfo};
use std::sync::{Arc, Mutex, PoisonError};

/// In-memory [`MappingControl`]: mappings of functions with their states.
#[derive(Debug, Default, Clone)]
pub struct InMemoryMappings {
    mappings: Arc<Mutex<Vec<(String, MappingInfo)>>>,
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
