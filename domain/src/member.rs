//! `member-{id}`: a person in an organization, their account, their status and their
//! authorization for the mail app. Members are streams of their own so that a command
//! costs the same in an organization of 10 members and of 50,000.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::claims::{Claim, Scope};
use crate::error::DomainError;
use crate::organization::OrganizationState;
use crate::subscription::{self, SubscriptionEvent, SubscriptionState};
use crate::validate;
use crate::Decider;

mod adding;
mod erasure;
mod seats;

pub use adding::*;
pub use erasure::*;
pub use seats::*;

/// Most rows one import may hold.
pub const MAX_IMPORT_ROWS: usize = 1_000;
/// Most ids one batch command (authorize, revoke, open mailboxes) takes.
pub const MAX_BATCH_IDS: usize = 1_000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberStatus {
    #[default]
    Active,
    Disabled,
    Deleted,
}

/// A label on the member only: real admins are invited (KooMail FAQ 1.5).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleLabel {
    #[default]
    Member,
    Admin,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmploymentType {
    #[default]
    FullTime,
    Intern,
    Dispatched,
    Outsourced,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum MemberEvent {
    MemberAdded {
        member_id: Uuid,
        organization_id: Uuid,
        name: String,
        account: String,
        phone: Option<String>,
        email: Option<String>,
        /// None: the organization root.
        department_id: Option<Uuid>,
        role: RoleLabel,
        employment_type: EmploymentType,
        hire_date: Option<NaiveDate>,
    },
    /// Only the fields that changed are set; `previous_phone` lets the old phone be freed.
    MemberUpdated {
        name: Option<String>,
        /// Absent: unchanged; `null`: cleared.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::patch"
        )]
        #[schemars(with = "Option<String>")]
        phone: Option<Option<String>>,
        /// Absent: unchanged; `null`: cleared.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::patch"
        )]
        #[schemars(with = "Option<String>")]
        email: Option<Option<String>>,
        /// Absent: unchanged; `null`: moved to the organization's root.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::patch"
        )]
        #[schemars(with = "Option<Uuid>")]
        department_id: Option<Option<Uuid>>,
        role: Option<RoleLabel>,
        previous_phone: Option<String>,
    },
    MemberDisabled {},
    MemberEnabled {},
    MemberDeleted {
        account: String,
        phone: Option<String>,
    },
    MemberAuthorized {
        subscription_id: Uuid,
        /// The SMS worker sends the account and initial password when this is set.
        send_credentials_sms: bool,
    },
    MemberAuthorizationRevoked {
        subscription_id: Uuid,
    },
    /// The member must change the password at the next login.
    MemberPasswordReset {},
    /// A deleted member's name, account, phone, e-mail and mailbox addresses were erased
    /// from every event (their key is gone); the member's id stays.
    MemberErased {
        reason: crate::erasure::ErasureReason,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberState {
    pub id: Option<Uuid>,
    pub organization_id: Uuid,
    pub name: String,
    pub account: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub department_id: Option<Uuid>,
    pub role: RoleLabel,
    pub employment_type: EmploymentType,
    pub hire_date: Option<NaiveDate>,
    pub status: MemberStatus,
    pub authorized_by: Option<Uuid>,
    pub must_change_password: bool,
    /// Deleted and erased: its personal fields read "[erased]".
    pub erased: bool,
}

impl MemberState {
    fn exists(&self) -> bool {
        self.id.is_some() && self.status != MemberStatus::Deleted
    }

    /// Active and authorized: may have a mailbox.
    pub fn may_use_mail(&self) -> bool {
        self.exists() && self.status == MemberStatus::Active && self.authorized_by.is_some()
    }
}

impl MemberEvent {
    /// Uniqueness keys this event claims and releases, given the member's organization.
    pub fn claims(&self, organization_id: Uuid) -> (Vec<Claim>, Vec<Claim>) {
        let account = |a: &str| Claim::in_organization(Scope::MemberAccount, organization_id, a);
        let phone = |p: &str| Claim::in_organization(Scope::MemberPhone, organization_id, p);
        match self {
            MemberEvent::MemberAdded {
                account: a,
                phone: p,
                ..
            } => {
                let mut claims = vec![account(a)];
                claims.extend(p.as_deref().map(phone));
                (claims, vec![])
            }
            MemberEvent::MemberUpdated {
                phone: Some(new),
                previous_phone,
                ..
            } => (
                new.as_deref().map(phone).into_iter().collect(),
                previous_phone.as_deref().map(phone).into_iter().collect(),
            ),
            MemberEvent::MemberDeleted {
                account: a,
                phone: p,
            } => {
                let mut releases = vec![account(a)];
                releases.extend(p.as_deref().map(phone));
                (vec![], releases)
            }
            _ => (vec![], vec![]),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MemberCommand {
    Update {
        name: Option<String>,
        /// `Some("")` clears it.
        phone: Option<String>,
        /// `Some("")` clears it.
        email: Option<String>,
        /// `Some(None)` moves the member to the organization root.
        department_id: Option<Option<Uuid>>,
        /// The departments the organization has, for `department_id`.
        known_departments: Vec<Uuid>,
        role: Option<RoleLabel>,
    },
    ResetPassword {
        password: String,
    },
    Disable,
    Enable,
}

/// The member decider (commands on one member; adding and seats are functions above/below).
pub struct Member;

fn require(s: &MemberState) -> Result<(), DomainError> {
    if s.exists() {
        Ok(())
    } else {
        Err(DomainError::NotFound("member"))
    }
}

impl Decider for Member {
    type State = MemberState;
    type Command = MemberCommand;
    type Event = MemberEvent;

    fn decide(
        s: &MemberState,
        command: MemberCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<MemberEvent>, DomainError> {
        require(s)?;
        match command {
            MemberCommand::Update {
                name,
                phone,
                email,
                department_id,
                known_departments,
                role,
            } => {
                let name = name
                    .map(|n| validate::name("name", &n))
                    .transpose()?
                    .filter(|n| *n != s.name);
                let phone = phone
                    .map(|p| {
                        optional(Some(p))
                            .map(|p| validate::phone("phone", &p))
                            .transpose()
                    })
                    .transpose()?
                    .filter(|p| *p != s.phone);
                let email = email
                    .map(|e| {
                        optional(Some(e))
                            .map(|e| validate::email("email", &e))
                            .transpose()
                    })
                    .transpose()?
                    .filter(|e| *e != s.email);
                let new_phone = phone.clone().unwrap_or_else(|| s.phone.clone());
                let new_email = email.clone().unwrap_or_else(|| s.email.clone());
                if new_phone.is_none() && new_email.is_none() {
                    return Err(DomainError::invalid(
                        "phone",
                        "a phone number or an e-mail address is required",
                    ));
                }
                if let Some(Some(d)) = department_id {
                    if !known_departments.contains(&d) {
                        return Err(DomainError::NotFound("department"));
                    }
                }
                let department_id = department_id.filter(|d| *d != s.department_id);
                let role = role.filter(|r| *r != s.role);
                if name.is_none()
                    && phone.is_none()
                    && email.is_none()
                    && department_id.is_none()
                    && role.is_none()
                {
                    return Ok(vec![]);
                }
                let previous_phone = if phone.is_some() {
                    s.phone.clone()
                } else {
                    None
                };
                Ok(vec![MemberEvent::MemberUpdated {
                    name,
                    phone,
                    email,
                    department_id,
                    role,
                    previous_phone,
                }])
            }
            MemberCommand::ResetPassword { password } => {
                validate::password(&password)?;
                Ok(vec![MemberEvent::MemberPasswordReset {}])
            }
            MemberCommand::Disable => Ok(match s.status {
                MemberStatus::Active => vec![MemberEvent::MemberDisabled {}],
                _ => vec![],
            }),
            MemberCommand::Enable => Ok(match s.status {
                MemberStatus::Disabled => vec![MemberEvent::MemberEnabled {}],
                _ => vec![],
            }),
        }
    }

    fn evolve(mut s: MemberState, event: &MemberEvent) -> MemberState {
        use MemberEvent as E;
        match event {
            E::MemberAdded {
                member_id,
                organization_id,
                name,
                account,
                phone,
                email,
                department_id,
                role,
                employment_type,
                hire_date,
            } => {
                s.id = Some(*member_id);
                s.organization_id = *organization_id;
                s.name = name.clone();
                s.account = account.clone();
                s.phone = phone.clone();
                s.email = email.clone();
                s.department_id = *department_id;
                s.role = *role;
                s.employment_type = *employment_type;
                s.hire_date = *hire_date;
                s.status = MemberStatus::Active;
            }
            E::MemberUpdated {
                name,
                phone,
                email,
                department_id,
                role,
                ..
            } => {
                if let Some(n) = name {
                    s.name = n.clone();
                }
                if let Some(p) = phone {
                    s.phone = p.clone();
                }
                if let Some(e) = email {
                    s.email = e.clone();
                }
                if let Some(d) = department_id {
                    s.department_id = *d;
                }
                if let Some(r) = role {
                    s.role = *r;
                }
            }
            E::MemberDisabled {} => s.status = MemberStatus::Disabled,
            E::MemberEnabled {} => s.status = MemberStatus::Active,
            E::MemberDeleted { .. } => {
                s.status = MemberStatus::Deleted;
                s.authorized_by = None;
            }
            E::MemberAuthorized {
                subscription_id, ..
            } => s.authorized_by = Some(*subscription_id),
            E::MemberAuthorizationRevoked { .. } => s.authorized_by = None,
            E::MemberPasswordReset {} => s.must_change_password = true,
            E::MemberErased { .. } => s.erased = true,
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{day, given, t0};
    use crate::organization::{Organization, OrganizationEvent};
    use crate::subscription::{subscription_id_for_order, Subscription};
    use MemberCommand as C;
    use MemberEvent as E;

    const ORG: Uuid = Uuid::from_u128(0x0f3c);
    const M1: Uuid = Uuid::from_u128(0x101);
    const M2: Uuid = Uuid::from_u128(0x102);
    const SALES: Uuid = Uuid::from_u128(0xd1);

    fn org() -> OrganizationState {
        Organization::fold(&[
            OrganizationEvent::OrganizationCreated {
                organization_id: ORG,
                name: "阿克米".into(),
                identifier: "acme".into(),
                creator_account: "buyer-1".into(),
                as_reseller: false,
            },
            OrganizationEvent::DepartmentCreated {
                department_id: SALES,
                name: "销售部".into(),
                parent_id: None,
            },
            OrganizationEvent::AppBound {
                subscription_id: subscription_id_for_order("O-1"),
            },
        ])
    }

    fn row(id: Uuid, account: &str, phone: &str) -> AddMember {
        AddMember {
            member_id: id,
            name: "张伟".into(),
            account: account.into(),
            phone: Some(phone.into()),
            email: None,
            password: "Passw0rd!".into(),
            ..Default::default()
        }
    }

    fn added(id: Uuid, account: &str, phone: &str) -> E {
        E::MemberAdded {
            member_id: id,
            organization_id: ORG,
            name: "张伟".into(),
            account: account.into(),
            phone: Some(phone.into()),
            email: None,
            department_id: None,
            role: RoleLabel::Member,
            employment_type: EmploymentType::FullTime,
            hire_date: None,
        }
    }

    fn subscription(seats: u32) -> SubscriptionState {
        Subscription::fold(&[SubscriptionEvent::TrialStarted {
            subscription_id: subscription_id_for_order("O-1"),
            order_id: "O-1".into(),
            buyer_account_id: "buyer-1".into(),
            edition: "standard".into(),
            seats,
            started_at: t0(),
            trial_ends_at: day(15),
        }])
    }

    #[test]
    fn a_member_is_added_at_the_root_as_a_full_time_member_by_default() {
        let events = add(
            &org(),
            &MemberState::default(),
            row(M1, "zhangwei", "13800138000"),
        )
        .unwrap();
        assert_eq!(events, vec![added(M1, "zhangwei", "13800138000")]);
        let json = serde_json::to_string(&events).unwrap();
        assert!(
            !json.contains("Passw0rd!"),
            "the password never enters an event"
        );
    }

    #[test]
    fn account_and_phone_are_claimed_in_the_organization() {
        let (claims, releases) = added(M1, "zhangwei", "13800138000").claims(ORG);
        assert_eq!(
            claims,
            vec![
                Claim::in_organization(Scope::MemberAccount, ORG, "zhangwei"),
                Claim::in_organization(Scope::MemberPhone, ORG, "13800138000"),
            ]
        );
        assert!(releases.is_empty());
        assert_eq!(
            Scope::MemberAccount.taken_error(),
            DomainError::AccountTaken
        );
        assert_eq!(Scope::MemberPhone.taken_error(), DomainError::PhoneTaken);
    }

    #[test]
    fn adding_refuses_bad_input() {
        let base = row(M1, "zhangwei", "13800138000");
        let cases = [
            (
                AddMember {
                    name: "".into(),
                    ..base.clone()
                },
                "name",
            ),
            (
                AddMember {
                    account: "zhang wei".into(),
                    ..base.clone()
                },
                "account",
            ),
            (
                AddMember {
                    account: "a".repeat(21),
                    ..base.clone()
                },
                "account",
            ),
            (
                AddMember {
                    phone: Some("12345".into()),
                    ..base.clone()
                },
                "phone",
            ),
            (
                AddMember {
                    phone: None,
                    email: None,
                    ..base.clone()
                },
                "phone",
            ),
            (
                AddMember {
                    phone: Some(" ".into()),
                    email: Some("".into()),
                    ..base.clone()
                },
                "phone",
            ),
            (
                AddMember {
                    email: Some("nope".into()),
                    ..base.clone()
                },
                "email",
            ),
            (
                AddMember {
                    password: "short1".into(),
                    ..base.clone()
                },
                "password",
            ),
            (
                AddMember {
                    password: "alllowercase".into(),
                    ..base.clone()
                },
                "password",
            ),
        ];
        for (command, field) in cases {
            let err = add(&org(), &MemberState::default(), command).unwrap_err();
            assert_eq!(err.field(), Some(field), "{err:?}");
        }
        let err = add(
            &org(),
            &MemberState::default(),
            AddMember {
                department_id: Some(Uuid::from_u128(9)),
                ..base.clone()
            },
        );
        assert_eq!(err, Err(DomainError::NotFound("department")));
        let err = add(&OrganizationState::default(), &MemberState::default(), base);
        assert_eq!(err, Err(DomainError::NotFound("organization")));
    }

    #[test]
    fn an_email_alone_is_enough() {
        let events = add(
            &org(),
            &MemberState::default(),
            AddMember {
                phone: None,
                email: Some("zw@acme.cn".into()),
                department_id: Some(SALES),
                role: Some(RoleLabel::Admin),
                employment_type: Some(EmploymentType::Intern),
                ..row(M1, "zw", "")
            },
        )
        .unwrap();
        let s = Member::fold(&events);
        assert_eq!(s.email.as_deref(), Some("zw@acme.cn"));
        assert_eq!(s.department_id, Some(SALES));
        assert_eq!(s.role, RoleLabel::Admin);
        assert_eq!(s.employment_type, EmploymentType::Intern);
        assert_eq!(events[0].claims(ORG).0.len(), 1);
    }

    #[test]
    fn an_import_decides_each_row_and_the_last_row_of_an_account_wins() {
        let rows = vec![
            row(M1, "zhangwei", "13800138000"),
            row(M2, "lina", "bad-phone"),
            AddMember {
                name: "张伟（新）".into(),
                ..row(Uuid::from_u128(3), "zhangwei", "13800138001")
            },
        ];
        let d = import(&org(), rows).unwrap();
        assert_eq!(d.accepted.len(), 1);
        assert_eq!(d.accepted[0].0, 2);
        assert_eq!(d.failed.len(), 1);
        assert_eq!(d.failed[0].0, 1);
        assert!(d.failed[0].1.field().is_some(), "{:?}", d.failed[0].1);
    }

    #[test]
    fn an_import_holds_at_most_1000_rows() {
        let rows: Vec<AddMember> = (0..1001)
            .map(|i| row(Uuid::from_u128(i), &format!("u{i}"), "13800138000"))
            .collect();
        assert_eq!(
            import(&org(), rows),
            Err(DomainError::ImportTooLarge {
                rows: 1001,
                max: 1000
            })
        );
        let rows: Vec<AddMember> = (0..1000)
            .map(|i| row(Uuid::from_u128(i), &format!("u{i}"), "13800138000"))
            .collect();
        assert_eq!(import(&org(), rows).unwrap().accepted.len(), 1000);
        assert_eq!(import(&org(), vec![]).unwrap_err().field(), Some("rows"));
    }

    #[test]
    fn updating_changes_only_what_differs_and_moves_the_phone_claim() {
        let events = given::<Member>(&[added(M1, "zhangwei", "13800138000")])
            .when(C::Update {
                name: Some("张伟".into()),
                phone: Some("13900139000".into()),
                email: None,
                department_id: Some(Some(SALES)),
                known_departments: vec![SALES],
                role: None,
            })
            .events();
        assert_eq!(
            events,
            vec![E::MemberUpdated {
                name: None,
                phone: Some(Some("13900139000".into())),
                email: None,
                department_id: Some(Some(SALES)),
                role: None,
                previous_phone: Some("13800138000".into()),
            }]
        );
        assert_eq!(
            events[0].claims(ORG),
            (
                vec![Claim::in_organization(
                    Scope::MemberPhone,
                    ORG,
                    "13900139000"
                )],
                vec![Claim::in_organization(
                    Scope::MemberPhone,
                    ORG,
                    "13800138000"
                )]
            )
        );
    }

    #[test]
    fn an_update_cannot_leave_neither_phone_nor_email() {
        given::<Member>(&[added(M1, "zhangwei", "13800138000")])
            .when(C::Update {
                name: None,
                phone: Some("".into()),
                email: None,
                department_id: None,
                known_departments: vec![],
                role: None,
            })
            .then_invalid();
        given::<Member>(&[added(M1, "zhangwei", "13800138000")])
            .when(C::Update {
                name: None,
                phone: None,
                email: None,
                department_id: Some(Some(SALES)),
                known_departments: vec![],
                role: None,
            })
            .then_err(DomainError::NotFound("department"));
    }

    #[test]
    fn a_password_reset_makes_the_member_change_it_and_records_no_password() {
        given::<Member>(&[added(M1, "zhangwei", "13800138000")])
            .when(C::ResetPassword {
                password: "N3w-Secret".into(),
            })
            .then(&[E::MemberPasswordReset {}]);
        given::<Member>(&[added(M1, "zhangwei", "13800138000")])
            .when(C::ResetPassword {
                password: "weak".into(),
            })
            .then_invalid();
        let s = Member::fold(&[
            added(M1, "zhangwei", "13800138000"),
            E::MemberPasswordReset {},
        ]);
        assert!(s.must_change_password);
    }

    #[test]
    fn members_are_disabled_and_enabled() {
        given::<Member>(&[added(M1, "zhangwei", "13800138000")])
            .when(C::Disable)
            .then(&[E::MemberDisabled {}]);
        given::<Member>(&[added(M1, "zhangwei", "13800138000"), E::MemberDisabled {}])
            .when(C::Disable)
            .then(&[]);
        given::<Member>(&[added(M1, "zhangwei", "13800138000"), E::MemberDisabled {}])
            .when(C::Enable)
            .then(&[E::MemberEnabled {}]);
        given::<Member>(&[])
            .when(C::Disable)
            .then_err(DomainError::NotFound("member"));
    }

    #[test]
    fn only_a_disabled_member_is_deleted_freeing_account_phone_and_seat() {
        let sub = Subscription::evolve(
            subscription(5),
            &SubscriptionEvent::SeatAssigned { member_id: M1 },
        );
        let authorized = E::MemberAuthorized {
            subscription_id: subscription_id_for_order("O-1"),
            send_credentials_sms: true,
        };
        let active = Member::fold(&[added(M1, "zhangwei", "13800138000"), authorized.clone()]);
        assert_eq!(delete(&active, &sub), Err(DomainError::MemberNotDisabled));
        let disabled = Member::fold(&[
            added(M1, "zhangwei", "13800138000"),
            authorized,
            E::MemberDisabled {},
        ]);
        let (member_events, sub_events) = delete(&disabled, &sub).unwrap();
        assert_eq!(
            member_events,
            vec![E::MemberDeleted {
                account: "zhangwei".into(),
                phone: Some("13800138000".into())
            }]
        );
        assert_eq!(
            sub_events,
            vec![SubscriptionEvent::SeatReleased { member_id: M1 }]
        );
        assert_eq!(member_events[0].claims(ORG).1.len(), 2);
        // A member never authorized holds no seat to give back.
        let never = Member::fold(&[added(M1, "zhangwei", "13800138000"), E::MemberDisabled {}]);
        assert_eq!(delete(&never, &sub).unwrap().1, vec![]);
        let deleted = Member::evolve(disabled, &member_events[0]);
        assert_eq!(
            Member::decide(&deleted, C::Enable, t0()),
            Err(DomainError::NotFound("member"))
        );
    }

    #[test]
    fn only_a_deleted_member_is_erased_and_only_once() {
        use crate::erasure::ErasureReason::ByManager;
        let deleted = [
            added(M1, "zhangwei", "13800138000"),
            E::MemberDisabled {},
            E::MemberDeleted {
                account: "zhangwei".into(),
                phone: Some("13800138000".into()),
            },
        ];
        let erased = E::MemberErased { reason: ByManager };
        assert_eq!(
            erase(&Member::fold(&deleted), ByManager),
            Ok(vec![erased.clone()])
        );
        // The erasure claims and releases nothing: account and phone went with the deletion.
        assert_eq!(erased.claims(ORG), (vec![], vec![]));
        let mut again = deleted.to_vec();
        again.push(erased);
        assert_eq!(erase(&Member::fold(&again), ByManager), Ok(vec![]));
        assert!(Member::fold(&again).erased);
        for not_deleted in [&deleted[..1], &deleted[..2]] {
            assert_eq!(
                erase(&Member::fold(not_deleted), ByManager),
                Err(DomainError::MemberNotDeleted)
            );
        }
        assert_eq!(
            erase(&MemberState::default(), ByManager),
            Err(DomainError::NotFound("member"))
        );
    }

    #[test]
    fn authorizing_takes_a_seat_and_asks_for_the_credentials_sms() {
        let m1 = Member::fold(&[added(M1, "zhangwei", "13800138000")]);
        let Authorization {
            members: member_events,
            seats,
        } = authorize(&[&m1], &org(), &subscription(1), day(1)).unwrap();
        let sub_id = subscription_id_for_order("O-1");
        assert_eq!(
            member_events,
            vec![(
                M1,
                E::MemberAuthorized {
                    subscription_id: sub_id,
                    send_credentials_sms: true
                }
            )]
        );
        assert_eq!(
            seats,
            vec![SubscriptionEvent::SeatAssigned { member_id: M1 }]
        );
        // Authorizing again takes nothing.
        let m1 = Member::evolve(m1, &member_events[0].1);
        let sub = Subscription::evolve(subscription(1), &seats[0]);
        assert_eq!(
            authorize(&[&m1], &org(), &sub, day(1)),
            Ok(Authorization::default())
        );
    }

    #[test]
    fn authorized_members_never_exceed_purchased_seats() {
        let m1 = Member::fold(&[added(M1, "zhangwei", "13800138000")]);
        let m2 = Member::fold(&[added(M2, "lina", "13800138001")]);
        assert_eq!(
            authorize(&[&m1, &m2], &org(), &subscription(1), day(1)),
            Err(DomainError::SeatsExhausted {
                available: 1,
                requested: 2
            })
        );
    }

    #[test]
    fn a_disabled_member_or_an_unbound_organization_is_not_authorized() {
        let disabled = Member::fold(&[added(M1, "zhangwei", "13800138000"), E::MemberDisabled {}]);
        assert_eq!(
            authorize(&[&disabled], &org(), &subscription(5), day(1)).unwrap_err(),
            DomainError::MemberDisabled
        );
        let m1 = Member::fold(&[added(M1, "zhangwei", "13800138000")]);
        let unbound = Organization::fold(&[OrganizationEvent::OrganizationCreated {
            organization_id: ORG,
            name: "x".into(),
            identifier: "xx".into(),
            creator_account: "b".into(),
            as_reseller: false,
        }]);
        assert_eq!(
            authorize(&[&m1], &unbound, &subscription(5), day(1)),
            Err(DomainError::SubscriptionInactive)
        );
    }

    #[test]
    fn revoking_frees_the_seat() {
        let sub_id = subscription_id_for_order("O-1");
        let m1 = Member::fold(&[
            added(M1, "zhangwei", "13800138000"),
            E::MemberAuthorized {
                subscription_id: sub_id,
                send_credentials_sms: true,
            },
        ]);
        let sub = Subscription::evolve(
            subscription(1),
            &SubscriptionEvent::SeatAssigned { member_id: M1 },
        );
        let (member_events, seats) = revoke(&m1, &sub).unwrap();
        assert_eq!(
            member_events,
            vec![E::MemberAuthorizationRevoked {
                subscription_id: sub_id
            }]
        );
        assert_eq!(
            seats,
            vec![SubscriptionEvent::SeatReleased { member_id: M1 }]
        );
        let m1 = Member::evolve(m1, &member_events[0]);
        assert!(!m1.may_use_mail());
    }
}
