use async_graphql::{Context, Object, ID};

use super::access::{self, principal, services};
use super::error::Gql;
use super::types::{self, cursor, page, page_size, OrganizationRow, Page, SubscriptionRow, Viewer};

#[derive(Default)]
pub struct Query;

#[Object(name = "ProductQuery")]
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
        let audience = crate::feed::Audience::of(p).ok_or_else(super::error::forbidden)?;
        let size = page_size(first)?;
        let after = crate::feed::parse_after(after.as_deref())
            .map_err(|e| super::error::validation(e.field, e.message))?;
        let filter = crate::feed::filter(categories.unwrap_or_default())
            .map_err(|e| super::error::validation("categories", e.message))?;
        let page = crate::feed::page(
            services(ctx)?.handler.store(),
            audience,
            &filter,
            after,
            size as usize,
        )
        .await
        .gql()?;
        Ok(types::Page {
            nodes: page
                .events
                .into_iter()
                .map(types::EventNode::from)
                .collect(),
            page_info: types::PageInfo {
                has_next_page: page.more,
                end_cursor: Some(page.next.to_string()),
            },
        })
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
