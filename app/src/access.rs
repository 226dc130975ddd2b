//! Who may do what, decided from the read models of the log (API.md, "Transport and
//! identity"): a buyer acts on its own subscriptions; an account acts on an organization
//! it administers (or created as a reseller, until an admin exists); services by scope;
//! operators read everything; the system (workers, timers) is trusted. Every channel asks
//! here, so GraphQL and the console cannot disagree.

use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::PrincipalKind;
use crate::error::AppError;
use crate::request::Request;

/// A read model whose rows belong to one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    Member,
    MailDomain,
    Mailbox,
    Department,
    Invitation,
    Migration,
}

impl Owned {
    fn table(self) -> &'static str {
        match self {
            Owned::Member => "members",
            Owned::MailDomain => "mail_domains",
            Owned::Mailbox => "mailboxes",
            Owned::Department => "departments",
            Owned::Invitation => "invitations",
            Owned::Migration => "migrations",
        }
    }
}

/// The calling cloud account.
pub fn account(request: &Request) -> Result<&str, AppError> {
    let p = request.principal()?;
    if p.kind == PrincipalKind::Account {
        Ok(&p.id)
    } else {
        Err(AppError::Forbidden)
    }
}

/// The calling service must have this scope.
pub fn service(request: &Request, scope: &str) -> Result<(), AppError> {
    if request.is_system() {
        return Ok(());
    }
    let p = request.principal()?;
    if p.kind == PrincipalKind::Service && p.scope.as_deref() == Some(scope) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// The caller must be an operator.
pub fn operator(request: &Request) -> Result<(), AppError> {
    request.principal()?;
    if request.is_operator() {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
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

/// The caller must manage the organization; answers its name for the rules (`actor`).
pub async fn require_manager(
    pool: &PgPool,
    request: &Request,
    organization_id: Uuid,
) -> Result<String, AppError> {
    if request.is_system() {
        return Ok(request.actor_name());
    }
    let account = account(request)?;
    if manages(pool, organization_id, account).await? {
        Ok(account.to_owned())
    } else {
        Err(AppError::Forbidden)
    }
}

/// The caller may read the organization: a manager or an operator.
pub async fn require_reader(
    pool: &PgPool,
    request: &Request,
    organization_id: Uuid,
) -> Result<(), AppError> {
    if request.is_operator() || request.is_system() {
        return Ok(());
    }
    require_manager(pool, request, organization_id)
        .await
        .map(|_| ())
}

/// The buyer account of a subscription, if it exists.
pub async fn buyer_of(pool: &PgPool, subscription_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT buyer_account_id FROM subscriptions WHERE id = $1")
        .bind(subscription_id)
        .fetch_optional(pool)
        .await
}

/// The caller must be the account that bought the subscription; answers the buyer.
pub async fn require_buyer(
    pool: &PgPool,
    request: &Request,
    subscription_id: Uuid,
) -> Result<String, AppError> {
    if request.is_system() {
        return buyer_of(pool, subscription_id)
            .await?
            .ok_or(AppError::not_found("subscription"));
    }
    let account = account(request)?;
    match buyer_of(pool, subscription_id).await? {
        Some(buyer) if buyer == account => Ok(buyer),
        _ => Err(AppError::Forbidden),
    }
}

/// The organization a row belongs to (from its read model).
pub async fn organization_of(
    pool: &PgPool,
    owned: Owned,
    id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT organization_id FROM {} WHERE id = $1",
        owned.table()
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The organizations owning each of `ids` (rows not found are left out).
pub async fn organizations_of(
    pool: &PgPool,
    owned: Owned,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(&format!(
        "SELECT id, organization_id FROM {} WHERE id = ANY($1)",
        owned.table()
    ))
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The caller must manage the organization that owns the row; unknown rows are FORBIDDEN
/// too, so that probing ids tells nothing. Answers the organization and the actor.
pub async fn require_manager_of(
    pool: &PgPool,
    request: &Request,
    owned: Owned,
    id: Uuid,
) -> Result<(Uuid, String), AppError> {
    if !request.is_system() {
        account(request)?;
    }
    match organization_of(pool, owned, id).await? {
        Some(org) => Ok((org, require_manager(pool, request, org).await?)),
        None => Err(AppError::Forbidden),
    }
}
