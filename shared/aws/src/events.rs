//! [`MigrationEvents`] on Amazon EventBridge: `PutEvents` to the configured bus, source
//! [`EVENT_SOURCE`], `detail-type` per change, `detail` = the event's JSON (schema in
//! [`ferry_core::events`]).

use crate::dynamo::ClientTimeouts;
use aws_config::BehaviorVersion;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use ferry_core::events::{MigrationEvent, EVENT_SOURCE};
use ferry_core::ports::{EventsError, MigrationEvents};

/// Entries per `PutEvents` call (the API's limit).
const MAX_ENTRIES: usize = 10;

/// Publishes migration events to one EventBridge bus; without a bus, publishes nothing.
#[derive(Debug, Clone)]
pub struct EventBridgeEvents {
    client: Client,
    bus: Option<String>,
}

impl EventBridgeEvents {
    /// Events go to `bus` (a name or ARN); `None`: nothing is published.
    pub fn new(client: Client, bus: Option<String>) -> Self {
        Self { client, bus }
    }

    /// A client from the standard AWS configuration (`AWS_ENDPOINT_URL_EVENTBRIDGE` /
    /// `AWS_ENDPOINT_URL` select a local endpoint such as moto), bounded timeouts.
    pub async fn from_env(bus: Option<String>) -> Self {
        let config = ClientTimeouts::default()
            .apply(aws_config::defaults(BehaviorVersion::latest()))
            .load()
            .await;
        Self::new(Client::new(&config), bus)
    }
}

fn failed(events: usize, why: impl Into<String>) -> EventsError {
    EventsError {
        events,
        source: why.into().into(),
    }
}

impl MigrationEvents for EventBridgeEvents {
    async fn publish(&self, events: &[MigrationEvent]) -> Result<(), EventsError> {
        let Some(bus) = &self.bus else {
            return Ok(());
        };
        for chunk in events.chunks(MAX_ENTRIES) {
            let mut entries = Vec::with_capacity(chunk.len());
            for e in chunk {
                let detail = serde_json::to_string(e)
                    .map_err(|err| failed(events.len(), err.to_string()))?;
                entries.push(
                    PutEventsRequestEntry::builder()
                        .event_bus_name(bus)
                        .source(EVENT_SOURCE)
                        .detail_type(e.detail_type())
                        .detail(detail)
                        .build(),
                );
            }
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| EventsError {
                    events: events.len(),
                    source: Box::new(aws_sdk_eventbridge::Error::from(err)),
                })?;
            if out.failed_entry_count() > 0 {
                let first = out
                    .entries()
                    .iter()
                    .find_map(|r| {
                        r.error_code()
                            .map(|c| format!("{c}: {}", r.error_message().unwrap_or("")))
                    })
                    .unwrap_or_default();
                return Err(failed(
                    events.len(),
                    format!(
                        "{} of {} entries failed ({first})",
                        out.failed_entry_count(),
                        chunk.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}
