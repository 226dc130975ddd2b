//! Who may use a domain name: an organization claims a name when it adds it (many may);
//! the first to verify owns it on the platform; removing, or the claim ending, releases it.

use super::*;

/// Why a domain claim ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimEnd {
    /// Another organization proved the name first.
    VerifiedElsewhere,
    /// The organization that claimed it was dissolved.
    OrganizationDissolved,
}

impl MailDomainEvent {
    /// Uniqueness keys this event claims and releases: an organization claims a name once
    /// when it adds it; the platform-wide name goes to the first that verifies it.
    pub fn claims(&self) -> (Vec<Claim>, Vec<Claim>) {
        let owned = |n: &str| Claim::new(Scope::MailDomain, n);
        let claim = |org: &Uuid, n: &str| Claim::in_organization(Scope::MailDomainClaim, *org, n);
        match self {
            MailDomainEvent::DomainAdded {
                organization_id,
                name,
                ..
            } => (vec![claim(organization_id, name)], vec![]),
            MailDomainEvent::DomainVerified { name, .. } if !name.is_empty() => {
                (vec![owned(name)], vec![])
            }
            MailDomainEvent::DomainReplaced {
                previous_name,
                name,
                organization_id,
                ..
            } => (
                vec![owned(name), claim(organization_id, name)],
                vec![owned(previous_name), claim(organization_id, previous_name)],
            ),
            MailDomainEvent::DomainRemoved {
                name,
                organization_id,
            }
            | MailDomainEvent::DomainClaimEnded {
                name,
                organization_id,
                ..
            } => (vec![], vec![owned(name), claim(organization_id, name)]),
            _ => (vec![], vec![]),
        }
    }
}
