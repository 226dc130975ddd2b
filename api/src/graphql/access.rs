//! Who may do what, decided from the read models of the log (API.md, "Transport and
//! identity"): a buyer acts on its own subscriptions; an account acts on an organization
//! it administers (or created as a reseller, until an admin exists); services by scope;
//! operators read everything.

use async_graphql::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::error::{forbidden, unauthenticated, Gql};
use super::{Caller, Services};
use crate::auth::{Principal, PrincipalKind};

pub fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Caller> {
    ctx.data::<Caller>()
}

pub fn services<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Services> {
    ctx.data::<Services>()
}

pub fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    caller(ctx)?.principal.as_ref().ok_or_else(unauthenticated)
}

/// The calling cloud account.
pub fn account<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a str> {
    let p = principal(ctx)?;
    if p.kind == PrincipalKind::Account {
        Ok(&p.id)
    } else {
        Err(forbidden())
    }
}

/// The calling service must have this scope.
pub fn service(ctx: &Context<'_>, scope: &str) -> async_graphql::Result<()> {
    let p = principal(ctx)?;
    if p.kind == PrincipalKind::Service && p.scope.as_deref() == Some(scope) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

pub fn is_operator(ctx: &Context<'_>) -> bool {
    matches!(principal(ctx), Ok(p) if p.kind == PrincipalKind::Operator)
}

/// Whether `account` may manage the organization.
pub async fn manages(
    pool: &PgPool,
    organization_id: Uuid,
    account: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM organization_admins WHERE organization_id = $1 AND account = $2)
             OR EXISTS (SELECT 1 FROM organizations o WHERE o.id = $1 AND NOT o.dissolved AND o.as_reseller
                        AND o.creator_account = $2
                        AND NOT EXISTS (SELECT 1 FROM organization_admins a WHERE a.organization_id = o.id))",
    )
    .bind(organization_id)
    .bind(account)
    .fetch_one(pool)
    .await
}

/// The caller must be an account that manages the organization.
pub async fn require_manager(
    ctx: &Context<'_>,
    organization_id: Uuid,
) -> async_graphql::Result<String> {
    let account = account(ctx)?;
    if manages(&services(ctx)?.pool, organization_id, account)
        .await
        .gql()?
    {
        Ok(account.to_owned())
    } else {
        Err(forbidden())
    }
}

/// The caller may read the organization: a manager or an operator.
pub async fn require_reader(ctx: &Context<'_>, organization_id: Uuid) -> async_graphql::Result<()> {
    if is_operator(ctx) {
        principal(ctx)?;
        return Ok(());
    }
    require_manager(ctx, organization_id).await.map(|_| ())
}

/// The buyer account of a subscription, if it exists.
pub async fn buyer_of(pool: &PgPool, subscription_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT buyer_account_id FROM subscriptions WHERE id = $1")
        .bind(subscription_id)
        .fetch_optional(pool)
        .await
}

/// The caller must be the account that bought the subscription.
pub async fn require_buyer(
    ctx: &Context<'_>,
    subscription_id: Uuid,
) -> async_graphql::Result<String> {
    let account = account(ctx)?;
    match buyer_of(&services(ctx)?.pool, subscription_id)
        .await
        .gql()?
    {
        Some(buyer) if buyer == account => Ok(buyer),
        _ => Err(forbidden()),
    }
}

/// The organization of a member, domain or mailbox (from its read model).
pub async fn organization_of(
    pool: &PgPool,
    table: &'static str,
    id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT organization_id FROM {table} WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The caller must manage the organization that owns the row; unknown rows are FORBIDDEN
/// too, so that probing ids tells nothing.
pub async fn require_manager_of(
    ctx: &Context<'_>,
    table: &'static str,
    id: Uuid,
) -> async_graphql::Result<(Uuid, String)> {
    account(ctx)?;
    match organization_of(&services(ctx)?.pool, table, id)
        .await
        .gql()?
    {
        Some(org) => Ok((org, require_manager(ctx, org).await?)),
        None => Err(forbidden()),
    }
}
