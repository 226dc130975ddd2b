//! `organization-{id}`: the organization, its admins and invitations, its department tree,
//! the app binding and department-wide authorization.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::claims::{Claim, Scope};
use crate::error::DomainError;
use crate::subscription::{self, SubscriptionEvent, SubscriptionState};
use crate::validate;
use crate::Decider;

mod admins;
mod binding;
mod dissolving;
mod events;
mod state;

pub use admins::*;
pub use binding::*;
pub use dissolving::*;
pub use events::*;
pub use state::*;

#[derive(Debug, Clone, PartialEq)]
pub enum OrganizationCommand {
    Create {
        organization_id: Uuid,
        name: String,
        identifier: String,
        creator_account: String,
        as_reseller: bool,
    },
    InviteAdmin {
        invitation_id: Uuid,
        name: String,
        phone: String,
        email: String,
        valid_hours: u32,
        /// Hash of the one-time token the caller generated and sends to the invitee.
        token_hash: String,
        actor: String,
    },
    AcceptInvitation {
        invitation_id: Uuid,
        token: String,
        account: String,
    },
    RevokeInvitation {
        invitation_id: Uuid,
    },
    /// From the invitation timer.
    ExpireInvitation {
        invitation_id: Uuid,
    },
    CreateDepartment {
        department_id: Uuid,
        name: String,
        parent_id: Option<Uuid>,
    },
    RenameDepartment {
        department_id: Uuid,
        name: String,
    },
    MoveDepartment {
        department_id: Uuid,
        parent_id: Option<Uuid>,
    },
    DeleteDepartment {
        department_id: Uuid,
        /// Members in the department now, from the member read model.
        members_in_department: u32,
    },
    AuthorizeDepartment {
        department_id: Uuid,
    },
    Dissolve {
        confirm_identifier: String,
        actor: String,
        /// Members not deleted, from the member read model.
        members_left: u32,
    },
    /// Erases the personal data of everyone in the organization (its subscription's data
    /// was deleted). Dissolving erases it too.
    ErasePersonalData {
        reason: crate::erasure::ErasureReason,
    },
}

/// An admin invitation is valid this many hours at most (a week): the one rule that the
/// API, the console and the README state.
pub const MAX_INVITATION_HOURS: u32 = 168;

/// The organization decider.
pub struct Organization;

fn require(s: &OrganizationState) -> Result<Uuid, DomainError> {
    match s.id {
        Some(id) if !s.dissolved => Ok(id),
        _ => Err(DomainError::NotFound("organization")),
    }
}

fn require_department(s: &OrganizationState, id: Uuid) -> Result<&Department, DomainError> {
    s.departments
        .get(&id)
        .ok_or(DomainError::NotFound("department"))
}

fn require_parent(s: &OrganizationState, parent_id: Option<Uuid>) -> Result<(), DomainError> {
    match parent_id {
        Some(p) if !s.departments.contains_key(&p) => {
            Err(DomainError::NotFound("parent department"))
        }
        _ => Ok(()),
    }
}

impl Decider for Organization {
    type State = OrganizationState;
    type Command = OrganizationCommand;
    type Event = OrganizationEvent;

