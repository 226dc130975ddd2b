//! What operations and workers ask of the read models, in one place, with statuses as the
//! domain's types rather than SQL literals.

use std::collections::HashMap;

use domain::mailbox::{AddressHolder, MailboxStatus};
use domain::maildomain::DomainStatus;
use domain::member::MemberStatus;
use sqlx::PgPool;
use uuid::Uuid;

const CLOSED: &str = MailboxStatus::Closed.as_str();
const PURGED: &str = MailboxStatus::Purged.as_str();

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Who holds the addresses on a domain (not purged) whose local parts start with one of
/// `local_prefixes`: every address a decision may try for those members.
pub async fn address_holders(
    pool: &PgPool,
    domain_name: &str,
    local_prefixes: &[String],
) -> Result<HashMap<String, AddressHolder>, sqlx::Error> {
    // Index range scans per prefix (addresses are ASCII; '~' sorts after every character
    // an address may hold), so the cost follows the candidates, not the mailboxes.
    let rows: Vec<(String, String)> = sqlx::query_as(
        r#"SELECT m.address, m.status FROM unnest($1::text[]) AS p(prefix)
           JOIN mailboxes m ON m.address COLLATE "C" >= p.prefix
                           AND m.address COLLATE "C" < p.prefix || '~'
           WHERE m.address LIKE '%@' || $2 AND m.status <> $3"#,
    )
    .bind(local_prefixes)
    .bind(domain_name)
    .bind(PURGED)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(a, s)| {
            let holder = if s == CLOSED {
                AddressHolder::InRecycleBin
            } else {
                AddressHolder::Open
            };
            (a, holder)
        })
        .collect())
}

/// Members of a department (not deleted).
pub async fn members_in_department(pool: &PgPool, department_id: Uuid) -> Result<u32, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM members WHERE department_id = $1 AND status <> $2",
    )
    .bind(department_id)
    .bind(MemberStatus::Deleted.as_str())
    .fetch_one(pool)
    .await?;
    Ok(count(n))
}

/// Members of an organization not deleted.
pub async fn members_left(pool: &PgPool, organization_id: Uuid) -> Result<u32, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM members WHERE organization_id = $1 AND status <> $2",
    )
    .bind(organization_id)
    .bind(MemberStatus::Deleted.as_str())
    .fetch_one(pool)
    .await?;
    Ok(count(n))
}

/// Active members of a department.
pub async fn active_members_of_department(
    pool: &PgPool,
    organization_id: Uuid,
    department_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM members WHERE organization_id = $1 AND department_id = $2 AND status = $3",
    )
    .bind(organization_id)
    .bind(department_id)
    .bind(MemberStatus::Active.as_str())
    .fetch_all(pool)
    .await
}

/// Domains an organization holds (not removed).
pub async fn domains_of_organization(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<u32, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mail_domains WHERE organization_id = $1 AND NOT removed AND status <> $2",
    )
    .bind(organization_id)
    .bind(DomainStatus::Taken.as_str())
    .fetch_one(pool)
    .await?;
    Ok(count(n))
}

/// Other organizations' claims to a name that are still open (not removed, not ended).
pub async fn other_claims_to_domain(
    pool: &PgPool,
    name: &str,
    except: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM mail_domains WHERE name = $1 AND id <> $2 AND NOT removed AND status <> $3",
    )
    .bind(name)
    .bind(except)
    .bind(DomainStatus::Taken.as_str())
    .fetch_all(pool)
    .await
}

/// Every domain of an organization that is not removed.
pub async fn domain_ids_of_organization(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM mail_domains WHERE organization_id = $1 AND NOT removed")
        .bind(organization_id)
        .fetch_all(pool)
        .await
}

/// Mailboxes (not purged) on a domain.
pub async fn mailboxes_on_domain(pool: &PgPool, domain_id: Uuid) -> Result<u32, sqlx::Error> {
    Ok(count(
        mailbox_ids_on_domain(pool, domain_id).await?.len() as i64
    ))
}

/// The mailboxes (not purged) on a domain.
pub async fn mailbox_ids_on_domain(
    pool: &PgPool,
    domain_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM mailboxes WHERE domain_id = $1 AND status <> $2")
        .bind(domain_id)
        .bind(PURGED)
        .fetch_all(pool)
        .await
}

/// An organization's mailboxes not purged (open, failed, or in the recycle bin).
pub async fn mailboxes_kept_of_organization(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM mailboxes WHERE organization_id = $1 AND status <> $2")
        .bind(organization_id)
        .bind(PURGED)
        .fetch_all(pool)
        .await
}

/// A member's mailboxes not purged (open, failed, or in the recycle bin).
pub async fn mailboxes_kept_of_member(
    pool: &PgPool,
    member_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM mailboxes WHERE member_id = $1 AND status <> $2")
        .bind(member_id)
        .bind(PURGED)
        .fetch_all(pool)
        .await
}

/// A member's mailboxes neither closed nor purged.
pub async fn open_mailboxes_of_member(
    pool: &PgPool,
    member_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM mailboxes WHERE member_id = $1 AND status NOT IN ($2, $3)")
        .bind(member_id)
        .bind(CLOSED)
        .bind(PURGED)
        .fetch_all(pool)
        .await
}

/// A member's mailboxes that exist on the data plane (not purged, provisioned once).
pub async fn provisioned_mailboxes_of_member(
    pool: &PgPool,
    member_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM mailboxes WHERE member_id = $1 AND status NOT IN ($2, $3, $4)",
    )
    .bind(member_id)
    .bind(PURGED)
    .bind(MailboxStatus::Provisioning.as_str())
    .bind(MailboxStatus::Failed.as_str())
    .fetch_all(pool)
    .await
}

/// Mailboxes of the organization a subscription is bound to, by status filter.
async fn of_subscription(
    pool: &PgPool,
    subscription_id: Uuid,
    condition: &str,
    statuses: &[&str],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = format!(
        "SELECT m.id FROM mailboxes m JOIN organizations o ON o.id = m.organization_id
         WHERE o.subscription_id = $1 AND m.status {condition} (SELECT unnest($2::text[]))"
    );
    sqlx::query_scalar(&sql)
        .bind(subscription_id)
        .bind(statuses)
        .fetch_all(pool)
        .await
}

/// The subscription's mailboxes neither closed nor purged.
pub async fn open_mailboxes_of_subscription(
    pool: &PgPool,
    subscription_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    of_subscription(pool, subscription_id, "NOT IN", &[CLOSED, PURGED]).await
}

/// The subscription's mailboxes in the recycle bin.
pub async fn closed_mailboxes_of_subscription(
    pool: &PgPool,
    subscription_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    of_subscription(pool, subscription_id, "IN", &[CLOSED]).await
}

/// The subscription's mailboxes not purged.
pub async fn mailboxes_kept_of_subscription(
    pool: &PgPool,
    subscription_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    of_subscription(pool, subscription_id, "NOT IN", &[PURGED]).await
}
