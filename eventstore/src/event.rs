use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::position::Position;

/// Who and what caused an event. Stored as the event's `metadata` JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Shared by every event that one request or process produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The event (or command) that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The principal that acted (`account:…`, `service:…`, a worker's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Version of the event's data schema, for upcasting old events.
    #[serde(default = "first_version")]
    pub schema_version: u32,
    /// Whose personal data the event holds and in which of its fields: those are stored
    /// sealed with that person's key, and read back as `"[erased]"` once it is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal: Option<crate::personal::Personal>,
    /// Anything else a caller wants to keep with the event.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn first_version() -> u32 {
    1
}

impl Metadata {
    /// Metadata for schema version 1 with nothing else set.
    pub fn new() -> Self {
        Metadata {
            schema_version: 1,
            ..Default::default()
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Idempotency key: appending the same id to the same stream again writes nothing.
    pub event_id: Uuid,
    pub event_type: String,
    /// A JSON object.
    pub data: Value,
    pub metadata: Metadata,
}

impl NewEvent {
    /// An event with a fresh id and empty metadata. The id is a UUIDv7: time-ordered ids
    /// land next to each other in the event-id index instead of on random pages.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            data,
            metadata: Metadata::new(),
        }
    }

    /// The same event with the given id.
    pub fn with_id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }

    /// The same event with the given metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An event as recorded in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream_name: String,
    /// 0-based, gap-free within the stream.
    pub stream_revision: u64,
    pub position: Position,
    pub event_type: String,
    pub data: Value,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// The category of the event's stream.
    pub fn category(&self) -> &str {
        crate::category_of(&self.stream_name)
    }
}
