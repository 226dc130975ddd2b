use crate::error::DomainError;

/// A uniqueness scope: keys unique on the platform or within one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    OrganizationIdentifier,
    MailDomain,
    MailboxAddress,
    /// Keyed `{organization_id}/{account}`.
    MemberAccount,
    /// Keyed `{organization_id}/{phone}`.
    MemberPhone,
    /// Keyed by member id: held by the member's one open mailbox.
    MemberMailbox,
    /// Keyed `{organization_id}/{domain}`: an organization's claim to a name it has not
    /// proven yet (many organizations may claim one name; the first to verify owns it).
    MailDomainClaim,
    /// Keyed by mailbox id: held by the one open migration task copying into it.
    MigrationTarget,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 8] = [
        Scope::OrganizationIdentifier,
        Scope::MailDomain,
        Scope::MailboxAddress,
        Scope::MemberAccount,
        Scope::MemberPhone,
        Scope::MemberMailbox,
        Scope::MailDomainClaim,
        Scope::MigrationTarget,
    ];

    /// The scope with this name in the claims table.
    pub fn named(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The scope's name in the claims table.
    pub fn name(self) -> &'static str {
        match self {
            Scope::OrganizationIdentifier => "organization_identifier",
            Scope::MailDomain => "mail_domain",
            Scope::MailboxAddress => "mailbox_address",
            Scope::MemberAccount => "member_account",
            Scope::MemberPhone => "member_phone",
            Scope::MemberMailbox => "member_mailbox",
            Scope::MailDomainClaim => "mail_domain_claim",
            Scope::MigrationTarget => "migration_target",
        }
    }

    /// The refusal when another stream holds a key of this scope.
    pub fn taken_error(self) -> DomainError {
        match self {
            Scope::OrganizationIdentifier => DomainError::IdentifierTaken,
            Scope::MailDomain => DomainError::DomainTaken,
            Scope::MailboxAddress => DomainError::AddressTaken,
            Scope::MemberAccount => DomainError::AccountTaken,
            Scope::MemberPhone => DomainError::PhoneTaken,
            Scope::MemberMailbox => DomainError::MemberHasMailbox,
            Scope::MailDomainClaim => DomainError::DomainExists,
            Scope::MigrationTarget => DomainError::MigrationTargetBusy,
        }
    }
}

/// One key of a scope, claimed or released by an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Claim {
    pub scope: Scope,
    pub key: String,
}

impl Claim {
    pub fn new(scope: Scope, key: impl Into<String>) -> Self {
        Claim {
            scope,
            key: key.into(),
        }
    }

    /// A key unique within one organization.
    pub fn in_organization(scope: Scope, organization_id: uuid::Uuid, key: &str) -> Self {
        Claim::new(scope, format!("{organization_id}/{key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_has_its_taken_error_code() {
        let refusals: Vec<DomainError> = Scope::ALL.iter().map(|s| s.taken_error()).collect();
        assert_eq!(
            refusals,
            [
                DomainError::IdentifierTaken,
                DomainError::DomainTaken,
                DomainError::AddressTaken,
                DomainError::AccountTaken,
                DomainError::PhoneTaken,
                DomainError::MemberHasMailbox,
                DomainError::DomainExists,
                DomainError::MigrationTargetBusy,
            ]
        );
        for scope in Scope::ALL {
            assert_eq!(Scope::named(scope.name()), Some(scope));
        }
        assert_eq!(Scope::named("nope"), None);
    }
}
