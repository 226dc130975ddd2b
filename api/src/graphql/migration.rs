//! Mail migration in GraphQL: tasks with their counts and accounts (live progress by
//! polling), the results CSV, and the task's operations.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{self, by_id, page_size, Connection};
use super::context::{app, pool, request, require_reader};
use super::enums::{label, parse_id};
use super::error::{forbidden, Gql};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::migration::MigrationStatus")]
pub enum MigrationStatus {
    Draft,
    Running,
    Completed,
    Cancelled,
    Expired,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::migration::AccountStatus")]
pub enum MigrationAccountStatus {
    NotStarted,
    Checking,
    Migrating,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::migration::MigrationFailure")]
pub enum MigrationFailure {
    AuthenticationFailed,
    ServerUnreachable,
    MailboxOverQuota,
    TargetUnavailable,
    PasswordNotKept,
    CopyFailed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::migration::MailProtocol")]
pub enum MailProtocol {
    Imap,
    #[graphql(name = "POP3")]
    Pop3,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::migration::CopyMode")]
pub enum CopyMode {
    Mirror,
    TopUp,
}

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct MigrationRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub host: String,
    pub port: i32,
    pub protocol: String,
    pub tls: bool,
    pub status: String,
    pub reachable: Option<bool>,
    pub connection_error: Option<String>,
    pub run: i32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How many accounts are where, and how much mail moved.
#[derive(SimpleObject, sqlx::FromRow, Clone, Debug, Default)]
pub struct MigrationCounts {
    pub accounts: i64,
    pub not_started: i64,
    pub checking: i64,
    pub migrating: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// Messages on the old servers (as counted when each account was checked).
    pub messages_total: i64,
    /// Messages of the old folders now in the new mailboxes.
    pub messages_copied: i64,
    /// Bytes in the new mailboxes' migrated folders.
    pub bytes: i64,
}

#[Object(name = "Migration")]
impl MigrationRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn organization_id(&self) -> ID {
        ID(self.organization_id.to_string())
    }
    /// The old server.
    async fn host(&self) -> &str {
        &self.host
    }
    async fn port(&self) -> i32 {
        self.port
    }
    async fn protocol(&self) -> async_graphql::Result<MailProtocol> {
        label(&self.protocol, |t| match t {
            "IMAP" => Some(domain::migration::MailProtocol::Imap),
            "POP3" => Some(domain::migration::MailProtocol::Pop3),
            _ => None,
        })
    }
    async fn tls(&self) -> bool {
        self.tls
    }
    async fn status(&self) -> async_graphql::Result<MigrationStatus> {
        label(&self.status, domain::migration::MigrationStatus::from_label)
    }
    /// The last connection check: null before any.
    async fn reachable(&self) -> Option<bool> {
        self.reachable
    }
    async fn connection_error(&self) -> Option<&str> {
        self.connection_error.as_deref()
    }
    /// Runs so far (1 = the first; retries and incremental re-runs add one each).
    async fn run(&self) -> i32 {
        self.run
    }
    /// The task ends then (30 days after creation) and its old passwords are deleted.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// Live: poll it while the task runs.
    async fn counts(&self, ctx: &Context<'_>) -> async_graphql::Result<MigrationCounts> {
        sqlx::query_as(
            "SELECT count(*) AS accounts,
                    count(*) FILTER (WHERE status = 'NOT_STARTED') AS not_started,
                    count(*) FILTER (WHERE status = 'CHECKING') AS checking,
                    count(*) FILTER (WHERE status = 'MIGRATING') AS migrating,
                    count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded,
                    count(*) FILTER (WHERE status = 'FAILED') AS failed,
                    count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
                    COALESCE(sum(messages_total), 0)::bigint AS messages_total,
                    COALESCE((SELECT sum(p.copied) FROM migration_progress p
                              JOIN migration_accounts x ON x.id = p.account_id
                              WHERE x.migration_id = $1), 0)::bigint AS messages_copied,
                    COALESCE((SELECT sum(p.bytes) FROM migration_progress p
                              JOIN migration_accounts x ON x.id = p.account_id
                              WHERE x.migration_id = $1), 0)::bigint AS bytes
             FROM migration_accounts WHERE migration_id = $1",
        )
        .bind(self.id)
        .fetch_one(pool(ctx)?)
        .await
        .gql()
    }
    /// The accounts by CSV line, optionally only those with a status.
    #[graphql(complexity = "connection::list_cost(first, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<MigrationAccountStatus>,
    ) -> async_graphql::Result<Connection<AccountRow>> {
        let size = page_size(first)?;
        let from = connection::cursor(after.as_deref())?;
        let status = status.map(|s| domain::migration::AccountStatus::from(s).as_str());
        let rows: Vec<AccountRow> = sqlx::query_as(
            "SELECT * FROM migration_accounts WHERE migration_id = $1 AND id > $2
             AND ($3::text IS NULL OR status = $3) ORDER BY id LIMIT $4",
        )
        .bind(self.id)
        .bind(from)
        .bind(status)
        .bind(size + 1)
        .fetch_all(pool(ctx)?)
        .await
        .gql()?;
        let total = if connection::wants_total(ctx) {
            sqlx::query_scalar(
                "SELECT count(*) FROM migration_accounts WHERE migration_id = $1
                 AND ($2::text IS NULL OR status = $2)",
            )
            .bind(self.id)
            .bind(status)
            .fetch_one(pool(ctx)?)
            .await
            .gql()?
        } else {
            0
        };
        Ok(by_id(rows, size, after.as_deref(), total, |r| r.id))
    }
    /// One line per account (line, old account, target, status, failure, reason, messages
    /// total/copied/skipped, bytes, times), to download.
    async fn results_csv(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        app::migration::results_csv(app(ctx)?, request(ctx)?, self.id)
            .await
            .gql()
    }
}

#[derive(sqlx::FromRow, Clone, Debug)]
// The row mirrors its table; not every column is served.
#[allow(dead_code)]
pub struct AccountRow {
    pub id: Uuid,
    pub migration_id: Uuid,
    pub line: i32,
    pub old_account: String,
    pub mailbox_id: Uuid,
    pub address: String,
    pub status: String,
    pub attempts: i32,
    pub not_before: Option<DateTime<Utc>>,
    pub mode: Option<String>,
    pub messages_total: i64,
    pub failure: Option<String>,
    pub failure_reason: Option<String>,
    pub folders: serde_json::Value,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One folder of an account.
#[derive(SimpleObject, sqlx::FromRow, Clone, Debug, serde::Deserialize)]
pub struct MigrationFolder {
    pub name: String,
    pub total: i64,
    pub copied: i64,
    /// Old messages not in the new folder (not copied, or not copyable).
    #[sqlx(default)]
    #[serde(default)]
    pub skipped: i64,
    pub bytes: i64,
}

#[Object(name = "MigrationAccount")]
impl AccountRow {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Its line in the CSV file.
    async fn line(&self) -> i32 {
        self.line
    }
    async fn old_account(&self) -> &str {
        &self.old_account
    }
    async fn mailbox_id(&self) -> ID {
        ID(self.mailbox_id.to_string())
    }
    /// The target mailbox's address.
    async fn address(&self) -> &str {
        &self.address
    }
    async fn status(&self) -> async_graphql::Result<MigrationAccountStatus> {
        label(&self.status, domain::migration::AccountStatus::from_label)
    }
    /// Attempts at an unreachable server in this run.
    async fn attempts(&self) -> i32 {
        self.attempts
    }
    /// The next attempt, while a retry waits.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.not_before
    }
    async fn mode(&self) -> async_graphql::Result<Option<CopyMode>> {
        self.mode
            .as_deref()
            .map(|m| label(m, domain::migration::CopyMode::from_label))
            .transpose()
    }
    async fn failure(&self) -> async_graphql::Result<Option<MigrationFailure>> {
        self.failure
            .as_deref()
            .map(|f| label(f, domain::migration::MigrationFailure::from_label))
            .transpose()
    }
    /// Why it failed (or why the last attempt did), in words.
    async fn failure_reason(&self) -> Option<&str> {
        self.failure_reason.as_deref()
    }
    async fn messages_total(&self) -> i64 {
        self.messages_total
    }
    /// Per folder: live while copying, then the run's final counts.
    async fn folders(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<MigrationFolder>> {
        if self.status == "SUCCEEDED" {
            return Ok(serde_json::from_value(self.folders.clone()).unwrap_or_default());
        }
        let live: Vec<MigrationFolder> = sqlx::query_as(
            "SELECT folder AS name, total, copied, greatest(total - copied, 0) AS skipped, bytes
             FROM migration_progress WHERE account_id = $1 ORDER BY folder",
        )
        .bind(self.id)
        .fetch_all(pool(ctx)?)
        .await
        .gql()?;
        Ok(live)
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at
    }
}

/// A task's row, for a reader of its organization; None (and FORBIDDEN) for others alike.
pub(super) async fn readable(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<MigrationRow> {
    let row: Option<MigrationRow> = sqlx::query_as("SELECT * FROM migrations WHERE id = $1")
        .bind(id)
        .fetch_optional(pool(ctx)?)
        .await
        .gql()?;
    let Some(row) = row else {
        return Err(forbidden());
    };
    require_reader(ctx, row.organization_id).await?;
    Ok(row)
}

#[derive(Default)]
pub struct MigrationQuery;

#[Object]
impl MigrationQuery {
    /// A migration task (manager of its organization, or operator).
    async fn migration(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<MigrationRow> {
        readable(ctx, parse_id("id", &id)?).await
    }
    /// An organization's migration tasks, newest first.
    #[graphql(complexity = "connection::list_cost(first, child_complexity)")]
    async fn migrations(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<MigrationRow>> {
        let org = parse_id("organizationId", &organization_id)?;
        require_reader(ctx, org).await?;
        let size = page_size(first)?;
        let from = match after.as_deref() {
            None => Uuid::max(),
            Some(_) => connection::cursor(after.as_deref())?,
        };
        let rows: Vec<MigrationRow> = sqlx::query_as(
            "SELECT * FROM migrations WHERE organization_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(org)
        .bind(from)
        .bind(size + 1)
        .fetch_all(pool(ctx)?)
        .await
        .gql()?;
        let total = connection::total(
            ctx,
            "SELECT count(*) FROM migrations WHERE organization_id = $1",
            org,
        )
        .await?;
        Ok(by_id(rows, size, after.as_deref(), total, |r| r.id))
    }
}
