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
pub mod erasure;
mod error;
pub mod mailbox;
pub mod maildomain;
pub mod member;
pub mod migration;
pub mod notification;
pub mod organization;
mod patch;
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

    /// The version of this decider's snapshots where its streams grow long enough to keep
    /// them: bumped whenever the state's shape or meaning changes, so older ones are ignored.
    const SNAPSHOT_VERSION: Option<u32> = None;

    /// The state as a snapshot (deciders with a `SNAPSHOT_VERSION`).
    fn snapshot(_state: &Self::State) -> Option<serde_json::Value> {
        None
    }

    /// A state back from its snapshot.
    fn restore(_snapshot: serde_json::Value) -> Option<Self::State> {
        None
    }

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

/// The labels a status-like enum has in events, read models and the API (the same as its
/// serde names), one list per enum.
macro_rules! labels {
    ($m:ident :: $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $m::$name {
            /// Every value.
            pub const ALL: &'static [$m::$name] = &[$($m::$name::$variant),+];

            /// The label (as in events, read models and the API).
            pub const fn as_str(self) -> &'static str {
                match self { $($m::$name::$variant => $text),+ }
            }

            /// The value with this label.
            pub fn from_label(text: &str) -> Option<Self> {
                match text { $($text => Some($m::$name::$variant),)+ _ => None }
            }
        }
    };
}

labels!(member::MemberStatus { Active = "ACTIVE", Disabled = "DISABLED", Deleted = "DELETED" });
labels!(member::RoleLabel { Member = "MEMBER", Admin = "ADMIN" });
labels!(member::EmploymentType { FullTime = "FULL_TIME", Intern = "INTERN", Dispatched = "DISPATCHED", Outsourced = "OUTSOURCED" });
labels!(mailbox::MailboxStatus { Provisioning = "PROVISIONING", Active = "ACTIVE", Suspended = "SUSPENDED", Failed = "FAILED", Closed = "CLOSED", Purged = "PURGED" });
labels!(maildomain::DomainStatus { Pending = "PENDING", Verified = "VERIFIED", Failed = "FAILED", Taken = "TAKEN" });
labels!(maildomain::ClaimEnd { VerifiedElsewhere = "VERIFIED_ELSEWHERE", OrganizationDissolved = "ORGANIZATION_DISSOLVED" });
labels!(maildomain::VerificationMode { Full = "FULL", Ownership = "OWNERSHIP" });
labels!(subscription::SubscriptionStatus { Trial = "TRIAL", Active = "ACTIVE", Expired = "EXPIRED", Unsubscribed = "UNSUBSCRIBED" });
labels!(migration::MigrationStatus { Draft = "DRAFT", Running = "RUNNING", Completed = "COMPLETED", Cancelled = "CANCELLED", Expired = "EXPIRED" });
labels!(migration::AccountStatus { NotStarted = "NOT_STARTED", Checking = "CHECKING", Migrating = "MIGRATING", Succeeded = "SUCCEEDED", Failed = "FAILED", Cancelled = "CANCELLED" });
labels!(migration::MigrationFailure { AuthenticationFailed = "AUTHENTICATION_FAILED", ServerUnreachable = "SERVER_UNREACHABLE", MailboxOverQuota = "MAILBOX_OVER_QUOTA", TargetUnavailable = "TARGET_UNAVAILABLE", PasswordNotKept = "PASSWORD_NOT_KEPT", CopyFailed = "COPY_FAILED" });
labels!(migration::CopyMode { Mirror = "MIRROR", TopUp = "TOP_UP" });
labels!(organization::InvitationStatus { Pending = "PENDING", Accepted = "ACCEPTED", Revoked = "REVOKED", Expired = "EXPIRED" });

/// Version of every event schema in this crate; bumped per enum when a shape changes.
pub const SCHEMA_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    /// The labels are the serde names, so events, read models and the API agree.
    #[test]
    fn labels_are_the_serde_names() {
        fn check<T: serde::Serialize + Copy>(all: &[T], label: fn(T) -> &'static str) {
            for v in all {
                assert_eq!(
                    serde_json::to_value(v).unwrap(),
                    serde_json::json!(label(*v))
                );
            }
        }
        check(
            crate::member::MemberStatus::ALL,
            crate::member::MemberStatus::as_str,
        );
        check(
            crate::member::RoleLabel::ALL,
            crate::member::RoleLabel::as_str,
        );
        check(
            crate::member::EmploymentType::ALL,
            crate::member::EmploymentType::as_str,
        );
        check(
            crate::mailbox::MailboxStatus::ALL,
            crate::mailbox::MailboxStatus::as_str,
        );
        check(
            crate::maildomain::DomainStatus::ALL,
            crate::maildomain::DomainStatus::as_str,
        );
        check(
            crate::maildomain::VerificationMode::ALL,
            crate::maildomain::VerificationMode::as_str,
        );
        check(
            crate::subscription::SubscriptionStatus::ALL,
            crate::subscription::SubscriptionStatus::as_str,
        );
        check(
            crate::organization::InvitationStatus::ALL,
            crate::organization::InvitationStatus::as_str,
        );
        assert_eq!(
            crate::mailbox::MailboxStatus::from_label("CLOSED"),
            Some(crate::mailbox::MailboxStatus::Closed)
        );
        assert_eq!(crate::mailbox::MailboxStatus::from_label("closed"), None);
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
            name: "acme.cn".into(),
        };
        let v = serde_json::to_value(&domain).unwrap();
        assert_eq!(v["data"]["mode"], "OWNERSHIP");
        assert_eq!(
            serde_json::from_value::<MailDomainEvent>(v).unwrap(),
            domain
        );
    }
}
