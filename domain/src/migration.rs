//! `migration-{id}`: a task that brings an organization's old mail in from its previous
//! provider over IMAP or POP3 (the seeds' 邮箱搬家): the old server, the accounts to move
//! (old account → target mailbox), runs, and each account's outcome. Old passwords are
//! secrets and never appear here.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;
use crate::Decider;

mod account;
mod event;
mod source;
mod work;

pub use account::*;
pub use event::*;
pub use source::*;

/// A task is valid this long after its creation (reseller migration guide: 有效期30天).
pub const VALID_DAYS: i64 = 30;
/// Accounts one task holds (Aliyun: 一次只能导入1000条数据).
pub const MAX_ACCOUNTS: usize = 1_000;
/// Attempts of an account whose old server cannot be reached, before it is FAILED.
pub const MAX_ATTEMPTS: u32 = 6;

/// Where a task is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MigrationStatus {
    /// Created; accounts are being added and the connection checked.
    #[default]
    Draft,
    Running,
    /// Every account of the last run ended; a retry or an incremental re-run may follow.
    Completed,
    Cancelled,
    /// Its 30 days are over.
    Expired,
}

/// The state of a task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MigrationState {
    pub id: Option<Uuid>,
    pub organization_id: Uuid,
    pub source: Option<MailSource>,
    pub status: MigrationStatus,
    pub expires_at: Option<DateTime<Utc>>,
    /// The last connection check: None before any.
    pub reachable: Option<bool>,
    pub run: u32,
    pub accounts: BTreeMap<Uuid, MigrationAccount>,
}

impl MigrationState {
    /// Whether it has ended for good (its passwords are deleted, its targets free).
    pub fn ended(&self) -> bool {
        matches!(
            self.status,
            MigrationStatus::Cancelled | MigrationStatus::Expired
        )
    }

