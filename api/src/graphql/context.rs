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

/// Organizations this request was already found allowed to read: every nested object asks
/// again (a page of 50 members asks 50 times), the database once.
#[derive(Default)]
pub struct Readable(std::sync::Mutex<std::collections::HashSet<Uuid>>);

impl Readable {
    fn contains(&self, id: Uuid) -> bool {
        self.0.lock().is_ok_and(|s| s.contains(&id))
    }

    fn insert(&self, id: Uuid) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(id);
        }
    }
}

/// The caller may read the organization: a manager or an operator. Asked by every object
/// resolver that reaches an organization's data, not only by the root fields.
pub async fn require_reader(ctx: &Context<'_>, organization_id: Uuid) -> async_graphql::Result<()> {
    let known = ctx.data_opt::<Readable>();
    if known.is_some_and(|k| k.contains(organization_id)) {
        return Ok(());
    }
    access::require_reader(pool(ctx)?, request(ctx)?, organization_id)
        .await
        .gql()?;
    if let Some(k) = known {
        k.insert(organization_id);
    }
    Ok(())
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
