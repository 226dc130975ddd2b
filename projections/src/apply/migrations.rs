//! The migration tasks read model: tasks, their accounts and each account's outcome.

use domain::migration::{AccountStatus, MigrationEvent, MigrationStatus};

use super::*;

pub(crate) async fn migrations(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    use MigrationEvent as E;
    let id = stream_id(event)?;
    let e: MigrationEvent = decode_serde(event)?;
    let at = event.recorded_at;
    match &e {
        E::MigrationCreated {
            organization_id,
            source,
            expires_at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO migrations (id, organization_id, host, port, protocol, tls, status, expires_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(organization_id)
            .bind(&source.host)
            .bind(i32::from(source.port))
            .bind(text(&source.protocol))
            .bind(source.tls)
            .bind(MigrationStatus::Draft.as_str())
            .bind(expires_at)
            .bind(at)
            .execute(conn)
            .await?;
        }
        E::MigrationConnectionChecked { reachable, reason } => {
            sqlx::query("UPDATE migrations SET reachable = $2, connection_error = $3, updated_at = $4 WHERE id = $1")
                .bind(id)
                .bind(reachable)
                .bind(reason)
                .bind(at)
                .execute(conn)
                .await?;
        }
        E::MigrationAccountsAdded { accounts } => {
            for a in accounts {
                sqlx::query(
                    "INSERT INTO migration_accounts (id, migration_id, line, old_account, mailbox_id, address, status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(a.account_id)
                .bind(id)
                .bind(a.line as i32)
                .bind(&a.old_account)
                .bind(a.mailbox_id)
                .bind(&a.address)
                .bind(AccountStatus::NotStarted.as_str())
                .execute(&mut *conn)
                .await?;
            }
        }
        E::MigrationRunStarted { run, accounts } => {
            sqlx::query(
                "UPDATE migrations SET status = $2, run = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(MigrationStatus::Running.as_str())
            .bind(*run as i32)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE migration_accounts SET status = $2, attempts = 0, not_before = NULL, failure = NULL,
                 failure_reason = NULL, started_at = NULL, finished_at = NULL WHERE id = ANY($1)",
            )
            .bind(accounts)
            .bind(AccountStatus::NotStarted.as_str())
            .execute(conn)
            .await?;
        }
        E::AccountCheckStarted { account_id } => {
            sqlx::query("UPDATE migration_accounts SET status = $2, started_at = COALESCE(started_at, $3) WHERE id = $1")
                .bind(account_id)
                .bind(AccountStatus::Checking.as_str())
                .bind(at)
                .execute(conn)
                .await?;
        }
        E::AccountCopyStarted {
            account_id,
            mode,
            messages,
        } => {
            sqlx::query("UPDATE migration_accounts SET status = $2, mode = $3, messages_total = $4 WHERE id = $1")
                .bind(account_id)
                .bind(AccountStatus::Migrating.as_str())
                .bind(mode.as_str())
                .bind(*messages as i64)
                .execute(conn)
                .await?;
        }
        E::AccountRetryScheduled {
            account_id,
            attempt,
            reason,
            not_before,
        } => {
            sqlx::query(
                "UPDATE migration_accounts SET status = $2, attempts = $3, failure_reason = $4, not_before = $5 WHERE id = $1",
            )
            .bind(account_id)
            .bind(AccountStatus::NotStarted.as_str())
            .bind(*attempt as i32)
            .bind(reason)
            .bind(not_before)
            .execute(conn)
            .await?;
        }
        E::AccountSucceeded {
            account_id,
            folders,
            ..
        } => {
            sqlx::query(
                "UPDATE migration_accounts SET status = $2, folders = $3, failure = NULL, failure_reason = NULL,
                 not_before = NULL, finished_at = $4 WHERE id = $1",
            )
            .bind(account_id)
            .bind(AccountStatus::Succeeded.as_str())
            .bind(json!(folders))
            .bind(at)
            .execute(conn)
            .await?;
        }
        E::AccountFailed {
            account_id,
            failure,
            reason,
        } => {
            sqlx::query(
                "UPDATE migration_accounts SET status = $2, failure = $3, failure_reason = $4, not_before = NULL,
                 finished_at = $5 WHERE id = $1",
            )
            .bind(account_id)
            .bind(AccountStatus::Failed.as_str())
            .bind(failure.as_str())
            .bind(reason)
            .bind(at)
            .execute(conn)
            .await?;
        }
        E::MigrationCompleted {} => {
            task_status(conn, id, MigrationStatus::Completed, at).await?;
        }
        E::MigrationCancelled { accounts } | E::MigrationExpired { accounts } => {
            let status = match e {
                E::MigrationCancelled { .. } => MigrationStatus::Cancelled,
                _ => MigrationStatus::Expired,
            };
            task_status(&mut *conn, id, status, at).await?;
            sqlx::query(
                "UPDATE migration_accounts SET status = $2, finished_at = $3 WHERE id = ANY($1)",
            )
            .bind(accounts)
            .bind(AccountStatus::Cancelled.as_str())
            .bind(at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

async fn task_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: MigrationStatus,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE migrations SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}
