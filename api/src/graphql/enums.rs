//! The GraphQL enums: mirrors of the domain's types (`remote`), so one enum per concept
//! holds in events, read models (its labels) and the API, checked by the compiler.

use async_graphql::{Enum, ID};
use uuid::Uuid;

use super::error::{internal, validation};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::subscription::SubscriptionStatus")]
pub enum SubscriptionStatus {
    Trial,
    Active,
    Expired,
    Unsubscribed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::member::MemberStatus")]
pub enum MemberStatus {
    Active,
    Disabled,
    Deleted,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::maildomain::DomainStatus")]
pub enum DomainStatus {
    Pending,
    Verified,
    Failed,
    /// Another organization verified the name first; this claim is over.
    Taken,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::mailbox::MailboxStatus")]
pub enum MailboxStatus {
    Provisioning,
    Active,
    /// Its member is disabled: every login (IMAP, POP3) is refused; the mail is kept.
    Suspended,
    Failed,
    Closed,
    Purged,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::maildomain::VerificationMode")]
pub enum VerificationMode {
    Full,
    Ownership,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::organization::InvitationStatus")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::member::RoleLabel")]
pub enum Role {
    Member,
    Admin,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, serde::Serialize)]
#[graphql(remote = "domain::member::EmploymentType")]
pub enum EmploymentType {
    FullTime,
    Intern,
    Dispatched,
    Outsourced,
}

/// A read model's label as the domain type, then as its GraphQL mirror.
pub fn label<D, G: From<D>>(text: &str, from: fn(&str) -> Option<D>) -> async_graphql::Result<G> {
    from(text)
        .map(G::from)
        .ok_or_else(|| internal(format!("unknown label {text:?} in a read model")))
}

/// An id argument.
pub fn parse_id(field: &'static str, id: &ID) -> async_graphql::Result<Uuid> {
    id.parse::<Uuid>()
        .map_err(|_| validation(field, "is not a valid id"))
}

/// A count argument that must not be negative.
pub fn count_arg(field: &'static str, n: i32) -> async_graphql::Result<u32> {
    u32::try_from(n).map_err(|_| validation(field, "must not be negative"))
}
