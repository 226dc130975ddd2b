//! GraphQL subscriptions (graphql-transport-ws at `/graphql/ws`): the event feed, first
//! the events after `after`, then live ones, in the log's order — the same events and
//! content as `GET /events` and the `events` query.

use async_graphql::{Context, Subscription};
use futures_util::Stream;

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use app::feed::{self, Audience};

use super::context::{app, principal};

/// An event of the log, as the billing system and operators read it.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Event")]
pub struct EventNode {
    /// The event's id, the same in every channel (a webhook's `webhook-id`).
    pub id: async_graphql::ID,
    /// Opaque cursor: pass it as `after` to continue.
    pub position: String,
    pub stream: String,
    #[graphql(name = "type")]
    pub event_type: String,
    pub data: async_graphql::Json<serde_json::Value>,
    pub metadata: async_graphql::Json<serde_json::Value>,
    pub recorded_at: DateTime<Utc>,
}

impl From<app::feed::FeedEvent> for EventNode {
    fn from(e: app::feed::FeedEvent) -> Self {
        EventNode {
            id: async_graphql::ID(e.id.to_string()),
            position: e.position,
            stream: e.stream,
            event_type: e.event_type,
            data: async_graphql::Json(e.data),
            metadata: async_graphql::Json(e.metadata),
            recorded_at: e.recorded_at,
        }
    }
}

/// The subscription root.
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Billing and operators: every event after `after` (a position from the feed), then
    /// each new one as it is recorded; only `categories` when given.
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        categories: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = EventNode>> {
        let audience = Audience::of(principal(ctx)?).ok_or_else(super::error::forbidden)?;
        let after = feed::parse_after(after.as_deref())
            .map_err(|e| super::error::validation(e.field, e.message))?;
        let filter = feed::filter(categories.unwrap_or_default())
            .map_err(|e| super::error::validation("categories", e.message))?;
        let subscription = app(ctx)?.store().subscribe(filter, after);
        Ok(futures_util::stream::unfold(
            subscription,
            move |mut subscription| async move {
                loop {
                    match subscription.next().await {
                        Ok(event) => {
                            if let Some(seen) = audience.view(&event) {
                                return Some((EventNode::from(seen), subscription));
                            }
                        }
                        Err(e) => {
                            // The client resumes from the last position it received.
                            tracing::error!(error = %e, "event subscription ended");
                            return None;
                        }
                    }
                }
            },
        ))
    }
}
