//! An organization as its events leave it: admins, invitations, departments, the bound app.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub status: InvitationStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Department {
    pub name: String,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrganizationState {
    pub id: Option<Uuid>,
    pub name: String,
    pub identifier: String,
    pub creator_account: String,
    pub as_reseller: bool,
    /// Accounts that administer the organization.
    pub admins: BTreeSet<String>,
    pub invitations: BTreeMap<Uuid, Invitation>,
    pub departments: BTreeMap<Uuid, Department>,
    pub subscription_id: Option<Uuid>,
    pub authorized_departments: BTreeSet<Uuid>,
    pub dissolved: bool,
    /// The phone of each invited admin, as their accepted invitation proved it.
    pub admin_phones: BTreeMap<String, String>,
}

impl OrganizationState {
    /// Whether `account` may manage the organization: an admin, or its creator — a
    /// reseller creator only until the first admin accepts an invitation.
    pub fn may_manage(&self, account: &str) -> bool {
        self.admins.contains(account)
            || (self.creator_account == account && self.as_reseller && self.admins.is_empty())
    }

    /// Whether members of `department_id` (None: the root) count as authorized because
    /// it or one of its ancestors was authorized.
    pub fn department_authorized(&self, department_id: Option<Uuid>) -> bool {
        let mut current = department_id;
        let mut hops = 0;
        while let Some(id) = current {
            if self.authorized_departments.contains(&id) {
                return true;
            }
            current = self.departments.get(&id).and_then(|d| d.parent_id);
            hops += 1;
            if hops > self.departments.len() {
                break;
            }
        }
        false
    }

    /// Whether `candidate` is `ancestor` or lies below it.
    pub(crate) fn is_within(&self, candidate: Uuid, ancestor: Uuid) -> bool {
        let mut current = Some(candidate);
        let mut hops = 0;
        while let Some(id) = current {
            if id == ancestor {
                return true;
            }
            current = self.departments.get(&id).and_then(|d| d.parent_id);
            hops += 1;
            if hops > self.departments.len() {
                break;
            }
        }
        false
    }

    pub(crate) fn sibling_named(
        &self,
        parent_id: Option<Uuid>,
        name: &str,
        except: Option<Uuid>,
    ) -> bool {
        self.departments
            .iter()
            .any(|(id, d)| d.parent_id == parent_id && d.name == name && Some(*id) != except)
    }
}

/// The state after one more event.
pub(crate) fn evolve(mut s: OrganizationState, event: &OrganizationEvent) -> OrganizationState {
    use OrganizationEvent as E;
    match event {
        E::OrganizationCreated {
            organization_id,
            name,
            identifier,
            creator_account,
            as_reseller,
        } => {
            s.id = Some(*organization_id);
            s.name = name.clone();
            s.identifier = identifier.clone();
            s.creator_account = creator_account.clone();
            s.as_reseller = *as_reseller;
            if !as_reseller {
                s.admins.insert(creator_account.clone());
            }
        }
        E::AdminInvited {
            invitation_id,
            name,
            phone,
            email,
            token_hash,
            expires_at,
            ..
        } => {
            s.invitations.insert(
                *invitation_id,
                Invitation {
                    name: name.clone(),
                    phone: phone.clone(),
                    email: email.clone(),
                    token_hash: token_hash.clone(),
                    expires_at: *expires_at,
                    status: InvitationStatus::Pending,
                },
            );
        }
        E::InvitationAccepted {
            invitation_id,
            account,
        } => {
            set_status(&mut s, *invitation_id, InvitationStatus::Accepted);
            if let Some(i) = s.invitations.get(invitation_id) {
                s.admin_phones.insert(account.clone(), i.phone.clone());
            }
            s.admins.insert(account.clone());
        }
        E::AdminRemoved { account } => {
            s.admins.remove(account);
            s.admin_phones.remove(account);
        }
        E::CreatorTransferred {
            previous_creator,
            account,
        } => {
            // The previous creator keeps managing as an admin (a reseller creator becomes
            // one too: it handed the organization over, not away).
            s.admins.insert(previous_creator.clone());
            s.creator_account = account.clone();
            s.as_reseller = false;
        }
        E::InvitationExpired { invitation_id } => {
            set_status(&mut s, *invitation_id, InvitationStatus::Expired)
        }
        E::InvitationRevoked { invitation_id } => {
            set_status(&mut s, *invitation_id, InvitationStatus::Revoked)
        }
        E::DepartmentCreated {
            department_id,
            name,
            parent_id,
        } => {
            s.departments.insert(
                *department_id,
                Department {
                    name: name.clone(),
                    parent_id: *parent_id,
                },
            );
        }
        E::DepartmentRenamed {
            department_id,
            name,
        } => {
            if let Some(d) = s.departments.get_mut(department_id) {
                d.name = name.clone();
            }
        }
        E::DepartmentMoved {
            department_id,
            parent_id,
        } => {
            if let Some(d) = s.departments.get_mut(department_id) {
                d.parent_id = *parent_id;
            }
        }
        E::DepartmentDeleted { department_id } => {
            s.departments.remove(department_id);
            s.authorized_departments.remove(department_id);
        }
        E::AppBound { subscription_id } => s.subscription_id = Some(*subscription_id),
        E::DepartmentAuthorized { department_id } => {
            s.authorized_departments.insert(*department_id);
        }
        E::OrganizationDissolved { .. } => s.dissolved = true,
        E::DissolutionRequested { .. } => {}
        E::PersonalDataErased { .. } => {}
    }
    s
}

pub(crate) fn set_status(s: &mut OrganizationState, invitation_id: Uuid, status: InvitationStatus) {
    if let Some(i) = s.invitations.get_mut(&invitation_id) {
        i.status = status;
    }
}
