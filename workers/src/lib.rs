//! Workers: each one follows the log with its own checkpoint and makes events act on the
//! world (text messages, the mail data plane, timers, reactions between streams). Effects
//! are at-least-once and idempotent; outcomes that matter to the product become events,
//! written through the application's operations (`app`), like every other write.

pub mod consumer;
pub mod dataplane;
pub mod managers;
pub mod migration;
pub mod sms;
pub mod timers;
pub mod webhooks;

pub use consumer::{Failure, Handler};

/// The id in an event's stream name `{category}-{uuid}`.
pub(crate) fn stream_id(event: &eventstore::RecordedEvent) -> Result<uuid::Uuid, Failure> {
    app::streams::StreamName::parse(&event.stream_name)
        .map(|(_, id)| id)
        .ok_or_else(|| Failure::Permanent(format!("bad stream {}", event.stream_name)))
}
