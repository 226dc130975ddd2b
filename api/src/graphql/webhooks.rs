//! Webhook endpoints, for operators: register (the answer carries the signing secret this
//! once), list with the delivery log, rotate the secret, pause, resume, replay, delete.

use async_graphql::{ComplexObject, Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use app::webhook::{self, Endpoint};

use super::connection::{self, Connection, Paged};
use super::context::{once, pool, principal, services};
use super::enums::parse_id;
use super::error::{validation, Gql};

/// A webhook endpoint.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Webhook {
    pub id: ID,
    pub url: String,
    /// Only events of these categories (all when empty).
    pub categories: Vec<String>,
    /// ACTIVE, PAUSED, or FAILING (keeps failing; deliveries are still retried).
    pub status: String,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The signing secret (`whsec_…`): only in the answer that created it.
    pub secret: Option<String>,
}

/// One delivery attempt.
#[derive(SimpleObject, Clone)]
pub struct WebhookDelivery {
    /// Where the delivery log continues after this attempt.
    #[graphql(skip)]
    pub cursor: String,
    pub event_id: ID,
    pub position: String,
    #[graphql(name = "type")]
    pub event_type: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    /// DELIVERED, FAILED (retried), GAVE_UP (after 3 days of failures).
    pub outcome: String,
    pub attempted_at: DateTime<Utc>,
}

#[ComplexObject]
impl Webhook {
    /// The latest delivery attempts, newest first (`first`: 1–100, default 20).
    #[graphql(
        complexity = "super::connection::list_cost(Some(first.unwrap_or(20)), child_complexity)"
    )]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<WebhookDelivery>> {
        let limit = match first {
            None => 20,
            Some(n) if (1..=100).contains(&n) => i64::from(n),
            Some(_) => return Err(validation("first", "must be 1 to 100")),
        };
        let id = parse_id("id", &self.id)?;
        let rows = webhook::deliveries(pool(ctx)?, id, limit).await.gql()?;
        Ok(rows.into_iter().map(|d| delivery(d, 0)).collect())
    }

    /// The delivery attempts, newest first, a page at a time (`after`: a cursor of this
    /// list).
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn deliveries_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<WebhookDelivery>> {
        let size = connection::page_size(first)?;
        let id = parse_id("id", &self.id)?;
        let before = match after.as_deref() {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| validation("after", "is not a cursor of this list"))?,
            ),
        };
        let page = webhook::delivery_page(pool(ctx)?, id, before, size + 1)
            .await
            .gql()?;
        let total = if connection::wants_total(ctx) {
            webhook::delivery_count(pool(ctx)?, id).await.gql()?
        } else {
            0
        };
        Ok(Paged {
            rows: page.into_iter().map(|(n, d)| delivery(d, n)).collect(),
            size,
            after: after.is_some(),
            total,
        }
        .connection(|d| d.cursor.clone()))
    }
}

fn delivery(d: webhook::Delivery, number: i64) -> WebhookDelivery {
    WebhookDelivery {
        cursor: number.to_string(),
        event_id: ID(d.event_id.to_string()),
        position: d.position,
        event_type: d.event_type,
        attempt: d.attempt,
        status_code: d.status_code,
        error: d.error,
        duration_ms: d.duration_ms,
        outcome: d.outcome,
        attempted_at: d.attempted_at,
    }
}

fn answer(e: Endpoint, secret: Option<String>) -> Webhook {
    Webhook {
        id: ID(e.id.to_string()),
        url: e.url,
        categories: e.categories,
        status: e.status.as_str().to_owned(),
        failing_since: e.failing_since,
        created_at: e.created_at,
        secret,
    }
}

fn operator(ctx: &Context<'_>) -> async_graphql::Result<String> {
    super::context::operator(ctx)?;
    Ok(principal(ctx)?.actor())
}

/// Webhook queries.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Operators: every webhook endpoint.
    #[graphql(complexity = "super::connection::FEW * child_complexity")]
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        operator(ctx)?;
        let all = webhook::list(pool(ctx)?).await.gql()?;
        Ok(all.into_iter().map(|e| answer(e, None)).collect())
    }
}

