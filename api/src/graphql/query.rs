use async_graphql::{Context, Object, ID};

use async_graphql::SimpleObject;

use super::connection::{self, by_id, cursor, page_size, Connection, Paged};
use super::context::{self as access, pool, principal, require_buyer};
use super::enums::parse_id;
use super::error::{forbidden, validation, Gql};
use super::events::EventNode;
use super::mail_subscription::{subscription_row, SubscriptionRow};
use super::organization::{organization_row, OrganizationRow};

/// Organizations an account manages (`$1`; NULL = every one, for operators).
const MANAGED: &str = "NOT o.dissolved AND (
    $1::text IS NULL
    OR EXISTS (SELECT 1 FROM organization_admins a WHERE a.organization_id = o.id AND a.account = $1)
    OR (o.as_reseller AND o.creator_account = $1
        AND NOT EXISTS (SELECT 1 FROM organization_admins a WHERE a.organization_id = o.id)))";

#[derive(Default)]
pub struct Query;

/// Who is calling.
#[derive(SimpleObject)]
pub struct Viewer {
    pub id: String,
    pub kind: String,
    pub scope: Option<String>,
}

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
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<SubscriptionRow>> {
        let size = page_size(first)?;
        let from = cursor(after.as_deref())?;
        let buyer = if access::is_operator(ctx) {
            None
        } else {
            Some(access::account(ctx)?.to_owned())
        };
        let rows: Vec<SubscriptionRow> = sqlx::query_as(
            "SELECT * FROM subscriptions WHERE id > $1 AND ($2::text IS NULL OR buyer_account_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(from)
        .bind(&buyer)
        .bind(size + 1)
        .fetch_all(pool(ctx)?)
        .await
        .gql()?;
        let total: i64 = if connection::wants_total(ctx) {
            sqlx::query_scalar(
                "SELECT count(*) FROM subscriptions WHERE $1::text IS NULL OR buyer_account_id = $1",
            )
            .bind(&buyer)
            .fetch_one(pool(ctx)?)
            .await
            .gql()?
        } else {
            0
        };
        Ok(by_id(rows, size, after.as_deref(), total, |s| s.id))
    }

    /// One subscription: its buyer or an operator.
    async fn subscription(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<SubscriptionRow>> {
        let id = parse_id("id", &id)?;
        if !access::is_operator(ctx) {
            require_buyer(ctx, id).await?;
        }
        subscription_row(ctx, id).await
    }

    /// Organizations the caller manages (all of them for an operator).
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OrganizationRow>> {
        let size = page_size(first)?;
        let from = cursor(after.as_deref())?;
        let account = if access::is_operator(ctx) {
            None
        } else {
            Some(access::account(ctx)?.to_owned())
        };
        let rows: Vec<OrganizationRow> = sqlx::query_as(&format!(
            "SELECT o.* FROM organizations o WHERE o.id > $2 AND {}
             ORDER BY o.id LIMIT $3",
            MANAGED
        ))
        .bind(&account)
        .bind(from)
        .bind(size + 1)
        .fetch_all(pool(ctx)?)
        .await
        .gql()?;
        let total: i64 = if connection::wants_total(ctx) {
            sqlx::query_scalar(&format!(
                "SELECT count(*) FROM organizations o WHERE {MANAGED}"
            ))
            .bind(&account)
            .fetch_one(pool(ctx)?)
            .await
            .gql()?
        } else {
            0
        };
        Ok(by_id(rows, size, after.as_deref(), total, |o| o.id))
    }

    /// The log in order, for billing and operators: events after `after` (a position
    /// cursor), optionally of some categories only. Never skips an event that commits late.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
        categories: Option<Vec<String>>,
    ) -> async_graphql::Result<Connection<EventNode>> {
        let p = principal(ctx)?;
        let audience = app::feed::Audience::of(p).ok_or_else(forbidden)?;
        let size = page_size(first)?;
        let from =
            app::feed::parse_after(after.as_deref()).map_err(|e| validation(e.field, e.message))?;
        let filter = app::feed::filter(categories.unwrap_or_default())
            .map_err(|e| validation("categories", e.message))?;
        let page = app::feed::page(
            access::app(ctx)?.store(),
            audience,
            &filter,
            from,
            size as usize,
        )
        .await
        .gql()?;
        let next = page.next.to_string();
        let total = page.events.len() as i64;
        let mut connection = Paged {
            rows: page.events.into_iter().map(EventNode::from).collect(),
            size,
            after: after.is_some(),
            total,
        }
        .connection(|e| e.position.clone());
        // The cursor moves past events this audience does not see, too.
        connection.page_info.has_next_page = page.more;
        connection.page_info.end_cursor = Some(next);
        Ok(connection)
    }

    /// One organization: its managers or an operator.
    async fn organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<OrganizationRow>> {
        let id = parse_id("id", &id)?;
        principal(ctx)?;
        access::require_reader(ctx, id).await?;
        organization_row(ctx, id).await
    }
}
