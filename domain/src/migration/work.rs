//! What the migration worker reports about one account: it began, copies, succeeded, failed.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{
    AccountStatus, FolderCount, Migration, MigrationEvent, MigrationFailure, MigrationState,
    MigrationStatus, MAX_ATTEMPTS,
};
use crate::error::DomainError;
use crate::Decider;

pub(super) fn begin_check(
    s: &MigrationState,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<MigrationEvent>, DomainError> {
    let a = s.account(account_id)?;
    if s.status != MigrationStatus::Running || a.status.is_final() {
        return Err(DomainError::MigrationAccountNotRunnable);
    }
    if a.not_before.is_some_and(|t| now < t) {
        return Err(DomainError::MigrationAccountNotRunnable);
    }
    Ok(vec![MigrationEvent::AccountCheckStarted { account_id }])
}

pub(super) fn begin_copy(
    s: &MigrationState,
    account_id: Uuid,
    messages: u64,
    target_has_mail: bool,
) -> Result<Vec<MigrationEvent>, DomainError> {
    let a = s.account(account_id)?;
    if a.status != AccountStatus::Checking {
        return Err(DomainError::MigrationAccountNotRunnable);
    }
    Ok(vec![MigrationEvent::AccountCopyStarted {
        account_id,
        mode: a.copy_mode(target_has_mail),
        messages,
    }])
}

pub(super) fn record_success(
    s: &MigrationState,
    account_id: Uuid,
    folders: Vec<FolderCount>,
    sync_state: Option<String>,
) -> Result<Vec<MigrationEvent>, DomainError> {
    let a = s.account(account_id)?;
    if a.status != AccountStatus::Migrating {
        return Err(DomainError::MigrationAccountNotRunnable);
    }
    Ok(finish(
        s,
        MigrationEvent::AccountSucceeded {
            account_id,
            folders,
            sync_state,
        },
    ))
}

pub(super) fn record_failure(
    s: &MigrationState,
    account_id: Uuid,
    failure: MigrationFailure,
    reason: String,
    retry_in: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Vec<MigrationEvent>, DomainError> {
    let a = s.account(account_id)?;
    if a.status.is_final() || s.status != MigrationStatus::Running {
        return Err(DomainError::MigrationAccountNotRunnable);
    }
    match retry_in {
        Some(delay) if a.attempts + 1 < MAX_ATTEMPTS => {
            Ok(vec![MigrationEvent::AccountRetryScheduled {
                account_id,
                attempt: a.attempts + 1,
                reason,
                not_before: now + delay,
            }])
        }
        _ => Ok(finish(
            s,
            MigrationEvent::AccountFailed {
                account_id,
                failure,
                reason,
            },
        )),
    }
}

/// The account's final event, and the task's completion when it was the last one running.
fn finish(s: &MigrationState, event: MigrationEvent) -> Vec<MigrationEvent> {
    let after = Migration::evolve(s.clone(), &event);
    let mut events = vec![event];
    if after.status == MigrationStatus::Running
        && after.accounts.values().all(|a| a.status.is_final())
    {
        events.push(MigrationEvent::MigrationCompleted {});
    }
    events
}
