//! Mail migration mutations: create a task, check the old server, add accounts by CSV,
//! start, retry the failed, re-run incrementally, cancel.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use uuid::Uuid;

use super::context::{once, request, services};
use super::enums::parse_id;
use super::migration::{readable, MailProtocol, MigrationRow};

/// A new task: the old server.
#[derive(InputObject, serde::Serialize)]
pub struct CreateMigrationInput {
    pub organization_id: ID,
    pub host: String,
    /// Default: 143 (IMAP), 993 (IMAPS), 110 (POP3), 995 (POP3S).
    pub port: Option<i32>,
    pub protocol: MailProtocol,
    pub tls: bool,
}

/// A refused line of the accounts file.
#[derive(SimpleObject, Clone, serde::Serialize, serde::Deserialize)]
pub struct MigrationLineRefusal {
    pub line: i32,
    pub field: String,
    /// VALIDATION.
    pub code: String,
    pub message: String,
}

/// What adding accounts did: with any line refused, nothing was added.
#[derive(SimpleObject)]
pub struct AddMigrationAccountsResult {
    pub added: i32,
    pub refused: Vec<MigrationLineRefusal>,
    pub migration: MigrationRow,
}

#[derive(Default)]
pub struct MigrationMutation;

#[Object]
impl MigrationMutation {
    /// Manager: a migration task for an old server (valid 30 days).
    async fn create_migration(
        &self,
        ctx: &Context<'_>,
        input: CreateMigrationInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MigrationRow> {
        let org = parse_id("organizationId", &input.organization_id)?;
        let protocol = domain::migration::MailProtocol::from(input.protocol);
        let port = match input.port {
            None => domain::migration::MailSource::default_port(protocol, input.tls),
            Some(p) => u16::try_from(p)
                .map_err(|_| super::error::validation("port", "a port from 1 to 65535"))?,
        };
        let source = domain::migration::MailSource {
            host: input.host.trim().to_ascii_lowercase(),
            port,
            protocol,
            tls: input.tls,
        };
        let (s, r) = (services(ctx)?, request(ctx)?);
        let id = once(ctx, idempotency_key, "createMigration", &input, async {
            let done = app::migration::create(&s.app, r, org, source).await?;
            Ok(s.settle(done).await)
        })
        .await?;
        readable(ctx, id).await
    }

    /// Manager: check that the old server answers; the outcome is on the task.
    async fn check_migration_connection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MigrationRow> {
        let key = (idempotency_key, "checkMigrationConnection");
        step(ctx, id, key, app::migration::check_connection).await
    }

    /// Manager: add accounts from CSV text (`old account,old password,target mailbox`, a
    /// header line allowed, at most 1,000). With any line refused nothing is added.
    async fn add_migration_accounts(
        &self,
        ctx: &Context<'_>,
        id: ID,
        csv: String,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<AddMigrationAccountsResult> {
        let id = parse_id("id", &id)?;
        let (s, r) = (services(ctx)?, request(ctx)?);
        // Only a hash of the arguments is kept with the key, never the file (it holds
        // passwords).
        let arguments = (id, &csv);
        let (added, refused) = once(
            ctx,
            idempotency_key,
            "addMigrationAccounts",
            &arguments,
            async {
                let done = app::migration::add_accounts(&s.app, r, id, &csv).await?;
                let answer = s.settle(done).await;
                let refused: Vec<MigrationLineRefusal> = answer
                    .refused
                    .into_iter()
                    .map(|l| MigrationLineRefusal {
                        line: l.line as i32,
                        field: l.field.to_owned(),
                        code: app::ErrorCode::Validation.as_str().to_owned(),
                        message: l.message,
                    })
                    .collect();
                Ok((answer.added as i32, refused))
            },
        )
        .await?;
        Ok(AddMigrationAccountsResult {
            added,
            refused,
            migration: readable(ctx, id).await?,
        })
    }

    /// Manager: start the first run.
    async fn start_migration(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MigrationRow> {
        let key = (idempotency_key, "startMigration");
        step(ctx, id, key, app::migration::start).await
    }

    /// Manager: run the failed accounts again.
    async fn retry_failed_migration_accounts(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MigrationRow> {
        let key = (idempotency_key, "retryFailedMigrationAccounts");
        step(ctx, id, key, app::migration::retry_failed).await
    }

    /// Manager: run every account again, incrementally (new old mail in, nothing removed).
    async fn rerun_migration(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MigrationRow> {
        let key = (idempotency_key, "rerunMigration");
        step(ctx, id, key, app::migration::rerun).await
    }

    /// Manager: close the task; unfinished accounts stop, old passwords are deleted.
    async fn cancel_migration(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<MigrationRow> {
        let key = (idempotency_key, "cancelMigration");
        step(ctx, id, key, app::migration::cancel).await
    }
}

/// A task operation (once per idempotency key), answering the task as the read model has
/// it afterwards.
async fn step<'a, F, Fut>(
    ctx: &Context<'a>,
    id: ID,
    (key, name): (Option<String>, &str),
    operation: F,
) -> async_graphql::Result<MigrationRow>
where
    F: FnOnce(&'a app::App, &'a app::Request, Uuid) -> Fut,
    Fut: std::future::Future<
        Output = Result<app::Executed<domain::migration::MigrationState>, app::AppError>,
    >,
{
    let id = parse_id("id", &id)?;
    let (s, r) = (services(ctx)?, request(ctx)?);
    once(ctx, key, name, &id, async {
        let done = operation(&s.app, r, id).await?;
        s.settle(done).await;
        Ok(())
    })
    .await?;
    readable(ctx, id).await
}
