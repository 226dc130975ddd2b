//! IMAP's modified UTF-7 folder names (RFC 3501 5.1.3): `Caf&AOk-` is `Café`.

use base64::Engine;

/// The UTF-8 name, or None when the name is not valid modified UTF-7.
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('-')?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(encoded.replace(',', "/"))
                .ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn names_decode_as_dovecot_encodes_them() {
        // The oracle: `doveadm mailbox mutf7` (shared/notes/dovecot-migration.md).
        assert_eq!(decode("Caf&AOk-").as_deref(), Some("Café"));
        assert_eq!(decode("&U9dP4TDIMOwwpA-").as_deref(), Some("受信トレイ"));
        assert_eq!(decode("R&-D").as_deref(), Some("R&D"));
        assert_eq!(decode("a/b").as_deref(), Some("a/b"));
        assert_eq!(decode("&Jjo-!").as_deref(), Some("☺!"));
        assert_eq!(decode("broken&AOk"), None);
    }
}
