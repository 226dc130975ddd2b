//! Field rules shared by several commands (KooMail FAQ: account, password, phone rules).

use crate::error::DomainError;

/// A display name: 1–64 characters after trimming.
pub fn name(field: &'static str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    let len = v.chars().count();
    if len == 0 || len > 64 {
        return Err(DomainError::invalid(field, "must be 1 to 64 characters"));
    }
    if v.chars().any(|c| c.is_control() || is_invisible_format(c)) {
        return Err(DomainError::invalid(
            field,
            "must not contain control, direction or invisible characters",
        ));
    }
    Ok(v.to_owned())
}

/// Characters that reorder or hide text: a name with them reads differently in the
/// console, an SMS or the audit log than it is (`张伟\u{202E}nimda` shows as `张伟admin`).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A mainland mobile number: 11 digits starting with 1.
pub fn phone(field: &'static str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    if v.len() != 11 || !v.starts_with('1') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::invalid(
            field,
            "must be a mainland mobile number: 11 digits starting with 1",
        ));
    }
    Ok(v.to_owned())
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, at most 254 bytes.
pub fn email(field: &'static str, value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    let bad = || DomainError::invalid(field, "must be an e-mail address like name@example.com");
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    if v.len() > 254
        || local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || v.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(v.to_owned())
}

/// A member account: 1–20 of letters, digits, `_`, `.`, `-`.
pub fn account(value: &str) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 {
        return Err(DomainError::invalid(
            "account",
            "must be 1 to 20 characters",
        ));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(DomainError::invalid(
            "account",
            "may hold only letters, digits, '_', '.' and '-'",
        ));
    }
    Ok(v.to_owned())
}

/// A password: 8–32 characters with at least two of digits, upper case, lower case,
/// specials. Returned unchanged: it never enters an event.
pub fn password(value: &str) -> Result<(), DomainError> {
    let len = value.chars().count();
    if !(8..=32).contains(&len) {
        return Err(DomainError::invalid(
            "password",
            "must be 8 to 32 characters",
        ));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(DomainError::invalid(
            "password",
            "may hold only printable ASCII characters without spaces",
        ));
    }
    let kinds = [
        value.chars().any(|c| c.is_ascii_digit()),
        value.chars().any(|c| c.is_ascii_uppercase()),
        value.chars().any(|c| c.is_ascii_lowercase()),
        value.chars().any(|c| c.is_ascii_punctuation()),
    ];
    if kinds.iter().filter(|k| **k).count() < 2 {
        return Err(DomainError::invalid(
            "password",
            "needs at least two of: digits, upper case, lower case, special characters",
        ));
    }
    Ok(())
}

/// An organization identifier: 2–63 of a-z, 0-9, `.`, `-`, lower-cased, not starting or
/// ending with `.` or `-`.
pub fn identifier(value: &str) -> Result<String, DomainError> {
    let v = value.trim().to_ascii_lowercase();
    if v.len() < 2 || v.len() > 63 {
        return Err(DomainError::invalid(
            "identifier",
            "must be 2 to 63 characters",
        ));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
    {
        return Err(DomainError::invalid(
            "identifier",
            "may hold only a-z, 0-9, '.' and '-'",
        ));
    }
    if v.starts_with(['.', '-']) || v.ends_with(['.', '-']) {
        return Err(DomainError::invalid(
            "identifier",
            "must not start or end with '.' or '-'",
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_direction_or_invisible_characters_are_refused() {
        for spoof in [
            "张伟\u{202E}nimda",
            "a\u{2066}b",
            "zw\u{200B}",
            "\u{FEFF}zw",
            "x\u{061C}y",
        ] {
            assert_eq!(
                name("name", spoof).unwrap_err().field(),
                Some("name"),
                "{spoof:?}"
            );
        }
        assert_eq!(name("name", "欧阳娜娜 (Nana)").unwrap(), "欧阳娜娜 (Nana)");
    }

    #[test]
    fn names_are_1_to_64_characters() {
        assert_eq!(name("name", "  张伟 ").unwrap(), "张伟");
        assert!(name("name", "").is_err());
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"名".repeat(64)).is_ok());
        assert!(name("name", &"名".repeat(65)).is_err());
        assert!(name("name", "a\u{0}b").is_err());
    }

    #[test]
    fn phones_are_mainland_mobiles() {
        assert_eq!(phone("phone", "13800138000").unwrap(), "13800138000");
        for bad in [
            "",
            "1380013800",
            "138001380000",
            "23800138000",
            "1380013800a",
            "+8613800138000",
        ] {
            assert!(phone("phone", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(email("email", "zhang.wei@example.com").is_ok());
        for bad in [
            "",
            "zhang",
            "@example.com",
            "zhang@",
            "zhang@example",
            "a@b@c.com",
            "a b@c.com",
            "a@.c.com",
            "a@c..com",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounts_are_1_to_20_of_letters_digits_and_three_marks() {
        assert_eq!(account("zhang_wei.01-a").unwrap(), "zhang_wei.01-a");
        assert!(account("a").is_ok());
        assert!(account(&"a".repeat(20)).is_ok());
        for bad in ["", &"a".repeat(21), "zhang wei", "张伟", "a@b", "a+b"] {
            assert!(account(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_8_to_32_characters_of_two_kinds() {
        for good in [
            "abcd1234",
            "ABCDabcd",
            "abcd!@#$",
            "Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!",
        ] {
            assert!(password(good).is_ok(), "{good}");
        }
        for bad in [
            "Ab1!",
            "abcdefgh",
            "12345678",
            "ABCDEFGH",
            "!!!!!!!!",
            &"Aa1!".repeat(9),
            "abcd 1234",
            "密码abcd1234",
        ] {
            assert!(password(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_are_lower_cased_and_checked() {
        assert_eq!(identifier("Acme-Corp.cn").unwrap(), "acme-corp.cn");
        assert!(identifier("ab").is_ok());
        assert!(identifier(&"a".repeat(63)).is_ok());
        for bad in [
            "a",
            &"a".repeat(64),
            "-acme",
            "acme-",
            ".acme",
            "acme.",
            "ac_me",
            "ac me",
            "阿克米",
        ] {
            assert!(identifier(bad).is_err(), "{bad}");
        }
    }
}
