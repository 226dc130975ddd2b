//! Workers: each one follows the log with its own checkpoint and makes events act on the
//! world (text messages, the mail data plane, timers, reactions between streams). Effects
//! are at-least-once and idempotent; outcomes that matter to the product become events.

pub mod clock;
pub mod consumer;
pub mod dataplane;
pub mod managers;
pub mod sms;
pub mod timers;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use consumer::{Failure, Handler};

/// The id in an event's stream name `{category}-{uuid}`.
pub(crate) fn stream_id(event: &eventstore::RecordedEvent) -> Result<uuid::Uuid, Failure> {
    event
        .stream_name
        .split_once('-')
        .and_then(|(_, id)| id.parse().ok())
        .ok_or_else(|| Failure::Permanent(format!("bad stream {}", event.stream_name)))
}

/// The actor written into the metadata of events a worker causes.
pub(crate) fn context(
    worker: &str,
    cause: &eventstore::RecordedEvent,
) -> api::command::CommandContext {
    api::command::CommandContext {
        actor: format!("worker:{worker}"),
        correlation_id: cause
            .metadata
            .correlation_id
            .unwrap_or_else(uuid::Uuid::now_v7),
        causation_id: Some(cause.event_id),
    }
}
