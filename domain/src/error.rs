/// Every refusal a decider can make. Each variant is one error code of API.md.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
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
}

impl DomainError {
    /// The error code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            Validation { .. } => "VALIDATION",
            NotFound(_) => "NOT_FOUND",
            Forbidden(_) => "FORBIDDEN",
            Conflict(_) => "CONFLICT",
            SeatsExhausted { .. } => "SEATS_EXHAUSTED",
            DomainTaken => "DOMAIN_TAKEN",
            DomainNotVerified => "DOMAIN_NOT_VERIFIED",
            IdentifierTaken => "IDENTIFIER_TAKEN",
            AccountTaken => "ACCOUNT_TAKEN",
            PhoneTaken => "PHONE_TAKEN",
            AddressTaken => "ADDRESS_TAKEN",
            AddressInRecycleBin => "ADDRESS_IN_RECYCLE_BIN",
            MemberNotAuthorized => "MEMBER_NOT_AUTHORIZED",
            MemberNotDisabled => "MEMBER_NOT_DISABLED",
            OrganizationNotEmpty => "ORGANIZATION_NOT_EMPTY",
            MemberHasMailbox => "MEMBER_HAS_MAILBOX",
            DepartmentNotEmpty => "DEPARTMENT_NOT_EMPTY",
            DomainInUse => "DOMAIN_IN_USE",
            InvitationExpired => "INVITATION_EXPIRED",
            InvalidToken => "INVALID_TOKEN",
            NotTrial => "NOT_TRIAL",
            TrialExpired => "TRIAL_EXPIRED",
            TrialNotAllowed => "TRIAL_NOT_ALLOWED",
            RefundWindowClosed => "REFUND_WINDOW_CLOSED",
            RefundLimitReached => "REFUND_LIMIT_REACHED",
            SubscriptionInactive => "SUBSCRIPTION_INACTIVE",
            ImportTooLarge { .. } => "IMPORT_TOO_LARGE",
        }
    }

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
