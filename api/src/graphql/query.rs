use async_graphql::{Context, Object, ID};

use super::access::{self, principal, services};
use super::error::Gql;
use super::types::{self, cursor, page, page_size, OrganizationRow, Page, SubscriptionRow, Viewer};

pub struct Query;

#[Object]
impl Query {
    /// The calling principal.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let p = principal(ctx)?;
        Ok(Viewer {
            id: p.id.clone(),
            kind: p.kind.to_string(),
            scope: p.scope.clone(),
        })
    }

    /// The caller's subscriptions (all of them for an operator).
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<SubscriptionRow>> {
        let size = page_size(first)?;
        let after = cursor(after.as_deref())?;
        let buyer = if access::is_operator(ctx) {
            None
        } else {
            Some(access::account(ctx)?.to_owned())
        };
        let rows: Vec<SubscriptionRow> = sqlx::query_as(
            "SELECT * FROM subscriptions WHERE id > $1 AND ($2::text IS NULL OR buyer_account_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(after)
        .bind(buyer)
        .bind(size + 1)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()?;
        Ok(page(rows, size, |s| s.id))
    }

    /// One subscription: its buyer or an operator.
    async fn subscription(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<SubscriptionRow>> {
        let id = types::parse_id("id", &id)?;
        if !access::is_operator(ctx) {
            access::require_buyer(ctx, id).await?;
        }
        types::subscription_row(ctx, id).await
    }

    /// Organizations the caller manages (all of them for an operator).
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<OrganizationRow>> {
        let size = page_size(first)?;
        let after = cursor(after.as_deref())?;
        let account = if access::is_operator(ctx) {
            None
        } else {
            Some(access::account(ctx)?.to_owned())
        };
        let rows: Vec<OrganizationRow> = sqlx::query_as(
            "SELECT o.* FROM organizations o
             WHERE o.id > $1 AND NOT o.dissolved AND (
                 $2::text IS NULL
                 OR EXISTS (SELECT 1 FROM organization_admins a WHERE a.organization_id = o.id AND a.account = $2)
                 OR (o.as_reseller AND o.creator_account = $2
                     AND NOT EXISTS (SELECT 1 FROM organization_admins a WHERE a.organization_id = o.id)))
             ORDER BY o.id LIMIT $3",
        )
        .bind(after)
        .bind(account)
        .bind(size + 1)
        .fetch_all(&services(ctx)?.pool)
        .await
        .gql()?;
        Ok(page(rows, size, |o| o.id))
    }

    /// The log in order, for billing and operators: events after `after` (a position
    /// cursor), optionally of some categories only. Never skips an event that commits late.
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
        categories: Option<Vec<String>>,
    ) -> async_graphql::Result<Page<types::EventNode>> {
        let p = principal(ctx)?;
        let allowed = access::is_operator(ctx)
            || (p.kind == crate::auth::PrincipalKind::Service
                && p.scope.as_deref() == Some("billing"));
        if !allowed {
            return Err(super::error::forbidden());
        }
        let size = page_size(first)?;
        let after: eventstore::Position = match after.as_deref() {
            None => eventstore::Position::START,
            Some(c) => c
                .parse()
                .map_err(|_| super::error::validation("after", "is not an event position"))?,
        };
        let filter = match categories {
            Some(c) if !c.is_empty() => eventstore::SubscriptionFilter::Categories(c),
            _ => eventstore::SubscriptionFilter::All,
        };
        let events = services(ctx)?
            .handler
            .store()
            .read_filtered(&filter, after, size as usize + 1)
            .await
            .gql()?;
        let nodes: Vec<types::EventNode> = events
            .into_iter()
            .map(|e| types::EventNode {
                position: e.position.to_string(),
                stream: e.stream_name,
                event_type: e.event_type,
                data: async_graphql::Json(e.data),
                metadata: async_graphql::Json(
                    serde_json::to_value(&e.metadata).unwrap_or_default(),
                ),
                recorded_at: e.recorded_at,
            })
            .collect();
        Ok(types::page_with(nodes, size, |n| n.position.clone()))
    }

    /// One organization: its managers or an operator.
    async fn organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<OrganizationRow>> {
        let id = types::parse_id("id", &id)?;
        principal(ctx)?;
        access::require_reader(ctx, id).await?;
        types::organization_row(ctx, id).await
    }
}
