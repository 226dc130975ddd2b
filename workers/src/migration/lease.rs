//! Leases on migration accounts (`migration_leases`): claimed atomically, renewed by a
//! heartbeat, taken over once they lapse.

use std::time::Duration;

use app::App;
use domain::migration::{AccountStatus, MigrationStatus};
use sqlx::PgPool;
use uuid::Uuid;

/// After a worker finishes an account the lease is kept this much longer, so that the read
/// model has recorded the outcome before the account could look claimable again.
const SETTLE: Duration = Duration::from_secs(3);

fn interval(d: Duration) -> String {
    format!("{} milliseconds", d.as_millis())
}

/// Claims up to `limit` accounts of running tasks that wait (not started, or left checking
/// or migrating by a worker whose lease lapsed), whose retry time has come.
pub(super) async fn claim(
    app: &App,
    holder: Uuid,
    limit: usize,
    lease: Duration,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "WITH waiting AS (
             SELECT a.id, a.migration_id FROM migration_accounts a
             JOIN migrations m ON m.id = a.migration_id
             WHERE m.status = $1 AND a.status IN ($2, $3, $4)
               AND (a.not_before IS NULL OR a.not_before <= $5)
               AND NOT EXISTS (SELECT 1 FROM migration_leases l
                               WHERE l.account_id = a.id AND l.expires_at > now())
             ORDER BY a.not_before NULLS FIRST, a.line
             LIMIT $6)
         INSERT INTO migration_leases (account_id, migration_id, holder, expires_at)
         SELECT id, migration_id, $7, now() + $8::interval FROM waiting
         ON CONFLICT (account_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE migration_leases.expires_at <= now()
         RETURNING migration_id, account_id",
    )
    .bind(MigrationStatus::Running.as_str())
    .bind(AccountStatus::NotStarted.as_str())
    .bind(AccountStatus::Checking.as_str())
    .bind(AccountStatus::Migrating.as_str())
    .bind(app.now())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .bind(holder)
    .bind(interval(lease))
    .fetch_all(app.pool())
    .await
}

/// Extends the lease; false when it is no longer this worker's.
pub(super) async fn renew(
    pool: &PgPool,
    account_id: Uuid,
    holder: Uuid,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE migration_leases SET expires_at = now() + $3::interval WHERE account_id = $1 AND holder = $2",
    )
    .bind(account_id)
    .bind(holder)
    .bind(interval(lease))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets the lease lapse shortly (see SETTLE).
pub(super) async fn release(
    pool: &PgPool,
    account_id: Uuid,
    holder: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE migration_leases SET expires_at = now() + $3::interval WHERE account_id = $1 AND holder = $2",
    )
    .bind(account_id)
    .bind(holder)
    .bind(interval(SETTLE))
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the task was cancelled or expired (by the read model).
pub(super) async fn task_ended(pool: &PgPool, migration_id: Uuid) -> Result<bool, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM migrations WHERE id = $1")
        .bind(migration_id)
        .fetch_optional(pool)
        .await?;
    Ok(matches!(
        status.as_deref().and_then(MigrationStatus::from_label),
        Some(MigrationStatus::Cancelled | MigrationStatus::Expired)
    ))
}
