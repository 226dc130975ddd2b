//! Mail migration (邮箱搬家): tasks that copy an organization's old mail in from its previous
//! provider. Admins create a task, check the old server, add accounts by CSV (old passwords
//! go to the secret table), start, cancel, retry the failed, re-run incrementally; the
//! migration worker reports each account's progress through the system commands below.

use chrono::Duration;
use domain::mailbox::MailboxStatus;
use domain::migration::{
    FolderCount, MailSource, Migration, MigrationCommand, MigrationFailure, MigrationState,
    NewMigrationAccount,
};
use domain::{Decider, Scope};
use uuid::Uuid;

use crate::access::{self, Owned};
use crate::command::Change;
use crate::error::AppError;
use crate::secrets::Purpose;
use crate::{streams, App, Executed, Request};

pub mod accounts_csv;
mod mutf7;
pub mod probe;
mod results;

pub use accounts_csv::RowRefusal;
pub use results::results_csv;

/// What adding accounts did: how many were added, or (and then none was) the lines refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsAdded {
    pub added: usize,
    pub refused: Vec<RowRefusal>,
}

/// A manager creates a task for an old server; answers its id.
pub async fn create(
    app: &App,
    request: &Request,
    organization_id: Uuid,
    source: MailSource,
) -> Result<Executed<Uuid>, AppError> {
    access::require_manager(app.pool(), request, organization_id).await?;
    source.validate()?;
    let host = match source.host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => url::Host::Ipv4(ip),
        Ok(std::net::IpAddr::V6(ip)) => url::Host::Ipv6(ip),
        Err(_) => url::Host::Domain(source.host.as_str()),
    };
    if !app.settings().migration_sources.allows_host(&host) {
        return Err(AppError::invalid(
            "host",
            "a private or loopback address is not allowed as an old server",
        ));
    }
    let migration_id = Uuid::now_v7();
    let command = MigrationCommand::Create {
        migration_id,
        organization_id,
        source,
    };
    Ok(run(app, request, migration_id, command)
        .await?
        .map(|_| migration_id))
}

/// A manager checks that the old server answers (a connection and its greeting); the
/// outcome is recorded on the task either way.
pub async fn check_connection(
    app: &App,
    request: &Request,
    migration_id: Uuid,
) -> Result<Executed<MigrationState>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Migration, migration_id).await?;
    let state = app
        .load::<Migration>(&streams::migration(migration_id))
        .await?;
    let source = state.source.ok_or(AppError::not_found("migration"))?;
    let outcome = probe::greet(&source, app.settings().migration_sources).await;
    let command = MigrationCommand::RecordConnectionCheck {
        reachable: outcome.is_ok(),
        reason: outcome.err().map(|e| e.to_string()),
    };
    run(app, request, migration_id, command).await
}

