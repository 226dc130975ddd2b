//! What happens to an organization: its events and the keys they claim.

use super::*;

/// The hash of an invitation token: the only form of it an event carries.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum OrganizationEvent {
    OrganizationCreated {
        organization_id: Uuid,
        name: String,
        identifier: String,
        creator_account: String,
        as_reseller: bool,
    },
    AdminInvited {
        invitation_id: Uuid,
        name: String,
        phone: String,
        email: String,
        token_hash: String,
        expires_at: DateTime<Utc>,
        invited_by: String,
    },
    InvitationAccepted {
        invitation_id: Uuid,
        account: String,
    },
    InvitationExpired {
        invitation_id: Uuid,
    },
    /// An admin no longer administers the organization.
    AdminRemoved {
        account: String,
    },
    /// The creator role passed to another admin; the previous creator stays an admin.
    CreatorTransferred {
        previous_creator: String,
        account: String,
    },
    InvitationRevoked {
        invitation_id: Uuid,
    },
    DepartmentCreated {
        department_id: Uuid,
        name: String,
        parent_id: Option<Uuid>,
    },
    DepartmentRenamed {
        department_id: Uuid,
        name: String,
    },
    DepartmentMoved {
        department_id: Uuid,
        parent_id: Option<Uuid>,
    },
    DepartmentDeleted {
        department_id: Uuid,
    },
    AppBound {
        subscription_id: Uuid,
    },
    DepartmentAuthorized {
        department_id: Uuid,
    },
    /// An admin asked for the SMS code that confirms a dissolution (the code itself is a
    /// secret: never in the log).
    DissolutionRequested {
        account: String,
        expires_at: DateTime<Utc>,
    },
    OrganizationDissolved {
        identifier: String,
    },
    /// The personal data of everyone in the organization (members, invitees) was erased
    /// from every event; ids and non-personal facts stay.
    PersonalDataErased {
        reason: crate::erasure::ErasureReason,
    },
}

impl OrganizationEvent {
    /// Uniqueness keys this event claims and releases.
    pub fn claims(&self) -> (Vec<Claim>, Vec<Claim>) {
        match self {
            OrganizationEvent::OrganizationCreated { identifier, .. } => (
                vec![Claim::new(Scope::OrganizationIdentifier, identifier)],
                vec![],
            ),
            OrganizationEvent::OrganizationDissolved { identifier } => (
                vec![],
                vec![Claim::new(Scope::OrganizationIdentifier, identifier)],
            ),
            _ => (vec![], vec![]),
        }
    }
}
