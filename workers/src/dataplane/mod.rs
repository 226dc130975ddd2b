//! The mail data plane: where mailboxes really live. One trait for what the control plane
//! asks of it, with a Dovecot implementation (the reference) and an HTTP one (any other
//! data plane speaking schema/dataplane.md). Every operation is keyed by mailbox id and
//! safe to repeat.

mod dovecot;
mod http;
mod server;
mod worker;

use std::future::Future;
use std::pin::Pin;

use uuid::Uuid;

pub use dovecot::{Dovecot, DovecotLayout};
pub use http::HttpDataPlane;
pub use server::{find_binary, DovecotServer, ServerError};
pub use worker::DataPlaneWorker;

use domain::migration::{CopyMode, MailSource, MigrationFailure};

/// A mailbox to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailbox {
    pub mailbox_id: Uuid,
    /// The login: the full address.
    pub address: String,
    /// A second login name for the same mailbox (`zw@acme`: the member's account at the
    /// organization identifier), when the member's account can be one.
    pub login_alias: Option<String>,
    /// `{ARGON2ID}$argon2id$…` (or another scheme Dovecot knows); never a plaintext.
    pub password_hash: String,
    pub quota_mb: u64,
}

/// Why the data plane did not do it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataPlaneError {
    /// Down or busy: the work waits and is retried.
    #[error("the data plane is unavailable: {0}")]
    Unavailable(String),
    /// It refused; retrying the same request cannot help.
    #[error("the data plane refused: {0}")]
    Refused(String),
}

/// A future the data plane returns.
pub type Work<'a, T> = Pin<Box<dyn Future<Output = Result<T, DataPlaneError>> + Send + 'a>>;

/// The operations of a mail data plane.
pub trait DataPlane: Send + Sync {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// Makes the data plane accept mail for `domain` (ASCII).
    fn ensure_domain<'a>(&'a self, domain: &'a str) -> Work<'a, ()>;
    /// Creates the mailbox, or updates it to these values if it exists.
    fn create_mailbox<'a>(&'a self, mailbox: &'a NewMailbox) -> Work<'a, ()>;
    /// Blocks logins and ends open sessions; the mail stays.
    fn suspend(&self, mailbox_id: Uuid) -> Work<'_, ()>;
    /// Lets logins in again.
    fn restore(&self, mailbox_id: Uuid) -> Work<'_, ()>;
    /// Deletes the mailbox and all its mail. Unknown mailboxes are already purged.
    fn purge(&self, mailbox_id: Uuid) -> Work<'_, ()>;
    /// Gives the mailbox a new address (login); its mail stays.
    fn rename<'a>(&'a self, mailbox_id: Uuid, address: &'a str) -> Work<'a, ()>;
    /// Bytes of mail stored; None for an unknown mailbox.
    fn usage(&self, mailbox_id: Uuid) -> Work<'_, Option<u64>>;
    /// The mailbox's folders with their messages and bytes; None for an unknown mailbox.
    fn folders(&self, mailbox_id: Uuid) -> Work<'_, Option<Vec<FolderStat>>>;
    /// Copies an old account's mail into the mailbox, until done; answers the state to
    /// continue from. Dropping the future stops the copy; starting it again resumes
    /// without duplicates.
    fn import_mail<'a>(&'a self, import: &'a MailImport) -> ImportWork<'a>;
}

/// A folder of a mailbox: UTF-8 name with `/` between levels, messages, bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FolderStat {
    pub name: String,
    pub messages: u64,
    pub bytes: u64,
}

/// Old mail to bring into a mailbox.
#[derive(Clone)]
pub struct MailImport {
    /// Names the import on the data plane (the migration account): one at a time per id.
    pub import_id: Uuid,
    pub mailbox_id: Uuid,
    pub source: MailSource,
    pub user: String,
    /// The old password: handed to the copy through a private file, never an argument.
    pub password: String,
    pub mode: CopyMode,
    /// dsync's state after the last copy of this account, to continue from.
    pub state: Option<String>,
}

impl std::fmt::Debug for MailImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailImport")
            .field("import_id", &self.import_id)
            .field("mailbox_id", &self.mailbox_id)
            .field("source", &self.source)
            .field("user", &self.user)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Why an import did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", failure.sentence())]
pub struct ImportError {
    pub failure: MigrationFailure,
    /// What happened, for a person (never the password).
    pub reason: String,
    /// Whether trying again later can help (a server or data plane that was down).
    pub retryable: bool,
}

/// The future of an import.
/// Answers the copy's state to continue from next time (None when the data plane keeps none).
pub type ImportWork<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, ImportError>> + Send + 'a>>;

/// The quota each mailbox gets: an ordinary member's mailbox starts at 1 GB (Tencent Exmail
/// admin manual, basic edition).
pub const DEFAULT_QUOTA_MB: u64 = 1024;