/// A manager adds accounts from a CSV file. Every line is checked first (its shape, the
/// target mailbox open in this organization, no account or target twice, no target in
/// another open task); with any line refused nothing is written and the lines are answered.
pub async fn add_accounts(
    app: &App,
    request: &Request,
    migration_id: Uuid,
    csv: &str,
) -> Result<Executed<AccountsAdded>, AppError> {
    let (organization_id, _) =
        access::require_manager_of(app.pool(), request, Owned::Migration, migration_id).await?;
    let (rows, mut refused) = accounts_csv::read(csv).map_err(domain::DomainError::from)?;
    let state = app
        .load::<Migration>(&streams::migration(migration_id))
        .await?;
    let mut accounts = Vec::with_capacity(rows.len());
    let mut secrets = Vec::with_capacity(rows.len());
    let mut old_seen: Vec<String> = state
        .accounts
        .values()
        .map(|a| a.old_account.clone())
        .collect();
    let mut targets_seen: Vec<Uuid> = state.accounts.values().map(|a| a.mailbox_id).collect();
    for row in rows {
        let refuse = |field, message: String| RowRefusal {
            line: row.line,
            field,
            message,
        };
        let target = open_mailbox(app, organization_id, &row.target).await?;
        let Some(mailbox_id) = target else {
            refused.push(refuse(
                "targetMailbox",
                format!("{} is not an open mailbox of this organization", row.target),
            ));
            continue;
        };
        if old_seen.contains(&row.old_account) {
            refused.push(refuse(
                "oldAccount",
                format!("{} appears twice", row.old_account),
            ));
            continue;
        }
        if targets_seen.contains(&mailbox_id) {
            refused.push(refuse(
                "targetMailbox",
                format!("{} is the target of another line", row.target),
            ));
            continue;
        }
        let key = mailbox_id.to_string();
        let holder = app
            .store()
            .claim_holder(Scope::MigrationTarget.name(), &key)
            .await?;
        if holder.is_some_and(|h| h != *streams::migration(migration_id)) {
            refused.push(refuse(
                "targetMailbox",
                format!("{} is the target of another open migration", row.target),
            ));
            continue;
        }
        old_seen.push(row.old_account.clone());
        targets_seen.push(mailbox_id);
        let account_id = Uuid::now_v7();
        secrets.push((account_id, row.old_password));
        accounts.push(NewMigrationAccount {
            account_id,
            line: row.line,
            old_account: row.old_account,
            mailbox_id,
            address: row.target,
        });
    }
    if !refused.is_empty() {
        refused.sort_by_key(|r| r.line);
        return Ok(Executed::nothing(AccountsAdded { added: 0, refused }));
    }
    // The passwords are kept first, so no account exists without its password; if the
    // command is refused they are deleted again.
    for (account_id, password) in &secrets {
        app.secrets()
            .put(Purpose::MigrationPassword, *account_id, password)
            .await?;
    }
    let added = accounts.len();
    let command = MigrationCommand::AddAccounts { accounts };
    match run(app, request, migration_id, command).await {
        Ok(done) => Ok(done.map(|_| AccountsAdded {
            added,
            refused: vec![],
        })),
        Err(e) => {
            for (account_id, _) in &secrets {
                app.secrets()
                    .delete(Purpose::MigrationPassword, *account_id)
                    .await?;
            }
            Err(e)
        }
    }
}

/// A manager starts the first run.
pub async fn start(
    app: &App,
    request: &Request,
    migration_id: Uuid,
) -> Result<Executed<MigrationState>, AppError> {
    manage(app, request, migration_id, MigrationCommand::Start).await
}

/// A manager runs the failed accounts again.
pub async fn retry_failed(
    app: &App,
    request: &Request,
    migration_id: Uuid,
) -> Result<Executed<MigrationState>, AppError> {
    manage(app, request, migration_id, MigrationCommand::RetryFailed).await
}

/// A manager runs every account again, incrementally: what arrived on the old server since
/// is added, nothing in the new mailboxes is removed.
pub async fn rerun(
    app: &App,
    request: &Request,
    migration_id: Uuid,
) -> Result<Executed<MigrationState>, AppError> {
    manage(app, request, migration_id, MigrationCommand::Rerun).await
}

/// A manager closes the task: unfinished accounts stop, the old passwords are deleted and
/// the target mailboxes are free for another task.
pub async fn cancel(
    app: &App,
    request: &Request,
    migration_id: Uuid,
) -> Result<Executed<MigrationState>, AppError> {
    let done = manage(app, request, migration_id, MigrationCommand::Cancel).await?;
    forget_passwords(app, &done.answer).await?;
    Ok(done)
}

/// The validity timer: after 30 days the task ends and its passwords are deleted.
pub async fn expire_if_due(
    app: &App,
    request: &Request,
    migration_id: Uuid,
) -> Result<Executed<MigrationState>, AppError> {
    system(request)?;
    let done = run(app, request, migration_id, MigrationCommand::ExpireIfDue).await?;
    if done.answer.ended() {
        forget_passwords(app, &done.answer).await?;
    }
    Ok(done)
}

