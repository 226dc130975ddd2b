//! GraphQL subscriptions (graphql-transport-ws at `/graphql/ws`): the event feed, first
//! the events after `after`, then live ones, in the log's order — the same events and
//! content as `GET /events` and the `events` query.

use async_graphql::{Context, Subscription};
use futures_util::Stream;

use super::access::{principal, services};
use super::types::EventNode;
use crate::feed::{self, Audience};

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
        let subscription = services(ctx)?.handler.store().subscribe(filter, after);
        Ok(futures_util::stream::unfold(
            subscription,
            move |mut subscription| async move {
                loop {
                    match subscription.next().await {
                        Ok(event) if audience.sees(&event) => {
                            return Some((
                                EventNode::from(feed::FeedEvent::from(&event)),
                                subscription,
                            ));
                        }
                        Ok(_) => {}
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
