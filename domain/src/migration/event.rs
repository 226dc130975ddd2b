//! The events of a migration task.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    CopyMode, FolderCount, MailSource, MigrationFailure, MigrationState, NewMigrationAccount,
};
use crate::claims::{Claim, Scope};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum MigrationEvent {
    MigrationCreated {
        migration_id: Uuid,
        organization_id: Uuid,
        source: MailSource,
        expires_at: DateTime<Utc>,
    },
    /// The old server answered (or not) when an admin checked it.
    MigrationConnectionChecked {
        reachable: bool,
        reason: Option<String>,
    },
    /// Old accounts and their target mailboxes (the passwords are in the secret table).
    MigrationAccountsAdded {
        accounts: Vec<NewMigrationAccount>,
    },
    /// A run begins: the accounts listed go back to NOT_STARTED. Run 1 is the first;
    /// later runs retry failed accounts or top up every account incrementally.
    MigrationRunStarted {
        run: u32,
        accounts: Vec<Uuid>,
    },
    AccountCheckStarted {
        account_id: Uuid,
    },
    AccountCopyStarted {
        account_id: Uuid,
        mode: CopyMode,
        /// Messages on the old server when checked.
        messages: u64,
    },
    /// The old server was unreachable; tried again after `not_before`.
    AccountRetryScheduled {
        account_id: Uuid,
        attempt: u32,
        reason: String,
        not_before: DateTime<Utc>,
    },
    AccountSucceeded {
        account_id: Uuid,
        folders: Vec<FolderCount>,
        /// dsync's state after the copy (opaque, not secret): the next top-up continues
        /// from it, which POP3 needs to add nothing twice.
        #[serde(default)]
        sync_state: Option<String>,
    },
    AccountFailed {
        account_id: Uuid,
        failure: MigrationFailure,
        reason: String,
    },
    /// Every account of the run ended.
    MigrationCompleted {},
    /// An admin closed the task; unfinished accounts are CANCELLED.
    MigrationCancelled {
        accounts: Vec<Uuid>,
    },
    /// The 30 days are over; unfinished accounts are CANCELLED.
    MigrationExpired {
        accounts: Vec<Uuid>,
    },
}

impl MigrationEvent {
    /// Target mailboxes this event claims or releases: one open task per target mailbox.
    pub fn claims(&self, state: &MigrationState) -> (Vec<Claim>, Vec<Claim>) {
        let target = |id: &Uuid| Claim::new(Scope::MigrationTarget, id.to_string());
        match self {
            MigrationEvent::MigrationAccountsAdded { accounts } => (
                accounts.iter().map(|a| target(&a.mailbox_id)).collect(),
                vec![],
            ),
            MigrationEvent::MigrationCancelled { .. } | MigrationEvent::MigrationExpired { .. } => {
                (
                    vec![],
                    state
                        .accounts
                        .values()
                        .map(|a| target(&a.mailbox_id))
                        .collect(),
                )
            }
            _ => (vec![], vec![]),
        }
    }
}

impl MigrationEvent {
    /// The account an account-level event is about.
    pub fn account_id(&self) -> Option<Uuid> {
        use MigrationEvent as E;
        match self {
            E::AccountCheckStarted { account_id }
            | E::AccountCopyStarted { account_id, .. }
            | E::AccountRetryScheduled { account_id, .. }
            | E::AccountSucceeded { account_id, .. }
            | E::AccountFailed { account_id, .. } => Some(*account_id),
            _ => None,
        }
    }
}
