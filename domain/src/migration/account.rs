//! One old account in a task: where its mail goes, how far it got, why it failed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::MigrationEvent;
use crate::error::DomainError;

/// An old account's longest accepted name (RFC 5321 allows 254 for an address).
pub const MAX_OLD_ACCOUNT_LEN: usize = 254;

/// An account as added: the old login and the target mailbox (opened in the organization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewMigrationAccount {
    pub account_id: Uuid,
    /// The CSV line it came from (1 = the header), for the reports.
    pub line: u32,
    pub old_account: String,
    pub mailbox_id: Uuid,
    /// The target mailbox's address when added.
    pub address: String,
}

impl NewMigrationAccount {
    /// The old login reaches a configuration file of the data plane: printable, no quotes,
    /// no spaces, no control characters.
    pub fn validate(&self) -> Result<(), DomainError> {
        validate_old_account(&self.old_account)
    }
}

/// The rules of an old account name.
pub fn validate_old_account(account: &str) -> Result<(), DomainError> {
    if account.is_empty() || account.len() > MAX_OLD_ACCOUNT_LEN {
        return Err(DomainError::invalid(
            "oldAccount",
            format!("1 to {MAX_OLD_ACCOUNT_LEN} characters"),
        ));
    }
    if account
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\\' | '<' | '>'))
    {
        return Err(DomainError::invalid(
            "oldAccount",
            "no spaces, quotes, backslashes, angle brackets or control characters",
        ));
    }
    Ok(())
}

/// Where an account is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    #[default]
    NotStarted,
    /// Logging in on the old server and counting its mail.
    Checking,
    Migrating,
    Succeeded,
    Failed,
    Cancelled,
}

impl AccountStatus {
    /// Whether the account's part of a run is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AccountStatus::Succeeded | AccountStatus::Failed | AccountStatus::Cancelled
        )
    }
}

/// How mail is copied into the target mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CopyMode {
    /// An exact copy (UIDs, flags, expunges): only into a mailbox that has never received
    /// mail of its own, since it deletes whatever the old server lacks.
    Mirror,
    /// One way, adding what is new and never deleting: every run after the first.
    TopUp,
}

/// Why an account failed, in words a person understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MigrationFailure {
    AuthenticationFailed,
    ServerUnreachable,
    MailboxOverQuota,
    /// The target mailbox is gone or not provisioned.
    TargetUnavailable,
    /// The old password is no longer kept (the task ended meanwhile).
    PasswordNotKept,
    /// Anything else; the reason says what.
    CopyFailed,
}

impl MigrationFailure {
    /// The sentence shown beside the account.
    pub fn sentence(self) -> &'static str {
        match self {
            MigrationFailure::AuthenticationFailed => "authentication failed",
            MigrationFailure::ServerUnreachable => "server unreachable",
            MigrationFailure::MailboxOverQuota => "mailbox over quota",
            MigrationFailure::TargetUnavailable => "target mailbox unavailable",
            MigrationFailure::PasswordNotKept => "old password no longer kept",
            MigrationFailure::CopyFailed => "copy failed",
        }
    }
}

/// One folder of an account: messages on the old server, copied by this run, already there
/// (or not copyable), and bytes now in the target folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FolderCount {
    pub name: String,
    pub total: u64,
    pub copied: u64,
    pub skipped: u64,
    pub bytes: u64,
}

/// The state of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationAccount {
    pub line: u32,
    pub old_account: String,
    pub mailbox_id: Uuid,
    pub address: String,
    pub status: AccountStatus,
    /// Unreachable-server attempts in this run.
    pub attempts: u32,
    pub not_before: Option<DateTime<Utc>>,
    pub mode: Option<CopyMode>,
    /// A run of this account succeeded once: every later copy is a top-up.
    pub copied_once: bool,
    pub failure: Option<(MigrationFailure, String)>,
    pub folders: Vec<FolderCount>,
    /// dsync's state after the last successful copy.
    pub sync_state: Option<String>,
}

impl MigrationAccount {
    pub(super) fn new(a: &NewMigrationAccount) -> Self {
        MigrationAccount {
            line: a.line,
            old_account: a.old_account.clone(),
            mailbox_id: a.mailbox_id,
            address: a.address.clone(),
            status: AccountStatus::NotStarted,
            attempts: 0,
            not_before: None,
            mode: None,
            copied_once: false,
            failure: None,
            folders: vec![],
            sync_state: None,
        }
    }

    /// The copy mode of the next copy. A mirror deletes what the old server lacks, so it is
    /// chosen only for a mailbox that held no mail when this account first began, and kept
    /// when resuming that same unfinished mirror (a killed mirror resumes without
    /// duplicates); after one success, or into a mailbox with mail, only a top-up.
    pub fn copy_mode(&self, target_has_mail: bool) -> CopyMode {
        match self.mode {
            _ if self.copied_once => CopyMode::TopUp,
            Some(mode) => mode,
            None if target_has_mail => CopyMode::TopUp,
            None => CopyMode::Mirror,
        }
    }

    pub(super) fn queue(&mut self) {
        self.status = AccountStatus::NotStarted;
        self.attempts = 0;
        self.not_before = None;
        self.failure = None;
    }

    pub(super) fn evolve(&mut self, event: &MigrationEvent) {
        use MigrationEvent as E;
        match event {
            E::AccountCheckStarted { .. } => self.status = AccountStatus::Checking,
            E::AccountCopyStarted { mode, .. } => {
                self.status = AccountStatus::Migrating;
                self.mode = Some(*mode);
            }
            E::AccountRetryScheduled {
                attempt,
                not_before,
                ..
            } => {
                self.status = AccountStatus::NotStarted;
                self.attempts = *attempt;
                self.not_before = Some(*not_before);
            }
            E::AccountSucceeded {
                folders,
                sync_state,
                ..
            } => {
                self.sync_state = sync_state.clone();
                self.status = AccountStatus::Succeeded;
                self.copied_once = true;
                self.mode = None;
                self.folders = folders.clone();
            }
            E::AccountFailed {
                failure, reason, ..
            } => {
                self.status = AccountStatus::Failed;
                // A retry days later must not resume a mirror into a mailbox that may have
                // received mail since: it decides again from what the mailbox holds.
                self.mode = None;
                self.failure = Some((*failure, reason.clone()));
            }
            _ => {}
        }
    }
}
