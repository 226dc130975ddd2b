//! The product's decisions as pure deciders (DESIGN.md, "Layout"; the domain issue).
//!
//! For each stream type: its commands, events, state, `decide(&state, command, now)` and
//! `evolve(state, &event)`. No IO, no async, no database: time comes in as an argument and
//! ids come in with the commands. Decisions that span streams (seats, refunds, binding)
//! are functions over both states returning the events of each stream.
//!
//! Uniqueness across streams is declared, not checked here: events say which keys they
//! claim and release ([`Claim`]); the command handler writes those claims in the same
//! transaction and turns a taken one into [`Scope::taken_error`].

pub mod catalog;
mod claims;
mod error;
pub mod mailbox;
pub mod maildomain;
pub mod member;
pub mod notification;
pub mod organization;
pub mod policy;
pub mod pricing;
pub mod subscription;
pub mod validate;

#[cfg(test)]
mod harness;

pub use claims::{Claim, Scope};
pub use error::DomainError;

use chrono::{DateTime, Utc};

/// A decider: the rules of one stream type.
pub trait Decider {
    type State: Default + Clone;
    type Command;
    type Event: Clone;

    /// The events a command produces against the current state, or why it is refused.
    fn decide(
        state: &Self::State,
        command: Self::Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// The state after one more event. Never fails: events are facts.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The state after a whole stream.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), Self::evolve)
    }
}

/// Version of every event schema in this crate; bumped per enum when a shape changes.
pub const SCHEMA_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::DomainError as E;

    /// Every refusal code of API.md that a decision can produce, and no other: the
    /// transport-level UNAUTHENTICATED and INTERNAL are the API's own.
    #[test]
    fn error_variants_map_one_to_one_to_the_api_codes() {
        let all = [
            E::Validation {
                field: "f",
                message: "m".into(),
            },
            E::NotFound("x"),
            E::Forbidden("x"),
            E::Conflict("x"),
            E::SeatsExhausted {
                available: 0,
                requested: 1,
            },
            E::DomainTaken,
            E::DomainNotVerified,
            E::IdentifierTaken,
            E::AccountTaken,
            E::PhoneTaken,
            E::AddressTaken,
            E::AddressInRecycleBin,
            E::MemberNotAuthorized,
            E::MemberNotDisabled,
            E::OrganizationNotEmpty,
            E::MemberHasMailbox,
            E::DepartmentNotEmpty,
            E::DomainInUse,
            E::InvitationExpired,
            E::InvalidToken,
            E::NotTrial,
            E::TrialExpired,
            E::TrialNotAllowed,
            E::RefundWindowClosed,
            E::RefundLimitReached,
            E::SubscriptionInactive,
            E::ImportTooLarge {
                rows: 1001,
                max: 1000,
            },
        ];
        let codes: std::collections::BTreeSet<&str> = all.iter().map(E::code).collect();
        assert_eq!(codes.len(), all.len(), "two variants share a code");
        let api: std::collections::BTreeSet<&str> = [
            "FORBIDDEN",
            "NOT_FOUND",
            "VALIDATION",
            "CONFLICT",
            "SEATS_EXHAUSTED",
            "DOMAIN_TAKEN",
            "DOMAIN_NOT_VERIFIED",
            "IDENTIFIER_TAKEN",
            "ACCOUNT_TAKEN",
            "PHONE_TAKEN",
            "ADDRESS_TAKEN",
            "ADDRESS_IN_RECYCLE_BIN",
            "MEMBER_NOT_AUTHORIZED",
            "MEMBER_NOT_DISABLED",
            "ORGANIZATION_NOT_EMPTY",
            "MEMBER_HAS_MAILBOX",
            "DEPARTMENT_NOT_EMPTY",
            "DOMAIN_IN_USE",
            "INVITATION_EXPIRED",
            "INVALID_TOKEN",
            "NOT_TRIAL",
            "TRIAL_EXPIRED",
            "TRIAL_NOT_ALLOWED",
            "REFUND_WINDOW_CLOSED",
            "REFUND_LIMIT_REACHED",
            "SUBSCRIPTION_INACTIVE",
            "IMPORT_TOO_LARGE",
        ]
        .into_iter()
        .collect();
        assert_eq!(codes, api);
        assert_eq!(all[0].field(), Some("f"));
    }

    #[test]
    fn every_event_enum_round_trips_through_json() {
        use crate::maildomain::{MailDomainEvent, VerificationMode};
        use crate::member::MemberEvent;
        use crate::organization::OrganizationEvent;
        let org = OrganizationEvent::DepartmentMoved {
            department_id: uuid::Uuid::nil(),
            parent_id: None,
        };
        let v = serde_json::to_value(&org).unwrap();
        assert_eq!(v["type"], "DepartmentMoved");
        assert_eq!(serde_json::from_value::<OrganizationEvent>(v).unwrap(), org);
        let member = MemberEvent::MemberDisabled {};
        let v = serde_json::to_value(&member).unwrap();
        assert_eq!(v, serde_json::json!({"type": "MemberDisabled", "data": {}}));
        assert_eq!(serde_json::from_value::<MemberEvent>(v).unwrap(), member);
        let domain = MailDomainEvent::DomainVerified {
            mode: VerificationMode::Ownership,
        };
        let v = serde_json::to_value(&domain).unwrap();
        assert_eq!(v["data"]["mode"], "OWNERSHIP");
        assert_eq!(
            serde_json::from_value::<MailDomainEvent>(v).unwrap(),
            domain
        );
    }
}
