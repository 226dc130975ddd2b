//! The delivery log of an endpoint: attempts, newest first, paged by attempt number.

use super::*;

/// One delivery attempt, for the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Delivery {
    pub event_id: Uuid,
    pub position: String,
    pub event_type: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub outcome: String,
    pub attempted_at: DateTime<Utc>,
}

/// The latest `limit` attempts of an endpoint, newest first.
pub async fn deliveries(
    pool: &PgPool,
    id: Uuid,
    limit: i64,
) -> Result<Vec<Delivery>, WebhookError> {
    Ok(sqlx::query_as(
        "SELECT event_id, position, event_type, attempt, status_code, error, duration_ms, outcome, attempted_at
         FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// A delivery attempt with its number in the log.
#[derive(sqlx::FromRow)]
struct Numbered {
    id: i64,
    #[sqlx(flatten)]
    delivery: Delivery,
}

/// Delivery attempts before attempt number `before` (newest first; all when None), with
/// their numbers, the cursors of the delivery log.
pub async fn delivery_page(
    pool: &PgPool,
    id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, Delivery)>, WebhookError> {
    let rows: Vec<Numbered> = sqlx::query_as(
        "SELECT id, event_id, position, event_type, attempt, status_code, error, duration_ms, outcome, attempted_at
         FROM webhook_deliveries WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.delivery)).collect())
}

/// Delivery attempts of an endpoint.
pub async fn delivery_count(pool: &PgPool, id: Uuid) -> Result<i64, WebhookError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?,
    )
}
