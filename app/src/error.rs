//! The one table from refusals and failures to the error codes of API.md, used by every
//! channel (GraphQL, the HTTP feed, the console), and the one place that says whether a
//! failure is worth retrying (workers park what is not).

use domain::DomainError;
use serde::Serialize;

use crate::secrets::SecretError;
use crate::webhook::WebhookError;

/// A database failure that says "too busy now" (no connection in time, the server went
/// away), not "something is wrong": the caller should come back, nobody should be paged.
pub fn is_overloaded(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

/// Declares the codes once: the enum, `ALL` and the names clients see.
macro_rules! codes {
    ($($code:ident = $name:literal),+ $(,)?) => {
        /// An error code of API.md (`extensions.code`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $($code),+
        }

        impl ErrorCode {
            /// Every code, in API.md's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$code),+];

            /// The code as clients see it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$code => $name),+
                }
            }
        }
    };
}

codes! {
    Unauthenticated = "UNAUTHENTICATED",
    Forbidden = "FORBIDDEN",
    NotFound = "NOT_FOUND",
    Validation = "VALIDATION",
    Conflict = "CONFLICT",
    SeatsExhausted = "SEATS_EXHAUSTED",
    DomainTaken = "DOMAIN_TAKEN",
    DomainNotVerified = "DOMAIN_NOT_VERIFIED",
    IdentifierTaken = "IDENTIFIER_TAKEN",
    AccountTaken = "ACCOUNT_TAKEN",
    PhoneTaken = "PHONE_TAKEN",
    AddressTaken = "ADDRESS_TAKEN",
    AddressInRecycleBin = "ADDRESS_IN_RECYCLE_BIN",
    MemberNotAuthorized = "MEMBER_NOT_AUTHORIZED",
    MemberNotDisabled = "MEMBER_NOT_DISABLED",
    MemberNotDeleted = "MEMBER_NOT_DELETED",
    OrganizationNotEmpty = "ORGANIZATION_NOT_EMPTY",
    MemberHasMailbox = "MEMBER_HAS_MAILBOX",
    DepartmentNotEmpty = "DEPARTMENT_NOT_EMPTY",
    DomainInUse = "DOMAIN_IN_USE",
    InvitationExpired = "INVITATION_EXPIRED",
    InvalidToken = "INVALID_TOKEN",
    NotTrial = "NOT_TRIAL",
    TrialExpired = "TRIAL_EXPIRED",
    TrialNotAllowed = "TRIAL_NOT_ALLOWED",
    RefundWindowClosed = "REFUND_WINDOW_CLOSED",
    RefundLimitReached = "REFUND_LIMIT_REACHED",
    SubscriptionInactive = "SUBSCRIPTION_INACTIVE",
    ImportTooLarge = "IMPORT_TOO_LARGE",
    RequestTooLarge = "REQUEST_TOO_LARGE",
    RateLimited = "RATE_LIMITED",
    Unavailable = "UNAVAILABLE",
    Internal = "INTERNAL",
}

