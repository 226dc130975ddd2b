//! What a domain publishes: the records to require, normalizing names, judging DNS answers.

use super::*;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationMode {
    /// Mail flows through the provider: MX, SPF and DKIM records.
    Full,
    /// Only proves the domain is the organization's: a TXT record. Internal mail only.
    Ownership,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DomainStatus {
    #[default]
    Pending,
    Verified,
    Failed,
    /// Another organization verified the name first; this claim is over.
    Taken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordType {
    Mx,
    Txt,
    Cname,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordStatus {
    Ok,
    Missing,
    Mismatch,
    /// Another provider's MX record is published beside ours.
    Conflict,
}

/// A DNS record the organization must publish. `host` is relative to the domain (`@` is
/// the domain itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequiredRecord {
    #[serde(rename = "type")]
    pub record_type: RecordType,
    pub host: String,
    pub value: String,
    /// MX only.
    pub priority: Option<u16>,
}

/// One required record and what the lookup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordResult {
    #[serde(flatten)]
    pub record: RequiredRecord,
    pub status: RecordStatus,
    pub found: Vec<String>,
}

/// The mail provider's host names, a value from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub mx_hosts: Vec<(u16, String)>,
    pub spf_include: String,
    pub dkim_selector: String,
    pub dkim_host: String,
    pub ownership_prefix: String,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            mx_hosts: vec![
                (5, "mx1.mailplane.test".into()),
                (10, "mx2.mailplane.test".into()),
            ],
            spf_include: "spf.mailplane.test".into(),
            dkim_selector: "mp1".into(),
            dkim_host: "dkim.mailplane.test".into(),
            ownership_prefix: "mailplane-verification=".into(),
        }
    }
}

/// The records a domain must publish in a mode.
pub fn required_records(
    provider: &Provider,
    mode: VerificationMode,
    ownership_token: &str,
) -> Vec<RequiredRecord> {
    match mode {
        VerificationMode::Full => {
            let mut records: Vec<RequiredRecord> = provider
                .mx_hosts
                .iter()
                .map(|(priority, host)| RequiredRecord {
                    record_type: RecordType::Mx,
                    host: "@".into(),
                    value: host.clone(),
                    priority: Some(*priority),
                })
                .collect();
            records.push(RequiredRecord {
                record_type: RecordType::Txt,
                host: "@".into(),
                value: format!("v=spf1 include:{} -all", provider.spf_include),
                priority: None,
            });
            records.push(RequiredRecord {
                record_type: RecordType::Cname,
                host: format!("{}._domainkey", provider.dkim_selector),
                value: provider.dkim_host.clone(),
                priority: None,
            });
            // MX, SPF and DKIM are the same for every tenant: without the token a squatter's
            // claim would verify the day the real owner points the domain at us.
            records.push(ownership_record(provider, ownership_token));
            records
        }
        VerificationMode::Ownership => vec![ownership_record(provider, ownership_token)],
    }
}

/// The TXT record only the organization that added the domain knows the value of.
fn ownership_record(provider: &Provider, ownership_token: &str) -> RequiredRecord {
    RequiredRecord {
        record_type: RecordType::Txt,
        host: "_dnsauth".into(),
        value: format!("{}{ownership_token}", provider.ownership_prefix),
        priority: None,
    }
}

/// What a DNS lookup of the domain found (the DNS worker fills it in).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsAnswers {
    /// MX records of the domain: (priority, host).
    pub mx: Vec<(u16, String)>,
    /// TXT records of the domain itself.
    pub txt: Vec<String>,
    /// CNAME targets by host relative to the domain (`mp1._domainkey`).
    pub cname: Vec<(String, String)>,
    /// TXT records of `_dnsauth.<domain>`.
    pub dnsauth_txt: Vec<String>,
}

pub(crate) fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Checks each required record against the answers.
pub fn check_records(
    provider: &Provider,
    required: &[RequiredRecord],
    answers: &DnsAnswers,
) -> Vec<RecordResult> {
    required
        .iter()
        .map(|r| {
            let (status, found) = match r.record_type {
                RecordType::Mx => {
                    let found: Vec<String> =
                        answers.mx.iter().map(|(p, h)| format!("{p} {h}")).collect();
                    let foreign = answers.mx.iter().any(|(_, h)| {
                        !provider.mx_hosts.iter().any(|(_, ours)| same_host(h, ours))
                    });
                    let ours = answers.mx.iter().find(|(_, h)| same_host(h, &r.value));
                    let status = match ours {
                        _ if foreign => RecordStatus::Conflict,
                        Some((p, _)) if Some(*p) == r.priority => RecordStatus::Ok,
                        Some(_) => RecordStatus::Mismatch,
                        None => RecordStatus::Missing,
                    };
                    (status, found)
                }
                RecordType::Txt => {
                    let list = if r.host == "@" {
                        &answers.txt
                    } else {
                        &answers.dnsauth_txt
                    };
                    let relevant: Vec<String> = if r.host == "@" {
                        list.iter()
                            .filter(|t| t.starts_with("v=spf1"))
                            .cloned()
                            .collect()
                    } else {
                        list.clone()
                    };
                    let status = if relevant.iter().any(|t| t.trim() == r.value) {
                        RecordStatus::Ok
                    } else if relevant.is_empty() {
                        RecordStatus::Missing
                    } else {
                        RecordStatus::Mismatch
                    };
                    (status, relevant)
                }
                RecordType::Cname => {
                    let found: Vec<String> = answers
                        .cname
                        .iter()
                        .filter(|(host, _)| same_host(host, &r.host))
                        .map(|(_, target)| target.clone())
                        .collect();
                    let status = if found.iter().any(|t| same_host(t, &r.value)) {
                        RecordStatus::Ok
                    } else if found.is_empty() {
                        RecordStatus::Missing
                    } else {
                        RecordStatus::Mismatch
                    };
                    (status, found)
                }
            };
            RecordResult {
                record: r.clone(),
                status,
                found,
            }
        })
        .collect()
}

/// A domain name in its two forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName {
    /// Lower-case ASCII (punycode for IDNs): the key of uniqueness and of DNS lookups.
    pub ascii: String,
    /// For display.
    pub unicode: String,
}

/// Normalizes a domain: trim, lower case, IDNA to ASCII; checks it is a real hostname with
/// at least two labels.
pub fn normalize(name: &str) -> Result<DomainName, DomainError> {
    let bad = |why: &str| DomainError::invalid("name", why.to_owned());
    let trimmed = name.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(bad("is empty"));
    }
    let ascii = idna::domain_to_ascii(&trimmed.to_lowercase())
        .map_err(|_| bad("is not a valid domain name"))?;
    if ascii.len() > 253 {
        return Err(bad("is longer than 253 characters"));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("needs at least two labels, like example.com"));
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("has an empty or over-long label"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("may hold only letters, digits and '-' in each label"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("has a label starting or ending with '-'"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("must end in a top-level domain, not a number"));
    }
    let (unicode, _) = idna::domain_to_unicode(&ascii);
    Ok(DomainName { ascii, unicode })
}