/// The worker holds an account's lease and begins (or resumes) it.
pub async fn begin_check(
    app: &App,
    request: &Request,
    migration_id: Uuid,
    account_id: Uuid,
) -> Result<Executed<MigrationState>, AppError> {
    system(request)?;
    run(
        app,
        request,
        migration_id,
        MigrationCommand::BeginCheck { account_id },
    )
    .await
}

/// The worker logged in on the old server and is about to copy.
pub async fn begin_copy(
    app: &App,
    request: &Request,
    migration_id: Uuid,
    account_id: Uuid,
    messages: u64,
    target_has_mail: bool,
) -> Result<Executed<MigrationState>, AppError> {
    system(request)?;
    let command = MigrationCommand::BeginCopy {
        account_id,
        messages,
        target_has_mail,
    };
    run(app, request, migration_id, command).await
}

/// The worker copied the account's mail.
pub async fn record_success(
    app: &App,
    request: &Request,
    migration_id: Uuid,
    account_id: Uuid,
    folders: Vec<FolderCount>,
    sync_state: Option<String>,
) -> Result<Executed<MigrationState>, AppError> {
    system(request)?;
    let command = MigrationCommand::RecordSuccess {
        account_id,
        folders,
        sync_state,
    };
    run(app, request, migration_id, command).await
}

/// The worker could not migrate the account; `retry_in` when trying later can help.
pub async fn record_failure(
    app: &App,
    request: &Request,
    migration_id: Uuid,
    account_id: Uuid,
    failure: MigrationFailure,
    reason: &str,
    retry_in: Option<Duration>,
) -> Result<Executed<MigrationState>, AppError> {
    system(request)?;
    let command = MigrationCommand::RecordFailure {
        account_id,
        failure,
        reason: reason.chars().take(300).collect(),
        retry_in,
    };
    run(app, request, migration_id, command).await
}

/// An account's old password, for the worker (None once the task ended).
pub async fn old_password(
    app: &App,
    request: &Request,
    account_id: Uuid,
) -> Result<Option<String>, AppError> {
    system(request)?;
    Ok(app
        .secrets()
        .get(Purpose::MigrationPassword, account_id)
        .await?)
}

async fn manage(
    app: &App,
    request: &Request,
    migration_id: Uuid,
    command: MigrationCommand,
) -> Result<Executed<MigrationState>, AppError> {
    access::require_manager_of(app.pool(), request, Owned::Migration, migration_id).await?;
    run(app, request, migration_id, command).await
}

async fn forget_passwords(app: &App, state: &MigrationState) -> Result<(), AppError> {
    for account_id in state.accounts.keys() {
        app.secrets()
            .delete(Purpose::MigrationPassword, *account_id)
            .await?;
    }
    Ok(())
}

/// The open (ACTIVE) mailbox with this address in the organization.
async fn open_mailbox(
    app: &App,
    organization_id: Uuid,
    address: &str,
) -> Result<Option<Uuid>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM mailboxes WHERE organization_id = $1 AND address = $2 AND status = $3",
    )
    .bind(organization_id)
    .bind(address)
    .bind(MailboxStatus::Active.as_str())
    .fetch_optional(app.pool())
    .await?)
}

fn system(request: &Request) -> Result<(), AppError> {
    if request.is_system() {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// A task command at the clock's now, claiming and releasing target mailboxes.
async fn run(
    app: &App,
    request: &Request,
    migration_id: Uuid,
    command: MigrationCommand,
) -> Result<Executed<MigrationState>, AppError> {
    let stream = streams::migration(migration_id);
    let now = app.now();
    app.handler
        .execute_tracked(&request.context(), &[stream.to_string()], |loaded| {
            let state = loaded.state::<Migration>(&stream)?;
            let events = Migration::decide(&state, command.clone(), now)?;
            let change = Change::claiming(&stream, &events, |e| e.claims(&state))?;
            Ok((events.iter().fold(state, Migration::evolve), vec![change]))
        })
        .await
}