/// Webhook mutations.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Operator: deliver events (of `categories`, or all published ones) to `url`, signed
    /// per Standard Webhooks. The answer carries the secret; it is never shown again.
    async fn register_webhook(
        &self,
        ctx: &Context<'_>,
        url: String,
        categories: Option<Vec<String>>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Webhook> {
        let actor = operator(ctx)?;
        let s = services(ctx)?;
        let categories = categories.unwrap_or_default();
        // Only the id is kept for a repeat with the same key: the secret never is.
        let secret = std::sync::Mutex::new(None);
        let id: String = once(
            ctx,
            idempotency_key,
            "registerWebhook",
            &(&url, &categories),
            async {
                let (endpoint, created) = webhook::register(
                    s.app.pool(),
                    s.app.secrets(),
                    &url,
                    categories.clone(),
                    &actor,
                    s.app.settings().webhook_targets,
                )
                .await?;
                *secret.lock().unwrap_or_else(|p| p.into_inner()) = Some(created);
                Ok(endpoint.id.to_string())
            },
        )
        .await?;
        let id = id
            .parse::<Uuid>()
            .map_err(|e| app::AppError::Internal(e.to_string()))
            .gql()?;
        let endpoint = webhook::get(s.app.pool(), id).await.gql()?;
        Ok(answer(
            endpoint,
            secret.into_inner().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    /// Operator: a new signing secret (in the answer); the old one keeps signing for 24 hours.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Webhook> {
        operator(ctx)?;
        let s = services(ctx)?;
        let id = parse_id("id", &id)?;
        let secret = std::sync::Mutex::new(None);
        once(ctx, idempotency_key, "rotateWebhookSecret", &id, async {
            let created = webhook::rotate(s.app.pool(), s.app.secrets(), id).await?;
            *secret.lock().unwrap_or_else(|p| p.into_inner()) = Some(created);
            Ok(())
        })
        .await?;
        let endpoint = webhook::get(s.app.pool(), id).await.gql()?;
        Ok(answer(
            endpoint,
            secret.into_inner().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    /// Operator: stop deliveries (events wait; nothing is skipped).
    async fn pause_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Webhook> {
        self.set_paused(ctx, id, true, idempotency_key).await
    }

    /// Operator: deliver again, from where deliveries stopped.
    async fn resume_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Webhook> {
        self.set_paused(ctx, id, false, idempotency_key).await
    }

    /// Operator: deliver again every event after `after` (a feed cursor; from the first
    /// event when absent).
    async fn replay_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        after: Option<String>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Webhook> {
        operator(ctx)?;
        let s = services(ctx)?;
        let id = parse_id("id", &id)?;
        let position =
            app::feed::parse_after(after.as_deref()).map_err(|e| validation(e.field, e.message))?;
        once(
            ctx,
            idempotency_key,
            "replayWebhook",
            &(id, position.to_string()),
            async {
                webhook::replay(s.app.pool(), id, position).await?;
                Ok(())
            },
        )
        .await?;
        Ok(answer(webhook::get(s.app.pool(), id).await.gql()?, None))
    }

    /// Operator: remove an endpoint with its secrets and delivery log.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Webhook> {
        operator(ctx)?;
        let s = services(ctx)?;
        let id = parse_id("id", &id)?;
        let deleted: (String, String, Vec<String>) =
            once(ctx, idempotency_key, "deleteWebhook", &id, async {
                let e = webhook::delete(s.app.pool(), id).await?;
                Ok((e.url, e.status.as_str().to_owned(), e.categories))
            })
            .await?;
        Ok(Webhook {
            id: ID(id.to_string()),
            url: deleted.0,
            categories: deleted.2,
            status: "DELETED".into(),
            failing_since: None,
            created_at: Utc::now(),
            secret: None,
        })
    }
}

impl WebhookMutation {
    async fn set_paused(
        &self,
        ctx: &Context<'_>,
        id: ID,
        paused: bool,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Webhook> {
        operator(ctx)?;
        let s = services(ctx)?;
        let id = parse_id("id", &id)?;
        let operation = if paused {
            "pauseWebhook"
        } else {
            "resumeWebhook"
        };
        once(ctx, idempotency_key, operation, &id, async {
            webhook::set_paused(s.app.pool(), id, paused).await?;
            Ok(())
        })
        .await?;
        Ok(answer(webhook::get(s.app.pool(), id).await.gql()?, None))
    }
}
