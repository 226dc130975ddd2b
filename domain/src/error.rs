/// Every refusal a decider can make. `app::error::ErrorCode::of` is the one table from these
/// to the error codes of API.md.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("only an admin can do this")]
    NotAnAdmin,
    #[error("a reseller's account cannot be an admin")]
    NotInvitee,
    #[error("the organization already exists")]
    OrganizationExists,
    #[error("the invitation already exists")]
    InvitationExists,
    #[error("the invitation is no longer pending")]
    InvitationNotPending,
    #[error("the department already exists")]
    DepartmentExists,
    #[error("the domain already exists")]
    DomainExists,
    #[error("the member already exists")]
    MemberExists,
    #[error("the organization is bound to another subscription")]
    OtherSubscriptionBound,
    #[error("the subscription is bound to another organization")]
    SubscriptionAlreadyUsed,
    #[error("the order was provisioned with other terms")]
    OrderMismatch,
    #[error("a disabled member cannot be authorized")]
    MemberDisabled,
    #[error("only a failed mailbox is retried")]
    MailboxNotFailed,
    #[error("the mailbox is due for purging")]
    MailboxPurgeDue,
    #[error("close the mailbox before purging it")]
    MailboxNotClosed,
    #[error("only a mailbox in the recycle bin is restored")]
    MailboxClosed,
    #[error("only {available} seats are free; {requested} requested")]
    SeatsExhausted { available: u32, requested: u32 },
    #[error("the domain is already in use on the platform")]
    DomainTaken,
    #[error("the domain is not verified")]
    DomainNotVerified,
    #[error("the organization identifier is taken")]
    IdentifierTaken,
    #[error("the account is taken in this organization")]
    AccountTaken,
    #[error("the phone number is taken in this organization")]
    PhoneTaken,
    #[error("the address is taken")]
    AddressTaken,
    #[error("the address belongs to a mailbox in the recycle bin")]
    AddressInRecycleBin,
    #[error("the member is not active and authorized for the mail app")]
    MemberNotAuthorized,
    #[error("the member must be disabled first")]
    MemberNotDisabled,
    #[error("only a deleted member is erased")]
    MemberNotDeleted,
    #[error("an organization keeps at least one admin")]
    LastAdmin,
    #[error("the creator stays an admin until the creator role is transferred")]
    CreatorNotRemovable,
    #[error("only the creator can transfer the creator role")]
    NotCreator,
    #[error("the organization still has departments or members")]
    OrganizationNotEmpty,
    #[error("the member already has a mailbox")]
    MemberHasMailbox,
    #[error("the department still has sub-departments or members")]
    DepartmentNotEmpty,
    #[error("mailboxes still use the domain")]
    DomainInUse,
    #[error("the invitation has expired")]
    InvitationExpired,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the subscription is not a trial")]
    NotTrial,
    #[error("the trial has ended")]
    TrialExpired,
    #[error("not allowed for a trial")]
    TrialNotAllowed,
    #[error("a full refund is only possible within 5 days of activation")]
    RefundWindowClosed,
    #[error("at most 10 refunds per buyer account in 365 days")]
    RefundLimitReached,
    #[error("the subscription is not active")]
    SubscriptionInactive,
    #[error("an import holds {rows} rows; at most {max} are allowed")]
    ImportTooLarge { rows: usize, max: usize },
    #[error("the migration already exists")]
    MigrationExists,
    #[error("the migration was cancelled or its 30 days are over")]
    MigrationEnded,
    #[error("the migration has started already")]
    MigrationNotDraft,
    #[error("the migration has not started")]
    MigrationNotStarted,
    #[error("no account to run: none failed or succeeded")]
    NothingToRun,
    #[error("the account is not waiting to be migrated")]
    MigrationAccountNotRunnable,
    #[error("another open migration has this target mailbox")]
    MigrationTargetBusy,
}

impl DomainError {
    /// The field a validation error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::Validation { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Validation {
            field,
            message: message.into(),
        }
    }
}