impl ErrorCode {
    /// The HTTP status a plain HTTP channel (the feed, the console) answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Validation | ErrorCode::ImportTooLarge => 400,
            ErrorCode::RequestTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
            _ => 409,
        }
    }

    /// The code of a refusal by the rules.
    pub fn of(refusal: &DomainError) -> ErrorCode {
        use DomainError as D;
        use ErrorCode::*;
        match refusal {
            D::Validation { .. } => Validation,
            D::NotFound(_) => NotFound,
            D::NotAnAdmin | D::NotInvitee | D::NotCreator => Forbidden,
            D::OrganizationExists
            | D::InvitationExists
            | D::InvitationNotPending
            | D::DepartmentExists
            | D::DomainExists
            | D::MemberExists
            | D::MemberDisabled
            | D::OtherSubscriptionBound
            | D::SubscriptionAlreadyUsed
            | D::OrderMismatch
            | D::MailboxNotFailed
            | D::MailboxPurgeDue
            | D::MailboxNotClosed
            | D::MailboxClosed
            | D::MigrationExists
            | D::MigrationEnded
            | D::MigrationNotDraft
            | D::MigrationNotStarted
            | D::NothingToRun
            | D::MigrationAccountNotRunnable
            | D::MigrationTargetBusy
            | D::LastAdmin
            | D::CreatorNotRemovable => Conflict,
            D::SeatsExhausted { .. } => SeatsExhausted,
            D::DomainTaken => DomainTaken,
            D::DomainNotVerified => DomainNotVerified,
            D::IdentifierTaken => IdentifierTaken,
            D::AccountTaken => AccountTaken,
            D::PhoneTaken => PhoneTaken,
            D::AddressTaken => AddressTaken,
            D::AddressInRecycleBin => AddressInRecycleBin,
            D::MemberNotAuthorized => MemberNotAuthorized,
            D::MemberNotDisabled => MemberNotDisabled,
            D::MemberNotDeleted => MemberNotDeleted,
            D::OrganizationNotEmpty => OrganizationNotEmpty,
            D::MemberHasMailbox => MemberHasMailbox,
            D::DepartmentNotEmpty => DepartmentNotEmpty,
            D::DomainInUse => DomainInUse,
            D::InvitationExpired => InvitationExpired,
            D::InvalidToken => InvalidToken,
            D::NotTrial => NotTrial,
            D::TrialExpired => TrialExpired,
            D::TrialNotAllowed => TrialNotAllowed,
            D::RefundWindowClosed => RefundWindowClosed,
            D::RefundLimitReached => RefundLimitReached,
            D::SubscriptionInactive => SubscriptionInactive,
            D::ImportTooLarge { .. } => ImportTooLarge,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No principal, or one the token did not prove.
    #[error("a valid bearer token is required")]
    Unauthenticated,
    /// The principal may not do this (unknown ids answer this too, so probing tells nothing).
    #[error("not allowed for this principal")]
    Forbidden,
    /// The rules refused it; nothing was written.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// Concurrent writers kept winning, or an idempotency key was reused.
    #[error("{0}")]
    Conflict(String),
    /// The event store failed (a database outage, a malformed stored event).
    #[error("event store: {0}")]
    Store(#[from] eventstore::Error),
    /// A read model query failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Too many of something in too short a time; the message says how many and when.
    #[error("{0}")]
    RateLimited(String),
    /// The secret table failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Something else the caller cannot fix.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// A validation refusal of `field`.
    /// VALIDATION when a list holds more than `max` ids.
    pub fn check_batch(field: &'static str, len: usize, max: usize) -> Result<(), Self> {
        if len > max {
            return Err(AppError::invalid(
                field,
                format!("at most {max} ids at once ({len} given)"),
            ));
        }
        Ok(())
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Refused(DomainError::Validation {
            field,
            message: message.into(),
        })
    }

    /// A refusal because `what` does not exist.
    pub fn not_found(what: &'static str) -> Self {
        AppError::Refused(DomainError::NotFound(what))
    }

    /// The API code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated => ErrorCode::Unauthenticated,
            AppError::Forbidden => ErrorCode::Forbidden,
            AppError::Refused(d) => ErrorCode::of(d),
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::RateLimited(_) => ErrorCode::RateLimited,
            AppError::Database(e)
            | AppError::Store(eventstore::Error::Database(e))
            | AppError::Secret(SecretError::Database(e))
                if is_overloaded(e) =>
            {
                ErrorCode::Unavailable
            }
            AppError::Store(_)
            | AppError::Database(_)
            | AppError::Secret(_)
            | AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The input field a validation refusal is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Refused(DomainError::Validation { field, .. }) => Some(field),
            _ => None,
        }
    }

    /// Whether trying again later can succeed: store and network failures and concurrent
    /// writes can; refusals by the rules, bad data and missing rights cannot.
    pub fn is_transient(&self) -> bool {
        match self {
            AppError::Conflict(_) | AppError::Database(_) | AppError::Internal(_) => true,
            AppError::Store(e) => !matches!(
                e,
                eventstore::Error::Codec { .. } | eventstore::Error::Invalid(_)
            ),
            AppError::Secret(e) => matches!(e, SecretError::Database(_)),
            AppError::Unauthenticated
            | AppError::Forbidden
            | AppError::Refused(_)
            | AppError::RateLimited(_) => false,
        }
    }

    /// What a client may be told: internal failures are logged, never shown.
    pub fn public_message(&self) -> String {
        if self.code() == ErrorCode::Unavailable {
            tracing::warn!(error = %self, "no database connection in time");
            return "the service is busy; try again in a moment".to_owned();
        }
        if self.code() == ErrorCode::Internal {
            tracing::error!(error = %self, "internal error");
            "internal error".to_owned()
        } else {
            self.to_string()
        }
    }
}

impl From<WebhookError> for AppError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid { field, message } => AppError::invalid(field, message),
            WebhookError::NotFound => AppError::not_found("webhook"),
            WebhookError::Secret(s) => AppError::Secret(s),
            WebhookError::Database(d) => AppError::Database(d),
            WebhookError::Store(s) => AppError::Store(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_name() {
        let names: std::collections::BTreeSet<_> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL.iter().copied() {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn refusals_are_permanent_and_outages_transient() {
        assert!(!AppError::Refused(DomainError::MemberNotAuthorized).is_transient());
        assert!(!AppError::Forbidden.is_transient());
        assert!(AppError::Conflict("x".into()).is_transient());
        assert!(AppError::Database(sqlx::Error::PoolTimedOut).is_transient());
        // A pool that runs dry answers a retryable UNAVAILABLE, never INTERNAL.
        for busy in [
            AppError::Database(sqlx::Error::PoolTimedOut),
            AppError::Store(eventstore::Error::Database(sqlx::Error::PoolTimedOut)),
            AppError::Secret(SecretError::Database(sqlx::Error::PoolTimedOut)),
        ] {
            assert_eq!(busy.code(), ErrorCode::Unavailable);
            assert_eq!(busy.code().http_status(), 503);
            assert!(!busy.public_message().contains("pool"));
        }
        let codec = eventstore::Error::Codec {
            event_type: "X".into(),
            source: serde_json::from_str::<u8>("x").unwrap_err(),
        };
        assert!(!AppError::Store(codec).is_transient());
    }

    #[test]
    fn refusals_keep_their_codes() {
        let cases = [
            (DomainError::MemberExists, ErrorCode::Conflict),
            (DomainError::NotAnAdmin, ErrorCode::Forbidden),
            (DomainError::AccountTaken, ErrorCode::AccountTaken),
            (
                DomainError::SeatsExhausted {
                    available: 0,
                    requested: 1,
                },
                ErrorCode::SeatsExhausted,
            ),
        ];
        for (refusal, code) in cases {
            assert_eq!(AppError::Refused(refusal).code(), code);
        }
    }
}
