//! Opening mailboxes: local parts, default addresses from the pinyin of names, numbering.

use super::*;

/// Who holds an address now, as the address lookup tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressHolder {
    /// An open (or provisioning) mailbox.
    Open,
    /// A closed mailbox waiting in the recycle bin.
    InRecycleBin,
}

/// Checks a local part: 1–64 of letters, digits, `.`, `-`, `_`, lower-cased, starting with a
/// letter or digit (a leading `-` would reach the data plane's tools as an option), not
/// ending with `.`, no `..`.
pub fn local_part(value: &str) -> Result<String, DomainError> {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() || v.len() > 64 {
        return Err(DomainError::invalid(
            "localPart",
            "must be 1 to 64 characters",
        ));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(DomainError::invalid(
            "localPart",
            "may hold only letters, digits, '.', '-' and '_'",
        ));
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(DomainError::invalid(
            "localPart",
            "must start with a letter or a digit",
        ));
    }
    if v.ends_with('.') || v.contains("..") {
        return Err(DomainError::invalid(
            "localPart",
            "must not start or end with '.' nor hold '..'",
        ));
    }
    Ok(v)
}

/// The default local part of a member: the pinyin of the name without tones (张伟 →
/// zhangwei), Latin names lower-cased without spaces; the account when nothing usable
/// is left.
pub fn default_local_part(name: &str, account: &str) -> String {
    let mut out = String::new();
    for (c, p) in name.chars().zip(name.to_pinyin()) {
        match p {
            Some(p) => out.push_str(p.plain()),
            None if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => {
                out.push(c.to_ascii_lowercase())
            }
            None => {}
        }
    }
    let mut cleaned = String::with_capacity(out.len());
    for c in out.chars() {
        if !(c == '.' && cleaned.ends_with('.')) {
            cleaned.push(c);
        }
    }
    let cleaned: String = cleaned.trim_matches('.').chars().take(60).collect();
    match local_part(&cleaned) {
        Ok(l) => l,
        // The account may start with '-' or hold "..": only what is left of it that passes.
        Err(_) => {
            let account = account
                .to_ascii_lowercase()
                .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned();
            local_part(&account).unwrap_or_else(|_| "user".to_owned())
        }
    }
}

/// What opening a mailbox needs to know beyond the streams.
pub struct OpenMailbox<'a> {
    pub mailbox_id: Uuid,
    /// None: the default from the member's name.
    pub local_part: Option<String>,
    /// Who holds an address now (the claims table / mailbox read model).
    pub holder: &'a dyn Fn(&str) -> Option<AddressHolder>,
}

/// Opens a mailbox for an active, authorized member on a verified domain of the same
/// organization. The member's one open mailbox and the address are claims of the event.
pub fn open(
    member: &MemberState,
    domain: &MailDomainState,
    command: OpenMailbox<'_>,
) -> Result<Vec<MailboxEvent>, DomainError> {
    let member_id = member.id.ok_or(DomainError::NotFound("member"))?;
    let domain_id = match domain.id {
        Some(id) if !domain.removed && domain.organization_id == member.organization_id => id,
        _ => return Err(DomainError::NotFound("domain")),
    };
    if !member.may_use_mail() {
        return Err(DomainError::MemberNotAuthorized);
    }
    if !domain.allows_mailboxes() {
        return Err(DomainError::DomainNotVerified);
    }
    let address = match command.local_part.filter(|l| !l.trim().is_empty()) {
        Some(l) => {
            let address = format!("{}@{}", local_part(&l)?, domain.name);
            match (command.holder)(&address) {
                None => address,
                Some(AddressHolder::Open) => return Err(DomainError::AddressTaken),
                Some(AddressHolder::InRecycleBin) => return Err(DomainError::AddressInRecycleBin),
            }
        }
        None => {
            let base = default_local_part(&member.name, &member.account);
            (0..=MAX_SUFFIX)
                .map(|n| match n {
                    0 => format!("{base}@{}", domain.name),
                    n => format!("{base}{n}@{}", domain.name),
                })
                .find(|a| (command.holder)(a).is_none())
                .ok_or(DomainError::AddressTaken)?
        }
    };
    Ok(vec![MailboxEvent::MailboxOpened {
        mailbox_id: command.mailbox_id,
        organization_id: member.organization_id,
        member_id,
        domain_id,
        address,
    }])
}

/// Opens mailboxes for several members on one domain with default addresses, each decided
/// on its own; addresses chosen earlier in the batch count as taken for later members.
pub fn open_batch(
    members: &[(&MemberState, Uuid)],
    domain: &MailDomainState,
    holder: &dyn Fn(&str) -> Option<AddressHolder>,
) -> Vec<Result<Vec<MailboxEvent>, DomainError>> {
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    members
        .iter()
        .map(|(member, mailbox_id)| {
            let lookup = |a: &str| {
                if chosen.contains(a) {
                    Some(AddressHolder::Open)
                } else {
                    holder(a)
                }
            };
            let result = open(
                member,
                domain,
                OpenMailbox {
                    mailbox_id: *mailbox_id,
                    local_part: None,
                    holder: &lookup,
                },
            );
            if let Ok(events) = &result {
                if let Some(MailboxEvent::MailboxOpened { address, .. }) = events.first() {
                    chosen.insert(address.clone());
                }
            }
            result
        })
        .collect()
}

/// The second login name of a member's mailbox beside its address: the member's account
/// qualified by the organization identifier (`zw@acme`), the name the credentials message
/// gives (koomail-faq 1.12: the login account is not necessarily the mail address). None
/// when the account could not be a login (it starts with `_`, `.` or `-`, or was erased).
pub fn login_alias(account: &str, organization_identifier: &str) -> Option<String> {
    let account = account.to_ascii_lowercase();
    let login = |part: &str| {
        part.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && part.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
            })
    };
    (login(&account) && login(organization_identifier) && !organization_identifier.contains('_'))
        .then(|| format!("{account}@{organization_identifier}"))
}

#[cfg(test)]
mod login_alias_tests {
    use super::login_alias;

    #[test]
    fn the_login_the_credentials_message_names_is_the_account_at_the_organization() {
        assert_eq!(login_alias("zw", "acme").as_deref(), Some("zw@acme"));
        assert_eq!(
            login_alias("Zw_01", "acme.cn").as_deref(),
            Some("zw_01@acme.cn")
        );
        for (account, identifier) in [
            ("-rf", "acme"),
            ("_zw", "acme"),
            ("[erased]", "acme"),
            ("zw", ""),
        ] {
            assert_eq!(
                login_alias(account, identifier),
                None,
                "{account}@{identifier}"
            );
        }
    }
}
