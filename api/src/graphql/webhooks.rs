//! Webhook endpoints, for operators: register (the answer carries the signing secret this
//! once), list with the delivery log, rotate the secret, pause, resume, replay, delete.

use async_graphql::{ComplexObject, Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::{is_operator, principal, services};
use super::error::{forbidden, not_found, validation};
use super::mutation::once;
use super::types::parse_id;
use crate::webhook::{self, Endpoint, WebhookError};

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
        let rows = webhook::deliveries(&services(ctx)?.pool, id, limit)
            .await
            .map_err(gql)?;
        Ok(rows
            .into_iter()
            .map(|d| WebhookDelivery {
                event_id: ID(d.event_id.to_string()),
                position: d.position,
                event_type: d.event_type,
                attempt: d.attempt,
                status_code: d.status_code,
                error: d.error,
                duration_ms: d.duration_ms,
                outcome: d.outcome,
                attempted_at: d.attempted_at,
            })
            .collect())
    }
}

fn answer(e: Endpoint, secret: Option<String>) -> Webhook {
    Webhook {
        id: ID(e.id.to_string()),
        url: e.url,
        categories: e.categories,
        status: e.status,
        failing_since: e.failing_since,
        created_at: e.created_at,
        secret,
    }
}

fn gql(e: WebhookError) -> async_graphql::Error {
    match e {
        WebhookError::Invalid { field, message } => validation(field, message),
        WebhookError::NotFound => not_found("webhook"),
        other => super::error::internal(other),
    }
}

fn operator(ctx: &Context<'_>) -> async_graphql::Result<String> {
    let p = principal(ctx)?;
    if !is_operator(ctx) {
        return Err(forbidden());
    }
    Ok(p.actor())
}

/// Webhook queries.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Operators: every webhook endpoint.
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        operator(ctx)?;
        let all = webhook::list(&services(ctx)?.pool).await.map_err(gql)?;
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
            format!("{url}|{categories:?}"),
            async {
                let (endpoint, created) =
                    webhook::register(&s.pool, &s.secrets, &url, categories.clone(), &actor)
                        .await
                        .map_err(gql)?;
                *secret.lock().unwrap_or_else(|p| p.into_inner()) = Some(created);
                Ok(endpoint.id.to_string())
            },
        )
        .await?;
        let id: Uuid = id.parse().map_err(super::error::internal)?;
        let endpoint = webhook::get(&s.pool, id).await.map_err(gql)?;
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
        once(
            ctx,
            idempotency_key,
            "rotateWebhookSecret",
            id.to_string(),
            async {
                let created = webhook::rotate(&s.pool, &s.secrets, id)
                    .await
                    .map_err(gql)?;
                *secret.lock().unwrap_or_else(|p| p.into_inner()) = Some(created);
                Ok(())
            },
        )
        .await?;
        let endpoint = webhook::get(&s.pool, id).await.map_err(gql)?;
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
        let position = crate::feed::parse_after(after.as_deref())
            .map_err(|e| validation(e.field, e.message))?;
        once(
            ctx,
            idempotency_key,
            "replayWebhook",
            format!("{id}|{position}"),
            async {
                webhook::replay(&s.pool, id, position).await.map_err(gql)?;
                Ok(())
            },
        )
        .await?;
        Ok(answer(webhook::get(&s.pool, id).await.map_err(gql)?, None))
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
        let deleted: (String, String, Vec<String>) = once(
            ctx,
            idempotency_key,
            "deleteWebhook",
            id.to_string(),
            async {
                let e = webhook::delete(&s.pool, id).await.map_err(gql)?;
                Ok((e.url, e.status, e.categories))
            },
        )
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
        once(ctx, idempotency_key, operation, id.to_string(), async {
            webhook::set_paused(&s.pool, id, paused)
                .await
                .map_err(gql)?;
            Ok(())
        })
        .await?;
        Ok(answer(webhook::get(&s.pool, id).await.map_err(gql)?, None))
    }
}
