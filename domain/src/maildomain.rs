//! `maildomain-{id}`: a mail domain of an organization and its DNS verification.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::claims::{Claim, Scope};
use crate::error::DomainError;
use crate::Decider;

mod ownership;
mod records;

pub use ownership::*;
pub use records::*;

/// Most domains one organization may hold.
pub const MAX_DOMAINS_PER_ORGANIZATION: u32 = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum MailDomainEvent {
    DomainAdded {
        domain_id: Uuid,
        organization_id: Uuid,
        name: String,
        display_name: String,
        mode: VerificationMode,
        records: Vec<RequiredRecord>,
    },
    DomainModeChanged {
        mode: VerificationMode,
        records: Vec<RequiredRecord>,
    },
    DomainVerificationChecked {
        name: String,
        mode: VerificationMode,
        results: Vec<RecordResult>,
    },
    DomainVerified {
        mode: VerificationMode,
        /// The name now owned on the platform (empty in events before ownership tokens,
        /// whose name was claimed when added).
        #[serde(default)]
        name: String,
    },
    DomainReplaced {
        previous_name: String,
        name: String,
        display_name: String,
        results: Vec<RecordResult>,
        #[serde(default)]
        organization_id: Uuid,
    },
    DomainRemoved {
        name: String,
        #[serde(default)]
        organization_id: Uuid,
    },
    /// The organization's claim to the name is over: another verified it first, or the
    /// organization was dissolved. The name is free for its owner (or anyone).
    DomainClaimEnded {
        name: String,
        organization_id: Uuid,
        reason: ClaimEnd,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MailDomainState {
    pub id: Option<Uuid>,
    pub organization_id: Uuid,
    pub name: String,
    pub display_name: String,
    pub mode: Option<VerificationMode>,
    pub records: Vec<RequiredRecord>,
    pub status: DomainStatus,
    pub verified_modes: BTreeSet<VerificationMode>,
    pub last_results: Vec<RecordResult>,
    pub removed: bool,
    /// Set when the claim ended (the domain then counts as gone).
    pub ended: Option<ClaimEnd>,
}

impl MailDomainState {
    /// The token of the organization's `_dnsauth` record, when its records have one.
    pub fn ownership_token(&self, provider: &Provider) -> Option<String> {
        self.records
            .iter()
            .find(|r| r.record_type == RecordType::Txt && r.host == "_dnsauth")
            .and_then(|r| r.value.strip_prefix(&provider.ownership_prefix))
            .map(str::to_owned)
    }

    /// Verified in some mode: mailboxes may be opened on it.
    pub fn allows_mailboxes(&self) -> bool {
        self.id.is_some()
            && !self.removed
            && self.ended.is_none()
            && !self.verified_modes.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MailDomainCommand {
    Add {
        domain_id: Uuid,
        organization_id: Uuid,
        name: String,
        mode: VerificationMode,
        /// Domains the organization holds now, from the read model.
        domains_in_organization: u32,
        /// Random token for the `_dnsauth` TXT record (both modes), made by the caller.
        ownership_token: String,
        provider: Provider,
        /// Another organization owns (has verified) the name, from the claims table.
        owned_elsewhere: bool,
    },
    ChangeMode {
        mode: VerificationMode,
        ownership_token: String,
        provider: Provider,
    },
    /// Judges looked-up DNS answers.
    Check {
        answers: DnsAnswers,
        provider: Provider,
        /// Another organization verified the name meanwhile, from the claims table.
        owned_elsewhere: bool,
    },
    Replace {
        name: String,
        answers: DnsAnswers,
        provider: Provider,
    },
    Remove {
        /// Mailboxes (not purged) on the domain, from the read model.
        mailboxes_using: u32,
    },
    /// Ends the claim (the system: another organization verified it, or this one was
    /// dissolved).
    EndClaim { reason: ClaimEnd },
}

/// The mail domain decider.
pub struct MailDomain;

fn require(s: &MailDomainState) -> Result<VerificationMode, DomainError> {
    match (s.id, s.mode) {
        (Some(_), Some(mode)) if !s.removed && s.ended.is_none() => Ok(mode),
        _ => Err(DomainError::NotFound("domain")),
    }
}

fn all_ok(results: &[RecordResult]) -> bool {
    !results.is_empty() && results.iter().all(|r| r.status == RecordStatus::Ok)
}

impl Decider for MailDomain {
    type State = MailDomainState;
    type Command = MailDomainCommand;
    type Event = MailDomainEvent;

    fn decide(
        s: &MailDomainState,
        command: MailDomainCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<MailDomainEvent>, DomainError> {
        use MailDomainCommand as C;
        use MailDomainEvent as E;
        match command {
            C::Add {
                domain_id,
                organization_id,
                name,
                mode,
                domains_in_organization,
                ownership_token,
                provider,
                owned_elsewhere,
            } => {
                if s.id.is_some() {
                    return Err(DomainError::DomainExists);
                }
                let name = normalize(&name)?;
                if owned_elsewhere {
                    return Err(DomainError::DomainTaken);
                }
                if domains_in_organization >= MAX_DOMAINS_PER_ORGANIZATION {
                    return Err(DomainError::invalid(
                        "name",
                        "an organization holds at most 20 domains",
                    ));
                }
                Ok(vec![E::DomainAdded {
                    domain_id,
                    organization_id,
                    name: name.ascii,
                    display_name: name.unicode,
                    mode,
                    records: required_records(&provider, mode, &ownership_token),
                }])
            }
            C::ChangeMode {
                mode,
                ownership_token,
                provider,
            } => {
                let current = require(s)?;
                if current == mode {
                    return Ok(vec![]);
                }
                // The organization's token stays what it published first.
                let token = s.ownership_token(&provider).unwrap_or(ownership_token);
                Ok(vec![E::DomainModeChanged {
                    mode,
                    records: required_records(&provider, mode, &token),
                }])
            }
            C::Check {
                answers,
                provider,
                owned_elsewhere,
            } => {
                let mode = require(s)?;
                let results = check_records(&provider, &s.records, &answers);
                let verified = all_ok(&results);
                let mut events = vec![E::DomainVerificationChecked {
                    name: s.name.clone(),
                    mode,
                    results,
                }];
                if owned_elsewhere && s.verified_modes.is_empty() {
                    events.push(ended(s, ClaimEnd::VerifiedElsewhere));
                } else if verified && !s.verified_modes.contains(&mode) {
                    events.push(E::DomainVerified {
                        mode,
                        name: s.name.clone(),
                    });
                }
                Ok(events)
            }
            C::Replace {
                name,
                answers,
                provider,
            } => {
                require(s)?;
                let new = normalize(&name)?;
                if new.ascii == s.name {
                    return Ok(vec![]);
                }
                let results = check_records(&provider, &s.records, &answers);
                if !all_ok(&results) {
                    return Err(DomainError::DomainNotVerified);
                }
                Ok(vec![E::DomainReplaced {
                    previous_name: s.name.clone(),
                    name: new.ascii,
                    display_name: new.unicode,
                    results,
                    organization_id: s.organization_id,
                }])
            }
            C::Remove { mailboxes_using } => {
                require(s)?;
                if mailboxes_using > 0 {
                    return Err(DomainError::DomainInUse);
                }
                Ok(vec![E::DomainRemoved {
                    name: s.name.clone(),
                    organization_id: s.organization_id,
                }])
            }
            C::EndClaim { reason } => {
                if require(s).is_err() {
                    return Ok(vec![]);
                }
                // The owner keeps its name when someone else's claim is what ended.
                if reason == ClaimEnd::VerifiedElsewhere && !s.verified_modes.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![ended(s, reason)])
            }
        }
    }

    fn evolve(mut s: MailDomainState, event: &MailDomainEvent) -> MailDomainState {
        use MailDomainEvent as E;
        match event {
            E::DomainAdded {
                domain_id,
                organization_id,
                name,
                display_name,
                mode,
                records,
            } => {
                s.id = Some(*domain_id);
                s.organization_id = *organization_id;
                s.name = name.clone();
                s.display_name = display_name.clone();
                s.mode = Some(*mode);
                s.records = records.clone();
                s.status = DomainStatus::Pending;
            }
            E::DomainModeChanged { mode, records } => {
                s.mode = Some(*mode);
                s.records = records.clone();
                if !s.verified_modes.contains(mode) {
                    s.status = DomainStatus::Pending;
                }
            }
            E::DomainVerificationChecked { results, mode, .. } => {
                s.last_results = results.clone();
                if !all_ok(results) && !s.verified_modes.contains(mode) {
                    s.status = DomainStatus::Failed;
                }
            }
            E::DomainVerified { mode, .. } => {
                s.verified_modes.insert(*mode);
                s.status = DomainStatus::Verified;
            }
            E::DomainReplaced {
                name,
                display_name,
                results,
                ..
            } => {
                s.name = name.clone();
                s.display_name = display_name.clone();
                s.last_results = results.clone();
            }
            E::DomainRemoved { .. } => s.removed = true,
            E::DomainClaimEnded { reason, .. } => {
                s.ended = Some(*reason);
                match reason {
                    ClaimEnd::VerifiedElsewhere => s.status = DomainStatus::Taken,
                    ClaimEnd::OrganizationDissolved => s.removed = true,
                }
            }
        }
        s
    }
}

fn ended(s: &MailDomainState, reason: ClaimEnd) -> MailDomainEvent {
    MailDomainEvent::DomainClaimEnded {
        name: s.name.clone(),
        organization_id: s.organization_id,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::given;
    use MailDomainCommand as C;
    use MailDomainEvent as E;

    const DOMAIN: Uuid = Uuid::from_u128(0xd0);
    const ORG: Uuid = Uuid::from_u128(0x0f3c);

    fn add(name: &str, mode: VerificationMode, existing: u32) -> C {
        C::Add {
            domain_id: DOMAIN,
            organization_id: ORG,
            name: name.into(),
            mode,
            domains_in_organization: existing,
            ownership_token: "tok123".into(),
            provider: Provider::default(),
            owned_elsewhere: false,
        }
    }

    fn added(mode: VerificationMode) -> E {
        E::DomainAdded {
            domain_id: DOMAIN,
            organization_id: ORG,
            name: "acme.cn".into(),
            display_name: "acme.cn".into(),
            mode,
            records: required_records(&Provider::default(), mode, "tok123"),
        }
    }

    fn full_answers() -> DnsAnswers {
        DnsAnswers {
            mx: vec![
                (5, "mx1.mailplane.test.".into()),
                (10, "mx2.mailplane.test".into()),
            ],
            txt: vec![
                "v=spf1 include:spf.mailplane.test -all".into(),
                "google-site-verification=x".into(),
            ],
            cname: vec![("mp1._domainkey".into(), "dkim.mailplane.test.".into())],
            dnsauth_txt: vec!["mailplane-verification=tok123".into()],
        }
    }

    #[test]
    fn names_are_trimmed_lower_cased_and_turned_into_ascii() {
        assert_eq!(
            normalize("  Acme.CN. ").unwrap(),
            DomainName {
                ascii: "acme.cn".into(),
                unicode: "acme.cn".into()
            }
        );
        let idn = normalize("中国.example").unwrap();
        assert_eq!(idn.ascii, "xn--fiqs8s.example");
        assert_eq!(idn.unicode, "中国.example");
        for bad in [
            "",
            "acme",
            "-acme.cn",
            "acme-.cn",
            "ac me.cn",
            "acme..cn",
            "acme.123",
            &format!("{}.cn", "a".repeat(64)),
            "a_b.cn",
        ] {
            assert_eq!(normalize(bad).unwrap_err().field(), Some("name"), "{bad}");
        }
    }

    #[test]
    fn a_full_domain_must_publish_mx_spf_and_dkim() {
        let events = given::<MailDomain>(&[])
            .when(add("ACME.cn", VerificationMode::Full, 0))
            .events();
        assert_eq!(events, vec![added(VerificationMode::Full)]);
        let E::DomainAdded { records, .. } = &events[0] else {
            panic!()
        };
        let kinds: Vec<(RecordType, &str, &str)> = records
            .iter()
            .map(|r| (r.record_type, r.host.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (RecordType::Mx, "@", "mx1.mailplane.test"),
                (RecordType::Mx, "@", "mx2.mailplane.test"),
                (
                    RecordType::Txt,
                    "@",
                    "v=spf1 include:spf.mailplane.test -all"
                ),
                (RecordType::Cname, "mp1._domainkey", "dkim.mailplane.test"),
                (RecordType::Txt, "_dnsauth", "mailplane-verification=tok123"),
            ]
        );
        // Adding claims the name for this organization only: others may add it too.
        assert_eq!(
            events[0].claims().0,
            vec![Claim::in_organization(
                Scope::MailDomainClaim,
                ORG,
                "acme.cn"
            )]
        );
        assert_eq!(Scope::MailDomain.taken_error(), DomainError::DomainTaken);
    }

    #[test]
    fn an_ownership_domain_publishes_one_txt_record_with_a_token() {
        let records = required_records(&Provider::default(), VerificationMode::Ownership, "tok123");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].host, "_dnsauth");
        assert_eq!(records[0].value, "mailplane-verification=tok123");
    }

    #[test]
    fn an_organization_holds_at_most_20_domains() {
        given::<MailDomain>(&[])
            .when(add("acme.cn", VerificationMode::Full, 20))
            .then_invalid();
        given::<MailDomain>(&[])
            .when(add("acme.cn", VerificationMode::Full, 19))
            .then(&[added(VerificationMode::Full)]);
        given::<MailDomain>(&[])
            .when(add("acme", VerificationMode::Full, 0))
            .then_invalid();
    }

    #[test]
    fn all_records_ok_verifies_the_domain() {
        let events = given::<MailDomain>(&[added(VerificationMode::Full)])
            .when(C::Check {
                answers: full_answers(),
                provider: Provider::default(),
                owned_elsewhere: false,
            })
            .events();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            E::DomainVerified {
                mode: VerificationMode::Full,
                name: "acme.cn".into(),
            }
        );
        let s = MailDomain::fold(&[
            added(VerificationMode::Full),
            events[0].clone(),
            events[1].clone(),
        ]);
        assert_eq!(s.status, DomainStatus::Verified);
        assert!(s.allows_mailboxes());
    }

    #[test]
    fn each_record_is_judged_ok_missing_mismatch_or_conflict() {
        let provider = Provider::default();
        let required = required_records(&provider, VerificationMode::Full, "");
        let answers = DnsAnswers {
            mx: vec![(20, "mx1.mailplane.test".into())],
            txt: vec!["v=spf1 include:other.test -all".into()],
            cname: vec![],
            dnsauth_txt: vec![],
        };
        let statuses: Vec<RecordStatus> = check_records(&provider, &required, &answers)
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses,
            vec![
                RecordStatus::Mismatch,
                RecordStatus::Missing,
                RecordStatus::Mismatch,
                RecordStatus::Missing,
                RecordStatus::Missing
            ]
        );
        let foreign = DnsAnswers {
            mx: vec![
                (5, "mx1.mailplane.test".into()),
                (1, "mx.othermail.com".into()),
            ],
            ..full_answers()
        };
        let results = check_records(&provider, &required, &foreign);
        assert_eq!(results[0].status, RecordStatus::Conflict);
        assert_eq!(
            results[0].found,
            vec!["5 mx1.mailplane.test", "1 mx.othermail.com"]
        );
        assert_eq!(
            check_records(&provider, &required, &DnsAnswers::default())[0].status,
            RecordStatus::Missing
        );
    }

    #[test]
    fn a_failed_check_records_results_and_marks_the_domain_failed() {
        let events = given::<MailDomain>(&[added(VerificationMode::Full)])
            .when(C::Check {
                answers: DnsAnswers::default(),
                provider: Provider::default(),
                owned_elsewhere: false,
            })
            .events();
        assert_eq!(events.len(), 1);
        let s = MailDomain::fold(&[added(VerificationMode::Full), events[0].clone()]);
        assert_eq!(s.status, DomainStatus::Failed);
        assert!(!s.allows_mailboxes());
    }

    #[test]
    fn ownership_verification_allows_mailboxes_and_switching_to_full_needs_a_new_check() {
        let answers = DnsAnswers {
            dnsauth_txt: vec!["mailplane-verification=tok123".into()],
            ..Default::default()
        };
        let checked = MailDomain::decide(
            &MailDomain::fold(&[added(VerificationMode::Ownership)]),
            C::Check {
                answers,
                provider: Provider::default(),
                owned_elsewhere: false,
            },
            crate::harness::t0(),
        )
        .unwrap();
        let mut history = vec![added(VerificationMode::Ownership)];
        history.extend(checked);
        assert!(MailDomain::fold(&history).allows_mailboxes());
        let switched = MailDomain::decide(
            &MailDomain::fold(&history),
            C::ChangeMode {
                mode: VerificationMode::Full,
                ownership_token: "".into(),
                provider: Provider::default(),
            },
            crate::harness::t0(),
        )
        .unwrap();
        history.extend(switched);
        let s = MailDomain::fold(&history);
        assert_eq!(s.status, DomainStatus::Pending);
        assert!(!s.verified_modes.contains(&VerificationMode::Full));
        assert!(
            s.allows_mailboxes(),
            "internal mail keeps working meanwhile"
        );
        given::<MailDomain>(&history)
            .when(C::Check {
                answers: full_answers(),
                provider: Provider::default(),
                owned_elsewhere: false,
            })
            .events()
            .contains(&E::DomainVerified {
                mode: VerificationMode::Full,
                name: "acme.cn".into(),
            })
            .then_some(())
            .expect("verified in full mode after the new check");
    }

    #[test]
    fn a_domain_is_replaced_only_when_the_new_name_passes_the_check() {
        let history = [
            added(VerificationMode::Full),
            E::DomainVerified {
                mode: VerificationMode::Full,
                name: "acme.cn".into(),
            },
        ];
        given::<MailDomain>(&history)
            .when(C::Replace {
                name: "acme.com.cn".into(),
                answers: DnsAnswers::default(),
                provider: Provider::default(),
            })
            .then_err(DomainError::DomainNotVerified);
        let events = given::<MailDomain>(&history)
            .when(C::Replace {
                name: "Acme.com.cn".into(),
                answers: full_answers(),
                provider: Provider::default(),
            })
            .events();
        let E::DomainReplaced {
            previous_name,
            name,
            ..
        } = &events[0]
        else {
            panic!()
        };
        assert_eq!(
            (previous_name.as_str(), name.as_str()),
            ("acme.cn", "acme.com.cn")
        );
        assert_eq!(
            events[0].claims(),
            (
                vec![
                    Claim::new(Scope::MailDomain, "acme.com.cn"),
                    Claim::in_organization(Scope::MailDomainClaim, ORG, "acme.com.cn")
                ],
                vec![
                    Claim::new(Scope::MailDomain, "acme.cn"),
                    Claim::in_organization(Scope::MailDomainClaim, ORG, "acme.cn")
                ]
            )
        );
    }

    #[test]
    fn a_squatters_claim_never_verifies_on_the_owners_records_and_ends_when_the_owner_verifies() {
        // The owner publishes MX, SPF, DKIM and its own token; the squatter's token is not
        // there, so its check fails although the shared records pass.
        let squatter_added = E::DomainAdded {
            domain_id: DOMAIN,
            organization_id: ORG,
            name: "acme.cn".into(),
            display_name: "acme.cn".into(),
            mode: VerificationMode::Full,
            records: required_records(&Provider::default(), VerificationMode::Full, "squat"),
        };
        let events = given::<MailDomain>(std::slice::from_ref(&squatter_added))
            .when(C::Check {
                answers: full_answers(),
                provider: Provider::default(),
                owned_elsewhere: false,
            })
            .events();
        assert_eq!(events.len(), 1, "checked, not verified: {events:?}");
        // Once the owner verified, the squatter's next check ends its claim.
        let events = given::<MailDomain>(std::slice::from_ref(&squatter_added))
            .when(C::Check {
                answers: full_answers(),
                provider: Provider::default(),
                owned_elsewhere: true,
            })
            .events();
        let ended = E::DomainClaimEnded {
            name: "acme.cn".into(),
            organization_id: ORG,
            reason: ClaimEnd::VerifiedElsewhere,
        };
        assert_eq!(events[1], ended);
        let s = MailDomain::fold(&[squatter_added.clone(), ended.clone()]);
        assert_eq!(s.status, DomainStatus::Taken);
        assert!(!s.allows_mailboxes());
        assert_eq!(
            ended.claims().1,
            vec![
                Claim::new(Scope::MailDomain, "acme.cn"),
                Claim::in_organization(Scope::MailDomainClaim, ORG, "acme.cn")
            ]
        );
        // Ending by the system is idempotent and never ends the owner's claim.
        given::<MailDomain>(&[squatter_added, ended])
            .when(C::EndClaim {
                reason: ClaimEnd::VerifiedElsewhere,
            })
            .then(&[]);
        given::<MailDomain>(&[
            added(VerificationMode::Full),
            E::DomainVerified {
                mode: VerificationMode::Full,
                name: "acme.cn".into(),
            },
        ])
        .when(C::EndClaim {
            reason: ClaimEnd::VerifiedElsewhere,
        })
        .then(&[]);
    }

    #[test]
    fn a_name_verified_by_another_organization_cannot_be_added_and_a_pending_one_can() {
        let mut command = add("acme.cn", VerificationMode::Full, 0);
        if let C::Add {
            owned_elsewhere, ..
        } = &mut command
        {
            *owned_elsewhere = true;
        }
        given::<MailDomain>(&[])
            .when(command)
            .then_err(DomainError::DomainTaken);
        // Verifying claims the name on the platform: the first to verify owns it.
        let verified = E::DomainVerified {
            mode: VerificationMode::Full,
            name: "acme.cn".into(),
        };
        assert_eq!(
            verified.claims().0,
            vec![Claim::new(Scope::MailDomain, "acme.cn")]
        );
    }

    #[test]
    fn a_dissolved_organizations_domain_is_gone_and_its_name_released() {
        let events = given::<MailDomain>(&[added(VerificationMode::Full)])
            .when(C::EndClaim {
                reason: ClaimEnd::OrganizationDissolved,
            })
            .events();
        let s = MailDomain::fold(&[added(VerificationMode::Full), events[0].clone()]);
        assert!(s.removed);
        assert_eq!(events[0].claims().1.len(), 2);
    }

    #[test]
    fn a_domain_in_use_is_not_removed() {
        given::<MailDomain>(&[added(VerificationMode::Full)])
            .when(C::Remove { mailboxes_using: 1 })
            .then_err(DomainError::DomainInUse);
        let events = given::<MailDomain>(&[added(VerificationMode::Full)])
            .when(C::Remove { mailboxes_using: 0 })
            .events();
        assert_eq!(
            events,
            vec![E::DomainRemoved {
                name: "acme.cn".into(),
                organization_id: ORG,
            }]
        );
        assert_eq!(
            events[0].claims().1,
            vec![
                Claim::new(Scope::MailDomain, "acme.cn"),
                Claim::in_organization(Scope::MailDomainClaim, ORG, "acme.cn")
            ],
            "removing releases the name, owned or only claimed"
        );
        given::<MailDomain>(&[added(VerificationMode::Full), events[0].clone()])
            .when(C::Remove { mailboxes_using: 0 })
            .then_err(DomainError::NotFound("domain"));
    }
}
