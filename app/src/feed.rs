//! The event feed every outward channel shares (`GET /events`, the GraphQL `events` query
//! and subscription, webhooks): the same order (the log's, gap-safe), the same content
//! (`{id, position, stream, type, data, metadata, recordedAt}`), and the same rule on who sees
//! what — billing only published events (domain::catalog), operators everything.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eventstore::{EventStore, Position, RecordedEvent, SubscriptionFilter};
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, PrincipalKind};

/// Most events one page holds.
pub const MAX_LIMIT: usize = 1000;
/// Longest long-poll.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// One event as the channels deliver it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedEvent {
    /// The event's id: unique, the same in every channel (a webhook's `webhook-id`).
    pub id: uuid::Uuid,
    /// Opaque cursor: pass it back as `after` to continue behind this event.
    pub position: String,
    pub stream: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

impl FeedEvent {
    /// The event as it is, every field (for operators).
    fn whole(e: &RecordedEvent) -> Self {
        FeedEvent {
            id: e.event_id,
            position: e.position.to_string(),
            stream: e.stream_name.clone(),
            event_type: e.event_type.clone(),
            data: e.data.clone(),
            metadata: serde_json::to_value(&e.metadata).unwrap_or_default(),
            recorded_at: e.recorded_at,
        }
    }

    /// The event without the fields that identify a person (the catalog's, and any the
    /// event itself says it holds), for whoever outside the service receives it.
    fn minimized(e: &RecordedEvent) -> Self {
        let mut event = FeedEvent::whole(e);
        let mut personal: Vec<&str> =
            domain::catalog::personal_fields(e.category(), &e.event_type).to_vec();
        if let Some(p) = &e.metadata.personal {
            personal.extend(p.fields.iter().map(String::as_str));
        }
        if let Some(data) = event.data.as_object_mut() {
            for field in personal {
                data.remove(field);
            }
        }
        if let Some(metadata) = event.metadata.as_object_mut() {
            metadata.remove("personal");
        }
        event
    }
}

/// Who reads the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The billing service: published events only.
    Billing,
    /// Operators: every event.
    Operator,
}

impl Audience {
    /// The audience a principal belongs to; None = may not read the feed.
    pub fn of(principal: &Principal) -> Option<Audience> {
        match (principal.kind, principal.scope.as_deref()) {
            (PrincipalKind::Operator, _) => Some(Audience::Operator),
            (PrincipalKind::Service, Some("billing")) => Some(Audience::Billing),
            _ => None,
        }
    }

    /// Whether this audience receives the event.
    pub fn sees(self, event: &RecordedEvent) -> bool {
        self == Audience::Operator
            || domain::catalog::is_published(event.category(), &event.event_type)
    }

    /// The event as this audience receives it, if it does: operators whole, billing (and
    /// the webhooks that share its view) without personal data.
    pub fn view(self, event: &RecordedEvent) -> Option<FeedEvent> {
        match self {
            Audience::Operator => Some(FeedEvent::whole(event)),
            Audience::Billing => self.sees(event).then(|| FeedEvent::minimized(event)),
        }
    }
}

/// A bad feed request, named by its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FeedInputError {
    pub field: &'static str,
    pub message: &'static str,
}

/// `after`: absent = from the start.
pub fn parse_after(after: Option<&str>) -> Result<Position, FeedInputError> {
    match after {
        None | Some("") => Ok(Position::START),
        Some(c) => c.parse().map_err(|_| FeedInputError {
            field: "after",
            message: "is not a cursor this feed gave out",
        }),
    }
}

/// `categories`: none = every category.
pub fn filter(categories: Vec<String>) -> Result<SubscriptionFilter, FeedInputError> {
    let categories: Vec<String> = categories
        .into_iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if categories
        .iter()
        .any(|c| !c.bytes().all(|b| b.is_ascii_lowercase()))
    {
        return Err(FeedInputError {
            field: "category",
            message: "categories are lower-case words like subscription",
        });
    }
    Ok(if categories.is_empty() {
        SubscriptionFilter::All
    } else {
        SubscriptionFilter::Categories(categories)
    })
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub events: Vec<FeedEvent>,
    /// Where the next page starts: behind the last event read, including any this audience
    /// does not see, so a consumer never reads those again.
    pub next: Position,
    /// Whether more events were available right away.
    pub more: bool,
}

/// Up to `limit` events after `after`.
pub async fn page(
    store: &EventStore,
    audience: Audience,
    filter: &SubscriptionFilter,
    after: Position,
    limit: usize,
) -> Result<Page, eventstore::Error> {
    let read = store.read_filtered(filter, after, limit + 1).await?;
    let more = read.len() > limit;
    let read = &read[..read.len().min(limit)];
    Ok(Page {
        events: read.iter().filter_map(|e| audience.view(e)).collect(),
        next: read.last().map_or(after, |e| e.position),
        more,
    })
}