    fn unfinished(&self) -> Vec<Uuid> {
        self.accounts
            .iter()
            .filter(|(_, a)| !a.status.is_final())
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn account(&self, id: Uuid) -> Result<&MigrationAccount, DomainError> {
        self.accounts
            .get(&id)
            .ok_or(DomainError::NotFound("migration account"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MigrationCommand {
    Create {
        migration_id: Uuid,
        organization_id: Uuid,
        source: MailSource,
    },
    RecordConnectionCheck {
        reachable: bool,
        reason: Option<String>,
    },
    AddAccounts {
        accounts: Vec<NewMigrationAccount>,
    },
    Start,
    /// The failed accounts of the last run again.
    RetryFailed,
    /// Every account again, incrementally (mail that arrived on the old server since).
    Rerun,
    Cancel,
    /// The validity timer.
    ExpireIfDue,
    /// A worker holds the account's lease and begins (or resumes) it.
    BeginCheck {
        account_id: Uuid,
    },
    /// The account logged in on the old server; `target_has_mail` is what the data plane
    /// reports for the target mailbox now.
    BeginCopy {
        account_id: Uuid,
        messages: u64,
        target_has_mail: bool,
    },
    RecordSuccess {
        account_id: Uuid,
        folders: Vec<FolderCount>,
        sync_state: Option<String>,
    },
    /// `retry_in`: the worker's backoff for this attempt when the failure is worth
    /// retrying (an unreachable server); None for a failure retrying cannot mend.
    RecordFailure {
        account_id: Uuid,
        failure: MigrationFailure,
        reason: String,
        retry_in: Option<Duration>,
    },
}

/// The migration decider.
pub struct Migration;

impl Decider for Migration {
    type State = MigrationState;
    type Command = MigrationCommand;
    type Event = MigrationEvent;

    fn decide(
        s: &MigrationState,
        command: MigrationCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<MigrationEvent>, DomainError> {
        use MigrationCommand as C;
        use MigrationEvent as E;
        use MigrationStatus as S;
        if let C::Create {
            migration_id,
            organization_id,
            source,
        } = command
        {
            if s.id.is_some() {
                return Err(DomainError::MigrationExists);
            }
            source.validate()?;
            return Ok(vec![E::MigrationCreated {
                migration_id,
                organization_id,
                source,
                expires_at: now + Duration::days(VALID_DAYS),
            }]);
        }
        if s.id.is_none() {
            return Err(DomainError::NotFound("migration"));
        }
        let open = || -> Result<(), DomainError> {
            if s.ended() || s.expires_at.is_some_and(|e| now >= e) {
                Err(DomainError::MigrationEnded)
            } else {
                Ok(())
            }
        };
        match command {
            C::Create { .. } => Err(DomainError::MigrationExists),
            C::RecordConnectionCheck { reachable, reason } => {
                open()?;
                Ok(vec![E::MigrationConnectionChecked { reachable, reason }])
            }
            C::AddAccounts { accounts } => {
                open()?;
                add_accounts(s, accounts)
            }
            C::Start => {
                open()?;
                if s.status != S::Draft {
                    return Err(DomainError::MigrationNotDraft);
                }
                if s.accounts.is_empty() {
                    return Err(DomainError::invalid("accounts", "add accounts first"));
                }
                Ok(vec![E::MigrationRunStarted {
                    run: 1,
                    accounts: s.accounts.keys().copied().collect(),
                }])
            }
            C::RetryFailed | C::Rerun => {
                open()?;
                if s.status == S::Draft {
                    return Err(DomainError::MigrationNotStarted);
                }
                // POP3 has no stable message ids: measured with Dovecot 2.3.19.1, a second
                // pop3c copy into the same mailbox copies mail again or hides it.
                let pop3 = s
                    .source
                    .as_ref()
                    .is_some_and(|src| src.protocol == MailProtocol::Pop3);
                if command == C::Rerun && pop3 {
                    return Err(DomainError::invalid(
                        "id",
                        "a POP3 task copies each account once; it cannot be re-run",
                    ));
                }
                let retry = command == C::RetryFailed;
                let accounts: Vec<Uuid> = s
                    .accounts
                    .iter()
                    .filter(|(_, a)| match a.status {
                        AccountStatus::Failed => true,
                        AccountStatus::Succeeded => !retry,
                        _ => false,
                    })
                    .map(|(id, _)| *id)
                    .collect();
                if accounts.is_empty() {
                    return Err(DomainError::NothingToRun);
                }
                Ok(vec![E::MigrationRunStarted {
                    run: s.run + 1,
                    accounts,
                }])
            }
            C::Cancel => match s.status {
                S::Cancelled => Ok(vec![]),
                S::Expired => Err(DomainError::MigrationEnded),
                _ => Ok(vec![E::MigrationCancelled {
                    accounts: s.unfinished(),
                }]),
            },
            C::ExpireIfDue => Ok(match s.expires_at {
                Some(at) if now >= at && !s.ended() => vec![E::MigrationExpired {
                    accounts: s.unfinished(),
                }],
                _ => vec![],
            }),
            C::BeginCheck { account_id } => {
                open()?;
                work::begin_check(s, account_id, now)
            }
            C::BeginCopy {
                account_id,
                messages,
                target_has_mail,
            } => {
                open()?;
                work::begin_copy(s, account_id, messages, target_has_mail)
            }
            C::RecordSuccess {
                account_id,
                folders,
                sync_state,
            } => work::record_success(s, account_id, folders, sync_state),
            C::RecordFailure {
                account_id,
                failure,
                reason,
                retry_in,
            } => work::record_failure(s, account_id, failure, reason, retry_in, now),
        }
    }

    fn evolve(mut s: MigrationState, event: &MigrationEvent) -> MigrationState {
        use MigrationEvent as E;
        match event {
            E::MigrationCreated {
                migration_id,
                organization_id,
                source,
                expires_at,
            } => {
                s.id = Some(*migration_id);
                s.organization_id = *organization_id;
                s.source = Some(source.clone());
                s.expires_at = Some(*expires_at);
            }
            E::MigrationConnectionChecked { reachable, .. } => s.reachable = Some(*reachable),
            E::MigrationAccountsAdded { accounts } => {
                for a in accounts {
                    s.accounts.insert(a.account_id, MigrationAccount::new(a));
                }
            }
            E::MigrationRunStarted { run, accounts } => {
                s.run = *run;
                s.status = MigrationStatus::Running;
                for id in accounts {
                    if let Some(a) = s.accounts.get_mut(id) {
                        a.queue();
                    }
                }
            }
            E::MigrationCompleted {} => s.status = MigrationStatus::Completed,
            E::MigrationCancelled { accounts } | E::MigrationExpired { accounts } => {
                s.status = match event {
                    E::MigrationCancelled { .. } => MigrationStatus::Cancelled,
                    _ => MigrationStatus::Expired,
                };
                for id in accounts {
                    if let Some(a) = s.accounts.get_mut(id) {
                        a.status = AccountStatus::Cancelled;
                    }
                }
            }
            other => {
                if let Some(a) = other.account_id().and_then(|id| s.accounts.get_mut(&id)) {
                    a.evolve(other);
                }
            }
        }
        s
    }
}

fn add_accounts(
    s: &MigrationState,
    accounts: Vec<NewMigrationAccount>,
) -> Result<Vec<MigrationEvent>, DomainError> {
    if accounts.is_empty() {
        return Err(DomainError::invalid("csv", "no accounts"));
    }
    let total = s.accounts.len() + accounts.len();
    if total > MAX_ACCOUNTS {
        return Err(DomainError::ImportTooLarge {
            rows: total,
            max: MAX_ACCOUNTS,
        });
    }
    let mut old: Vec<&str> = s
        .accounts
        .values()
        .map(|a| a.old_account.as_str())
        .collect();
    let mut targets: Vec<Uuid> = s.accounts.values().map(|a| a.mailbox_id).collect();
    for a in &accounts {
        a.validate()?;
        if old.contains(&a.old_account.as_str()) {
            return Err(DomainError::invalid(
                "oldAccount",
                format!("{} is already in the task", a.old_account),
            ));
        }
        if targets.contains(&a.mailbox_id) {
            return Err(DomainError::invalid(
                "targetMailbox",
                format!("{} is already a target in the task", a.address),
            ));
        }
        old.push(&a.old_account);
        targets.push(a.mailbox_id);
    }
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.account_id).collect();
    let mut events = vec![MigrationEvent::MigrationAccountsAdded { accounts }];
    // Accounts added after a run ended start a run of their own; while one runs, the
    // workers pick them up as they are.
    if s.status == MigrationStatus::Completed {
        events.push(MigrationEvent::MigrationRunStarted {
            run: s.run + 1,
            accounts: ids,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