    fn decide(
        s: &OrganizationState,
        command: OrganizationCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrganizationEvent>, DomainError> {
        use OrganizationCommand as C;
        use OrganizationEvent as E;
        match command {
            C::Create {
                organization_id,
                name,
                identifier,
                creator_account,
                as_reseller,
            } => {
                if s.id.is_some() {
                    return Err(DomainError::OrganizationExists);
                }
                let name = validate::name("name", &name)?;
                let identifier = validate::identifier(&identifier)?;
                Ok(vec![E::OrganizationCreated {
                    organization_id,
                    name,
                    identifier,
                    creator_account,
                    as_reseller,
                }])
            }
            C::InviteAdmin {
                invitation_id,
                name,
                phone,
                email,
                valid_hours,
                token_hash,
                actor,
            } => {
                require(s)?;
                let name = validate::name("name", &name)?;
                let phone = validate::phone("phone", &phone)?;
                // The invitation goes out by SMS: only once someone pays for the app.
                if s.subscription_id.is_none() {
                    return Err(DomainError::SubscriptionInactive);
                }
                let email = validate::email("email", &email)?;
                if !(1..=MAX_INVITATION_HOURS).contains(&valid_hours) {
                    return Err(DomainError::invalid(
                        "validHours",
                        format!("must be 1 to {MAX_INVITATION_HOURS} hours"),
                    ));
                }
                if s.invitations.contains_key(&invitation_id) {
                    return Err(DomainError::InvitationExists);
                }
                Ok(vec![E::AdminInvited {
                    invitation_id,
                    name,
                    phone,
                    email,
                    token_hash,
                    expires_at: now + Duration::hours(i64::from(valid_hours)),
                    invited_by: actor,
                }])
            }
            C::AcceptInvitation {
                invitation_id,
                token,
                account,
            } => {
                require(s)?;
                let invitation = s
                    .invitations
                    .get(&invitation_id)
                    .ok_or(DomainError::NotFound("invitation"))?;
                match invitation.status {
                    InvitationStatus::Expired => return Err(DomainError::InvitationExpired),
                    InvitationStatus::Pending => {}
                    InvitationStatus::Accepted | InvitationStatus::Revoked => {
                        return Err(DomainError::InvalidToken)
                    }
                }
                if now >= invitation.expires_at {
                    return Err(DomainError::InvitationExpired);
                }
                if token_hash(&token) != invitation.token_hash {
                    return Err(DomainError::InvalidToken);
                }
                if s.as_reseller && account == s.creator_account {
                    return Err(DomainError::NotInvitee);
                }
                Ok(vec![E::InvitationAccepted {
                    invitation_id,
                    account,
                }])
            }
            C::RevokeInvitation { invitation_id } => {
                require(s)?;
                match s.invitations.get(&invitation_id).map(|i| i.status) {
                    None => Err(DomainError::NotFound("invitation")),
                    Some(InvitationStatus::Pending) => {
                        Ok(vec![E::InvitationRevoked { invitation_id }])
                    }
                    Some(_) => Err(DomainError::InvitationNotPending),
                }
            }
            C::ExpireInvitation { invitation_id } => {
                require(s)?;
                Ok(match s.invitations.get(&invitation_id) {
                    Some(i) if i.status == InvitationStatus::Pending && now >= i.expires_at => {
                        vec![E::InvitationExpired { invitation_id }]
                    }
                    // Accepted, revoked, or renewed meanwhile: a stale timer does nothing.
                    _ => vec![],
                })
            }
            C::CreateDepartment {
                department_id,
                name,
                parent_id,
            } => {
                require(s)?;
                let name = validate::name("name", &name)?;
                require_parent(s, parent_id)?;
                if s.departments.contains_key(&department_id) {
                    return Err(DomainError::DepartmentExists);
                }
                if s.sibling_named(parent_id, &name, None) {
                    return Err(DomainError::invalid(
                        "name",
                        "a department with this name already exists here",
                    ));
                }
                Ok(vec![E::DepartmentCreated {
                    department_id,
                    name,
                    parent_id,
                }])
            }
            C::RenameDepartment {
                department_id,
                name,
            } => {
                require(s)?;
                let department = require_department(s, department_id)?;
                let name = validate::name("name", &name)?;
                if department.name == name {
                    return Ok(vec![]);
                }
                if s.sibling_named(department.parent_id, &name, Some(department_id)) {
                    return Err(DomainError::invalid(
                        "name",
                        "a department with this name already exists here",
                    ));
                }
                Ok(vec![E::DepartmentRenamed {
                    department_id,
                    name,
                }])
            }
            C::MoveDepartment {
                department_id,
                parent_id,
            } => {
                require(s)?;
                let department = require_department(s, department_id)?;
                require_parent(s, parent_id)?;
                if let Some(p) = parent_id {
                    if s.is_within(p, department_id) {
                        return Err(DomainError::invalid(
                            "parentId",
                            "a department cannot move under itself or one of its sub-departments",
                        ));
                    }
                }
                if department.parent_id == parent_id {
                    return Ok(vec![]);
                }
                if s.sibling_named(parent_id, &department.name, Some(department_id)) {
                    return Err(DomainError::invalid(
                        "parentId",
                        "a department with this name already exists there",
                    ));
                }
                Ok(vec![E::DepartmentMoved {
                    department_id,
                    parent_id,
                }])
            }
            C::DeleteDepartment {
                department_id,
                members_in_department,
            } => {
                require(s)?;
                require_department(s, department_id)?;
                let has_children = s
                    .departments
                    .values()
                    .any(|d| d.parent_id == Some(department_id));
                if has_children || members_in_department > 0 {
                    return Err(DomainError::DepartmentNotEmpty);
                }
                Ok(vec![E::DepartmentDeleted { department_id }])
            }
            C::AuthorizeDepartment { department_id } => {
                require(s)?;
                require_department(s, department_id)?;
                if s.subscription_id.is_none() {
                    return Err(DomainError::SubscriptionInactive);
                }
                if s.authorized_departments.contains(&department_id) {
                    return Ok(vec![]);
                }
                Ok(vec![E::DepartmentAuthorized { department_id }])
            }
            C::Dissolve {
                confirm_identifier,
                actor,
                members_left,
            } => {
                require(s)?;
                if !s.may_manage(&actor) {
                    return Err(DomainError::NotAnAdmin);
                }
                if confirm_identifier.trim().to_ascii_lowercase() != s.identifier {
                    return Err(DomainError::invalid(
                        "confirmIdentifier",
                        "type the organization identifier to confirm",
                    ));
                }
                if !s.departments.is_empty() || members_left > 0 {
                    return Err(DomainError::OrganizationNotEmpty);
                }
                Ok(vec![
                    E::OrganizationDissolved {
                        identifier: s.identifier.clone(),
                    },
                    E::PersonalDataErased {
                        reason: crate::erasure::ErasureReason::OrganizationDissolved,
                    },
                ])
            }
            C::ErasePersonalData { reason } => match s.id {
                Some(_) => Ok(vec![E::PersonalDataErased { reason }]),
                None => Err(DomainError::NotFound("organization")),
            },
        }
    }

    fn evolve(s: OrganizationState, event: &OrganizationEvent) -> OrganizationState {
        evolve(s, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erasure::ErasureReason;
    use crate::harness::{day, given, t0};
    use crate::subscription::{subscription_id_for_order, Subscription};
    use OrganizationCommand as C;
    use OrganizationEvent as E;

    const ORG: Uuid = Uuid::from_u128(0x0f3c);
    const INV: Uuid = Uuid::from_u128(0x1);
    const SALES: Uuid = Uuid::from_u128(0xd1);
    const EAST: Uuid = Uuid::from_u128(0xd2);

    fn created(as_reseller: bool) -> E {
        E::OrganizationCreated {
            organization_id: ORG,
            name: "阿克米科技".into(),
            identifier: "acme".into(),
            creator_account: if as_reseller { "reseller-1" } else { "buyer-1" }.into(),
            as_reseller,
        }
    }

    fn bound() -> E {
        E::AppBound {
            subscription_id: Uuid::from_u128(0x5b),
        }
    }

    #[test]
    fn an_organization_without_a_bound_app_sends_no_invitation() {
        given::<Organization>(&[created(true)])
            .when(C::InviteAdmin {
                invitation_id: INV,
                name: "李娜".into(),
                phone: "13800138000".into(),
                email: "lina@acme.cn".into(),
                valid_hours: 48,
                token_hash: token_hash("t"),
                actor: "reseller-1".into(),
            })
            .then_err(DomainError::SubscriptionInactive);
    }

    fn invited() -> E {
        E::AdminInvited {
            invitation_id: INV,
            name: "李娜".into(),
            phone: "13800138000".into(),
            email: "lina@acme.cn".into(),
            token_hash: token_hash("s3cret-token"),
            expires_at: t0() + Duration::hours(48),
            invited_by: "reseller-1".into(),
        }
    }

    fn dept(id: Uuid, name: &str, parent_id: Option<Uuid>) -> E {
        E::DepartmentCreated {
            department_id: id,
            name: name.into(),
            parent_id,
        }
    }

    #[test]
    fn creating_lower_cases_the_identifier_and_claims_it() {
        let events = given::<Organization>(&[])
            .when(C::Create {
                organization_id: ORG,
                name: " 阿克米科技 ".into(),
                identifier: "ACME".into(),
                creator_account: "buyer-1".into(),
                as_reseller: false,
            })
            .events();
        assert_eq!(events, vec![created(false)]);
        assert_eq!(
            events[0].claims(),
            (
                vec![Claim::new(Scope::OrganizationIdentifier, "acme")],
                vec![]
            )
        );
        let s = Organization::fold(&events);
        assert!(s.may_manage("buyer-1"));
        assert_eq!(
            Scope::OrganizationIdentifier.taken_error(),
            DomainError::IdentifierTaken
        );
    }

    #[test]
    fn creating_refuses_bad_names_and_identifiers() {
        for (name, identifier, field) in [
            ("", "acme", "name"),
            (&"名".repeat(65) as &str, "acme", "name"),
            ("A", "a", "identifier"),
            ("A", "-acme", "identifier"),
            ("A", "ac_me", "identifier"),
        ] {
            given::<Organization>(&[])
                .when(C::Create {
                    organization_id: ORG,
                    name: name.into(),
                    identifier: identifier.into(),
                    creator_account: "b".into(),
                    as_reseller: false,
                })
                .then_err(DomainError::invalid(
                    field,
                    match field {
                        "name" => "must be 1 to 64 characters",
                        _ => match identifier {
                            "a" => "must be 2 to 63 characters",
                            "-acme" => "must not start or end with '.' or '-'",
                            _ => "may hold only a-z, 0-9, '.' and '-'",
                        },
                    },
                ));
        }
    }

    #[test]
    fn a_reseller_manages_only_until_the_first_admin_accepts() {
        let s = Organization::fold(&[created(true), invited()]);
        assert!(s.may_manage("reseller-1"));
        let s = Organization::evolve(
            s,
            &E::InvitationAccepted {
                invitation_id: INV,
                account: "lina".into(),
            },
        );
        assert!(!s.may_manage("reseller-1"));
        assert!(s.may_manage("lina"));
    }

    #[test]
    fn inviting_an_admin_stores_only_the_token_hash_and_an_expiry() {
        given::<Organization>(&[created(true), bound()])
            .when(C::InviteAdmin {
                invitation_id: INV,
                name: "李娜".into(),
                phone: "13800138000".into(),
                email: "lina@acme.cn".into(),
                valid_hours: 48,
                token_hash: token_hash("s3cret-token"),
                actor: "reseller-1".into(),
            })
            .then(&[invited()]);
        let json = serde_json::to_string(&invited()).unwrap();
        assert!(!json.contains("s3cret-token"));
    }

    #[test]
    fn inviting_refuses_bad_input_and_an_invitation_lives_a_week_at_most() {
        let invite = |phone: &str, email: &str, hours: u32| C::InviteAdmin {
            invitation_id: INV,
            name: "李娜".into(),
            phone: phone.into(),
            email: email.into(),
            valid_hours: hours,
            token_hash: "h".into(),
            actor: "reseller-1".into(),
        };
        for (command, field) in [
            (invite("1380013800", "lina@acme.cn", 48), "phone"),
            (invite("13800138000", "lina", 48), "email"),
            (invite("13800138000", "lina@acme.cn", 0), "validHours"),
            (invite("13800138000", "lina@acme.cn", 169), "validHours"),
            (invite("13800138000", "lina@acme.cn", 720), "validHours"),
        ] {
            let err = Organization::decide(
                &Organization::fold(&[created(true), bound()]),
                command,
                t0(),
            )
            .unwrap_err();
            assert_eq!(err.field(), Some(field));
        }
    }

    #[test]
    fn an_invitation_is_accepted_with_its_token_before_it_expires() {
        given::<Organization>(&[created(true), invited()])
            .at(t0() + Duration::hours(47))
            .when(C::AcceptInvitation {
                invitation_id: INV,
                token: "s3cret-token".into(),
                account: "lina".into(),
            })
            .then(&[E::InvitationAccepted {
                invitation_id: INV,
                account: "lina".into(),
            }]);
    }

    #[test]
    fn a_wrong_or_used_token_is_invalid() {
        given::<Organization>(&[created(true), invited()])
            .when(C::AcceptInvitation {
                invitation_id: INV,
                token: "guess".into(),
                account: "lina".into(),
            })
            .then_err(DomainError::InvalidToken);
        given::<Organization>(&[
            created(true),
            invited(),
            E::InvitationAccepted {
                invitation_id: INV,
                account: "lina".into(),
            },
        ])
        .when(C::AcceptInvitation {
            invitation_id: INV,
            token: "s3cret-token".into(),
            account: "other".into(),
        })
        .then_err(DomainError::InvalidToken);
        given::<Organization>(&[
            created(true),
            invited(),
            E::InvitationRevoked { invitation_id: INV },
        ])
        .when(C::AcceptInvitation {
            invitation_id: INV,
            token: "s3cret-token".into(),
            account: "lina".into(),
        })
        .then_err(DomainError::InvalidToken);
    }

    #[test]
    fn an_expired_invitation_cannot_be_accepted() {
        given::<Organization>(&[created(true), invited()])
            .at(t0() + Duration::hours(48))
            .when(C::AcceptInvitation {
                invitation_id: INV,
                token: "s3cret-token".into(),
                account: "lina".into(),
            })
            .then_err(DomainError::InvitationExpired);
        given::<Organization>(&[
            created(true),
            invited(),
            E::InvitationExpired { invitation_id: INV },
        ])
        .when(C::AcceptInvitation {
            invitation_id: INV,
            token: "s3cret-token".into(),
            account: "lina".into(),
        })
        .then_err(DomainError::InvitationExpired);
    }

    #[test]
    fn the_timer_expires_only_a_pending_invitation_that_is_due() {
        given::<Organization>(&[created(true), invited()])
            .at(t0() + Duration::hours(48))
            .when(C::ExpireInvitation { invitation_id: INV })
            .then(&[E::InvitationExpired { invitation_id: INV }]);
        given::<Organization>(&[created(true), invited()])
            .at(t0() + Duration::hours(47))
            .when(C::ExpireInvitation { invitation_id: INV })
            .then(&[]);
        given::<Organization>(&[
            created(true),
            invited(),
            E::InvitationAccepted {
                invitation_id: INV,
                account: "lina".into(),
            },
        ])
        .at(day(30))
        .when(C::ExpireInvitation { invitation_id: INV })
        .then(&[]);
    }

    #[test]
    fn a_resellers_account_cannot_accept_an_admin_invitation() {
        given::<Organization>(&[created(true), invited()])
            .when(C::AcceptInvitation {
                invitation_id: INV,
                token: "s3cret-token".into(),
                account: "reseller-1".into(),
            })
            .then_err(DomainError::NotInvitee);
    }

    #[test]
    fn a_pending_invitation_can_be_revoked_once() {
        given::<Organization>(&[created(true), invited()])
            .when(C::RevokeInvitation { invitation_id: INV })
            .then(&[E::InvitationRevoked { invitation_id: INV }]);
        given::<Organization>(&[
            created(true),
            invited(),
            E::InvitationRevoked { invitation_id: INV },
        ])
        .when(C::RevokeInvitation { invitation_id: INV })
        .then_err(DomainError::InvitationNotPending);
        given::<Organization>(&[created(true)])
            .when(C::RevokeInvitation { invitation_id: INV })
            .then_err(DomainError::NotFound("invitation"));
    }

    #[test]
    fn department_names_are_unique_among_siblings_only() {
        given::<Organization>(&[created(false), dept(SALES, "销售部", None)])
            .when(C::CreateDepartment {
                department_id: EAST,
                name: "销售部".into(),
                parent_id: None,
            })
            .then_invalid();
        given::<Organization>(&[created(false), dept(SALES, "销售部", None)])
            .when(C::CreateDepartment {
                department_id: EAST,
                name: "销售部".into(),
                parent_id: Some(SALES),
            })
            .then(&[dept(EAST, "销售部", Some(SALES))]);
        given::<Organization>(&[created(false)])
            .when(C::CreateDepartment {
                department_id: EAST,
                name: "华东".into(),
                parent_id: Some(SALES),
            })
            .then_err(DomainError::NotFound("parent department"));
        given::<Organization>(&[created(false)])
            .when(C::CreateDepartment {
                department_id: EAST,
                name: "".into(),
                parent_id: None,
            })
            .then_invalid();
    }

    #[test]
    fn departments_are_renamed() {
        given::<Organization>(&[created(false), dept(SALES, "销售部", None)])
            .when(C::RenameDepartment {
                department_id: SALES,
                name: "市场部".into(),
            })
            .then(&[E::DepartmentRenamed {
                department_id: SALES,
                name: "市场部".into(),
            }]);
        given::<Organization>(&[
            created(false),
            dept(SALES, "销售部", None),
            dept(EAST, "市场部", None),
        ])
        .when(C::RenameDepartment {
            department_id: SALES,
            name: "市场部".into(),
        })
        .then_invalid();
    }

    #[test]
    fn a_department_never_moves_under_itself_or_a_descendant() {
        let tree = [
            created(false),
            dept(SALES, "销售部", None),
            dept(EAST, "华东", Some(SALES)),
        ];
        given::<Organization>(&tree)
            .when(C::MoveDepartment {
                department_id: SALES,
                parent_id: Some(EAST),
            })
            .then_invalid();
        given::<Organization>(&tree)
            .when(C::MoveDepartment {
                department_id: SALES,
                parent_id: Some(SALES),
            })
            .then_invalid();
        given::<Organization>(&tree)
            .when(C::MoveDepartment {
                department_id: EAST,
                parent_id: None,
            })
            .then(&[E::DepartmentMoved {
                department_id: EAST,
                parent_id: None,
            }]);
    }

    #[test]
    fn only_an_empty_department_is_deleted() {
        let tree = [
            created(false),
            dept(SALES, "销售部", None),
            dept(EAST, "华东", Some(SALES)),
        ];
        given::<Organization>(&tree)
            .when(C::DeleteDepartment {
                department_id: SALES,
                members_in_department: 0,
            })
            .then_err(DomainError::DepartmentNotEmpty);
        given::<Organization>(&tree)
            .when(C::DeleteDepartment {
                department_id: EAST,
                members_in_department: 3,
            })
            .then_err(DomainError::DepartmentNotEmpty);
        given::<Organization>(&tree)
            .when(C::DeleteDepartment {
                department_id: EAST,
                members_in_department: 0,
            })
            .then(&[E::DepartmentDeleted {
                department_id: EAST,
            }]);
    }

    fn trial() -> (SubscriptionState, Uuid) {
        let id = subscription_id_for_order("O-1");
        let s = Subscription::fold(&[SubscriptionEvent::TrialStarted {
            subscription_id: id,
            order_id: "O-1".into(),
            buyer_account_id: "buyer-1".into(),
            edition: "standard".into(),
            seats: 5,
            started_at: t0(),
            trial_ends_at: day(15),
        }]);
        (s, id)
    }

    #[test]
    fn binding_ties_one_subscription_to_one_organization_both_ways() {
        let (sub, sub_id) = trial();
        let org = Organization::fold(&[created(false)]);
        let (org_events, sub_events) = bind_app(&org, &sub, day(1)).unwrap();
        assert_eq!(
            org_events,
            vec![E::AppBound {
                subscription_id: sub_id
            }]
        );
        assert_eq!(
            sub_events,
            vec![SubscriptionEvent::AppBound {
                organization_id: ORG
            }]
        );
        let org = Organization::fold(&[created(false), org_events[0].clone()]);
        let sub = Subscription::evolve(sub, &sub_events[0]);
        assert_eq!(bind_app(&org, &sub, day(1)), Ok((vec![], vec![])));
        // Another organization cannot take the same subscription.
        let other = Organization::fold(&[E::OrganizationCreated {
            organization_id: Uuid::from_u128(7),
            name: "x".into(),
            identifier: "xx".into(),
            creator_account: "buyer-1".into(),
            as_reseller: false,
        }]);
        assert_eq!(
            bind_app(&other, &sub, day(1)).unwrap_err(),
            DomainError::SubscriptionAlreadyUsed
        );
    }

    #[test]
    fn binding_needs_a_running_trial_or_an_active_subscription() {
        let (sub, _) = trial();
        let org = Organization::fold(&[created(false)]);
        assert_eq!(
            bind_app(&org, &sub, day(15)),
            Err(DomainError::SubscriptionInactive)
        );
    }

    #[test]
    fn an_authorized_department_covers_its_sub_departments() {
        let tree = [
            created(false),
            E::AppBound {
                subscription_id: Uuid::from_u128(5),
            },
            dept(SALES, "销售部", None),
            dept(EAST, "华东", Some(SALES)),
        ];
        given::<Organization>(&tree)
            .when(C::AuthorizeDepartment {
                department_id: SALES,
            })
            .then(&[E::DepartmentAuthorized {
                department_id: SALES,
            }]);
        let mut events = tree.to_vec();
        events.push(E::DepartmentAuthorized {
            department_id: SALES,
        });
        let s = Organization::fold(&events);
        assert!(s.department_authorized(Some(EAST)));
        assert!(!s.department_authorized(None));
        given::<Organization>(&tree[..1])
            .when(C::AuthorizeDepartment {
                department_id: SALES,
            })
            .then_err(DomainError::NotFound("department"));
    }

    #[test]
    fn dissolving_needs_an_admin_an_empty_organization_and_the_identifier() {
        given::<Organization>(&[created(false)])
            .when(C::Dissolve {
                confirm_identifier: "ACME".into(),
                actor: "buyer-1".into(),
                members_left: 0,
            })
            .then(&[
                E::OrganizationDissolved {
                    identifier: "acme".into(),
                },
                E::PersonalDataErased {
                    reason: ErasureReason::OrganizationDissolved,
                },
            ]);
        given::<Organization>(&[created(false)])
            .when(C::Dissolve {
                confirm_identifier: "acme".into(),
                actor: "buyer-1".into(),
                members_left: 2,
            })
            .then_err(DomainError::OrganizationNotEmpty);
        given::<Organization>(&[created(false), dept(SALES, "销售部", None)])
            .when(C::Dissolve {
                confirm_identifier: "acme".into(),
                actor: "buyer-1".into(),
                members_left: 0,
            })
            .then_err(DomainError::OrganizationNotEmpty);
        given::<Organization>(&[created(false)])
            .when(C::Dissolve {
                confirm_identifier: "acme-corp".into(),
                actor: "buyer-1".into(),
                members_left: 0,
            })
            .then_invalid();
        given::<Organization>(&[created(false)])
            .when(C::Dissolve {
                confirm_identifier: "acme".into(),
                actor: "stranger".into(),
                members_left: 0,
            })
            .then_err(DomainError::NotAnAdmin);
    }

    #[test]
    fn personal_data_is_erased_for_an_organization_that_exists_even_once_dissolved() {
        let erased = E::PersonalDataErased {
            reason: ErasureReason::SubscriptionDataPurged,
        };
        let command = || C::ErasePersonalData {
            reason: ErasureReason::SubscriptionDataPurged,
        };
        given::<Organization>(&[created(false)])
            .when(command())
            .then(std::slice::from_ref(&erased));
        given::<Organization>(&[
            created(false),
            E::OrganizationDissolved {
                identifier: "acme".into(),
            },
        ])
        .when(command())
        .then(std::slice::from_ref(&erased));
        given::<Organization>(&[])
            .when(command())
            .then_err(DomainError::NotFound("organization"));
        assert_eq!(erased.claims(), (vec![], vec![]));
    }

    #[test]
    fn a_reseller_never_dissolves_once_an_admin_exists() {
        let accepted = E::InvitationAccepted {
            invitation_id: INV,
            account: "lina".into(),
        };
        given::<Organization>(&[created(true), invited(), accepted.clone()])
            .when(C::Dissolve {
                confirm_identifier: "acme".into(),
                actor: "reseller-1".into(),
                members_left: 0,
            })
            .then_err(DomainError::NotAnAdmin);
        given::<Organization>(&[created(true), invited(), accepted])
            .when(C::Dissolve {
                confirm_identifier: "acme".into(),
                actor: "lina".into(),
                members_left: 0,
            })
            .then(&[
                E::OrganizationDissolved {
                    identifier: "acme".into(),
                },
                E::PersonalDataErased {
                    reason: ErasureReason::OrganizationDissolved,
                },
            ]);
    }

    #[test]
    fn a_dissolved_organization_is_gone_and_frees_its_identifier() {
        let dissolved = E::OrganizationDissolved {
            identifier: "acme".into(),
        };
        assert_eq!(
            dissolved.claims(),
            (
                vec![],
                vec![Claim::new(Scope::OrganizationIdentifier, "acme")]
            )
        );
        given::<Organization>(&[created(false), dissolved])
            .when(C::CreateDepartment {
                department_id: SALES,
                name: "x".into(),
                parent_id: None,
            })
            .then_err(DomainError::NotFound("organization"));
    }
}
