//! `mailbox-{id}`: a member's mailbox on a verified domain, from opening through the
//! recycle bin to purging.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use pinyin::ToPinyin;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::claims::{Claim, Scope};
use crate::error::DomainError;
use crate::maildomain::MailDomainState;
use crate::member::MemberState;
use crate::Decider;

mod opening;

pub use opening::*;

/// A closed mailbox stays in the recycle bin this long, then it is purged.
pub const RECYCLE_BIN_DAYS: i64 = 30;
/// Highest number tried after a default address that is taken (zhangwei1 … zhangwei99).
const MAX_SUFFIX: u32 = 99;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MailboxStatus {
    #[default]
    Provisioning,
    Active,
    /// Its member is disabled: every login is refused, the mail is kept.
    Suspended,
    Failed,
    Closed,
    Purged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CloseReason {
    ByAdmin,
    MemberDeleted,
    AuthorizationRevoked,
    SubscriptionExpired,
    /// Its organization was dissolved: purged at once.
    OrganizationDissolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum MailboxEvent {
    MailboxOpened {
        mailbox_id: Uuid,
        organization_id: Uuid,
        member_id: Uuid,
        domain_id: Uuid,
        address: String,
    },
    MailboxProvisioned {},
    MailboxProvisioningFailed {
        reason: String,
    },
    MailboxProvisioningRetried {},
    /// Into the recycle bin.
    MailboxClosed {
        reason: CloseReason,
        closed_at: DateTime<Utc>,
        purge_after: DateTime<Utc>,
    },
    MailboxRestored {},
    /// Its member was disabled: logins are refused, the mail stays.
    MailboxSuspended {},
    /// Its member was enabled again: logins work again.
    MailboxResumed {},
    /// Given, from the recycle bin, to another member of the organization. The address is
    /// repeated so it is sealed under the new member: erasing the previous one leaves it.
    MailboxReassigned {
        previous_member_id: Uuid,
        member_id: Uuid,
        address: String,
    },
    /// Mail deleted; the address is free again.
    MailboxPurged {
        address: String,
    },
    /// The domain was replaced: same mailbox and mail, new address.
    MailboxRenamed {
        previous_address: String,
        address: String,
    },
}

impl MailboxEvent {
    /// Uniqueness keys this event claims and releases, given the mailbox's member.
    pub fn claims(&self, member_id: Uuid) -> (Vec<Claim>, Vec<Claim>) {
        let address = |a: &str| Claim::new(Scope::MailboxAddress, a);
        let member = || Claim::new(Scope::MemberMailbox, member_id.to_string());
        match self {
            MailboxEvent::MailboxOpened { address: a, .. } => (vec![address(a), member()], vec![]),
            MailboxEvent::MailboxClosed { .. } => (vec![], vec![member()]),
            MailboxEvent::MailboxRestored {} => (vec![member()], vec![]),
            MailboxEvent::MailboxPurged { address: a } => (vec![], vec![address(a)]),
            MailboxEvent::MailboxRenamed {
                previous_address,
                address: a,
            } => (vec![address(a)], vec![address(previous_address)]),
            _ => (vec![], vec![]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MailboxState {
    pub id: Option<Uuid>,
    pub organization_id: Uuid,
    pub member_id: Uuid,
    pub domain_id: Uuid,
    pub address: String,
    pub status: MailboxStatus,
    pub failure: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub purge_after: Option<DateTime<Utc>>,
    /// Why it is in the recycle bin.
    pub close_reason: Option<CloseReason>,
    /// Its member is disabled (kept while provisioning, so the mailbox comes up suspended).
    pub suspended: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MailboxCommand {
    /// The data plane created the mailbox.
    RecordProvisioned,
    RecordProvisioningFailed {
        reason: String,
    },
    RetryProvisioning,
    Close {
        reason: CloseReason,
    },
    /// `member_may_use_mail`: the member is active and authorized now.
    Restore {
        member_may_use_mail: bool,
    },
    /// The member was disabled: refuse every login, keep the mail.
    Suspend,
    /// The member was enabled again.
    Resume,
    /// An admin gives a mailbox in the recycle bin to another member and restores it;
    /// `member_may_use_mail` and `member_has_mailbox` describe that member now.
    Reassign {
        member_id: Uuid,
        member_organization_id: Uuid,
        member_may_use_mail: bool,
        member_has_mailbox: bool,
    },
    /// An admin empties it from the recycle bin now.
    Purge,
    /// The recycle-bin timer: purges when due.
    PurgeIfDue,
    /// The mailbox's domain now has this (ASCII) name.
    Rename {
        domain_name: String,
    },
}

/// The mailbox decider.
pub struct Mailbox;

fn require(s: &MailboxState) -> Result<(), DomainError> {
    match s.id {
        Some(_) if s.status != MailboxStatus::Purged => Ok(()),
        _ => Err(DomainError::NotFound("mailbox")),
    }
}

impl Decider for Mailbox {
    type State = MailboxState;
    type Command = MailboxCommand;
    type Event = MailboxEvent;

    fn decide(
        s: &MailboxState,
        command: MailboxCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<MailboxEvent>, DomainError> {
        use MailboxCommand as C;
        use MailboxEvent as E;
        use MailboxStatus as S;
        require(s)?;
        match command {
            C::RecordProvisioned => Ok(match s.status {
                S::Provisioning | S::Failed => vec![E::MailboxProvisioned {}],
                _ => vec![],
            }),
            C::RecordProvisioningFailed { reason } => Ok(match s.status {
                S::Provisioning => vec![E::MailboxProvisioningFailed { reason }],
                _ => vec![],
            }),
            C::RetryProvisioning => match s.status {
                S::Failed => Ok(vec![E::MailboxProvisioningRetried {}]),
                _ => Err(DomainError::MailboxNotFailed),
            },
            C::Close { reason } => Ok(match s.status {
                S::Closed => vec![],
                _ => vec![E::MailboxClosed {
                    reason,
                    closed_at: now,
                    purge_after: now + Duration::days(RECYCLE_BIN_DAYS),
                }],
            }),
            C::Restore {
                member_may_use_mail,
            } => {
                if s.status != S::Closed {
                    return Err(DomainError::MailboxClosed);
                }
                if s.purge_after.is_some_and(|p| now >= p) {
                    return Err(DomainError::MailboxPurgeDue);
                }
                if !member_may_use_mail {
                    return Err(DomainError::MemberNotAuthorized);
                }
                Ok(vec![E::MailboxRestored {}])
            }
            C::Suspend => Ok(match s.status {
                S::Provisioning | S::Active | S::Failed if !s.suspended => {
                    vec![E::MailboxSuspended {}]
                }
                _ => vec![],
            }),
            C::Resume => Ok(if s.suspended && s.status != S::Closed {
                vec![E::MailboxResumed {}]
            } else {
                vec![]
            }),
            C::Reassign {
                member_id,
                member_organization_id,
                member_may_use_mail,
                member_has_mailbox,
            } => {
                if s.status != S::Closed {
                    return Err(DomainError::MailboxNotClosed);
                }
                if member_organization_id != s.organization_id {
                    return Err(DomainError::NotFound("member"));
                }
                if s.purge_after.is_some_and(|p| now >= p) {
                    return Err(DomainError::MailboxPurgeDue);
                }
                if !member_may_use_mail {
                    return Err(DomainError::MemberNotAuthorized);
                }
                if member_has_mailbox {
                    return Err(DomainError::MemberHasMailbox);
                }
                let mut events = Vec::with_capacity(2);
                if member_id != s.member_id {
                    events.push(E::MailboxReassigned {
                        previous_member_id: s.member_id,
                        member_id,
                        address: s.address.clone(),
                    });
                }
                events.push(E::MailboxRestored {});
                Ok(events)
            }
            C::Purge => match s.status {
                S::Closed => Ok(vec![E::MailboxPurged {
                    address: s.address.clone(),
                }]),
                _ => Err(DomainError::MailboxNotClosed),
            },
            C::PurgeIfDue => Ok(match (s.status, s.purge_after) {
                (S::Closed, Some(p)) if now >= p => vec![E::MailboxPurged {
                    address: s.address.clone(),
                }],
                _ => vec![],
            }),
            C::Rename { domain_name } => {
                let local = s.address.split('@').next().unwrap_or_default();
                let address = format!("{local}@{domain_name}");
                if address == s.address {
                    return Ok(vec![]);
                }
                Ok(vec![E::MailboxRenamed {
                    previous_address: s.address.clone(),
                    address,
                }])
            }
        }
    }

    fn evolve(mut s: MailboxState, event: &MailboxEvent) -> MailboxState {
        use MailboxEvent as E;
        match event {
            E::MailboxOpened {
                mailbox_id,
                organization_id,
                member_id,
                domain_id,
                address,
            } => {
                s.id = Some(*mailbox_id);
                s.organization_id = *organization_id;
                s.member_id = *member_id;
                s.domain_id = *domain_id;
                s.address = address.clone();
                s.status = MailboxStatus::Provisioning;
            }
            E::MailboxProvisioned {} => {
                s.status = if s.suspended {
                    MailboxStatus::Suspended
                } else {
                    MailboxStatus::Active
                };
                s.failure = None;
            }
            E::MailboxSuspended {} => {
                s.suspended = true;
                if s.status == MailboxStatus::Active {
                    s.status = MailboxStatus::Suspended;
                }
            }
            E::MailboxResumed {} => {
                s.suspended = false;
                if s.status == MailboxStatus::Suspended {
                    s.status = MailboxStatus::Active;
                }
            }
            E::MailboxReassigned {
                member_id, address, ..
            } => {
                s.member_id = *member_id;
                s.address = address.clone();
            }
            E::MailboxProvisioningFailed { reason } => {
                s.status = MailboxStatus::Failed;
                s.failure = Some(reason.clone());
            }
            E::MailboxProvisioningRetried {} => s.status = MailboxStatus::Provisioning,
            E::MailboxClosed {
                reason,
                closed_at,
                purge_after,
            } => {
                s.status = MailboxStatus::Closed;
                // The recycle bin refuses logins anyway; whoever gets it back is active.
                s.suspended = false;
                s.close_reason = Some(*reason);
                s.closed_at = Some(*closed_at);
                s.purge_after = Some(*purge_after);
            }
            E::MailboxRestored {} => {
                s.status = MailboxStatus::Active;
                s.close_reason = None;
                s.closed_at = None;
                s.purge_after = None;
            }
            E::MailboxPurged { .. } => s.status = MailboxStatus::Purged,
            E::MailboxRenamed { address, .. } => s.address = address.clone(),
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{day, given, t0};
    use crate::maildomain::{MailDomain, MailDomainEvent, VerificationMode};
    use crate::member::{EmploymentType, Member, MemberEvent, RoleLabel};
    use MailboxCommand as C;
    use MailboxEvent as E;

    const ORG: Uuid = Uuid::from_u128(0x0f3c);
    const MEMBER: Uuid = Uuid::from_u128(0x101);
    const DOMAIN: Uuid = Uuid::from_u128(0xd0);
    const BOX: Uuid = Uuid::from_u128(0xb0);

    fn member_named(id: Uuid, name: &str, authorized: bool) -> MemberState {
        let mut events = vec![MemberEvent::MemberAdded {
            member_id: id,
            organization_id: ORG,
            name: name.into(),
            account: "zw_01".into(),
            phone: Some("13800138000".into()),
            email: None,
            department_id: None,
            role: RoleLabel::Member,
            employment_type: EmploymentType::FullTime,
            hire_date: None,
        }];
        if authorized {
            events.push(MemberEvent::MemberAuthorized {
                subscription_id: Uuid::from_u128(5),
                send_credentials_sms: true,
            });
        }
        Member::fold(&events)
    }

    fn domain(verified: bool) -> MailDomainState {
        let mut events = vec![MailDomainEvent::DomainAdded {
            domain_id: DOMAIN,
            organization_id: ORG,
            name: "acme.cn".into(),
            display_name: "acme.cn".into(),
            mode: VerificationMode::Full,
            records: vec![],
        }];
        if verified {
            events.push(MailDomainEvent::DomainVerified {
                mode: VerificationMode::Full,
                name: "acme.cn".into(),
            });
        }
        MailDomain::fold(&events)
    }

    fn nobody(_: &str) -> Option<AddressHolder> {
        None
    }

    fn opened(address: &str) -> E {
        E::MailboxOpened {
            mailbox_id: BOX,
            organization_id: ORG,
            member_id: MEMBER,
            domain_id: DOMAIN,
            address: address.into(),
        }
    }

    fn open_default(
        member: &MemberState,
        domain: &MailDomainState,
        holder: &dyn Fn(&str) -> Option<AddressHolder>,
    ) -> Result<Vec<E>, DomainError> {
        open(
            member,
            domain,
            OpenMailbox {
                mailbox_id: BOX,
                local_part: None,
                holder,
            },
        )
    }

    #[test]
    fn the_default_local_part_is_the_pinyin_of_the_name() {
        assert_eq!(default_local_part("张伟", "zw"), "zhangwei");
        assert_eq!(default_local_part("欧阳娜娜", "x"), "ouyangnana");
        assert_eq!(default_local_part("John Smith", "x"), "johnsmith");
        assert_eq!(default_local_part("李 Lee", "x"), "lilee");
        assert_eq!(default_local_part("★☆", "Zw_01"), "zw_01");
        assert_eq!(default_local_part("..", "zw"), "zw");
        // A name or an account that would start with '-' never makes a default address
        // a data plane tool reads as an option.
        assert_eq!(default_local_part("-rf", "-rf"), "rf");
        assert_eq!(default_local_part("--", "--"), "user");
        assert_eq!(default_local_part("-", "_-x"), "x");
    }

    #[test]
    fn local_parts_are_checked_and_lower_cased() {
        assert_eq!(local_part("Zhang.Wei").unwrap(), "zhang.wei");
        for bad in [
            "",
            ".zw",
            "zw.",
            "z..w",
            "z w",
            "张伟",
            &"a".repeat(65),
            "a+b",
            "-x",
            "--help",
            "_zw",
        ] {
            assert!(local_part(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_mailbox_opens_at_the_default_address_and_claims_it_and_the_member() {
        let events =
            open_default(&member_named(MEMBER, "张伟", true), &domain(true), &nobody).unwrap();
        assert_eq!(events, vec![opened("zhangwei@acme.cn")]);
        assert_eq!(
            events[0].claims(MEMBER).0,
            vec![
                Claim::new(Scope::MailboxAddress, "zhangwei@acme.cn"),
                Claim::new(Scope::MemberMailbox, MEMBER.to_string())
            ]
        );
        assert_eq!(
            Scope::MemberMailbox.taken_error(),
            DomainError::MemberHasMailbox
        );
        assert_eq!(
            Scope::MailboxAddress.taken_error(),
            DomainError::AddressTaken
        );
    }

    #[test]
    fn a_taken_default_address_gets_a_number() {
        let taken = |a: &str| match a {
            "zhangwei@acme.cn" => Some(AddressHolder::Open),
            "zhangwei1@acme.cn" => Some(AddressHolder::InRecycleBin),
            _ => None,
        };
        let events =
            open_default(&member_named(MEMBER, "张伟", true), &domain(true), &taken).unwrap();
        assert_eq!(events, vec![opened("zhangwei2@acme.cn")]);
    }

    #[test]
    fn a_chosen_address_that_is_taken_says_by_whom() {
        let member = member_named(MEMBER, "张伟", true);
        let taken = |a: &str| match a {
            "boss@acme.cn" => Some(AddressHolder::Open),
            "old@acme.cn" => Some(AddressHolder::InRecycleBin),
            _ => None,
        };
        let with = |l: &str| {
            open(
                &member,
                &domain(true),
                OpenMailbox {
                    mailbox_id: BOX,
                    local_part: Some(l.into()),
                    holder: &taken,
                },
            )
        };
        assert_eq!(with("Boss"), Err(DomainError::AddressTaken));
        assert_eq!(with("old"), Err(DomainError::AddressInRecycleBin));
        assert_eq!(with("z..w").unwrap_err().field(), Some("localPart"));
        assert_eq!(with("ceo").unwrap(), vec![opened("ceo@acme.cn")]);
    }

    #[test]
    fn only_an_active_authorized_member_gets_a_mailbox() {
        assert_eq!(
            open_default(&member_named(MEMBER, "张伟", false), &domain(true), &nobody),
            Err(DomainError::MemberNotAuthorized)
        );
        let disabled = Member::evolve(
            member_named(MEMBER, "张伟", true),
            &MemberEvent::MemberDisabled {},
        );
        assert_eq!(
            open_default(&disabled, &domain(true), &nobody),
            Err(DomainError::MemberNotAuthorized)
        );
    }

    #[test]
    fn only_a_verified_domain_of_the_organization_takes_mailboxes() {
        let member = member_named(MEMBER, "张伟", true);
        assert_eq!(
            open_default(&member, &domain(false), &nobody),
            Err(DomainError::DomainNotVerified)
        );
        let mut foreign = domain(true);
        foreign.organization_id = Uuid::from_u128(99);
        assert_eq!(
            open_default(&member, &foreign, &nobody),
            Err(DomainError::NotFound("domain"))
        );
    }

    #[test]
    fn a_batch_decides_each_member_and_never_gives_one_address_twice() {
        let a = member_named(MEMBER, "张伟", true);
        let b = member_named(Uuid::from_u128(0x102), "张伟", true);
        let c = member_named(Uuid::from_u128(0x103), "李娜", false);
        let results = open_batch(
            &[
                (&a, Uuid::from_u128(1)),
                (&b, Uuid::from_u128(2)),
                (&c, Uuid::from_u128(3)),
            ],
            &domain(true),
            &nobody,
        );
        let addresses: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(events) => match &events[0] {
                    E::MailboxOpened { address, .. } => address.clone(),
                    _ => unreachable!(),
                },
                Err(e) => format!("{e:?}"),
            })
            .collect();
        assert_eq!(
            addresses,
            vec![
                "zhangwei@acme.cn",
                "zhangwei1@acme.cn",
                "MemberNotAuthorized"
            ]
        );
    }

    #[test]
    fn the_data_plane_outcome_is_recorded_and_a_failure_can_be_retried() {
        given::<Mailbox>(&[opened("zw@acme.cn")])
            .when(C::RecordProvisioned)
            .then(&[E::MailboxProvisioned {}]);
        let failed = E::MailboxProvisioningFailed {
            reason: "quota service down".into(),
        };
        given::<Mailbox>(&[opened("zw@acme.cn")])
            .when(C::RecordProvisioningFailed {
                reason: "quota service down".into(),
            })
            .then(std::slice::from_ref(&failed));
        given::<Mailbox>(&[opened("zw@acme.cn"), failed.clone()])
            .when(C::RetryProvisioning)
            .then(&[E::MailboxProvisioningRetried {}]);
        given::<Mailbox>(&[opened("zw@acme.cn")])
            .when(C::RetryProvisioning)
            .then_err(DomainError::MailboxNotFailed);
        let s = Mailbox::fold(&[opened("zw@acme.cn"), failed]);
        assert_eq!(s.status, MailboxStatus::Failed);
        assert_eq!(s.failure.as_deref(), Some("quota service down"));
    }

    #[test]
    fn closing_puts_the_mailbox_in_the_recycle_bin_for_30_days() {
        let closed = E::MailboxClosed {
            reason: CloseReason::MemberDeleted,
            closed_at: t0(),
            purge_after: day(30),
        };
        given::<Mailbox>(&[opened("zw@acme.cn"), E::MailboxProvisioned {}])
            .when(C::Close {
                reason: CloseReason::MemberDeleted,
            })
            .then(std::slice::from_ref(&closed));
        given::<Mailbox>(&[opened("zw@acme.cn"), closed.clone()])
            .when(C::Close {
                reason: CloseReason::ByAdmin,
            })
            .then(&[]);
        // The member's mailbox slot is freed; the address stays taken until purged.
        assert_eq!(
            closed.claims(MEMBER),
            (
                vec![],
                vec![Claim::new(Scope::MemberMailbox, MEMBER.to_string())]
            )
        );
    }

    #[test]
    fn a_mailbox_is_restored_before_its_purge_for_an_authorized_member() {
        let history = [
            opened("zw@acme.cn"),
            E::MailboxClosed {
                reason: CloseReason::ByAdmin,
                closed_at: t0(),
                purge_after: day(30),
            },
        ];
        given::<Mailbox>(&history)
            .at(day(29))
            .when(C::Restore {
                member_may_use_mail: true,
            })
            .then(&[E::MailboxRestored {}]);
        given::<Mailbox>(&history)
            .at(day(29))
            .when(C::Restore {
                member_may_use_mail: false,
            })
            .then_err(DomainError::MemberNotAuthorized);
        given::<Mailbox>(&history)
            .at(day(30))
            .when(C::Restore {
                member_may_use_mail: true,
            })
            .then_err(DomainError::MailboxPurgeDue);
        given::<Mailbox>(&history[..1])
            .when(C::Restore {
                member_may_use_mail: true,
            })
            .then_err(DomainError::MailboxClosed);
        assert_eq!(
            E::MailboxRestored {}.claims(MEMBER).0,
            vec![Claim::new(Scope::MemberMailbox, MEMBER.to_string())]
        );
    }

    #[test]
    fn a_disabled_members_mailbox_is_suspended_and_comes_back_when_enabled() {
        let active = [opened("zw@acme.cn"), E::MailboxProvisioned {}];
        given::<Mailbox>(&active)
            .when(C::Suspend)
            .then(&[E::MailboxSuspended {}]);
        let suspended = [active[0].clone(), active[1].clone(), E::MailboxSuspended {}];
        assert_eq!(Mailbox::fold(&suspended).status, MailboxStatus::Suspended);
        given::<Mailbox>(&suspended).when(C::Suspend).then(&[]);
        given::<Mailbox>(&suspended)
            .when(C::Resume)
            .then(&[E::MailboxResumed {}]);
        given::<Mailbox>(&active).when(C::Resume).then(&[]);
        let resumed = [
            active[0].clone(),
            active[1].clone(),
            E::MailboxSuspended {},
            E::MailboxResumed {},
        ];
        assert_eq!(Mailbox::fold(&resumed).status, MailboxStatus::Active);
        // Suspended while the data plane still creates it: it comes up suspended.
        let early = [
            opened("zw@acme.cn"),
            E::MailboxSuspended {},
            E::MailboxProvisioned {},
        ];
        assert_eq!(Mailbox::fold(&early).status, MailboxStatus::Suspended);
        // In the recycle bin logins are refused already: nothing to suspend or resume.
        let closed = [
            opened("zw@acme.cn"),
            E::MailboxClosed {
                reason: CloseReason::ByAdmin,
                closed_at: t0(),
                purge_after: day(30),
            },
        ];
        given::<Mailbox>(&closed).when(C::Suspend).then(&[]);
        given::<Mailbox>(&closed).when(C::Resume).then(&[]);
    }

    #[test]
    fn a_mailbox_in_the_recycle_bin_is_reassigned_to_an_active_member_and_restored() {
        const OTHER: Uuid = Uuid::from_u128(0x202);
        let closed = [
            opened("zw@acme.cn"),
            E::MailboxClosed {
                reason: CloseReason::MemberDeleted,
                closed_at: t0(),
                purge_after: day(30),
            },
        ];
        let reassign = |may: bool, has: bool, org: Uuid| C::Reassign {
            member_id: OTHER,
            member_organization_id: org,
            member_may_use_mail: may,
            member_has_mailbox: has,
        };
        let events = given::<Mailbox>(&closed)
            .at(day(3))
            .when(reassign(true, false, ORG))
            .events();
        assert_eq!(
            events,
            vec![
                E::MailboxReassigned {
                    previous_member_id: MEMBER,
                    member_id: OTHER,
                    address: "zw@acme.cn".into()
                },
                E::MailboxRestored {}
            ]
        );
        let mut history = closed.to_vec();
        history.extend(events.clone());
        let s = Mailbox::fold(&history);
        assert_eq!((s.member_id, s.status), (OTHER, MailboxStatus::Active));
        // The restored mailbox is the new member's one mailbox.
        assert_eq!(
            events[1].claims(OTHER).0,
            vec![Claim::new(Scope::MemberMailbox, OTHER.to_string())]
        );
        given::<Mailbox>(&closed)
            .when(reassign(false, false, ORG))
            .then_err(DomainError::MemberNotAuthorized);
        given::<Mailbox>(&closed)
            .when(reassign(true, true, ORG))
            .then_err(DomainError::MemberHasMailbox);
        given::<Mailbox>(&closed)
            .when(reassign(true, false, Uuid::from_u128(99)))
            .then_err(DomainError::NotFound("member"));
        given::<Mailbox>(&closed)
            .at(day(30))
            .when(reassign(true, false, ORG))
            .then_err(DomainError::MailboxPurgeDue);
        given::<Mailbox>(&closed[..1])
            .when(reassign(true, false, ORG))
            .then_err(DomainError::MailboxNotClosed);
    }

    #[test]
    fn a_mailbox_is_purged_on_request_or_when_due_and_its_address_is_freed() {
        let history = [
            opened("zw@acme.cn"),
            E::MailboxClosed {
                reason: CloseReason::ByAdmin,
                closed_at: t0(),
                purge_after: day(30),
            },
        ];
        let purged = E::MailboxPurged {
            address: "zw@acme.cn".into(),
        };
        given::<Mailbox>(&history)
            .at(day(1))
            .when(C::Purge)
            .then(std::slice::from_ref(&purged));
        given::<Mailbox>(&history)
            .at(day(29))
            .when(C::PurgeIfDue)
            .then(&[]);
        given::<Mailbox>(&history)
            .at(day(30))
            .when(C::PurgeIfDue)
            .then(std::slice::from_ref(&purged));
        given::<Mailbox>(&history[..1])
            .when(C::Purge)
            .then_err(DomainError::MailboxNotClosed);
        assert_eq!(
            purged.claims(MEMBER).1,
            vec![Claim::new(Scope::MailboxAddress, "zw@acme.cn")]
        );
        given::<Mailbox>(&[history[0].clone(), history[1].clone(), purged])
            .when(C::Purge)
            .then_err(DomainError::NotFound("mailbox"));
    }

    #[test]
    fn a_replaced_domain_renames_the_mailbox_and_moves_the_address_claim() {
        let events = given::<Mailbox>(&[opened("zw@acme.cn")])
            .when(C::Rename {
                domain_name: "acme.com.cn".into(),
            })
            .events();
        assert_eq!(
            events,
            vec![E::MailboxRenamed {
                previous_address: "zw@acme.cn".into(),
                address: "zw@acme.com.cn".into()
            }]
        );
        assert_eq!(
            events[0].claims(MEMBER),
            (
                vec![Claim::new(Scope::MailboxAddress, "zw@acme.com.cn")],
                vec![Claim::new(Scope::MailboxAddress, "zw@acme.cn")]
            )
        );
    }

    #[test]
    fn events_round_trip_through_json_with_stable_type_names() {
        let e = E::MailboxClosed {
            reason: CloseReason::SubscriptionExpired,
            closed_at: t0(),
            purge_after: day(30),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "MailboxClosed");
        assert_eq!(v["data"]["reason"], "SUBSCRIPTION_EXPIRED");
        assert_eq!(serde_json::from_value::<E>(v).unwrap(), e);
    }
}
