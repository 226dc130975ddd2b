//! What the console's pages read from the read models (the same tables GraphQL serves).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A subscription as the buyer center lists it.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub edition: String,
    pub status: String,
    pub seats: i32,
    pub authorized: i32,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub organization_id: Option<Uuid>,
}

/// The subscriptions an account bought.
pub async fn subscriptions_of_buyer(
    pool: &PgPool,
    account: &str,
) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, edition, status, seats, authorized, trial_ends_at, organization_id
         FROM subscriptions WHERE buyer_account_id = $1 ORDER BY created_at DESC LIMIT 200",
    )
    .bind(account)
    .fetch_all(pool)
    .await
}

/// An organization in a list.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub name: String,
    pub identifier: String,
    pub subscription_id: Option<Uuid>,
    /// Who holds the creator role.
    pub creator_account: String,
}

/// The organizations an account manages, by the same rule as `app::access::manages`.
pub async fn organizations_managed_by(
    pool: &PgPool,
    account: &str,
) -> Result<Vec<OrganizationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id, o.name, o.identifier, o.subscription_id, o.creator_account FROM organizations o
         WHERE NOT o.dissolved AND (
             EXISTS (SELECT 1 FROM organization_admins a WHERE a.organization_id = o.id AND a.account = $1)
             OR (o.as_reseller AND o.creator_account = $1
                 AND NOT EXISTS (SELECT 1 FROM organization_admins a WHERE a.organization_id = o.id)))
         ORDER BY o.name LIMIT 500",
    )
    .bind(account)
    .fetch_all(pool)
    .await
}

/// One organization.
pub async fn organization(pool: &PgPool, id: Uuid) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, identifier, subscription_id, creator_account FROM organizations WHERE id = $1 AND NOT dissolved")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The seats of a subscription: (authorized, purchased).
pub async fn seats(
    pool: &PgPool,
    subscription_id: Uuid,
) -> Result<Option<(i32, i32)>, sqlx::Error> {
    sqlx::query_as("SELECT authorized, seats FROM subscriptions WHERE id = $1")
        .bind(subscription_id)
        .fetch_optional(pool)
        .await
}

/// A department.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct DepartmentRow {
    pub id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
}

/// Every department of an organization, by name.
pub async fn departments(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<Vec<DepartmentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, parent_id FROM departments WHERE organization_id = $1 ORDER BY name, id",
    )
    .bind(organization_id)
    .fetch_all(pool)
    .await
}

/// A member in the table.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct MemberRow {
    pub id: Uuid,
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub status: String,
    pub authorized: bool,
    pub mailbox: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which members the table shows.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Part of a name, an account or a phone.
    pub text: Option<String>,
    pub status: Option<String>,
    pub department_id: Option<Uuid>,
    pub authorized: Option<bool>,
}

const MEMBER_WHERE: &str = "m.organization_id = $1 AND m.status <> 'DELETED'
    AND ($2::text IS NULL OR m.name ILIKE $2 OR m.account ILIKE $2 OR m.phone ILIKE $2)
    AND ($3::text IS NULL OR m.status = $3)
    AND ($4::uuid IS NULL OR m.department_id = $4)
    AND ($5::boolean IS NULL OR m.authorized = $5)";

fn pattern(text: &Option<String>) -> Option<String> {
    text.as_ref().map(|t| {
        let escaped = t
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// A page of members after `after` (keyset on the order they were added).
pub async fn members(
    pool: &PgPool,
    organization_id: Uuid,
    filter: &MemberFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    size: i64,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT m.id, m.name, m.account, m.phone, d.name AS department, m.status, m.authorized,
                (SELECT b.address FROM mailboxes b WHERE b.member_id = m.id AND b.status <> 'PURGED'
                 ORDER BY b.created_at DESC LIMIT 1) AS mailbox, m.created_at
         FROM members m LEFT JOIN departments d ON d.id = m.department_id
         WHERE {MEMBER_WHERE} AND ($6::timestamptz IS NULL OR (m.created_at, m.id) > ($6, $7))
         ORDER BY m.created_at, m.id LIMIT $8"
    ))
    .bind(organization_id)
    .bind(pattern(&filter.text))
    .bind(&filter.status)
    .bind(filter.department_id)
    .bind(filter.authorized)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(size)
    .fetch_all(pool)
    .await
}

/// How many members match, and (up to `limit`) their ids, for "select all N matching".
pub async fn matching_members(
    pool: &PgPool,
    organization_id: Uuid,
    filter: &MemberFilter,
    limit: i64,
) -> Result<(i64, Vec<Uuid>), sqlx::Error> {
    let count: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM members m WHERE {MEMBER_WHERE}"
    ))
    .bind(organization_id)
    .bind(pattern(&filter.text))
    .bind(&filter.status)
    .bind(filter.department_id)
    .bind(filter.authorized)
    .fetch_one(pool)
    .await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(&format!(
        "SELECT m.id FROM members m WHERE {MEMBER_WHERE} ORDER BY m.created_at, m.id LIMIT $6"
    ))
    .bind(organization_id)
    .bind(pattern(&filter.text))
    .bind(&filter.status)
    .bind(filter.department_id)
    .bind(filter.authorized)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok((count, ids))
}

/// The organization's verified domains: (id, name shown).
pub async fn verified_domains(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, display_name FROM mail_domains
         WHERE organization_id = $1 AND NOT removed AND status = 'VERIFIED' ORDER BY name",
    )
    .bind(organization_id)
    .fetch_all(pool)
    .await
}

/// One member, with what its page edits.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct MemberDetail {
    pub id: Uuid,
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub department_id: Option<Uuid>,
    pub status: String,
    pub authorized: bool,
}

/// A member of this organization (another organization's member is not found).
pub async fn member(
    pool: &PgPool,
    organization_id: Uuid,
    member_id: Uuid,
) -> Result<Option<MemberDetail>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, account, phone, email, department_id, status, authorized FROM members
         WHERE id = $1 AND organization_id = $2 AND status <> 'DELETED'",
    )
    .bind(member_id)
    .bind(organization_id)
    .fetch_optional(pool)
    .await
}

/// One subscription.
pub async fn subscription(pool: &PgPool, id: Uuid) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, edition, status, seats, authorized, trial_ends_at, organization_id
         FROM subscriptions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The accounts of these members of the organization, in the order given (others dropped).
pub async fn accounts_of(
    pool: &PgPool,
    organization_id: Uuid,
    member_ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.id, m.account FROM unnest($2::uuid[]) WITH ORDINALITY AS wanted(id, n)
         JOIN members m ON m.id = wanted.id AND m.organization_id = $1 ORDER BY wanted.n",
    )
    .bind(organization_id)
    .bind(member_ids)
    .fetch_all(pool)
    .await
}
