//! The event feed every outward channel shares (`GET /events`, the GraphQL `events` query
//! and subscription, webhooks): the same order (the log's, gap-safe), the same content
//! (`{id, position, stream, type, data, metadata, recordedAt}`), and the same rule on who sees
//! what — billing only published events (domain::catalog), operators everything.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use eventstore::{EventStore, Position, RecordedEvent, SubscriptionFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Principal, PrincipalKind};
use crate::AppState;

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

impl From<&RecordedEvent> for FeedEvent {
    fn from(e: &RecordedEvent) -> Self {
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
        events: read
            .iter()
            .filter(|e| audience.sees(e))
            .map(FeedEvent::from)
            .collect(),
        next: read.last().map_or(after, |e| e.position),
        more,
    })
}

/// Query parameters of `GET /events`.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: Option<String>,
    limit: Option<String>,
    /// One category, or several separated by commas.
    category: Option<String>,
    /// Long-poll: when nothing is there yet, wait up to this long (`30s`, at most 60 s).
    wait: Option<String>,
}

fn refuse(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(f) = field {
        error["field"] = json!(f);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

fn invalid(e: FeedInputError) -> Response {
    refuse(
        StatusCode::BAD_REQUEST,
        "VALIDATION",
        &e.to_string(),
        Some(e.field),
    )
}

/// `GET /events?after=<cursor>&limit=<n>&category=<c>[,<c>…]&wait=30s` → `{"events": […],
/// "next": "<cursor>"}`, for billing and operators.
pub async fn http(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Response {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let principal = match state.jwt.verify_header(header) {
        Ok(p) => p,
        Err(e) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                &e.to_string(),
                None,
            )
        }
    };
    let Some(audience) = Audience::of(&principal) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the feed is for billing and operators",
            None,
        );
    };
    let after = match parse_after(query.after.as_deref()) {
        Ok(a) => a,
        Err(e) => return invalid(e),
    };
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return invalid(FeedInputError {
                field: "limit",
                message: "must be 1 to 1000",
            })
        }
    };
    let filter = match filter(
        query
            .category
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect(),
    ) {
        Ok(f) => f,
        Err(e) => return invalid(e),
    };
    let wait = match query.wait.as_deref().map(crate::auth::parse_ttl) {
        None => Duration::ZERO,
        Some(Ok(w)) if w <= MAX_WAIT => w,
        Some(_) => {
            return invalid(FeedInputError {
                field: "wait",
                message: "must be a duration up to 60s, like 30s",
            })
        }
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut after = after;
    loop {
        let page = match page(&state.store, audience, &filter, after, limit).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "reading the event feed failed");
                return refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "the feed could not be read",
                    None,
                );
            }
        };
        // Answer with events, or when the wait is over; events this audience does not
        // see move the cursor on while waiting.
        if !page.events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Json(json!({"events": page.events, "next": page.next.to_string()}))
                .into_response();
        }
        after = page.next;
        if !page.more {
            let mut subscription = state.store.subscribe(filter.clone(), after);
            let _ = tokio::time::timeout_at(deadline, subscription.next()).await;
        }
    }
}
