//! What a resolver reaches from its context: the caller's request, the application, the
//! read models; and access checks, which are the application's (`app::access`).

use app::access;
use app::{App, AppError, Request};
use async_graphql::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::error::Gql;
use super::Services;

pub fn request<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Request> {
    ctx.data::<Request>()
}

pub fn services<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Services> {
    ctx.data::<Services>()
}

pub fn app<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a App> {
    Ok(&services(ctx)?.app)
}

pub fn pool<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a PgPool> {
    Ok(services(ctx)?.app.pool())
}

pub fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a app::auth::Principal> {
    request(ctx)?.principal().gql()
}

/// The calling cloud account.
pub fn account<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a str> {
    access::account(request(ctx)?).gql()
}

pub fn is_operator(ctx: &Context<'_>) -> bool {
    request(ctx).is_ok_and(Request::is_operator)
}

/// The caller must be an operator.
pub fn operator(ctx: &Context<'_>) -> async_graphql::Result<()> {
    access::operator(request(ctx)?).gql()
}

/// The caller may read the organization: a manager or an operator.
pub async fn require_reader(ctx: &Context<'_>, organization_id: Uuid) -> async_graphql::Result<()> {
    access::require_reader(pool(ctx)?, request(ctx)?, organization_id)
        .await
        .gql()
}

/// The caller must be the subscription's buyer.
pub async fn require_buyer(ctx: &Context<'_>, subscription_id: Uuid) -> async_graphql::Result<()> {
    access::require_buyer(pool(ctx)?, request(ctx)?, subscription_id)
        .await
        .map(|_| ())
        .gql()
}

/// Runs an operation once per idempotency key (`app::idempotency`).
pub async fn once<T, A, F>(
    ctx: &Context<'_>,
    key: Option<String>,
    operation: &str,
    arguments: &A,
    run: F,
) -> async_graphql::Result<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    A: serde::Serialize,
    F: std::future::Future<Output = Result<T, AppError>>,
{
    app::idempotency::once(pool(ctx)?, request(ctx)?, key, operation, arguments, run)
        .await
        .gql()
}
