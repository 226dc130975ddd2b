//! Events the workers parked (a permanent failure), for operators: what, where, why.

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::context::{operator, pool};
use super::error::validation;
use super::error::Gql;

/// An event a worker could not handle and set aside; the events after it went on.
#[derive(SimpleObject, Clone)]
pub struct ParkedEvent {
    /// The worker (`worker:sms`, `worker:dataplane`, …).
    pub consumer: String,
    pub event_id: ID,
    pub stream: String,
    #[graphql(name = "type")]
    pub event_type: String,
    pub position: String,
    pub reason: String,
    pub parked_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    consumer: String,
    event_id: uuid::Uuid,
    stream_name: String,
    event_type: String,
    position: String,
    reason: String,
    parked_at: DateTime<Utc>,
}

/// Operator queries about the workers.
#[derive(Default)]
pub struct ParkedQuery;

#[Object]
impl ParkedQuery {
    /// Operators: parked events, newest first (`first`: 1–100, default 50).
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn parked_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<ParkedEvent>> {
        operator(ctx)?;
        let limit = match first {
            None => 50,
            Some(n) if (1..=100).contains(&n) => i64::from(n),
            Some(_) => return Err(validation("first", "must be 1 to 100")),
        };
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT consumer, event_id, stream_name, event_type, position, reason, parked_at
             FROM parked_events ORDER BY parked_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool(ctx)?)
        .await
        .gql()?;
        Ok(rows
            .into_iter()
            .map(|r| ParkedEvent {
                consumer: r.consumer,
                event_id: ID(r.event_id.to_string()),
                stream: r.stream_name,
                event_type: r.event_type,
                position: r.position,
                reason: r.reason,
                parked_at: r.parked_at,
            })
            .collect())
    }
}
