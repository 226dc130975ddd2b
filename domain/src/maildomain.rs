//! `maildomain-{id}`: a mail domain of an organization and its DNS verification.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::claims::{Claim, Scope};
use crate::error::DomainError;
use crate::Decider;

mod records;

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
    },
    DomainReplaced {
        previous_name: String,
        name: String,
        display_name: String,
        results: Vec<RecordResult>,
    },
    DomainRemoved {
        name: String,
    },
}

impl MailDomainEvent {
    /// Uniqueness keys this event claims and releases.
    pub fn claims(&self) -> (Vec<Claim>, Vec<Claim>) {
        let key = |n: &str| Claim::new(Scope::MailDomain, n);
        match self {
            MailDomainEvent::DomainAdded { name, .. } => (vec![key(name)], vec![]),
            MailDomainEvent::DomainReplaced {
                previous_name,
                name,
                ..
            } => (vec![key(name)], vec![key(previous_name)]),
            MailDomainEvent::DomainRemoved { name } => (vec![], vec![key(name)]),
            _ => (vec![], vec![]),
        }
    }
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
}

impl MailDomainState {
    /// Verified in some mode: mailboxes may be opened on it.
    pub fn allows_mailboxes(&self) -> bool {
        self.id.is_some() && !self.removed && !self.verified_modes.is_empty()
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
        /// Random token for OWNERSHIP's TXT record, made by the caller.
        ownership_token: String,
        provider: Provider,
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
}

/// The mail domain decider.
pub struct MailDomain;

fn require(s: &MailDomainState) -> Result<VerificationMode, DomainError> {
    match (s.id, s.mode) {
        (Some(_), Some(mode)) if !s.removed => Ok(mode),
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
            } => {
                if s.id.is_some() {
                    return Err(DomainError::DomainExists);
                }
                let name = normalize(&name)?;
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
                Ok(vec![E::DomainModeChanged {
                    mode,
                    records: required_records(&provider, mode, &ownership_token),
                }])
            }
            C::Check { answers, provider } => {
                let mode = require(s)?;
                let results = check_records(&provider, &s.records, &answers);
                let verified = all_ok(&results);
                let mut events = vec![E::DomainVerificationChecked {
                    name: s.name.clone(),
                    mode,
                    results,
                }];
                if verified && !s.verified_modes.contains(&mode) {
                    events.push(E::DomainVerified { mode });
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
                }])
            }
            C::Remove { mailboxes_using } => {
                require(s)?;
                if mailboxes_using > 0 {
                    return Err(DomainError::DomainInUse);
                }
                Ok(vec![E::DomainRemoved {
                    name: s.name.clone(),
                }])
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
            E::DomainVerified { mode } => {
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
        }
        s
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
            dnsauth_txt: vec![],
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
            ]
        );
        assert_eq!(
            events[0].claims().0,
            vec![Claim::new(Scope::MailDomain, "acme.cn")]
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
            })
            .events();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            E::DomainVerified {
                mode: VerificationMode::Full
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
            })
            .events()
            .contains(&E::DomainVerified {
                mode: VerificationMode::Full,
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
                vec![Claim::new(Scope::MailDomain, "acme.com.cn")],
                vec![Claim::new(Scope::MailDomain, "acme.cn")]
            )
        );
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
                name: "acme.cn".into()
            }]
        );
        assert_eq!(
            events[0].claims().1,
            vec![Claim::new(Scope::MailDomain, "acme.cn")]
        );
        given::<MailDomain>(&[added(VerificationMode::Full), events[0].clone()])
            .when(C::Remove { mailboxes_using: 0 })
            .then_err(DomainError::NotFound("domain"));
    }
}
